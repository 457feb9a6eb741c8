//! Headers that make an upstream framework run another method or path than
//! the request line's are refused: every check decided on the request line.

use http::HeaderValue;

use crate::support::*;

#[test]
fn override_headers_are_refused_unless_the_operation_declares_them() {
    let api = api();
    for (name, value) in [
        ("X-HTTP-Method-Override", "DELETE"),
        ("x-http-method", "DELETE"),
        ("X-Method-Override", "PATCH"),
        ("X-Original-URL", "/v1/admin"),
        ("X-Rewrite-URL", "/v1/admin"),
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
