//! Per-request cost of the OpenAPI stages on the sample spec (tests/data/users.yaml):
//! validation of a typical operation with a ~1 KB JSON body (`POST /users`: route
//! match, parameters, pre-scan, schema, mass assignment), and filtering of a ~10 KB
//! JSON response (`GET /users`: 40 users, each with members to drop).
//!
//! Run: `cargo bench -p rampart-openapi --bench openapi`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use rampart_core::{RequestCx, ResponseCx, Stage, Step, Verdict};
use rampart_openapi::OpenApiConfig;

fn config() -> OpenApiConfig {
    serde_saphyr::from_str(
        "spec: users.yaml\nforbidden_properties: [is_admin, role]\nrole_visible:\n  salary: [hr]\n",
    )
    .unwrap()
}

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn request_body() -> String {
    let friend = |i: usize| {
        format!(
            r#"{{"name":"Friend number {i}","email":"friend{i}@example.com","nickname":"f{i}","address":{{"city":"Lyon"}}}}"#
        )
    };
    let friends: Vec<String> = (0..5).map(friend).collect();
    format!(
        r#"{{"name":"Alice Liddell","email":"alice@example.com","password":"correct horse battery staple","nickname":"alice","address":{{"city":"Oxford"}},"friends":[{}]}}"#,
        friends.join(",")
    )
}

fn response_body() -> String {
    let user = |i: usize| {
        format!(
            r#"{{"id":{i},"name":"User {i}","email":"user{i}@example.com","password":"hunter{i}","salary":{},"nickname":null,"internal_score":0.{i},"address":{{"city":"Paris","zip":"7500{}"}},"api_key_hint":"k{i}"}}"#,
            50_000 + i,
            i % 10
        )
    };
    let users: Vec<String> = (0..40).map(user).collect();
    format!("[{}]", users.join(","))
}

fn cx(method: Method, path: &str) -> RequestCx {
    let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
    RequestCx::new("bench".into(), peer, method, path.into())
}

fn done(step: Step<'_>) -> Verdict {
    match step {
        Step::Done(v) => v,
        Step::Wait(_) => panic!("synchronous"),
    }
}

fn bench(c: &mut Criterion) {
    let (route, validation) = config().build(&data()).unwrap().stages();
    let body = Bytes::from(request_body());
    let resp_body = Bytes::from(response_body());
    eprintln!(
        "request body {} bytes, response body {} bytes",
        body.len(),
        resp_body.len()
    );

    let make_request = || {
        let mut cx = cx(Method::POST, "/v1/users");
        cx.headers
            .insert("content-type", HeaderValue::from_static("application/json"));
        cx.headers
            .insert("content-length", HeaderValue::from(body.len()));
        cx.body = Some(body.clone());
        cx
    };
    // Sanity: the benchmarked request passes.
    let mut check = make_request();
    assert_eq!(done(route.on_request(&mut check)), Verdict::Continue);
    assert_eq!(done(validation.on_request(&mut check)), Verdict::Continue);

    c.bench_function("request: route + validate POST /users (1 KB JSON)", |b| {
        b.iter_batched_ref(
            make_request,
            |cx| {
                let v1 = done(route.on_request(cx));
                let v2 = done(validation.on_request(cx));
                black_box((v1, v2))
            },
            BatchSize::SmallInput,
        )
    });

    let mut routed = cx(Method::GET, "/v1/users");
    assert_eq!(done(route.on_request(&mut routed)), Verdict::Continue);
    let make_response = || {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        ResponseCx {
            status: StatusCode::OK,
            headers,
            body: Some(resp_body.clone()),
        }
    };
    let mut sample = make_response();
    assert_eq!(
        done(route.on_response(&mut routed, &mut sample)),
        Verdict::Continue
    );
    assert_eq!(
        done(validation.on_response(&mut routed, &mut sample)),
        Verdict::Continue
    );
    assert!(sample.body.as_ref().unwrap().len() < resp_body.len());

    c.bench_function("response: mask + filter GET /users (10 KB JSON)", |b| {
        b.iter_batched_ref(
            make_response,
            |resp| {
                let v1 = done(route.on_response(&mut routed, resp));
                let v2 = done(validation.on_response(&mut routed, resp));
                black_box((v1, v2))
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
