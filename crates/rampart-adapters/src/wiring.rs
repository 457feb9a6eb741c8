//! One call from configuration to `rampart_authn::AuthnDeps`: [`AdaptersConfig`]
//! (the process-wide section: outbound HTTP, the key store, shared revocation),
//! [`Adapters`] (the running adapters; keep it alive, it owns the revocation
//! subscriber) and [`authn_deps`].

use std::sync::Arc;
use std::time::Duration;

use rampart_authn::apikey::KeyStore;
use rampart_authn::clock::{Clock, SystemClock};
use rampart_authn::introspection::Introspector;
use rampart_authn::jwt::config::JwksSourceFactory;
use rampart_authn::revocation::{CredentialKind, Revocation, RevocationList};
use rampart_authn::secret::Secret;
use rampart_authn::{AuthnConfig, AuthnDeps};
use serde::Deserialize;

use crate::keystore::CachedKeyStore;
use crate::{
    AdapterError, HttpClient, HttpClientConfig, HttpIntrospector, HttpJwksSourceFactory,
    KeyStoreConfig, RevocationSync, RevocationSyncConfig, SqliteKeyStore,
};

/// The adapters' configuration (process-wide, not per API).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdaptersConfig {
    /// Outbound HTTP (JWKS, introspection).
    #[serde(default)]
    pub http: HttpClientConfig,
    /// The API key store; without it, `api_key` authentication is unavailable.
    #[serde(default)]
    pub key_store: Option<KeyStoreConfig>,
    /// Revocations shared through Redis; without it, revocations stay local to
    /// this instance.
    #[serde(default)]
    pub revocation: Option<RevocationSyncConfig>,
    /// Bearer token of the admin API's `/revocations` endpoints, as a secret
    /// reference (`env:NAME` or `file:PATH`, at least 16 bytes). Without it those
    /// endpoints answer 404.
    #[serde(default)]
    pub admin_token: Option<String>,
}

impl AdaptersConfig {
    /// The same configuration with its relative paths (the key store, its
    /// pepper file, the admin token file, a `file:` Redis URL) taken from `dir`, the configuration's
    /// directory.
    pub fn relative_to(mut self, dir: &std::path::Path) -> Self {
        self.key_store = self.key_store.map(|store| store.relative_to(dir));
        self.admin_token = self
            .admin_token
            .map(|token| crate::secret_ref::relative_to(&token, dir));
        if let Some(revocation) = self.revocation.as_mut() {
            revocation.redis_url = crate::secret_ref::relative_to(&revocation.redis_url, dir);
        }
        self
    }
}

/// What an API key revocation did in the key store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStoreRevocation {
    /// The key's record is marked revoked (it stays so across restarts).
    Revoked,
    /// The store has no key with this id; the revocation is recorded in the
    /// revocation list only.
    UnknownKey,
}

/// Key records the gateway caches (a few MiB at most).
const KEY_CACHE_ENTRIES: usize = 100_000;

/// The running adapters. Dropping it stops the revocation subscriber.
pub struct Adapters {
    clock: Arc<dyn Clock>,
    http: HttpClient,
    jwks: Arc<HttpJwksSourceFactory>,
    key_store: Option<Arc<SqliteKeyStore>>,
    // What the engines use: the store behind its read-through cache.
    engine_store: Option<Arc<dyn KeyStore>>,
    // The store's pepper, to check each API's `api_key.pepper` against it.
    pepper: Option<Secret>,
    revocations: Arc<RevocationList>,
    sync: Option<RevocationSync>,
    admin_token: Option<Secret>,
    /// Refused admin tokens, logged once a minute (each is counted).
    refused_admin_tokens: rampart_core::throttle::LogThrottle,
}

/// Constant-time equality (config time only, but no reason to leak either).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl std::fmt::Debug for Adapters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapters")
            .field("key_store", &self.key_store.is_some())
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

impl Adapters {
    /// Opens the key store (creating its schema), builds the HTTP client and
    /// starts the revocation subscriber (it connects in the background; Redis
    /// may be down). `path` is the section's field path for errors.
    pub async fn start(
        config: &AdaptersConfig,
        path: &str,
        revocations: Arc<RevocationList>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AdapterError> {
        let http_path = format!("{path}.http");
        let http = match HttpClient::new(&config.http, &http_path) {
            Ok(http) => http,
            // A minimal image without a CA bundle can still serve API keys and
            // file-based JWKS; every https call then fails (closed) and says why.
            Err(AdapterError::Roots(error)) => {
                tracing::warn!(%error, "no system root certificates: outbound https calls will fail");
                let empty = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::aws_lc_rs::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|_| AdapterError::invalid(&http_path, "TLS setup failed"))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
                HttpClient::with_tls_config(empty, &config.http, &http_path)?
            }
            Err(error) => return Err(error),
        };
        let (key_store, engine_store, pepper) = match &config.key_store {
            Some(store) => {
                let store_path = format!("{path}.key_store");
                if store.cache_ttl_ms > 60_000 {
                    return Err(AdapterError::invalid(
                        format!("{store_path}.cache_ttl_ms"),
                        "at most 60000 ms",
                    ));
                }
                let pepper = store.load_pepper(&store_path)?;
                let sqlite = Arc::new(store.open(&store_path).await?);
                let engine_store: Arc<dyn KeyStore> = if store.cache_ttl_ms == 0 {
                    sqlite.clone()
                } else {
                    Arc::new(CachedKeyStore::new(
                        sqlite.clone(),
                        Duration::from_millis(store.cache_ttl_ms),
                        KEY_CACHE_ENTRIES,
                    ))
                };
                (Some(sqlite), Some(engine_store), Some(pepper))
            }
            None => (None, None, None),
        };
        let admin_token = match &config.admin_token {
            Some(reference) => {
                let field = format!("{path}.admin_token");
                let token = crate::secret_ref::resolve(reference)
                    .map_err(|error| AdapterError::invalid(&field, error.to_string()))?;
                if token.len() < crate::admin::MIN_ADMIN_TOKEN_BYTES {
                    return Err(AdapterError::invalid(
                        field,
                        format!("at least {} bytes", crate::admin::MIN_ADMIN_TOKEN_BYTES),
                    ));
                }
                Some(Secret::new(token.into_bytes()))
            }
            None => None,
        };
        let sync = match &config.revocation {
            Some(sync) => Some(RevocationSync::start(
                sync,
                &format!("{path}.revocation"),
                Arc::clone(&revocations),
                Arc::clone(&clock),
            )?),
            None => None,
        };
        Ok(Self {
            clock,
            jwks: Arc::new(HttpJwksSourceFactory::new(http.clone())),
            http,
            key_store,
            engine_store,
            pepper,
            revocations,
            sync,
            admin_token,
            refused_admin_tokens: Default::default(),
        })
    }

    /// The engines' dependencies for one API's `authn` section (`authn_path` is
    /// its field path): the shared JWKS factory, key store and revocation list,
    /// plus an introspector for the section's endpoint when it has one. An
    /// `api_key.pepper` that differs from the key store's is refused here: keys
    /// made by `rampart keys create` would never verify.
    pub fn authn_deps(
        &self,
        authn: &AuthnConfig,
        authn_path: &str,
    ) -> Result<AuthnDeps, AdapterError> {
        // A token is accepted up to its leeway past `exp`, and its revocation
        // is kept `retention` past `exp`: a longer leeway lets a revoked token
        // back in once its revocation is purged.
        let retention = self.revocations.retention_secs();
        for (i, issuer) in authn
            .jwt
            .iter()
            .flat_map(|jwt| jwt.issuers.iter())
            .enumerate()
        {
            if issuer.leeway_seconds > retention {
                return Err(AdapterError::invalid(
                    format!("{authn_path}.jwt.issuers[{i}].leeway_seconds"),
                    format!(
                        "{} exceeds the revocation retention ({retention} s, identity.revocation.retention_seconds): a revoked token would be accepted again once its revocation is purged",
                        issuer.leeway_seconds
                    ),
                ));
            }
        }
        if let (Some(section), Some(store_pepper)) = (&authn.api_key, &self.pepper) {
            let field = format!("{authn_path}.api_key.pepper");
            let pepper = section.pepper.load().map_err(|source| {
                AdapterError::Authn(rampart_authn::config_error::ConfigError::Secret {
                    path: field.clone(),
                    source,
                })
            })?;
            if !same_secret(pepper.expose(), store_pepper.expose()) {
                return Err(AdapterError::invalid(
                    field,
                    "differs from the key store's pepper (keys created with `rampart keys create` would not verify)",
                ));
            }
        }
        let introspector = match &authn.introspection {
            Some(section) => {
                let section_path = format!("{authn_path}.introspection");
                let settings = section.client_settings(&section_path)?;
                let introspector: Arc<dyn Introspector> = Arc::new(HttpIntrospector::new(
                    self.http.clone(),
                    &settings,
                    &section_path,
                )?);
                Some(introspector)
            }
            None => None,
        };
        let jwks_sources: Arc<dyn JwksSourceFactory + Send + Sync> = self.jwks.clone();
        Ok(AuthnDeps {
            clock: Arc::clone(&self.clock),
            jwks_sources,
            key_store: self.engine_store.clone(),
            introspector,
            revocations: Arc::clone(&self.revocations),
        })
    }

    /// Revokes a credential: through Redis to every instance when shared
    /// revocation is configured, else on this instance only. The local entry
    /// holds even when the Redis write fails (the error says so).
    ///
    /// An API key is also marked revoked in the key store, when one is
    /// configured, as `rampart keys revoke` does: without Redis the local
    /// list is lost on restart, and the key would work again. A key id the
    /// store does not know is still recorded in the list (another instance's
    /// store, a key not created yet). Returns what the key store did (`None`:
    /// no key store, not an API key, or nothing revoked because the entry
    /// had expired already).
    pub async fn revoke(
        &self,
        revocation: Revocation,
    ) -> Result<Option<KeyStoreRevocation>, AdapterError> {
        let listed = match &self.sync {
            Some(sync) => sync.revoke(revocation.clone()).await,
            None => self
                .revocations
                .revoke(revocation.clone())
                .map_err(Into::into),
        };
        // Nothing taken (an expiry already past, a full list): the store is
        // left alone too, as the answer says nothing was revoked.
        if !self.revocations.is_revoked(revocation.kind, &revocation.id) {
            return listed.map(|()| None);
        }
        let stored = match (&self.key_store, revocation.kind) {
            (Some(store), CredentialKind::ApiKey) => {
                Some(self.revoke_stored(store, &revocation.id).await)
            }
            _ => None,
        };
        listed?;
        stored.transpose()
    }

    /// Marks the key `prefix` revoked in the store (an earlier revocation
    /// time is kept).
    async fn revoke_stored(
        &self,
        store: &SqliteKeyStore,
        prefix: &str,
    ) -> Result<KeyStoreRevocation, AdapterError> {
        mark_revoked(store, prefix, self.clock.unix_secs()).await
    }

    /// The revocation subscriber, when configured (health: `is_synced`).
    pub fn revocation_sync(&self) -> Option<&RevocationSync> {
        self.sync.as_ref()
    }

    /// The SQLite key store itself (uncached), when configured.
    pub fn key_store(&self) -> Option<&Arc<SqliteKeyStore>> {
        self.key_store.as_ref()
    }

    /// The admin API's bearer token, when configured.
    pub(crate) fn unix_secs(&self) -> u64 {
        self.clock.unix_secs()
    }

    pub(crate) fn refused_admin_tokens(&self) -> &rampart_core::throttle::LogThrottle {
        &self.refused_admin_tokens
    }

    pub(crate) fn admin_token(&self) -> Option<&Secret> {
        self.admin_token.as_ref()
    }

    /// The shared local revocation list.
    pub fn revocations(&self) -> &Arc<RevocationList> {
        &self.revocations
    }
}

/// Marks the key `prefix` revoked in `store` as of `now` (an earlier
/// revocation time is kept): what `POST /revocations` and `rampart revoke`
/// do to an API key besides listing it, so the revocation survives the loss
/// of every list (a restart without Redis, a Redis without persistence).
pub(crate) async fn mark_revoked(
    store: &dyn KeyStore,
    prefix: &str,
    now: u64,
) -> Result<KeyStoreRevocation, AdapterError> {
    let Some(mut record) = store.get(prefix).await? else {
        return Ok(KeyStoreRevocation::UnknownKey);
    };
    if record.revoked_at.is_none_or(|at| at > now) {
        record.revoked_at = Some(now);
        store.update(record).await?;
    }
    Ok(KeyStoreRevocation::Revoked)
}

/// The one-call wiring: starts the [`Adapters`] and returns the `AuthnDeps` for
/// `authn` together with them (keep the `Adapters` alive as long as the stage;
/// reuse it for further APIs with [`Adapters::authn_deps`]). Uses the system clock.
pub async fn authn_deps(
    config: &AdaptersConfig,
    path: &str,
    authn: &AuthnConfig,
    authn_path: &str,
    revocations: Arc<RevocationList>,
) -> Result<(AuthnDeps, Adapters), AdapterError> {
    let adapters = Adapters::start(config, path, revocations, Arc::new(SystemClock)).await?;
    let deps = adapters.authn_deps(authn, authn_path)?;
    Ok((deps, adapters))
}

#[cfg(test)]
mod tests;
