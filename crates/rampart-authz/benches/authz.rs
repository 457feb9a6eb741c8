//! Cost of the authorization stage per request: operation rules alone (scopes,
//! roles, ownership) and with Cedar policy evaluation.
//!
//! Run: `cargo bench -p rampart-authz --bench authz`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use http::Method;
use rampart_authz::clock::ManualClock;
use rampart_authz::{AuthzConfig, AuthzStage};
use rampart_core::{Identity, RequestCx, Stage, Step, Verdict};
use serde_json::json;

const POLICIES: &str = r#"
@id("office")
permit(principal, action, resource) when { context.ip.isInRange(ip("10.0.0.0/8")) };
@id("tenant-isolation")
forbid(principal, action, resource)
when { resource.params has tenant && !(principal.claims has tenant && principal.claims.tenant == resource.params.tenant) };
"#;

fn stage(cedar: bool) -> AuthzStage {
    let path =
        std::env::temp_dir().join(format!("rampart-authz-bench-{}.cedar", std::process::id()));
    std::fs::write(&path, POLICIES).unwrap();
    let mut cfg = json!({"operations": {
        "GET /tenants/{tenant}/users/{username}": {
            "scopes": ["users:read"], "roles": ["user", "admin"],
            "owner": {"param": "username", "claim": "sub", "unless_roles": ["admin"]}
        }
    }});
    if cedar {
        cfg["cedar"] = json!({"policies": [path]});
    }
    let cfg: AuthzConfig = serde_json::from_value(cfg).unwrap();
    cfg.build("authz", Arc::new(ManualClock::at(1_800_000_000)))
        .unwrap()
}

fn identity() -> Identity {
    let claims = json!({"sub": "alice", "tenant": "acme", "iss": "https://idp.example", "aud": "api",
                        "exp": 1_800_000_300u64, "scope": "users:read", "roles": ["user"]});
    Identity {
        consumer: "alice".into(),
        method: "jwt".into(),
        credential_id: Some("jti-1".into()),
        scopes: vec!["users:read".into()],
        roles: vec!["user".into()],
        plan: None,
        claims: claims.as_object().cloned().unwrap(),
    }
}

fn request(identity: &Identity) -> RequestCx {
    let mut cx = RequestCx::new(
        "r".into(),
        "10.0.0.1:1000".parse().unwrap(),
        Method::GET,
        "/tenants/acme/users/alice".into(),
    );
    cx.route = Some("GET /tenants/{tenant}/users/{username}".into());
    cx.identity = Some(identity.clone());
    cx
}

fn bench(c: &mut Criterion) {
    let id = identity();
    let mut group = c.benchmark_group("authz_stage");
    for (name, cedar) in [("rules_only", false), ("rules_and_cedar", true)] {
        let stage = stage(cedar);
        let mut cx = request(&id);
        assert!(
            matches!(stage.on_request(&mut cx), Step::Done(Verdict::Continue)),
            "{name}"
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut cx = request(&id);
                let allowed = matches!(stage.on_request(&mut cx), Step::Done(Verdict::Continue));
                std::hint::black_box(allowed)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
