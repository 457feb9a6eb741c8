//! The audit record: one JSON line per request with the fixed fields, and no
//! secret ever reaches it.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;

use crate::support::*;

const SECRET: &str = "S3CRET-c0ffee-do-not-log";

#[tokio::test]
async fn every_request_gets_one_record_with_the_contract_fields() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let request = Request::post(gw.url("/orders?page=2"))
        .header("x-request-id", "audit-1")
        .body(Full::new(Bytes::from_static(b"12345")))
        .unwrap();
    let (status, _, body) = send(request).await;
    assert_eq!(status, StatusCode::OK);
    get(&gw.url("/../../nowhere%zz?token=t0k&page=1")).await;
    let records = gw.audit_records(2).await;
    let record = records
        .iter()
        .find(|r| r["request_id"] == "audit-1")
        .unwrap();
    for field in [
        "ts",
        "request_id",
        "client_ip",
        "method",
        "host",
        "path",
        "query",
        "route",
        "status",
        "bytes_in",
        "bytes_out",
        "duration_ms",
        "upstream_ms",
        "decision",
        "reason",
        "identity",
        "waf",
    ] {
        assert!(record.get(field).is_some(), "missing {field} in {record}");
    }
    assert!(record["ts"].as_str().unwrap().ends_with('Z'));
    assert_eq!(record["method"], "POST");
    assert_eq!(record["path"], "/orders");
    assert_eq!(record["query"], "page=2");
    assert_eq!(record["status"], 200);
    assert_eq!(record["bytes_in"], 5);
    assert_eq!(record["bytes_out"], body.len());
    assert_eq!(record["decision"], "allow");
    assert!(record["identity"].is_null());
    assert_eq!(record["waf"]["matched_rules"], serde_json::json!([]));
    assert_eq!(record["waf"]["anomaly_score"], 0);
    assert!(record["upstream_ms"].as_f64().unwrap() <= record["duration_ms"].as_f64().unwrap());
    let refused = records
        .iter()
        .find(|r| r["request_id"] != "audit-1")
        .unwrap();
    assert_eq!(refused["decision"], "deny");
    assert_eq!(refused["status"], 400);
    assert_eq!(refused["reason"], "malformed-request");
    // Refused before routing: recorded with the target as it came, redacted.
    assert_eq!(refused["path"], "/../../nowhere%zz");
    assert_eq!(refused["query"], "token=REDACTED&page=1");
}

#[tokio::test]
async fn secrets_planted_everywhere_never_reach_a_log() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "  redact_params: [ssn]", "")).await;
    let query = format!(
        "/login?user=bob&password={SECRET}&api_key={SECRET}&access_token={SECRET}&client_secret={SECRET}&ssn={SECRET}&Pass%77ord={SECRET}"
    );
    let request = Request::post(gw.url(&query))
        .header("authorization", format!("Bearer {SECRET}"))
        .header("cookie", format!("session={SECRET}"))
        .header("x-api-key", SECRET)
        .header("proxy-authorization", format!("Basic {SECRET}"))
        .body(Full::new(Bytes::from(format!(
            r#"{{"password":"{SECRET}"}}"#
        ))))
        .unwrap();
    let (status, headers, _) = send(request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("set-cookie").is_some());
    // A refused request carrying the secret too.
    let refused = Request::get(gw.url(&format!("/%zz?token={SECRET}")))
        .header("authorization", format!("Bearer {SECRET}"))
        .body(Full::default())
        .unwrap();
    send(refused).await;
    let records = gw.audit_records(2).await;
    let record = records.iter().find(|r| r["path"] == "/login").unwrap();
    assert!(record["query"].as_str().unwrap().contains("user=bob"));
    assert!(
        record["query"]
            .as_str()
            .unwrap()
            .contains("password=REDACTED")
    );
    gw.stop_and_scan_logs(SECRET).await;
}

impl Running {
    /// Stops the gateway (flushing the audit log) and scans every file it wrote.
    async fn stop_and_scan_logs(self, secret: &str) {
        let dir = self.dir.clone();
        self.stop().await;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(!text.contains(secret), "secret found in {}", path.display());
        }
    }
}

/// Sends raw request heads the gateway refuses before it parses them, then
/// returns the gateway's records.
async fn refused_raw(gw: &Running, heads: &[String]) -> Vec<serde_json::Value> {
    for head in heads {
        let response = raw(gw.addr, head.as_bytes(), std::time::Duration::from_secs(2)).await;
        assert_eq!(status_of(&response), 400, "{head}");
    }
    gw.audit_records(heads.len()).await
}

#[tokio::test]
async fn a_fragment_in_a_refused_target_never_reaches_the_log() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let heads = [
        format!(
            "GET /cb?state=x#access_token={SECRET} HTTP/1.1\r\nHost: a\r\nX-Request-Id: frag-1\r\n\r\n"
        ),
        format!(
            "GET /cb#access_token={SECRET} HTTP/1.1\r\nHost: a\r\nX-Request-Id: frag-2\r\n\r\n"
        ),
    ];
    let records = refused_raw(&gw, &heads).await;
    let by_id = |id: &str| records.iter().find(|r| r["request_id"] == id).unwrap();
    assert_eq!(by_id("frag-1")["path"], "/cb");
    assert_eq!(by_id("frag-1")["query"], "state=x");
    assert_eq!(by_id("frag-2")["path"], "/cb");
    assert!(by_id("frag-2")["query"].is_null());
    gw.stop_and_scan_logs(SECRET).await;
}

#[tokio::test]
async fn user_information_in_a_refused_host_never_reaches_the_log() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    // A bad Content-Length: refused before the head is handed on.
    let heads = [format!(
        "POST /x HTTP/1.1\r\nHost: alice:{SECRET}@api.example.com\r\nContent-Length: 1x\r\nX-Request-Id: host-1\r\n\r\n"
    )];
    let records = refused_raw(&gw, &heads).await;
    let record = records
        .iter()
        .find(|r| r["request_id"] == "host-1")
        .unwrap();
    assert_eq!(record["host"], "api.example.com");
    gw.stop_and_scan_logs(SECRET).await;
}

#[tokio::test]
async fn every_api_key_query_parameter_is_redacted_even_when_the_name_looks_harmless() {
    let upstream = Upstream::start().await;
    // Two APIs, each taking its key in a parameter no built-in rule names.
    let gw = start(&format!(
        "listeners:\n  - bind: 127.0.0.1:0\nadmin: {{bind: 127.0.0.1:0}}\naudit: {{sinks: [{{file: {{path: audit.jsonl}}}}]}}\napis:\n  - name: a\n    path_prefix: /a\n    upstream: {{url: http://{0}}}\n    authn: {{api_key: {{query_param: k, pepper: env:RAMPART_TEST_PEPPER}}}}\n  - name: b\n    path_prefix: /b\n    upstream: {{url: http://{0}}}\n    authn: {{api_key: {{query_param: Ak, pepper: env:RAMPART_TEST_PEPPER}}}}\n",
        upstream.addr
    ))
    .await;
    let key = format!("rk_ab_{SECRET}");
    // No stages here (authentication is the binary's): the requests are
    // forwarded or refused by the gateway itself, and each is recorded.
    get(&gw.url(&format!("/a/x?page=1&k={key}"))).await;
    get(&gw.url(&format!("/b/x?ak={key}"))).await;
    get(&gw.url(&format!("/a/%zz?k={key}"))).await;
    let refused = [format!(
        "GET /a/x?k={key} HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n"
    )];
    refused_raw(&gw, &refused).await;
    let records = gw.audit_records(4).await;
    let queries: Vec<&str> = records.iter().filter_map(|r| r["query"].as_str()).collect();
    assert!(queries.contains(&"page=1&k=REDACTED"), "{queries:?}");
    assert!(queries.contains(&"ak=REDACTED"), "{queries:?}");
    gw.stop_and_scan_logs(SECRET).await;
}

#[tokio::test]
async fn session_ids_in_path_parameters_are_redacted_in_the_log_only() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let (status, _, _) = get(&gw.url(&format!("/app/cart;jsessionid={SECRET};v=2?page=1"))).await;
    assert_eq!(status, StatusCode::OK);
    // Forwarded as it came: the upstream needs its session id.
    assert_eq!(
        upstream.last().path_and_query,
        format!("/app/cart;jsessionid={SECRET};v=2?page=1")
    );
    // Refused before routing, and refused by the HTTP/1 checks.
    get(&gw.url(&format!("/%zz;jsessionid={SECRET}"))).await;
    let refused = [format!(
        "GET /a;sid={SECRET} HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\nX-Request-Id: matrix-3\r\n\r\n"
    )];
    refused_raw(&gw, &refused).await;
    let records = gw.audit_records(3).await;
    let paths: Vec<&str> = records.iter().filter_map(|r| r["path"].as_str()).collect();
    for want in [
        "/app/cart;jsessionid=REDACTED;v=2",
        "/%zz;jsessionid=REDACTED",
        "/a;sid=REDACTED",
    ] {
        assert!(paths.contains(&want), "{want} not in {paths:?}");
    }
    gw.stop_and_scan_logs(SECRET).await;
}
