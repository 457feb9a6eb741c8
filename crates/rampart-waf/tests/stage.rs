//! The gateway stage: blocking and detection-only modes, notes, exclusions,
//! configuration errors naming fields. Uses Debian's CRS when installed, and a
//! small rules file otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{HeaderValue, Method};
use rampart_core::{RequestCx, Stage, Step, Verdict};
use rampart_waf::{WafConfig, WafConfigError, WafStage};

fn rules_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-waf-stage-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("setup.conf"),
        "SecDefaultAction \"phase:2,log,auditlog,pass\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("rules.conf"),
        "SecRule ARGS \"@detectSQLi\" \"id:1001,phase:2,block,log,tag:attack-sqli,setvar:tx.anomaly_score=+5\"\n\
         SecRule TX:ANOMALY_SCORE \"@ge 5\" \"id:1999,phase:2,deny,log\"\n",
    )
    .unwrap();
    d
}

fn config(json: serde_json::Value) -> WafConfig {
    serde_json::from_value(json).unwrap()
}

/// The error of a configuration that must be refused.
fn refusal(json: serde_json::Value) -> String {
    match WafStage::new(&config(json.clone())) {
        Ok(_) => panic!("must be refused: {json}"),
        Err(err) => err.to_string(),
    }
}

fn cx(method: Method, path: &str, query: Option<&str>, body: Option<&str>) -> RequestCx {
    let peer: SocketAddr = "192.0.2.7:5555".parse().unwrap();
    let mut cx = RequestCx::new("req-1".into(), peer, method, path.into());
    cx.host = "api.example.com".into();
    cx.query = query.map(str::to_string);
    cx.route = Some("POST /login".into());
    cx.headers.insert(
        "user-agent",
        HeaderValue::from_static("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"),
    );
    cx.headers
        .insert("accept", HeaderValue::from_static("application/json"));
    if let Some(b) = body {
        cx.headers
            .insert("content-type", HeaderValue::from_static("application/json"));
        cx.headers
            .insert("content-length", HeaderValue::from(b.len()));
        cx.body = Some(Bytes::from(b.to_string()));
    }
    cx
}

fn verdict(stage: &WafStage, cx: &mut RequestCx) -> Verdict {
    match stage.on_request(cx) {
        Step::Done(v) => v,
        Step::Wait(_) => panic!("the WAF decides synchronously"),
    }
}

#[test]
fn blocking_mode_refuses_sqli_with_a_problem_naming_no_rule() {
    let d = rules_dir();
    let stage = WafStage::new(&config(serde_json::json!({
        "rules": [d.join("setup.conf"), d.join("rules.conf")],
    })))
    .unwrap();
    assert_eq!(stage.phase(), rampart_core::Phase::Waf);
    let mut attack = cx(
        Method::POST,
        "/login",
        None,
        Some(r#"{"user":"1' OR '1'='1"}"#),
    );
    assert!(stage.request_body_limit(&attack).is_some());
    let Verdict::Respond(problem) = verdict(&stage, &mut attack) else {
        panic!("not blocked")
    };
    assert_eq!(problem.kind.slug, "waf-blocked");
    assert_eq!(problem.kind.status, 403);
    let body = String::from_utf8(problem.to_json("req-1")).unwrap();
    assert!(!body.contains("1001") && !body.contains("OR"), "{body}");
    assert_eq!(attack.notes.waf.matched_rules, vec![1001, 1999]);
    assert_eq!(attack.notes.waf.anomaly_score, 5);

    let mut benign = cx(Method::POST, "/login", None, Some(r#"{"user":"alice"}"#));
    assert_eq!(verdict(&stage, &mut benign), Verdict::Continue);
    assert!(benign.notes.waf.matched_rules.is_empty());
    assert_eq!(benign.notes.waf.anomaly_score, 0);
}

#[test]
fn detection_only_annotates_without_refusing() {
    let d = rules_dir();
    let stage = WafStage::new(&config(serde_json::json!({
        "rules": [d.join("setup.conf"), d.join("rules.conf")],
        "mode": "detection_only",
    })))
    .unwrap();
    let mut attack = cx(
        Method::GET,
        "/search",
        Some("q=1%27%20OR%20%271%27%3D%271"),
        None,
    );
    assert_eq!(verdict(&stage, &mut attack), Verdict::Continue);
    assert_eq!(attack.notes.reason.as_deref(), Some("waf-detected"));
    assert_eq!(attack.notes.waf.matched_rules, vec![1001, 1999]);
}

#[test]
fn the_configured_mode_wins_over_a_rule_files_engine_directive() {
    // ModSecurity's recommended configuration says `SecRuleEngine
    // DetectionOnly`; listed as a rule file, it once left `mode: blocking`
    // blocking nothing.
    let d = rules_dir();
    std::fs::write(
        d.join("detection.conf"),
        "SecRuleEngine DetectionOnly\nSecRequestBodyAccess Off\n",
    )
    .unwrap();
    std::fs::write(d.join("on.conf"), "SecRuleEngine On\n").unwrap();
    let blocking = WafStage::new(&config(serde_json::json!({
        "rules": [d.join("setup.conf"), d.join("rules.conf"), d.join("detection.conf")],
        "mode": "blocking",
    })))
    .unwrap();
    let mut attack = cx(
        Method::POST,
        "/login",
        None,
        Some(r#"{"user":"1' OR '1'='1"}"#),
    );
    assert!(
        matches!(verdict(&blocking, &mut attack), Verdict::Respond(_)),
        "a rule file switched blocking off"
    );
    let detecting = WafStage::new(&config(serde_json::json!({
        "rules": [d.join("setup.conf"), d.join("rules.conf"), d.join("on.conf")],
        "mode": "detection_only",
    })))
    .unwrap();
    let mut attack = cx(
        Method::GET,
        "/search",
        Some("q=1%27%20OR%20%271%27%3D%271"),
        None,
    );
    assert_eq!(verdict(&detecting, &mut attack), Verdict::Continue);
    assert_eq!(attack.notes.waf.matched_rules, vec![1001, 1999]);

    // A response body limit from a file must fit the gateway's buffer too.
    std::fs::write(
        d.join("big-response.conf"),
        "SecResponseBodyAccess On\nSecResponseBodyLimit 1073741824\n",
    )
    .unwrap();
    let err = refusal(serde_json::json!({
        "rules": [d.join("setup.conf"), d.join("big-response.conf")],
    }));
    assert!(err.contains("SecResponseBodyLimit 1073741824"), "{err}");
}

#[test]
fn an_exclusion_that_switches_nothing_off_is_refused() {
    let d = rules_dir();
    let err = refusal(serde_json::json!({
        "rules": [d.join("setup.conf"), d.join("rules.conf")],
        "exclusions": [{"routes": ["POST /login"]}],
    }));
    assert!(err.starts_with("exclusions[0]: name rule_ids"), "{err}");
}

#[test]
fn route_exclusions_switch_off_rules_and_targets() {
    let d = rules_dir();
    let by_target = WafStage::new(&config(serde_json::json!({
        "rules": [d.join("setup.conf"), d.join("rules.conf")],
        "exclusions": [{"routes": ["POST /login"], "targets": [{"target": "ARGS:json.user", "rule_ids": ["1001"]}]}],
    })))
    .unwrap();
    let mut on_route = cx(
        Method::POST,
        "/login",
        None,
        Some(r#"{"user":"1' OR '1'='1"}"#),
    );
    assert_eq!(verdict(&by_target, &mut on_route), Verdict::Continue);
    let mut other_arg = cx(
        Method::POST,
        "/login",
        None,
        Some(r#"{"pw":"1' OR '1'='1"}"#),
    );
    assert!(matches!(
        verdict(&by_target, &mut other_arg),
        Verdict::Respond(_)
    ));
    let mut other_route = cx(
        Method::POST,
        "/login",
        None,
        Some(r#"{"user":"1' OR '1'='1"}"#),
    );
    other_route.route = Some("POST /other".into());
    assert!(matches!(
        verdict(&by_target, &mut other_route),
        Verdict::Respond(_)
    ));

    let by_tag = WafStage::new(&config(serde_json::json!({
        "rules": [d.join("setup.conf"), d.join("rules.conf")],
        "exclusions": [{"tags": ["attack-sqli"]}],
    })))
    .unwrap();
    let mut any = cx(
        Method::POST,
        "/login",
        None,
        Some(r#"{"user":"1' OR '1'='1"}"#),
    );
    assert_eq!(verdict(&by_tag, &mut any), Verdict::Continue);
}

#[test]
fn configuration_errors_name_the_field() {
    let d = rules_dir();
    let err = |json| WafStage::new(&config(json)).unwrap_err();
    let e = err(serde_json::json!({"rules": [d.join("setup.conf"), d.join("missing.conf")]}));
    assert!(
        matches!(&e, WafConfigError::Rules { field, .. } if field == "rules[1]"),
        "{e}"
    );
    let e = err(serde_json::json!({"rules": [d.join("setup.conf")], "paranoia_level": 7}));
    assert!(e.to_string().starts_with("paranoia_level:"), "{e}");
    let e = err(
        serde_json::json!({"rules": [d.join("setup.conf")], "exclusions": [{"rule_ids": ["1", "x"]}]}),
    );
    assert!(
        e.to_string().starts_with("exclusions[0].rule_ids[1]:"),
        "{e}"
    );
    assert!(
        serde_json::from_value::<WafConfig>(serde_json::json!({"rules": [], "bogus": 1})).is_err()
    );
}

#[test]
fn crs_through_the_stage_when_installed() {
    let setup = Path::new("/etc/modsecurity/crs/crs-setup.conf");
    if !setup.is_file() {
        println!("skipping: Debian modsecurity-crs not installed");
        return;
    }
    let stage = WafStage::new(&config(serde_json::json!({
        "rules": [setup, "/usr/share/modsecurity-crs/rules/*.conf"],
        "paranoia_level": 1,
    })))
    .unwrap();
    let mut xss = cx(
        Method::GET,
        "/search",
        Some("q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
        None,
    );
    assert!(matches!(verdict(&stage, &mut xss), Verdict::Respond(_)));
    assert!(
        xss.notes
            .waf
            .matched_rules
            .iter()
            .any(|id| (941000..942000).contains(id)),
        "{:?}",
        xss.notes.waf.matched_rules
    );
    assert!(xss.notes.waf.anomaly_score >= 5);

    let mut json = cx(
        Method::POST,
        "/login",
        None,
        Some(r#"{"user":{"name":"alice","tags":["a","b"]},"n":1}"#),
    );
    assert_eq!(
        verdict(&stage, &mut json),
        Verdict::Continue,
        "{:?}",
        json.notes.waf
    );
    assert!(
        json.notes.waf.matched_rules.is_empty(),
        "{:?}",
        json.notes.waf.matched_rules
    );

    let mut json_sqli = cx(
        Method::POST,
        "/login",
        None,
        Some(r#"{"user":{"name":"x' UNION SELECT password FROM users--"}}"#),
    );
    assert!(
        matches!(verdict(&stage, &mut json_sqli), Verdict::Respond(_)),
        "{:?}",
        json_sqli.notes.waf
    );
}

#[test]
fn request_bodies_past_the_no_files_limit_get_413_but_uploads_may_be_larger() {
    let d = rules_dir();
    std::fs::write(
        d.join("nofiles.conf"),
        "SecRequestBodyNoFilesLimit 1000\nSecRequestBodyLimit 100000\n",
    )
    .unwrap();
    let stage = WafStage::new(&config(serde_json::json!({
        "rules": [d.join("setup.conf"), d.join("nofiles.conf"), d.join("rules.conf")],
        "request_body_limit": 100000,
    })))
    .unwrap();
    // A JSON body: the gateway buffers at most the no-files limit (413 past it).
    let json = cx(Method::POST, "/login", None, Some(r#"{"user":"alice"}"#));
    assert_eq!(stage.request_body_limit(&json), Some(1000));

    let upload = |field: &str, file: &str| {
        let body = format!(
            "--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n{field}\r\n\
             --b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\
             Content-Type: text/plain\r\n\r\n{file}\r\n--b--\r\n"
        );
        let mut c = cx(Method::POST, "/upload", None, None);
        c.headers.insert(
            "content-type",
            HeaderValue::from_static("multipart/form-data; boundary=b"),
        );
        c.headers
            .insert("content-length", HeaderValue::from(body.len()));
        c.body = Some(Bytes::from(body));
        c
    };
    // Uploads get the whole request body limit; their file contents don't count.
    let mut big_file = upload("hello", &"x".repeat(50_000));
    assert_eq!(stage.request_body_limit(&big_file), Some(100000));
    assert_eq!(verdict(&stage, &mut big_file), Verdict::Continue);
    // Fields past the no-files limit are refused.
    let mut big_field = upload(&"y".repeat(1500), "small");
    let Verdict::Respond(problem) = verdict(&stage, &mut big_field) else {
        panic!("a 1.5 KB field passed a 1000-byte no-files limit")
    };
    assert_eq!(problem.kind.slug, "body-too-large");
    assert_eq!(problem.kind.status, 413);
}

#[test]
fn the_request_body_limit_is_the_default_a_written_number_or_off() {
    let d = rules_dir();
    let rules = [d.join("setup.conf"), d.join("rules.conf")];
    let body = cx(Method::POST, "/login", None, Some(r#"{"user":"alice"}"#));
    let limit_of = |json: serde_json::Value| {
        let config = config(json);
        let stage = WafStage::new(&config).unwrap();
        (config.written_body_limit(), stage.request_body_limit(&body))
    };
    // Absent: the 128 KiB default, not counted as written.
    assert_eq!(
        limit_of(serde_json::json!({"rules": rules})),
        (None, Some(131_072))
    );
    assert_eq!(
        limit_of(serde_json::json!({"rules": rules, "request_body_limit": 4096})),
        (Some(4096), Some(4096))
    );
    // `null`: no body inspection, so the WAF asks the gateway for no body.
    assert_eq!(
        limit_of(serde_json::json!({"rules": rules, "request_body_limit": null})),
        (None, None)
    );
}

#[test]
fn structured_json_bodies_and_arguments_past_the_limit_are_inspected_or_refused() {
    let d = rules_dir();
    let stage = WafStage::new(&config(serde_json::json!({
        "rules": [d.join("setup.conf"), d.join("rules.conf")],
    })))
    .unwrap();
    // `application/cloudevents+json` is JSON to the frameworks that bind it:
    // its members are ARGS here too.
    let mut event = cx(
        Method::POST,
        "/login",
        None,
        Some(r#"{"q":"1' OR '1'='1"}"#),
    );
    event.headers.insert(
        "content-type",
        HeaderValue::from_static("application/cloudevents+json; charset=utf-8"),
    );
    assert!(matches!(verdict(&stage, &mut event), Verdict::Respond(_)));
    assert_eq!(event.notes.waf.matched_rules.first(), Some(&1001));
    // A JSON text sequence is not one JSON document: not parsed as one (it
    // would be refused as unparseable).
    let mut sequence = cx(
        Method::POST,
        "/login",
        None,
        Some("\u{1e}{\"a\":1}\n\u{1e}{\"a\":2}\n"),
    );
    sequence.headers.insert(
        "content-type",
        HeaderValue::from_static("application/geo+json-seq"),
    );
    assert_eq!(verdict(&stage, &mut sequence), Verdict::Continue);
    // 1,000 arguments are inspected; the payload in the 1,001st would not be:
    // such a request is refused, not passed with its tail unread.
    let query = format!("{}q=1' OR '1'='1", "a&".repeat(1000));
    let mut padded = cx(Method::GET, "/login", Some(&query), None);
    let Verdict::Respond(problem) = verdict(&stage, &mut padded) else {
        panic!("a request with its payload past the argument limit passed")
    };
    assert_eq!(problem.kind.slug, "waf-blocked");
    assert!(padded.notes.waf.matched_rules.contains(&200007));
    assert!(
        !padded.notes.waf.matched_rules.contains(&1001),
        "the payload was never seen"
    );
    // Many arguments within the limit pass.
    let query = "a=1&".repeat(999);
    let mut many = cx(Method::GET, "/login", Some(&query), None);
    assert_eq!(verdict(&stage, &mut many), Verdict::Continue);
}

#[test]
fn a_regex_undecided_at_the_backtracking_limit_refuses_the_request() {
    // A lookahead inside a repetition runs on the backtracking engine: on a
    // long run of `a` not followed by `b` it tries 2^n ways before giving up,
    // so the input that exhausts the limit is exactly the input the rule
    // cannot decide on. It must not pass as "no match". (The value holds a
    // `b`: one without any cannot match, and the prefilter says so.)
    let d = std::env::temp_dir().join(format!("rampart-waf-limit-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("rules.conf"),
        "SecRule ARGS \"@rx ^(?:a(?=a)|a)*b\" \"id:1101,phase:2,deny,log\"\n",
    )
    .unwrap();
    let with = |recommended: bool| {
        WafStage::new(&config(serde_json::json!({
            "rules": [d.join("rules.conf")],
            "recommended_rules": recommended,
        })))
        .unwrap()
    };
    let stage = with(true);
    let exhausting = format!("q={}cb", "a".repeat(64));
    let mut attack = cx(Method::GET, "/login", Some(&exhausting), None);
    let Verdict::Respond(problem) = verdict(&stage, &mut attack) else {
        panic!("a value the rule could not decide on passed")
    };
    assert_eq!(problem.kind.slug, "waf-blocked");
    assert!(attack.notes.waf.matched_rules.contains(&200005));
    // Decided values: the rule's own match, and a value that cannot match.
    let mut matched = cx(Method::GET, "/login", Some("q=aab"), None);
    assert!(matches!(verdict(&stage, &mut matched), Verdict::Respond(_)));
    assert_eq!(matched.notes.waf.matched_rules, vec![1101]);
    let mut legit = cx(Method::GET, "/login", Some("q=hello&page=2"), None);
    assert_eq!(verdict(&stage, &mut legit), Verdict::Continue);
    let mut short = cx(Method::GET, "/login", Some("q=aaaacb"), None);
    assert_eq!(verdict(&stage, &mut short), Verdict::Continue);
    // Without the recommended rules the limit is only counted (ModSecurity's
    // behaviour without its recommended configuration).
    let mut unguarded = cx(Method::GET, "/login", Some(&exhausting), None);
    assert_eq!(verdict(&with(false), &mut unguarded), Verdict::Continue);
}

/// A POST with the given Content-Type and body.
fn post(content_type: &'static str, body: &str) -> RequestCx {
    let mut c = cx(Method::POST, "/login", None, None);
    c.headers
        .insert("content-type", HeaderValue::from_static(content_type));
    c.headers
        .insert("content-length", HeaderValue::from(body.len()));
    c.body = Some(Bytes::from(body.to_string()));
    c
}

/// The stages a body-parsing bypass is tried on: the small rules file, and
/// Debian's CRS at paranoia level 1 when installed (default threshold 5).
fn body_stages() -> Vec<WafStage> {
    let d = rules_dir();
    let mut stages = vec![
        WafStage::new(&config(serde_json::json!({
            "rules": [d.join("setup.conf"), d.join("rules.conf")],
        })))
        .unwrap(),
    ];
    let setup = Path::new("/etc/modsecurity/crs/crs-setup.conf");
    if setup.is_file() {
        stages.push(
            WafStage::new(&config(serde_json::json!({
                "rules": [setup, "/usr/share/modsecurity-crs/rules/*.conf"],
                "paranoia_level": 1,
            })))
            .unwrap(),
        );
    } else {
        println!("CRS part skipped: Debian modsecurity-crs not installed");
    }
    stages
}

#[test]
fn a_content_type_parameter_naming_xml_or_json_does_not_switch_a_form_to_that_parser() {
    // The application parses these bodies as forms; the WAF took `text/xml`
    // (or `application/json`) from a parameter and parsed them as XML (only
    // text nodes, so the comment hiding the form went unseen) or JSON.
    let body = "<a><!--&id=1' union select password from users where 'a'='a&--></a>";
    let multipart = "--X\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\n\
                     1' union select password from users where 'a'='a\r\n--X--\r\n";
    for stage in body_stages() {
        for (content_type, body) in [
            ("application/x-www-form-urlencoded;type=text/xml", body),
            (
                "application/x-www-form-urlencoded; type=application/json",
                body,
            ),
            ("multipart/form-data; boundary=X; type=text/xml", multipart),
        ] {
            let mut attack = post(content_type, body);
            assert!(
                matches!(verdict(&stage, &mut attack), Verdict::Respond(_)),
                "{content_type}: {:?}",
                attack.notes.waf
            );
        }
        // The types themselves still select their parsers.
        let mut xml = post("text/xml; charset=utf-8", "<a>hello</a>");
        assert_eq!(verdict(&stage, &mut xml), Verdict::Continue);
        let mut json = post("application/json", r#"{"q":"1' OR '1'='1"}"#);
        assert!(matches!(verdict(&stage, &mut json), Verdict::Respond(_)));
    }
}

#[test]
fn a_field_dressed_as_a_file_by_an_odd_filename_parameter_is_refused() {
    // PHP knows only `filename` and Go drops an invalid `filename*`: both
    // deliver this content as the field q, which the WAF had filed as an
    // upload and not inspected.
    for disposition in ["name=\"q\"; filename*=x", "name=\"q\"; filename =\"x\""] {
        let body = format!(
            "--X\r\nContent-Disposition: form-data; {disposition}\r\n\r\n\
             1' union select password from users where 'a'='a\r\n--X--\r\n"
        );
        for stage in body_stages() {
            let mut attack = post("multipart/form-data; boundary=X", &body);
            assert!(
                matches!(verdict(&stage, &mut attack), Verdict::Respond(_)),
                "{disposition}: {:?}",
                attack.notes.waf
            );
        }
    }
}

#[test]
fn a_boundary_hidden_in_another_parameter_is_refused() {
    // Go, Node and Python read the boundary `bar`; the WAF took `foo"` from
    // inside the `type` parameter and saw one file part.
    let body = "--foo\"\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\n\
                --bar\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n\
                1' union select password from users where 'a'='a\r\n--bar--\r\n\
                \r\n--foo\"--\r\n";
    for stage in body_stages() {
        let mut attack = post(
            "multipart/form-data; type=\"boundary=foo\"; boundary=bar",
            body,
        );
        assert!(
            matches!(verdict(&stage, &mut attack), Verdict::Respond(_)),
            "{:?}",
            attack.notes.waf
        );
    }
}

#[test]
fn an_empty_json_body_is_not_a_parse_error() {
    // A request with a JSON Content-Type and no body (a DELETE, an action
    // endpoint) got 400 from rule 200002; ModSecurity lets it through.
    for stage in body_stages() {
        let mut empty = cx(Method::POST, "/login", None, Some(""));
        assert_eq!(
            verdict(&stage, &mut empty),
            Verdict::Continue,
            "{:?}",
            empty.notes.waf
        );
        let mut blank = cx(Method::POST, "/login", None, Some(" "));
        assert!(matches!(verdict(&stage, &mut blank), Verdict::Respond(_)));
    }
}

#[test]
fn a_line_that_starts_with_the_boundary_but_is_not_one_is_refused() {
    // `--Xjunk` is data to this parser and a delimiter to parsers that match
    // the boundary as a prefix: the part after it would be one the WAF never
    // saw as a part (ModSecurity's recommended rule 200004).
    let body = "--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n\
                --Xjunk\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\nw\r\n--X--\r\n";
    for stage in body_stages() {
        let mut attack = post("multipart/form-data; boundary=X", body);
        assert!(
            matches!(verdict(&stage, &mut attack), Verdict::Respond(_)),
            "{:?}",
            attack.notes.waf
        );
        assert!(attack.notes.waf.matched_rules.contains(&200004));
    }
    // A markdown rule (`---`) in a field under a browser's boundary is text.
    let body = "------WebKitFormBoundaryA1b2\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n\
                title\r\n---\r\nbody\r\n--\r\n------WebKitFormBoundaryA1b2--\r\n";
    for stage in body_stages() {
        let mut legit = post(
            "multipart/form-data; boundary=----WebKitFormBoundaryA1b2",
            body,
        );
        assert_eq!(
            verdict(&stage, &mut legit),
            Verdict::Continue,
            "{:?}",
            legit.notes.waf
        );
    }
}

#[test]
fn a_path_exclusion_is_not_met_by_a_path_that_leaves_it_through_dot_segments() {
    // The rule file switches the WAF off under /api/upload. The gateway
    // forwards `/api/upload/../users` as `/api/users`: that request must be
    // inspected like any request for /api/users.
    let d = std::env::temp_dir().join(format!("rampart-waf-path-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("rules.conf"),
        "SecRule REQUEST_FILENAME \"@beginsWith /api/upload\" \"id:1,phase:1,pass,nolog,ctl:ruleEngine=Off\"\n\
         SecRule ARGS \"@detectSQLi\" \"id:1001,phase:2,deny,log\"\n",
    )
    .unwrap();
    let stage = WafStage::new(&config(serde_json::json!({
        "rules": [d.join("rules.conf")],
    })))
    .unwrap();
    let sqli_query = "q=1%27%20UNION%20SELECT%20password%20FROM%20users--%20";
    let sqli_body = r#"{"name":"x' UNION SELECT password FROM users-- "}"#;
    let at = |raw: &str, normalised: &str, query: Option<&str>, body: Option<&str>| {
        let mut c = cx(Method::POST, normalised, query, body);
        c.raw_target = raw.into();
        c
    };
    for raw in [
        "/api/upload/../users",
        "/api/upload/%2e%2e/users",
        "/api/upload/.%2E/users",
        "/api/upload/x/../../users",
    ] {
        let mut by_query = at(raw, "/api/users", Some(sqli_query), None);
        assert!(
            matches!(verdict(&stage, &mut by_query), Verdict::Respond(_)),
            "{raw} with a query: {:?}",
            by_query.notes.waf
        );
        let mut by_body = at(raw, "/api/users", None, Some(sqli_body));
        assert!(
            matches!(verdict(&stage, &mut by_body), Verdict::Respond(_)),
            "{raw} with a body: {:?}",
            by_body.notes.waf
        );
    }
    // What the exclusion is for: uploads are not inspected, also when the
    // client wrote the path with dot segments that stay inside it.
    for (raw, normalised) in [
        ("/api/upload/x", "/api/upload/x"),
        ("/api/upload/a/../x", "/api/upload/x"),
    ] {
        let mut upload = at(raw, normalised, Some(sqli_query), Some(sqli_body));
        assert_eq!(
            verdict(&stage, &mut upload),
            Verdict::Continue,
            "{raw}: {:?}",
            upload.notes.waf
        );
    }
    let mut direct = at("/api/users", "/api/users", Some(sqli_query), None);
    assert!(matches!(verdict(&stage, &mut direct), Verdict::Respond(_)));
}

#[test]
fn the_crs_traversal_rules_still_see_the_dot_segments_of_the_target_as_sent() {
    let setup = Path::new("/etc/modsecurity/crs/crs-setup.conf");
    if !setup.is_file() {
        println!("skipping: Debian modsecurity-crs not installed");
        return;
    }
    let stage = WafStage::new(&config(serde_json::json!({
        "rules": [setup, "/usr/share/modsecurity-crs/rules/*.conf"],
    })))
    .unwrap();
    let mut c = cx(Method::GET, "/etc/passwd", None, None);
    c.raw_target = "/static/../../etc/passwd".into();
    assert!(matches!(verdict(&stage, &mut c), Verdict::Respond(_)));
    assert!(
        c.notes.waf.matched_rules.contains(&930110),
        "{:?}",
        c.notes.waf
    );
}

/// A POST whose body comes without a Content-Type (chunked, as a script
/// might send it).
fn untyped(body: &[u8]) -> RequestCx {
    let mut c = cx(Method::POST, "/items", None, None);
    c.headers
        .insert("transfer-encoding", HeaderValue::from_static("chunked"));
    c.body = Some(Bytes::copy_from_slice(body));
    c
}

#[test]
fn a_json_body_without_content_type_is_inspected_as_json() {
    // FastAPI parses a body without Content-Type as JSON; the WAF picked no
    // body processor for it, so its members never became ARGS.
    let attack = r#"{"name":"x' UNION SELECT password FROM users-- "}"#;
    for stage in body_stages() {
        for body in [
            attack.to_string(),
            format!("\r\n  {attack}"),
            format!(r#"[{attack}]"#),
            r#""x' UNION SELECT password FROM users-- ""#.to_string(),
        ] {
            let mut c = untyped(body.as_bytes());
            assert!(
                matches!(verdict(&stage, &mut c), Verdict::Respond(_)),
                "{body}: {:?}",
                c.notes.waf
            );
        }
        // An empty Content-Type is no Content-Type to FastAPI either.
        let mut empty_type = untyped(attack.as_bytes());
        empty_type
            .headers
            .insert("content-type", HeaderValue::from_static(""));
        assert!(matches!(
            verdict(&stage, &mut empty_type),
            Verdict::Respond(_)
        ));
        // Nor is an empty one followed by another: Starlette reads the first.
        let mut first_empty = untyped(attack.as_bytes());
        first_empty
            .headers
            .insert("content-type", HeaderValue::from_static(""));
        first_empty
            .headers
            .append("content-type", HeaderValue::from_static("text/plain"));
        assert!(matches!(
            verdict(&stage, &mut first_empty),
            Verdict::Respond(_)
        ));
        // Legitimate clients that leave the header out are not broken: JSON,
        // and bodies that are not JSON at all (left as they were).
        for body in [
            &br#"{"name":"widget","price":3,"tags":["a","b"]}"#[..],
            b"hello world",
            b"42",
            b"\x89PNG\r\n\x1a\n",
            // Binary with early NULs (BSON's length, protobuf) is not UTF-16.
            b"\x16\x00\x00\x00\x02hello\x00\x06\x00\x00\x00world\x00\x00",
            b"\x08\x00\x12\x03abc",
        ] {
            let mut legit = untyped(body);
            assert_eq!(
                verdict(&stage, &mut legit),
                Verdict::Continue,
                "{}: {:?}",
                String::from_utf8_lossy(body),
                legit.notes.waf
            );
        }
    }
}

#[test]
fn an_untyped_body_that_looks_like_json_but_does_not_parse_is_refused() {
    // Python's json.loads reads NaN, a UTF-8 byte order mark and UTF-16,
    // which this parser does not: such a body must not pass unread.
    let d = rules_dir();
    let stage = WafStage::new(&config(serde_json::json!({
        "rules": [d.join("setup.conf"), d.join("rules.conf")],
    })))
    .unwrap();
    let utf16: Vec<u8> = r#"{"q":"x' UNION SELECT password FROM users-- "}"#
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    for body in [
        &br#"{"n":NaN,"q":"x' UNION SELECT password FROM users-- "}"#[..],
        b"\xef\xbb\xbf{\"q\":\"x' UNION SELECT password FROM users-- \"}",
        &utf16,
        b"{\"q\":",
    ] {
        let mut c = untyped(body);
        assert!(
            matches!(verdict(&stage, &mut c), Verdict::Respond(_)),
            "{}: {:?}",
            String::from_utf8_lossy(body),
            c.notes.waf
        );
        assert!(c.notes.waf.matched_rules.contains(&200002));
    }
    // With a Content-Type the body is what the type says, as before.
    let mut text = untyped(br#"{"name":"x' UNION SELECT password FROM users-- "}"#);
    text.headers
        .insert("content-type", HeaderValue::from_static("text/plain"));
    assert_eq!(verdict(&stage, &mut text), Verdict::Continue);
}

/// A multipart body of `parts` text fields, each part with `types`
/// `Content-Type` headers, and a last field `url` holding `url`.
fn many_part_headers(parts: usize, types: usize, url: &str) -> String {
    let mut body = String::new();
    for i in 0..parts {
        body.push_str(&format!(
            "--X\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n"
        ));
        for _ in 0..types {
            body.push_str("Content-Type: text/plain\r\n");
        }
        body.push_str("\r\nv\r\n");
    }
    body.push_str(&format!(
        "--X\r\nContent-Disposition: form-data; name=\"url\"\r\n\r\n{url}\r\n--X--\r\n"
    ));
    body
}

#[test]
fn a_request_that_overflows_tx_is_refused() {
    // Each rule writes one TX variable per argument; 900 arguments and five
    // rules are more than TX keeps (4096). A dropped write could be the one
    // a later rule decides on, so the request is refused (200008).
    let d = std::env::temp_dir().join(format!("rampart-waf-txfull-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let mut rules = String::new();
    for (i, prefix) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        rules.push_str(&format!(
            "SecRule ARGS \"@rx .\" \"id:{},phase:2,pass,nolog,setvar:'tx.{prefix}_%{{MATCHED_VAR_NAME}}=1'\"\n",
            1200 + i
        ));
    }
    std::fs::write(d.join("rules.conf"), rules).unwrap();
    let with = |recommended: bool| {
        WafStage::new(&config(serde_json::json!({
            "rules": [d.join("rules.conf")],
            "recommended_rules": recommended,
        })))
        .unwrap()
    };
    let stage = with(true);
    let query: Vec<String> = (0..900).map(|i| format!("p{i}=1")).collect();
    let query = query.join("&");
    let mut overflow = cx(Method::GET, "/login", Some(&query), None);
    let Verdict::Respond(problem) = verdict(&stage, &mut overflow) else {
        panic!("a request that overflowed TX passed")
    };
    assert_eq!(problem.kind.slug, "waf-blocked");
    assert!(
        overflow.notes.waf.matched_rules.contains(&200008),
        "{:?}",
        overflow.notes.waf
    );
    // Fewer arguments fit: nothing is refused.
    let query: Vec<String> = (0..600).map(|i| format!("p{i}=1")).collect();
    let mut fits = cx(Method::GET, "/login", Some(&query.join("&")), None);
    assert_eq!(verdict(&stage, &mut fits), Verdict::Continue);
    // Without the recommended rules the overflow is not refused (the
    // documented fail-open of `recommended_rules: false`).
    let mut unguarded = cx(
        Method::GET,
        "/login",
        Some(
            &(0..900)
                .map(|i| format!("p{i}=1"))
                .collect::<Vec<_>>()
                .join("&"),
        ),
        None,
    );
    assert_eq!(verdict(&with(false), &mut unguarded), Verdict::Continue);
}

#[test]
fn crs_multipart_part_headers_that_overflow_tx_do_not_hide_an_rfi() {
    // CRS 922150 writes one TX variable per multipart part header; past
    // TX's limit the variables of 931130 (RFI, paranoia level 2) were
    // dropped and the link passed.
    let setup = Path::new("/etc/modsecurity/crs/crs-setup.conf");
    if !setup.is_file() {
        println!("skipping: Debian modsecurity-crs not installed");
        return;
    }
    let stage = WafStage::new(&config(serde_json::json!({
        "rules": [setup, "/usr/share/modsecurity-crs/rules/*.conf"],
        "paranoia_level": 2,
    })))
    .unwrap();
    let rfi = "http://attacker.example/shell.txt";
    let mut small = post(
        "multipart/form-data; boundary=X",
        &many_part_headers(1, 1, rfi),
    );
    assert!(matches!(verdict(&stage, &mut small), Verdict::Respond(_)));
    assert!(
        small.notes.waf.matched_rules.contains(&931130),
        "{:?}",
        small.notes.waf
    );
    let mut overflow = post(
        "multipart/form-data; boundary=X",
        &many_part_headers(150, 31, rfi),
    );
    assert!(
        matches!(verdict(&stage, &mut overflow), Verdict::Respond(_)),
        "{:?}",
        overflow.notes.waf
    );
    assert!(
        overflow.notes.waf.matched_rules.contains(&200008),
        "{:?}",
        overflow.notes.waf
    );
    let mut legit = post(
        "multipart/form-data; boundary=X",
        &many_part_headers(3, 1, "https://api.example.com/x"),
    );
    assert_eq!(
        verdict(&stage, &mut legit),
        Verdict::Continue,
        "{:?}",
        legit.notes.waf
    );
}

#[test]
fn what_weakens_the_waf_is_reported_as_warnings() {
    let d = rules_dir();
    std::fs::write(
        d.join("unicode.conf"),
        "SecRuleEngine On\n\nSecUnicodeMapFile unicode.mapping 20127\n",
    )
    .unwrap();
    let stage = WafStage::new(&config(serde_json::json!({
        "rules": [d.join("setup.conf"), d.join("unicode.conf"), d.join("rules.conf")],
        "recommended_rules": false,
    })))
    .unwrap();
    let warnings: Vec<String> = stage
        .compiled()
        .warnings()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    let unicode = format!(
        "{}:3: SecUnicodeMapFile has no effect",
        d.join("unicode.conf").display()
    );
    assert!(warnings[0].contains(&unicode), "{warnings:?}");
    assert!(
        warnings[1].starts_with("recommended_rules: false")
            && warnings[1].contains("200005")
            && warnings[1].contains("200007"),
        "{warnings:?}"
    );
    // The default configuration has nothing to warn about.
    let quiet = WafStage::new(&config(serde_json::json!({
        "rules": [d.join("setup.conf"), d.join("rules.conf")],
    })))
    .unwrap();
    assert!(quiet.compiled().warnings().is_empty());
}

#[test]
fn duration_counts_from_when_the_gateway_received_the_request() {
    // ModSecurity's DURATION counts from the request's start; the stage runs
    // once the body is buffered, so it passes the instant the head was read.
    let d = std::env::temp_dir().join(format!("rampart-waf-duration-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("slow.conf"),
        "SecRule DURATION \"@gt 500000\" \"id:2001,phase:1,deny,log\"\n",
    )
    .unwrap();
    let stage = WafStage::new(&config(serde_json::json!({
        "rules": [d.join("slow.conf")],
    })))
    .unwrap();
    let mut fresh = cx(Method::GET, "/", None, None);
    fresh.received_at = Some(std::time::Instant::now());
    assert_eq!(verdict(&stage, &mut fresh), Verdict::Continue);
    let mut slow = cx(Method::GET, "/", None, None);
    slow.received_at = std::time::Instant::now().checked_sub(std::time::Duration::from_secs(1));
    assert!(matches!(verdict(&stage, &mut slow), Verdict::Respond(_)));
    assert_eq!(slow.notes.waf.matched_rules, vec![2001]);
}
