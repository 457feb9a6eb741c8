//! One transaction through Debian's CRS 3.3 (paranoia level 1, blocking,
//! request body access on): a GET with a bearer token and typical headers, a
//! POST with a 1 KB JSON body, and a blocked SQL injection.
//!
//! `cargo bench -p rampart-waf --bench transaction`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_waf::{Ruleset, WafConfig};

#[path = "../examples/support/bench_requests.rs"]
mod bench_requests;
use bench_requests::{Kind, json_1k, transaction};

const SETUP: &str = "/etc/modsecurity/crs/crs-setup.conf";

fn crs() -> Option<Arc<Ruleset>> {
    if !Path::new(SETUP).is_file() {
        eprintln!("skipping: install Debian's modsecurity-crs");
        return None;
    }
    let config: WafConfig = serde_json::from_value(serde_json::json!({
        "rules": [SETUP, "/usr/share/modsecurity-crs/rules/*.conf"],
        "paranoia_level": 1,
        "request_body_limit": 131072,
    }))
    .unwrap();
    Some(config.build().unwrap().ruleset)
}

fn bench(c: &mut Criterion) {
    let Some(rs) = crs() else { return };
    let body = json_1k();
    assert!(transaction(&rs, Kind::Get, &body).interruption().is_none());
    let post = transaction(&rs, Kind::Post, &body);
    assert!(post.interruption().is_none(), "{:?}", post.matches());
    assert!(transaction(&rs, Kind::Sqli, &body).interruption().is_some());
    for (name, kind) in [
        ("crs_get_bearer", Kind::Get),
        ("crs_post_json_1k", Kind::Post),
        ("crs_get_sqli_blocked", Kind::Sqli),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| black_box(transaction(&rs, kind, &body)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
