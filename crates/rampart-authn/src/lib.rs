//! Authentication engines for Rampart: who is calling?
//!
//! Every engine here is pure logic over plain data; outside state comes in through
//! traits the gateway implements (a JWKS fetcher, an API key store, an
//! introspection client, a clock), so every check is testable without sockets.
//!
//! Layout:
//! - [`jwt`]: JWT verification per issuer: token parsing and header checks, JWKS
//!   key sets (jsonwebtoken's JWK types, keys pre-parsed into aws-lc-rs) and their
//!   rate-limited cache, claim checks, a verified-token cache, raw config ->
//!   [`jwt::JwtVerifier`].
//! - [`apikey`]: API keys (`rk_<prefix>_<secret>`, HMAC-SHA256 with a pepper),
//!   the [`apikey::KeyStore`] trait and an in-memory store, revoke/rotate.
//! - [`config`] and [`stage`]: [`AuthnConfig`] built with [`AuthnDeps`] into the
//!   [`AuthnStage`] (`Phase::Authentication`), which strips client identity
//!   headers, verifies the presented credential and sets `cx.identity`.
//! - [`credentials`]: reading (not judging) the credentials of a request.
//! - [`claims_map`]: claims -> [`rampart_core::Identity`].
//! - [`clock`]: the injected [`clock::Clock`].
//! - [`endpoint`]: which JWKS/introspection URLs are allowed (parsed host:
//!   https, or http to loopback only).
//! - [`secret`]: secrets referenced from files or environment, redacted in `Debug`.
//! - [`introspection`]: opaque tokens via RFC 7662, with a bounded cache that
//!   respects `exp` and a short negative cache.
//! - [`mtls`]: client certificate -> consumer rules; RFC 8705 `cnf.x5t#S256` binding.
//! - [`revocation`]: the local revocation list (jti, key prefixes) the gateway
//!   keeps in sync with Redis; a union that entries leave only by expiring.
//! - [`problem`]: the problems (401 with RFC 6750 challenges) this crate answers with.
//! - [`refusal`]: the reason of a refusal, left for the lock-out, and which
//!   reasons are signs of guessing (they count towards it) and which are not.
//! - [`config_error`]: configuration errors naming the field path.

pub mod apikey;
pub mod claims_map;
pub mod clock;
pub mod config;
pub mod config_error;
pub mod credentials;
pub mod endpoint;
pub mod introspection;
pub mod jwt;
pub mod mtls;
pub mod problem;
pub mod refusal;
pub mod revocation;
pub mod secret;
pub mod stage;

pub use config::{AuthnConfig, AuthnDeps};
pub use refusal::AuthnRefusal;
pub use stage::AuthnStage;

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future: the return type of the traits the gateway implements.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Installs jsonwebtoken's aws-lc-rs crypto provider as the process default.
/// Idempotent; called by every constructor that verifies signatures, and by the
/// gateway at start-up (jsonwebtoken panics at first use if feature unification ever
/// enabled two backends and none was installed).
pub fn install_crypto_provider() {
    // Err means a provider is already installed: fine either way.
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
    );
}
