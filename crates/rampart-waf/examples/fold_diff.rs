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

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rampart_waf::seclang::actions::IdRange;
use rampart_waf::seclang::targets::{Exclusion, Selector};
use rampart_waf::variables::Var;
use rampart_waf::{Ruleset, Transaction, WafConfig};

fn ruleset(paranoia: u8, fold: bool) -> Arc<Ruleset> {
    let config: WafConfig = serde_json::from_value(serde_json::json!({
        "rules": ["/etc/modsecurity/crs/crs-setup.conf", "/usr/share/modsecurity-crs/rules/*.conf"],
        "paranoia_level": paranoia,
        "request_body_limit": 13_107_200,
    }))
    .unwrap();
    let mut builder = config
        .load(rampart_waf::services::Services::default())
        .unwrap();
    builder.settings_mut().fold = fold;
    Arc::new(builder.build().unwrap())
}

/// Method, target, protocol, headers, body.
type Request = (String, String, String, Vec<(String, Vec<u8>)>, Vec<u8>);

/// Splits a raw HTTP/1 request into request line parts, headers and body.
fn parse(raw: &[u8]) -> Option<Request> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, p + 4))
        .or_else(|| {
            raw.windows(2)
                .position(|w| w == b"\n\n")
                .map(|p| (p, p + 2))
        })
        .unwrap_or((raw.len(), raw.len()));
    let head = String::from_utf8_lossy(&raw[..end.0]).into_owned();
    let body = raw[end.1..].to_vec();
    let mut lines = head.split('\n').map(|l| l.trim_end_matches('\r'));
    let mut parts = lines.next()?.splitn(3, ' ');
    let method = parts.next()?.to_string();
    let uri = parts.next().unwrap_or("/").to_string();
    let protocol = parts.next().unwrap_or("HTTP/1.0").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().as_bytes().to_vec()))
        .collect();
    Some((method, uri, protocol, headers, body))
}

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
    let (method, uri, protocol, headers, body) = parse(raw)?;
    let mut tx = Transaction::new(rs.clone());
    exclude(&mut tx, variant);
    tx.set_connection(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 40000, "diff");
    tx.set_request_line(&method, &uri, &protocol);
    for (n, v) in &headers {
        tx.add_request_header(n, v);
    }
    tx.process_request_headers();
    tx.append_request_body(&body);
    tx.process_request_body();
    tx.process_logging();
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .expect("usage: fold_diff REQUESTS.json [PARANOIA]");
    let paranoia: u8 = args.get(1).map_or(1, |p| p.parse().unwrap());
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (on, off) = (ruleset(paranoia, true), ruleset(paranoia, false));
    println!(
        "paranoia {paranoia}: {} rules, {} folded, {} never visited",
        on.rule_count(),
        on.folded_rules(),
        on.statically_skipped_rules()
    );
    let (mut same, mut differ) = (0, 0);
    for entry in &list {
        let id = entry["id"].as_str().unwrap_or("?");
        // The runner's requests are latin-1 text: one char per byte.
        let raw: Vec<u8> = entry["raw"]
            .as_str()
            .unwrap_or("")
            .chars()
            .map(|c| c as u32 as u8)
            .collect();
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
