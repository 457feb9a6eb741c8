//! Response phases through the gateway stage: phase 3 (status, headers) and
//! phase 4 (body, for the configured media types and up to the configured
//! limit), blocking and detection-only, with small own rules and with
//! Debian's CRS 3.3 `RESPONSE-95x` rules when installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use rampart_core::{RequestCx, ResponseCx, ResponsePhase, Stage, Step, Verdict};
use rampart_waf::{PendingTransaction, WafConfig, WafStage};

const LEAK_RULES: &str = "SecDefaultAction \"phase:4,log,auditlog,pass\"\n\
SecRule RESPONSE_STATUS \"@rx ^5\" \"id:3001,phase:3,pass,log,setvar:tx.upstream_error=1\"\n\
SecRule RESPONSE_HEADERS:X-Debug-Token \"@rx .\" \"id:3002,phase:3,deny,log\"\n\
SecRule RESPONSE_BODY \"@rx (?i)you have an error in your sql syntax\" \"id:4001,phase:4,block,log,setvar:tx.outbound=+4\"\n\
SecRule RESPONSE_BODY \"@rx <\\?php\" \"id:4002,phase:4,block,log,setvar:tx.outbound=+4\"\n\
SecRule TX:OUTBOUND \"@ge 4\" \"id:4999,phase:4,deny,log\"\n";

fn rules(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-waf-resp-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let f = d.join("leaks.conf");
    std::fs::write(&f, LEAK_RULES).unwrap();
    f
}

fn stage(json: serde_json::Value) -> WafStage {
    WafStage::new(&serde_json::from_value::<WafConfig>(json).unwrap()).unwrap()
}

fn request() -> RequestCx {
    let peer: SocketAddr = "192.0.2.7:5555".parse().unwrap();
    let mut cx = RequestCx::new("req-r".into(), peer, Method::GET, "/items/42".into());
    cx.host = "api.example.com".into();
    cx.headers.insert(
        "user-agent",
        HeaderValue::from_static("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"),
    );
    cx.headers
        .insert("accept", HeaderValue::from_static("application/json"));
    cx
}

fn response(status: u16, content_type: &str, body: &str) -> ResponseCx {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_str(content_type).unwrap());
    headers.insert("content-length", HeaderValue::from(body.len()));
    ResponseCx {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        body: Some(Bytes::from(body.to_string())),
        body_truncated: false,
    }
}

fn done(step: Step<'_>) -> Verdict {
    match step {
        Step::Done(v) => v,
        Step::Wait(_) => panic!("the WAF decides synchronously"),
    }
}

/// Runs the request side, then the response side as the gateway does
/// (asking first whether the body is wanted); returns the response verdict,
/// whether the body was asked for, and the request context.
fn exchange(stage: &WafStage, mut resp: ResponseCx) -> (Verdict, bool, RequestCx, ResponseCx) {
    let mut cx = request();
    assert_eq!(done(stage.on_request(&mut cx)), Verdict::Continue);
    let wanted = stage.wants_response_body(&cx, &resp);
    if !wanted {
        resp.body = None;
    }
    let v = done(stage.on_response(&mut cx, &mut resp));
    (v, wanted, cx, resp)
}

fn problem_type(v: &Verdict) -> String {
    match v {
        Verdict::Respond(p) => p.kind.slug.to_string(),
        Verdict::Continue => String::new(),
    }
}

#[test]
fn leaking_responses_are_withheld_and_clean_json_passes_untouched() {
    let s = stage(serde_json::json!({
        "rules": [rules("block")],
        "response_body_limit": 4096,
    }));
    assert_eq!(s.response_phase(), ResponsePhase::Inspection);

    let (v, wanted, cx, _) = exchange(
        &s,
        response(
            500,
            "text/html; charset=utf-8",
            "<p>You have an error in your SQL syntax; check the manual near ''' at line 1</p>",
        ),
    );
    assert!(wanted);
    assert!(problem_type(&v).ends_with("waf-response-blocked"), "{v:?}");
    assert_eq!(cx.notes.waf.matched_rules, vec![3001, 4001, 4999]);
    // The problem names no rule and echoes nothing of the body.
    let Verdict::Respond(p) = v else {
        unreachable!()
    };
    assert_eq!(p.kind.status, 502);
    let text = String::from_utf8(p.to_json("req-r")).unwrap();
    assert!(!text.contains("4001") && !text.contains("SQL"), "{text}");

    let (v, _, _, _) = exchange(
        &s,
        response(
            200,
            "application/json",
            r#"{"file":"<?php echo $secret; ?>"}"#,
        ),
    );
    assert!(problem_type(&v).ends_with("waf-response-blocked"));

    // Phase 3 alone: a header rule refuses without reading the body.
    let mut r = response(200, "image/png", "PNG");
    r.headers
        .insert("x-debug-token", HeaderValue::from_static("abc"));
    let (v, wanted, _, _) = exchange(&s, r);
    assert!(!wanted, "image bodies are not inspected");
    assert!(problem_type(&v).ends_with("waf-response-blocked"));

    let clean = r#"{"id":42,"name":"alice","tags":["a","b"]}"#;
    let (v, wanted, cx, resp) = exchange(&s, response(200, "application/json", clean));
    assert!(wanted);
    assert_eq!(v, Verdict::Continue);
    assert!(cx.notes.waf.matched_rules.is_empty());
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(
        resp.body.as_deref(),
        Some(clean.as_bytes()),
        "body untouched"
    );
    assert_eq!(
        resp.headers.get("content-type").unwrap(),
        "application/json"
    );
}

#[test]
fn bodies_past_the_limit_or_of_other_types_are_not_inspected() {
    let s = stage(serde_json::json!({
        "rules": [rules("limit")],
        "response_body_limit": 32,
        "response_body_types": ["text/html"],
    }));
    let late = format!("{}You have an error in your SQL syntax", " ".repeat(40));
    let (v, wanted, _, _) = exchange(&s, response(200, "text/html", &late));
    assert!(wanted);
    assert_eq!(
        v,
        Verdict::Continue,
        "only the first 32 bytes are inspected"
    );
    let (v, wanted, _, _) = exchange(
        &s,
        response(
            200,
            "application/json",
            "You have an error in your SQL syntax",
        ),
    );
    assert!(!wanted);
    assert_eq!(v, Verdict::Continue);
    // Without response_body_limit, bodies are not asked for at all.
    let off = stage(serde_json::json!({"rules": [rules("off")]}));
    let (v, wanted, _, _) = exchange(
        &off,
        response(200, "text/html", "You have an error in your SQL syntax"),
    );
    assert!(!wanted);
    assert_eq!(v, Verdict::Continue);
}

#[test]
fn response_body_limit_action_reject_withholds_longer_bodies() {
    let dir = std::env::temp_dir().join(format!("rampart-waf-resp-{}-reject", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("reject.conf");
    std::fs::write(
        &f,
        format!("SecResponseBodyLimitAction Reject\n{LEAK_RULES}"),
    )
    .unwrap();
    let s = stage(serde_json::json!({
        "rules": [f],
        "response_body_limit": 32,
        "response_body_types": ["text/html"],
    }));
    assert!(s.inspects_response_body_prefix());
    // Clean, but longer than the limit: refused.
    let (v, wanted, _, _) = exchange(&s, response(200, "text/html", &" ".repeat(33)));
    assert!(wanted);
    assert_eq!(problem_type(&v), "waf-response-blocked");
    // Clean and within the limit: passes.
    let (v, _, _, _) = exchange(&s, response(200, "text/html", &" ".repeat(32)));
    assert_eq!(v, Verdict::Continue);
    // A prefix the gateway cut from a longer body is past any limit.
    let mut cut = response(200, "text/html", "short prefix");
    cut.body_truncated = true;
    let (v, _, _, _) = exchange(&s, cut);
    assert_eq!(problem_type(&v), "waf-response-blocked");
    // Types that are not inspected are not subject to the limit.
    let (v, wanted, _, _) = exchange(&s, response(200, "image/png", &" ".repeat(64)));
    assert!(!wanted);
    assert_eq!(v, Verdict::Continue);
}

#[test]
fn process_partial_inspects_the_prefix_of_a_body_too_long_to_buffer() {
    let s = stage(serde_json::json!({
        "rules": [rules("partial")],
        "response_body_limit": 4096,
        "response_body_types": ["text/html"],
    }));
    let mut leak = response(200, "text/html", "<?php echo $secret; ?>");
    leak.body_truncated = true;
    let (v, _, _, _) = exchange(&s, leak);
    assert_eq!(problem_type(&v), "waf-response-blocked");
    let mut clean = response(200, "text/html", "<p>page one of many</p>");
    clean.body_truncated = true;
    let (v, _, _, _) = exchange(&s, clean);
    assert_eq!(v, Verdict::Continue);
}

#[test]
fn detection_only_records_but_passes() {
    let s = stage(serde_json::json!({
        "rules": [rules("detect")],
        "mode": "detection_only",
        "response_body_limit": 4096,
    }));
    let (v, _, cx, resp) = exchange(
        &s,
        response(200, "text/html", "<?php system($_GET['c']); ?>"),
    );
    assert_eq!(v, Verdict::Continue);
    assert_eq!(cx.notes.reason.as_deref(), Some("waf-detected"));
    assert_eq!(cx.notes.waf.matched_rules, vec![4002, 4999]);
    assert!(resp.body.is_some());
}

#[test]
fn response_config_errors_name_the_field() {
    let err = |json| {
        WafConfig::build(&serde_json::from_value::<WafConfig>(json).unwrap())
            .unwrap_err()
            .to_string()
    };
    let f = rules("cfg");
    assert!(
        err(serde_json::json!({"rules": [f], "response_body_limit": 0}))
            .starts_with("response_body_limit")
    );
    assert!(
        err(serde_json::json!({"rules": [f], "response_body_limit": 1u64 << 40}))
            .starts_with("response_body_limit")
    );
    assert!(
        err(serde_json::json!({"rules": [f], "response_body_types": ["json"]}))
            .starts_with("response_body_types[0]")
    );
}

#[test]
fn the_parked_transaction_runs_phase_5_when_the_response_never_comes() {
    // Phase 5 counts requests in a persistent collection; the response stage
    // is never called (as when the upstream fails), yet the count moves.
    let d = std::env::temp_dir().join(format!("rampart-waf-resp-{}-p5", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let f = d.join("count.conf");
    std::fs::write(
        &f,
        "SecAction \"id:1,phase:1,pass,nolog,initcol:ip=%{remote_addr}\"\n\
         SecAction \"id:2,phase:5,pass,nolog,setvar:ip.seen=+1\"\n\
         SecRule RESPONSE_STATUS \"@eq 599\" \"id:3,phase:3,deny\"\n",
    )
    .unwrap();
    let s = stage(serde_json::json!({"rules": [f]}));
    for _ in 0..2 {
        let mut cx = request();
        assert_eq!(done(s.on_request(&mut cx)), Verdict::Continue);
        assert!(cx.extensions.get::<PendingTransaction>().is_some());
        drop(cx);
    }
    let seen = s
        .compiled()
        .ruleset
        .collections()
        .open("ip", b"192.0.2.7")
        .into_iter()
        .find(|(k, _)| k == b"seen")
        .map(|(_, v)| v);
    assert_eq!(seen.as_deref(), Some(&b"2"[..]));
}

const CRS_RULES: &str = "/usr/share/modsecurity-crs/rules";
const CRS_SETUP: &str = "/etc/modsecurity/crs/crs-setup.conf";

#[test]
fn debian_crs_data_leakage_rules_through_the_stage() {
    if !Path::new(CRS_RULES).is_dir() || !Path::new(CRS_SETUP).is_file() {
        println!("skipping: Debian CRS missing (apt-get install -y modsecurity-crs)");
        return;
    }
    let s = stage(serde_json::json!({
        "rules": [CRS_SETUP, format!("{CRS_RULES}/*.conf")],
        "response_body_limit": 65536,
    }));
    let (v, _, cx, _) = exchange(
        &s,
        response(
            200,
            "text/html",
            "<b>Warning</b>: mysql_fetch_array(): supplied argument is not a valid MySQL result resource. You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version",
        ),
    );
    assert!(
        problem_type(&v).ends_with("waf-response-blocked"),
        "{v:?} {:?}",
        cx.notes
    );
    assert!(
        cx.notes
            .waf
            .matched_rules
            .iter()
            .any(|id| (951000..952000).contains(id)),
        "{:?}",
        cx.notes.waf.matched_rules
    );

    let (v, _, cx, _) = exchange(
        &s,
        response(
            200,
            "text/plain",
            "<?php\n$db = mysqli_connect('localhost', 'root', $password);\n?>",
        ),
    );
    assert!(problem_type(&v).ends_with("waf-response-blocked"), "{v:?}");
    assert!(
        cx.notes.waf.matched_rules.contains(&953120),
        "{:?}",
        cx.notes.waf.matched_rules
    );

    let clean = r#"{"id":42,"name":"alice","email":"alice@example.com","roles":["reader"]}"#;
    let (v, wanted, cx, resp) = exchange(&s, response(200, "application/json", clean));
    assert!(wanted);
    assert_eq!(v, Verdict::Continue, "{:?}", cx.notes.waf.matched_rules);
    assert_eq!(resp.body.as_deref(), Some(clean.as_bytes()));
}
