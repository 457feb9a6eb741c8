//! `rampart demo`: the gateway on 127.0.0.1:8080 (admin 127.0.0.1:9901; override
//! with `RAMPART_DEMO_LISTEN` / `RAMPART_DEMO_ADMIN`) in front of an embedded
//! sample API that is naive on purpose: it trusts every caller, returns every
//! field (password hashes, SSNs, tokens) and stores any property it is sent.
//! The demo configuration is examples/demo/rampart.yaml, compiled in.
//!
//! Identity needs no other server: at start the demo writes a pepper and an
//! admin token into a temporary directory, creates API keys in a SQLite store
//! there, generates a JWT signing key (published as a JWKS file the config
//! names) and mints tokens with it; it prints all of them once, as `export`
//! lines, with the curl commands that use them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rampart_adapters::{CreateKeyArgs, DevIssuer};
use serde_json::json;
use tokio::net::TcpListener;

const DEMO_CONFIG: &str = include_str!("../../../examples/demo/rampart.yaml");
const DEMO_SPEC: &str = include_str!("../../../examples/demo/openapi.yaml");
/// Debian's OWASP CRS (package modsecurity-crs), used when installed.
const CRS_RULES: &str = "/usr/share/modsecurity-crs/rules";
const CRS_SETUP: &str = "/etc/modsecurity/crs/crs-setup.conf";
/// The demo token issuer and audience (examples/demo/rampart.yaml).
const ISSUER: &str = "https://idp.demo.rampart.invalid";
const AUDIENCE: &str = "sample-api";

/// Writes a secret file readable by this user only.
fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// Credentials made for this run, printed once.
struct Credentials {
    alice_key: String,
    bob_key: String,
    bob_prefix: String,
    admin_key: String,
    alice_jwt: String,
    admin_jwt: String,
    admin_mfa_jwt: String,
    admin_api_token: String,
}

async fn create_key(
    store: &rampart_adapters::KeyStoreConfig,
    consumer: &str,
    scopes: &[&str],
    roles: &[&str],
) -> anyhow::Result<(String, String)> {
    let args = CreateKeyArgs {
        consumer: consumer.into(),
        scopes: scopes.iter().map(|s| (*s).to_string()).collect(),
        roles: roles.iter().map(|s| (*s).to_string()).collect(),
        plan: None,
        expires: Some("1d".into()),
    };
    let clock = Arc::new(rampart_authn::clock::SystemClock);
    let created = rampart_adapters::create_key(store, &args, clock).await?;
    let key = String::from_utf8(created.key.expose().to_vec())?;
    Ok((key, created.record.prefix))
}

fn mint(issuer: &DevIssuer, sub: &str, extra: serde_json::Value) -> anyhow::Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mut claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "auth_time": now,
        "exp": now + 12 * 3600, "jti": format!("demo-{sub}-{}", rampart_adapters::dev_issuer::random_hex(6)?),
    });
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        claims.extend(extra.clone());
    }
    Ok(issuer.sign(&claims)?)
}

async fn credentials(
    config: &rampart_config::Config,
    issuer: &DevIssuer,
    admin_api_token: String,
) -> anyhow::Result<Credentials> {
    let store = config
        .identity
        .as_ref()
        .and_then(|i| i.value.key_store.clone())
        .ok_or_else(|| anyhow::anyhow!("demo configuration has no key store"))?
        .relative_to(&config.base_dir);
    let reader = ["users:read", "accounts:read"];
    let (alice_key, _) = create_key(&store, "alice", &reader, &["user"]).await?;
    let (bob_key, bob_prefix) = create_key(&store, "bob", &reader, &["user"]).await?;
    let admin_scopes = ["users:read", "users:write", "users:admin", "accounts:read"];
    let (admin_key, _) = create_key(&store, "admin", &admin_scopes, &["admin"]).await?;
    let admin_scope = admin_scopes.join(" ");
    Ok(Credentials {
        alice_key,
        bob_key,
        bob_prefix,
        admin_key,
        alice_jwt: mint(
            issuer,
            "alice",
            json!({"scope": "users:read accounts:read", "roles": ["user"], "acr": "pwd", "amr": ["pwd"]}),
        )?,
        admin_jwt: mint(
            issuer,
            "admin",
            json!({"scope": admin_scope, "roles": ["admin"], "acr": "pwd", "amr": ["pwd"]}),
        )?,
        admin_mfa_jwt: mint(
            issuer,
            "admin",
            json!({"scope": admin_scope, "roles": ["admin"], "acr": "mfa", "amr": ["pwd", "otp"]}),
        )?,
        admin_api_token,
    })
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run() -> anyhow::Result<()> {
    let listen = std::env::var("RAMPART_DEMO_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let admin = std::env::var("RAMPART_DEMO_ADMIN").unwrap_or_else(|_| "127.0.0.1:9901".into());
    let upstream = TcpListener::bind("127.0.0.1:0").await?;
    let upstream_addr = upstream.local_addr()?;
    tokio::spawn(serve_sample_api(upstream));

    // A new directory of our own, under a name nobody can guess: a
    // directory another local user made first (a predictable name) would
    // let them read the pepper and admin token or swap the files loaded.
    let dir = std::env::temp_dir().join(format!(
        "rampart-demo-{}-{}",
        std::process::id(),
        rampart_adapters::dev_issuer::random_hex(8)?
    ));
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    }
    // Secrets and keys for this run only.
    write_secret(
        &dir.join("pepper"),
        &rampart_adapters::dev_issuer::random_hex(32)?,
    )?;
    let admin_api_token = rampart_adapters::dev_issuer::random_hex(24)?;
    write_secret(&dir.join("admin-token"), &admin_api_token)?;
    let issuer = DevIssuer::generate("demo-1")?;
    std::fs::write(dir.join("jwks.json"), DevIssuer::jwks(&[&issuer]))?;

    let config_path = dir.join("rampart.yaml");
    let crs = std::path::Path::new(CRS_RULES);
    let waf = if crs.is_dir() {
        format!(
            "    waf:\n      rules: [{CRS_SETUP}, {CRS_RULES}/*.conf]\n      paranoia_level: 1\n      \
             # CRS allows GET HEAD POST OPTIONS; the spec declares this DELETE.\n      \
             exclusions:\n        - {{routes: [\"DELETE /users/{{id}}\"], rule_ids: [\"911100\"]}}\n"
        )
    } else {
        String::new()
    };
    let config_text = DEMO_CONFIG
        .replace("${LISTEN}", &listen)
        .replace("${ADMIN}", &admin)
        .replace("${DEMO_DIR}", &dir.display().to_string())
        .replace("${UPSTREAM_PORT}", &upstream_addr.port().to_string())
        .replace("${WAF}", &waf);
    std::fs::write(&config_path, config_text)?;
    std::fs::write(dir.join("openapi.yaml"), DEMO_SPEC)?;
    let config = rampart_config::load(&config_path)
        .map_err(|errors| anyhow::anyhow!("demo configuration refused:\n{errors}"))?;
    let adapters = crate::start_adapters(&config, false).await?;
    let credentials = credentials(&config, &issuer, admin_api_token).await?;
    let factory = Arc::new(crate::stages::EngineStages::with_adapters(adapters));
    let server = rampart_gateway::Server::bind(config, factory).await?;
    let gateway = server
        .local_addrs()
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("no listener"))?;
    let admin = server
        .admin_addr()
        .ok_or_else(|| anyhow::anyhow!("no admin listener"))?;
    print_banner(&Banner {
        gateway,
        admin,
        upstream: upstream_addr,
        audit: &dir.join("rampart-demo-audit.jsonl"),
        waf: crs.is_dir(),
        credentials: &credentials,
    });
    server.run(crate::shutdown_signal()).await;
    Ok(())
}

struct Banner<'a> {
    gateway: SocketAddr,
    admin: SocketAddr,
    upstream: SocketAddr,
    audit: &'a Path,
    waf: bool,
    credentials: &'a Credentials,
}

fn print_banner(b: &Banner<'_>) {
    let c = b.credentials;
    let waf_lines = if b.waf {
        "WAF (OWASP CRS 3.3, paranoia 1): SQL injection and XSS refused (403), rule ids in the audit log:
  curl -i \"http://GW/search?q=1'%20OR%20'1'%3D'1\"
  curl -i \"http://GW/search?q=%3Cscript%3Ealert(1)%3C/script%3E\"
  tail -n 2 AUDIT | grep -o '\"waf\":{[^}]*}'"
    } else {
        "WAF: install Debian's modsecurity-crs package (apt-get install modsecurity-crs) and restart the demo to see CRS at work."
    };
    let traversal_note = if b.waf {
        "(`/orders/%2e%2e/users/1` would be routed as /users/1 too, but CRS refuses the traversal: 403)"
    } else {
        "(`/orders/%2e%2e/users/1` is routed as /users/1 too)"
    };
    let text = format!(
        "\
Rampart demo
  gateway  http://GW   (sample API upstream on {upstream})
  admin    http://ADMIN   (/healthz, /readyz, /metrics, /revocations)
  audit    AUDIT

Credentials made for this run (API keys in a temporary SQLite store, only their
HMAC stored; tokens signed by an Ed25519 key generated at start, published as a
JWKS file). Paste these into your shell:
  export ALICE_KEY={alice_key}
  export BOB_KEY={bob_key}
  export ADMIN_KEY={admin_key}
  export ALICE_JWT={alice_jwt}
  export ADMIN_JWT={admin_jwt}
  export ADMIN_MFA_JWT={admin_mfa_jwt}
  export ADMIN_API_TOKEN={admin_api_token}
(alice and bob: users:read accounts:read; admin: role admin, every scope;
ADMIN_JWT is a password-only login, ADMIN_MFA_JWT one with MFA: acr=mfa, amr=[pwd,otp].)

Identity and access (scopes come from the spec's `security`):
  curl -i http://GW/users                                        # no credential: 401
  curl -i -H \"x-api-key: $ALICE_KEY\" http://GW/users             # valid key: 200
  curl -i -H \"Authorization: Bearer $ALICE_JWT\" http://GW/users  # valid token: 200
  curl -i -H 'x-api-key: rk_forged_0000' http://GW/users         # forged key: 401
  curl -i -X POST -H \"x-api-key: $ALICE_KEY\" -H 'Content-Type: application/json' -d '{{\"username\":\"eve\"}}' http://GW/users
                                                                 # missing scope users:write: 403
  curl -i -H \"x-api-key: $ALICE_KEY\" http://GW/accounts/alice    # own account: 200
  curl -i -H \"x-api-key: $ALICE_KEY\" http://GW/accounts/bob      # another user's (BOLA): 403
  curl -i -H \"x-api-key: $ADMIN_KEY\" http://GW/orders            # declared, no rule (default deny): 403
Admin operation (role admin + MFA): without MFA the RFC 9470 step-up challenge
(401, WWW-Authenticate: ... error=\"insufficient_user_authentication\"), with MFA 204:
  curl -i -X DELETE -H \"x-api-key: $ALICE_KEY\" http://GW/users/2              # not admin: 403
  curl -i -X DELETE -H \"Authorization: Bearer $ADMIN_JWT\" http://GW/users/2     # 401 step-up
  curl -i -X DELETE -H \"Authorization: Bearer $ADMIN_MFA_JWT\" http://GW/users/2 # 204
Revocation through the admin API (bearer token; every instance within 1 s when
identity.revocation names a Redis): bob's key stops working at once:
  curl -i -X POST -H \"Authorization: Bearer $ADMIN_API_TOKEN\" -d '{{\"kind\":\"api_key\",\"id\":\"{bob_prefix}\"}}' http://ADMIN/revocations
  curl -i -H \"Authorization: Bearer $ADMIN_API_TOKEN\" http://ADMIN/revocations
  curl -i -H \"x-api-key: $BOB_KEY\" http://GW/accounts/bob        # now 401

Passes, with what the naive API leaks removed (password_hash, ssn, api_token and
every field the spec does not declare are filtered out of the response):
  curl -i -H \"x-api-key: $ALICE_KEY\" http://GW/users/1
  curl -s http://{upstream}/users/1     # the same call straight to the naive upstream
Mass assignment refused (400, the spec's NewUser has no `role`):
  curl -i -X POST -H \"x-api-key: $ADMIN_KEY\" -H 'Content-Type: application/json' -d '{{\"username\":\"eve\",\"role\":\"admin\"}}' http://GW/users
Shadow API refused (not in the spec: 404), wrong type refused (400):
  curl -i http://GW/debug/config
  curl -i -H \"x-api-key: $ALICE_KEY\" http://GW/users/abc
Login lock-out: after 3 failed logins (401) the client IP gets 429 locked-out, and so
does the username in the body (from any IP: credential stuffing against one user); other
routes show RateLimit headers, and more than 5 logins a minute are 429 rate-limited:
  for i in 1 2 3 4; do curl -s -o /dev/null -w '%{{http_code}}\\n' -X POST -H 'Content-Type: application/json' -d '{{\"username\":\"alice\",\"password\":\"guess\"}}' http://GW/login; done
  curl -i -X POST -H 'Content-Type: application/json' -d '{{\"username\":\"alice\",\"password\":\"guess\"}}' http://GW/login
{waf_lines}
Refused by the gateway itself (problem+json):
  curl -i --path-as-is 'http://GW/users/%zz'          # 400 malformed path
  # Content-Length with Transfer-Encoding (request smuggling), over a raw socket: 400
  bash -c 'exec 3<>/dev/tcp/TCPADDR; printf \"POST /users HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 5\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\n\" >&3; timeout 2 cat <&3'
  head -c 100000 /dev/zero | curl -i -X POST -H \"x-api-key: $ADMIN_KEY\" -H 'Content-Type: application/json' --data-binary @- http://GW/users   # 413
  (without a credential this one is 401 first: a body is read only for callers allowed to send it)
Normalised before routing (what the upstream will see): `%31` is `1`, so this is /users/1;
{traversal_note}
  curl -i --path-as-is -H \"x-api-key: $ALICE_KEY\" 'http://GW/users/%31'
Upstream's Server/X-Powered-By headers are removed; X-Request-Id is returned:
  curl -si -H \"x-api-key: $ALICE_KEY\" http://GW/users/1 | head -20
Metrics:
  curl -s http://ADMIN/metrics | grep -E 'rampart_requests_total|rampart_authn_failures_total'
Press Ctrl-C to stop.",
        upstream = b.upstream,
        alice_key = c.alice_key,
        bob_key = c.bob_key,
        admin_key = c.admin_key,
        alice_jwt = c.alice_jwt,
        admin_jwt = c.admin_jwt,
        admin_mfa_jwt = c.admin_mfa_jwt,
        admin_api_token = c.admin_api_token,
        bob_prefix = c.bob_prefix,
    );
    let text = text
        .replace("GW/", &format!("{}/", b.gateway))
        .replace("http://GW", &format!("http://{}", b.gateway))
        .replace("http://ADMIN", &format!("http://{}", b.admin))
        .replace("AUDIT", &b.audit.display().to_string())
        .replace(
            "TCPADDR",
            &format!("{}/{}", b.gateway.ip(), b.gateway.port()),
        );
    println!("{text}");
}

async fn serve_sample_api(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(sample_api))
                .await;
        });
    }
}

fn users() -> serde_json::Value {
    json!([
        {"id": 1, "username": "alice", "email": "alice@example.com", "role": "admin",
         "password_hash": "$2b$12$Kix9ZbZbQ6Xo6Hn3H9m6HO", "ssn": "078-05-1120", "api_token": "tok_live_alice_9f8e7d"},
        {"id": 2, "username": "bob", "email": "bob@example.com", "role": "user",
         "password_hash": "$2b$12$Q7c0tP0y8m2m1Vq3z5S7pe", "ssn": "219-09-9999", "api_token": "tok_live_bob_1a2b3c"}
    ])
}

/// The naive sample API.
async fn sample_api(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let (status, value) = match (method, path.as_str()) {
        (Method::GET, "/users") => (StatusCode::OK, users()),
        (Method::DELETE, p) if p.starts_with("/users/") => (StatusCode::NO_CONTENT, json!(null)),
        // Anyone's account, to anyone (BOLA).
        (Method::GET, p) if p.starts_with("/accounts/") => {
            let username = p.trim_start_matches("/accounts/");
            (
                StatusCode::OK,
                json!({"username": username, "plan": "gold", "balance": 1234.5,
                       "card_number": "4111111111111111", "card_cvv": "123"}),
            )
        }
        (Method::GET, p) if p.starts_with("/users/") => {
            let id = p.trim_start_matches("/users/");
            match users().as_array().and_then(|all| {
                all.iter()
                    .find(|u| u["id"].as_u64().map(|n| n.to_string()).as_deref() == Some(id))
                    .cloned()
            }) {
                Some(user) => (StatusCode::OK, user),
                None => (
                    StatusCode::NOT_FOUND,
                    json!({"error": "no such user", "query": format!("SELECT * FROM users WHERE id = {id}")}),
                ),
            }
        }
        // Accepts any property, including `role: admin` (mass assignment).
        (Method::POST, "/users") => match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(mut user) => {
                user["id"] = json!(3);
                (StatusCode::CREATED, user)
            }
            Err(err) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": err.to_string(), "trace": "at UserController.create (users.js:42)"}),
            ),
        },
        (Method::POST, "/login") => (
            StatusCode::UNAUTHORIZED,
            json!({"error": "wrong password for alice", "hint": "passwords are case-sensitive"}),
        ),
        (Method::GET, "/search") => (StatusCode::OK, json!({"results": []})),
        (Method::GET, "/debug/config") => (
            StatusCode::OK,
            json!({"db_password": "hunter2", "env": "prod"}),
        ),
        (Method::GET, "/orders") => (
            StatusCode::OK,
            json!([{"id": 10, "user_id": 1, "card_number": "4111111111111111", "total": 42.5}]),
        ),
        _ => (StatusCode::NOT_FOUND, json!({"error": "not found"})),
    };
    let body = if status == StatusCode::NO_CONTENT {
        Bytes::new()
    } else {
        Bytes::from(value.to_string())
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::SERVER,
        header::HeaderValue::from_static("SampleAPI/0.1 (Debian)"),
    );
    headers.insert(
        "x-powered-by",
        header::HeaderValue::from_static("Express 4.17.1"),
    );
    Ok(response)
}
