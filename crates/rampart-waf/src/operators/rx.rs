//! `@rx`: regular expression match with ModSecurity's flags (byte mode, DOTALL,
//! MULTILINE), in linear time with `regex::bytes`. Patterns `regex` cannot
//! express (lookaround, backreferences, possessive quantifiers) go to
//! `fancy-regex` in byte mode with a backtracking limit; a search that hits the
//! limit counts as no match and is counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use regex::bytes::{Regex, RegexBuilder};

use super::rx_translate::translate;
use crate::macros::MacroString;

/// Backtracking steps allowed per fallback search (ModSecurity's default
/// `SecPcreMatchLimit` is 1000 in the recommended config; CRS needs more).
pub const DEFAULT_BACKTRACK_LIMIT: usize = 100_000;

/// Searches that hit the backtracking limit, process-wide.
pub static BACKTRACK_LIMIT_HITS: AtomicU64 = AtomicU64::new(0);

/// A compiled pattern.
#[derive(Debug)]
pub enum Compiled {
    /// Linear-time engine.
    Linear(Regex),
    /// Backtracking fallback.
    Fancy(Box<fancy_regex::Regex>),
}

impl Compiled {
    /// Compiles a PCRE pattern; errors are human-readable.
    pub fn new(pcre: &str, backtrack_limit: usize) -> Result<Self, String> {
        let translated = translate(pcre);
        if !translated.possessive
            && let Ok(re) = RegexBuilder::new(&format!("(?sm){}", translated.pattern))
                .unicode(false)
                .size_limit(64 << 20)
                .build()
        {
            return Ok(Compiled::Linear(re));
        }
        let fancy = fancy_regex::RegexBuilder::new(&format!("(?sm){}", translated.pattern))
            .bytes_mode(fancy_regex::BytesMode::Ascii)
            .backtrack_limit(backtrack_limit)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Compiled::Fancy(Box::new(fancy)))
    }

    /// Whether this pattern needed the backtracking fallback.
    pub fn is_fallback(&self) -> bool {
        matches!(self, Compiled::Fancy(_))
    }

    /// Matches; with `captures`, returns the whole match and up to 9 groups.
    pub fn matches(&self, input: &[u8], captures: bool) -> Option<Vec<Option<Vec<u8>>>> {
        match self {
            Compiled::Linear(re) => {
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
            Compiled::Fancy(re) => {
                if !captures {
                    return match re.is_match(input) {
                        Ok(true) => Some(Vec::new()),
                        Ok(false) => None,
                        Err(_) => {
                            BACKTRACK_LIMIT_HITS.fetch_add(1, Ordering::Relaxed);
                            None
                        }
                    };
                }
                match re.captures(input) {
                    Ok(Some(caps)) => Some(
                        (0..caps.len().min(10))
                            .map(|i| caps.get(i).map(|m| m.as_bytes().to_vec()))
                            .collect(),
                    ),
                    Ok(None) => None,
                    Err(_) => {
                        BACKTRACK_LIMIT_HITS.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                }
            }
        }
    }
}

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
        let look = Compiled::new("a(?!b)", 1000).unwrap();
        assert!(look.is_fallback());
        assert!(look.matches(b"ab", false).is_none());
        assert!(look.matches(b"ac", false).is_some());
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
