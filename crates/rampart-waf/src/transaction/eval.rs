//! Running the rules of a phase: targets, cached transformations, operator,
//! chains, actions and flow control (`skipAfter`, `skip`, disruptive actions).

use std::borrow::Cow;
use std::cell::RefCell;

use super::cache::{Tv, ValueCache};
use super::collect::Vars;
use super::data::RequestData;

use super::collect::{Candidate, Matched, collect};
use super::data::{NAME_BIT, UNCACHED};
use super::expand::{Env, RecordedMsg, expand, expand_cow};
use super::persistent::{PartOf, RECORD_USES_NAMED};
use super::scan_memo::{self, Kind, ScanMemo};
use super::{Interruption, Transaction};
use crate::rule::Rule;
use crate::ruleset::{Head, Ruleset};
use crate::seclang::actions::{Action, AllowScope, Ctl, Disruptive, EngineMode, SetVarOp};
use crate::transformations::{CASE_ONLY, ChainId};
use crate::variables::Var;

/// Per chain node (rows of `words` bits): the prefilter slots that may match
/// some request fact under that node, from one pass over every value of every
/// variable that fact-only links read. Values no transformation of a chain
/// can change contribute their own scan, shared by all such chains.
///
/// Incremental: items are immutable and new ones get higher ids, so only items
/// above `upto` (the highest id already scanned) are added; the rows of items
/// replaced since stay in, which only makes them a superset (fewer skips).
/// Returns the new highest id.
fn fact_hits(
    rs: &Ruleset,
    data: &RequestData,
    vars: &Vars,
    cache: &mut ValueCache,
    rows: &mut Vec<u64>,
    upto: u32,
) -> u32 {
    let p = &rs.prefilter;
    let words = p.words();
    rows.resize(p.nodes().max(1) * words, 0);
    let mut highest = upto;
    let mut own = vec![0u64; words];
    let mut cands: Vec<Candidate<'_>> = Vec::new();
    // One value's rows (the nodes of its coverage entry), and the memo key.
    let mut fresh: Vec<u64> = Vec::new();
    let mut key: Vec<u8> = Vec::new();
    // Targets whose parts hold no item above `upto` would only yield items
    // already scanned (values without an item, [`ALWAYS`], are rescanned).
    let newer = super::sources::newer_than(data, upto);
    for (coverage, (target, nodes)) in p.coverage().iter().enumerate() {
        if super::sources::of_target(target) & newer == 0 {
            continue;
        }
        cands.clear();
        collect(data, vars, target, &|_, _| false, &mut cands);
        for c in &cands {
            let base = c.id & !NAME_BIT;
            if c.id != UNCACHED && base <= upto {
                continue;
            }
            highest = highest.max(base);
            let group = crate::prefilter::group_of(c.var);
            let keyed = ScanMemo::key(&mut key, Kind::Coverage, coverage, group, &c.value);
            if keyed && p.memo.apply(&key, rows) {
                continue;
            }
            let mask = cache.mask(&rs.chains, c.id, &c.value);
            own.fill(0);
            cache.scan_into(p, &rs.chains, group, c.id, &c.value, 0, &mut own);
            fresh.clear();
            fresh.resize(nodes.len() * words, 0);
            for (row, &node) in fresh.chunks_exact_mut(words.max(1)).zip(nodes) {
                // Chains that can at most change ASCII case scan like the
                // untransformed value (the prefilter ignores case).
                if mask & rs.chains.mask(node) & !CASE_ONLY == 0 {
                    row.copy_from_slice(&own);
                } else {
                    cache.scan_into(p, &rs.chains, group, c.id, &c.value, node, row);
                }
            }
            // Into the transaction's rows, and (sparse) into the memo.
            let mut contribution = Vec::new();
            let mut complete = true;
            for (row, &node) in fresh.chunks_exact(words.max(1)).zip(nodes) {
                let start = node as usize * words;
                if let Some(target) = rows.get_mut(start..start + words) {
                    for (r, o) in target.iter_mut().zip(row) {
                        *r |= *o;
                    }
                }
                complete &= scan_memo::add_row(&mut contribution, start, row);
            }
            if keyed && complete {
                p.memo.remember(&key, contribution.into_boxed_slice());
            }
        }
    }
    highest
}

/// The candidate buffer kept between rules, emptied and ready for borrowed
/// candidates: one allocation per transaction instead of one per rule.
fn borrow_buffer<'a>(mut v: Vec<Candidate<'static>>) -> Vec<Candidate<'a>> {
    v.clear();
    v
}

/// Gives a candidate buffer back, emptied. (An empty map-collect from a
/// `Vec` reuses its allocation when the element layout is the same, as it
/// is here: only the lifetime changes.)
fn return_buffer(mut v: Vec<Candidate<'_>>) -> Vec<Candidate<'static>> {
    v.clear();
    v.into_iter().map(Candidate::into_owned).collect()
}

/// Offers one value of candidate `c` to the link's operator; records a hit
/// and returns true when the link matches it.
fn offer(rule: &Rule, env: &Env<'_>, c: &Candidate<'_>, v: &[u8], hits: &mut Vec<Hit>) -> bool {
    let result = rule.operator.eval(env, v, rule.capture);
    if result.is_some() == rule.negated {
        return false;
    }
    hits.push(Hit {
        // A link without targets (`SecAction`-like) leaves MATCHED_VAR as is.
        matched: (!rule.targets.is_empty()).then(|| Matched::new(c.var, &c.key, v)),
        captures: if rule.negated {
            Vec::new()
        } else {
            result.unwrap_or_default()
        },
    });
    true
}

/// Which of a link's non-disruptive actions [`Transaction::run_effects`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effects {
    /// `setvar`: per matching value, as soon as the link matches.
    SetVar,
    /// `initcol` (and `setsid` / `setuid`, which are `initcol`s): once the
    /// whole chain matched, which is known when the last link matched its
    /// first value, so before that value's `setvar`s (which may write to the
    /// collection bound: `initcol:ip=...,setvar:ip.hits=+1`).
    Binding,
    /// Everything else (`ctl`, `setenv`, `expirevar`, `deprecatevar`): once,
    /// after the whole chain matched and the last link's `setvar`s ran.
    Deferred,
}

impl Effects {
    fn of(action: &Action) -> Self {
        match action {
            Action::SetVar(_) => Self::SetVar,
            Action::InitCol(..) => Self::Binding,
            _ => Self::Deferred,
        }
    }
}

/// One match of one link, kept until the link finished.
#[derive(Debug)]
pub(crate) struct Hit {
    matched: Option<Matched>,
    captures: Vec<Option<Vec<u8>>>,
}

impl Transaction {
    /// Runs the rules of one phase (1..=5).
    pub(crate) fn run_phase(&mut self, phase: u8) {
        if self.interruption.is_some() || self.runtime.engine == EngineMode::Off {
            return;
        }
        if phase < 5 && self.allow_through >= phase {
            return;
        }
        let rs = self.rs.clone();
        // Request facts may have changed since the last phase.
        let signature = self.data.signature();
        if signature != self.facts_signature {
            self.facts_signature = signature;
            self.facts_dirty = true;
        }
        self.present = super::sources::present(&self.data);
        if rs.reads_duration {
            // DURATION as of the start of the phase (one clock read per phase).
            self.vars.duration_us = rs
                .services
                .clock
                .now_micros()
                .saturating_sub(self.started_us);
        }
        let p = usize::from(phase.clamp(1, 5) - 1);
        let (Some(heads), Some(jumps)) = (rs.heads.get(p), rs.jumps.get(p)) else {
            return;
        };
        let mut i = 0;
        let mut skip = 0u32;
        if !self.fold_decided {
            self.fold_decided = true;
            self.folded = self.start_folded(&rs);
        }
        'entries: while let Some(head) = heads.get(i) {
            i += 1;
            if head.is_marker() {
                continue;
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let idx = head.rule as usize;
            // The rule that matched; `None` for a folded replay decided from
            // the head alone (a match with no disruptive action).
            let matched = 'decide: {
                // Decided from the head alone, without reading the rule (only
                // while no run-time removal may pick it).
                if self.runtime.picks_nothing() {
                    if self.folded && head.has(Head::FOLDED) {
                        if !head.has(Head::FOLD_SETS_VAR) && !head.has(Head::FOLD_MATCHED) {
                            continue 'entries;
                        }
                        if head.has(Head::NOT_DISRUPTIVE) && !head.has(Head::FOLD_SETS_VAR) {
                            self.push_match(idx, RecordedMsg::None);
                            break 'decide None;
                        }
                    } else if !head.has(Head::NAMED_FIRST) && self.cannot_match(&rs, head) {
                        self.vars.matched_vars.clear();
                        continue 'entries;
                    }
                }
                let Some(rule) = rs.rules.get(idx) else {
                    continue 'entries;
                };
                if self.rule_removed(rule) {
                    continue 'entries;
                }
                // A folded rule replays the outcome it has for every request.
                let replayed = (self.folded && head.has(Head::FOLDED))
                    .then(|| self.replay(&rs, idx, rule))
                    .flatten();
                match replayed {
                    Some(false) => continue 'entries,
                    Some(true) => {}
                    None => {
                        let named = rs.named_use.get(idx).copied().unwrap_or(u64::MAX);
                        // A TX gate that cannot match while its variables are
                        // the folded ones (see the `idle` module).
                        if self.folded
                            && head.has(Head::IDLE)
                            && named & 1 == 0
                            && let Some(Some(keys)) = rs.idle.get(idx)
                            && super::idle::still_idle(keys, &self.vars.tx, rs.fold.ids_used)
                        {
                            self.vars.matched_vars.clear();
                            continue 'entries;
                        }
                        if !self.eval_chain(&rs, rule, named, head.sources) {
                            continue 'entries;
                        }
                        if named & RECORD_USES_NAMED != 0 {
                            self.load_used(PartOf::Record, rule);
                        }
                        self.record_match(idx, rule);
                    }
                }
                Some(rule)
            };
            if let Some(rule) = matched
                && self.disrupt(rule)
            {
                return;
            }
            // A matched rule's `ctl:ruleEngine=Off` ends the phase.
            if self.runtime.engine == EngineMode::Off {
                return;
            }
            if head.has(Head::SKIP_AFTER) {
                // Resolved at load to the entry after the first target after
                // this rule; never backwards (a loop), whatever the table says.
                i = jumps.get(i - 1).copied().unwrap_or(heads.len()).max(i);
            } else if head.skip > 0 {
                skip = head.skip;
            }
        }
    }

    /// Runs the disruptive action of matched `rule`; whether the phase stops.
    fn disrupt(&mut self, rule: &Rule) -> bool {
        match &rule.disruptive {
            Some(d @ (Disruptive::Deny | Disruptive::Drop | Disruptive::Redirect(_))) => {
                let interruption = Interruption {
                    rule_id: rule.id,
                    status: match d {
                        Disruptive::Redirect(_) => rule.status.unwrap_or(302),
                        _ => rule.status.unwrap_or(403),
                    },
                    redirect: match d {
                        Disruptive::Redirect(url) => Some(url.clone()),
                        _ => None,
                    },
                    drop: matches!(d, Disruptive::Drop),
                };
                if self.runtime.engine == EngineMode::On {
                    self.interruption = Some(interruption);
                    return true;
                }
                if self.detected.is_none() {
                    self.detected = Some(interruption);
                }
                false
            }
            Some(Disruptive::Allow(scope)) if self.runtime.engine == EngineMode::On => {
                match scope {
                    AllowScope::Phase => {}
                    AllowScope::Request => self.allow_through = self.allow_through.max(2),
                    AllowScope::All => self.allow_through = 4,
                }
                true
            }
            _ => false,
        }
    }

    /// Whether the rule of `head` cannot match, known without evaluating it:
    /// none of the parts its first link reads holds a value, or none of the
    /// request facts it reads holds one of its required literals. (The same
    /// tests [`Self::eval_chain`] starts with.)
    fn cannot_match(&mut self, rs: &Ruleset, head: &Head) -> bool {
        if head.sources & self.present == 0 {
            return true;
        }
        head.fact_slot != Head::NO_SLOT
            && !self.facts_allow(rs, head.chain_id, false, head.fact_slot)
    }

    /// Whether prefilter `slot` (of a fact-only link under chain node
    /// `chain_id`) may match some value the link inspects: its chain's end
    /// value, or with multiMatch any intermediate value.
    fn facts_allow(
        &mut self,
        rs: &Ruleset,
        chain_id: ChainId,
        multi_match: bool,
        slot: u32,
    ) -> bool {
        use crate::prefilter::Prefilter;
        if self.facts_dirty {
            self.facts_dirty = false;
            self.facts_upto = fact_hits(
                rs,
                &self.data,
                &self.vars,
                &mut self.cache,
                &mut self.fact_hits,
                self.facts_upto,
            );
        }
        let words = rs.prefilter.words();
        let row = |node: ChainId| {
            let start = node as usize * words;
            self.fact_hits.get(start..start + words).unwrap_or_default()
        };
        if !multi_match {
            return Prefilter::allows(row(chain_id), slot);
        }
        Prefilter::allows(row(0), slot)
            || rs
                .chains
                .path(chain_id)
                .into_iter()
                .any(|node| Prefilter::allows(row(node), slot))
    }

    pub(crate) fn rule_removed(&self, rule: &Rule) -> bool {
        self.runtime.removed_ids.iter().any(|r| r.contains(rule.id))
            || self
                .runtime
                .removed_tags
                .iter()
                .any(|t| rule.has_tag_matching(t))
    }

    fn record_match(&mut self, idx: usize, rule: &Rule) {
        let msg = if self.record_messages {
            RecordedMsg::at_match(rule, &self.data, &self.vars)
        } else {
            RecordedMsg::None
        };
        self.push_match(idx, msg);
    }

    /// Evaluates a rule and its chain. As in ModSecurity v3, each link runs
    /// its `setvar`s as soon as it matches, once per matching value (CRS
    /// relies on this: a starter's `setvar` prepares a variable its chained
    /// rule inspects; it is why CRS puts score increments on the last link).
    /// Its other non-disruptive actions wait until the whole chain matched,
    /// then run once per link, starter first: a starter's `ctl:ruleEngine=Off`
    /// guarded by a chained condition must not take effect when that
    /// condition fails. Of those, the `initcol`s ([`Effects::Binding`]) run
    /// as soon as the last link matched its first value, before that value's
    /// `setvar`s, so that a `setvar` of the last (or only) link writes to the
    /// collection the chain binds; the rest ([`Effects::Deferred`]) after the
    /// last link's `setvar`s. (A `setvar` of an earlier link into a
    /// collection the chain itself binds runs before the binding, into a
    /// transaction-only collection the binding replaces.)
    ///
    /// `named`: the starter's [`super::persistent::named_use`] bits; records
    /// `initcol` bound are copied in before the first link that may use them.
    /// `sources`: the parts the starter reads ([`super::sources::of_link`]);
    /// when none holds a value, no value is collected and the chain does not
    /// match, so it is not evaluated ([`ALWAYS`]: always evaluated).
    pub(crate) fn eval_chain(
        &mut self,
        rs: &Ruleset,
        starter: &Rule,
        named: u64,
        sources: u64,
    ) -> bool {
        self.vars.matched_vars.clear();
        if sources & self.present == 0 {
            return false;
        }
        let mut link = Some(starter);
        let mut n = 0u32;
        while let Some(l) = link {
            let uses_named = named & (1 << n.min(62)) != 0;
            if uses_named {
                self.load_used(PartOf::Inspection(l), starter);
            }
            let last = l.chained.is_none();
            if !self.eval_link(rs, l, starter, uses_named, last) {
                return false;
            }
            n += 1;
            link = l.chained.as_deref();
        }
        let mut link = Some(starter);
        while let Some(l) = link {
            self.run_effects(l, starter, Effects::Deferred);
            link = l.chained.as_deref();
        }
        true
    }

    /// Evaluates one link and runs its actions once per matching value
    /// (ModSecurity's behaviour).
    ///
    /// `uses_named`: the link may use a collection `initcol` binds (copied
    /// in before its actions run if they read it). `last`: it is the chain's
    /// last link (or the rule is not chained): once it matched, the chain
    /// did, and the chain's `initcol`s run before its first `setvar`.
    fn eval_link(
        &mut self,
        rs: &Ruleset,
        rule: &Rule,
        starter: &Rule,
        uses_named: bool,
        last: bool,
    ) -> bool {
        if let Some(slot) = rule.prefilter_slot
            && rs.prefilter.is_fact_slot(slot)
            && !self.facts_allow(rs, rule.chain_id, rule.multi_match, slot)
        {
            // No value of any variable this link reads contains one of its
            // required literals: it cannot match.
            return false;
        }
        let mut hits = std::mem::take(&mut self.hits);
        hits.clear();
        {
            let runtime = &self.runtime;
            let excluded = |var: Var, key: &[u8]| {
                rule.exclusions.iter().any(|e| e.excludes(var, key))
                    || runtime
                        .target_removals
                        .iter()
                        .any(|(pick, e)| pick.picks(starter) && e.excludes(var, key))
            };
            let mut cands = borrow_buffer(std::mem::take(&mut self.scratch));
            if rule.targets.is_empty() {
                cands.push(Candidate {
                    var: Var::Tx,
                    key: Cow::Borrowed(b""),
                    value: Cow::Borrowed(b""),
                    id: UNCACHED,
                });
            }
            for t in &rule.targets {
                collect(&self.data, &self.vars, t, &excluded, &mut cands);
            }
            let env = Env {
                data: &self.data,
                vars: &self.vars,
                rule: starter,
                services: &rs.services,
                geo: RefCell::new(None),
                match_limit_exceeded: std::cell::Cell::new(false),
                memo: &self.memo,
            };
            for c in &cands {
                let group = crate::prefilter::group_of(c.var);
                // Usually one value (the end of the chain); with multiMatch,
                // every distinct intermediate value too, until one matches.
                // Values the prefilter rules out are not offered.
                if rule.multi_match {
                    let mut prev: Option<Tv<'_>> = None;
                    let nodes = std::iter::once(0).chain(rs.chains.path(rule.chain_id));
                    for node in nodes {
                        let v = self.cache.transformed(&rs.chains, c.id, &c.value, node);
                        if prev.as_ref().is_some_and(|p| **p == *v) {
                            continue;
                        }
                        let allowed = rule.prefilter_slot.is_none_or(|slot| {
                            self.cache.allows(
                                &rs.prefilter,
                                &rs.chains,
                                group,
                                c.id,
                                &c.value,
                                node,
                                slot,
                            )
                        });
                        if allowed && offer(rule, &env, c, &v, &mut hits) {
                            break;
                        }
                        prev = Some(v);
                    }
                } else if rule.prefilter_slot.is_none_or(|slot| {
                    self.cache.allows(
                        &rs.prefilter,
                        &rs.chains,
                        group,
                        c.id,
                        &c.value,
                        rule.chain_id,
                        slot,
                    )
                }) {
                    let last = self
                        .cache
                        .transformed(&rs.chains, c.id, &c.value, rule.chain_id);
                    offer(rule, &env, c, &last, &mut hits);
                }
            }
            let geo = env.geo.into_inner();
            let match_limit_exceeded = env.match_limit_exceeded.get();
            self.scratch = return_buffer(cands);
            if match_limit_exceeded {
                // ModSecurity's flag; the recommended rule 200005 reads it.
                let stored = self.vars.tx.set(
                    &mut self.ids,
                    crate::operators::rx::MATCH_LIMIT_FLAG,
                    b"1".to_vec(),
                );
                self.tx_written(stored);
            }
            if let Some(fields) = geo {
                let mut geo = crate::transaction::data::Collection::default();
                for (k, v) in fields {
                    geo.set(&mut self.ids, k.as_bytes(), v.into_bytes());
                }
                self.vars.geo = geo;
            }
        }
        if hits.is_empty() {
            self.hits = hits;
            return false;
        }
        if uses_named {
            self.load_used(PartOf::Effects(rule), starter);
        }
        let mut bind = last;
        for hit in hits.drain(..) {
            if rule.capture && !hit.captures.is_empty() {
                const KEYS: [&[u8]; 10] =
                    [b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9"];
                for (key, cap) in KEYS.iter().zip(hit.captures) {
                    match cap {
                        Some(v) => {
                            let stored = self.vars.tx.set(&mut self.ids, key, v);
                            self.tx_written(stored);
                        }
                        None => self.vars.tx.remove(key),
                    }
                }
            }
            if let Some(matched) = hit.matched {
                let matched = std::sync::Arc::new(matched);
                self.vars.matched_vars.push(matched.clone());
                self.vars.matched_var = Some(matched);
            }
            if std::mem::take(&mut bind) {
                // The chain matched: bind its collections (starter first)
                // with this value's MATCHED_VAR and captures, before its
                // `setvar`s.
                let mut link = Some(starter);
                while let Some(l) = link {
                    self.run_effects(l, starter, Effects::Binding);
                    link = l.chained.as_deref();
                }
            }
            self.run_effects(rule, starter, Effects::SetVar);
        }
        self.hits = hits;
        true
    }

    /// Runs one link's non-disruptive actions of kind `which`.
    fn run_effects(&mut self, rule: &Rule, starter: &Rule, which: Effects) {
        for action in &rule.effects {
            if Effects::of(action) != which {
                continue;
            }
            match action {
                Action::SetVar(sv) => {
                    if self.persistent_setvar(sv, starter) {
                        continue;
                    }
                    let name = expand_cow(&sv.name, &self.data, &self.vars, Some(starter));
                    let collection = sv.collection.as_str();
                    // The current value matters only to `=+` / `=-`.
                    // A literal TX name reads and writes through its remembered slot.
                    let slotted = collection == "tx" && matches!(name, Cow::Borrowed(_));
                    let current = || {
                        if slotted {
                            return self
                                .vars
                                .tx
                                .get_cached(sv.name.slot_cache(), &name)
                                .map_or(0, crate::operators::atoi_bytes);
                        }
                        self.vars
                            .collection(collection)
                            .and_then(|c| c.get(&name))
                            .map(crate::operators::atoi_bytes)
                            .unwrap_or(0)
                    };
                    let operand = |v| match super::expand::tx_only(v, &self.vars) {
                        Some(b) => crate::operators::atoi_bytes(b),
                        None => crate::operators::atoi_bytes(&expand_cow(
                            v,
                            &self.data,
                            &self.vars,
                            Some(starter),
                        )),
                    };
                    let new_value = match &sv.op {
                        // `=%{tx.x}` copies through the remembered slot.
                        SetVarOp::Set(v) => Some(match super::expand::tx_only(v, &self.vars) {
                            Some(b) => b.to_vec(),
                            None => {
                                expand_cow(v, &self.data, &self.vars, Some(starter)).into_owned()
                            }
                        }),
                        SetVarOp::Add(v) => {
                            Some(super::expand::decimal(current().saturating_add(operand(v))))
                        }
                        SetVarOp::Sub(v) => {
                            Some(super::expand::decimal(current().saturating_sub(operand(v))))
                        }
                        SetVarOp::Delete => None,
                    };
                    let col = match collection {
                        "tx" => &mut self.vars.tx,
                        "env" => &mut self.vars.env,
                        other => self.vars.collections.entry(other.to_string()).or_default(),
                    };
                    let stored = match new_value {
                        Some(v) if slotted => {
                            col.set_cached(&mut self.ids, sv.name.slot_cache(), &name, v)
                        }
                        Some(v) => col.set(&mut self.ids, &name, v),
                        None => {
                            col.remove(&name);
                            true
                        }
                    };
                    // Only TX is per request and written from request data;
                    // the persistent collections keep their own bound.
                    if collection == "tx" {
                        self.tx_written(stored);
                    }
                }
                Action::SetEnv(name, value) => {
                    let v = expand(value, &self.data, &self.vars, Some(starter));
                    self.vars.env.set(&mut self.ids, name.as_bytes(), v);
                }
                Action::InitCol(name, key) => self.init_collection(name, key, starter),
                Action::ExpireVar(t) => self.var_timer(t, false, starter),
                Action::DeprecateVar(t) => self.var_timer(t, true, starter),
                Action::Ctl(ctl) => self.apply_ctl(ctl),
                _ => {}
            }
        }
    }

    /// After a TX write: when it was dropped (TX full), sets
    /// [`TX_LIMIT_FLAG`](super::collection::TX_LIMIT_FLAG) so the request is
    /// refused (rule 200008) rather than judged on missing variables.
    fn tx_written(&mut self, stored: bool) {
        if !stored {
            self.vars.tx.set_past_limit(
                &mut self.ids,
                super::collection::TX_LIMIT_FLAG,
                b"1".to_vec(),
            );
        }
    }

    pub(crate) fn apply_ctl(&mut self, ctl: &Ctl) {
        use super::RulePick;
        match ctl {
            Ctl::RuleRemoveById(ids) => self.runtime.removed_ids.extend(ids.iter().copied()),
            Ctl::RuleRemoveByTag(re) => self.runtime.removed_tags.push(re.clone()),
            Ctl::RuleRemoveTargetById(ids, e) => self
                .runtime
                .target_removals
                .push((RulePick::Ids(ids.clone()), e.clone())),
            Ctl::RuleRemoveTargetByTag(re, e) => self
                .runtime
                .target_removals
                .push((RulePick::Tag(re.clone()), e.clone())),
            Ctl::RuleEngine(mode) => self.runtime.engine = *mode,
            Ctl::RequestBodyAccess(on) => self.runtime.body_access = *on,
            Ctl::RequestBodyProcessor(p) => self.vars.body_processor = Some(*p),
            Ctl::ForceRequestBodyVariable(on) => self.runtime.force_body_variable = *on,
            Ctl::AuditOnly(_) => {}
        }
    }
}
