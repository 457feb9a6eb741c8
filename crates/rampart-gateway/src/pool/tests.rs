//! The pool's own HTTP/1 request path against a real upstream (plain TCP and
//! rustls): which requests go again when pooled connections fail at their
//! first write, how many pooled connections one request tries, and the
//! keep-alive hint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::via_hyper::keep_alive_hint;
use super::{
    Conn, Duration, ExchangeError, IdleConn, PoolSettings, UpstreamClient, UpstreamRequestError,
    fallback_host, idle_expiry,
};
use crate::upstream::UpstreamBody;

/// What the test upstream saw.
#[derive(Default)]
struct Seen {
    accepted: AtomicUsize,
    /// Request lines, in arrival order.
    requests: parking_lot::Mutex<Vec<String>>,
}

impl Seen {
    fn count(&self, method: &str) -> usize {
        let prefix = format!("{method} ");
        self.requests
            .lock()
            .iter()
            .filter(|line| line.starts_with(&prefix))
            .count()
    }
}

/// A self-signed certificate (the client below accepts any), made once.
fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ServerConfig>> = std::sync::OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rampart-pool-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
                "-subj",
                "/CN=localhost",
                "-days",
                "2",
            ])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(made.status.success(), "openssl failed");
        let cert = CertificateDer::from_pem_file(dir.join("cert.pem")).unwrap();
        let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        Arc::new(config)
    });
    tokio_rustls::TlsAcceptor::from(config.clone())
}

/// Accepts any server certificate (the tests are about the exchange).
#[derive(Debug)]
struct AnyCert(rustls::crypto::CryptoProvider);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What a TLS upstream sends after each response, on a connection it keeps
/// open.
#[derive(Clone, Copy)]
enum After {
    Nothing,
    /// A `close_notify` alert (its TCP connection stays open).
    CloseNotify,
    /// A record rustls refuses (an unencrypted fatal alert), 50ms after
    /// the response (right behind it, the response itself would be lost).
    Alert,
    /// Plain TCP: the upstream closes its side (a FIN), 50ms after the
    /// response.
    Fin,
    /// Plain TCP: bytes nobody asked for, 50ms after the response.
    Stray,
}

/// An upstream answering every request `reply`; a connection the client
/// closes (or half-closes) is held open, never closed from this side.
async fn upstream(tls: bool, reply: &'static [u8]) -> (SocketAddr, Arc<Seen>) {
    upstream_then(tls, reply, After::Nothing).await
}

/// [`upstream`], sending `after` after each response (TLS only).
async fn upstream_then(tls: bool, reply: &'static [u8], after: After) -> (SocketAddr, Arc<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let acceptor = tls.then(tls_acceptor);
    let counts = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counts.accepted.fetch_add(1, Ordering::SeqCst);
            let (acceptor, seen) = (acceptor.clone(), counts.clone());
            tokio::spawn(async move {
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            let pause = match after {
                                After::Alert => Duration::from_millis(50),
                                _ => Duration::ZERO,
                            };
                            serve(tls, &seen, reply, pause, |tls| match after {
                                After::Nothing | After::Fin | After::Stray => {}
                                After::CloseNotify => tls.get_mut().1.send_close_notify(),
                                // handshake_failure, in the clear.
                                After::Alert => {
                                    let alert = b"\x15\x03\x03\x00\x02\x02\x28";
                                    let _ = tls.get_ref().0.try_write(alert);
                                }
                            })
                            .await;
                        }
                    }
                    None => {
                        // After the connection is parked: right behind the
                        // response, the body's reader would see it first.
                        let pause = match after {
                            After::Fin | After::Stray => Duration::from_millis(50),
                            _ => Duration::ZERO,
                        };
                        serve(stream, &seen, reply, pause, |tcp| match after {
                            After::Fin => {
                                let _ = socket2::SockRef::from(&*tcp)
                                    .shutdown(std::net::Shutdown::Write);
                            }
                            After::Stray => {
                                let _ = tcp.try_write(b"HTTP/1.1 200 OK\r\n");
                            }
                            _ => {}
                        })
                        .await
                    }
                }
            });
        }
    });
    (addr, seen)
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    seen: &Seen,
    reply: &[u8],
    pause: Duration,
    after: impl Fn(&mut S),
) {
    let mut pending = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = io.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            // Held: the client's half-close is not answered by a close.
            std::future::pending::<()>().await;
        }
        pending.extend_from_slice(&chunk[..n]);
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).to_string();
            let length = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, value)| value.trim().parse::<usize>().unwrap());
            if pending.len() < end + 4 + length {
                break;
            }
            pending.drain(..end + 4 + length);
            seen.requests
                .lock()
                .push(head.lines().next().unwrap_or_default().to_string());
            io.write_all(reply).await.unwrap();
            io.flush().await.unwrap();
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            after(&mut io);
            let _ = io.flush().await;
        }
    }
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

fn client(addr: SocketAddr, tls: bool, header_timeout: Duration) -> UpstreamClient {
    let config = tls.then(|| {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        Arc::new(
            rustls::ClientConfig::builder()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
                .with_no_client_auth(),
        )
    });
    let scheme = if tls { "https" } else { "http" };
    UpstreamClient::new(PoolSettings {
        url: format!("{scheme}://{addr}").parse().unwrap(),
        tls: config,
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(60),
        body_timeout: Duration::from_secs(5),
        header_timeout,
        max_idle: 16,
    })
    .unwrap()
}

/// Parks `n` new connections whose writes fail: shut for writing on our
/// side, they still look idle and open (nothing to read, no close).
async fn park_spoiled(client: &UpstreamClient, n: usize) {
    for _ in 0..n {
        let Conn::Own(conn) = client.pool.connect().await.unwrap() else {
            panic!("not an own HTTP/1 connection");
        };
        let tcp = conn.tcp().unwrap();
        socket2::SockRef::from(tcp)
            .shutdown(std::net::Shutdown::Write)
            .unwrap();
        client.pool.park(IdleConn::Own(conn), None);
    }
}

fn idle(client: &UpstreamClient) -> usize {
    client.pool.idle.lock().len()
}

fn request(method: &str, addr: SocketAddr, tls: bool) -> Request<UpstreamBody> {
    let scheme = if tls { "https" } else { "http" };
    let body = if method == "POST" { "order" } else { "" };
    Request::builder()
        .method(method)
        .uri(format!("{scheme}://{addr}/orders"))
        .body(
            Full::new(Bytes::from_static(body.as_bytes()))
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap()
}

async fn answered(client: &UpstreamClient, request: Request<UpstreamBody>) -> Bytes {
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap().to_bytes()
}

#[tokio::test]
async fn a_failed_first_write_over_tls_resends_only_idempotent_requests() {
    let (addr, seen) = upstream(true, OK).await;
    let client = client(addr, true, Duration::from_secs(5));
    // rustls may have sent part of the request before the write failed:
    // a POST is not sent again (502), at most once to the upstream.
    park_spoiled(&client, 1).await;
    match client.request(request("POST", addr, true)).await {
        Err(UpstreamRequestError::Exchange(ExchangeError::Io(_))) => {}
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("the POST was sent again"),
    }
    assert_eq!(seen.count("POST"), 0);
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 1, "no new connection");
    // A GET goes again on a new connection.
    park_spoiled(&client, 1).await;
    assert_eq!(answered(&client, request("GET", addr, true)).await, "ok");
    assert_eq!(seen.count("GET"), 1);
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_failed_first_write_over_tcp_resends_any_method() {
    let (addr, seen) = upstream(false, OK).await;
    let client = client(addr, false, Duration::from_secs(5));
    // A failed TCP write moved no byte: the POST provably never left.
    park_spoiled(&client, 1).await;
    assert_eq!(answered(&client, request("POST", addr, false)).await, "ok");
    assert_eq!(seen.count("POST"), 1, "the upstream saw the POST once");
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_request_tries_at_most_three_pooled_connections_then_a_new_one() {
    let (addr, seen) = upstream(false, OK).await;
    let client = client(addr, false, Duration::from_secs(5));
    park_spoiled(&client, 4).await;
    let response = client.request(request("POST", addr, false)).await.unwrap();
    // Three spoiled connections tried; the fourth is still parked.
    assert_eq!(idle(&client), 1);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "ok");
    assert_eq!(seen.count("POST"), 1, "the upstream saw the POST once");
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_request_is_not_sent_again_past_its_deadline() {
    let (addr, seen) = upstream(false, OK).await;
    // The deadline is over as soon as the first attempt has failed.
    let client = client(addr, false, Duration::ZERO);
    park_spoiled(&client, 3).await;
    let error = client
        .request(request("GET", addr, false))
        .await
        .err()
        .unwrap();
    assert!(error.is_timeout(), "{error}");
    assert_eq!(idle(&client), 2, "one pooled connection tried, no more");
    assert_eq!(seen.count("GET"), 0);
}

#[tokio::test]
async fn a_tcp_connection_the_upstream_closed_or_spoiled_while_idle_is_not_used() {
    for (after, reusable) in [
        (After::Nothing, true),
        (After::Fin, false),
        (After::Stray, false),
    ] {
        let (addr, seen) = upstream_then(false, OK, after).await;
        let client = client(addr, false, Duration::from_secs(5));
        assert_eq!(answered(&client, request("GET", addr, false)).await, "ok");
        assert_eq!(idle(&client), 1);
        // Idle for less than the kernel probe's threshold: the checkout
        // takes it unprobed, and the exchange's read before it writes finds
        // the close or the stray bytes. A POST, too, then goes on a new
        // connection: nothing of it was sent on the spoiled one.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(answered(&client, request("POST", addr, false)).await, "ok");
        assert_eq!(seen.count("POST"), 1, "after {}", after as u8);
        let accepted = seen.accepted.load(Ordering::SeqCst);
        assert_eq!(
            accepted,
            if reusable { 1 } else { 2 },
            "after {}",
            after as u8
        );
    }
}

#[tokio::test]
async fn a_tls_connection_the_upstream_closed_or_spoiled_while_idle_is_not_reused() {
    for (after, reusable) in [
        (After::Nothing, true),
        // Arrives with the response: rustls takes it in with the response's
        // last bytes and the socket has nothing more to read.
        (After::CloseNotify, false),
        (After::Alert, false),
    ] {
        let (addr, seen) = upstream_then(true, OK, after).await;
        let client = client(addr, true, Duration::from_secs(5));
        assert_eq!(answered(&client, request("GET", addr, true)).await, "ok");
        assert_eq!(idle(&client), 1);
        // Idle for less than the kernel probe's threshold: only the read
        // that never waits looks at it. The checkout itself must refuse a
        // closed or spoiled connection (the exchange would also notice, but
        // that is the next line of defence, not this one).
        tokio::time::sleep(Duration::from_millis(200)).await;
        let checked_out = client.pool.checkout_own(std::time::Instant::now());
        assert_eq!(checked_out.is_some(), reusable, "after {}", after as u8);
        if let Some(conn) = checked_out {
            client.pool.park(IdleConn::Own(conn), None);
        }
        assert_eq!(answered(&client, request("GET", addr, true)).await, "ok");
        let accepted = seen.accepted.load(Ordering::SeqCst);
        assert_eq!(
            accepted,
            if reusable { 1 } else { 2 },
            "after {}",
            after as u8
        );
    }
}

#[test]
fn the_keep_alive_timeout_hint_is_read_and_bad_ones_ignored() {
    let hint = |value: &str| {
        let mut headers = http::HeaderMap::new();
        headers.insert("keep-alive", value.parse().unwrap());
        keep_alive_hint(&headers)
    };
    let secs = |n| Some(Duration::from_secs(n));
    assert_eq!(hint("timeout=5"), secs(5));
    assert_eq!(hint("timeout=5, max=1000"), secs(5));
    assert_eq!(hint("max=100,Timeout = 15"), secs(15));
    assert_eq!(hint("timeout=99999"), secs(86_400), "capped");
    assert_eq!(hint("timeout=999999999999999999999999"), None);
    for bad in [
        "timeout=",
        "timeout=-1",
        "timeout=5s",
        "timeout=1.5",
        "max=5",
        "x",
    ] {
        assert_eq!(hint(bad), None, "{bad}");
    }
    assert_eq!(keep_alive_hint(&http::HeaderMap::new()), None);
}

#[test]
fn an_announced_keep_alive_timeout_shortens_the_idle_lifetime() {
    let idle = Duration::from_secs(90);
    let secs = Duration::from_secs;
    let now = std::time::Instant::now();
    assert_eq!(idle_expiry(now, idle, None), Some(now + idle));
    // Head just arrived: the announced 5s less the margin.
    assert_eq!(
        idle_expiry(now, idle, Some(now + secs(5))),
        Some(now + secs(4))
    );
    assert_eq!(
        idle_expiry(now, idle, Some(now + secs(600))),
        Some(now + idle)
    );
    // One second or less: not worth pooling.
    assert_eq!(idle_expiry(now, idle, Some(now + secs(1))), None);
    assert_eq!(idle_expiry(now, idle, Some(now)), None);
    // Parked 3s after the head of a response announcing 5s (a slow client
    // read the body): the upstream's timer has 2s left, we keep it 1s.
    let head = now - secs(3);
    assert_eq!(
        idle_expiry(now, idle, Some(head + secs(5))),
        Some(now + secs(1))
    );
    assert_eq!(idle_expiry(now, idle, Some(head + secs(4))), None);
    // An idle timeout of zero: never pooled.
    assert_eq!(idle_expiry(now, Duration::ZERO, None), None);
}

#[tokio::test]
async fn the_announced_keep_alive_timeout_runs_from_the_response_head() {
    const REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2\r\nContent-Length: 2\r\n\r\nok";
    let (addr, seen) = upstream(false, REPLY).await;
    let client = client(addr, false, Duration::from_secs(5));
    // Read at once: parked (for the rest of the 2s, less the margin).
    assert_eq!(answered(&client, request("GET", addr, false)).await, "ok");
    assert_eq!(idle(&client), 1);
    // Read 1.2s after its head arrived: the upstream's timer started when
    // it sent the response, so less than the margin is left: not parked.
    let response = client.request(request("GET", addr, false)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "ok");
    assert_eq!(idle(&client), 0, "parked past the upstream's keep-alive");
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_body_sent_at_once_and_read_slowly_is_not_parked_past_the_upstream_timer() {
    // 256 KiB written at once: the upstream's timer starts as its write
    // returns, while most of the body still sits in the two sockets' buffers
    // for the slow reader below; reads that had to wait prove nothing
    // (reviewer's case).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let finished = Arc::new(parking_lot::Mutex::new(None::<std::time::Instant>));
    let finished_up = finished.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let finished = finished_up.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                const N: usize = 256 * 1024;
                let mut reply = format!(
                    "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2\r\nContent-Length: {N}\r\n\r\n"
                )
                .into_bytes();
                reply.extend(std::iter::repeat_n(b'x', N));
                socket.write_all(&reply).await.unwrap();
                *finished.lock() = Some(std::time::Instant::now());
                std::future::pending::<()>().await;
            });
        }
    });
    let client = client(addr, false, Duration::from_secs(5));
    let response = client.request(request("GET", addr, false)).await.unwrap();
    let mut body = response.into_body();
    let mut got = body
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap()
        .len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    while let Some(frame) = body.frame().await {
        got += frame.unwrap().into_data().unwrap().len();
    }
    drop(body);
    assert_eq!(got, 256 * 1024);
    let finished = finished.lock().expect("the upstream finished writing");
    assert!(finished.elapsed() > Duration::from_secs(2));
    assert_eq!(
        idle(&client),
        0,
        "parked after the upstream's keep-alive timer fired"
    );
}

#[test]
fn the_fallback_host_never_carries_userinfo() {
    let host = |url: &str| fallback_host(&url.parse().unwrap());
    assert_eq!(host("http://user:secret@origin:8080/x"), "origin:8080");
    assert_eq!(host("https://user@origin:443"), "origin");
    assert_eq!(host("http://origin"), "origin");
}
