//! The upstream connection pool: reuse, replacement of connections the upstream
//! closed while idle, the idle timeout, and the idle cap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// A raw keep-alive upstream counting its connections and their ends. With
/// `close_after`, it closes each connection after that many responses (and a
/// short pause, so the gateway has pooled it by then); each response waits `delay`.
struct RawUpstream {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

async fn raw_upstream(close_after: Option<usize>, delay: Duration) -> RawUpstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let (accepted2, closed2) = (accepted.clone(), closed.clone());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            accepted2.fetch_add(1, Ordering::SeqCst);
            let closed = closed2.clone();
            tokio::spawn(async move {
                let mut served = 0;
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    head.extend_from_slice(&buf[..n]);
                    // GETs only: one response per complete head.
                    while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        head.drain(..end + 4);
                        tokio::time::sleep(delay).await;
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .await;
                        served += 1;
                    }
                    if close_after == Some(served) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        break;
                    }
                }
                closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    RawUpstream {
        addr,
        accepted,
        closed,
    }
}

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
    let upstream = raw_upstream(None, Duration::ZERO).await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    for _ in 0..5 {
        let (status, _, body) = get(&gw.url("/x")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"ok");
    }
    assert_eq!(upstream.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_idle_connection_the_upstream_closed_is_replaced_not_an_error() {
    let upstream = raw_upstream(Some(1), Duration::ZERO).await;
    let gw = start(&config_yaml(upstream.addr, "", "")).await;
    for round in 1..=3 {
        let (status, _, body) = get(&gw.url("/x")).await;
        assert_eq!(status, StatusCode::OK, "round {round}");
        assert_eq!(&body[..], b"ok");
        // The upstream closes the pooled connection while it is idle.
        eventually("upstream closed", || {
            upstream.closed.load(Ordering::SeqCst) == round
        })
        .await;
    }
    assert_eq!(upstream.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let upstream = raw_upstream(None, Duration::ZERO).await;
    let gw = start(&config_yaml(upstream.addr, "", "      idle_timeout: 200ms")).await;
    assert_eq!(get(&gw.url("/x")).await.0, StatusCode::OK);
    eventually("idle connection closed by the gateway", || {
        upstream.closed.load(Ordering::SeqCst) == 1
    })
    .await;
    // The next request opens a new connection.
    assert_eq!(get(&gw.url("/x")).await.0, StatusCode::OK);
    assert_eq!(upstream.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn idle_connections_past_the_cap_are_closed() {
    let upstream = raw_upstream(None, Duration::from_millis(300)).await;
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
    assert_eq!(upstream.accepted.load(Ordering::SeqCst), 3);
    // Only one stays idle; the gateway closes the other two.
    eventually("connections past the cap closed", || {
        upstream.closed.load(Ordering::SeqCst) == 2
    })
    .await;
    assert_eq!(get(&url).await.0, StatusCode::OK);
    assert_eq!(upstream.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_connection_still_sending_a_request_body_is_not_reused() {
    // The upstream answers each head at once, without reading bodies.
    let upstream = raw_upstream(None, Duration::ZERO).await;
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
    assert_eq!(upstream.accepted.load(Ordering::SeqCst), 2);
    drop(uploader);
}
