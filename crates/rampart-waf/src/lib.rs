//! `rampart-waf`: a SecLang parser and an engine that runs the OWASP Core Rule
//! Set natively, with no I/O on the request path.
//!
//! Rules are loaded once per configuration into an immutable [`Ruleset`]
//! (shared with `Arc`); each request gets a cheap [`Transaction`] that is fed
//! the request line, headers and body (and optionally the response) and
//! returns an [`Interruption`] or nothing. [`WafStage`] plugs the engine into
//! Rampart's request path (phases 1 and 2) and response path (phases 3 and 4).
//!
//! Layout:
//! - [`seclang`]: lexing (Apache-style lines and quoting), targets, actions,
//!   directives and `Include`; errors name file and line ([`error`]).
//! - [`ruleset`]: the builder the loader feeds, and the frozen ruleset.
//! - [`rule`], [`variables`], [`macros`]: the rule model.
//! - [`operators`] and [`transformations`]: one file per operator / transformation.
//! - [`prefilter`]: cheap literal checks that let most `@rx` evaluations be skipped.
//! - `fold`: load-time folding of rules whose outcome is the same for every
//!   request (CRS setup rules, paranoia-level gates).
//! - [`transaction`]: phases, variable resolution, the transformation cache,
//!   actions, chains, flow control.
//! - [`body`]: URLENCODED, JSON, MULTIPART and XML body processors.
//! - [`services`]: outside capabilities as traits (libinjection, GeoIP, RBL,
//!   the [`clock`]).
//! - [`persist`]: persistent collections (`initcol:ip`, `global`), bounded,
//!   per engine instance.
//! - [`config`] and [`stage`]: the per-API configuration and the gateway stage.

pub mod body;
pub mod clock;
pub mod config;
pub mod error;
mod fold;
pub mod macros;
pub mod operators;
pub mod persist;
pub mod prefilter;
pub mod rule;
pub mod ruleset;
pub mod seclang;
pub mod services;
pub mod stage;
pub mod transaction;
pub mod transformations;
pub mod variables;

pub use config::{CompiledWaf, WafConfig, WafConfigError, WafExclusion, WafMode, WafWarning};
pub use error::{LoadError, LoadErrorKind, LoadWarning, LoadWarningKind};
pub use ruleset::{BodyLimitAction, Ruleset, RulesetBuilder};
pub use stage::{PendingTransaction, WafStage};

pub use transaction::{Interruption, RuleMatch, Transaction};
