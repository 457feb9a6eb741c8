//! The collections `setvar` writes (TX, IP, GLOBAL, ...): copy-on-write over
//! a shared base (the folded template's TX), with slots for the TX names
//! known at load ([`KeyTable`], [`SlotCache`]) and cached key tests of the
//! base for selector regexes ([`BaseKeyCache`]).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, OnceLock, Weak};

use super::data::{Ids, Item};

/// Items of a collection by lower-case key.
type Items = BTreeMap<Vec<u8>, Item>;

/// TX names known at load (the folded template's, and every literal name
/// rules write or read), each with a slot number; slots follow key order.
#[derive(Debug, Default)]
pub(crate) struct KeyTable {
    slots: std::collections::HashMap<Vec<u8>, u32, foldhash::fast::FixedState>,
    /// Slot -> key.
    names: Vec<Vec<u8>>,
}

impl KeyTable {
    /// A table of these lower-case names (duplicates allowed).
    fn new(mut names: Vec<Vec<u8>>) -> Self {
        names.sort_unstable();
        names.dedup();
        let slots = names
            .iter()
            .enumerate()
            .filter_map(|(i, k)| Some((k.clone(), u32::try_from(i).ok()?)))
            .collect();
        KeyTable { slots, names }
    }

    fn slot(&self, key: &[u8]) -> Option<usize> {
        self.slots.get(key).map(|&s| s as usize)
    }

    fn len(&self) -> usize {
        self.names.len()
    }
}

/// The slot of the one TX name a rule's string stands for (`%{tx.name}`, a
/// literal `setvar` name), resolved on first use in the table it was used
/// with: later reads and writes through that string skip the hash lookup.
/// The `Weak` both identifies the table and keeps its address from being
/// reused; with another table the name is looked up as usual.
#[derive(Default)]
pub(crate) struct SlotCache(OnceLock<(Weak<KeyTable>, Option<usize>)>);

impl std::fmt::Debug for SlotCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlotCache")
    }
}

impl SlotCache {
    /// The slot of `key` (any case) in `table`, if it has one.
    fn resolve(&self, table: &Arc<KeyTable>, key: &[u8]) -> Option<usize> {
        let find = || {
            if key.iter().any(u8::is_ascii_uppercase) {
                table.slot(&key.to_ascii_lowercase())
            } else {
                table.slot(key)
            }
        };
        let (owner, slot) = self.0.get_or_init(|| (Arc::downgrade(table), find()));
        if std::ptr::eq(owner.as_ptr(), Arc::as_ptr(table)) {
            *slot
        } else {
            find()
        }
    }
}

/// A collection written by `setvar` (TX, IP, GLOBAL, ...), keys lower-case.
///
/// Copy-on-write over a shared base: the TX collection every transaction
/// starts from (what the folded setup rules wrote, ~150 variables) is one
/// `Arc`ed map, and a transaction's own writes shadow the base's items.
/// Cloning such a collection copies only the writes; reads look at the own
/// items, then the base; iteration merges both in key order.
///
/// A shared TX collection also carries a [`KeyTable`]: names known at load
/// have a slot, so a read is one hash lookup (own item by slot, else the
/// base's item by slot) and a write of a known name stores into its slot
/// without a search tree. Names made at run time (`header_name_*` from
/// `%{MATCHED_VAR_NAME}`) go to a side map.
#[derive(Debug, Default, Clone)]
pub struct Collection {
    /// Own items of names without a slot (all of them without a table).
    side: Items,
    /// Own items of slotted names, unordered: (slot, item).
    own: Vec<(u32, Item)>,
    /// Per slot: 1 + position in `own`, 0 when not written (empty until
    /// the first slotted write).
    pos: Vec<u32>,
    /// Slots with an own item, ascending (key order).
    order: Vec<u32>,
    /// Names with slots.
    table: Option<Arc<KeyTable>>,
    /// Shared items, read-only.
    base: Option<Arc<Items>>,
    /// The base's items by slot.
    base_slots: Option<Arc<[Option<Item>]>>,
    /// How many own keys the base has too (for the exact size).
    shadowed: usize,
}

/// Keys a collection may hold: `setvar` names can embed attacker-chosen text
/// (`%{MATCHED_VAR_NAME}`), so growth is bounded.
pub const COLLECTION_KEY_LIMIT: usize = 4096;

/// The TX variable set (to `1`) when a write to a full TX collection was
/// dropped: the rules after it may have been decided on missing variables
/// (CRS 922150 writes one per multipart part header, after which 931130's
/// were lost), so the recommended rule 200008 refuses the request. It is
/// stored past the limit.
pub const TX_LIMIT_FLAG: &[u8] = b"rampart_tx_limit_exceeded";

/// Key order pairs of one side of a merge.
type Pair<'a> = (&'a Vec<u8>, &'a Item);

impl Collection {
    /// The value of a key.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.find(key).map(|i| i.value.as_slice())
    }

    /// The item of a key in any case. A name with a slot is found as given
    /// (table names are lower-case), so the common case skips the case test.
    fn find(&self, key: &[u8]) -> Option<&Item> {
        if let Some(slot) = self.table.as_deref().and_then(|t| t.slot(key)) {
            return self.slot_item(slot);
        }
        if key.iter().any(u8::is_ascii_uppercase) {
            self.item(&key.to_ascii_lowercase())
        } else {
            self.side.get(key)
        }
    }

    /// [`Self::get`] of the name `cache` remembers the slot of.
    pub(crate) fn get_cached(&self, cache: &SlotCache, key: &[u8]) -> Option<&[u8]> {
        match self.table.as_ref().map(|t| cache.resolve(t, key)) {
            Some(Some(slot)) => self.slot_item(slot).map(|i| i.value.as_slice()),
            _ => self.get(key),
        }
    }

    /// The item of a lower-case key.
    pub(crate) fn item(&self, key: &[u8]) -> Option<&Item> {
        if let Some(slot) = self.table.as_deref().and_then(|t| t.slot(key)) {
            return self.slot_item(slot);
        }
        self.side.get(key)
    }

    /// The own item of a slot, else the base's.
    fn slot_item(&self, slot: usize) -> Option<&Item> {
        match self.pos.get(slot).copied().unwrap_or(0) {
            0 => self
                .base_slots
                .as_deref()
                .and_then(|b| b.get(slot))
                .and_then(Option::as_ref),
            p => self.own.get(p as usize - 1).map(|(_, i)| i),
        }
    }

    /// How many keys the collection holds.
    pub fn len(&self) -> usize {
        self.side.len() + self.order.len() + self.base.as_deref().map_or(0, BTreeMap::len)
            - self.shadowed
    }

    /// Whether the collection holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Own items whose key `pick` accepts, in key order: slotted ones (slots
    /// follow key order) merged with the side map, each filtered first
    /// (slotted ones first by `slots`, when given).
    fn own_where<'s, 'k, F>(
        &'s self,
        slots: Option<BaseKeys<'k>>,
        pick: F,
    ) -> impl Iterator<Item = Pair<'s>> + use<'s, 'k, F>
    where
        F: Fn(&[u8]) -> bool + Copy,
    {
        let slotted = self
            .order
            .iter()
            .filter(move |&&s| slots.is_none_or(|b| b.has_slot(s)))
            .filter_map(|&s| {
                let p = self.pos.get(s as usize).copied().unwrap_or(0);
                self.own
                    .get((p as usize).checked_sub(1)?)
                    .map(|(_, i)| (&i.key, i))
            })
            .filter(move |(k, _)| pick(k));
        Merged::new(slotted, self.side.iter().filter(move |(k, _)| pick(k))).map(|i| (&i.key, i))
    }

    /// Every item, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Item> {
        self.iter_where(|_| true)
    }

    /// The items whose key `pick` accepts, in key order. Both sides are
    /// filtered before they are merged (a shadowed key and its shadow have
    /// the same key, so both or neither pass): a selective `pick` keeps the
    /// merge off most keys.
    pub(crate) fn iter_where<'s, F>(
        &'s self,
        pick: F,
    ) -> impl Iterator<Item = &'s Item> + use<'s, F>
    where
        F: Fn(&[u8]) -> bool + Copy,
    {
        Merged::new(
            self.own_where(None, pick),
            self.base
                .as_deref()
                .map(BTreeMap::iter)
                .unwrap_or_default()
                .filter(move |(k, _)| pick(k)),
        )
    }

    /// Like [`Self::iter_where`], but the shared base is read only at its
    /// keys that can pass `pick` and own items of slotted names only in the
    /// slots whose names can (both from a [`BaseKeyCache`]): a selector
    /// regex over TX then costs nothing for the ~150 template variables and
    /// the written variables that never match it.
    pub(crate) fn iter_where_in_base<'s, 'k, F>(
        &'s self,
        base_keys: BaseKeys<'k>,
        pick: F,
    ) -> impl Iterator<Item = &'s Item> + use<'s, 'k, F>
    where
        F: Fn(&[u8]) -> bool + Copy,
    {
        let base = self.base.as_deref();
        Merged::new(
            self.own_where(Some(base_keys), pick),
            base_keys
                .keys
                .iter()
                .filter_map(move |k| base?.get_key_value(k.as_slice()))
                .filter(move |(k, _)| pick(k)),
        )
    }

    /// The items whose key starts with lower-case `prefix`, in key order.
    pub(crate) fn with_prefix<'s, 'p>(
        &'s self,
        prefix: &'p [u8],
    ) -> impl Iterator<Item = &'s Item> + use<'s, 'p> {
        let from =
            move |m: &'s Items| m.range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded));
        // Slotted own items: the slots from the first name >= prefix on.
        let names = self
            .table
            .as_deref()
            .map_or(&[][..], |t| t.names.as_slice());
        let first = names.partition_point(|n| n.as_slice() < prefix);
        let start = self.order.partition_point(|&s| (s as usize) < first);
        let slotted = self
            .order
            .get(start..)
            .unwrap_or_default()
            .iter()
            .filter_map(|&s| {
                let p = self.pos.get(s as usize).copied().unwrap_or(0);
                self.own
                    .get((p as usize).checked_sub(1)?)
                    .map(|(_, i)| (&i.key, i))
            });
        let own = Merged::new(slotted, from(&self.side)).map(|i| (&i.key, i));
        Merged::new(
            own.take_while(move |(k, _)| k.starts_with(prefix)),
            self.base
                .as_deref()
                .map(from)
                .unwrap_or_default()
                .take_while(move |(k, _)| k.starts_with(prefix)),
        )
    }

    /// Makes the items the shared base of every clone, with a slot for each
    /// of its keys and of `known` (lower-case names rules use).
    pub(crate) fn into_shared(self, known: impl IntoIterator<Item = Vec<u8>>) -> Self {
        let items: Items = self.iter().map(|i| (i.key.clone(), i.clone())).collect();
        let table = KeyTable::new(items.keys().cloned().chain(known).collect());
        let mut by_slot: Vec<Option<Item>> = vec![None; table.len()];
        for (k, i) in &items {
            if let Some(cell) = table.slot(k).and_then(|s| by_slot.get_mut(s)) {
                *cell = Some(i.clone());
            }
        }
        Collection {
            side: Items::new(),
            own: Vec::new(),
            pos: Vec::new(),
            order: Vec::new(),
            table: Some(Arc::new(table)),
            base: Some(Arc::new(items)),
            base_slots: Some(by_slot.into()),
            shadowed: 0,
        }
    }

    /// Copies the base's items into own items (rare: a removal of a base key).
    fn materialize(&mut self) {
        let Some(base) = self.base.take() else {
            return;
        };
        self.base_slots = None;
        self.shadowed = 0;
        for (k, i) in base.iter() {
            if self.item(k).is_none() {
                self.insert_new(k, i.clone());
            }
        }
    }

    /// Stores an item under a key it does not have yet (own items only).
    fn insert_new(&mut self, key: &[u8], item: Item) {
        match self.table.as_deref().and_then(|t| t.slot(key)) {
            Some(slot) => self.insert_slot(slot, item),
            None => {
                self.side.insert(key.to_vec(), item);
            }
        }
    }

    /// Stores an item in a slot that has no own item.
    fn insert_slot(&mut self, slot: usize, item: Item) {
        if self.pos.is_empty() {
            let n = self.table.as_deref().map_or(0, KeyTable::len);
            self.pos = vec![0; n];
        }
        let (Ok(s), Ok(p)) = (u32::try_from(slot), u32::try_from(self.own.len() + 1)) else {
            return;
        };
        if let Some(cell) = self.pos.get_mut(slot) {
            *cell = p;
            self.own.push((s, item));
            let at = self.order.partition_point(|&o| o < s);
            self.order.insert(at, s);
        }
    }

    /// Sets a key (new id, so cached transformations of the old value are
    /// not reused). False when the key was new and the collection full
    /// ([`COLLECTION_KEY_LIMIT`]): nothing was stored.
    pub fn set(&mut self, ids: &mut Ids, key: &[u8], value: Vec<u8>) -> bool {
        self.set_bounded(ids, key, value, true)
    }

    /// [`Self::set`] even when the collection is full: for the one flag that
    /// records that it was ([`TX_LIMIT_FLAG`]).
    pub(crate) fn set_past_limit(&mut self, ids: &mut Ids, key: &[u8], value: Vec<u8>) {
        self.set_bounded(ids, key, value, false);
    }

    fn set_bounded(&mut self, ids: &mut Ids, key: &[u8], value: Vec<u8>, bounded: bool) -> bool {
        let table = self.table.as_deref();
        if let Some(slot) = table.and_then(|t| t.slot(key)) {
            return self.set_at(ids, Some(slot), key, value, bounded);
        }
        if key.iter().any(u8::is_ascii_uppercase) {
            let lower = key.to_ascii_lowercase();
            let slot = table.and_then(|t| t.slot(&lower));
            self.set_at(ids, slot, &lower, value, bounded)
        } else {
            self.set_at(ids, None, key, value, bounded)
        }
    }

    /// [`Self::set`] of the name `cache` remembers the slot of.
    pub(crate) fn set_cached(
        &mut self,
        ids: &mut Ids,
        cache: &SlotCache,
        key: &[u8],
        value: Vec<u8>,
    ) -> bool {
        match self.table.as_ref().map(|t| cache.resolve(t, key)) {
            Some(Some(slot)) => self.set_at(ids, Some(slot), key, value, true),
            _ => self.set(ids, key, value),
        }
    }

    /// Sets lower-case `key`, whose slot is `slot` (`None`: it has none);
    /// `bounded`: a new key is dropped when the collection is full (false
    /// is returned).
    fn set_at(
        &mut self,
        ids: &mut Ids,
        slot: Option<usize>,
        key: &[u8],
        value: Vec<u8>,
        bounded: bool,
    ) -> bool {
        let own = match slot {
            Some(s) => match self.pos.get(s).copied().unwrap_or(0) {
                0 => None,
                p => self.own.get_mut(p as usize - 1).map(|(_, i)| i),
            },
            None => self.side.get_mut(key),
        };
        if let Some(item) = own {
            // A new id: cached transformations of the old value must not be reused.
            item.value = value;
            item.id = ids.next();
            return true;
        }
        let in_base = match slot {
            Some(s) => self
                .base_slots
                .as_deref()
                .and_then(|b| b.get(s))
                .is_some_and(Option::is_some),
            None => false,
        };
        if bounded && !in_base && self.len() >= COLLECTION_KEY_LIMIT {
            tracing::debug!("collection full; setvar ignored");
            return false;
        }
        if in_base {
            self.shadowed += 1;
        }
        let key_vec = match (slot, self.table.as_deref()) {
            (Some(s), Some(t)) => t.names.get(s).cloned().unwrap_or_else(|| key.to_vec()),
            _ => key.to_vec(),
        };
        let item = ids.item(key_vec, value);
        match slot {
            Some(s) => self.insert_slot(s, item),
            None => {
                self.side.insert(key.to_vec(), item);
            }
        }
        true
    }

    /// Removes a key.
    pub fn remove(&mut self, key: &[u8]) {
        let lower;
        let key = if key.iter().any(u8::is_ascii_uppercase) {
            lower = key.to_ascii_lowercase();
            &lower[..]
        } else {
            key
        };
        if self.base.as_deref().is_some_and(|b| b.contains_key(key)) {
            self.materialize();
        }
        let Some(slot) = self.table.as_deref().and_then(|t| t.slot(key)) else {
            self.side.remove(key);
            return;
        };
        let Some(p) = self
            .pos
            .get_mut(slot)
            .filter(|p| **p != 0)
            .map(std::mem::take)
        else {
            return;
        };
        let at = p as usize - 1;
        if at >= self.own.len() {
            return;
        }
        self.own.swap_remove(at);
        // The item moved into the hole gets its new position.
        if let Some(&(moved, _)) = self.own.get(at)
            && let Some(cell) = self.pos.get_mut(moved as usize)
        {
            *cell = p;
        }
        if let Ok(s) = u32::try_from(slot)
            && let Ok(i) = self.order.binary_search(&s)
        {
            self.order.remove(i);
        }
    }
}

/// The keys of a shared base that a fixed key test accepts, computed on
/// first use. Valid for one base only: the `Weak` both identifies it and
/// keeps its address from being reused; another base gets `None` (callers
/// then scan as usual).
#[derive(Debug, Default)]
pub(crate) struct BaseKeyCache(OnceLock<CachedBase>);

/// A base (identity), its keys a test accepts, and the bitset of slots whose
/// names it accepts.
type CachedBase = (Weak<Items>, Vec<Vec<u8>>, Vec<u64>);

/// What a [`BaseKeyCache`] knows of one shared base: its keys a key test
/// accepts, and as a bitset the slots of the base's key table whose names
/// it accepts (own items of other slots need no test).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BaseKeys<'a> {
    keys: &'a [Vec<u8>],
    slots: &'a [u64],
}

impl BaseKeys<'_> {
    /// Whether the test accepts the name of `slot`.
    fn has_slot(&self, slot: u32) -> bool {
        self.slots
            .get(slot as usize / 64)
            .is_some_and(|w| w >> (slot % 64) & 1 != 0)
    }
}

impl BaseKeyCache {
    /// The base keys of `col` that `test` accepts (in key order) and the
    /// slots whose names it accepts, or `None` when `col` has no base or the
    /// cache belongs to another base.
    pub(crate) fn keys(
        &self,
        col: &Collection,
        test: impl Fn(&[u8]) -> bool,
    ) -> Option<BaseKeys<'_>> {
        let base = col.base.as_ref()?;
        let (owner, keys, slots) = self.0.get_or_init(|| {
            let keys = base.keys().filter(|k| test(k)).cloned().collect();
            // The table was made with the base (`into_shared`) and outlives
            // it in every clone, so the base identifies it too.
            let names = col.table.as_deref().map_or(&[][..], |t| t.names.as_slice());
            let mut slots = vec![0u64; names.len().div_ceil(64)];
            for (i, n) in names.iter().enumerate() {
                if test(n)
                    && let Some(w) = slots.get_mut(i / 64)
                {
                    *w |= 1 << (i % 64);
                }
            }
            (Arc::downgrade(base), keys, slots)
        });
        std::ptr::eq(owner.as_ptr(), Arc::as_ptr(base)).then_some(BaseKeys { keys, slots })
    }
}

/// Two key-ordered item sequences merged, the first shadowing the second.
struct Merged<'a, A: Iterator, B: Iterator> {
    own: std::iter::Peekable<A>,
    base: std::iter::Peekable<B>,
    _items: std::marker::PhantomData<&'a Item>,
}

impl<'a, A, B> Merged<'a, A, B>
where
    A: Iterator<Item = (&'a Vec<u8>, &'a Item)>,
    B: Iterator<Item = (&'a Vec<u8>, &'a Item)>,
{
    fn new(own: A, base: B) -> Self {
        Merged {
            own: own.peekable(),
            base: base.peekable(),
            _items: std::marker::PhantomData,
        }
    }
}

impl<'a, A, B> Iterator for Merged<'a, A, B>
where
    A: Iterator<Item = (&'a Vec<u8>, &'a Item)>,
    B: Iterator<Item = (&'a Vec<u8>, &'a Item)>,
{
    type Item = &'a Item;

    fn next(&mut self) -> Option<&'a Item> {
        use std::cmp::Ordering;
        let order = match (self.own.peek(), self.base.peek()) {
            (Some((a, _)), Some((b, _))) => a.cmp(b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => return None,
        };
        match order {
            Ordering::Less => self.own.next().map(|(_, i)| i),
            Ordering::Greater => self.base.next().map(|(_, i)| i),
            Ordering::Equal => {
                self.base.next();
                self.own.next().map(|(_, i)| i)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn keys(c: &Collection) -> Vec<(Vec<u8>, Vec<u8>)> {
        c.iter().map(|i| (i.key.clone(), i.value.clone())).collect()
    }

    /// A shared-base collection reads, writes, removes, counts and iterates
    /// exactly like a plain one holding the same items.
    #[test]
    fn shared_base_behaves_like_a_plain_collection() {
        let mut ids = Ids::default();
        let mut plain = Collection::default();
        for (k, v) in [("b", "1"), ("d", "2"), ("f", "3"), ("header_name_a", "4")] {
            plain.set(&mut ids, k.as_bytes(), v.as_bytes().to_vec());
        }
        let template = plain.clone().into_shared(Vec::new());
        let mut shared = template.clone();
        assert_eq!(keys(&shared), keys(&plain));
        for c in [&mut plain, &mut shared] {
            c.set(&mut ids, b"D", b"20".to_vec());
            c.set(&mut ids, b"a", b"0".to_vec());
            c.set(&mut ids, b"header_name_b", b"5".to_vec());
        }
        assert_eq!(keys(&shared), keys(&plain));
        assert_eq!(shared.len(), plain.len());
        assert_eq!(shared.get(b"d"), Some(&b"20"[..]));
        assert_eq!(shared.get(b"F"), Some(&b"3"[..]));
        let prefixed: Vec<_> = shared
            .with_prefix(b"header_name_")
            .map(|i| &i.key)
            .collect();
        assert_eq!(
            prefixed,
            [&b"header_name_a".to_vec(), &b"header_name_b".to_vec()]
        );
        let picked: Vec<_> = shared.iter_where(|k| k != b"d").map(|i| &i.key).collect();
        assert_eq!(picked.len(), plain.len() - 1);
        // Removing a base key, and an own key.
        for c in [&mut plain, &mut shared] {
            c.remove(b"F");
            c.remove(b"a");
        }
        assert_eq!(keys(&shared), keys(&plain));
        assert_eq!(shared.get(b"f"), None);
        // The template is untouched by its clones' writes.
        assert_eq!(template.get(b"d"), Some(&b"2"[..]));
        assert_eq!(template.get(b"a"), None);
        assert_eq!(template.len(), 4);
    }

    /// With slots for names the base does not hold (names rules use), own
    /// writes of slotted and unslotted names, reads through a remembered
    /// slot, removals (of own slotted items, and of base items, which copy
    /// the base) and prefix scans behave exactly like a plain collection.
    #[test]
    fn slotted_names_behave_like_a_plain_collection() {
        let known: Vec<Vec<u8>> = ["a", "c", "header_name_b", "header_name_d", "z"]
            .iter()
            .map(|k| k.as_bytes().to_vec())
            .collect();
        let mut ids = Ids::default();
        let mut plain = Collection::default();
        for (k, v) in [("b", "1"), ("d", "2"), ("header_name_a", "4")] {
            plain.set(&mut ids, k.as_bytes(), v.as_bytes().to_vec());
        }
        let mut shared = plain.clone().into_shared(known);
        assert_eq!(keys(&shared), keys(&plain));
        let cache = SlotCache::default();
        for c in [&mut plain, &mut shared] {
            c.set(&mut ids, b"Z", b"26".to_vec());
            c.set(&mut ids, b"c", b"3".to_vec());
            c.set(&mut ids, b"header_name_d", b"6".to_vec());
            c.set(&mut ids, b"header_name_c", b"5".to_vec());
            c.set(&mut ids, b"a", b"0".to_vec());
            c.set_cached(&mut ids, &cache, b"a", b"00".to_vec());
            c.set(&mut ids, b"d", b"20".to_vec());
        }
        assert_eq!(keys(&shared), keys(&plain));
        assert_eq!(shared.len(), plain.len());
        assert_eq!(shared.get_cached(&cache, b"a"), Some(&b"00"[..]));
        assert_eq!(shared.get(b"Header_Name_D"), Some(&b"6"[..]));
        let prefixed = |c: &Collection| -> Vec<Vec<u8>> {
            c.with_prefix(b"header_name_")
                .map(|i| i.key.clone())
                .collect()
        };
        assert_eq!(prefixed(&shared), prefixed(&plain));
        assert_eq!(prefixed(&shared).len(), 3);
        // Removing own slotted items (the last one, and one another item is
        // moved into the place of), then writing them again.
        for c in [&mut plain, &mut shared] {
            c.remove(b"d");
            c.remove(b"c");
            c.remove(b"a");
            c.set(&mut ids, b"c", b"30".to_vec());
        }
        assert_eq!(keys(&shared), keys(&plain));
        assert_eq!(shared.get_cached(&cache, b"a"), None);
        assert_eq!(shared.get(b"header_name_d"), Some(&b"6"[..]));
        // Removing a base key copies the base; everything still reads the same.
        for c in [&mut plain, &mut shared] {
            c.remove(b"b");
            c.set(&mut ids, b"z", b"27".to_vec());
        }
        assert_eq!(keys(&shared), keys(&plain));
        assert_eq!(shared.len(), plain.len());
        assert_eq!(prefixed(&shared), prefixed(&plain));
        // A cache stands for one name (that of its rule's string).
        assert_eq!(
            shared.get_cached(&SlotCache::default(), b"z"),
            Some(&b"27"[..])
        );
        assert_eq!(shared.get_cached(&cache, b"a"), None);
    }

    /// A remembered slot answers only for the table it was resolved in.
    #[test]
    fn a_slot_cache_answers_for_its_own_table_only() {
        let mut ids = Ids::default();
        let mut one = Collection::default();
        one.set(&mut ids, b"x", b"1".to_vec());
        let one = one.into_shared(vec![b"a".to_vec()]);
        let mut two = Collection::default();
        two.set(&mut ids, b"y", b"2".to_vec());
        two.set(&mut ids, b"x", b"3".to_vec());
        let two = two.into_shared(Vec::new());
        let cache = SlotCache::default();
        assert_eq!(one.get_cached(&cache, b"x"), Some(&b"1"[..]));
        assert_eq!(two.get_cached(&cache, b"x"), Some(&b"3"[..]));
        assert_eq!(Collection::default().get_cached(&cache, b"x"), None);
    }

    /// The key limit counts base and own keys once each: overwriting a base
    /// key when full still works, a new key is refused.
    #[test]
    fn key_limit_counts_shadowed_keys_once() {
        let mut ids = Ids::default();
        let mut c = Collection::default();
        for n in 0..COLLECTION_KEY_LIMIT {
            c.set(&mut ids, format!("k{n}").as_bytes(), b"1".to_vec());
        }
        let mut shared = c.into_shared(Vec::new());
        assert!(shared.set(&mut ids, b"k1", b"2".to_vec()));
        assert_eq!(shared.get(b"k1"), Some(&b"2"[..]));
        assert_eq!(shared.len(), COLLECTION_KEY_LIMIT);
        assert!(!shared.set(&mut ids, b"new", b"1".to_vec()));
        assert_eq!(shared.get(b"new"), None);
        // The overflow flag is stored past the limit.
        shared.set_past_limit(&mut ids, TX_LIMIT_FLAG, b"1".to_vec());
        assert_eq!(shared.get(TX_LIMIT_FLAG), Some(&b"1"[..]));
        shared.remove(TX_LIMIT_FLAG);
        shared.remove(b"k2");
        assert!(shared.set(&mut ids, b"new", b"1".to_vec()));
        assert_eq!(shared.get(b"new"), Some(&b"1"[..]));
    }

    /// The base-key cache gives the same items as a full scan (own writes
    /// shadowing and adding matches, removals materialising the base), and
    /// answers only for the base it was filled from.
    #[test]
    fn cached_base_keys_pick_what_a_full_scan_picks() {
        let mut ids = Ids::default();
        let mut plain = Collection::default();
        for (k, v) in [
            ("leakage/errors-x", "1"),
            ("b", "2"),
            ("web_attack/sqli", "3"),
        ] {
            plain.set(&mut ids, k.as_bytes(), v.as_bytes().to_vec());
        }
        // Slotted names the base does not hold, one passing the test.
        let template = plain.into_shared(vec![b"z/leakage".to_vec(), b"zz".to_vec()]);
        let test = |k: &[u8]| k.windows(7).any(|w| w == b"leakage");
        let cache = BaseKeyCache::default();
        let scan = |c: &Collection| -> Vec<(Vec<u8>, Vec<u8>)> {
            c.iter_where(test)
                .map(|i| (i.key.clone(), i.value.clone()))
                .collect()
        };
        let cached = |c: &Collection, cache: &BaseKeyCache| -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
            let keys = cache.keys(c, test)?;
            Some(
                c.iter_where_in_base(keys, test)
                    .map(|i| (i.key.clone(), i.value.clone()))
                    .collect(),
            )
        };
        let mut tx = template.clone();
        assert_eq!(cached(&tx, &cache), Some(scan(&tx)));
        tx.set(&mut ids, b"leakage/errors-x", b"9".to_vec());
        tx.set(&mut ids, b"a/leakage/errors", b"1".to_vec());
        tx.set(&mut ids, b"c", b"1".to_vec());
        tx.set(&mut ids, b"zz", b"1".to_vec());
        tx.set(&mut ids, b"z/leakage", b"1".to_vec());
        let got = cached(&tx, &cache).unwrap();
        assert_eq!(got, scan(&tx));
        assert_eq!(got.len(), 3);
        // A removal of a base key copies the base: no base, no cache answer.
        tx.remove(b"b");
        assert_eq!(cached(&tx, &cache), None);
        // Another base is not answered from this cache.
        let mut other = Collection::default();
        other.set(&mut ids, b"leakage", b"1".to_vec());
        let other = other.into_shared(Vec::new());
        assert_eq!(cached(&other, &cache), None);
        assert_eq!(cached(&other, &BaseKeyCache::default()), Some(scan(&other)));
    }
}
