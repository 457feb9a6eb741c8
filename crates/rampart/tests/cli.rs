//! The binary: `check` exit codes and messages, `serve` with SIGHUP reload and
//! SIGTERM drain, `config-schema`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::RAMPART;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rampart-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An upstream answering 200 "upstream" to every request, on its own thread.
fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let answer: &[u8] = if buf[..n].starts_with(b"POST /login") {
                        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\r\nwrong!"
                    } else {
                        b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nupstream"
                    };
                    let _ = stream.write_all(answer);
                }
            });
        }
    });
    port
}

fn status(port: u16, path: &str) -> u16 {
    request(port, "GET", path)
}

fn request(port: u16, method: &str, path: &str) -> u16 {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Starts `rampart serve --config path` with the configuration `yaml(gateway,
/// admin)` on free ports and waits until Rampart itself answers `probe` on the
/// gateway port (its responses carry `x-request-id`). A port chosen free can be
/// taken by another test's listener before Rampart binds it: then the child
/// exits, and this tries other ports.
fn serve(path: &Path, yaml: impl Fn(u16, u16) -> String, probe: &str) -> (Child, u16, u16) {
    for _ in 0..5 {
        let (gateway, admin) = (free_port(), free_port());
        std::fs::write(path, yaml(gateway, admin)).unwrap();
        let mut child = Command::new(&*RAMPART)
            .args(["serve", "--config", path.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if answered_by_rampart(gateway, probe) {
                return (child, gateway, admin);
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "gateway did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("rampart serve exited five times (ports taken?)");
}

fn answered_by_rampart(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out.to_ascii_lowercase().contains("\r\nx-request-id:")
}

fn config(gateway: u16, admin: u16, upstream: u16, prefix: &str) -> String {
    format!(
        "listeners:\n  - bind: 127.0.0.1:{gateway}\nadmin:\n  bind: 127.0.0.1:{admin}\naudit:\n  sinks: [{{file: {{path: audit.jsonl}}}}]\napis:\n  - name: a\n    path_prefix: {prefix}\n    upstream: {{url: http://127.0.0.1:{upstream}}}\n"
    )
}

/// Writes `yaml` to `dir/name` and runs `rampart check` on it: exit code, stderr.
fn check(dir: &Path, name: &str, yaml: &str) -> (Option<i32>, String) {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(&*RAMPART)
        .args(["check", path.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The start of a config with one API and no engine sections.
const ONE_API: &str =
    "listeners:\n  - bind: 127.0.0.1:1\napis:\n  - name: a\n    upstream: {url: http://x}\n";

#[test]
fn check_accepts_a_valid_file_and_lists_every_error_of_a_bad_one() {
    let dir = temp_dir("check");
    let (code, stderr) = check(&dir, "good.yaml", &config(8080, 9901, 3000, "/"));
    assert_eq!(code, Some(0), "{stderr}");

    let (code, stderr) = check(
        &dir,
        "bad.yaml",
        "listeners:\n  - bind: nowhere\napis:\n  - name: a\n    upstream: {url: gopher://x}\n",
    );
    assert_eq!(code, Some(1));
    assert!(stderr.contains("bad.yaml:2: listeners[0].bind"), "{stderr}");
    assert!(
        stderr.contains("bad.yaml:5: apis[0].upstream.url"),
        "{stderr}"
    );

    let (code, stderr) = check(
        &dir,
        "engine.yaml",
        &format!("{ONE_API}    waf:\n      rules: [missing.conf]\n"),
    );
    assert_eq!(code, Some(1));
    assert!(stderr.contains("engine.yaml:7: apis[0].waf"), "{stderr}");

    // An upstream CA file that exists but holds no certificate: found by
    // `check`, at the URL's line, not only by the next start.
    std::fs::write(dir.join("not-a-ca.pem"), "not a certificate\n").unwrap();
    let (code, stderr) = check(
        &dir,
        "ca.yaml",
        "listeners:\n  - bind: 127.0.0.1:1\napis:\n  - name: a\n    upstream:\n      url: https://127.0.0.1:1\n      ca: not-a-ca.pem\n",
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("ca.yaml:6: apis[0].upstream: cannot load upstream CA"),
        "{stderr}"
    );
}

#[test]
fn check_warns_of_waf_settings_that_leave_requests_less_inspected() {
    // Accepted (ModSecurity's recommended configuration has the directive),
    // but neither may go unsaid: no code-page map is used, and without the
    // recommended rules what the engine cannot inspect passes.
    let dir = temp_dir("waf-warnings");
    std::fs::write(
        dir.join("rules.conf"),
        "SecRuleEngine On\nSecUnicodeMapFile unicode.mapping 20127\n",
    )
    .unwrap();
    let (code, stderr) = check(
        &dir,
        "waf.yaml",
        &format!("{ONE_API}    waf:\n      rules: [rules.conf]\n      recommended_rules: false\n"),
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(
        stderr.contains("rules.conf:2: SecUnicodeMapFile has no effect"),
        "{stderr}"
    );
    assert!(stderr.contains("recommended_rules: false"), "{stderr}");
}

#[test]
fn check_warns_of_an_admin_token_on_a_non_loopback_admin_listener() {
    let dir = temp_dir("admin-bind-warning");
    std::fs::write(dir.join("admin-token"), "admin-token-0123456789abcdef").unwrap();
    let yaml = |bind: &str| {
        format!(
            "listeners:\n  - bind: 127.0.0.1:1\nadmin:\n  bind: {bind}\nidentity:\n  admin_token: file:admin-token\napis:\n  - name: a\n    upstream: {{url: http://x}}\n"
        )
    };
    let (code, stderr) = check(&dir, "open.yaml", &yaml("0.0.0.0:9901"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("WARN") && stderr.contains("open.yaml:4: admin.bind: 0.0.0.0"),
        "{stderr}"
    );
    let (code, stderr) = check(&dir, "local.yaml", &yaml("127.0.0.1:9901"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("admin.bind"), "{stderr}");
}

#[test]
fn check_warns_of_identity_providers_sharing_a_consumer_namespace() {
    // Two issuers, neither with a consumer_prefix: a partner's `alice` would
    // be the company's. Accepted, said; a prefix on one of them silences it,
    // and a prefix that is not one is refused with its field.
    let dir = temp_dir("consumer-namespaces");
    for name in ["company.key", "partner.key"] {
        std::fs::write(dir.join(name), format!("{name}-0123456789abcdef0123456789")).unwrap();
    }
    let yaml = |partner: &str| {
        format!(
            "{ONE_API}    authn:\n      jwt:\n        issuers:\n          - {{issuer: https://idp.example, audiences: [a], algorithms: [HS256], hs256_secret: file:company.key}}\n          - {{issuer: https://partner.example, audiences: [a], algorithms: [HS256], hs256_secret: file:partner.key{partner}}}\n"
        )
    };
    let (code, stderr) = check(&dir, "shared.yaml", &yaml(""));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("WARN")
            && stderr.contains("shared.yaml:7: apis[0].authn: API `a` accepts tokens of jwt.issuers[0] (`https://idp.example`) and jwt.issuers[1] (`https://partner.example`)")
            && stderr.contains("consumer_prefix"),
        "{stderr}"
    );
    let (code, stderr) = check(&dir, "apart.yaml", &yaml(", consumer_prefix: \"partner:\""));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("WARN"), "{stderr}");
    let (code, stderr) = check(&dir, "empty.yaml", &yaml(", consumer_prefix: \"\""));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "empty.yaml:7: apis[0].authn.jwt.issuers[1].consumer_prefix: must not be empty"
        ),
        "{stderr}"
    );
}

#[test]
fn an_unusable_worker_count_is_an_error_not_a_panic() {
    let dir = temp_dir("workers");
    let path = dir.join("good.yaml");
    std::fs::write(&path, config(8080, 9901, 3000, "/")).unwrap();
    for workers in ["0", "two", ""] {
        let out = Command::new(&*RAMPART)
            .args(["check", path.to_str().unwrap()])
            .env("RAMPART_WORKERS", workers)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{workers:?}: {stderr}");
        assert!(stderr.contains("RAMPART_WORKERS"), "{workers:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = Command::new(&*RAMPART)
        .args(["check", path.to_str().unwrap()])
        .env("RAMPART_WORKERS", "2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn check_requires_introspection_audiences_and_names_the_field() {
    // Tokens minted for any other API of the realm were accepted by default.
    let dir = temp_dir("introspection");
    std::fs::write(dir.join("secret.txt"), "s3cret\n").unwrap();
    let section = |extra: &str| {
        format!(
            "{ONE_API}    authn:\n      introspection:\n        endpoint: https://idp.example/introspect\n        client_id: rampart\n        client_secret: {{file: secret.txt}}\n{extra}"
        )
    };
    let (code, stderr) = check(&dir, "intro.yaml", &section(""));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("intro.yaml:7: apis[0].authn.introspection.audiences"),
        "{stderr}"
    );
    for (name, extra) in [
        ("aud.yaml", "        audiences: [pets]\n"),
        ("any.yaml", "        any_audience: true\n"),
    ] {
        let (code, stderr) = check(&dir, name, &section(extra));
        assert_eq!(code, Some(0), "{name}: {stderr}");
    }
}

#[test]
fn check_refuses_route_names_the_spec_does_not_declare() {
    let dir = temp_dir("routes");
    std::fs::write(
        dir.join("spec.yaml"),
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /orders/{id}:\n    delete:\n      responses: {'204': {description: gone}}\n",
    )
    .unwrap();
    let authz = |key: &str| {
        format!("    authz:\n      operations:\n        \"{key}\": {{roles: [admin]}}\n")
    };
    let openapi = "    openapi: {spec: spec.yaml}\n";

    // The declared name passes.
    let yaml = format!("{ONE_API}{openapi}{}", authz("DELETE /orders/{id}"));
    let (code, stderr) = check(&dir, "good.yaml", &yaml);
    assert_eq!(code, Some(0), "{stderr}");

    // A misspelt one would silently drop the role: refused, with the likely name.
    let yaml = format!("{ONE_API}{openapi}{}", authz("DELETE /order/{id}"));
    let (code, stderr) = check(&dir, "typo.yaml", &yaml);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("typo.yaml:8: apis[0].authz.operations[\"DELETE /order/{id}\"]"),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean `DELETE /orders/{id}`"),
        "{stderr}"
    );

    // Rate-limit and WAF route names are checked the same way.
    let yaml = format!(
        "{ONE_API}{openapi}    rate_limit:\n      pre_auth:\n        - {{name: l, key: client_ip, rate: 5, per: 1m, routes: [\"POST /login\"]}}\n"
    );
    let (code, stderr) = check(&dir, "limits.yaml", &yaml);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("apis[0].rate_limit.pre_auth[0].routes[0]"),
        "{stderr}"
    );

    // Without a spec no request has a route: authz would refuse everything.
    let yaml = format!("{ONE_API}{}", authz("DELETE /orders/{id}"));
    let (code, stderr) = check(&dir, "nospec.yaml", &yaml);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("apis[0].authz: needs an `openapi` section"),
        "{stderr}"
    );
}

#[test]
fn check_creates_no_key_store_and_finds_one_it_could_not_make() {
    // `sudo rampart check` before the first start made a root-owned
    // `keys.db` (and -wal, -shm) the service's user could not open.
    let dir = temp_dir("check-keystore");
    std::fs::write(dir.join("pepper"), "p".repeat(48)).unwrap();
    let yaml = |path: &str| {
        format!(
            "listeners:\n  - bind: 127.0.0.1:1\nidentity:\n  key_store:\n    path: {path}\n    pepper: file:pepper\napis:\n  - name: a\n    upstream: {{url: http://x}}\n"
        )
    };
    let (code, stderr) = check(&dir, "store.yaml", &yaml("keys.db"));
    assert_eq!(code, Some(0), "{stderr}");
    let made: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("keys.db"))
        .collect();
    assert!(made.is_empty(), "check created {made:?}");
    // A store `serve` could not create is found.
    let (code, stderr) = check(&dir, "nodir.yaml", &yaml("missing/keys.db"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("identity.key_store.path"), "{stderr}");
    // An existing store is read, not written: its bytes stay the same.
    let serve_made = Command::new(&*RAMPART)
        .args(["keys", "--config"])
        .arg(dir.join("store.yaml"))
        .args(["create", "--consumer", "alice"])
        .output()
        .unwrap();
    assert!(serve_made.status.success(), "{serve_made:?}");
    let before = std::fs::read(dir.join("keys.db")).unwrap();
    let (code, stderr) = check(&dir, "store.yaml", &yaml("keys.db"));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(std::fs::read(dir.join("keys.db")).unwrap(), before);
}

#[test]
fn only_keys_create_makes_a_key_store() {
    // `keys list|revoke|rotate` on a mistyped path once made an empty store
    // there and answered "0 key(s)" or "no API key with prefix".
    let dir = temp_dir("keys-no-store");
    std::fs::write(dir.join("pepper"), "p".repeat(48)).unwrap();
    let config = dir.join("keys.yaml");
    std::fs::write(
        &config,
        "listeners:\n  - bind: 127.0.0.1:1\nidentity:\n  key_store:\n    path: keys.db\n    pepper: file:pepper\napis:\n  - name: a\n    upstream: {url: http://x}\n",
    )
    .unwrap();
    let keys = |args: &[&str]| {
        Command::new(&*RAMPART)
            .args(["keys", "--config"])
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    let stores = || -> Vec<String> {
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.starts_with("keys.db"))
            .collect()
    };
    for args in [
        &["list"][..],
        &["revoke", "abcdefgh"],
        &["rotate", "abcdefgh"],
    ] {
        let out = keys(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "no key store at {}",
                dir.join("keys.db").display()
            )),
            "{args:?}: {stderr}"
        );
        assert!(stores().is_empty(), "{args:?} made {:?}", stores());
    }
    let out = keys(&["create", "--consumer", "alice"]);
    assert!(out.status.success(), "{out:?}");
    let out = keys(&["list"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 key(s)"));
}

#[test]
fn check_reports_a_bad_identity_section_with_its_line_and_still_checks_the_apis() {
    let dir = temp_dir("identity");
    std::fs::write(dir.join("pepper"), "p".repeat(48)).unwrap();
    let (code, stderr) = check(
        &dir,
        "identity.yaml",
        "listeners:\n  - bind: 127.0.0.1:1\nidentity:\n  key_store:\n    path: keys.db\n    pepper: file:pepper\n    cache_ttl_ms: 99999999\napis:\n  - name: a\n    upstream: {url: http://x}\n    waf:\n      rules: [missing.conf]\n",
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("identity.yaml:4: identity.key_store.cache_ttl_ms: at most"),
        "{stderr}"
    );
    assert!(stderr.contains("identity.yaml:12: apis[0].waf"), "{stderr}");

    // A bad `redis` section is found even when no API uses it yet.
    let (code, stderr) = check(
        &dir,
        "redis.yaml",
        &format!("redis:\n  url: http://not-redis\n{ONE_API}"),
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("redis.yaml:2: redis.url: not a valid"),
        "{stderr}"
    );
}

#[test]
fn the_documented_example_configuration_passes_check() {
    // docs/examples/shop uses every security section; keep it loadable. Its WAF
    // section needs Debian's modsecurity-crs (installed by scripts/test.sh).
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/shop/rampart.yaml");
    let out = Command::new(&*RAMPART)
        .args(["check", example.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_and_serve_name_the_line_of_an_audit_file_that_cannot_be_opened() {
    // The path passes validation; opening it fails. `check` finds it without
    // creating anything, `serve` when it opens the file.
    let dir = temp_dir("audit-open");
    std::fs::write(dir.join("taken"), "a file, not a directory\n").unwrap();
    let path = dir.join("rampart.yaml");
    let config = |audit_path: &str| {
        format!(
            "listeners:\n  - bind: 127.0.0.1:0\nadmin:\n  bind: 127.0.0.1:0\naudit:\n  sinks:\n    - file: {{path: {audit_path}}}\napis:\n  - name: a\n    upstream: {{url: http://127.0.0.1:1}}\n"
        )
    };
    std::fs::write(&path, config("logs/audit.jsonl")).unwrap();
    let check = || {
        Command::new(&*RAMPART)
            .args(["check", path.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = check();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !dir.join("logs").exists(),
        "check created the audit directory"
    );

    std::fs::write(&path, config("taken/audit.jsonl")).unwrap();
    let out = check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("rampart.yaml:7: audit.sinks[0].file.path: cannot open"),
        "{stderr}"
    );
    let out = Command::new(&*RAMPART)
        .args(["serve", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("rampart.yaml:7: audit.sinks[0].file.path: cannot open"),
        "{stderr}"
    );
}

/// A self-signed certificate and key: `dir/<name>.pem`, `dir/<name>.key`.
fn pem_pair(dir: &Path, name: &str) {
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args([
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ])
        .args(["-subj", &format!("/CN={name}")])
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Listener TLS that `serve` cannot build (here a key that does not match its
/// certificate) is refused by `check` too, both naming the field and its
/// line; so are two listeners that would take the same port.
#[test]
fn check_and_serve_refuse_listener_tls_they_cannot_build_with_its_field_and_line() {
    let dir = temp_dir("listener-tls");
    pem_pair(&dir, "a");
    pem_pair(&dir, "b");
    let yaml = |key: &str| {
        format!(
            "listeners:\n  - bind: 127.0.0.1:0\n    tls:\n      cert: a.pem\n      key: {key}\nadmin:\n  bind: 127.0.0.1:0\napis:\n  - name: a\n    upstream: {{url: http://127.0.0.1:1}}\n"
        )
    };
    let (code, stderr) = check(&dir, "matching.yaml", &yaml("a.key"));
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = check(&dir, "mismatch.yaml", &yaml("b.key"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("mismatch.yaml:5: listeners[0].tls.key: the private key in"),
        "{stderr}"
    );
    let out = Command::new(&*RAMPART)
        .args([
            "serve",
            "--config",
            dir.join("mismatch.yaml").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("mismatch.yaml:5: listeners[0].tls.key: the private key in"),
        "{stderr}"
    );

    let (code, stderr) = check(
        &dir,
        "overlap.yaml",
        "listeners:\n  - bind: 0.0.0.0:8443\n  - bind: 127.0.0.1:8443\napis:\n  - name: a\n    upstream: {url: http://127.0.0.1:1}\n",
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "overlap.yaml:3: listeners[1].bind: address 127.0.0.1:8443 overlaps listeners[0].bind 0.0.0.0:8443"
        ),
        "{stderr}"
    );
}

#[test]
fn config_schema_is_json() {
    let out = Command::new(&*RAMPART)
        .arg("config-schema")
        .output()
        .unwrap();
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["additionalProperties"], false);
}

#[test]
fn a_sighup_while_starting_does_not_end_the_process() {
    let dir = temp_dir("sighup-start");
    let upstream = upstream();
    let (gateway, admin) = (free_port(), free_port());
    let path = dir.join("rampart.yaml");
    std::fs::write(&path, config(gateway, admin, upstream, "/one")).unwrap();
    // Start-up blocks while opening the audit file, a FIFO nobody reads yet:
    // a start-up that takes as long as it likes (as a CRS build can).
    let fifo = dir.join("audit.jsonl");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let mut child = Command::new(&*RAMPART)
        .args(["serve", "--config", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..3 {
        Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP during start-up ended the process"
    );
    // The file changed after start-up read it: the pending SIGHUP reloads it.
    std::fs::write(&path, config(gateway, admin, upstream, "/two")).unwrap();
    // Let it finish starting: read the audit FIFO from now on.
    std::thread::spawn(move || {
        let mut reader = std::fs::File::open(fifo).unwrap();
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let started = Instant::now();
    while status(gateway, "/two") != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the SIGHUP of start-up did not reload the changed file"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn serve_reloads_on_sighup_and_drains_on_sigterm() {
    let dir = temp_dir("serve");
    let upstream = upstream();
    let path = dir.join("rampart.yaml");
    let (mut child, gateway, admin) = serve(
        &path,
        |gateway, admin| config(gateway, admin, upstream, "/one"),
        "/one",
    );
    assert_eq!(status(gateway, "/one"), 200);
    assert_eq!(status(gateway, "/two"), 404);

    // A bad file is refused (the old config keeps serving)...
    std::fs::write(&path, "apis: [").unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status(gateway, "/one"), 200);
    // ...a good one is taken.
    std::fs::write(&path, config(gateway, admin, upstream, "/two")).unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while status(gateway, "/two") != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "reload not applied"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let audit = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    assert!(audit.lines().count() >= 3, "{audit}");
}

#[test]
fn check_refuses_a_lockout_nothing_can_feed() {
    let dir = temp_dir("lockout-check");
    // No authn section, no openapi (so no login operation), and upstream 401s
    // counted only on login operations: nothing would ever lock.
    let lockout = "    rate_limit:\n      lockout: {max_failures: 3, window: 5m, lock_for: 1m}\n";
    let (code, stderr) = check(&dir, "unfed.yaml", &format!("{ONE_API}{lockout}"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("unfed.yaml:7: apis[0].rate_limit.lockout"),
        "{stderr}"
    );
    assert!(
        stderr.contains("upstream_failures: every_route"),
        "{stderr}"
    );
    assert!(stderr.contains("auth_endpoint: true"), "{stderr}");
    // Counting upstream 401s on every route feeds it.
    let every_route = "    rate_limit:\n      lockout: {max_failures: 3, window: 5m, lock_for: 1m, \
                       upstream_failures: every_route}\n";
    let (code, stderr) = check(&dir, "fed.yaml", &format!("{ONE_API}{every_route}"));
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn repeated_failed_logins_lock_the_client_out() {
    let dir = temp_dir("lockout");
    let upstream = upstream();
    let path = dir.join("rampart.yaml");
    let (mut child, gateway, _) = serve(
        &path,
        |gateway, admin| {
            // No `openapi` section marks /login as a login operation: the
            // upstream's 401s count on every route.
            config(gateway, admin, upstream, "/")
                + "    rate_limit:\n      lockout: {max_failures: 3, window: 5m, lock_for: 1m, \
                   upstream_failures: every_route}\n"
        },
        "/ok",
    );
    assert_eq!(status(gateway, "/ok"), 200);
    // Two failures: still served.
    assert_eq!(request(gateway, "POST", "/login"), 401);
    assert_eq!(request(gateway, "POST", "/login"), 401);
    assert_eq!(status(gateway, "/ok"), 200);
    // The third locks the client IP out.
    assert_eq!(request(gateway, "POST", "/login"), 401);
    assert_eq!(request(gateway, "POST", "/login"), 429);
    assert_eq!(status(gateway, "/ok"), 429);
    let _ = child.kill();
    let _ = child.wait();
}
