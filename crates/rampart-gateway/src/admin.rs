//! The admin listener (127.0.0.1 by default): `/healthz` (the process answers),
//! `/readyz` (serving and not draining), `/metrics` (Prometheus text format).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use rampart_core::{Problem, ProblemType};

use crate::Gateway;
use crate::problems::problem_response;

const NOT_FOUND: ProblemType = ProblemType::new("admin-not-found", 404, "Not Found");
const NOT_READY: ProblemType = ProblemType::new("not-ready", 503, "Service Unavailable");
const METHOD: ProblemType = ProblemType::new("method-not-allowed", 405, "Method Not Allowed");

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

/// Serves one admin request.
pub async fn handle<B>(
    gateway: Arc<Gateway>,
    request: Request<B>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Ok(problem(METHOD));
    }
    let response = match request.uri().path() {
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n"),
        "/readyz" if !gateway.is_draining() => text(StatusCode::OK, "text/plain", "ready\n"),
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
