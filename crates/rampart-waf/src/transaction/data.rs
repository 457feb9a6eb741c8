//! The facts a transaction inspects, stored once with stable item ids so that
//! transformed values can be cached per (item, transformation chain).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, OnceLock, Weak};

use crate::body::multipart::MultipartFlags;

/// One value of a variable, with its key inside its collection.
#[derive(Debug, Clone, Default)]
pub struct Item {
    /// Key (header name, argument name, ...); empty for single values.
    pub key: Vec<u8>,
    /// Value.
    pub value: Vec<u8>,
    /// Identity for the transformation cache; [`UNCACHED`] for values that change.
    pub id: u32,
}

/// Id of values that are never cached.
pub const UNCACHED: u32 = u32::MAX;
/// Bit set on the id of a `*_NAMES` value (the key of the same item).
pub const NAME_BIT: u32 = 1 << 31;

/// Hands out item ids.
#[derive(Debug, Default)]
pub struct Ids(u32);

impl Ids {
    /// A counter whose first id is `used + 1` (ids up to `used` are taken).
    pub fn starting_after(used: u32) -> Self {
        Ids(used)
    }

    /// The highest id handed out so far.
    pub fn used(&self) -> u32 {
        self.0
    }

    /// A new id (ids stop growing rather than wrap: they then share one slot
    /// that is never cached).
    pub fn next(&mut self) -> u32 {
        if self.0 >= (NAME_BIT - 2) {
            return UNCACHED;
        }
        self.0 += 1;
        self.0
    }

    /// A new item.
    pub fn item(&mut self, key: Vec<u8>, value: Vec<u8>) -> Item {
        Item {
            key,
            value,
            id: self.next(),
        }
    }
}

/// Request and response facts plus what body processors extracted.
#[derive(Debug, Default)]
pub struct RequestData {
    pub(crate) method: Option<Item>,
    pub(crate) uri: Option<Item>,
    pub(crate) uri_raw: Option<Item>,
    pub(crate) protocol: Option<Item>,
    pub(crate) filename: Option<Item>,
    pub(crate) basename: Option<Item>,
    pub(crate) query: Option<Item>,
    pub(crate) request_line: Option<Item>,
    pub(crate) args_get: Vec<Item>,
    pub(crate) args_post: Vec<Item>,
    pub(crate) headers: Vec<Item>,
    pub(crate) cookies: Vec<Item>,
    pub(crate) body: Option<Item>,
    pub(crate) body_length: usize,
    pub(crate) reqbody_error: bool,
    pub(crate) reqbody_error_msg: Vec<u8>,
    pub(crate) inbound_data_error: bool,
    pub(crate) files: Vec<Item>,
    pub(crate) files_sizes: Vec<Item>,
    pub(crate) files_combined_size: usize,
    pub(crate) multipart_names: Vec<Item>,
    pub(crate) multipart_filenames: Vec<Item>,
    pub(crate) part_headers: Vec<Item>,
    pub(crate) multipart_flags: MultipartFlags,
    pub(crate) multipart_error: bool,
    /// The body without its uploaded files is longer than
    /// `SecRequestBodyNoFilesLimit`.
    pub(crate) no_files_limit_exceeded: bool,
    pub(crate) xml_root: Option<Item>,
    pub(crate) xml_attrs: Vec<Item>,
    pub(crate) remote_addr: Option<Item>,
    pub(crate) remote_port: u16,
    pub(crate) server_name: Option<Item>,
    pub(crate) unique_id: Option<Item>,
    pub(crate) response_status: Option<Item>,
    pub(crate) response_protocol: Option<Item>,
    pub(crate) response_headers: Vec<Item>,
    pub(crate) response_body: Option<Item>,
}

impl RequestData {
    /// A signature of every item: items are never changed in place but
    /// replaced by new ones with new (increasing) ids, so an unchanged
    /// signature means unchanged facts. Every `Item` field must be listed.
    pub(crate) fn signature(&self) -> (usize, u64) {
        let singles = [
            &self.method,
            &self.uri,
            &self.uri_raw,
            &self.protocol,
            &self.filename,
            &self.basename,
            &self.query,
            &self.request_line,
            &self.body,
            &self.xml_root,
            &self.remote_addr,
            &self.server_name,
            &self.unique_id,
            &self.response_status,
            &self.response_protocol,
            &self.response_body,
        ];
        let lists = [
            &self.args_get,
            &self.args_post,
            &self.headers,
            &self.cookies,
            &self.files,
            &self.files_sizes,
            &self.multipart_names,
            &self.multipart_filenames,
            &self.part_headers,
            &self.xml_attrs,
            &self.response_headers,
        ];
        let ids = singles
            .into_iter()
            .flatten()
            .chain(lists.into_iter().flatten())
            .map(|i| u64::from(i.id));
        let (mut count, mut sum) = (0usize, 0u64);
        for id in ids {
            count += 1;
            sum = sum.wrapping_mul(31).wrapping_add(id);
        }
        (count, sum)
    }

    /// The first request header with this name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value.as_slice())
    }
}

/// Items of a collection by lower-case key.
type Items = BTreeMap<Vec<u8>, Item>;

/// A shared base's items by hash of their key.
type Index = std::collections::HashMap<Vec<u8>, Item, foldhash::fast::FixedState>;

/// A collection written by `setvar` (TX, IP, GLOBAL, ...), keys lower-case.
///
/// Copy-on-write over a shared base: the TX collection every transaction
/// starts from (what the folded setup rules wrote, ~150 variables) is one
/// `Arc`ed map, and a transaction's own writes go to `items`, which shadow
/// the base. Cloning such a collection copies only the writes; reads look
/// in `items`, then in the base; iteration merges both in key order.
#[derive(Debug, Default, Clone)]
pub struct Collection {
    /// Own items (shadowing the base's items of the same key).
    items: Items,
    /// Shared items, read-only.
    base: Option<Arc<Items>>,
    /// The same items by hash, for lookups (a B-tree search compares ~15
    /// keys that share long prefixes such as `inbound_anomaly_score_`).
    index: Option<Arc<Index>>,
    /// How many keys of `items` the base has too (for the exact size).
    shadowed: usize,
}

/// Keys a collection may hold: `setvar` names can embed attacker-chosen text
/// (`%{MATCHED_VAR_NAME}`), so growth is bounded.
pub const COLLECTION_KEY_LIMIT: usize = 4096;

impl Collection {
    /// The value of a key.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let item = if key.iter().any(u8::is_ascii_uppercase) {
            self.item(&key.to_ascii_lowercase())
        } else {
            self.item(key)
        };
        item.map(|i| i.value.as_slice())
    }

    /// The item of a lower-case key.
    pub(crate) fn item(&self, key: &[u8]) -> Option<&Item> {
        self.items
            .get(key)
            .or_else(|| self.index.as_deref().and_then(|b| b.get(key)))
    }

    /// How many keys the collection holds.
    pub fn len(&self) -> usize {
        self.items.len() + self.base.as_deref().map_or(0, BTreeMap::len) - self.shadowed
    }

    /// Whether the collection holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
            self.items.iter().filter(move |(k, _)| pick(k)),
            self.base
                .as_deref()
                .map(BTreeMap::iter)
                .unwrap_or_default()
                .filter(move |(k, _)| pick(k)),
        )
    }

    /// Like [`Self::iter_where`], but the shared base is read only at
    /// `base_keys` (its keys that can pass `pick`, from a [`BaseKeyCache`]):
    /// a selector regex over TX then costs nothing for the ~150 template
    /// variables that never match it.
    pub(crate) fn iter_where_in_base<'s, 'k, F>(
        &'s self,
        base_keys: &'k [Vec<u8>],
        pick: F,
    ) -> impl Iterator<Item = &'s Item> + use<'s, 'k, F>
    where
        F: Fn(&[u8]) -> bool + Copy,
    {
        let base = self.base.as_deref();
        Merged::new(
            self.items.iter().filter(move |(k, _)| pick(k)),
            base_keys
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
        Merged::new(
            from(&self.items).take_while(move |(k, _)| k.starts_with(prefix)),
            self.base
                .as_deref()
                .map(from)
                .unwrap_or_default()
                .take_while(move |(k, _)| k.starts_with(prefix)),
        )
    }

    /// Makes the items the shared base of every clone.
    pub(crate) fn into_shared(mut self) -> Self {
        self.materialize();
        let index: Index = self
            .items
            .iter()
            .map(|(k, i)| (k.clone(), i.clone()))
            .collect();
        Collection {
            items: Items::new(),
            base: Some(Arc::new(self.items)),
            index: Some(Arc::new(index)),
            shadowed: 0,
        }
    }

    /// Copies the base's items into own items (rare: a removal of a base key).
    fn materialize(&mut self) {
        self.index = None;
        if let Some(base) = self.base.take() {
            for (k, i) in base.iter() {
                self.items.entry(k.clone()).or_insert_with(|| i.clone());
            }
        }
        self.shadowed = 0;
    }

    /// Sets a key (new id, so cached transformations of the old value are not reused).
    pub fn set(&mut self, ids: &mut Ids, key: &[u8], value: Vec<u8>) {
        let lower;
        let key = if key.iter().any(u8::is_ascii_uppercase) {
            lower = key.to_ascii_lowercase();
            &lower[..]
        } else {
            key
        };
        if let Some(item) = self.items.get_mut(key) {
            // A new id: cached transformations of the old value must not be reused.
            item.value = value;
            item.id = ids.next();
            return;
        }
        let in_base = self.index.as_deref().is_some_and(|b| b.contains_key(key));
        if !in_base && self.len() >= COLLECTION_KEY_LIMIT {
            tracing::debug!("collection full; setvar ignored");
            return;
        }
        if in_base {
            self.shadowed += 1;
        }
        let item = ids.item(key.to_vec(), value);
        self.items.insert(key.to_vec(), item);
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
        self.items.remove(key);
    }
}

/// The keys of a shared base that a fixed key test accepts, computed on
/// first use. Valid for one base only: the `Weak` both identifies it and
/// keeps its address from being reused; another base gets `None` (callers
/// then scan as usual).
#[derive(Debug, Default)]
pub(crate) struct BaseKeyCache(OnceLock<(Weak<Items>, Vec<Vec<u8>>)>);

impl BaseKeyCache {
    /// The base keys of `col` that `test` accepts (in key order), or `None`
    /// when `col` has no base or the cache belongs to another base.
    pub(crate) fn keys(
        &self,
        col: &Collection,
        test: impl Fn(&[u8]) -> bool,
    ) -> Option<&[Vec<u8>]> {
        let base = col.base.as_ref()?;
        let (owner, keys) = self.0.get_or_init(|| {
            let keys = base.keys().filter(|k| test(k)).cloned().collect();
            (Arc::downgrade(base), keys)
        });
        std::ptr::eq(owner.as_ptr(), Arc::as_ptr(base)).then_some(keys.as_slice())
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
        let template = plain.clone().into_shared();
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

    /// The key limit counts base and own keys once each: overwriting a base
    /// key when full still works, a new key is refused.
    #[test]
    fn key_limit_counts_shadowed_keys_once() {
        let mut ids = Ids::default();
        let mut c = Collection::default();
        for n in 0..COLLECTION_KEY_LIMIT {
            c.set(&mut ids, format!("k{n}").as_bytes(), b"1".to_vec());
        }
        let mut shared = c.into_shared();
        shared.set(&mut ids, b"k1", b"2".to_vec());
        assert_eq!(shared.get(b"k1"), Some(&b"2"[..]));
        assert_eq!(shared.len(), COLLECTION_KEY_LIMIT);
        shared.set(&mut ids, b"new", b"1".to_vec());
        assert_eq!(shared.get(b"new"), None);
        shared.remove(b"k2");
        shared.set(&mut ids, b"new", b"1".to_vec());
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
        let template = plain.into_shared();
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
        let got = cached(&tx, &cache).unwrap();
        assert_eq!(got, scan(&tx));
        assert_eq!(got.len(), 2);
        // A removal of a base key copies the base: no base, no cache answer.
        tx.remove(b"b");
        assert_eq!(cached(&tx, &cache), None);
        // Another base is not answered from this cache.
        let mut other = Collection::default();
        other.set(&mut ids, b"leakage", b"1".to_vec());
        let other = other.into_shared();
        assert_eq!(cached(&other, &cache), None);
        assert_eq!(cached(&other, &BaseKeyCache::default()), Some(scan(&other)));
    }
}
