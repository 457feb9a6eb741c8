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
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Split: a\nSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nX-Nul: a\0b\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    ] {
        // hyper's client (the `RAMPART_UPSTREAM_H1=hyper` fallback, also run
        // by scripts/test.sh) takes a bare LF as a line end, as RFC 9112
        // lets a recipient; only the own client refuses it (docs/operations.md).
        if reply.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r')
            && std::env::var("RAMPART_UPSTREAM_H1").is_ok_and(|v| v == "hyper")
        {
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
    let gw = start(&config_yaml(addr, "", "      response_body_timeout: 30s")).await;
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
    assert!(metrics.contains("kind=\"body_error\""), "{metrics}");
    assert!(!metrics.contains("kind=\"body_timeout\""), "{metrics}");
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
