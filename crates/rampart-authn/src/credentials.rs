//! Finding the credentials a request carries, without judging them yet: a bearer
//! token from `Authorization`, an API key from the configured header (or query
//! parameter, only when configured), a verified client certificate. Several values
//! for one credential are a refusal (request smuggling of a second identity).

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::apikey::ApiKeyLocation;

/// The credentials found in a request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Presented {
    /// A bearer token.
    pub bearer: Option<String>,
    /// An API key.
    pub api_key: Option<String>,
}

/// Why credentials could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The same credential appeared more than once, or a bearer token and an API
    /// key were both sent.
    #[error("ambiguous credentials")]
    Ambiguous,
    /// An `Authorization: Bearer` value that is empty or not visible ASCII.
    #[error("malformed bearer credential")]
    MalformedBearer,
}

fn single<'a>(
    mut values: impl Iterator<Item = &'a [u8]>,
) -> Result<Option<&'a [u8]>, CredentialError> {
    let first = values.next();
    if values.next().is_some() {
        return Err(CredentialError::Ambiguous);
    }
    Ok(first)
}

fn bearer(headers: &HeaderMap) -> Result<Option<String>, CredentialError> {
    let Some(value) = single(headers.get_all(AUTHORIZATION).iter().map(|v| v.as_bytes()))? else {
        return Ok(None);
    };
    // The scheme ends at the first space or tab: upstreams split on either,
    // so `Bearer<TAB>token` is a bearer token to them and must be one to us
    // (left unverified, a forged token would reach them beside another
    // credential). Other schemes (Basic, ...) are not ours: left for the
    // upstream.
    let scheme_end = value
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(value.len());
    let (scheme, token) = value.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let token = token.trim_ascii();
    if token.is_empty() || !token.iter().all(u8::is_ascii_graphic) {
        return Err(CredentialError::MalformedBearer);
    }
    Ok(std::str::from_utf8(token).ok().map(str::to_owned))
}

/// What separates query parameters: `&`, and `;` too, which some upstreams
/// (older CGI, Java servlet containers, frameworks following the HTML 4
/// recommendation) split on: a key after a `;` is one they read, so it is one
/// Rampart reads (a second copy makes the request ambiguous) and removes.
const QUERY_SEPARATORS: [char; 2] = ['&', ';'];

/// The value of query parameter `name` in `query`, refusing repeats. A name
/// written with percent escapes (`api%5Fkey`) is the same parameter: upstreams
/// decode names, and one left unverified here would be the key they read.
fn query_value<'a>(query: &'a str, name: &str) -> Result<Option<&'a str>, CredentialError> {
    let values = query
        .split(QUERY_SEPARATORS)
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .filter(|(key, _)| is_param(key, name))
        .map(|(_, value)| value.as_bytes());
    Ok(single(values)?.and_then(|v| std::str::from_utf8(v).ok()))
}

/// Whether query key `key` (as written) names parameter `name`, percent
/// escapes decoded and letter case ignored: ASP.NET binds query keys
/// case-insensitively, so `API_KEY` left unverified would be the key it reads.
fn is_param(key: &str, name: &str) -> bool {
    key.eq_ignore_ascii_case(name)
        || (key.contains('%')
            && rampart_core::percent::decode_lenient(key).eq_ignore_ascii_case(name.as_bytes()))
}

/// The values of header `name` and of its underscore spellings (`X_Api_Key`),
/// which CGI-style upstreams read as the same variable.
fn header_values<'a>(
    headers: &'a HeaderMap,
    name: &'a http::HeaderName,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |(field, _)| {
            *field == name
                || rampart_core::names::is_underscore_spelling(
                    name.as_str(),
                    field.as_str().as_bytes(),
                )
        })
        .map(|(_, value)| value.as_bytes())
}

/// Reads the credentials of a request.
pub fn presented(
    headers: &HeaderMap,
    query: Option<&str>,
    api_key: Option<&ApiKeyLocation>,
) -> Result<Presented, CredentialError> {
    let bearer = bearer(headers)?;
    let mut key = None;
    if let Some(location) = api_key {
        let from_header = single(header_values(headers, &location.header))?;
        let from_query = match (&location.query_param, query) {
            (Some(name), Some(query)) => query_value(query, name)?.map(str::as_bytes),
            _ => None,
        };
        key = match (from_header, from_query) {
            (Some(_), Some(_)) => return Err(CredentialError::Ambiguous),
            (Some(v), None) | (None, Some(v)) => {
                // Malformed values still count as "a key was sent"; verification refuses them.
                Some(String::from_utf8_lossy(v).into_owned())
            }
            (None, None) => None,
        };
    }
    if bearer.is_some() && key.is_some() {
        return Err(CredentialError::Ambiguous);
    }
    Ok(Presented {
        bearer,
        api_key: key,
    })
}

/// `query` without parameter `name` (so a key in the URL is not forwarded), or
/// `None` when nothing remains. Parameters end at `&` or `;`; the others keep
/// the separator written before them (the first kept has none).
pub fn remove_query_param(query: &str, name: &str) -> Option<String> {
    let mut kept = String::with_capacity(query.len());
    let mut separator = None;
    let mut rest = query;
    loop {
        let end = rest.find(QUERY_SEPARATORS).unwrap_or(rest.len());
        let (pair, tail) = rest.split_at(end);
        let named = pair
            .split('=')
            .next()
            .is_some_and(|key| is_param(key, name));
        if !named {
            if let (Some(separator), false) = (separator, kept.is_empty()) {
                kept.push(separator);
            }
            kept.push_str(pair);
        }
        let mut chars = tail.chars();
        separator = chars.next();
        if separator.is_none() {
            break;
        }
        rest = chars.as_str();
    }
    (!kept.is_empty()).then_some(kept)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn location(query: Option<&str>) -> ApiKeyLocation {
        ApiKeyLocation {
            header: http::HeaderName::from_static("x-api-key"),
            query_param: query.map(str::to_owned),
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn reads_bearer_and_keys() {
        let p = presented(&headers(&[("authorization", "bearer abc.def")]), None, None).unwrap();
        assert_eq!(p.bearer.as_deref(), Some("abc.def"));
        let p = presented(&headers(&[("authorization", "Basic dXNlcg==")]), None, None).unwrap();
        assert_eq!(p, Presented::default());
        let loc = location(Some("api_key"));
        let p = presented(&headers(&[]), Some("a=1&api_key=rk_x"), Some(&loc)).unwrap();
        assert_eq!(p.api_key.as_deref(), Some("rk_x"));
        let p = presented(&headers(&[("x-api-key", "rk_y")]), None, Some(&loc)).unwrap();
        assert_eq!(p.api_key.as_deref(), Some("rk_y"));
    }

    #[test]
    fn other_spellings_of_the_key_header_and_parameter_are_the_key() {
        // CGI-style upstreams read X_Api_Key as X-Api-Key; most upstreams decode
        // api%5Fkey to api_key. Unverified, such a copy would be the key they use.
        let loc = location(Some("api_key"));
        let p = presented(&headers(&[("x_api_key", "rk_u")]), None, Some(&loc)).unwrap();
        assert_eq!(p.api_key.as_deref(), Some("rk_u"));
        let p = presented(&headers(&[]), Some("api%5Fkey=rk_q"), Some(&loc)).unwrap();
        assert_eq!(p.api_key.as_deref(), Some("rk_q"));
        // Beside the plain spelling: two keys, refused as ambiguous.
        for (pairs, query) in [
            (&[("x-api-key", "rk_a"), ("X_Api_Key", "rk_b")][..], None),
            (&[][..], Some("api_key=rk_a&api%5fkey=rk_b")),
            (&[("x-api-key", "rk_a")][..], Some("%61pi_key=rk_b")),
            (&[][..], Some("api_key=rk_a&API_KEY=rk_b")),
            (&[][..], Some("api_key=rk_a&Api%5FKey=rk_b")),
        ] {
            assert_eq!(
                presented(&headers(pairs), query, Some(&loc)),
                Err(CredentialError::Ambiguous),
                "{pairs:?} {query:?}"
            );
        }
        // A key sent in the URL is removed whatever its spelling.
        assert_eq!(
            remove_query_param("a=1&api%5Fkey=x&b=2", "api_key").as_deref(),
            Some("a=1&b=2")
        );
        assert_eq!(
            remove_query_param("a=1&API_Key=x&b=2", "api_key").as_deref(),
            Some("a=1&b=2")
        );
        let p = presented(&headers(&[]), Some("Api_Key=rk_c"), Some(&loc)).unwrap();
        assert_eq!(p.api_key.as_deref(), Some("rk_c"));
        // Not an escape: a different name.
        let p = presented(&headers(&[]), Some("api%5key=rk_q"), Some(&loc)).unwrap();
        assert_eq!(p.api_key, None);
    }

    #[test]
    fn a_bearer_scheme_followed_by_a_tab_is_still_ours() {
        // Upstreams split the scheme on any whitespace: `Bearer<TAB>x` is a
        // bearer token to them, so it is checked here (with an API key beside
        // it, the request is ambiguous, not a key request with a token riding along).
        let p = presented(
            &headers(&[("authorization", "Bearer\tabc.def")]),
            None,
            None,
        )
        .unwrap();
        assert_eq!(p.bearer.as_deref(), Some("abc.def"));
        let loc = location(None);
        assert_eq!(
            presented(
                &headers(&[("authorization", "bEaReR\tforged"), ("x-api-key", "rk_y")]),
                None,
                Some(&loc)
            ),
            Err(CredentialError::Ambiguous)
        );
        // A scheme with nothing after it is a malformed bearer credential;
        // a longer scheme name is not ours.
        assert_eq!(
            presented(&headers(&[("authorization", "Bearer")]), None, None),
            Err(CredentialError::MalformedBearer)
        );
        let p = presented(&headers(&[("authorization", "Bearerish x")]), None, None).unwrap();
        assert_eq!(p, Presented::default());
    }

    #[test]
    fn query_keys_are_ignored_unless_configured() {
        let p = presented(&headers(&[]), Some("api_key=rk_x"), Some(&location(None))).unwrap();
        assert_eq!(p.api_key, None);
    }

    #[test]
    fn duplicates_and_mixtures_are_ambiguous() {
        let loc = location(Some("api_key"));
        let cases = [
            (
                headers(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]),
                None,
            ),
            (headers(&[("x-api-key", "a"), ("x-api-key", "b")]), None),
            (headers(&[("x-api-key", "a")]), Some("api_key=b")),
            (headers(&[]), Some("api_key=a&api_key=b")),
            (
                headers(&[("authorization", "Bearer a"), ("x-api-key", "b")]),
                None,
            ),
        ];
        for (h, q) in cases {
            assert_eq!(
                presented(&h, q, Some(&loc)),
                Err(CredentialError::Ambiguous),
                "{h:?} {q:?}"
            );
        }
        assert_eq!(
            presented(&headers(&[("authorization", "Bearer ")]), None, None),
            Err(CredentialError::MalformedBearer)
        );
    }

    #[test]
    fn a_key_after_a_semicolon_is_a_key_too() {
        // `?api_key=rk_mine&q=1;api_key=rk_victim_x`: an upstream splitting on
        // `;` reads the second key; verified only the first, it would reach it.
        let loc = location(Some("api_key"));
        for query in [
            "api_key=rk_mine&q=1;api_key=rk_victim_x",
            "api_key=rk_mine;api_key=rk_victim_x",
            "q=1;api%5Fkey=rk_victim_x&api_key=rk_mine",
        ] {
            assert_eq!(
                presented(&headers(&[]), Some(query), Some(&loc)),
                Err(CredentialError::Ambiguous),
                "{query}"
            );
        }
        // One key after a `;` is the key, and removed from the forwarded query
        // (the other parameters keep their separators).
        let p = presented(&headers(&[]), Some("q=1;api_key=rk_x"), Some(&loc)).unwrap();
        assert_eq!(p.api_key.as_deref(), Some("rk_x"));
        assert_eq!(
            remove_query_param("a=1;api_key=x&b=2;c=3", "api_key").as_deref(),
            Some("a=1&b=2;c=3")
        );
        assert_eq!(
            remove_query_param("api_key=x;a=1", "api_key").as_deref(),
            Some("a=1")
        );
        assert_eq!(remove_query_param("api_key=x;api%5fkey=y", "api_key"), None);
        // Nothing to remove: the query is unchanged, empty parts and all.
        assert_eq!(
            remove_query_param("a=1;;b=2&", "api_key").as_deref(),
            Some("a=1;;b=2&")
        );
    }

    #[test]
    fn key_is_removed_from_the_forwarded_query() {
        assert_eq!(
            remove_query_param("a=1&api_key=x&b=2", "api_key").as_deref(),
            Some("a=1&b=2")
        );
        assert_eq!(remove_query_param("api_key=x", "api_key"), None);
        assert_eq!(
            remove_query_param("api_keyx=1", "api_key").as_deref(),
            Some("api_keyx=1")
        );
    }
}
