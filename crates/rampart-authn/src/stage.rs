//! The authentication [`Stage`] at [`Phase::Authentication`].
//!
//! Per request: strip client-supplied identity headers; read the credentials
//! ([`crate::credentials`]); verify the one presented (bearer JWT or opaque token,
//! API key, or client certificate); check the revocation list and any certificate
//! binding; set `cx.identity`; set the configured identity headers for the
//! upstream. Every refusal is logged and counted by reason
//! (`rampart_authn_failures_total{reason}`), left in `cx.extensions` as an
//! [`AuthnRefusal`] for the lock-out, and answered with a problem that says
//! nothing of the reason.

use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use rampart_core::{Identity, Phase, Problem, RequestCx, Stage, Step, Verdict};

use crate::apikey::{self, ApiKeyError, ApiKeyLocation, ApiKeys};
use crate::credentials::{self, CredentialError};
use crate::introspection::Introspection;
use crate::jwt::{JwtError, JwtVerifier};
use crate::mtls::{self, MtlsMapper};
use crate::problem;
use crate::refusal::{AuthnRefusal, reason};
use crate::revocation::{CredentialKind, RevocationList};

/// Upstream identity headers.
#[derive(Debug, Clone, Default)]
pub struct Forwarding {
    /// Consumer header.
    pub consumer: Option<HeaderName>,
    /// Method header.
    pub method: Option<HeaderName>,
    /// Credential id header.
    pub credential_id: Option<HeaderName>,
    /// Scopes header.
    pub scopes: Option<HeaderName>,
    /// Roles header.
    pub roles: Option<HeaderName>,
}

impl Forwarding {
    /// Every configured header name.
    pub fn names(&self) -> impl Iterator<Item = &HeaderName> {
        [
            &self.consumer,
            &self.method,
            &self.credential_id,
            &self.scopes,
            &self.roles,
        ]
        .into_iter()
        .flatten()
    }

    fn apply(&self, headers: &mut http::HeaderMap, identity: &Identity) {
        let values = [
            (&self.consumer, identity.consumer.clone()),
            (&self.method, identity.method.clone()),
            (
                &self.credential_id,
                identity.credential_id.clone().unwrap_or_default(),
            ),
            (&self.scopes, identity.scopes.join(" ")),
            (&self.roles, identity.roles.join(",")),
        ];
        for (name, value) in values {
            // from_bytes refuses CR/LF and other controls: no header injection
            // through a claim value.
            if let (Some(name), Ok(value)) = (name, HeaderValue::from_bytes(value.as_bytes())) {
                headers.insert(name.clone(), value);
            }
        }
    }
}

/// The authentication stage (build it with [`crate::AuthnConfig::build`]).
pub struct AuthnStage {
    pub(crate) api_keys: Option<(ApiKeys, ApiKeyLocation)>,
    pub(crate) jwt: Option<JwtVerifier>,
    pub(crate) introspection: Option<Introspection>,
    pub(crate) mtls: Option<MtlsMapper>,
    pub(crate) revocations: Arc<RevocationList>,
    pub(crate) anonymous: bool,
    pub(crate) strip: Vec<HeaderName>,
    pub(crate) forward: Forwarding,
    pub(crate) forward_api_key: bool,
}

impl std::fmt::Debug for AuthnStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthnStage")
            .field("api_keys", &self.api_keys.is_some())
            .field("jwt", &self.jwt.is_some())
            .field("introspection", &self.introspection.is_some())
            .field("mtls", &self.mtls.is_some())
            .field("anonymous", &self.anonymous)
            .finish_non_exhaustive()
    }
}

/// A refusal with the reason code for logs and metrics.
struct Refusal {
    reason: &'static str,
    problem: Problem,
}

impl From<JwtError> for Refusal {
    fn from(e: JwtError) -> Self {
        Refusal {
            reason: e.reason(),
            problem: e.to_problem(),
        }
    }
}

impl From<ApiKeyError> for Refusal {
    fn from(e: ApiKeyError) -> Self {
        Refusal {
            reason: e.reason(),
            problem: e.to_problem(),
        }
    }
}

impl From<crate::introspection::IntrospectionError> for Refusal {
    fn from(e: crate::introspection::IntrospectionError) -> Self {
        Refusal {
            reason: e.reason(),
            problem: e.to_problem(),
        }
    }
}

fn refusal(reason: &'static str, problem: Problem) -> Refusal {
    Refusal { reason, problem }
}

impl AuthnStage {
    /// The JWKS caches of the configured issuers, for the gateway to refresh on a
    /// schedule ([`crate::jwt::JwksCache::refresh`]) so lookups rarely wait on a fetch.
    pub fn jwks_caches(&self) -> Vec<Arc<crate::jwt::JwksCache>> {
        self.jwt
            .iter()
            .flat_map(|jwt| jwt.issuers())
            .filter_map(|issuer| match &issuer.keys {
                crate::jwt::KeySource::Remote(cache) => Some(Arc::clone(cache)),
                crate::jwt::KeySource::Static(_) => None,
            })
            .collect()
    }

    fn looks_like_jwt(token: &str) -> bool {
        token.bytes().filter(|b| *b == b'.').count() == 2
    }

    async fn bearer_identity(&self, token: &str, cx: &RequestCx) -> Result<Identity, Refusal> {
        let jwt = self
            .jwt
            .as_ref()
            .filter(|_| Self::looks_like_jwt(token) || self.introspection.is_none());
        let identity = if let Some(jwt) = jwt {
            let verified = jwt.verify(token).await?;
            jwt.identity(verified)?
        } else if let Some(introspection) = &self.introspection {
            let claims = introspection.check(token).await?;
            introspection.identity(&claims, token)?
        } else {
            return Err(refusal(
                reason::BEARER_NOT_ACCEPTED,
                problem::invalid_token(),
            ));
        };
        if let Some(jti) = identity.claims.get("jti").and_then(|v| v.as_str())
            && self.revocations.is_revoked(CredentialKind::Jti, jti)
        {
            return Err(JwtError::Revoked.into());
        }
        let cert = cx.tls.as_ref().and_then(|tls| tls.client_cert.as_ref());
        let require_bound = self.mtls.as_ref().is_some_and(|m| m.require_bound_tokens);
        mtls::check_binding(&identity.claims, cert, require_bound)
            .map_err(|_| Refusal::from(JwtError::CertificateBinding))?;
        Ok(identity)
    }

    async fn key_identity(&self, key: &str) -> Result<Identity, Refusal> {
        let Some((keys, _)) = &self.api_keys else {
            return Err(ApiKeyError::Unknown.into());
        };
        let record = keys.verify(key).await?;
        if self
            .revocations
            .is_revoked(CredentialKind::ApiKey, &record.prefix)
        {
            return Err(ApiKeyError::Revoked.into());
        }
        Ok(apikey::identity(&record))
    }

    async fn authenticate(&self, cx: &mut RequestCx) -> Result<Option<Identity>, Refusal> {
        let location = self.api_keys.as_ref().map(|(_, loc)| loc);
        let presented = credentials::presented(&cx.headers, cx.query.as_deref(), location)
            .map_err(|e| match e {
                CredentialError::Ambiguous => refusal(
                    reason::AMBIGUOUS_CREDENTIALS,
                    problem::ambiguous_credentials(),
                ),
                CredentialError::MalformedBearer => {
                    refusal(reason::BEARER_MALFORMED, problem::invalid_token())
                }
            })?;
        if let Some(token) = &presented.bearer {
            return self.bearer_identity(token, cx).await.map(Some);
        }
        if let Some(key) = &presented.api_key {
            let identity = self.key_identity(key).await?;
            if !self.forward_api_key
                && let Some(location) = location
            {
                cx.headers.remove(&location.header);
                // The key may have come under an underscore spelling.
                let spellings: Vec<http::HeaderName> = cx
                    .headers
                    .keys()
                    .filter(|name| {
                        rampart_core::names::is_underscore_spelling(
                            location.header.as_str(),
                            name.as_str().as_bytes(),
                        )
                    })
                    .cloned()
                    .collect();
                for name in spellings {
                    cx.headers.remove(name);
                }
                if let (Some(name), Some(query)) = (&location.query_param, &cx.query) {
                    cx.query = credentials::remove_query_param(query, name);
                }
            }
            return Ok(Some(identity));
        }
        let cert = cx.tls.as_ref().and_then(|tls| tls.client_cert.as_ref());
        if let (Some(mapper), Some(cert)) = (&self.mtls, cert)
            && mapper.maps_identities()
        {
            return mapper
                .identity(cert)
                .map(Some)
                .ok_or_else(|| refusal(reason::MTLS_UNMAPPED, problem::invalid_client_cert()));
        }
        if self.anonymous {
            return Ok(None);
        }
        Err(refusal(
            reason::MISSING_CREDENTIAL,
            problem::missing_credential(),
        ))
    }

    async fn run(&self, cx: &mut RequestCx) -> Verdict {
        for name in &self.strip {
            cx.headers.remove(name);
        }
        // CGI-style upstreams (PHP, WSGI, Rack) read `X_Consumer_Id` as
        // `HTTP_X_CONSUMER_ID`, the same variable as the `X-Consumer-Id` the
        // gateway sets: such spellings of a stripped name go too.
        let spoofed: Vec<http::HeaderName> = cx
            .headers
            .keys()
            .filter(|name| {
                let name = name.as_str().as_bytes();
                name.contains(&b'_')
                    && self.strip.iter().any(|stripped| {
                        rampart_core::names::is_underscore_spelling(stripped.as_str(), name)
                    })
            })
            .cloned()
            .collect();
        for name in spoofed {
            cx.headers.remove(name);
        }
        cx.identity = None;
        match self.authenticate(cx).await {
            Ok(identity) => {
                if let Some(identity) = &identity {
                    self.forward.apply(&mut cx.headers, identity);
                }
                cx.identity = identity;
                Verdict::Continue
            }
            Err(Refusal { reason, problem }) => {
                metrics::counter!("rampart_authn_failures_total", "reason" => reason).increment(1);
                tracing::info!(request_id = %cx.request_id, reason, "authentication refused");
                // For the lock-out, which counts guesses only (see `refusal`).
                cx.extensions.insert(AuthnRefusal { reason });
                Verdict::Respond(problem)
            }
        }
    }
}

impl Stage for AuthnStage {
    fn name(&self) -> &'static str {
        "authn"
    }

    fn phase(&self) -> Phase {
        Phase::Authentication
    }

    fn on_request<'a>(&'a self, cx: &'a mut RequestCx) -> Step<'a> {
        Step::Wait(Box::pin(self.run(cx)))
    }
}
