//! Each construct CRS 4.x uses that CRS 3.3.4 did not (see
//! shared/crs-inventory.md), exercised with small rules written for these
//! tests: run-time `ctl:` removals by tag and id, `@streq` on the body
//! processor, `SecRuleUpdateTargetById` after the rules (the v4 999 file),
//! the variables, transformations and operators 3.3.4 lacked, macros with
//! `COLLECTION.key`, and the v4 initialisation idioms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rampart_waf::{Ruleset, RulesetBuilder, Transaction};

fn load(src: &str) -> Arc<Ruleset> {
    let mut b = RulesetBuilder::new();
    b.load_str(
        "SecRuleEngine On\nSecRequestBodyAccess On\nSecResponseBodyAccess On\n",
        Path::new("<pre>"),
    )
    .unwrap();
    b.load_str(src, Path::new("v4-style.conf")).unwrap();
    Arc::new(b.build().unwrap())
}

struct Req<'a> {
    method: &'a str,
    uri: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
}

fn get(uri: &str) -> Req<'_> {
    Req {
        method: "GET",
        uri,
        headers: vec![("Host", "api.example.com"), ("User-Agent", "curl/8.5.0")],
        body: b"",
    }
}

fn run(rs: &Arc<Ruleset>, r: &Req<'_>) -> Transaction {
    let mut tx = Transaction::new(rs.clone());
    tx.set_connection("192.0.2.44".parse::<IpAddr>().unwrap(), 1234, "YmFzZTY0aWQ");
    tx.set_request_line(r.method, r.uri, "HTTP/1.1");
    for (n, v) in &r.headers {
        tx.add_request_header(n, v.as_bytes());
    }
    tx.process_request_headers();
    tx.append_request_body(r.body);
    tx.process_request_body();
    tx
}

fn ids(tx: &Transaction) -> Vec<u64> {
    tx.matches().iter().map(|m| m.id).collect()
}

#[test]
fn ctl_rule_remove_by_tag_at_run_time_skips_later_rules_of_every_phase() {
    // v4 901450 / 905100 style: a rule removes the whole rule set by tag.
    let rs = load(
        r#"
SecRule REQUEST_FILENAME "@streq /healthz" "id:1,phase:1,pass,nolog,tag:'my-crs',ctl:ruleRemoveByTag=my-crs"
SecRule ARGS "@contains attack" "id:2,phase:1,deny,tag:'my-crs'"
SecRule ARGS "@contains attack" "id:3,phase:2,deny,tag:'my-crs'"
SecRule ARGS "@contains attack" "id:4,phase:2,pass,log,tag:'other'"
"#,
    );
    let tx = run(&rs, &get("/healthz?q=attack"));
    assert!(tx.interruption().is_none());
    assert_eq!(ids(&tx), vec![1, 4]);
    let tx = run(&rs, &get("/api?q=attack"));
    assert_eq!(tx.interruption().map(|i| i.rule_id), Some(2));
}

#[test]
fn ctl_rule_remove_target_by_tag_and_remove_by_id_at_run_time() {
    // v4: ctl:ruleRemoveTargetByTag=xss-perf-disable;REQUEST_FILENAME and
    // ctl:ruleRemoveById=920540 from an earlier rule.
    let rs = load(
        r#"
SecRule REQUEST_HEADERS:X-Skip "@streq filename" "id:10,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=perf-off;REQUEST_FILENAME"
SecRule REQUEST_HEADERS:X-Skip "@streq rule" "id:11,phase:1,pass,nolog,ctl:ruleRemoveById=30"
SecRule REQUEST_FILENAME|ARGS "@contains <script" "id:20,phase:2,deny,tag:'perf-off'"
SecRule REQUEST_FILENAME "@beginsWith /admin" "id:30,phase:2,deny"
"#,
    );
    let mut r = get("/x/<script>");
    assert_eq!(run(&rs, &r).interruption().map(|i| i.rule_id), Some(20));
    r.headers.push(("X-Skip", "filename"));
    assert!(run(&rs, &r).interruption().is_none(), "target removed");
    // Only the target went away: ARGS are still inspected.
    let mut r = get("/x?a=<script>");
    r.headers.push(("X-Skip", "filename"));
    assert_eq!(run(&rs, &r).interruption().map(|i| i.rule_id), Some(20));
    let mut r = get("/admin/users");
    assert_eq!(run(&rs, &r).interruption().map(|i| i.rule_id), Some(30));
    r.headers.push(("X-Skip", "rule"));
    assert!(run(&rs, &r).interruption().is_none(), "rule removed");
}

#[test]
fn streq_on_the_body_processor() {
    // v4 920 checks `REQBODY_PROCESSOR "@streq JSON"` (and MULTIPART, URLENCODED).
    let rs = load(
        r#"
SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" "id:1,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_PROCESSOR "@streq JSON" "id:2,phase:2,pass,log,setvar:tx.json=1"
SecRule REQBODY_PROCESSOR "@streq URLENCODED" "id:3,phase:2,pass,log,setvar:tx.form=1"
SecRule REQBODY_PROCESSOR "!@streq MULTIPART" "id:4,phase:2,pass,log,setvar:tx.not_multipart=1"
"#,
    );
    let json = Req {
        method: "POST",
        uri: "/api",
        headers: vec![("Host", "h"), ("Content-Type", "application/json")],
        body: br#"{"a":1}"#,
    };
    let tx = run(&rs, &json);
    assert_eq!(ids(&tx), vec![1, 2, 4]);
    let form = Req {
        method: "POST",
        uri: "/api",
        headers: vec![
            ("Host", "h"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body: b"a=1",
    };
    assert_eq!(ids(&run(&rs, &form)), vec![3, 4]);
}

#[test]
fn update_target_by_id_after_the_rules_like_the_v4_999_file() {
    let rs = load(
        r#"
SecRule REQUEST_COOKIES|ARGS_NAMES "@rx (?i)select" "id:942999,phase:2,deny"
SecRule REQUEST_COOKIES "@contains <" "id:941999,phase:2,deny"
SecRuleUpdateTargetById 942999 "!REQUEST_COOKIES:/^_ga(?:_\w+)?$/"
SecRuleUpdateTargetById 942999 "!REQUEST_COOKIES:__gads"
SecRuleUpdateTargetById 942999 !ARGS_NAMES:json.profile
SecRuleUpdateTargetById 941999 "!REQUEST_COOKIES:/^pbjs-\w+$/"
"#,
    );
    let with_cookie = |c: &'static str| {
        let mut r = get("/");
        r.headers.push(("Cookie", c));
        run(&rs, &r).interruption().map(|i| i.rule_id)
    };
    assert_eq!(with_cookie("_ga_5WLQ=select"), None);
    assert_eq!(with_cookie("_ga=select"), None);
    assert_eq!(with_cookie("__gads=select"), None);
    assert_eq!(
        with_cookie("_gax=select"),
        Some(942999),
        "regex is anchored"
    );
    assert_eq!(with_cookie("other=select"), Some(942999));
    assert_eq!(with_cookie("pbjs-id5id=<b>"), None);
    assert_eq!(with_cookie("pbjs=<b>"), Some(941999));
    // An update naming a rule that does not exist is a load error with the line.
    let mut b = RulesetBuilder::new();
    let e = b
        .load_str(
            "SecRule ARGS \"@rx a\" \"id:1,phase:2,pass\"\n\nSecRuleUpdateTargetById 2 \"!ARGS:x\"\n",
            Path::new("999.conf"),
        )
        .unwrap_err();
    assert!(e.to_string().starts_with("999.conf:3:"), "{e}");
}

#[test]
fn variables_v4_reads_that_3_3_4_did_not() {
    let rs = load(
        r#"
SecRule REQUEST_BODY_LENGTH "@gt 10" "id:1,phase:2,pass,log"
SecRule REQUEST_URI_RAW "@contains %2e%2e" "id:2,phase:1,pass,log"
SecRule ARGS_GET_NAMES "@streq debug" "id:3,phase:1,pass,log"
SecRule RESPONSE_HEADERS:Content-Type "@beginsWith text/html" "id:4,phase:3,pass,log"
SecRule RESPONSE_HEADERS_NAMES "@streq x-powered-by" "id:5,phase:3,pass,log,t:lowercase"
SecRule RESPONSE_BODY "@contains stack trace" "id:6,phase:4,pass,log"
SecRule &MATCHED_VARS "@ge 1" "id:7,phase:4,pass,log"
"#,
    );
    let r = Req {
        method: "POST",
        uri: "/a/%2e%2e/b?debug=1",
        headers: vec![
            ("Host", "h"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body: b"name=a-long-value",
    };
    let mut tx = run(&rs, &r);
    tx.set_response_status(500, "HTTP/1.1");
    tx.add_response_header("Content-Type", b"text/html; charset=utf-8");
    tx.add_response_header("X-Powered-By", b"Express");
    tx.process_response_headers();
    tx.append_response_body(b"<pre>stack trace: at main()</pre>");
    tx.process_response_body();
    assert_eq!(ids(&tx), vec![2, 3, 1, 4, 5, 6]);
}

#[test]
fn transformations_and_operators_new_in_v4() {
    let rs = load(
        r#"
SecRule ARGS:a "@streq unionselect" "id:1,phase:2,pass,log,t:none,t:removeWhitespace,t:lowercase"
SecRule ARGS:b "@rx ^x\ty$" "id:2,phase:2,pass,log,t:none,t:escapeSeqDecode"
SecRule ARGS:c "@streq selectfrom" "id:3,phase:2,pass,log,t:none,t:removeCommentsChar,t:removeWhitespace"
SecRule ARGS:d "@rx ^select x$" "id:4,phase:2,pass,log,t:none,t:replaceComments,t:compressWhitespace"
SecRule ARGS:e "@beginsWith /etc/" "id:5,phase:2,pass,log,t:none,t:normalizePath"
SecRule ARGS:f "@unconditionalMatch" "id:6,phase:2,pass,log"
SecRule ARGS:g "@streq 3" "id:7,phase:2,pass,log,t:length"
SecRule ARGS:h "@streq admin" "id:8,phase:2,pass,log,t:base64Decode"
SecRule ARGS:i "@rx \x{c2}\x{b4}" "id:9,phase:2,pass,log"
"#,
    );
    let uri = "/t?a=UNION%20%09SELECT&b=x%5Cty&c=sel/**/ect%20from&d=select/*c*/%20%20x\
               &e=/tmp/../etc/passwd&f=&g=abc&h=YWRtaW4=&i=%C2%B4";
    let tx = run(&rs, &get(uri));
    assert_eq!(ids(&tx), vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // And the benign forms do not match.
    let tx = run(
        &rs,
        &get("/t?a=unions&b=xty&c=selects&d=selectx&e=/tmp/etc&g=abcd&h=dXNlcg==&i=%B4"),
    );
    assert_eq!(ids(&tx), Vec::<u64>::new());
}

#[test]
fn v4_initialisation_idioms() {
    // The shapes of v4's 901 rules: default values by `&TX:x @eq 0`, macros
    // with `COLLECTION.key`, sha1+hexEncode feeding initcol, capture into
    // TX with an upper-case collection name, `!@lt %{tx.x}` with a macro.
    let rs = load(
        r#"
SecAction "id:900990,phase:1,pass,nolog,setvar:tx.crs_setup_version=4999,setvar:tx.enable_default_collections=1"
SecRule &TX:crs_setup_version "@eq 0" "id:901001,phase:1,deny,status:500"
SecRule &TX:sampling_percentage "@eq 0" "id:901130,phase:1,pass,nolog,setvar:'tx.sampling_percentage=100'"
SecRule &TX:ENABLE_DEFAULT_COLLECTIONS "@eq 1" "id:901320,phase:1,pass,nolog,setvar:'tx.ua_hash=%{REQUEST_HEADERS.User-Agent}',chain"
    SecRule TX:ENABLE_DEFAULT_COLLECTIONS "@eq 1" "chain"
        SecRule TX:ua_hash "@unconditionalMatch" "t:none,t:sha1,t:hexEncode,initcol:global=global,initcol:ip=%{remote_addr}_%{MATCHED_VAR}"
SecRule UNIQUE_ID "@rx ^[a-f]*([0-9])[a-f]*([0-9])" "id:901410,phase:1,pass,capture,t:sha1,t:hexEncode,nolog,setvar:'TX.sampling_rnd100=%{TX.1}%{TX.2}'"
SecRule TX:sampling_rnd100 "!@lt %{tx.sampling_percentage}" "id:901450,phase:1,pass,log,ctl:ruleRemoveByTag=OWASP_CRS"
SecRule ARGS "@rx ." "id:942000,phase:2,pass,log,tag:'OWASP_CRS'"
"#,
    );
    let tx = run(&rs, &get("/?a=1"));
    assert!(tx.interruption().is_none());
    // 901001 does not fire: the setup version is set (matches() lists nolog
    // rules too).
    assert_eq!(ids(&tx), vec![900990, 901130, 901320, 901410, 942000]);
    let rnd = tx.tx("sampling_rnd100").unwrap();
    assert_eq!(rnd.len(), 2);
    assert_eq!(tx.tx("ua_hash"), Some(&b"curl/8.5.0"[..]));
    // The ip collection was keyed by address and the hashed user agent.
    assert!(rs.collections().len() == 2);
    // Sampling at 0 %: 901450 removes every OWASP_CRS rule.
    let rs0 = load(
        r#"
SecAction "id:1,phase:1,pass,nolog,setvar:tx.sampling_percentage=0,setvar:tx.r=42"
SecRule TX:r "!@lt %{tx.sampling_percentage}" "id:901450,phase:1,pass,log,ctl:ruleRemoveByTag=OWASP_CRS"
SecRule ARGS "@rx ." "id:942000,phase:2,pass,log,tag:'OWASP_CRS'"
"#,
    );
    assert_eq!(ids(&run(&rs0, &get("/?a=1"))), vec![1, 901450]);
}

#[test]
fn configured_paranoia_level_reaches_crs4_variables() {
    // A CRS 4-style setup that pins both levels to 1, the defaults and the
    // plausibility check of 901, and one rule gated at PL2.
    let dir = std::env::temp_dir().join(format!("rampart-waf-pl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("setup.conf"),
        "SecAction \"id:900000,phase:1,pass,nolog,setvar:tx.blocking_paranoia_level=1\"\n\
         SecAction \"id:900001,phase:1,pass,nolog,setvar:tx.detection_paranoia_level=1\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("rules.conf"),
        r#"
SecRule &TX:blocking_paranoia_level "@eq 0" "id:901120,phase:1,pass,nolog,setvar:tx.blocking_paranoia_level=1"
SecRule &TX:detection_paranoia_level "@eq 0" "id:901125,phase:1,pass,nolog,setvar:tx.detection_paranoia_level=%{tx.blocking_paranoia_level}"
SecRule TX:detection_paranoia_level "@lt %{tx.blocking_paranoia_level}" "id:901500,phase:1,deny,status:500"
SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 2" "id:920013,phase:2,pass,nolog,skipAfter:END-920"
SecRule ARGS "@contains %" "id:920230,phase:2,pass,log"
SecMarker END-920
"#,
    )
    .unwrap();
    let build = |pl: Option<u8>| {
        let cfg: rampart_waf::WafConfig = serde_json::from_value(serde_json::json!({
            "rules": [dir.join("setup.conf"), dir.join("rules.conf")],
            "paranoia_level": pl,
        }))
        .unwrap();
        cfg.build().unwrap().ruleset
    };
    let pl1 = build(None);
    let tx = run(&pl1, &get("/?a=%2525"));
    assert!(tx.interruption().is_none());
    assert!(!ids(&tx).contains(&920230));
    let pl2 = build(Some(2));
    let tx = run(&pl2, &get("/?a=%2525"));
    assert!(
        tx.interruption().is_none(),
        "detection raised with blocking"
    );
    assert_eq!(tx.tx("blocking_paranoia_level"), Some(&b"2"[..]));
    assert_eq!(tx.tx("detection_paranoia_level"), Some(&b"2"[..]));
    assert!(ids(&tx).contains(&920230));
}
