//! Protocol hardening, each point over a raw socket: framing that could smuggle a
//! request past the gateway is refused (or, for CL+TE, neutralised), limits hold,
//! slow and greedy clients are cut off.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(3);

/// Sends `request` followed by a would-be smuggled request; returns the raw reply.
async fn smuggle(addr: std::net::SocketAddr, request: &str) -> String {
    raw(addr, request.as_bytes(), WAIT).await
}

#[tokio::test]
async fn content_length_with_transfer_encoding_cannot_smuggle_a_request() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    // CL.TE: a front end honouring Content-Length would see one request; one
    // honouring chunked would see a second, `GET /smuggled`.
    let out = smuggle(
        gw.addr,
        "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 35\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await;
    assert!(
        !upstream.paths().iter().any(|p| p.contains("smuggled")),
        "smuggled: {:?}",
        upstream.paths()
    );
    // The connection is closed after the first response: nothing else is parsed.
    assert!(out.matches("HTTP/1.1").count() <= 1, "{out}");
    // TE.CL ordering.
    let out = smuggle(
        gw.addr,
        "POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST /smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n",
    )
    .await;
    assert!(
        !upstream.paths().iter().any(|p| p.contains("smuggled")),
        "smuggled: {:?}",
        upstream.paths()
    );
    assert!(out.matches("HTTP/1.1").count() <= 1, "{out}");
}

#[tokio::test]
async fn ambiguous_framing_and_malformed_heads_are_refused() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let cases: [(&str, &str); 12] = [
        (
            "conflicting content-length",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
        ),
        (
            "unknown transfer coding",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc",
        ),
        (
            "chunked not last",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        ),
        (
            "obs-fold",
            "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n",
        ),
        (
            "NUL in header value",
            "GET / HTTP/1.1\r\nHost: a\r\nX-Nul: a\0b\r\n\r\n",
        ),
        (
            "bare CR in header value",
            "GET / HTTP/1.1\r\nHost: a\r\nX-Cr: a\rb\r\n\r\n",
        ),
        (
            "invalid header name",
            "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
        ),
        ("two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        ("empty host", "GET / HTTP/1.1\r\nHost: \r\n\r\n"),
        ("unusable host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
        (
            "absolute form, unusable host header",
            "GET http://a/ HTTP/1.1\r\nHost: a/b\r\n\r\n",
        ),
        (
            "no host in HTTP/1.1",
            "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
        ),
    ];
    for (name, request) in cases {
        let out = raw(gw.addr, request.as_bytes(), WAIT).await;
        assert_eq!(status_of(&out), 400, "{name}: {out}");
        assert!(out.contains("application/problem+json"), "{name}: {out}");
    }
    // Each refusal has its audit record.
    let records = gw.audit_records(cases.len()).await;
    assert!(
        records
            .iter()
            .all(|r| r["status"] == 400 && r["decision"] == "deny"),
        "{records:?}"
    );
    assert!(
        upstream.paths().is_empty(),
        "reached upstream: {:?}",
        upstream.paths()
    );
    // The legitimate request still passes.
    let out = raw(gw.addr, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n", WAIT).await;
    assert_eq!(status_of(&out), 200, "{out}");
    assert_eq!(upstream.last().body.as_ref(), b"abc");
}

#[tokio::test]
async fn header_and_uri_limits_hold() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {max_header_bytes: 8KiB, max_headers: 20, max_uri_length: 256}",
        "",
    ))
    .await;
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "a".repeat(10_000)
    );
    assert_eq!(status_of(&raw(gw.addr, big.as_bytes(), WAIT).await), 431);
    let many: String = (0..30).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
    assert_eq!(status_of(&raw(gw.addr, many.as_bytes(), WAIT).await), 431);
    let long = format!(
        "GET /{} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "a".repeat(300)
    );
    let out = raw(gw.addr, long.as_bytes(), WAIT).await;
    assert_eq!(status_of(&out), 414, "{out}");
    assert!(out.contains("urn:rampart:problem:uri-too-long"));
    // At the limits, requests pass.
    let fine: String = (0..15).map(|i| format!("X-H{i}: v\r\n")).collect();
    let fine = format!(
        "GET /{} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n{fine}\r\n",
        "a".repeat(200)
    );
    assert_eq!(status_of(&raw(gw.addr, fine.as_bytes(), WAIT).await), 200);
    assert_eq!(upstream.paths().len(), 1);
}

#[tokio::test]
async fn slow_clients_are_cut_off_by_the_header_read_timeout() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {header_read_timeout: 300ms}",
        "",
    ))
    .await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    // Slowloris: a header line every 100 ms, never finishing the head.
    let started = std::time::Instant::now();
    let mut closed = false;
    for i in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if stream
            .write_all(format!("X-{i}: v\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        // Either the server closed (read returns 0) or it answered (408/400).
        let read = tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await;
        if let Ok(Ok(n)) = read
            && (n == 0 || buf.starts_with(b"HTTP/1.1"))
        {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "connection still open after {:?}",
        started.elapsed()
    );
    assert!(upstream.paths().is_empty());
}

#[tokio::test]
async fn connections_past_the_cap_are_closed() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {max_connections: 2}",
        "",
    ))
    .await;
    let _a = TcpStream::connect(gw.addr).await.unwrap();
    let _b = TcpStream::connect(gw.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let out = raw(
        gw.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(out, "", "third connection was served");
    drop((_a, _b));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let out = raw(
        gw.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&out), 200, "{out}");
}

#[tokio::test]
async fn pipelined_requests_with_bodies_keep_their_framing() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let pipelined = "POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
POST /two HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n\
GET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let out = raw(gw.addr, pipelined.as_bytes(), WAIT).await;
    assert_eq!(out.matches("HTTP/1.1 200").count(), 3, "{out}");
    assert_eq!(upstream.paths(), vec!["/one", "/two", "/three"]);
    assert_eq!(upstream.seen.lock()[1].body.as_ref(), b"abcde");
    // A smuggling attempt after a legitimate pipelined request is still caught.
    let attempt = "POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nokPOST /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let out = raw(gw.addr, attempt.as_bytes(), WAIT).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("HTTP/1.1 400"), "{out}");
    assert!(!upstream.paths().contains(&"/bad".to_string()));
}

#[tokio::test]
async fn the_header_timeout_does_not_cut_off_slow_upstream_responses() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {header_read_timeout: 300ms}",
        "",
    ))
    .await;
    let out = raw(gw.addr, b"GET /slow/1000 HTTP/1.1\r\nHost: a\r\n\r\n", WAIT).await;
    assert_eq!(status_of(&out), 200, "{out}");
}

#[tokio::test]
async fn connect_requests_are_not_forwarded() {
    // An upstream that honours CONNECT would take the body as tunnel bytes.
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let tunnelled = "GET /admin HTTP/1.1\r\nHost: internal\r\n\r\n";
    let request = format!(
        "CONNECT /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{tunnelled}",
        tunnelled.len()
    );
    let out = raw(gw.addr, request.as_bytes(), WAIT).await;
    assert_eq!(status_of(&out), 501, "{out}");
    assert!(
        out.contains("urn:rampart:problem:method-not-supported"),
        "{out}"
    );
    let out = raw(
        gw.addr,
        b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
        WAIT,
    )
    .await;
    assert!(matches!(status_of(&out), 400 | 501), "{out}");
    assert!(upstream.paths().is_empty());
    // Other methods pass as before.
    let out = raw(
        gw.addr,
        b"OPTIONS /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&out), 200, "{out}");
}

#[tokio::test]
async fn the_http2_preface_is_taken_whole_or_not_at_all() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {header_read_timeout: 300ms}",
        "",
    ))
    .await;
    // Its first bytes and then silence: the header-read timeout still holds
    // (they used to hand the connection to HTTP/2 detection, with no timer).
    let started = std::time::Instant::now();
    let out = raw(gw.addr, b"PRI * HTTP/2.0\r\n", Duration::from_secs(10)).await;
    assert_eq!(status_of(&out), 408, "{out}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Its beginning followed by something else is HTTP/1, checked as such:
    // `PRI * HTTP/2.0` is no HTTP/1 request line.
    let out = raw(
        gw.addr,
        b"PRI * HTTP/2.0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&out), 400, "{out}");
    assert!(upstream.paths().is_empty());
    // The whole preface is HTTP/2: the server answers with its SETTINGS frame
    // (type 4 at byte 3 of the first frame), not an HTTP/1 response.
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut frame = [0u8; 9];
    tokio::time::timeout(WAIT, stream.read_exact(&mut frame))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame[3], 4, "not a SETTINGS frame: {frame:?}");
}

#[tokio::test]
async fn a_partial_head_gets_408_and_an_idle_connection_is_closed_quietly() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {header_read_timeout: 300ms}",
        "",
    ))
    .await;
    let out = raw(gw.addr, b"GET / HTTP/1.1\r\nHost: a\r\n", WAIT).await;
    assert_eq!(status_of(&out), 408, "{out}");
    assert!(out.contains("urn:rampart:problem:request-timeout"));
    let out = raw(gw.addr, b"", WAIT).await;
    assert_eq!(out, "");
}
