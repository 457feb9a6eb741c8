//! [`HttpIntrospector`]: RFC 7662 token introspection over HTTPS.
//!
//! One POST per call, `application/x-www-form-urlencoded` body `token=...&token_type_hint=access_token`, client
//! authentication with HTTP Basic (RFC 6749 §2.3.1: id and secret form-encoded,
//! then base64). The engine (`rampart_authn::introspection`) caches and
//! interprets the answer; this adapter only returns a bounded 200 body. The token
//! and the client secret never appear in an error, a log line or `Debug`.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Uri};
use rampart_authn::BoxFuture;
use rampart_authn::introspection::{
    IntrospectionClientSettings, IntrospectionFetchError, Introspector, MAX_RESPONSE_BYTES,
    MAX_TOKEN_BYTES,
};

use crate::AdapterError;
use crate::http::{HttpClient, parse_url};

/// Calls to one endpoint in flight at once; more fail at once (the engine
/// answers as for an unavailable endpoint) instead of waiting behind a slow or
/// failing IdP: a flood of random tokens, each a cache miss, must not hold a
/// connection and a request for the call's whole timeout each.
pub const MAX_IN_FLIGHT_CALLS: usize = 64;

/// Calls one introspection endpoint.
pub struct HttpIntrospector {
    client: HttpClient,
    in_flight: tokio::sync::Semaphore,
    endpoint: Uri,
    // Precomputed `Basic ...`, marked sensitive (hyper never indexes it for HPACK).
    authorization: HeaderValue,
}

impl std::fmt::Debug for HttpIntrospector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpIntrospector")
            .field("endpoint", &self.endpoint)
            .field("authorization", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn form_encode(value: &[u8]) -> String {
    form_urlencoded::byte_serialize(value).collect()
}

impl HttpIntrospector {
    /// An introspector for the settings the engine's config resolved
    /// (`IntrospectionConfig::client_settings`). `path` is the config section's
    /// field path for errors.
    pub fn new(
        client: HttpClient,
        settings: &IntrospectionClientSettings,
        path: &str,
    ) -> Result<Self, AdapterError> {
        let endpoint = parse_url(&settings.endpoint).map_err(|error| {
            AdapterError::invalid(format!("{path}.endpoint"), error.to_string())
        })?;
        if settings.client_id.is_empty() {
            return Err(AdapterError::invalid(
                format!("{path}.client_id"),
                "must not be empty",
            ));
        }
        let credentials = format!(
            "{}:{}",
            form_encode(settings.client_id.as_bytes()),
            form_encode(settings.client_secret.expose())
        );
        let encoded = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            credentials.as_bytes(),
        );
        let mut authorization =
            HeaderValue::try_from(format!("Basic {encoded}")).map_err(|_| {
                AdapterError::invalid(format!("{path}.client_secret"), "not usable in a header")
            })?;
        authorization.set_sensitive(true);
        Ok(Self {
            client,
            in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT_CALLS),
            endpoint,
            authorization,
        })
    }
}

impl Introspector for HttpIntrospector {
    fn introspect<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, IntrospectionFetchError>> {
        Box::pin(async move {
            // The engine checks this too; an adapter used alone must not send
            // an unbounded body either.
            if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
                return Err(IntrospectionFetchError(
                    "token refused before the call".into(),
                ));
            }
            let Ok(_call) = self.in_flight.try_acquire() else {
                return Err(IntrospectionFetchError(
                    "too many introspection calls in flight".into(),
                ));
            };
            // The hint (RFC 7662 §2.1) lets the server look among access
            // tokens first; the engine also refuses an answer naming a refresh token.
            let body = format!(
                "token={}&token_type_hint=access_token",
                form_encode(token.as_bytes())
            );
            let request = Request::builder()
                .method(Method::POST)
                .uri(self.endpoint.clone())
                .header(http::header::AUTHORIZATION, self.authorization.clone())
                .header(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                )
                .header(
                    http::header::ACCEPT,
                    HeaderValue::from_static("application/json"),
                );
            self.client
                .call(request, Bytes::from(body), MAX_RESPONSE_BYTES)
                .await
                .map(|body| body.to_vec())
                .map_err(|error| IntrospectionFetchError(error.to_string()))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use base64::Engine;
    use http::StatusCode;
    use rampart_authn::clock::ManualClock;
    use rampart_authn::introspection::{IntrospectionConfig, IntrospectionError};
    use rampart_authn::secret::Secret;

    use super::*;
    use crate::http::HttpClientConfig;
    use crate::test_support::{Answer, serve};

    const SECRET: &str = "s3cr&t:with=odd+chars";

    fn settings(endpoint: String) -> IntrospectionClientSettings {
        IntrospectionClientSettings {
            endpoint,
            client_id: "rampart gw".into(),
            client_secret: Secret::new(SECRET.as_bytes().to_vec()),
        }
    }

    fn introspector(endpoint: String, timeout_ms: u64) -> HttpIntrospector {
        let config = HttpClientConfig {
            timeout_ms,
            ..HttpClientConfig::default()
        };
        let client = HttpClient::new(&config, "http").unwrap();
        HttpIntrospector::new(client, &settings(endpoint), "authn.introspection").unwrap()
    }

    #[tokio::test]
    async fn posts_the_form_with_basic_client_authentication() {
        let server = serve(Answer::ok(r#"{"active":true,"sub":"alice"}"#)).await;
        let client = introspector(server.url("/introspect"), 5_000);
        let token = "abc+def/ghi=&x";
        let body = client.introspect(token).await.unwrap();
        assert_eq!(body, br#"{"active":true,"sub":"alice"}"#);
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        let request = &seen[0];
        assert_eq!(request.method, Method::POST);
        assert_eq!(request.path, "/introspect");
        assert_eq!(
            request.headers[http::header::CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        // The form decodes back to exactly the token, with the access-token hint.
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        assert_eq!(
            pairs,
            vec![
                ("token".to_string(), token.to_string()),
                ("token_type_hint".to_string(), "access_token".to_string())
            ]
        );
        // Basic credentials are form-encoded id and secret (RFC 6749 §2.3.1).
        let auth = request.headers[http::header::AUTHORIZATION]
            .to_str()
            .unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.strip_prefix("Basic ").unwrap())
            .unwrap();
        let decoded = String::from_utf8(decoded).unwrap();
        let (id, secret) = decoded.split_once(':').unwrap();
        let id: String = form_urlencoded::parse(format!("a={id}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
        let secret: String = form_urlencoded::parse(format!("a={secret}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
        assert_eq!((id.as_str(), secret.as_str()), ("rampart gw", SECRET));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_past_the_in_flight_cap_fail_without_reaching_the_endpoint() {
        // A slow IdP and a burst of distinct tokens (each a cache miss).
        let server = serve(Answer {
            delay: Duration::from_millis(500),
            ..Answer::ok(r#"{"active":false}"#)
        })
        .await;
        let client = Arc::new(introspector(server.url("/i"), 5_000));
        let burst = MAX_IN_FLIGHT_CALLS + 36;
        let calls: Vec<_> = (0..burst)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move { client.introspect(&format!("token-{i}")).await })
            })
            .collect();
        let mut refused = 0;
        for call in calls {
            match call.await.unwrap() {
                Ok(body) => assert_eq!(body, br#"{"active":false}"#),
                Err(error) => {
                    assert!(error.0.contains("in flight"), "{error}");
                    refused += 1;
                }
            }
        }
        assert!(refused >= 36, "{refused} refused");
        assert!(
            server.seen().len() <= MAX_IN_FLIGHT_CALLS,
            "{}",
            server.seen().len()
        );
        // Once the burst is over, calls go through again.
        assert!(client.introspect("after").await.is_ok());
    }

    #[tokio::test]
    async fn the_engine_works_over_the_adapter() {
        let server = serve(Answer::ok(
            r#"{"active":true,"sub":"alice","exp":4000,"aud":"api"}"#,
        ))
        .await;
        let config: IntrospectionConfig = serde_json::from_value(serde_json::json!({
            "endpoint": server.url("/i"),
            "client_id": "gw",
            "client_secret": {"env": "PATH"},
            "audiences": ["api"],
        }))
        .unwrap();
        let client = Arc::new(introspector(server.url("/i"), 5_000));
        let engine = config
            .build("i", client, Arc::new(ManualClock::at_secs(1_000)))
            .unwrap();
        let claims = engine.check("opaque-token-1").await.unwrap();
        assert_eq!(claims["sub"], "alice");
        // Inactive tokens are refused.
        server.set(Answer::ok(r#"{"active":false}"#));
        assert_eq!(
            engine.check("opaque-token-2").await.unwrap_err(),
            IntrospectionError::Inactive
        );
        // An endpoint failure fails closed.
        server.set(Answer {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            ..Answer::ok("")
        });
        assert_eq!(
            engine.check("opaque-token-3").await.unwrap_err(),
            IntrospectionError::Unavailable
        );
    }

    #[tokio::test]
    async fn errors_and_debug_never_show_token_or_secret() {
        let server = serve(Answer {
            status: StatusCode::UNAUTHORIZED,
            ..Answer::ok("token opaque-secret-token is bad")
        })
        .await;
        let client = introspector(server.url("/i"), 5_000);
        let err = client.introspect("opaque-secret-token").await.unwrap_err();
        let printed = format!("{err} {err:?} {client:?}");
        assert!(printed.contains("401"), "{printed}");
        for secret in ["opaque-secret-token", SECRET, "czNjciZ0"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }

    #[tokio::test]
    async fn bounded_response_timeout_and_token_size() {
        let server = serve(Answer::ok(vec![b' '; MAX_RESPONSE_BYTES + 1])).await;
        let client = introspector(server.url("/i"), 300);
        let err = client.introspect("t").await.unwrap_err();
        assert!(err.0.contains("larger"), "{err}");
        server.set(Answer {
            delay: Duration::from_secs(30),
            ..Answer::ok("{}")
        });
        let err = client.introspect("t").await.unwrap_err();
        assert!(err.0.contains("timed out"), "{err}");
        let before = server.seen().len();
        let err = client
            .introspect(&"t".repeat(MAX_TOKEN_BYTES + 1))
            .await
            .unwrap_err();
        assert!(err.0.contains("refused"), "{err}");
        assert_eq!(server.seen().len(), before);
    }

    #[test]
    fn non_loopback_http_endpoints_are_refused() {
        let client = HttpClient::new(&HttpClientConfig::default(), "http").unwrap();
        let err = HttpIntrospector::new(
            client,
            &settings("http://idp.example.com/introspect".into()),
            "apis.pets.authn.introspection",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("apis.pets.authn.introspection.endpoint"),
            "{err}"
        );
    }
}
