#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::LoadErrorKind;
use crate::ruleset::{Ruleset, RulesetBuilder};
use crate::transaction::Transaction;

fn load(src: &str) -> Result<Ruleset, crate::LoadError> {
    let mut b = RulesetBuilder::new();
    b.load_str(src, Path::new("/rules/test.conf"))?;
    b.build()
}

fn get(rs: &Arc<Ruleset>, uri: &str) -> Transaction {
    let mut tx = Transaction::new(rs.clone());
    tx.set_connection(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, "u");
    tx.set_request_line("GET", uri, "HTTP/1.1");
    tx.add_request_header("Host", b"example.com");
    tx.add_request_header("Cookie", b"session=abc; theme=dark");
    tx.process_request_headers();
    tx.process_request_body();
    tx
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-waf-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn errors_name_file_and_line() {
    let err = load("SecRuleEngine On\n\nSecFoo bar\n").unwrap_err();
    assert_eq!(err.location.line, 3);
    assert_eq!(err.location.file, Path::new("/rules/test.conf"));
    assert!(matches!(err.kind, LoadErrorKind::UnsupportedDirective(ref d) if d == "SecFoo"));
    assert!(err.to_string().starts_with("/rules/test.conf:3: "));
}

#[test]
fn unsupported_operator_action_variable_are_errors() {
    let e = load("SecRule ARGS \"@inspectFile /bin/x\" \"id:1\"").unwrap_err();
    assert!(matches!(e.kind, LoadErrorKind::UnsupportedOperator(_)));
    let e = load("SecRule ARGS \"@rx a\" \"id:1,exec:/bin/sh\"").unwrap_err();
    assert!(matches!(e.kind, LoadErrorKind::UnsupportedAction(_)));
    let e = load("SecRule NOPE \"@rx a\" \"id:1\"").unwrap_err();
    assert!(matches!(e.kind, LoadErrorKind::UnsupportedVariable(_)));
    let e = load("SecRule ARGS \"@rx (\" \"id:1\"").unwrap_err();
    assert!(matches!(e.kind, LoadErrorKind::OperatorArgument { .. }));
}

#[test]
fn rule_shape_errors() {
    assert!(matches!(
        load("SecRule ARGS \"@rx a\" \"phase:1\"").unwrap_err().kind,
        LoadErrorKind::Rule(_)
    ));
    assert!(matches!(
        load("SecAction \"id:1\"\nSecAction \"id:1\"")
            .unwrap_err()
            .kind,
        LoadErrorKind::DuplicateId(1)
    ));
    let e = load("SecRule ARGS \"@rx a\" \"id:1,chain\"\n").unwrap_err();
    assert!(matches!(e.kind, LoadErrorKind::UnfinishedChain));
    assert_eq!(e.location.line, 1);
    let e =
        load("SecRule ARGS \"@rx a\" \"id:1,chain\"\nSecRule ARGS \"@rx b\" \"deny\"").unwrap_err();
    assert!(matches!(e.kind, LoadErrorKind::Rule(_)));
    assert!(load("SecRule ARGS \"@rx a").is_err());
    assert!(load("SecRuleUpdateTargetById 99 \"!ARGS:x\"").is_err());
}

#[test]
fn includes_resolve_relative_to_the_including_file_and_globs_sort() {
    let dir = temp_dir("include");
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(
        dir.join("main.conf"),
        "Include rules/*.conf\nIncludeOptional nothing/*.conf\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("rules/b.conf"),
        "SecAction \"id:2,phase:1,pass,nolog\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("rules/a.conf"),
        "SecAction \"id:1,phase:1,pass,nolog\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("rules/c.txt"), "garbage\n").unwrap();
    let mut b = RulesetBuilder::new();
    b.load_file(&dir.join("main.conf")).unwrap();
    let rs = b.build().unwrap();
    assert_eq!(rs.rule_ids().collect::<Vec<_>>(), vec![1, 2]);

    std::fs::write(
        dir.join("bad.conf"),
        "SecAction \"id:3\"\nInclude missing.conf\n",
    )
    .unwrap();
    let mut b = RulesetBuilder::new();
    let e = b.load_file(&dir.join("bad.conf")).unwrap_err();
    assert_eq!(e.location.line, 2);
    assert!(matches!(e.kind, LoadErrorKind::IncludeNotFound(_)));
}

#[test]
fn include_cycles_are_refused() {
    let dir = temp_dir("cycle");
    std::fs::write(dir.join("a.conf"), "Include a.conf\n").unwrap();
    let mut b = RulesetBuilder::new();
    let e = b.load_file(&dir.join("a.conf")).unwrap_err();
    assert!(matches!(e.kind, LoadErrorKind::IncludeTooDeep(_)));
}

#[test]
fn deny_interrupts_and_pass_does_not() {
    let rs = Arc::new(
        load(
            "SecRule ARGS:q \"@contains evil\" \"id:10,phase:1,deny,status:406,msg:'evil %{MATCHED_VAR}'\"\n\
             SecRule ARGS \"@contains fine\" \"id:11,phase:1,pass,log\"\n",
        )
        .unwrap(),
    );
    let tx = get(&rs, "/?q=an+evil+thing");
    let i = tx.interruption().unwrap();
    assert_eq!((i.rule_id, i.status), (10, 406));
    assert_eq!(tx.matches()[0].msg.as_deref(), Some("evil an evil thing"));
    let tx = get(&rs, "/?q=fine");
    assert!(tx.interruption().is_none());
    assert_eq!(tx.matched_rule_ids(), vec![11]);
}

#[test]
fn chains_setvar_macros_and_counting() {
    let rs = Arc::new(
        load(
            "SecAction \"id:1,phase:1,pass,nolog,setvar:tx.threshold=2\"\n\
             SecRule ARGS \"@rx ^(a+)$\" \"id:2,phase:1,pass,capture,chain,setvar:tx.started=1\"\n\
             SecRule TX:1 \"@streq aaa\" \"setvar:tx.seen=%{MATCHED_VAR},setvar:'tx.score=+%{tx.threshold}'\"\n\
             SecRule &ARGS \"@eq 2\" \"id:3,phase:1,pass,setvar:tx.two=1\"\n\
             SecRule &REQUEST_COOKIES:theme \"@eq 1\" \"id:4,phase:1,pass,setvar:tx.theme=1\"\n\
             SecRule TX:score \"@ge %{tx.threshold}\" \"id:5,phase:2,deny\"\n",
        )
        .unwrap(),
    );
    let tx = get(&rs, "/?x=aaa&y=b");
    assert_eq!(tx.tx("score"), Some(&b"2"[..]));
    assert_eq!(tx.tx("seen"), Some(&b"aaa"[..]));
    assert_eq!(tx.tx("two"), Some(&b"1"[..]));
    assert_eq!(tx.tx("theme"), Some(&b"1"[..]));
    assert_eq!(tx.interruption().unwrap().rule_id, 5);
    // The chain fails: the starter's own setvar ran (as in ModSecurity), the
    // last link's did not.
    let tx = get(&rs, "/?x=aa");
    assert_eq!(tx.tx("started"), Some(&b"1"[..]));
    assert_eq!(tx.tx("score"), None);
    assert!(tx.interruption().is_none());
}

#[test]
fn skip_after_and_markers() {
    let rs = Arc::new(
        load(
            "SecRule ARGS:skip \"@eq 1\" \"id:1,phase:1,pass,nolog,skipAfter:END\"\n\
             SecAction \"id:2,phase:1,deny\"\n\
             SecMarker END\n\
             SecAction \"id:3,phase:1,pass,log\"\n",
        )
        .unwrap(),
    );
    let tx = get(&rs, "/?skip=1");
    assert!(tx.interruption().is_none());
    assert_eq!(tx.matched_rule_ids(), vec![3]);
    assert_eq!(get(&rs, "/?skip=0").interruption().unwrap().rule_id, 2);
}

#[test]
fn skip_after_lands_after_the_next_marker_of_that_name() {
    // Two markers END: 1 jumps past the first only (ModSecurity v3 searches
    // forward from the rule), so 3 still runs; 4 jumps past the second.
    let src = "SecRule ARGS:skip \"@eq 1\" \"id:1,phase:1,pass,nolog,skipAfter:END\"\n\
         SecAction \"id:2,phase:1,pass,log\"\n\
         SecMarker END\n\
         SecAction \"id:3,phase:1,pass,log\"\n\
         SecRule ARGS:skip \"@eq 1\" \"id:4,phase:1,pass,nolog,skipAfter:END\"\n\
         SecAction \"id:5,phase:1,pass,log\"\n\
         SecMarker END\n\
         SecAction \"id:6,phase:1,pass,log\"\n";
    for fold in [false, true] {
        let mut b = RulesetBuilder::new();
        b.load_str(src, Path::new("/rules/test.conf")).unwrap();
        b.settings_mut().fold = fold;
        let rs = Arc::new(b.build().unwrap());
        let ids: Vec<u64> = get(&rs, "/?skip=1").matched_rule_ids();
        assert_eq!(ids, vec![3, 6], "fold {fold}");
        assert_eq!(get(&rs, "/?skip=0").matched_rule_ids(), vec![2, 3, 5, 6]);
    }
}

#[test]
fn skip_after_to_a_missing_or_earlier_target_is_a_load_error() {
    // Backwards: once looped forever on a request carrying the header.
    let e = load(
        "SecMarker BEGIN\n\
         SecRule REQUEST_HEADERS:x-loop \"@streq 1\" \"id:1,phase:1,pass,nolog,skipAfter:BEGIN\"\n",
    )
    .unwrap_err();
    assert_eq!(e.location.line, 2);
    assert_eq!(e.location.file, Path::new("/rules/test.conf"));
    assert!(
        matches!(e.kind, LoadErrorKind::SkipAfterTarget { ref target, phase: 1, only_earlier: true } if target == "BEGIN"),
        "{e}"
    );
    assert!(e.to_string().contains("skipAfter:BEGIN"), "{e}");
    // A typo: once silently skipped the rest of the phase (the blocking rule).
    let e = load(
        "SecAction \"id:1,phase:2,pass,nolog\"\n\
         SecRule ARGS \"@eq 1\" \"id:2,phase:2,pass,nolog,skipAfter:END-HOST-CHEK\"\n\
         SecRule ARGS \"@contains x\" \"id:3,phase:2,deny\"\n\
         SecMarker END-HOST-CHECK\n",
    )
    .unwrap_err();
    assert_eq!(e.location.line, 2);
    assert!(matches!(
        e.kind,
        LoadErrorKind::SkipAfterTarget {
            only_earlier: false,
            ..
        }
    ));
    // A rule id in another phase is not a target.
    let e = load(
        "SecRule ARGS \"@eq 1\" \"id:1,phase:1,pass,nolog,skipAfter:2\"\n\
         SecAction \"id:2,phase:2,pass,nolog\"\n",
    )
    .unwrap_err();
    assert!(matches!(e.kind, LoadErrorKind::SkipAfterTarget { .. }));
    // A rule's own id is not after it.
    assert!(load("SecRule ARGS \"@eq 1\" \"id:1,phase:1,pass,skipAfter:1\"\n").is_err());
}

#[test]
fn the_rule_loop_never_jumps_backwards_whatever_the_jump_table_says() {
    // Defence in depth: load refuses backward targets; were one to get
    // through, the loop goes on with the next entry instead of spinning.
    let src = "SecMarker BEGIN\n\
         SecRule REQUEST_HEADERS:x-loop \"@streq 1\" \"id:1,phase:1,pass,nolog,skipAfter:END\"\n\
         SecAction \"id:2,phase:1,pass,log\"\n\
         SecMarker END\n";
    let mut rs = load(src).unwrap();
    assert_eq!(rs.jumps[0][1], 4);
    rs.jumps[0][1] = 1; // back to BEGIN's successor: the rule itself
    let rs = Arc::new(rs);
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Transaction::new(rs);
        tx.set_connection(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, "u");
        tx.set_request_line("GET", "/", "HTTP/1.1");
        tx.add_request_header("x-loop", b"1");
        tx.process_request_headers();
        let _ = done.send(tx.matched_rule_ids());
    });
    let ids = wait
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("phase 1 never finished: the rule loop jumped backwards");
    assert_eq!(ids, vec![2]);
}

#[test]
fn skip_after_a_rule_id_lands_after_it_even_when_removed_at_load() {
    let src = "SecRule ARGS:skip \"@eq 1\" \"id:1,phase:1,pass,nolog,skipAfter:3\"\n\
         SecAction \"id:2,phase:1,pass,log\"\n\
         SecAction \"id:3,phase:1,pass,log\"\n\
         SecAction \"id:4,phase:1,pass,log\"\n";
    let rs = Arc::new(load(src).unwrap());
    assert_eq!(get(&rs, "/?skip=1").matched_rule_ids(), vec![4]);
    let rs = Arc::new(load(&format!("{src}SecRuleRemoveById 3\n")).unwrap());
    assert_eq!(get(&rs, "/?skip=1").matched_rule_ids(), vec![4]);
    assert_eq!(get(&rs, "/?skip=0").matched_rule_ids(), vec![2, 4]);
}

#[test]
fn exclusions_and_ctl_removals() {
    let rs = Arc::new(
        load(
            "SecRule REQUEST_FILENAME \"@streq /login\" \"id:1,phase:1,pass,nolog,ctl:ruleRemoveTargetById=100;ARGS:password\"\n\
             SecRule REQUEST_FILENAME \"@streq /off\" \"id:2,phase:1,pass,nolog,ctl:ruleRemoveByTag=attack-sqli\"\n\
             SecRule ARGS|!ARGS:safe \"@contains '\" \"id:100,phase:2,deny,tag:attack-sqli\"\n",
        )
        .unwrap(),
    );
    assert!(get(&rs, "/x?a='").interruption().is_some());
    assert!(get(&rs, "/x?safe='").interruption().is_none());
    assert!(get(&rs, "/login?password='").interruption().is_none());
    assert!(get(&rs, "/login?user='").interruption().is_some());
    assert!(get(&rs, "/off?user='").interruption().is_none());
}

#[test]
fn config_time_removal_and_updates() {
    let rs = Arc::new(
        load(
            "SecRule ARGS \"@contains x\" \"id:1,phase:1,deny\"\n\
             SecRule ARGS \"@contains y\" \"id:2,phase:1,deny,tag:foo\"\n\
             SecRule ARGS \"@contains z\" \"id:3,phase:1,deny\"\n\
             SecRule ARGS \"@contains w\" \"id:4,phase:1,deny\"\n\
             SecRuleRemoveById 1\n\
             SecRuleRemoveByTag ^foo$\n\
             SecRuleUpdateTargetById 3 \"!ARGS:ok\"\n\
             SecRuleUpdateActionById 4 \"pass\"\n",
        )
        .unwrap(),
    );
    assert!(get(&rs, "/?a=x").interruption().is_none());
    assert!(get(&rs, "/?a=y").interruption().is_none());
    assert!(get(&rs, "/?a=z").interruption().is_some());
    assert!(get(&rs, "/?ok=z").interruption().is_none());
    assert!(get(&rs, "/?a=w").interruption().is_none());
}

#[test]
fn detection_only_records_but_does_not_interrupt() {
    let rs = Arc::new(
        load("SecRuleEngine DetectionOnly\nSecRule ARGS \"@contains x\" \"id:1,phase:1,deny\"\n")
            .unwrap(),
    );
    let tx = get(&rs, "/?a=x");
    assert!(tx.interruption().is_none());
    assert_eq!(tx.detected_interruption().unwrap().rule_id, 1);
    assert_eq!(tx.matched_rule_ids(), vec![1]);
}

#[test]
fn default_action_makes_block_deny() {
    let rs = Arc::new(
        load("SecDefaultAction \"phase:2,log,auditlog,deny,status:403\"\nSecRule ARGS \"@contains x\" \"id:1,phase:2,block\"\n")
            .unwrap(),
    );
    assert!(get(&rs, "/?a=x").interruption().is_some());
    assert!(load("SecDefaultAction \"log,deny\"").is_err());
}

#[test]
fn transformations_apply_in_order_and_multimatch_sees_each_step() {
    let rs = Arc::new(
        load(
            "SecRule ARGS \"@streq <script>\" \"id:1,phase:1,deny,t:none,t:urlDecodeUni,t:htmlEntityDecode,t:lowercase\"\n\
             SecRule ARGS:m \"@streq %41\" \"id:2,phase:1,deny,t:urlDecode,multiMatch\"\n",
        )
        .unwrap(),
    );
    assert!(
        get(&rs, "/?a=%2526lt;SCRIPT%2526gt;")
            .interruption()
            .is_some()
    );
    assert!(get(&rs, "/?a=script").interruption().is_none());
    assert_eq!(get(&rs, "/?m=%2541").interruption().unwrap().rule_id, 2);
}

#[test]
fn regex_selectors_and_negated_operators() {
    let rs = Arc::new(
        load(
            "SecRule REQUEST_COOKIES:/^sess/ \"!@rx ^[a-z]+$\" \"id:1,phase:1,deny\"\n\
             SecRule REQUEST_HEADERS:Host \"@endsWith .com\" \"id:2,phase:1,pass,log\"\n",
        )
        .unwrap(),
    );
    let tx = get(&rs, "/");
    assert!(tx.interruption().is_none());
    assert_eq!(tx.matched_rule_ids(), vec![2]);
}

#[test]
fn body_limit_actions() {
    use crate::ruleset::BodyLimitAction;
    let rs = load("SecResponseBodyLimitAction Reject\n").unwrap();
    assert_eq!(
        rs.settings().response_body_limit_action,
        BodyLimitAction::Reject
    );
    let rs = load("SecResponseBodyLimitAction processpartial\n").unwrap();
    assert_eq!(
        rs.settings().response_body_limit_action,
        BodyLimitAction::ProcessPartial
    );
    assert_eq!(
        load("").unwrap().settings().response_body_limit_action,
        BodyLimitAction::ProcessPartial
    );
    let err = load("SecResponseBodyLimitAction Drop\n").unwrap_err();
    assert!(matches!(err.kind, LoadErrorKind::Arguments { .. }));
    // Request bodies past the limit are always refused (413 in the gateway).
    assert!(load("SecRequestBodyLimitAction Reject\n").is_ok());
    let err = load("SecRuleEngine On\nSecRequestBodyLimitAction ProcessPartial\n").unwrap_err();
    assert_eq!(err.location.line, 2);
    assert!(
        err.to_string().contains("ProcessPartial is not supported"),
        "{err}"
    );
}

#[test]
fn request_body_no_files_limit() {
    assert_eq!(
        load("").unwrap().settings().request_body_no_files_limit,
        1_048_576
    );
    let rs = load("SecRequestBodyNoFilesLimit 131072\n").unwrap();
    assert_eq!(rs.settings().request_body_no_files_limit, 131_072);
    assert!(load("SecRequestBodyNoFilesLimit lots\n").is_err());
}

#[test]
fn cookie_format_0_only() {
    assert!(load("SecCookieFormat 0\n").is_ok());
    let err = load("SecCookieFormat 1\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("version 1 cookies are not supported"),
        "{err}"
    );
}

#[test]
fn each_match_record_names_the_variable_matched_by_then() {
    // Records share MATCHED_VAR while it does not change (a rule without
    // targets, or a chain whose second link fails, leaves it or changes it
    // without a record); each record must still name the variable as it was.
    let rs = Arc::new(
        load(
            "SecRule ARGS:a \"@contains x\" \"id:1,phase:1,pass,log\"\n\
             SecAction \"id:2,phase:1,pass,nolog\"\n\
             SecRule ARGS:b \"@contains y\" \"id:3,phase:1,pass,log,chain\"\n\
             SecRule ARGS:c \"@contains never\" \"\"\n\
             SecAction \"id:4,phase:1,pass,nolog\"\n\
             SecRule ARGS:c \"@contains z\" \"id:5,phase:1,pass,log\"\n\
             SecAction \"id:6,phase:1,pass,nolog\"\n",
        )
        .unwrap(),
    );
    let tx = get(&rs, "/?a=x&b=y&c=z");
    let seen: Vec<(u64, String)> = tx
        .matches()
        .into_iter()
        .map(|m| (m.id, m.matched_var_name))
        .collect();
    let expect = [
        (1, "ARGS:a"),
        (2, "ARGS:a"),
        // 3's first link matched ARGS:b, its chain failed: no record, but
        // MATCHED_VAR moved on.
        (4, "ARGS:b"),
        (5, "ARGS:c"),
        (6, "ARGS:c"),
    ];
    let expect: Vec<(u64, String)> = expect.iter().map(|(i, n)| (*i, n.to_string())).collect();
    assert_eq!(seen, expect);
}

fn request_from(rs: &Arc<Ruleset>, ip: Ipv4Addr, uri: &str) -> Transaction {
    let mut tx = Transaction::new(rs.clone());
    tx.set_connection(IpAddr::V4(ip), 40000, "u");
    tx.set_request_line("GET", uri, "HTTP/1.1");
    tx.add_request_header("Host", b"example.com");
    tx.process_request_headers();
    tx.process_request_body();
    tx
}

/// An exclusion that switches the engine off for internal clients on
/// /internal/, and a rule that blocks SQLi; 2 is a `SecAction` (folded when
/// folding is on).
const INTERNAL_OFF: &str = "SecRuleEngine On\n\
    SecRule REQUEST_FILENAME \"@beginsWith /internal/\" \"id:1000,phase:1,pass,nolog,ctl:ruleEngine=Off,setvar:tx.starter=1,chain\"\n\
    SecRule REMOTE_ADDR \"@ipMatch 10.0.0.0/8\" \"\"\n\
    SecAction \"id:2,phase:1,pass,nolog\"\n\
    SecRule ARGS \"@rx (?i)union\\s+select\" \"id:3,phase:2,deny,status:403,log\"\n";

#[test]
fn a_chain_starters_ctl_waits_for_the_whole_chain() {
    // An external client: the starter matches, the chained condition does
    // not, so the engine stays on and the SQLi is blocked. (Its `setvar`
    // still runs at once, as CRS needs.)
    const SQLI: &str = "/internal/x?id=1%27%20union%20select%20password%20from%20users--";
    for fold in [false, true] {
        let mut b = RulesetBuilder::new();
        b.load_str(INTERNAL_OFF, Path::new("/rules/test.conf"))
            .unwrap();
        b.settings_mut().fold = fold;
        let rs = Arc::new(b.build().unwrap());
        assert_eq!(rs.is_folded(2), fold);
        let tx = request_from(&rs, Ipv4Addr::new(203, 0, 113, 5), SQLI);
        assert_eq!(tx.interruption().map(|i| i.rule_id), Some(3), "fold {fold}");
        let ids: Vec<u64> = tx.matches().into_iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![2, 3], "fold {fold}");
        assert_eq!(tx.tx("starter"), Some(&b"1"[..]), "fold {fold}");
    }
}

#[test]
fn a_chain_that_matches_applies_its_starters_ctl_and_ends_the_phase() {
    // An internal client: the whole chain matches, the engine goes off at
    // once: neither the folded SecAction 2 nor the SQLi rule runs.
    for fold in [false, true] {
        let mut b = RulesetBuilder::new();
        b.load_str(INTERNAL_OFF, Path::new("/rules/test.conf"))
            .unwrap();
        b.settings_mut().fold = fold;
        let rs = Arc::new(b.build().unwrap());
        let tx = request_from(
            &rs,
            Ipv4Addr::new(10, 1, 2, 3),
            "/internal/x?id=1%27%20union%20select%201",
        );
        assert!(tx.interruption().is_none(), "fold {fold}");
        assert!(tx.detected_interruption().is_none(), "fold {fold}");
        let ids: Vec<u64> = tx.matches().into_iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![1000], "fold {fold}");
        // Outside /internal/ the engine stays on for internal clients too.
        let tx = request_from(
            &rs,
            Ipv4Addr::new(10, 1, 2, 3),
            "/x?id=1%27%20union%20select%201",
        );
        assert_eq!(tx.interruption().map(|i| i.rule_id), Some(3), "fold {fold}");
    }
}

#[test]
fn a_rule_on_full_request_sees_line_headers_and_a_json_body() {
    // The JSON body is inspected parsed (REQUEST_BODY stays empty), yet
    // FULL_REQUEST still ends with it as sent.
    let rs = Arc::new(
        load(
            "SecRequestBodyAccess On\n\
             SecRule FULL_REQUEST \"@rx (?s)^PUT /x HTTP/1\\.1\\n.*x-probe: 7\\n\\n\\{\\\"k\\\": \\\"secret-token\\\"\\}$\" \"id:1,phase:2,deny,status:403\"\n\
             SecRule FULL_REQUEST_LENGTH \"@gt 10000\" \"id:2,phase:2,deny,status:413\"\n",
        )
        .unwrap(),
    );
    let request = |body: &[u8]| {
        let mut tx = Transaction::new(rs.clone());
        tx.set_connection(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, "u");
        tx.set_request_line("PUT", "/x", "HTTP/1.1");
        tx.add_request_header("Content-Type", b"application/json");
        tx.add_request_header("x-probe", b"7");
        tx.process_request_headers();
        tx.append_request_body(body);
        tx.process_request_body();
        tx.interruption().map(|i| i.rule_id)
    };
    assert_eq!(request(br#"{"k": "secret-token"}"#), Some(1));
    assert_eq!(request(br#"{"k": "other"}"#), None);
    let big = format!(r#"{{"k": "{}"}}"#, "a".repeat(10_000));
    assert_eq!(request(big.as_bytes()), Some(2));
}

#[test]
fn duration_is_the_time_since_the_transaction_started() {
    let clock = Arc::new(crate::clock::ManualClock::at_secs(1_700_000_000));
    let mut b = RulesetBuilder::new().services(crate::services::Services {
        clock: clock.clone(),
        ..Default::default()
    });
    b.load_str(
        "SecRule DURATION \"@gt 5000\" \"id:1,phase:2,deny,status:408\"\n",
        Path::new("/rules/test.conf"),
    )
    .unwrap();
    let rs = Arc::new(b.build().unwrap());
    for (waited, refused) in [(4_000, false), (6_000, true)] {
        let mut tx = Transaction::new(rs.clone());
        tx.set_request_line("GET", "/", "HTTP/1.1");
        tx.process_request_headers();
        clock.advance(std::time::Duration::from_micros(waited));
        tx.process_request_body();
        assert_eq!(tx.interruption().is_some(), refused, "{waited}");
    }
}

#[test]
fn duration_counts_from_the_request_start_the_caller_gives() {
    let clock = Arc::new(crate::clock::ManualClock::at_secs(1_700_000_000));
    let mut b = RulesetBuilder::new().services(crate::services::Services {
        clock: clock.clone(),
        ..Default::default()
    });
    b.load_str(
        "SecRule DURATION \"@gt 500000\" \"id:1,phase:1,deny,status:408\"\n",
        Path::new("/rules/test.conf"),
    )
    .unwrap();
    let rs = Arc::new(b.build().unwrap());
    // The request started 1 s before its transaction was made (a gateway
    // buffering a slow body first): phase 1 already sees 1 s. (Margins wide
    // enough for a loaded machine: the age is measured on the real clock.)
    for (age, refused) in [(0, false), (1_000_000, true)] {
        let mut tx = Transaction::new(rs.clone());
        let started = std::time::Instant::now()
            .checked_sub(std::time::Duration::from_micros(age))
            .unwrap();
        tx.set_request_start(started);
        tx.set_request_line("GET", "/", "HTTP/1.1");
        tx.process_request_headers();
        assert_eq!(tx.interruption().is_some(), refused, "{age}");
    }
}

#[test]
fn match_records_keep_no_copy_of_the_matched_values() {
    // 30 rules match one 1 MiB argument: MATCHED_VAR holds it once (the
    // transaction keeps the last match), not once per match record; a
    // `msg` naming it keeps at most 1 KiB of it per record.
    const MIB: usize = 1 << 20;
    for msg in ["seen", "seen %{MATCHED_VAR}"] {
        let rules: String = (1..=30)
            .map(|i| {
                format!("SecRule ARGS:a \"@contains x\" \"id:{i},phase:2,pass,log,msg:'{msg}'\"\n")
            })
            .chain(std::iter::once(
                "SecRule ARGS:a \"@contains x\" \"id:31,phase:2,pass,setvar:tx.copy=%{MATCHED_VAR}\"\n".to_string(),
            ))
            .collect();
        let rs = Arc::new(load(&format!("SecRequestBodyAccess On\n{rules}")).unwrap());
        let before = crate::transaction::live_matched_bytes();
        let mut tx = Transaction::new(rs);
        tx.set_connection(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, "u");
        tx.set_request_line("POST", "/", "HTTP/1.1");
        tx.add_request_header("Content-Type", b"application/x-www-form-urlencoded");
        tx.process_request_headers();
        tx.append_request_body(format!("a={}", "x".repeat(MIB)).as_bytes());
        tx.process_request_body();
        let held = crate::transaction::live_matched_bytes() - before;
        assert!(held < 2 * MIB, "{msg}: {held} bytes of matched values held");
        let matches = tx.matches();
        assert_eq!(matches.len(), 31);
        assert!(matches.iter().all(|m| m.matched_var_name == "ARGS:a"));
        let text = matches[29].msg.clone().unwrap();
        assert!(text.starts_with("seen"), "{msg}");
        assert!(
            text.len() <= 1024,
            "{msg}: msg of {} bytes kept",
            text.len()
        );
        // A rule's own actions still see the whole value.
        assert_eq!(tx.tx("copy").map(<[u8]>::len), Some(MIB));
    }
}

#[test]
fn match_records_keep_at_most_256_bytes_of_the_matched_name() {
    // 30 rules match one 1 MiB argument NAME (ARGS_NAMES:<name>): each
    // record keeps a marked prefix of the name, not a copy of it; the rules
    // themselves still see the whole name.
    const MIB: usize = 1 << 20;
    let rules: String = (1..=30)
        .map(|i| format!("SecRule ARGS_NAMES \"@contains é\" \"id:{i},phase:2,pass,log,msg:'seen'\"\n"))
        .chain(std::iter::once(
            "SecRule ARGS_NAMES \"@contains é\" \"id:31,phase:2,pass,setvar:tx.name=%{MATCHED_VAR_NAME}\"\n".to_string(),
        ))
        .collect();
    let rs = Arc::new(load(&format!("SecRequestBodyAccess On\n{rules}")).unwrap());
    let mut tx = Transaction::new(rs);
    tx.set_connection(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, "u");
    tx.set_request_line("POST", "/", "HTTP/1.1");
    tx.add_request_header("Content-Type", b"application/x-www-form-urlencoded");
    tx.process_request_headers();
    // "ARGS_NAMES:" is 11 bytes: the 2-byte `é`s straddle byte 256.
    tx.append_request_body(format!("x{}=1", "é".repeat(MIB / 2)).as_bytes());
    tx.process_request_body();
    let matches = tx.matches();
    assert_eq!(matches.len(), 31);
    for m in &matches {
        let name = &m.matched_var_name;
        assert!(name.len() <= 256 + 3, "{} bytes kept", name.len());
        assert!(name.starts_with("ARGS_NAMES:xéé"), "{name}");
        assert!(name.ends_with("é..."), "{name}");
    }
    // (Up to the 1 MiB limit of any expansion.)
    assert_eq!(tx.tx("name").map(<[u8]>::len), Some(MIB));
}

#[test]
fn xml_targets_can_be_excluded_statically_and_per_request() {
    let rules = "SecRequestBodyAccess On\n\
        SecRule REQUEST_HEADERS:Content-Type \"@rx xml\" \"id:1,phase:1,pass,nolog,ctl:requestBodyProcessor=XML\"\n\
        SecRule REQUEST_FILENAME \"@streq /text-ok\" \"id:2,phase:1,pass,nolog,ctl:ruleRemoveTargetById=100;XML:/*\"\n\
        SecRule REQUEST_FILENAME \"@streq /attrs-ok\" \"id:3,phase:1,pass,nolog,ctl:ruleRemoveTargetById=100;XML://@*\"\n\
        SecRule REQUEST_FILENAME \"@streq /all-ok\" \"id:4,phase:1,pass,nolog,ctl:ruleRemoveTargetById=100;XML\"\n\
        SecRule XML:/*|XML://@* \"@contains evil\" \"id:100,phase:2,deny,status:403\"\n\
        SecRule XML:/*|XML://@*|!XML://@* \"@contains bad\" \"id:101,phase:2,deny,status:406\"\n";
    let rs = Arc::new(load(rules).unwrap());
    let post = |path: &str, body: &str| {
        let mut tx = Transaction::new(rs.clone());
        tx.set_connection(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, "u");
        tx.set_request_line("POST", path, "HTTP/1.1");
        tx.add_request_header("Content-Type", b"application/xml");
        tx.process_request_headers();
        tx.append_request_body(body.as_bytes());
        tx.process_request_body();
        tx.interruption().map(|i| i.rule_id)
    };
    let text = "<a x=\"fine\">evil</a>";
    let attr = "<a x=\"evil\">fine</a>";
    assert_eq!(post("/x", text), Some(100));
    assert_eq!(post("/x", attr), Some(100));
    // ctl:ruleRemoveTargetById removes the XPath named, and only that one.
    assert_eq!(post("/text-ok", text), None);
    assert_eq!(post("/text-ok", attr), Some(100));
    assert_eq!(post("/attrs-ok", attr), None);
    assert_eq!(post("/attrs-ok", text), Some(100));
    assert_eq!(post("/all-ok", text), None);
    assert_eq!(post("/all-ok", attr), None);
    // `!XML://@*` in the rule itself.
    assert_eq!(post("/x", "<a x=\"bad\">fine</a>"), None);
    assert_eq!(post("/x", "<a x=\"fine\">bad</a>"), Some(101));
}

#[test]
fn a_transaction_reusing_the_last_ones_buffers_sees_none_of_its_values() {
    // The second request has the same shape (so its items get the same ids)
    // and different values: a transformation cached for the first must not
    // answer for the second (see `transaction::spare`).
    let rs = Arc::new(
        load("SecRule ARGS:q \"@streq abc\" \"id:1,phase:1,t:none,t:lowercase,deny,status:403\"\n")
            .unwrap(),
    );
    let first = get(&rs, "/?q=ABC");
    assert_eq!(first.interruption().map(|i| i.rule_id), Some(1));
    drop(first);
    let second = get(&rs, "/?q=XYZ");
    assert!(second.interruption().is_none(), "{:?}", second.matches());
    drop(second);
    let third = get(&rs, "/?q=aBc");
    assert_eq!(third.interruption().map(|i| i.rule_id), Some(1));
}

#[test]
fn a_unicode_map_file_loads_with_a_warning_naming_file_and_line() {
    // ModSecurity's recommended configuration has this line: refusing it
    // would break loading that file, ignoring it silently hid that no map
    // is used.
    let rs = load("SecRuleEngine On\nSecUnicodeMapFile unicode.mapping 20127\n").unwrap();
    let [warning] = rs.warnings() else {
        panic!("one warning expected: {:?}", rs.warnings())
    };
    assert_eq!(warning.location.line, 2);
    assert_eq!(warning.location.file, Path::new("/rules/test.conf"));
    assert_eq!(
        warning.kind,
        crate::error::LoadWarningKind::UnicodeMapFileIgnored
    );
    let text = warning.to_string();
    assert!(
        text.starts_with("/rules/test.conf:2: SecUnicodeMapFile has no effect"),
        "{text}"
    );
    assert!(load("SecRuleEngine On\n").unwrap().warnings().is_empty());
    let e = load("SecUnicodeMapFile\n").unwrap_err();
    assert!(matches!(e.kind, LoadErrorKind::Arguments { .. }));
}
