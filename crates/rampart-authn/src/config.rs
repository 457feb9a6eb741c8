//! `AuthnConfig`: the per-API authentication section, and its build into an
//! [`AuthnStage`] with the outside-world pieces the gateway provides
//! ([`AuthnDeps`]).

use std::sync::Arc;

use http::HeaderName;
use serde::Deserialize;

use crate::apikey::{ApiKeyConfig, KeyStore};
use crate::clock::Clock;
use crate::config_error::{ConfigError, invalid};
use crate::introspection::{Introspection, IntrospectionConfig, Introspector};
use crate::jwt::config::JwksSourceFactory;
use crate::jwt::{JwtConfig, JwtVerifier};
use crate::mtls::MtlsConfig;
use crate::revocation::RevocationList;
use crate::stage::{AuthnStage, Forwarding};

/// Client-supplied headers that claim an identity; removed from every request.
/// Beside the generic names: the conventions of Kong (`X-Consumer-*`,
/// `X-Credential-Identifier`, `X-Anonymous-Consumer`), oauth2-proxy
/// (`X-Forwarded-*`, `X-Auth-Request-*`), Envoy (`X-Forwarded-Client-Cert`),
/// nginx/Apache TLS front ends (`X-SSL-Client-*`) and `Remote-User`: an
/// upstream written for one of them trusts what a client sends under it.
pub const DEFAULT_STRIPPED_HEADERS: [&str; 27] = [
    "x-consumer-id",
    "x-consumer",
    "x-consumer-username",
    "x-consumer-custom-id",
    "x-consumer-groups",
    "x-credential-identifier",
    "x-anonymous-consumer",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x-auth-request-groups",
    "x-auth-request-preferred-username",
    "x-forwarded-client-cert",
    "x-ssl-client-verify",
    "x-ssl-client-cert",
    "remote-user",
    "x-user",
    "x-user-id",
    "x-authenticated-user",
    "x-authenticated-userid",
    "x-authenticated-scope",
    "x-remote-user",
    "x-forwarded-user",
    "x-auth-request-user",
    "x-auth-request-email",
    "x-ssl-client-dn",
    "x-client-cert",
];

/// Headers the gateway sets upstream from the established identity (names only;
/// all of them are also stripped from client requests).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardHeadersConfig {
    /// Consumer name.
    #[serde(default)]
    pub consumer: Option<String>,
    /// Authentication method.
    #[serde(default)]
    pub method: Option<String>,
    /// Credential id (key prefix or `jti`).
    #[serde(default)]
    pub credential_id: Option<String>,
    /// Scopes, space-separated.
    #[serde(default)]
    pub scopes: Option<String>,
    /// Roles, comma-separated.
    #[serde(default)]
    pub roles: Option<String>,
}

/// Authentication configuration of an API.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthnConfig {
    /// API keys.
    #[serde(default)]
    pub api_key: Option<ApiKeyConfig>,
    /// JWT bearer tokens.
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    /// Opaque bearer tokens via introspection.
    #[serde(default)]
    pub introspection: Option<IntrospectionConfig>,
    /// Client certificates.
    #[serde(default)]
    pub mtls: Option<MtlsConfig>,
    /// Let requests without any credential through without an identity (the
    /// authorization stage still applies). Default false.
    #[serde(default)]
    pub anonymous: bool,
    /// Extra client headers to strip, on top of [`DEFAULT_STRIPPED_HEADERS`].
    #[serde(default)]
    pub strip_headers: Vec<String>,
    /// Identity headers for the upstream.
    #[serde(default)]
    pub forward: ForwardHeadersConfig,
    /// Keep the API key header when forwarding. Default false: the key is removed.
    #[serde(default)]
    pub forward_api_key: bool,
}

/// What the gateway provides to the authentication engines.
#[derive(Clone)]
pub struct AuthnDeps {
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// JWKS fetchers by URL.
    pub jwks_sources: Arc<dyn JwksSourceFactory + Send + Sync>,
    /// The API key store (required when `api_key` is configured).
    pub key_store: Option<Arc<dyn KeyStore>>,
    /// The introspection client (required when `introspection` is configured);
    /// build it from [`IntrospectionConfig::client_settings`].
    pub introspector: Option<Arc<dyn Introspector>>,
    /// The shared local revocation list.
    pub revocations: Arc<RevocationList>,
}

fn header_name(path: String, name: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(path, "not a valid header name"))
}

impl AuthnConfig {
    /// The same section with relative file paths (secret files, `jwks_file`)
    /// taken from `dir`, the configuration file's directory, as every other path
    /// in the file is.
    pub fn relative_to(&self, dir: &std::path::Path) -> Self {
        let mut config = self.clone();
        if let Some(api_key) = config.api_key.as_mut() {
            api_key.pepper = api_key.pepper.relative_to(dir);
        }
        if let Some(jwt) = config.jwt.as_mut() {
            for issuer in &mut jwt.issuers {
                if let Some(file) = issuer.jwks_file.as_mut() {
                    *file = dir.join(&*file);
                }
                if let Some(secret) = issuer.hs256_secret.as_mut() {
                    *secret = secret.relative_to(dir);
                }
            }
        }
        if let Some(introspection) = config.introspection.as_mut() {
            introspection.client_secret = introspection.client_secret.relative_to(dir);
        }
        config
    }

    /// Gives each token source (JWT issuer, introspection) the prefixes of
    /// the others' namespaces nested in its own
    /// ([`crate::claims_map::foreign_prefixes`]): without prefix, a source
    /// whose `sub` is `partner:alice` would name the user `alice` of the
    /// source with `consumer_prefix: "partner:"`; such tokens are refused.
    fn namespaces(
        &self,
        mut jwt: Option<JwtVerifier>,
        mut introspection: Option<Introspection>,
    ) -> (Option<JwtVerifier>, Option<Introspection>) {
        let mut prefixes: Vec<Option<&str>> = self
            .jwt
            .iter()
            .flat_map(|jwt| jwt.issuers.iter())
            .map(|issuer| issuer.consumer_prefix.as_deref())
            .collect();
        let issuers = prefixes.len();
        if let Some(cfg) = &self.introspection {
            prefixes.push(cfg.consumer_prefix.as_deref());
        }
        for (index, foreign) in crate::claims_map::foreign_prefixes(&prefixes)
            .into_iter()
            .enumerate()
        {
            if index < issuers {
                if let Some(jwt) = jwt.as_mut() {
                    jwt.set_foreign_prefixes(index, foreign);
                }
            } else if let Some(introspection) = introspection.as_mut() {
                introspection.set_foreign_prefixes(foreign);
            }
        }
        (jwt, introspection)
    }

    /// Validates the section into the stage. `path` is the section's field
    /// path. Each token source refuses consumers in another's namespace
    /// (see `namespaces`).
    pub fn build(&self, path: &str, deps: &AuthnDeps) -> Result<AuthnStage, ConfigError> {
        let any = self.api_key.is_some()
            || self.jwt.is_some()
            || self.introspection.is_some()
            || self.mtls.as_ref().is_some_and(|m| !m.rules.is_empty());
        if !any && !self.anonymous {
            return Err(invalid(
                path,
                "configure at least one method (api_key, jwt, introspection, mtls rules) or anonymous: true",
            ));
        }
        let api_keys = match &self.api_key {
            Some(cfg) => {
                let store = deps.key_store.clone().ok_or_else(|| {
                    invalid(
                        format!("{path}.api_key"),
                        "no key store available in this deployment",
                    )
                })?;
                Some(cfg.build(&format!("{path}.api_key"), store, Arc::clone(&deps.clock))?)
            }
            None => None,
        };
        let jwt = match &self.jwt {
            Some(cfg) => Some(cfg.build(
                &format!("{path}.jwt"),
                Arc::clone(&deps.clock),
                deps.jwks_sources.as_ref(),
            )?),
            None => None,
        };
        let introspection = match &self.introspection {
            Some(cfg) => {
                let section = format!("{path}.introspection");
                cfg.client_settings(&section)?;
                let client = deps.introspector.clone().ok_or_else(|| {
                    invalid(
                        section.clone(),
                        "no introspection client available in this deployment",
                    )
                })?;
                Some(cfg.build(&section, client, Arc::clone(&deps.clock))?)
            }
            None => None,
        };
        let (jwt, introspection) = self.namespaces(jwt, introspection);
        let mtls = match &self.mtls {
            Some(cfg) => Some(cfg.build(&format!("{path}.mtls"))?),
            None => None,
        };
        let forward = Forwarding {
            consumer: self
                .forward
                .consumer
                .as_deref()
                .map(|n| header_name(format!("{path}.forward.consumer"), n))
                .transpose()?,
            method: self
                .forward
                .method
                .as_deref()
                .map(|n| header_name(format!("{path}.forward.method"), n))
                .transpose()?,
            credential_id: self
                .forward
                .credential_id
                .as_deref()
                .map(|n| header_name(format!("{path}.forward.credential_id"), n))
                .transpose()?,
            scopes: self
                .forward
                .scopes
                .as_deref()
                .map(|n| header_name(format!("{path}.forward.scopes"), n))
                .transpose()?,
            roles: self
                .forward
                .roles
                .as_deref()
                .map(|n| header_name(format!("{path}.forward.roles"), n))
                .transpose()?,
        };
        let mut strip: Vec<HeaderName> = DEFAULT_STRIPPED_HEADERS
            .iter()
            .map(|n| HeaderName::from_static(n))
            .collect();
        for (i, name) in self.strip_headers.iter().enumerate() {
            strip.push(header_name(format!("{path}.strip_headers[{i}]"), name)?);
        }
        strip.extend(forward.names().cloned());
        Ok(AuthnStage {
            api_keys,
            jwt,
            introspection,
            mtls,
            revocations: Arc::clone(&deps.revocations),
            anonymous: self.anonymous,
            strip,
            forward,
            forward_api_key: self.forward_api_key,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn json_schema_is_published_for_the_section() {
        let schema = serde_json::to_value(schemars::schema_for!(AuthnConfig)).unwrap();
        let text = schema.to_string();
        for field in [
            "api_key",
            "jwt",
            "introspection",
            "mtls",
            "forward",
            "anonymous",
        ] {
            assert!(text.contains(field), "{field}");
        }
    }
}
