//! Authorization engines for Rampart: may this caller do this, to this object?
//!
//! Everything here is pure logic over the request context the gateway fills
//! (identity, matched operation, path, TLS facts) and configuration loaded at
//! start-up; no I/O on the request path. An operation with no rule is refused
//! (default deny).
//!
//! Layout:
//! - [`config`]: [`AuthzConfig`] (operations keyed `METHOD /path/{param}`, Cedar
//!   files), validated into the [`AuthzStage`].
//! - [`stage`]: the [`AuthzStage`] at `Phase::Authorization` (and its response-side
//!   ownership check).
//! - [`rules`]: scopes, roles (RBAC), step-up (acr/amr/auth_time), ownership
//!   (BOLA) as plain data with pure checks.
//! - [`cedar`]: Cedar policies (ABAC) with file:line validation errors.
//! - [`route`]: operation keys and path-parameter extraction.
//! - [`spec_security`]: required scopes from the OpenAPI `security` requirements
//!   ([`SpecSecurity`], passed to [`AuthzConfig::build_with_spec`]).
//! - [`problem`]: the problems (403, 401 challenges per RFC 6750/9470, 404).
//! - [`clock`], [`error`]: injected time; configuration errors.

pub mod cedar;
pub mod clock;
pub mod config;
pub mod error;
pub mod problem;
pub mod route;
pub mod rules;
pub mod spec_security;
pub mod stage;

pub use config::{AuthzConfig, OperationRule};
pub use error::ConfigError;
pub use spec_security::SpecSecurity;
pub use stage::AuthzStage;
