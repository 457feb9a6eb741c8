//! Configuration that tightens a loose spec without editing it: extra schemas for
//! bodies (`request_schema`) and parameters (`parameters`), and the login
//! identifier of authentication endpoints (`username_field`).

use rampart_core::{Stage, Verdict};
use rampart_openapi::{LoginIdentifier, LoginOperation, OpenApiConfig};

use crate::support::*;

fn cfg(operations: &str) -> OpenApiConfig {
    let yaml = format!("spec: users.yaml\noperations:\n{operations}");
    serde_saphyr::from_str(&yaml).unwrap()
}

fn build_error(operations: &str) -> String {
    cfg(operations)
        .build(&data())
        .expect_err("refused")
        .to_string()
}

const ALICE: &str = r#"{"name":"Alice","email":"alice@example.com","password":"correct horse"}"#;

#[test]
fn request_schema_adds_constraints_the_spec_forgot() {
    let api = api_with(
        cfg(
            "  createUser:\n    request_schema:\n      properties:\n        name: {maxLength: 5, pattern: '^[A-Z]'}\n",
        ),
        NOW,
    );
    passes(&api, &mut json(req("POST", "/v1/users"), ALICE));
    let long = ALICE.replace("Alice", "Alexander");
    let p = refused(run(&api, &mut json(req("POST", "/v1/users"), &long)));
    assert!(has_failure(&p, "body", "/name", "maxLength"), "{p:?}");
    let lower = ALICE.replace("Alice", "alice");
    let p = refused(run(&api, &mut json(req("POST", "/v1/users"), &lower)));
    assert!(has_failure(&p, "body", "/name", "pattern"), "{p:?}");
    // The spec's own rules still apply beside the extra ones.
    let bad = ALICE.replace("alice@example.com", "nope");
    let p = refused(run(&api, &mut json(req("POST", "/v1/users"), &bad)));
    assert!(has_failure(&p, "body", "/email", "format"), "{p:?}");
    // The extra schema declares nothing: members it names are still checked
    // against the spec's shapes (here `nickname` is declared by the spec).
    let api = api_with(
        cfg(
            "  createUser:\n    request_schema:\n      properties:\n        admin: {type: boolean}\n",
        ),
        NOW,
    );
    let sneaky = ALICE.replace('}', r#","admin":true}"#);
    let p = refused(run(&api, &mut json(req("POST", "/v1/users"), &sneaky)));
    assert!(has_failure(&p, "body", "/admin", "undeclared"), "{p:?}");
}

#[test]
fn parameter_schemas_add_constraints_the_spec_forgot() {
    let api = api_with(
        cfg(
            "  listUsers:\n    parameters:\n      limit: {maximum: 10}\n      sort: {enum: [name]}\n",
        ),
        NOW,
    );
    passes(&api, &mut req("GET", "/v1/users?limit=10&sort=name"));
    let p = refused(run(&api, &mut req("GET", "/v1/users?limit=11")));
    assert!(has_failure(&p, "query", "/limit", "maximum"), "{p:?}");
    let p = refused(run(&api, &mut req("GET", "/v1/users?sort=created")));
    assert!(has_failure(&p, "query", "/sort", "enum"), "{p:?}");
    // The spec's minimum still holds.
    let p = refused(run(&api, &mut req("GET", "/v1/users?limit=0")));
    assert!(has_failure(&p, "query", "/limit", "minimum"), "{p:?}");
}

#[test]
fn overrides_naming_nothing_or_invalid_schemas_are_build_errors() {
    let e = build_error("  getUser:\n    request_schema: {type: object}\n");
    assert!(e.contains("operations[\"getUser\"].request_schema"), "{e}");
    let e = build_error("  listUsers:\n    parameters:\n      nope: {maximum: 1}\n");
    assert!(
        e.contains("operations[\"listUsers\"].parameters.nope"),
        "{e}"
    );
    let e = build_error("  listUsers:\n    parameters:\n      limit: {maximum: x}\n");
    assert!(
        e.contains("operations[\"listUsers\"].parameters.limit"),
        "{e}"
    );
    let e = build_error("  createUser:\n    username_field: /name\n");
    assert!(
        e.contains("operations[\"createUser\"].username_field"),
        "{e}"
    );
    assert!(e.contains("auth_endpoint"), "{e}");
    let e = build_error("  login:\n    auth_endpoint: true\n    username_field: username\n");
    assert!(e.contains("JSON pointer"), "{e}");
    let e = build_error("  nonesuch: {auth_endpoint: true}\n");
    assert!(e.contains("operations[\"nonesuch\"]: no operation"), "{e}");
    // One operation named by both its operationId and its route: ambiguous.
    let e =
        build_error("  createUser: {auth_endpoint: true}\n  POST /users: {auth_endpoint: false}\n");
    assert!(
        e.contains("operations[\"createUser\"]: names the same operation as \"POST /users\""),
        "{e}"
    );
}

#[test]
fn the_route_stage_reads_the_login_identifier_of_configured_operations() {
    let api = api_with(
        cfg("  login:\n    auth_endpoint: true\n    username_field: /username\n"),
        NOW,
    );
    let login = || {
        json(
            req("POST", "/v1/login"),
            r#"{"username":"Alice","password":"x"}"#,
        )
    };
    // The gateway buffers the body for the route stage on this operation only.
    // Read before the rate limits: capped below the usual 1 MiB.
    assert_eq!(
        api.route.request_body_limit(&login()),
        Some(rampart_openapi::login::MAX_LOGIN_BODY)
    );
    assert!(
        api.route
            .request_body_limit(&json(req("POST", "/v1/users"), ALICE))
            .is_none()
    );
    let mut cx = login();
    passes(&api, &mut cx);
    assert_eq!(
        cx.extensions.get::<LoginIdentifier>(),
        Some(&LoginIdentifier("Alice".into()))
    );
    // Without the option nothing is read.
    let plain = api_with(cfg("  login:\n    auth_endpoint: true\n"), NOW);
    assert!(plain.route.request_body_limit(&login()).is_none());
    let mut cx = login();
    passes(&plain, &mut cx);
    assert!(cx.extensions.get::<LoginIdentifier>().is_none());
    // Still a login attempt for the lock-out.
    assert!(cx.extensions.get::<LoginOperation>().is_some());
    let mut cx = json(req("POST", "/v1/users"), ALICE);
    passes(&plain, &mut cx);
    assert!(cx.extensions.get::<LoginOperation>().is_none());
}

#[test]
fn a_login_whose_identifier_cannot_be_read_is_still_a_login_attempt() {
    let api = api_with(
        cfg("  login:
    auth_endpoint: true
    username_field: /username
"),
        NOW,
    );
    // No string at the pointer: no identifier, but the lock-out must still
    // count the attempt (per client IP).
    let mut cx = json(
        req("POST", "/v1/login"),
        r#"{"username":["Alice"],"password":"x"}"#,
    );
    assert_eq!(done(api.route.on_request(&mut cx)), Verdict::Continue);
    assert!(cx.extensions.get::<LoginIdentifier>().is_none());
    assert!(cx.extensions.get::<LoginOperation>().is_some());
}
