//! Requests that make the upstream framework run another method than the
//! request line's, or read a declared header under a spelling the checks did
//! not look at. Every check decided on the request line and on the fields as
//! spelled, so either would run something nobody authorised.
//!
//! - Method overrides: `X-HTTP-Method-Override` and its kin (Express's
//!   method-override, Rails, Laravel, Symfony), in any spelling; `_method` in
//!   the query (Symfony, Laravel, Express's `methodOverride('_method')`) and in
//!   form, multipart or JSON bodies (Symfony, Laravel, Rack). Refused unless the
//!   operation declares them: an API built on one validates it like any
//!   parameter. Refused rather than dropped: dropping one would run the request
//!   line's method instead of the one the client asked for.
//! - CGI-style upstreams (PHP, WSGI, Rack) read `X_Tenant_Id` as
//!   `HTTP_X_TENANT_ID`, the variable `X-Tenant-Id` gives: a spelling of a
//!   declared header parameter other than its own is refused (the gateway and
//!   the authentication stage drop such spellings of the fields they set).

use std::borrow::Cow;

use http::HeaderMap;
use rampart_core::Problem;
use rampart_core::names::is_spelling;
use serde_json::Value;

use crate::compile::{FORM, MULTIPART, MediaSpec, Operation};
use crate::problems::{Failure, In, OVERRIDE_NOT_ALLOWED, push_segment, validation_problem};
use crate::shape::Shapes;

/// Header fields that name another method. Lower-case.
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Headers that make some frameworks (Symfony, IIS) route by another path than
/// the request line's. Removed rather than refused: rewriting proxies (IIS ARR)
/// add `X-Original-URL` to every request they forward, and without it the
/// upstream routes by the path that was checked. Lower-case.
pub const URL_OVERRIDE_HEADERS: [&str; 2] = ["x-original-url", "x-rewrite-url"];

/// The query or body member frameworks take a method from.
pub const METHOD_MEMBER: &str = "_method";

/// Checks the header fields and query of a request for `op` (`None`: an
/// operation the route table names but the build lost; nothing is declared).
pub fn check_head(
    op: Option<&Operation>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(), Problem> {
    let params = op.map(|o| o.params.as_slice()).unwrap_or_default();
    for name in headers.keys() {
        let name = name.as_str();
        if METHOD_OVERRIDE_HEADERS
            .iter()
            .any(|o| is_spelling(o, name.as_bytes()))
            && !declares_header(op, name)
        {
            return Err(Problem::new(OVERRIDE_NOT_ALLOWED));
        }
        if name.contains('_')
            && let Some(p) = params
                .iter()
                .find(|p| p.location == In::Header && p.name != name && cgi_alike(&p.name, name))
        {
            let mut pointer = String::new();
            push_segment(&mut pointer, &p.name);
            return Err(validation_problem(&[Failure::new(
                In::Header,
                &pointer,
                "spelling",
            )]));
        }
    }
    if let Some(query) = query
        && pairs_override(query, |key| {
            params
                .iter()
                .any(|p| p.location == In::Query && p.owns_query_key(key))
        })
    {
        return Err(Problem::new(OVERRIDE_NOT_ALLOWED));
    }
    Ok(())
}

/// Removes the URL override fields (any spelling) the operation does not declare.
pub fn remove_url_overrides(op: Option<&Operation>, headers: &mut HeaderMap) {
    let found: Vec<http::HeaderName> = headers
        .keys()
        .filter(|name| {
            URL_OVERRIDE_HEADERS
                .iter()
                .any(|o| is_spelling(o, name.as_str().as_bytes()))
                && !declares_header(op, name.as_str())
        })
        .cloned()
        .collect();
    for name in found {
        headers.remove(name);
    }
}

/// Whether `op` declares header `name` (exactly so spelt) as a parameter: an
/// API built on an override header declares it, and is then trusted to
/// authorise by it.
fn declares_header(op: Option<&Operation>, name: &str) -> bool {
    op.is_some_and(|op| {
        op.params
            .iter()
            .any(|p| p.location == In::Header && p.name == name)
    })
}

/// Whether two header names (lower-case) are one variable to a CGI-style
/// upstream: equal once every `-` is `_`.
fn cgi_alike(a: &str, b: &str) -> bool {
    let cgi = |c: u8| if c == b'-' { b'_' } else { c };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| cgi(x) == cgi(y))
}

/// Whether a body of type `essence` (buffered as `body`, matched to `media`)
/// names a method in a way the JSON checks do not see: a form or multipart
/// field, or a member of a JSON body the media type does not handle as JSON
/// (Laravel parses any type containing `/json` or `+json`). Bodies handled as
/// JSON are checked after parsing, by [`json_overrides`].
pub fn body_overrides(media: &MediaSpec, essence: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let declared = |key: &str| declares_member(&media.shapes, None, key);
    match essence {
        FORM => pairs_override(&String::from_utf8_lossy(body), declared),
        MULTIPART => {
            let content_type = headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            match crate::multipart::names(content_type, body) {
                Ok(names) => names.iter().any(|n| is_method_name(n) && !declared(n)),
                // Unreadable here (a form the spec declares refuses it anyway):
                // whatever a lenient upstream parser finds, no override passes.
                Err(_) => mentions_method(body),
            }
        }
        _ if media.is_json(essence) => false,
        _ if essence.contains("/json") || essence.contains("+json") => {
            top_level_keys(body).iter().any(|k| is_json_method(k))
        }
        _ => false,
    }
}

/// Whether a parsed JSON body has a top-level `_method` the schema does not
/// declare.
pub fn json_overrides(shapes: &Shapes, value: &Value) -> bool {
    let Value::Object(map) = value else {
        return false;
    };
    map.keys()
        .any(|k| is_json_method(k) && !declares_member(shapes, Some(value), k))
}

/// Whether the root of `shapes` (the branch `value` selects, when it has one)
/// names `key` as a property.
fn declares_member(shapes: &Shapes, value: Option<&Value>, key: &str) -> bool {
    let root = match value {
        Some(v) => shapes.get(shapes.resolve(shapes.root, v)),
        None => shapes.get(shapes.root),
    };
    root.object
        .as_ref()
        .is_some_and(|o| o.props.contains_key(key))
}

/// Whether an `&`- or `;`-separated list of pairs (a query, a form body) has a
/// key naming a method that `declared` does not accept. Keys are decoded
/// leniently (as PHP does: a bad escape stays as it is).
fn pairs_override(text: &str, declared: impl Fn(&str) -> bool) -> bool {
    text.split(['&', ';']).any(|pair| {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        let key: Cow<'_, str> = if key.contains(['%', '+']) {
            let spaced = key.replace('+', " ");
            let bytes = rampart_core::percent::decode_lenient(&spaced);
            Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            Cow::Borrowed(key)
        };
        is_method_name(&key) && !declared(&key)
    })
}

/// Whether a query or form key is `_method` as qs, Rack or PHP read keys
/// (see [`crate::params::base_names`]: leading spaces and brackets skipped,
/// `.` read as `_`, subscripts ignored). Any case: no framework needs another.
fn is_method_name(key: &str) -> bool {
    crate::params::base_names(key)
        .iter()
        .any(|b| b.eq_ignore_ascii_case(METHOD_MEMBER))
}

/// `_method` as a JSON member name (frameworks do not rewrite those).
fn is_json_method(key: &str) -> bool {
    key.eq_ignore_ascii_case(METHOD_MEMBER)
}

/// Whether `method` (any case) follows `_`, `.` or a space anywhere in `body`.
fn mentions_method(body: &[u8]) -> bool {
    body.windows(7).any(|w| {
        matches!(w.first(), Some(b'_' | b'.' | b' '))
            && w.get(1..)
                .is_some_and(|m| m.eq_ignore_ascii_case(b"method"))
    })
}

/// The member names of a JSON object document (none when it is not one).
fn top_level_keys(body: &[u8]) -> Vec<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                keys.push(key);
            }
            Ok(keys)
        }
    }
    // serde_json bounds the nesting depth (128), so a deep body cannot
    // exhaust the stack.
    serde_json::Deserializer::from_slice(body)
        .deserialize_any(Keys)
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn method_keys_as_frameworks_read_them() {
        for key in [
            "_method",
            "_METHOD",
            ".method",
            "  _method",
            "_method[]",
            "_method[x]",
            // qs and Rack 2 skip leading brackets; Rack 2 trailing ones.
            "[_method]",
            "][_method",
            "_method]",
            " [_method][x]",
            // PHP: a `[` never closed is `_`.
            "[_method[",
        ] {
            assert!(is_method_name(key), "{key}");
        }
        for key in ["method", " method", "[method", "_methods", "x_method"] {
            assert!(!is_method_name(key), "{key}");
        }
        let none = |_: &str| false;
        assert!(pairs_override("a=1&_method=DELETE", none));
        assert!(pairs_override("a=1;%5Fmethod=DELETE", none));
        assert!(pairs_override("+_method=DELETE", none));
        assert!(pairs_override("%5B_method%5D=DELETE", none));
        assert!(pairs_override("_%6dethod=DELETE&x=%zz", none));
        assert!(!pairs_override("method=DELETE&a=_method", none));
        assert!(!pairs_override("_method=PUT", |k| k == "_method"));
    }

    #[test]
    fn cgi_alike_names() {
        assert!(cgi_alike("x-tenant-id", "x_tenant_id"));
        assert!(cgi_alike("x_tenant_id", "x-tenant_id"));
        assert!(!cgi_alike("x-tenant-id", "x-tenant-ix"));
    }

    #[test]
    fn json_keys_of_bodies_not_handled_as_json() {
        assert_eq!(
            top_level_keys(br#"{"a":{"_method":1},"_method":"x"}"#),
            ["a", "_method"]
        );
        assert!(top_level_keys(b"[1]").is_empty());
        assert!(top_level_keys(b"{").is_empty());
        assert!(mentions_method(b"name=\"_Method\""));
        assert!(!mentions_method(b"method"));
    }
}
