//! Headers that make an upstream framework run another method than the
//! request line's are refused, and those naming another path removed: every
//! check decided on the request line.

use http::HeaderValue;
use rampart_core::RequestCx;

use crate::support::*;

#[test]
fn override_headers_are_refused_unless_the_operation_declares_them() {
    let api = api();
    for (name, value) in [
        ("X-HTTP-Method-Override", "DELETE"),
        ("x-http-method", "DELETE"),
        ("X-Method-Override", "PATCH"),
    ] {
        let mut cx = req("GET", "/v1/users/1");
        cx.headers
            .insert(name, HeaderValue::from_str(value).unwrap());
        let p = refused(run(&api, &mut cx));
        assert_eq!(p.kind.slug, "method-override-not-allowed", "{name}");
        assert_eq!(p.kind.status, 400);
    }
    // Legitimate traffic: the same request without one passes.
    passes(&api, &mut req("GET", "/v1/users/1"));
    // URL overrides (which rewriting proxies add to everything) are removed:
    // the upstream routes by the path that was checked.
    let mut cx = req("GET", "/v1/users/1");
    for name in ["X-Original-URL", "X-Rewrite-URL"] {
        cx.headers
            .insert(name, HeaderValue::from_static("/v1/admin"));
    }
    cx.headers
        .insert("x-trace", HeaderValue::from_static("kept"));
    passes(&api, &mut cx);
    assert!(cx.headers.get("x-original-url").is_none());
    assert!(cx.headers.get("x-rewrite-url").is_none());
    assert_eq!(cx.headers["x-trace"], "kept");
    // An operation that declares the header takes it (and validates it).
    let avatar = |value: &str| {
        let mut cx = with_body(req("PUT", "/v1/users/1/avatar"), "image/png", "png");
        cx.headers.insert(
            "x-http-method-override",
            HeaderValue::from_str(value).unwrap(),
        );
        cx
    };
    passes(&api, &mut avatar("PUT"));
    let p = refused(run(&api, &mut avatar("DELETE")));
    assert!(
        has_failure(&p, "header", "/x-http-method-override", "enum"),
        "{p:?}"
    );
}

/// A spec in the style of a Laravel API: posts updated by POST.
const POSTS: &str = r##"openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /posts/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
      - {name: X-Tenant-Id, in: header, schema: {type: string, enum: [acme]}}
    post:
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties: {title: {type: string}}
          application/x-www-form-urlencoded:
            schema:
              type: object
              properties: {title: {type: string}}
          multipart/form-data: {}
          text/*: {}
      responses: {"204": {description: updated}}
  /legacy/{id}:
    post:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
        - {name: _method, in: query, schema: {type: string, enum: [PATCH]}}
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties: {_method: {type: string, enum: [PUT]}, title: {type: string}}
          application/x-www-form-urlencoded:
            schema:
              type: object
              properties: {_method: {type: string, enum: [PUT]}}
      responses: {"204": {description: updated}}
  /notes:
    post:
      requestBody:
        content:
          application/json:
            schema: {type: object}
      responses: {"204": {description: created}}
"##;

fn posts(undeclared: &str) -> Api {
    // A directory per call: tests run in parallel.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "rampart-openapi-method-{undeclared}-{}-{n}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("spec.yaml"), POSTS).unwrap();
    let cfg: rampart_openapi::OpenApiConfig = serde_saphyr::from_str(&format!(
        "spec: spec.yaml\nundeclared_properties: {undeclared}\n"
    ))
    .unwrap();
    let (route, validation) = cfg.build(&dir).unwrap().stages();
    Api { route, validation }
}

fn is_override(v: rampart_core::Verdict) -> bool {
    let p = refused(v);
    p.kind.slug == "method-override-not-allowed" && p.kind.status == 400
}

#[test]
fn method_override_header_spellings_with_underscores_are_refused() {
    let api = posts("refuse");
    for name in [
        "X_HTTP_Method_Override",
        "x-http_method-override",
        "X_HTTP_METHOD",
        "X_Method_Override",
    ] {
        let mut cx = json(req("POST", "/posts/7"), r#"{"title":"t"}"#);
        cx.headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_static("DELETE"),
        );
        assert!(is_override(run(&api, &mut cx)), "{name}");
    }
    // A URL override in any spelling is removed.
    let mut cx = json(req("POST", "/posts/7"), r#"{"title":"t"}"#);
    cx.headers
        .insert("x_original_url", HeaderValue::from_static("/admin"));
    passes(&api, &mut cx);
    assert!(cx.headers.get("x_original_url").is_none());
}

#[test]
fn a_method_in_the_query_is_refused_unless_declared() {
    let api = posts("refuse");
    for query in [
        "_method=DELETE",
        "a=1&_method=DELETE",
        "%5Fmethod=DELETE",
        "_%6Dethod=DELETE",
        ".method=DELETE",
        "+_method=DELETE",
        "%5B_method%5D=DELETE",
        "[_method]=DELETE",
        "_method[]=DELETE",
        "a=1;_method=DELETE",
    ] {
        let mut cx = json(
            req("POST", &format!("/posts/7?{query}")),
            r#"{"title":"t"}"#,
        );
        assert!(is_override(run(&api, &mut cx)), "{query}");
    }
    // Legitimate: no override, or a value that merely mentions one.
    passes(&api, &mut json(req("POST", "/posts/7"), r#"{"title":"t"}"#));
    passes(
        &api,
        &mut json(
            req("POST", "/posts/7?method=x&q=_method"),
            r#"{"title":"t"}"#,
        ),
    );
    // Declared as a query parameter: validated like one.
    let legacy = |query: &str| json(req("POST", &format!("/legacy/1?{query}")), "{}");
    passes(&api, &mut legacy("_method=PATCH"));
    let p = refused(run(&api, &mut legacy("_method=DELETE")));
    assert!(has_failure(&p, "query", "/_method", "enum"), "{p:?}");
    // Only the declared spelling: another one (which the check would not
    // read) is refused.
    for query in [
        ".method=DELETE",
        "[_method]=DELETE",
        "_method=PATCH&+_method=DELETE",
    ] {
        let p = refused(run(&api, &mut legacy(query)));
        assert!(has_failure(&p, "query", "/_method", "spelling"), "{p:?}");
    }
}

#[test]
fn a_method_in_the_body_is_refused_unless_declared() {
    for mode in ["refuse", "strip", "allow"] {
        let api = posts(mode);
        let post = |cx: RequestCx| run(&api, &mut { cx });
        // JSON, top level: whatever the mode does with undeclared members.
        let body = r#"{"title":"t","_method":"DELETE"}"#;
        assert!(
            is_override(post(json(req("POST", "/posts/7"), body))),
            "{mode}"
        );
        // Free-form schemas declare no `_method` either.
        assert!(
            is_override(post(json(req("POST", "/notes"), body))),
            "{mode}"
        );
        // Form and multipart (declared with and without a schema).
        let form = |b: &str| {
            with_body(
                req("POST", "/posts/7"),
                "application/x-www-form-urlencoded",
                b,
            )
        };
        assert!(is_override(post(form("title=t&_method=DELETE"))), "{mode}");
        // Rack 2 skips leading brackets: `_method` to MethodOverride.
        assert!(
            is_override(post(form("title=t&%5B_method%5D=DELETE"))),
            "{mode}"
        );
        assert!(
            is_override(post(form("title=t&_method=DELETE&x=%zz"))),
            "{mode}"
        );
        let multipart = |name: &str| {
            let body = format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\nDELETE\r\n--XyZ--\r\n"
            );
            with_body(
                req("POST", "/posts/7"),
                "multipart/form-data; boundary=XyZ",
                &body,
            )
        };
        assert!(is_override(post(multipart("_method"))), "{mode}");
        // A JSON type the spec covers by a wildcard, which Laravel parses as JSON.
        let text_json = with_body(req("POST", "/posts/7"), "text/json", body);
        assert!(is_override(post(text_json)), "{mode}");
        // Legitimate bodies pass: a nested member, a value naming a method.
        assert_eq!(
            post(json(
                req("POST", "/notes"),
                r#"{"meta":{"_method":"x"},"v":"_method"}"#
            )),
            rampart_core::Verdict::Continue,
            "{mode}"
        );
        assert_eq!(post(form("title=_method")), rampart_core::Verdict::Continue);
        assert_eq!(post(multipart("title")), rampart_core::Verdict::Continue);
        let text = with_body(req("POST", "/posts/7"), "text/plain", "_method=DELETE");
        assert_eq!(post(text), rampart_core::Verdict::Continue, "{mode}");
    }
    // Declared as a body property: validated like one.
    let api = posts("refuse");
    passes(
        &api,
        &mut json(req("POST", "/legacy/1"), r#"{"_method":"PUT"}"#),
    );
    let p = refused(run(
        &api,
        &mut json(req("POST", "/legacy/1"), r#"{"_method":"DELETE"}"#),
    ));
    assert!(has_failure(&p, "body", "/_method", "enum"), "{p:?}");
    let form = |b: &str| {
        with_body(
            req("POST", "/legacy/1"),
            "application/x-www-form-urlencoded",
            b,
        )
    };
    passes(&api, &mut form("_method=PUT"));
    let p = refused(run(&api, &mut form("_method=DELETE")));
    assert!(has_failure(&p, "body", "/_method", "enum"), "{p:?}");
}

#[test]
fn other_spellings_of_a_declared_header_are_refused() {
    let api = posts("refuse");
    let with = |name: &str, value: &'static str| {
        let mut cx = json(req("POST", "/posts/7"), r#"{"title":"t"}"#);
        cx.headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_static(value),
        );
        cx
    };
    // PHP reads `X_Tenant_Id` as the variable `X-Tenant-Id` gives, unchecked.
    for name in ["X_Tenant_Id", "x-tenant_id"] {
        let p = refused(run(&api, &mut with(name, "evil")));
        assert!(
            has_failure(&p, "header", "/x-tenant-id", "spelling"),
            "{p:?}"
        );
    }
    passes(&api, &mut with("X-Tenant-Id", "acme"));
    let p = refused(run(&api, &mut with("X-Tenant-Id", "evil")));
    assert!(has_failure(&p, "header", "/x-tenant-id", "enum"), "{p:?}");
    // Undeclared names with underscores are not this check's business.
    passes(&api, &mut with("X_Other", "x"));
}
