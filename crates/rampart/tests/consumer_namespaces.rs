//! Consumers of two identity providers through the binary, where authn and
//! authz meet: a `sub` is unique only within its issuer, so with a company
//! issuer and a partner issuer where anybody can register, the partner's
//! `alice` must not own the company's alice's account. With
//! `consumer_prefix: "partner:"` she is the consumer `partner:alice` (to the
//! ownership check, and in the audit record); the company's `alice` still owns
//! her account; and a company user named `partner:alice` is refused, not
//! taken for the partner's alice. Without a prefix `rampart serve` warns, at
//! start and on a reload.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use rampart_adapters::DevIssuer;
use serde_json::json;
use support::{Proc, Req, free_port, send, serve, temp_dir};

const SPEC: &str = r#"openapi: 3.1.0
info: {title: accounts, version: "1"}
paths:
  /accounts/{username}:
    get:
      parameters: [{name: username, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: object, properties: {balance: {type: integer}}}}}}
"#;

/// An upstream answering every request with an account.
fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{\"balance\":100}",
            );
        }
    });
    port
}

struct Idps {
    company: DevIssuer,
    partner: DevIssuer,
}

impl Idps {
    /// A token of `issuer` (`company` or `partner`) for `sub`.
    fn token(&self, issuer: &str, sub: &str) -> String {
        let key = if issuer == "company" {
            &self.company
        } else {
            &self.partner
        };
        key.sign(
            &json!({"iss": format!("https://{issuer}.example"), "aud": "accounts",
                         "sub": sub, "exp": 4_102_444_800u64}),
        )
        .unwrap()
    }
}

struct Gateway {
    port: u16,
    admin: u16,
    upstream: u16,
    dir: std::path::PathBuf,
    proc: Proc,
}

impl Gateway {
    /// `GET /accounts/{account}` with a token of `issuer` for `sub`.
    fn get(&self, idps: &Idps, issuer: &str, sub: &str, account: &str) -> support::Resp {
        let bearer = format!("Bearer {}", idps.token(issuer, sub));
        send(
            self.port,
            &Req::get(&format!("/accounts/{account}")).header("Authorization", &bearer),
        )
    }

    /// The consumers of the audit records written so far, waiting (bounded)
    /// until there are `count`.
    fn audited_consumers(&self, count: usize) -> Vec<String> {
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(self.dir.join("audit.jsonl")).unwrap_or_default();
            let consumers: Vec<String> = text
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .filter_map(|record| record["identity"]["consumer"].as_str().map(str::to_owned))
                .collect();
            if consumers.len() >= count || started.elapsed() > Duration::from_secs(10) {
                return consumers;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn write_jwks(dir: &Path, name: &str, issuer: &DevIssuer) {
    std::fs::write(dir.join(name), DevIssuer::jwks(&[issuer])).unwrap();
}

/// The configuration: both issuers, `partner_more` added to the partner's
/// entry; ownership of `/accounts/{username}` compared to the consumer.
fn config(port: u16, admin: u16, upstream: u16, partner_more: &str) -> String {
    format!(
        r#"listeners:
  - bind: 127.0.0.1:{port}
admin:
  bind: 127.0.0.1:{admin}
audit:
  sinks: [{{file: {{path: audit.jsonl}}}}]
apis:
  - name: accounts
    upstream: {{url: "http://127.0.0.1:{upstream}"}}
    openapi: {{spec: spec.yaml}}
    authn:
      jwt:
        issuers:
          - {{issuer: "https://company.example", audiences: [accounts], algorithms: [EdDSA], jwks_file: company.jwks}}
          - {{issuer: "https://partner.example", audiences: [accounts], algorithms: [EdDSA], jwks_file: partner.jwks{partner_more}}}
    authz:
      operations:
        "GET /accounts/{{username}}": {{owner: {{param: username, claim: consumer}}}}
"#
    )
}

/// Starts the gateway on [`config`].
fn start(name: &str, idps: &Idps, partner_more: &str) -> Gateway {
    let dir = temp_dir(name);
    write_jwks(&dir, "company.jwks", &idps.company);
    write_jwks(&dir, "partner.jwks", &idps.partner);
    std::fs::write(dir.join("spec.yaml"), SPEC).unwrap();
    let (port, admin, upstream) = (free_port(), free_port(), upstream());
    let path = dir.join("rampart.yaml");
    std::fs::write(&path, config(port, admin, upstream, partner_more)).unwrap();
    let proc = serve(&dir, &path, port, "/accounts/x");
    Gateway {
        port,
        admin,
        upstream,
        dir,
        proc,
    }
}

fn idps() -> Idps {
    rampart_authn::install_crypto_provider();
    Idps {
        company: DevIssuer::generate("company-1").unwrap(),
        partner: DevIssuer::generate("partner-1").unwrap(),
    }
}

#[test]
fn a_partner_issuers_alice_is_not_the_company_alice() {
    let idps = idps();
    let gateway = start(
        "namespaces-prefixed",
        &idps,
        r#", consumer_prefix: "partner:""#,
    );

    // The legitimate owner: the company's alice reads her account.
    let own = gateway.get(&idps, "company", "alice", "alice");
    assert_eq!(own.status, 200, "{}", own.body);
    assert!(own.body.contains("balance"), "{}", own.body);

    // The attack: a partner account named `alice` is `partner:alice`, not
    // the owner of alice's account.
    let attack = gateway.get(&idps, "partner", "alice", "alice");
    assert_eq!(attack.status, 403, "{}", attack.body);
    assert_eq!(attack.slug(), "authz-not-owner");
    assert!(!attack.body.contains("balance"), "{}", attack.body);

    // Each owns what is in her own namespace, and only that.
    assert_eq!(
        gateway
            .get(&idps, "partner", "alice", "partner:alice")
            .status,
        200
    );
    assert_eq!(
        gateway
            .get(&idps, "company", "alice", "partner:alice")
            .status,
        403
    );

    // The attack the other way: a company user who registered the name
    // `partner:alice` would be the partner's alice. The company issuer has
    // no prefix, so its tokens naming a consumer in `partner:` are refused,
    // 401 like any invalid token, before authz.
    let squatter = gateway.get(&idps, "company", "partner:alice", "partner:alice");
    assert_eq!(squatter.status, 401, "{}", squatter.body);
    assert_eq!(squatter.slug(), "authn-invalid-token");
    assert!(!squatter.body.contains("balance"), "{}", squatter.body);

    // The audit record names the consumer as authz saw it (the refused
    // request has none).
    let consumers = gateway.audited_consumers(4);
    assert_eq!(
        consumers,
        ["alice", "partner:alice", "partner:alice", "alice"],
        "{}",
        gateway.proc.stderr()
    );
    // Namespaces of their own: nothing to warn of.
    assert!(
        !gateway.proc.stderr().contains("consumer_prefix"),
        "{}",
        gateway.proc.stderr()
    );
}

#[test]
fn serve_warns_when_the_issuers_share_a_namespace() {
    let idps = idps();
    let gateway = start("namespaces-shared", &idps, "");
    let stderr = gateway.proc.stderr();
    assert!(
        stderr.contains("WARN")
            && stderr.contains("apis[0].authn: API `accounts` accepts tokens of jwt.issuers[0] (`https://company.example`) and jwt.issuers[1] (`https://partner.example`)")
            && stderr.contains("give each identity provider a distinct consumer_prefix"),
        "{stderr}"
    );
    // Still served: a warning, not a refusal.
    assert_eq!(gateway.get(&idps, "company", "alice", "alice").status, 200);
}

#[test]
fn a_reload_to_a_shared_namespace_is_warned_of_too() {
    // The warning is not only for the first configuration: a reload that
    // drops the partner's prefix says so as well (and is applied: a warning).
    let idps = idps();
    let gateway = start(
        "namespaces-reload",
        &idps,
        r#", consumer_prefix: "partner:""#,
    );
    assert_eq!(gateway.get(&idps, "partner", "alice", "alice").status, 403);
    assert!(!gateway.proc.stderr().contains("consumer_prefix"));
    let shared = config(gateway.port, gateway.admin, gateway.upstream, "");
    std::fs::write(gateway.dir.join("rampart.yaml"), shared).unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &gateway.proc.child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while !gateway
        .proc
        .stderr()
        .contains("give each identity provider a distinct consumer_prefix")
    {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no warning after the reload: {}",
            gateway.proc.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        gateway.proc.stderr().contains("configuration reloaded"),
        "{}",
        gateway.proc.stderr()
    );
}
