//! Load-time constant folding ("partial evaluation") of rules whose outcome
//! is the same for every request: CRS setup rules that only read and write TX
//! variables (`901xxx`, `crs-setup.conf`'s `SecAction`s) and the paranoia
//! level gates (`SecRule TX:EXECUTING_PARANOIA_LEVEL "@lt 2" "...,skipAfter:..."`).
//!
//! At load, [`compute`] runs such rules once, in program order (phases 1 to 5,
//! entry order), on a template transaction that has no request. Per
//! transaction they are not evaluated: the TX state their writes leave is
//! installed when phase 1 starts (one clone of the template's TX collection),
//! and in each folded rule's place the run replays its outcome (matched or
//! not, MATCHED_VAR, the match record, its `skip`/`skipAfter` jump), so the
//! rules that still run see exactly the state they saw unfolded. A gate that
//! always jumps becomes a static jump: the rules it skips are never visited.
//!
//! A rule is folded only when, against the rules kept (not folded) before it:
//! - it reads only TX variables by literal name and constants (`%{tx.x}`,
//!   `%{rule.id}`): pure operators, no MATCHED_VAR, no request data;
//! - no earlier kept rule writes what it reads;
//! - its only effects are `setvar:tx.<literal name>` and `capture`, and when
//!   it matches it is `nolog` and does not disrupt (`pass` or nothing);
//! - no `ctl:ruleRemove*` of the ruleset can pick it;
//! - if it can write TX: it is in phase 1; no earlier kept rule reads or
//!   writes what it writes, and no earlier folded rule reads it (so any folded
//!   rule evaluated in place sees what the template saw); it runs on every
//!   path: no earlier kept rule can stop the phase (deny, drop, redirect,
//!   allow, block, `ctl:ruleEngine`) or jump over it, and no folded jump
//!   skips it.
//!
//! Run-time removals (per-route exclusions, [`crate::Transaction::remove_rules_by_id`]
//! and the others) are honoured: a removed folded rule is skipped in place like
//! any rule; a target removal on a folded rule makes it run normally; and a
//! transaction whose removals pick a folded rule that writes runs the whole
//! program unfolded.

use std::sync::Arc;

use regex::bytes::Regex;

use crate::macros::{MacroString, Part};
use crate::operators::{Arg, Operator};
use crate::rule::Rule;
use crate::ruleset::{Entry, Ruleset};
use crate::seclang::actions::{Action, Ctl, Disruptive, IdRange, SetVarOp};
use crate::seclang::targets::Selector;
use crate::transaction::{Collection, Outcome, TX_LIMIT_FLAG, Transaction};
use crate::variables::Var;

/// The folded rules of a ruleset.
#[derive(Debug, Default)]
pub(crate) struct Fold {
    /// Per rule (index into the ruleset's rules): its outcome if folded.
    pub outcomes: Vec<Option<Outcome>>,
    /// Folded rules that may write TX (their writes are in `tx`).
    pub writers: Vec<usize>,
    /// The TX state the folded writers leave.
    pub tx: Collection,
    /// Highest item id of `tx` (transactions number their items above it).
    pub ids_used: u32,
    /// Number of folded rules.
    pub count: usize,
    /// Rules a folded jump always skips (never visited).
    pub skipped: usize,
    /// Per rule: whether a folded jump always skips it.
    pub never_visited: Vec<bool>,
}

impl Fold {
    /// Whether any rule is folded.
    pub fn active(&self) -> bool {
        self.count > 0
    }
}

/// A TX variable name, or every name with a prefix (`""`: all of them).
#[derive(Debug, Clone)]
enum Key {
    Exact(Vec<u8>),
    Prefix(Vec<u8>),
}

fn overlap(a: &Key, b: &Key) -> bool {
    match (a, b) {
        (Key::Exact(x), Key::Exact(y)) => x == y,
        (Key::Exact(x), Key::Prefix(p)) | (Key::Prefix(p), Key::Exact(x)) => x.starts_with(p),
        (Key::Prefix(p), Key::Prefix(q)) => p.starts_with(q) || q.starts_with(p),
    }
}

/// A set of TX names.
#[derive(Debug, Clone, Default)]
struct Keys(Vec<Key>);

impl Keys {
    fn exact(&mut self, k: &[u8]) {
        self.0.push(Key::Exact(k.to_ascii_lowercase()));
    }

    fn prefix(&mut self, p: &[u8]) {
        self.0.push(Key::Prefix(p.to_ascii_lowercase()));
    }

    fn extend(&mut self, other: &Keys) {
        self.0.extend(other.0.iter().cloned());
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn overlaps(&self, other: &Keys) -> bool {
        self.0.iter().any(|a| other.0.iter().any(|b| overlap(a, b)))
    }
}

/// What one rule (all its links) reads and writes of TX, and what else it does.
#[derive(Debug, Default)]
struct Access {
    reads: Keys,
    writes: Keys,
    /// Reads something other than TX by literal name and constants.
    variable: bool,
    /// Has effects other than `setvar:tx.<literal>` and `capture`.
    other_effects: bool,
    /// Can end the phase or stop rules from running.
    stops: bool,
}

impl Access {
    fn of(rule: &Rule) -> Self {
        let mut a = Access::default();
        let mut link = Some(rule);
        while let Some(l) = link {
            a.link(l, rule.id);
            link = l.chained.as_deref();
        }
        a
    }

    /// Adds one link; `id` is the starter's (what `%{rule.id}` expands to).
    fn link(&mut self, l: &Rule, id: u64) {
        for t in &l.targets {
            match (t.var, &t.selector) {
                // Set by the engine on any dropped TX write, not by a rule's
                // declared writes: known only per request.
                (Var::Tx, Selector::Key(k)) if k.eq_ignore_ascii_case(TX_LIMIT_FLAG) => {
                    self.variable = true;
                }
                (Var::Tx, Selector::Key(k)) => self.reads.exact(k),
                (Var::Tx, _) => self.reads.prefix(b""),
                _ => self.variable = true,
            }
        }
        self.operator(&l.operator);
        for m in [&l.msg, &l.logdata].into_iter().flatten() {
            self.macro_reads(m);
        }
        if l.capture {
            for i in 0..10u8 {
                self.writes.exact(&[b'0' + i]);
            }
        }
        if matches!(
            l.disruptive,
            Some(
                Disruptive::Deny
                    | Disruptive::Drop
                    | Disruptive::Redirect(_)
                    | Disruptive::Allow(_)
                    | Disruptive::Block
            )
        ) {
            self.stops = true;
        }
        for action in &l.effects {
            self.effect(action, id);
        }
    }

    fn operator(&mut self, op: &Operator) {
        if let Some(m) = operator_macro(op) {
            self.macro_reads(m);
        }
        // A backtracking search may stop at its limit and set the flag.
        let may_hit_limit = match op {
            Operator::Rx(re) => re.is_fallback(),
            Operator::RxDynamic(_) => true,
            _ => false,
        };
        if may_hit_limit {
            self.writes.exact(crate::operators::rx::MATCH_LIMIT_FLAG);
        }
        // Outside services or per-transaction memos: never folded.
        if matches!(
            op,
            Operator::DetectSqli | Operator::DetectXss | Operator::GeoLookup | Operator::Rbl(_)
        ) {
            self.variable = true;
        }
    }

    fn effect(&mut self, action: &Action, id: u64) {
        match action {
            Action::SetVar(sv) => {
                self.macro_reads(&sv.name);
                if let SetVarOp::Set(v) | SetVarOp::Add(v) | SetVarOp::Sub(v) = &sv.op {
                    self.macro_reads(v);
                }
                if sv.collection != "tx" {
                    self.other_effects = true;
                    return;
                }
                let literal = sv.name.literal();
                let written = match &literal {
                    Some(name) => Key::Exact(name.as_bytes().to_ascii_lowercase()),
                    None => {
                        self.other_effects = true;
                        Key::Prefix(literal_prefix(&sv.name, id))
                    }
                };
                // `=+n` / `=-n` read the current value.
                if matches!(sv.op, SetVarOp::Add(_) | SetVarOp::Sub(_)) {
                    self.reads.0.push(written.clone());
                }
                self.writes.0.push(written);
            }
            Action::SetEnv(_, v) | Action::InitCol(_, v) => {
                self.macro_reads(v);
                self.other_effects = true;
            }
            Action::ExpireVar(t) | Action::DeprecateVar(t) => {
                self.macro_reads(&t.name);
                self.macro_reads(&t.value);
                if t.collection == "tx" {
                    self.writes.0.push(Key::Prefix(literal_prefix(&t.name, id)));
                    self.reads.0.push(Key::Prefix(literal_prefix(&t.name, id)));
                }
                self.other_effects = true;
            }
            Action::Ctl(ctl) => {
                if matches!(ctl, Ctl::RuleEngine(_)) {
                    self.stops = true;
                }
                self.other_effects = true;
            }
            _ => {}
        }
    }

    fn macro_reads(&mut self, m: &MacroString) {
        for part in &m.parts {
            let Part::Var { name, key } = part else {
                continue;
            };
            match (name.as_str(), key) {
                ("tx", Some(k)) if k.as_bytes().eq_ignore_ascii_case(TX_LIMIT_FLAG) => {
                    self.variable = true;
                }
                ("tx", Some(k)) => self.reads.exact(k.as_bytes()),
                ("tx", None) => self.reads.prefix(b""),
                // `%{rule.msg}` and `%{rule.logdata}` expand the rule's own
                // strings, which are read above.
                ("rule", _) => {}
                _ => self.variable = true,
            }
        }
    }
}

/// The macro string an operator's argument expands per transaction, if any.
pub(crate) fn operator_macro(op: &Operator) -> Option<&MacroString> {
    match op {
        Operator::Within(arg)
        | Operator::StrEq(arg)
        | Operator::BeginsWith(arg)
        | Operator::EndsWith(arg)
        | Operator::Contains(arg)
        | Operator::ContainsWord(arg)
        | Operator::Compare(_, arg) => match arg {
            Arg::Dynamic(m) => Some(m),
            Arg::Static(_) => None,
        },
        Operator::RxDynamic(rx) => Some(&rx.template),
        Operator::Rx(_)
        | Operator::Pm(_)
        | Operator::IpMatch(_)
        | Operator::ValidateByteRange(_)
        | Operator::ValidateUrlEncoding
        | Operator::ValidateUtf8Encoding
        | Operator::Unconditional
        | Operator::NoMatch
        | Operator::DetectSqli
        | Operator::DetectXss
        | Operator::GeoLookup
        | Operator::Rbl(_) => None,
    }
}

/// The lower-case text of a name up to its first macro that is not
/// `%{rule.id}` (a constant: CRS 4 names variables `tx.%{rule.id}-...`).
fn literal_prefix(m: &MacroString, id: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for part in &m.parts {
        match part {
            Part::Lit(s) => out.extend_from_slice(s.as_bytes()),
            Part::Var { name, key } if name == "rule" && key.as_deref() == Some("id") => {
                out.extend_from_slice(id.to_string().as_bytes());
            }
            Part::Var { .. } => break,
        }
    }
    out.to_ascii_lowercase()
}

/// The lower-case TX names rules use literally (`setvar:tx.name`, `TX:name`,
/// `%{tx.name}`, `capture`'s `0`-`9`): they get slots in the shared TX
/// collection.
fn known_tx_names(rules: &[Rule]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = (b'0'..=b'9').map(|d| vec![d]).collect();
    let macros = |m: &MacroString, out: &mut Vec<Vec<u8>>| {
        for part in &m.parts {
            if let Part::Var { name, key: Some(k) } = part
                && name == "tx"
            {
                out.push(k.as_bytes().to_ascii_lowercase());
            }
        }
    };
    for rule in rules {
        let mut link = Some(rule);
        while let Some(l) = link {
            for t in &l.targets {
                if let (Var::Tx, Selector::Key(k)) = (t.var, &t.selector) {
                    out.push(k.to_ascii_lowercase());
                }
            }
            if let Some(m) = operator_macro(&l.operator) {
                macros(m, &mut out);
            }
            for m in [&l.msg, &l.logdata].into_iter().flatten() {
                macros(m, &mut out);
            }
            for action in &l.effects {
                match action {
                    Action::SetVar(sv) => {
                        macros(&sv.name, &mut out);
                        if let SetVarOp::Set(v) | SetVarOp::Add(v) | SetVarOp::Sub(v) = &sv.op {
                            macros(v, &mut out);
                        }
                        if sv.collection == "tx"
                            && let Some(name) = sv.name.literal()
                        {
                            out.push(name.as_bytes().to_ascii_lowercase());
                        }
                    }
                    Action::SetEnv(_, v) | Action::InitCol(_, v) => macros(v, &mut out),
                    Action::ExpireVar(t) | Action::DeprecateVar(t) => {
                        macros(&t.name, &mut out);
                        macros(&t.value, &mut out);
                    }
                    _ => {}
                }
            }
            link = l.chained.as_deref();
        }
    }
    out
}

/// Rules `ctl:ruleRemove*` actions of the ruleset may pick.
#[derive(Default)]
struct Removals {
    ids: Vec<IdRange>,
    tags: Vec<Arc<Regex>>,
}

impl Removals {
    fn of(rs: &Ruleset) -> Self {
        let mut r = Removals::default();
        for rule in &rs.rules {
            let mut link = Some(rule);
            while let Some(l) = link {
                for action in &l.effects {
                    match action {
                        Action::Ctl(
                            Ctl::RuleRemoveById(ids) | Ctl::RuleRemoveTargetById(ids, _),
                        ) => {
                            r.ids.extend_from_slice(ids);
                        }
                        Action::Ctl(
                            Ctl::RuleRemoveByTag(re) | Ctl::RuleRemoveTargetByTag(re, _),
                        ) => r.tags.push(re.clone()),
                        _ => {}
                    }
                }
                link = l.chained.as_deref();
            }
        }
        r
    }

    fn pick(&self, rule: &Rule) -> bool {
        self.ids.iter().any(|r| r.contains(rule.id))
            || self.tags.iter().any(|t| rule.has_tag_matching(t))
    }
}

/// Where the run resumes after `rule` at entry `pos` jumps (`skipAfter` or
/// `skip`), if it does.
fn landing(entries: &[Entry], jumps: &[usize], pos: usize, rule: &Rule) -> Option<usize> {
    if rule.skip_after.is_some() {
        // Never backwards, as in the rule loop.
        return Some(
            jumps
                .get(pos)
                .copied()
                .unwrap_or(entries.len())
                .max(pos + 1),
        );
    }
    if rule.skip == 0 {
        return None;
    }
    // `skip:n` passes over the next n rules (markers do not count).
    let mut left = rule.skip;
    let mut i = pos + 1;
    while let Some(e) = entries.get(i) {
        i += 1;
        if matches!(e, Entry::Rule(_)) {
            left -= 1;
            if left == 0 {
                break;
            }
        }
    }
    Some(i)
}

/// Folds what can be folded (see the module doc). `rs` must not be folded yet.
pub(crate) fn compute(rs: &Arc<Ruleset>) -> Fold {
    let removals = Removals::of(rs);
    let mut template = Transaction::new(rs.clone());
    let mut outcomes: Vec<Option<Outcome>> = vec![None; rs.rules.len()];
    let mut writers = Vec::new();
    let mut count = 0;
    let mut skipped = 0;
    let mut never_visited = vec![false; rs.rules.len()];
    let mut kept_reads = Keys::default();
    let mut kept_writes = Keys::default();
    let mut folded_reads = Keys::default();
    // An earlier kept rule of phase 1 may stop the phase.
    let mut stopped = false;
    for (p, (entries, jumps)) in rs.phases.iter().zip(&rs.jumps).enumerate() {
        let phase = p + 1;
        // Entries before `dead_until` are skipped by a folded jump, unless a
        // kept jump lands among them (`revived`).
        let mut dead_until = 0;
        let mut revived = false;
        // Where kept jumps of this phase resume; the furthest one.
        let mut landings: Vec<usize> = Vec::new();
        let mut furthest = 0;
        for (pos, entry) in entries.iter().enumerate() {
            let in_zone = pos < dead_until;
            if in_zone && landings.contains(&pos) {
                revived = true;
            }
            if !in_zone {
                revived = false;
            }
            let Entry::Rule(idx) = *entry else { continue };
            if in_zone && !revived {
                // Never visited: neither folded nor part of the analysis.
                skipped += 1;
                if let Some(n) = never_visited.get_mut(idx) {
                    *n = true;
                }
                continue;
            }
            let Some(rule) = rs.rules.get(idx) else {
                continue;
            };
            let acc = Access::of(rule);
            let mut foldable =
                !acc.variable && !acc.other_effects && !kept_writes.overlaps(&acc.reads);
            if foldable && !acc.writes.is_empty() {
                foldable = phase == 1
                    && !stopped
                    && !in_zone
                    && pos >= furthest
                    && !removals.pick(rule)
                    && !kept_reads.overlaps(&acc.writes)
                    && !kept_writes.overlaps(&acc.writes)
                    && !folded_reads.overlaps(&acc.writes);
            }
            let outcome = foldable.then(|| {
                let snap = template.fold_snapshot();
                let outcome = template.fold_eval(rs, rule);
                let quiet = !rule.log && matches!(rule.disruptive, None | Some(Disruptive::Pass));
                if outcome.matched && !quiet {
                    template.fold_restore(snap);
                    None
                } else {
                    Some(outcome)
                }
            });
            match outcome.flatten() {
                Some(outcome) => {
                    count += 1;
                    if acc.writes.is_empty() {
                        folded_reads.extend(&acc.reads);
                    } else {
                        writers.push(idx);
                    }
                    if outcome.matched
                        && let Some(to) = landing(entries, jumps, pos, rule)
                    {
                        dead_until = dead_until.max(to);
                    }
                    if let Some(slot) = outcomes.get_mut(idx) {
                        *slot = Some(outcome);
                    }
                }
                None => {
                    kept_reads.extend(&acc.reads);
                    kept_writes.extend(&acc.writes);
                    if phase == 1 && acc.stops {
                        stopped = true;
                    }
                    if let Some(to) = landing(entries, jumps, pos, rule) {
                        landings.push(to);
                        furthest = furthest.max(to);
                    }
                }
            }
        }
    }
    let (tx, ids_used) = template.fold_finish(known_tx_names(&rs.rules));
    Fold {
        outcomes,
        writers,
        tx,
        ids_used,
        count,
        skipped,
        never_visited,
    }
}
