//! Revocations that must reach every instance: `rampart revoke jti|api_key ID`
//! and `rampart keys revoke` in a deployment with shared revocation (Redis).

use std::sync::Arc;

use rampart_authn::clock::{Clock, SystemClock};
use rampart_authn::revocation::{CredentialKind, Revocation, revocation_id};

use super::{Outcome, RevokeKeyArgs, RotateKeyArgs, keys_revoke_with, keys_rotate_with, time};
use crate::AdapterError;
use crate::keystore::KeyStoreConfig;
use crate::revocation::{RevocationSyncConfig, publish_once};
use crate::wiring::{KeyStoreRevocation, mark_revoked};

/// `rampart revoke jti|api_key ID [--expires 30d|RFC3339]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeCredentialArgs {
    /// What `id` names.
    pub kind: CredentialKind,
    /// The token's `jti`, or the key's id (its prefix; a whole key is cut to it).
    pub id: String,
    /// When the credential expires anyway (the token's `exp`), so the entry can
    /// leave then; none: kept for good.
    pub expires: Option<String>,
}

const SECTION: &str = "revocation";

/// A time in the past is refused: the entry would be dropped at once (by
/// every instance and from the set), revoking nothing while the command said
/// it had.
pub(super) fn expires_at(expires: Option<&str>, now: u64) -> Result<u64, AdapterError> {
    let Some(text) = expires else {
        return Ok(u64::MAX);
    };
    if let Ok(lifetime) = time::parse_lifetime(text) {
        return Ok(now.saturating_add(lifetime.as_secs()));
    }
    let at = time::parse_rfc3339(text).map_err(|reason| {
        AdapterError::invalid(
            "expires",
            format!("a lifetime like 30d or an RFC 3339 time: {reason}"),
        )
    })?;
    if at <= now {
        return Err(AdapterError::invalid(
            "expires",
            "is in the past: nothing would be revoked (leave it out to revoke until further notice)",
        ));
    }
    Ok(at)
}

/// `rampart revoke`: publishes the revocation to every instance (the shared set
/// and the channel) and, for an API key with a `key_store` configured, marks
/// the key revoked in the store too, as `POST /revocations` does: otherwise a
/// Redis without persistence restarted with the fleet would forget it, and
/// the key would work again. Returns the text to print and, when one of the
/// two did not happen while the other did, a warning saying so.
pub async fn revoke_credential(
    config: &RevocationSyncConfig,
    key_store: Option<&KeyStoreConfig>,
    args: &RevokeCredentialArgs,
) -> Result<Outcome, AdapterError> {
    revoke_credential_with(config, key_store, args, Arc::new(SystemClock)).await
}

/// Marks the API key `prefix` revoked in an existing key store.
async fn mark_in_store(
    key_store: &KeyStoreConfig,
    prefix: &str,
    now: u64,
) -> Result<KeyStoreRevocation, AdapterError> {
    let store = key_store.open_existing("key_store").await?;
    mark_revoked(&store, prefix, now).await
}

/// [`revoke_credential`] with an injected clock.
pub async fn revoke_credential_with(
    config: &RevocationSyncConfig,
    key_store: Option<&KeyStoreConfig>,
    args: &RevokeCredentialArgs,
    clock: Arc<dyn Clock>,
) -> Result<Outcome, AdapterError> {
    // A whole API key is cut to its id: the secret is never published.
    let id =
        revocation_id(args.kind, &args.id).map_err(|reason| AdapterError::invalid("id", reason))?;
    let revocation = Revocation {
        kind: args.kind,
        id,
        expires_at: expires_at(args.expires.as_deref(), clock.unix_secs())?,
    };
    let store = match (key_store, args.kind) {
        (Some(key_store), CredentialKind::ApiKey) => Some((
            key_store,
            mark_in_store(key_store, &revocation.id, clock.unix_secs()).await,
        )),
        _ => None,
    };
    let shown = revocation.id.escape_debug().to_string();
    let stored_text = format!("Marked API key {shown} revoked in the key store.\n");
    let store = match (publish_once(config, SECTION, &revocation).await, store) {
        (Ok(()), store) => store.map(|(_, result)| result),
        // Stored, not shared: say what that means, as `keys revoke` does.
        (Err(error), Some((key_store, Ok(KeyStoreRevocation::Revoked)))) => {
            return Ok(published(stored_text, Err(error), key_store, &shown));
        }
        (Err(error), None) => return Err(error),
        // Neither happened: the store's part must not be lost behind Redis's
        // (a mistyped store path, a locked database, a mistyped key id).
        (Err(error), Some((_, Ok(KeyStoreRevocation::UnknownKey)))) => {
            return Err(AdapterError::NotRevoked {
                published: Box::new(error),
                stored: format!("it has no API key {shown}"),
            });
        }
        (Err(error), Some((_, Err(store_error)))) => {
            return Err(AdapterError::NotRevoked {
                published: Box::new(error),
                stored: store_error.to_string(),
            });
        }
    };
    let kind = match args.kind {
        CredentialKind::Jti => "token",
        CredentialKind::ApiKey => "API key",
    };
    let until = if revocation.expires_at == u64::MAX {
        "for good".to_string()
    } else {
        format!("until {}", time::format_rfc3339(revocation.expires_at))
    };
    let mut output = format!("Revoked {kind} {shown} on every instance ({until}).\n");
    let warning = match store {
        None => None,
        Some(Ok(KeyStoreRevocation::Revoked)) => {
            output.push_str(&stored_text);
            None
        }
        Some(Ok(KeyStoreRevocation::UnknownKey)) => {
            output.push_str(&format!(
                "The key store has no key {shown}: the revocation is in the shared list only.\n"
            ));
            None
        }
        // Run where the store is not (a workstation, a CI job): the
        // revocation reached every instance, which is what was asked.
        Some(Err(AdapterError::NoKeyStore(path))) => {
            output.push_str(&format!(
                "No key store at {} here: the revocation is in the shared list \
                 only; run `rampart keys revoke {shown}` where the store is to \
                 keep it across a restart of Redis without persistence.\n",
                path.display(),
            ));
            None
        }
        Some(Err(error)) => Some(format!(
            "API key {shown} is not marked revoked in the key store ({error}): the \
             revocation lives only in Redis and the running gateways' lists, and is \
             lost if they all restart with a Redis that does not persist it; retry, \
             or run `rampart keys revoke {shown}` where the store is"
        )),
    };
    Ok(Outcome { output, warning })
}

/// `rampart keys revoke PREFIX` with shared revocation: marks the key revoked in
/// the store, then publishes it so every instance's local list refuses it
/// within a second (also instances on another store replica). When the
/// publication fails, the store's revocation holds and the
/// [`Outcome`]'s warning says what that means.
pub async fn keys_revoke_shared(
    key_store: &KeyStoreConfig,
    revocation: &RevocationSyncConfig,
    args: &RevokeKeyArgs,
) -> Result<Outcome, AdapterError> {
    let (text, record) = keys_revoke_with(key_store, args, Arc::new(SystemClock)).await?;
    let entry = Revocation {
        kind: CredentialKind::ApiKey,
        id: record.prefix.clone(),
        expires_at: record.expires_at.unwrap_or(u64::MAX),
    };
    Ok(published(
        text,
        publish_once(revocation, SECTION, &entry).await,
        key_store,
        &record.prefix,
    ))
}

/// The outcome of a store change followed by its publication: the store's
/// text, and either "published" or a warning saying how far the change got.
fn published(
    text: String,
    result: Result<(), AdapterError>,
    key_store: &KeyStoreConfig,
    prefix: &str,
) -> Outcome {
    match result {
        Ok(()) => format!("{text}Published to every instance.\n").into(),
        Err(error) => Outcome {
            output: text,
            warning: Some(format!(
                "the revocation of key {prefix} did not reach running gateways ({error}): \
                 it is stored in the key store, so gateways reading this store refuse the \
                 key within their key cache time (identity.key_store.cache_ttl_ms = {} ms); \
                 gateways on another copy of the store keep accepting it. Once Redis is back, \
                 retry with `rampart revoke --config FILE api_key {prefix}`",
                key_store.cache_ttl_ms
            )),
        },
    }
}

/// How long the shared revocation of a key rotated without grace lasts:
/// far past every instance's key cache (at most a minute), after which each
/// reads the revoked record from the store anyway.
const ROTATED_KEY_REVOCATION_SECS: u64 = 86_400;

/// `rampart keys rotate PREFIX` in a deployment with shared revocation: a
/// rotation without grace also revokes the old key on every instance at once
/// (before, only the store knew, and instances kept accepting the old key
/// from their key cache until it expired).
///
/// The new key is in the returned text even when the publication fails
/// (the rotation is stored by then, and the key is shown only this once);
/// the [`Outcome`]'s warning then says the old key was not revoked on the
/// running instances.
pub async fn keys_rotate_shared(
    key_store: &KeyStoreConfig,
    revocation: &RevocationSyncConfig,
    args: &RotateKeyArgs,
) -> Result<Outcome, AdapterError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let text = keys_rotate_with(key_store, args, clock.clone()).await?;
    if args.grace.is_some() {
        // The old key keeps working for the grace period by design; its new
        // expiry reaches the instances with their next read of the record.
        return Ok(text.into());
    }
    let entry = Revocation {
        kind: CredentialKind::ApiKey,
        id: args.prefix.clone(),
        expires_at: clock
            .unix_secs()
            .saturating_add(ROTATED_KEY_REVOCATION_SECS),
    };
    Ok(published(
        text,
        publish_once(revocation, SECTION, &entry).await,
        key_store,
        &args.prefix,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use rampart_authn::apikey::{ApiKeyError, ApiKeys, KeyStore};
    use rampart_authn::revocation::RevocationList;

    use super::*;
    use crate::keys_cli::{CreateKeyArgs, keys_create};
    use crate::revocation::RevocationSync;
    use crate::test_support::RedisServer;

    /// `rampart keys create --consumer CONSUMER`; the key printed.
    async fn new_key(key_store: &KeyStoreConfig, consumer: &str) -> String {
        let created = keys_create(
            key_store,
            &CreateKeyArgs {
                consumer: consumer.into(),
                ..CreateKeyArgs::default()
            },
        )
        .await
        .unwrap();
        created
            .split_whitespace()
            .find(|w| w.starts_with("rk_"))
            .unwrap()
            .to_string()
    }

    async fn eventually(mut check: impl FnMut() -> bool) -> bool {
        for _ in 0..100 {
            if check() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        check()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cli_revocations_reach_a_running_gateway() {
        let Some(mut redis) = RedisServer::start() else {
            return;
        };
        let sync_config = RevocationSyncConfig::new(redis.url());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let list = Arc::new(RevocationList::new(clock.clone(), 1_000, 60));
        let gateway =
            RevocationSync::start(&sync_config, "revocation", list.clone(), clock.clone()).unwrap();
        assert!(gateway.wait_synced(Duration::from_secs(5)).await);

        // rampart revoke jti ...
        let text = revoke_credential(
            &sync_config,
            None,
            &RevokeCredentialArgs {
                kind: CredentialKind::Jti,
                id: "jti-42".into(),
                expires: Some("1h".into()),
            },
        )
        .await
        .unwrap()
        .output;
        assert!(text.contains("jti-42"), "{text}");
        assert!(eventually(|| list.is_revoked(CredentialKind::Jti, "jti-42")).await);
        assert!(!list.is_revoked(CredentialKind::Jti, "jti-43"));
        let bad = RevokeCredentialArgs {
            kind: CredentialKind::Jti,
            id: String::new(),
            expires: None,
        };
        assert!(matches!(
            revoke_credential(&sync_config, None, &bad).await,
            Err(AdapterError::Invalid { .. })
        ));
        // rampart revoke api_key: a key id, or a whole key cut to its id (the
        // secret is never published nor printed); anything else could never
        // match a key and is refused, saying what is expected.
        let (prefix, whole) = rampart_authn::apikey::format::generate().unwrap();
        let whole = String::from_utf8(whole.expose().to_vec()).unwrap();
        let pasted = RevokeCredentialArgs {
            kind: CredentialKind::ApiKey,
            id: whole.clone(),
            expires: None,
        };
        let text = revoke_credential(&sync_config, None, &pasted)
            .await
            .unwrap()
            .output;
        assert!(
            text.contains(&prefix) && !text.contains(&whole[12..]),
            "{text}"
        );
        assert!(eventually(|| list.is_revoked(CredentialKind::ApiKey, &prefix)).await);
        assert!(!list.is_revoked(CredentialKind::ApiKey, &whole));
        for id in ["AbC123", "abcdefgh_x"] {
            let args = RevokeCredentialArgs {
                kind: CredentialKind::ApiKey,
                id: id.into(),
                expires: None,
            };
            let err = revoke_credential(&sync_config, None, &args)
                .await
                .unwrap_err();
            assert!(err.to_string().contains("key id"), "{err}");
        }

        // rampart keys revoke PREFIX, shared.
        let db = crate::keystore::tests::temp_db("shared");
        let dir = db.parent().unwrap().to_path_buf();
        std::fs::write(dir.join("pepper"), "s".repeat(32)).unwrap();
        let key_store = KeyStoreConfig::new("keys.db", "file:pepper").relative_to(&dir);
        let key = new_key(&key_store, "carol").await;
        let prefix = key[3..11].to_string();
        let text = keys_revoke_shared(
            &key_store,
            &sync_config,
            &RevokeKeyArgs {
                prefix: prefix.clone(),
            },
        )
        .await
        .unwrap();
        assert!(text.warning.is_none(), "{text:?}");
        assert!(text.output.contains("every instance"), "{text:?}");
        assert!(eventually(|| list.is_revoked(CredentialKind::ApiKey, &prefix)).await);
        let store: Arc<dyn KeyStore> = Arc::new(key_store.open("ks").await.unwrap());
        let pepper = key_store.load_pepper("ks").unwrap();
        let keys = ApiKeys::new(store, &pepper, clock).unwrap();
        assert_eq!(keys.verify(&key).await, Err(ApiKeyError::Revoked));

        // rampart keys rotate PREFIX without grace: the old key is revoked on
        // every instance too (only the store knew before); with grace it is
        // not revoked, by design.
        let now_prefix = new_key(&key_store, "dave").await[3..11].to_string();
        let grace_prefix = new_key(&key_store, "erin").await[3..11].to_string();
        for (prefix, grace) in [(&now_prefix, None), (&grace_prefix, Some("1h".to_string()))] {
            keys_rotate_shared(
                &key_store,
                &sync_config,
                &RotateKeyArgs {
                    prefix: prefix.clone(),
                    grace,
                    expires: None,
                },
            )
            .await
            .unwrap();
        }
        assert!(eventually(|| list.is_revoked(CredentialKind::ApiKey, &now_prefix)).await);
        assert!(!list.is_revoked(CredentialKind::ApiKey, &grace_prefix));

        // rampart revoke api_key with a key store: marked revoked there too
        // (as POST /revocations does), so a Redis that forgets (restarted
        // without persistence) does not bring the key back.
        let leaked = new_key(&key_store, "gina").await;
        let leaked_prefix = leaked[3..11].to_string();
        let revoke_key = |id: &str| RevokeCredentialArgs {
            kind: CredentialKind::ApiKey,
            id: id.into(),
            expires: Some("1d".into()),
        };
        let done = revoke_credential(&sync_config, Some(&key_store), &revoke_key(&leaked_prefix))
            .await
            .unwrap();
        assert!(done.warning.is_none(), "{done:?}");
        assert!(done.output.contains("revoked in the key store"), "{done:?}");
        assert!(eventually(|| list.is_revoked(CredentialKind::ApiKey, &leaked_prefix)).await);
        let stored = key_store.open("ks").await.unwrap();
        assert!(
            stored
                .get(&leaked_prefix)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
        assert_eq!(keys.verify(&leaked).await, Err(ApiKeyError::Revoked));
        // A key id the store does not know is still revoked, and said so.
        let done = revoke_credential(&sync_config, Some(&key_store), &revoke_key("abcdefgh"))
            .await
            .unwrap();
        assert!(
            done.warning.is_none() && done.output.contains("has no key"),
            "{done:?}"
        );
        // Run where the store is not (a workstation): published, which is
        // what was asked (no failure), and the command says what is missing.
        let elsewhere = KeyStoreConfig::new("missing.db", "file:pepper").relative_to(&dir);
        let done = revoke_credential(&sync_config, Some(&elsewhere), &revoke_key("bcdefghi"))
            .await
            .unwrap();
        assert!(
            done.warning.is_none()
                && done.output.contains("every instance")
                && done.output.contains("No key store at")
                && done.output.contains("rampart keys revoke bcdefghi"),
            "{done:?}"
        );
        assert!(!dir.join("missing.db").exists());

        // With Redis down the command fails (and says so) rather than claiming success.
        redis.kill();
        let err = revoke_credential(
            &sync_config,
            Some(&key_store),
            &RevokeCredentialArgs {
                kind: CredentialKind::Jti,
                id: "jti-44".into(),
                expires: None,
            },
        )
        .await;
        assert!(matches!(err, Err(AdapterError::Redis(_))), "{err:?}");
        // An API key is still marked in the store; the warning says the
        // running gateways did not get it.
        let hal = new_key(&key_store, "hal").await;
        let done = revoke_credential(&sync_config, Some(&key_store), &revoke_key(&hal[3..11]))
            .await
            .unwrap();
        assert!(done.output.contains("revoked in the key store"), "{done:?}");
        assert!(
            done.warning
                .unwrap()
                .contains("did not reach running gateways")
        );
        assert_eq!(keys.verify(&hal).await, Err(ApiKeyError::Revoked));
        // A rotation's new key is shown even so: the rotation is stored by
        // then (the old key stops working), and the key is shown only once.
        // The warning says the running gateways did not get the revocation.
        let old = new_key(&key_store, "frank").await;
        let old_prefix = old[3..11].to_string();
        let rotated = keys_rotate_shared(
            &key_store,
            &sync_config,
            &RotateKeyArgs {
                prefix: old_prefix.clone(),
                grace: None,
                expires: None,
            },
        )
        .await
        .unwrap();
        let new = rotated
            .output
            .split_whitespace()
            .find(|w| w.starts_with("rk_"))
            .unwrap_or_else(|| panic!("no new key printed: {rotated:?}"));
        keys.verify(new).await.unwrap();
        assert_eq!(keys.verify(&old).await, Err(ApiKeyError::Revoked));
        let warning = rotated.warning.unwrap();
        assert!(
            warning.contains(&old_prefix)
                && warning.contains("did not reach running gateways")
                && warning.contains("cache_ttl_ms")
                && !warning.contains(&new[12..]),
            "{warning}"
        );
        // So does `keys revoke`: stored, not published, and said so.
        let revoked = keys_revoke_shared(
            &key_store,
            &sync_config,
            &RevokeKeyArgs {
                prefix: new[3..11].to_string(),
            },
        )
        .await
        .unwrap();
        assert!(revoked.warning.is_some(), "{revoked:?}");
        assert_eq!(keys.verify(new).await, Err(ApiKeyError::Revoked));
        drop(gateway);
    }
}
