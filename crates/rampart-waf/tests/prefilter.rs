//! The prefilter skips rules, never verdicts: each case has the request a
//! prefiltered rule must catch and the one it must let through, with the
//! prefilter on and off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use rampart_waf::{Ruleset, RulesetBuilder, Transaction};

fn load(src: &str, prefilter: bool) -> Arc<Ruleset> {
    let mut b = RulesetBuilder::new();
    b.settings_mut().prefilter = prefilter;
    b.load_str(
        &format!("SecRuleEngine On\nSecRequestBodyAccess On\n{src}"),
        Path::new("/rules/test.conf"),
    )
    .unwrap();
    Arc::new(b.build().unwrap())
}

/// The rule that interrupted, if any.
fn run(rs: &Arc<Ruleset>, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> Option<u64> {
    let mut tx = Transaction::new(rs.clone());
    tx.set_connection(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, "u");
    let method = if body.is_empty() { "GET" } else { "POST" };
    tx.set_request_line(method, uri, "HTTP/1.1");
    tx.add_request_header("Host", b"example.com");
    for (n, v) in headers {
        tx.add_request_header(n, v.as_bytes());
    }
    tx.process_request_headers();
    tx.append_request_body(body);
    tx.process_request_body();
    tx.interruption().map(|i| i.rule_id)
}

/// Runs a case with the prefilter on and off; both must give `expected`.
fn check(src: &str, uri: &str, headers: &[(&str, &str)], body: &[u8], expected: Option<u64>) {
    for prefilter in [true, false] {
        let rs = load(src, prefilter);
        assert_eq!(
            run(&rs, uri, headers, body),
            expected,
            "prefilter {prefilter}: {uri} {}",
            String::from_utf8_lossy(body)
        );
    }
}

const FORM: &[(&str, &str)] = &[("Content-Type", "application/x-www-form-urlencoded")];

#[test]
fn arguments_added_by_the_body_are_scanned_in_phase_two() {
    // Rule 2 makes phase 1 scan ARGS (then without the body's arguments);
    // phase 2 must see the arguments the body added.
    let src = "SecRule REQUEST_HEADERS:Content-Type \"urlencoded\" \"id:9,phase:1,pass,nolog,ctl:requestBodyProcessor=URLENCODED\"\n\
               SecRule ARGS \"@rx zzz\" \"id:2,phase:1,deny\"\n\
               SecRule ARGS \"@rx attack\" \"id:1,phase:2,deny\"\n";
    check(src, "/?q=calm", FORM, b"a=attack", Some(1));
    check(src, "/?q=calm", FORM, b"a=peace", None);
    check(src, "/?q=attack", FORM, b"a=peace", Some(1));
}

#[test]
fn multimatch_rules_see_intermediate_values() {
    // "a b" only exists between the two transformations.
    let src = "SecRule ARGS \"@rx a b\" \"id:3,phase:1,t:none,t:urlDecode,t:removeWhitespace,multiMatch,deny\"\n";
    check(src, "/?x=a%2520b", &[], b"", Some(3));
    check(src, "/?x=ab", &[], b"", None);
    let plain =
        "SecRule ARGS \"@rx a b\" \"id:3,phase:1,t:none,t:urlDecode,t:removeWhitespace,deny\"\n";
    check(plain, "/?x=a%2520b", &[], b"", None);
}

#[test]
fn case_changes_and_decoding_are_seen() {
    let src = "SecRule REQUEST_HEADERS:User-Agent \"@rx sqlmap\" \"id:4,phase:1,t:none,t:lowercase,deny\"\n\
               SecRule ARGS \"@rx <script\" \"id:6,phase:1,t:none,t:urlDecodeUni,t:htmlEntityDecode,t:lowercase,deny\"\n";
    check(src, "/", &[("User-Agent", "SQLMAP/1.4")], b"", Some(4));
    check(src, "/", &[("User-Agent", "Mozilla/5.0")], b"", None);
    check(src, "/?a=%2526lt;SCRIPT", &[], b"", Some(6));
    check(src, "/?a=%253Cscript", &[], b"", Some(6));
    check(src, "/?a=script", &[], b"", None);
}

#[test]
fn phrase_rules_match_exactly_their_phrases() {
    let src = "SecRule ARGS|ARGS_NAMES \"@pm foo bar\" \"id:5,phase:1,deny\"\n";
    check(src, "/?x=xxBARxx", &[], b"", Some(5));
    check(src, "/?FOO=1", &[], b"", Some(5));
    check(src, "/?x=baz", &[], b"", None);
}

#[test]
fn rules_reading_written_variables_are_not_skipped() {
    // TX is written by rules: its values are never scanned ahead.
    let src = "SecAction \"id:7,phase:1,pass,nolog,setvar:tx.word=evil\"\n\
               SecRule TX:word \"@rx evil\" \"id:8,phase:1,deny\"\n";
    check(src, "/", &[], b"", Some(8));
}

#[test]
fn each_variable_group_is_scanned_for_the_literals_of_its_readers() {
    // Header values are scanned only for header rules' literals, arguments
    // only for argument rules' (and names with them); a rule reading both
    // gets both. A literal in the other group must not let a rule through,
    // and one in its own group must.
    let src = "SecRule REQUEST_HEADERS \"@rx evilhdr\" \"id:1,phase:1,deny\"\n\
               SecRule ARGS_NAMES \"@rx badname\" \"id:2,phase:1,deny\"\n\
               SecRule ARGS|REQUEST_COOKIES \"@rx badarg\" \"id:3,phase:1,deny\"\n\
               SecRule REQUEST_HEADERS_NAMES|TX:x \"@rx x-evil\" \"id:4,phase:1,deny\"\n";
    check(src, "/?a=evilhdr", &[("X-A", "badarg")], b"", None);
    check(src, "/?a=1", &[("X-A", "an evilhdr")], b"", Some(1));
    check(src, "/?badname=1", &[("X-A", "badname")], b"", Some(2));
    check(src, "/?a=xbadarg", &[], b"", Some(3));
    check(src, "/", &[("Cookie", "s=badarg")], b"", Some(3));
    check(src, "/", &[("x-evil", "1")], b"", Some(4));
    check(src, "/?x-evil=1", &[], b"", None);
}

#[test]
fn rules_reading_one_key_see_that_key_only() {
    // The phase-wide scan covers only the keys such links read: the literal
    // in another header or argument must not let them match, the one in
    // their own key (any case of its name, any of its repeats) must.
    let src = "SecRule REQUEST_HEADERS:X-Foo \"@rx evil\" \"id:1,phase:1,t:none,t:removeWhitespace,deny\"\n\
               SecRule ARGS_GET:q|REQUEST_COOKIES:sid \"@rx bad\" \"id:2,phase:1,t:none,t:urlDecodeUni,deny\"\n\
               SecRule REQUEST_HEADERS \"@rx zzz\" \"id:3,phase:1,deny\"\n";
    check(src, "/", &[("X-Bar", "evil")], b"", None);
    check(src, "/", &[("x-foo", "e v i l")], b"", Some(1));
    check(
        src,
        "/",
        &[("X-Foo", "calm"), ("X-FOO", "evil")],
        b"",
        Some(1),
    );
    check(src, "/?p=bad&q=good", &[], b"", None);
    check(src, "/?p=good&q=b%61d", &[], b"", Some(2));
    check(src, "/", &[("Cookie", "x=bad; sid=ok")], b"", None);
    check(src, "/", &[("Cookie", "x=ok; SID=bad")], b"", Some(2));
}

#[test]
fn request_line_parts_and_file_name_have_their_own_groups() {
    // The request line, URI, query string and method share one automaton,
    // the file name another: each must still find its own rules' literals.
    let src = "SecRule REQUEST_LINE|QUERY_STRING \"@rx evilline\" \"id:1,phase:1,deny\"\n\
               SecRule REQUEST_FILENAME \"@rx /evilfile\" \"id:2,phase:1,t:none,t:lowercase,deny\"\n\
               SecRule ARGS \"@rx evilarg\" \"id:3,phase:1,deny\"\n\
               SecRule REQUEST_METHOD \"@rx ^get$\" \"id:4,phase:1,t:none,t:lowercase,pass,nolog,setvar:tx.m=1\"\n\
               SecRule REQUEST_URI \"@rx evilar\" \"id:5,phase:1,chain,deny\"\n\
               SecRule TX:m \"@eq 1\"\n";
    check(src, "/?a=evilline", &[], b"", Some(1));
    check(src, "/?a=EvilLine", &[], b"", None);
    check(src, "/EVILFILE?x=1", &[], b"", Some(2));
    check(src, "/x?a=/evilfile", &[], b"", None);
    check(src, "/x?a=evilarg", &[], b"", Some(3));
    check(src, "/evilar", &[], b"", Some(5));
    check(src, "/calm", &[], b"", None);
}

#[test]
fn values_seen_by_earlier_transactions_give_the_same_verdicts() {
    // The phase-wide scan of a value is remembered across transactions (per
    // ruleset): a value's second sight must rule in and out exactly what its
    // first did, under every transformation chain, and the same bytes in
    // another variable or group must not borrow its result.
    let src = "SecRule REQUEST_HEADERS:User-Agent \"@rx nikto\" \"id:11,phase:1,t:none,t:lowercase,deny\"\n\
               SecRule ARGS \"@rx <script\" \"id:12,phase:1,t:none,t:urlDecodeUni,t:lowercase,deny\"\n\
               SecRule REQUEST_COOKIES \"@rx union select\" \"id:13,phase:1,t:none,t:urlDecodeUni,deny\"\n\
               SecRule REQUEST_HEADERS \"@rx zzz\" \"id:14,phase:1,t:none,t:urlDecodeUni,deny\"\n";
    for prefilter in [true, false] {
        let rs = load(src, prefilter);
        for _ in 0..3 {
            assert_eq!(run(&rs, "/", &[("User-Agent", "Nikto/2.1")], b""), Some(11));
            assert_eq!(run(&rs, "/", &[("User-Agent", "curl/8.0")], b""), None);
            assert_eq!(run(&rs, "/?q=%3CSCRIPT%3E", &[], b""), Some(12));
            assert_eq!(run(&rs, "/?q=hello", &[], b""), None);
            // The cookie's payload as a header (scanned by rule 14 under the
            // same chain, in the header group): no verdict, and its scan must
            // not stand in for the cookie's.
            assert_eq!(run(&rs, "/", &[("X-Note", "union%20select")], b""), None);
            assert_eq!(
                run(&rs, "/", &[("Cookie", "c=union%20select")], b""),
                Some(13)
            );
            // The argument's value as a header: rule 12 reads ARGS only.
            assert_eq!(run(&rs, "/", &[("X-Q", "%3CSCRIPT%3E")], b""), None);
        }
    }
}
