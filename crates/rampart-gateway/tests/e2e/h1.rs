//! Rampart's own HTTP/1 connection over raw sockets: pipelining, chunked request
//! bodies, `Expect: 100-continue`, HEAD framing, answers that come before the
//! body has arrived, and clients that go away mid-body.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(3);

/// Reads until `count` complete responses (by their status lines and bodies
/// as stated by Content-Length) or the wait ends.
async fn read_responses(stream: &mut TcpStream, count: usize) -> String {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut buf = [0u8; 8192];
    while String::from_utf8_lossy(&out).matches("HTTP/1.1 ").count() < count || !ends_complete(&out)
    {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the last response in `out` has all of its Content-Length body.
fn ends_complete(out: &[u8]) -> bool {
    let text = String::from_utf8_lossy(out);
    let Some(start) = text.rfind("HTTP/1.1 ") else {
        return false;
    };
    let last = &text[start..];
    let Some(head_end) = last.find("\r\n\r\n") else {
        return false;
    };
    let length = last[..head_end]
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let head_only = last.contains("x-head-only");
    head_only || last.len() >= head_end + 4 + length
}

#[tokio::test]
async fn pipelined_requests_get_their_responses_in_order() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(
            b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n\
              POST /two HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nX-T: 1\r\n\r\n\
              POST /three HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nwxyz\
              GET /four HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .await
        .unwrap();
    let out = read_responses(&mut stream, 4).await;
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 4, "{out}");
    let order: Vec<usize> = ["/one", "/two", "/three", "/four"]
        .iter()
        .map(|p| out.find(&format!("\"path\":\"{p}\"")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{out}");
    assert_eq!(upstream.paths(), ["/one", "/two", "/three", "/four"]);
    let seen = upstream.seen.lock().clone();
    assert_eq!(&seen[1].body[..], b"abcde");
    assert_eq!(&seen[2].body[..], b"wxyz");
}

#[tokio::test]
async fn a_head_with_bare_line_feeds_is_refused_not_cut_short() {
    // httparse ends a head at bare LFs, the framing at CRLF CRLF: the bytes
    // between must not vanish, nor a declared length be skipped so that the
    // body is read as the next request (a desync with a bare-LF front end).
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let out = raw(
        gw.addr,
        b"GET /a HTTP/1.1\nHost: a\n\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&out), 400, "{out}");
    let smuggled = b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut request = format!(
        "POST /p HTTP/1.1\r\nHost: a\r\n\nContent-Length: {}\r\n\r\n",
        smuggled.len()
    )
    .into_bytes();
    request.extend_from_slice(smuggled);
    let out = raw(gw.addr, &request, WAIT).await;
    assert_eq!(status_of(&out), 400, "{out}");
    assert!(!out.contains("/admin"), "{out}");
    assert!(upstream.paths().is_empty(), "{:?}", upstream.paths());
    // Empty lines before a request line are still ignored (RFC 9112 §2.2).
    let out = raw(
        gw.addr,
        b"\r\nGET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&out), 200, "{out}");
}

#[tokio::test]
async fn a_head_answered_204_carries_no_content_length() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let out = raw(
        gw.addr,
        b"HEAD /status/204 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&out), 204, "{out}");
    assert!(
        !out.to_ascii_lowercase().contains("content-length"),
        "{out}"
    );
}

#[tokio::test]
async fn head_responses_have_no_body_and_the_connection_goes_on() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(b"HEAD /h HTTP/1.1\r\nHost: a\r\n\r\nGET /g HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let out = read_responses(&mut stream, 2).await;
    let second = out.rfind("HTTP/1.1 200").unwrap();
    let first = &out[..second];
    assert!(first.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        first.ends_with("\r\n\r\n"),
        "a HEAD response carries no body: {out}"
    );
    assert!(out[second..].contains("\"path\":\"/g\""), "{out}");
}

#[tokio::test]
async fn expect_continue_gets_100_before_the_body_is_sent() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(
            b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"hello").await.unwrap();
    let out = read_responses(&mut stream, 1).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(&upstream.last().body[..], b"hello");
}

#[tokio::test]
async fn a_body_sent_with_its_head_or_after_it_reaches_the_upstream_and_is_counted() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    // In the same write as the head: handed over whole.
    stream
        .write_all(b"POST /whole HTTP/1.1\r\nHost: a\r\nX-Request-Id: whole-1\r\nContent-Length: 11\r\n\r\nhello world")
        .await
        .unwrap();
    let out = read_responses(&mut stream, 1).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    // The head alone, the body later in two pieces: streamed.
    stream
        .write_all(
            b"POST /late HTTP/1.1\r\nHost: a\r\nX-Request-Id: late-1\r\nContent-Length: 11\r\n\r\n",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(b"hello").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(b" world").await.unwrap();
    let out = read_responses(&mut stream, 1).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let seen = upstream.seen.lock().clone();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|request| &request.body[..] == b"hello world")
    );
    let records = gw.audit_records(2).await;
    for id in ["whole-1", "late-1"] {
        let record = records.iter().find(|r| r["request_id"] == id).unwrap();
        assert_eq!(record["bytes_in"], 11, "{record}");
    }
}

#[tokio::test]
async fn a_refused_request_whose_body_came_whole_leaves_the_connection_usable() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    // The first is refused (malformed path) with its body already read: the
    // framing is known, so the next request on the connection is served, and
    // the refused one's body is not taken for a request.
    stream
        .write_all(
            b"POST /%zz HTTP/1.1\r\nHost: a\r\nContent-Length: 30\r\n\r\nGET /smuggled HTTP/1.1\r\nX: 1\r\n\
              GET /after HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .await
        .unwrap();
    let out = read_responses(&mut stream, 2).await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert_eq!(out.matches("HTTP/1.1 200").count(), 1, "{out}");
    assert_eq!(upstream.paths(), ["/after"]);
}

#[tokio::test]
async fn a_refusal_is_answered_before_the_body_has_arrived() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    // Two Host headers: refused by the request path before any body is read.
    stream
        .write_all(
            b"POST /x HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 1000000\r\n\r\n0123456789",
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut out)).await;
    let out = String::from_utf8_lossy(&out);
    assert_eq!(status_of(&out), 400, "{out}");
    // The own server says it closes (the body that follows is not read);
    // hyper's (the `RAMPART_HTTP1=hyper` fallback) does not say.
    if !hyper_h1_server() {
        assert!(
            out.to_ascii_lowercase().contains("connection: close"),
            "{out}"
        );
    }
    assert!(upstream.paths().is_empty());
}

#[tokio::test]
async fn a_client_gone_mid_body_does_not_reach_the_upstream_as_a_request() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    {
        let mut stream = TcpStream::connect(gw.addr).await.unwrap();
        stream
            .write_all(b"POST /cut HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly-part")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    {
        let mut stream = TcpStream::connect(gw.addr).await.unwrap();
        stream
            .write_all(
                b"POST /cut2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The gateway still serves, and no upstream request completed with a cut body.
    let (status, _, _) = get(&gw.url("/after")).await;
    assert_eq!(status, 200);
    for seen in upstream.seen.lock().iter() {
        assert!(
            !seen.path_and_query.starts_with("/cut") || seen.body.is_empty(),
            "a truncated body was forwarded as complete: {seen:?}"
        );
    }
}

#[tokio::test]
async fn a_malformed_chunked_body_ends_the_connection() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let out = raw(
        gw.addr,
        b"POST /bad HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        WAIT,
    )
    .await;
    assert!(!out.contains("/smuggled"), "{out}");
    assert!(!upstream.paths().iter().any(|p| p == "/smuggled"));
}

#[tokio::test]
async fn an_absolute_target_whose_host_field_names_another_host_is_refused() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let out = raw(
        gw.addr,
        b"GET http://api.example/same HTTP/1.1\r\nHost: API.example:8080\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&out), 200, "{out}");
    let out = raw(
        gw.addr,
        b"GET http://api.example/other HTTP/1.1\r\nHost: trusted.internal\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&out), 400, "{out}");
    assert!(!upstream.paths().iter().any(|p| p == "/other"));
}

#[tokio::test]
async fn a_request_body_that_breaks_off_is_the_clients_fault_not_the_upstreams() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let out = raw(
        gw.addr,
        b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
        WAIT,
    )
    .await;
    assert_eq!(status_of(&out), 400, "{out}");
    assert!(out.contains("body-read-failed"), "{out}");
    let records = gw.audit_records(1).await;
    assert_eq!(records[0]["decision"], "deny");
    assert_eq!(records[0]["reason"], "body-read-failed");
}

#[tokio::test]
async fn the_header_read_timeout_counts_from_each_wait_on_a_kept_alive_connection() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {header_read_timeout: 400ms}",
        "",
    ))
    .await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    // Requests 250 ms apart: each wait is shorter than the timeout although
    // together they are much longer.
    for i in 0..4 {
        stream
            .write_all(format!("GET /k{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let out = read_responses(&mut stream, 1).await;
        assert!(out.starts_with("HTTP/1.1 200"), "request {i}: {out}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A partial head that then stalls gets 408 within about the timeout.
    stream.write_all(b"GET /late HTTP/1.1\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut out)).await;
    assert_eq!(status_of(&String::from_utf8_lossy(&out)), 408);
    assert!(started.elapsed() < Duration::from_millis(1500));
}

/// Reads until the connection ends (or `limit` passes); the bytes read.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> usize {
    let mut total = 0;
    let mut buf = vec![0u8; 256 * 1024];
    let _ = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
    total
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_by_the_send_timeout() {
    const SIZE: usize = 48 * 1024 * 1024;
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {send_timeout: 300ms}",
        "",
    ))
    .await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(format!("GET /big/{SIZE} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // Reads nothing for well past the timeout: the gateway gives up on the write.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let read = read_until_closed(&mut stream, Duration::from_secs(20)).await;
    assert!(read > 0, "nothing arrived");
    assert!(read < SIZE, "the whole response arrived: {read} bytes");
}

#[tokio::test]
async fn a_slow_but_steady_reader_gets_the_whole_response() {
    const SIZE: usize = 16 * 1024 * 1024;
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {send_timeout: 1s}",
        "",
    ))
    .await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    stream
        .write_all(
            format!("GET /big/{SIZE} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    // Pauses shorter than the send timeout between reads: every write makes
    // progress in time, so nothing is cut.
    let mut total = 0;
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => total += n,
        }
    }
    assert!(total > SIZE, "only {total} bytes arrived");
}
