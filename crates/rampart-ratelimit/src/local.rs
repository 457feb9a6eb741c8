//! The in-process counter store (the default backend, one gateway instance).
//!
//! State is split over a power-of-two number of shards, each a `parking_lot` mutex
//! around a hash map from a 64-bit keyed hash of the key to its [`Slot`]; a request
//! locks only the shards its keys fall in, in ascending order (so two requests never
//! deadlock), evaluates every op, and writes only when all passed.
//!
//! Memory is bounded: each shard holds at most `max_keys / shards` slots. When a
//! shard is full, slots that are idle (a GCRA key fully replenished, a quota window
//! that ended: indistinguishable from absent) are swept; if that frees too little,
//! the slots closest to idle are evicted, a bounded loss that can only make a limit
//! more lenient for the keys least constrained. A flood of distinct client IPs thus
//! costs at most `max_keys` slots, however many addresses it uses.
//!
//! Keys are stored as a SipHash of the key with a per-process random seed (8 bytes,
//! plus a 16-byte slot: about 57 bytes per key with the map's overhead, measured by
//! the `local_check` bench), and a client cannot craft two keys that share a slot.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard};

use crate::gcra::Slot;
use crate::store::{CounterStore, Op, Outcome, StoreReply};

/// Default bound on tracked keys.
pub const DEFAULT_MAX_KEYS: usize = 1 << 20;
/// Default shard count.
pub const DEFAULT_SHARDS: usize = 64;

/// The keys are already uniformly distributed hashes: hash them again as themselves.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; fold anything else rather than panic.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type SlotMap = HashMap<u64, Slot, BuildHasherDefault<PassThrough>>;

/// Sharded, bounded, in-memory [`CounterStore`].
#[derive(Debug)]
pub struct LocalStore {
    shards: Box<[Mutex<SlotMap>]>,
    shard_mask: u64,
    per_shard: usize,
    seed: RandomState,
    evicted: AtomicU64,
}

impl Default for LocalStore {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_KEYS, DEFAULT_SHARDS)
    }
}

impl LocalStore {
    /// A store tracking at most about `max_keys` keys over `shards` shards (rounded
    /// up to a power of two; at least 1, each shard at least 8 slots).
    pub fn new(max_keys: usize, shards: usize) -> Self {
        let shards = shards.clamp(1, 1 << 16).next_power_of_two();
        let per_shard = (max_keys / shards).max(8);
        let shards_vec: Vec<Mutex<SlotMap>> = (0..shards)
            .map(|_| Mutex::new(SlotMap::default()))
            .collect();
        Self {
            shards: shards_vec.into_boxed_slice(),
            shard_mask: (shards as u64) - 1,
            per_shard,
            seed: RandomState::new(),
            evicted: AtomicU64::new(0),
        }
    }

    /// Keys currently tracked (all shards; takes every lock, for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys this store will hold.
    pub fn capacity(&self) -> usize {
        self.per_shard * self.shards.len()
    }

    /// Slots evicted before they were idle, since start (a sign `max_keys` is low).
    pub fn evicted_busy(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    fn shard_of(&self, hash: u64) -> usize {
        // The low bits pick the hash-map bucket; use the high bits for the shard.
        usize::try_from((hash >> 40) & self.shard_mask).unwrap_or(0)
    }

    /// Evaluates and (when all pass) applies a batch; synchronous.
    pub fn apply_now(&self, now: u64, ops: &[Op]) -> Vec<Outcome> {
        struct Item {
            hash: u64,
            shard: usize,
            next: Option<Slot>,
        }
        let mut items: Vec<Item> = ops
            .iter()
            .map(|op| {
                let hash = self.seed.hash_one(&op.key);
                Item {
                    hash,
                    shard: self.shard_of(hash),
                    next: None,
                }
            })
            .collect();
        // Lock the distinct shards in ascending order (no two batches can wait on
        // each other); batches are small, so a repeated minimum beats sorting.
        let mut guards: Vec<(usize, MutexGuard<'_, SlotMap>)> = Vec::with_capacity(items.len());
        let mut last: Option<usize> = None;
        while let Some(idx) = items
            .iter()
            .map(|i| i.shard)
            .filter(|s| last.is_none_or(|l| *s > l))
            .min()
        {
            if let Some(shard) = self.shards.get(idx) {
                guards.push((idx, shard.lock()));
            }
            last = Some(idx);
        }
        let stored_of = |item: &Item, guards: &[(usize, MutexGuard<'_, SlotMap>)]| {
            guards
                .iter()
                .find(|(i, _)| *i == item.shard)
                .and_then(|(_, g)| g.get(&item.hash).copied())
        };
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut all_allowed = true;
        for (n, op) in ops.iter().enumerate() {
            let Some((before, rest)) = items.split_at_mut_checked(n) else {
                break;
            };
            let Some(item) = rest.first_mut() else {
                break;
            };
            // An earlier op of this batch on the same key: see its pending write.
            let stored = before
                .iter()
                .rev()
                .find(|b| b.hash == item.hash && b.next.is_some())
                .and_then(|b| b.next)
                .or_else(|| stored_of(item, &guards));
            let eval = op.eval(stored, now);
            all_allowed &= eval.allowed;
            item.next = eval.next;
            outcomes.push(Outcome::from(eval));
        }
        if !all_allowed {
            // Nothing is charged: report the allowed keys' current state.
            for ((op, item), out) in ops.iter().zip(&items).zip(outcomes.iter_mut()) {
                if out.allowed {
                    *out = Outcome::from(op.eval_cost(stored_of(item, &guards), now, 0));
                }
            }
            return outcomes;
        }
        for item in &items {
            let Some(slot) = item.next else { continue };
            if let Some((_, map)) = guards.iter_mut().find(|(i, _)| *i == item.shard) {
                if map.len() >= self.per_shard && !map.contains_key(&item.hash) {
                    self.make_room(map, now);
                }
                map.insert(item.hash, slot);
            }
        }
        outcomes
    }

    /// Gives back what `ops` charged (see [`CounterStore::refund`]); synchronous.
    pub fn refund_now(&self, now: u64, ops: &[Op]) {
        for op in ops {
            let hash = self.seed.hash_one(&op.key);
            let Some(shard) = self.shards.get(self.shard_of(hash)) else {
                continue;
            };
            let mut map = shard.lock();
            match crate::gcra::refund(map.get(&hash).copied(), now, op.algorithm, op.cost) {
                Some(slot) => {
                    map.insert(hash, slot);
                }
                None => {
                    map.remove(&hash);
                }
            }
        }
    }

    /// Frees at least an eighth of a full shard: idle slots first, then the slots
    /// nearest to idle. Amortised O(1) per insert.
    fn make_room(&self, map: &mut SlotMap, now: u64) {
        map.retain(|_, s| s.idle_at > now);
        let target = self.per_shard - self.per_shard / 8 - 1;
        if map.len() <= target {
            return;
        }
        let mut idle: Vec<u64> = map.values().map(|s| s.idle_at).collect();
        let excess = map.len() - target;
        let (_, cut, _) = idle.select_nth_unstable(excess - 1);
        let cut = *cut;
        let before = map.len();
        map.retain(|_, s| s.idle_at > cut);
        self.evicted
            .fetch_add((before - map.len()) as u64, Ordering::Relaxed);
    }
}

impl CounterStore for LocalStore {
    fn apply(&self, now_us: u64, ops: Vec<Op>) -> StoreReply<'_> {
        StoreReply::Ready(Ok(self.apply_now(now_us, &ops)))
    }

    fn refund(&self, now_us: u64, ops: Vec<Op>) -> StoreReply<'_> {
        self.refund_now(now_us, &ops);
        StoreReply::Ready(Ok(Vec::new()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::store::Algorithm;

    const SEC: u64 = 1_000_000;

    fn gcra(key: &str, per_sec: u64, burst: u64) -> Op {
        Op {
            key: key.into(),
            algorithm: Algorithm::Gcra {
                emission_us: SEC / per_sec,
                burst,
            },
            cost: 1,
        }
    }

    #[test]
    fn a_refused_op_consumes_nothing_from_the_others() {
        let store = LocalStore::new(1024, 4);
        let strict = gcra("strict", 1, 1);
        let lenient = gcra("lenient", 1, 3);
        let both = [lenient.clone(), strict.clone()];
        let first = store.apply_now(0, &both);
        assert!(first.iter().all(|o| o.allowed));
        assert_eq!(first[0].remaining, 2);
        // The strict limit refuses: the lenient one must not be charged.
        for _ in 0..10 {
            let out = store.apply_now(0, &both);
            assert!(out[0].allowed && !out[1].allowed);
        }
        let alone = store.apply_now(0, std::slice::from_ref(&lenient));
        assert!(alone[0].allowed);
        assert_eq!(
            alone[0].remaining, 1,
            "only the two served requests were charged"
        );
    }

    #[test]
    fn flood_of_distinct_keys_stays_bounded_and_keeps_busy_keys() {
        let store = LocalStore::new(4096, 8);
        let cap = store.capacity();
        // A key exhausted for an hour just before the flood (1 per hour, burst 1).
        let strict = Op {
            key: "consumer:victim".into(),
            algorithm: Algorithm::Gcra {
                emission_us: 3600 * SEC,
                burst: 1,
            },
            cost: 1,
        };
        assert!(store.apply_now(0, std::slice::from_ref(&strict))[0].allowed);
        // 200 000 distinct addresses, one request each, 10 µs apart, against 10/s.
        for i in 0..200_000u64 {
            store.apply_now(i * 10, &[gcra(&format!("ip:{i}"), 10, 5)]);
            if i % 1000 == 0 {
                assert!(store.len() <= cap, "{} > {cap}", store.len());
            }
        }
        assert!(store.len() <= cap, "{} > {cap}", store.len());
        // Eviction took the keys nearest to idle, not the exhausted one.
        assert!(!store.apply_now(2 * SEC, &[strict])[0].allowed);
    }

    #[test]
    fn flood_at_one_instant_evicts_but_stays_bounded() {
        let store = LocalStore::new(1024, 4);
        for i in 0..50_000u64 {
            store.apply_now(0, &[gcra(&format!("ip:{i}"), 1, 5)]);
        }
        assert!(store.len() <= store.capacity());
        assert!(store.evicted_busy() > 0);
    }

    #[test]
    fn a_refund_gives_back_one_charge_and_keeps_the_others() {
        let store = LocalStore::new(64, 1);
        let op = gcra("k", 1, 3);
        for _ in 0..3 {
            assert!(store.apply_now(0, std::slice::from_ref(&op))[0].allowed);
        }
        assert!(!store.apply_now(0, std::slice::from_ref(&op))[0].allowed);
        store.refund_now(0, std::slice::from_ref(&op));
        assert!(store.apply_now(0, std::slice::from_ref(&op))[0].allowed);
        assert!(!store.apply_now(0, std::slice::from_ref(&op))[0].allowed);
        // Everything given back: the slot goes.
        store.refund_now(0, &[op.clone(), op.clone(), op.clone()]);
        assert!(store.is_empty());
        // A refund of a key never charged changes nothing.
        store.refund_now(0, &[gcra("other", 1, 3)]);
        assert!(store.is_empty());
    }

    #[test]
    fn same_key_twice_in_a_batch_is_charged_twice() {
        let store = LocalStore::new(64, 1);
        let op = gcra("k", 1, 2);
        let out = store.apply_now(0, &[op.clone(), op.clone()]);
        assert!(out.iter().all(|o| o.allowed));
        assert!(!store.apply_now(0, &[op])[0].allowed);
    }
}
