//! Invariants the fuzz targets check, here so unit tests run them too
//! (`fuzz/fuzz_targets/adapters_wire.rs` calls [`wire_and_time`],
//! `fuzz/fuzz_targets/adapters_admin.rs` calls [`admin_body`]).

use crate::keys_cli::time;
use crate::revocation::wire;

/// Revocation messages and set members (shared state read from Redis) and
/// operator time arguments: never a panic, and what parses re-encodes to itself.
pub fn wire_and_time(data: &[u8]) {
    if let Some(revocation) = wire::parse_message(data) {
        assert!(!revocation.id.is_empty());
        let again = wire::parse_message(wire::message(&revocation).as_bytes());
        assert_eq!(again.as_ref(), Some(&revocation));
    }
    // member NUL score
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (member, rest) = data.split_at(split);
    let score = rest.get(1..).unwrap_or_default();
    if let Some(revocation) = wire::parse_member(member, score) {
        let back = wire::parse_member(
            wire::member(&revocation).as_bytes(),
            wire::score(revocation.expires_at).as_bytes(),
        );
        assert_eq!(back.as_ref(), Some(&revocation));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(unix) = time::parse_rfc3339(text) {
            let formatted = time::format_rfc3339(unix);
            if formatted != "never" {
                assert_eq!(time::parse_rfc3339(&formatted), Ok(unix));
            }
        }
        if let Ok(lifetime) = time::parse_lifetime(text) {
            assert!((1..=time::MAX_LIFETIME_SECS).contains(&lifetime.as_secs()));
        }
    }
}

/// A `POST /revocations` body (from an authenticated admin client, still
/// untrusted bytes): never a panic; what is accepted is a bounded, printable id,
/// for an API key a key id (never a key's secret part).
pub fn admin_body(data: &[u8]) {
    if let Ok(revocation) = crate::admin::parse_revocation(data) {
        assert!(!revocation.id.is_empty());
        if revocation.kind == rampart_authn::revocation::CredentialKind::ApiKey {
            assert!(rampart_authn::apikey::format::is_key_id(&revocation.id));
        }
        assert!(revocation.id.len() <= rampart_authn::revocation::MAX_ID_LEN);
        assert!(!revocation.id.chars().any(char::is_control));
        let described = crate::admin::describe(&revocation);
        assert_eq!(described["id"].as_str(), Some(revocation.id.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            wire_and_time(&data);
            admin_body(&data);
        }

        #[test]
        fn plausible_admin_bodies_hold(
            kind in "(jti|api_key|session)",
            id in "[ -~\u{0}-\u{1f}é]{0,20}",
            expires in "(null|[0-9]{1,21}|-1|\"2027-01-31T00:00:00Z\"|\"x\"|1.5)",
        ) {
            let body = serde_json::json!({"kind": kind, "id": id}).to_string();
            admin_body(body.as_bytes());
            let with_expiry = format!(r#"{{"kind":"{kind}","id":"x","expires_at":{expires}}}"#);
            admin_body(with_expiry.as_bytes());
        }

        #[test]
        fn plausible_inputs_round_trip(
            text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})",
            member in "(jti|api_key|x):[ -~]{0,40}",
            score in "(-?[0-9]{1,25}(\\.[0-9]{1,5})?|[+-]?inf|-?[0-9]e[0-9]{1,3})",
            lifetime in "[0-9]{1,12}[smhdwx]",
        ) {
            wire_and_time(text.as_bytes());
            wire_and_time(format!("{member}\0{score}").as_bytes());
            wire_and_time(lifetime.as_bytes());
        }
    }

    #[test]
    fn invariants_hold_on_edge_cases() {
        let cases: [&[u8]; 14] = [
            b"",
            br#"{"kind":"jti","id":"x","expires_at":18446744073709551615}"#,
            br#"{"kind":"api_key","id":"abcdefgh","expires_at":0}"#,
            b"jti:x\0inf",
            b"jti:x\x001e300",
            b"jti:x\0-1e300",
            b"api_key:a:b\x001152921504606846977",
            b"jti:x\x00123.75",
            b"9999-12-31T23:59:59-23:59",
            b"1970-01-01T00:00:00+23:59",
            b"2016-12-31T23:59:60Z",
            b"36600d",
            b"0s",
            b"\xff\xfe",
        ];
        for case in cases {
            wire_and_time(case);
            admin_body(case);
        }
    }
}
