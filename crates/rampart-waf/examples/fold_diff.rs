//! Verdict equivalence of load-time folding: runs every request of a JSON
//! list (made by `examples/crs_requests.py` from the CRS regression tests)
//! through the CRS with folding on and off, and reports every request whose
//! outcome differs: interruption, detection, every match (id, phase, log,
//! message, MATCHED_VAR_NAME), the anomaly score and the whole TX collection.
//! Each request also runs with per-route exclusions that pick folded rules
//! (a removed gate, a removed setup rule, a target removal on a gate), which
//! must give the same outcome folded and unfolded too. Exits 1 on a difference.
//!
//! ```text
//! python3 crates/rampart-waf/examples/crs_requests.py ../shared/crs-tests/v3.3.4 > /tmp/crs-requests.json
//! cargo run --release -p rampart-waf --example fold_diff -- /tmp/crs-requests.json 1
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use rampart_waf::seclang::actions::IdRange;
use rampart_waf::seclang::targets::{Exclusion, Selector};
use rampart_waf::variables::Var;
use rampart_waf::{Ruleset, Transaction};

#[path = "support/crs_diff.rs"]
mod crs_diff;

/// Per-route exclusions applied before phase 1 (0: none).
fn exclude(tx: &mut Transaction, variant: u8) {
    let ids = |a, b| [IdRange { start: a, end: b }];
    match variant {
        // The PL2 gates of 920: the PL2 protocol rules run at PL1.
        1 => tx.remove_rules_by_id(&ids(920013, 920014)),
        // A folded setup rule that writes TX: the transaction runs unfolded.
        2 => tx.remove_rules_by_id(&ids(901200, 901200)),
        // A target removal on the PL2 gates of 942: they are evaluated.
        3 => tx.remove_target_by_id(
            &ids(942013, 942014),
            Exclusion {
                var: Var::Tx,
                selector: Selector::Key(b"executing_paranoia_level".to_vec()),
            },
        ),
        _ => {}
    }
}

fn run(rs: &Arc<Ruleset>, raw: &[u8], variant: u8) -> Option<String> {
    let tx = crs_diff::run(rs, raw, |tx| exclude(tx, variant))?;
    let matches: Vec<_> = tx
        .matches()
        .iter()
        .map(|m| {
            (
                m.id,
                m.phase,
                m.logged,
                m.msg.clone(),
                m.matched_var_name.clone(),
            )
        })
        .collect();
    let tx_vars: Vec<_> = tx
        .tx_vars()
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    Some(format!(
        "{:?} {:?} {:?} {} {:?}",
        tx.interruption(),
        tx.detected_interruption(),
        matches,
        tx.inbound_anomaly_score(),
        tx_vars
    ))
}

fn main() {
    let (path, paranoia) = crs_diff::args("fold_diff");
    let on = crs_diff::ruleset(paranoia, |s| s.fold = true);
    let off = crs_diff::ruleset(paranoia, |s| s.fold = false);
    println!(
        "paranoia {paranoia}: {} rules, {} folded, {} never visited",
        on.rule_count(),
        on.folded_rules(),
        on.statically_skipped_rules()
    );
    let (mut same, mut differ) = (0, 0);
    for (id, raw) in crs_diff::requests(&path) {
        for variant in 0..4 {
            let (a, b) = (run(&on, &raw, variant), run(&off, &raw, variant));
            if a == b {
                same += 1;
            } else {
                differ += 1;
                println!("DIFF {id} (exclusions {variant})\n  folded:   {a:?}\n  unfolded: {b:?}");
            }
        }
    }
    println!("paranoia {paranoia}: {same} runs identical, {differ} differ");
    if differ > 0 {
        std::process::exit(1);
    }
}
