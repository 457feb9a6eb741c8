//! How revocations look in Redis: sorted-set members `jti:<id>` / `api_key:<id>`
//! scored by the credential's expiry (`+inf` for never), and pub/sub messages
//! carrying one JSON [`Revocation`]. Everything read back is bounded and checked:
//! what Redis holds is shared state, not trusted input.

use rampart_authn::revocation::{CredentialKind, MAX_ID_LEN, Revocation};

/// Largest pub/sub message accepted.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// The set member of a revocation.
pub fn member(revocation: &Revocation) -> String {
    let kind = match revocation.kind {
        CredentialKind::Jti => "jti",
        CredentialKind::ApiKey => "api_key",
    };
    format!("{kind}:{}", revocation.id)
}

/// The set score of an expiry.
pub fn score(expires_at: u64) -> String {
    if expires_at == u64::MAX {
        "+inf".into()
    } else {
        expires_at.to_string()
    }
}

/// Whether an entry expiring at `local` outlasts one scored `stored` in the set,
/// compared as Redis compares scores (doubles): an expiry past 2^53 that the set
/// holds rounded is not "later" at every re-sync.
pub fn outlasts(local: u64, stored: u64) -> bool {
    // `as` rounds to the nearest double, as Redis parsing the score did.
    local as f64 > stored as f64
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN
}

/// A set member and its score back into a revocation.
pub fn parse_member(member: &[u8], score: &[u8]) -> Option<Revocation> {
    if member.len() > MAX_ID_LEN + 8 || score.len() > 32 {
        return None;
    }
    let member = std::str::from_utf8(member).ok()?;
    let (kind, id) = member.split_once(':')?;
    let kind = match kind {
        "jti" => CredentialKind::Jti,
        "api_key" => CredentialKind::ApiKey,
        _ => return None,
    };
    if !valid_id(id) {
        return None;
    }
    let score: f64 = std::str::from_utf8(score).ok()?.parse().ok()?;
    if score.is_nan() {
        return None;
    }
    // `as` saturates: +inf is u64::MAX (never), negatives are 0 (long expired).
    let expires_at = score as u64;
    Some(Revocation {
        kind,
        id: id.to_string(),
        expires_at,
    })
}

/// The pub/sub message of a revocation.
pub fn message(revocation: &Revocation) -> String {
    serde_json::to_string(revocation).unwrap_or_default()
}

/// A pub/sub message back into a revocation.
pub fn parse_message(payload: &[u8]) -> Option<Revocation> {
    if payload.len() > MAX_MESSAGE_BYTES {
        return None;
    }
    let revocation: Revocation = serde_json::from_slice(payload).ok()?;
    valid_id(&revocation.id).then_some(revocation)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn rev(kind: CredentialKind, id: &str, expires_at: u64) -> Revocation {
        Revocation {
            kind,
            id: id.into(),
            expires_at,
        }
    }

    #[test]
    fn members_and_messages_round_trip() {
        for r in [
            rev(CredentialKind::Jti, "t-1:with:colons", 1_800_000_000),
            rev(CredentialKind::ApiKey, "abcdefgh", u64::MAX),
        ] {
            let back = parse_member(member(&r).as_bytes(), score(r.expires_at).as_bytes());
            assert_eq!(back.as_ref(), Some(&r));
            // Redis prints +inf as "inf".
            if r.expires_at == u64::MAX {
                assert_eq!(parse_member(member(&r).as_bytes(), b"inf").unwrap(), r);
            }
            assert_eq!(parse_message(message(&r).as_bytes()), Some(r));
        }
    }

    #[test]
    fn a_later_expiry_is_compared_as_redis_scores_are() {
        assert!(outlasts(u64::MAX, 1_800_086_400));
        assert!(outlasts(1_800_000_001, 1_800_000_000));
        assert!(!outlasts(1_800_000_000, 1_800_000_000));
        assert!(!outlasts(1_800_000_000, u64::MAX));
        // What the set holds of a huge expiry, read back, is not "earlier".
        let huge = (1u64 << 60) + 1;
        let back = parse_member(b"jti:x", score(huge).as_bytes()).unwrap();
        assert!(!outlasts(huge, back.expires_at));
        let back = parse_member(b"jti:x", b"inf").unwrap();
        assert!(!outlasts(u64::MAX, back.expires_at));
    }

    #[test]
    fn junk_is_ignored() {
        assert!(parse_member(b"jti:", b"1").is_none());
        assert!(parse_member(b"cookie:x", b"1").is_none());
        assert!(parse_member(b"jti-x", b"1").is_none());
        assert!(parse_member(b"jti:x", b"nan").is_none());
        assert!(parse_member(b"jti:x", b"soon").is_none());
        assert!(parse_member(&[0xff, b':', b'x'], b"1").is_none());
        let long = format!("jti:{}", "x".repeat(MAX_ID_LEN + 1));
        assert!(parse_member(long.as_bytes(), b"1").is_none());
        assert!(parse_message(b"{}").is_none());
        assert!(parse_message(br#"{"kind":"jti","id":"","expires_at":1}"#).is_none());
        assert!(parse_message(&vec![b' '; MAX_MESSAGE_BYTES + 1]).is_none());
        // A negative score is a long-expired entry, not a panic.
        assert_eq!(parse_member(b"jti:x", b"-5").unwrap().expires_at, 0);
    }
}
