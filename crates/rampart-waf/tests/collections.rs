//! Persistent collections across transactions: CRS 3.3-style DoS counting
//! (own rules in the same shape as REQUEST-912), expiry on an injected clock,
//! and the memory bound under a flood of distinct client addresses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rampart_waf::clock::ManualClock;
use rampart_waf::services::Services;
use rampart_waf::{Ruleset, RulesetBuilder, Transaction};

/// Counts requests per client in phase 5; past 3 within the window the
/// client is blocked for 300 s; a global counter counts every request.
const DOS_RULES: &str = r#"
SecRuleEngine On
SecCollectionTimeout 600
SecAction "id:10,phase:1,pass,nolog,initcol:global=global,initcol:ip=%{remote_addr}"
SecRule IP:BLOCKED "@eq 1" "id:11,phase:1,deny,status:429,msg:'client blocked',setvar:ip.blocked_hits=+1"
SecRule REQUEST_BASENAME "!@endsWith .css" "id:20,phase:5,pass,nolog,setvar:ip.burst=+1,expirevar:ip.burst=60,setvar:global.requests=+1"
SecRule IP:BURST "@gt 3" "id:21,phase:5,pass,log,msg:'burst',setvar:ip.blocked=1,expirevar:ip.blocked=300,setvar:!ip.burst"
SecRule IP:SCORE "@gt 0" "id:22,phase:1,pass,nolog,deprecatevar:ip.score=10/60"
SecRule ARGS:bad "@eq 1" "id:23,phase:2,pass,nolog,setvar:ip.score=+50"
SecRule IP:SCORE "@ge 100" "id:24,phase:2,deny,status:403,msg:'reputation'"
"#;

fn engine(max_records: Option<usize>) -> (Arc<Ruleset>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at_secs(1_700_000_000));
    let services = Services {
        clock: clock.clone(),
        ..Services::default()
    };
    let mut b = RulesetBuilder::new().services(services);
    if let Some(n) = max_records {
        b.settings_mut().collections.max_records = n;
    }
    b.load_str(DOS_RULES, Path::new("dos.conf")).unwrap();
    (Arc::new(b.build().unwrap()), clock)
}

/// One full transaction (phases 1, 2 and 5); the status it was refused with.
fn request(rs: &Arc<Ruleset>, ip: &str, uri: &str) -> Option<u16> {
    let mut tx = Transaction::new(rs.clone());
    tx.set_connection(ip.parse::<IpAddr>().unwrap(), 40000, "u");
    tx.set_request_line("GET", uri, "HTTP/1.1");
    tx.add_request_header("Host", b"api.example.com");
    tx.process_request_headers();
    tx.process_request_body();
    tx.process_logging();
    tx.interruption().map(|i| i.status)
}

#[test]
fn dos_counting_blocks_a_burst_and_unblocks_after_expiry() {
    let (rs, clock) = engine(None);
    for _ in 0..4 {
        assert_eq!(request(&rs, "192.0.2.1", "/api/items"), None);
    }
    // The fourth request pushed the burst over 3: the client is blocked.
    assert_eq!(request(&rs, "192.0.2.1", "/api/items"), Some(429));
    // Other clients are not.
    assert_eq!(request(&rs, "192.0.2.2", "/api/items"), None);
    // Static files are not counted, but the block still applies to them.
    assert_eq!(request(&rs, "192.0.2.1", "/site.css"), Some(429));
    clock.advance(Duration::from_secs(299));
    assert_eq!(request(&rs, "192.0.2.1", "/api/items"), Some(429));
    clock.advance(Duration::from_secs(1));
    assert_eq!(request(&rs, "192.0.2.1", "/api/items"), None);
    let ip = rs.collections();
    assert_eq!(ip.len(), 3, "ip 192.0.2.1, ip 192.0.2.2, global");
}

#[test]
fn counters_below_the_limit_expire() {
    let (rs, clock) = engine(None);
    for _ in 0..3 {
        assert_eq!(request(&rs, "192.0.2.9", "/api/a"), None);
    }
    // The burst counter expires 60 s after its last write.
    clock.advance(Duration::from_secs(60));
    for _ in 0..3 {
        assert_eq!(request(&rs, "192.0.2.9", "/api/a"), None);
    }
    clock.advance(Duration::from_secs(61));
    assert_eq!(request(&rs, "192.0.2.9", "/api/a"), None);
}

#[test]
fn global_collection_is_shared_and_transactions_see_it() {
    let (rs, _clock) = engine(None);
    for i in 0..5 {
        request(&rs, &format!("198.51.100.{i}"), "/x");
    }
    let mut tx = Transaction::new(rs.clone());
    tx.set_connection("198.51.100.200".parse().unwrap(), 1, "u");
    tx.set_request_line("GET", "/x", "HTTP/1.1");
    tx.process_request_headers();
    let col = rs.collections().open("global", b"global");
    let requests = col
        .iter()
        .find(|(k, _)| k == b"requests")
        .map(|(_, v)| v.clone());
    assert_eq!(requests.as_deref(), Some(&b"5"[..]));
}

#[test]
fn deprecatevar_lowers_a_reputation_score_over_time() {
    let (rs, clock) = engine(None);
    let bad = |rs: &Arc<Ruleset>| request(rs, "203.0.113.5", "/a?bad=1");
    assert_eq!(bad(&rs), None); // score 50
    assert_eq!(bad(&rs), Some(403)); // score 100: rule 24 runs after 23
    // No period elapsed: the score stays and the client stays refused.
    assert_eq!(request(&rs, "203.0.113.5", "/a"), Some(403));
    // Ten minutes later the score dropped by 10 per minute.
    clock.advance(Duration::from_secs(600));
    assert_eq!(request(&rs, "203.0.113.5", "/a"), None);
}

#[test]
fn a_flood_of_distinct_clients_stays_bounded() {
    let (rs, _clock) = engine(Some(256));
    for i in 0..5_000u32 {
        let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        request(&rs, &ip, "/api/flood");
        assert!(rs.collections().len() <= 256);
    }
    assert_eq!(rs.collections().len(), 256);
    // The engine still counts and blocks a bursting client during the flood.
    for _ in 0..4 {
        request(&rs, "192.0.2.77", "/api/items");
    }
    assert_eq!(request(&rs, "192.0.2.77", "/api/items"), Some(429));
}

#[test]
fn setvar_on_an_unbound_collection_stays_in_the_transaction() {
    let mut b = RulesetBuilder::new();
    b.load_str(
        "SecAction \"id:1,phase:1,pass,nolog,setvar:ip.x=+1\"\n\
         SecRule IP:X \"@ge 2\" \"id:2,phase:1,deny\"\n",
        Path::new("t.conf"),
    )
    .unwrap();
    let rs = Arc::new(b.build().unwrap());
    for _ in 0..3 {
        assert_eq!(request(&rs, "192.0.2.1", "/"), None);
    }
    assert!(rs.collections().is_empty());
}

#[test]
fn collection_directives_and_errors_name_file_and_line() {
    let mut b = RulesetBuilder::new();
    b.load_str("SecCollectionTimeout 120\n", Path::new("setup.conf"))
        .unwrap();
    assert_eq!(b.settings_mut().collections.idle_timeout_secs, 120);
    for bad in [
        "SecAction \"id:1,phase:1,pass,initcol:tx=x\"",
        "SecAction \"id:1,phase:1,pass,initcol:ip\"",
        "SecAction \"id:1,phase:1,pass,expirevar:ip\"",
        "SecAction \"id:1,phase:1,pass,deprecatevar:ip.x=60\"",
    ] {
        let mut b = RulesetBuilder::new();
        let e = b
            .load_str(&format!("\n{bad}\n"), Path::new("c.conf"))
            .unwrap_err();
        assert!(e.to_string().starts_with("c.conf:2:"), "{bad}: {e}");
    }
    let mut b = RulesetBuilder::new();
    assert!(
        b.load_str("SecCollectionTimeout soon\n", Path::new("t.conf"))
            .is_err()
    );
}

/// `initcol` copies a record into the transaction only when a rule first
/// uses it; what rules see is the same as with a copy made at `initcol`:
/// `IS_NEW` and the timestamps as of binding, values written by earlier
/// transactions, a chained link reading the collection only when its first
/// link matched, macros in `msg` and `setvar`.
const LAZY_RULES: &str = r#"
SecRuleEngine On
SecAction "id:1,phase:1,pass,nolog,initcol:ip=%{remote_addr},initcol:global=global"
SecRule IP:HITS "@ge 1" "id:15,phase:1,pass,nolog,setvar:tx.seen_hits=1"
SecRule &IP:NEVER_SET "@eq 0" "id:16,phase:1,pass,nolog,setvar:tx.never_count=0"
SecRule ARGS:hit "@eq 1" "id:2,phase:1,pass,nolog,setvar:ip.hits=+1"
SecRule ARGS:chain "@eq 1" "id:3,phase:2,pass,nolog,chain"
    SecRule IP:HITS "@ge 1" "setvar:tx.chained=%{ip.hits}"
SecRule ARGS:msg "@eq 1" "id:4,phase:2,pass,log,msg:'hits %{ip.hits}'"
SecAction "id:5,phase:5,pass,nolog,setvar:tx.ip_new=%{ip.is_new},setvar:tx.created=%{ip.create_time},setvar:tx.updated=%{ip.last_update_time},setvar:tx.global_new=%{global.is_new},setvar:tx.hits=%{ip.hits}"
"#;

fn lazy_tx(rs: &Arc<Ruleset>, clock: &ManualClock, query: &str) -> Transaction {
    let mut tx = Transaction::new(rs.clone());
    tx.set_connection("192.0.2.7".parse::<IpAddr>().unwrap(), 40000, "u");
    tx.set_request_line("GET", &format!("/a?{query}"), "HTTP/1.1");
    tx.add_request_header("Host", b"api.example.com");
    tx.process_request_headers();
    // Time passes between binding (phase 1) and the reads in phase 5.
    clock.advance(Duration::from_secs(5));
    tx.process_request_body();
    tx.process_logging();
    tx
}

#[test]
fn records_bound_by_initcol_read_as_of_binding_when_first_used() {
    let clock = Arc::new(ManualClock::at_secs(1_700_000_000));
    let services = Services {
        clock: clock.clone(),
        ..Services::default()
    };
    let mut b = RulesetBuilder::new().services(services);
    b.load_str(LAZY_RULES, Path::new("lazy.conf")).unwrap();
    let rs = Arc::new(b.build().unwrap());
    let tx = lazy_tx(&rs, &clock, "x=1");
    assert_eq!(tx.tx("ip_new"), Some(&b"1"[..]));
    assert_eq!(tx.tx("global_new"), Some(&b"1"[..]));
    assert_eq!(tx.tx("created"), Some(&b"1700000000"[..]));
    assert_eq!(tx.tx("hits"), Some(&b""[..]));
    assert_eq!(tx.tx("chained"), None);
    assert_eq!(tx.tx("seen_hits"), None);
    assert_eq!(tx.tx("never_count"), Some(&b"0"[..]));
    // An attack on the chain's first link that does not match reads nothing.
    let tx = lazy_tx(&rs, &clock, "hit=1&chain=0");
    assert_eq!(tx.tx("ip_new"), Some(&b"0"[..]));
    assert_eq!(tx.tx("created"), Some(&b"1700000000"[..]));
    // Bound at 1_700_000_005, before this transaction's own write.
    assert_eq!(tx.tx("updated"), Some(&b"1700000000"[..]));
    assert_eq!(tx.tx("hits"), Some(&b"1"[..]));
    assert_eq!(tx.tx("chained"), None);
    let tx = lazy_tx(&rs, &clock, "chain=1&msg=1");
    // 15 read one variable of the record, 3's chained link all of it.
    assert_eq!(tx.tx("seen_hits"), Some(&b"1"[..]));
    assert_eq!(tx.tx("chained"), Some(&b"1"[..]));
    assert_eq!(tx.tx("updated"), Some(&b"1700000005"[..]));
    let msgs: Vec<_> = tx.matches().into_iter().filter_map(|m| m.msg).collect();
    assert_eq!(msgs, ["hits 1"]);
}

/// One transaction of `rules` (phases 1 and 2) from 192.0.2.9 with cookie
/// `sid=abc`; the status it was refused with.
fn bind_request(rs: &Arc<Ruleset>) -> Option<u16> {
    let mut tx = Transaction::new(rs.clone());
    tx.set_connection("192.0.2.9".parse::<IpAddr>().unwrap(), 40000, "u");
    tx.set_request_line("GET", "/a", "HTTP/1.1");
    tx.add_request_header("Host", b"api.example.com");
    tx.add_request_header("Cookie", b"sid=abc");
    tx.process_request_headers();
    tx.process_request_body();
    tx.interruption().map(|i| i.status)
}

/// `initcol` (or `setsid` / `setuid`) then `setvar` into the collection it
/// binds, in one rule or across a chain: the write reaches the record (it
/// used to go to a transaction-only collection the binding then replaced,
/// so the counter never grew and the rule reading it never fired).
#[test]
fn setvar_after_initcol_in_the_same_rule_or_chain_writes_to_the_bound_record() {
    let cases = [
        (
            "initcol then setvar",
            r#"SecAction "id:10,phase:1,pass,nolog,initcol:ip=%{REMOTE_ADDR},setvar:ip.hits=+1,expirevar:ip.hits=60"
SecRule IP:HITS "@gt 100" "id:11,phase:1,deny,status:429""#,
            100,
        ),
        (
            "setsid then setvar",
            r#"SecRule REQUEST_COOKIES:sid "@rx ." "id:10,phase:1,pass,nolog,setsid:%{REQUEST_COOKIES.sid},setvar:session.hits=+1"
SecRule SESSION:HITS "@gt 3" "id:11,phase:1,deny,status:429""#,
            3,
        ),
        (
            "setuid then setvar",
            r#"SecAction "id:10,phase:1,pass,nolog,setuid:alice,setvar:user.hits=+1"
SecRule USER:HITS "@gt 3" "id:11,phase:1,deny,status:429""#,
            3,
        ),
        (
            "chain starter's initcol, last link's setvar",
            r#"SecRule REQUEST_METHOD "@streq GET" "id:10,phase:1,pass,nolog,initcol:ip=%{REMOTE_ADDR},chain"
    SecRule REQUEST_URI "@beginsWith /a" "setvar:ip.hits=+1"
SecRule IP:HITS "@gt 3" "id:11,phase:1,deny,status:429""#,
            3,
        ),
    ];
    for (case, rules, allowed) in cases {
        let mut b = RulesetBuilder::new();
        b.load_str(&format!("SecRuleEngine On\n{rules}\n"), Path::new("c.conf"))
            .unwrap();
        let rs = Arc::new(b.build().unwrap());
        for n in 1..=allowed {
            assert_eq!(bind_request(&rs), None, "{case}: request {n}");
        }
        assert_eq!(bind_request(&rs), Some(429), "{case}");
    }
}
