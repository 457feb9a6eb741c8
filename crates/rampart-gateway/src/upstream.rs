//! Upstream clients: one pooled keep-alive client per API (see [`crate::pool`]),
//! over plain TCP or rustls (system roots or a configured CA, optional client
//! certificate).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use rampart_config::Upstream;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::BoxError;

/// The body type sent upstream.
pub type UpstreamBody = BoxBody<Bytes, BoxError>;

pub use crate::pool::{PooledBody, UpstreamClient, UpstreamRequestError};

/// Why an upstream client could not be built (a configuration problem).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// A PEM file could not be read or holds no usable item.
    #[error("cannot load {what} from {path}: {reason}")]
    Pem {
        /// What was being loaded.
        what: &'static str,
        /// File.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the settings.
    #[error("TLS settings refused: {0}")]
    Tls(#[from] rustls::Error),
    /// The upstream URL names no usable host.
    #[error("unusable upstream URL: {0}")]
    Url(UpstreamRequestError),
}

fn pem_error(what: &'static str, path: &std::path::Path, reason: impl ToString) -> UpstreamError {
    UpstreamError::Pem {
        what,
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Loads every certificate of a PEM file.
pub fn load_certs(
    path: &std::path::Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, UpstreamError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| pem_error(what, path, err))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| pem_error(what, path, err))?;
    if certs.is_empty() {
        return Err(pem_error(what, path, "no certificate found"));
    }
    Ok(certs)
}

/// Loads the private key of a PEM file.
pub fn load_key(path: &std::path::Path) -> Result<PrivateKeyDer<'static>, UpstreamError> {
    PrivateKeyDer::from_pem_file(path).map_err(|err| pem_error("private key", path, err))
}

/// Builds the pooled client for an upstream.
pub fn build_client(upstream: &Upstream) -> Result<UpstreamClient, UpstreamError> {
    let mut roots = RootCertStore::empty();
    match &upstream.ca {
        Some(ca) => {
            for cert in load_certs(ca, "upstream CA")? {
                roots.add(cert)?;
            }
        }
        None => {
            // System roots; unreadable entries are skipped (a broken bundle must not
            // stop the gateway; https upstreams will then fail verification loudly).
            let native = rustls_native_certs();
            roots.add_parsable_certificates(native);
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    let mut tls = match &upstream.client_identity {
        Some((cert, key)) => builder.with_client_auth_cert(
            load_certs(cert, "upstream client certificate")?,
            load_key(key)?,
        )?,
        None => builder.with_no_client_auth(),
    };
    // Offer both; an upstream that picks h2 gets one shared HTTP/2 connection.
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let https = upstream.url.scheme_str() == Some("https");
    UpstreamClient::new(crate::pool::PoolSettings {
        url: upstream.url.clone(),
        tls: https.then(|| Arc::new(tls)),
        connect_timeout: upstream.connect_timeout,
        idle_timeout: upstream.idle_timeout,
        body_timeout: upstream.response_body_timeout,
        header_timeout: upstream.response_header_timeout,
        max_idle: upstream.max_idle_connections,
    })
    .map_err(UpstreamError::Url)
}

fn rustls_native_certs() -> Vec<CertificateDer<'static>> {
    let result = rustls_native_certs::load_native_certs();
    for error in &result.errors {
        tracing::warn!(error = %error, "skipping unreadable system root certificates");
    }
    result.certs
}
