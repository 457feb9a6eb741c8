//! The admin listener (127.0.0.1 by default): `/healthz` (the process answers),
//! `/readyz` (serving, not draining, and ready as far as the extension knows:
//! the binary's waits for the first revocation sync), `/metrics` (Prometheus text format),
//! plus whatever the [`AdminExtension`] of the stage factory serves (the binary's:
//! `/revocations`, behind a bearer token).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use rampart_core::{Problem, ProblemType};

use crate::Gateway;
use crate::problems::problem_response;

const NOT_FOUND: ProblemType = ProblemType::new("admin-not-found", 404, "Not Found");
const NOT_READY: ProblemType = ProblemType::new("not-ready", 503, "Service Unavailable");
const METHOD: ProblemType = ProblemType::new("method-not-allowed", 405, "Method Not Allowed");
const TOO_LARGE: ProblemType = ProblemType::new("admin-body-too-large", 413, "Payload Too Large");
const BODY_TIMEOUT: ProblemType = ProblemType::new("request-timeout", 408, "Request Timeout");

/// A boxed admin answer future.
pub type AdminFuture<'a> = Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send + 'a>>;

/// Extra admin endpoints, supplied by the [`crate::StageFactory`] (the gateway
/// knows nothing of what they do).
pub trait AdminExtension: Send + Sync + 'static {
    /// Whether this extension serves `path` (decided before the body is read).
    fn serves(&self, path: &str) -> bool;

    /// Largest request body it accepts; larger ones get 413 unread. Default 4 KiB.
    fn max_body(&self) -> usize {
        4 * 1024
    }

    /// Whether the instance may take traffic as far as this extension knows
    /// (`/readyz` answers 503 otherwise). Default: yes.
    fn ready(&self) -> bool {
        true
    }

    /// Answers one request for a path it [`serves`](Self::serves). `peer` is
    /// the TCP peer of the admin connection (for its logs; no forwarding
    /// header is trusted here).
    fn handle<'a>(
        &'a self,
        peer: SocketAddr,
        method: &'a Method,
        path: &'a str,
        headers: &'a HeaderMap,
        body: Bytes,
    ) -> AdminFuture<'a>;
}

fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn problem(kind: ProblemType) -> Response<Full<Bytes>> {
    problem_response(&Problem::new(kind), "admin").map(Full::new)
}

/// Serves one admin request that came from `peer`.
pub async fn handle<B>(
    gateway: Arc<Gateway>,
    peer: SocketAddr,
    request: Request<B>,
) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: http_body::Body<Data = Bytes> + Send,
    B::Error: Into<crate::BoxError>,
{
    if let Some(extension) = gateway.factory.admin_extension()
        && extension.serves(request.uri().path())
    {
        let (parts, body) = request.into_parts();
        let limit = extension.max_body();
        let declared_too_large = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|len| len > limit as u64);
        if declared_too_large {
            return Ok(problem(TOO_LARGE));
        }
        // Bounded in time like a client body Rampart buffers: a declared body
        // that never arrives must not hold the connection.
        let timeout = gateway.runtime().config.limits.body_read_timeout;
        let body = match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(_)) => return Ok(problem(TOO_LARGE)),
            Err(_) => return Ok(problem(BODY_TIMEOUT)),
        };
        let response = extension
            .handle(peer, &parts.method, parts.uri.path(), &parts.headers, body)
            .await;
        return Ok(response);
    }
    let read = request.method() == Method::GET || request.method() == Method::HEAD;
    let response = match request.uri().path() {
        "/healthz" | "/readyz" | "/metrics" if !read => {
            // RFC 9110 15.5.6: a 405 says which methods the resource takes.
            let mut response = problem(METHOD);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            response
        }
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n"),
        "/readyz"
            if !gateway.is_draining()
                && gateway
                    .factory
                    .admin_extension()
                    .is_none_or(|extension| extension.ready()) =>
        {
            text(StatusCode::OK, "text/plain", "ready\n")
        }
        "/readyz" => problem(NOT_READY),
        "/metrics" => {
            let rendered = crate::telemetry::handle()
                .map(|h| h.render())
                .unwrap_or_default();
            text(StatusCode::OK, "text/plain; version=0.0.4", rendered)
        }
        _ => problem(NOT_FOUND),
    };
    Ok(response)
}
