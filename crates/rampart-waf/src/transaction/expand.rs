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

/// Bytes of an expanded `msg` a match record keeps.
pub(crate) const RECORDED_MSG_LIMIT: usize = 1024;

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
            "id" => push_decimal(out, i128::from(rule.id)),
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
    // What the general path below gives for these two (neither names a
    // writable collection), without searching the variable table and
    // copying the value through a candidate list: CRS names the match in
    // `setvar` names and `logdata`.
    match (name, key) {
        ("matched_var", None) => {
            if let Some(m) = vars.matched_var.as_deref() {
                out.extend_from_slice(m.value());
            }
            return;
        }
        ("matched_var_name", None) => {
            if let Some(m) = vars.matched_var.as_deref() {
                out.extend_from_slice(m.name());
            }
            return;
        }
        _ => {}
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

/// A matched rule's `msg` as its match record keeps it. A message without
/// macros is the same text whenever it is read, so it is not copied per
/// match: [`RecordedMsg::text`] takes it from the rule when the match list is
/// asked for (the gateway's audit record reads only the rule ids). A message
/// with macros is expanded at match time, as the variables it names may
/// change afterwards, and kept to at most [`RECORDED_MSG_LIMIT`] bytes (a
/// `%{MATCHED_VAR}` in it would otherwise keep a copy of each matched value
/// for the transaction's life).
#[derive(Debug, Clone)]
pub(crate) enum RecordedMsg {
    /// No message (`nolog`, no `msg`, or a folded rule's replay).
    None,
    /// The rule's macro-free `msg`, read from the rule when asked for.
    Literal,
    /// The `msg` as expanded when the rule matched.
    Expanded(String),
}

impl RecordedMsg {
    /// The record for a match of `rule` (logged rules only).
    pub(crate) fn at_match(rule: &Rule, data: &RequestData, vars: &Vars) -> Self {
        if !rule.log {
            return Self::None;
        }
        let Some(m) = &rule.msg else {
            return Self::None;
        };
        match m.parts.as_slice() {
            [] => Self::Literal,
            [Part::Lit(s)] if s.len() <= EXPANSION_LIMIT => Self::Literal,
            _ => {
                let mut text =
                    String::from_utf8_lossy(&expand(m, data, vars, Some(rule))).into_owned();
                if text.len() > RECORDED_MSG_LIMIT {
                    let mut end = RECORDED_MSG_LIMIT;
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.truncate(end);
                    text.shrink_to_fit();
                }
                Self::Expanded(text)
            }
        }
    }

    /// The message text (what expanding it at match time gave).
    pub(crate) fn text(&self, rule: &Rule) -> Option<String> {
        match self {
            Self::None => None,
            Self::Literal => Some(match rule.msg.as_ref().map(|m| m.parts.as_slice()) {
                Some([Part::Lit(s)]) => s.clone(),
                _ => String::new(),
            }),
            Self::Expanded(s) => Some(s.clone()),
        }
    }
}

/// Appends the decimal text of `n` (what `n.to_string()` gives, without the
/// formatting machinery: `setvar` arithmetic and `%{rule.id}` run per match).
pub(crate) fn push_decimal(out: &mut Vec<u8>, n: i128) {
    let mut digits = [0u8; 40];
    let mut i = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 || i == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
}

/// The decimal text of `n` as bytes (`n.to_string().into_bytes()`).
pub(crate) fn decimal(n: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    push_decimal(&mut out, i128::from(n));
    out
}

/// What operators see of a transaction while one rule runs.
pub(crate) struct Env<'a> {
    pub data: &'a RequestData,
    pub vars: &'a Vars,
    pub rule: &'a Rule,
    pub services: &'a Services,
    pub geo: RefCell<Option<Vec<(String, String)>>>,
    /// A regex search of this link stopped at its backtracking limit.
    pub match_limit_exceeded: std::cell::Cell<bool>,
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

    fn note_match_limit_exceeded(&self) {
        self.match_limit_exceeded.set(true);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn decimal_is_to_string() {
        for n in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            42,
            999,
            1000,
            -12345,
            i64::from(i32::MAX),
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            assert_eq!(decimal(n), n.to_string().into_bytes(), "{n}");
        }
        let mut out = b"x".to_vec();
        push_decimal(&mut out, i128::from(u64::MAX));
        assert_eq!(out, format!("x{}", u64::MAX).into_bytes());
    }

    #[test]
    fn matched_var_macros_read_the_last_match() {
        let data = RequestData::default();
        let mut vars = Vars::default();
        let m = MacroString::parse("%{MATCHED_VAR_NAME}=%{matched_var};%{matched_var.x}");
        assert_eq!(expand(&m, &data, &vars, None), b"=;".to_vec());
        vars.matched_var = Some(std::sync::Arc::new(super::super::collect::Matched::new(
            crate::variables::Var::Args,
            b"id",
            b"1 or 1",
        )));
        assert_eq!(
            expand(&m, &data, &vars, None),
            b"ARGS:id=1 or 1;1 or 1".to_vec()
        );
    }
}
