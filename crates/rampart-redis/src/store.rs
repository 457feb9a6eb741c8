//! [`RedisStore`]: a `CounterStore` whose batches run as one Lua script call.
//!
//! Standalone Redis: the whole batch is one `EVALSHA` (the driver falls back to
//! `EVAL`/`SCRIPT LOAD` when the script is not cached), so a request's limits are
//! checked and charged atomically in one round trip, and any number of gateways
//! sharing the Redis accept together exactly what one would.
//!
//! Redis Cluster: every key carries a hash tag (`{value}`: the IP, the consumer,
//! ...), so all the limits and quotas of one subject live in one slot. A batch is
//! split by slot, one `EVALSHA` per slot; each slot's part is atomic and exact.
//! When one slot refuses, the parts other slots already committed are refunded
//! (a second script), so a refused request consumes nothing there either; between
//! the charge and the refund, a concurrent request may see those units as taken
//! (refused conservatively, never accepted in excess). A slot whose call fails or
//! answers the wrong number of values gets the same refund of the others before
//! the batch fails (and goes to the outage fallback).
//!
//! Refunds ([`CounterStore::refund`], the lock-out giving back a reserved
//! failure) run the same refund script, one call (per slot in a cluster).
//!
//! Outage: a failed or timed-out call marks Redis down (metric, one log line) and
//! the batch goes to the fallback: this instance's own [`LocalStore`] when failing
//! open, or an error (503) when failing closed. While down, one request per retry
//! interval probes Redis; the first success brings shared limits back. The
//! connection itself is a `ConnectionManager` (standalone) or cluster connection,
//! both reconnecting on their own.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rampart_ratelimit::store::{Algorithm, StoreError, StoreReply, StoreResult};
use rampart_ratelimit::{CounterStore, LocalStore, Op, Outcome};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::{Client, Script};
use tokio::sync::OnceCell;

use crate::config::{OutageMode, RedisConfigError, RedisStoreConfig};
use crate::health::Health;
use crate::script::{BATCH_SCRIPT, REFUND_SCRIPT};

enum Conn {
    Single(ConnectionManager),
    // Boxed: the cluster client is much larger than a connection manager.
    Cluster(Box<ClusterConn>),
}

struct ClusterConn {
    client: redis::cluster::ClusterClient,
    conn: OnceCell<ClusterConnection>,
}

/// The shared, exact counter store.
pub struct RedisStore {
    conn: Conn,
    script: Script,
    refund: Script,
    prefix: String,
    mode: OutageMode,
    timeout: Duration,
    fallback: LocalStore,
    health: Arc<Health>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("mode", &self.mode)
            .field("up", &self.health.is_up())
            .finish_non_exhaustive()
    }
}

fn ms(value: u64, field: String) -> Result<Duration, RedisConfigError> {
    if value == 0 || value > 60_000 {
        return Err(RedisConfigError::Duration { field });
    }
    Ok(Duration::from_millis(value))
}

impl RedisStore {
    /// Validates `config` and creates the store. No connection is made yet (the
    /// first batch connects), so a gateway starts even while Redis is down. Must be
    /// called inside a Tokio runtime. `field_prefix` locates the section in the
    /// whole configuration for error messages. Its metrics are labelled `api=""`;
    /// see [`RedisStore::for_api`].
    pub fn new(config: &RedisStoreConfig, field_prefix: &str) -> Result<Self, RedisConfigError> {
        Self::for_api(config, field_prefix, "")
    }

    /// As [`RedisStore::new`], for the store of API `api`: its metrics carry the
    /// label `api` (one store, and one reachability state, per API).
    pub fn for_api(
        config: &RedisStoreConfig,
        field_prefix: &str,
        api: &str,
    ) -> Result<Self, RedisConfigError> {
        let f = |rest: &str| {
            if field_prefix.is_empty() {
                rest.to_owned()
            } else {
                format!("{field_prefix}.{rest}")
            }
        };
        let timeout = ms(config.timeout_ms, f("timeout_ms"))?;
        let retry = ms(config.retry_interval_ms, f("retry_interval_ms"))?;
        if config.fallback_max_keys < 512 {
            return Err(RedisConfigError::FallbackKeys {
                field: f("fallback_max_keys"),
            });
        }
        config.check_key_prefix(f("key_prefix"))?;
        let conn = match (&config.url, config.cluster_nodes.is_empty()) {
            (Some(url), true) => {
                let client = Client::open(url.as_str())
                    .map_err(|_| RedisConfigError::Url { field: f("url") })?;
                let manager_config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(retry);
                let manager = ConnectionManager::new_lazy_with_config(client, manager_config)
                    .map_err(|source| RedisConfigError::Client {
                        field: f("url"),
                        source,
                    })?;
                Conn::Single(manager)
            }
            (None, false) => {
                let client = redis::cluster::ClusterClient::builder(config.cluster_nodes.clone())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .build()
                    .map_err(|_| RedisConfigError::Url {
                        field: f("cluster_nodes"),
                    })?;
                Conn::Cluster(Box::new(ClusterConn {
                    client,
                    conn: OnceCell::new(),
                }))
            }
            _ => {
                return Err(RedisConfigError::Target { field: f("url") });
            }
        };
        Ok(Self {
            conn,
            script: Script::new(BATCH_SCRIPT),
            refund: Script::new(REFUND_SCRIPT),
            prefix: config.key_prefix.clone(),
            mode: config.on_outage,
            timeout,
            fallback: LocalStore::new(config.fallback_max_keys, 64),
            health: Arc::new(Health::new(retry, api)),
        })
    }

    /// Whether Redis answered the last attempt.
    pub fn is_up(&self) -> bool {
        self.health.is_up()
    }

    /// Failed round trips since start (also the `rampart_ratelimit_redis_errors_total` metric).
    pub fn errors(&self) -> u64 {
        self.health.errors()
    }

    /// Batches the fail-open fallback answered (also `rampart_ratelimit_redis_fallback_total`).
    pub fn fallbacks(&self) -> u64 {
        self.health.fallbacks()
    }

    async fn invoke<C: ConnectionLike>(
        &self,
        conn: &mut C,
        ops: &[Op],
    ) -> Result<Vec<i64>, String> {
        self.run_script(&self.script, conn, ops).await
    }

    async fn run_script<C: ConnectionLike, T: redis::FromRedisValue>(
        &self,
        script: &Script,
        conn: &mut C,
        ops: &[Op],
    ) -> Result<T, String> {
        let mut call = script.prepare_invoke();
        for op in ops {
            call.key(format!("{}{}", self.prefix, op.key));
            let (kind, p1, p2) = match op.algorithm {
                Algorithm::Gcra { emission_us, burst } => ("g", emission_us, burst),
                Algorithm::Window {
                    limit,
                    window_end_us,
                } => ("w", limit, window_end_us),
            };
            call.arg(kind).arg(p1).arg(p2).arg(op.cost);
        }
        match tokio::time::timeout(self.timeout, call.invoke_async::<T>(conn)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    async fn round_trip(&self, ops: &[Op]) -> Result<Vec<Outcome>, String> {
        let reply = match &self.conn {
            Conn::Single(manager) => {
                let mut conn = manager.clone();
                self.invoke(&mut conn, ops).await?
            }
            Conn::Cluster(cluster) => {
                let connection = match tokio::time::timeout(
                    self.timeout,
                    cluster
                        .conn
                        .get_or_try_init(|| cluster.client.get_async_connection()),
                )
                .await
                {
                    Ok(Ok(c)) => c.clone(),
                    Ok(Err(e)) => return Err(e.to_string()),
                    Err(_) => return Err("timed out connecting".into()),
                };
                self.invoke_by_slot(connection, ops).await?
            }
        };
        parse(&reply, ops.len())
    }

    /// Cluster: one script call per hash slot (see [`charge_parts`]).
    async fn invoke_by_slot(
        &self,
        conn: ClusterConnection,
        ops: &[Op],
    ) -> Result<Vec<i64>, String> {
        let parts = split_by_slot(&self.prefix, ops);
        let conn = &conn;
        charge_parts(
            ops.len(),
            &parts,
            |part| {
                let mut conn = conn.clone();
                async move { self.invoke(&mut conn, part).await }
            },
            |part| {
                let mut conn = conn.clone();
                async move {
                    self.run_script::<_, i64>(&self.refund, &mut conn, part)
                        .await
                        .map(drop)
                }
            },
        )
        .await
    }

    /// Runs the refund script over `ops`: one call, or one per hash slot in a
    /// cluster. Each op's refund stands on its own, so a failed slot does not
    /// undo the others (its units stay charged: conservative).
    async fn refund_round_trip(&self, ops: &[Op]) -> Result<(), String> {
        match &self.conn {
            Conn::Single(manager) => {
                let mut conn = manager.clone();
                self.run_script::<_, i64>(&self.refund, &mut conn, ops)
                    .await
                    .map(drop)
            }
            Conn::Cluster(cluster) => {
                let mut conn = match tokio::time::timeout(
                    self.timeout,
                    cluster
                        .conn
                        .get_or_try_init(|| cluster.client.get_async_connection()),
                )
                .await
                {
                    Ok(Ok(c)) => c.clone(),
                    Ok(Err(e)) => return Err(e.to_string()),
                    Err(_) => return Err("timed out connecting".into()),
                };
                let mut failed = None;
                for (_, part) in split_by_slot(&self.prefix, ops) {
                    if let Err(e) = self
                        .run_script::<_, i64>(&self.refund, &mut conn, &part)
                        .await
                    {
                        failed = Some(e);
                    }
                }
                failed.map_or(Ok(()), Err)
            }
        }
    }

    /// A refund (see [`CounterStore::refund`]). While Redis is down, a store
    /// failing open refunds its local fallback, where the charge went.
    async fn refund_async(&self, now_us: u64, ops: Vec<Op>) -> StoreResult {
        if self.health.should_try() {
            match self.refund_round_trip(&ops).await {
                Ok(()) => {
                    self.health.success();
                    return Ok(Vec::new());
                }
                Err(error) => self
                    .health
                    .failure(&error, self.mode == OutageMode::FailOpen),
            }
        }
        match self.mode {
            OutageMode::FailOpen => {
                self.fallback.refund_now(now_us, &ops);
                Ok(Vec::new())
            }
            OutageMode::FailClosed => Err(StoreError::Unavailable("redis unreachable".into())),
        }
    }

    async fn apply_async(&self, now_us: u64, ops: Vec<Op>) -> StoreResult {
        if self.health.should_try() {
            match self.round_trip(&ops).await {
                Ok(outcomes) => {
                    self.health.success();
                    return Ok(outcomes);
                }
                Err(error) => self
                    .health
                    .failure(&error, self.mode == OutageMode::FailOpen),
            }
        }
        match self.mode {
            OutageMode::FailOpen => {
                self.health.fallback();
                Ok(self.fallback.apply_now(now_us, &ops))
            }
            OutageMode::FailClosed => Err(StoreError::Unavailable("redis unreachable".into())),
        }
    }
}

/// One hash slot's part of a batch: the ops' indices in the batch, and the ops.
type Part = (Vec<usize>, Vec<Op>);

/// Groups `ops` by the hash slot of their (prefixed) keys, parts in the order of
/// their first op, so a batch is always sent in the same order.
fn split_by_slot(prefix: &str, ops: &[Op]) -> Vec<Part> {
    let mut parts: Vec<(Slot, Part)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let slot = Slot::for_key(format!("{prefix}{}", op.key));
        match parts.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, (indices, part))) => {
                indices.push(i);
                part.push(op.clone());
            }
            None => parts.push((slot, (vec![i], vec![op.clone()]))),
        }
    }
    parts.into_iter().map(|(_, part)| part).collect()
}

/// Runs each slot's part with `call` and puts the replies back in op order. When
/// a part is refused, the parts already committed are refunded with `refund`, so
/// that a refused request still consumes nothing (a request's limits then cost
/// one round trip per slot, plus one per refund). When a call fails or answers
/// the wrong number of values, the committed parts are refunded (best effort)
/// before the error is returned; the failed part itself is left as it is, since
/// whether it was applied is unknown and refunding a charge never made would
/// hand out units. A refund that fails leaves its units charged: conservative.
async fn charge_parts<'p, C, CF, R, RF>(
    n: usize,
    parts: &'p [Part],
    call: C,
    refund: R,
) -> Result<Vec<i64>, String>
where
    C: Fn(&'p [Op]) -> CF,
    CF: Future<Output = Result<Vec<i64>, String>>,
    R: Fn(&'p [Op]) -> RF,
    RF: Future<Output = Result<(), String>>,
{
    let mut reply = vec![0i64; n * 4];
    let mut committed: Vec<&'p Part> = Vec::new();
    let mut refused = false;
    for part in parts {
        let (indices, ops) = (&part.0, &part.1);
        let got = match call(ops).await {
            Ok(got) if got.len() == ops.len() * 4 => got,
            other => {
                let error = match other {
                    Ok(got) => {
                        format!("script returned {} values for {} ops", got.len(), ops.len())
                    }
                    Err(error) => error,
                };
                if refused {
                    // The batch is refused whatever this slot says: an error
                    // now would send it to the fallback, which could accept
                    // it. The refunds below run; this slot's ops report
                    // refused (zeros).
                    tracing::warn!(target: "rampart::ratelimit", %error, "redis slot failed after another refused the batch");
                    break;
                }
                for part in &committed {
                    if let Err(e) = refund(&part.1).await {
                        tracing::warn!(target: "rampart::ratelimit", error = %e, "redis refund after a failed slot failed; its units stay charged");
                    }
                }
                return Err(error);
            }
        };
        let mut all = true;
        for (j, i) in indices.iter().enumerate() {
            for k in 0..4 {
                if let (Some(dst), Some(src)) = (reply.get_mut(i * 4 + k), got.get(j * 4 + k)) {
                    *dst = *src;
                }
            }
            all &= got.get(j * 4) == Some(&1);
        }
        if all {
            committed.push(part);
        } else {
            refused = true;
        }
    }
    if refused {
        for (indices, ops) in committed {
            if let Err(e) = refund(ops).await {
                // Still a refusal: an error here would send the batch to the
                // fallback, which could accept what Redis refused.
                tracing::warn!(target: "rampart::ratelimit", error = %e, "redis refund failed; its units stay charged");
                continue;
            }
            // Report the refunded keys as uncharged.
            for (i, op) in indices.iter().zip(ops) {
                let cap = match op.algorithm {
                    Algorithm::Gcra { burst, .. } => burst,
                    Algorithm::Window { limit, .. } => limit,
                };
                if let Some(r) = reply.get_mut(i * 4 + 1) {
                    let back = u64::try_from(*r).unwrap_or(0).saturating_add(op.cost);
                    *r = i64::try_from(back.min(cap)).unwrap_or(i64::MAX);
                }
            }
        }
    }
    Ok(reply)
}

fn parse(reply: &[i64], n: usize) -> Result<Vec<Outcome>, String> {
    if reply.len() != n * 4 {
        return Err(format!(
            "script returned {} values for {n} ops",
            reply.len()
        ));
    }
    let u = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(reply
        .chunks_exact(4)
        .map(|c| match c {
            [a, r, reset, retry] => Outcome {
                allowed: *a == 1,
                remaining: u(*r),
                reset_after_us: u(*reset),
                retry_after_us: u(*retry),
            },
            _ => Outcome {
                allowed: false,
                remaining: 0,
                reset_after_us: 0,
                retry_after_us: 0,
            },
        })
        .collect())
}

impl CounterStore for RedisStore {
    fn apply(&self, now_us: u64, ops: Vec<Op>) -> StoreReply<'_> {
        StoreReply::Pending(Box::pin(self.apply_async(now_us, ops)))
    }

    fn refund(&self, now_us: u64, ops: Vec<Op>) -> StoreReply<'_> {
        StoreReply::Pending(Box::pin(self.refund_async(now_us, ops)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn op(key: &str) -> Op {
        Op {
            key: key.into(),
            algorithm: Algorithm::Gcra {
                emission_us: 1000,
                burst: 10,
            },
            cost: 1,
        }
    }

    /// A fake cluster: a part answers by its first key's tag (`ok`: allowed with 5
    /// left, `no`: refused, `err`: the call fails, `short`: one value too few).
    /// Refunds are recorded; a refund of a `norefund` key fails.
    async fn charge(keys: &[&str]) -> (Result<Vec<i64>, String>, Vec<String>) {
        let ops: Vec<Op> = keys.iter().map(|k| op(k)).collect();
        let parts = split_by_slot("", &ops);
        let refunded = Mutex::new(Vec::new());
        let result = charge_parts(
            ops.len(),
            &parts,
            |part| async move {
                let mut out = Vec::new();
                for op in part {
                    if op.key.contains("{err}") {
                        return Err("connection reset".to_owned());
                    }
                    let allowed = !op.key.contains("{no}");
                    out.extend([i64::from(allowed), if allowed { 5 } else { 0 }, 0, 0]);
                    if op.key.contains("{short}") {
                        out.pop();
                    }
                }
                Ok(out)
            },
            |part| {
                let refunded = &refunded;
                async move {
                    if part.iter().any(|op| op.key.contains("norefund")) {
                        return Err("refund failed".to_owned());
                    }
                    let mut r = refunded.lock().unwrap();
                    r.extend(part.iter().map(|op| op.key.clone()));
                    Ok(())
                }
            },
        )
        .await;
        (result, refunded.into_inner().unwrap())
    }

    #[test]
    fn ops_are_grouped_by_slot_in_batch_order() {
        let ops: Vec<Op> = ["a:{x}", "b:{y}", "c:{x}", "d:{z}"]
            .iter()
            .map(|k| op(k))
            .collect();
        let parts = split_by_slot("p:", &ops);
        let indices: Vec<&[usize]> = parts.iter().map(|(i, _)| i.as_slice()).collect();
        assert_eq!(indices, [&[0, 2][..], &[1], &[3]]);
    }

    #[tokio::test]
    async fn a_failed_later_slot_refunds_the_slots_already_charged() {
        let (result, refunded) = charge(&["a:{ok}", "b:{ok2}", "c:{err}"]).await;
        assert_eq!(result.unwrap_err(), "connection reset");
        assert_eq!(refunded, ["a:{ok}", "b:{ok2}"]);
    }

    #[tokio::test]
    async fn a_reply_of_the_wrong_length_is_an_error_and_refunds_the_others() {
        let (result, refunded) = charge(&["a:{ok}", "b:{short}"]).await;
        assert!(result.unwrap_err().contains("values for 1 ops"));
        assert_eq!(refunded, ["a:{ok}"], "the unreadable part is not refunded");
    }

    #[tokio::test]
    async fn a_slot_failing_after_a_refusal_still_refuses() {
        let (result, refunded) = charge(&["a:{ok}", "b:{no}", "c:{err}"]).await;
        let reply = result.expect("a refusal, not an error for the fallback");
        assert_eq!(refunded, ["a:{ok}"]);
        assert_eq!(reply, [1, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[tokio::test]
    async fn a_refusal_refunds_and_a_failed_refund_still_refuses() {
        let (result, refunded) = charge(&["a:{ok}", "b:{norefund}", "c:{no}"]).await;
        let reply = result.unwrap();
        assert_eq!(refunded, ["a:{ok}"]);
        // Refunded: reported uncharged (6 left); not refunded: as charged (5).
        assert_eq!(reply, [1, 6, 0, 0, 1, 5, 0, 0, 0, 0, 0, 0]);
    }
}
