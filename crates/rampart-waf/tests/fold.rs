//! Load-time folding changes nothing a request can observe: each "must not
//! fold" condition has a ruleset where folding the rule would change the
//! outcome, checked against the same rules loaded unfolded; and over Debian's
//! CRS 3.3 (skipped when not installed) a folded ruleset gives the same
//! verdict, matches, TX collection and anomaly score as the unfolded one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use rampart_waf::seclang::actions::IdRange;
use rampart_waf::seclang::targets::{Exclusion, Selector};
use rampart_waf::variables::Var;
use rampart_waf::{Ruleset, RulesetBuilder, Transaction};

fn load(src: &str, fold: bool) -> Arc<Ruleset> {
    let mut b = RulesetBuilder::new();
    b.settings_mut().fold = fold;
    b.load_str(
        &format!("SecRuleEngine On\nSecRequestBodyAccess On\n{src}"),
        Path::new("/rules/test.conf"),
    )
    .unwrap();
    Arc::new(b.build().unwrap())
}

/// Per-route exclusions, applied before phase 1 as the stage does.
#[derive(Clone, Copy)]
enum Excl<'a> {
    None,
    Ids(u64, u64),
    Tag(&'a str),
    TxTarget(u64, &'a str),
}

fn run_with(rs: &Arc<Ruleset>, uri: &str, body: &[u8], excl: Excl<'_>) -> Transaction {
    let mut tx = Transaction::new(rs.clone());
    match excl {
        Excl::None => {}
        Excl::Ids(start, end) => tx.remove_rules_by_id(&[IdRange { start, end }]),
        Excl::Tag(t) => tx.remove_rules_by_tag(Arc::new(
            regex::bytes::Regex::new(&format!("^{t}$")).unwrap(),
        )),
        Excl::TxTarget(id, key) => tx.remove_target_by_id(
            &[IdRange { start: id, end: id }],
            Exclusion {
                var: Var::Tx,
                selector: Selector::Key(key.as_bytes().to_vec()),
            },
        ),
    }
    tx.set_connection(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, "u");
    let method = if body.is_empty() { "GET" } else { "POST" };
    tx.set_request_line(method, uri, "HTTP/1.1");
    tx.add_request_header("Host", b"example.com");
    tx.add_request_header("User-Agent", b"test/1.0");
    if !body.is_empty() {
        tx.add_request_header("Content-Type", b"application/x-www-form-urlencoded");
    }
    tx.process_request_headers();
    tx.append_request_body(body);
    tx.process_request_body();
    tx.process_logging();
    tx
}

/// Everything a caller can observe of a finished transaction.
fn outcome(tx: &Transaction) -> String {
    let matches: Vec<_> = tx
        .matches()
        .into_iter()
        .map(|m| (m.id, m.phase, m.logged, m.msg, m.matched_var_name))
        .collect();
    let vars: Vec<_> = tx
        .tx_vars()
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    format!(
        "{:?} {:?} {matches:?} {} {vars:?}",
        tx.interruption(),
        tx.detected_interruption(),
        tx.inbound_anomaly_score()
    )
}

/// Loads `src` folded and unfolded; every request (with every exclusion)
/// must give the same outcome. Returns the folded ruleset.
fn same(src: &str, requests: &[(&str, &[u8])], exclusions: &[Excl<'_>]) -> Arc<Ruleset> {
    let (on, off) = (load(src, true), load(src, false));
    assert_eq!(off.folded_rules(), 0);
    for (uri, body) in requests {
        for &excl in [Excl::None].iter().chain(exclusions) {
            let (a, b) = (
                run_with(&on, uri, body, excl),
                run_with(&off, uri, body, excl),
            );
            assert_eq!(outcome(&a), outcome(&b), "{uri} {body:?}");
        }
    }
    on
}

const SETUP: &str = r#"
SecAction "id:1,phase:1,pass,nolog,setvar:tx.pl=1,setvar:tx.score=0"
SecRule &TX:threshold "@eq 0" "id:2,phase:1,pass,nolog,setvar:tx.threshold=5"
"#;

#[test]
fn setup_rules_and_gates_fold_and_the_gated_rules_are_never_visited() {
    let src = format!(
        r#"{SETUP}
SecRule TX:pl "@lt 2" "id:10,phase:1,pass,nolog,skipAfter:END-PL2"
SecRule TX:pl "@lt 2" "id:11,phase:2,pass,nolog,skipAfter:END-PL2"
SecRule ARGS "@rx evil" "id:12,phase:2,deny,log,msg:'PL2 rule'"
SecMarker END-PL2
SecRule ARGS "@rx attack" "id:20,phase:2,pass,log,msg:'%{{MATCHED_VAR_NAME}}',setvar:tx.score=+5"
SecRule TX:score "@ge %{{tx.threshold}}" "id:30,phase:2,deny,log,msg:'score %{{tx.score}}'"
"#
    );
    let rs = same(
        &src,
        &[
            ("/?a=1", b""),
            ("/?a=attack", b""),
            ("/?a=evil", b""),
            ("/", b"b=attack"),
        ],
        &[
            Excl::Ids(11, 11),
            Excl::Ids(1, 1),
            Excl::Tag("none"),
            Excl::TxTarget(11, "pl"),
            Excl::TxTarget(2, "threshold"),
        ],
    );
    for id in [1, 2, 10, 11] {
        assert!(rs.is_folded(id), "{id}");
    }
    for id in [12, 20, 30] {
        assert!(!rs.is_folded(id), "{id}");
    }
    assert_eq!(rs.statically_skipped_rules(), 1);
    // The attack is still refused, the PL2 rule still skipped.
    let attack = run_with(&rs, "/?a=attack", b"", Excl::None);
    assert_eq!(attack.interruption().map(|i| i.rule_id), Some(30));
    assert_eq!(attack.matched_rule_ids(), vec![20, 30]);
    assert_eq!(attack.inbound_anomaly_score(), 0);
    assert_eq!(attack.tx("score"), Some(&b"5"[..]));
    let evil = run_with(&rs, "/?a=evil", b"", Excl::None);
    assert!(evil.interruption().is_none());
    // Removing the gate at run time runs the rule it guards.
    let ungated = run_with(&rs, "/?a=evil", b"", Excl::Ids(11, 11));
    assert_eq!(ungated.interruption().map(|i| i.rule_id), Some(12));
    // Removing the gate's target makes it evaluate (and not match).
    let untargeted = run_with(&rs, "/?a=evil", b"", Excl::TxTarget(11, "pl"));
    assert_eq!(untargeted.interruption().map(|i| i.rule_id), Some(12));
    // Removing a folded writer runs the transaction unfolded.
    let no_setup = run_with(&rs, "/?a=1", b"", Excl::Ids(1, 1));
    assert_eq!(no_setup.tx("pl"), None);
    assert_eq!(no_setup.tx("threshold"), Some(&b"5"[..]));
}

#[test]
fn a_rule_reading_request_data_is_not_folded() {
    let rs = same(
        r#"SecRule ARGS:a "@streq x" "id:1,phase:1,pass,nolog,setvar:tx.seen=1"
SecRule REQUEST_METHOD "@streq GET" "id:2,phase:1,pass,nolog""#,
        &[("/?a=x", b""), ("/?a=y", b"")],
        &[],
    );
    assert_eq!(rs.folded_rules(), 0);
}

#[test]
fn a_reader_after_a_kept_writer_is_not_folded() {
    let rs = same(
        r#"SecRule ARGS:a "@streq x" "id:1,phase:1,pass,nolog,setvar:tx.x=1"
SecRule TX:x "@eq 1" "id:2,phase:1,pass,log,msg:'x set'"
SecRule TX:x "@eq 1" "id:3,phase:2,pass,nolog,skipAfter:END"
SecAction "id:4,phase:2,deny,log"
SecMarker END"#,
        &[("/?a=x", b""), ("/?a=y", b"")],
        &[],
    );
    assert!(!rs.is_folded(2) && !rs.is_folded(3));
    let x = run_with(&rs, "/?a=x", b"", Excl::None);
    assert!(x.interruption().is_none());
    assert_eq!(x.matched_rule_ids(), vec![2]);
    let y = run_with(&rs, "/?a=y", b"", Excl::None);
    assert_eq!(y.interruption().map(|i| i.rule_id), Some(4));
}

#[test]
fn a_writer_after_a_kept_reader_of_the_same_variable_is_not_folded() {
    // Rule 1 must see tx.x unset: folding 2 would set it before rule 1 runs.
    let rs = same(
        r#"SecRule ARGS:a "@streq %{tx.x}" "id:1,phase:1,pass,log,msg:'same'"
SecAction "id:2,phase:1,pass,nolog,setvar:tx.x=5"
SecAction "id:3,phase:1,pass,nolog,setvar:tx.other=5""#,
        &[("/?a=5", b""), ("/?a=", b"")],
        &[],
    );
    assert!(!rs.is_folded(2));
    assert!(rs.is_folded(3));
    assert!(
        run_with(&rs, "/?a=5", b"", Excl::None)
            .matched_rule_ids()
            .is_empty()
    );
}

#[test]
fn a_writer_after_a_kept_writer_of_the_same_variable_is_not_folded() {
    let rs = same(
        r#"SecRule ARGS:a "@streq x" "id:1,phase:1,pass,nolog,setvar:tx.v=request"
SecAction "id:2,phase:1,pass,nolog,setvar:tx.v=setup""#,
        &[("/?a=x", b""), ("/?a=y", b"")],
        &[],
    );
    assert!(!rs.is_folded(2));
    assert_eq!(
        run_with(&rs, "/?a=x", b"", Excl::None).tx("v"),
        Some(&b"setup"[..])
    );
}

#[test]
fn a_writer_after_a_rule_that_can_stop_the_phase_is_not_folded() {
    for stop in ["deny", "drop", "allow", "ctl:ruleEngine=Off"] {
        let src = format!(
            r#"SecRule ARGS:a "@streq stop" "id:1,phase:1,pass,nolog,{stop}"
SecAction "id:2,phase:1,pass,nolog,setvar:tx.after=1""#
        );
        let rs = same(&src, &[("/?a=stop", b""), ("/?a=go", b"")], &[]);
        assert!(!rs.is_folded(2), "{stop}");
        let stopped = run_with(&rs, "/?a=stop", b"", Excl::None);
        assert_eq!(stopped.tx("after"), None, "{stop}");
    }
}

#[test]
fn a_writer_a_kept_jump_can_skip_is_not_folded_but_a_non_writer_is() {
    let rs = same(
        r#"SecRule ARGS:a "@streq skip" "id:1,phase:1,pass,nolog,skipAfter:M"
SecAction "id:2,phase:1,pass,nolog,setvar:tx.w=1"
SecAction "id:3,phase:1,pass,nolog"
SecMarker M
SecRule ARGS:a "@streq skip" "id:4,phase:1,pass,nolog,skip:1"
SecAction "id:5,phase:1,pass,nolog,setvar:tx.v=1"
SecAction "id:6,phase:1,pass,nolog,setvar:tx.u=1""#,
        &[("/?a=skip", b""), ("/?a=go", b"")],
        &[],
    );
    assert!(!rs.is_folded(2) && !rs.is_folded(5));
    assert!(rs.is_folded(3) && rs.is_folded(6));
    let skipped = run_with(&rs, "/?a=skip", b"", Excl::None);
    assert_eq!(skipped.tx("w"), None);
    assert_eq!(skipped.tx("v"), None);
    assert_eq!(skipped.tx("u"), Some(&b"1"[..]));
}

#[test]
fn writers_outside_phase_1_are_not_folded_but_gates_are() {
    let rs = same(
        r#"SecAction "id:1,phase:2,pass,nolog,setvar:tx.two=1"
SecRule TX:two "@eq 1" "id:2,phase:2,pass,log,msg:'two'"
SecAction "id:3,phase:1,pass,nolog,setvar:tx.pl=1"
SecRule TX:pl "@lt 2" "id:4,phase:3,pass,nolog,skipAfter:END"
SecAction "id:5,phase:3,pass,log,msg:'pl2'"
SecMarker END"#,
        &[("/", b"")],
        &[Excl::Ids(4, 4)],
    );
    assert!(!rs.is_folded(1) && !rs.is_folded(2));
    assert!(rs.is_folded(3) && rs.is_folded(4));
}

#[test]
fn rules_with_other_effects_or_logged_matches_are_not_folded() {
    let rs = same(
        r#"SecAction "id:1,phase:1,pass,nolog,ctl:requestBodyAccess=Off"
SecAction "id:2,phase:1,pass,log,msg:'setup done',setvar:tx.a=1"
SecAction "id:3,phase:1,pass,nolog,setenv:x=1"
SecAction "id:4,phase:1,pass,nolog,initcol:global=global"
SecAction "id:5,phase:1,pass,nolog,setvar:ip.count=+1"
SecRule TX:a "@eq 1" "id:6,phase:1,deny,nolog,status:418"
SecRule TX:never "@eq 1" "id:7,phase:1,deny,log,status:418"
SecRule &TX:b "@eq 0" "id:8,phase:1,pass,nolog,setvar:tx.b=%{matched_var_name}""#,
        &[("/", b"")],
        &[],
    );
    for id in [1, 2, 3, 4, 5, 6, 8] {
        assert!(!rs.is_folded(id), "{id}");
    }
    // A rule that never matches folds whatever it would do on a match.
    assert!(rs.is_folded(7));
}

#[test]
fn a_writer_a_ctl_removal_can_pick_is_not_folded() {
    let rs = same(
        r#"SecRule ARGS:a "@streq x" "id:1,phase:1,pass,nolog,ctl:ruleRemoveById=2"
SecAction "id:2,phase:1,pass,nolog,tag:'setup',setvar:tx.b=1"
SecAction "id:6,phase:1,pass,nolog,setvar:tx.pl=1"
SecRule ARGS:a "@streq y" "id:3,phase:1,pass,nolog,ctl:ruleRemoveByTag=gate"
SecRule TX:pl "@eq 1" "id:4,phase:2,pass,nolog,tag:'gate',skipAfter:END"
SecAction "id:5,phase:2,pass,log,msg:'gated'"
SecMarker END"#,
        &[("/?a=x", b""), ("/?a=y", b""), ("/?a=z", b"")],
        &[],
    );
    assert!(!rs.is_folded(2));
    // A non-writer is removed in place like any rule: still folded.
    assert!(rs.is_folded(4));
    assert_eq!(run_with(&rs, "/?a=x", b"", Excl::None).tx("b"), None);
    assert_eq!(
        run_with(&rs, "/?a=y", b"", Excl::None).matched_rule_ids(),
        vec![5]
    );
}

#[test]
fn dynamic_setvar_names_block_only_what_they_may_write() {
    let rs = same(
        r#"SecAction "id:1,phase:1,pass,nolog,setvar:tx.pl=1"
SecRule ARGS:n "@rx ^(\w+)$" "id:2,phase:1,pass,nolog,capture,setvar:tx.%{tx.1}=1"
SecRule ARGS:n "@rx ^(\w+)$" "id:3,phase:1,pass,nolog,capture,setvar:tx.header_%{tx.1}=1"
SecRule TX:foo "@eq 1" "id:4,phase:2,pass,log,msg:'foo'"
SecRule TX:pl "@eq 1" "id:5,phase:2,pass,nolog"
SecRule TX:header_pl "@eq 1" "id:6,phase:2,pass,log,msg:'header'""#,
        &[("/?n=foo", b""), ("/?n=pl", b""), ("/?n=bar", b"")],
        &[],
    );
    // Rule 2 may write any TX name: 4 and 5 read what it may write.
    assert!(!rs.is_folded(4) && !rs.is_folded(5));
    let rs = same(
        r#"SecAction "id:1,phase:1,pass,nolog,setvar:tx.pl=1"
SecRule ARGS:n "@rx ^(\w+)$" "id:3,phase:1,pass,nolog,capture,setvar:tx.header_%{tx.1}=1"
SecRule TX:pl "@eq 1" "id:5,phase:2,pass,nolog"
SecRule TX:header_pl "@eq 1" "id:6,phase:2,pass,log,msg:'header'""#,
        &[("/?n=foo", b""), ("/?n=pl", b"")],
        &[],
    );
    // Only `header_*` names: `pl` is constant.
    assert!(rs.is_folded(5));
    assert!(!rs.is_folded(6));
}

#[test]
fn matched_var_of_a_folded_rule_is_replayed_in_place() {
    let rs = same(
        r#"SecRule ARGS:a "@rx ." "id:1,phase:1,pass,nolog"
SecRule &TX:x "@eq 0" "id:2,phase:1,pass,nolog,setvar:tx.x=1"
SecAction "id:3,phase:1,pass,log,msg:'after %{MATCHED_VAR_NAME}=%{MATCHED_VAR}'""#,
        &[("/?a=1", b""), ("/", b"")],
        &[Excl::Ids(2, 2)],
    );
    assert!(rs.is_folded(2));
    let tx = run_with(&rs, "/?a=1", b"", Excl::None);
    let msg = tx.matches().into_iter().find(|m| m.id == 3).unwrap().msg;
    // (`&TX:x` names the collection, as for any count.)
    assert_eq!(msg.as_deref(), Some("after TX=0"));
}

const CRS_RULES: &str = "/usr/share/modsecurity-crs/rules";
const CRS_SETUP: &str = "/etc/modsecurity/crs/crs-setup.conf";

fn crs(paranoia: u8, fold: bool) -> Arc<Ruleset> {
    let config: rampart_waf::WafConfig = serde_json::from_value(serde_json::json!({
        "rules": [CRS_SETUP, format!("{CRS_RULES}/*.conf")],
        "paranoia_level": paranoia,
    }))
    .unwrap();
    let mut b = config
        .load(rampart_waf::services::Services::default())
        .unwrap();
    b.settings_mut().fold = fold;
    Arc::new(b.build().unwrap())
}

#[test]
fn crs_folded_and_unfolded_agree() {
    if !Path::new(CRS_RULES).is_dir() || !Path::new(CRS_SETUP).is_file() {
        println!("skipping: CRS missing (apt-get install -y modsecurity-crs)");
        return;
    }
    let requests: &[(&str, &[u8])] = &[
        ("/api/v1/orders?page=2&limit=50&sort=created_at", b""),
        ("/?id=1%27%20OR%20%271%27=%271", b""),
        ("/?q=<script>alert(1)</script>", b""),
        ("/index.php?file=../../../../etc/passwd", b""),
        ("/backup.sql", b""),
        ("/?cmd=;cat%20/etc/passwd", b""),
        ("/", b"name=alice&comment=hello+world"),
        ("/", b"a=1%27%20union%20select%20password%20from%20users--"),
    ];
    for paranoia in [1, 2, 4] {
        let (on, off) = (crs(paranoia, true), crs(paranoia, false));
        assert!(on.folded_rules() > 50, "{}", on.folded_rules());
        for (uri, body) in requests {
            for excl in [
                Excl::None,
                // The PL2 gates of 942: PL2 SQLi rules run at PL1.
                Excl::Ids(942013, 942014),
                Excl::Tag("attack-sqli"),
                // A folded setup rule: the transaction runs unfolded.
                Excl::Ids(901200, 901200),
                Excl::TxTarget(920014, "executing_paranoia_level"),
            ] {
                let (a, b) = (
                    run_with(&on, uri, body, excl),
                    run_with(&off, uri, body, excl),
                );
                assert_eq!(outcome(&a), outcome(&b), "PL{paranoia} {uri} {body:?}");
            }
        }
    }
}
