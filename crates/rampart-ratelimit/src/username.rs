//! The form a username is compared in by the lock-out: two spellings a login
//! backend treats as one account must count against one lock, or an attacker
//! gets `max_failures` guesses per spelling.
//!
//! Backends compare loosely: MySQL's `utf8mb4_0900_ai_ci` ignores case, width and
//! invisible characters, Django normalises usernames with NFKC. So a name is
//! normalised roughly as Unicode's `NFKC_Casefold` (UAX #15, UTS #46):
//! 1. default-ignorable code points are removed (zero-width space and joiners,
//!    soft hyphen, bidi controls, variation selectors, tags: [`is_default_ignorable`]);
//! 2. NFKD, then combining marks (accents) and control characters removed, and
//!    case folding: `char::to_lowercase` plus the full foldings lower case lacks
//!    that matter for names (`ß`/`ẞ` → `ss`, final `ς` → `σ`);
//! 3. NFKC (full-width `ａ`, ligatures `ﬁ`, `ſ`, the Kelvin sign, NBSP become
//!    their plain forms), surrounding white space trimmed.
//!
//! Accents go too (`josé` is `jose`), as MySQL's accent-insensitive (`_ai_`)
//! collations compare them: kept, every added mark was another spelling with
//! `max_failures` guesses of its own. Folding too much only makes two similar
//! names share a lock, which anyone could set on either of them anyway.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Unicode's `Default_Ignorable_Code_Point` property (DerivedCoreProperties.txt,
/// Unicode 15.1): characters that render as nothing, which a backend that ignores
/// them would see as the same username.
pub fn is_default_ignorable(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD                  // soft hyphen
        | 0x034F                // combining grapheme joiner
        | 0x061C                // Arabic letter mark
        | 0x115F..=0x1160       // Hangul fillers
        | 0x17B4..=0x17B5       // Khmer inherent vowels
        | 0x180B..=0x180F       // Mongolian variation selectors, vowel separator
        | 0x200B..=0x200F       // zero-width space, ZWNJ, ZWJ, LRM, RLM
        | 0x202A..=0x202E       // bidi embeddings and overrides
        | 0x2060..=0x206F       // word joiner, invisible operators, bidi isolates
        | 0x3164                // Hangul filler
        | 0xFE00..=0xFE0F       // variation selectors 1-16
        | 0xFEFF                // zero-width no-break space (BOM)
        | 0xFFA0                // half-width Hangul filler
        | 0xFFF0..=0xFFF8       // reserved
        | 0x1BCA0..=0x1BCA3     // shorthand format controls
        | 0x1D173..=0x1D17A     // musical formatting controls
        | 0xE0000..=0xE0FFF // tags, variation selectors 17-256
    )
}

/// Case folding of one character (after NFKD): lower case, plus the full
/// foldings `to_lowercase` does not do.
fn fold(c: char, out: &mut String) {
    match c {
        'ß' | 'ẞ' => out.push_str("ss"),
        'ς' => out.push('σ'),
        _ => out.extend(c.to_lowercase()),
    }
}

/// The comparison form of `username` (see the module documentation).
pub fn normalise(username: &str) -> String {
    let mut folded = String::with_capacity(username.len());
    for c in username
        .chars()
        .filter(|c| !is_default_ignorable(*c))
        .nfkd()
        .filter(|c| !is_combining_mark(*c) && !c.is_control())
    {
        fold(c, &mut folded);
    }
    // Filtered again: NFKC maps some characters onto ignorable ones (U+FFA0 → U+3164).
    let composed: String = folded
        .nfkc()
        .filter(|c| !is_default_ignorable(*c))
        .collect();
    composed.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_a_backend_treats_as_one_account_are_one() {
        let plain = normalise("alice");
        for variant in [
            "Alice",
            " ALICE\t",
            "ａｌｉｃｅ",            // full width
            "ＡＬＩＣＥ",            // full width, upper case
            "al\u{200B}ice",         // zero-width space
            "al\u{200D}i\u{200C}ce", // zero-width joiner, non-joiner
            "\u{FEFF}alice",         // BOM
            "a\u{00AD}lice",         // soft hyphen
            "alice\u{FE0F}",         // variation selector
            "\u{2060}alice\u{2064}", // word joiner, invisible plus
            "\u{202E}alice",         // right-to-left override
            "alice\u{E0041}",        // tag character
            "\u{3000}alice\u{00A0}", // ideographic space, NBSP
        ] {
            assert_eq!(normalise(variant), plain, "{variant:?}");
        }
        // Compatibility forms and full case folding.
        assert_eq!(normalise("ﬁona"), normalise("FIONA"));
        assert_eq!(normalise("STRASSE"), normalise("straße"));
        assert_eq!(normalise("straẞe"), normalise("strasse"));
        assert_eq!(normalise("ὀδυσσεύς"), normalise("ὈΔΥΣΣΕΎΣ"));
        assert_eq!(normalise("ὀδυσσεύσ"), normalise("ὀδυσσεύς"), "final sigma");
        // Composed, decomposed and stacked accents, control characters.
        assert_eq!(normalise("josé"), normalise("JOSE\u{0301}"));
        assert_eq!(normalise("jo\u{200B}se\u{0301}"), normalise("josé"));
        assert_eq!(normalise("josé"), normalise("jose"));
        for variant in [
            "alicé",
            "àlice",
            "alice\u{0301}\u{0301}\u{0308}",
            "ali\u{0001}ce",
            "ålice",
        ] {
            assert_eq!(normalise(variant), plain, "{variant:?}");
        }
    }

    #[test]
    fn different_names_stay_different() {
        let alice = normalise("alice");
        for other in ["alice2", "alic", "bob", "a lice", "aIice", "al1ce"] {
            assert_ne!(normalise(other), alice, "{other:?}");
        }
        assert_eq!(normalise("\u{200B}"), "");
    }
}
