//! The rule loop's compact view of a phase: one small [`Head`] per entry, in
//! phase order, built once the ruleset is final.
//!
//! Most rules a request visits are decided without evaluating anything: a
//! folded rule replays its outcome, a rule whose parts are all empty or whose
//! required literals occur in no request fact cannot match. Deciding that
//! from the heads (32 bytes each, contiguous) instead of from the [`Rule`]s
//! (hundreds of bytes each, spread over the heap) keeps the loop to a few
//! cache lines per phase; the `Rule` is read only for rules that are
//! evaluated or whose match has effects.

use super::{Entry, Ruleset};
use crate::rule::Rule;
use crate::seclang::actions::Disruptive;
use crate::transformations::ChainId;

/// What the rule loop reads first of one phase entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    /// Index into [`Ruleset::rules`], or [`Head::MARKER`].
    pub rule: u32,
    /// The first link's prefilter slot when it reads only request facts and
    /// is not `multiMatch` (see [`crate::prefilter::Prefilter::is_fact_slot`]),
    /// else [`Head::NO_SLOT`].
    pub fact_slot: u32,
    /// The first link's transformation chain.
    pub chain_id: ChainId,
    /// `skip`.
    pub skip: u32,
    /// `FOLDED` and the other flags below.
    pub flags: u32,
    /// The parts the first link reads ([`crate::transaction::sources_of_link`]).
    pub sources: u64,
}

impl Head {
    pub const MARKER: u32 = u32::MAX;
    pub const NO_SLOT: u32 = u32::MAX;
    /// Folded at load: replayed while the transaction runs folded.
    pub const FOLDED: u32 = 1;
    /// The folded outcome is a match.
    pub const FOLD_MATCHED: u32 = 1 << 1;
    /// The folded outcome sets MATCHED_VAR.
    pub const FOLD_SETS_VAR: u32 = 1 << 2;
    /// `skipAfter`.
    pub const SKIP_AFTER: u32 = 1 << 3;
    /// The first link may read a collection `initcol` binds (loaded before
    /// it is evaluated, so it is never rejected from the head).
    pub const NAMED_FIRST: u32 = 1 << 4;
    /// Has idle keys ([`Ruleset::idle`]).
    pub const IDLE: u32 = 1 << 5;
    /// Its disruptive action, if any, changes nothing (`pass` or none).
    pub const NOT_DISRUPTIVE: u32 = 1 << 6;

    pub fn is_marker(&self) -> bool {
        self.rule == Self::MARKER
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

/// The heads of every phase, one per entry of [`Ruleset::phases`].
pub(crate) fn build(rs: &Ruleset) -> [Vec<Head>; 5] {
    let mut out: [Vec<Head>; 5] = Default::default();
    for (entries, heads) in rs.phases.iter().zip(out.iter_mut()) {
        *heads = entries
            .iter()
            .map(|entry| match *entry {
                Entry::Rule(idx) => match rs.rules.get(idx) {
                    Some(rule) => head(rs, idx, rule),
                    None => marker(),
                },
                Entry::Marker => marker(),
            })
            .collect();
    }
    out
}

fn marker() -> Head {
    Head {
        rule: Head::MARKER,
        fact_slot: Head::NO_SLOT,
        chain_id: 0,
        skip: 0,
        flags: 0,
        sources: 0,
    }
}

fn head(rs: &Ruleset, idx: usize, rule: &Rule) -> Head {
    let Some(index) = u32::try_from(idx).ok().filter(|&i| i != Head::MARKER) else {
        // Four billion rules do not load; a marker is the safe reading.
        return marker();
    };
    let fact_slot = rule
        .prefilter_slot
        .filter(|&slot| !rule.multi_match && rs.prefilter.is_fact_slot(slot))
        .unwrap_or(Head::NO_SLOT);
    let mut flags = 0;
    if let Some(Some(outcome)) = rs.fold.outcomes.get(idx) {
        flags |= Head::FOLDED;
        if outcome.matched {
            flags |= Head::FOLD_MATCHED;
        }
        if outcome.matched_var.is_some() {
            flags |= Head::FOLD_SETS_VAR;
        }
    }
    if rule.skip_after.is_some() {
        flags |= Head::SKIP_AFTER;
    }
    if rs.named_use.get(idx).is_none_or(|named| named & 1 != 0) {
        flags |= Head::NAMED_FIRST;
    }
    if rs.idle.get(idx).is_some_and(Option::is_some) {
        flags |= Head::IDLE;
    }
    if matches!(rule.disruptive, None | Some(Disruptive::Pass)) {
        flags |= Head::NOT_DISRUPTIVE;
    }
    Head {
        rule: index,
        fact_slot,
        chain_id: rule.chain_id,
        skip: rule.skip,
        flags,
        sources: rs
            .first_sources
            .get(idx)
            .copied()
            .unwrap_or(crate::transaction::ALWAYS_SOURCES),
    }
}
