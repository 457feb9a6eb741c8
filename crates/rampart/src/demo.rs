//! `rampart demo`: the gateway on 127.0.0.1:8080 (admin 127.0.0.1:9901) in front of
//! an embedded sample API that is naive on purpose: it trusts every caller, returns
//! every field (password hashes, SSNs, tokens) and stores any property it is sent.
//! The demo configuration is examples/demo/rampart.yaml, compiled in.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

const DEMO_CONFIG: &str = include_str!("../../../examples/demo/rampart.yaml");
const DEMO_SPEC: &str = include_str!("../../../examples/demo/openapi.yaml");
/// Debian's OWASP CRS (package modsecurity-crs), used when installed.
const CRS_RULES: &str = "/usr/share/modsecurity-crs/rules";
const CRS_SETUP: &str = "/etc/modsecurity/crs/crs-setup.conf";

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run() -> anyhow::Result<()> {
    let upstream = TcpListener::bind("127.0.0.1:0").await?;
    let upstream_addr = upstream.local_addr()?;
    tokio::spawn(serve_sample_api(upstream));

    let dir = std::env::temp_dir().join(format!("rampart-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config_path = dir.join("rampart.yaml");
    let crs = std::path::Path::new(CRS_RULES);
    let waf = if crs.is_dir() {
        format!(
            "    waf:\n      rules: [{CRS_SETUP}, {CRS_RULES}/*.conf]\n      paranoia_level: 1\n"
        )
    } else {
        String::new()
    };
    let config_text = DEMO_CONFIG
        .replace("${UPSTREAM_PORT}", &upstream_addr.port().to_string())
        .replace("${WAF}", &waf);
    std::fs::write(&config_path, config_text)?;
    std::fs::write(dir.join("openapi.yaml"), DEMO_SPEC)?;
    let config = rampart_config::load(&config_path)
        .map_err(|errors| anyhow::anyhow!("demo configuration refused:\n{errors}"))?;
    let adapters = crate::start_adapters(&config).await?;
    let factory = Arc::new(crate::stages::EngineStages::with_adapters(adapters));
    let server = rampart_gateway::Server::bind(config, factory).await?;
    print_banner(
        upstream_addr,
        &dir.join("rampart-demo-audit.jsonl"),
        crs.is_dir(),
    );
    server.run(crate::shutdown_signal()).await;
    Ok(())
}

fn print_banner(upstream: SocketAddr, audit: &std::path::Path, waf: bool) {
    let waf_lines = if waf {
        "WAF (OWASP CRS 3.3, paranoia 1): SQL injection and XSS refused (403), rule ids in the audit log:
  curl -i \"http://127.0.0.1:8080/search?q=1'%20OR%20'1'%3D'1\"
  curl -i \"http://127.0.0.1:8080/search?q=%3Cscript%3Ealert(1)%3C/script%3E\"
  tail -n 2 AUDIT | grep -o '\"waf\":{[^}]*}'"
    } else {
        "WAF: install Debian's modsecurity-crs package (apt-get install modsecurity-crs) and restart the demo to see CRS at work."
    };
    println!(
        "\
Rampart demo
  gateway  http://127.0.0.1:8080   (sample API upstream on {upstream})
  admin    http://127.0.0.1:9901   (/healthz, /readyz, /metrics)
  audit    {audit}

Passes, with what the naive API leaks removed (password_hash, ssn, api_token and
every field the spec does not declare are filtered out of the response):
  curl -i http://127.0.0.1:8080/users/1
  curl -s http://{upstream}/users/1     # the same call straight to the naive upstream
Mass assignment refused (400, the spec's NewUser has no `role`):
  curl -i -X POST -H 'Content-Type: application/json' -d '{{\"username\":\"eve\",\"role\":\"admin\"}}' http://127.0.0.1:8080/users
Shadow API refused (not in the spec: 404), wrong type refused (400):
  curl -i http://127.0.0.1:8080/debug/config
  curl -i http://127.0.0.1:8080/users/abc
Login lock-out: after 3 failed logins (401) the client IP gets 429 locked-out; other routes\nshow RateLimit headers, and more than 5 logins a minute are 429 rate-limited:
  for i in 1 2 3 4; do curl -s -o /dev/null -w '%{{http_code}}\\n' -X POST -H 'Content-Type: application/json' -d '{{}}' http://127.0.0.1:8080/login; done
  curl -i -X POST -H 'Content-Type: application/json' -d '{{}}' http://127.0.0.1:8080/login
{waf_lines}
Refused by the gateway itself (problem+json):
  curl -i --path-as-is 'http://127.0.0.1:8080/users/%zz'          # 400 malformed path
  curl -i -H 'Host: a' -H 'Host: b' http://127.0.0.1:8080/users    # 400 ambiguous host
  curl -i -X POST --data-binary @/dev/zero -H 'Content-Length: 999999999' http://127.0.0.1:8080/users
Normalised before routing (what the upstream will see):
  curl -i --path-as-is 'http://127.0.0.1:8080/orders/%2e%2e/users/1'
Upstream's Server/X-Powered-By headers are removed; X-Request-Id is returned:
  curl -si http://127.0.0.1:8080/users/1 | head -20
Metrics:
  curl -s http://127.0.0.1:9901/metrics | grep rampart_requests_total
Press Ctrl-C to stop.",
        audit = audit.display(),
        waf_lines = waf_lines.replace("AUDIT", &audit.display().to_string()),
    );
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
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
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
