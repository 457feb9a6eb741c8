//! Macro expansion (`%{tx.score}`, `%{MATCHED_VAR}`, `%{rule.id}`) and the
//! operator environment.

use std::borrow::Cow;
use std::cell::RefCell;

use super::collect::{Vars, collect};
use super::data::RequestData;
use crate::macros::{MacroString, Part};
use crate::operators::OpEnv;
use crate::rule::Rule;
use crate::seclang::targets::{Selector, Target};
use crate::services::Services;
use crate::variables::Var;

/// Longest expansion kept (a macro can pull in a whole request body).
const EXPANSION_LIMIT: usize = 1 << 20;

/// [`expand`], borrowing the text of macro-free strings.
pub(crate) fn expand_cow<'m>(
    m: &'m MacroString,
    data: &RequestData,
    vars: &Vars,
    rule: Option<&Rule>,
) -> Cow<'m, [u8]> {
    match m.parts.as_slice() {
        [] => Cow::Borrowed(b""),
        [Part::Lit(s)] => Cow::Borrowed(s.as_bytes()),
        _ => Cow::Owned(expand(m, data, vars, rule)),
    }
}

/// The expansion of a macro string that is exactly one `%{tx.key}`,
/// borrowed: the stored value (empty when unset), cut at the same limit as
/// [`expand`].
pub(crate) fn tx_only<'v>(m: &MacroString, vars: &'v Vars) -> Option<&'v [u8]> {
    let [
        Part::Var {
            name,
            key: Some(key),
        },
    ] = m.parts.as_slice()
    else {
        return None;
    };
    if name != "tx" {
        return None;
    }
    let v = vars
        .tx
        .get_cached(m.slot_cache(), key.as_bytes())
        .unwrap_or_default();
    Some(v.get(..EXPANSION_LIMIT).unwrap_or(v))
}

/// Expands a macro string against the transaction.
pub(crate) fn expand(
    m: &MacroString,
    data: &RequestData,
    vars: &Vars,
    rule: Option<&Rule>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    for part in &m.parts {
        match part {
            Part::Lit(s) => out.extend_from_slice(s.as_bytes()),
            Part::Var { name, key } => resolve(name, key.as_deref(), data, vars, rule, &mut out),
        }
        if out.len() > EXPANSION_LIMIT {
            out.truncate(EXPANSION_LIMIT);
            break;
        }
    }
    out
}

fn resolve(
    name: &str,
    key: Option<&str>,
    data: &RequestData,
    vars: &Vars,
    rule: Option<&Rule>,
    out: &mut Vec<u8>,
) {
    if name == "rule" {
        let Some(rule) = rule else { return };
        match key.unwrap_or("") {
            "id" => out.extend_from_slice(rule.id.to_string().as_bytes()),
            "msg" => {
                if let Some(m) = &rule.msg {
                    // Messages may contain macros themselves; no further rule context.
                    out.extend_from_slice(&expand(m, data, vars, None));
                }
            }
            "logdata" => {
                if let Some(m) = &rule.logdata {
                    out.extend_from_slice(&expand(m, data, vars, None));
                }
            }
            "severity" => {
                if let Some(s) = rule.severity {
                    out.extend_from_slice(s.to_string().as_bytes());
                }
            }
            "phase" => out.extend_from_slice(rule.phase.to_string().as_bytes()),
            _ => {}
        }
        return;
    }
    if name == "tx" {
        if let Some(v) = key.and_then(|k| vars.tx.get(k.as_bytes())) {
            out.extend_from_slice(v);
        }
        return;
    }
    if let Some(col) = vars.collection(name)
        && Var::from_name(name).is_none_or(Var::is_writable_collection)
    {
        if let Some(v) = key.and_then(|k| col.get(k.as_bytes())) {
            out.extend_from_slice(v);
        }
        return;
    }
    let Some(var) = Var::from_name(name) else {
        return;
    };
    let selector = match key {
        Some(k) if var.is_collection() => Selector::Key(k.as_bytes().to_ascii_lowercase()),
        _ => Selector::All,
    };
    let target = Target {
        var,
        selector,
        count: false,
    };
    let mut values = Vec::new();
    collect(data, vars, &target, &|_, _| false, &mut values);
    if let Some(first) = values.first() {
        out.extend_from_slice(&first.value);
    }
}

/// What operators see of a transaction while one rule runs.
pub(crate) struct Env<'a> {
    pub data: &'a RequestData,
    pub vars: &'a Vars,
    pub rule: &'a Rule,
    pub services: &'a Services,
    pub geo: RefCell<Option<Vec<(String, String)>>>,
    pub memo: &'a RefCell<crate::services::InjectionMemo>,
}

impl OpEnv for Env<'_> {
    fn expand(&self, m: &MacroString) -> Vec<u8> {
        expand(m, self.data, self.vars, Some(self.rule))
    }

    fn expand_borrowed(&self, m: &MacroString) -> Option<&[u8]> {
        tx_only(m, self.vars)
    }

    fn services(&self) -> &Services {
        self.services
    }

    fn injection_memo(&self) -> Option<&RefCell<crate::services::InjectionMemo>> {
        Some(self.memo)
    }

    fn set_geo(&self, fields: Vec<(String, String)>) {
        *self.geo.borrow_mut() = Some(fields);
    }
}
