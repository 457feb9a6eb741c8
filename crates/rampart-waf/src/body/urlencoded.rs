//! `application/x-www-form-urlencoded` (also the query string): pairs split on
//! the argument separator, names and values URL-decoded; a pair without `=` is
//! a name with an empty value.

use super::Pair;
use crate::transformations::url_decode_bytes;

/// Parses `a=1&b=2`. At most `limit` pairs are returned; the flag says whether
/// more were dropped.
pub fn parse(input: &[u8], separator: u8, limit: usize) -> (Vec<Pair>, bool) {
    let mut out = Vec::new();
    let mut truncated = false;
    for part in input.split(|&c| c == separator) {
        if part.is_empty() {
            continue;
        }
        if out.len() >= limit {
            truncated = true;
            break;
        }
        let (name, value) = match part.iter().position(|&c| c == b'=') {
            Some(p) => (
                part.get(..p).unwrap_or_default(),
                part.get(p + 1..).unwrap_or_default(),
            ),
            None => (part, &b""[..]),
        };
        out.push((url_decode_bytes(name), url_decode_bytes(value)));
    }
    (out, truncated)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs() {
        let (pairs, truncated) = parse(b"id=1%27+OR&flag&&x=a=b", b'&', 10);
        assert!(!truncated);
        assert_eq!(
            pairs,
            vec![
                (b"id".to_vec(), b"1' OR".to_vec()),
                (b"flag".to_vec(), b"".to_vec()),
                (b"x".to_vec(), b"a=b".to_vec()),
            ]
        );
    }

    #[test]
    fn limits_pairs() {
        let (pairs, truncated) = parse(b"a=1&b=2&c=3", b'&', 2);
        assert_eq!(pairs.len(), 2);
        assert!(truncated);
    }
}
