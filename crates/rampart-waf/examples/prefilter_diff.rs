//! Verdict equivalence of the prefilter: runs every request of a JSON list
//! (made by `examples/crs_requests.py` from the CRS regression tests) through
//! the CRS with the prefilter on and off, and reports every request whose
//! matched rules, messages or interruption differ. Exits 1 on a difference.
//!
//! ```text
//! python3 crates/rampart-waf/examples/crs_requests.py ../shared/crs-tests/v3.3.4 > /tmp/crs-requests.json
//! cargo run --release -p rampart-waf --example prefilter_diff -- /tmp/crs-requests.json 4
//! ```
//!
//! With `PREFILTER_DIFF_DUMP=FILE`, the outcomes (prefilter on) are also
//! written to FILE, one line per request, to compare two engine versions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rampart_waf::{Ruleset, Transaction, WafConfig};

fn ruleset(paranoia: u8, prefilter: bool) -> Arc<Ruleset> {
    let config: WafConfig = serde_json::from_value(serde_json::json!({
        "rules": ["/etc/modsecurity/crs/crs-setup.conf", "/usr/share/modsecurity-crs/rules/*.conf"],
        "paranoia_level": paranoia,
        "request_body_limit": 13_107_200,
    }))
    .unwrap();
    let mut builder = config
        .load(rampart_waf::services::Services::default())
        .unwrap();
    builder.settings_mut().prefilter = prefilter;
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

type Outcome = (Vec<(u64, Option<String>)>, Option<(u64, u16)>, i64);

fn run(rs: &Arc<Ruleset>, raw: &[u8]) -> Option<Outcome> {
    let (method, uri, protocol, headers, body) = parse(raw)?;
    let mut tx = Transaction::new(rs.clone());
    tx.set_connection(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 40000, "diff");
    tx.set_request_line(&method, &uri, &protocol);
    for (n, v) in &headers {
        tx.add_request_header(n, v);
    }
    tx.process_request_headers();
    tx.append_request_body(&body);
    tx.process_request_body();
    tx.process_logging();
    Some((
        tx.matches().iter().map(|m| (m.id, m.msg.clone())).collect(),
        tx.interruption().map(|i| (i.rule_id, i.status)),
        tx.inbound_anomaly_score(),
    ))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .expect("usage: prefilter_diff REQUESTS.json [PARANOIA]");
    let paranoia: u8 = args.get(1).map_or(1, |p| p.parse().unwrap());
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (on, off) = (ruleset(paranoia, true), ruleset(paranoia, false));
    let (mut same, mut differ, mut matched) = (0, 0, 0);
    let mut dump =
        std::env::var_os("PREFILTER_DIFF_DUMP").map(|p| std::fs::File::create(p).unwrap());
    for entry in &list {
        let id = entry["id"].as_str().unwrap_or("?");
        // The runner's requests are latin-1 text: one char per byte.
        let raw: Vec<u8> = entry["raw"]
            .as_str()
            .unwrap_or("")
            .chars()
            .map(|c| c as u32 as u8)
            .collect();
        let (a, b) = (run(&on, &raw), run(&off, &raw));
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
    }
    println!(
        "paranoia {paranoia}: {same} requests identical ({matched} rule matches), {differ} differ"
    );
    if differ > 0 {
        std::process::exit(1);
    }
}
