//! Prefilter for `@rx`: most regex evaluations are skipped without running the
//! regex.
//!
//! At load, each static `@rx` pattern is analysed (on its `regex-syntax` HIR)
//! for a set of *required factors*: byte strings of which every match must
//! contain at least one. All factors of all rules go into one ASCII
//! case-insensitive Aho-Corasick automaton. A transaction scans each
//! transformed value once per transformation chain (the result is cached with
//! the value), which yields the set of rules whose regex can possibly match;
//! only those regexes run. Rules without usable factors always run. Skipping
//! is exact: a rule is skipped only if none of its required factors occurs,
//! in which case its regex cannot match. If a group's automaton cannot be
//! built (a limit of the automaton library), the rules with factors in that
//! group are never skipped for its values (a warning is logged).

use aho_corasick::automaton::Automaton;
use aho_corasick::nfa::contiguous;
use aho_corasick::{Anchored, MatchKind, PatternID, dfa};
use regex_syntax::ParserBuilder;
use regex_syntax::hir::{Class, Hir, HirKind};

use crate::operators::Operator;
use crate::rule::Rule;
use crate::seclang::targets::{Selector, Target};
use crate::transformations::{ChainId, ChainTable};
use crate::variables::Var;

/// Largest set of alternatives tracked while analysing.
const MAX_SET: usize = 64;
/// Longest factor kept.
const MAX_LEN: usize = 48;
/// Largest byte class expanded into literals (`[\s"';=]on` -> ` on`, `"on`, ...).
const MAX_CLASS: usize = 24;
/// Widest byte range of such a class (`0-9`).
const MAX_CLASS_RANGE: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    /// The sub-expression matches exactly one of these strings.
    Exact(Vec<Vec<u8>>),
    /// Every match contains one of these strings.
    Factors(Vec<Vec<u8>>),
    /// Nothing known.
    Any,
}

fn dedup(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v.dedup();
    v
}

fn class_bytes(c: &Class) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match c {
        Class::Bytes(b) => {
            for r in b.ranges() {
                if usize::from(r.end() - r.start()) > MAX_CLASS_RANGE {
                    return None;
                }
                for x in r.start()..=r.end() {
                    out.push(x.to_ascii_lowercase());
                }
            }
        }
        Class::Unicode(u) => {
            for r in u.ranges() {
                let (s, e) = (u32::from(r.start()), u32::from(r.end()));
                if e > 0x7f || (e - s) as usize > MAX_CLASS_RANGE {
                    return None;
                }
                for x in s..=e {
                    out.push(u8::try_from(x).ok()?.to_ascii_lowercase());
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    (!out.is_empty() && out.len() <= MAX_CLASS).then_some(out)
}

fn cross(a: &[Vec<u8>], b: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if a.len() * b.len() > MAX_SET {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            let mut s = x.clone();
            s.extend_from_slice(y);
            if s.len() > MAX_LEN {
                return None;
            }
            out.push(s);
        }
    }
    Some(dedup(out))
}

/// A usable factor set: no empty string, not too big.
fn as_factors(r: &Req) -> Option<Vec<Vec<u8>>> {
    match r {
        Req::Exact(s) | Req::Factors(s) => {
            (!s.is_empty() && s.len() <= MAX_SET && s.iter().all(|x| !x.is_empty()))
                .then(|| s.clone())
        }
        Req::Any => None,
    }
}

/// Prefers sets worth scanning for ([`selective`]: no lone letter or digit,
/// which nearly every value contains), then sets whose shortest factor is
/// longest, then smaller sets. Any required set is exact; this only picks
/// the one that rules out the most values.
fn better(a: &[Vec<u8>], b: &[Vec<u8>]) -> bool {
    let min = |s: &[Vec<u8>]| s.iter().map(Vec::len).min().unwrap_or(0);
    (selective(a), min(a), std::cmp::Reverse(a.len()))
        > (selective(b), min(b), std::cmp::Reverse(b.len()))
}

fn analyze(h: &Hir) -> Req {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Req::Exact(vec![Vec::new()]),
        HirKind::Literal(l) => {
            let s = l.0.to_ascii_lowercase();
            if s.len() > MAX_LEN {
                let head = s.get(..MAX_LEN).unwrap_or_default().to_vec();
                Req::Factors(vec![head])
            } else {
                Req::Exact(vec![s])
            }
        }
        HirKind::Class(c) => match class_bytes(c) {
            Some(bytes) => Req::Exact(bytes.into_iter().map(|b| vec![b]).collect()),
            None => Req::Any,
        },
        HirKind::Capture(c) => analyze(&c.sub),
        HirKind::Repetition(r) => {
            let sub = analyze(&r.sub);
            if r.min == 0 {
                match (r.max, sub) {
                    (Some(1), Req::Exact(mut s)) => {
                        s.push(Vec::new());
                        Req::Exact(dedup(s))
                    }
                    _ => Req::Any,
                }
            } else if r.min == 1 && r.max == Some(1) {
                sub
            } else {
                match as_factors(&sub) {
                    Some(f) => Req::Factors(f),
                    None => Req::Any,
                }
            }
        }
        HirKind::Concat(hs) => {
            let mut best: Option<Vec<Vec<u8>>> = None;
            let mut run: Vec<Vec<u8>> = vec![Vec::new()];
            let mut all_exact = true;
            let consider = |set: &[Vec<u8>], best: &mut Option<Vec<Vec<u8>>>| {
                if let Some(f) = as_factors(&Req::Factors(set.to_vec()))
                    && best.as_ref().is_none_or(|b| better(&f, b))
                {
                    *best = Some(f);
                }
            };
            for child in hs {
                match analyze(child) {
                    Req::Exact(s) => match cross(&run, &s) {
                        Some(next) => run = next,
                        None => {
                            all_exact = false;
                            consider(&run, &mut best);
                            run = s;
                        }
                    },
                    other => {
                        all_exact = false;
                        consider(&run, &mut best);
                        if let Some(f) = as_factors(&other) {
                            consider(&f, &mut best);
                        }
                        run = vec![Vec::new()];
                    }
                }
            }
            if all_exact {
                return Req::Exact(run);
            }
            consider(&run, &mut best);
            best.map_or(Req::Any, Req::Factors)
        }
        HirKind::Alternation(hs) => {
            let parts: Vec<Req> = hs.iter().map(analyze).collect();
            if parts.iter().all(|p| matches!(p, Req::Exact(_))) {
                let all: Vec<Vec<u8>> = parts
                    .into_iter()
                    .flat_map(|p| match p {
                        Req::Exact(s) => s,
                        _ => Vec::new(),
                    })
                    .collect();
                let all = dedup(all);
                if all.len() <= MAX_SET {
                    return Req::Exact(all);
                }
                return if all.iter().all(|s| !s.is_empty()) {
                    Req::Factors(all)
                } else {
                    Req::Any
                };
            }
            let mut all = Vec::new();
            for p in &parts {
                match p {
                    Req::Exact(s) | Req::Factors(s) if s.iter().all(|x| !x.is_empty()) => {
                        all.extend(s.iter().cloned())
                    }
                    _ => return Req::Any,
                }
            }
            Req::Factors(dedup(all))
        }
    }
}

/// A pattern in `regex` syntax (flags included) parsed as the linear engine
/// compiles it (bytes, Unicode off), for the analyses made at load.
pub(crate) fn linear_hir(pattern: &str) -> Option<regex_syntax::hir::Hir> {
    ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()
}

/// Required factors of a pattern in `regex` syntax (as compiled, with flags).
pub fn required_factors(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = linear_hir(pattern)?;
    let r = analyze(&hir);
    let f = match r {
        Req::Exact(s) | Req::Factors(s) => s,
        Req::Any => return None,
    };
    (f.len() <= 4 * MAX_SET && !f.is_empty() && f.iter().all(|x| !x.is_empty())).then_some(f)
}

/// Variable groups whose values come from disjoint item storage (argument
/// names and values; request headers and their names; cookies and their
/// names; the request line and its parts; the request file name; everything
/// else): a value is scanned only for the literals of rules that read its
/// group, and an item is reached only through the variables of one group, so
/// its cached scan holds every literal any rule reading it needs.
///
/// The request line's parts (read by a few rules: ~1 KB of literals, a small
/// DFA) and the file name (~24 KB) are apart from "everything else", whose
/// automaton carries the argument rules' phrase lists (they read `XML:/*`
/// too): every request's line, URI and method were scanned by that large NFA.
pub(crate) const GROUPS: usize = 6;

/// The group of a variable's values (see [`GROUPS`]).
pub(crate) fn group_of(var: Var) -> usize {
    match var {
        Var::Args
        | Var::ArgsGet
        | Var::ArgsPost
        | Var::ArgsNames
        | Var::ArgsGetNames
        | Var::ArgsPostNames => 0,
        Var::RequestHeaders | Var::RequestHeadersNames => 1,
        Var::RequestCookies | Var::RequestCookiesNames => 2,
        Var::RequestLine
        | Var::RequestUri
        | Var::RequestUriRaw
        | Var::RequestMethod
        | Var::RequestProtocol
        | Var::QueryString => 4,
        Var::RequestFilename | Var::RequestBasename => 5,
        _ => 3,
    }
}

/// Groups whose literals add up to at most this many bytes get a DFA.
const DFA_PATTERN_BYTES: usize = 16 << 10;

/// An automaton of one group's literals, used through its concrete type: the
/// `AhoCorasick` wrapper dispatches every byte's transition through a trait
/// object (a call per byte); a direct loop over the concrete automaton
/// inlines it.
#[derive(Debug)]
enum Scanner {
    Dfa(dfa::DFA),
    Nfa(contiguous::NFA),
}

/// Calls `on` with every pattern that occurs in `value` lower-cased (each
/// match end, overlapping: the same set of patterns as an overlapping
/// search reports).
#[inline(always)]
fn each_match<A: Automaton>(aut: &A, value: &[u8], mut on: impl FnMut(PatternID)) {
    let Ok(mut sid) = aut.start_state(Anchored::No) else {
        return;
    };
    for &b in value {
        sid = aut.next_state(Anchored::No, sid, b.to_ascii_lowercase());
        if aut.is_special(sid) {
            if aut.is_dead(sid) {
                return;
            }
            if aut.is_match(sid) {
                for i in 0..aut.match_len(sid) {
                    on(aut.match_pattern(sid, i));
                }
            }
        }
    }
}

/// The automaton of one variable group.
#[derive(Debug, Default)]
struct Group {
    automaton: Option<Scanner>,
    /// Pattern id -> rule slots that have it as a factor.
    slots_of: Vec<Vec<u32>>,
    /// When the automaton could not be built: every slot with a factor in
    /// this group, set by every scan (those links run their operator on
    /// every value of the group, as without a prefilter). Empty otherwise.
    unfiltered: Vec<u32>,
}

/// Builds the automaton of a group's (lower-case) patterns.
type Compile = fn(&[Vec<u8>]) -> Result<Scanner, String>;

/// The automaton of a group's patterns: a DFA scans about twice as fast as
/// the contiguous NFA but takes ~250 bytes per pattern byte: ~2 MB for the
/// header rules' literals, ~20 MB for a group with the `@pm` phrase lists
/// (~0.7 MB as an NFA).
fn compile(patterns: &[Vec<u8>]) -> Result<Scanner, String> {
    let bytes: usize = patterns.iter().map(Vec::len).sum();
    if bytes <= DFA_PATTERN_BYTES {
        dfa::Builder::new()
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(patterns)
            .map(Scanner::Dfa)
            .map_err(|e| e.to_string())
    } else {
        contiguous::Builder::new()
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(patterns)
            .map(Scanner::Nfa)
            .map_err(|e| e.to_string())
    }
}

impl Group {
    fn build<'a>(entries: impl Iterator<Item = (u32, &'a [Vec<u8>])>, compile: Compile) -> Self {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut index = std::collections::HashMap::new();
        let mut slots_of: Vec<Vec<u32>> = Vec::new();
        for (slot, factors) in entries {
            for f in factors {
                // Lower-case patterns, matched against lower-cased values: the
                // same as an ASCII case-insensitive automaton, with half the
                // transitions per state.
                let f = f.to_ascii_lowercase();
                let id = *index.entry(f.clone()).or_insert_with(|| {
                    patterns.push(f.clone());
                    slots_of.push(Vec::new());
                    patterns.len() - 1
                });
                if let Some(s) = slots_of.get_mut(id) {
                    s.push(slot);
                }
            }
        }
        if patterns.is_empty() {
            return Self::default();
        }
        match compile(&patterns) {
            Ok(scanner) => Self {
                automaton: Some(scanner),
                slots_of,
                unfiltered: Vec::new(),
            },
            Err(error) => {
                // No automaton must not mean "no factor occurs": that would
                // skip every link with factors here as unable to match.
                let mut unfiltered: Vec<u32> = slots_of.into_iter().flatten().collect();
                unfiltered.sort_unstable();
                unfiltered.dedup();
                tracing::warn!(
                    %error,
                    patterns = patterns.len(),
                    rules = unfiltered.len(),
                    "prefilter automaton could not be built: these rules run without prefilter"
                );
                Self {
                    automaton: None,
                    slots_of: Vec::new(),
                    unfiltered,
                }
            }
        }
    }

    fn scan_into(&self, value: &[u8], bits: &mut [u64]) {
        let slots_of = &self.slots_of;
        let on = |pid: PatternID| {
            for &slot in slots_of.get(pid.as_usize()).map_or(&[][..], Vec::as_slice) {
                if let Some(w) = bits.get_mut(slot as usize / 64) {
                    *w |= 1 << (slot % 64);
                }
            }
        };
        match &self.automaton {
            Some(Scanner::Dfa(a)) => each_match(a, value, on),
            Some(Scanner::Nfa(a)) => each_match(a, value, on),
            None => {
                for &slot in &self.unfiltered {
                    if let Some(w) = bits.get_mut(slot as usize / 64) {
                        *w |= 1 << (slot % 64);
                    }
                }
            }
        }
    }
}

/// The compiled prefilter of a ruleset.
#[derive(Debug, Default)]
pub struct Prefilter {
    /// Per variable group ([`GROUPS`]).
    groups: Vec<Group>,
    words: usize,
    /// Slots (bitset) whose links read only request facts ([`is_fact`]): a
    /// scan of every fact value under the link's chain, once per phase, can
    /// rule the whole link out without collecting its targets.
    fact_slots: Vec<u64>,
    /// The targets (selectors widened to every item) of all fact-only links,
    /// each with the chain nodes under which links read it: the phase-wide
    /// scan covers these.
    coverage: Vec<(Target, Vec<ChainId>)>,
    /// Chain nodes in the [`ChainTable`] (rows of a phase-wide scan).
    nodes: usize,
    /// What values added to the phase-wide scan, kept across transactions
    /// (it describes `coverage`, so it is emptied with it).
    pub(crate) memo: crate::transaction::scan_memo::ScanMemo,
}

impl Prefilter {
    /// Builds from `(slot, factors)` pairs, for values of any variable.
    pub fn build(entries: &[(u32, Vec<Vec<u8>>)]) -> Self {
        let all = (1u8 << GROUPS) - 1;
        let entries: Vec<_> = entries.iter().map(|(s, f)| (*s, f.clone(), all)).collect();
        Self::build_grouped(&entries)
    }

    /// Builds from `(slot, factors, groups)`: `groups` is the bitset of the
    /// variable groups the slot's link reads.
    pub(crate) fn build_grouped(entries: &[(u32, Vec<Vec<u8>>, u8)]) -> Self {
        Self::build_with(entries, compile)
    }

    /// [`Self::build_grouped`] with the automaton builder given (tests make
    /// it fail).
    fn build_with(entries: &[(u32, Vec<Vec<u8>>, u8)], compile: Compile) -> Self {
        let max_slot = entries.iter().map(|(s, _, _)| *s + 1).max().unwrap_or(0);
        let groups = (0..GROUPS)
            .map(|g| {
                Group::build(
                    entries
                        .iter()
                        .filter(|(_, _, m)| m & (1 << g) != 0)
                        .map(|(s, f, _)| (*s, f.as_slice())),
                    compile,
                )
            })
            .collect();
        let words = (max_slot as usize).div_ceil(64);
        Self {
            groups,
            words,
            fact_slots: vec![0; words],
            coverage: Vec::new(),
            nodes: 0,
            memo: Default::default(),
        }
    }

    /// Words of a scan bitset.
    pub(crate) fn words(&self) -> usize {
        self.words
    }

    /// ORs the slots whose rules may match `value`, a value of a variable
    /// of `group`, into `bits`.
    pub(crate) fn scan_into(&self, group: usize, value: &[u8], bits: &mut [u64]) {
        if let Some(g) = self.groups.get(group) {
            g.scan_into(value, bits);
        }
    }

    /// Whether `slot`'s link reads only request facts (see `fact_slots`).
    pub(crate) fn is_fact_slot(&self, slot: u32) -> bool {
        Self::allows(&self.fact_slots, slot)
    }

    /// The widened targets of the fact-only links, each with the chain
    /// nodes it is read under.
    pub(crate) fn coverage(&self) -> &[(Target, Vec<ChainId>)] {
        &self.coverage
    }

    /// Chain nodes (rows of a phase-wide scan).
    pub(crate) fn nodes(&self) -> usize {
        self.nodes
    }

    /// The slots whose rules may match `value` (a value of a variable of
    /// `group`), as a bitset.
    pub(crate) fn scan_group(&self, group: usize, value: &[u8]) -> Box<[u64]> {
        let mut bits = vec![0u64; self.words].into_boxed_slice();
        self.scan_into(group, value, &mut bits);
        bits
    }

    /// The slots whose rules may match `value` as a value of any variable,
    /// as a bitset.
    pub fn scan(&self, value: &[u8]) -> Box<[u64]> {
        let mut bits = vec![0u64; self.words].into_boxed_slice();
        for g in &self.groups {
            g.scan_into(value, &mut bits);
        }
        bits
    }

    /// Whether `slot` is set in `bits`.
    pub fn allows(bits: &[u64], slot: u32) -> bool {
        bits.get(slot as usize / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }
}

/// A factor set worth scanning for: a single letter or digit occurs in almost
/// every value, so a rule with one runs its regex directly instead.
fn selective(factors: &[Vec<u8>]) -> bool {
    factors.iter().all(|f| {
        !(f.len() == 1
            && f.first()
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.'))
    })
}

/// Whether a variable's values come only from what the transaction was fed
/// (request line, headers, body, response), never from what rules write:
/// such values do not change while a phase runs.
pub(crate) fn is_fact(var: Var) -> bool {
    matches!(
        var,
        Var::Args
            | Var::ArgsGet
            | Var::ArgsPost
            | Var::ArgsNames
            | Var::ArgsGetNames
            | Var::ArgsPostNames
            | Var::RequestHeaders
            | Var::RequestHeadersNames
            | Var::RequestCookies
            | Var::RequestCookiesNames
            | Var::RequestUri
            | Var::RequestUriRaw
            | Var::RequestFilename
            | Var::RequestBasename
            | Var::RequestLine
            | Var::RequestMethod
            | Var::RequestProtocol
            | Var::QueryString
            | Var::RequestBody
            | Var::Files
            | Var::FilesNames
            | Var::FilesSizes
            | Var::MultipartPartHeaders
            | Var::MultipartFilename
            | Var::MultipartName
            | Var::Xml
            | Var::RemoteAddr
            | Var::ServerName
            | Var::UniqueId
            | Var::ResponseBody
            | Var::ResponseHeaders
            | Var::ResponseHeadersNames
            | Var::ResponseStatus
            | Var::ResponseProtocol
            | Var::ResponseContentType
            | Var::ResponseContentLength
    )
}

/// The literal factors of a link's operator, if it can be prefiltered: every
/// value the operator matches contains one of them (ASCII case-insensitively).
fn link_factors(r: &Rule) -> Option<Vec<Vec<u8>>> {
    if r.negated {
        return None;
    }
    let f = match &r.operator {
        Operator::Rx(c) => match c.as_ref() {
            crate::operators::rx::Compiled::Linear(re, _) => required_factors(re.as_str())?,
            crate::operators::rx::Compiled::Fancy(_) | crate::operators::rx::Compiled::Whole => {
                return None;
            }
        },
        // `@pm` matches exactly when one of its phrases occurs.
        Operator::Pm(pm) => pm.phrases().to_vec(),
        _ => return None,
    };
    (!f.is_empty() && f.iter().all(|x| !x.is_empty()) && selective(&f)).then_some(f)
}

/// A target with its selector widened to every item (XML keeps its kind; a
/// literal key stays: the scan then covers only the items the link can read,
/// not, say, every header's value under the chain of a rule that reads one
/// header).
fn widened(t: &Target) -> Target {
    Target {
        // The GET and POST parts are in the whole.
        var: match t.var {
            Var::ArgsGet | Var::ArgsPost => Var::Args,
            Var::ArgsGetNames | Var::ArgsPostNames => Var::ArgsNames,
            v => v,
        },
        selector: match &t.selector {
            Selector::XmlRoot => Selector::XmlRoot,
            Selector::XmlAttributes => Selector::XmlAttributes,
            Selector::Key(k) => Selector::Key(k.clone()),
            Selector::All | Selector::Regex(_) => Selector::All,
        },
        count: false,
    }
}

fn same_kind(a: &Target, b: &Target) -> bool {
    a.var == b.var
        && match (&a.selector, &b.selector) {
            (Selector::Key(x), Selector::Key(y)) => x == y,
            (x, y) => std::mem::discriminant(x) == std::mem::discriminant(y),
        }
}

/// Assigns prefilter slots to the eligible links of `rules` and builds the prefilter.
pub(crate) fn assign(rules: &mut [Rule], chains: &ChainTable) -> Prefilter {
    let mut entries = Vec::new();
    let mut next = 0u32;
    for rule in rules.iter_mut() {
        let mut link = Some(rule);
        while let Some(r) = link {
            if let Some(f) = link_factors(r) {
                r.prefilter_slot = Some(next);
                // The groups the link reads (a link without targets sees an
                // empty TX value).
                let groups = if r.targets.is_empty() {
                    1 << group_of(Var::Tx)
                } else {
                    r.targets.iter().fold(0u8, |m, t| m | 1 << group_of(t.var))
                };
                entries.push((next, f, groups));
                next += 1;
            }
            link = r.chained.as_deref_mut();
        }
    }
    let mut p = Prefilter::build_grouped(&entries);
    p.cover(rules, chains, |_| true);
    p
}

impl Prefilter {
    /// (Re)computes the fact slots and the phase-wide scan's coverage from
    /// the rules `visited` says can run: rules a folded jump always skips
    /// ([`crate::fold`]) would only widen the scan. A slot left out is not a
    /// fact slot: its link, if it runs after all, is prefiltered per value.
    pub(crate) fn cover(
        &mut self,
        rules: &[Rule],
        chains: &ChainTable,
        visited: impl Fn(usize) -> bool,
    ) {
        let mut facts: Vec<(u32, ChainId, Vec<Target>)> = Vec::new();
        for (idx, rule) in rules.iter().enumerate() {
            if !visited(idx) {
                continue;
            }
            let mut link = Some(rule);
            while let Some(r) = link {
                if let Some(slot) = r.prefilter_slot
                    && !r.targets.is_empty()
                    && r.targets.iter().all(|t| !t.count && is_fact(t.var))
                {
                    let widened: Vec<Target> = r.targets.iter().map(widened).collect();
                    // multiMatch inspects every intermediate value too.
                    if r.multi_match {
                        facts.push((slot, 0, widened.clone()));
                        for node in chains.path(r.chain_id) {
                            facts.push((slot, node, widened.clone()));
                        }
                    } else {
                        facts.push((slot, r.chain_id, widened));
                    }
                }
                link = r.chained.as_deref();
            }
        }
        self.fact_slots = vec![0; self.words];
        self.coverage.clear();
        self.memo.clear();
        self.add_facts(facts);
        self.nodes = chains.len();
    }

    fn add_facts(&mut self, facts: Vec<(u32, ChainId, Vec<Target>)>) {
        let p = self;
        for (slot, node, targets) in facts {
            if let Some(w) = p.fact_slots.get_mut(slot as usize / 64) {
                *w |= 1 << (slot % 64);
            }
            for t in targets {
                let at = match p.coverage.iter().position(|(c, _)| same_kind(c, &t)) {
                    Some(at) => at,
                    None => {
                        p.coverage.push((t, Vec::new()));
                        p.coverage.len() - 1
                    }
                };
                if let Some((_, nodes)) = p.coverage.get_mut(at)
                    && !nodes.contains(&node)
                {
                    nodes.push(node);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn recomputing_the_coverage_empties_the_scan_memo() {
        use crate::transaction::scan_memo::{Kind, ScanMemo};
        let mut p = Prefilter::build(&[(0, vec![b"abc".to_vec()])]);
        let mut key = Vec::new();
        assert!(ScanMemo::key(&mut key, Kind::Coverage, 0, 0, b"abc"));
        p.memo.remember(&key, vec![(0, 1)].into());
        assert!(p.memo.apply(&key, &mut [0u64]));
        p.cover(&[], &ChainTable::new(), |_| true);
        assert!(!p.memo.apply(&key, &mut [0u64]));
    }

    fn f(p: &str) -> Option<Vec<String>> {
        required_factors(p).map(|v| {
            v.into_iter()
                .map(|s| String::from_utf8(s).unwrap())
                .collect()
        })
    }

    #[test]
    fn finds_required_factors() {
        assert_eq!(f("(?i)union\\s+select"), Some(vec!["select".into()]));
        assert_eq!(
            f("(?:foo|bar)baz"),
            Some(vec!["barbaz".into(), "foobaz".into()])
        );
        assert_eq!(f("ab+cd"), Some(vec!["cd".into()]));
        assert_eq!(f("(?sm)^.*$"), None);
        assert_eq!(f("\\w+"), None);
        assert_eq!(f("x?y"), Some(vec!["xy".into(), "y".into()]));
        assert_eq!(f("(?:a|.*)b"), Some(vec!["b".into()]));
    }

    #[test]
    fn a_group_whose_automaton_fails_to_build_lets_its_rules_run() {
        // Slot 0 reads ARGS (group 0), slot 1 headers (group 1), slot 2 both.
        let entries = [
            (0, vec![b"select".to_vec()], 1 << 0),
            (1, vec![b"script".to_vec()], 1 << 1),
            (2, vec![b"union".to_vec()], 1 << 0 | 1 << 1),
        ];
        fn fail_args(patterns: &[Vec<u8>]) -> Result<Scanner, String> {
            if patterns.contains(&b"select".to_vec()) {
                return Err("forced".into());
            }
            compile(patterns)
        }
        let p = Prefilter::build_with(&entries, fail_args);
        // An ARGS value without any factor: its rules still run.
        let args = p.scan_group(0, b"nothing here");
        assert!(Prefilter::allows(&args, 0));
        assert!(Prefilter::allows(&args, 2));
        assert!(!Prefilter::allows(&args, 1));
        // The headers group still filters.
        let headers = p.scan_group(1, b"nothing here");
        assert!(!Prefilter::allows(&headers, 1));
        assert!(!Prefilter::allows(&headers, 2));
        assert!(Prefilter::allows(&p.scan_group(1, b"<script>"), 1));
    }

    #[test]
    fn scan_sets_slots() {
        let p = Prefilter::build(&[
            (0, vec![b"select".to_vec()]),
            (1, vec![b"script".to_vec(), b"on".to_vec()]),
        ]);
        let bits = p.scan(b"SELECT 1");
        assert!(Prefilter::allows(&bits, 0));
        assert!(!Prefilter::allows(&bits, 1));
        assert!(Prefilter::allows(&p.scan(b"onload"), 1));
    }
}
