//! Parameters: path, query, header, cookie; style/explode forms; strict query.

use http::HeaderValue;

use crate::support::*;

#[test]
fn path_parameters_are_typed() {
    let api = api();
    passes(&api, &mut req("GET", "/v1/users/1"));
    for bad in [
        "/v1/users/abc",
        "/v1/users/0",
        "/v1/users/1.5",
        "/v1/users/%31%30x",
    ] {
        let p = refused(run(&api, &mut req("GET", bad)));
        assert!(
            has_failure(&p, "path", "/id", "type") || has_failure(&p, "path", "/id", "minimum"),
            "{bad}: {p:?}"
        );
    }
    // Percent-encoded digits decode once to a valid integer.
    passes(&api, &mut req("GET", "/v1/users/%34%32"));
    // Double encoding does not decode twice.
    assert_eq!(
        refused(run(&api, &mut req("GET", "/v1/users/%2534")))
            .kind
            .status,
        400
    );
}

#[test]
fn query_parameters_enforce_type_bounds_and_enum() {
    let api = api();
    passes(&api, &mut req("GET", "/v1/users?limit=100&sort=name"));
    passes(&api, &mut req("GET", "/v1/users"));
    let p = refused(run(&api, &mut req("GET", "/v1/users?limit=101")));
    assert!(has_failure(&p, "query", "/limit", "maximum"));
    let p = refused(run(
        &api,
        &mut req("GET", "/v1/users?limit=0&sort=password"),
    ));
    assert!(has_failure(&p, "query", "/limit", "minimum"));
    assert!(has_failure(&p, "query", "/sort", "enum"));
    let p = refused(run(&api, &mut req("GET", "/v1/users?limit=ten")));
    assert!(has_failure(&p, "query", "/limit", "type"));
}

#[test]
fn repeated_scalar_query_parameters_are_pollution() {
    let api = api();
    let p = refused(run(&api, &mut req("GET", "/v1/users?limit=1&limit=100000")));
    assert!(has_failure(&p, "query", "/limit", "duplicate"));
}

#[test]
fn arrays_in_form_non_exploded_style() {
    let api = api();
    passes(&api, &mut req("GET", "/v1/users?tags=a,bc,def"));
    let p = refused(run(&api, &mut req("GET", "/v1/users?tags=a,b,c,d")));
    assert!(has_failure(&p, "query", "/tags", "maxItems"));
    let p = refused(run(&api, &mut req("GET", "/v1/users?tags=a,B%27--")));
    assert!(has_failure(&p, "query", "/tags/1", "pattern"));
}

#[test]
fn unknown_query_parameters_are_refused_when_strict() {
    let api = api();
    let p = refused(run(&api, &mut req("GET", "/v1/users?limit=5&debug=true")));
    assert!(has_failure(&p, "query", "/debug", "undeclared"));
    // Not strict: allowed.
    let mut cfg = config();
    cfg.strict_query = false;
    let loose = api_with(cfg, NOW);
    passes(&loose, &mut req("GET", "/v1/users?limit=5&debug=true"));
}

#[test]
fn header_parameters_check_format() {
    let api = api();
    let mut ok = req("GET", "/v1/users");
    ok.headers.insert(
        "x-trace-id",
        HeaderValue::from_static("6f1c2d1e-8c1b-4a53-9f0e-0a1b2c3d4e5f"),
    );
    passes(&api, &mut ok);
    let mut bad = req("GET", "/v1/users");
    bad.headers
        .insert("x-trace-id", HeaderValue::from_static("not-a-uuid"));
    let p = refused(run(&api, &mut bad));
    assert!(has_failure(&p, "header", "/x-trace-id", "format"));
}

#[test]
fn cookie_and_deep_object_parameters() {
    let api = api();
    let mut ok = req("GET", "/v1/sessions?filter[active]=true&filter[max_age]=60");
    ok.headers.insert(
        "cookie",
        HeaderValue::from_static("theme=dark; session=abcdefgh12"),
    );
    passes(&api, &mut ok);

    let mut missing = req("GET", "/v1/sessions");
    missing
        .headers
        .insert("cookie", HeaderValue::from_static("theme=dark"));
    let p = refused(run(&api, &mut missing));
    assert!(has_failure(&p, "cookie", "/session", "required"));

    let mut short = req(
        "GET",
        "/v1/sessions?filter[max_age]=7200&filter[active]=yes",
    );
    short
        .headers
        .insert("cookie", HeaderValue::from_static("session=abc"));
    let p = refused(run(&api, &mut short));
    assert!(has_failure(&p, "cookie", "/session", "minLength"));
    assert!(has_failure(&p, "query", "/filter", "type"));
}

#[test]
fn a_cookie_field_that_is_not_ascii_is_refused_not_skipped() {
    let api = api();
    let mut cx = req("GET", "/v1/sessions");
    cx.headers
        .append("cookie", HeaderValue::from_static("session=abcdefgh12"));
    // A second field holding a byte past ASCII: its cookies went unchecked.
    cx.headers.append(
        "cookie",
        HeaderValue::from_bytes(b"caf\xe9=1; session=x").unwrap(),
    );
    let p = refused(run(&api, &mut cx));
    assert!(has_failure(&p, "cookie", "", "encoding"), "{p:?}");
}

#[test]
fn failures_never_echo_values() {
    let api = api();
    let p = refused(run(
        &api,
        &mut req(
            "GET",
            "/v1/users?sort=%3Cscript%3Ealert(1)%3C/script%3E&%3Cimg%3E=1",
        ),
    ));
    let text = String::from_utf8(p.to_json("r")).unwrap();
    assert!(!text.contains("script"), "{text}");
    assert!(!text.contains("img"), "{text}");
    assert!(has_failure(&p, "query", "/*", "undeclared"));
}

#[test]
fn exploded_form_objects_spread_over_query_keys() {
    let api = api();
    let with_cookie = |uri: &str| {
        let mut cx = req("GET", uri);
        cx.headers
            .insert("cookie", HeaderValue::from_static("session=abcdefgh12"));
        cx
    };
    passes(&api, &mut with_cookie("/v1/sessions?offset=10&size=50"));
    let p = refused(run(
        &api,
        &mut with_cookie("/v1/sessions?offset=-1&size=51"),
    ));
    assert!(has_failure(&p, "query", "/page/offset", "minimum"));
    assert!(has_failure(&p, "query", "/page/size", "maximum"));
    // Strict mode still knows these keys are declared, and others are not.
    let p = refused(run(&api, &mut with_cookie("/v1/sessions?offset=1&debug=1")));
    assert_eq!(
        failures(&p),
        vec![("query".into(), "/debug".into(), "undeclared".into())]
    );
}

#[test]
fn a_cookie_past_the_pair_limit_is_refused_not_skipped() {
    let api = api();
    let with_cookie = |cookie: String| {
        let mut cx = req("GET", "/v1/sessions");
        cx.headers
            .insert("cookie", HeaderValue::from_str(&cookie).unwrap());
        cx
    };
    let filler: Vec<String> = (0..254).map(|i| format!("f{i}=1")).collect();
    let filler = filler.join("; ");
    passes(
        &api,
        &mut with_cookie(format!("session=abcdefgh12; {filler}; theme=dark")),
    );
    // A second `session` as the 257th pair: the upstream may read it.
    let p = refused(run(
        &api,
        &mut with_cookie(format!("session=abcdefgh12; {filler}; a=1; session=x")),
    ));
    assert!(has_failure(&p, "cookie", "", "max-parameters"), "{p:?}");
}
