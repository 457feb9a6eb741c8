//! Rampart's configuration: one YAML file, validated as a whole before it is used.
//!
//! Loading goes in two stages (like ripgrep's low/high args):
//! 1. [`raw`]: serde types that mirror the YAML exactly, with unknown keys refused and
//!    the source line of every value that needs checking ([`Located`]).
//! 2. [`typed`]: the validated [`Config`] the gateway runs on: socket addresses,
//!    durations, CIDRs and URIs parsed, paths resolved against the config file's
//!    directory, secrets kept as references ([`SecretRef`]) until used.
//!
//! Every problem becomes a [`ConfigError`] naming file, line and field; [`load`]
//! returns all of them at once (syntax errors stop parsing, so those come alone).
//! [`json_schema`] publishes the schema of the file for editors.
//!
//! [`Config::warnings`] lists what is accepted but weakens the configuration
//! (`warnings`; `consumer_namespaces`: identity providers whose consumers
//! share a namespace).
//!
//! Other modules: [`units`] parses durations and byte sizes, [`secret`] resolves
//! `env:` and `file:` references.

mod consumer_namespaces;
pub mod error;
pub mod located;
pub mod raw;
pub mod typed;
pub mod units;
mod validate;
mod warnings;

use std::path::Path;

pub use error::{ConfigError, ConfigErrors};
pub use located::Located;
pub use rampart_core::secret::{SecretError, SecretRef};
pub use typed::*;

/// Reads and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        ConfigErrors::one(ConfigError::new(
            path,
            None,
            "",
            format!("cannot read file: {err}"),
        ))
    })?;
    load_str(path, &text)
}

/// Validates configuration text; `path` names the file in errors and anchors
/// relative paths.
pub fn load_str(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
    let raw = raw::parse(path, text)?;
    validate::validate(path, raw)
}

/// The JSON Schema (draft 2020-12) of the configuration file.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(raw::RawConfig);
    serde_json::to_value(schema).unwrap_or_default()
}
