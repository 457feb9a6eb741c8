//! Operation keys (`METHOD /path/{param}`) and path parameters: matching the
//! gateway's normalised path against the matched route's template, with strict
//! percent-decoding of the captured values (ownership compares decoded values, so
//! `alice%40example.com` and `alice@example.com` are the same user).

/// Methods an operation key may name.
pub const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

/// A parsed operation key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationKey {
    /// Upper-case method.
    pub method: String,
    /// Path template segments (after the leading `/`).
    pub segments: Vec<Segment>,
}

/// One template segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text.
    Literal(String),
    /// `{name}`, or a parameter within literal text (`{name}.json`,
    /// `v{version}`), as OpenAPI templates allow: one per segment.
    Param {
        /// The parameter's name.
        name: String,
        /// Literal text before it.
        prefix: String,
        /// Literal text after it.
        suffix: String,
    },
}

/// One segment of a template: literal text, or one `{name}` within literal
/// text. `None` if malformed (empty name, several parameters, stray braces).
fn parse_segment(seg: &str) -> Option<Segment> {
    if seg.contains(' ') {
        return None;
    }
    let Some((prefix, rest)) = seg.split_once('{') else {
        return (!seg.contains('}')).then(|| Segment::Literal(seg.to_owned()));
    };
    let (name, suffix) = rest.split_once('}')?;
    if name.is_empty() || prefix.contains('}') || suffix.contains(['{', '}']) {
        return None;
    }
    Some(Segment::Param {
        name: name.to_owned(),
        prefix: prefix.to_owned(),
        suffix: suffix.to_owned(),
    })
}

impl OperationKey {
    /// Parses `GET /users/{id}`; `None` if malformed.
    pub fn parse(key: &str) -> Option<Self> {
        let (method, path) = key.split_once(' ')?;
        if !METHODS.contains(&method) {
            return None;
        }
        let path = path.strip_prefix('/')?;
        let segments = path
            .split('/')
            .map(parse_segment)
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            method: method.to_owned(),
            segments,
        })
    }

    /// Names of the template's parameters.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param { name, .. } => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// The parameters of `path`, percent-decoded (a value that does not decode
    /// to UTF-8 is kept as received), or `None` if it does not match the
    /// template. The template is matched against
    /// the path's trailing segments: the route stage matched it after stripping
    /// the API's base path (e.g. `/v1`), which this stage does not know.
    pub fn extract(&self, path: &str) -> Option<Vec<(String, String)>> {
        let path = path.strip_prefix('/')?;
        let all: Vec<&str> = path.split('/').collect();
        let skip = all.len().checked_sub(self.segments.len())?;
        let mut params = Vec::new();
        for (segment, value) in self.segments.iter().zip(all.iter().skip(skip)) {
            match segment {
                // Path parameters (`;jsessionid=…`) set aside, as the route
                // stage matched it (and as Tomcat, Jetty and Spring serve it).
                Segment::Literal(text)
                    if text == value || Some(text.as_str()) == value.split(';').next() => {}
                Segment::Literal(_) => return None,
                Segment::Param {
                    name,
                    prefix,
                    suffix,
                } => {
                    // The literal parts must be there, and something between
                    // them (the router matched the same way).
                    let value = value
                        .strip_prefix(prefix.as_str())?
                        .strip_suffix(suffix.as_str())?;
                    if value.is_empty() {
                        return None;
                    }
                    // A value that does not decode (a bad escape, bytes that are
                    // not UTF-8) is kept as received, as the router keeps it:
                    // refusing here refused operations that check no parameter
                    // at all, and such a value names no caller, so an owner
                    // check on it still fails.
                    let decoded =
                        rampart_core::percent::decode(value).unwrap_or_else(|| value.to_owned());
                    params.push((name.clone(), decoded));
                }
            }
        }
        Some(params)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_match_with_path_parameters_set_aside() {
        let key = OperationKey::parse("GET /admin/users/{id}").unwrap();
        let params = key.extract("/admin;jsessionid=1/users/7").unwrap();
        assert_eq!(params, [("id".to_string(), "7".to_string())]);
        // A value keeps its `;` (the stage refuses it where a check reads it).
        let params = key.extract("/admin/users/7;v=1").unwrap();
        assert_eq!(params, [("id".to_string(), "7;v=1".to_string())]);
        assert!(key.extract("/admins;x/users/7").is_none());
    }

    #[test]
    fn parameters_within_literal_text_are_extracted() {
        // OpenAPI allows `{name}.json`; the router matches such routes, so
        // authz must be able to name (and check) them.
        let key = OperationKey::parse("GET /files/{name}.json").unwrap();
        assert_eq!(key.params().collect::<Vec<_>>(), ["name"]);
        let params = key.extract("/files/report%20q1.json").unwrap();
        assert_eq!(params, [("name".to_string(), "report q1".to_string())]);
        assert!(key.extract("/files/report.xml").is_none());
        assert!(key.extract("/files/.json").is_none());
        let key = OperationKey::parse("GET /api/v{version}/items").unwrap();
        assert_eq!(key.extract("/api/v2/items").unwrap()[0].1, "2");
        // Still malformed: two parameters in a segment, stray braces, no name.
        for bad in ["GET /a/{x}{y}", "GET /a/}x{", "GET /a/{}", "GET /a/{x}}"] {
            assert!(OperationKey::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn parses_keys_and_extracts_params() {
        let key = OperationKey::parse("GET /users/{username}/orders/{id}").unwrap();
        assert_eq!(key.params().collect::<Vec<_>>(), ["username", "id"]);
        let params = key.extract("/users/alice%40example.com/orders/7").unwrap();
        assert_eq!(params[0], ("username".into(), "alice@example.com".into()));
        assert_eq!(params[1], ("id".into(), "7".into()));
    }

    #[test]
    fn mismatches_and_bad_keys_are_refused() {
        let key = OperationKey::parse("GET /users/{username}").unwrap();
        assert!(key.extract("/users").is_none());
        assert!(key.extract("/users/").is_none());
        assert!(key.extract("/users/a/b").is_none());
        // Under a base path the template matches the trailing segments.
        let params = key.extract("/v1/users/carol").unwrap();
        assert_eq!(params[0], ("username".into(), "carol".into()));
        assert!(key.extract("/people/a").is_none());
        // What does not decode is kept as received (and names nobody).
        for raw in ["%zz", "%c3", "%+1", "%FF.bin"] {
            let params = key.extract(&format!("/users/{raw}")).unwrap();
            assert_eq!(params[0].1, raw);
        }
        for bad in ["get /a", "GET a", "GET /{}", "GET /{a", "FETCH /a", "GET"] {
            assert!(OperationKey::parse(bad).is_none(), "{bad}");
        }
    }
}
