//! Routing of spellings upstreams read differently: path parameters (`;x`, which
//! servlet containers drop and other servers keep) and letter case (ignored by
//! Express and ASP.NET Core), against `/orders/{orderId}` beside `/orders/export`.

use rampart_core::Verdict;
use rampart_openapi::PathParams;

use crate::support::*;

fn orders() -> Api {
    orders_api(true)
}

/// Runs the route stage only: the operation matched and the path parameters.
fn routed(api: &Api, uri: &str) -> Result<(String, PathParams), u16> {
    let mut cx = req("GET", uri);
    match done(rampart_core::Stage::on_request(&api.route, &mut cx)) {
        Verdict::Continue => Ok((
            cx.route.clone().unwrap(),
            cx.extensions.get::<PathParams>().cloned().unwrap(),
        )),
        Verdict::Respond(p) => Err(p.kind.status),
    }
}

#[test]
fn literal_and_templated_siblings_route_as_declared() {
    let api = orders();
    assert_eq!(
        routed(&api, "/orders/export").unwrap().0,
        "GET /orders/export"
    );
    let (route, params) = routed(&api, "/orders/42").unwrap();
    assert_eq!(route, "GET /orders/{orderId}");
    assert_eq!(params.get("orderId"), Some("42"));
    // A method the literal does not declare falls to the template, as upstreams do.
    let mut cx = req("DELETE", "/orders/export");
    passes(&api, &mut cx);
    assert_eq!(cx.route.as_deref(), Some("DELETE /orders/{orderId}"));
}

#[test]
fn a_literal_with_path_parameters_never_falls_to_its_templated_sibling() {
    let api = orders();
    // Tomcat serves /orders/export; Express, Go, Rails read orderId "export;x".
    // Checking either operation would be wrong for the other: refused like an
    // undeclared route.
    for path in [
        "/orders/export;x",
        "/orders/export;jsessionid=0123ABCD",
        "/orders/export;",
    ] {
        let mut cx = req("GET", path);
        let p = refused(run(&api, &mut cx));
        assert_eq!(
            (p.kind.status, p.kind.slug),
            (404, "route-not-declared"),
            "{path}"
        );
        assert!(cx.route.is_none(), "{path}");
    }
}

#[test]
fn path_parameters_on_literal_only_routes_pass() {
    let api = orders();
    // Java clients add `;jsessionid=`; no other reading names another operation.
    let mut cx = req("GET", "/health;jsessionid=0123ABCD");
    passes(&api, &mut cx);
    assert_eq!(cx.route.as_deref(), Some("GET /health"));
}

#[test]
fn a_templated_value_is_the_text_before_path_parameters_and_both_readings_are_checked() {
    let api = orders();
    let (route, params) = routed(&api, "/customers/alice;v=1").unwrap();
    assert_eq!(route, "GET /customers/{name}");
    // What servlet containers pass the application, and authorization sees.
    assert_eq!(params.get("name"), Some("alice"));
    passes(&api, &mut req("GET", "/customers/alice;v=1"));
    // Servers that keep path parameters read the whole segment: it is checked too,
    // so nothing after `;` reaches them unvalidated.
    let p = refused(run(&api, &mut req("GET", "/customers/alice;v=123456789")));
    assert!(has_failure(&p, "path", "/name", "maxLength"), "{p:?}");
    let p = refused(run(&api, &mut req("GET", "/orders/abc;'OR'1'='1")));
    assert_eq!(
        failures(&p),
        vec![("path".into(), "/orderId".into(), "pattern".into())]
    );
    let p = refused(run(&api, &mut req("GET", "/orders/a%20b;x")));
    assert!(has_failure(&p, "path", "/orderId", "pattern"), "{p:?}");
}

#[test]
fn a_case_variant_of_a_literal_never_falls_to_its_templated_sibling() {
    let api = orders();
    // Express and ASP.NET Core route these to /orders/export.
    for path in ["/orders/EXPORT", "/orders/Export", "/orders/EXPORT;x"] {
        let mut cx = req("GET", path);
        let p = refused(run(&api, &mut cx));
        assert_eq!(
            (p.kind.status, p.kind.slug),
            (404, "route-not-declared"),
            "{path}"
        );
        assert!(cx.route.is_none(), "{path}");
    }
    // Not a spelling of the literal: still the template.
    passes(&api, &mut req("GET", "/orders/EXPORTS"));
    // The literal declares no DELETE: case-insensitive routers fall through too.
    let mut cx = req("DELETE", "/orders/EXPORT");
    passes(&api, &mut cx);
    assert_eq!(cx.route.as_deref(), Some("DELETE /orders/{orderId}"));
}

#[test]
fn matrix_parameters_keep_their_whole_segment() {
    let api = orders();
    let mut cx = req("GET", "/items/;id=5");
    passes(&api, &mut cx);
    assert_eq!(cx.route.as_deref(), Some("GET /items/{id}"));
    let p = refused(run(&api, &mut req("GET", "/items/;id=x")));
    assert!(has_failure(&p, "path", "/id", "type"), "{p:?}");
}
