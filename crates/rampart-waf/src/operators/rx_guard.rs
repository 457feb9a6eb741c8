//! Cheap necessary conditions checked before a linear `@rx` runs.
//!
//! The prefilter ([`crate::prefilter`]) skips rules by their required
//! *literals*, but many CRS patterns have none worth scanning for (`^$`,
//! `^[\d.:]+$`, `\.([^.]+)$`, a lone `:` or `/`), and a regex run costs
//! ~1-2 K instructions of set-up (cache pool, search dispatch) even when it
//! fails at the first byte. A [`Guard`] is computed once per pattern from
//! its HIR and rules values out in a few instructions per byte:
//!
//! - **length**: a value shorter than the shortest match cannot contain one;
//! - **required byte sets**: sets of bytes of which every match contains at
//!   least one each (`S\s*?C\s*?R...` needs an `s` or `S`, and a `c` or `C`,
//!   ...; an alternation needs the union of one set per branch), up to
//!   [`MAX_SETS`], tested in one pass over the value;
//! - **anchors**: in a value without a line feed, `(?m)^` and `(?m)$` are the
//!   value's ends, so a start-anchored pattern's match begins with the
//!   value's first byte (which must be one a match can begin with), an
//!   end-anchored one ends with its last byte, and one anchored at both ends
//!   matches the whole value (whose length must be within the pattern's).
//!
//! Every condition is implied by a match, so a value the guard refuses is a
//! value the regex does not match: verdicts never change (the tests below
//! check this against the regex for every CRS pattern).

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// A set of bytes as a 256-bit bitmap.
type Set = [u64; 4];

/// Required byte sets kept per pattern (one bit each in [`Guard::table`]).
const MAX_SETS: usize = 8;
/// Sets wider than this are dropped: nearly every value has such a byte.
const MAX_SET_BYTES: u32 = 24;
/// Candidate sets kept per sub-expression while analysing.
const KEEP: usize = 8;

fn set_of(bytes: impl IntoIterator<Item = u8>) -> Set {
    let mut s = [0u64; 4];
    for b in bytes {
        add(&mut s, b);
    }
    s
}

fn add(s: &mut Set, b: u8) {
    if let Some(w) = s.get_mut(usize::from(b >> 6)) {
        *w |= 1 << (b & 63);
    }
}

fn has(s: &Set, b: u8) -> bool {
    s.get(usize::from(b >> 6))
        .is_some_and(|w| w & (1 << (b & 63)) != 0)
}

fn union(a: &Set, b: &Set) -> Set {
    [a[0] | b[0], a[1] | b[1], a[2] | b[2], a[3] | b[3]]
}

fn count(s: &Set) -> u32 {
    s.iter().map(|w| w.count_ones()).sum()
}

fn is_subset(a: &Set, b: &Set) -> bool {
    a.iter().zip(b).all(|(x, y)| x & !y == 0)
}

/// The bytes a class matches. A Unicode class (not produced with Unicode
/// off, but cheap to cover) contributes every non-ASCII byte for its
/// non-ASCII part: its UTF-8 encodings use only such bytes.
fn class_set(c: &Class) -> Set {
    let mut s = [0u64; 4];
    match c {
        Class::Bytes(b) => {
            for r in b.ranges() {
                for x in r.start()..=r.end() {
                    add(&mut s, x);
                }
            }
        }
        Class::Unicode(u) => {
            for r in u.ranges() {
                let (lo, hi) = (u32::from(r.start()), u32::from(r.end()));
                for x in lo..=hi.min(0x7f) {
                    if let Ok(b) = u8::try_from(x) {
                        add(&mut s, b);
                    }
                }
                if hi > 0x7f {
                    for b in 0x80..=0xff {
                        add(&mut s, b);
                    }
                }
            }
        }
    }
    s
}

/// How likely a value is to contain some byte of `s` (lower is rarer):
/// letters and digits are in most values.
fn score(s: &Set) -> u32 {
    let alnum = (0..=255u8)
        .filter(|&b| b.is_ascii_alphanumeric() && has(s, b))
        .count() as u32;
    count(s) + 3 * alnum
}

/// Keeps the rarest useful sets, without duplicates or sets implied by a
/// smaller one kept.
fn prune(mut sets: Vec<Set>) -> Vec<Set> {
    sets.retain(|s| count(s) <= MAX_SET_BYTES && count(s) > 0);
    sets.sort_by_key(|s| (score(s), *s));
    let mut kept: Vec<Set> = Vec::new();
    for s in sets {
        if kept.len() >= KEEP {
            break;
        }
        if !kept.iter().any(|k| is_subset(k, &s)) {
            kept.push(s);
        }
    }
    kept
}

/// Byte sets every match of `h` hits (each at least once).
fn required(h: &Hir) -> Vec<Set> {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Vec::new(),
        HirKind::Literal(l) => prune(l.0.iter().map(|&b| set_of([b])).collect()),
        HirKind::Class(c) => prune(vec![class_set(c)]),
        HirKind::Repetition(r) if r.min == 0 => Vec::new(),
        HirKind::Repetition(r) => required(&r.sub),
        HirKind::Capture(c) => required(&c.sub),
        HirKind::Concat(hs) => prune(hs.iter().flat_map(required).collect()),
        HirKind::Alternation(hs) => {
            // A match is a match of one branch: it hits one set of each
            // branch, so it hits their union.
            let mut acc: Option<Vec<Set>> = None;
            for branch in hs {
                let mine = required(branch);
                if mine.is_empty() {
                    return Vec::new();
                }
                acc = Some(match acc {
                    None => mine,
                    Some(prev) => prune(
                        prev.iter()
                            .flat_map(|a| mine.iter().map(move |b| union(a, b)))
                            .collect(),
                    ),
                });
                if acc.as_ref().is_some_and(Vec::is_empty) {
                    return Vec::new();
                }
            }
            acc.unwrap_or_default()
        }
    }
}

/// Whether `h` can match the empty string, and the bytes a non-empty match
/// can begin with (`rev`: end with).
fn edge(h: &Hir, rev: bool) -> (bool, Set) {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => (true, [0; 4]),
        HirKind::Literal(l) => {
            let b = if rev { l.0.last() } else { l.0.first() };
            match b {
                Some(&b) => (false, set_of([b])),
                None => (true, [0; 4]),
            }
        }
        HirKind::Class(c) => (false, class_set(c)),
        HirKind::Repetition(r) => {
            if r.max == Some(0) {
                return (true, [0; 4]);
            }
            let (nullable, s) = edge(&r.sub, rev);
            (nullable || r.min == 0, s)
        }
        HirKind::Capture(c) => edge(&c.sub, rev),
        HirKind::Concat(hs) => {
            let mut acc = [0; 4];
            let mut step = |h: &Hir| {
                let (nullable, s) = edge(h, rev);
                acc = union(&acc, &s);
                nullable
            };
            let nullable = if rev {
                hs.iter().rev().all(&mut step)
            } else {
                hs.iter().all(&mut step)
            };
            (nullable, acc)
        }
        HirKind::Alternation(hs) => hs.iter().fold((false, [0; 4]), |(n, acc), h| {
            let (hn, s) = edge(h, rev);
            (n || hn, union(&acc, &s))
        }),
    }
}

/// Whether every match of `h` begins (`rev`: ends) at a line anchor.
fn anchored(h: &Hir, rev: bool) -> bool {
    match h.kind() {
        HirKind::Look(l) => {
            if rev {
                matches!(l, Look::End | Look::EndLF)
            } else {
                matches!(l, Look::Start | Look::StartLF)
            }
        }
        HirKind::Capture(c) => anchored(&c.sub, rev),
        HirKind::Concat(hs) => {
            let first = if rev { hs.last() } else { hs.first() };
            first.is_some_and(|h| anchored(h, rev))
        }
        HirKind::Alternation(hs) => hs.iter().all(|h| anchored(h, rev)),
        _ => false,
    }
}

/// Necessary conditions for a match of one pattern (see the module docs).
#[derive(Debug, Clone)]
pub struct Guard {
    /// Per byte: the bits of the required sets it belongs to.
    table: [u8; 256],
    /// The bits of all required sets.
    need: u8,
    /// Shortest match.
    min_len: usize,
    /// Bytes a start-anchored match can begin with (`None`: not anchored,
    /// or it can be empty).
    first: Option<Set>,
    /// Bytes an end-anchored match can end with.
    last: Option<Set>,
    /// Longest match of a pattern anchored at both ends (`None`: unbounded
    /// or not anchored at both).
    whole_max: Option<usize>,
    /// Whether any anchor condition applies.
    anchors: bool,
    /// The strings a pattern anchored at both ends matches exactly, when it
    /// is an alternation of plain literals (`^(?:GET|HEAD)$`): for a value
    /// without a line feed, membership is the verdict.
    exact: Option<Vec<Box<[u8]>>>,
}

/// Most strings an exact pattern may list.
const MAX_EXACT: usize = 16;

/// The strings of `^(?:lit|lit...)$`.
fn exact_strings(hir: &Hir) -> Option<Vec<Box<[u8]>>> {
    let HirKind::Concat(parts) = hir.kind() else {
        return None;
    };
    let [first, middle, last] = parts.as_slice() else {
        return None;
    };
    let is = |h: &Hir, looks: &[Look]| matches!(h.kind(), HirKind::Look(l) if looks.contains(l));
    if !is(first, &[Look::Start, Look::StartLF]) || !is(last, &[Look::End, Look::EndLF]) {
        return None;
    }
    let lit = |h: &Hir| match h.kind() {
        HirKind::Literal(l) => Some(l.0.clone()),
        _ => None,
    };
    let inner = match middle.kind() {
        HirKind::Capture(c) => &*c.sub,
        _ => middle,
    };
    let strings: Vec<Box<[u8]>> = match inner.kind() {
        HirKind::Literal(l) => vec![l.0.clone()],
        HirKind::Alternation(hs) => hs.iter().map(lit).collect::<Option<_>>()?,
        _ => return None,
    };
    (strings.len() <= MAX_EXACT).then_some(strings)
}

impl Guard {
    /// The guard of a pattern in `regex` syntax, flags included, as the
    /// linear engine compiles it (bytes, Unicode off); `None` when nothing
    /// useful is known.
    pub fn new(pattern: &str) -> Option<Self> {
        let hir = crate::prefilter::linear_hir(pattern)?;
        Some(Self::of(&hir)).filter(Guard::useful)
    }

    fn of(hir: &Hir) -> Self {
        let mut table = [0u8; 256];
        let mut need = 0u8;
        for (bit, s) in required(hir).iter().take(MAX_SETS).enumerate() {
            need |= 1 << bit;
            for (b, cell) in (0..=255u8).zip(table.iter_mut()) {
                if has(s, b) {
                    *cell |= 1 << bit;
                }
            }
        }
        let props = hir.properties();
        let (start, end) = (anchored(hir, false), anchored(hir, true));
        let first = start
            .then(|| edge(hir, false))
            .and_then(|(nullable, s)| (!nullable).then_some(s));
        let last = end
            .then(|| edge(hir, true))
            .and_then(|(nullable, s)| (!nullable).then_some(s));
        let whole_max = if start && end {
            props.maximum_len()
        } else {
            None
        };
        Self {
            exact: exact_strings(hir),
            table,
            need,
            min_len: props.minimum_len().unwrap_or(0),
            anchors: first.is_some() || last.is_some() || whole_max.is_some(),
            first,
            last,
            whole_max,
        }
    }

    fn useful(&self) -> bool {
        self.need != 0 || self.min_len > 0 || self.anchors
    }

    /// The verdict on `value` when it is known without the regex (an exact
    /// pattern and a value without a line feed).
    #[inline]
    pub fn verdict(&self, value: &[u8]) -> Option<bool> {
        let exact = self.exact.as_ref()?;
        if memchr::memchr(b'\n', value).is_some() {
            return None;
        }
        Some(exact.iter().any(|s| **s == *value))
    }

    /// Whether the pattern may match `value`; `false` only when it cannot.
    #[inline]
    pub fn may_match(&self, value: &[u8]) -> bool {
        if value.len() < self.min_len {
            return false;
        }
        // Without a line feed, `(?m)^` and `(?m)$` are the value's ends.
        if self.anchors && memchr::memchr(b'\n', value).is_none() {
            if self.whole_max.is_some_and(|max| value.len() > max) {
                return false;
            }
            if let (Some(first), Some(&b)) = (&self.first, value.first())
                && !has(first, b)
            {
                return false;
            }
            if let (Some(last), Some(&b)) = (&self.last, value.last())
                && !has(last, b)
            {
                return false;
            }
        }
        if self.need == 0 {
            return true;
        }
        let mut seen = 0u8;
        for chunk in value.chunks(32) {
            for &b in chunk {
                seen |= self.table.get(usize::from(b)).copied().unwrap_or(0);
            }
            if seen == self.need {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use regex::bytes::RegexBuilder;

    fn guard(p: &str) -> Guard {
        Guard::new(&format!("(?sm){p}")).unwrap()
    }

    #[test]
    fn empty_pattern_refuses_non_empty_lines() {
        let g = guard("^$");
        assert!(!g.may_match(b"api.example.com"));
        assert!(g.may_match(b""));
        // `(?m)^$` matches an empty line inside a value.
        assert!(g.may_match(b"a\n\nb"));
    }

    #[test]
    fn anchored_first_and_last_bytes() {
        let ip = guard(r"^[\d.:]+$");
        assert!(!ip.may_match(b"api.example.com"));
        assert!(ip.may_match(b"10.0.0.1"));
        assert!(!ip.may_match(b"10.0.0.1x"));
        assert!(ip.may_match(b"x\n10.0.0.1"));
        let shellshock = guard(r"^\(\s*\)\s+\{");
        assert!(!shellshock.may_match(b"Mozilla/5.0 (X11)"));
        assert!(shellshock.may_match(b"() { :; }; echo"));
    }

    #[test]
    fn required_bytes() {
        let ext = guard(r"\.([^.]+)$");
        assert!(!ext.may_match(b"orders"));
        assert!(ext.may_match(b"index.php"));
        let xss = guard(
            r"(?i)(?:<(?:embed|style)\b[^>]*?>|(?:=|U\s*?R\s*?L\s*?\()\s*?[^>]*?\s*?S\s*?C\s*?R\s*?I\s*?P\s*?T\s*?:)",
        );
        assert!(!xss.may_match(b"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101"));
        assert!(xss.may_match(b"url(javascript:alert(1))"));
        let min = guard("(?:URLENCODED|MULTIPART|XML|JSON)");
        assert!(!min.may_match(b""));
        assert!(min.may_match(b"JSON"));
    }

    #[test]
    fn exact_patterns_decide_without_the_regex() {
        let g = guard("^(?:GET|HEAD)$");
        assert_eq!(g.verdict(b"GET"), Some(true));
        assert_eq!(g.verdict(b"HEAD"), Some(true));
        assert_eq!(g.verdict(b"get"), Some(false));
        assert_eq!(g.verdict(b"GETS"), Some(false));
        assert_eq!(g.verdict(b"POST\nGET"), None);
        assert_eq!(guard("^(?i:get)$").verdict(b"GET"), None);
        assert_eq!(guard("^GET").verdict(b"GET"), None);
        let re = RegexBuilder::new("(?sm)^(?:GET|HEAD)$")
            .unicode(false)
            .build()
            .unwrap();
        for v in [
            &b"GET"[..],
            b"HEAD",
            b"",
            b"GE",
            b"GETHEAD",
            b" GET",
            b"HEAD\n",
        ] {
            if let Some(hit) = g.verdict(v) {
                assert_eq!(hit, re.is_match(v), "{v:?}");
            }
        }
    }

    #[test]
    fn nothing_known_gives_no_guard() {
        assert!(Guard::new("(?sm).*").is_none());
        assert!(Guard::new("(?sm)\\w*").is_none());
    }

    /// Values built from the pattern's own literals and a few generic ones,
    /// some with line feeds: the guard must let every match through.
    fn values_for(pattern: &str) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = [
            &b""[..],
            b"a",
            b"GET",
            b"api.example.com",
            b"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
            b"application/json, text/plain, */*",
            b"/api/v1/orders?page=2&limit=50",
            b"1' OR '1'='1",
            b"<script>alert(1)</script>",
            b"() { :; }; /bin/cat /etc/passwd",
            b"../../etc/passwd",
            b"x\n\ny",
            b"select * from users where id=1 union select 1,2",
            b"10.0.0.1",
        ]
        .iter()
        .map(|v| v.to_vec())
        .collect();
        // Runs of the pattern's printable characters, which tend to form
        // matches of its literal parts.
        let lit: Vec<u8> = pattern
            .bytes()
            .filter(|b| b.is_ascii_alphanumeric() || b" ./:;=<>()'\"".contains(b))
            .collect();
        for w in lit.chunks(12) {
            out.push(w.to_vec());
            let mut nl = w.to_vec();
            nl.insert(0, b'\n');
            out.push(nl);
        }
        out
    }

    /// For every CRS pattern the linear engine takes, the guard never
    /// refuses a value the regex matches.
    #[test]
    fn crs_patterns_guard_is_sound() {
        let Ok(dir) = std::fs::read_dir("/usr/share/modsecurity-crs/rules") else {
            return;
        };
        let mut checked = 0;
        for entry in dir.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            for line in text.lines() {
                let Some(at) = line.find("@rx ") else {
                    continue;
                };
                let pcre = line[at + 4..]
                    .trim_end_matches(" \\")
                    .trim_end_matches('"')
                    .replace("\\\"", "\"");
                let t = crate::operators::rx_translate::translate(&pcre);
                if t.possessive {
                    continue;
                }
                let full = format!("(?sm){}", t.pattern);
                let Ok(re) = RegexBuilder::new(&full).unicode(false).build() else {
                    continue;
                };
                let Some(g) = Guard::new(&full) else {
                    continue;
                };
                for v in values_for(&pcre) {
                    if let Some(hit) = g.verdict(&v) {
                        assert_eq!(hit, re.is_match(&v), "{full} on {v:?}");
                    }
                    if re.is_match(&v) {
                        assert!(g.may_match(&v), "{full} refused {v:?}");
                    }
                    // Every match of the regex, as a value of its own.
                    if let Some(m) = re.find(&v) {
                        assert!(g.may_match(m.as_bytes()), "{full} refused {m:?}");
                    }
                }
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked}");
    }
}
