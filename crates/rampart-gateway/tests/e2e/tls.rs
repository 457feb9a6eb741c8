//! TLS listeners: versions, ALPN, HSTS, client certificates (mTLS) and certificate
//! rotation without restart. Certificates are made with the openssl CLI per test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rampart_config::{Api, Config, ConfigErrors};
use rampart_core::{Phase, RequestCx, Stage, Step};
use rampart_gateway::StageFactory;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::support::*;

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// A CA, a server certificate for `localhost` signed by it (serial `serial`), and a
/// client certificate `CN=client-1` with a URI SAN.
pub(crate) fn make_pki(dir: &Path, serial: &str) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("client.ext"),
        "subjectAltName=URI:spiffe://test/client-1\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    if !dir.join("ca.pem").exists() {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=Test CA",
                "-days",
                "2",
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key.new",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            serial,
            "-out",
            "server.pem.new",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    if !dir.join("client.pem").exists() {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "client.key",
                "-out",
                "client.csr",
                "-subj",
                "/CN=client-1",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "client.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "77",
                "-out",
                "client.pem",
                "-days",
                "2",
                "-extfile",
                "client.ext",
            ],
        );
    }
    // Replace both files by rename, as a rotation tool would.
    std::fs::rename(dir.join("server.key.new"), dir.join("server.key")).unwrap();
    std::fs::rename(dir.join("server.pem.new"), dir.join("server.pem")).unwrap();
}

fn tls_yaml(upstream: std::net::SocketAddr, pki: &Path, tls_extra: &str) -> String {
    format!(
        "listeners:\n  - bind: 127.0.0.1:0\n    tls:\n      cert: {0}/server.pem\n      key: {0}/server.key\n{tls_extra}\nadmin: {{bind: 127.0.0.1:0}}\naudit: {{sinks: [{{file: {{path: audit.jsonl}}}}]}}\napis:\n  - name: tls\n    upstream: {{url: http://{upstream}}}\n",
        pki.display()
    )
}

pub(crate) struct Client {
    pub(crate) versions: Vec<&'static rustls::SupportedProtocolVersion>,
    pub(crate) alpn: Vec<Vec<u8>>,
    pub(crate) identity: Option<PathBuf>,
}

/// Connects, sends GET /, returns (status, headers, negotiated ALPN, server cert serial bytes).
pub(crate) async fn fetch(
    addr: std::net::SocketAddr,
    pki: &Path,
    client: Client,
) -> Result<(StatusCode, http::HeaderMap, Option<Vec<u8>>, Vec<u8>), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pki.join("ca.pem")).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_protocol_versions(&client.versions)
        .with_root_certificates(roots);
    let mut config = match &client.identity {
        Some(dir) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(dir.join("client.pem")).unwrap()],
                PrivateKeyDer::from_pem_file(dir.join("client.key")).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = client.alpn.clone();
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let cert = tls.get_ref().1.peer_certificates().unwrap()[0]
        .as_ref()
        .to_vec();
    let request = Request::get(format!("https://localhost:{}/", addr.port()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = if alpn.as_deref() == Some(b"h2") {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let mut request = request;
        request
            .headers_mut()
            .insert("host", HeaderValue::from_static("localhost"));
        sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?
    };
    let (parts, body) = response.into_parts();
    let _ = body.collect().await;
    Ok((parts.status, parts.headers, alpn, cert))
}

pub(crate) fn both_versions() -> Vec<&'static rustls::SupportedProtocolVersion> {
    vec![&rustls::version::TLS13, &rustls::version::TLS12]
}

#[tokio::test]
async fn tls_listener_negotiates_h2_and_http1_and_sends_hsts() {
    let upstream = Upstream::start().await;
    let pki = temp_dir("pki");
    make_pki(&pki, "1");
    let gw = start(&tls_yaml(upstream.addr, &pki, "")).await;
    let (status, headers, alpn, _) = fetch(
        gw.addr,
        &pki,
        Client {
            versions: both_versions(),
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            identity: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(headers["strict-transport-security"], "max-age=31536000");
    assert_eq!(upstream.last().headers["x-forwarded-proto"], "https");
    let (status, _, alpn, _) = fetch(
        gw.addr,
        &pki,
        Client {
            versions: both_versions(),
            alpn: vec![b"http/1.1".to_vec()],
            identity: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    // TLS 1.2 is accepted by default.
    let tls12 = Client {
        versions: vec![&rustls::version::TLS12],
        alpn: vec![],
        identity: None,
    };
    assert_eq!(fetch(gw.addr, &pki, tls12).await.unwrap().0, StatusCode::OK);
}

#[tokio::test]
async fn a_tls_client_that_stops_reading_gives_its_connection_back() {
    // One connection allowed: the second client is served only once the first
    // connection has ended. Closing a TLS stream writes close_notify, which a
    // client that stopped reading never takes: the close must be bounded too.
    const SIZE: usize = 48 * 1024 * 1024;
    let upstream = Upstream::start().await;
    let pki = temp_dir("pki-stall");
    make_pki(&pki, "1");
    let gw = start(&tls_yaml(
        upstream.addr,
        &pki,
        "limits: {send_timeout: 300ms, max_connections: 1}",
    ))
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pki.join("ca.pem")).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let mut stalled = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stalled,
        format!("GET /big/{SIZE} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    // Never read: the send timeout cuts the response, then the close must end.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let client = Client {
        versions: both_versions(),
        alpn: vec![b"http/1.1".to_vec()],
        identity: None,
    };
    let served = tokio::time::timeout(Duration::from_secs(10), fetch(gw.addr, &pki, client)).await;
    assert!(
        matches!(served, Ok(Ok((StatusCode::OK, ..)))),
        "the stalled connection still holds the only slot: {served:?}"
    );
    drop(stalled);
}

#[tokio::test]
async fn a_client_that_negotiates_h2_and_then_speaks_http1_is_not_served() {
    // ALPN says h2: hyper's automatic choice would serve the HTTP/1 bytes that
    // follow, outside the HTTP/1 guard and without a head timeout, so a partial
    // head held the connection (and its slot) for ever.
    let upstream = Upstream::start().await;
    let pki = temp_dir("pki-h2-then-h1");
    make_pki(&pki, "1");
    let gw = start(&tls_yaml(
        upstream.addr,
        &pki,
        "limits: {header_read_timeout: 300ms, max_connections: 1}",
    ))
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pki.join("ca.pem")).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let mut sneaky = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(sneaky.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    tokio::io::AsyncWriteExt::write_all(&mut sneaky, b"GET / HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    // The connection ends (no HTTP/1 answer), and soon.
    let mut out = Vec::new();
    let ended = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::io::AsyncReadExt::read_to_end(&mut sneaky, &mut out),
    )
    .await;
    assert!(ended.is_ok(), "the h2 connection speaking HTTP/1 was kept");
    assert!(!String::from_utf8_lossy(&out).contains("HTTP/1.1"));
    // And its slot is free for a real client.
    let client = Client {
        versions: both_versions(),
        alpn: vec![b"h2".to_vec()],
        identity: None,
    };
    let served = tokio::time::timeout(Duration::from_secs(5), fetch(gw.addr, &pki, client)).await;
    assert!(matches!(served, Ok(Ok((StatusCode::OK, ..)))), "{served:?}");
}

#[tokio::test]
async fn tls13_only_listener_refuses_tls12_clients() {
    let upstream = Upstream::start().await;
    let pki = temp_dir("pki13");
    make_pki(&pki, "1");
    let gw = start(&tls_yaml(upstream.addr, &pki, "      min_version: \"1.3\"")).await;
    let tls12 = Client {
        versions: vec![&rustls::version::TLS12],
        alpn: vec![],
        identity: None,
    };
    assert!(
        fetch(gw.addr, &pki, tls12).await.is_err(),
        "TLS 1.2 handshake succeeded"
    );
    let tls13 = Client {
        versions: vec![&rustls::version::TLS13],
        alpn: vec![],
        identity: None,
    };
    assert_eq!(fetch(gw.addr, &pki, tls13).await.unwrap().0, StatusCode::OK);
}

/// Copies the verified client certificate's facts into request headers.
struct ShowClientCert;

impl Stage for ShowClientCert {
    fn name(&self) -> &'static str {
        "show-client-cert"
    }
    fn phase(&self) -> Phase {
        Phase::Authentication
    }
    fn on_request<'a>(&'a self, cx: &'a mut RequestCx) -> Step<'a> {
        if let Some(cert) = cx.tls.as_ref().and_then(|tls| tls.client_cert.clone()) {
            cx.headers.insert(
                "x-test-subject",
                HeaderValue::from_str(&cert.subject).unwrap(),
            );
            cx.headers.insert(
                "x-test-sans",
                HeaderValue::from_str(&cert.sans.join(",")).unwrap(),
            );
            cx.headers.insert(
                "x-test-thumbprint",
                HeaderValue::from_str(&cert.sha256_thumbprint).unwrap(),
            );
        }
        Step::CONTINUE
    }
}

pub(crate) struct CertFactory;

impl StageFactory for CertFactory {
    fn stages(&self, _config: &Config, _api: &Api) -> Result<Vec<Arc<dyn Stage>>, ConfigErrors> {
        Ok(vec![Arc::new(ShowClientCert)])
    }
}

#[tokio::test]
async fn mtls_requires_a_certificate_from_the_ca_and_exposes_its_identity() {
    let upstream = Upstream::start().await;
    let pki = temp_dir("pki-mtls");
    make_pki(&pki, "1");
    let yaml = tls_yaml(
        upstream.addr,
        &pki,
        &format!("      client_ca: {}/ca.pem", pki.display()),
    );
    let gw = start_with(&yaml, Arc::new(CertFactory), "mtls").await;
    let anonymous = Client {
        versions: both_versions(),
        alpn: vec![],
        identity: None,
    };
    assert!(
        fetch(gw.addr, &pki, anonymous).await.is_err(),
        "served without a client certificate"
    );
    // A certificate from another CA is refused.
    let other = temp_dir("pki-other");
    make_pki(&other, "1");
    let foreign = Client {
        versions: both_versions(),
        alpn: vec![],
        identity: Some(other.clone()),
    };
    assert!(
        fetch(gw.addr, &pki, foreign).await.is_err(),
        "foreign client certificate accepted"
    );
    let client = Client {
        versions: both_versions(),
        alpn: vec![],
        identity: Some(pki.clone()),
    };
    let (status, _, _, _) = fetch(gw.addr, &pki, client).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let seen = upstream.last();
    assert_eq!(seen.headers["x-test-subject"], "CN=client-1");
    assert_eq!(seen.headers["x-test-sans"], "URI:spiffe://test/client-1");
    assert_eq!(seen.headers["x-test-thumbprint"].len(), 43);
}

#[tokio::test]
async fn rotated_certificates_are_served_without_restart() {
    let upstream = Upstream::start().await;
    let pki = temp_dir("pki-rotate");
    make_pki(&pki, "1");
    let gw = start(&tls_yaml(upstream.addr, &pki, "")).await;
    let client = || Client {
        versions: both_versions(),
        alpn: vec![],
        identity: None,
    };
    let (_, _, _, first) = fetch(gw.addr, &pki, client()).await.unwrap();
    // mtime granularity: make sure the new files look newer.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    make_pki(&pki, "2");
    let mut rotated = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (status, _, _, cert) = fetch(gw.addr, &pki, client()).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        if cert != first {
            rotated = true;
            break;
        }
    }
    assert!(rotated, "the new certificate was never served");
}

/// An https upstream on 127.0.0.1:0 serving `localhost` from `pki`; when
/// `require_client_cert`, it verifies client certificates against the same CA.
async fn tls_upstream(pki: &Path, require_client_cert: bool) -> std::net::SocketAddr {
    let cert = CertificateDer::from_pem_file(pki.join("server.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(pki.join("server.key")).unwrap();
    let builder = rustls::ServerConfig::builder();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(pki.join("ca.pem")).unwrap())
            .unwrap();
        builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .unwrap(),
        )
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(vec![cert], key).unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                        Bytes::from_static(b"secure upstream"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

fn https_yaml(upstream: std::net::SocketAddr, upstream_extra: &str) -> String {
    format!(
        "listeners:\n  - bind: 127.0.0.1:0\nadmin: {{bind: 127.0.0.1:0}}\naudit: {{sinks: [{{file: {{path: audit.jsonl}}}}]}}\napis:\n  - name: secure\n    upstream:\n      url: https://localhost:{}\n{upstream_extra}\n",
        upstream.port()
    )
}

#[tokio::test]
async fn https_upstreams_are_verified_against_the_configured_ca() {
    let pki = temp_dir("pki-upstream");
    make_pki(&pki, "5");
    let upstream = tls_upstream(&pki, false).await;
    let gw = start(&https_yaml(
        upstream,
        &format!("      ca: {}/ca.pem", pki.display()),
    ))
    .await;
    let (status, _, body) = get(&gw.url("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_ref(), b"secure upstream");
    // Without the CA (system roots), the self-signed chain is refused: 502.
    let gw = start(&https_yaml(upstream, "")).await;
    let (status, headers, body) = get(&gw.url("/")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_problem(&headers, &body, "upstream-unreachable", 502);
}

#[tokio::test]
async fn mtls_to_the_upstream_presents_the_configured_client_certificate() {
    let pki = temp_dir("pki-upstream-mtls");
    make_pki(&pki, "6");
    let upstream = tls_upstream(&pki, true).await;
    let ca = format!("      ca: {}/ca.pem", pki.display());
    let gw = start(&https_yaml(upstream, &ca)).await;
    assert_eq!(
        get(&gw.url("/")).await.0,
        StatusCode::BAD_GATEWAY,
        "served without a client certificate"
    );
    let with_cert = format!(
        "{ca}\n      client_cert: {0}/client.pem\n      client_key: {0}/client.key",
        pki.display()
    );
    let gw = start(&https_yaml(upstream, &with_cert)).await;
    assert_eq!(get(&gw.url("/")).await.0, StatusCode::OK);
}

/// An https upstream on 127.0.0.1:0 that offers only h2 (ALPN) and answers with
/// the HTTP version each request arrived in.
async fn h2_tls_upstream(pki: &Path) -> std::net::SocketAddr {
    let cert = CertificateDer::from_pem_file(pki.join("server.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(pki.join("server.key")).unwrap();
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(|req: http::Request<_>| async move {
                    let seen = format!("{:?} {}", req.version(), req.uri());
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(
                        seen,
                    ))))
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_upstream_that_negotiates_h2_is_reached_over_h2() {
    let pki = temp_dir("pki-upstream-h2");
    make_pki(&pki, "7");
    let upstream = h2_tls_upstream(&pki).await;
    let gw = start(&https_yaml(
        upstream,
        &format!("      ca: {}/ca.pem", pki.display()),
    ))
    .await;
    for path in ["/a?x=1", "/b"] {
        let (status, _, body) = get(&gw.url(path)).await;
        assert_eq!(status, StatusCode::OK);
        let expected = format!("HTTP/2.0 https://localhost:{}{path}", upstream.port());
        assert_eq!(String::from_utf8_lossy(&body), expected);
    }
}
