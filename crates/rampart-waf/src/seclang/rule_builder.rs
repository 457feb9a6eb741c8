//! Turns a `SecRule`/`SecAction` line into a [`Rule`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::actions::{Action, Disruptive};
use super::targets::parse_targets;
use crate::error::LoadErrorKind;
use crate::operators::{self, CompileStats, Operator};
use crate::rule::Rule;
use crate::transformations::Transform;

/// `SecDefaultAction` of one phase.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// What `block` (and a rule without a disruptive action) does.
    pub disruptive: Disruptive,
    /// Whether matches are logged unless a rule says otherwise.
    pub log: bool,
    /// Transformations every rule of the phase starts with.
    pub transforms: Vec<Transform>,
    /// Status for `deny` unless a rule says otherwise.
    pub status: Option<u16>,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            disruptive: Disruptive::Pass,
            log: true,
            transforms: Vec::new(),
            status: None,
        }
    }
}

/// Everything needed to compile one rule.
pub struct RuleSource<'a> {
    /// `None` for `SecAction`.
    pub targets: Option<&'a str>,
    /// `None` for `SecAction`.
    pub operator: Option<&'a str>,
    /// Parsed actions.
    pub actions: Vec<Action>,
    /// Phase of the chain starter when this is a chained link.
    pub parent_phase: Option<u8>,
    /// The rules file.
    pub file: Arc<PathBuf>,
    /// Line in it.
    pub line: usize,
}

/// Compiles a rule; `defaults` are the per-phase `SecDefaultAction`s.
pub fn build_rule(
    src: RuleSource<'_>,
    defaults: &[Defaults; 5],
    base_dir: &Path,
    backtrack_limit: usize,
    stats: &mut CompileStats,
) -> Result<Rule, LoadErrorKind> {
    let is_link = src.parent_phase.is_some();
    let mut phase = src.parent_phase.unwrap_or(2);
    let mut id = 0;
    for a in &src.actions {
        match a {
            Action::Id(i) => id = *i,
            Action::Phase(p) if !is_link => phase = *p,
            _ => {}
        }
    }
    let def = defaults
        .get(usize::from(phase.saturating_sub(1)))
        .cloned()
        .unwrap_or_default();
    let (targets, exclusions) = match src.targets {
        Some(text) => {
            let list = parse_targets(text).map_err(|(target, reason)| {
                if reason.starts_with("unknown variable") {
                    LoadErrorKind::UnsupportedVariable(target)
                } else {
                    LoadErrorKind::Target { target, reason }
                }
            })?;
            (list.targets, list.exclusions)
        }
        None => (Vec::new(), Vec::new()),
    };
    let (operator, negated, operator_name) = match src.operator {
        Some(text) => parse_operator(text, base_dir, backtrack_limit, stats)?,
        None => (
            Operator::Unconditional,
            false,
            "unconditionalMatch".to_string(),
        ),
    };
    let mut rule = Rule {
        id,
        phase,
        targets,
        exclusions,
        operator,
        negated,
        operator_name,
        transforms: if is_link {
            Vec::new()
        } else {
            def.transforms.clone()
        },
        chain_id: 0,
        effects: Vec::new(),
        msg: None,
        logdata: None,
        tags: Vec::new(),
        severity: None,
        capture: false,
        multi_match: false,
        log: def.log,
        disruptive: None,
        status: def.status,
        skip_after: None,
        skip: 0,
        chain: false,
        chained: None,
        prefilter_slot: None,
        file: src.file,
        line: src.line,
    };
    for action in src.actions {
        apply_action(&mut rule, action, is_link)?;
    }
    if !is_link && rule.id == 0 {
        return Err(LoadErrorKind::Rule("rule has no id".into()));
    }
    if rule.disruptive.is_none() && !is_link {
        rule.disruptive = Some(def.disruptive.clone());
    }
    if matches!(rule.disruptive, Some(Disruptive::Block)) {
        rule.disruptive = Some(def.disruptive);
    }
    Ok(rule)
}

/// Applies one action to a rule (also used by `SecRuleUpdateActionById`).
pub fn apply_action(rule: &mut Rule, action: Action, is_link: bool) -> Result<(), LoadErrorKind> {
    let link_err = |what: &str| {
        Err(LoadErrorKind::Rule(format!(
            "{what} is only allowed on a chain starter"
        )))
    };
    match action {
        Action::Id(_) | Action::Phase(_) => {
            if is_link {
                return link_err("id/phase");
            }
        }
        Action::Msg(m) => rule.msg = Some(m),
        Action::LogData(m) => rule.logdata = Some(m),
        Action::Tag(t) => rule.tags.push(t),
        Action::Severity(s) => rule.severity = Some(s),
        Action::Meta => {}
        Action::Chain => rule.chain = true,
        Action::Transform(None) => rule.transforms.clear(),
        Action::Transform(Some(t)) => rule.transforms.push(t),
        a @ (Action::SetVar(_)
        | Action::Ctl(_)
        | Action::InitCol(..)
        | Action::ExpireVar(_)
        | Action::DeprecateVar(_)
        | Action::SetEnv(..)) => rule.effects.push(a),
        Action::Capture => rule.capture = true,
        Action::MultiMatch => rule.multi_match = true,
        Action::Log => rule.log = true,
        Action::NoLog => rule.log = false,
        Action::AuditLog | Action::NoAuditLog => {}
        Action::Disruptive(d) => {
            if is_link {
                return link_err("a disruptive action");
            }
            rule.disruptive = Some(d);
        }
        Action::SkipAfter(m) => {
            if is_link {
                return link_err("skipAfter");
            }
            rule.skip_after = Some(m);
        }
        Action::Skip(n) => {
            if is_link {
                return link_err("skip");
            }
            rule.skip = n;
        }
        Action::Status(s) => rule.status = Some(s),
    }
    Ok(())
}

/// Parses `[!]@name arg` (an operator without `@` is `@rx`).
fn parse_operator(
    text: &str,
    base_dir: &Path,
    backtrack_limit: usize,
    stats: &mut CompileStats,
) -> Result<(Operator, bool, String), LoadErrorKind> {
    let (negated, rest) = match text.strip_prefix('!') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (name, arg) = match rest.strip_prefix('@') {
        Some(r) => match r.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((n, a)) => (n, a.trim_start()),
            None => (r, ""),
        },
        None => ("rx", rest),
    };
    let op = operators::compile(name, arg, base_dir, backtrack_limit, stats)?;
    Ok((op, negated, name.to_string()))
}
