//! Verdict equivalence of the prefilter: runs every request of a JSON list
//! (made by `examples/crs_requests.py` from the CRS regression tests) through
//! the CRS with the prefilter on and off, and reports every request whose
//! matched rules, messages or interruption differ; then runs them again in
//! reverse order with the prefilter on (its scan memo warm with every
//! request's values) against the same reference. Exits 1 on a difference.
//!
//! ```text
//! python3 crates/rampart-waf/examples/crs_requests.py ../shared/crs-tests/v3.3.4 > /tmp/crs-requests.json
//! cargo run --release -p rampart-waf --example prefilter_diff -- /tmp/crs-requests.json 4
//! ```
//!
//! With `PREFILTER_DIFF_DUMP=FILE`, the outcomes (prefilter on) are also
//! written to FILE, one line per request, to compare two engine versions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use rampart_waf::Ruleset;

#[path = "support/crs_diff.rs"]
mod crs_diff;

type Outcome = (Vec<(u64, Option<String>)>, Option<(u64, u16)>, i64);

fn run(rs: &Arc<Ruleset>, raw: &[u8]) -> Option<Outcome> {
    let tx = crs_diff::run(rs, raw, |_| {})?;
    Some((
        tx.matches().iter().map(|m| (m.id, m.msg.clone())).collect(),
        tx.interruption().map(|i| (i.rule_id, i.status)),
        tx.inbound_anomaly_score(),
    ))
}

fn main() {
    let (path, paranoia) = crs_diff::args("prefilter_diff");
    let on = crs_diff::ruleset(paranoia, |s| s.prefilter = true);
    let off = crs_diff::ruleset(paranoia, |s| s.prefilter = false);
    let (mut same, mut differ, mut matched) = (0, 0, 0);
    let mut dump =
        std::env::var_os("PREFILTER_DIFF_DUMP").map(|p| std::fs::File::create(p).unwrap());
    let requests = crs_diff::requests(&path);
    let mut reference = Vec::with_capacity(requests.len());
    for (id, raw) in &requests {
        let (a, b) = (run(&on, raw), run(&off, raw));
        if let Some(f) = dump.as_mut() {
            use std::io::Write as _;
            writeln!(f, "{id} {a:?}").unwrap();
        }
        if a == b {
            same += 1;
            matched += a.map_or(0, |o| o.0.len());
        } else {
            differ += 1;
            println!("DIFF {id}\n  prefilter on:  {a:?}\n  prefilter off: {b:?}");
        }
        reference.push(b);
    }
    // Again in reverse order: the prefilter's scan memo now knows the values
    // of every request (and a request meets the values of later ones).
    let mut warm_differ = 0;
    for ((id, raw), b) in requests.iter().zip(&reference).rev() {
        let a = run(&on, raw);
        if a != *b {
            warm_differ += 1;
            println!("DIFF (warm) {id}\n  prefilter on:  {a:?}\n  prefilter off: {b:?}");
        }
    }
    println!("paranoia {paranoia}: second pass, reverse order: {warm_differ} differ");
    differ += warm_differ;
    println!(
        "paranoia {paranoia}: {same} requests identical ({matched} rule matches), {differ} differ"
    );
    if differ > 0 {
        std::process::exit(1);
    }
}
