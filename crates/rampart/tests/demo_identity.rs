//! `rampart demo` end to end: the identity outcomes its banner promises, with
//! the credentials it prints. For each control, the refused attack and the
//! legitimate request that passes: no credential 401, a valid key (and token)
//! 200, a missing scope 403, another user's object 403 (BOLA), an admin
//! operation without MFA answered with the RFC 9470 step-up challenge and with
//! MFA passing; and a revocation through the admin API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Proc, RAMPART, Req, free_port, send, temp_dir};

struct Demo {
    _proc: Proc,
    gateway: u16,
    admin: u16,
    vars: HashMap<String, String>,
}

/// Starts `rampart demo` on free ports and reads the credentials it prints.
fn start_demo(name: &str) -> Demo {
    let dir = temp_dir(name);
    let (gateway, admin) = (free_port(), free_port());
    let stdout = dir.join("stdout");
    let stderr = dir.join("stderr");
    let child = Command::new(&*RAMPART)
        .arg("demo")
        .env("RAMPART_DEMO_LISTEN", format!("127.0.0.1:{gateway}"))
        .env("RAMPART_DEMO_ADMIN", format!("127.0.0.1:{admin}"))
        .env("RAMPART_LOG", "warn")
        .current_dir(&dir)
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc { child, stderr };
    let started = Instant::now();
    let banner = loop {
        let text = std::fs::read_to_string(&stdout).unwrap_or_default();
        if text.contains("Press Ctrl-C to stop.") {
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the demo did not start: {}",
            proc.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let vars = banner
        .lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<HashMap<_, _>>();
    for name in [
        "ALICE_KEY",
        "BOB_KEY",
        "ADMIN_KEY",
        "ALICE_JWT",
        "ADMIN_JWT",
        "ADMIN_MFA_JWT",
        "ADMIN_API_TOKEN",
    ] {
        assert!(vars.contains_key(name), "{name} not printed:\n{banner}");
    }
    Demo {
        _proc: proc,
        gateway,
        admin,
        vars,
    }
}

impl Demo {
    fn var(&self, name: &str) -> &str {
        &self.vars[name]
    }

    fn key(&self, method: &str, path: &str, var: &str) -> support::Resp {
        let req = Req {
            method: method.into(),
            ..Req::get(path)
        };
        send(self.gateway, &req.header("x-api-key", self.var(var)))
    }

    fn bearer(&self, method: &str, path: &str, var: &str) -> support::Resp {
        let req = Req {
            method: method.into(),
            ..Req::get(path)
        };
        let value = format!("Bearer {}", self.var(var));
        send(self.gateway, &req.header("Authorization", &value))
    }
}

#[test]
fn demo_shows_every_identity_outcome() {
    let demo = start_demo("demo-identity");

    // 1. No credential: 401 with a Bearer challenge.
    let anonymous = send(demo.gateway, &Req::get("/users"));
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert!(
        anonymous
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    // Public operations need none.
    let search = send(demo.gateway, &Req::get("/search?q=books"));
    assert_eq!(search.status, 200);
    // The answer itself, not a problem standing in for an undeclared one.
    assert!(search.body.contains("\"results\""), "{}", search.body);

    // 2. A valid API key: 200 (secrets filtered); a valid token too; forged: 401.
    let listed = demo.key("GET", "/users", "ALICE_KEY");
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(!listed.body.contains("password_hash"), "{}", listed.body);
    assert_eq!(demo.bearer("GET", "/users", "ALICE_JWT").status, 200);
    let forged = send(
        demo.gateway,
        &Req::get("/users").header(
            "x-api-key",
            "rk_forged00_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
    );
    assert_eq!(forged.status, 401);

    // 3. A missing scope (POST /users needs users:write, from the spec's
    // `security`): 403 insufficient_scope naming it; admin's key has it.
    let create = Req::post_json("/users", r#"{"username":"eve"}"#);
    let refused = send(
        demo.gateway,
        &create.clone().header("x-api-key", demo.var("ALICE_KEY")),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.slug(), "authz-insufficient-scope");
    let challenge = refused.header("www-authenticate").unwrap();
    assert!(challenge.contains("users:write"), "{challenge}");
    let created = send(
        demo.gateway,
        &create.header("x-api-key", demo.var("ADMIN_KEY")),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(
        created.body.contains("\"username\":\"eve\""),
        "{}",
        created.body
    );
    assert!(!created.body.contains("problem"), "{}", created.body);

    // 4. Another user's object (BOLA): refused; one's own and an admin pass.
    let bola = demo.key("GET", "/accounts/bob", "ALICE_KEY");
    assert_eq!(bola.status, 403, "{}", bola.body);
    assert_eq!(bola.slug(), "authz-not-owner");
    assert!(!bola.body.contains("balance"));
    assert_eq!(demo.bearer("GET", "/accounts/bob", "ALICE_JWT").status, 403);
    let own = demo.key("GET", "/accounts/alice", "ALICE_KEY");
    assert_eq!(own.status, 200, "{}", own.body);
    assert!(!own.body.contains("card_number"), "{}", own.body);
    assert_eq!(demo.key("GET", "/accounts/bob", "BOB_KEY").status, 200);
    assert_eq!(demo.key("GET", "/accounts/bob", "ADMIN_KEY").status, 200);

    // 5. An admin operation: not an admin 403; admin without MFA 401 with the
    // RFC 9470 challenge; admin with MFA passes.
    assert_eq!(demo.bearer("DELETE", "/users/2", "ALICE_JWT").status, 403);
    for var in ["ADMIN_JWT", "ADMIN_KEY"] {
        let step_up = if var == "ADMIN_KEY" {
            demo.key("DELETE", "/users/2", var)
        } else {
            demo.bearer("DELETE", "/users/2", var)
        };
        assert_eq!(step_up.status, 401, "{var}: {}", step_up.body);
        assert_eq!(step_up.slug(), "authz-step-up-required");
        let challenge = step_up.header("www-authenticate").unwrap();
        assert!(
            challenge.contains("error=\"insufficient_user_authentication\""),
            "{challenge}"
        );
        assert!(challenge.contains("acr_values=\"mfa\""), "{challenge}");
    }
    let mfa = demo.bearer("DELETE", "/users/2", "ADMIN_MFA_JWT");
    assert_eq!(mfa.status, 204, "{}", mfa.body);

    // Default deny: declared in the spec, no rule anywhere.
    assert_eq!(demo.key("GET", "/orders", "ADMIN_KEY").status, 403);
}

#[test]
fn demo_admin_api_revokes_a_key_at_once() {
    let demo = start_demo("demo-revocation");
    assert_eq!(demo.key("GET", "/accounts/bob", "BOB_KEY").status, 200);
    let prefix = demo.var("BOB_KEY").split('_').nth(1).unwrap().to_string();
    let body = format!(r#"{{"kind":"api_key","id":"{prefix}"}}"#);
    let revoke = Req::post_json("/revocations", &body);
    // Without or with a wrong admin token: refused, nothing revoked.
    assert_eq!(send(demo.admin, &revoke).status, 401);
    let wrong = revoke
        .clone()
        .header("Authorization", "Bearer not-the-token");
    assert_eq!(send(demo.admin, &wrong).status, 401);
    assert_eq!(demo.key("GET", "/accounts/bob", "BOB_KEY").status, 200);
    // With it: revoked, listed, and the key is refused.
    let token = format!("Bearer {}", demo.var("ADMIN_API_TOKEN"));
    let done = send(demo.admin, &revoke.header("Authorization", &token));
    assert_eq!(done.status, 201, "{}", done.body);
    let listed = send(
        demo.admin,
        &Req::get("/revocations").header("Authorization", &token),
    );
    assert_eq!(listed.status, 200);
    assert!(listed.body.contains(&prefix), "{}", listed.body);
    assert_eq!(demo.key("GET", "/accounts/bob", "BOB_KEY").status, 401);
    // Other keys still work.
    assert_eq!(demo.key("GET", "/accounts/alice", "ALICE_KEY").status, 200);
}
