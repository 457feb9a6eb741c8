//! Resolving `skipAfter` at load: each jump goes to the first entry of the
//! rule's phase named by its target (a `SecMarker`, or a rule id) that comes
//! after the rule, as ModSecurity v3 searches forward from the rule for the
//! marker. A target that does not occur after the rule is a load error naming
//! the rule's file and line: resolving it to the end of the phase (what the
//! engine did) skipped the blocking evaluation (949110) and Rampart's own
//! rules after a typo; resolving it to an earlier entry looped forever.
//!
//! A rule removed at load (`SecRuleRemoveById`/`ByTag`/`ByMsg`) leaves its id
//! behind as a target at its position, so `skipAfter:<id>` of a removed rule
//! still lands where that rule was.

use std::collections::HashMap;

use super::Entry;
use crate::error::{LoadError, LoadErrorKind, Location};
use crate::rule::Rule;

/// Per phase, per entry: the name a `skipAfter` may target (marker name,
/// rule id as text), if any.
pub(super) type Names = [Vec<Option<String>>; 5];

/// Per phase, per entry: where a `skipAfter` of that entry's rule resumes
/// (the entry after its target; the end of the phase for entries that do not
/// jump). Every resolved jump goes forward.
pub(super) fn resolve(
    phases: &[Vec<Entry>; 5],
    names: &Names,
    rules: &[Rule],
) -> Result<[Vec<usize>; 5], LoadError> {
    let mut jumps: [Vec<usize>; 5] = Default::default();
    for (p, ((list, names), out)) in phases.iter().zip(names).zip(jumps.iter_mut()).enumerate() {
        // Name -> positions, ascending.
        let mut at: HashMap<&str, Vec<usize>> = HashMap::new();
        for (pos, name) in names.iter().enumerate() {
            if let Some(name) = name {
                at.entry(name.as_str()).or_default().push(pos);
            }
        }
        out.reserve(list.len());
        for (pos, entry) in list.iter().enumerate() {
            let rule = match entry {
                Entry::Rule(idx) => rules.get(*idx),
                Entry::Marker => None,
            };
            let Some((rule, target)) = rule.and_then(|r| Some((r, r.skip_after.as_deref()?)))
            else {
                out.push(list.len());
                continue;
            };
            let positions = at.get(target).map(Vec::as_slice).unwrap_or_default();
            let later = positions.partition_point(|&q| q <= pos);
            match positions.get(later) {
                Some(&q) => out.push(q + 1),
                None => {
                    return Err(LoadError::new(
                        Location {
                            file: rule.file.as_ref().clone(),
                            line: rule.line,
                        },
                        LoadErrorKind::SkipAfterTarget {
                            target: target.to_string(),
                            phase: p + 1,
                            only_earlier: later > 0,
                        },
                    ));
                }
            }
        }
    }
    Ok(jumps)
}
