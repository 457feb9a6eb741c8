//! Shared revocation through Redis: [`RevocationSync`] keeps this instance's
//! `rampart_authn::revocation::RevocationList` in step with every other
//! instance's.
//!
//! - A revocation is written locally first (so it holds whatever Redis does),
//!   then to a persisted sorted set (`<prefix>revoked`, member `kind:id`, score =
//!   the credential's expiry) and published on a channel.
//! - A background task subscribes to the channel *before* loading the set (so
//!   nothing published in between is missed), merges both into the local list,
//!   re-seeds the set from the local list (a Redis restart without persistence
//!   loses nothing), and repeats the full sync every `resync_interval_ms` and
//!   after every reconnect. Each sync also drops expired entries, locally and in
//!   the set.
//! - Merging is a union: a Redis outage, an empty set or junk in Redis never
//!   removes a local entry, so a revoked credential stays revoked.
//!
//! Layout: `config` ([`RevocationSyncConfig`]), `wire` (member, score and
//! message formats), `task` (the subscriber loop), this file (the handle).

mod config;
mod task;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rampart_authn::clock::Clock;
use rampart_authn::revocation::{Revocation, RevocationList};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::RevocationSyncConfig;
use config::Settings;

use crate::AdapterError;

/// Gauge: 1 while the revocation subscriber is connected and synced, else 0.
pub const METRIC_UP: &str = "rampart_revocation_sync_up";

pub(crate) struct Shared {
    settings: Settings,
    client: redis::Client,
    conn: ConnectionManager,
    local: Arc<RevocationList>,
    clock: Arc<dyn Clock>,
    synced: AtomicBool,
}

/// The running synchroniser; dropping it stops the background task.
pub struct RevocationSync {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    synced_rx: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for RevocationSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationSync")
            .field("set_key", &self.shared.settings.set_key)
            .field("channel", &self.shared.settings.channel)
            .field("synced", &self.is_synced())
            .finish_non_exhaustive()
    }
}

fn manager(client: &redis::Client, timeout: Duration) -> Result<ConnectionManager, AdapterError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    Ok(ConnectionManager::new_lazy_with_config(
        client.clone(),
        config,
    )?)
}

impl RevocationSync {
    /// Validates `config` and starts the background task (inside a tokio
    /// runtime). No connection is awaited: the gateway starts while Redis is
    /// down, with whatever the local list holds. `path` is the config section's
    /// field path for errors.
    pub fn start(
        config: &RevocationSyncConfig,
        path: &str,
        local: Arc<RevocationList>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AdapterError> {
        let (client, settings) = config.validate(path)?;
        // tokio::spawn (and the connection manager) would panic outside a runtime.
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| AdapterError::invalid(path, "must be started inside a tokio runtime"))?;
        let conn = manager(&client, settings.timeout)?;
        let shared = Arc::new(Shared {
            settings,
            client,
            conn,
            local,
            clock,
            synced: AtomicBool::new(false),
        });
        let (stop, stop_rx) = watch::channel(false);
        let (synced_tx, synced_rx) = watch::channel(0u64);
        let task = runtime.spawn(task::run(Arc::clone(&shared), stop_rx, synced_tx));
        Ok(Self {
            shared,
            stop,
            synced_rx,
            task,
        })
    }

    /// Revokes a credential everywhere: locally at once, then in Redis (set +
    /// publish). On a Redis error the local entry stays and the error is
    /// returned; the next successful sync re-seeds Redis from the local list.
    pub async fn revoke(&self, revocation: Revocation) -> Result<(), AdapterError> {
        self.shared.local.revoke(revocation.clone())?;
        let mut conn = self.shared.conn.clone();
        write(
            &mut conn,
            &self.shared.settings,
            &revocation,
            self.shared.clock.unix_secs(),
        )
        .await
    }

    /// Whether the subscriber is connected and has synced since it (re)connected.
    pub fn is_synced(&self) -> bool {
        self.shared.synced.load(Ordering::Acquire)
    }

    /// Whether a full sync has completed at least once since start: until
    /// then the local list may lack revocations every other instance knows
    /// (it starts empty), so the instance reports itself not ready.
    pub fn has_synced_once(&self) -> bool {
        *self.synced_rx.borrow() > 0
    }

    /// Waits until a full sync has completed (start-up), at most `within`.
    pub async fn wait_synced(&self, within: Duration) -> bool {
        let mut rx = self.synced_rx.clone();
        tokio::time::timeout(within, rx.wait_for(|count| *count > 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The local list this synchroniser feeds.
    pub fn local(&self) -> &Arc<RevocationList> {
        &self.shared.local
    }
}

impl Drop for RevocationSync {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

/// One revocation into the set and onto the channel, atomically (MULTI), within
/// the deadline. Also prunes entries expired past the retention.
async fn write(
    conn: &mut ConnectionManager,
    settings: &Settings,
    revocation: &Revocation,
    now: u64,
) -> Result<(), AdapterError> {
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("ZADD")
        .arg(&settings.set_key)
        .arg("GT")
        .arg(wire::score(revocation.expires_at))
        .arg(wire::member(revocation))
        .ignore()
        .cmd("ZREMRANGEBYSCORE")
        .arg(&settings.set_key)
        .arg("-inf")
        .arg(format!("({}", now.saturating_sub(settings.retention)))
        .ignore()
        .cmd("PUBLISH")
        .arg(&settings.channel)
        .arg(wire::message(revocation))
        .ignore();
    match tokio::time::timeout(settings.timeout, pipe.query_async::<()>(conn)).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(AdapterError::Redis("timed out".into())),
    }
}

/// Publishes one revocation without running a synchroniser (for `rampart keys
/// revoke` and other one-shot commands): into the set and onto the channel.
pub async fn publish_once(
    config: &RevocationSyncConfig,
    path: &str,
    revocation: &Revocation,
) -> Result<(), AdapterError> {
    let (client, settings) = config.validate(path)?;
    let mut conn = manager(&client, settings.timeout)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    write(&mut conn, &settings, revocation, now).await
}

#[cfg(test)]
mod tests;
