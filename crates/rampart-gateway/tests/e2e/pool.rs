//! The upstream connection pool: reuse, replacement of connections the upstream
//! closed while idle (and of those it announced it would close), the idle
//! timeout, the idle cap, and which requests are sent again when a reused
//! connection fails.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::scripted::{Script, scripted};
use crate::support::*;

async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn sequential_requests_reuse_one_upstream_connection() {
    let upstream = scripted(Script::ok()).await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    for _ in 0..5 {
        let (status, _, body) = get(&gw.url("/x")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"ok");
    }
    assert_eq!(upstream.accepted(), 1);
}

#[tokio::test]
async fn an_idle_connection_the_upstream_closed_is_replaced_not_an_error() {
    let upstream = scripted(Script {
        linger: Duration::from_millis(50),
        ..Script::ok().close_after(1)
    })
    .await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    for round in 1..=3 {
        let (status, _, body) = get(&gw.url("/x")).await;
        assert_eq!(status, StatusCode::OK, "round {round}");
        assert_eq!(&body[..], b"ok");
        // The upstream closes the pooled connection while it is idle.
        eventually("upstream closed", || upstream.closed() == round).await;
    }
    assert_eq!(upstream.accepted(), 3);
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let upstream = scripted(Script::ok()).await;
    let gw = start(&config_yaml(upstream.addr, "", "      idle_timeout: 200ms")).await;
    assert_eq!(get(&gw.url("/x")).await.0, StatusCode::OK);
    eventually("idle connection closed by the gateway", || {
        upstream.closed() == 1
    })
    .await;
    // The next request opens a new connection.
    assert_eq!(get(&gw.url("/x")).await.0, StatusCode::OK);
    assert_eq!(upstream.accepted(), 2);
}

#[tokio::test]
async fn idle_connections_past_the_cap_are_closed() {
    let upstream = scripted(Script {
        delay: Duration::from_millis(300),
        ..Script::ok()
    })
    .await;
    let gw = start(&config_yaml(
        upstream.addr,
        "",
        "      max_idle_connections: 1",
    ))
    .await;
    // Three requests at once need three upstream connections.
    let url = gw.url("/x");
    let requests: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { get(&url).await.0 })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(upstream.accepted(), 3);
    // Only one stays idle; the gateway closes the other two.
    eventually("connections past the cap closed", || upstream.closed() == 2).await;
    assert_eq!(get(&url).await.0, StatusCode::OK);
    assert_eq!(upstream.accepted(), 3);
}

#[tokio::test]
async fn a_connection_still_sending_a_request_body_is_not_reused() {
    // The upstream answers each head at once, without reading bodies.
    let upstream = scripted(Script {
        early: true,
        ..Script::ok()
    })
    .await;
    let gw = start(&config_yaml(
        upstream.addr,
        "",
        "      response_header_timeout: 1s",
    ))
    .await;
    // A client uploads part of a body and stalls; the upstream has answered.
    let mut uploader = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    uploader
        .write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let mut answer = vec![0u8; 1024];
    let n = uploader.read(&mut answer).await.unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&answer[..n])), 200);
    // The next request must not wait behind the stalled upload.
    let (status, _, body) = get(&gw.url("/x")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"ok");
    assert_eq!(upstream.accepted(), 2);
    drop(uploader);
}

fn post(url: &str) -> Request<Full<Bytes>> {
    Request::post(url)
        .body(Full::new(Bytes::from_static(b"order")))
        .unwrap()
}

async fn post_is_answered(gw: &Running) {
    let (status, _, body) = send(post(&gw.url("/orders"))).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok"[..]));
}

#[tokio::test]
async fn a_post_after_the_upstream_closed_the_idle_connection_reaches_it_once() {
    let upstream = scripted(Script {
        linger: Duration::from_millis(50),
        ..Script::ok().close_after(1)
    })
    .await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    assert_eq!(send(post(&gw.url("/orders"))).await.0, StatusCode::OK);
    // The upstream closes the pooled connection while it is idle.
    eventually("upstream closed", || upstream.closed() == 1).await;
    post_is_answered(&gw).await;
    assert_eq!(
        upstream.requests(),
        2,
        "each POST reached the upstream once"
    );
    assert_eq!(upstream.accepted(), 2);
}

#[tokio::test]
async fn a_connection_is_retired_before_the_keep_alive_timeout_the_upstream_announced() {
    // Like Node.js (5s) or Apache: it announces its keep-alive timeout and
    // drops a request that arrives as the timer fires.
    let upstream = scripted(Script {
        drop_after_idle: Some(Duration::from_secs(2)),
        ..Script::reply(b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2\r\nContent-Length: 2\r\n\r\nok")
    })
    .await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    assert_eq!(send(post(&gw.url("/orders"))).await.0, StatusCode::OK);
    // Well within the announced timeout: reused.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(send(post(&gw.url("/orders"))).await.0, StatusCode::OK);
    assert_eq!(upstream.accepted(), 1);
    // Past it (less the margin): a new connection, never the dying one.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    post_is_answered(&gw).await;
    assert_eq!(
        upstream.requests(),
        3,
        "each POST reached the upstream once"
    );
    assert_eq!(upstream.accepted(), 2);
}

#[tokio::test]
async fn a_request_the_upstream_may_have_received_is_sent_again_only_if_idempotent() {
    // The upstream's keep-alive timer (300ms, unannounced) fires as the
    // request arrives: it was read, then the connection closed unanswered.
    let upstream = scripted(Script {
        drop_after_idle: Some(Duration::from_millis(300)),
        ..Script::ok()
    })
    .await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    let url = gw.url("/orders");
    assert_eq!(send(post(&url)).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // A POST: the upstream may have acted on it, so it is never sent twice.
    let (status, headers, body) = send(post(&url)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_problem(&headers, &body, "upstream-unreachable", 502);
    assert_eq!(upstream.requests(), 2, "the POST was not sent again");
    // A GET goes again on a new connection.
    assert_eq!(get(&url).await.0, StatusCode::OK);
    assert_eq!(upstream.requests(), 3);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, _, body) = get(&url).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok"[..]));
    assert_eq!(upstream.requests(), 5, "dropped once, then answered");
}
