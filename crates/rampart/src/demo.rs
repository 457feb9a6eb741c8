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

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run() -> anyhow::Result<()> {
    let upstream = TcpListener::bind("127.0.0.1:0").await?;
    let upstream_addr = upstream.local_addr()?;
    tokio::spawn(serve_sample_api(upstream));

    let dir = std::env::temp_dir().join(format!("rampart-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config_path = dir.join("rampart.yaml");
    std::fs::write(
        &config_path,
        DEMO_CONFIG.replace("${UPSTREAM_PORT}", &upstream_addr.port().to_string()),
    )?;
    std::fs::write(dir.join("openapi.yaml"), DEMO_SPEC)?;
    let config = rampart_config::load(&config_path)
        .map_err(|errors| anyhow::anyhow!("demo configuration refused:\n{errors}"))?;
    let server =
        rampart_gateway::Server::bind(config, Arc::new(crate::stages::EngineStages::default()))
            .await?;
    print_banner(upstream_addr, &dir.join("rampart-demo-audit.jsonl"));
    server.run(crate::shutdown_signal()).await;
    Ok(())
}

fn print_banner(upstream: SocketAddr, audit: &std::path::Path) {
    println!(
        "\
Rampart demo
  gateway  http://127.0.0.1:8080   (sample API upstream on {upstream})
  admin    http://127.0.0.1:9901   (/healthz, /readyz, /metrics)
  audit    {audit}

Passes through the gateway:
  curl -i http://127.0.0.1:8080/users
  curl -i http://127.0.0.1:8080/users/1
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
        audit = audit.display()
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
