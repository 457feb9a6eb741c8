//! A compiled rule (one `SecRule`/`SecAction`, with its chained rules).

use std::path::PathBuf;
use std::sync::Arc;

use crate::macros::MacroString;
use crate::operators::Operator;
use crate::seclang::actions::{Action, Disruptive, SetVarOp};
use crate::seclang::targets::{Exclusion, Target};
use crate::transformations::{ChainId, Transform};
use crate::variables::Var;

/// One rule, or one link of a chain.
///
/// `repr(C)`, fields in this order: the engine's rule loop reads the first
/// ones for every rule it visits (several hundred per request), so they
/// share the first cache lines; messages and locations come last.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct Rule {
    /// Slot in the [`crate::prefilter::Prefilter`], for `@rx` rules it covers.
    pub prefilter_slot: Option<u32>,
    /// Interned transformation chain.
    pub chain_id: ChainId,
    /// `skip`.
    pub skip: u32,
    /// Phase 1..=5.
    pub phase: u8,
    /// `!@op`.
    pub negated: bool,
    /// `capture`.
    pub capture: bool,
    /// `multiMatch`.
    pub multi_match: bool,
    /// Whether a match is logged (`log`/`nolog`, else the phase default).
    pub log: bool,
    /// Whether this rule has the `chain` action.
    pub chain: bool,
    /// `status`.
    pub status: Option<u16>,
    /// The next link of the chain.
    pub chained: Option<Box<Rule>>,
    /// The disruptive action as written (`None`: not given).
    pub disruptive: Option<Disruptive>,
    /// Targets (empty for `SecAction`).
    pub targets: Vec<Target>,
    /// `!VAR:key` exclusions.
    pub exclusions: Vec<Exclusion>,
    /// Rule id (0 for chained links and id-less rules).
    pub id: u64,
    /// `skipAfter`.
    pub skip_after: Option<String>,
    /// The operator.
    pub operator: Operator,
    /// Actions with run-time effect (setvar, ctl, initcol, setenv), in order.
    pub effects: Vec<Action>,
    /// Transformations in order (after `t:none` resets and defaults).
    pub transforms: Vec<Transform>,
    /// `severity`.
    pub severity: Option<u8>,
    /// `msg`.
    pub msg: Option<MacroString>,
    /// `logdata`.
    pub logdata: Option<MacroString>,
    /// `tag`s.
    pub tags: Vec<String>,
    /// Operator name, for messages.
    pub operator_name: String,
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

    /// Whether any link of the rule reads `var`: as a target (`&VAR`
    /// included) or through a macro (`%{VAR}`) in its operator, `msg`,
    /// `logdata` or actions.
    pub fn reads(&self, var: Var) -> bool {
        let name = var.name();
        let in_macro = |m: &MacroString| {
            m.parts.iter().any(
                |p| matches!(p, crate::macros::Part::Var { name: n, .. } if n.eq_ignore_ascii_case(name)),
            )
        };
        let mut link = Some(self);
        while let Some(l) = link {
            let effects = l.effects.iter().any(|a| match a {
                Action::SetVar(sv) => {
                    in_macro(&sv.name)
                        || matches!(&sv.op, SetVarOp::Set(v) | SetVarOp::Add(v) | SetVarOp::Sub(v) if in_macro(v))
                }
                Action::SetEnv(_, v) | Action::InitCol(_, v) => in_macro(v),
                Action::ExpireVar(t) | Action::DeprecateVar(t) => {
                    in_macro(&t.name) || in_macro(&t.value)
                }
                _ => false,
            });
            if effects
                || l.targets.iter().any(|t| t.var == var)
                || [&l.msg, &l.logdata].into_iter().flatten().any(in_macro)
                || crate::fold::operator_macro(&l.operator).is_some_and(in_macro)
            {
                return true;
            }
            link = l.chained.as_deref();
        }
        false
    }

    /// Whether the rule carries `tag` matching the regex.
    pub fn has_tag_matching(&self, re: &regex::bytes::Regex) -> bool {
        self.tags.iter().any(|t| re.is_match(t.as_bytes()))
    }
}
