//! Transaction side of persistent collections: `initcol` binds a record of
//! the engine's [`crate::persist::CollectionStore`] to a collection name, and
//! `setvar` / `expirevar` / `deprecatevar` on a bound collection write through
//! to the store (and to the transaction's copy, which rules read).

use super::Transaction;
use super::data::Collection;
use super::expand::expand;
use crate::macros::MacroString;
use crate::operators::atoi_bytes;
use crate::persist::Change;
use crate::rule::Rule;
use crate::seclang::actions::{SetVar, SetVarOp, VarTimer};

/// Collections one transaction may bind (CRS binds two: `ip` and `global`).
const MAX_BOUND: usize = 8;

impl Transaction {
    fn bound_key(&self, collection: &str) -> Option<Vec<u8>> {
        self.persistent
            .iter()
            .find(|(c, _)| c == collection)
            .map(|(_, k)| k.clone())
    }

    /// `initcol:collection=key`: loads the record into the transaction. A
    /// second `initcol` of the same collection is ignored (as in ModSecurity).
    pub(crate) fn init_collection(&mut self, collection: &str, key: &MacroString, starter: &Rule) {
        if self.bound_key(collection).is_some() || self.persistent.len() >= MAX_BOUND {
            return;
        }
        let key = expand(key, &self.data, &self.vars, Some(starter));
        let mut col = Collection::default();
        for (name, value) in self.rs.store.open(collection, &key) {
            col.set(&mut self.ids, &name, value);
        }
        self.vars.collections.insert(collection.to_string(), col);
        self.persistent.push((collection.to_string(), key));
    }

    /// `setvar` on a bound persistent collection; `false` when the collection
    /// is not bound (the caller then keeps the value for this transaction only).
    pub(crate) fn persistent_setvar(&mut self, sv: &SetVar, starter: &Rule) -> bool {
        let Some(key) = self.bound_key(&sv.collection) else {
            return false;
        };
        let name = expand(&sv.name, &self.data, &self.vars, Some(starter));
        let num =
            |t: &Self, m: &MacroString| atoi_bytes(&expand(m, &t.data, &t.vars, Some(starter)));
        let change = match &sv.op {
            SetVarOp::Set(v) => Change::Set(expand(v, &self.data, &self.vars, Some(starter))),
            SetVarOp::Add(v) => Change::Add(num(self, v)),
            SetVarOp::Sub(v) => Change::Add(num(self, v).saturating_neg()),
            SetVarOp::Delete => Change::Delete,
        };
        let after = self.rs.store.apply(&sv.collection, &key, &name, change);
        self.mirror(&sv.collection, &name, after);
        true
    }

    /// `expirevar` / `deprecatevar` on a bound collection (elsewhere, such as
    /// on TX, they have no effect: TX ends with the transaction).
    pub(crate) fn var_timer(&mut self, t: &VarTimer, deprecate: bool, starter: &Rule) {
        let Some(key) = self.bound_key(&t.collection) else {
            return;
        };
        let name = expand(&t.name, &self.data, &self.vars, Some(starter));
        let value = expand(&t.value, &self.data, &self.vars, Some(starter));
        let change = if deprecate {
            let Some((amount, period)) = value
                .iter()
                .position(|&c| c == b'/')
                .map(|i| value.split_at(i))
                .map(|(a, b)| (atoi_bytes(a), atoi_bytes(b.get(1..).unwrap_or_default())))
            else {
                return;
            };
            if period <= 0 {
                return;
            }
            Change::Deprecate { amount, period }
        } else {
            Change::Expire(atoi_bytes(&value))
        };
        let after = self.rs.store.apply(&t.collection, &key, &name, change);
        self.mirror(&t.collection, &name, after);
    }

    fn mirror(&mut self, collection: &str, name: &[u8], after: Option<Vec<u8>>) {
        let col = self
            .vars
            .collections
            .entry(collection.to_string())
            .or_default();
        match after {
            Some(v) => col.set(&mut self.ids, name, v),
            None => col.remove(name),
        }
    }
}
