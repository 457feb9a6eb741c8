//! Shared helpers: build the engine from the sample config, run requests and responses
//! through the two stages.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use rampart_core::{Identity, Problem, RequestCx, ResponseCx, Stage, Step, Verdict};
use rampart_openapi::{ManualClock, OpenApiConfig, RouteStage, ValidationStage};
use serde_json::Value;

/// 2026-06-01, after the legacy deprecation and before its sunset.
pub const NOW: i64 = 1_780_272_000;

pub fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub fn config() -> OpenApiConfig {
    let text = std::fs::read_to_string(data().join("rampart.yaml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

pub struct Api {
    pub route: RouteStage,
    pub validation: ValidationStage,
}

pub fn api() -> Api {
    api_at(NOW)
}

pub fn api_at(now: i64) -> Api {
    api_with(config(), now)
}

pub fn api_with(cfg: OpenApiConfig, now: i64) -> Api {
    let engine = cfg
        .build_with_clock(
            &data(),
            Arc::new(ManualClock::at_secs(u64::try_from(now).unwrap())),
        )
        .unwrap();
    let (route, validation) = engine.stages();
    Api { route, validation }
}

/// The API of tests/data/orders.yaml, `strict_query` as given.
pub fn orders_api(strict: bool) -> Api {
    let yaml = format!("spec: orders.yaml\nstrict_query: {strict}");
    api_with(serde_saphyr::from_str(&yaml).unwrap(), NOW)
}

pub fn req(method: &str, uri: &str) -> RequestCx {
    let (path, query) = match uri.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (uri, None),
    };
    let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let mut cx = RequestCx::new(
        "req-1".into(),
        peer,
        Method::from_bytes(method.as_bytes()).unwrap(),
        path.into(),
    );
    cx.query = query;
    cx
}

pub fn with_body(mut cx: RequestCx, content_type: &str, body: &str) -> RequestCx {
    cx.headers
        .insert("content-type", HeaderValue::from_str(content_type).unwrap());
    cx.headers
        .insert("content-length", HeaderValue::from(body.len()));
    cx.body = Some(Bytes::from(body.to_string()));
    cx
}

pub fn json(cx: RequestCx, body: &str) -> RequestCx {
    with_body(cx, "application/json", body)
}

pub fn as_consumer(mut cx: RequestCx, consumer: &str, roles: &[&str]) -> RequestCx {
    cx.identity = Some(Identity {
        consumer: consumer.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..Identity::default()
    });
    cx
}

pub fn done(step: Step<'_>) -> Verdict {
    match step {
        Step::Done(v) => v,
        Step::Wait(_) => panic!("openapi stages decide synchronously"),
    }
}

/// Runs the request through both stages, as the gateway would.
pub fn run(api: &Api, cx: &mut RequestCx) -> Verdict {
    match done(api.route.on_request(cx)) {
        Verdict::Continue => done(api.validation.on_request(cx)),
        refused => refused,
    }
}

pub fn refused(v: Verdict) -> Problem {
    match v {
        Verdict::Respond(p) => p,
        Verdict::Continue => panic!("expected a refusal"),
    }
}

pub fn passes(api: &Api, cx: &mut RequestCx) {
    let v = run(api, cx);
    assert_eq!(v, Verdict::Continue, "expected to pass: {:?}", v);
}

/// `(in, pointer, rule)` of each failure of a 400.
pub fn failures(p: &Problem) -> Vec<(String, String, String)> {
    assert_eq!(p.kind.status, 400, "{p:?}");
    let list = p
        .extensions
        .get("errors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    list.iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("in"), s("pointer"), s("rule"))
        })
        .collect()
}

pub fn has_failure(p: &Problem, within: &str, pointer: &str, rule: &str) -> bool {
    failures(p)
        .iter()
        .any(|(i, ptr, r)| i == within && ptr == pointer && r == rule)
}

pub fn response(status: u16, content_type: Option<&str>, body: &str) -> ResponseCx {
    let mut headers = http::HeaderMap::new();
    if let Some(ct) = content_type {
        headers.insert("content-type", HeaderValue::from_str(ct).unwrap());
    }
    headers.insert("content-length", HeaderValue::from(body.len()));
    ResponseCx {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        body: Some(Bytes::from(body.to_string())),
        body_truncated: false,
    }
}

/// Runs a response through both stages' response hooks, in response-phase order.
pub fn respond(api: &Api, cx: &mut RequestCx, resp: &mut ResponseCx) -> Verdict {
    assert!(api.route.response_phase() < api.validation.response_phase());
    match done(api.route.on_response(cx, resp)) {
        Verdict::Continue => done(api.validation.on_response(cx, resp)),
        refused => refused,
    }
}

pub fn body_json(resp: &ResponseCx) -> Value {
    serde_json::from_slice(resp.body.as_ref().unwrap()).unwrap()
}
