//! Cedar policies are sliced per operation (only those whose action scope
//! admits it are evaluated; none at all when none can apply). The slicing
//! must not change a single decision: scoped forbids still refuse their
//! operation, unscoped ones still apply everywhere, `action in [..]` lists
//! work, and `permit_required` still denies an operation no permit names.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use http::Method;
use rampart_authz::clock::ManualClock;
use rampart_authz::{AuthzConfig, AuthzStage};
use rampart_core::{Identity, RequestCx, Stage, Step, Verdict};
use serde_json::{Value, json};

fn stage(policies: &str, mode: &str) -> AuthzStage {
    let path = std::env::temp_dir().join(format!(
        "rampart-authz-slicing-{}-{mode}-{}.cedar",
        std::process::id(),
        policies.len()
    ));
    std::fs::write(&path, policies).unwrap();
    let cfg: Value = json!({
        "operations": {
            "GET /a": {}, "GET /b": {}, "GET /c": {}, "DELETE /a": {}
        },
        "cedar": {"policies": [path], "mode": mode}
    });
    let cfg: AuthzConfig = serde_json::from_value(cfg).unwrap();
    cfg.build("authz", Arc::new(ManualClock::at_secs(1_000)))
        .unwrap()
}

fn call(stage: &AuthzStage, route: &str, sub: &str) -> u16 {
    let (method, path) = route.split_once(' ').unwrap();
    let method: Method = method.parse().unwrap();
    let mut cx = RequestCx::new(
        "r".into(),
        "10.0.0.1:1".parse().unwrap(),
        method,
        path.into(),
    );
    cx.route = Some(route.into());
    cx.identity = Some(Identity {
        consumer: sub.into(),
        method: "jwt".into(),
        claims: json!({"sub": sub}).as_object().cloned().unwrap(),
        ..Identity::default()
    });
    match stage.on_request(&mut cx) {
        Step::Done(Verdict::Continue) => 200,
        Step::Done(Verdict::Respond(p)) => p.kind.status,
        Step::Wait(_) => panic!("synchronous"),
    }
}

#[test]
fn forbid_only_slices_keep_every_decision() {
    let s = stage(
        r#"
        forbid(principal, action == Rampart::Action::"GET /a", resource)
            when { principal.claims.sub == "mallory" };
        forbid(principal, action in [Rampart::Action::"GET /b", Rampart::Action::"DELETE /a"], resource)
            when { principal.claims.sub == "eve" };
        forbid(principal, action, resource) when { principal.claims.sub == "banned" };
        "#,
        "forbid_only",
    );
    // The scoped forbid refuses its operation only.
    assert_eq!(call(&s, "GET /a", "mallory"), 403);
    assert_eq!(call(&s, "GET /b", "mallory"), 200);
    assert_eq!(call(&s, "GET /c", "mallory"), 200);
    // `in [..]`: both listed operations, no other.
    assert_eq!(call(&s, "GET /b", "eve"), 403);
    assert_eq!(call(&s, "DELETE /a", "eve"), 403);
    assert_eq!(call(&s, "GET /a", "eve"), 200);
    // The unscoped forbid applies everywhere.
    for route in ["GET /a", "GET /b", "GET /c", "DELETE /a"] {
        assert_eq!(call(&s, route, "banned"), 403, "{route}");
        assert_eq!(call(&s, route, "alice"), 200, "{route}");
    }
}

#[test]
fn permit_required_denies_operations_no_permit_names() {
    let s = stage(
        r#"
        permit(principal, action == Rampart::Action::"GET /a", resource);
        permit(principal, action in [Rampart::Action::"GET /b"], resource)
            when { principal.claims.sub == "alice" };
        "#,
        "permit_required",
    );
    assert_eq!(call(&s, "GET /a", "anyone"), 200);
    assert_eq!(call(&s, "GET /b", "alice"), 200);
    assert_eq!(call(&s, "GET /b", "bob"), 403);
    // No permit can apply: refused without evaluation.
    assert_eq!(call(&s, "GET /c", "alice"), 403);
    assert_eq!(call(&s, "DELETE /a", "alice"), 403);
}

#[test]
fn forbid_only_without_any_applicable_forbid_allows() {
    let s = stage(
        r#"forbid(principal, action == Rampart::Action::"GET /zzz", resource);"#,
        "forbid_only",
    );
    for route in ["GET /a", "GET /b", "DELETE /a"] {
        assert_eq!(call(&s, route, "alice"), 200, "{route}");
    }
}
