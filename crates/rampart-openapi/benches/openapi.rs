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
            r#"{{"name":"Friend number {i} of Alice","email":"friend{i}@example.com","nickname":"friend-{i}","address":{{"city":"Lyon, France"}}}}"#
        )
    };
    let friends: Vec<String> = (0..5).map(friend).collect();
    format!(
        r#"{{"name":"Alice Pleasance Liddell of Christ Church, Oxford","email":"alice.liddell@example.com","password":"correct horse battery staple, and then some more","nickname":"alice in wonderland, through the looking-glass","address":{{"city":"Oxford, Oxfordshire, England, United Kingdom"}},"friends":[{}]}}"#,
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
    let users: Vec<String> = (0..52).map(user).collect();
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
            body_truncated: false,
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

/// The parts of the request path, to see where the time goes.
fn parts(c: &mut Criterion) {
    let body = request_body();
    let limits = rampart_openapi::json::JsonLimits::default();
    c.bench_function("part: pre-scan 1 KB", |b| {
        b.iter(|| rampart_openapi::json::prescan(black_box(body.as_bytes()), &limits))
    });
    c.bench_function("part: serde_json parse 1 KB", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body.as_bytes())).unwrap())
    });

    use rampart_openapi::bundle::{Direction, SpecVersion, bundle, compile};
    use rampart_openapi::loader::DocSet;
    use rampart_openapi::shape::Shapes;
    let docs = DocSet::load(&data().join("users.yaml")).unwrap();
    let ptr = "/paths/~1users/post/requestBody/content/application~1json/schema";
    let schema = docs.main().pointer(ptr).unwrap();
    let bundled = bundle(&docs, 0, ptr, schema, SpecVersion::V30, Direction::Request).unwrap();
    let validator = compile(&bundled, SpecVersion::V30).unwrap();
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(validator.is_valid(&value));
    c.bench_function("part: schema is_valid 1 KB", |b| {
        b.iter(|| validator.is_valid(black_box(&value)))
    });
    let shapes = Shapes::build(&bundled, SpecVersion::V30.defs_key());
    let policy = rampart_openapi::config::Policy {
        strict_query: false,
        undeclared: rampart_openapi::UndeclaredMode::Refuse,
        max_body_bytes: 1 << 20,
        limits,
        forbidden: vec!["is_admin".into(), "role".into()],
        reveal: vec![],
        role_visible: Default::default(),
        auth_endpoint: false,
        request_schema: None,
        param_schemas: Vec::new(),
        username_field: None,
    };
    let resp = response_body();
    c.bench_function("part: serde_json parse 10 KB (reference)", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(resp.as_bytes())).unwrap())
    });
    c.bench_function("part: mass-assignment walk 1 KB", |b| {
        b.iter_batched_ref(
            || value.clone(),
            |v| {
                let mut failures = Vec::new();
                rampart_openapi::massign::check(&shapes, v, &policy, &mut failures);
                assert!(failures.is_empty());
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench, parts);
criterion_main!(benches);
