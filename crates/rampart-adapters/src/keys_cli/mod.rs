//! What `rampart keys create|list|revoke|rotate` do, as functions the binary
//! calls with plain argument structs (no clap here). Each returns the text to
//! print. Only `keys_create` and `keys_rotate` output contains a key, once;
//! nothing here prints a hash, the pepper, or a key read back from the store
//! (the store has none).
//!
//! Layout: this file (arguments, validation, the four commands), `shared`
//! (revocations published to every instance through Redis: `rampart revoke`,
//! [`keys_revoke_shared`]), `time` (lifetimes and RFC 3339).

pub mod shared;
pub mod time;

pub use shared::{RevokeCredentialArgs, keys_revoke_shared, keys_rotate_shared, revoke_credential};

/// What a command that writes to more than one place did: the text for
/// stdout, and, when a step failed after an earlier one took effect, a
/// warning for stderr saying what did not happen (the binary then exits 1).
/// Such a command does not answer only with an error: its output (a new
/// key, shown only this once) must still be printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The text for stdout.
    pub output: String,
    /// What did not happen, for stderr; none: everything did.
    pub warning: Option<String>,
}

impl From<String> for Outcome {
    fn from(output: String) -> Self {
        Self {
            output,
            warning: None,
        }
    }
}

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use rampart_authn::apikey::{ApiKeyRecord, ApiKeys, CreatedKey, KeyStore, NewKey};
use rampart_authn::clock::{Clock, SystemClock};

use crate::AdapterError;
use crate::keystore::KeyStoreConfig;

/// Longest consumer, scope, role or plan name.
pub const MAX_NAME_LEN: usize = 128;
/// Most scopes or roles on one key.
pub const MAX_GRANTS: usize = 64;

/// `rampart keys create`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateKeyArgs {
    /// `--consumer NAME`.
    pub consumer: String,
    /// `--scopes a,b` (already split).
    pub scopes: Vec<String>,
    /// `--roles r` (already split).
    pub roles: Vec<String>,
    /// `--plan p`.
    pub plan: Option<String>,
    /// `--expires 30d|RFC3339`.
    pub expires: Option<String>,
}

/// `rampart keys revoke PREFIX`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokeKeyArgs {
    /// The key's prefix.
    pub prefix: String,
}

/// `rampart keys rotate PREFIX [--grace 1h] [--expires 30d]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotateKeyArgs {
    /// The key's prefix.
    pub prefix: String,
    /// How long the old key keeps working (a lifetime such as `1h`); none: the
    /// old key is revoked at once.
    pub grace: Option<String>,
    /// `--expires 30d|RFC3339`: the new key's lifetime; none: what the old
    /// key had left (an expired key is then refused).
    pub expires: Option<String>,
}

const SECTION: &str = "key_store";

fn check_name(field: &str, value: &str) -> Result<(), AdapterError> {
    if value.is_empty() || value.len() > MAX_NAME_LEN {
        return Err(AdapterError::invalid(
            field,
            format!("must be 1 to {MAX_NAME_LEN} bytes"),
        ));
    }
    // Names end up in headers, logs and terminals: printable, no separators.
    if !value
        .chars()
        .all(|c| !c.is_control() && !c.is_whitespace() && c != ',')
    {
        return Err(AdapterError::invalid(
            field,
            "no spaces, commas or control characters",
        ));
    }
    Ok(())
}

fn check_list(field: &str, values: &[String]) -> Result<Vec<String>, AdapterError> {
    if values.len() > MAX_GRANTS {
        return Err(AdapterError::invalid(
            field,
            format!("at most {MAX_GRANTS} entries"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let value = value.trim();
        check_name(field, value)?;
        if !out.iter().any(|v| v == value) {
            out.push(value.to_string());
        }
    }
    Ok(out)
}

fn check_prefix(prefix: &str) -> Result<(), AdapterError> {
    if prefix.is_empty()
        || prefix.len() > crate::keystore::MAX_PREFIX_LEN
        || !prefix.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(AdapterError::invalid("prefix", "not a key prefix"));
    }
    Ok(())
}

fn expires_in(expires: Option<&str>, now: u64) -> Result<Option<Duration>, AdapterError> {
    let Some(text) = expires else {
        return Ok(None);
    };
    if let Ok(lifetime) = time::parse_lifetime(text) {
        return Ok(Some(lifetime));
    }
    let at = time::parse_rfc3339(text).map_err(|reason| {
        AdapterError::invalid(
            "expires",
            format!("a lifetime like 30d or an RFC 3339 time: {reason}"),
        )
    })?;
    if at <= now {
        return Err(AdapterError::invalid("expires", "is in the past"));
    }
    Ok(Some(Duration::from_secs(at - now)))
}

/// Whether a command may create the store's database: only `keys create`;
/// the others refuse a missing one (a mistyped path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Create,
    Existing,
}

/// The engine over the configured store, with the configured pepper.
async fn engine(
    config: &KeyStoreConfig,
    clock: Arc<dyn Clock>,
    open: Open,
) -> Result<ApiKeys, AdapterError> {
    let pepper = config.load_pepper(SECTION)?;
    let store = match open {
        Open::Create => config.open(SECTION).await?,
        Open::Existing => config.open_existing(SECTION).await?,
    };
    let store: Arc<dyn KeyStore> = Arc::new(store);
    ApiKeys::new(store, &pepper, clock)
        .ok_or_else(|| AdapterError::invalid(format!("{SECTION}.pepper"), "too short"))
}

fn status(record: &ApiKeyRecord, now: u64) -> &'static str {
    if record.revoked_at.is_some_and(|at| at <= now) {
        "revoked"
    } else if record.expires_at.is_some_and(|at| now >= at) {
        "expired"
    } else {
        "active"
    }
}

fn join(list: &[String], sep: &str) -> String {
    if list.is_empty() {
        "-".into()
    } else {
        list.join(sep)
    }
}

fn when(at: Option<u64>) -> String {
    at.map_or_else(|| "never".into(), time::format_rfc3339)
}

fn shown_once(created: &CreatedKey, heading: &str) -> Result<String, AdapterError> {
    let key = std::str::from_utf8(created.key.expose())
        .map_err(|_| AdapterError::invalid("key", "generated key is not text"))?;
    let record = &created.record;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{heading}");
    let _ = writeln!(out);
    let _ = writeln!(out, "    {key}");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Store it now: it is shown only this once (Rampart keeps only a keyed hash)."
    );
    let _ = writeln!(out, "prefix:   {}", record.prefix);
    let _ = writeln!(out, "consumer: {}", record.consumer);
    let _ = writeln!(out, "scopes:   {}", join(&record.scopes, " "));
    let _ = writeln!(out, "roles:    {}", join(&record.roles, ","));
    let _ = writeln!(out, "plan:     {}", record.plan.as_deref().unwrap_or("-"));
    let _ = writeln!(out, "expires:  {}", when(record.expires_at));
    Ok(out)
}

/// `rampart keys create`: creates a key and returns the text showing it (once).
pub async fn keys_create(
    config: &KeyStoreConfig,
    args: &CreateKeyArgs,
) -> Result<String, AdapterError> {
    keys_create_with(config, args, Arc::new(SystemClock)).await
}

/// Creates a key and returns it (the secret and its record) instead of the text
/// to print: for `rampart demo` and tests, which hand the key on themselves.
pub async fn create_key(
    config: &KeyStoreConfig,
    args: &CreateKeyArgs,
    clock: Arc<dyn Clock>,
) -> Result<CreatedKey, AdapterError> {
    check_name("consumer", &args.consumer)?;
    let scopes = check_list("scopes", &args.scopes)?;
    let roles = check_list("roles", &args.roles)?;
    if let Some(plan) = &args.plan {
        check_name("plan", plan)?;
    }
    let expires_in = expires_in(args.expires.as_deref(), clock.unix_secs())?;
    let keys = engine(config, clock, Open::Create).await?;
    Ok(keys
        .create(&NewKey {
            consumer: args.consumer.clone(),
            scopes,
            roles,
            plan: args.plan.clone(),
            expires_in,
        })
        .await?)
}

/// [`keys_create`] with an injected clock.
pub async fn keys_create_with(
    config: &KeyStoreConfig,
    args: &CreateKeyArgs,
    clock: Arc<dyn Clock>,
) -> Result<String, AdapterError> {
    let created = create_key(config, args, clock).await?;
    shown_once(
        &created,
        &format!("API key created for consumer {}:", args.consumer),
    )
}

/// `rampart keys list`: one line per key, never a secret or a hash.
pub async fn keys_list(config: &KeyStoreConfig) -> Result<String, AdapterError> {
    keys_list_with(config, Arc::new(SystemClock)).await
}

/// [`keys_list`] with an injected clock.
pub async fn keys_list_with(
    config: &KeyStoreConfig,
    clock: Arc<dyn Clock>,
) -> Result<String, AdapterError> {
    let now = clock.unix_secs();
    // Listing needs no pepper: open the store alone.
    let store = config.open_existing(SECTION).await?;
    let records = store.list().await?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<8} {:<20} {:<20} {:<10} {:<24} SCOPES / ROLES",
        "PREFIX", "STATUS", "CREATED", "EXPIRES", "PLAN", "CONSUMER"
    );
    for record in &records {
        // Escape anything odd a hand-edited database might hold (terminal escapes).
        let consumer: String = record.consumer.escape_debug().collect();
        let _ = writeln!(
            out,
            "{:<10} {:<8} {:<20} {:<20} {:<10} {:<24} {} / {}",
            record.prefix.escape_debug().to_string(),
            status(record, now),
            time::format_rfc3339(record.created_at),
            when(record.expires_at),
            record
                .plan
                .as_deref()
                .unwrap_or("-")
                .escape_debug()
                .to_string(),
            consumer,
            join(&record.scopes, " ").escape_debug(),
            join(&record.roles, ",").escape_debug(),
        );
    }
    let _ = writeln!(out, "{} key(s)", records.len());
    Ok(out)
}

/// `rampart keys revoke PREFIX`: marks the key revoked in the store. Gateways on
/// the same store refuse it at once; to reach other instances' local revocation
/// lists within a second, use [`keys_revoke_shared`].
pub async fn keys_revoke(
    config: &KeyStoreConfig,
    args: &RevokeKeyArgs,
) -> Result<String, AdapterError> {
    keys_revoke_with(config, args, Arc::new(SystemClock))
        .await
        .map(|(text, _)| text)
}

/// [`keys_revoke`] with an injected clock; also returns the revoked record.
pub async fn keys_revoke_with(
    config: &KeyStoreConfig,
    args: &RevokeKeyArgs,
    clock: Arc<dyn Clock>,
) -> Result<(String, ApiKeyRecord), AdapterError> {
    check_prefix(&args.prefix)?;
    let keys = engine(config, clock, Open::Existing).await?;
    let record = keys
        .revoke(&args.prefix)
        .await
        .map_err(|error| match error {
            rampart_authn::apikey::ApiKeyError::Unknown => {
                AdapterError::UnknownKey(args.prefix.clone())
            }
            other => other.into(),
        })?;
    let text = format!(
        "Revoked key {} of consumer {}.\n",
        record.prefix,
        record.consumer.escape_debug()
    );
    Ok((text, record))
}

/// `rampart keys rotate PREFIX`: a new key with the same grants, shown once; the
/// old key is revoked now, or expires after the grace period.
pub async fn keys_rotate(
    config: &KeyStoreConfig,
    args: &RotateKeyArgs,
) -> Result<String, AdapterError> {
    keys_rotate_with(config, args, Arc::new(SystemClock)).await
}

/// [`keys_rotate`] with an injected clock.
pub async fn keys_rotate_with(
    config: &KeyStoreConfig,
    args: &RotateKeyArgs,
    clock: Arc<dyn Clock>,
) -> Result<String, AdapterError> {
    check_prefix(&args.prefix)?;
    let grace = match &args.grace {
        Some(text) => {
            time::parse_lifetime(text).map_err(|reason| AdapterError::invalid("grace", reason))?
        }
        None => Duration::ZERO,
    };
    let expires_in = expires_in(args.expires.as_deref(), clock.unix_secs())?;
    let keys = engine(config, clock, Open::Existing).await?;
    let created = keys
        .rotate(&args.prefix, grace, expires_in)
        .await
        .map_err(|error| match error {
            rampart_authn::apikey::ApiKeyError::Unknown => {
                AdapterError::UnknownKey(args.prefix.clone())
            }
            rampart_authn::apikey::ApiKeyError::Expired => AdapterError::invalid(
                "prefix",
                format!(
                    "key {} has expired: its replacement would be born expired; give --expires (e.g. 30d) for the new key",
                    args.prefix
                ),
            ),
            other => other.into(),
        })?;
    let old = if grace.is_zero() {
        format!("The old key {} is revoked.", args.prefix)
    } else {
        format!(
            "The old key {} keeps working for {}s.",
            args.prefix,
            grace.as_secs()
        )
    };
    shown_once(
        &created,
        &format!("API key {} rotated. {old} New key:", args.prefix),
    )
}

#[cfg(test)]
mod tests;
