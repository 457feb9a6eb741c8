//! Rule targets: `ARGS|!ARGS:foo|&TX:x|REQUEST_COOKIES:/^__utm/|XML:/*`.

use std::sync::Arc;

use regex::bytes::{Regex, RegexBuilder};

use crate::variables::Var;

/// Which items of a collection a target picks.
#[derive(Debug, Clone)]
pub enum Selector {
    /// Every item.
    All,
    /// Items whose key equals this one, compared case-insensitively (stored lower-case).
    Key(Vec<u8>),
    /// Items whose key matches this regex (case-insensitive).
    Regex(Arc<KeyRegex>),
    /// `XML:/*`: the text content of the whole document.
    XmlRoot,
    /// `XML://@*`: every attribute value.
    XmlAttributes,
}

impl Selector {
    /// Whether an item key is picked by this selector.
    pub fn picks(&self, key: &[u8]) -> bool {
        match self {
            Selector::All => true,
            // The keys XML values are collected under (`collect`): an
            // exclusion of one XPath leaves the other.
            Selector::XmlRoot => key == b"/*",
            Selector::XmlAttributes => key == b"//@*",
            Selector::Key(k) => key.eq_ignore_ascii_case(k),
            Selector::Regex(re) => re.is_match(key),
        }
    }
}

/// A selector regex (`TX:/^header_name_/`, `!REQUEST_COOKIES:/__utm/`),
/// with the literals any key it matches must contain: most keys it is
/// tried on (every TX variable, every cookie) lack them, and a substring
/// check is much cheaper than running the regex.
#[derive(Debug)]
pub struct KeyRegex {
    re: Regex,
    /// Lower-case; one of them occurs (ignoring ASCII case) in every match.
    factors: Option<Vec<Vec<u8>>>,
    /// Lower-case `p` when the pattern is `^p` with `p` plain letters,
    /// digits, `_` and `-`: then a key matches exactly when it starts with
    /// `p` (ignoring ASCII case), and a sorted lower-case collection can
    /// seek to it.
    prefix: Option<Vec<u8>>,
    /// Which keys of the shared TX template match (fixed for a ruleset).
    base_keys: crate::transaction::BaseKeyCache,
}

impl KeyRegex {
    /// Compiles a case-insensitive selector pattern.
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        let re = RegexBuilder::new(pattern)
            .case_insensitive(true)
            .unicode(false)
            .build()?;
        let factors = crate::prefilter::required_factors(&format!("(?i){pattern}"))
            .map(|f| f.into_iter().map(|x| x.to_ascii_lowercase()).collect());
        let prefix = pattern
            .strip_prefix('^')
            .filter(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
            })
            .map(|p| p.to_ascii_lowercase().into_bytes());
        Ok(Self {
            re,
            factors,
            prefix,
            base_keys: Default::default(),
        })
    }

    /// The lower-case literal prefix every match starts with, when the
    /// pattern is nothing but `^` and that prefix.
    pub fn literal_prefix(&self) -> Option<&[u8]> {
        self.prefix.as_deref()
    }

    /// The cache of the shared TX template's matching keys.
    pub(crate) fn base_keys(&self) -> &crate::transaction::BaseKeyCache {
        &self.base_keys
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.re.as_str()
    }

    /// Whether `key` matches.
    pub fn is_match(&self, key: &[u8]) -> bool {
        if let Some(p) = &self.prefix {
            return key
                .get(..p.len())
                .is_some_and(|k| k.eq_ignore_ascii_case(p));
        }
        if let Some(factors) = &self.factors
            && !factors.iter().any(|f| contains_ignore_case(key, f))
        {
            return false;
        }
        self.re.is_match(key)
    }
}

/// Whether `hay` contains `needle` (lower-case), ignoring ASCII case.
fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    hay.windows(needle.len()).any(|w| {
        w.first().is_some_and(|c| c.to_ascii_lowercase() == first) && w.eq_ignore_ascii_case(needle)
    })
}

/// One target of a rule.
#[derive(Debug, Clone)]
pub struct Target {
    /// The variable.
    pub var: Var,
    /// Which items.
    pub selector: Selector,
    /// `&VAR`: the rule sees the number of items instead of their values.
    pub count: bool,
}

/// A `!VAR:key` exclusion: items it picks are removed from the rule's targets.
#[derive(Debug, Clone)]
pub struct Exclusion {
    /// The variable.
    pub var: Var,
    /// Which items are excluded.
    pub selector: Selector,
}

impl Exclusion {
    /// Whether this exclusion removes item `key` of `var`.
    pub fn excludes(&self, var: Var, key: &[u8]) -> bool {
        self.var == var && self.selector.picks(key)
    }
}

/// The parsed target list of a rule.
#[derive(Debug, Clone, Default)]
pub struct TargetList {
    /// Targets, in order.
    pub targets: Vec<Target>,
    /// Exclusions.
    pub exclusions: Vec<Exclusion>,
}

/// Parses a `|`-separated target list.
pub fn parse_targets(text: &str) -> Result<TargetList, (String, String)> {
    let mut list = TargetList::default();
    for part in split_targets(text) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (negated, count, body) = match part.as_bytes().first() {
            Some(b'!') => (true, false, &part[1..]),
            Some(b'&') => (false, true, &part[1..]),
            _ => (false, false, part),
        };
        let (name, sel) = match body.split_once(':') {
            Some((n, s)) => (n, Some(s)),
            None => (body, None),
        };
        let var = Var::from_name(name.trim())
            .ok_or_else(|| (part.to_string(), format!("unknown variable {name}")))?;
        let selector = match sel {
            None => Selector::All,
            Some(s) => parse_selector(var, s).map_err(|e| (part.to_string(), e))?,
        };
        if !matches!(selector, Selector::All) && !var.is_collection() {
            return Err((
                part.to_string(),
                format!("{} takes no selector", var.name()),
            ));
        }
        if negated {
            if matches!(selector, Selector::All) {
                return Err((part.to_string(), "an exclusion needs a selector".into()));
            }
            list.exclusions.push(Exclusion { var, selector });
        } else {
            list.targets.push(Target {
                var,
                selector,
                count,
            });
        }
    }
    Ok(list)
}

/// Parses the text after `VAR:`.
pub fn parse_selector(var: Var, raw: &str) -> Result<Selector, String> {
    let s = raw.trim();
    let s = s
        .strip_prefix('\'')
        .and_then(|x| x.strip_suffix('\''))
        .unwrap_or(s);
    if var == Var::Xml {
        return match s {
            "/*" => Ok(Selector::XmlRoot),
            "//@*" => Ok(Selector::XmlAttributes),
            other => Err(format!("unsupported XPath expression {other}")),
        };
    }
    if s.len() >= 2 && s.starts_with('/') && s.ends_with('/') {
        let pattern = &s[1..s.len() - 1];
        let re = KeyRegex::new(pattern).map_err(|e| format!("bad selector regex: {e}"))?;
        return Ok(Selector::Regex(Arc::new(re)));
    }
    if s.is_empty() {
        return Err("empty selector".into());
    }
    Ok(Selector::Key(s.to_ascii_lowercase().into_bytes()))
}

/// Splits on `|`, except inside a `:/regex/` selector (which may contain `|`).
fn split_targets(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut in_regex = false;
    while let Some(&c) = bytes.get(i) {
        if in_regex {
            if c == b'\\' {
                i += 2;
                continue;
            }
            // A regex ends at a `/` followed by `|` or the end of the list.
            if c == b'/' && matches!(bytes.get(i + 1), None | Some(b'|')) {
                in_regex = false;
            }
        } else if c == b':' && bytes.get(i + 1) == Some(&b'/') {
            let name = text.get(start..i).unwrap_or("");
            let name = name.trim_start_matches(['!', '&']);
            // XML:/* and XML://@* are XPath, not regexes.
            if !name.eq_ignore_ascii_case("XML") {
                in_regex = true;
                i += 2;
                continue;
            }
        } else if c == b'|' {
            parts.push(text.get(start..i).unwrap_or(""));
            start = i + 1;
        }
        i += 1;
    }
    parts.push(text.get(start..).unwrap_or(""));
    parts
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_exclusions_and_regex_with_pipes() {
        let list =
            parse_targets("REQUEST_COOKIES|!REQUEST_COOKIES:/__utm|_ga/|&TX:x|ARGS:Foo|XML:/*")
                .unwrap();
        assert_eq!(list.targets.len(), 4);
        assert_eq!(list.exclusions.len(), 1);
        assert!(list.exclusions[0].excludes(Var::RequestCookies, b"_GA"));
        assert!(!list.exclusions[0].excludes(Var::RequestCookies, b"sid"));
        assert!(list.targets[1].count);
        assert!(matches!(&list.targets[2].selector, Selector::Key(k) if k == b"foo"));
        assert!(matches!(list.targets[3].selector, Selector::XmlRoot));
    }

    /// The literal pre-check never changes what a selector regex picks.
    #[test]
    fn selector_regex_literal_check_agrees_with_the_regex() {
        let keys: &[&[u8]] = &[
            b"header_name_host",
            b"HEADER_NAME_X",
            b"xheader_name_",
            b"header_nam",
            b"__utma",
            b"__UTMZ",
            b"_pk_ref.1",
            b"sdw12ab",
            b"DWff",
            b"dwx",
            b"paramcounter_args:a",
            b"anomaly_score",
            b"",
        ];
        for pattern in [
            "^header_name_",
            "^HEADER_nam",
            "^xheader-name",
            "^dw",
            "__utm",
            "_pk_ref",
            "S?DW[a-f0-9]+",
            "paramcounter_.*",
            "a|.*",
            "^$",
        ] {
            let fast = KeyRegex::new(pattern).unwrap();
            let plain = RegexBuilder::new(pattern)
                .case_insensitive(true)
                .unicode(false)
                .build()
                .unwrap();
            for key in keys {
                assert_eq!(fast.is_match(key), plain.is_match(key), "{pattern} {key:?}");
            }
        }
        assert!(KeyRegex::new("^header_name_").unwrap().factors.is_some());
    }

    #[test]
    fn rejects_unknown_variable_and_xpath() {
        assert!(parse_targets("NOPE").is_err());
        assert!(parse_targets("XML:/a/b").is_err());
        assert!(parse_targets("REQUEST_URI:x").is_err());
    }
}
