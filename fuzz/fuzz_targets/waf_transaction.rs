//! A whole transaction on arbitrary request parts against rules that use
//! every kind of variable, transformation chain and operator CRS relies on:
//! never panics. Input: URI, headers and body separated by NUL bytes.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use rampart_waf::{Ruleset, RulesetBuilder, Transaction};

const RULES: &str = r#"
SecRuleEngine On
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "@rx json" "id:1,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "@rx xml" "id:2,phase:1,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule ARGS|ARGS_NAMES|REQUEST_COOKIES|REQUEST_HEADERS|XML:/*|XML://@* "@rx (?i)(union\s+select|<script)" "id:10,phase:2,block,capture,t:none,t:urlDecodeUni,t:htmlEntityDecode,t:jsDecode,t:cssDecode,t:lowercase,setvar:tx.score=+5,setvar:'tx.%{rule.id}-%{MATCHED_VAR_NAME}=%{tx.0}'"
SecRule ARGS "@detectSQLi" "id:11,phase:2,block,t:none,t:utf8toUnicode,t:urlDecodeUni,t:removeNulls,setvar:tx.score=+5"
SecRule ARGS "@detectXSS" "id:12,phase:2,block,t:none,t:utf8toUnicode,t:urlDecodeUni,t:htmlEntityDecode,t:jsDecode,t:cssDecode,t:removeNulls,setvar:tx.score=+5"
SecRule REQUEST_FILENAME "@pm .env .git" "id:13,phase:1,block,t:none,t:normalizePathWin,t:cmdLine,multiMatch"
SecRule &ARGS "@gt 50" "id:14,phase:2,block"
SecRule REQUEST_URI "@validateUrlEncoding" "id:15,phase:1,block"
SecRule ARGS "@validateUtf8Encoding" "id:16,phase:2,block"
SecRule REQUEST_BODY "@validateByteRange 1-255" "id:17,phase:2,block"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:18,phase:2,block"
SecRule FILES_NAMES|FILES "@rx \.php" "id:19,phase:2,block"
SecRule REQBODY_ERROR "!@eq 0" "id:20,phase:2,block"
SecRule TX:/^\d+-/ "@rx ." "id:21,phase:2,pass,chain"
  SecRule MATCHED_VARS "@within %{tx.score}" "t:length"
SecRule TX:SCORE "@ge 5" "id:99,phase:2,deny"
"#;

fn rules() -> &'static Arc<Ruleset> {
    static RS: OnceLock<Arc<Ruleset>> = OnceLock::new();
    RS.get_or_init(|| {
        let mut b = RulesetBuilder::new();
        b.load_str(RULES, Path::new("<fuzz-rules>")).expect("fuzz rules load");
        Arc::new(b.build().expect("fuzz rules build"))
    })
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&c| c == 0);
    let uri = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let headers = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let mut tx = Transaction::new(rules().clone());
    tx.set_connection(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, "fuzz");
    tx.set_request_line("POST", &uri, "HTTP/1.1");
    for line in headers.split(|&c| c == b'\n') {
        if let Some(p) = line.iter().position(|&c| c == b':') {
            tx.add_request_header(&String::from_utf8_lossy(&line[..p]), &line[p + 1..]);
        }
    }
    tx.process_request_headers();
    tx.append_request_body(body);
    tx.process_request_body();
    tx.process_logging();
    let _ = tx.matched_rule_ids();
});
