//! A connection's life around its exchanges: stale and closed connections
//! found before the request, which failures may be sent again, early answers,
//! the liveness probe on a real socket, and the response-head timer.

use super::*;

#[tokio::test]
async fn bytes_before_the_request_head_are_a_stale_connection() {
    use tokio::io::AsyncWriteExt;
    let stale = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale";
    for streamed in [true, false] {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        // Left on the connection by an earlier exchange.
        server.write_all(stale).await.unwrap();
        let mut conn = Connection::new(Stream::Duplex(client));
        let headers = HeaderMap::new();
        let outgoing = outgoing(&Method::POST, "/up", &headers);
        let mut body = if streamed {
            SendBody::Stream {
                body: late_body(b"hi"),
                length: Some(2),
            }
        } else {
            SendBody::Full(Bytes::from_static(b"hi"))
        };
        match conn.exchange(&outgoing, &mut body).await {
            Err(error @ ExchangeError::Stale) => assert!(error.is_retryable()),
            Err(other) => panic!("streamed {streamed}: {other}"),
            Ok(exchanged) => panic!(
                "streamed {streamed}: a stale {} taken as the response",
                exchanged.response.status()
            ),
        }
    }
    // The legitimate late body: its response comes after the head.
    let (result, sent) = exchange_reading(
        58,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        SendBody::Stream {
            body: late_body(b"hi"),
            length: Some(2),
        },
    )
    .await;
    assert_eq!(result.unwrap().response.status(), 200);
    assert_eq!(
        String::from_utf8(sent).unwrap(),
        "POST /up HTTP/1.1\r\nhost: upstream\r\ncontent-length: 2\r\n\r\nhi"
    );
}

#[tokio::test]
async fn only_a_connection_that_answered_nothing_is_retried() {
    let reset = || io::Error::from(io::ErrorKind::ConnectionReset);
    assert!(read_failure(reset(), b"", 0).is_retryable());
    assert!(!read_failure(reset(), b"HTTP/1.1 200", 0).is_retryable());
    assert!(!read_failure(reset(), b"", 1).is_retryable());
    // An interim response then a close: something came back, never retried.
    let (result, _) = exchange_with(
        b"HTTP/1.1 100 Continue\r\n\r\n",
        Method::GET,
        SendBody::None,
    )
    .await;
    assert!(result.is_err());
    let (client, server) = tokio::io::duplex(1024);
    drop(server);
    // Immediate close with nothing received: retryable.
    let mut conn = Connection::new(Stream::Duplex(client));
    let headers = HeaderMap::new();
    let outgoing = outgoing(&Method::GET, "/", &headers);
    let error = conn
        .exchange(&outgoing, &mut SendBody::None)
        .await
        .err()
        .unwrap();
    assert!(error.is_retryable(), "{error}");
    // Found closed before a byte was written: the upstream never saw it.
    assert!(
        matches!(error, ExchangeError::ClosedBeforeRequest) && error.unsent(),
        "{error}"
    );
    // Closed after the request was read, without an answer: the upstream may
    // have acted on it, so only idempotent requests may go again.
    let (result, sent) = exchange_with(b"", Method::POST, SendBody::Full("x".into())).await;
    assert!(sent.ends_with(b"\r\n\r\nx") || sent.ends_with(b"\r\n\r\n"));
    let error = result.err().unwrap();
    assert_eq!(error, ExchangeError::Closed.to_string());
    assert!(!ExchangeError::Closed.unsent() && ExchangeError::Closed.is_retryable());
    let reset = ExchangeError::Io(reset());
    assert!(!reset.unsent() && reset.is_retryable());
    assert!(ExchangeError::FailedBeforeRequest(io::ErrorKind::BrokenPipe.into()).unsent());
    assert!(ExchangeError::Stale.unsent());
}

#[tokio::test]
async fn a_streamed_body_is_whole_again_only_if_nothing_was_taken_from_it() {
    let headers = HeaderMap::new();
    let outgoing = outgoing(&Method::POST, "/up", &headers);
    let streamed = || SendBody::Stream {
        body: frames_body(vec![Bytes::from_static(b"hi")]),
        length: Some(2),
    };
    // Found closed before anything was written or taken: sendable elsewhere.
    let (client, server) = tokio::io::duplex(1024);
    drop(server);
    let mut conn = Connection::new(Stream::Duplex(client));
    let error = conn
        .exchange(&outgoing, &mut streamed())
        .await
        .err()
        .unwrap();
    assert!(error.unsent() && conn.body_untouched(), "{error}");
    // Sent: taken.
    let (client, mut server) = tokio::io::duplex(1024);
    let upstream = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut seen = [0u8; 1024];
        let _ = server.read(&mut seen).await;
        let _ = server
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await;
        server
    });
    let mut conn = Connection::new(Stream::Duplex(client));
    assert!(conn.exchange(&outgoing, &mut streamed()).await.is_ok());
    assert!(!conn.body_untouched());
    drop(upstream.await);
}

#[tokio::test(start_paused = true)]
async fn an_early_answer_is_not_reused_and_its_body_reads_are_bounded() {
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    struct Counted(Arc<AtomicUsize>);
    impl Checkin for Counted {
        fn checkin(&self, _conn: Box<Connection>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    use std::sync::Arc;
    for (reply, complete) in [
        // Answered in full before the request body: fine, but not reused.
        (
            &b"HTTP/1.1 413 Too Large\r\nContent-Length: 2\r\n\r\nno"[..],
            true,
        ),
        // Half a body, then the upstream waits for the request body.
        (
            b"HTTP/1.1 413 Too Large\r\nContent-Length: 10\r\n\r\nno",
            false,
        ),
    ] {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let upstream = tokio::spawn(async move {
            let mut seen = vec![0u8; 1024];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = server.read(&mut seen).await.unwrap();
                got.extend_from_slice(&seen[..n]);
            }
            server.write_all(reply).await.unwrap();
            // Keeps reading the request body, which never ends.
            while server.read(&mut seen).await.unwrap_or(0) > 0 {}
        });
        let mut conn = Box::new(Connection::new(Stream::Duplex(client)));
        let headers = HeaderMap::new();
        let outgoing = outgoing(&Method::POST, "/up", &headers);
        // One piece of a body that then never goes on.
        let mut body = SendBody::Stream {
            body: late_body_forever(b"first"),
            length: Some(1000),
        };
        let exchanged = conn.exchange(&outgoing, &mut body).await.unwrap();
        assert!(exchanged.early && !exchanged.keep_alive);
        let homecomings = Arc::new(AtomicUsize::new(0));
        let body = H1Body::new(
            conn,
            exchanged.framing,
            exchanged.keep_alive,
            Arc::new(Counted(homecomings.clone())),
            Some(std::time::Duration::from_secs(30)),
        );
        let collected = body.collect().await;
        assert_eq!(collected.is_ok(), complete, "{reply:?}");
        assert_eq!(homecomings.load(Ordering::SeqCst), 0);
        upstream.abort();
    }
}

#[tokio::test]
async fn the_thorough_probe_sees_closes_and_stray_bytes_on_a_real_socket() {
    use tokio::io::AsyncWriteExt;
    async fn pair() -> (Connection, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (Connection::new(Stream::Tcp(client)), server)
    }
    async fn eventually_unusable(conn: &mut Connection) -> bool {
        for _ in 0..200 {
            if !conn.probe_idle(true) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        false
    }
    // Idle and open: usable, as often as it is asked.
    let (mut conn, server) = pair().await;
    for _ in 0..3 {
        assert!(conn.probe_idle(true) && conn.probe_idle(false));
    }
    // Closed by the upstream.
    drop(server);
    assert!(eventually_unusable(&mut conn).await);
    // Bytes nobody asked for.
    let (mut conn, mut server) = pair().await;
    server.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
    assert!(eventually_unusable(&mut conn).await);
}

#[tokio::test(start_paused = true)]
async fn one_timer_per_connection_bounds_each_response_head() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::{Instant, sleep};
    let (client, mut server) = tokio::io::duplex(1 << 16);
    // Answers at once, then after 500ms, then never.
    let upstream = tokio::spawn(async move {
        let mut seen = [0u8; 4096];
        for delay in [Some(0), Some(500), None] {
            let n = server.read(&mut seen).await.unwrap();
            assert!(n > 0);
            let Some(delay) = delay else {
                sleep(Duration::from_secs(3600)).await;
                return;
            };
            sleep(Duration::from_millis(delay)).await;
            server
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
        }
    });
    let mut conn = Connection::new(Stream::Duplex(client));
    let headers = HeaderMap::new();
    let outgoing = outgoing(&Method::GET, "/", &headers);
    let second = Duration::from_secs(1);
    conn.head_deadline = Some(Instant::now() + second);
    assert!(conn.exchange(&outgoing, &mut SendBody::None).await.is_ok());
    // Idle past that deadline: the timer fires for nobody.
    sleep(Duration::from_secs(5)).await;
    // Slow but within its own second: not taken for a timeout.
    conn.head_deadline = Some(Instant::now() + second);
    assert!(conn.exchange(&outgoing, &mut SendBody::None).await.is_ok());
    // No answer: timed out at its deadline, not before.
    let started = Instant::now();
    conn.head_deadline = Some(started + second);
    let error = conn
        .exchange(&outgoing, &mut SendBody::None)
        .await
        .err()
        .unwrap();
    assert!(matches!(error, ExchangeError::TimedOut), "{error}");
    assert!(!error.is_retryable() && !error.unsent());
    assert!(Instant::now() >= started + second);
    upstream.abort();
}

#[tokio::test]
async fn nothing_is_read_after_a_failed_first_write() {
    use std::io::Write as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let mut server = server.into_std().unwrap();
    server.set_nonblocking(false).unwrap();
    let mut conn = Connection::new(Stream::Tcp(client));
    // Idle and open (this also leaves tokio's read readiness cleared).
    assert!(conn.probe_idle(false));
    // Our writes now fail; a response is on its way that no request asked
    // for. Neither side's runtime turns until the exchange has been polled
    // once, so tokio hears of those bytes only after the failed write.
    socket2::SockRef::from(conn.tcp().unwrap())
        .shutdown(std::net::Shutdown::Write)
        .unwrap();
    server
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let headers = HeaderMap::new();
    let outgoing = outgoing(&Method::GET, "/", &headers);
    conn.head_deadline = Some(tokio::time::Instant::now() + std::time::Duration::from_secs(5));
    match conn.exchange(&outgoing, &mut SendBody::None).await {
        // The write's own error, at once: not sent, so any method may go again.
        Err(ExchangeError::FailedBeforeRequest(error)) => {
            assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        }
        Err(other) => panic!("not the write's error: {other}"),
        Ok(exchanged) => panic!(
            "stray bytes taken as the answer: {}",
            exchanged.response.status()
        ),
    }
}

#[tokio::test(start_paused = true)]
async fn a_socket_timeout_in_a_body_is_a_broken_connection_not_the_body_timeout() {
    use http_body_util::BodyExt;
    use response::Framing;
    use std::sync::Arc;
    use std::time::Duration;
    struct Nowhere;
    impl Checkin for Nowhere {
        fn checkin(&self, _conn: Box<Connection>) {}
    }
    let body_error = |error: BoxError| match error.downcast::<ResponseBodyError>() {
        Ok(error) => *error,
        Err(other) => panic!("not a body error: {other}"),
    };
    // The socket's own ETIMEDOUT (TCP keep-alive or retransmissions gave up).
    let conn = Box::new(Connection::new(Stream::Failing(io::ErrorKind::TimedOut)));
    let body = H1Body::new(
        conn,
        Framing::Length(10),
        true,
        Arc::new(Nowhere),
        Some(Duration::from_secs(60)),
    );
    match body_error(body.collect().await.err().unwrap()) {
        ResponseBodyError::Io(error) => assert_eq!(error.kind(), io::ErrorKind::TimedOut),
        other => panic!("reported as {other:?}"),
    }
    // The body timeout: an upstream that sends nothing for that long.
    let (client, _upstream) = tokio::io::duplex(1024);
    let conn = Box::new(Connection::new(Stream::Duplex(client)));
    let body = H1Body::new(
        conn,
        Framing::Length(10),
        true,
        Arc::new(Nowhere),
        Some(Duration::from_secs(1)),
    );
    let error = body_error(body.collect().await.err().unwrap());
    assert!(matches!(error, ResponseBodyError::TimedOut), "{error:?}");
}
