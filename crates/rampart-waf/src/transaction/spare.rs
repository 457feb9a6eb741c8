//! Buffers a finished transaction leaves to the next one on its thread.
//!
//! A transaction's scratch vectors (the transformation cache, the phase-wide
//! scan rows, match records, candidate and hit buffers) grow to the same
//! sizes on every request; handing them on, emptied, saves their ~20
//! allocations and regrowths per request. Only capacity is handed on: every
//! vector is cleared before it is kept, so nothing of one request is visible
//! to the next, and buffers a large request grew past [`KEEP_BYTES`] are
//! freed instead of kept.

use std::cell::RefCell;

use super::MatchRec;
use super::cache::ValueCache;
use super::collect::Candidate;
use super::eval::Hit;

/// Larger buffers (a huge request's) are not kept for the next one.
const KEEP_BYTES: usize = 256 * 1024;

/// The reusable buffers of one transaction, all empty.
#[derive(Debug, Default)]
pub(crate) struct Spare {
    pub cache: ValueCache,
    pub fact_hits: Vec<u64>,
    pub matches: Vec<MatchRec>,
    pub scratch: Vec<Candidate<'static>>,
    pub hits: Vec<Hit>,
}

thread_local! {
    static SPARE: RefCell<Option<Spare>> = const { RefCell::new(None) };
}

/// The buffers the last transaction on this thread left (empty ones if none).
pub(crate) fn take() -> Spare {
    SPARE
        .try_with(|spare| spare.try_borrow_mut().ok().and_then(|mut s| s.take()))
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Keeps `spare`'s buffers, emptied, for the next transaction on this thread.
pub(crate) fn give(mut spare: Spare) {
    // Destructured: a field added later fails to compile until it is emptied.
    let Spare {
        cache,
        fact_hits,
        matches,
        scratch,
        hits,
    } = &mut spare;
    cache.clear();
    fact_hits.clear();
    matches.clear();
    scratch.clear();
    hits.clear();
    if cache.capacity_bytes() > KEEP_BYTES
        || bytes(fact_hits) > KEEP_BYTES
        || bytes(matches) > KEEP_BYTES
        || bytes(scratch) > KEEP_BYTES
        || bytes(hits) > KEEP_BYTES
    {
        return;
    }
    // Fails only while the thread is being torn down: then they are freed.
    let _ = SPARE.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Some(spare);
        }
    });
}

/// Bytes of capacity `v` holds.
pub(super) fn bytes<T>(v: &Vec<T>) -> usize {
    v.capacity().saturating_mul(std::mem::size_of::<T>())
}
