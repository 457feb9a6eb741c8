//! `@rx`: regular expression match with ModSecurity's flags (byte mode, DOTALL,
//! MULTILINE), in linear time with `regex::bytes`. Patterns `regex` cannot
//! express (lookaround, backreferences, possessive quantifiers) go to
//! `fancy-regex` in byte mode with a backtracking limit; a search that hits the
//! limit counts as no match, is counted, and is reported to the transaction,
//! which sets `TX:MSC_PCRE_LIMITS_EXCEEDED` as ModSecurity does (the
//! recommended rule 200005 refuses such a request: input crafted to exhaust the
//! limit must not slip past the rule it exhausted).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use regex::bytes::{Regex, RegexBuilder};

use super::rx_guard::Guard;
use super::rx_translate::translate;
use crate::macros::MacroString;

/// Backtracking steps allowed per fallback search (ModSecurity's default
/// `SecPcreMatchLimit` is 1000 in the recommended config; CRS needs more).
pub const DEFAULT_BACKTRACK_LIMIT: usize = 100_000;

/// The TX variable a search that hit the backtracking limit sets to 1
/// (ModSecurity's name, lower case as TX stores it).
pub const MATCH_LIMIT_FLAG: &[u8] = b"msc_pcre_limits_exceeded";

/// Searches that hit the backtracking limit, process-wide.
pub static BACKTRACK_LIMIT_HITS: AtomicU64 = AtomicU64::new(0);

/// A compiled pattern.
#[derive(Debug)]
// The guard stays inline, next to the regex it guards: both are read on
// every evaluation, and a compiled pattern is always behind an `Arc`.
#[allow(clippy::large_enum_variant)]
pub enum Compiled {
    /// Linear-time engine, with the necessary conditions checked before it
    /// runs ([`Guard`]).
    Linear(Regex, Option<Guard>),
    /// Backtracking fallback.
    Fancy(Box<Fallback>),
    /// `^.*$`: with DOTALL, `.*` takes the whole value and `$` holds at its
    /// end, so it matches every value, and the match is the value (920450
    /// captures each header name this way).
    Whole,
}

/// A backtracking-fallback pattern and a memo of its verdicts on short
/// values. Such patterns (920600's possessive quantifiers on `Accept`) cost
/// ~100x a linear search, and the values they see repeat from request to
/// request: a verdict is a pure function of the value, so remembering it is
/// exact. Bounded: short values only, emptied when full; searches that hit
/// the backtracking limit are not remembered (they are counted each time).
#[derive(Debug)]
pub struct Fallback {
    re: fancy_regex::Regex,
    memo: Mutex<HashMap<Box<[u8]>, bool>>,
}

/// Longest value whose verdict is remembered.
const MEMO_VALUE_LIMIT: usize = 256;
/// Verdicts remembered per pattern (then the memo starts over).
const MEMO_ENTRIES: usize = 512;

impl Fallback {
    /// `is_match`, through the memo.
    fn is_match(&self, input: &[u8]) -> Result<bool, fancy_regex::Error> {
        let memoable = input.len() <= MEMO_VALUE_LIMIT;
        if memoable
            && let Ok(memo) = self.memo.try_lock()
            && let Some(&hit) = memo.get(input)
        {
            return Ok(hit);
        }
        let verdict = self.re.is_match(input)?;
        // Contended: skip remembering rather than wait.
        if memoable && let Ok(mut memo) = self.memo.try_lock() {
            if memo.len() >= MEMO_ENTRIES {
                memo.clear();
            }
            memo.insert(input.into(), verdict);
        }
        Ok(verdict)
    }
}

impl Compiled {
    /// Compiles a PCRE pattern; errors are human-readable.
    pub fn new(pcre: &str, backtrack_limit: usize) -> Result<Self, String> {
        if pcre == "^.*$" {
            return Ok(Compiled::Whole);
        }
        let translated = translate(pcre);
        if !translated.possessive
            && let Ok(re) = RegexBuilder::new(&format!("(?sm){}", translated.pattern))
                .unicode(false)
                .size_limit(64 << 20)
                .build()
        {
            let guard = Guard::new(re.as_str());
            return Ok(Compiled::Linear(re, guard));
        }
        let fancy = fancy_regex::RegexBuilder::new(&format!("(?sm){}", translated.pattern))
            .bytes_mode(fancy_regex::BytesMode::Ascii)
            .backtrack_limit(backtrack_limit)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Compiled::Fancy(Box::new(Fallback {
            re: fancy,
            memo: Mutex::new(HashMap::new()),
        })))
    }

    /// Whether this pattern needed the backtracking fallback.
    pub fn is_fallback(&self) -> bool {
        matches!(self, Compiled::Fancy(_))
    }

    /// Matches; with `captures`, returns the whole match and up to 9 groups.
    /// A search over the backtracking limit is no match here (the tests' view;
    /// the operator uses [`Self::matches_within_limit`] to tell).
    #[cfg(test)]
    pub fn matches(&self, input: &[u8], captures: bool) -> Option<Vec<Option<Vec<u8>>>> {
        self.matches_within_limit(input, captures).unwrap_or(None)
    }

    /// Matches; with `captures`, returns the whole match and up to 9 groups.
    /// `Err` for a search that hit the backtracking limit (undecided: it may
    /// or may not have matched).
    pub fn matches_within_limit(
        &self,
        input: &[u8],
        captures: bool,
    ) -> Result<Option<Vec<Option<Vec<u8>>>>, MatchLimitExceeded> {
        Ok(match self {
            Compiled::Whole => Some(if captures {
                vec![Some(input.to_vec())]
            } else {
                Vec::new()
            }),
            Compiled::Linear(re, guard) => linear_matches(re, guard.as_ref(), input, captures),
            Compiled::Fancy(re) => {
                if !captures {
                    return match re.is_match(input) {
                        Ok(hit) => Ok(hit.then(Vec::new)),
                        Err(_) => {
                            BACKTRACK_LIMIT_HITS.fetch_add(1, Ordering::Relaxed);
                            Err(MatchLimitExceeded)
                        }
                    };
                }
                match re.re.captures(input) {
                    Ok(Some(caps)) => Some(
                        (0..caps.len().min(10))
                            .map(|i| caps.get(i).map(|m| m.as_bytes().to_vec()))
                            .collect(),
                    ),
                    Ok(None) => None,
                    Err(_) => {
                        BACKTRACK_LIMIT_HITS.fetch_add(1, Ordering::Relaxed);
                        return Err(MatchLimitExceeded);
                    }
                }
            }
        })
    }
}

/// [`Compiled::matches`] of a linear-time pattern (always decided).
fn linear_matches(
    re: &Regex,
    guard: Option<&Guard>,
    input: &[u8],
    captures: bool,
) -> Option<Vec<Option<Vec<u8>>>> {
    if let Some(g) = guard {
        if !g.may_match(input) {
            return None;
        }
        if !captures && let Some(hit) = g.verdict(input) {
            return hit.then(Vec::new);
        }
    }
    if !captures {
        return re.is_match(input).then(Vec::new);
    }
    let caps = re.captures(input)?;
    Some(
        (0..caps.len().min(10))
            .map(|i| caps.get(i).map(|m| m.as_bytes().to_vec()))
            .collect(),
    )
}

/// A backtracking search stopped at its limit before it could decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchLimitExceeded;

/// `@rx` whose pattern contains macros: compiled per distinct expansion, cached.
#[derive(Debug)]
pub struct DynamicRx {
    /// The pattern template.
    pub template: MacroString,
    backtrack_limit: usize,
    cache: RwLock<HashMap<Vec<u8>, Option<Arc<Compiled>>>>,
}

/// Distinct expansions cached per dynamic pattern; beyond this they are compiled
/// per use (bounded memory even if an attacker controls the expansion).
const DYNAMIC_CACHE_LIMIT: usize = 64;

impl DynamicRx {
    /// A dynamic pattern.
    pub fn new(template: MacroString, backtrack_limit: usize) -> Self {
        Self {
            template,
            backtrack_limit,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The compiled pattern for one expansion (`None` if it does not compile).
    pub fn get(&self, expanded: &[u8]) -> Option<Arc<Compiled>> {
        if let Ok(cache) = self.cache.read()
            && let Some(hit) = cache.get(expanded)
        {
            return hit.clone();
        }
        let compiled = Compiled::new(&String::from_utf8_lossy(expanded), self.backtrack_limit)
            .ok()
            .map(Arc::new);
        if let Ok(mut cache) = self.cache.write()
            && cache.len() < DYNAMIC_CACHE_LIMIT
        {
            cache.insert(expanded.to_vec(), compiled.clone());
        }
        compiled
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn modsecurity_flags() {
        let dot = Compiled::new("^a.b$", 1000).unwrap();
        assert!(dot.matches(b"a\nb", false).is_some());
        let multi = Compiled::new("^b$", 1000).unwrap();
        assert!(multi.matches(b"a\nb", false).is_some());
        let bytes = Compiled::new(r"^\xc3\xa9$", 1000).unwrap();
        assert!(bytes.matches("é".as_bytes(), false).is_some());
        let two = Compiled::new("^..$", 1000).unwrap();
        assert!(two.matches("é".as_bytes(), false).is_some());
        let cp = Compiled::new(r"^\x{e9}$", 1000).unwrap();
        assert!(cp.matches("é".as_bytes(), false).is_none());
    }

    #[test]
    fn possessive_and_lookaround_use_the_fallback() {
        let p = Compiled::new("^a*+a$", 1000).unwrap();
        assert!(p.is_fallback());
        assert!(p.matches(b"aa", false).is_none());
        // Remembered verdicts are the same verdicts.
        for _ in 0..3 {
            assert!(p.matches(b"aa", false).is_none());
        }
        let look = Compiled::new("a(?!b)", 1000).unwrap();
        assert!(look.is_fallback());
        assert!(look.matches(b"ab", false).is_none());
        assert!(look.matches(b"ac", false).is_some());
    }

    /// The memo returns what the backtracking search returns, across more
    /// distinct values than it holds (it starts over) and for values too
    /// long to remember; a search over the backtracking limit stays an error.
    #[test]
    fn fallback_memo_never_changes_a_verdict() {
        let Compiled::Fancy(fb) = Compiled::new(r"^(?:a|ab)*+c\s*+;", 1000).unwrap() else {
            panic!("possessive pattern must use the fallback");
        };
        let mut seed = 7u32;
        for round in 0..3 {
            for n in 0..(MEMO_ENTRIES + 100) {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let len =
                    (seed >> 16) as usize % 12 + if n % 50 == 0 { MEMO_VALUE_LIMIT } else { 0 };
                let v: Vec<u8> = (0..len)
                    .map(|k| b"abc ;"[((seed >> (k % 16)) as usize + k) % 5])
                    .collect();
                assert_eq!(
                    fb.is_match(&v).unwrap(),
                    fb.re.is_match(v.as_slice()).unwrap(),
                    "round {round}"
                );
            }
        }
        let Compiled::Fancy(slow) = Compiled::new(r"^(?:a|aa)*+(?:a|aa)*b(?=c)", 10).unwrap()
        else {
            panic!("lookahead must use the fallback");
        };
        let long = vec![b'a'; 40];
        assert!(slow.is_match(&long).is_err());
        assert!(slow.is_match(&long).is_err());
    }

    /// Why 920600 stays on the fallback: its possessive `\s*+` cannot all be
    /// made greedy. After `;`, `\s*+` is followed by a branch that may start
    /// with a space (`[^c"(),/:;<=>?!...]`), so giving spaces back (greedy)
    /// finds matches the possessive pattern refuses: `a/b; =x` is refused by
    /// CRS (the negated rule fires) but would pass with greedy quantifiers.
    #[test]
    fn crs_920600_possessive_is_not_greedy() {
        let Ok(conf) = std::fs::read_to_string(
            "/usr/share/modsecurity-crs/rules/REQUEST-920-PROTOCOL-ENFORCEMENT.conf",
        ) else {
            return;
        };
        let Some(line) = conf
            .lines()
            .find(|l| l.starts_with("SecRule REQUEST_HEADERS:Accept \"!@rx "))
        else {
            return;
        };
        let pattern = line
            .trim_start_matches("SecRule REQUEST_HEADERS:Accept \"!@rx ")
            .trim_end_matches(" \\")
            .trim_end_matches('"')
            .replace("\\\"", "\"");
        let possessive = Compiled::new(&pattern, DEFAULT_BACKTRACK_LIMIT).unwrap();
        assert!(possessive.is_fallback());
        let greedy = Compiled::new(&pattern.replace("*+", "*"), DEFAULT_BACKTRACK_LIMIT).unwrap();
        assert!(!greedy.is_fallback());
        let accept = b"application/json, text/plain, */*";
        assert!(possessive.matches(accept, false).is_some());
        assert!(greedy.matches(accept, false).is_some());
        assert!(possessive.matches(b"a/b; =x", false).is_none());
        assert!(greedy.matches(b"a/b; =x", false).is_some());
    }

    /// `^.*$` matches what the regex matches, whole value captured, with
    /// newlines, empty and non-UTF-8 values included.
    #[test]
    fn whole_value_pattern_agrees_with_the_regex() {
        let whole = Compiled::new("^.*$", 1000).unwrap();
        assert!(matches!(whole, Compiled::Whole));
        let re = RegexBuilder::new("(?sm)^.*$")
            .unicode(false)
            .build()
            .unwrap();
        let values: [&[u8]; 6] = [b"", b"host", b"a\nb", b"\n", b"x\r\n\n", b"\xff\x00z"];
        for v in values {
            let want = re
                .captures(v)
                .map(|c| vec![c.get(0).map(|m| m.as_bytes().to_vec())]);
            assert_eq!(whole.matches(v, true), want);
            assert_eq!(whole.matches(v, false).is_some(), re.is_match(v));
        }
    }

    #[test]
    fn captures_groups() {
        let re = Compiled::new("(a)(b)?", 1000).unwrap();
        let caps = re.matches(b"xa", true).unwrap();
        assert_eq!(caps[0].as_deref(), Some(&b"a"[..]));
        assert_eq!(caps[2], None);
    }

    #[test]
    fn dynamic_patterns_are_cached() {
        let d = DynamicRx::new(MacroString::parse("^%{tx.x}$"), 1000);
        assert!(d.get(b"^ab$").unwrap().matches(b"ab", false).is_some());
        assert!(d.get(b"^ab$").is_some());
        assert!(d.get(b"(").is_none());
    }
}
