//! Transaction side of persistent collections: `initcol` binds a record of
//! the engine's [`crate::persist::CollectionStore`] to a collection name, and
//! `setvar` / `expirevar` / `deprecatevar` on a bound collection write through
//! to the store (and to the transaction's copy, which rules read).
//!
//! The copy is made lazily: `initcol` only binds the record (creating or
//! touching it, which fixes `IS_NEW` and the timestamps), and its variables
//! are copied into the transaction before the first rule that may read or
//! write a bound collection runs ([`named_use`], per link, computed at load).
//! A GET through CRS binds `ip` and `global` and never reads them.

use super::Transaction;
use super::data::Collection;
use super::expand::expand;
use crate::macros::{MacroString, Part};
use crate::operators::atoi_bytes;
use crate::persist::Change;
use crate::rule::Rule;
use crate::seclang::actions::{Action, SetVar, SetVarOp, VarTimer};
use crate::seclang::targets::Selector;
use crate::variables::Var;

/// Collections one transaction may bind (CRS binds two: `ip` and `global`).
const MAX_BOUND: usize = 8;

impl Transaction {
    fn bound_key(&self, collection: &str) -> Option<Vec<u8>> {
        self.persistent
            .iter()
            .find(|(c, _)| c == collection)
            .map(|(_, k)| k.clone())
    }

    /// `initcol:collection=key`: binds the record (its variables are copied
    /// on first use, [`Self::load_used`]). A second `initcol` of the same
    /// collection is ignored (as in ModSecurity).
    pub(crate) fn init_collection(&mut self, collection: &str, key: &MacroString, starter: &Rule) {
        if self.bound_key(collection).is_some() || self.persistent.len() >= MAX_BOUND {
            return;
        }
        let key = expand(key, &self.data, &self.vars, Some(starter));
        let bound = self.rs.store.bind(collection, &key);
        // What a transient `setvar` wrote under this name before is replaced.
        self.vars.collections.remove(collection);
        self.persistent.push((collection.to_string(), key));
        self.unloaded.push((collection.to_string(), bound));
        // This rule's later actions may use it (run_phase checked before
        // the binding).
        let mut uses = starter.msg.as_ref().is_some_and(|m| names(m, collection));
        let mut link = Some(starter);
        while let Some(l) = link {
            uses |= link_uses(l, starter, collection);
            link = l.chained.as_deref();
        }
        if uses {
            self.load_only(collection);
        }
    }

    /// Copies in the record bound to `collection` if it was not yet.
    fn load_only(&mut self, collection: &str) {
        if let Some(i) = self.unloaded.iter().position(|(c, _)| c == collection) {
            let (collection, bound) = self.unloaded.swap_remove(i);
            self.load(collection, &bound);
        }
    }

    /// Copies in the bound records not copied yet that part `part` of rule
    /// `starter` may read. A link whose targets only name variables of a
    /// record (`IP:PREVIOUS_RBL_CHECK`) gets just those. (Writes need no
    /// copy beforehand: `setvar` on a bound collection copies it itself.)
    pub(crate) fn load_used(&mut self, part: PartOf<'_>, starter: &Rule) {
        let mut i = 0;
        while let Some((collection, bound)) = self.unloaded.get(i) {
            let used = match part {
                PartOf::Inspection(l) => inspection_uses(l, starter, collection),
                PartOf::Effects(l) => effects_use(l, starter, collection),
                PartOf::Record => starter.msg.as_ref().is_some_and(|m| names(m, collection)),
            };
            if !used {
                i += 1;
                continue;
            }
            if let PartOf::Inspection(l) = part
                && keys_only(l, starter, collection)
            {
                let store = &self.rs.store;
                let col = self.vars.collections.entry(collection.clone()).or_default();
                for t in l.targets.iter().filter(|t| target_of(t.var, collection)) {
                    let Selector::Key(key) = &t.selector else {
                        continue;
                    };
                    if col.item(key).is_none()
                        && let Some(value) = store.value_of(collection, bound, key)
                    {
                        col.set(&mut self.ids, key, value);
                    }
                }
                i += 1;
                continue;
            }
            let (collection, bound) = self.unloaded.swap_remove(i);
            self.load(collection, &bound);
        }
    }

    /// The record's live variables, then its built-ins as of binding.
    fn load(&mut self, collection: String, bound: &crate::persist::Bound) {
        let store = &self.rs.store;
        let mut col = Collection::default();
        for (name, value) in store
            .vars_of(&collection, bound)
            .into_iter()
            .chain(store.builtins(bound))
        {
            col.set(&mut self.ids, &name, value);
        }
        self.vars.collections.insert(collection, col);
    }

    /// `setvar` on a bound persistent collection; `false` when the collection
    /// is not bound (the caller then keeps the value for this transaction only).
    pub(crate) fn persistent_setvar(&mut self, sv: &SetVar, starter: &Rule) -> bool {
        let Some(key) = self.bound_key(&sv.collection) else {
            return false;
        };
        self.load_only(&sv.collection);
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
        self.load_only(&t.collection);
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
            Some(v) => {
                col.set(&mut self.ids, name, v);
            }
            None => col.remove(name),
        }
    }
}

/// Bit of [`named_use`] for a rule's match record (its expanded `msg`).
pub(crate) const RECORD_USES_NAMED: u64 = 1 << 63;

/// Which parts of a rule may read or write a collection other than TX, ENV
/// and GEO (`IP:x`, `%{ip.x}`, `setvar:ip.x`, a collection named by
/// `initcol:resource=...`): bit `n` for link `n` (bit 62 for every link from
/// 62 on), [`RECORD_USES_NAMED`] for its match record. Bound records are
/// copied into the transaction before such a part runs (only those it
/// uses: CRS 910120 reads `IP:PREVIOUS_RBL_CHECK` on every request, nothing
/// reads GLOBAL).
pub(crate) fn named_use(rule: &Rule) -> u64 {
    let mut bits = 0;
    if rule.msg.as_ref().is_some_and(|m| names(m, ANY)) {
        bits |= RECORD_USES_NAMED;
    }
    let mut link = Some(rule);
    let mut n = 0u32;
    while let Some(l) = link {
        if link_uses(l, rule, ANY) {
            bits |= 1 << n.min(62);
        }
        n += 1;
        link = l.chained.as_deref();
    }
    bits
}

/// Stands for every collection other than TX, ENV and GEO in [`names`] and
/// [`link_uses`].
const ANY: &str = "";

/// Whether `name` is `collection` (with [`ANY`]: a collection other than
/// TX, ENV and GEO).
fn is(name: &str, collection: &str) -> bool {
    if collection == ANY {
        !matches!(name, "tx" | "env" | "geo" | "rule")
            && Var::from_name(name).is_none_or(Var::is_writable_collection)
    } else {
        name == collection
    }
}

/// Whether a macro string reads `collection`.
fn names(m: &MacroString, collection: &str) -> bool {
    m.parts.iter().any(|p| match p {
        Part::Var { name, .. } => is(name, collection),
        Part::Lit(_) => false,
    })
}

/// Which part of a rule is about to run (see [`Transaction::load_used`]).
#[derive(Clone, Copy)]
pub(crate) enum PartOf<'r> {
    /// A link's targets and operator.
    Inspection(&'r Rule),
    /// A link's actions, once it matched.
    Effects(&'r Rule),
    /// The starter's match record (its `msg`).
    Record,
}

/// Whether one link's targets, operator or actions may use `collection`;
/// `%{rule.msg}` / `%{rule.logdata}` expand the starter's texts.
fn link_uses(l: &Rule, starter: &Rule, collection: &str) -> bool {
    inspection_uses(l, starter, collection)
        || effects_use(l, starter, collection)
        || l.effects.iter().any(|a| match a {
            Action::SetVar(sv) => is(&sv.collection, collection),
            Action::ExpireVar(t) | Action::DeprecateVar(t) => is(&t.collection, collection),
            _ => false,
        })
}

/// Whether a link's targets or operator may read `collection`.
fn inspection_uses(l: &Rule, starter: &Rule, collection: &str) -> bool {
    l.targets.iter().any(|t| target_of(t.var, collection))
        || crate::fold::operator_macro(&l.operator).is_some_and(|m| reads(m, starter, collection))
}

/// Whether a target variable is `collection`'s.
fn target_of(var: Var, collection: &str) -> bool {
    let name = match var {
        Var::Ip => "ip",
        Var::Global => "global",
        Var::Session => "session",
        Var::User => "user",
        _ => return false,
    };
    is(name, collection)
}

/// Whether reading targets by name (their `Selector::Key`s, lower-case
/// since parsing) is all the link's inspection does with `collection`.
fn keys_only(l: &Rule, starter: &Rule, collection: &str) -> bool {
    if crate::fold::operator_macro(&l.operator).is_some_and(|m| reads(m, starter, collection)) {
        return false;
    }
    l.targets
        .iter()
        .filter(|t| target_of(t.var, collection))
        .all(|t| matches!(t.selector, Selector::Key(_)))
}

/// Whether a macro string of rule `starter` reads `collection`, itself or
/// through `%{rule.msg}` / `%{rule.logdata}` (the starter's texts).
fn reads(m: &MacroString, starter: &Rule, collection: &str) -> bool {
    names(m, collection)
        || (m.parts.iter().any(|p| {
            matches!(p, Part::Var { name, key } if name == "rule"
                && matches!(key.as_deref(), Some("msg" | "logdata")))
        }) && [&starter.msg, &starter.logdata]
            .into_iter()
            .flatten()
            .any(|t| names(t, collection)))
}

/// Whether a link's actions read `collection` through macros.
fn effects_use(l: &Rule, starter: &Rule, collection: &str) -> bool {
    let macros = |m: &MacroString| reads(m, starter, collection);
    l.effects.iter().any(|a| match a {
        Action::SetVar(sv) => {
            macros(&sv.name)
                || matches!(&sv.op, SetVarOp::Set(v) | SetVarOp::Add(v) | SetVarOp::Sub(v) if macros(v))
        }
        Action::SetEnv(_, v) | Action::InitCol(_, v) => macros(v),
        Action::ExpireVar(t) | Action::DeprecateVar(t) => macros(&t.name) || macros(&t.value),
        _ => false,
    })
}
