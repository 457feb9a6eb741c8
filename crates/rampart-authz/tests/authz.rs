//! The authorization stage: for every control, the attack that is refused and the
//! legitimate request that passes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Method, StatusCode};
use rampart_authz::clock::ManualClock;
use rampart_authz::{AuthzConfig, AuthzStage};
use rampart_core::{Identity, Phase, RequestCx, ResponseCx, ResponsePhase, Stage, Verdict};
use serde_json::{Value, json};

const NOW: u64 = 1_800_000_000;

fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let path =
        std::env::temp_dir().join(format!("rampart-authz-{}-{n}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

const POLICIES: &str = r#"// Reports only from the office network.
@id("reports-office")
permit(principal, action == Rampart::Action::"GET /reports/{tenant}", resource)
when { context.ip.isInRange(ip("10.0.0.0/8")) };

// Everything else the operation rules allow.
@id("others")
permit(principal, action, resource)
unless { action == Rampart::Action::"GET /reports/{tenant}" };

// Tenants stay in their tenant.
@id("tenant-isolation")
forbid(principal, action, resource)
when { resource.params has tenant && !(principal.claims has tenant && principal.claims.tenant == resource.params.tenant) };
"#;

fn config() -> Value {
    json!({
        "operations": {
            "GET /pets": {"public": true},
            "POST /pets": {"scopes": ["pets:write"]},
            "GET /admin/users": {"roles": ["admin"]},
            "DELETE /admin/users/{id}": {"roles": ["admin"],
                "step_up": {"acr_values": ["mfa"], "amr": ["otp", "hwk"], "max_age_seconds": 300}},
            "GET /users/{username}": {"owner": {"param": "username", "claim": "sub", "unless_roles": ["admin"]}},
            "GET /users/{username}/files/{file}": {"owner": {"param": "username"}},
            "GET /orders/{id}": {"response_owner": {"field": "owner", "claim": "sub", "unless_roles": ["support"]}},
            "GET /reports/{tenant}": {"scopes": ["reports:read"]},
            "GET /tenants/{tenant}/docs/{doc}": {"scopes": ["docs:read"]}
        },
        "cedar": {"policies": [temp_file("policies.cedar", POLICIES)]}
    })
}

fn stage() -> AuthzStage {
    let cfg: AuthzConfig = serde_json::from_value(config()).unwrap();
    cfg.build("apis.shop.authz", Arc::new(ManualClock::at_secs(NOW)))
        .unwrap()
}

fn user(sub: &str, scopes: &[&str], roles: &[&str], claims: Value) -> Identity {
    let mut all = json!({"sub": sub});
    for (k, v) in claims.as_object().unwrap() {
        all[k] = v.clone();
    }
    Identity {
        consumer: sub.into(),
        method: "jwt".into(),
        credential_id: Some("jti-1".into()),
        scopes: scopes.iter().map(|s| (*s).to_string()).collect(),
        roles: roles.iter().map(|s| (*s).to_string()).collect(),
        plan: None,
        claims: all.as_object().cloned().unwrap(),
    }
}

fn request(method: Method, route: &str, path: &str, identity: Option<Identity>) -> RequestCx {
    let mut cx = RequestCx::new(
        "r1".into(),
        "10.1.2.3:4000".parse().unwrap(),
        method,
        path.into(),
    );
    cx.route = Some(route.into());
    cx.api = "shop".into();
    cx.identity = identity;
    cx
}

fn verdict(stage: &AuthzStage, cx: &mut RequestCx) -> (u16, Option<String>) {
    match stage.on_request(cx) {
        rampart_core::Step::Done(Verdict::Continue) => (200, None),
        rampart_core::Step::Done(Verdict::Respond(p)) => {
            let challenge = p
                .headers
                .iter()
                .find(|(n, _)| n == "www-authenticate")
                .map(|(_, v)| v.to_str().unwrap().to_string());
            (p.kind.status, challenge)
        }
        rampart_core::Step::Wait(_) => panic!("authorization is synchronous"),
    }
}

fn status(stage: &AuthzStage, cx: &mut RequestCx) -> u16 {
    verdict(stage, cx).0
}

#[test]
fn stage_runs_at_the_authorization_phase() {
    let s = stage();
    assert_eq!(s.phase(), Phase::Authorization);
    assert_eq!(s.response_phase(), ResponsePhase::Inspection);
}

#[test]
fn operations_without_a_rule_are_refused_bfla() {
    let s = stage();
    let admin = user("root", &[], &["admin"], json!({}));
    // A method not granted on a path whose GET is public.
    assert_eq!(
        status(
            &s,
            &mut request(Method::DELETE, "DELETE /pets", "/pets", Some(admin.clone()))
        ),
        403
    );
    // An undeclared operation, and no route at all.
    assert_eq!(
        status(
            &s,
            &mut request(
                Method::GET,
                "GET /internal/debug",
                "/internal/debug",
                Some(admin.clone())
            )
        ),
        403
    );
    let mut cx = request(Method::GET, "GET /pets", "/pets", Some(admin));
    cx.route = None;
    assert_eq!(status(&s, &mut cx), 403);
    // A Java client's session id in a path parameter is set aside, as the
    // route stage matched it.
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, "GET /pets", "/pets;jsessionid=ab12", None)
        ),
        200
    );
    // The public one passes, even anonymously.
    assert_eq!(
        status(&s, &mut request(Method::GET, "GET /pets", "/pets", None)),
        200
    );
}

#[test]
fn protected_operations_need_an_identity() {
    let s = stage();
    let (code, challenge) = verdict(&s, &mut request(Method::POST, "POST /pets", "/pets", None));
    assert_eq!(code, 401);
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"rampart\""));
}

#[test]
fn scopes_are_all_required() {
    let s = stage();
    let reader = user("alice", &["pets:read"], &[], json!({}));
    let (code, challenge) = verdict(
        &s,
        &mut request(Method::POST, "POST /pets", "/pets", Some(reader)),
    );
    assert_eq!(code, 403);
    assert_eq!(
        challenge.as_deref(),
        Some("Bearer realm=\"rampart\", error=\"insufficient_scope\", scope=\"pets:write\"")
    );
    let writer = user("alice", &["pets:write"], &[], json!({}));
    assert_eq!(
        status(
            &s,
            &mut request(Method::POST, "POST /pets", "/pets", Some(writer))
        ),
        200
    );
}

#[test]
fn admin_operations_need_the_role() {
    let s = stage();
    let plain = user("alice", &[], &["user"], json!({}));
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, "GET /admin/users", "/admin/users", Some(plain))
        ),
        403
    );
    let admin = user("root", &[], &["admin"], json!({}));
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, "GET /admin/users", "/admin/users", Some(admin))
        ),
        200
    );
}

#[test]
fn step_up_is_challenged_per_rfc9470_and_strong_auth_passes() {
    let s = stage();
    let route = "DELETE /admin/users/{id}";
    let weak = user(
        "root",
        &[],
        &["admin"],
        json!({"acr": "pwd", "amr": ["pwd"], "auth_time": NOW - 10}),
    );
    let (code, challenge) = verdict(
        &s,
        &mut request(Method::DELETE, route, "/admin/users/7", Some(weak)),
    );
    assert_eq!(code, 401);
    let challenge = challenge.unwrap();
    assert!(
        challenge.contains("error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    assert!(challenge.contains("acr_values=\"mfa\""), "{challenge}");
    assert!(challenge.contains("max_age=300"), "{challenge}");
    let stale = user(
        "root",
        &[],
        &["admin"],
        json!({"acr": "mfa", "amr": ["otp"], "auth_time": NOW - 301}),
    );
    assert_eq!(
        status(
            &s,
            &mut request(Method::DELETE, route, "/admin/users/7", Some(stale))
        ),
        401
    );
    let strong = user(
        "root",
        &[],
        &["admin"],
        json!({"acr": "mfa", "amr": ["pwd", "otp"], "auth_time": NOW - 300}),
    );
    assert_eq!(
        status(
            &s,
            &mut request(Method::DELETE, route, "/admin/users/7", Some(strong))
        ),
        200
    );
    // Strong authentication does not replace the role.
    let strong_user = user(
        "bob",
        &[],
        &["user"],
        json!({"acr": "mfa", "amr": ["otp"], "auth_time": NOW}),
    );
    assert_eq!(
        status(
            &s,
            &mut request(Method::DELETE, route, "/admin/users/7", Some(strong_user))
        ),
        403
    );
}

#[test]
fn another_users_object_is_refused_bola() {
    let s = stage();
    let route = "GET /users/{username}";
    let alice = || Some(user("alice", &[], &[], json!({})));
    assert_eq!(
        status(&s, &mut request(Method::GET, route, "/users/bob", alice())),
        403
    );
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, route, "/users/alice", alice())
        ),
        200
    );
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, route, "/users/%61lice", alice())
        ),
        200,
        "encoded self"
    );
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, route, "/users/alice%00", alice())
        ),
        403
    );
    let admin = Some(user("root", &[], &["admin"], json!({})));
    assert_eq!(
        status(&s, &mut request(Method::GET, route, "/users/bob", admin)),
        200
    );
}

#[test]
fn another_parameter_of_an_owned_path_cannot_climb_out_of_its_segment() {
    let s = stage();
    let route = "GET /users/{username}/files/{file}";
    let alice = || Some(user("alice", &[], &[], json!({})));
    for path in [
        "/users/alice/files/..%2F..%2Fbob%2Ffiles%2Fsecret",
        "/users/alice/files/..%5Cbob",
        "/users/alice/files/a%2fb",
        // A byte that is not UTF-8 keeps the value undecoded: the encoded
        // slashes beside it count all the same.
        "/users/alice/files/..%2F..%2Fbob%2F%FF%2F..%2Ffiles%2Fsecret",
        "/users/alice/files/%FF..%5cbob",
        // Two readings: `bob` to Tomcat, `x;bob` to Express.
        "/users/alice/files/x;bob",
    ] {
        let mut cx = request(Method::GET, route, path, alice());
        assert_eq!(status(&s, &mut cx), 400, "{path}");
    }
    assert_eq!(
        status(
            &s,
            &mut request(
                Method::GET,
                route,
                "/users/alice/files/report%20v2.pdf",
                alice()
            )
        ),
        200
    );
}

#[test]
fn a_path_value_that_does_not_decode_names_nobody_but_is_no_reason_to_refuse() {
    let s = stage();
    let alice = || Some(user("alice", &[], &[], json!({})));
    // The owner check cannot match bytes that are not UTF-8.
    let route = "GET /users/{username}";
    for path in ["/users/alice%FF", "/users/%61lice%+1"] {
        assert_eq!(
            status(&s, &mut request(Method::GET, route, path, alice())),
            403,
            "{path}"
        );
    }
    // An operation checking no path parameter on the request passes it on
    // (it was refused as authz-no-rule).
    let route = "GET /orders/{id}";
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, route, "/orders/%FF.bin", alice())
        ),
        200
    );
}

fn respond(s: &AuthzStage, cx: &mut RequestCx, status: StatusCode, body: &str) -> u16 {
    let mut response = ResponseCx {
        status,
        headers: http::HeaderMap::new(),
        body: Some(Bytes::from(body.to_owned())),
        body_truncated: false,
    };
    if status.is_success() {
        assert!(s.wants_response_body(cx, &response));
    }
    let refused = match s.on_response(cx, &mut response) {
        rampart_core::Step::Done(Verdict::Continue) => None,
        rampart_core::Step::Done(Verdict::Respond(p)) => Some(p.kind.status),
        rampart_core::Step::Wait(_) => panic!("synchronous"),
    };
    refused.unwrap_or(response.status.as_u16())
}

#[test]
fn someone_elses_object_in_a_response_becomes_404() {
    let s = stage();
    let route = "GET /orders/{id}";
    let mut cx = request(
        Method::GET,
        route,
        "/orders/991",
        Some(user("alice", &[], &[], json!({}))),
    );
    assert_eq!(status(&s, &mut cx), 200);
    assert_eq!(
        respond(&s, &mut cx, StatusCode::OK, r#"{"id":991,"owner":"bob"}"#),
        404
    );
    // Conditional and range fields go: a 304 or 206 has no object to check,
    // and its headers would tell bob's order from a missing one.
    let conditional = [
        ("if-none-match", "*"),
        ("if-modified-since", "Thu, 01 Jan 2026 00:00:00 GMT"),
        ("if-match", "\"x\""),
        ("if-unmodified-since", "Thu, 01 Jan 2026 00:00:00 GMT"),
        ("if-range", "\"x\""),
        ("range", "bytes=0-1"),
        ("if_none_match", "*"),
        ("If_Modified_Since", "Thu, 01 Jan 2026 00:00:00 GMT"),
    ];
    let with_conditions = |who: Identity| {
        let mut cx = request(Method::GET, route, "/orders/991", Some(who));
        for (name, value) in conditional {
            cx.headers.insert(name, value.parse().unwrap());
        }
        cx.headers
            .insert("accept", "application/json".parse().unwrap());
        cx
    };
    let mut checked = with_conditions(user("alice", &[], &[], json!({})));
    assert_eq!(status(&s, &mut checked), 200);
    for (name, _) in conditional {
        assert!(!checked.headers.contains_key(name), "{name}");
    }
    assert!(checked.headers.contains_key("accept"));
    // Exempt staff are not checked on the response: their fields stay.
    let mut exempt = with_conditions(user("sam", &[], &["support"], json!({})));
    assert_eq!(status(&s, &mut exempt), 200);
    assert!(exempt.headers.contains_key("if-none-match"));
    assert_eq!(
        respond(&s, &mut cx, StatusCode::OK, r#"{"id":991}"#),
        404,
        "missing owner"
    );
    assert_eq!(
        respond(&s, &mut cx, StatusCode::OK, "<html>"),
        404,
        "not JSON"
    );
    assert_eq!(
        respond(&s, &mut cx, StatusCode::OK, r#"{"id":991,"owner":"alice"}"#),
        200
    );
    assert_eq!(
        respond(&s, &mut cx, StatusCode::NOT_FOUND, r#"{"error":"x"}"#),
        404
    );
    assert_eq!(
        respond(&s, &mut cx, StatusCode::INTERNAL_SERVER_ERROR, "oops"),
        500,
        "errors pass through"
    );
    // Unbuffered body (too large for the gateway buffer) fails closed.
    let mut response = ResponseCx {
        status: StatusCode::OK,
        headers: http::HeaderMap::new(),
        body: None,
        body_truncated: false,
    };
    assert!(matches!(
        s.on_response(&mut cx, &mut response),
        rampart_core::Step::Done(Verdict::Respond(_))
    ));
    // Support staff are exempt; other operations are not inspected.
    let mut cx = request(
        Method::GET,
        route,
        "/orders/991",
        Some(user("sam", &[], &["support"], json!({}))),
    );
    assert_eq!(status(&s, &mut cx), 200);
    let response = ResponseCx {
        status: StatusCode::OK,
        headers: http::HeaderMap::new(),
        body: None,
        body_truncated: false,
    };
    assert!(!s.wants_response_body(&cx, &response));
}

#[test]
fn head_to_a_response_owner_operation_is_405_except_for_exempt_roles() {
    // HEAD is routed to the GET operation; its answer has no body to check.
    let s = stage();
    let route = "GET /orders/{id}";
    let alice = Some(user("alice", &[], &[], json!({})));
    let mut head = request(Method::HEAD, route, "/orders/991", alice);
    let denied = match rampart_core::Stage::on_request(&s, &mut head) {
        rampart_core::Step::Done(Verdict::Respond(p)) => p,
        _ => panic!("a HEAD its response check cannot see through must be refused"),
    };
    assert_eq!(denied.kind.status, 405);
    assert!(
        denied
            .headers
            .iter()
            .any(|(n, v)| n == "allow" && v == "GET")
    );
    // Exempt staff are not checked on the response: HEAD passes.
    let sam = Some(user("sam", &[], &["support"], json!({})));
    assert_eq!(
        status(&s, &mut request(Method::HEAD, route, "/orders/991", sam)),
        200
    );
}

#[test]
fn cedar_policies_see_ip_params_and_claims() {
    let s = stage();
    let route = "GET /reports/{tenant}";
    let alice = || {
        Some(user(
            "alice",
            &["reports:read"],
            &[],
            json!({"tenant": "acme"}),
        ))
    };
    // Legitimate: office network, own tenant.
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, route, "/reports/acme", alice())
        ),
        200
    );
    // Other tenant: forbidden by tenant isolation.
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, route, "/reports/globex", alice())
        ),
        403
    );
    // Outside the office network: no permit.
    let mut cx = request(Method::GET, route, "/reports/acme", alice());
    cx.client_ip = "203.0.113.9".parse().unwrap();
    assert_eq!(status(&s, &mut cx), 403);
    // No tenant claim at all.
    let anon_tenant = Some(user("eve", &["reports:read"], &[], json!({})));
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, route, "/reports/acme", anon_tenant)
        ),
        403
    );
}

#[test]
fn a_parameter_cedar_reads_cannot_climb_out_of_its_segment() {
    // Tenant isolation vouches for `tenant`; `doc` must not name another
    // tenant's document to an upstream that decodes and joins it.
    let s = stage();
    let route = "GET /tenants/{tenant}/docs/{doc}";
    let alice = || {
        Some(user(
            "alice",
            &["docs:read"],
            &[],
            json!({"tenant": "acme"}),
        ))
    };
    for path in [
        "/tenants/acme/docs/..%2F..%2Fglobex%2Fdocs%2F7",
        "/tenants/acme/docs/..%5Cglobex",
        "/tenants/acme/docs/..",
    ] {
        assert_eq!(
            status(&s, &mut request(Method::GET, route, path, alice())),
            400,
            "{path}"
        );
    }
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, route, "/tenants/acme/docs/7", alice())
        ),
        200
    );
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, route, "/tenants/globex/docs/7", alice())
        ),
        403
    );
}

#[test]
fn cedar_errors_name_file_and_line() {
    let bad = temp_file(
        "bad.cedar",
        "permit(principal, action, resource);\n\nforbid(principal, action resource);\n",
    );
    let cfg: AuthzConfig = serde_json::from_value(json!({"cedar": {"policies": [bad]}})).unwrap();
    let err = cfg
        .build("apis.shop.authz", Arc::new(ManualClock::at_secs(NOW)))
        .unwrap_err()
        .to_string();
    let expected = format!("apis.shop.authz.cedar.policies[0]: {}:3:", bad.display());
    assert!(err.starts_with(&expected), "{err}");

    let schema = temp_file(
        "schema.cedarschema",
        "namespace Rampart {\n entity Consumer { roles: Set<String> };\n entity Route;\n action \"GET /a\" appliesTo { principal: Consumer, resource: Route };\n}\n",
    );
    let typo = temp_file(
        "typo.cedar",
        "permit(principal, action, resource);\n// ok above\npermit(principal, action, resource) when { principal.rolez.contains(\"admin\") };\n",
    );
    let cfg: AuthzConfig =
        serde_json::from_value(json!({"cedar": {"policies": [typo], "schema": schema}})).unwrap();
    let err = cfg
        .build("apis.shop.authz", Arc::new(ManualClock::at_secs(NOW)))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("{}:3:", typo.display())), "{err}");
}

#[test]
fn a_parameter_no_policy_reads_may_hold_an_encoded_slash() {
    // Policies that never name `resource.params` or `resource.path` vouch
    // for no parameter: `a%2Fb` is a name like any other to them.
    let policies = temp_file(
        "ip-only.cedar",
        "permit(principal, action, resource) when { context.ip.isInRange(ip(\"10.0.0.0/8\")) };",
    );
    let cfg: AuthzConfig = serde_json::from_value(json!({
        "operations": {"GET /files/{name}": {"public": true}},
        "cedar": {"policies": [policies]}
    }))
    .unwrap();
    let s = cfg
        .build("authz", Arc::new(ManualClock::at_secs(NOW)))
        .unwrap();
    let route = "GET /files/{name}";
    assert_eq!(
        status(&s, &mut request(Method::GET, route, "/files/a%2Fb", None)),
        200
    );
}

#[test]
fn forbid_only_mode_allows_unless_forbidden() {
    let policies = temp_file(
        "forbid.cedar",
        "forbid(principal, action, resource) when { context.mtls == false && action == Rampart::Action::\"GET /admin/users\" };",
    );
    let cfg: AuthzConfig = serde_json::from_value(json!({
        "operations": {"GET /admin/users": {"roles": ["admin"]}, "GET /pets": {"public": true}},
        "cedar": {"policies": [policies], "mode": "forbid_only"}
    }))
    .unwrap();
    let s = cfg
        .build("authz", Arc::new(ManualClock::at_secs(NOW)))
        .unwrap();
    let admin = || Some(user("root", &[], &["admin"], json!({})));
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, "GET /admin/users", "/admin/users", admin())
        ),
        403
    );
    assert_eq!(
        status(&s, &mut request(Method::GET, "GET /pets", "/pets", None)),
        200
    );
    let mut cx = request(Method::GET, "GET /admin/users", "/admin/users", admin());
    cx.tls = Some(rampart_core::TlsInfo {
        version: "TLSv1.3".into(),
        alpn: None,
        client_cert: Some(rampart_core::ClientCert {
            subject: "CN=ops".into(),
            ..Default::default()
        }),
    });
    assert_eq!(status(&s, &mut cx), 200);
}

#[test]
fn config_errors_name_the_field() {
    let cases = [
        (
            json!({"operations": {"get /x": {}}}),
            "authz.operations[\"get /x\"]",
        ),
        (
            json!({"operations": {"GET /x/{id}": {"owner": {"param": "name"}}}}),
            "authz.operations[\"GET /x/{id}\"].owner.param",
        ),
        (
            json!({"operations": {"GET /x": {"public": true, "scopes": ["a"]}}}),
            "authz.operations[\"GET /x\"].public",
        ),
        (
            json!({"operations": {"GET /x": {"step_up": {}}}}),
            "authz.operations[\"GET /x\"].step_up",
        ),
        (
            json!({"cedar": {"policies": ["/nonexistent.cedar"]}}),
            "authz.cedar.policies[0]",
        ),
        // Checked on the response: the upstream would already have deleted
        // someone else's order.
        (
            json!({"operations": {"DELETE /orders/{id}": {"response_owner": {"field": "owner"}}}}),
            "authz.operations[\"DELETE /orders/{id}\"].response_owner: only for GET",
        ),
        (
            json!({"operations": {"GET /orders/{id}": {"response_owner": {"max_body_bytes": 16777217}}}}),
            "authz.operations[\"GET /orders/{id}\"].response_owner.max_body_bytes",
        ),
    ];
    for (cfg, path) in cases {
        let cfg: AuthzConfig = serde_json::from_value(cfg).unwrap();
        let err = cfg
            .build("authz", Arc::new(ManualClock::at_secs(NOW)))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(path), "{err}");
    }
    assert!(serde_json::from_value::<AuthzConfig>(json!({"operations": {}, "typo": 1})).is_err());
}

#[test]
fn cedar_evaluation_errors_deny_instead_of_skipping_a_forbid() {
    let policies = temp_file(
        "errors.cedar",
        "permit(principal, action, resource);\nforbid(principal, action, resource) when { principal.claims.level < 3 };\n",
    );
    let cfg: AuthzConfig = serde_json::from_value(json!({
        "operations": {"GET /vault": {}},
        "cedar": {"policies": [policies]}
    }))
    .unwrap();
    let s = cfg
        .build("authz", Arc::new(ManualClock::at_secs(NOW)))
        .unwrap();
    let with_level = |level: Value| Some(user("alice", &[], &[], json!({"level": level})));
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, "GET /vault", "/vault", with_level(json!(5)))
        ),
        200
    );
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, "GET /vault", "/vault", with_level(json!(1)))
        ),
        403
    );
    // No `level` claim: plain Cedar would skip the erroring forbid and allow.
    let without = Some(user("alice", &[], &[], json!({})));
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, "GET /vault", "/vault", without)
        ),
        403
    );
    // A claim of the wrong type errors too.
    assert_eq!(
        status(
            &s,
            &mut request(Method::GET, "GET /vault", "/vault", with_level(json!("9")))
        ),
        403
    );
}
