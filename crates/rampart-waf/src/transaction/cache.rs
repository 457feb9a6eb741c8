//! Per-transaction caches keyed by (item id, transformation chain node):
//! transformed values and prefilter results. Item ids are dense, so the cache
//! is a vector indexed by id holding a short list per chain node: no hashing
//! on the hot path.

use std::ops::Deref;
use std::sync::Arc;

use super::data::{NAME_BIT, UNCACHED};
use crate::prefilter::Prefilter;
use crate::transformations::{ChainId, ChainTable};

/// Bytes of transformed values a transaction caches at most.
const CACHE_BYTES_LIMIT: usize = 32 << 20;
/// Item slots cached at most (ids beyond are computed without caching).
const SLOT_LIMIT: usize = 1 << 18;

/// A transformed value: borrowed, shared from the cache, or owned.
pub(crate) enum Tv<'v> {
    Borrowed(&'v [u8]),
    Shared(Arc<[u8]>),
    Owned(Vec<u8>),
}

impl Deref for Tv<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Tv::Borrowed(b) => b,
            Tv::Shared(a) => a,
            Tv::Owned(v) => v,
        }
    }
}

/// A cached transformed value.
#[derive(Debug, Clone)]
enum Cached {
    /// Equal to the untransformed value (nothing allocated).
    Original,
    /// Changed.
    Data(Arc<[u8]>),
}

#[derive(Debug)]
struct Entry {
    node: ChainId,
    value: Option<Cached>,
    bits: Option<Box<[u64]>>,
}

/// The caches of one transaction.
#[derive(Debug, Default)]
pub(crate) struct ValueCache {
    slots: Vec<Vec<Entry>>,
    bytes: usize,
}

fn slot_index(id: u32) -> Option<usize> {
    if id == UNCACHED {
        return None;
    }
    let i = ((id & !NAME_BIT) as usize) * 2 + usize::from(id & NAME_BIT != 0);
    (i < SLOT_LIMIT).then_some(i)
}

impl ValueCache {
    fn entry(&mut self, index: usize, node: ChainId) -> &mut Entry {
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, Vec::new);
        }
        let list = &mut self.slots[index];
        let pos = match list.iter().position(|e| e.node == node) {
            Some(p) => p,
            None => {
                list.push(Entry {
                    node,
                    value: None,
                    bits: None,
                });
                list.len() - 1
            }
        };
        &mut list[pos]
    }

    /// The value of item `id` after the chain ending at `node`.
    pub(crate) fn transformed<'v>(
        &mut self,
        chains: &ChainTable,
        id: u32,
        value: &'v [u8],
        node: ChainId,
    ) -> Tv<'v> {
        let Some((parent, t)) = chains.step(node) else {
            return Tv::Borrowed(value);
        };
        let Some(index) = slot_index(id) else {
            return Tv::Owned(chains.apply_uncached(node, value));
        };
        if let Some(hit) = self
            .slots
            .get(index)
            .and_then(|l| l.iter().find(|e| e.node == node))
            .and_then(|e| e.value.clone())
        {
            return match hit {
                Cached::Original => Tv::Borrowed(value),
                Cached::Data(a) => Tv::Shared(a),
            };
        }
        let base = self.transformed(chains, id, value, parent);
        let applied = t.apply(&base);
        // Transformations that changed nothing keep the parent's value.
        let (cached, tv) = if *applied == *base {
            drop(applied);
            match base {
                Tv::Borrowed(b) => (Cached::Original, Tv::Borrowed(b)),
                Tv::Shared(a) => (Cached::Data(a.clone()), Tv::Shared(a)),
                Tv::Owned(v) => {
                    let a: Arc<[u8]> = Arc::from(v);
                    (Cached::Data(a.clone()), Tv::Shared(a))
                }
            }
        } else {
            let a: Arc<[u8]> = Arc::from(applied.as_ref());
            (Cached::Data(a.clone()), Tv::Shared(a))
        };
        let size = match &cached {
            Cached::Original => 0,
            Cached::Data(a) => a.len(),
        };
        if self.bytes + size <= CACHE_BYTES_LIMIT {
            self.bytes += size;
            self.entry(index, node).value = Some(cached);
        }
        tv
    }

    /// Whether the prefilter lets rule `slot` run on this (transformed) value.
    pub(crate) fn allows(
        &mut self,
        p: &Prefilter,
        id: u32,
        node: ChainId,
        value: &[u8],
        slot: u32,
    ) -> bool {
        let Some(index) = slot_index(id) else {
            return Prefilter::allows(&p.scan(value), slot);
        };
        let entry = self.entry(index, node);
        let bits = entry.bits.get_or_insert_with(|| p.scan(value));
        Prefilter::allows(bits, slot)
    }
}
