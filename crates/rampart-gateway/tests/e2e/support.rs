//! Test harness: an echo upstream, a gateway started from YAML, clients.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rampart_gateway::{Gateway, NoStages, Server, StageFactory};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// What the upstream saw, per request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path_and_query: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// An upstream that answers with a JSON echo and records every request.
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<parking_lot::Mutex<Vec<Seen>>>,
}

impl Upstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| echo(req, seen.clone()));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, seen }
    }

    pub fn paths(&self) -> Vec<String> {
        self.seen
            .lock()
            .iter()
            .map(|s| s.path_and_query.clone())
            .collect()
    }

    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .last()
            .cloned()
            .expect("upstream saw no request")
    }
}

async fn echo(
    request: Request<Incoming>,
    seen: Arc<parking_lot::Mutex<Vec<Seen>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    seen.lock().push(Seen {
        path_and_query: path_and_query.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    if let Some(ms) = path_and_query.strip_prefix("/slow/") {
        let ms: u64 = ms.parse().unwrap_or(1000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut response = Response::new(Full::new(Bytes::from(
        serde_json::json!({"path": path_and_query, "method": parts.method.as_str(), "body_len": body.len()})
            .to_string(),
    )));
    if path_and_query.starts_with("/status/500") {
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    }
    if let Some(size) = path_and_query.strip_prefix("/big/") {
        // A body larger than the sockets' buffers, for tests of slow readers.
        *response.body_mut() = Full::new(Bytes::from(vec![b'x'; size.parse().unwrap_or(0)]));
    }
    if path_and_query.starts_with("/status/204") {
        *response.status_mut() = StatusCode::NO_CONTENT;
        *response.body_mut() = Full::new(Bytes::new());
    }
    let headers = response.headers_mut();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("server", "Apache/2.4.1 (Unix)".parse().unwrap());
    headers.insert("x-powered-by", "PHP/5.6".parse().unwrap());
    headers.insert(
        "set-cookie",
        "session=upstream-secret-cookie".parse().unwrap(),
    );
    Ok(response)
}

/// A running gateway.
pub struct Running {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub gateway: Arc<Gateway>,
    pub dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("rampart.yaml")
    }

    pub fn audit_path(&self) -> PathBuf {
        self.dir.join("audit.jsonl")
    }

    /// Audit records written so far (waits briefly for the writer).
    pub async fn audit_records(&self, at_least: usize) -> Vec<serde_json::Value> {
        for _ in 0..100 {
            let text = std::fs::read_to_string(self.audit_path()).unwrap_or_default();
            let records: Vec<serde_json::Value> = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if records.len() >= at_least {
                return records;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("fewer than {at_least} audit records");
    }

    /// Stops the gateway and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("rampart-e2e-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A config with one plain listener on port 0, an audit file, and `extra` YAML
/// (top-level keys) plus `api_extra` (keys of the one API).
pub fn config_yaml(upstream: SocketAddr, extra: &str, api_extra: &str) -> String {
    format!(
        "listeners:\n  - bind: 127.0.0.1:0\nadmin:\n  bind: 127.0.0.1:0\naudit:\n  sinks:\n    - file: {{path: audit.jsonl}}\n{extra}\napis:\n  - name: echo\n    upstream:\n      url: http://{upstream}\n{api_extra}\n"
    )
}

pub async fn start(yaml: &str) -> Running {
    start_with(yaml, Arc::new(NoStages), "gw").await
}

pub async fn start_with(yaml: &str, factory: Arc<dyn StageFactory>, name: &str) -> Running {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = temp_dir(name);
    let path = dir.join("rampart.yaml");
    std::fs::write(&path, yaml).unwrap();
    let config = rampart_config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let server = Server::bind(config, factory)
        .await
        .unwrap()
        .without_config_watch();
    let addr = server.local_addrs()[0];
    let admin = server.admin_addr().unwrap();
    let gateway = server.gateway();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        admin,
        gateway,
        dir,
        stop: Some(stop),
        task: Some(task),
    }
}

/// A pooled HTTP client.
pub fn client() -> hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
> {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http()
}

/// Sends a request and returns status, headers and body.
pub async fn send(request: Request<Full<Bytes>>) -> (StatusCode, http::HeaderMap, Bytes) {
    let response = client().request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

pub async fn get(url: &str) -> (StatusCode, http::HeaderMap, Bytes) {
    send(Request::get(url).body(Full::new(Bytes::new())).unwrap()).await
}

/// Writes raw bytes and reads until the server closes or `wait` passes.
pub async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of the first response in raw output.
pub fn status_of(raw: &str) -> u16 {
    raw.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// Asserts a body is an RFC 9457 problem of the given type slug and status.
pub fn assert_problem(headers: &http::HeaderMap, body: &[u8], slug: &str, status: u16) {
    assert_eq!(headers["content-type"], "application/problem+json");
    let problem = json(body);
    assert_eq!(
        problem["type"],
        format!("urn:rampart:problem:{slug}"),
        "{problem}"
    );
    assert_eq!(problem["status"], status);
    assert!(problem["title"].is_string());
    assert_eq!(
        problem["request_id"].as_str(),
        headers.get("x-request-id").and_then(|v| v.to_str().ok())
    );
}

/// Whether the gateway serves HTTP/1 with hyper (the `RAMPART_HTTP1=hyper`
/// fallback): it hands the request path a header map, not the raw fields,
/// and writes responses its own way.
pub fn hyper_h1_server() -> bool {
    std::env::var("RAMPART_HTTP1").is_ok_and(|v| v == "hyper")
}

/// Whether the gateway's upstream client is hyper's (the
/// `RAMPART_UPSTREAM_H1=hyper` fallback, also run by scripts/test.sh).
pub fn hyper_h1_client() -> bool {
    std::env::var("RAMPART_UPSTREAM_H1").is_ok_and(|v| v == "hyper")
}
