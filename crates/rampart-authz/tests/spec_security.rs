//! Scopes from the OpenAPI spec's `security` requirements, combined with the
//! authz configuration: the caller without the spec's scope is refused, the
//! caller with it passes, and the configuration can override.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use http::Method;
use rampart_authz::clock::ManualClock;
use rampart_authz::{AuthzConfig, AuthzStage, SpecSecurity};
use rampart_core::{Identity, RequestCx, Step, Verdict};
use serde_json::{Value, json};

fn spec() -> Value {
    json!({
        "openapi": "3.1.0",
        "security": [{"oauth": ["pets:read"]}],
        "components": {"securitySchemes": {
            "oauth": {"type": "oauth2", "flows": {}},
            "key": {"type": "apiKey", "in": "header", "name": "x-api-key"}
        }},
        "paths": {
            "/pets": {
                "get": {},
                "post": {"security": [{"oauth": ["pets:write"]}]}
            },
            "/pets/{id}": {
                "get": {"security": [{"key": []}]},
                "delete": {"security": [{"oauth": ["pets:admin"]}]},
                "put": {"security": [{"oauth": ["pets:write"]}]}
            },
            "/health": {"get": {"security": []}},
            "/docs": {"get": {"security": []}}
        }
    })
}

fn stage(config: Value) -> AuthzStage {
    let cfg: AuthzConfig = serde_json::from_value(config).unwrap();
    let spec = SpecSecurity::from_document(&spec()).unwrap();
    cfg.build_with_spec(
        "apis.pets.authz",
        Arc::new(ManualClock::at_secs(1_000)),
        &spec,
    )
    .unwrap()
}

fn caller(scopes: &[&str], roles: &[&str]) -> Identity {
    Identity {
        consumer: "c".into(),
        method: "jwt".into(),
        scopes: scopes.iter().map(|s| (*s).to_string()).collect(),
        roles: roles.iter().map(|s| (*s).to_string()).collect(),
        claims: json!({"sub": "c"}).as_object().cloned().unwrap(),
        ..Identity::default()
    }
}

fn call(stage: &AuthzStage, route: &str, path: &str, who: Option<Identity>) -> (u16, String) {
    let method: Method = route.split(' ').next().unwrap().parse().unwrap();
    let mut cx = RequestCx::new(
        "r".into(),
        "127.0.0.1:1".parse().unwrap(),
        method,
        path.into(),
    );
    cx.route = Some(route.into());
    cx.identity = who;
    match rampart_core::Stage::on_request(stage, &mut cx) {
        Step::Done(Verdict::Continue) => (200, String::new()),
        Step::Done(Verdict::Respond(p)) => {
            let challenge = p
                .headers
                .iter()
                .find(|(n, _)| n == "www-authenticate")
                .map(|(_, v)| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            (p.kind.status, challenge)
        }
        Step::Wait(_) => panic!("synchronous"),
    }
}

#[test]
fn spec_scopes_are_required_without_any_config_rule() {
    let s = stage(json!({}));
    // The document-level requirement applies to GET /pets.
    let (status, challenge) = call(&s, "GET /pets", "/pets", Some(caller(&[], &[])));
    assert_eq!(status, 403);
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert!(challenge.contains("pets:read"), "{challenge}");
    assert_eq!(
        call(&s, "GET /pets", "/pets", Some(caller(&["pets:read"], &[]))).0,
        200
    );
    // The operation's own requirement replaces the document's.
    assert_eq!(
        call(&s, "POST /pets", "/pets", Some(caller(&["pets:read"], &[]))).0,
        403
    );
    assert_eq!(
        call(
            &s,
            "POST /pets",
            "/pets",
            Some(caller(&["pets:write"], &[]))
        )
        .0,
        200
    );
    // apiKey scheme: an API key is enough; a token is another kind of
    // credential, and anonymous is not enough.
    let key_holder = Identity {
        method: "api_key".into(),
        ..caller(&[], &[])
    };
    assert_eq!(
        call(&s, "GET /pets/{id}", "/pets/1", Some(key_holder)).0,
        200
    );
    assert_eq!(
        call(&s, "GET /pets/{id}", "/pets/1", Some(caller(&[], &[]))).0,
        403
    );
    assert_eq!(call(&s, "GET /pets/{id}", "/pets/1", None).0, 401);
    // `security: []` grants nothing without a config rule (default deny).
    assert_eq!(call(&s, "GET /health", "/health", None).0, 403);
    assert_eq!(
        call(&s, "GET /health", "/health", Some(caller(&[], &[]))).0,
        403
    );
}

#[test]
fn config_rules_combine_with_and_override_the_spec() {
    let s = stage(json!({"operations": {
        // Adds a role to the spec's scope.
        "DELETE /pets/{id}": {"roles": ["admin"]},
        // Config scopes replace the spec's.
        "PUT /pets/{id}": {"scopes": ["pets:update"]},
        // Ignore the spec for this one.
        "POST /pets": {"spec_security": false},
        "GET /health": {"public": true}
    }}));
    let admin_no_scope = caller(&[], &["admin"]);
    assert_eq!(
        call(&s, "DELETE /pets/{id}", "/pets/1", Some(admin_no_scope)).0,
        403
    );
    let scope_no_admin = caller(&["pets:admin"], &[]);
    assert_eq!(
        call(&s, "DELETE /pets/{id}", "/pets/1", Some(scope_no_admin)).0,
        403
    );
    let both = caller(&["pets:admin"], &["admin"]);
    assert_eq!(call(&s, "DELETE /pets/{id}", "/pets/1", Some(both)).0, 200);
    assert_eq!(
        call(
            &s,
            "PUT /pets/{id}",
            "/pets/1",
            Some(caller(&["pets:write"], &[]))
        )
        .0,
        403
    );
    assert_eq!(
        call(
            &s,
            "PUT /pets/{id}",
            "/pets/1",
            Some(caller(&["pets:update"], &[]))
        )
        .0,
        200
    );
    assert_eq!(
        call(&s, "POST /pets", "/pets", Some(caller(&[], &[]))).0,
        200
    );
    assert_eq!(call(&s, "POST /pets", "/pets", None).0, 401);
    assert_eq!(call(&s, "GET /health", "/health", None).0, 200);
    // Still default deny for what neither the spec nor the config covers.
    assert_eq!(
        call(
            &s,
            "GET /docs",
            "/docs",
            Some(caller(&["pets:read"], &["admin"]))
        )
        .0,
        403
    );
}

#[test]
fn config_scopes_replace_the_spec_scopes_but_not_its_credentials() {
    // The spec asks for an API key on `GET /pets/{id}`; the rule adds a scope.
    let s = stage(json!({"operations": {"GET /pets/{id}": {"scopes": ["pets:read"]}}}));
    // A token with the scope is not the API key the spec requires.
    let token = caller(&["pets:read"], &[]);
    assert_eq!(
        call(&s, "GET /pets/{id}", "/pets/1", Some(token.clone())).0,
        403
    );
    // ... and is not told to get a scope it already holds.
    assert_eq!(
        problem_slug(&s, "GET /pets/{id}", "/pets/1", token),
        "authz-wrong-credential"
    );
    // An API key with the scope passes; one without it does not.
    let key = |scopes: &[&str]| Identity {
        method: "api_key".into(),
        ..caller(scopes, &[])
    };
    assert_eq!(
        call(&s, "GET /pets/{id}", "/pets/1", Some(key(&["pets:read"]))).0,
        200
    );
    assert_eq!(call(&s, "GET /pets/{id}", "/pets/1", Some(key(&[]))).0, 403);
    assert_eq!(
        problem_slug(&s, "GET /pets/{id}", "/pets/1", key(&[])),
        "authz-insufficient-scope"
    );
}

fn problem_slug(stage: &AuthzStage, route: &str, path: &str, who: Identity) -> String {
    let method: Method = route.split(' ').next().unwrap().parse().unwrap();
    let mut cx = RequestCx::new(
        "r".into(),
        "127.0.0.1:1".parse().unwrap(),
        method,
        path.into(),
    );
    cx.route = Some(route.into());
    cx.identity = Some(who);
    match rampart_core::Stage::on_request(stage, &mut cx) {
        Step::Done(Verdict::Respond(p)) => p.kind.slug.to_owned(),
        _ => panic!("refusal expected"),
    }
}

/// A Cedar policy file in the temp directory.
fn policy_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rampart-cedar-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn cedar_error(file: &std::path::Path) -> Option<String> {
    let cfg: AuthzConfig = serde_json::from_value(json!({
        "operations": {"GET /health": {"public": true}},
        "cedar": {"policies": [file], "mode": "forbid_only"}
    }))
    .unwrap();
    let spec = SpecSecurity::from_document(&spec()).unwrap();
    cfg.build_with_spec(
        "apis[0].authz",
        Arc::new(ManualClock::at_secs(1_000)),
        &spec,
    )
    .err()
    .map(|e| e.to_string())
}

#[test]
fn cedar_policies_must_name_operation_keys() {
    // An action group (Rampart's actions belong to none) or another name
    // that is no operation key would match nothing: a forbid that forbids
    // nothing. Refused, with the file and line.
    let group = policy_file(
        "group.cedar",
        "permit(principal, action, resource);\n\nforbid(principal, action in [Rampart::Action::\"writes\"], resource);\n",
    );
    let error = cedar_error(&group).expect("an action group was accepted");
    assert!(
        error.starts_with(&format!(
            "apis[0].authz.cedar.policies[0]: {}:3:",
            group.display()
        )),
        "{error}"
    );
    assert!(
        error.contains("`Rampart::Action::\"writes\"` is not an operation key"),
        "{error}"
    );
    // Another namespace, and a resource of another type, match nothing either.
    let other = policy_file(
        "other.cedar",
        "forbid(principal, action == Action::\"GET /pets\", resource);\n",
    );
    assert!(cedar_error(&other).unwrap().contains("matches no request"));
    let kind = policy_file(
        "kind.cedar",
        "forbid(principal, action, resource is Rampart::Pet);\n",
    );
    let error = cedar_error(&kind).unwrap();
    assert!(
        error.contains(&format!("{}:1:39", kind.display())),
        "{error}"
    );
    let resource = policy_file(
        "resource.cedar",
        "forbid(principal, action, resource == Rampart::Route::\"pets\");\n",
    );
    assert!(
        cedar_error(&resource)
            .unwrap()
            .contains("resource `Rampart::Route::\"pets\"`")
    );
    // Operation keys this spec does not declare are accepted (a policy file
    // shared by several APIs names the others' operations; a likely typo is
    // logged with the closest operation), as are this spec's own.
    let shared = policy_file(
        "shared.cedar",
        "forbid(principal, action == Rampart::Action::\"DELETE /admin/{id}\", resource) when { resource.api == \"admin\" };\nforbid(principal, action == Rampart::Action::\"DELETE /pet/{id}\", resource);\n",
    );
    assert_eq!(cedar_error(&shared), None);
    let good = policy_file(
        "good.cedar",
        "forbid(principal, action in [Rampart::Action::\"DELETE /pets/{id}\", Rampart::Action::\"GET /health\"], resource == Rampart::Route::\"DELETE /pets/{id}\");\nforbid(principal, action, resource is Rampart::Route) when { context.tls == false };\n",
    );
    assert_eq!(cedar_error(&good), None);
}
