//! The stage pipeline: stages run in phase order, a refusal stops the request
//! before the upstream, bodies are buffered only when a stage asks, and the
//! response stages see the upstream's answer.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::Full;
use rampart_config::{Api, Config, ConfigErrors};
use rampart_core::{Phase, Problem, ProblemType, RequestCx, ResponseCx, Stage, Step, Verdict};
use rampart_gateway::StageFactory;

use crate::support::*;

const DENIED: ProblemType = ProblemType::new("test-denied", 403, "Forbidden");

/// Records its name in an `x-stages` request header; refuses when the request has
/// `x-deny: <name>`.
struct Recorder {
    name: &'static str,
    phase: Phase,
    body_limit: Option<usize>,
}

impl Stage for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }
    fn phase(&self) -> Phase {
        self.phase
    }
    fn request_body_limit(&self, _cx: &RequestCx) -> Option<usize> {
        self.body_limit
    }
    fn on_request<'a>(&'a self, cx: &'a mut RequestCx) -> Step<'a> {
        if cx.headers.get("x-deny").is_some_and(|v| v == self.name) {
            return Step::Done(Verdict::Respond(Problem::new(DENIED)));
        }
        let so_far = cx
            .headers
            .get("x-stages")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body_seen = cx
            .body
            .as_ref()
            .map_or(String::new(), |b| format!("({})", b.len()));
        cx.headers.insert(
            "x-stages",
            HeaderValue::from_str(&format!("{so_far}{}{body_seen},", self.name)).unwrap(),
        );
        // An async stage: resolves after yielding once.
        Step::Wait(Box::pin(async {
            tokio::task::yield_now().await;
            Verdict::Continue
        }))
    }
    fn on_response<'a>(&'a self, _cx: &'a mut RequestCx, response: &'a mut ResponseCx) -> Step<'a> {
        response
            .headers
            .append("x-response-stages", HeaderValue::from_static(self.name));
        Step::CONTINUE
    }
}

struct Factory;

impl StageFactory for Factory {
    fn stages(&self, _config: &Config, _api: &Api) -> Result<Vec<Arc<dyn Stage>>, ConfigErrors> {
        // Registered out of order on purpose.
        Ok(vec![
            Arc::new(Recorder {
                name: "waf",
                phase: Phase::Waf,
                body_limit: Some(100),
            }),
            Arc::new(Recorder {
                name: "authn",
                phase: Phase::Authentication,
                body_limit: None,
            }),
            Arc::new(Recorder {
                name: "route",
                phase: Phase::Route,
                body_limit: None,
            }),
        ])
    }
}

#[tokio::test]
async fn stages_run_in_phase_order_and_see_the_body_when_they_ask() {
    let upstream = Upstream::start().await;
    let gw = start_with(
        &config_yaml(upstream.addr, "", ""),
        Arc::new(Factory),
        "pipeline",
    )
    .await;
    let request = Request::post(gw.url("/x"))
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    let (status, headers, _) = send(request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upstream.last().headers["x-stages"], "route,authn,waf(5),");
    assert_eq!(upstream.last().body.as_ref(), b"hello");
    let names: Vec<_> = headers
        .get_all("x-response-stages")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    // All three use the default response phase (Headers): request-phase order.
    assert_eq!(names, ["route", "authn", "waf"]);
}

/// Replaces every upstream answer with a problem, as error masking and
/// response filtering do.
struct ReplacesAnswers;

impl Stage for ReplacesAnswers {
    fn name(&self) -> &'static str {
        "replaces"
    }
    fn phase(&self) -> Phase {
        Phase::Validation
    }
    fn on_request<'a>(&'a self, _cx: &'a mut RequestCx) -> Step<'a> {
        Step::CONTINUE
    }
    fn on_response<'a>(
        &'a self,
        _cx: &'a mut RequestCx,
        _response: &'a mut ResponseCx,
    ) -> Step<'a> {
        Step::Done(Verdict::Respond(Problem::new(DENIED)))
    }
}

struct ReplacingFactory;

impl StageFactory for ReplacingFactory {
    fn stages(&self, _config: &Config, _api: &Api) -> Result<Vec<Arc<dyn Stage>>, ConfigErrors> {
        Ok(vec![Arc::new(ReplacesAnswers)])
    }
}

#[tokio::test]
async fn an_answer_replaced_after_the_upstream_acted_is_recorded_as_reaching_it() {
    let upstream = Upstream::start().await;
    let gw = start_with(
        &config_yaml(upstream.addr, "", ""),
        Arc::new(ReplacingFactory),
        "pipeline-replaced",
    )
    .await;
    for path in ["/ok", "/status/500"] {
        let (status, headers, body) =
            send(Request::get(gw.url(path)).body(Full::default()).unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_problem(&headers, &body, "test-denied", 403);
    }
    assert_eq!(upstream.paths().len(), 2);
    let records = gw.audit_records(2).await;
    let of = |path: &str| records.iter().find(|r| r["path"] == path).unwrap().clone();
    // A refused answer: the stage's decision, with the upstream's time, so
    // the record is not one of a request stopped before the upstream.
    let ok = of("/ok");
    assert_eq!(ok["decision"], "deny", "{ok}");
    assert!(ok["upstream_ms"].is_number(), "{ok}");
    // A masked upstream failure stays the upstream's error.
    let failed = of("/status/500");
    assert_eq!(failed["decision"], "error", "{failed}");
    assert!(failed["upstream_ms"].is_number(), "{failed}");
}

#[tokio::test]
async fn a_refusing_stage_stops_the_request_before_the_upstream() {
    let upstream = Upstream::start().await;
    let gw = start_with(
        &config_yaml(upstream.addr, "", ""),
        Arc::new(Factory),
        "pipeline-deny",
    )
    .await;
    let request = Request::get(gw.url("/x"))
        .header("x-deny", "authn")
        .body(Full::default())
        .unwrap();
    let (status, headers, body) = send(request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_problem(&headers, &body, "test-denied", 403);
    assert!(upstream.paths().is_empty());
    let records = gw.audit_records(1).await;
    assert_eq!(records[0]["decision"], "deny");
    assert_eq!(records[0]["reason"], "test-denied");
    assert_eq!(records[0]["status"], 403);
}

#[tokio::test]
async fn bodies_past_a_stage_buffer_limit_get_413() {
    let upstream = Upstream::start().await;
    let gw = start_with(
        &config_yaml(upstream.addr, "", ""),
        Arc::new(Factory),
        "pipeline-413",
    )
    .await;
    let request = Request::post(gw.url("/x"))
        .body(Full::new(Bytes::from(vec![b'a'; 101])))
        .unwrap();
    let (status, headers, body) = send(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_problem(&headers, &body, "body-too-large", 413);
    // Chunked (no Content-Length) past the limit is refused while reading.
    let chunked = format!(
        "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n65\r\n{}\r\n0\r\n\r\n",
        "a".repeat(101)
    );
    let out = raw(
        gw.addr,
        chunked.as_bytes(),
        std::time::Duration::from_secs(3),
    )
    .await;
    assert_eq!(status_of(&out), 413, "{out}");
    // Exactly at the limit passes.
    let request = Request::post(gw.url("/x"))
        .body(Full::new(Bytes::from(vec![b'a'; 100])))
        .unwrap();
    assert_eq!(send(request).await.0, StatusCode::OK);
    assert_eq!(upstream.paths().len(), 1);
}

#[tokio::test]
async fn a_buffered_body_that_does_not_arrive_in_time_gets_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = Upstream::start().await;
    let gw = start_with(
        &config_yaml(upstream.addr, "limits: {body_read_timeout: 300ms}", ""),
        Arc::new(Factory),
        "pipeline-408",
    )
    .await;
    // Declares 50 bytes, sends 10 and then nothing: refused, not held open.
    let head = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 50\r\n\r\n0123456789";
    let out = raw(gw.addr, head.as_bytes(), std::time::Duration::from_secs(5)).await;
    assert_eq!(status_of(&out), 408, "{out}");
    assert!(out.contains("urn:rampart:problem:request-timeout"), "{out}");
    assert!(upstream.paths().is_empty());
    let records = gw.audit_records(1).await;
    assert_eq!(records[0]["status"], 408);
    assert_eq!(records[0]["reason"], "request-timeout");

    // A body sent in two parts well within the timeout passes.
    let mut stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\nConnection: close\r\n\r\n0123456789")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    stream.write_all(b"abcdefghij").await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut out),
    )
    .await;
    assert_eq!(status_of(&String::from_utf8_lossy(&out)), 200);
    assert_eq!(upstream.paths().len(), 1);
}

#[tokio::test]
async fn bodies_no_stage_needs_are_streamed_past_the_buffer_limit() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {max_body_bytes: 1KiB}",
        "",
    ))
    .await;
    let request = Request::post(gw.url("/upload"))
        .body(Full::new(Bytes::from(vec![b'z'; 200_000])))
        .unwrap();
    let (status, _, body) = send(request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["body_len"], 200_000);
    let records = gw.audit_records(1).await;
    assert_eq!(records[0]["bytes_in"], 200_000);
}

/// Two stages read the body: an early one with a large limit (like the OpenAPI
/// validator) and a later one with a small limit (like the WAF).
struct TwoReadersFactory;

impl StageFactory for TwoReadersFactory {
    fn stages(&self, _config: &Config, _api: &Api) -> Result<Vec<Arc<dyn Stage>>, ConfigErrors> {
        Ok(vec![
            Arc::new(Recorder {
                name: "route",
                phase: Phase::Route,
                body_limit: Some(1000),
            }),
            Arc::new(Recorder {
                name: "waf",
                phase: Phase::Waf,
                body_limit: Some(100),
            }),
        ])
    }
}

#[tokio::test]
async fn the_smallest_body_limit_of_the_route_applies_whichever_stage_reads_first() {
    let upstream = Upstream::start().await;
    let gw = start_with(
        &config_yaml(upstream.addr, "", ""),
        Arc::new(TwoReadersFactory),
        "pipeline-two-readers",
    )
    .await;
    // Within the first stage's limit but past the later one's: the later stage
    // must not be skipped (nor see a body it would have refused).
    for len in [101, 999] {
        let request = Request::post(gw.url("/x"))
            .body(Full::new(Bytes::from(vec![b'a'; len])))
            .unwrap();
        let (status, headers, body) = send(request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{len}");
        assert_problem(&headers, &body, "body-too-large", 413);
    }
    assert!(upstream.paths().is_empty());
    let request = Request::post(gw.url("/x"))
        .body(Full::new(Bytes::from(vec![b'a'; 100])))
        .unwrap();
    assert_eq!(send(request).await.0, StatusCode::OK);
    assert_eq!(upstream.last().headers["x-stages"], "route(100),waf(100),");
}

/// Replaces the buffered body with a longer one.
struct Rewriter;

impl Stage for Rewriter {
    fn name(&self) -> &'static str {
        "rewriter"
    }
    fn phase(&self) -> Phase {
        Phase::Transform
    }
    fn request_body_limit(&self, _cx: &RequestCx) -> Option<usize> {
        Some(1024)
    }
    fn on_request<'a>(&'a self, cx: &'a mut RequestCx) -> Step<'a> {
        cx.body = Some(Bytes::from_static(b"rewritten by a stage"));
        Step::CONTINUE
    }
}

struct RewriteFactory;

impl StageFactory for RewriteFactory {
    fn stages(&self, _config: &Config, _api: &Api) -> Result<Vec<Arc<dyn Stage>>, ConfigErrors> {
        Ok(vec![Arc::new(Rewriter)])
    }
}

#[tokio::test]
async fn a_rewritten_body_is_framed_by_its_new_length() {
    let upstream = Upstream::start().await;
    let gw = start_with(
        &config_yaml(upstream.addr, "", ""),
        Arc::new(RewriteFactory),
        "rewrite",
    )
    .await;
    for request in [
        "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        "POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ] {
        let out = raw(
            gw.addr,
            request.as_bytes(),
            std::time::Duration::from_secs(3),
        )
        .await;
        assert_eq!(status_of(&out), 200, "{out}");
        let seen = upstream.last();
        assert_eq!(seen.body.as_ref(), b"rewritten by a stage");
        assert!(seen.headers.get("transfer-encoding").is_none());
        assert_eq!(seen.headers["content-length"], "20");
    }
}

/// Asks for the response body and reports what it saw in `x-seen`
/// (`<bytes>,<truncated>`).
struct BodyReader {
    prefix_suffices: bool,
}

impl Stage for BodyReader {
    fn name(&self) -> &'static str {
        "body-reader"
    }
    fn phase(&self) -> Phase {
        Phase::Waf
    }
    fn wants_response_body(&self, _cx: &RequestCx, _response: &ResponseCx) -> bool {
        true
    }
    fn inspects_response_body_prefix(&self) -> bool {
        self.prefix_suffices
    }
    fn on_response<'a>(&'a self, _cx: &'a mut RequestCx, response: &'a mut ResponseCx) -> Step<'a> {
        let len = response.body.as_ref().map_or(0, Bytes::len);
        let seen = format!("{len},{}", response.body_truncated);
        response
            .headers
            .insert("x-seen", HeaderValue::from_str(&seen).unwrap());
        Step::CONTINUE
    }
}

struct BodyReaderFactory(bool);

impl StageFactory for BodyReaderFactory {
    fn stages(&self, _config: &Config, _api: &Api) -> Result<Vec<Arc<dyn Stage>>, ConfigErrors> {
        Ok(vec![Arc::new(BodyReader {
            prefix_suffices: self.0,
        })])
    }
}

/// An upstream answering every request with a chunked text body of `len`
/// bytes (64 KiB chunks), then closing.
async fn chunked_upstream(len: usize) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
                let mut left = len;
                while left > 0 {
                    let n = left.min(64 << 10);
                    out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                    out.resize(out.len() + n, b'x');
                    out.extend_from_slice(b"\r\n");
                    left -= n;
                }
                out.extend_from_slice(b"0\r\n\r\n");
                let _ = stream.write_all(&out).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

/// A gateway with one [`BodyReader`] in front of [`chunked_upstream`]`(len)`.
async fn body_reader_gateway(len: usize, prefix_suffices: bool, name: &str) -> Running {
    let upstream = chunked_upstream(len).await;
    start_with(
        &config_yaml(upstream, "", ""),
        Arc::new(BodyReaderFactory(prefix_suffices)),
        name,
    )
    .await
}

#[tokio::test]
async fn a_body_too_long_to_buffer_reaches_prefix_inspectors_and_streams_on() {
    let long = (16 << 20) + 300_000;
    let gw = body_reader_gateway(long, true, "response-prefix").await;
    let (status, headers, body) = get(&gw.url("/big")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.len(), long, "the whole body reaches the client");
    assert!(body.iter().all(|&b| b == b'x'));
    let seen = headers["x-seen"].to_str().unwrap();
    let (seen_len, truncated) = seen.split_once(',').unwrap();
    assert_eq!(truncated, "true");
    let seen_len: usize = seen_len.parse().unwrap();
    assert!((16 << 20) < seen_len && seen_len < long, "{seen}");
    let records = gw.audit_records(1).await;
    assert_eq!(records[0]["bytes_out"], long);

    // A short chunked body is seen whole.
    let gw = body_reader_gateway(200_000, true, "response-prefix-short").await;
    let (status, headers, body) = get(&gw.url("/small")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.len(), 200_000);
    assert_eq!(headers["x-seen"], "200000,false");
}

#[tokio::test]
async fn a_head_answer_keeps_its_content_length_when_a_stage_reads_response_bodies() {
    let upstream = Upstream::start().await;
    let gw = start_with(
        &config_yaml(upstream.addr, "", ""),
        Arc::new(BodyReaderFactory(false)),
        "response-head",
    )
    .await;
    let head = b"HEAD /thing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let length_of = |out: &str| {
        out.lines().find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
    };
    let wait = std::time::Duration::from_secs(3);
    // What the upstream answers a HEAD with: the representation's length.
    let direct = raw(upstream.addr, head, wait).await;
    let expected = length_of(&direct);
    assert!(expected.as_ref().is_some_and(|l| l != "0"), "{direct}");
    let out = raw(gw.addr, head, wait).await;
    assert_eq!(status_of(&out), 200, "{out}");
    // Kept (it was dropped: the stage's buffer held 0 bytes).
    assert_eq!(length_of(&out), expected, "{out}");
}

/// An upstream sending a head announcing 100 bytes, 10 of them, then nothing.
async fn stalling_upstream() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
                    .await;
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_body_stalling_while_buffered_for_a_stage_is_a_gateway_timeout() {
    let gw = start_with(
        &config_yaml(
            stalling_upstream().await,
            "",
            "      response_body_timeout: 300ms",
        ),
        Arc::new(BodyReaderFactory(false)),
        "response-stall",
    )
    .await;
    let (status, headers, body) = get(&gw.url("/slow")).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_problem(&headers, &body, "upstream-timeout", 504);
}

#[tokio::test]
async fn a_body_too_long_for_a_whole_body_stage_is_refused() {
    let gw = body_reader_gateway((16 << 20) + 1, false, "response-whole").await;
    let (status, headers, body) = get(&gw.url("/big")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_problem(&headers, &body, "upstream-unreachable", 502);
    // Exactly at the buffer limit it is seen whole and passes.
    let gw = body_reader_gateway(16 << 20, false, "response-whole-limit").await;
    let (status, headers, body) = get(&gw.url("/limit")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.len(), 16 << 20);
    assert_eq!(headers["x-seen"], format!("{},false", 16 << 20));
}
