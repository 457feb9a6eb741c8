//! Outside capabilities some operators need, injected as traits so the engine
//! itself does no I/O: libinjection-style detection, GeoIP, DNS block lists.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};

/// `@detectSQLi` / `@detectXSS`.
pub trait InjectionDetector: Send + Sync + std::fmt::Debug {
    /// `Some(fingerprint)` when `input` is SQL injection.
    fn sqli(&self, input: &[u8]) -> Option<String>;
    /// Whether `input` is an XSS vector.
    fn xss(&self, input: &[u8]) -> bool;
}

/// The default detector: the pure-Rust port of libinjection (`libinjectionrs`,
/// pinned to 0.1.1, measured equal to C libinjection 3.9.2 on all but 3 of
/// 13,714 inputs).
#[derive(Debug, Default, Clone, Copy)]
pub struct LibInjection;

impl InjectionDetector for LibInjection {
    fn sqli(&self, input: &[u8]) -> Option<String> {
        // `detect_sqli` tokenizes twice (the verdict, then the fingerprint);
        // benign inputs, nearly all of them, only need the verdict. The same
        // verdict: `detect_sqli` runs exactly this `detect` first.
        let mut state = libinjectionrs::SqliState::new(input, libinjectionrs::SqliFlags::FLAG_NONE);
        if !state.detect() {
            return None;
        }
        let result = libinjectionrs::detect_sqli(input);
        if result.is_injection() {
            Some(
                result
                    .fingerprint
                    .map(|f| f.as_str().to_string())
                    .unwrap_or_default(),
            )
        } else {
            None
        }
    }

    fn xss(&self, input: &[u8]) -> bool {
        libinjectionrs::detect_xss(input).is_injection()
    }
}

/// Per-transaction memo of injection verdicts: bodies repeat values (JSON
/// arrays), and the same value always gets the same verdict. Bounded.
/// Keys are request values: foldhash with a random seed (SipHash was ~1% of
/// a blocked request's instructions).
#[derive(Debug, Default)]
pub struct InjectionMemo {
    sqli: HashMap<Vec<u8>, Option<String>, foldhash::fast::RandomState>,
    xss: HashMap<Vec<u8>, bool, foldhash::fast::RandomState>,
    /// The ruleset's verdicts on short values, shared by its transactions.
    shared: Option<Arc<SharedVerdicts>>,
}

/// SQLi and XSS verdicts on short values shared by the transactions of one
/// ruleset (one detector): most requests send the same few `User-Agent`s,
/// whose libinjection pass was ~4% of a GET, and scanners repeat their
/// payloads. Bounded (emptied when full, so a
/// flood of distinct values costs only the recomputation); `try_lock` only,
/// so a transaction never waits for another: on contention it asks the
/// detector. A verdict is a pure function of the value, so a remembered one
/// is the one the detector would give.
#[derive(Debug, Default)]
pub struct SharedVerdicts {
    sqli: std::sync::Mutex<HashMap<Box<[u8]>, Option<String>, foldhash::fast::RandomState>>,
    xss: std::sync::Mutex<HashMap<Box<[u8]>, bool, foldhash::fast::RandomState>>,
}

/// Values up to this many bytes are shared.
const SHARED_VALUE_LEN: usize = 256;
/// Shared verdicts kept at most (then the table starts over).
const SHARED_ENTRIES: usize = 4096;

impl SharedVerdicts {
    fn sqli(&self, d: &dyn InjectionDetector, v: &[u8]) -> Option<String> {
        if v.len() > SHARED_VALUE_LEN {
            return d.sqli(v);
        }
        if let Ok(map) = self.sqli.try_lock()
            && let Some(hit) = map.get(v)
        {
            return hit.clone();
        }
        let verdict = d.sqli(v);
        if let Ok(mut map) = self.sqli.try_lock() {
            if map.len() >= SHARED_ENTRIES {
                map.clear();
            }
            map.insert(v.into(), verdict.clone());
        }
        verdict
    }

    fn xss(&self, d: &dyn InjectionDetector, v: &[u8]) -> bool {
        if v.len() > SHARED_VALUE_LEN {
            return d.xss(v);
        }
        if let Ok(map) = self.xss.try_lock()
            && let Some(hit) = map.get(v)
        {
            return *hit;
        }
        let verdict = d.xss(v);
        if let Ok(mut map) = self.xss.try_lock() {
            if map.len() >= SHARED_ENTRIES {
                map.clear();
            }
            map.insert(v.into(), verdict);
        }
        verdict
    }
}

/// Entries per memo table.
const MEMO_ENTRIES: usize = 2048;
/// Longest value memoised.
const MEMO_VALUE_LEN: usize = 4096;

/// Values libinjection's SQLi check provably passes: one token that is all
/// digits (a number), or a word (letter or `_`, then letters, digits, `_`,
/// `.`). A one-token fingerprint is never SQLi: the only one-token entry in
/// libinjection's fingerprint list is `X`, which words and numbers never yield.
/// A `.` keeps the word one token unless the text before it is a keyword
/// (`union.x` splits), which is checked with libinjection's own table; JSON
/// argument names (`json.items.array_0.sku`) are such words.
fn single_token(v: &[u8]) -> bool {
    match v.split_first() {
        None => true,
        Some((first, rest)) => {
            if first.is_ascii_digit() {
                rest.iter().all(u8::is_ascii_digit)
            } else {
                (first.is_ascii_alphabetic() || *first == b'_')
                    && rest
                        .iter()
                        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.')
                    && v.iter()
                        .enumerate()
                        .filter(|(_, c)| **c == b'.')
                        .all(|(i, _)| v.get(..i).is_some_and(not_a_keyword))
            }
        }
    }
}

/// libinjection's keywords (upper-case) and the longest one's length.
fn keywords() -> &'static (std::collections::HashSet<Vec<u8>>, usize) {
    use std::sync::OnceLock;
    static KEYWORDS: OnceLock<(std::collections::HashSet<Vec<u8>>, usize)> = OnceLock::new();
    KEYWORDS.get_or_init(|| {
        // The token types `lookup_word` does not report as a bareword.
        let set: std::collections::HashSet<Vec<u8>> = libinjectionrs::sqli::sqli_data::SQL_KEYWORDS
            .iter()
            .filter(|k| {
                matches!(
                    k.token_type,
                    b'k' | b'f'
                        | b'U'
                        | b'E'
                        | b'T'
                        | b't'
                        | b'o'
                        | b'&'
                        | b'v'
                        | b'1'
                        | b'A'
                        | b'B'
                        | b'F'
                )
            })
            .map(|k| k.word.as_bytes().to_ascii_uppercase())
            .collect();
        let longest = set.iter().map(Vec::len).max().unwrap_or(0);
        (set, longest)
    })
}

/// Builds what the detectors' shortcuts use once, at load, so that no
/// request pays for it.
pub(crate) fn prepare() {
    keywords();
}

/// Whether libinjection reads this word as a plain bareword: it is not in
/// its keyword table with a keyword type (what `lookup_word` answers, from
/// a set built once instead of a binary search over an upper-cased copy).
fn not_a_keyword(word: &[u8]) -> bool {
    let (set, longest) = keywords();
    if std::str::from_utf8(word).is_err() {
        return false;
    }
    if word.len() > *longest {
        return true;
    }
    let mut buf = [0u8; 64];
    match buf.get_mut(..word.len()) {
        Some(upper) => {
            upper.copy_from_slice(word);
            upper.make_ascii_uppercase();
            !set.contains(&upper[..])
        }
        None => {
            let upper = word.to_ascii_uppercase();
            !set.contains(&upper)
        }
    }
}

/// Values libinjection's XSS check provably passes: without `<` its HTML5
/// tokenizer yields no tag, comment or doctype in any of its five contexts,
/// and without `=` no attribute value follows an attribute name (the only
/// other tokens it flags). Most argument and header values.
fn cannot_be_xss(v: &[u8]) -> bool {
    !v.iter().any(|&c| c == b'<' || c == b'=')
}

impl InjectionMemo {
    /// A memo that also reads and fills `shared` (the ruleset's, whose
    /// detector it must be used with).
    pub fn with_shared(shared: Arc<SharedVerdicts>) -> Self {
        Self {
            shared: Some(shared),
            ..Self::default()
        }
    }

    /// `@detectSQLi` through the memo.
    pub fn sqli(&mut self, d: &dyn InjectionDetector, v: &[u8]) -> Option<String> {
        if single_token(v) {
            return None;
        }
        if v.len() > MEMO_VALUE_LEN {
            return d.sqli(v);
        }
        if let Some(hit) = self.sqli.get(v) {
            return hit.clone();
        }
        let verdict = match &self.shared {
            Some(shared) => shared.sqli(d, v),
            None => d.sqli(v),
        };
        if self.sqli.len() < MEMO_ENTRIES {
            self.sqli.insert(v.to_vec(), verdict.clone());
        }
        verdict
    }

    /// `@detectXSS` through the memo.
    pub fn xss(&mut self, d: &dyn InjectionDetector, v: &[u8]) -> bool {
        if cannot_be_xss(v) {
            return false;
        }
        if v.len() > MEMO_VALUE_LEN {
            return d.xss(v);
        }
        if let Some(hit) = self.xss.get(v) {
            return *hit;
        }
        let verdict = match &self.shared {
            Some(shared) => shared.xss(d, v),
            None => d.xss(v),
        };
        if self.xss.len() < MEMO_ENTRIES {
            self.xss.insert(v.to_vec(), verdict);
        }
        verdict
    }
}

/// `@geoLookup`: fields such as `COUNTRY_CODE` for an address.
pub trait GeoLookup: Send + Sync + std::fmt::Debug {
    /// The GEO collection for `ip`, or `None` when unknown.
    fn lookup(&self, ip: IpAddr) -> Option<Vec<(String, String)>>;
}

/// `@rbl`: whether an address is listed by a DNS block list. Implementations
/// must answer from a cache or precomputed data: the engine never waits.
pub trait RblLookup: Send + Sync + std::fmt::Debug {
    /// Whether `ip` is listed in `zone`.
    fn listed(&self, zone: &str, ip: IpAddr) -> bool;
}

/// The capabilities handed to the engine.
#[derive(Debug, Clone)]
pub struct Services {
    /// SQLi/XSS detection.
    pub injection: Arc<dyn InjectionDetector>,
    /// GeoIP database; without one `@geoLookup` never matches (as ModSecurity
    /// without `SecGeoLookupDb`).
    pub geo: Option<Arc<dyn GeoLookup>>,
    /// Block-list lookups; without one `@rbl` never matches.
    pub rbl: Option<Arc<dyn RblLookup>>,
    /// Time for persistent collections (`expirevar`, idle eviction) and
    /// DURATION.
    pub clock: Arc<dyn Clock>,
}

impl Default for Services {
    fn default() -> Self {
        Self {
            injection: Arc::new(LibInjection),
            geo: None,
            rbl: None,
            clock: Arc::new(SystemClock),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn memo_agrees_with_the_detector() {
        let d = LibInjection;
        let mut memo = InjectionMemo::default();
        for v in [
            &b"1' OR '1'='1"[..],
            b"1union",
            b"1 union select 2",
            b"alice",
            b"12345",
            b"abc_1",
            b"<script>",
            b"a b",
        ] {
            for _ in 0..2 {
                assert_eq!(
                    memo.sqli(&d, v),
                    d.sqli(v),
                    "{}",
                    String::from_utf8_lossy(v)
                );
                assert_eq!(memo.xss(&d, v), d.xss(v));
            }
        }
        assert!(
            single_token(b"union")
                && single_token(b"42")
                && !single_token(b"1union")
                && !single_token(b"a b")
        );
    }

    #[test]
    fn shared_verdicts_agree_with_the_detector_across_transactions() {
        // Transactions of one ruleset share verdicts on short values: the
        // attack must be refused and the benign agent passed by each, with
        // the table filled by another transaction, past its size and for
        // values too long to share.
        let d = LibInjection;
        let shared = Arc::new(SharedVerdicts::default());
        let long_attack = format!("{}' OR '1'='1", "x".repeat(SHARED_VALUE_LEN));
        let agent = b"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
        let values: [&[u8]; 4] = [
            b"1' OR '1'='1",
            agent,
            b"1 union select 2",
            long_attack.as_bytes(),
        ];
        for _ in 0..3 {
            let mut memo = InjectionMemo::with_shared(shared.clone());
            for v in values {
                assert_eq!(
                    memo.sqli(&d, v),
                    d.sqli(v),
                    "{}",
                    String::from_utf8_lossy(v)
                );
            }
        }
        assert!(d.sqli(b"1' OR '1'='1").is_some() && d.sqli(agent).is_none());
        let mut memo = InjectionMemo::with_shared(shared.clone());
        for i in 0..SHARED_ENTRIES + 10 {
            let v = format!("{i} or 1=1");
            assert_eq!(memo.sqli(&d, v.as_bytes()), d.sqli(v.as_bytes()));
        }
        let len = shared.sqli.lock().map(|m| m.len()).unwrap_or(0);
        assert!(len <= SHARED_ENTRIES, "{len}");
    }

    /// Values with neither `<` nor `=` are never XSS for libinjection: known
    /// vectors, and many pseudo-random strings over every other character
    /// that matters to its tokenizer.
    #[test]
    fn values_without_lt_or_equals_are_never_xss() {
        let d = LibInjection;
        for v in [
            "javascript:alert(1)",
            "\" onmouseover alert(1) x\"",
            "' onerror 'alert(1)",
            "` onload `x",
            "x style expression(alert(1))",
            "/ onfocus autofocus >",
            "&lt;script&gt;",
            "--> <!-- no",
        ] {
            if !v.contains('<') {
                assert!(!d.xss(v.as_bytes()), "{v}");
            }
        }
        assert!(d.xss(b"x onerror=alert(1)") && d.xss(b"<script>alert(1)</script>"));
        let alphabet: &[u8] =
            b" \t\n\r\x0b\x0c\x00\"'`/>!?-&#;:()[]%\\onerrosyltjavscipthefxmlnsdaIMPORTENTY";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as usize
        };
        for _ in 0..20_000 {
            let len = next() % 24;
            let v: Vec<u8> = (0..len)
                .map(|_| alphabet[next() % alphabet.len()])
                .collect();
            assert!(cannot_be_xss(&v));
            assert!(!d.xss(&v), "{}", String::from_utf8_lossy(&v));
        }
    }

    #[test]
    fn single_words_and_numbers_are_never_sqli() {
        let d = LibInjection;
        for w in [
            "union",
            "select",
            "sleep",
            "or",
            "and",
            "null",
            "version",
            "char",
            "_x",
            "x1",
            "0",
            "1",
            "99999999999",
        ] {
            assert!(d.sqli(w.as_bytes()).is_none(), "{w}");
        }
    }

    /// The keyword set gives `lookup_word`'s answer for every table word,
    /// in any case, and for words that are not in it.
    #[test]
    fn keyword_set_agrees_with_lookup_word() {
        use libinjectionrs::sqli::TokenType;
        let reference = |w: &str| {
            !matches!(
                libinjectionrs::sqli::sqli_data::lookup_word(w),
                TokenType::Bareword | TokenType::None
            )
        };
        for k in libinjectionrs::sqli::sqli_data::SQL_KEYWORDS {
            for w in [k.word.to_string(), k.word.to_ascii_lowercase()] {
                assert_eq!(!not_a_keyword(w.as_bytes()), reference(&w), "{w}");
            }
        }
        for w in [
            "json",
            "items",
            "dbms_lock.sleep",
            "sys",
            "x".repeat(80).as_str(),
            "",
        ] {
            assert_eq!(!not_a_keyword(w.as_bytes()), reference(w), "{w}");
        }
    }

    /// Dotted words the shortcut passes are passed by libinjection too; those
    /// whose prefix is a keyword take the full check.
    #[test]
    fn dotted_words_agree_with_the_detector() {
        let d = LibInjection;
        let words = [
            "union",
            "select",
            "or",
            "and",
            "sleep",
            "benchmark",
            "from",
            "where",
            "null",
            "not",
            "like",
            "exec",
            "declare",
            "waitfor",
            "version",
            "char",
            "concat",
            "user",
            "information_schema",
            "table_name",
            "json",
            "items",
            "array_0",
            "sku",
            "x",
            "_a",
            "a1",
            "if",
            "case",
            "when",
            "then",
            "end",
            "is",
            "in",
            "by",
            "order",
            "group",
            "having",
            "limit",
            "pg_sleep",
            "load_file",
            "into",
            "outfile",
            "drop",
            "table",
        ];
        let mut passed = 0;
        for a in words {
            for b in words {
                for v in [
                    format!("{a}.{b}"),
                    format!("{a}.{b}."),
                    format!("{a}..{b}"),
                    format!("{a}.{b}.{a}"),
                ] {
                    if single_token(v.as_bytes()) {
                        passed += 1;
                        assert!(d.sqli(v.as_bytes()).is_none(), "{v}");
                    }
                }
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as usize
        };
        for _ in 0..20_000 {
            let mut v = String::new();
            for k in 0..1 + next() % 4 {
                if k > 0 {
                    v.push_str(if next() % 5 == 0 { ".." } else { "." });
                }
                v.push_str(words[next() % words.len()]);
                if next() % 3 == 0 {
                    v.push(char::from(b'a' + (next() % 26) as u8));
                }
            }
            if single_token(v.as_bytes()) {
                passed += 1;
                assert!(d.sqli(v.as_bytes()).is_none(), "{v}");
            }
        }
        assert!(passed > 1000);
        assert!(single_token(b"json.items.array_0.sku"));
        assert!(!single_token(b"union.select"));
        assert!(!single_token(b".5"));
    }

    #[test]
    fn libinjection_flags_attacks_and_passes_text() {
        let d = LibInjection;
        assert!(d.sqli(b"1' OR '1'='1").is_some());
        assert!(d.sqli(b"1 union select password from users--").is_some());
        assert!(d.sqli(b"hello world").is_none());
        assert!(d.sqli(b"O'Reilly books").is_none());
        assert!(d.xss(b"<script>alert(1)</script>"));
        assert!(d.xss(b"<img src=x onerror=alert(1)>"));
        assert!(!d.xss(b"a < b and c > d"));
        assert!(!d.xss(b"plain text"));
    }
}
