//! CPU cost per request of the OpenAPI stages, measured as this thread's CPU time
//! (from /proc/thread-self/stat) over many iterations, so that other processes on a
//! shared machine do not inflate it the way they inflate wall-clock benchmarks.
//! Complements the criterion bench (benches/openapi.rs), with the same inputs.
//!
//! Run: `cargo run --release -p rampart-openapi --example cost`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use rampart_core::{RequestCx, ResponseCx, Stage, Step, Verdict};
use rampart_openapi::OpenApiConfig;

/// This thread's user + system CPU time, in clock ticks (1/100 s).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).unwrap().parse::<u64>().unwrap();
    field(11) + field(12)
}

fn done(step: Step<'_>) -> Verdict {
    match step {
        Step::Done(v) => v,
        Step::Wait(_) => panic!("synchronous"),
    }
}

/// Runs `f` `n` times; returns (CPU µs per call, wall µs per call).
fn measure(n: u32, mut f: impl FnMut()) -> (f64, f64) {
    let (c0, t0) = (cpu_ticks(), Instant::now());
    for _ in 0..n {
        f();
    }
    let cpu = (cpu_ticks() - c0) as f64 * 10_000.0 / f64::from(n);
    (cpu, t0.elapsed().as_secs_f64() * 1e6 / f64::from(n))
}

fn main() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let cfg: OpenApiConfig = serde_saphyr::from_str(
        "spec: users.yaml\nforbidden_properties: [is_admin, role]\nrole_visible:\n  salary: [hr]\n",
    )
    .unwrap();
    let (route, validation) = cfg.build(&data).unwrap().stages();
    let friends: Vec<String> = (0..5)
        .map(|i| format!(r#"{{"name":"Friend number {i} of Alice","email":"friend{i}@example.com","nickname":"friend-{i}","address":{{"city":"Lyon, France"}}}}"#))
        .collect();
    let body = Bytes::from(format!(
        r#"{{"name":"Alice Pleasance Liddell of Christ Church, Oxford","email":"alice.liddell@example.com","password":"correct horse battery staple, and then some more","nickname":"alice in wonderland, through the looking-glass","address":{{"city":"Oxford, Oxfordshire, England, United Kingdom"}},"friends":[{}]}}"#,
        friends.join(",")
    ));
    let users: Vec<String> = (0..52)
        .map(|i| format!(r#"{{"id":{i},"name":"User {i}","email":"user{i}@example.com","password":"hunter{i}","salary":{},"nickname":null,"internal_score":0.{i},"address":{{"city":"Paris","zip":"7500{}"}},"api_key_hint":"k{i}"}}"#, 50_000 + i, i % 10))
        .collect();
    let resp_body = Bytes::from(format!("[{}]", users.join(",")));
    let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let make_request = || {
        let mut cx = RequestCx::new("cost".into(), peer, Method::POST, "/v1/users".into());
        cx.headers
            .insert("content-type", HeaderValue::from_static("application/json"));
        cx.headers
            .insert("content-length", HeaderValue::from(body.len()));
        cx.body = Some(body.clone());
        cx
    };
    let make_response = || {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        ResponseCx {
            status: StatusCode::OK,
            headers,
            body: Some(resp_body.clone()),
            body_truncated: false,
        }
    };
    let mut routed = RequestCx::new("cost".into(), peer, Method::GET, "/v1/users".into());
    assert_eq!(done(route.on_request(&mut routed)), Verdict::Continue);

    let n = 100_000;
    let (setup_req, _) = measure(n, || drop(black_box(make_request())));
    let (req, req_wall) = measure(n, || {
        let mut cx = make_request();
        let v = (
            done(route.on_request(&mut cx)),
            done(validation.on_request(&mut cx)),
        );
        assert_eq!(v, (Verdict::Continue, Verdict::Continue));
        black_box(cx);
    });
    let (setup_resp, _) = measure(n, || drop(black_box(make_response())));
    let (resp, resp_wall) = measure(n / 4, || {
        let mut r = make_response();
        done(route.on_response(&mut routed, &mut r));
        done(validation.on_response(&mut routed, &mut r));
        black_box(r);
    });
    let (parse, _) = measure(n / 4, || {
        black_box(serde_json::from_slice::<serde_json::Value>(&resp_body).unwrap());
    });
    println!(
        "request  ({} B JSON): {:.2} µs CPU per request ({:.2} µs wall)",
        body.len(),
        req - setup_req,
        req_wall
    );
    println!(
        "response ({} B JSON): {:.2} µs CPU per response ({:.2} µs wall)",
        resp_body.len(),
        resp - setup_resp,
        resp_wall
    );
    println!("reference: serde_json parse of the same response: {parse:.2} µs CPU");
}
