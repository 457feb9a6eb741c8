//! Reloads that change TLS listeners: TLS that cannot be built, or an address
//! that cannot be bound, refuse the reload and leave the old listener serving;
//! a listener whose settings change keeps its socket.

use std::path::Path;

use http::StatusCode;

use crate::support::*;
use crate::tls::{Client, both_versions, fetch, make_pki};

/// One TLS listener on `bind` with the given files and `Strict-Transport-Security`.
fn listener_yaml(
    upstream: std::net::SocketAddr,
    bind: &str,
    cert: &Path,
    key: &Path,
    hsts: &str,
) -> String {
    format!(
        "listeners:\n  - bind: {bind}\n    tls:\n      cert: {}\n      key: {}\n      hsts: \"{hsts}\"\nadmin: {{bind: 127.0.0.1:0}}\naudit: {{sinks: [{{file: {{path: audit.jsonl}}}}]}}\napis:\n  - name: tls\n    upstream: {{url: http://{upstream}}}\n",
        cert.display(),
        key.display()
    )
}

fn anonymous() -> Client {
    Client {
        versions: both_versions(),
        alpn: vec![b"http/1.1".to_vec()],
        identity: None,
    }
}

/// The review's case: a reload changing the listener's `hsts` and pointing it
/// at a key that does not match its certificate used to pass (validation
/// only checked that the files exist), count as a successful reload, stop the
/// old listener and then fail to start the new one: the port was dead.
#[tokio::test]
async fn a_reload_whose_listener_tls_cannot_be_built_is_refused_and_the_old_listener_serves_on() {
    let upstream = Upstream::start().await;
    let pki = temp_dir("pki-reload-a");
    make_pki(&pki, "1");
    let other = temp_dir("pki-reload-b");
    make_pki(&other, "2");
    let gw = start(&listener_yaml(
        upstream.addr,
        "127.0.0.1:0",
        &pki.join("server.pem"),
        &pki.join("server.key"),
        "max-age=100",
    ))
    .await;
    let (status, headers, _, served) = fetch(gw.addr, &pki, anonymous()).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["strict-transport-security"], "max-age=100");

    std::fs::write(
        gw.config_path(),
        listener_yaml(
            upstream.addr,
            "127.0.0.1:0",
            &pki.join("server.pem"),
            &other.join("server.key"),
            "max-age=200",
        ),
    )
    .unwrap();
    let errors = gw.gateway.reload().await.unwrap_err().to_string();
    assert!(errors.contains("listeners[0].tls.key"), "{errors}");
    assert!(errors.contains("does not match"), "{errors}");

    // The same port still serves the old certificate and settings.
    let (status, headers, _, cert) = fetch(gw.addr, &pki, anonymous()).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cert, served);
    assert_eq!(headers["strict-transport-security"], "max-age=100");
    let (_, _, metrics) = get(&format!("http://{}/metrics", gw.admin)).await;
    assert!(
        String::from_utf8_lossy(&metrics)
            .contains("rampart_config_reloads_total{result=\"error\"}")
    );
    gw.stop().await;
}

/// A listener whose settings change keeps its socket: the new settings are
/// served on the same port, with no moment where it is closed.
#[tokio::test]
async fn a_reload_changing_a_listeners_tls_settings_keeps_its_port() {
    let upstream = Upstream::start().await;
    let pki = temp_dir("pki-reload-hsts");
    make_pki(&pki, "1");
    let (cert, key) = (pki.join("server.pem"), pki.join("server.key"));
    let gw = start(&listener_yaml(
        upstream.addr,
        "127.0.0.1:0",
        &cert,
        &key,
        "max-age=100",
    ))
    .await;
    std::fs::write(
        gw.config_path(),
        listener_yaml(upstream.addr, "127.0.0.1:0", &cert, &key, "max-age=200"),
    )
    .unwrap();
    gw.gateway.reload().await.unwrap();
    let (status, headers, _, _) = fetch(gw.addr, &pki, anonymous()).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["strict-transport-security"], "max-age=200");
    gw.stop().await;
}

/// A reload that changes nothing of a TLS listener keeps its TLS (its
/// session cache too); one whose certificate files changed builds it again.
#[tokio::test]
async fn a_reload_keeps_unchanged_listener_tls_and_rebuilds_changed() {
    let upstream = Upstream::start().await;
    let pki = temp_dir("pki-reload-keep");
    make_pki(&pki, "1");
    let (cert, key) = (pki.join("server.pem"), pki.join("server.key"));
    let gw = start(&listener_yaml(
        upstream.addr,
        "127.0.0.1:0",
        &cert,
        &key,
        "max-age=100",
    ))
    .await;
    let tls_of = || gw.gateway.runtime().listeners[0].tls.clone().unwrap();
    let before = tls_of();
    gw.gateway.reload().await.unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&before, &tls_of()),
        "rebuilt for nothing"
    );
    // The same pair written again (a renewal): read again at the reload.
    let pem = std::fs::read(&cert).unwrap();
    std::fs::write(&cert, pem).unwrap();
    let file = std::fs::File::options().write(true).open(&cert).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    gw.gateway.reload().await.unwrap();
    assert!(
        !std::sync::Arc::ptr_eq(&before, &tls_of()),
        "changed files not read"
    );
    let (status, _, _, _) = fetch(gw.addr, &pki, anonymous()).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    gw.stop().await;
}

/// A new listener on an address that cannot be bound refuses the reload
/// before anything changes: the old listener serves on.
#[tokio::test]
async fn a_reload_whose_new_address_cannot_be_bound_is_refused() {
    let upstream = Upstream::start().await;
    let pki = temp_dir("pki-reload-bind");
    make_pki(&pki, "1");
    let (cert, key) = (pki.join("server.pem"), pki.join("server.key"));
    let gw = start(&listener_yaml(
        upstream.addr,
        "127.0.0.1:0",
        &cert,
        &key,
        "max-age=100",
    ))
    .await;
    // Someone else holds the port the new configuration moves to.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    std::fs::write(
        gw.config_path(),
        listener_yaml(
            upstream.addr,
            &format!("127.0.0.1:{port}"),
            &cert,
            &key,
            "max-age=100",
        ),
    )
    .unwrap();
    let errors = gw.gateway.reload().await.unwrap_err().to_string();
    assert!(
        errors.contains("listeners[0].bind: cannot bind"),
        "{errors}"
    );
    let (status, _, _, _) = fetch(gw.addr, &pki, anonymous()).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    gw.stop().await;
}

/// mTLS with the CA of `pki` at `ca` (a copy the test can replace).
fn mtls_yaml(upstream: std::net::SocketAddr, pki: &Path, ca: &Path) -> String {
    format!(
        "listeners:\n  - bind: 127.0.0.1:0\n    tls:\n      cert: {0}/server.pem\n      key: {0}/server.key\n      client_ca: {1}\nadmin: {{bind: 127.0.0.1:0}}\naudit: {{sinks: [{{file: {{path: audit.jsonl}}}}]}}\napis:\n  - name: tls\n    upstream: {{url: http://{upstream}}}\n",
        pki.display(),
        ca.display()
    )
}

fn client_of(pki: &Path) -> Client {
    Client {
        versions: both_versions(),
        alpn: vec![b"http/1.1".to_vec()],
        identity: Some(pki.to_path_buf()),
    }
}

/// Replaces `path` with `contents` by rename, its modification time moved
/// `later` seconds past the old one (a change the poll sees without a sleep
/// for the file system's time granularity).
fn replace(path: &Path, contents: &[u8], later: u64) {
    let before = std::fs::metadata(path).unwrap().modified().unwrap();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .unwrap()
        .set_modified(before + std::time::Duration::from_secs(later))
        .unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Whether `pki`'s client certificate is served, retried until it is
/// `expected` or 10 s pass (the files are polled every 2 s).
async fn served_becomes(
    gw: &Running,
    server_pki: &Path,
    client_pki: &Path,
    expected: bool,
) -> bool {
    for _ in 0..40 {
        let served = fetch(gw.addr, server_pki, client_of(client_pki))
            .await
            .is_ok_and(|(status, ..)| status == StatusCode::OK);
        if served == expected {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    false
}

/// A client CA bundle replaced on disk takes effect without a reload: a
/// client certificate of the old CA is then refused, one of the new CA
/// served. A bundle that cannot be used in between is counted and the old one
/// kept.
#[tokio::test]
async fn a_changed_client_ca_bundle_is_picked_up_without_restart() {
    let upstream = Upstream::start().await;
    let pki = temp_dir("pki-ca-a");
    make_pki(&pki, "1");
    let other = temp_dir("pki-ca-b");
    make_pki(&other, "2");
    let ca = pki.join("client-ca.pem");
    std::fs::copy(pki.join("ca.pem"), &ca).unwrap();
    let gw = start(&mtls_yaml(upstream.addr, &pki, &ca)).await;
    assert!(served_becomes(&gw, &pki, &pki, true).await);
    assert!(served_becomes(&gw, &pki, &other, false).await);

    // Not PEM: the old bundle stays in force.
    replace(&ca, b"not a certificate\n", 5);
    let mut counted = false;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let (_, _, metrics) = get(&format!("http://{}/metrics", gw.admin)).await;
        if String::from_utf8_lossy(&metrics)
            .contains("rampart_tls_client_ca_reloads_total{result=\"error\"}")
        {
            counted = true;
            break;
        }
    }
    assert!(counted, "the unusable bundle was not counted");
    assert!(served_becomes(&gw, &pki, &pki, true).await);

    // The other CA: its clients are served, the first CA's refused.
    replace(&ca, &std::fs::read(other.join("ca.pem")).unwrap(), 10);
    assert!(
        served_becomes(&gw, &pki, &pki, false).await,
        "a client certificate of the replaced CA is still accepted"
    );
    assert!(served_becomes(&gw, &pki, &other, true).await);
    gw.stop().await;
}

/// A reload re-reads the client CA bundle even when the configuration names
/// the same file.
#[tokio::test]
async fn a_reload_rereads_the_client_ca_bundle() {
    let upstream = Upstream::start().await;
    let pki = temp_dir("pki-ca-reload-a");
    make_pki(&pki, "1");
    let other = temp_dir("pki-ca-reload-b");
    make_pki(&other, "2");
    let ca = pki.join("client-ca.pem");
    std::fs::copy(pki.join("ca.pem"), &ca).unwrap();
    let gw = start(&mtls_yaml(upstream.addr, &pki, &ca)).await;
    assert!(fetch(gw.addr, &pki, client_of(&pki)).await.is_ok());
    replace(&ca, &std::fs::read(other.join("ca.pem")).unwrap(), 5);
    gw.gateway.reload().await.unwrap();
    assert!(
        fetch(gw.addr, &pki, client_of(&pki)).await.is_err(),
        "a client certificate of the replaced CA is still accepted after a reload"
    );
    assert!(fetch(gw.addr, &pki, client_of(&other)).await.is_ok());
    gw.stop().await;
}
