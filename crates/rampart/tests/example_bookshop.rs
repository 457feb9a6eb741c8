//! examples/bookshop, end to end: the example's own rampart.yaml and loose
//! openapi.yaml (only the addresses changed, to free ports), the real binary, and
//! the example's naive upstream (upstream.py, run with python3). For each override:
//! the attack works against the upstream directly, Rampart refuses it, and the
//! legitimate request passes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::json;
use support::*;

fn example() -> PathBuf {
    workspace().join("examples/bookshop")
}

#[test]
fn the_example_config_passes_rampart_check() {
    let config = example().join("rampart.yaml");
    let out = Command::new(&*RAMPART)
        .args(["check", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The example's config with its three addresses moved to free ports; each must
/// be there exactly once, so the test breaks if the example changes shape.
fn config_on(gateway: u16, admin: u16, upstream: u16) -> String {
    let mut text = std::fs::read_to_string(example().join("rampart.yaml")).unwrap();
    for (from, to) in [
        ("bind: 127.0.0.1:8080", format!("bind: 127.0.0.1:{gateway}")),
        ("bind: 127.0.0.1:9901", format!("bind: 127.0.0.1:{admin}")),
        (
            "url: http://127.0.0.1:8081",
            format!("url: http://127.0.0.1:{upstream}"),
        ),
    ] {
        assert_eq!(text.matches(from).count(), 1, "{from}");
        text = text.replace(from, &to);
    }
    text
}

fn start_upstream(dir: &std::path::Path, port: u16) -> Proc {
    let stderr = dir.join("upstream.stderr");
    let child = Command::new("python3")
        .arg(example().join("upstream.py"))
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("python3 runs the example's upstream");
    let proc = Proc { child, stderr };
    wait_for(port, "/v2/books/1", &proc);
    proc
}

fn account(extra: serde_json::Value) -> String {
    let mut body = json!({
        "username": "eve_1",
        "email": "eve@example.com",
        "password": "a long enough password",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body.to_string()
}

/// The `errors` of a 400 validation problem as (in, pointer, rule).
fn failures(resp: &Resp) -> Vec<(String, String, String)> {
    assert_eq!(resp.status, 400, "{}", resp.body);
    resp.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("in"), s("pointer"), s("rule"))
        })
        .collect()
}

fn has(resp: &Resp, place: &str, pointer: &str, rule: &str) -> bool {
    failures(resp)
        .iter()
        .any(|(i, p, r)| i == place && p == pointer && r == rule)
}

#[test]
fn bookshop_overrides_refuse_attacks_and_pass_legitimate_requests() {
    let dir = temp_dir("bookshop");
    let (gateway, admin, up) = (free_port(), free_port(), free_port());
    let _upstream = start_upstream(&dir, up);
    std::fs::copy(example().join("openapi.yaml"), dir.join("openapi.yaml")).unwrap();
    let config = dir.join("rampart.yaml");
    std::fs::write(&config, config_on(gateway, admin, up)).unwrap();
    let rampart = serve(&dir, &config, gateway, "/v2/books/1");
    let g = |req: Req| send(gateway, &req);
    let direct = |req: Req| send(up, &req);

    // The upstream really is naive: every attack below works against it directly.
    let r = direct(Req::post_json(
        "/v2/accounts",
        &account(json!({"username": "mallory", "is_admin": true})),
    ));
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["is_admin"], true);
    assert!(r.json().get("password_hash").is_some());
    let r = direct(Req::get("/v2/orders/9"));
    assert_eq!(r.status, 500);
    assert!(r.body.contains("Traceback") && r.body.contains("hunter2"));
    assert_eq!(direct(Req::get("/v2/admin/export")).status, 200);
    let unknown = direct(Req::post_json(
        "/v2/login",
        r#"{"username":"bob","password":"x"}"#,
    ));
    let wrong = direct(Req::post_json(
        "/v2/login",
        r#"{"username":"alice","password":"x"}"#,
    ));
    assert_ne!(unknown.body, wrong.body, "the upstream tells users apart");

    // Inventory: an undocumented route never reaches the upstream.
    let r = g(Req::get("/v2/admin/export"));
    assert_eq!((r.status, r.slug().as_str()), (404, "route-not-declared"));

    // (1) strict_query: unknown query parameters refused; declared ones pass.
    let r = g(Req::get("/v2/books?limit=2&debug=1"));
    assert!(has(&r, "query", "/debug", "undeclared"), "{}", r.body);
    let r = g(Req::get("/v2/books?limit=2&q=a"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json().as_array().unwrap().len(), 2);

    // (5) parameters: `limit` bounded, `q` short.
    assert!(has(
        &g(Req::get("/v2/books?limit=1000")),
        "query",
        "/limit",
        "maximum"
    ));
    assert!(has(
        &g(Req::get("/v2/books?limit=0")),
        "query",
        "/limit",
        "minimum"
    ));
    let long_q = format!("/v2/books?q={}", "a".repeat(65));
    assert!(has(&g(Req::get(&long_q)), "query", "/q", "maxLength"));
    let r = g(Req::get(&format!(
        "/v2/books?limit=100&q={}",
        "a".repeat(64)
    )));
    assert_eq!(r.status, 200, "{}", r.body);

    // (2) undeclared members refused although the spec forgot additionalProperties.
    let r = g(Req::post_json(
        "/v2/accounts",
        &account(json!({"credit": 1000})),
    ));
    assert!(has(&r, "body", "/credit", "undeclared"), "{}", r.body);
    // (3) the forgotten admin field: declared by the spec, refused by Rampart.
    let r = g(Req::post_json(
        "/v2/accounts",
        &account(json!({"is_admin": true})),
    ));
    assert!(has(&r, "body", "/is_admin", "forbidden"), "{}", r.body);
    // (6) request_schema: the formats and lengths the spec forgot.
    let r = g(Req::post_json(
        "/v2/accounts",
        &account(json!({"email": "not-an-email"})),
    ));
    assert!(has(&r, "body", "/email", "format"), "{}", r.body);
    let r = g(Req::post_json(
        "/v2/accounts",
        &account(json!({"email": format!("{}@example.com", "e".repeat(250))})),
    ));
    assert!(has(&r, "body", "/email", "maxLength"), "{}", r.body);
    let r = g(Req::post_json(
        "/v2/accounts",
        &account(json!({"username": "Eve!"})),
    ));
    assert!(has(&r, "body", "/username", "pattern"), "{}", r.body);
    let r = g(Req::post_json(
        "/v2/accounts",
        r#"{"username":"eve_1","email":"eve@example.com"}"#,
    ));
    assert!(has(&r, "body", "/password", "required"), "{}", r.body);
    // Failures never echo the offending value.
    assert!(!r.body.contains("eve@example.com"));
    // (4) limits, enforced while parsing.
    let deep = format!("{}1{}", "[".repeat(9), "]".repeat(9));
    let r = g(Req::post_json(
        "/v2/accounts",
        &account(json!({"extra": serde_json::from_str::<serde_json::Value>(&deep).unwrap()})),
    ));
    assert!(has(&r, "body", "", "max-depth"), "{}", r.body);
    let r = g(Req::post_json(
        "/v2/accounts",
        &account(json!({"password": "p".repeat(17_000)})),
    ));
    assert_eq!(r.status, 413, "{}", r.body);
    // The legitimate account is created; the answer carries no hash.
    let r = g(Req::post_json("/v2/accounts", &account(json!({}))));
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    assert_eq!(created["username"], "eve_1");
    assert_eq!(created["is_admin"], false);
    assert!(created.get("password_hash").is_none(), "{created}");

    // Responses: undeclared and sensitive members removed, declared ones kept.
    let r = g(Req::get("/v2/accounts/1"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"id": 1, "username": "alice", "email": "alice@example.com", "is_admin": false})
    );
    let r = g(Req::get("/v2/books/1"));
    assert!(r.json().get("internal_cost").is_none() && r.json()["title"].is_string());
    assert!(r.header("x-powered-by").is_none());
    let r = g(Req::get("/v2/orders/1"));
    assert_eq!(r.json(), json!({"id": 1, "book_id": 2, "quantity": 1}));
    // The stack trace (and the database password in it) never reaches the client.
    let r = g(Req::get("/v2/orders/9"));
    assert_eq!((r.status, r.slug().as_str()), (502, "upstream-error"));
    assert!(!r.body.contains("Traceback") && !r.body.contains("hunter2"));

    // (8) v1: deprecated with a sunset and a link; past its sunset, 410.
    let r = g(Req::get("/v1/books/1"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("deprecation"), Some("@1767225600"));
    assert_eq!(r.header("sunset"), Some("Tue, 01 Jan 2030 00:00:00 GMT"));
    assert!(r.header("link").unwrap().contains("v1-deprecation"));
    assert!(g(Req::get("/v2/books/1")).header("deprecation").is_none());
    let r = g(Req::post_json(
        "/v1/orders",
        r#"{"book_id":1,"quantity":1}"#,
    ));
    assert_eq!((r.status, r.slug().as_str()), (410, "operation-sunset"));

    // (7) one answer for every failed login: no user enumeration.
    let unknown = g(Req::post_json(
        "/v2/login",
        r#"{"username":"bob","password":"x"}"#,
    ));
    let wrong = g(Req::post_json(
        "/v2/login",
        r#"{"username":"alice","password":"x"}"#,
    ));
    let malformed = g(Req::post_json("/v2/login", r#"{"username":7}"#));
    for r in [&unknown, &wrong, &malformed] {
        assert_eq!(
            (r.status, r.slug().as_str()),
            (401, "authentication-failed")
        );
    }
    let strip_id = |r: &Resp| {
        let mut v = r.json();
        v.as_object_mut().unwrap().remove("request_id");
        v
    };
    assert_eq!(strip_id(&unknown), strip_id(&wrong));
    let ok = g(Req::post_json(
        "/v2/login",
        r#"{"username":"alice","password":"correct horse battery staple"}"#,
    ));
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.json()["token"].as_str().unwrap().starts_with("tok_"));

    // (9) the lock-out: the third failed login (the malformed one was refused by
    // Rampart before the upstream, and is not a failed login) locks this client.
    let r = g(Req::post_json(
        "/v2/login",
        r#"{"username":"carol","password":"x"}"#,
    ));
    assert_eq!(r.status, 401);
    let r = g(Req::post_json(
        "/v2/login",
        r#"{"username":"alice","password":"correct horse battery staple"}"#,
    ));
    assert_eq!((r.status, r.slug().as_str()), (429, "locked-out"));
    assert!(r.header("retry-after").is_some());
    assert_eq!(g(Req::get("/v2/books/1")).status, 429);
    drop(rampart);
}
