//! The lock-out glue through the binary: failed upstream logins counted per
//! client IP (behind a trusted proxy, from X-Forwarded-For) and per username (read
//! from the login body by the OpenAPI stage), each locking only its own key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::*;

const SPEC: &str = r##"openapi: 3.1.0
info: {title: login, version: "1"}
paths:
  /login:
    post:
      operationId: login
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Credentials"}
          application/x-www-form-urlencoded:
            schema: {$ref: "#/components/schemas/Credentials"}
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Ok"}}}}
        "401": {description: wrong credentials}
  /ok:
    get:
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Ok"}}}}
  /private:
    get:
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Ok"}}}}
        "401": {description: session expired}
components:
  schemas:
    Credentials:
      type: object
      properties:
        username: {type: string}
        password: {type: string}
    Ok:
      type: object
      properties:
        ok: {type: boolean}
"##;

/// Login attempts with the password `slow` that reached the upstream.
static SLOW_GUESSES: AtomicUsize = AtomicUsize::new(0);

/// A login API: POST /login succeeds when the body holds the password `right`,
/// else 401 (after 300 ms for the password `slow`); GET /ok answers 200; GET
/// /private 401 (an expired session).
fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let request_line = line.clone();
                    let mut length = 0usize;
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let body = String::from_utf8_lossy(&body);
                    if body.contains("slow") {
                        // Slow password hashing: the answer takes a while.
                        SLOW_GUESSES.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(300));
                    }
                    let ok = !request_line.starts_with("GET /private")
                        && (!request_line.starts_with("POST /login") || body.contains("right"));
                    let answer: &[u8] = if ok {
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"
                    } else {
                        b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"error\":\"wrong\"}"
                    };
                    if stream.write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

struct Gateway {
    port: u16,
    dir: std::path::PathBuf,
    proc: Proc,
}

fn gateway(name: &str) -> Gateway {
    let dir = temp_dir(name);
    let (port, admin, up) = (free_port(), free_port(), upstream());
    std::fs::write(dir.join("openapi.yaml"), SPEC).unwrap();
    let config = format!(
        "listeners:\n  - bind: 127.0.0.1:{port}\nadmin:\n  bind: 127.0.0.1:{admin}\n\
         # The tests' connections come from 127.0.0.1: a trusted proxy whose\n\
         # X-Forwarded-For names the client.\n\
         trusted_proxies: [127.0.0.1]\n\
         audit:\n  sinks: [{{file: {{path: audit.jsonl}}}}]\n\
         apis:\n  - name: a\n    path_prefix: /\n    upstream: {{url: http://127.0.0.1:{up}}}\n\
         \x20   openapi:\n      spec: openapi.yaml\n      operations:\n\
         \x20       login: {{auth_endpoint: true, username_field: /username}}\n\
         \x20   rate_limit:\n      lockout: {{max_failures: 3, window: 5m, lock_for: 1m}}\n"
    );
    let path = dir.join("rampart.yaml");
    std::fs::write(&path, config).unwrap();
    let proc = serve(&dir, &path, port, "/ok");
    Gateway { port, dir, proc }
}

impl Gateway {
    fn login(&self, client: &str, username: &str, password: &str) -> Resp {
        let body = serde_json::json!({"username": username, "password": password}).to_string();
        send(
            self.port,
            &Req::post_json("/login", &body).header("X-Forwarded-For", client),
        )
    }

    fn get(&self, client: &str) -> Resp {
        self.get_path("/ok", client)
    }

    fn get_path(&self, path: &str, client: &str) -> Resp {
        send(self.port, &Req::get(path).header("X-Forwarded-For", client))
    }
}

#[test]
fn failed_logins_for_one_username_from_many_ips_lock_that_username() {
    let gw = gateway("user-lockout");
    // Credential stuffing: one user, a new IP for every guess.
    for i in 1..=3 {
        let r = gw.login(&format!("203.0.113.{i}"), "victim", "guess");
        assert_eq!(r.status, 401, "{}", r.body);
    }
    // The user is locked, from any IP, even with the right password...
    let r = gw.login("203.0.113.50", "victim", "right");
    assert_eq!((r.status, r.slug().as_str()), (429, "locked-out"));
    assert!(r.header("retry-after").is_some());
    // ...spelt in another case, or in a form body.
    assert_eq!(gw.login("203.0.113.51", " VICTIM", "right").status, 429);
    // Full width with a zero-width space: the same account to the backend.
    assert_eq!(
        gw.login("203.0.113.53", "ｖｉｃ\u{200B}ＴＩＭ", "right")
            .status,
        429
    );
    let form = Req {
        method: "POST".into(),
        target: "/login".into(),
        headers: vec![
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("X-Forwarded-For".into(), "203.0.113.52".into()),
        ],
        body: b"username=Victim&password=right".to_vec(),
    };
    assert_eq!(send(gw.port, &form).status, 429);
    // Another user logs in from the same IPs; the IPs are not locked.
    let r = gw.login("203.0.113.50", "alice", "right");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(gw.login("203.0.113.1", "bob", "right").status, 200);
    assert_eq!(gw.get("203.0.113.1").status, 200);
    // The username never reaches a log in clear.
    let audit = std::fs::read_to_string(gw.dir.join("audit.jsonl")).unwrap_or_default();
    let stderr = gw.proc.stderr();
    assert!(stderr.contains("locked out"), "{stderr}");
    for text in [&audit, &stderr] {
        assert!(!text.to_lowercase().contains("victim"), "{text}");
    }
}

#[test]
fn failed_logins_from_one_ip_behind_a_trusted_proxy_lock_that_ip() {
    let gw = gateway("ip-lockout");
    let attacker = "198.51.100.7";
    // A session that expired: the upstream's 401s outside the login operation
    // are no guesses (`upstream_failures: login_operations`, the default).
    for _ in 0..5 {
        assert_eq!(gw.get_path("/private", attacker).status, 401);
    }
    // Password spraying: one IP, a new username for every guess.
    for user in ["u1", "u2"] {
        assert_eq!(gw.login(attacker, user, "guess").status, 401);
    }
    // Two failures: still served.
    assert_eq!(gw.get(attacker).status, 200);
    assert_eq!(gw.login(attacker, "u3", "guess").status, 401);
    // The third locks the IP out of every route, before any credential is read.
    let r = gw.get(attacker);
    assert_eq!((r.status, r.slug().as_str()), (429, "locked-out"));
    assert_eq!(gw.login(attacker, "u4", "right").status, 429);
    // Other clients behind the same proxy are not affected, nor are the usernames
    // (one failure each).
    assert_eq!(gw.get("198.51.100.8").status, 200);
    assert_eq!(gw.login("198.51.100.8", "u1", "right").status, 200);
}

/// An API behind JWT authentication (keys from a JWKS file) with a lock-out of
/// three failures; its upstream answers 200.
fn jwt_gateway(name: &str, issuer: &rampart_adapters::DevIssuer) -> Gateway {
    let dir = temp_dir(name);
    let (port, admin, up) = (free_port(), free_port(), upstream());
    std::fs::write(
        dir.join("jwks.json"),
        rampart_adapters::DevIssuer::jwks(&[issuer]),
    )
    .unwrap();
    let config = format!(
        "listeners:\n  - bind: 127.0.0.1:{port}\nadmin:\n  bind: 127.0.0.1:{admin}\n\
         trusted_proxies: [127.0.0.1]\n\
         audit:\n  sinks: [{{file: {{path: audit.jsonl}}}}]\n\
         apis:\n  - name: a\n    path_prefix: /\n    upstream: {{url: http://127.0.0.1:{up}}}\n\
         \x20   authn:\n      jwt:\n        issuers:\n\
         \x20         - {{issuer: \"https://idp.test\", audiences: [api], algorithms: [EdDSA], jwks_file: jwks.json}}\n\
         \x20   rate_limit:\n      lockout: {{max_failures: 3, window: 5m, lock_for: 1m}}\n"
    );
    let path = dir.join("rampart.yaml");
    std::fs::write(&path, config).unwrap();
    let proc = serve(&dir, &path, port, "/ok");
    Gateway { port, dir, proc }
}

#[test]
fn expired_tokens_never_lock_and_forged_signatures_do() {
    rampart_authn::install_crypto_provider();
    let issuer = rampart_adapters::DevIssuer::generate("k1").unwrap();
    let gw = jwt_gateway("jwt-lockout", &issuer);
    let token = |issuer: &rampart_adapters::DevIssuer, exp: u64| {
        issuer
            .sign(&serde_json::json!({"iss": "https://idp.test", "aud": "api", "sub": "spa", "exp": exp}))
            .unwrap()
    };
    let call = |client: &str, token: &str| {
        let value = format!("Bearer {token}");
        send(
            gw.port,
            &Req::get("/ok")
                .header("X-Forwarded-For", client)
                .header("Authorization", &value),
        )
    };
    let (spa, attacker) = ("192.0.2.10", "192.0.2.66");
    // An app whose token expired fires its calls, over and over: correctly
    // signed, so not a guess; its address is never locked.
    let expired = token(&issuer, 1_000_000_000);
    for _ in 0..10 {
        assert_eq!(call(spa, &expired).status, 401);
    }
    let fresh = token(&issuer, 4_102_444_800);
    assert_eq!(call(spa, &fresh).status, 200);
    // Tokens signed by another key under the issuer's key id: forged.
    let forger = rampart_adapters::DevIssuer::generate("k1").unwrap();
    for _ in 0..3 {
        assert_eq!(call(attacker, &token(&forger, 4_102_444_800)).status, 401);
    }
    let r = call(attacker, &fresh);
    assert_eq!((r.status, r.slug().as_str()), (429, "locked-out"));
    assert_eq!(call(spa, &fresh).status, 200);
}

#[test]
fn parallel_guesses_reach_the_upstream_no_more_than_max_failures_times() {
    let gw = gateway("parallel-lockout");
    // Credential stuffing against one user: twelve guesses at once from twelve
    // addresses, each within any per-IP burst, against slow password hashing.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=12)
            .map(|i| {
                let gw = &gw;
                scope.spawn(move || gw.login(&format!("203.0.113.{i}"), "victim", "slow").status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let count = |status| statuses.iter().filter(|s| **s == status).count();
    // No more guesses than max_failures (3) were checked; the rest waited.
    assert_eq!(SLOW_GUESSES.load(Ordering::SeqCst), 3, "{statuses:?}");
    assert_eq!((count(401), count(429)), (3, 9), "{statuses:?}");
    // The user is locked now, even with the right password.
    assert_eq!(gw.login("203.0.113.50", "victim", "right").status, 429);

    // Legitimate logins leave no failure behind: three times max_failures in a
    // row, from one address, for one user.
    for _ in 0..9 {
        assert_eq!(gw.login("198.51.100.20", "alice", "right").status, 200);
    }
    // Logins refused by a later stage before the upstream (a password that is
    // not a string: the validation stage, whose refusal the login operation
    // masks as its one `authentication-failed` answer) checked no password:
    // their reservation goes back as well.
    for _ in 0..9 {
        let r = send(
            gw.port,
            &Req::post_json("/login", r#"{"username": "alice", "password": 7}"#)
                .header("X-Forwarded-For", "198.51.100.20"),
        );
        assert_eq!(
            (r.status, r.slug().as_str()),
            (401, "authentication-failed")
        );
    }
    assert_eq!(gw.login("198.51.100.20", "alice", "right").status, 200);
}
