//! Persistent collections (`initcol:ip=%{remote_addr}`, `initcol:global=global`):
//! records that outlive a transaction, kept in memory per engine instance
//! (one store per loaded [`crate::Ruleset`]; a reload starts empty).
//!
//! Memory is bounded: at most [`StoreLimits::max_records`] records (the least
//! recently used one is evicted to make room, so a flood of distinct client
//! addresses cannot grow the store), records idle longer than their timeout
//! (`SecCollectionTimeout`, default 3600 s) are dropped, and keys, values and
//! variables per record are capped. Time comes from an injected [`Clock`].
//!
//! Every write goes straight to the store under its lock, so concurrent
//! transactions incrementing the same counter (`setvar:ip.x=+1`) never lose
//! an update.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::clock::Clock;

/// Bounds of a [`CollectionStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Records (collection + key) held at most.
    pub max_records: usize,
    /// Variables per record.
    pub max_vars: usize,
    /// Longest record key or variable name, in bytes (longer ones are cut).
    pub max_key_len: usize,
    /// Longest stored value, in bytes (longer ones are cut).
    pub max_value_len: usize,
    /// Seconds a record may stay unused before it is dropped.
    pub idle_timeout_secs: i64,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_records: 10_000,
            max_vars: 64,
            max_key_len: 256,
            max_value_len: 1024,
            idle_timeout_secs: 3600,
        }
    }
}

/// A change to one variable of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `setvar:col.name=value`.
    Set(Vec<u8>),
    /// `setvar:col.name=+n` / `=-n` (negative `n`).
    Add(i64),
    /// `setvar:!col.name`.
    Delete,
    /// `expirevar:col.name=secs`.
    Expire(i64),
    /// `deprecatevar:col.name=amount/secs`: lower a number by `amount` for
    /// every `secs` elapsed since the record was last written.
    Deprecate {
        /// Decrease per period.
        amount: i64,
        /// Period in seconds.
        period: i64,
    },
}

#[derive(Debug, Clone)]
struct Stored {
    value: Vec<u8>,
    /// Unix seconds after which the variable is gone.
    expires: Option<i64>,
}

#[derive(Debug)]
struct Record {
    vars: BTreeMap<Vec<u8>, Stored>,
    created: i64,
    updated: i64,
    update_counter: u64,
    /// Position in the LRU index.
    lru: (i64, u64),
}

type RecordKey = (String, Vec<u8>);

#[derive(Debug, Default)]
struct Inner {
    /// Keys are client-chosen (address, `User-Agent` hash): a randomly
    /// seeded hash, cheaper than SipHash for these ~40-byte keys.
    records: HashMap<RecordKey, Record, foldhash::fast::RandomState>,
    /// (last use in µs, sequence) -> record: oldest first.
    lru: BTreeMap<(i64, u64), RecordKey>,
    seq: u64,
}

/// ModSecurity's built-in variables of a record.
const BUILTINS: [&[u8]; 6] = [
    b"key",
    b"is_new",
    b"create_time",
    b"last_update_time",
    b"timeout",
    b"update_counter",
];

/// A record as `initcol` bound it: its key (cut to the limit) and what its
/// built-in variables say at that moment.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    key: Vec<u8>,
    is_new: bool,
    created: i64,
    updated: i64,
    update_counter: u64,
    /// Unix seconds at binding: variables expired by then are not read.
    now: i64,
}

/// The persistent collections of one engine instance.
#[derive(Debug)]
pub struct CollectionStore {
    inner: Mutex<Inner>,
    limits: StoreLimits,
    clock: Arc<dyn Clock>,
}

fn cut(mut v: Vec<u8>, max: usize) -> Vec<u8> {
    v.truncate(max);
    v
}

fn atoi(v: &[u8]) -> i64 {
    crate::operators::atoi_bytes(v)
}

impl CollectionStore {
    /// An empty store.
    pub fn new(limits: StoreLimits, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            limits,
            clock,
        }
    }

    /// The bounds in force.
    pub fn limits(&self) -> StoreLimits {
        self.limits
    }

    /// The clock the store reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The record under `rk`, created (after making room) when missing, and
    /// moved to the most recently used end; `true` when it was created.
    fn touch<'a>(
        &self,
        inner: &'a mut Inner,
        rk: RecordKey,
        now: i64,
        now_us: i64,
    ) -> (&'a mut Record, bool) {
        let is_new = !inner.records.contains_key(&rk);
        if is_new {
            self.make_room(inner);
        }
        inner.seq += 1;
        let pos = (now_us, inner.seq);
        let rec = inner.records.entry(rk.clone()).or_insert_with(|| Record {
            vars: BTreeMap::new(),
            created: now,
            updated: now,
            update_counter: 0,
            lru: pos,
        });
        inner.lru.remove(&rec.lru);
        rec.lru = pos;
        inner.lru.insert(pos, rk);
        (rec, is_new)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a
        // way that matters more than losing counters, so a poisoned lock is reused.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens (creating if needed) the record `collection`/`key` and returns its
    /// live variables, lower-case names, including ModSecurity's built-ins
    /// (`KEY`, `IS_NEW`, `CREATE_TIME`, `LAST_UPDATE_TIME`, `TIMEOUT`,
    /// `UPDATE_COUNTER`).
    pub fn open(&self, collection: &str, key: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let bound = self.bind(collection, key);
        let mut out = self.vars_of(collection, &bound);
        out.extend(self.builtins(&bound));
        out
    }

    /// The first half of [`Self::open`]: creates or touches the record (what
    /// decides `IS_NEW` and its place in the LRU order) and drops its expired
    /// variables, without copying anything. `initcol` binds with this and
    /// reads the variables ([`Self::vars_of`]) only when a rule first uses
    /// the collection.
    pub(crate) fn bind(&self, collection: &str, key: &[u8]) -> Bound {
        let now_us = crate::clock::now_micros(self.clock.as_ref());
        let now = now_us.div_euclid(1_000_000);
        let key = cut(key.to_vec(), self.limits.max_key_len);
        let mut g = self.lock();
        let inner = &mut *g;
        self.sweep(inner, now_us);
        let (rec, is_new) = self.touch(inner, (collection.to_string(), key.clone()), now, now_us);
        rec.vars.retain(|_, s| s.expires.is_none_or(|e| e > now));
        Bound {
            key,
            is_new,
            created: rec.created,
            updated: rec.updated,
            update_counter: rec.update_counter,
            now,
        }
    }

    /// The variables of a bound record that were live when it was bound
    /// (none if it was evicted since).
    pub(crate) fn vars_of(&self, collection: &str, bound: &Bound) -> Vec<(Vec<u8>, Vec<u8>)> {
        let g = self.lock();
        let Some(rec) = g.records.get(&(collection.to_string(), bound.key.clone())) else {
            return Vec::new();
        };
        rec.vars
            .iter()
            .filter(|(_, s)| s.expires.is_none_or(|e| e > bound.now))
            .map(|(k, s)| (k.clone(), s.value.clone()))
            .collect()
    }

    /// One variable of a bound record (a built-in, or one live when it was
    /// bound), as [`Self::vars_of`] and [`Self::builtins`] would give it.
    pub(crate) fn value_of(&self, collection: &str, bound: &Bound, name: &[u8]) -> Option<Vec<u8>> {
        if BUILTINS.contains(&name) {
            return self.builtin(bound, name);
        }
        let g = self.lock();
        g.records
            .get(&(collection.to_string(), bound.key.clone()))?
            .vars
            .get(name)
            .filter(|s| s.expires.is_none_or(|e| e > bound.now))
            .map(|s| s.value.clone())
    }

    /// The built-in variables of a bound record, as of its binding.
    pub(crate) fn builtins(&self, bound: &Bound) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> {
        BUILTINS
            .iter()
            .filter_map(|n| Some((n.to_vec(), self.builtin(bound, n)?)))
    }

    /// One built-in variable of a bound record.
    fn builtin(&self, bound: &Bound, name: &[u8]) -> Option<Vec<u8>> {
        let num = |n: i64| n.to_string().into_bytes();
        Some(match name {
            b"key" => bound.key.clone(),
            b"is_new" => num(i64::from(bound.is_new)),
            b"create_time" => num(bound.created),
            b"last_update_time" => num(bound.updated),
            b"timeout" => num(self.limits.idle_timeout_secs),
            b"update_counter" => num(i64::try_from(bound.update_counter).unwrap_or(i64::MAX)),
            _ => return None,
        })
    }

    /// Applies a change to variable `name` of an opened record and returns
    /// the variable's value afterwards (`None`: it is gone). A record that was
    /// evicted meanwhile is recreated.
    pub fn apply(
        &self,
        collection: &str,
        key: &[u8],
        name: &[u8],
        change: Change,
    ) -> Option<Vec<u8>> {
        let now_us = crate::clock::now_micros(self.clock.as_ref());
        let now = now_us.div_euclid(1_000_000);
        let key = cut(key.to_vec(), self.limits.max_key_len);
        let name = cut(name.to_ascii_lowercase(), self.limits.max_key_len);
        let mut g = self.lock();
        let inner = &mut *g;
        let (rec, _) = self.touch(inner, (collection.to_string(), key), now, now_us);
        let live = rec
            .vars
            .get(&name)
            .filter(|s| s.expires.is_none_or(|e| e > now))
            .cloned();
        let last_update = rec.updated;
        let result = match change {
            Change::Delete => {
                rec.vars.remove(&name);
                None
            }
            Change::Set(v) => Some(Stored {
                value: cut(v, self.limits.max_value_len),
                expires: None,
            }),
            Change::Add(n) => {
                let current = live.as_ref().map_or(0, |s| atoi(&s.value));
                Some(Stored {
                    value: current.saturating_add(n).to_string().into_bytes(),
                    expires: live.and_then(|s| s.expires),
                })
            }
            Change::Expire(secs) => live.map(|s| Stored {
                expires: Some(now.saturating_add(secs.max(0))),
                ..s
            }),
            Change::Deprecate { amount, period } => live.map(|s| {
                let periods = now.saturating_sub(last_update).max(0) / period.max(1);
                let value = atoi(&s.value)
                    .saturating_sub(amount.saturating_mul(periods))
                    .max(0);
                Stored {
                    value: value.to_string().into_bytes(),
                    ..s
                }
            }),
        };
        let Some(stored) = result else {
            rec.vars.remove(&name);
            return None;
        };
        if !rec.vars.contains_key(&name) && rec.vars.len() >= self.limits.max_vars {
            tracing::debug!(collection, "persistent record full; variable not stored");
            return Some(stored.value);
        }
        let value = stored.value.clone();
        rec.vars.insert(name, stored);
        rec.updated = now;
        rec.update_counter = rec.update_counter.saturating_add(1);
        Some(value)
    }

    /// Drops records idle past the timeout (oldest first, so this stops at the
    /// first live one).
    fn sweep(&self, inner: &mut Inner, now_us: i64) {
        let idle_us = self.limits.idle_timeout_secs.saturating_mul(1_000_000);
        while let Some((&(last, seq), _)) = inner.lru.first_key_value() {
            if last.saturating_add(idle_us) > now_us {
                break;
            }
            if let Some(rk) = inner.lru.remove(&(last, seq)) {
                inner.records.remove(&rk);
            }
        }
    }

    /// Evicts least recently used records until one more fits.
    fn make_room(&self, inner: &mut Inner) {
        while inner.records.len() >= self.limits.max_records.max(1) {
            let Some((_, rk)) = inner.lru.pop_first() else {
                break;
            };
            inner.records.remove(&rk);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::clock::ManualClock;

    fn store(max_records: usize) -> (CollectionStore, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::at_secs(1_000_000));
        let limits = StoreLimits {
            max_records,
            ..StoreLimits::default()
        };
        (CollectionStore::new(limits, clock.clone()), clock)
    }

    fn get(vars: &[(Vec<u8>, Vec<u8>)], name: &str) -> Option<String> {
        vars.iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    #[test]
    fn counters_persist_across_opens_and_expire() {
        let (s, clock) = store(10);
        let first = s.open("ip", b"192.0.2.1");
        assert_eq!(get(&first, "is_new").as_deref(), Some("1"));
        for _ in 0..3 {
            s.apply("ip", b"192.0.2.1", b"hits", Change::Add(1));
        }
        s.apply("ip", b"192.0.2.1", b"HITS", Change::Expire(60));
        let again = s.open("ip", b"192.0.2.1");
        assert_eq!(get(&again, "hits").as_deref(), Some("3"));
        assert_eq!(get(&again, "is_new").as_deref(), Some("0"));
        assert_eq!(get(&again, "update_counter").as_deref(), Some("4"));
        clock.advance(Duration::from_secs(59));
        assert_eq!(
            get(&s.open("ip", b"192.0.2.1"), "hits").as_deref(),
            Some("3")
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(get(&s.open("ip", b"192.0.2.1"), "hits"), None);
        // An increment after expiry starts from zero.
        assert_eq!(
            s.apply("ip", b"192.0.2.1", b"hits", Change::Add(1)),
            Some(b"1".to_vec())
        );
    }

    #[test]
    fn concurrent_increments_are_not_lost() {
        let (s, _clock) = store(10);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..250 {
                        s.apply("global", b"global", b"requests", Change::Add(1));
                    }
                });
            }
        });
        assert_eq!(
            get(&s.open("global", b"global"), "requests").as_deref(),
            Some("1000")
        );
    }

    #[test]
    fn expiry_survives_increments_and_set_clears_it() {
        let (s, clock) = store(10);
        s.apply("ip", b"a", b"n", Change::Set(b"5".to_vec()));
        s.apply("ip", b"a", b"n", Change::Expire(10));
        s.apply("ip", b"a", b"n", Change::Add(1));
        clock.advance(Duration::from_secs(10));
        assert_eq!(get(&s.open("ip", b"a"), "n"), None);
        s.apply("ip", b"a", b"n", Change::Set(b"5".to_vec()));
        clock.advance(Duration::from_secs(100));
        assert_eq!(get(&s.open("ip", b"a"), "n").as_deref(), Some("5"));
        // Expiring a missing variable creates nothing.
        assert_eq!(s.apply("ip", b"a", b"none", Change::Expire(5)), None);
    }

    #[test]
    fn deprecate_lowers_by_elapsed_periods() {
        let (s, clock) = store(10);
        s.apply("ip", b"a", b"score", Change::Set(b"100".to_vec()));
        clock.advance(Duration::from_secs(650));
        let v = s.apply(
            "ip",
            b"a",
            b"score",
            Change::Deprecate {
                amount: 30,
                period: 300,
            },
        );
        assert_eq!(v, Some(b"40".to_vec()));
        clock.advance(Duration::from_secs(3000));
        let v = s.apply(
            "ip",
            b"a",
            b"score",
            Change::Deprecate {
                amount: 30,
                period: 300,
            },
        );
        assert_eq!(v, Some(b"0".to_vec()), "never below zero");
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_bounded() {
        let (s, _clock) = store(100);
        for i in 0..10_000u32 {
            let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            s.open("ip", ip.as_bytes());
            s.apply("ip", ip.as_bytes(), b"hits", Change::Add(1));
            assert!(s.len() <= 100);
        }
        assert_eq!(s.len(), 100);
        // The most recent keys survived, the first ones were evicted.
        assert_eq!(
            get(&s.open("ip", b"10.0.39.15"), "hits").as_deref(),
            Some("1")
        );
        assert_eq!(
            get(&s.open("ip", b"10.0.0.0"), "is_new").as_deref(),
            Some("1")
        );
    }

    #[test]
    fn idle_records_are_dropped_and_sizes_capped() {
        let (s, clock) = store(100);
        s.apply("ip", b"old", b"x", Change::Set(b"1".to_vec()));
        clock.advance(Duration::from_secs(3599));
        s.open("ip", b"new");
        assert_eq!(s.len(), 2);
        clock.advance(Duration::from_secs(1));
        s.open("ip", b"new");
        assert_eq!(s.len(), 1, "the idle record went away");
        let long = vec![b'v'; 10_000];
        let v = s
            .apply("ip", &long, &long, Change::Set(long.clone()))
            .unwrap();
        assert_eq!(v.len(), s.limits().max_value_len);
        for i in 0..200 {
            s.apply("ip", b"many", format!("v{i}").as_bytes(), Change::Add(1));
        }
        let vars = s.open("ip", b"many");
        assert!(vars.len() <= s.limits().max_vars + 6);
    }
}
