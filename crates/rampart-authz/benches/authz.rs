//! Cost of the authorization stage per request: operation rules alone (scopes,
//! roles, ownership) and with Cedar policy evaluation.
//!
//! Run: `cargo bench -p rampart-authz --bench authz` (criterion, wall time), or
//! `RAMPART_BENCH_ON_CPU=1 cargo bench -p rampart-authz --bench authz` (mean on-CPU time).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group};
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
    cfg.build("authz", Arc::new(ManualClock::at_secs(1_800_000_000)))
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

/// `RAMPART_BENCH_ON_CPU=1` prints mean on-CPU time per call instead of running
/// criterion.
fn main() {
    if std::env::var_os("RAMPART_BENCH_ON_CPU").is_some() {
        on_cpu_main();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

/// On-CPU nanoseconds of this thread (Linux `schedstat`; 0 elsewhere).
fn on_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Mean on-CPU and wall time per call over ~2 s: on a shared machine the
/// on-CPU figure leaves out the time other processes held the core.
fn on_cpu_report(name: &str, mut f: impl FnMut()) {
    for _ in 0..1_000 {
        f();
    }
    let (cpu0, wall0) = (on_cpu_ns(), std::time::Instant::now());
    let mut n: u64 = 0;
    while wall0.elapsed() < std::time::Duration::from_secs(2) {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    let cpu = on_cpu_ns().saturating_sub(cpu0) as f64 / n as f64 / 1_000.0;
    let wall = wall0.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("{name:<28} {cpu:>8.2} µs on-CPU  {wall:>8.2} µs wall  ({n} calls)");
}

fn on_cpu_main() {
    let id = identity();
    // `RAMPART_BENCH_FILTER=cedar` runs only the cases whose name contains it.
    let filter = std::env::var("RAMPART_BENCH_FILTER").unwrap_or_default();
    for (name, cedar) in [("rules_only", false), ("rules_and_cedar", true)] {
        if !name.contains(&filter) {
            continue;
        }
        let stage = stage(cedar);
        on_cpu_report(&format!("authz_stage/{name}"), || {
            let mut cx = request(&id);
            assert!(matches!(
                stage.on_request(&mut cx),
                Step::Done(Verdict::Continue)
            ));
        });
    }
}
