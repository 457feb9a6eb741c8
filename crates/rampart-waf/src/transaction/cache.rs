//! Per-transaction caches keyed by (item id, transformation chain node):
//! transformed values and prefilter results.
//!
//! Item ids are dense, so each item owns a small table indexed by chain node
//! (no hashing, no search on the hot path) that points into an arena of
//! distinct values. Nodes whose transformation changed nothing point at their
//! parent's value, so a value is stored, and scanned by the prefilter, once
//! however many chains leave it unchanged (most values of most requests).
//!
//! Tables, prefilter scans and the derivation links live in a few flat
//! vectors rather than one allocation each: a transaction touches a few
//! dozen items, and each allocation (and its free when the transaction is
//! dropped) costs about as much as a table lookup costs in total.

use std::ops::Deref;
use std::sync::Arc;

use super::data::{NAME_BIT, UNCACHED};
use super::scan_memo::{self, Kind, ScanMemo};
use crate::prefilter::Prefilter;
use crate::transformations::{CASE_ONLY, ChainId, ChainTable, Transform, trigger_mask};

/// Bytes a transaction's caches hold at most (values, tables and bitsets).
const CACHE_BYTES_LIMIT: usize = 32 << 20;
/// Item slots cached at most (ids beyond are computed without caching).
const SLOT_LIMIT: usize = 1 << 18;

/// A transformed value: borrowed, shared from the cache, or owned.
#[derive(Debug)]
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

/// One distinct value of one item.
#[derive(Debug)]
struct Value {
    /// `None`: the untransformed value.
    data: Option<Arc<[u8]>>,
    /// Prefilter scan of the value, once computed: 1 + its start in
    /// [`ValueCache::scans`] (0: not computed).
    bits: u32,
    /// The value whose scan this one shares (itself, or the value it is a
    /// change of case of: the prefilter ignores ASCII case).
    bits_from: usize,
    /// Values already derived from this one by one transformation: chains
    /// that reach this value and then apply the same transformation share
    /// the result (and its scan). 1 + index of the first in
    /// [`ValueCache::derived`] (0: none yet).
    derived: u32,
}

/// One derivation: `value` is `transform` applied to the value that links
/// to it; `next` is 1 + the index of that value's next derivation (0: last).
#[derive(Debug, Clone, Copy)]
struct Derived {
    transform: Transform,
    value: u32,
    next: u32,
}

/// The caches of one transaction. Every field must be reset by
/// [`ValueCache::clear`]: a transaction's emptied cache is the next one's.
#[derive(Debug, Default)]
pub(crate) struct ValueCache {
    /// Per item slot: 1 + the start of its table in `cells` (0: none yet).
    tables: Vec<u32>,
    /// The tables, one after the other: per chain node, 1 + index into
    /// `values` (0: not known yet); the last cell holds the value's trigger
    /// mask (0: not known yet).
    cells: Vec<u32>,
    values: Vec<Value>,
    /// Every value's derivations, linked per value.
    derived: Vec<Derived>,
    /// Prefilter scans, `Prefilter::words` each.
    scans: Vec<u64>,
    bytes: usize,
    /// Key of the last lookup in the ruleset's scan memo
    /// ([`super::scan_memo`]).
    memo_key: Vec<u8>,
}

/// In a table cell: not a value, but 1 + the start in `scans` of the scan the
/// ruleset's memo gave for that node (the value itself was not computed).
const MEMO_SCAN: u32 = 1 << 31;

fn slot_index(id: u32) -> Option<usize> {
    if id == UNCACHED {
        return None;
    }
    let i = ((id & !NAME_BIT) as usize) * 2 + usize::from(id & NAME_BIT != 0);
    (i < SLOT_LIMIT).then_some(i)
}

impl ValueCache {
    /// Forgets every value, keeping the capacity (see `spare`).
    pub(crate) fn clear(&mut self) {
        // Destructured: a field added later fails to compile until it is reset.
        let ValueCache {
            tables,
            cells,
            values,
            derived,
            scans,
            bytes,
            memo_key,
        } = self;
        tables.clear();
        cells.clear();
        values.clear();
        derived.clear();
        scans.clear();
        *bytes = 0;
        memo_key.clear();
    }

    /// Bytes of capacity held (not counting the values' own buffers).
    pub(crate) fn capacity_bytes(&self) -> usize {
        use super::spare::bytes;
        bytes(&self.tables)
            + bytes(&self.cells)
            + bytes(&self.values)
            + bytes(&self.derived)
            + bytes(&self.scans)
            + bytes(&self.memo_key)
    }

    fn known(&self, index: usize, node: ChainId) -> Option<usize> {
        let v = self.cell(index, node)?;
        if v & MEMO_SCAN != 0 {
            return None;
        }
        (v as usize).checked_sub(1)
    }

    fn cell(&self, index: usize, node: ChainId) -> Option<u32> {
        let start = (*self.tables.get(index)? as usize).checked_sub(1)?;
        self.cells.get(start + node as usize).copied()
    }

    /// Where in `scans` the memo's scan of item slot `index` after `node`
    /// was copied, when that is all this transaction knows of that value.
    fn memo_scan(&self, index: usize, node: ChainId) -> Option<usize> {
        let v = self.cell(index, node)?;
        if v & MEMO_SCAN == 0 {
            return None;
        }
        ((v & !MEMO_SCAN) as usize).checked_sub(1)
    }

    /// Room for one more scan of `words` words, zeroed and counted: its
    /// start in `scans` and its mark (1 + start, below [`MEMO_SCAN`]);
    /// `None` when the cache is full.
    fn new_scan(&mut self, words: usize) -> Option<(usize, u32)> {
        let size = words * 8;
        let start = self.scans.len();
        let mark = u32::try_from(start + 1)
            .ok()
            .filter(|m| m & MEMO_SCAN == 0)?;
        if self.bytes + size > CACHE_BYTES_LIMIT {
            return None;
        }
        self.bytes += size;
        if self.scans.capacity() == 0 {
            self.scans.reserve(words * 32);
        }
        self.scans.resize(start + words, 0);
        Some((start, mark))
    }

    /// Gives back the last scan [`Self::new_scan`] made.
    fn drop_last_scan(&mut self, words: usize) {
        self.scans.truncate(self.scans.len().saturating_sub(words));
        self.bytes = self.bytes.saturating_sub(words * 8);
    }

    /// The table of item slot `index`, allocated on first use (`None` when
    /// the cache is full).
    fn table(&mut self, chains: &ChainTable, index: usize) -> Option<&mut [u32]> {
        let width = chains.len() + 1;
        if self.tables.len() <= index {
            // Item ids are dense: room for the request's items at once.
            self.tables.resize(index.max(63) + 1, 0);
        }
        let entry = self.tables.get_mut(index)?;
        if *entry == 0 {
            let size = width * 4;
            let start = self.cells.len();
            if self.bytes + size > CACHE_BYTES_LIMIT {
                return None;
            }
            *entry = u32::try_from(start + 1).ok()?;
            self.bytes += size;
            if self.cells.capacity() == 0 {
                self.cells.reserve(width * 32);
            }
            self.cells.resize(start + width, 0);
        }
        let start = (*entry as usize).checked_sub(1)?;
        self.cells.get_mut(start..start + width)
    }

    fn remember(&mut self, chains: &ChainTable, index: usize, node: ChainId, value: usize) {
        let mut memo_scan = None;
        if let Some(table) = self.table(chains, index)
            && let (Some(cell), Ok(v)) = (table.get_mut(node as usize), u32::try_from(value + 1))
        {
            if *cell & MEMO_SCAN != 0 {
                memo_scan = Some(*cell & !MEMO_SCAN);
            }
            *cell = v;
        }
        // The node's scan came from the memo: it is now the value's.
        if let Some(mark) = memo_scan {
            self.attach_scan(value, mark);
        }
    }

    /// Makes `mark` (1 + a start in `scans`) the scan of `value`, unless
    /// the value already has one.
    fn attach_scan(&mut self, value: usize, mark: u32) {
        let Some(src) = self.values.get(value).map(|v| v.bits_from) else {
            return;
        };
        if let Some(v) = self.values.get_mut(src)
            && v.bits == 0
        {
            v.bits = mark;
        }
    }

    /// The trigger mask of item `id`'s untransformed `value` (see
    /// [`trigger_mask`]).
    pub(crate) fn mask(&mut self, chains: &ChainTable, id: u32, value: &[u8]) -> u32 {
        match slot_index(id) {
            Some(index) => self.trigger_mask(chains, index, value),
            None => trigger_mask(value),
        }
    }

    /// The trigger mask of item slot `index`'s untransformed `value`.
    fn trigger_mask(&mut self, chains: &ChainTable, index: usize, value: &[u8]) -> u32 {
        let Some(cell) = self.table(chains, index).and_then(|t| t.last_mut()) else {
            return trigger_mask(value);
        };
        if *cell == 0 {
            *cell = trigger_mask(value);
        }
        *cell
    }

    fn push(&mut self, data: Option<Arc<[u8]>>, bits_from: Option<usize>) -> Option<usize> {
        let size = data.as_ref().map_or(0, |d| d.len()) + 48;
        if self.bytes + size > CACHE_BYTES_LIMIT || self.values.len() >= u32::MAX as usize - 1 {
            return None;
        }
        self.bytes += size;
        let at = self.values.len();
        if self.values.capacity() == 0 {
            self.values.reserve(64);
        }
        self.values.push(Value {
            data,
            bits: 0,
            bits_from: bits_from.unwrap_or(at),
            derived: 0,
        });
        Some(at)
    }

    /// The value derived from value `from` by `t`, if it was computed.
    fn derived_by(&self, from: usize, t: Transform) -> Option<usize> {
        let mut link = self.values.get(from)?.derived;
        while let Some(d) = (link as usize)
            .checked_sub(1)
            .and_then(|i| self.derived.get(i))
        {
            if d.transform == t {
                return Some(d.value as usize);
            }
            link = d.next;
        }
        None
    }

    /// Records that `t` turns value `from` into value `to`.
    fn add_derived(&mut self, from: usize, t: Transform, to: usize) {
        let (Ok(to), Ok(at)) = (u32::try_from(to), u32::try_from(self.derived.len() + 1)) else {
            return;
        };
        if let Some(v) = self.values.get_mut(from) {
            self.derived.push(Derived {
                transform: t,
                value: to,
                next: v.derived,
            });
            v.derived = at;
        }
    }

    /// The arena index of item slot `index`'s value after the chain ending at
    /// `node`, computing and caching it; `None` when the cache is full.
    fn value_index(
        &mut self,
        chains: &ChainTable,
        index: usize,
        value: &[u8],
        node: ChainId,
    ) -> Option<usize> {
        if let Some(v) = self.known(index, node) {
            return Some(v);
        }
        let vi = match chains.step(node) {
            None => self.push(None, None)?,
            // No transformation of the chain can change this value.
            Some(_) if self.trigger_mask(chains, index, value) & chains.mask(node) == 0 => {
                self.value_index(chains, index, value, 0)?
            }
            Some((parent, t)) => {
                let pi = self.value_index(chains, index, value, parent)?;
                if let Some(vi) = self.derived_by(pi, t) {
                    self.remember(chains, index, node, vi);
                    return Some(vi);
                }
                let base: &[u8] = match self.values.get(pi).and_then(|v| v.data.as_deref()) {
                    Some(d) => d,
                    None => value,
                };
                let applied = t.apply(base);
                // Transformations that changed nothing share the parent's value.
                let vi = if *applied == *base {
                    pi
                } else {
                    let data: Arc<[u8]> = Arc::from(applied.as_ref());
                    // A result that differs only in ASCII case (`lowercase`,
                    // or `cmdLine` of a value with nothing else to change)
                    // scans like its parent: the prefilter ignores case.
                    let same_scan = applied.eq_ignore_ascii_case(base);
                    let from = self.values.get(pi).map(|v| v.bits_from);
                    self.push(Some(data), from.filter(|_| same_scan))?
                };
                self.add_derived(pi, t, vi);
                vi
            }
        };
        self.remember(chains, index, node, vi);
        Some(vi)
    }

    /// The value of item `id` after the chain ending at `node`.
    pub(crate) fn transformed<'v>(
        &mut self,
        chains: &ChainTable,
        id: u32,
        value: &'v [u8],
        node: ChainId,
    ) -> Tv<'v> {
        if node == 0 {
            return Tv::Borrowed(value);
        }
        let vi = slot_index(id).and_then(|index| self.value_index(chains, index, value, node));
        match vi.and_then(|vi| self.values.get(vi)) {
            Some(Value { data: None, .. }) => Tv::Borrowed(value),
            Some(Value { data: Some(d), .. }) => Tv::Shared(d.clone()),
            None => Tv::Owned(chains.apply_uncached(node, value)),
        }
    }

    /// The prefilter scan of item `id` (untransformed `value`) after `node`,
    /// from the cache; `None` when it cannot be cached.
    fn bits(
        &mut self,
        p: &Prefilter,
        chains: &ChainTable,
        group: usize,
        id: u32,
        value: &[u8],
        node: ChainId,
    ) -> Option<&[u64]> {
        let index = slot_index(id)?;
        // The prefilter ignores ASCII case: a chain that can only change case
        // scans like the untransformed value.
        let node = if self.trigger_mask(chains, index, value) & chains.mask(node) & !CASE_ONLY == 0
        {
            0
        } else {
            node
        };
        let words = p.words();
        let known = self.known(index, node);
        // Scanned earlier in this transaction?
        if let Some(start) = known
            .and_then(|vi| self.values.get(vi))
            .and_then(|v| self.values.get(v.bits_from))
            .and_then(|v| (v.bits as usize).checked_sub(1))
            .or_else(|| self.memo_scan(index, node))
        {
            return self.scans.get(start..start + words);
        }
        // Or by an earlier transaction: then neither the transformation nor
        // the scan runs. The scan is kept for the next rule that asks (the
        // value takes it if this transaction computed it; else the node's
        // cell marks it with MEMO_SCAN until it does).
        let keyed = ScanMemo::key(&mut self.memo_key, Kind::Node, node as usize, group, value);
        if keyed && let Some((start, mark)) = self.new_scan(words) {
            let out = self.scans.get_mut(start..)?;
            if p.memo.apply(&self.memo_key, out) {
                match known {
                    Some(vi) => self.attach_scan(vi, mark),
                    None => {
                        if let Some(cell) = self
                            .table(chains, index)
                            .and_then(|t| t.get_mut(node as usize))
                        {
                            *cell = MEMO_SCAN | mark;
                        }
                    }
                }
                return self.scans.get(start..start + words);
            }
            self.drop_last_scan(words);
        }
        let vi = self.value_index(chains, index, value, node)?;
        let src = self.values.get(vi)?.bits_from;
        if self.values.get(src)?.bits == 0 {
            let (start, mark) = self.new_scan(words)?;
            let v = self.values.get_mut(src)?;
            v.bits = mark;
            let out = self.scans.get_mut(start..)?;
            p.scan_into(group, v.data.as_deref().unwrap_or(value), out);
        }
        let start = (self.values.get(src)?.bits as usize).checked_sub(1)?;
        let bits = self.scans.get(start..start + words)?;
        if keyed {
            let mut sparse = Vec::new();
            if scan_memo::add_row(&mut sparse, 0, bits) {
                p.memo.remember(&self.memo_key, sparse.into_boxed_slice());
            }
        }
        Some(bits)
    }

    /// ORs the prefilter slots that may match item `id` (untransformed
    /// `value`) after `node` into `out`.
    // The item's identity (group, id, value, node) is what the cache is keyed by.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn scan_into(
        &mut self,
        p: &Prefilter,
        chains: &ChainTable,
        group: usize,
        id: u32,
        value: &[u8],
        node: ChainId,
        out: &mut [u64],
    ) {
        match self.bits(p, chains, group, id, value, node) {
            Some(bits) => {
                for (o, b) in out.iter_mut().zip(bits) {
                    *o |= *b;
                }
            }
            None => p.scan_into(group, &chains.apply_uncached(node, value), out),
        }
    }

    /// Whether the prefilter lets rule `slot` run on item `id` (untransformed
    /// `value`) after `node`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn allows(
        &mut self,
        p: &Prefilter,
        chains: &ChainTable,
        group: usize,
        id: u32,
        value: &[u8],
        node: ChainId,
        slot: u32,
    ) -> bool {
        match self.bits(p, chains, group, id, value, node) {
            Some(bits) => Prefilter::allows(bits, slot),
            None => Prefilter::allows(
                &p.scan_group(group, &chains.apply_uncached(node, value)),
                slot,
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::prefilter::Prefilter;

    /// A prefilter with one slot (literal `<script`) and the chain
    /// urlDecodeUni, and a ValueCache for item 1 holding `%3Cscript%3E`.
    fn setup() -> (Prefilter, ChainTable, ChainId) {
        let mut chains = ChainTable::new();
        let node = chains.intern(&[Transform::UrlDecodeUni]);
        let p = Prefilter::build(&[(0, vec![b"<script".to_vec()])]);
        (p, chains, node)
    }

    const VALUE: &[u8] = b"%3Cscript%3E";

    #[test]
    fn a_remembered_scan_gives_the_fresh_answer_and_is_kept_once() {
        let (p, chains, node) = setup();
        // First transaction: computes, and the memo learns the scan.
        let mut first = ValueCache::default();
        assert!(first.allows(&p, &chains, 0, 1, VALUE, node, 0));
        // Second transaction: the memo answers, without the transformation.
        let mut second = ValueCache::default();
        assert!(second.allows(&p, &chains, 0, 1, VALUE, node, 0));
        assert!(second.values.is_empty(), "a memo hit computes no value");
        // Alternating with the transformed value must not copy the scan again
        // and again (the value takes the copied scan).
        let scans = second.scans.len();
        for _ in 0..5 {
            assert_eq!(&*second.transformed(&chains, 1, VALUE, node), b"<script>");
            assert!(second.allows(&p, &chains, 0, 1, VALUE, node, 0));
        }
        assert_eq!(second.scans.len(), scans);
    }

    #[test]
    fn a_value_computed_before_the_memo_hit_takes_the_scan() {
        let (p, chains, node) = setup();
        let mut first = ValueCache::default();
        assert!(first.allows(&p, &chains, 0, 1, VALUE, node, 0));
        let mut second = ValueCache::default();
        // The value first, then the scan: the memo's copy goes to the value.
        assert_eq!(&*second.transformed(&chains, 1, VALUE, node), b"<script>");
        assert!(second.allows(&p, &chains, 0, 1, VALUE, node, 0));
        let scans = second.scans.len();
        for _ in 0..5 {
            assert!(second.allows(&p, &chains, 0, 1, VALUE, node, 0));
        }
        assert_eq!(second.scans.len(), scans);
        // A value without the literal is ruled out, fresh or remembered.
        for _ in 0..2 {
            let mut tx = ValueCache::default();
            assert!(!tx.allows(&p, &chains, 0, 2, b"%3Cb%3E", node, 0));
        }
    }
}
