//! RFC 9457 problem details: the one shape of every response Rampart makes itself.
//!
//! A [`ProblemType`] is a stable cause (its `slug` is also the audit record's
//! `reason`); a [`Problem`] is one occurrence of it, with optional extra members
//! (such as a list of validation failures) and response headers (such as
//! `Retry-After` or `WWW-Authenticate`). Nothing internal belongs in a problem:
//! details for operators go to the log, not to the client.

use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value};

/// Prefix of every problem `type` URI.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:rampart:problem:";

/// The media type of problem bodies.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// A stable cause of refusal: one per reason a client can be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProblemType {
    /// Stable, kebab-case identifier; the `type` URI ends with it and the audit
    /// record's `reason` is it.
    pub slug: &'static str,
    /// HTTP status code.
    pub status: u16,
    /// Short human-readable summary, the same for every occurrence.
    pub title: &'static str,
}

impl ProblemType {
    /// Declares a problem type; used for `const` items.
    pub const fn new(slug: &'static str, status: u16, title: &'static str) -> Self {
        Self {
            slug,
            status,
            title,
        }
    }

    /// The full `type` URI.
    pub fn uri(&self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.slug)
    }

    /// The status as an [`http::StatusCode`]; an out-of-range status (a bug in a
    /// `const` declaration) degrades to 500 rather than panicking.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// One refusal, ready to be rendered as `application/problem+json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The cause.
    pub kind: ProblemType,
    /// Optional human-readable explanation for the client. Must not contain internal
    /// detail or echo untrusted input.
    pub detail: Option<String>,
    /// Extra members of the problem object (RFC 9457 §3.2), e.g. `errors`.
    /// Boxed: most problems have none, and a small `Problem` keeps `Result`s cheap.
    pub extensions: Box<Map<String, Value>>,
    /// Headers to add to the response, e.g. `Retry-After`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem of the given type with no detail.
    pub fn new(kind: ProblemType) -> Self {
        Self {
            kind,
            detail: None,
            extensions: Box::default(),
            headers: Vec::new(),
        }
    }

    /// Adds a client-safe detail sentence.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds an extension member.
    pub fn with_extension(mut self, name: impl Into<String>, value: Value) -> Self {
        self.extensions.insert(name.into(), value);
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The JSON body, with the request id that lets an operator find the log line.
    pub fn to_json(&self, request_id: &str) -> Vec<u8> {
        let mut body = Map::new();
        body.insert("type".into(), Value::String(self.kind.uri()));
        body.insert("title".into(), Value::String(self.kind.title.into()));
        body.insert("status".into(), Value::from(self.kind.status));
        if let Some(detail) = &self.detail {
            body.insert("detail".into(), Value::String(detail.clone()));
        }
        body.insert("request_id".into(), Value::String(request_id.into()));
        for (name, value) in self.extensions.iter() {
            // Extensions never override the standard members.
            body.entry(name.clone()).or_insert_with(|| value.clone());
        }
        serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAPOT: ProblemType = ProblemType::new("teapot", 418, "I'm a teapot");

    #[test]
    fn body_has_the_rfc9457_members_and_request_id() {
        let problem = Problem::new(TEAPOT).with_detail("short and stout");
        let body: Value = serde_json::from_slice(&problem.to_json("req-1")).unwrap();
        assert_eq!(body["type"], "urn:rampart:problem:teapot");
        assert_eq!(body["title"], "I'm a teapot");
        assert_eq!(body["status"], 418);
        assert_eq!(body["detail"], "short and stout");
        assert_eq!(body["request_id"], "req-1");
    }

    #[test]
    fn extensions_cannot_override_standard_members() {
        let problem = Problem::new(TEAPOT)
            .with_extension("status", Value::from(200))
            .with_extension("errors", serde_json::json!([{"pointer": "/a"}]));
        let body: Value = serde_json::from_slice(&problem.to_json("r")).unwrap();
        assert_eq!(body["status"], 418);
        assert_eq!(body["errors"][0]["pointer"], "/a");
    }

    #[test]
    fn problems_stay_small_whatever_serde_json_features_are_on() {
        // clippy's result_large_err limit; serde_json's preserve_order makes Map larger.
        assert!(std::mem::size_of::<Problem>() <= 128);
    }

    #[test]
    fn invalid_status_degrades_to_500() {
        let broken = ProblemType::new("broken", 1000, "Broken");
        assert_eq!(broken.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
