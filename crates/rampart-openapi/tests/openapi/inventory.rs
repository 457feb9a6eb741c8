//! Inventory: only declared path + method pairs pass.

use rampart_openapi::{MatchedOperation, PathParams};

use crate::support::*;

#[test]
fn declared_operations_pass_and_annotate_the_request() {
    let api = api();
    let mut cx = req("GET", "/v1/users/42");
    passes(&api, &mut cx);
    assert_eq!(cx.route.as_deref(), Some("GET /users/{id}"));
    let params = cx.extensions.get::<PathParams>().unwrap();
    assert_eq!(params.get("id"), Some("42"));
    let m = cx.extensions.get::<MatchedOperation>().unwrap();
    assert_eq!(m.operation_id.as_deref(), Some("getUser"));
}

#[test]
fn concrete_paths_win_over_templates() {
    let api = api();
    let mut cx = req("GET", "/v1/users/me");
    passes(&api, &mut cx);
    assert_eq!(cx.route.as_deref(), Some("GET /users/me"));
}

#[test]
fn shadow_routes_get_404() {
    let api = api();
    for path in [
        "/v1/admin",
        "/v1/users/42/secrets",
        "/users/42",
        "/v1",
        "/v1users/1",
        "/v1/users/",
    ] {
        let mut cx = req("GET", path);
        let p = refused(run(&api, &mut cx));
        assert_eq!(p.kind.status, 404, "{path}");
        assert_eq!(p.kind.slug, "route-not-declared");
        assert_eq!(cx.notes.reason.as_deref(), Some("route-not-declared"));
        assert!(cx.route.is_none());
    }
}

#[test]
fn undeclared_methods_get_405_with_allow() {
    let api = api();
    let p = refused(run(&api, &mut req("PUT", "/v1/users/42")));
    assert_eq!(p.kind.status, 405);
    let allow = p
        .headers
        .iter()
        .find(|(n, _)| n == http::header::ALLOW)
        .unwrap();
    assert_eq!(allow.1, "DELETE, GET, PATCH");
}

#[test]
fn the_validation_stage_alone_still_refuses_undeclared_routes() {
    let api = api();
    let v = done(rampart_core::Stage::on_request(
        &api.validation,
        &mut req("GET", "/v1/admin"),
    ));
    assert_eq!(refused(v).kind.status, 404);
}
