//! The phase-wide prefilter scan of a request value, remembered across
//! transactions.
//!
//! [`super::eval`]'s `fact_hits` scans every value of every variable the
//! fact-only links read, under every transformation chain they apply: on the
//! benchmark's GET that was ~40% of the engine's instructions, almost all of
//! it on values every request repeats (`User-Agent`, `Accept`, the host, a
//! client's bearer token, the path). What a value adds to the scan is a pure
//! function of the ruleset's prefilter, the coverage entry it is collected
//! for, its variable group and its bytes, so the ruleset keeps it: a short
//! list of (row word, bits) pairs, ORed into the transaction's rows on the
//! next sight of the same value.
//!
//! Bounded: values longer than [`VALUE_LIMIT`] are not kept, and entries live
//! in two generations of at most [`GENERATION_BYTES`] each: when the current
//! one is full it becomes the previous one (the older is dropped), and an
//! entry found in the previous generation moves back to the current one. So
//! a flood of distinct values costs only their scan (what every value cost
//! before) plus a copy, and does not evict the values legitimate traffic
//! keeps sending (each is found again within a generation). `try_lock`
//! only: a transaction never waits for another one; on contention it scans.

use std::collections::HashMap;
use std::sync::Mutex;

/// One value's contribution: (index of a word in the transaction's rows,
/// the bits it sets there), non-zero words only.
pub(crate) type Contribution = Box<[(u32, u64)]>;

/// Adds the non-zero words of `row` (which starts at word `start` of the
/// rows a contribution applies to) to `contribution`; false when an index
/// does not fit (the caller then remembers nothing: an incomplete entry
/// would skip rules).
pub(crate) fn add_row(contribution: &mut Vec<(u32, u64)>, start: usize, row: &[u64]) -> bool {
    for (w, &bits) in row.iter().enumerate() {
        if bits == 0 {
            continue;
        }
        match u32::try_from(start + w) {
            Ok(at) => contribution.push((at, bits)),
            Err(_) => return false,
        }
    }
    true
}

/// Longest value remembered.
const VALUE_LIMIT: usize = 4096;
/// Bytes (keys, contributions and a per-entry overhead) of one generation;
/// the memo holds at most two.
const GENERATION_BYTES: usize = 2 << 20;
/// Bookkeeping counted per entry on top of its bytes.
const ENTRY_OVERHEAD: usize = 64;

/// See the module docs. One per prefilter coverage: emptied whenever the
/// coverage it describes is recomputed.
#[derive(Debug, Default)]
pub(crate) struct ScanMemo {
    inner: Mutex<Table>,
}

/// Keyed by (kind, coverage entry or node, group, value): see [`key_head`].
type Map = HashMap<Box<[u8]>, Contribution, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
struct Table {
    current: Map,
    /// Bytes of `current`.
    bytes: usize,
    previous: Map,
}

/// What an entry counts for.
fn entry_size(key: &[u8], contribution: &[(u32, u64)]) -> usize {
    key.len() + contribution.len() * 16 + ENTRY_OVERHEAD
}

impl Table {
    fn insert(&mut self, key: Box<[u8]>, contribution: Contribution) {
        let size = entry_size(&key, &contribution);
        if self.bytes + size > GENERATION_BYTES {
            self.previous = std::mem::take(&mut self.current);
            self.bytes = 0;
        }
        if self.current.insert(key, contribution).is_none() {
            self.bytes += size;
        }
    }
}

/// The kinds of remembered scans (the first byte of a key).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// What a value adds to the phase-wide scan of one coverage entry
    /// (`which`: the entry's index).
    Coverage = 0,
    /// The scan of a value after one chain node (`which`: the node), as a
    /// bitset of `Prefilter::words` words.
    Node = 1,
}

/// The key head of a value: kind, `which` and group.
fn key_head(kind: Kind, which: usize, group: usize) -> Option<[u8; 4]> {
    let w = u16::try_from(which).ok()?.to_le_bytes();
    Some([kind as u8, w[0], w[1], u8::try_from(group).ok()?])
}

impl ScanMemo {
    /// Whether values of this length are remembered (longer ones are
    /// scanned every time, without the cost of a key).
    pub(crate) fn keeps(value: &[u8]) -> bool {
        value.len() <= VALUE_LIMIT
    }

    /// Builds the lookup key into `key` (reused between calls); false when
    /// the value is not remembered.
    pub(crate) fn key(
        key: &mut Vec<u8>,
        kind: Kind,
        which: usize,
        group: usize,
        value: &[u8],
    ) -> bool {
        let Some(head) = key_head(kind, which, group).filter(|_| Self::keeps(value)) else {
            return false;
        };
        key.clear();
        key.extend_from_slice(&head);
        key.extend_from_slice(value);
        true
    }

    /// ORs the remembered contribution of `key` into `rows`; false when it is
    /// not known (or the table is busy).
    pub(crate) fn apply(&self, key: &[u8], rows: &mut [u64]) -> bool {
        let Ok(mut table) = self.inner.try_lock() else {
            return false;
        };
        let or_into = |contribution: &[(u32, u64)], rows: &mut [u64]| {
            for &(at, bits) in contribution {
                if let Some(w) = rows.get_mut(at as usize) {
                    *w |= bits;
                }
            }
        };
        if let Some(contribution) = table.current.get(key) {
            or_into(contribution, rows);
            return true;
        }
        // Found in the previous generation: back into the current one.
        let Some((key, contribution)) = table.previous.remove_entry(key) else {
            return false;
        };
        or_into(&contribution, rows);
        table.insert(key, contribution);
        true
    }

    /// Remembers `contribution` for `key`.
    pub(crate) fn remember(&self, key: &[u8], contribution: Contribution) {
        if let Ok(mut table) = self.inner.try_lock() {
            table.insert(key.into(), contribution);
        }
    }

    /// Forgets everything (the coverage changed).
    pub(crate) fn clear(&self) {
        if let Ok(mut table) = self.inner.lock() {
            *table = Table::default();
        }
    }

    /// Entries held (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner
            .lock()
            .map_or(0, |t| t.current.len() + t.previous.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_contribution_is_ored_into_the_rows() {
        let memo = ScanMemo::default();
        let mut key = Vec::new();
        assert!(ScanMemo::key(
            &mut key,
            Kind::Coverage,
            3,
            1,
            b"application/json"
        ));
        let mut rows = vec![0u64; 4];
        assert!(!memo.apply(&key, &mut rows));
        memo.remember(&key, vec![(1, 0b100), (3, 1 << 63)].into());
        rows[1] = 1;
        assert!(memo.apply(&key, &mut rows));
        assert_eq!(rows, vec![0, 0b101, 0, 1 << 63]);
    }

    #[test]
    fn the_key_tells_coverage_entries_and_groups_apart() {
        let memo = ScanMemo::default();
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        assert!(ScanMemo::key(&mut a, Kind::Coverage, 0, 1, b"x"));
        assert!(ScanMemo::key(&mut b, Kind::Coverage, 1, 1, b"x"));
        assert!(ScanMemo::key(&mut c, Kind::Coverage, 0, 2, b"x"));
        let mut d = Vec::new();
        assert!(ScanMemo::key(&mut d, Kind::Node, 0, 1, b"x"));
        memo.remember(&a, vec![(0, 1)].into());
        let mut rows = vec![0u64; 1];
        assert!(!memo.apply(&b, &mut rows));
        assert!(!memo.apply(&c, &mut rows));
        assert!(!memo.apply(&d, &mut rows));
        assert_eq!(rows, vec![0]);
    }

    #[test]
    fn keys_that_do_not_fit_are_not_built() {
        let mut key = Vec::new();
        assert!(!ScanMemo::key(&mut key, Kind::Node, 1 << 16, 0, b"x"));
        assert!(!ScanMemo::key(&mut key, Kind::Node, 0, 256, b"x"));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        assert!(ScanMemo::key(&mut a, Kind::Node, 256, 0, b"x"));
        assert!(ScanMemo::key(&mut b, Kind::Node, 1, 0, b"x"));
        assert_ne!(a, b);
    }

    #[test]
    fn after_the_table_starts_over_new_entries_are_found() {
        let memo = ScanMemo::default();
        let mut key = Vec::new();
        let value = vec![b'v'; VALUE_LIMIT - 8];
        let inserted = 2 * GENERATION_BYTES / VALUE_LIMIT + 10;
        for i in 0..inserted {
            let mut v = value.clone();
            v.extend_from_slice(&(i as u64).to_le_bytes());
            assert!(ScanMemo::key(&mut key, Kind::Coverage, 0, 0, &v));
            memo.remember(&key, vec![(0, i as u64 + 1)].into());
        }
        assert!(memo.len() < inserted);
        // The last one went in after the clear.
        let mut rows = vec![0u64; 1];
        assert!(memo.apply(&key, &mut rows));
        assert_eq!(rows, vec![inserted as u64]);
    }

    #[test]
    fn a_value_still_in_use_survives_a_flood_of_distinct_values() {
        let memo = ScanMemo::default();
        let mut hot = Vec::new();
        assert!(ScanMemo::key(&mut hot, Kind::Node, 0, 1, b"Mozilla/5.0"));
        memo.remember(&hot, vec![(0, 7)].into());
        let mut key = Vec::new();
        let value = vec![b'x'; 1000];
        // Several generations of attacker values, the hot value looked up
        // now and then (as legitimate traffic does).
        for i in 0..(8 * GENERATION_BYTES / 1000) {
            let mut v = value.clone();
            v.extend_from_slice(&(i as u64).to_le_bytes());
            assert!(ScanMemo::key(&mut key, Kind::Node, 0, 1, &v));
            memo.remember(&key, vec![(0, 1)].into());
            if i % 500 == 0 {
                let mut rows = [0u64];
                assert!(memo.apply(&hot, &mut rows), "lost after {i} values");
                assert_eq!(rows, [7]);
            }
        }
        assert!(memo.len() * 1000 <= 2 * GENERATION_BYTES);
    }

    #[test]
    fn long_values_are_not_remembered_and_the_table_is_bounded() {
        let mut key = Vec::new();
        assert!(!ScanMemo::key(
            &mut key,
            Kind::Coverage,
            0,
            0,
            &vec![b'a'; VALUE_LIMIT + 1]
        ));
        let memo = ScanMemo::default();
        let value = vec![b'v'; VALUE_LIMIT - 8];
        for i in 0..(2 * GENERATION_BYTES / VALUE_LIMIT + 10) {
            let mut v = value.clone();
            v.extend_from_slice(&(i as u64).to_le_bytes());
            assert!(ScanMemo::key(&mut key, Kind::Coverage, 0, 0, &v));
            memo.remember(&key, vec![(0, 1)].into());
        }
        assert!(memo.len() * VALUE_LIMIT <= 2 * GENERATION_BYTES);
        assert!(memo.len() > 0);
        memo.clear();
        assert_eq!(memo.len(), 0);
    }
}
