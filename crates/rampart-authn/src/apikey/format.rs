//! The API key format: `rk_<prefix>_<secret>`.
//!
//! The prefix (8 characters of lowercase base32, 40 bits) is not secret: it is the
//! lookup handle shown in listings, logs and audit records. The secret is 32 random
//! bytes (256 bits) in base64url. Parsing is strict and bounded, so a malformed
//! value is refused before any store lookup.

use aws_lc_rs::rand;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::ApiKeyError;
use crate::secret::Secret;

/// Every key starts with this.
pub const KEY_LABEL: &str = "rk_";
/// Length of the lookup prefix.
pub const PREFIX_LEN: usize = 8;
/// Random bytes in the secret part.
pub const SECRET_BYTES: usize = 32;
/// Length of the base64url secret part.
pub const SECRET_LEN: usize = 43;
/// Length of a whole key.
pub const KEY_LEN: usize = KEY_LABEL.len() + PREFIX_LEN + 1 + SECRET_LEN;

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The parts of a presented key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    /// The lookup prefix.
    pub prefix: &'a str,
}

/// Checks the shape of a presented key and returns its prefix.
pub fn parse(presented: &str) -> Result<ParsedKey<'_>, ApiKeyError> {
    if presented.len() != KEY_LEN {
        return Err(ApiKeyError::Malformed);
    }
    let rest = presented
        .strip_prefix(KEY_LABEL)
        .ok_or(ApiKeyError::Malformed)?;
    let (prefix, secret) = rest
        .split_at_checked(PREFIX_LEN)
        .ok_or(ApiKeyError::Malformed)?;
    let secret = secret.strip_prefix('_').ok_or(ApiKeyError::Malformed)?;
    if !is_key_id(prefix)
        || !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiKeyError::Malformed);
    }
    Ok(ParsedKey { prefix })
}

/// Whether `text` is a key id (a prefix): [`PREFIX_LEN`] lowercase base32 characters.
pub fn is_key_id(text: &str) -> bool {
    text.len() == PREFIX_LEN && text.bytes().all(|b| BASE32.contains(&b))
}

/// The key id `text` names: `text` itself when it is one, or the prefix of a
/// whole key (the secret part is dropped); `None` for anything else, which
/// could never name a key.
pub fn key_id(text: &str) -> Option<&str> {
    if is_key_id(text) {
        return Some(text);
    }
    parse(text).ok().map(|parsed| parsed.prefix)
}

/// A freshly generated key: prefix and the whole key, which is shown once.
pub fn generate() -> Result<(String, Secret), ApiKeyError> {
    let mut random = [0u8; PREFIX_LEN + SECRET_BYTES];
    rand::fill(&mut random).map_err(|_| ApiKeyError::Random)?;
    let (prefix_bytes, secret_bytes) = random.split_at(PREFIX_LEN);
    let prefix: String = prefix_bytes
        .iter()
        .map(|b| char::from(BASE32.get(usize::from(b & 31)).copied().unwrap_or(b'a')))
        .collect();
    let key = format!(
        "{KEY_LABEL}{prefix}_{}",
        URL_SAFE_NO_PAD.encode(secret_bytes)
    );
    Ok((prefix, Secret::new(key.into_bytes())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_are_distinct() {
        let (prefix, key) = generate().unwrap();
        let text = std::str::from_utf8(key.expose()).unwrap();
        assert_eq!(text.len(), KEY_LEN);
        assert_eq!(parse(text).unwrap().prefix, prefix);
        let (_, other) = generate().unwrap();
        assert_ne!(key.expose(), other.expose());
    }

    #[test]
    fn key_ids_are_read_from_an_id_or_a_whole_key_only() {
        let (prefix, key) = generate().unwrap();
        let text = std::str::from_utf8(key.expose()).unwrap();
        assert_eq!(key_id(&prefix), Some(prefix.as_str()));
        assert_eq!(key_id(text), Some(prefix.as_str()));
        for bad in [
            "",
            "AbC123",
            "abcdefg",
            "abcdefghi",
            "ABCDEFGH",
            "abcdefg1",
            &format!("rk_{prefix}"),
            &text[..KEY_LEN - 1],
            &format!(" {prefix}"),
        ] {
            assert_eq!(key_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn malformed_keys_are_refused() {
        let (_, key) = generate().unwrap();
        let good = std::str::from_utf8(key.expose()).unwrap().to_string();
        let mut cases = vec![
            String::new(),
            good[..KEY_LEN - 1].to_string(),
            format!("{good}A"),
            good.replacen("rk_", "xx_", 1),
            format!("rk_ABCDEFGH_{}", &good[12..]),
            format!("{}!{}", &good[..11], &good[12..]),
            format!("{}%{}", &good[..20], &good[21..]),
        ];
        cases.push("é".repeat(KEY_LEN / 2));
        for case in cases {
            assert_eq!(parse(&case), Err(ApiKeyError::Malformed), "{case}");
        }
    }
}
