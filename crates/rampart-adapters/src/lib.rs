//! I/O adapters for `rampart-authn`: the implementations of the outside
//! capabilities its engines take as traits. The engines do no I/O; this crate
//! does (HTTP, SQLite, Redis), with bounded sizes and deadlines on every call,
//! and never logs or prints a secret (every `Debug` here is redacted).
//!
//! Layout:
//! - [`http`] holds the shared outbound client (hyper-util + hyper-rustls, system
//!   roots, https only except loopback http, bounded bodies, one deadline per call).
//! - [`jwks`] holds [`HttpJwksSourceFactory`], the `JwksSourceFactory` for JWT
//!   issuers, which keeps their caches across reloads, and [`JwksRefresher`],
//!   which keeps each cache fresh.
//! - [`introspection`] holds [`HttpIntrospector`], the RFC 7662 `Introspector`
//!   (form POST, HTTP Basic client authentication).
//! - [`keystore`] holds [`KeyStoreConfig`] and [`SqliteKeyStore`], the embedded
//!   `KeyStore` (sqlx SQLite; hashes and metadata only, never a key).
//! - [`keys_cli`] holds what `rampart keys create|list|revoke|rotate` and
//!   `rampart revoke` do ([`keys_create`], [`keys_list`], [`keys_revoke`],
//!   [`keys_rotate`], [`keys_revoke_shared`], [`keys_rotate_shared`], [`revoke_credential`]).
//! - [`revocation`] holds [`RevocationSync`] (with [`RevocationSyncConfig`]):
//!   revocations shared through a Redis sorted set and pub/sub, kept in the
//!   local `RevocationList`.
//! - [`wiring`] holds [`AdaptersConfig`], [`Adapters`] and [`authn_deps`]: from
//!   configuration to `rampart_authn::AuthnDeps` in one call.
//! - [`admin`] answers the admin API's `/revocations` (bearer token, constant
//!   time) through [`Adapters::admin_request`].
//! - [`dev_issuer`] holds [`DevIssuer`], a throw-away token issuer (demo, tests).
//! - [`secret_ref`] resolves `env:NAME` / `file:PATH` secret references.
//! - [`error`] holds [`AdapterError`].

pub mod admin;
pub mod dev_issuer;
pub mod error;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod introspection;
pub mod jwks;
pub mod keys_cli;
pub mod keystore;
pub mod revocation;
pub mod secret_ref;
pub mod wiring;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tls_tests;

pub use admin::AdminAnswer;
pub use dev_issuer::DevIssuer;
pub use error::AdapterError;
pub use http::{HttpClient, HttpClientConfig};
pub use introspection::HttpIntrospector;
pub use jwks::{HttpJwksSourceFactory, JwksRefresher};
pub use keys_cli::{
    CreateKeyArgs, Outcome, RevokeCredentialArgs, RevokeKeyArgs, RotateKeyArgs, create_key,
    keys_create, keys_list, keys_revoke, keys_revoke_shared, keys_rotate, keys_rotate_shared,
    revoke_credential,
};
pub use keystore::{KeyStoreConfig, SqliteKeyStore};
pub use revocation::{RevocationSync, RevocationSyncConfig};
pub use wiring::{Adapters, AdaptersConfig, KeyStoreRevocation, authn_deps};
