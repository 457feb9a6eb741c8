//! The problems this crate answers with, and the `errors` list of validation failures.
//!
//! Failures name where (`in` and a JSON `pointer`) and which rule failed, never the
//! offending value. Pointer segments that come from the request (member names) are
//! shown only when they are short plain identifiers; anything else becomes `*`, so an
//! attacker-chosen key is not reflected either.

use rampart_core::{Problem, ProblemType};
use serde_json::{Value, json};

/// Unknown path: the route is not in the API inventory (shadow API call).
pub const ROUTE_NOT_DECLARED: ProblemType =
    ProblemType::new("route-not-declared", 404, "Route not declared");
/// Declared path, undeclared method.
pub const METHOD_NOT_ALLOWED: ProblemType =
    ProblemType::new("method-not-allowed", 405, "Method not allowed");
/// Parameters or body do not match the contract.
pub const VALIDATION_FAILED: ProblemType = ProblemType::new(
    "request-validation-failed",
    400,
    "Request validation failed",
);
/// A header, query key or body member asking the upstream to run another
/// method than the request's own (`X-HTTP-Method-Override`, `_method`, …),
/// which the operation does not declare.
pub const OVERRIDE_NOT_ALLOWED: ProblemType = ProblemType::new(
    "method-override-not-allowed",
    400,
    "Method override not allowed",
);
/// The request's content type is not declared for the operation.
pub const UNSUPPORTED_MEDIA_TYPE: ProblemType =
    ProblemType::new("unsupported-media-type", 415, "Unsupported media type");
/// The body is larger than the operation allows.
pub const BODY_TOO_LARGE: ProblemType =
    ProblemType::new("body-too-large", 413, "Request body too large");
/// The operation (or API version) is past its sunset date.
pub const SUNSET: ProblemType =
    ProblemType::new("operation-sunset", 410, "Operation no longer available");
/// A deprecated operation limited to existing consumers was called by another one.
pub const DEPRECATED_CONSUMER: ProblemType = ProblemType::new(
    "deprecated-operation-not-allowed",
    403,
    "Deprecated operation not available to this consumer",
);
/// The upstream failed (5xx): its response is not shown.
pub const UPSTREAM_ERROR: ProblemType = ProblemType::new("upstream-error", 502, "Upstream error");
/// The upstream answered with a status or content type the spec does not declare.
pub const RESPONSE_NOT_DECLARED: ProblemType = ProblemType::new(
    "response-not-declared",
    502,
    "Upstream response not declared",
);
/// The one failure answer of authentication endpoints (status configurable).
pub fn auth_failed(status: u16) -> ProblemType {
    // Leaked once per distinct status, which is configuration: bounded.
    match status {
        400 => ProblemType::new("authentication-failed", 400, "Authentication failed"),
        403 => ProblemType::new("authentication-failed", 403, "Authentication failed"),
        _ => ProblemType::new("authentication-failed", 401, "Authentication failed"),
    }
}

/// The rule of a raw `;` in a checked query string (see
/// [`crate::params::parse_request_query`]).
pub const SEMICOLON: &str = "semicolon";

/// Most failures listed in one problem.
pub const MAX_FAILURES: usize = 20;

/// Where a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    /// A path parameter.
    Path,
    /// A query parameter.
    Query,
    /// A header parameter.
    Header,
    /// A cookie parameter.
    Cookie,
    /// The body.
    Body,
}

impl In {
    /// The `in` member text.
    pub fn as_str(self) -> &'static str {
        match self {
            In::Path => "path",
            In::Query => "query",
            In::Header => "header",
            In::Cookie => "cookie",
            In::Body => "body",
        }
    }
}

/// One validation failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Where.
    pub location: In,
    /// JSON pointer (sanitised).
    pub pointer: String,
    /// The rule, e.g. `type`, `maxLength`, `required`, `undeclared`, `readOnly`.
    pub rule: String,
}

impl Failure {
    /// A failure at `pointer` (raw; sanitised here).
    pub fn new(location: In, pointer: &str, rule: impl Into<String>) -> Self {
        Self {
            location,
            pointer: sanitize_pointer(pointer),
            rule: rule.into(),
        }
    }
}

/// Largest instance (in JSON values) whose schema failures are all collected; of a
/// larger one only the first is reported.
pub const MAX_LISTED_NODES: usize = 1024;

/// Appends the schema validator's failures of `value`, stopping once `failures`
/// holds [`MAX_FAILURES`]: no more are reported, and a 1 MiB body can fail half a
/// million times. `jsonschema` collects every failure before it returns the first
/// (half a second and an allocation per failure for such a body), so of an
/// instance past [`MAX_LISTED_NODES`] only the first failure, found without
/// collecting, is reported.
pub fn push_schema_failures(
    validator: &jsonschema::Validator,
    value: &Value,
    location: In,
    prefix: &str,
    failures: &mut Vec<Failure>,
) {
    let room = MAX_FAILURES.saturating_sub(failures.len());
    if room == 0 {
        return;
    }
    let Err(first) = validator.validate(value) else {
        return;
    };
    if larger_than(value, MAX_LISTED_NODES) {
        failures.push(schema_failure(location, prefix, &first));
        return;
    }
    let errors = validator.iter_errors(value).take(room);
    failures.extend(errors.map(|err| schema_failure(location, prefix, &err)));
}

/// Whether `value` holds more than `limit` JSON values, itself included (counted
/// no further than needed).
fn larger_than(value: &Value, limit: usize) -> bool {
    let mut stack = vec![value];
    let mut counted = 0usize;
    while let Some(v) = stack.pop() {
        counted += 1;
        let children = match v {
            Value::Array(items) => items.len(),
            Value::Object(members) => members.len(),
            _ => 0,
        };
        if counted + stack.len() + children > limit {
            return true;
        }
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(members) => stack.extend(members.values()),
            _ => {}
        }
    }
    false
}

/// A failure from the schema validator. A missing required member is reported at its
/// own pointer (its name comes from the schema, not the request).
pub fn schema_failure(
    location: In,
    prefix: &str,
    err: &jsonschema::ValidationError<'_>,
) -> Failure {
    let mut pointer = format!("{prefix}{}", err.instance_path().as_str());
    if let jsonschema::error::ValidationErrorKind::Required {
        property: Value::String(name),
    } = err.kind()
    {
        push_segment(&mut pointer, name);
    }
    Failure::new(location, &pointer, err.kind().keyword())
}

/// The 400 problem listing the failures (at most [`MAX_FAILURES`]).
pub fn validation_problem(failures: &[Failure]) -> Problem {
    let errors: Vec<Value> = failures
        .iter()
        .take(MAX_FAILURES)
        .map(|f| json!({"in": f.location.as_str(), "pointer": f.pointer, "rule": f.rule}))
        .collect();
    let problem = Problem::new(VALIDATION_FAILED).with_extension("errors", Value::Array(errors));
    if failures.iter().any(|f| f.rule == SEMICOLON) {
        // The one failure a client cannot guess the fix of from its rule.
        return problem.with_detail("A ';' in the query string must be percent-encoded as %3B.");
    }
    problem
}

/// Replaces pointer segments that are not short plain identifiers by `*`.
pub fn sanitize_pointer(pointer: &str) -> String {
    if pointer.is_empty() {
        return String::new();
    }
    let mut out = String::with_capacity(pointer.len());
    for seg in pointer.split('/').skip(1) {
        out.push('/');
        let plain = !seg.is_empty()
            && seg.len() <= 64
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'~'));
        out.push_str(if plain { seg } else { "*" });
    }
    out
}

/// Appends a segment to a pointer, escaped.
pub fn push_segment(pointer: &mut String, segment: &str) {
    pointer.push('/');
    if !segment.contains(['~', '/']) {
        pointer.push_str(segment);
        return;
    }
    for c in segment.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// Appends an array index to a pointer (no allocation).
pub fn push_index(pointer: &mut String, index: usize) {
    use std::fmt::Write;
    let _ = write!(pointer, "/{index}");
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn hostile_keys_are_not_reflected() {
        assert_eq!(sanitize_pointer("/items/0/name"), "/items/0/name");
        assert_eq!(sanitize_pointer("/<script>alert(1)<~1script>"), "/*");
        assert_eq!(sanitize_pointer("/a b/' OR 1=1"), "/*/*");
        assert_eq!(sanitize_pointer(""), "");
    }

    #[test]
    fn schema_failures_stop_at_the_cap() {
        let schema = json!({"type": "array", "items": {"type": "string"}});
        let validator = crate::bundle::compile(&schema, crate::bundle::SpecVersion::V31).unwrap();
        let value = Value::Array(vec![json!(1); 1000]);
        let mut failures = Vec::new();
        push_schema_failures(&validator, &value, In::Body, "", &mut failures);
        assert_eq!(failures.len(), MAX_FAILURES);
        // Room for what is left only, and none once full.
        let mut failures = vec![Failure::new(In::Query, "/a", "type"); MAX_FAILURES - 1];
        push_schema_failures(&validator, &value, In::Body, "", &mut failures);
        assert_eq!(failures.len(), MAX_FAILURES);
        assert_eq!(failures.last().unwrap().pointer, "/0");
        push_schema_failures(&validator, &value, In::Body, "", &mut failures);
        assert_eq!(failures.len(), MAX_FAILURES);
        // Past MAX_LISTED_NODES, the first only.
        let large = Value::Array(vec![json!(1); 5000]);
        let mut failures = Vec::new();
        push_schema_failures(&validator, &large, In::Body, "", &mut failures);
        assert_eq!(failures, [Failure::new(In::Body, "/0", "type")]);
        let valid = Value::Array(vec![json!("a"); 5000]);
        let mut failures = Vec::new();
        push_schema_failures(&validator, &valid, In::Body, "", &mut failures);
        assert!(failures.is_empty());
    }

    #[test]
    fn instances_are_counted_only_as_far_as_needed() {
        let nested = json!({"a": [1, 2, {"b": [3]}], "c": null});
        // The object, a, 1, 2, the inner object, b, 3, c.
        assert!(!larger_than(&nested, 8));
        assert!(larger_than(&nested, 7));
        assert!(!larger_than(&json!(1), 1));
        assert!(larger_than(&Value::Array(vec![json!(1); 2000]), 1024));
    }

    #[test]
    fn problem_lists_failures_without_values() {
        let p = validation_problem(&[Failure::new(In::Body, "/age", "minimum")]);
        let body: Value = serde_json::from_slice(&p.to_json("r")).unwrap();
        assert_eq!(body["status"], 400);
        assert_eq!(
            body["errors"][0],
            json!({"in": "body", "pointer": "/age", "rule": "minimum"})
        );
    }
}
