//! Query keys upstreams read otherwise than the spec's styles: bracketed keys
//! (`email[$ne]`, which qs, Rack and PHP parse as parameter `email` holding an
//! object) and `deepObject` members, in strict and default mode alike.

use rampart_openapi::OpenApiConfig;

use crate::support::*;

/// The failures of `uri` on `api`, as `(pointer, rule)` of the query.
fn query_failures(api: &Api, uri: &str) -> Vec<(String, String)> {
    let p = refused(run(api, &mut req("GET", uri)));
    failures(&p)
        .into_iter()
        .map(|(within, pointer, rule)| {
            assert_eq!(within, "query", "{uri}: {p:?}");
            (pointer, rule)
        })
        .collect()
}

fn one(pointer: &str, rule: &str) -> Vec<(String, String)> {
    vec![(pointer.to_string(), rule.to_string())]
}

#[test]
fn a_bracketed_key_is_the_parameter_it_names() {
    for strict in [false, true] {
        let api = orders_api(strict);
        passes(
            &api,
            &mut req("GET", "/orders?email=a@example.com&limit=5&ids=1&ids=2"),
        );
        for (uri, pointer) in [
            // NoSQL operator injection: email={"$ne": "x"} to Express.
            ("/orders?email[$ne]=x", "/email"),
            ("/orders?email%5B%24ne%5D=x", "/email"),
            ("/orders?email%5b$ne%5d=x", "/email"),
            // `maximum` bypassed by an array.
            ("/orders?limit[]=999999", "/limit"),
            ("/orders?limit=10&limit[]=5", "/limit"),
            ("/orders?limit[0]=5", "/limit"),
            // Bracketed array items beside plain ones: read otherwise by PHP
            // (the last form) and Rack (an error).
            ("/orders?ids=1&ids[]=2", "/ids"),
            ("/orders?ids[]=1&ids=2", "/ids"),
            ("/orders?ids[0]=1", "/ids"),
        ] {
            assert_eq!(query_failures(&api, uri), one(pointer, "style"), "{uri}");
        }
        // An exploded array's items as axios, PHP and Rails send them,
        // checked as its items.
        passes(&api, &mut req("GET", "/orders?ids[]=1&ids%5B%5D=2"));
        assert_eq!(
            query_failures(&api, "/orders?ids[]=1&ids[]=x"),
            one("/ids", "type")
        );
        // Not a parameter's name followed by a bracket: other keys.
        if !strict {
            passes(&api, &mut req("GET", "/orders?emails[x]=1&limitless=1"));
        }
    }
}

#[test]
fn another_spelling_of_a_parameter_is_refused() {
    for strict in [false, true] {
        let api = orders_api(strict);
        for (uri, pointer) in [
            // qs and Rack 2 skip leading brackets: email={"$ne": "x"} there.
            ("/orders?[email][$ne]=x", "/email"),
            ("/orders?%5Bemail%5D%5B%24ne%5D=x", "/email"),
            ("/orders?]email=x", "/email"),
            // PHP skips leading spaces: a second `limit`, past duplicate refusal.
            ("/orders?limit=10&+limit=99999", "/limit"),
            ("/orders?%20limit=99999", "/limit"),
            ("/orders?+email[$ne]=x", "/email"),
            // PHP reads `.` and space in a name as `_`.
            ("/orders?max.age=1", "/max_age"),
            ("/orders?max+age=1", "/max_age"),
            // PHP reads a `[` never closed as `_`.
            ("/orders?max[age=1", "/max_age"),
            ("/orders?[filter][status]=open", "/filter"),
            ("/orders?+filter[status]=open", "/filter"),
        ] {
            assert_eq!(query_failures(&api, uri), one(pointer, "spelling"), "{uri}");
        }
        passes(
            &api,
            &mut req("GET", "/orders?max_age=1&limit=5&filter[status]=open"),
        );
        if !strict {
            passes(&api, &mut req("GET", "/orders?[x]=1&+other=2&max.ages=1"));
        }
    }
}

#[test]
fn a_parameter_in_another_letter_case_is_the_parameter() {
    for strict in [false, true] {
        let api = orders_api(strict);
        // ASP.NET binds query keys case-insensitively: `LIMIT` is `limit`
        // there, so it is checked as `limit`, and is a second value beside it.
        for (uri, pointer, rule) in [
            ("/orders?LIMIT=99999", "/limit", "maximum"),
            ("/orders?limit=10&Limit=99", "/limit", "duplicate"),
            ("/orders?Email[$ne]=x", "/email", "style"),
            ("/orders?FILTER[status]=pending", "/filter/status", "enum"),
            ("/orders?ids=1&IDS=x", "/ids", "type"),
        ] {
            assert_eq!(query_failures(&api, uri), one(pointer, rule), "{uri}");
        }
        // After a `;`, read as a pair by Rack 2 and Go < 1.17.
        assert_eq!(
            query_failures(&api, "/orders?max_age=1;LIMIT=99999"),
            one("", "semicolon")
        );
        // A client writing the name in another case, as ASP.NET allows.
        passes(
            &api,
            &mut req("GET", "/orders?Limit=5&FILTER[status]=open&ids=1&IDS=2"),
        );
        // Each of two parameters declared one letter case apart is its own key.
        passes(&api, &mut req("GET", "/orders/export?format=csv&Format=v2"));
        assert_eq!(
            query_failures(&api, "/orders/export?format=v2"),
            one("/format", "enum")
        );
        if !strict {
            passes(&api, &mut req("GET", "/orders?limits=1&EMAILS=2&Max.Age=x"));
        }
    }
}

#[test]
fn deep_object_members_are_one_level_and_declared() {
    for strict in [false, true] {
        let api = orders_api(strict);
        passes(
            &api,
            &mut req("GET", "/orders?filter[status]=open&filter%5Bmax_age%5D=60"),
        );
        for uri in [
            "/orders?filter[max_age][$gt]=0",
            "/orders?filter[max_age]]=0",
            "/orders?filter[]=open",
            "/orders?filter=open",
            "/orders?filter[status]x=open",
        ] {
            assert_eq!(query_failures(&api, uri), one("/filter", "style"), "{uri}");
        }
        // A schema naming properties is closed, as for bodies.
        assert_eq!(
            query_failures(&api, "/orders?filter[status]=open&filter[isAdmin]=1"),
            one("/filter/isAdmin", "undeclared")
        );
        // Unless it says otherwise.
        passes(
            &api,
            &mut req("GET", "/orders?meta[source]=web&meta[campaign]=x"),
        );
        assert_eq!(
            query_failures(&api, "/orders?meta[campaign]=123456789"),
            one("/meta/campaign", "maxLength")
        );
    }
}

#[test]
fn undeclared_deep_object_members_follow_undeclared_properties() {
    let cfg: OpenApiConfig =
        serde_saphyr::from_str("spec: orders.yaml\nundeclared_properties: allow").unwrap();
    let api = api_with(cfg, NOW);
    passes(&api, &mut req("GET", "/orders?filter[isAdmin]=1"));
    // Never stripped: a query is not rewritten.
    let cfg: OpenApiConfig =
        serde_saphyr::from_str("spec: orders.yaml\nundeclared_properties: strip").unwrap();
    let api = api_with(cfg, NOW);
    assert_eq!(
        query_failures(&api, "/orders?filter[isAdmin]=1"),
        one("/filter/isAdmin", "undeclared")
    );
}

#[test]
fn a_spread_object_member_in_brackets_is_refused() {
    let api = api();
    let mut cx = req("GET", "/v1/sessions?offset[$gt]=1");
    cx.headers.insert(
        "cookie",
        http::HeaderValue::from_static("session=abcdefgh12"),
    );
    let p = refused(run(&api, &mut cx));
    assert_eq!(
        failures(&p),
        vec![("query".into(), "/page".into(), "style".into())]
    );
}

#[test]
fn a_raw_semicolon_in_a_checked_query_is_refused() {
    for strict in [false, true] {
        let api = orders_api(strict);
        // Rack 2, older Django, Go < 1.17: a second `limit`, past duplicate refusal.
        let p = refused(run(
            &api,
            &mut req("GET", "/orders?limit=10&q=foo;limit=99999"),
        ));
        assert_eq!(
            failures(&p),
            vec![("query".into(), "".into(), "semicolon".into())]
        );
        assert!(p.detail.as_deref().unwrap().contains("%3B"), "{p:?}");
        assert_eq!(
            query_failures(&api, "/orders?filter[status]=open;filter[isAdmin]=1"),
            one("", "semicolon")
        );
        // Other spellings of the key behind the `;` too.
        assert_eq!(
            query_failures(&api, "/orders?q=a;+limit=99999"),
            one("", "semicolon")
        );
        // Encoded, it is data; raw inside a value, with nothing declared
        // behind it, too (curl and fetch send `;` raw).
        if !strict {
            passes(
                &api,
                &mut req("GET", "/orders?limit=10&q=foo%3Blimit%3D99999"),
            );
            passes(&api, &mut req("GET", "/orders?limit=10&q=name;desc"));
        } else {
            assert_eq!(
                query_failures(&api, "/orders?limit=10&q=name;desc"),
                one("", "semicolon")
            );
        }
    }
    // A query nothing checks (no declared query parameter, not strict) is the
    // upstream's: nothing here to get past.
    passes(&orders_api(false), &mut req("GET", "/health?utm=a;b"));
    assert_eq!(
        query_failures(&orders_api(true), "/health?utm=a;b"),
        one("", "semicolon")
    );
}
