//! Two "gateways" sharing revocations through a real redis-server that the test
//! starts on a free port (skipped, with a message, if redis-server is absent).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_authn::clock::{Clock, ManualClock, SystemClock};
use rampart_authn::revocation::{CredentialKind, Revocation, RevocationList};

use super::*;
use crate::test_support::RedisServer;

fn config(url: &str, resync_interval_ms: u64) -> RevocationSyncConfig {
    RevocationSyncConfig {
        resync_interval_ms,
        retention_seconds: 60,
        ..RevocationSyncConfig::new(url)
    }
}

/// A gateway's synchroniser; `resync_ms` is the periodic full-sync interval.
fn gateway(url: &str, clock: Arc<dyn Clock>, resync_ms: u64) -> RevocationSync {
    let list = Arc::new(RevocationList::new(clock.clone(), 10_000, 60));
    RevocationSync::start(&config(url, resync_ms), "revocation", list, clock).unwrap()
}

fn jti(id: &str, expires_at: u64) -> Revocation {
    Revocation {
        kind: CredentialKind::Jti,
        id: id.into(),
        expires_at,
    }
}

async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

async fn redis_cmd<T: redis::FromRedisValue>(url: &str, cmd: &mut redis::Cmd) -> T {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    cmd.query_async(&mut conn).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_the_other_gateway_and_survives_an_outage() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.unix_secs();
    // A periodic re-sync far beyond the test: only pub/sub (and the sync after a
    // reconnect) can deliver.
    let a = gateway(&url, clock.clone(), 600_000);
    let b = gateway(&url, clock.clone(), 600_000);
    assert!(a.wait_synced(Duration::from_secs(5)).await);
    assert!(b.wait_synced(Duration::from_secs(5)).await);

    // Gateway A revokes; B's local list has it within one second.
    a.revoke(jti("token-1", now + 3_600)).await.unwrap();
    assert!(a.local().is_revoked(CredentialKind::Jti, "token-1"));
    assert!(
        eventually(Duration::from_secs(1), || b
            .local()
            .is_revoked(CredentialKind::Jti, "token-1"))
        .await,
        "revocation did not reach gateway B within 1 s"
    );
    // And the other way round, for an API key that never expires.
    b.revoke(Revocation {
        kind: CredentialKind::ApiKey,
        id: "abcdefgh".into(),
        expires_at: u64::MAX,
    })
    .await
    .unwrap();
    assert!(
        eventually(Duration::from_secs(1), || a
            .local()
            .is_revoked(CredentialKind::ApiKey, "abcdefgh"))
        .await
    );
    // Credentials nobody revoked pass.
    assert!(!b.local().is_revoked(CredentialKind::Jti, "token-2"));

    // Redis goes away: everything revoked stays revoked.
    redis.kill();
    assert!(eventually(Duration::from_secs(5), || !a.is_synced() && !b.is_synced()).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for gw in [&a, &b] {
        assert!(gw.local().is_revoked(CredentialKind::Jti, "token-1"));
        assert!(gw.local().is_revoked(CredentialKind::ApiKey, "abcdefgh"));
    }
    // A revocation during the outage holds locally (and the call says Redis failed).
    assert!(a.revoke(jti("token-3", now + 3_600)).await.is_err());
    assert!(a.local().is_revoked(CredentialKind::Jti, "token-3"));

    // Redis comes back empty (no persistence): the gateways re-seed it, so a
    // gateway starting now learns every revocation, including the one made
    // during the outage.
    assert!(redis.spawn());
    assert!(eventually(Duration::from_secs(10), || a.is_synced() && b.is_synced()).await);
    let c = gateway(&url, clock.clone(), 600_000);
    assert!(c.wait_synced(Duration::from_secs(5)).await);
    assert!(
        eventually(Duration::from_secs(2), || {
            c.local().is_revoked(CredentialKind::Jti, "token-1")
                && c.local().is_revoked(CredentialKind::ApiKey, "abcdefgh")
                && c.local().is_revoked(CredentialKind::Jti, "token-3")
        })
        .await
    );
    assert!(
        eventually(Duration::from_secs(2), || b
            .local()
            .is_revoked(CredentialKind::Jti, "token-3"))
        .await
    );
    drop((a, b, c));
    redis.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_entries_leave_and_junk_or_data_loss_removes_nothing() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let manual = Arc::new(ManualClock::at_secs(1_800_000_000));
    let clock: Arc<dyn Clock> = manual.clone();
    let a = gateway(&url, clock.clone(), 200);
    assert!(a.wait_synced(Duration::from_secs(5)).await);
    a.revoke(jti("short", 1_800_000_010)).await.unwrap();
    a.revoke(jti("long", 1_800_100_000)).await.unwrap();

    // Junk on the channel and in the set is ignored.
    let set = "rampart:revoked";
    let _: () = redis_cmd(
        &url,
        redis::cmd("PUBLISH")
            .arg("rampart:revocations")
            .arg("{not json"),
    )
    .await;
    let _: () = redis_cmd(
        &url,
        redis::cmd("ZADD")
            .arg(set)
            .arg("+inf")
            .arg("cookie:x")
            .arg("+inf")
            .arg("jti:"),
    )
    .await;
    // Someone empties Redis: the local list keeps everything and re-seeds it.
    let _: () = redis_cmd(&url, &mut redis::cmd("FLUSHALL")).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(a.local().is_revoked(CredentialKind::Jti, "short"));
    assert!(a.local().is_revoked(CredentialKind::Jti, "long"));
    let score: Option<String> =
        redis_cmd(&url, redis::cmd("ZSCORE").arg(set).arg("jti:long")).await;
    assert_eq!(score.as_deref(), Some("1800100000"));

    // Past expiry + retention, the short-lived entry leaves both copies.
    manual.set_secs(1_800_000_010 + 61);
    assert!(
        eventually(Duration::from_secs(3), || !a
            .local()
            .is_revoked(CredentialKind::Jti, "short"))
        .await
    );
    assert!(a.local().is_revoked(CredentialKind::Jti, "long"));
    let mut gone = false;
    for _ in 0..100 {
        let score: Option<String> =
            redis_cmd(&url, redis::cmd("ZSCORE").arg(set).arg("jti:short")).await;
        if score.is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(gone, "expired entry still in the set");
    drop(a);
    redis.kill();
}

#[tokio::test]
async fn publish_once_reaches_a_running_gateway() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let a = gateway(&url, clock.clone(), 600_000);
    assert!(a.wait_synced(Duration::from_secs(5)).await);
    let revocation = Revocation {
        kind: CredentialKind::ApiKey,
        id: "zzzzzzzz".into(),
        expires_at: u64::MAX,
    };
    publish_once(&config(&url, 600_000), "revocation", &revocation)
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(1), || a
            .local()
            .is_revoked(CredentialKind::ApiKey, "zzzzzzzz"))
        .await
    );
    drop(a);
    redis.kill();
}

#[tokio::test]
async fn a_set_larger_than_the_load_limit_keeps_the_permanent_entries() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let now = SystemClock.unix_secs();
    // Permanent `a`, and `b`, `c` expiring soon and later.
    let _: () = redis_cmd(
        &url,
        redis::cmd("ZADD")
            .arg("rampart:revoked")
            .arg("+inf")
            .arg("jti:a")
            .arg(now + 100)
            .arg("jti:b")
            .arg(now + 200)
            .arg("jti:c"),
    )
    .await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let list = Arc::new(RevocationList::new(clock.clone(), 10_000, 60));
    let settings = RevocationSyncConfig {
        max_entries: 2,
        ..config(&url, 60_000)
    };
    let sync = RevocationSync::start(&settings, "revocation", list, clock).unwrap();
    assert!(sync.wait_synced(Duration::from_secs(5)).await);
    // The two loaded are the ones that stay revoked longest; the permanent
    // one used to be the first left out.
    assert!(sync.local().is_revoked(CredentialKind::Jti, "a"));
    assert!(sync.local().is_revoked(CredentialKind::Jti, "c"));
    assert!(!sync.local().is_revoked(CredentialKind::Jti, "b"));
    drop(sync);
    redis.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_liveness_ping_keeps_the_subscription() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // Five periodic re-syncs (each after a ping on the subscribed connection).
    let a = gateway(&url, clock, 200);
    assert!(a.wait_synced(Duration::from_secs(5)).await);
    let mut dropped = false;
    let deadline = Instant::now() + Duration::from_millis(1_100);
    while Instant::now() < deadline {
        dropped |= !a.is_synced();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A reconnect completes a new full sync: the count would be past 1.
    let syncs = *a.synced_rx.borrow();
    assert!(!dropped, "the subscription dropped between re-syncs");
    assert_eq!(syncs, 1, "the subscriber reconnected");
    drop(a);
    redis.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_local_expiry_replaces_a_shorter_one_in_redis() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.unix_secs();
    // A key rotated with a day's grace: in the set until tomorrow.
    let _: () = redis_cmd(
        &url,
        redis::cmd("ZADD")
            .arg("rampart:revoked")
            .arg(now + 86_400)
            .arg("api_key:rotatedk"),
    )
    .await;
    let a = gateway(&url, clock.clone(), 200);
    let b = gateway(&url, clock.clone(), 600_000);
    assert!(a.wait_synced(Duration::from_secs(5)).await);
    assert!(b.wait_synced(Duration::from_secs(5)).await);
    // Then revoked for good on A, but the write to Redis was lost: only A's
    // local list has the permanent entry.
    a.local()
        .revoke(Revocation {
            kind: CredentialKind::ApiKey,
            id: "rotatedk".into(),
            expires_at: u64::MAX,
        })
        .unwrap();
    // A's next re-sync shares the longer expiry: in the set, and with B.
    let mut score = None;
    for _ in 0..100 {
        score = redis_cmd::<Option<String>>(
            &url,
            redis::cmd("ZSCORE")
                .arg("rampart:revoked")
                .arg("api_key:rotatedk"),
        )
        .await;
        if score.as_deref() == Some("inf") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        score.as_deref(),
        Some("inf"),
        "the set kept the shorter expiry"
    );
    let expiry_at_b = || {
        b.local()
            .snapshot()
            .into_iter()
            .find(|r| r.id == "rotatedk")
            .map(|r| r.expires_at)
    };
    assert!(
        eventually(Duration::from_secs(2), || expiry_at_b() == Some(u64::MAX)).await,
        "gateway B kept the shorter expiry: {:?}",
        expiry_at_b()
    );
    drop((a, b));
    redis.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_with_different_prefixes_share_nothing() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.unix_secs();
    // Staging and production on one Redis, each with its own prefix and the
    // default channel.
    let deployment = |prefix: &str| {
        let settings = RevocationSyncConfig {
            key_prefix: prefix.into(),
            ..config(&url, 200)
        };
        let list = Arc::new(RevocationList::new(clock.clone(), 10_000, 60));
        RevocationSync::start(&settings, "revocation", list, clock.clone()).unwrap()
    };
    let staging = deployment("staging:");
    let prod = deployment("prod:");
    let prod_peer = deployment("prod:");
    for sync in [&staging, &prod, &prod_peer] {
        assert!(sync.wait_synced(Duration::from_secs(5)).await);
    }
    staging
        .revoke(jti("staging-only", now + 3_600))
        .await
        .unwrap();
    prod.revoke(jti("prod-only", now + 3_600)).await.unwrap();
    // Each deployment's own instances still share (the prod peer learns it).
    assert!(
        eventually(Duration::from_secs(2), || prod_peer
            .local()
            .is_revoked(CredentialKind::Jti, "prod-only"))
        .await
    );
    // A few re-syncs later, nothing crossed over, locally or in the sets.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!prod.local().is_revoked(CredentialKind::Jti, "staging-only"));
    assert!(
        !prod_peer
            .local()
            .is_revoked(CredentialKind::Jti, "staging-only")
    );
    assert!(!staging.local().is_revoked(CredentialKind::Jti, "prod-only"));
    let in_prod: Option<String> = redis_cmd(
        &url,
        redis::cmd("ZSCORE")
            .arg("prod:revoked")
            .arg("jti:staging-only"),
    )
    .await;
    let in_staging: Option<String> = redis_cmd(
        &url,
        redis::cmd("ZSCORE")
            .arg("staging:revoked")
            .arg("jti:prod-only"),
    )
    .await;
    assert_eq!((in_prod, in_staging), (None, None));
    drop((staging, prod, prod_peer));
    redis.kill();
}
