//! Transformations (`t:`): one file per transformation, each a pure function
//! from bytes to bytes that borrows its input when it changes nothing.
//!
//! Rules name chains of transformations; [`ChainTable`] interns every chain
//! prefix as a node of a tree so that a transaction can cache the value of each
//! (variable item, node) pair once and share it between all rules whose chains
//! start the same way.

use std::borrow::Cow;
use std::collections::HashMap;

mod base64_decode;
mod base64_decode_ext;
mod base64_encode;
mod cmd_line;
mod compress_whitespace;
mod css_decode;
mod escape_seq_decode;
mod hex_decode;
mod hex_encode;
mod html_entity_decode;
mod js_decode;
mod length;
mod lowercase;
mod normalize_path;
mod normalize_path_win;
mod remove_comments;
mod remove_comments_char;
mod remove_nulls;
mod remove_whitespace;
mod replace_comments;
mod replace_nulls;
mod sha1;
mod sql_hex_decode;
mod trim;
mod uppercase;
pub(crate) mod url_decode;
mod url_decode_uni;
mod url_encode;
mod utf8_to_unicode;

/// A transformation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // Each variant is the ModSecurity transformation of the same name.
pub enum Transform {
    Base64Decode,
    Base64DecodeExt,
    Base64Encode,
    CmdLine,
    CompressWhitespace,
    CssDecode,
    EscapeSeqDecode,
    HexDecode,
    HexEncode,
    HtmlEntityDecode,
    JsDecode,
    Length,
    Lowercase,
    NormalizePath,
    NormalizePathWin,
    RemoveComments,
    RemoveCommentsChar,
    RemoveNulls,
    RemoveWhitespace,
    ReplaceComments,
    ReplaceNulls,
    Sha1,
    SqlHexDecode,
    Trim,
    TrimLeft,
    TrimRight,
    Uppercase,
    UrlDecode,
    UrlDecodeUni,
    UrlEncode,
    Utf8ToUnicode,
}

const NAMES: &[(&str, Transform)] = &[
    ("base64Decode", Transform::Base64Decode),
    ("base64DecodeExt", Transform::Base64DecodeExt),
    ("base64Encode", Transform::Base64Encode),
    ("cmdLine", Transform::CmdLine),
    ("compressWhitespace", Transform::CompressWhitespace),
    ("cssDecode", Transform::CssDecode),
    ("escapeSeqDecode", Transform::EscapeSeqDecode),
    ("hexDecode", Transform::HexDecode),
    ("hexEncode", Transform::HexEncode),
    ("htmlEntityDecode", Transform::HtmlEntityDecode),
    ("jsDecode", Transform::JsDecode),
    ("length", Transform::Length),
    ("lowercase", Transform::Lowercase),
    ("normalizePath", Transform::NormalizePath),
    ("normalisePath", Transform::NormalizePath),
    ("normalizePathWin", Transform::NormalizePathWin),
    ("normalisePathWin", Transform::NormalizePathWin),
    ("removeComments", Transform::RemoveComments),
    ("removeCommentsChar", Transform::RemoveCommentsChar),
    ("removeNulls", Transform::RemoveNulls),
    ("removeWhitespace", Transform::RemoveWhitespace),
    ("replaceComments", Transform::ReplaceComments),
    ("replaceNulls", Transform::ReplaceNulls),
    ("sha1", Transform::Sha1),
    ("sqlHexDecode", Transform::SqlHexDecode),
    ("trim", Transform::Trim),
    ("trimLeft", Transform::TrimLeft),
    ("trimRight", Transform::TrimRight),
    ("uppercase", Transform::Uppercase),
    ("urlDecode", Transform::UrlDecode),
    ("urlDecodeUni", Transform::UrlDecodeUni),
    ("urlEncode", Transform::UrlEncode),
    ("utf8toUnicode", Transform::Utf8ToUnicode),
];

impl Transform {
    /// Every transformation (each once), for fuzzing and tests.
    pub const ALL: &[Transform] = &[
        Transform::Base64Decode,
        Transform::Base64DecodeExt,
        Transform::Base64Encode,
        Transform::CmdLine,
        Transform::CompressWhitespace,
        Transform::CssDecode,
        Transform::EscapeSeqDecode,
        Transform::HexDecode,
        Transform::HexEncode,
        Transform::HtmlEntityDecode,
        Transform::JsDecode,
        Transform::Length,
        Transform::Lowercase,
        Transform::NormalizePath,
        Transform::NormalizePathWin,
        Transform::RemoveComments,
        Transform::RemoveCommentsChar,
        Transform::RemoveNulls,
        Transform::RemoveWhitespace,
        Transform::ReplaceComments,
        Transform::ReplaceNulls,
        Transform::Sha1,
        Transform::SqlHexDecode,
        Transform::Trim,
        Transform::TrimLeft,
        Transform::TrimRight,
        Transform::Uppercase,
        Transform::UrlDecode,
        Transform::UrlDecodeUni,
        Transform::UrlEncode,
        Transform::Utf8ToUnicode,
    ];

    /// Whether the output is never longer than the input.
    pub fn never_grows(self) -> bool {
        matches!(
            self,
            Transform::CompressWhitespace
                | Transform::CssDecode
                | Transform::EscapeSeqDecode
                | Transform::HexDecode
                | Transform::HtmlEntityDecode
                | Transform::JsDecode
                | Transform::Lowercase
                | Transform::RemoveComments
                | Transform::RemoveCommentsChar
                | Transform::RemoveNulls
                | Transform::RemoveWhitespace
                | Transform::ReplaceComments
                | Transform::ReplaceNulls
                | Transform::SqlHexDecode
                | Transform::Trim
                | Transform::TrimLeft
                | Transform::TrimRight
                | Transform::Uppercase
                | Transform::UrlDecode
                | Transform::UrlDecodeUni
                | Transform::CmdLine
        )
    }

    /// Whether byte `b` can make this transformation change a value: a value
    /// holding none of its trigger bytes comes out unchanged. `None`: not
    /// analysed (any value may change).
    const fn triggered_by(self, b: u8) -> Option<bool> {
        Some(match self {
            Transform::UrlDecode | Transform::UrlDecodeUni => b == b'%' || b == b'+',
            Transform::Lowercase => b.is_ascii_uppercase(),
            Transform::Uppercase => b.is_ascii_lowercase(),
            Transform::HtmlEntityDecode => b == b'&',
            Transform::Utf8ToUnicode => b >= 0x80,
            Transform::RemoveNulls | Transform::ReplaceNulls => b == 0,
            Transform::JsDecode | Transform::CssDecode | Transform::EscapeSeqDecode => b == b'\\',
            // `/` and `(` only drop a space that a trigger produced.
            Transform::CmdLine => {
                matches!(
                    b,
                    b'"' | b'\'' | b'\\' | b'^' | b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c
                ) || b == b','
                    || b == b';'
                    || b.is_ascii_uppercase()
            }
            Transform::CompressWhitespace
            | Transform::RemoveWhitespace
            | Transform::Trim
            | Transform::TrimLeft
            | Transform::TrimRight => is_space(b),
            // A comment starts with `/*`.
            Transform::ReplaceComments => b == b'*',
            // Also the values `.` and `..` ([`trigger_mask`] adds those).
            Transform::NormalizePath => b == b'/',
            Transform::NormalizePathWin => b == b'/' || b == b'\\',
            _ => return None,
        })
    }

    /// This transformation's bit in trigger masks ([`trigger_mask`]).
    const fn trigger_bit(self) -> u32 {
        match self.triggered_by(0) {
            Some(_) => 1 << (self as u32),
            None => ALWAYS_TRIGGERED,
        }
    }

    /// Looks a transformation up by name (case-insensitive, as ModSecurity does).
    /// `none` is not a transformation but a reset; callers handle it.
    pub fn from_name(name: &str) -> Option<Transform> {
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, t)| *t)
    }

    /// Applies the transformation.
    pub fn apply(self, input: &[u8]) -> Cow<'_, [u8]> {
        match self {
            Transform::Base64Decode => base64_decode::apply(input),
            Transform::Base64DecodeExt => base64_decode_ext::apply(input),
            Transform::Base64Encode => base64_encode::apply(input),
            Transform::CmdLine => cmd_line::apply(input),
            Transform::CompressWhitespace => compress_whitespace::apply(input),
            Transform::CssDecode => css_decode::apply(input),
            Transform::EscapeSeqDecode => escape_seq_decode::apply(input),
            Transform::HexDecode => hex_decode::apply(input),
            Transform::HexEncode => hex_encode::apply(input),
            Transform::HtmlEntityDecode => html_entity_decode::apply(input),
            Transform::JsDecode => js_decode::apply(input),
            Transform::Length => length::apply(input),
            Transform::Lowercase => lowercase::apply(input),
            Transform::NormalizePath => normalize_path::apply(input),
            Transform::NormalizePathWin => normalize_path_win::apply(input),
            Transform::RemoveComments => remove_comments::apply(input),
            Transform::RemoveCommentsChar => remove_comments_char::apply(input),
            Transform::RemoveNulls => remove_nulls::apply(input),
            Transform::RemoveWhitespace => remove_whitespace::apply(input),
            Transform::ReplaceComments => replace_comments::apply(input),
            Transform::ReplaceNulls => replace_nulls::apply(input),
            Transform::Sha1 => sha1::apply(input),
            Transform::SqlHexDecode => sql_hex_decode::apply(input),
            Transform::Trim => trim::apply(input, true, true),
            Transform::TrimLeft => trim::apply(input, true, false),
            Transform::TrimRight => trim::apply(input, false, true),
            Transform::Uppercase => uppercase::apply(input),
            Transform::UrlDecode => url_decode::apply(input),
            Transform::UrlDecodeUni => url_decode_uni::apply(input),
            Transform::UrlEncode => url_encode::apply(input),
            Transform::Utf8ToUnicode => utf8_to_unicode::apply(input),
        }
    }
}

/// Mask bit that every value has: transformations not analysed use it.
const ALWAYS_TRIGGERED: u32 = 1 << 31;

/// The trigger bits of the transformations that only change ASCII case: when
/// a value shares no other bit with a chain, the chain's result differs from
/// the value at most in ASCII case (the only other transformation a letter
/// triggers, `cmdLine`, then only lower-cases too).
pub const CASE_ONLY: u32 =
    (1 << (Transform::Lowercase as u32)) | (1 << (Transform::Uppercase as u32)) | CMD_CASE;

/// The trigger bit of a `cmdLine` that can only lower-case a value (it has
/// capitals but nothing else `cmdLine` rewrites: a bearer token, a
/// `User-Agent` without quotes or `;`). Every chain with `cmdLine` has it
/// too, so such a value still counts as changed by the chain, but only in
/// case ([`CASE_ONLY`]). The bit is that of `sha1`, which is not analysed
/// (its own bit is never used: it triggers [`ALWAYS_TRIGGERED`]).
const CMD_CASE: u32 = 1 << (Transform::Sha1 as u32);
const _: () = assert!(Transform::Sha1.trigger_bit() == ALWAYS_TRIGGERED);

/// Byte classes kept above the trigger bits in [`TRIGGERS`] (bits 32+), so
/// one pass over a value also tells what `cmdLine` and
/// `compressWhitespace` would do with it.
/// A byte `cmdLine` drops or turns into a space (a space itself aside).
const CMD_OTHER: u64 = 1 << 32;
/// A space.
const SPACE: u64 = 1 << 33;
/// Whitespace other than a space (`compressWhitespace` rewrites it).
const WS_OTHER: u64 = 1 << 34;

/// Per byte: the bits of the transformations it can trigger, and its classes.
static TRIGGERS: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut mask = 0u64;
        let mut i = 0;
        while i < Transform::ALL.len() {
            let t = Transform::ALL[i];
            if let Some(true) = t.triggered_by(b as u8) {
                mask |= 1 << (t as u32);
            }
            i += 1;
        }
        let c = b as u8;
        if matches!(
            c,
            b'"' | b'\'' | b'\\' | b'^' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | b',' | b';'
        ) {
            mask |= CMD_OTHER;
        }
        if c == b' ' {
            mask |= SPACE;
        } else if is_space(c) {
            mask |= WS_OTHER;
        }
        table[b] = mask;
        b += 1;
    }
    table
};

/// The transformations `value` can trigger, as a mask to test against
/// [`ChainTable::mask`]: when they share no bit, the chain leaves `value`
/// unchanged.
pub fn trigger_mask(value: &[u8]) -> u32 {
    // Four accumulators: the table loads of a long value (a bearer token)
    // overlap instead of waiting on one chain of ORs.
    let (mut a, mut b, mut c, mut d) = (0u64, 0u64, 0u64, 0u64);
    let mut quads = value.chunks_exact(4);
    for q in &mut quads {
        if let [w, x, y, z] = *q {
            a |= TRIGGERS[usize::from(w)];
            b |= TRIGGERS[usize::from(x)];
            c |= TRIGGERS[usize::from(y)];
            d |= TRIGGERS[usize::from(z)];
        }
    }
    for &w in quads.remainder() {
        a |= TRIGGERS[usize::from(w)];
    }
    let all = a | b | c | d;
    // The low half holds the transformation bits.
    let mut mask = ALWAYS_TRIGGERED | (all as u32);
    // The path normalisations change these two without any `/`.
    if value == b"." || value == b".." {
        mask |= Transform::NormalizePath.trigger_bit() | Transform::NormalizePathWin.trigger_bit();
    }
    // Spaces change a value under these two only in runs (or, for
    // `cmdLine`, before `/` or `(`).
    let (run, before) = if all & SPACE != 0 {
        space_runs(value)
    } else {
        (false, false)
    };
    let cmd_line = Transform::CmdLine.trigger_bit();
    if mask & cmd_line != 0 && all & CMD_OTHER == 0 && !run && !before {
        // Capitals are all it would change: lower-casing only.
        let capitals = mask & Transform::Lowercase.trigger_bit() != 0;
        mask &= !cmd_line;
        if capitals {
            mask |= CMD_CASE;
        }
    }
    let compress = Transform::CompressWhitespace.trigger_bit();
    if mask & compress != 0 && all & WS_OTHER == 0 && !run {
        mask &= !compress;
    }
    // Trimming changes only a value that starts or ends with a space.
    let trims = Transform::Trim.trigger_bit()
        | Transform::TrimLeft.trigger_bit()
        | Transform::TrimRight.trigger_bit();
    if mask & trims != 0 {
        let lead = value.first().is_some_and(|&c| is_space(c));
        let trail = value.last().is_some_and(|&c| is_space(c));
        if !lead {
            mask &= !Transform::TrimLeft.trigger_bit();
        }
        if !trail {
            mask &= !Transform::TrimRight.trigger_bit();
        }
        if !lead && !trail {
            mask &= !Transform::Trim.trigger_bit();
        }
    }
    mask
}

/// Whether `value` has a run of two spaces, and whether a space is followed
/// by `/` or `(` (`cmdLine` drops such a space).
fn space_runs(value: &[u8]) -> (bool, bool) {
    let (mut run, mut before) = (false, false);
    for at in memchr::memchr_iter(b' ', value) {
        match value.get(at + 1) {
            Some(b' ') => run = true,
            Some(b'/' | b'(') => before = true,
            _ => {}
        }
        if run && before {
            break;
        }
    }
    (run, before)
}

/// The value of an ASCII hex digit.
pub(crate) fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Two hex digits at `s[i..i+2]` as a byte.
pub(crate) fn hex_pair(s: &[u8], i: usize) -> Option<u8> {
    let hi = hex_val(*s.get(i)?)?;
    let lo = hex_val(*s.get(i + 1)?)?;
    Some((hi << 4) | lo)
}

/// ModSecurity's treatment of a decoded code point that does not fit a byte:
/// full-width ASCII (U+FF01..U+FF5E) becomes its ASCII twin, anything else
/// keeps its low byte.
pub(crate) fn narrow_code_point(cp: u32) -> u8 {
    if (0xFF01..=0xFF5E).contains(&cp) {
        ((cp - 0xFF01) + 0x21) as u8
    } else {
        (cp & 0xFF) as u8
    }
}

/// ModSecurity's notion of whitespace in transformations (includes NBSP 0xA0).
pub(crate) const fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0xa0)
}

/// URL-decodes `%XX` and `+` (for body and query parsing).
pub(crate) fn url_decode_bytes(input: &[u8]) -> Vec<u8> {
    url_decode::decode(input)
}

/// Id of a node in the [`ChainTable`]; node 0 is the empty chain.
pub type ChainId = u32;

/// Interned transformation chains, as a tree of prefixes.
#[derive(Debug, Clone, Default)]
pub struct ChainTable {
    nodes: Vec<(ChainId, Option<Transform>)>,
    /// Per node: the trigger bits of every transformation on its path.
    masks: Vec<u32>,
    lookup: HashMap<(ChainId, Transform), ChainId>,
}

impl ChainTable {
    /// A table holding only the empty chain.
    pub fn new() -> Self {
        Self {
            nodes: vec![(0, None)],
            masks: vec![0],
            lookup: HashMap::new(),
        }
    }

    /// Interns a chain and returns the id of its last node.
    pub fn intern(&mut self, chain: &[Transform]) -> ChainId {
        let mut node: ChainId = 0;
        for &t in chain {
            node = match self.lookup.get(&(node, t)) {
                Some(&n) => n,
                None => {
                    let id = ChainId::try_from(self.nodes.len()).unwrap_or(ChainId::MAX);
                    self.nodes.push((node, Some(t)));
                    let parent = self.mask(node);
                    let case = if t == Transform::CmdLine { CMD_CASE } else { 0 };
                    self.masks.push(parent | t.trigger_bit() | case);
                    self.lookup.insert((node, t), id);
                    id
                }
            };
        }
        node
    }

    /// Number of nodes (the empty chain included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the table holds only the empty chain.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    /// The trigger bits of the chain ending at `node` (see [`trigger_mask`]).
    pub fn mask(&self, node: ChainId) -> u32 {
        self.masks
            .get(node as usize)
            .copied()
            .unwrap_or(ALWAYS_TRIGGERED)
    }

    /// The parent node and the transformation that leads from it to `node`.
    pub fn step(&self, node: ChainId) -> Option<(ChainId, Transform)> {
        let (parent, t) = self.nodes.get(node as usize)?;
        t.map(|t| (*parent, t))
    }

    /// The nodes from the root (exclusive) to `node` (inclusive).
    pub fn path(&self, node: ChainId) -> Vec<ChainId> {
        let mut out = Vec::new();
        let mut n = node;
        while let Some((parent, _)) = self.step(n) {
            out.push(n);
            n = parent;
        }
        out.reverse();
        out
    }

    /// Applies a whole chain without caching (used by tests and fuzzing).
    pub fn apply_uncached(&self, node: ChainId, input: &[u8]) -> Vec<u8> {
        let mut value = input.to_vec();
        for n in self.path(node) {
            if let Some((_, t)) = self.step(n) {
                value = t.apply(&value).into_owned();
            }
        }
        value
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn chains_share_prefixes() {
        let mut table = ChainTable::new();
        let a = table.intern(&[Transform::UrlDecodeUni, Transform::Lowercase]);
        let b = table.intern(&[Transform::UrlDecodeUni, Transform::HtmlEntityDecode]);
        let c = table.intern(&[Transform::UrlDecodeUni]);
        assert_eq!(table.step(a).unwrap().0, c);
        assert_eq!(table.step(b).unwrap().0, c);
        assert_eq!(table.path(a), vec![c, a]);
        assert_eq!(table.apply_uncached(a, b"%41B"), b"ab");
    }

    #[test]
    fn every_transformation_has_a_name_and_decoders_never_grow() {
        for t in Transform::ALL {
            assert!(NAMES.iter().any(|(_, x)| x == t), "{t:?}");
            let input = b"%41%u0041&lt;\\x41/*c*/ A\0 0x41 /a/../b";
            if t.never_grows() {
                assert!(t.apply(input).len() <= input.len(), "{t:?}");
            }
        }
        assert_eq!(Transform::ALL.len(), 31);
    }

    /// A deterministic xorshift generator for the property tests below.
    fn xorshift(mut seed: u64) -> impl FnMut() -> usize {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as usize
        }
    }

    /// A chain of one to four analysed transformations and a value of up to
    /// nine bytes of `alphabet`.
    fn random_chain_and_value(
        next: &mut impl FnMut() -> usize,
        alphabet: &[u8],
    ) -> (Vec<Transform>, Vec<u8>) {
        let analysed: Vec<Transform> = Transform::ALL
            .iter()
            .copied()
            .filter(|t| t.trigger_bit() != ALWAYS_TRIGGERED)
            .collect();
        let chain = (0..1 + next() % 4)
            .map(|_| analysed[next() % analysed.len()])
            .collect();
        let value = (0..next() % 10)
            .map(|_| alphabet[next() % alphabet.len()])
            .collect();
        (chain, value)
    }

    /// A value without trigger bytes comes out of an analysed transformation
    /// unchanged.
    #[test]
    fn values_without_triggers_are_unchanged() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for &t in Transform::ALL {
            if t.trigger_bit() == ALWAYS_TRIGGERED {
                continue;
            }
            let allowed: Vec<u8> = (0..=255u8)
                .filter(|&b| t.triggered_by(b) == Some(false))
                .collect();
            for _ in 0..2000 {
                let len = next() % 24;
                let v: Vec<u8> = (0..len).map(|_| allowed[next() % allowed.len()]).collect();
                let mut table = ChainTable::new();
                let node = table.intern(&[t]);
                if trigger_mask(&v) & table.mask(node) == 0 {
                    assert_eq!(&*t.apply(&v), &v[..], "{t:?} changed {v:?}");
                }
            }
            // Short values over the bytes that matter, triggers included:
            // whenever the mask says unchanged, the value must be unchanged.
            let alphabet = b" /(aZ.,\t%&\\";
            for _ in 0..4000 {
                let len = next() % 8;
                let v: Vec<u8> = (0..len)
                    .map(|_| alphabet[next() % alphabet.len()])
                    .collect();
                let mut table = ChainTable::new();
                let node = table.intern(&[t]);
                if trigger_mask(&v) & table.mask(node) == 0 {
                    assert_eq!(&*t.apply(&v), &v[..], "{t:?} changed {v:?}");
                }
            }
            // Values made of the trigger-free bytes likely to matter.
            for v in [&b"."[..], b"..", b"...", b"", b"a.b", b"/", b"(x)", b".a"] {
                let mut table = ChainTable::new();
                let node = table.intern(&[t]);
                if trigger_mask(v) & table.mask(node) == 0 {
                    assert_eq!(&*t.apply(v), v, "{t:?} changed {v:?}");
                }
            }
        }
    }

    /// The same for whole chains of analysed transformations.
    #[test]
    fn chains_without_triggers_leave_values_unchanged() {
        let mut next = xorshift(0x853c_49e6_748f_ea9b);
        let mut unchanged = 0;
        for _ in 0..20_000 {
            let (chain, v) = random_chain_and_value(&mut next, b" /(aZ.,\t%&\\<;x0");
            let mut table = ChainTable::new();
            let node = table.intern(&chain);
            if trigger_mask(&v) & table.mask(node) == 0 {
                unchanged += 1;
                assert_eq!(table.apply_uncached(node, &v), v, "{chain:?} changed {v:?}");
            }
        }
        assert!(unchanged > 1000);
    }

    /// A chain whose only triggers are case changes (`lowercase`, and a
    /// `cmdLine` with nothing but capitals to change) changes at most the
    /// case of a value; trimming only changes values with outer spaces.
    #[test]
    fn case_only_chains_change_only_case() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let (mut case_only, mut unchanged) = (0, 0);
        for _ in 0..40_000 {
            let (chain, v) = random_chain_and_value(&mut next, b" /(aZ.,\t%&\\<;x0B");
            let mut table = ChainTable::new();
            let node = table.intern(&chain);
            let out = table.apply_uncached(node, &v);
            let mask = trigger_mask(&v) & table.mask(node);
            if mask == 0 {
                unchanged += 1;
                assert_eq!(out, v, "{chain:?} changed {v:?}");
            } else if mask & !CASE_ONLY == 0 {
                case_only += 1;
                assert!(out.eq_ignore_ascii_case(&v), "{chain:?} changed {v:?}");
            }
        }
        assert!(
            case_only > 500 && unchanged > 1000,
            "{case_only} {unchanged}"
        );
        let mut table = ChainTable::new();
        let cmd = table.intern(&[Transform::CmdLine]);
        assert_eq!(
            trigger_mask(b"Bearer YWFh") & table.mask(cmd) & !CASE_ONLY,
            0
        );
        assert_ne!(
            trigger_mask(b"Bearer  YWFh") & table.mask(cmd) & !CASE_ONLY,
            0
        );
        let trim = table.intern(&[Transform::Trim]);
        assert_eq!(trigger_mask(b"a b") & table.mask(trim), 0);
        assert_ne!(trigger_mask(b"a b ") & table.mask(trim), 0);
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(
            Transform::from_name("URLDECODEUNI"),
            Some(Transform::UrlDecodeUni)
        );
        assert_eq!(
            Transform::from_name("normalisePath"),
            Some(Transform::NormalizePath)
        );
        assert_eq!(Transform::from_name("md4"), None);
    }
}
