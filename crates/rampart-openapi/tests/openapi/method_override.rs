//! Headers that make an upstream framework run another method than the
//! request line's are refused, and those naming another path removed: every
//! check decided on the request line.

use http::HeaderValue;

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
