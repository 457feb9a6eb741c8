//! A compiled rule (one `SecRule`/`SecAction`, with its chained rules).

use std::path::PathBuf;
use std::sync::Arc;

use crate::macros::MacroString;
use crate::operators::Operator;
use crate::seclang::actions::{Action, Disruptive};
use crate::seclang::targets::{Exclusion, Target};
use crate::transformations::{ChainId, Transform};

/// One rule, or one link of a chain.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Rule id (0 for chained links and id-less rules).
    pub id: u64,
    /// Phase 1..=5.
    pub phase: u8,
    /// Targets (empty for `SecAction`).
    pub targets: Vec<Target>,
    /// `!VAR:key` exclusions.
    pub exclusions: Vec<Exclusion>,
    /// The operator.
    pub operator: Operator,
    /// `!@op`.
    pub negated: bool,
    /// Operator name, for messages.
    pub operator_name: String,
    /// Transformations in order (after `t:none` resets and defaults).
    pub transforms: Vec<Transform>,
    /// Interned transformation chain.
    pub chain_id: ChainId,
    /// Actions with run-time effect (setvar, ctl, initcol, setenv), in order.
    pub effects: Vec<Action>,
    /// `msg`.
    pub msg: Option<MacroString>,
    /// `logdata`.
    pub logdata: Option<MacroString>,
    /// `tag`s.
    pub tags: Vec<String>,
    /// `severity`.
    pub severity: Option<u8>,
    /// `capture`.
    pub capture: bool,
    /// `multiMatch`.
    pub multi_match: bool,
    /// Whether a match is logged (`log`/`nolog`, else the phase default).
    pub log: bool,
    /// The disruptive action as written (`None`: not given).
    pub disruptive: Option<Disruptive>,
    /// `status`.
    pub status: Option<u16>,
    /// `skipAfter`.
    pub skip_after: Option<String>,
    /// `skip`.
    pub skip: u32,
    /// Whether this rule has the `chain` action.
    pub chain: bool,
    /// The next link of the chain.
    pub chained: Option<Box<Rule>>,
    /// Slot in the [`crate::prefilter::Prefilter`], for `@rx` rules it covers.
    pub prefilter_slot: Option<u32>,
    /// Where the rule was written.
    pub file: Arc<PathBuf>,
    /// Line of the rule.
    pub line: usize,
}

impl Rule {
    /// The deepest link of the chain.
    pub fn last_link_mut(&mut self) -> &mut Rule {
        match self.chained {
            Some(ref mut next) => next.last_link_mut(),
            None => self,
        }
    }

    /// Whether the rule carries `tag` matching the regex.
    pub fn has_tag_matching(&self, re: &regex::bytes::Regex) -> bool {
        self.tags.iter().any(|t| re.is_match(t.as_bytes()))
    }
}
