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
         SecRule REQUEST_HEADERS:Content-Type \"^(?:application(?:/soap\\+|/)|text/)xml\" \"id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"\n\
         SecRule REQUEST_HEADERS:Content-Type \"^application/json\" \"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"\n",
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

/// What a finished transaction hands on to the next one on its thread (its
/// emptied buffers) carries nothing of its request: after a large JSON
/// attack and a small one, a benign request gets exactly what it gets on a
/// thread that ran nothing before. (The ruleset's scan memo, keyed by the
/// values' bytes, would hide a stale transformation cache here;
/// `a_transaction_reusing_the_last_ones_buffers_sees_none_of_its_values`
/// pins that one.)
#[test]
fn a_transaction_after_others_on_the_same_thread_sees_nothing_of_them() {
    let Some(rs) = crs() else { return };
    let outcome = |tx: &Transaction| {
        (
            tx.matches()
                .into_iter()
                .map(|m| (m.id, m.matched_var_name))
                .collect::<Vec<_>>(),
            tx.interruption().cloned(),
            tx.inbound_anomaly_score(),
        )
    };
    let fresh = {
        let rs = rs.clone();
        std::thread::spawn(move || outcome(&run(&rs, "GET", "/users?id=42", BROWSER, b"")))
            .join()
            .unwrap()
    };
    let json = format!(
        "{{\"items\":[{}]}}",
        (0..300)
            .map(|i| format!("{{\"id\":{i},\"q\":\"1' OR '1'='1 <script>x</script>\"}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut headers = BROWSER.to_vec();
    headers.push(("Content-Type", "application/json"));
    // A large request (its buffers may be too big to keep), then a small
    // attack whose buffers are kept, then the benign request.
    let large = run(
        &rs,
        "POST",
        "/?id=1%27%20OR%20%271%27=%271",
        &headers,
        json.as_bytes(),
    );
    assert!(large.interruption().is_some());
    drop(large);
    let attack = run(
        &rs,
        "GET",
        "/users?id=1%27%20OR%20%271%27=%271",
        BROWSER,
        b"",
    );
    assert!(attack.interruption().is_some());
    drop(attack);
    let after = run(&rs, "GET", "/users?id=42", BROWSER, b"");
    assert_eq!(outcome(&after), fresh);
    assert!(after.interruption().is_none());
}

/// CRS 934100 (node-serialize RCE) decodes cookies with `t:base64Decode`. A
/// line break inside the base64 (`%0A`, which `t:urlDecodeUni` turns into
/// one) is skipped by Node's `Buffer.from(s, 'base64')`, so the payload
/// reaches the application whole: the decoding must not stop there.
#[test]
fn a_line_break_inside_base64_does_not_hide_a_node_serialize_payload() {
    let Some(rs) = crs() else { return };
    // {"rce":"_$$ND_FUNC$$_function(){require('child_process').exec('id')}()"}
    let payload = "eyJyY2UiOiJfJCRORF9GVU5DJCRfZnVuY3Rpb24oKXtyZXF1aXJlKCdjaGlsZF9wcm9jZXNzJykuZXhlYygnaWQnKX0oKSJ9";
    for cookie in [
        payload.to_string(),
        format!("{}%0A{}", &payload[..4], &payload[4..]),
        format!("{}%0D%0A{}", &payload[..40], &payload[40..]),
    ] {
        let mut headers = BROWSER.to_vec();
        let value = format!("profile={cookie}");
        headers.push(("Cookie", &value));
        let tx = run(&rs, "GET", "/", &headers, b"");
        assert!(
            tx.matched_rule_ids().contains(&934100),
            "{cookie}: {:?}",
            tx.matched_rule_ids()
        );
        assert!(tx.interruption().is_some(), "{cookie}");
    }
    // A session cookie that is base64 of something harmless passes.
    let mut headers = BROWSER.to_vec();
    headers.push(("Cookie", "profile=eyJ1c2VyIjoi%0AYWxpY2UifQ=="));
    let benign = run(&rs, "GET", "/", &headers, b"");
    assert!(benign.interruption().is_none(), "{:?}", benign.matches());
}
