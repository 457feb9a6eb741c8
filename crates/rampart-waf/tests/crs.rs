//! Loads Debian's CRS 3.3.x unmodified and runs requests through it. Skips
//! (with a message) when the package is not installed:
//! `apt-get install -y modsecurity-crs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use rampart_waf::{Ruleset, RulesetBuilder, Transaction};

const RULES: &str = "/usr/share/modsecurity-crs/rules";
const SETUP: &str = "/etc/modsecurity/crs/crs-setup.conf";

fn crs() -> Option<Arc<Ruleset>> {
    if !Path::new(RULES).is_dir() || !Path::new(SETUP).is_file() {
        println!("skipping: {RULES} or {SETUP} missing (apt-get install -y modsecurity-crs)");
        return None;
    }
    let mut b = RulesetBuilder::new();
    b.load_str(
        "SecRuleEngine On\nSecRequestBodyAccess On\n\
         SecRule REQUEST_HEADERS:Content-Type \"(?:application(?:/soap\\+|/)|text/)xml\" \"id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"\n\
         SecRule REQUEST_HEADERS:Content-Type \"application/json\" \"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"\n",
        Path::new("<test-preamble>"),
    )
    .unwrap();
    b.load_file(Path::new(SETUP)).unwrap();
    b.load_file(&Path::new(RULES).join("*.conf")).unwrap();
    Some(Arc::new(b.build().unwrap()))
}

fn run(
    rs: &Arc<Ruleset>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Transaction {
    let mut tx = Transaction::new(rs.clone());
    tx.set_connection(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 40000, "test-1");
    tx.set_request_line(method, uri, "HTTP/1.1");
    for (n, v) in headers {
        tx.add_request_header(n, v.as_bytes());
    }
    tx.process_request_headers();
    tx.append_request_body(body);
    tx.process_request_body();
    tx
}

const BROWSER: &[(&str, &str)] = &[
    ("Host", "api.example.com"),
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    ),
    ("Accept", "application/json"),
    ("Accept-Language", "en-US,en;q=0.5"),
    (
        "Authorization",
        "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
    ),
];

#[test]
fn crs_loads_and_blocks_sqli_but_passes_benign() {
    let Some(rs) = crs() else { return };
    assert!(rs.rule_count() > 500, "loaded {} rules", rs.rule_count());
    println!(
        "rules: {}, regex fallbacks: {}",
        rs.rule_count(),
        rs.regex_fallbacks()
    );

    let benign = run(&rs, "GET", "/users?id=42&sort=name", BROWSER, b"");
    assert!(
        benign.interruption().is_none(),
        "benign interrupted: {:?}",
        benign.matches()
    );
    assert!(
        benign.matched_rule_ids().is_empty(),
        "benign matched {:?}",
        benign.matches()
    );
    assert_eq!(benign.inbound_anomaly_score(), 0);

    let attack = run(&rs, "GET", "/?id=1%27%20OR%20%271%27=%271", BROWSER, b"");
    let ids = attack.matched_rule_ids();
    println!(
        "attack matched {ids:?}, score {}",
        attack.inbound_anomaly_score()
    );
    let intr = attack.interruption().expect("SQLi must be interrupted");
    assert_eq!(intr.rule_id, 949110);
    assert_eq!(intr.status, 403);
    assert!(
        ids.iter().any(|id| (942000..943000).contains(id)),
        "{ids:?}"
    );
    assert!(ids.contains(&949110));
    assert!(attack.inbound_anomaly_score() >= 5);
}
