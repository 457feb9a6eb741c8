//! The outbound HTTP client shared by the JWKS and introspection adapters:
//! hyper-util's pooled legacy client over hyper-rustls (system roots, aws-lc-rs),
//! HTTPS only except plain HTTP to a loopback IP literal (tests, sidecars). Every call
//! has one deadline covering connect, request and the whole body; bodies are
//! bounded before they are buffered; redirects are never followed (an identity
//! provider that redirects is misconfigured, and following would be an SSRF lever).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::AdapterError;

/// Why an outbound call failed. Never carries the response body or a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The URL is not https (or loopback http), or carries user info.
    #[error("refused URL: {0}")]
    Url(&'static str),
    /// The request could not be built.
    #[error("request could not be built")]
    Request,
    /// Connecting or exchanging failed (DNS, TCP, TLS, protocol).
    #[error("connection failed")]
    Connect,
    /// The deadline passed.
    #[error("timed out")]
    Timeout,
    /// The server answered with a status other than 200.
    #[error("unexpected status {0}")]
    Status(u16),
    /// The body exceeded the limit.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// Reading the body failed.
    #[error("response body unreadable")]
    Body,
}

fn default_timeout_ms() -> u64 {
    5_000
}
fn default_connect_timeout_ms() -> u64 {
    2_000
}

/// Outbound HTTP settings (JWKS and introspection calls).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpClientConfig {
    /// Deadline of one whole call (connect, request, body), milliseconds. Default 5000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Deadline of the TCP connect, milliseconds. Default 2000.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        Self {
            timeout_ms: default_timeout_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
        }
    }
}

/// The pooled client (cheap to clone: the pool is shared).
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn millis(field: &str, value: u64) -> Result<Duration, AdapterError> {
    if value == 0 || value > 60_000 {
        return Err(AdapterError::invalid(
            field,
            "must be between 1 and 60000 ms",
        ));
    }
    Ok(Duration::from_millis(value))
}

impl HttpClient {
    /// A client trusting the system's root certificates. `path` is the config
    /// section's field path for errors.
    pub fn new(config: &HttpClientConfig, path: &str) -> Result<Self, AdapterError> {
        let builder = HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(AdapterError::Roots)?;
        Self::build(builder, config, path)
    }

    /// A client trusting exactly the roots of `tls` (private CAs, tests).
    pub fn with_tls_config(
        tls: rustls::ClientConfig,
        config: &HttpClientConfig,
        path: &str,
    ) -> Result<Self, AdapterError> {
        Self::build(
            HttpsConnectorBuilder::new().with_tls_config(tls),
            config,
            path,
        )
    }

    fn build(
        builder: HttpsConnectorBuilder<hyper_rustls::builderstates::WantsSchemes>,
        config: &HttpClientConfig,
        path: &str,
    ) -> Result<Self, AdapterError> {
        let timeout = millis(&format!("{path}.timeout_ms"), config.timeout_ms)?;
        let connect = millis(
            &format!("{path}.connect_timeout_ms"),
            config.connect_timeout_ms,
        )?;
        let mut http = HttpConnector::new();
        // The HTTPS connector decides the scheme; `check_url` allows http only to loopback.
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect));
        http.set_nodelay(true);
        let connector = builder
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(4)
            .http1_max_buf_size(64 * 1024)
            .build(connector);
        Ok(Self { client, timeout })
    }

    /// One call: `request` with `body`; the 200 response's body, at most `limit` bytes.
    pub(crate) async fn call(
        &self,
        request: http::request::Builder,
        body: Bytes,
        limit: usize,
    ) -> Result<Bytes, HttpError> {
        let request = request
            .body(Full::new(body))
            .map_err(|_| HttpError::Request)?;
        check_url(request.uri())?;
        match tokio::time::timeout(self.timeout, self.exchange(request, limit)).await {
            Ok(result) => result,
            Err(_) => Err(HttpError::Timeout),
        }
    }

    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
        limit: usize,
    ) -> Result<Bytes, HttpError> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|_| HttpError::Connect)?;
        if response.status() != StatusCode::OK {
            return Err(HttpError::Status(response.status().as_u16()));
        }
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(HttpError::TooLarge(limit));
        }
        // Limited stops reading past `limit` whatever the framing says.
        let collected = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    HttpError::TooLarge(limit)
                } else {
                    HttpError::Body
                }
            })?;
        Ok(collected.to_bytes())
    }
}

/// A GET request builder for `url`.
pub(crate) fn get(url: &Uri, accept: &'static str) -> http::request::Builder {
    Request::builder()
        .method(Method::GET)
        .uri(url.clone())
        .header(http::header::ACCEPT, HeaderValue::from_static(accept))
}

/// Parses and checks an outbound URL: `https://`, or `http://` to 127.0.0.1,
/// `[::1]` or `localhost` only; no user info.
pub fn parse_url(url: &str) -> Result<Uri, HttpError> {
    let uri: Uri = url.parse().map_err(|_| HttpError::Url("not a valid URL"))?;
    check_url(&uri)?;
    Ok(uri)
}

fn check_url(uri: &Uri) -> Result<(), HttpError> {
    // The engine's rule (parsed host, never a string prefix), applied to every call.
    rampart_authn::endpoint::check_endpoint(uri).map_err(HttpError::Url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_pass() {
        for url in [
            "https://idp.example.com/.well-known/jwks.json",
            "https://idp.example.com:8443/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://[::1]:9000/x",
        ] {
            assert!(parse_url(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn non_loopback_http_and_tricks_are_refused() {
        for url in [
            "http://idp.example.com/jwks",
            "http://127.0.0.1.evil.test/jwks",
            "http://localhost.evil.test/jwks",
            "http://localhost@evil.test/jwks",
            "https://user:pass@idp.example.com/jwks",
            "ftp://idp.example.com/jwks",
            "file:///etc/passwd",
            "/relative/jwks",
            "",
            "http://10.0.0.1/jwks",
            // Resolved when called, so not known to be loopback.
            "http://localhost/jwks",
        ] {
            assert!(parse_url(url).is_err(), "{url}");
        }
    }

    #[test]
    fn timeouts_are_validated() {
        let config = HttpClientConfig {
            timeout_ms: 0,
            ..HttpClientConfig::default()
        };
        let err = HttpClient::new(&config, "http").unwrap_err().to_string();
        assert!(err.contains("http.timeout_ms"), "{err}");
    }
}
