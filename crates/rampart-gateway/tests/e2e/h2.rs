//! HTTP/2 (prior knowledge, cleartext) gets the same checks as HTTP/1: h2 has no
//! framing ambiguity for the HTTP/1 guard to catch, so the limits, normalisation
//! and header hygiene are enforced per request in the proxy, and this file proves
//! they hold over h2 too.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::support::*;

/// One h2 connection to the gateway; returns a sender for requests on it.
async fn h2_sender(
    addr: std::net::SocketAddr,
) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
}

async fn send_h2(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> (StatusCode, http::HeaderMap, Bytes) {
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

fn get(addr: std::net::SocketAddr, path: &str) -> http::request::Builder {
    Request::get(format!("http://{addr}{path}"))
}

#[tokio::test]
async fn h2_requests_are_proxied_normalised_and_cleaned() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let mut h2 = h2_sender(gw.addr).await;

    // Legitimate: passes, with a request id returned.
    let (status, headers, _) = send_h2(
        &mut h2,
        get(gw.addr, "/users/1").body(Full::default()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("x-request-id"));
    assert_eq!(upstream.last().path_and_query, "/users/1");
    // The upstream's headers arrive (hyper writes h2 responses from the map:
    // none may be left in lines only Rampart's HTTP/1 server writes), cleaned.
    assert_eq!(headers["content-type"], "application/json");
    assert!(headers.contains_key("set-cookie"), "{headers:?}");
    assert!(!headers.contains_key("server") && !headers.contains_key("x-powered-by"));

    // Dot segments and escaped unreserved characters are resolved before routing.
    let (status, _, _) = send_h2(
        &mut h2,
        get(gw.addr, "/a/%2e%2e/users/v1/%5Fdebug")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upstream.last().path_and_query, "/users/v1/_debug");

    // Forwarding headers from an untrusted client are replaced, not trusted.
    let (status, _, _) = send_h2(
        &mut h2,
        get(gw.addr, "/who")
            .header("x-forwarded-for", "10.9.8.7")
            .header("x-forwarded-host", "evil.example")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let seen = upstream.last().headers;
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_ne!(seen["x-forwarded-host"], "evil.example");
    gw.stop().await;
}

#[tokio::test]
async fn h2_requests_over_the_limits_are_refused_with_problems() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits:\n  max_headers: 20\n  max_uri_length: 256\n",
        "",
    ))
    .await;
    let mut h2 = h2_sender(gw.addr).await;

    let long = format!("/users?q={}", "a".repeat(400));
    let (status, headers, body) =
        send_h2(&mut h2, get(gw.addr, &long).body(Full::default()).unwrap()).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    assert_problem(&headers, &body, "uri-too-long", 414);

    let mut request = get(gw.addr, "/users");
    for i in 0..30 {
        request = request.header(format!("x-filler-{i}"), "1");
    }
    let (status, headers, body) = send_h2(&mut h2, request.body(Full::default()).unwrap()).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_problem(&headers, &body, "headers-too-large", 431);

    // The connection survives refusals: the next legitimate request passes.
    let (status, _, _) = send_h2(
        &mut h2,
        get(gw.addr, "/users/2").body(Full::default()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !upstream.paths().iter().any(|p| p.contains("aaaa")),
        "refused request reached the upstream: {:?}",
        upstream.paths()
    );
    gw.stop().await;
}

#[tokio::test]
async fn an_h2_client_that_grants_no_window_gives_its_slots_back() {
    // One request in flight allowed. A client that takes the response head
    // and grants no flow-control window leaves the body unsent; past the send
    // timeout its connection is closed, and the slot serves the next client.
    const SIZE: usize = 4 * 1024 * 1024;
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {send_timeout: 300ms, max_in_flight: 1}",
        "",
    ))
    .await;
    let stream = TcpStream::connect(gw.addr).await.unwrap();
    let (mut stalled, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(0)
        .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    stalled.ready().await.unwrap();
    let response = stalled
        .send_request(
            get(gw.addr, &format!("/big/{SIZE}"))
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The body is never read (and no window granted).
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    let mut next = h2_sender(gw.addr).await;
    let (status, _, _) = send_h2(
        &mut next,
        get(gw.addr, "/users/1").body(Full::default()).unwrap(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the stalled stream still holds the only slot"
    );
    drop(response);

    // A client that reads slowly but steadily is not cut.
    let mut steady = h2_sender(gw.addr).await;
    steady.ready().await.unwrap();
    let response = steady
        .send_request(
            get(gw.addr, &format!("/big/{SIZE}"))
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let mut body = response.into_body();
    let mut total = 0;
    while let Some(frame) = body.frame().await {
        total += frame.unwrap().data_ref().map_or(0, Bytes::len);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(total, SIZE);
}

#[tokio::test]
async fn an_idle_h2_connection_is_closed_and_a_busy_one_is_not() {
    // Like an HTTP/1 keep-alive connection: nothing in flight for the
    // header-read timeout, and the gateway closes it (GOAWAY).
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {header_read_timeout: 300ms}",
        "",
    ))
    .await;
    let stream = TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    // A request slower than the idle limit is not cut by it.
    let (status, _, _) = send_h2(
        &mut sender,
        get(gw.addr, "/slow/800").body(Full::default()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), connection).await;
    assert!(ended.is_ok(), "the idle connection is still open");
}

#[tokio::test]
async fn split_h2_cookie_fields_reach_an_http1_upstream_as_one_line() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let mut h2 = h2_sender(gw.addr).await;
    let (status, _, _) = send_h2(
        &mut h2,
        get(gw.addr, "/c")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let seen = upstream.last();
    let cookies: Vec<_> = seen.headers.get_all("cookie").iter().collect();
    assert_eq!(cookies, ["a=1; b=2"]);
}

#[tokio::test]
async fn a_host_field_that_disagrees_with_the_authority_is_refused() {
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let mut h2 = h2_sender(gw.addr).await;
    // The same host (any case, any port) passes.
    let (status, _, _) = send_h2(
        &mut h2,
        get(gw.addr, "/same")
            .header("host", gw.addr.to_string().to_uppercase())
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Another host does not.
    let (status, headers, body) = send_h2(
        &mut h2,
        get(gw.addr, "/other")
            .header("host", "trusted.internal")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_problem(&headers, &body, "malformed-request", 400);
    assert!(!upstream.paths().iter().any(|p| p == "/other"));
}

#[tokio::test]
async fn an_h2_client_that_grants_one_byte_of_window_does_not_keep_its_connection() {
    // hyper hands the whole last frame to h2 once one byte of window exists,
    // and drops the body: nothing is left for the stall watch to see, while h2
    // keeps the rest queued, and the connection open, for window that never
    // comes.
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(
        upstream.addr,
        "limits: {send_timeout: 300ms, header_read_timeout: 300ms}",
        "",
    ))
    .await;
    let stream = TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(1)
        .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    sender.ready().await.unwrap();
    let response = sender
        .send_request(get(gw.addr, "/users/1").body(Full::default()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Held, never read.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), connection).await;
    assert!(ended.is_ok(), "the connection was kept open");
    drop(response);
}

#[tokio::test]
async fn a_request_the_client_cancels_while_the_upstream_works_is_still_audited() {
    // The client resets its stream (the future is dropped) while the upstream
    // takes 500 ms: the upstream still acts, so the request must be recorded.
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let mut h2 = h2_sender(gw.addr).await;
    h2.ready().await.unwrap();
    let pending = h2.send_request(
        Request::delete(format!("http://{}/slow/500", gw.addr))
            .body(Full::default())
            .unwrap(),
    );
    let cancelled = tokio::time::timeout(std::time::Duration::from_millis(150), pending).await;
    assert!(cancelled.is_err(), "the upstream answered before the reset");
    assert_eq!(upstream.last().path_and_query, "/slow/500");
    // A second request on the same connection shows it still works.
    let (status, _, _) = send_h2(
        &mut h2,
        get(gw.addr, "/users/2").body(Full::default()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let records = gw.audit_records(2).await;
    let slow = records
        .iter()
        .find(|r| r["path"] == "/slow/500")
        .unwrap_or_else(|| panic!("no record of the cancelled request: {records:#?}"));
    assert_eq!(slow["method"], "DELETE");
    assert_eq!(slow["status"], 200, "{slow}");
    assert!(slow["upstream_ms"].as_f64().unwrap() >= 400.0, "{slow}");
}

#[tokio::test]
async fn streams_reset_in_a_loop_cannot_pile_up_running_requests() {
    // A reset request runs on to its end (so that what the upstream did is
    // audited), and a reset stream no longer counts towards the connection's
    // stream limit. Without a cap of its own, a client resetting its streams
    // in a loop would keep any number of upstream requests running. Past 512
    // running requests on the connection, a request is refused (503), audited
    // and never forwarded.
    const SENT: usize = 540;
    const CAP: usize = 512;
    // How long the upstream holds each request: far longer than sending them
    // all takes, even on a loaded machine, so none finishes before the cap is
    // tested.
    const HOLD_MS: u64 = 8000;
    let upstream = Upstream::start().await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let mut h2 = h2_sender(gw.addr).await;
    let first_sent = std::time::Instant::now();
    for sent in 1..=CAP {
        h2.ready().await.unwrap();
        let pending = h2.send_request(
            Request::get(format!("http://{}/slow/{HOLD_MS}", gw.addr))
                .body(Full::default())
                .unwrap(),
        );
        // Reset it (drop the future) once the upstream has it.
        let seen = async {
            while upstream.paths().len() < sent {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        };
        tokio::select! {
            _ = pending => panic!("request {sent} was answered before its reset"),
            _ = tokio::time::timeout(std::time::Duration::from_secs(5), seen) => {}
        }
        assert_eq!(
            upstream.paths().len(),
            sent,
            "request {sent} never reached the upstream"
        );
    }
    let last_held = std::time::Instant::now();
    // The cap is reached: more requests are refused at once, not forwarded.
    for _ in CAP..SENT {
        let (status, headers, body) = send_h2(
            &mut h2,
            get(gw.addr, &format!("/slow/{HOLD_MS}"))
                .body(Full::default())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_problem(&headers, &body, "connection-overloaded", 503);
        assert_eq!(headers["retry-after"], "1");
    }
    assert_eq!(
        upstream.paths().len(),
        CAP,
        "refused requests reached the upstream"
    );
    assert!(
        first_sent.elapsed() < std::time::Duration::from_millis(HOLD_MS),
        "sending took longer than the upstream holds a request: nothing was tested"
    );
    // The detached ones answer once the upstream lets them go; then the
    // connection serves again, and every request has its record.
    let released = std::time::Duration::from_millis(HOLD_MS + 500);
    tokio::time::sleep(released.saturating_sub(last_held.elapsed())).await;
    let records = gw.audit_records(SENT).await;
    let count = |status: u64| {
        records
            .iter()
            .filter(|r| r["path"] == format!("/slow/{HOLD_MS}") && r["status"] == status)
            .count()
    };
    assert_eq!(
        count(200),
        CAP,
        "reset requests that ran on to their answer"
    );
    assert_eq!(count(503), SENT - CAP, "refusals past the cap");
    let mut served = false;
    for _ in 0..50 {
        let (status, _, _) = send_h2(
            &mut h2,
            get(gw.addr, "/users/2").body(Full::default()).unwrap(),
        )
        .await;
        if status == StatusCode::OK {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(served, "the connection never served again after the cap");
}
