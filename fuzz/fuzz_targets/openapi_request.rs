//! Fuzzes the whole request path of the OpenAPI stages over the sample spec
//! (crates/rampart-openapi/tests/data): route match, parameters, body pre-scan, schema
//! validation and mass assignment. The first byte picks an operation; the rest is
//! `query\nbody`. Invariants: no panic; every refusal is one of the statuses the
//! stages document; a body rewritten in strip mode is still JSON.
#![no_main]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use rampart_core::{RequestCx, Stage, Step, Verdict};
use rampart_openapi::{OpenApiConfig, RouteStage, ValidationStage};

fn stages() -> &'static (RouteStage, ValidationStage) {
    static STAGES: OnceLock<(RouteStage, ValidationStage)> = OnceLock::new();
    STAGES.get_or_init(|| {
        let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/rampart-openapi/tests/data");
        let text = std::fs::read_to_string(data.join("rampart.yaml")).expect("sample config");
        let cfg: OpenApiConfig = serde_saphyr::from_str(&text).expect("sample config parses");
        cfg.build(&data).expect("sample spec builds").stages()
    })
}

const OPS: [(&str, &str); 8] = [
    ("POST", "/v1/users"),
    ("PATCH", "/v1/users/1"),
    ("GET", "/v1/users"),
    ("GET", "/v1/users/%31"),
    ("POST", "/v1/login"),
    ("GET", "/v1/sessions"),
    ("PUT", "/v1/users/1/avatar"),
    ("DELETE", "/v1/nope"),
];

fn done(step: Step<'_>) -> Verdict {
    match step {
        Step::Done(v) => v,
        Step::Wait(_) => panic!("openapi stages are synchronous"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let (method, path) = OPS[usize::from(pick) % OPS.len()];
    let (query, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let peer: SocketAddr = "127.0.0.1:1".parse().expect("addr");
    let mut cx = RequestCx::new("fuzz".into(), peer, Method::from_bytes(method.as_bytes()).expect("method"), path.into());
    if !query.is_empty() {
        cx.query = std::str::from_utf8(query).ok().map(String::from);
    }
    cx.headers.insert("content-type", HeaderValue::from_static("application/json"));
    cx.headers.insert("content-length", HeaderValue::from(body.len()));
    cx.headers.insert("cookie", HeaderValue::from_static("session=abcdefgh123"));
    cx.body = Some(Bytes::copy_from_slice(body));
    let (route, validation) = stages();
    let verdict = match done(route.on_request(&mut cx)) {
        Verdict::Continue => done(validation.on_request(&mut cx)),
        v => v,
    };
    match verdict {
        Verdict::Continue => {
            if let Some(b) = &cx.body {
                if b.as_ref() != body {
                    serde_json::from_slice::<serde_json::Value>(b).expect("rewritten body is JSON");
                }
            }
        }
        Verdict::Respond(p) => {
            assert!([400, 401, 403, 404, 405, 410, 413, 415].contains(&p.kind.status), "{p:?}");
        }
    }
});
