//! Idle TX gates: rules whose first link compares TX variables to constants
//! and does not match the TX state folding leaves (CRS 951110-951260 test
//! `TX:sql_error_match @eq 1`, 959061-959063 `TX:PARANOIA_LEVEL @ge 2..4`).
//!
//! Items are never changed in place: a write makes a new item whose id is
//! above [`crate::fold::Fold::ids_used`]. So while every variable such a link
//! reads is absent or still the folded template's item, the link sees the
//! template's values (or fewer of them, after a target removal) and does not
//! match; the rule is then skipped without collecting or comparing. Once a
//! rule writes one of them, the rule is evaluated as usual.

use crate::operators::{Arg, Operator};
use crate::rule::Rule;
use crate::seclang::targets::Selector;
use crate::variables::Var;

use super::data::Collection;

/// For a rule (its first link): the TX keys to check, when the link cannot
/// match the folded TX state `tx`; `None` when it may, or when it reads
/// anything else, transforms, or compares with a value known only at run time.
pub(crate) fn idle_keys(rule: &Rule, tx: &Collection) -> Option<Box<[Vec<u8>]>> {
    let Operator::Compare(op, Arg::Static(arg)) = &rule.operator else {
        return None;
    };
    if rule.targets.is_empty() || !rule.transforms.is_empty() || rule.multi_match {
        return None;
    }
    let mut keys = Vec::with_capacity(rule.targets.len());
    for t in &rule.targets {
        let Selector::Key(k) = &t.selector else {
            return None;
        };
        if t.var != Var::Tx || t.count {
            return None;
        }
        if let Some(item) = tx.item(k)
            && op.matches(&item.value, arg) != rule.negated
        {
            return None;
        }
        keys.push(k.clone());
    }
    Some(keys.into_boxed_slice())
}

/// Whether every key is absent from `tx` or still holds an item of the
/// folded template (id at most `ids_used`).
pub(crate) fn still_idle(keys: &[Vec<u8>], tx: &Collection, ids_used: u32) -> bool {
    keys.iter()
        .all(|k| tx.item(k).is_none_or(|i| i.id <= ids_used))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use crate::{RulesetBuilder, Transaction};

    /// A setup rule folding sets `tx.flag=0` and `tx.level=1`; gates on them;
    /// a rule that raises the flag when the query says so.
    const RULES: &str = "SecRuleEngine On\n\
        SecAction \"id:1,phase:1,pass,nolog,setvar:tx.flag=0,setvar:tx.level=1\"\n\
        SecRule QUERY_STRING \"@contains raise\" \"id:2,phase:2,pass,nolog,setvar:tx.flag=1\"\n\
        SecRule QUERY_STRING \"@contains drop\" \"id:3,phase:2,pass,nolog,setvar:!tx.flag\"\n\
        SecRule TX:flag \"@eq 1\" \"id:10,phase:2,pass,log\"\n\
        SecRule TX:level \"@ge 2\" \"id:11,phase:2,pass,log\"\n\
        SecRule TX:level \"@ge 1\" \"id:12,phase:2,pass,log\"\n\
        SecRule TX:flag \"!@eq 0\" \"id:13,phase:2,pass,log\"\n\
        SecRule TX:missing \"@eq 0\" \"id:14,phase:2,pass,log\"\n";

    fn matched(query: &str) -> Vec<u64> {
        let mut b = RulesetBuilder::new();
        b.load_str(RULES, Path::new("r.conf")).unwrap();
        let rs = Arc::new(b.build().unwrap());
        assert!(rs.is_folded(1));
        let gated: Vec<u64> = rs
            .rules
            .iter()
            .zip(&rs.idle)
            .filter(|(_, k)| k.is_some())
            .map(|(r, _)| r.id)
            .collect();
        assert_eq!(gated, [10, 11, 13, 14]);
        let mut tx = Transaction::new(rs);
        tx.set_request_line("GET", &format!("/?{query}"), "HTTP/1.1");
        tx.process_request_body();
        tx.matched_rule_ids()
    }

    #[test]
    fn gates_are_skipped_only_while_their_variables_are_the_folded_ones() {
        assert_eq!(matched("x=1"), [12]);
        // Written at run time: evaluated, and they match.
        assert_eq!(matched("q=raise"), [10, 12, 13]);
        // Deleted at run time: no value, no match.
        assert_eq!(matched("q=drop"), [12]);
    }
}
