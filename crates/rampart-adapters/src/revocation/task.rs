//! The subscriber loop: connect, subscribe, full sync, then apply messages and
//! re-sync periodically, until the connection fails; then back off and start
//! over. Nothing here ever removes a live local entry.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use rampart_authn::revocation::{CredentialKind, Revocation};
use tokio::sync::watch;

use super::{METRIC_UP, Shared, wire};
use crate::AdapterError;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Members per ZADD when re-seeding the set.
const SEED_CHUNK: usize = 500;

async fn bounded<T>(
    timeout: Duration,
    work: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, AdapterError> {
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(AdapterError::Redis("timed out".into())),
    }
}

pub(super) async fn run(
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    synced: watch::Sender<u64>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let outcome = tokio::select! {
            outcome = session(&shared, &synced) => outcome,
            _ = stop.changed() => return,
        };
        let was_synced = shared.synced.swap(false, Ordering::AcqRel);
        metrics::gauge!(METRIC_UP).set(0.0);
        if let Err(error) = outcome {
            if was_synced {
                backoff = MIN_BACKOFF;
                tracing::warn!(%error, "revocation sync lost Redis; local revocations are kept");
            } else {
                tracing::debug!(%error, "revocation sync cannot reach Redis");
            }
        }
        // Expiry goes on while Redis is away.
        shared.local.purge_expired();
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn session(shared: &Shared, synced: &watch::Sender<u64>) -> Result<(), AdapterError> {
    let timeout = shared.settings.timeout;
    let pubsub = bounded(timeout, shared.client.get_async_pubsub()).await?;
    // Keep the sink: it owns the subscription and lets us ping it.
    let (mut sink, mut messages) = pubsub.split();
    bounded(timeout, sink.subscribe(&shared.settings.channel)).await?;
    // Subscribed first, then loaded: nothing published in between is missed.
    resync(shared).await?;
    shared.synced.store(true, Ordering::Release);
    metrics::gauge!(METRIC_UP).set(1.0);
    synced.send_modify(|count| *count = count.saturating_add(1));
    tracing::info!(
        entries = shared.local.len(),
        "revocation sync connected and synced"
    );
    let mut tick = tokio::time::interval(shared.settings.resync);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(message) => apply(shared, message.get_payload_bytes()),
                None => return Err(AdapterError::Redis("subscription closed".into())),
            },
            _ = tick.tick() => {
                // A half-open subscription answers no ping: reconnect. Any
                // non-error reply will do: a subscribed RESP2 connection answers
                // `["pong", ""]`, not `PONG`, so reading it as a string would
                // fail every time; `()` rejects only an error reply.
                bounded(timeout, sink.ping::<()>()).await?;
                resync(shared).await?;
            }
        }
    }
}

fn apply(shared: &Shared, payload: &[u8]) {
    match wire::parse_message(payload) {
        Some(revocation) => {
            if let Err(error) = shared.local.revoke(revocation) {
                tracing::warn!(%error, "revocation from Redis not recorded");
            }
        }
        None => tracing::debug!(
            bytes = payload.len(),
            "malformed revocation message ignored"
        ),
    }
}

/// A full sync: the set into the local list, local entries missing from the
/// set (or expiring later than its copy) back into it, expired entries out of
/// both.
pub(super) async fn resync(shared: &Shared) -> Result<(), AdapterError> {
    let settings = &shared.settings;
    let now = shared.clock.unix_secs();
    let oldest = now.saturating_sub(settings.retention);
    shared.local.purge_expired();
    let mut conn = shared.conn.clone();
    // Latest expiry first: when the set holds more than `max_entries`, the
    // entries left out are the ones closest to expiring, never the
    // permanent ones (scored +inf).
    let raw: Vec<Vec<u8>> = bounded(
        settings.timeout,
        redis::cmd("ZREVRANGEBYSCORE")
            .arg(&settings.set_key)
            .arg("+inf")
            .arg(oldest)
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(0)
            .arg(settings.max_entries)
            .query_async(&mut conn),
    )
    .await?;
    let mut loaded = Vec::with_capacity(raw.len() / 2);
    let mut ignored = 0usize;
    for pair in raw.chunks_exact(2) {
        match pair {
            [member, score] => match wire::parse_member(member, score) {
                Some(revocation) => loaded.push(revocation),
                None => ignored += 1,
            },
            _ => ignored += 1,
        }
    }
    if ignored > 0 {
        tracing::debug!(ignored, "malformed revocation set members ignored");
    }
    let known: HashMap<(CredentialKind, String), u64> = loaded
        .iter()
        .map(|r| ((r.kind, r.id.clone()), r.expires_at))
        .collect();
    if let Err(error) = shared.local.merge(loaded) {
        tracing::warn!(%error, "revocations from Redis not all recorded");
    }
    // Re-seed: what only this instance knows (a revoke during an outage, a Redis
    // restart without persistence) goes back into the set, and so does a later
    // expiry than the set's (a rotated key's grace entry, then revoked for good
    // while Redis was unreachable): ZADD GT only ever raises a score.
    let missing: Vec<Revocation> = shared
        .local
        .snapshot()
        .into_iter()
        .filter(|r| match known.get(&(r.kind, r.id.clone())) {
            Some(&stored) => wire::outlasts(r.expires_at, stored),
            None => true,
        })
        .collect();
    for chunk in missing.chunks(SEED_CHUNK) {
        // Published too: the other instances may have synced before this one
        // re-seeded, and would otherwise learn these only at their next re-sync.
        let mut pipe = redis::pipe();
        pipe.atomic();
        let zadd = pipe.cmd("ZADD").arg(&settings.set_key).arg("GT");
        for revocation in chunk {
            zadd.arg(wire::score(revocation.expires_at))
                .arg(wire::member(revocation));
        }
        pipe.ignore();
        for revocation in chunk {
            pipe.cmd("PUBLISH")
                .arg(&settings.channel)
                .arg(wire::message(revocation))
                .ignore();
        }
        bounded(settings.timeout, pipe.query_async::<()>(&mut conn)).await?;
    }
    bounded(
        settings.timeout,
        redis::cmd("ZREMRANGEBYSCORE")
            .arg(&settings.set_key)
            .arg("-inf")
            .arg(format!("({oldest}"))
            .query_async::<()>(&mut conn),
    )
    .await?;
    Ok(())
}
