//! The admin API's `/revocations` never exists without a configured
//! `identity.admin_token`: whatever the caller sends, 404 and nothing revoked;
//! the admin listener's own endpoints keep working. With a token, refused
//! tokens and revocations leave a trace (log, metric) that never holds a token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{Req, free_port, send, serve, temp_dir};

#[test]
fn without_an_admin_token_revocations_are_not_found() {
    let dir = temp_dir("admin-no-token");
    let (gateway, admin, upstream) = (free_port(), free_port(), free_port());
    let config = [
        "listeners:".to_string(),
        format!("  - bind: 127.0.0.1:{gateway}"),
        "admin:".into(),
        format!("  bind: 127.0.0.1:{admin}"),
        "audit:".into(),
        "  sinks: [{file: {path: audit.jsonl}}]".into(),
        "apis:".into(),
        "  - name: a".into(),
        "    path_prefix: /".into(),
        format!("    upstream: {{url: \"http://127.0.0.1:{upstream}\"}}"),
        String::new(),
    ]
    .join("\n");
    let path = dir.join("rampart.yaml");
    std::fs::write(&path, config).unwrap();
    let _rampart = serve(&dir, &path, admin, "/healthz");
    let body = r#"{"kind":"jti","id":"t1"}"#;
    for auth in [None, Some("Bearer anything"), Some("Bearer ")] {
        let mut post = Req::post_json("/revocations", body);
        let mut get = Req::get("/revocations");
        if let Some(value) = auth {
            post = post.header("Authorization", value);
            get = get.header("Authorization", value);
        }
        assert_eq!(send(admin, &post).status, 404, "{auth:?}");
        assert_eq!(send(admin, &get).status, 404, "{auth:?}");
    }
    assert_eq!(send(admin, &Req::get("/healthz")).status, 200);
    // A 405 says which methods the resource takes (RFC 9110 15.5.6).
    for path in ["/healthz", "/readyz", "/metrics"] {
        let answer = send(admin, &Req::post_json(path, "{}"));
        assert_eq!(answer.status, 405, "{path}");
        assert_eq!(answer.header("allow"), Some("GET, HEAD"), "{path}");
    }
    // A path that is not there is not there, whatever the method.
    assert_eq!(send(admin, &Req::post_json("/nope", "{}")).status, 404);
    assert_eq!(send(admin, &Req::get("/nope")).status, 404);
}

#[test]
fn a_405_of_the_revocations_endpoint_says_which_methods_it_takes() {
    let dir = temp_dir("admin-allow");
    std::fs::write(dir.join("admin-token"), "admin-allow-token-0123456789").unwrap();
    let (gateway, admin, upstream) = (free_port(), free_port(), free_port());
    let config = format!(
        "listeners:\n  - bind: 127.0.0.1:{gateway}\nadmin:\n  bind: 127.0.0.1:{admin}\nidentity:\n  admin_token: \"file:admin-token\"\naudit:\n  sinks: [{{file: {{path: audit.jsonl}}}}]\napis:\n  - name: a\n    upstream: {{url: \"http://127.0.0.1:{upstream}\"}}\n"
    );
    let path = dir.join("rampart.yaml");
    std::fs::write(&path, config).unwrap();
    let _rampart = serve(&dir, &path, admin, "/healthz");
    let delete = Req {
        method: "DELETE".into(),
        ..Req::get("/revocations")
    }
    .header("Authorization", "Bearer admin-allow-token-0123456789");
    let answer = send(admin, &delete);
    assert_eq!(answer.status, 405, "{}", answer.body);
    assert_eq!(answer.header("allow"), Some("GET, HEAD, POST"));
}

#[test]
fn an_admin_body_that_does_not_arrive_gets_408() {
    use std::io::{Read, Write};
    let dir = temp_dir("admin-body-timeout");
    let (gateway, admin, upstream) = (free_port(), free_port(), free_port());
    let config = format!(
        "listeners:\n  - bind: 127.0.0.1:{gateway}\nadmin:\n  bind: 127.0.0.1:{admin}\nlimits: {{body_read_timeout: 300ms}}\naudit:\n  sinks: [{{file: {{path: audit.jsonl}}}}]\napis:\n  - name: a\n    upstream: {{url: \"http://127.0.0.1:{upstream}\"}}\n"
    );
    let path = dir.join("rampart.yaml");
    std::fs::write(&path, config).unwrap();
    let _rampart = serve(&dir, &path, admin, "/healthz");
    // A declared body of 100 bytes, 10 sent: the read is bounded in time.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", admin)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"POST /revocations HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"kind\": \"")
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 408");
}

#[test]
fn refused_admin_tokens_are_counted_and_logged_and_revocations_logged() {
    const TOKEN: &str = "admin-trace-token-0123456789";
    const WRONG: &str = "admin-trace-token-0123456789-typo";
    let dir = temp_dir("admin-trace");
    std::fs::write(dir.join("admin-token"), TOKEN).unwrap();
    let (gateway, admin, upstream) = (free_port(), free_port(), free_port());
    let config = format!(
        "listeners:\n  - bind: 127.0.0.1:{gateway}\nadmin:\n  bind: 127.0.0.1:{admin}\nidentity:\n  admin_token: \"file:admin-token\"\naudit:\n  sinks: [{{file: {{path: audit.jsonl}}}}]\napis:\n  - name: a\n    upstream: {{url: \"http://127.0.0.1:{upstream}\"}}\n"
    );
    let path = dir.join("rampart.yaml");
    std::fs::write(&path, config).unwrap();
    let rampart = serve(&dir, &path, admin, "/healthz");
    let body = r#"{"kind":"jti","id":"tok-traced"}"#;
    let wrong =
        Req::post_json("/revocations", body).header("Authorization", &format!("Bearer {WRONG}"));
    assert_eq!(send(admin, &wrong).status, 401);
    assert_eq!(send(admin, &Req::get("/revocations")).status, 401);
    assert_eq!(send(admin, &Req::get("/revocations")).status, 401);
    // Each refusal counted, but a line a minute at most in the log.
    let metrics = send(admin, &Req::get("/metrics")).body;
    assert!(
        metrics
            .lines()
            .any(|l| l == "rampart_admin_auth_failures_total 3"),
        "{metrics}"
    );
    let right =
        Req::post_json("/revocations", body).header("Authorization", &format!("Bearer {TOKEN}"));
    assert_eq!(send(admin, &right).status, 201);

    let mut logs = String::new();
    for _ in 0..50 {
        logs = rampart.stderr();
        if logs.contains("credential revoked through the admin API") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let refused: Vec<_> = lines
        .iter()
        .filter(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("refused: missing or wrong bearer token"))
        })
        .collect();
    assert_eq!(refused.len(), 1, "{logs}");
    for line in &refused {
        assert_eq!(line["level"], "WARN", "{line}");
        assert!(
            line["fields"]["peer"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:"),
            "{line}"
        );
    }
    let revoked = lines
        .iter()
        .find(|l| l["fields"]["message"] == "credential revoked through the admin API")
        .unwrap_or_else(|| panic!("no revocation logged: {logs}"));
    assert_eq!(revoked["level"], "INFO");
    assert_eq!(revoked["fields"]["kind"], "jti");
    assert_eq!(revoked["fields"]["id"], "tok-traced");
    assert!(
        revoked["fields"]["peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    // Neither the token nor the wrong one presented reaches the log.
    assert!(!logs.contains("admin-trace-token"), "{logs}");
}
