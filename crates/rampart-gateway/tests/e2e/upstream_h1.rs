//! Rampart's HTTP/1 upstream client against hostile and unusual upstreams: a
//! response whose framing is ambiguous is a 502 and never reaches the client,
//! bytes past a response are never taken as the next one, and well-formed
//! variants (chunked, interim 100, close-delimited) pass.

use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::scripted::{Script, Scripted};
use crate::support::*;

/// An upstream answering every request with `reply` (closing after it when
/// `close` is set).
async fn scripted(reply: &'static [u8], close: bool) -> Scripted {
    let script = Script::reply(reply);
    crate::scripted::scripted(if close { script.close_after(1) } else { script }).await
}

async fn gateway_for(upstream: SocketAddr) -> Running {
    start(&config_yaml(
        upstream,
        "",
        "      response_header_timeout: 2s",
    ))
    .await
}

#[tokio::test]
async fn ambiguous_upstream_framing_is_a_502_and_never_passed_on() {
    for reply in [
        // CL + TE: a smuggled second response hides in the "chunked" body.
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nX-Smuggled: 1\r\nContent-Length: 0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok",
        // A list in one field (hyper would take it as 2).
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Split: a\nSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nX-Nul: a\0b\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    ] {
        // hyper's client (the `RAMPART_UPSTREAM_H1=hyper` fallback, also run
        // by scripts/test.sh) takes a bare LF as a line end, as RFC 9112
        // lets a recipient; only the own client refuses it (docs/operations.md).
        if reply.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r') && hyper_h1_client() {
            continue;
        }
        let upstream = scripted(reply, false).await;
        let gw = gateway_for(upstream.addr).await;
        let (status, headers, body) = get(&gw.url("/x")).await;
        let shown = String::from_utf8_lossy(reply);
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{shown:?}");
        assert_problem(&headers, &body, "upstream-unreachable", 502);
        assert!(headers.get("x-smuggled").is_none() && headers.get("set-cookie").is_none());
    }
}

#[tokio::test]
async fn a_head_that_never_ends_is_refused_at_the_limit() {
    let endless: &'static [u8] = Box::leak(
        format!("HTTP/1.1 200 OK\r\nX-Long: {}", "a".repeat(70 * 1024))
            .into_bytes()
            .into_boxed_slice(),
    );
    let upstream = scripted(endless, false).await;
    let gw = gateway_for(upstream.addr).await;
    let (status, headers, body) = get(&gw.url("/x")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_problem(&headers, &body, "upstream-unreachable", 502);
}

#[tokio::test]
async fn a_body_cut_short_is_not_completed_and_the_connection_not_reused() {
    let upstream = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true).await;
    let gw = gateway_for(upstream.addr).await;
    let out = raw(
        gw.addr,
        b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
        Duration::from_secs(3),
    )
    .await;
    // The head went out before the body failed: the client sees a short body
    // and a closed connection, never a complete 10-byte body.
    assert_eq!(status_of(&out), 200, "{out}");
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(body.len() < 10, "{out}");
    // The broken connection is gone: the next request opens another.
    let again = raw(
        gw.addr,
        b"GET /y HTTP/1.1\r\nHost: a\r\n\r\n",
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(status_of(&again), 200, "{again}");
    assert_eq!(upstream.accepted(), 2);
}

#[tokio::test]
async fn bytes_past_a_response_are_never_the_next_response() {
    // A second, unrequested response trails the first: the connection it came
    // on is dropped, so the next request gets its own answer.
    let upstream = scripted(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nX-Injected: 1\r\nContent-Length: 3\r\n\r\nbad",
        false,
    )
    .await;
    let gw = gateway_for(upstream.addr).await;
    for _ in 0..3 {
        let (status, headers, body) = get(&gw.url("/x")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"ok");
        assert!(headers.get("x-injected").is_none());
    }
    assert_eq!(upstream.accepted(), 3);
}

#[tokio::test]
async fn chunked_interim_and_close_delimited_responses_pass() {
    let upstream = scripted(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        false,
    )
    .await;
    let gw = gateway_for(upstream.addr).await;
    for _ in 0..3 {
        let (status, headers, body) = get(&gw.url("/x")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"hello world");
        assert!(headers.get("connection").is_none());
    }
    assert_eq!(upstream.accepted(), 1, "kept alive and reused");

    let upstream = scripted(b"HTTP/1.0 200 OK\r\n\r\nuntil close", true).await;
    let gw = gateway_for(upstream.addr).await;
    for _ in 0..2 {
        let (status, _, body) = get(&gw.url("/x")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"until close");
    }
    assert_eq!(upstream.accepted(), 2, "close-delimited: never reused");
}

#[tokio::test]
async fn a_body_that_stalls_half_way_is_cut_short_and_audited_as_an_upstream_timeout() {
    // Head and half the declared body, then nothing (the connection stays open).
    let upstream = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf-", false).await;
    let gw = start(&config_yaml(
        upstream.addr,
        "",
        "      response_body_timeout: 300ms",
    ))
    .await;
    let mut client = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    client
        .write_all(b"GET /stall HTTP/1.1\r\nHost: a\r\nX-Request-Id: stall-1\r\n\r\n")
        .await
        .unwrap();
    // The gateway ends the connection: the client is not held for ever.
    let mut out = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(20), client.read_to_end(&mut out)).await;
    assert!(ended.is_ok(), "the connection to the client never ended");
    let out = String::from_utf8_lossy(&out);
    // The head had gone out: a 200 whose body is short, never completed.
    assert_eq!(status_of(&out), 200, "{out}");
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(body.len() < 10, "{out}");
    let records = gw.audit_records(1).await;
    let record = records
        .iter()
        .find(|r| r["request_id"] == "stall-1")
        .unwrap();
    assert_eq!(record["status"], 200);
    assert_eq!(record["decision"], "error");
    assert_eq!(record["reason"], "upstream-timeout");
    let (_, _, metrics) = get(&format!("http://{}/metrics", gw.admin)).await;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains("kind=\"body_timeout\""), "{metrics}");
    // The stalled connection is not reused: the next request opens another.
    let again = raw(
        gw.addr,
        b"GET /again HTTP/1.1\r\nHost: a\r\n\r\n",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(status_of(&again), 200, "{again}");
    assert_eq!(upstream.accepted(), 2);
}

#[tokio::test]
async fn a_body_broken_off_by_a_reset_is_audited_as_an_upstream_failure_not_a_timeout() {
    // Head and half the declared body, then a reset (as a socket that timed
    // out, or a crashed upstream): not the configured body timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut seen = [0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut seen).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&seen[..n]);
            }
            let half = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf-";
            let _ = stream.write_all(half).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            drop(stream);
        }
    });
    // Its own API name: the metrics are the test process's, shared with
    // tests whose upstream bodies do time out.
    let yaml = config_yaml(addr, "", "      response_body_timeout: 30s")
        .replace("name: echo", "name: reset");
    let gw = start(&yaml).await;
    let reply = raw(
        gw.addr,
        b"GET /reset HTTP/1.1\r\nHost: a\r\nX-Request-Id: reset-1\r\n\r\n",
        Duration::from_secs(20),
    )
    .await;
    // The head had gone out: a 200 whose body is short.
    assert_eq!(status_of(&reply), 200, "{reply}");
    let records = gw.audit_records(1).await;
    let record = records
        .iter()
        .find(|r| r["request_id"] == "reset-1")
        .unwrap();
    assert_eq!(record["status"], 200);
    assert_eq!(record["decision"], "error");
    assert_eq!(record["reason"], "upstream-unreachable");
    let (_, _, metrics) = get(&format!("http://{}/metrics", gw.admin)).await;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("api=\"reset\",kind=\"body_error\""),
        "{metrics}"
    );
    assert!(
        !metrics.contains("api=\"reset\",kind=\"body_timeout\""),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_slow_but_steady_body_passes_whole() {
    // 40 body bytes in 4-byte pieces 100ms apart: over a second in all, but
    // never a second between two pieces.
    let upstream = crate::scripted::scripted(Script {
        trickle: Some((4, Duration::from_millis(100))),
        ..Script::reply(
            b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n0123456789abcdefghijklmnopqrstuvwxyzABCD",
        )
    })
    .await;
    let gw = start(&config_yaml(
        upstream.addr,
        "",
        "      response_body_timeout: 1s",
    ))
    .await;
    let (status, _, body) = get(&gw.url("/slow")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"0123456789abcdefghijklmnopqrstuvwxyzABCD");
    let records = gw.audit_records(1).await;
    assert_eq!(records[0]["decision"], "allow");
}

/// A stage that only looks: its presence makes the gateway parse response
/// heads into a map for the response stages, instead of passing the
/// upstream's header lines through.
struct Looker;

impl rampart_core::Stage for Looker {
    fn name(&self) -> &'static str {
        "looker"
    }
    fn phase(&self) -> rampart_core::Phase {
        rampart_core::Phase::Route
    }
}

struct LookerFactory;

impl rampart_gateway::StageFactory for LookerFactory {
    fn stages(
        &self,
        _config: &rampart_config::Config,
        _api: &rampart_config::Api,
    ) -> Result<Vec<std::sync::Arc<dyn rampart_core::Stage>>, rampart_config::ConfigErrors> {
        Ok(vec![std::sync::Arc::new(Looker)])
    }
}

const GET_CLOSE: &[u8] = b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
const HEAD_CLOSE: &[u8] = b"HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

/// The response `request` gets through a gateway without stages (header
/// lines passed through) and through one with a stage (headers parsed into
/// a map), each as its status line and its header lines, lower-cased and
/// sorted, the gateway's request id replaced by `<id>` (and its own Date by
/// `<gateway>`); and the bytes after the head.
async fn both_ways(reply: &'static [u8], request: &[u8]) -> [(Vec<String>, String); 2] {
    let upstream = scripted(reply, true).await;
    let yaml = config_yaml(upstream.addr, "", "      response_header_timeout: 2s");
    let lines = start(&yaml).await;
    let map = start_with(&yaml, std::sync::Arc::new(LookerFactory), "gw-map").await;
    let upstream_dated = String::from_utf8_lossy(reply)
        .to_ascii_lowercase()
        .contains("\r\ndate:");
    let mut seen = Vec::new();
    for gw in [&lines, &map] {
        let out = raw(gw.addr, request, Duration::from_secs(5)).await;
        let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
        let mut head_lines: Vec<String> = head
            .split("\r\n")
            .map(|line| {
                let line = line.to_ascii_lowercase();
                if let Some(id) = line.strip_prefix("x-request-id: ") {
                    assert_eq!(id.len(), 32, "the gateway's own id: {out}");
                    "x-request-id: <id>".to_string()
                } else if line.starts_with("date: ") && !upstream_dated {
                    // The gateway's own Date: the two requests may fall in
                    // different seconds.
                    "date: <gateway>".to_string()
                } else {
                    line
                }
            })
            .collect();
        head_lines[1..].sort();
        seen.push((head_lines, body.to_string()));
    }
    [seen.remove(0), seen.remove(0)]
}

#[tokio::test]
async fn upstream_headers_reach_the_client_cleaned_the_same_whether_stages_see_them_or_not() {
    let reply = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nX-Powered-By: PHP/8.2\r\nDate: Sun, 29 Nov 2026 07:00:00 GMT\r\nContent-Type: application/json\r\nX-Request-Id: upstream-made\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\nProxy-Connection: keep-alive\r\nTrailer: X-T\r\nUpgrade: h2c\r\nTE: trailers\r\nX-Custom-Thing:  a  b \r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok";
    let [lines, map] = both_ways(reply, GET_CLOSE).await;
    assert_eq!(lines, map);
    let (head, body) = lines;
    assert_eq!(
        head,
        [
            "http/1.1 200 ok",
            "connection: close",
            "content-length: 2",
            "content-type: application/json",
            "date: sun, 29 nov 2026 07:00:00 gmt",
            "set-cookie: a=1",
            "set-cookie: b=2",
            "x-custom-thing: a  b",
            "x-request-id: <id>",
        ]
    );
    assert_eq!(body, "ok");
}

#[tokio::test]
async fn a_connection_header_naming_others_removes_them_either_way() {
    let reply = b"HTTP/1.1 200 OK\r\nX-Secret-Hop: 1\r\nConnection: keep-alive, X-Secret-Hop\r\nX-Kept: 1\r\nContent-Length: 2\r\n\r\nok";
    let [lines, map] = both_ways(reply, GET_CLOSE).await;
    assert_eq!(lines, map);
    let (head, _) = lines;
    assert!(head.contains(&"x-kept: 1".to_string()), "{head:?}");
    assert!(!head.iter().any(|line| line.contains("secret")), "{head:?}");
}

#[tokio::test]
async fn head_and_304_keep_the_upstreams_length_and_get_no_body_either_way() {
    let head_reply = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\n";
    let [lines, map] = both_ways(head_reply, HEAD_CLOSE).await;
    assert_eq!(lines, map);
    assert!(
        lines.0.contains(&"content-length: 5".to_string()),
        "{lines:?}"
    );
    assert!(
        !lines.0.iter().any(|l| l.starts_with("server")),
        "{lines:?}"
    );
    assert_eq!(lines.1, "", "a HEAD response has no body");

    let not_modified = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\nETag: \"v1\"\r\n\r\n";
    let [lines, map] = both_ways(not_modified, GET_CLOSE).await;
    assert_eq!(lines, map);
    assert_eq!(lines.0[0], "http/1.1 304 not modified");
    // hyper's server (the `RAMPART_HTTP1=hyper` fallback) drops a 304's
    // length; RFC 9110 lets it go either way.
    if !hyper_h1_server() {
        assert!(
            lines.0.contains(&"content-length: 7".to_string()),
            "{lines:?}"
        );
    }
    assert!(lines.0.contains(&"etag: \"v1\"".to_string()), "{lines:?}");
    assert_eq!(lines.1, "");

    // A HEAD answered without a length (the GET would be chunked) gets none:
    // not a made-up `content-length: 0`.
    let [lines, map] = both_ways(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        HEAD_CLOSE,
    )
    .await;
    assert_eq!(lines, map);
    assert_eq!(lines.0[0], "http/1.1 200 ok");
    assert!(
        !lines.0.iter().any(|l| l.starts_with("content-length")),
        "{lines:?}"
    );

    // Without a Date from the upstream the gateway adds its own.
    let [lines, map] =
        both_ways(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", GET_CLOSE).await;
    assert_eq!(lines.0.len(), map.0.len());
    assert_eq!(
        lines.0.iter().filter(|l| l.starts_with("date: ")).count(),
        1,
        "{lines:?}"
    );
}

/// What the upstream receives for `request` through a gateway without stages
/// (the client's fields written as lines) and through one with a stage (the
/// fields made into a map first): each as lower-cased `name: value` lines,
/// sorted.
async fn request_both_ways(request: &[u8]) -> [Vec<String>; 2] {
    let upstream = Upstream::start().await;
    let yaml = config_yaml(upstream.addr, "", "");
    let lines = start(&yaml).await;
    let map = start_with(&yaml, std::sync::Arc::new(LookerFactory), "gw-map-req").await;
    let mut seen = Vec::new();
    for gw in [&lines, &map] {
        let out = raw(gw.addr, request, Duration::from_secs(5)).await;
        assert_eq!(status_of(&out), 200, "{out}");
        let mut fields: Vec<String> = upstream
            .last()
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
            .collect();
        fields.sort();
        seen.push(fields);
    }
    [seen.remove(0), seen.remove(0)]
}

#[tokio::test]
async fn client_fields_reach_the_upstream_the_same_whether_stages_see_them_or_not() {
    let request = b"POST /x HTTP/1.1\r\nHost: API.example\r\nConnection: close, TE\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\nX-Forwarded-For: 6.6.6.6\r\nx-forwarded-proto: gopher\r\nX-Forwarded-Host: evil\r\nForwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nX_Forwarded_For: 6.6.6.6\r\nX-Request-Id: client-id-1\r\nAuthorization: Bearer abc\r\nX-Two: a\r\nx-two: b\r\nContent-Length: 2\r\n\r\nhi";
    let [lines, map] = request_both_ways(request).await;
    assert_eq!(lines, map);
    let upstream = lines.iter().find(|l| l.starts_with("host: ")).cloned();
    assert_eq!(
        lines,
        [
            "authorization: Bearer abc",
            "content-length: 2",
            upstream.as_deref().unwrap_or("host missing"),
            "x-forwarded-for: 127.0.0.1",
            "x-forwarded-host: api.example",
            "x-forwarded-proto: http",
            "x-request-id: client-id-1",
            "x-two: a",
            "x-two: b",
        ]
    );
    assert!(upstream.is_some_and(|host| host.starts_with("host: 127.0.0.1:")));

    // A Connection field naming an end-to-end field removes it either way.
    let named = b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret-Hop\r\nX-Secret-Hop: 1\r\nX-Kept: 1\r\nX-Request-Id: fixed\r\n\r\n";
    let [lines, map] = request_both_ways(named).await;
    assert_eq!(lines, map);
    assert!(lines.contains(&"x-kept: 1".to_string()), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("secret")), "{lines:?}");
}

/// The head an upstream receives for `request` sent through a gateway
/// without stages, as raw text (one request; the upstream answers and closes).
async fn raw_head_upstream_sees(request: &[u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the head ended");
            head.extend_from_slice(&buf[..n]);
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            .await
            .unwrap();
        String::from_utf8_lossy(&head).into_owned()
    });
    let gw = start(&config_yaml(addr, "", "")).await;
    let out = raw(gw.addr, request, Duration::from_secs(5)).await;
    assert_eq!(status_of(&out), 200, "{out}");
    seen.await.unwrap()
}

#[tokio::test]
async fn without_stages_the_clients_fields_go_upstream_as_written() {
    let head = raw_head_upstream_sees(
        b"GET /x HTTP/1.1\r\nHost: a\r\nX-Mixed-Case: One\r\nAccept: */*\r\nx-mixed-case: Two\r\nConnection: close\r\n\r\n",
    )
    .await;
    if hyper_h1_client() || hyper_h1_server() {
        // hyper's client writes the map: names lower-cased, values grouped;
        // so does the own client when hyper's server gave it no raw fields.
        assert!(
            head.contains("x-mixed-case: One\r\nx-mixed-case: Two\r\n"),
            "{head}"
        );
    } else {
        // Rampart's client writes the fields as they came, in their order and
        // case (only what the gateway drops or sets is left out).
        assert!(
            head.contains("\r\nX-Mixed-Case: One\r\nAccept: */*\r\nx-mixed-case: Two\r\n"),
            "{head}"
        );
        assert!(!head.contains("Host: a"), "{head}");
    }
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nx-forwarded-for: 127.0.0.1\r\n"),
        "{head}"
    );
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
}
