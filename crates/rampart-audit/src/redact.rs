//! Redaction of secrets before anything is logged.
//!
//! Records never carry headers or bodies, so `Authorization`, `Cookie`, `Set-Cookie`
//! and API-key headers cannot reach the audit log by construction. What remains is
//! the query string: parameters whose (percent-decoded, case-folded) names look
//! like credentials get their value replaced by `REDACTED`. Pairs are split at
//! `&` and at `;` (which Rack, older Python and others also take as a
//! separator: `?page=1;access_token=t` must not log the token). A fragment
//! (from `#`) is dropped. Path parameters (`/cart;jsessionid=...`) are
//! redacted by the same names.

/// Substrings of parameter names that mark a credential.
const SENSITIVE_NAME_PARTS: [&str; 16] = [
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "session",
    // PHP's `PHPSESSID` (and `sessid` elsewhere): not `session`.
    "sessid",
    "signature",
    "credential",
    "otp",
    "jwt",
    "assertion",
    "saml",
];

/// Whole parameter names that mark a credential, too short to look for
/// inside other names (`sig` is in `design`, `sid` in `side`): a password
/// (`pass`, `pw`), a signed URL's signature (Azure SAS `sig`), an OAuth
/// authorization code (`code`), a CAS or SSO ticket, a session id (`sid`).
const SENSITIVE_NAMES: [&str; 6] = ["pass", "pw", "sig", "code", "ticket", "sid"];

/// Whether a query byte separates parameters.
fn is_separator(b: u8) -> bool {
    b == b'&' || b == b';'
}

/// The replacement value.
pub const REDACTED: &str = "REDACTED";

/// Redacts sensitive query parameters.
#[derive(Debug, Clone, Default)]
pub struct QueryRedactor {
    /// Extra exact parameter names (lower-case) to redact.
    extra: Vec<String>,
}

impl QueryRedactor {
    /// A redactor that also redacts the given parameter names.
    pub fn new(extra: impl IntoIterator<Item = String>) -> Self {
        Self {
            extra: extra
                .into_iter()
                .map(|name| name.to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether a parameter with this (raw) name must be redacted.
    pub fn is_sensitive(&self, raw_name: &str) -> bool {
        if !raw_name
            .bytes()
            .any(|b| b == b'%' || b == b'+' || b.is_ascii_uppercase())
        {
            // Already decoded and lower-case (the usual case): no copy needed.
            return self.is_sensitive_decoded(raw_name);
        }
        self.is_sensitive_decoded(&percent_decode_lossy(raw_name).to_ascii_lowercase())
    }

    fn is_sensitive_decoded(&self, name: &str) -> bool {
        contains_sensitive_part(name.as_bytes())
            || self.is_sensitive_whole(name)
            // PHP, Rails and others nest parameters in brackets
            // (`user[pass]`, `pw[]`): each segment counts as a whole name.
            || (name.as_bytes().contains(&b'[')
                && name
                    .split(['[', ']'])
                    .any(|segment| self.is_sensitive_whole(segment)))
    }

    /// Whether `name` is one of the names matched only whole.
    fn is_sensitive_whole(&self, name: &str) -> bool {
        SENSITIVE_NAMES.contains(&name) || self.extra.iter().any(|extra| extra == name)
    }

    /// [`QueryRedactor::redact`] for an owned query: returned as it is (no copy)
    /// when no parameter needs redacting.
    pub fn redact_owned(&self, mut query: String) -> String {
        query.truncate(without_fragment(&query).len());
        // Byte splits: the `char` pattern searchers cost more than the check.
        let needs_redaction = query.as_bytes().split(|&b| is_separator(b)).any(|pair| {
            pair.iter().position(|&b| b == b'=').is_some_and(|eq| {
                // `&` and `=` are ASCII, so the name is whole UTF-8.
                std::str::from_utf8(pair.get(..eq).unwrap_or_default())
                    .is_ok_and(|name| self.is_sensitive(name))
            })
        });
        if needs_redaction {
            let mut out = String::with_capacity(query.len());
            self.redact_pairs(&query, &mut out);
            out
        } else {
            query
        }
    }

    /// The path with the values of sensitive path parameters replaced: the
    /// `;name=value` pairs after a segment (`/cart;jsessionid=...`, as Java
    /// servlet containers put a session id in URLs), named as in a query.
    /// Only for the log: the upstream gets the path as it came. Returned as
    /// it is (no copy) when it has no `;`, as nearly every path.
    pub fn redact_path(&self, path: String) -> String {
        if !path.bytes().any(|b| b == b';') {
            return path;
        }
        let mut out = String::with_capacity(path.len());
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            match segment.split_once(';') {
                Some((name, parameters)) => {
                    out.push_str(name);
                    out.push(';');
                    self.redact_pairs(parameters, &mut out);
                }
                None => out.push_str(segment),
            }
        }
        out
    }

    /// The query with the values of sensitive parameters replaced, cut at a
    /// `#`: what follows is a fragment (RFC 3986 §3.5), never sent upstream,
    /// and its pairs would otherwise be read as one value (`state=x#token=t`).
    pub fn redact(&self, query: &str) -> String {
        let query = without_fragment(query);
        let mut out = String::with_capacity(query.len());
        self.redact_pairs(query, &mut out);
        out
    }

    /// Appends `pairs` (separated by `&` or `;`) to `out`, the values of
    /// sensitive ones replaced.
    fn redact_pairs(&self, pairs: &str, out: &mut String) {
        // Each piece keeps its separator, so the query is rebuilt as written.
        for piece in pairs.split_inclusive(['&', ';']) {
            let (pair, separator) = match piece.strip_suffix(['&', ';']) {
                Some(pair) => (pair, piece.get(pair.len()..).unwrap_or_default()),
                None => (piece, ""),
            };
            match pair.split_once('=') {
                Some((name, _)) if self.is_sensitive(name) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                // A bare sensitive name (`?token`) may itself be the secret's slot;
                // keep it, it carries no value.
                _ => out.push_str(pair),
            }
            out.push_str(separator);
        }
    }
}

/// For each byte, the parts of [`SENSITIVE_NAME_PARTS`] it starts, as a bit
/// set of their indices (derived from the list).
const PARTS_STARTED_BY: [u16; 256] = {
    assert!(SENSITIVE_NAME_PARTS.len() <= 16);
    let mut started = [0u16; 256];
    let mut i = 0;
    while i < SENSITIVE_NAME_PARTS.len() {
        started[SENSITIVE_NAME_PARTS[i].as_bytes()[0] as usize] |= 1 << i;
        i += 1;
    }
    started
};

/// Whether `name` contains one of [`SENSITIVE_NAME_PARTS`]. One pass over the
/// name; at each position only the parts its byte starts are tried: a
/// substring search per part (`str::contains` sets up a searcher each time)
/// cost more than the rest of the audit record for the usual `page=2`, and
/// trying all of them wherever a `p` or an `a` stands was still ~200
/// instructions a request.
fn contains_sensitive_part(name: &[u8]) -> bool {
    name.iter().enumerate().any(|(start, &b)| {
        let mut parts = PARTS_STARTED_BY[usize::from(b)];
        let rest = name.get(start..).unwrap_or_default();
        while parts != 0 {
            let index = parts.trailing_zeros() as usize;
            parts &= parts - 1;
            // Compared in line: these are a few bytes, and `starts_with`
            // calls `memcmp` for each.
            if SENSITIVE_NAME_PARTS.get(index).is_some_and(|part| {
                part.len() <= rest.len() && part.bytes().zip(rest).all(|(a, &b)| a == b)
            }) {
                return true;
            }
        }
        false
    })
}

/// `query` up to a `#`: what follows is a fragment (RFC 3986 §3.5), never
/// sent upstream. A byte search: a `char` pattern set up a searcher per request.
fn without_fragment(query: &str) -> &str {
    match query.bytes().position(|b| b == b'#') {
        Some(end) => query.get(..end).unwrap_or(query),
        None => query,
    }
}

/// Decodes `%XX` escapes and `+`; invalid escapes are kept as they are.
fn percent_decode_lossy(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'%') => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            Some(b'+') => out.push(b' '),
            Some(&byte) => out.push(byte),
            None => break,
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_parameters_are_redacted() {
        let redactor = QueryRedactor::default();
        assert_eq!(
            redactor.redact("user=bob&password=hunter2&api_key=abc&access_token=t&page=2"),
            "user=bob&password=REDACTED&api_key=REDACTED&access_token=REDACTED&page=2"
        );
    }

    #[test]
    fn encoded_and_cased_names_are_caught() {
        let redactor = QueryRedactor::default();
        assert_eq!(redactor.redact("PassWord=x"), "PassWord=REDACTED");
        assert_eq!(redactor.redact("pass%77ord=x"), "pass%77ord=REDACTED");
        assert_eq!(
            redactor.redact("client%5Fsecret=x"),
            "client%5Fsecret=REDACTED"
        );
    }

    #[test]
    fn configured_names_are_redacted_and_others_kept() {
        let redactor = QueryRedactor::new(["ssn".to_string()]);
        assert_eq!(
            redactor.redact("ssn=123-45-6789&q=shoes"),
            "ssn=REDACTED&q=shoes"
        );
        assert_eq!(redactor.redact("q=a=b&&x"), "q=a=b&&x");
    }

    #[test]
    fn owned_queries_are_redacted_alike_and_kept_when_clean() {
        let redactor = QueryRedactor::new(["ssn".to_string()]);
        for query in [
            "user=bob&password=hunter2&page=2",
            "PassWord=x",
            "pass%77ord=x&q=1",
            "ssn=1&q=2",
            "q=shoes&page=2",
            "q=a=b&&x",
            "",
        ] {
            assert_eq!(
                redactor.redact_owned(query.to_string()),
                redactor.redact(query)
            );
        }
        let clean = "q=shoes&page=2".to_string();
        let pointer = clean.as_ptr();
        let kept = redactor.redact_owned(clean);
        assert_eq!(kept.as_ptr(), pointer);
    }

    #[test]
    fn every_part_is_found_anywhere_in_a_name_and_near_misses_are_not() {
        let redactor = QueryRedactor::default();
        for part in SENSITIVE_NAME_PARTS {
            for name in [
                part.to_string(),
                format!("x_{part}"),
                format!("{part}_id"),
                format!("ab{part}cd"),
            ] {
                assert!(redactor.is_sensitive(&name), "{name}");
            }
            // Every proper prefix alone is not a match (unless it contains another part).
            let prefix = part.get(..part.len() - 1).unwrap_or_default();
            if !SENSITIVE_NAME_PARTS
                .iter()
                .any(|other| prefix.contains(other))
                && !SENSITIVE_NAMES.contains(&prefix)
            {
                assert!(!redactor.is_sensitive(prefix), "{prefix}");
            }
        }
        for clean in [
            "page",
            "q",
            "sort",
            "limit",
            "ke",
            "tok",
            "",
            "sessio",
            "design",
            "codec",
            "passenger",
        ] {
            assert!(!redactor.is_sensitive(clean), "{clean}");
        }
        for name in SENSITIVE_NAMES {
            assert!(redactor.is_sensitive(name), "{name}");
            assert!(redactor.is_sensitive(&name.to_ascii_uppercase()), "{name}");
        }
    }

    #[test]
    fn semicolons_separate_parameters_too() {
        let redactor = QueryRedactor::default();
        for query in [
            "page=1;access_token=abc",
            "pass=hunter2;sig=s&jwt=j;code=c&SAMLResponse=r",
            "a=1;;b=2&",
            ";",
        ] {
            let redacted = redactor.redact(query);
            for secret in ["abc", "hunter2", "=s", "=j", "=c", "=r"] {
                assert!(!redacted.contains(secret), "{query} -> {redacted}");
            }
            assert_eq!(redactor.redact_owned(query.to_string()), redacted);
        }
        assert_eq!(
            redactor.redact("page=1;access_token=abc&q=2"),
            "page=1;access_token=REDACTED&q=2"
        );
        assert_eq!(redactor.redact("a=1;;b=2&"), "a=1;;b=2&");
    }

    #[test]
    fn session_id_names_of_common_servers_are_redacted() {
        let redactor = QueryRedactor::default();
        for name in [
            "PHPSESSID",
            "phpsessid",
            "sid",
            "SID",
            "jsessionid",
            "JSESSIONID",
            "sessionid",
            "ASPSESSIONIDQACTQDRA",
            "ASP.NET_SessionId",
            "sessid",
        ] {
            assert!(redactor.is_sensitive(name), "{name}");
            assert_eq!(
                redactor.redact(&format!("page=1&{name}=abc")),
                format!("page=1&{name}={REDACTED}")
            );
        }
        // `sid` only as a whole name: `side` and `inside` are not session ids.
        for clean in ["side", "inside", "considered", "sidebar"] {
            assert!(!redactor.is_sensitive(clean), "{clean}");
        }
    }

    #[test]
    fn whole_names_are_found_inside_brackets() {
        let redactor = QueryRedactor::new(["ssn".to_string()]);
        for name in [
            "user[pass]",
            "pw[]",
            "login[pw]",
            "a[b][sig]",
            "auth_form[code][]",
            "user%5Bpass%5D",
            "User[PASS]",
            "person[ssn]",
        ] {
            assert!(redactor.is_sensitive(name), "{name}");
        }
        assert_eq!(
            redactor.redact("user[name]=bob&user[pass]=hunter2&pw[]=x"),
            "user[name]=bob&user[pass]=REDACTED&pw[]=REDACTED"
        );
        // Only whole segments: these hold the short names inside words.
        for clean in ["user[passenger]", "filter[design]", "x[codec]", "[]", "a["] {
            assert!(!redactor.is_sensitive(clean), "{clean}");
        }
    }

    #[test]
    fn a_fragment_ends_the_query_and_is_dropped() {
        let redactor = QueryRedactor::default();
        for (query, want) in [
            ("state=x#access_token=SECRET", "state=x"),
            ("#SECRET", ""),
            ("a=1#b=2&token=SECRET", "a=1"),
            ("q=1", "q=1"),
        ] {
            assert_eq!(redactor.redact(query), want, "{query}");
            assert_eq!(redactor.redact_owned(query.to_string()), want, "{query}");
        }
    }

    #[test]
    fn sensitive_path_parameters_are_redacted() {
        let redactor = QueryRedactor::new(["k".to_string()]);
        for (path, want) in [
            ("/app/cart;jsessionid=S3", "/app/cart;jsessionid=REDACTED"),
            (
                "/a;v=1;JSESSIONID=S3/b;token=S3;x=2/c",
                "/a;v=1;JSESSIONID=REDACTED/b;token=REDACTED;x=2/c",
            ),
            ("/x;PHPSESSID=S3;k=S3", "/x;PHPSESSID=REDACTED;k=REDACTED"),
            ("/x;pass%77ord=S3", "/x;pass%77ord=REDACTED"),
            // The segment itself is not a parameter; bare names carry no value.
            ("/token=t;jsessionid", "/token=t;jsessionid"),
            ("/plain/path", "/plain/path"),
            ("/a;v=1;;b/;", "/a;v=1;;b/;"),
            ("", ""),
        ] {
            assert_eq!(redactor.redact_path(path.to_string()), want, "{path}");
        }
        // No parameters: the path comes back as it was, not copied.
        let clean = "/a/b".to_string();
        let pointer = clean.as_ptr();
        let kept = redactor.redact_path(clean);
        assert_eq!(kept.as_ptr(), pointer);
    }

    #[test]
    fn malformed_escapes_do_not_panic() {
        let redactor = QueryRedactor::default();
        assert_eq!(redactor.redact("%=1&%4=2&%zz=3"), "%=1&%4=2&%zz=3");
    }
}
