//! Transaction side of load-time folding ([`crate::fold`]): the template
//! transaction folded rules run on at load, and, per request, installing the
//! template's TX state and replaying a folded rule's outcome in its place.

use std::sync::Arc;

use super::Transaction;
use super::data::Collection;
use crate::rule::Rule;
use crate::ruleset::Ruleset;

use super::collect::MatchedVar;

/// What a folded rule does on every request.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// Whether it matches.
    pub matched: bool,
    /// MATCHED_VAR after it ran, when it changed it (a link matched).
    pub matched_var: Option<MatchedVar>,
}

/// TX and MATCHED_VAR of the template, to undo a rule that may not be folded
/// after all.
pub(crate) struct Snapshot {
    tx: Collection,
    matched_var: Option<MatchedVar>,
}

impl Transaction {
    /// Evaluates `rule` on this template transaction (no request): whether
    /// it matched, and MATCHED_VAR if the evaluation changed it. Its TX
    /// effects stay in the template.
    pub(crate) fn fold_eval(&mut self, rs: &Ruleset, rule: &Rule) -> Outcome {
        let before = self.vars.matched_var.clone();
        let matched = self.eval_chain(rs, rule, 0, super::sources::ALWAYS);
        let after = &self.vars.matched_var;
        let changed = match (&before, after) {
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            (None, None) => false,
            _ => true,
        };
        Outcome {
            matched,
            matched_var: if changed { after.clone() } else { None },
        }
    }

    /// The template state before a trial evaluation.
    pub(crate) fn fold_snapshot(&self) -> Snapshot {
        Snapshot {
            tx: self.vars.tx.clone(),
            matched_var: self.vars.matched_var.clone(),
        }
    }

    /// Puts back a snapshot.
    pub(crate) fn fold_restore(&mut self, snap: Snapshot) {
        self.vars.tx = snap.tx;
        self.vars.matched_var = snap.matched_var;
    }

    /// The template's TX collection (with a slot for each of its names and
    /// of `known`) and the highest item id it used.
    pub(crate) fn fold_finish(mut self, known: Vec<Vec<u8>>) -> (Collection, u32) {
        let used = self.ids.used();
        (std::mem::take(&mut self.vars.tx).into_shared(known), used)
    }

    /// When phase 1 starts: whether this transaction replays the folded
    /// rules, and if so installs the TX state their writes leave. Not when a
    /// run-time removal (per-route exclusion) picks a folded rule that writes:
    /// its writes would otherwise happen regardless.
    pub(crate) fn start_folded(&mut self, rs: &Ruleset) -> bool {
        let fold = &rs.fold;
        if !fold.active() || !self.vars.tx.is_empty() {
            return false;
        }
        let rt = &self.runtime;
        if !(rt.removed_ids.is_empty()
            && rt.removed_tags.is_empty()
            && rt.target_removals.is_empty())
            && fold
                .writers
                .iter()
                .filter_map(|&i| rs.rules.get(i))
                .any(|r| self.rule_removed(r) || rt.target_removals.iter().any(|(p, _)| p.picks(r)))
        {
            return false;
        }
        self.vars.tx = fold.tx.clone();
        true
    }

    /// Replays folded rule `idx`: `Some(matched)`, or `None` when it is not
    /// folded or a run-time target removal picks it (it is then evaluated:
    /// [`crate::fold`] guarantees the TX it reads is what the template had).
    pub(crate) fn replay(&mut self, rs: &Ruleset, idx: usize, rule: &Rule) -> Option<bool> {
        let outcome = rs.fold.outcomes.get(idx)?.as_ref()?;
        if self
            .runtime
            .target_removals
            .iter()
            .any(|(p, _)| p.picks(rule))
        {
            return None;
        }
        if let Some(v) = &outcome.matched_var {
            self.vars.matched_var = Some(v.clone());
        }
        if outcome.matched {
            self.push_match(idx, super::expand::RecordedMsg::None);
        }
        Some(outcome.matched)
    }
}
