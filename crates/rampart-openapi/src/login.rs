//! The login identifier of an authentication request, for the lock-out, and
//! the mark of a login attempt ([`LoginOperation`]).
//!
//! The gateway does not understand a login endpoint's body; the configuration names
//! where the username is (`username_field`, a JSON pointer; for form and multipart
//! bodies its one segment names the field). The route stage reads it from the buffered body
//! before the pre-authentication stages run, and leaves a [`LoginIdentifier`] in
//! `RequestCx::extensions`. Nothing here validates the body: the validation stage
//! does that later and refuses what does not fit the schema.

use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde_json::Value;

use crate::compile::{FORM, MULTIPART, essence, is_json};
use crate::json::{JsonLimits, prescan};
use crate::params::parse_query;

/// Largest login body read for the identifier (before the rate limits run); a
/// larger one is refused with 413 on operations with a `username_field`.
pub const MAX_LOGIN_BODY: usize = 64 * 1024;

/// Marks a request for an authentication operation (`auth_endpoint: true`),
/// whether or not a [`LoginIdentifier`] could be read from it: the lock-out
/// treats every such request as a login attempt (an identifier it cannot read,
/// e.g. a repeated form field the upstream reads anyway, must not make the
/// attempt free).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginOperation;

/// The login identifier (username) an authentication request names, trimmed.
/// Its `Debug` form is redacted: users type passwords into username fields, so the
/// value must not reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginIdentifier(pub String);

impl std::fmt::Debug for LoginIdentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginIdentifier(<redacted>)")
    }
}

/// Reads the identifier at `pointer` from a JSON or form body; `None` when the body
/// has another type, does not parse within `limits`, or holds no non-empty string
/// there.
pub fn extract(
    headers: &HeaderMap,
    body: &[u8],
    pointer: &str,
    limits: &JsonLimits,
) -> Option<LoginIdentifier> {
    let content_type = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media = essence(content_type);
    let raw = if is_json(&media) {
        // Bounded before any tree is built, as for validation.
        prescan(body, limits).ok()?;
        let value: Value = serde_json::from_slice(body).ok()?;
        value.pointer(pointer)?.as_str()?.to_string()
    } else if media == FORM || media == MULTIPART {
        let field = unescape_segment(pointer.strip_prefix('/')?)?;
        let pairs = if media == FORM {
            parse_query(std::str::from_utf8(body).ok()?).ok()?
        } else {
            crate::multipart::parse(content_type, body).ok()?
        };
        let mut values = pairs.into_iter().filter(|(k, _)| *k == field);
        let (_, value) = values.next()?;
        // A repeated field is ambiguous (which one does the upstream read?).
        if values.next().is_some() {
            return None;
        }
        value
    } else {
        return None;
    };
    // No length bound beyond the body's: the lock-out hashes it, and a bound
    // on the raw text let invisible characters a backend ignores
    // (`alice` + 84 zero-width spaces) drop the name, and its lock, entirely.
    let trimmed = raw.trim();
    (!trimmed.is_empty()).then(|| LoginIdentifier(trimmed.to_string()))
}

/// A one-segment pointer's field name (`~1` is `/`, `~0` is `~`).
fn unescape_segment(segment: &str) -> Option<String> {
    if segment.contains('/') {
        return None;
    }
    Some(segment.replace("~1", "/").replace("~0", "~"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn headers(media: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, media.parse().unwrap());
        h
    }

    fn id(media: &str, body: &str, pointer: &str) -> Option<String> {
        extract(
            &headers(media),
            body.as_bytes(),
            pointer,
            &JsonLimits::default(),
        )
        .map(|i| i.0)
    }

    #[test]
    fn json_and_form_bodies_give_the_identifier() {
        let json = r#"{"username":" Alice ","password":"x"}"#;
        assert_eq!(
            id("application/json", json, "/username").as_deref(),
            Some("Alice")
        );
        let nested = r#"{"credentials":{"email":"a@example.com"}}"#;
        assert_eq!(
            id(
                "application/json; charset=utf-8",
                nested,
                "/credentials/email"
            )
            .as_deref(),
            Some("a@example.com")
        );
        assert_eq!(
            id(FORM, "username=bob%40x&password=y", "/username").as_deref(),
            Some("bob@x")
        );
        let multipart =
            "--b\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\ncarol\r\n--b--";
        assert_eq!(
            id("multipart/form-data; boundary=b", multipart, "/username").as_deref(),
            Some("carol")
        );
    }

    #[test]
    fn missing_ambiguous_or_odd_identifiers_are_none() {
        assert_eq!(
            id("application/json", r#"{"username":7}"#, "/username"),
            None
        );
        assert_eq!(
            id("application/json", r#"{"username":"  "}"#, "/username"),
            None
        );
        assert_eq!(id("application/json", r#"{"user":"a"}"#, "/username"), None);
        assert_eq!(
            id("application/json", r#"{"username":"a""#, "/username"),
            None
        );
        // Duplicate keys never parse (the pre-scan refuses them).
        assert_eq!(
            id(
                "application/json",
                r#"{"username":"a","username":"b"}"#,
                "/username"
            ),
            None
        );
        assert_eq!(id(FORM, "username=a&username=b", "/username"), None);
        assert_eq!(id("text/plain", "username=a", "/username"), None);
        let padded = format!(r#"{{"username":"alice{}"}}"#, "\\u200b".repeat(84));
        assert_eq!(
            id("application/json", &padded, "/username"),
            Some(format!("alice{}", "\u{200b}".repeat(84)))
        );
        assert!(!format!("{:?}", LoginIdentifier("secret".into())).contains("secret"));
    }
}
