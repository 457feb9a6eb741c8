//! Two `rampart serve` processes sharing revocation through a real
//! redis-server (started here on a free loopback port, stopped at the end):
//! a credential revoked on one instance (admin API) or from the CLI (`rampart
//! revoke`) is refused by the other within a second, while other credentials
//! keep working on both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rampart_adapters::DevIssuer;
use serde_json::json;
use support::{Proc, RAMPART, Req, free_port, send, serve, temp_dir};

const ADMIN_TOKEN: &str = "shared-revocation-admin-token-0123";

/// A redis-server child on a free port, killed on drop.
struct Redis {
    port: u16,
    child: Child,
}

impl Redis {
    fn start() -> Option<Self> {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let redis = Self { port, child };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(redis)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An upstream answering 200 to everything.
fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if stream.write_all(answer).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn config(dir: &Path, gateway: u16, admin: u16, upstream: u16, redis: u16) -> String {
    let d = dir.display();
    [
        "listeners:".to_string(),
        format!("  - bind: 127.0.0.1:{gateway}"),
        "admin:".into(),
        format!("  bind: 127.0.0.1:{admin}"),
        "audit:".into(),
        format!("  sinks: [{{file: {{path: audit-{gateway}.jsonl}}}}]"),
        "identity:".into(),
        format!("  key_store: {{path: {d}/keys.db, pepper: \"file:{d}/pepper\"}}"),
        format!("  revocation: {{redis_url: \"redis://127.0.0.1:{redis}/\", resync_interval_ms: 2000}}"),
        // Relative: resolved against the configuration's directory.
        "  admin_token: \"file:admin-token\"".to_string(),
        "apis:".into(),
        "  - name: a".into(),
        "    path_prefix: /".into(),
        format!("    upstream: {{url: \"http://127.0.0.1:{upstream}\"}}"),
        "    authn:".into(),
        format!("      api_key: {{pepper: {{file: {d}/pepper}}}}"),
        "      jwt:".into(),
        "        issuers:".into(),
        format!("          - {{issuer: \"https://idp.test\", audiences: [api], algorithms: [EdDSA], jwks_file: {d}/jwks.json}}"),
        String::new(),
    ]
    .join("\n")
}

/// `rampart keys create`; returns the printed key.
fn create_key(config: &Path, consumer: &str) -> String {
    let out = Command::new(&*RAMPART)
        .args(["keys", "--config", config.to_str().unwrap(), "create"])
        .args(["--consumer", consumer])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .find(|w| w.starts_with("rk_"))
        .unwrap_or_else(|| panic!("no key printed: {text}"))
        .to_string()
}

fn with_key(port: u16, key: &str) -> u16 {
    send(port, &Req::get("/items").header("x-api-key", key)).status
}

fn with_token(port: u16, token: &str) -> u16 {
    let value = format!("Bearer {token}");
    send(port, &Req::get("/items").header("Authorization", &value)).status
}

/// Polls `check` until it returns 401, for at most `within`.
fn refused_within(within: Duration, check: impl Fn() -> u16) -> bool {
    let started = Instant::now();
    loop {
        if check() == 401 {
            return true;
        }
        if started.elapsed() > within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A directory with what `config` refers to: the pepper, the admin token and
/// the JWKS of the issuer returned.
fn secrets_dir(name: &str) -> (std::path::PathBuf, DevIssuer) {
    let dir = temp_dir(name);
    std::fs::write(dir.join("pepper"), "p".repeat(48)).unwrap();
    std::fs::write(dir.join("admin-token"), ADMIN_TOKEN).unwrap();
    rampart_authn::install_crypto_provider();
    let issuer = DevIssuer::generate("k1").unwrap();
    std::fs::write(dir.join("jwks.json"), DevIssuer::jwks(&[&issuer])).unwrap();
    (dir, issuer)
}

fn instance(dir: &Path, n: usize, upstream: u16, redis: u16) -> (Proc, u16, u16) {
    let (gateway, admin) = (free_port(), free_port());
    let path = dir.join(format!("rampart-{n}.yaml"));
    std::fs::write(&path, config(dir, gateway, admin, upstream, redis)).unwrap();
    let sub = dir.join(format!("run-{n}"));
    std::fs::create_dir_all(&sub).unwrap();
    let proc = serve(&sub, &path, gateway, "/items");
    (proc, gateway, admin)
}

#[test]
fn a_revocation_on_one_instance_reaches_the_other_within_a_second() {
    let Some(redis) = Redis::start() else {
        eprintln!("SKIPPED: redis-server is not installed (apt-get install -y redis-server)");
        return;
    };
    let (dir, issuer) = secrets_dir("revocation-shared");
    let token = |jti: &str| {
        issuer
            .sign(
                &json!({"iss": "https://idp.test", "aud": "api", "sub": "svc",
                           "exp": 4_102_444_800u64, "jti": jti}),
            )
            .unwrap()
    };
    let up = upstream();
    let first_config = dir.join("rampart-1.yaml");
    std::fs::write(&first_config, config(&dir, 1, 2, up, redis.port)).unwrap();
    let (alice, bob) = (
        create_key(&first_config, "alice"),
        create_key(&first_config, "bob"),
    );
    let (_a, a_port, a_admin) = instance(&dir, 1, up, redis.port);
    let (_b, b_port, _b_admin) = instance(&dir, 2, up, redis.port);
    let (t1, t2) = (token("tok-1"), token("tok-2"));
    for port in [a_port, b_port] {
        assert_eq!(with_key(port, &alice), 200);
        assert_eq!(with_key(port, &bob), 200);
        assert_eq!(with_token(port, &t1), 200);
        assert_eq!(with_token(port, &t2), 200);
    }

    // Revoke alice's key through instance A's admin API: B refuses it within 1 s.
    let prefix = alice.split('_').nth(1).unwrap();
    let revoke = Req::post_json(
        "/revocations",
        &format!(r#"{{"kind":"api_key","id":"{prefix}"}}"#),
    )
    .header("Authorization", &format!("Bearer {ADMIN_TOKEN}"));
    let answer = send(a_admin, &revoke);
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.json()["shared"], true);
    assert_eq!(with_key(a_port, &alice), 401, "at once on A");
    assert!(
        refused_within(Duration::from_secs(1), || with_key(b_port, &alice)),
        "B still accepts the revoked key after 1 s"
    );

    // Revoke a token's jti from the CLI: both instances refuse it within 1 s.
    let out = Command::new(&*RAMPART)
        .args([
            "revoke",
            "--config",
            first_config.to_str().unwrap(),
            "jti",
            "tok-1",
        ])
        .args(["--expires", "1d"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for port in [a_port, b_port] {
        assert!(
            refused_within(Duration::from_secs(1), || with_token(port, &t1)),
            "port {port} still accepts the revoked token after 1 s"
        );
    }

    // Revoke an API key from the CLI: refused everywhere, and marked revoked
    // in the key store too (as POST /revocations does), so it stays revoked
    // when a Redis without persistence restarts with the fleet.
    let carol = create_key(&first_config, "carol");
    let carol_prefix = carol.split('_').nth(1).unwrap();
    let out = Command::new(&*RAMPART)
        .args(["revoke", "--config", first_config.to_str().unwrap()])
        .args(["api_key", carol_prefix])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("revoked in the key store"), "{stdout}");
    let listed = Command::new(&*RAMPART)
        .args(["keys", "--config", first_config.to_str().unwrap(), "list"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    let line = listed
        .lines()
        .find(|l| l.starts_with(carol_prefix))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains("revoked"), "{listed}");
    for port in [a_port, b_port] {
        assert!(refused_within(Duration::from_secs(1), || with_key(
            port, &carol
        )));
    }

    // What was not revoked keeps working on both.
    for port in [a_port, b_port] {
        assert_eq!(with_key(port, &bob), 200);
        assert_eq!(with_token(port, &t2), 200);
    }

    // Redis down: `keys rotate` still prints the new key (stored, shown only
    // this once) and fails, saying the running gateways did not get the old
    // key's revocation and what they do instead.
    drop(redis);
    let bob_prefix = bob.split('_').nth(1).unwrap();
    let out = Command::new(&*RAMPART)
        .args(["keys", "--config", first_config.to_str().unwrap()])
        .args(["rotate", bob_prefix])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let new_bob = stdout
        .split_whitespace()
        .find(|w| w.starts_with("rk_"))
        .unwrap_or_else(|| panic!("no new key printed: {stdout}{stderr}"));
    assert!(
        stderr.contains("did not reach running gateways") && stderr.contains(bob_prefix),
        "{stderr}"
    );
    for port in [a_port, b_port] {
        assert_eq!(with_key(port, new_bob), 200);
        assert!(
            refused_within(Duration::from_secs(3), || with_key(port, &bob)),
            "port {port} still accepts the rotated key past its key cache"
        );
    }

    // Redis down and a key id the store does not know (a typo): nothing was
    // revoked anywhere, and the error says both, not only Redis's half.
    let typo: String = carol_prefix.chars().rev().collect();
    let out = Command::new(&*RAMPART)
        .args(["revoke", "--config", first_config.to_str().unwrap()])
        .args(["api_key", &typo])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("redis") && stderr.contains(&format!("has no API key {typo}")),
        "{stderr}"
    );
}

/// Polls the admin `/readyz` until it answers `want`, for at most `within`.
fn readyz_becomes(admin: u16, want: u16, within: Duration) -> bool {
    let started = Instant::now();
    loop {
        if send(admin, &Req::get("/readyz")).status == want {
            return true;
        }
        if started.elapsed() > within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_instance_is_not_ready_before_its_first_revocation_sync() {
    let Some(redis) = Redis::start() else {
        eprintln!("SKIPPED: redis-server is not installed (apt-get install -y redis-server)");
        return;
    };
    let (dir, _issuer) = secrets_dir("revocation-ready");
    // A "Redis" that accepts connections and never answers: the instance
    // serves, but its revocation list never loads what others revoked.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let up = upstream();
    let (_stuck, _, stuck_admin) = instance(&dir, 1, up, silent_port);
    assert_eq!(send(stuck_admin, &Req::get("/healthz")).status, 200);
    assert!(
        !readyz_becomes(stuck_admin, 200, Duration::from_secs(2)),
        "ready without ever loading the shared revocations"
    );
    assert_eq!(send(stuck_admin, &Req::get("/readyz")).status, 503);
    // With Redis answering, ready once the first sync is done.
    let (_ok, _, ok_admin) = instance(&dir, 2, up, redis.port);
    assert!(readyz_becomes(ok_admin, 200, Duration::from_secs(10)));
}
