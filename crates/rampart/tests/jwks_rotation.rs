//! `rampart serve` keeps remote JWKS fresh on a schedule (the background
//! refresher the binary spawns), not only when a token names an unknown `kid`:
//! with no traffic at all the JWKS endpoint is polled; after the identity
//! provider rotates its key, a token signed with the new key passes without a
//! fetch on the request path, and one signed with the retired key is refused.
//! A reload keeps the loaded keys while the identity provider is down, and a
//! provider that was down at start-up is seen within seconds once it is back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rampart_adapters::DevIssuer;
use serde_json::json;
use support::{Req, free_port, send, serve, temp_dir};

/// A JWKS endpoint serving the current document and counting fetches.
struct Jwks {
    port: u16,
    document: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    /// While set, the JWKS answers 503 (the identity provider is down).
    down: Arc<AtomicBool>,
}

impl Jwks {
    fn start(document: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let document = Arc::new(Mutex::new(document));
        let fetches = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let (doc, count, is_down) = (document.clone(), fetches.clone(), down.clone());
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let is_jwks = buf[..n].starts_with(b"GET /jwks.json");
                let answer = if is_jwks && is_down.load(Ordering::SeqCst) {
                    count.fetch_add(1, Ordering::SeqCst);
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_string()
                } else if is_jwks {
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = doc.lock().unwrap().clone();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    // The upstream API.
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                        .to_string()
                };
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        Self {
            port,
            document,
            fetches,
            down,
        }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until the endpoint has been fetched more than `count` times.
    fn wait_beyond(&self, count: usize) -> bool {
        let started = Instant::now();
        while self.fetches() <= count {
            if started.elapsed() > Duration::from_secs(10) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }
}

fn token(issuer: &DevIssuer) -> String {
    issuer
        .sign(&json!({"iss": "https://idp.test", "aud": "api", "sub": "svc", "exp": 4_102_444_800u64}))
        .unwrap()
}

fn status(port: u16, token: &str) -> u16 {
    let value = format!("Bearer {token}");
    send(port, &Req::get("/items").header("Authorization", &value)).status
}

/// Polls (bounded, generously) until `check` holds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < Duration::from_secs(15), "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A configuration with API `a` behind JWTs of `https://idp.test` (default
/// JWKS timings: a 30 s minimum refetch interval), and `more` after it.
fn jwt_config(gateway: u16, admin: u16, jwks: &Jwks, more: &str) -> String {
    [
        "listeners:".to_string(),
        format!("  - bind: 127.0.0.1:{gateway}"),
        "admin:".into(),
        format!("  bind: 127.0.0.1:{admin}"),
        "audit:".into(),
        "  sinks: [{file: {path: audit.jsonl}}]".into(),
        "apis:".into(),
        "  - name: a".into(),
        "    path_prefix: /".into(),
        format!("    upstream: {{url: \"http://127.0.0.1:{}\"}}", jwks.port),
        "    authn:".into(),
        "      jwt:".into(),
        "        issuers:".into(),
        format!(
            "          - {{issuer: \"https://idp.test\", audiences: [api], algorithms: [EdDSA], \
             jwks_url: \"http://127.0.0.1:{}/jwks.json\"}}",
            jwks.port
        ),
        more.to_string(),
    ]
    .join("\n")
}

#[test]
fn a_reload_while_the_identity_provider_is_down_keeps_the_keys() {
    rampart_authn::install_crypto_provider();
    let issuer = DevIssuer::generate("k1").unwrap();
    let jwks = Jwks::start(DevIssuer::jwks(&[&issuer]));
    let dir = temp_dir("jwks-reload");
    let (gateway, admin) = (free_port(), free_port());
    let path = dir.join("rampart.yaml");
    std::fs::write(&path, jwt_config(gateway, admin, &jwks, "")).unwrap();
    let rampart = serve(&dir, &path, gateway, "/items");
    let token = token(&issuer);
    eventually("keys never loaded", || status(gateway, &token) == 200);

    // The identity provider goes down; a reload (another API added) follows.
    jwks.set_down(true);
    let more = format!(
        "  - name: b\n    path_prefix: /reloaded\n    upstream: {{url: \"http://127.0.0.1:{}\"}}\n",
        jwks.port
    );
    std::fs::write(&path, jwt_config(gateway, admin, &jwks, &more)).unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &rampart.child.id().to_string()])
        .status()
        .unwrap();
    eventually("reload not applied", || {
        send(gateway, &Req::get("/reloaded")).status == 200
    });
    // The reloaded configuration verifies with the keys loaded before.
    assert_eq!(status(gateway, &token), 200, "{}", rampart.stderr());
}

#[test]
fn an_identity_provider_down_at_start_is_seen_within_seconds_once_back() {
    rampart_authn::install_crypto_provider();
    let issuer = DevIssuer::generate("k1").unwrap();
    let jwks = Jwks::start(DevIssuer::jwks(&[&issuer]));
    jwks.set_down(true);
    let dir = temp_dir("jwks-down-at-start");
    let (gateway, admin) = (free_port(), free_port());
    let path = dir.join("rampart.yaml");
    std::fs::write(&path, jwt_config(gateway, admin, &jwks, "")).unwrap();
    let rampart = serve(&dir, &path, gateway, "/items");
    let token = token(&issuer);
    assert!(jwks.wait_beyond(0), "no fetch at start");
    // An outage on our side: 503, not a 401 telling the client its token is bad.
    let answer = send(
        gateway,
        &Req::get("/items").header("Authorization", &format!("Bearer {token}")),
    );
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.slug(), "authn-unavailable");
    // Back after a second or two: tokens pass long before the 30 s minimum
    // refetch interval (the deadline is 15 s).
    std::thread::sleep(Duration::from_millis(1_500));
    jwks.set_down(false);
    eventually("keys not loaded once the provider was back", || {
        status(gateway, &token) == 200
    });
    drop(rampart);
}

#[test]
fn keys_are_refreshed_on_schedule_and_rotation_needs_no_request() {
    rampart_authn::install_crypto_provider();
    let old = DevIssuer::generate("old").unwrap();
    let new = DevIssuer::generate("new").unwrap();
    let jwks = Jwks::start(DevIssuer::jwks(&[&old]));
    let dir = temp_dir("jwks-rotation");
    let (gateway, admin) = (free_port(), free_port());
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
        format!("    upstream: {{url: \"http://127.0.0.1:{}\"}}", jwks.port),
        "    authn:".into(),
        "      jwt:".into(),
        "        issuers:".into(),
        format!(
            "          - {{issuer: \"https://idp.test\", audiences: [api], algorithms: [EdDSA], \
             jwks_url: \"http://127.0.0.1:{}/jwks.json\", jwks_refresh_seconds: 1, jwks_min_refetch_seconds: 1}}",
            jwks.port
        ),
        String::new(),
    ]
    .join("\n");
    let path = dir.join("rampart.yaml");
    std::fs::write(&path, config).unwrap();
    let _rampart = serve(&dir, &path, gateway, "/items");

    // Keys arrive and are renewed with no traffic at all.
    assert!(jwks.wait_beyond(1), "the JWKS endpoint was not polled");
    assert_eq!(status(gateway, &token(&old)), 200);
    assert_eq!(status(gateway, &token(&new)), 401, "unknown key refused");

    // The provider rotates: the new key replaces the old one.
    *jwks.document.lock().unwrap() = DevIssuer::jwks(&[&new]);
    let after_rotation = jwks.fetches();
    assert!(
        jwks.wait_beyond(after_rotation + 1),
        "no scheduled refresh after rotation"
    );
    // The refresher already holds the new key: the request needs no fetch.
    let before = jwks.fetches();
    assert_eq!(status(gateway, &token(&new)), 200);
    assert!(jwks.fetches() <= before + 1);
    // The retired key no longer verifies.
    assert_eq!(status(gateway, &token(&old)), 401);
}
