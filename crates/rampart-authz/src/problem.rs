//! The refusals of the authorization stage. Nothing in them names the rule that
//! failed beyond what the client needs to fix its request (the missing scopes, the
//! step-up requirement), as the RFCs define.

use http::HeaderValue;
use http::header::WWW_AUTHENTICATE;
use rampart_core::{Problem, ProblemType};

/// A non-public operation called without an identity.
pub const UNAUTHENTICATED: ProblemType =
    ProblemType::new("authz-unauthenticated", 401, "Authentication required");
/// No rule grants this method on this path (default deny; BFLA).
pub const NO_RULE: ProblemType = ProblemType::new("authz-no-rule", 403, "Forbidden");
/// A required scope is missing.
pub const INSUFFICIENT_SCOPE: ProblemType =
    ProblemType::new("authz-insufficient-scope", 403, "Insufficient scope");
/// The caller presented none of the kinds of credential the operation's
/// OpenAPI `security` asks for (an API key, a client certificate): no scope
/// would help.
pub const WRONG_CREDENTIAL: ProblemType = ProblemType::new(
    "authz-wrong-credential",
    403,
    "Another kind of credential is required",
);
/// None of the required roles is held.
pub const MISSING_ROLE: ProblemType = ProblemType::new("authz-missing-role", 403, "Forbidden");
/// The object named in the path belongs to someone else (BOLA).
pub const NOT_OWNER: ProblemType = ProblemType::new("authz-not-owner", 403, "Forbidden");
/// On an operation with an ownership check, a path parameter that decodes
/// to more than one segment (an encoded `/` or `\`, or a dot segment).
pub const AMBIGUOUS_PARAMETER: ProblemType =
    ProblemType::new("authz-ambiguous-parameter", 400, "Bad request");
/// A Cedar policy denied the request.
pub const POLICY_DENIED: ProblemType = ProblemType::new("authz-policy-denied", 403, "Forbidden");
/// Stronger or more recent authentication is required (RFC 9470).
pub const STEP_UP_REQUIRED: ProblemType = ProblemType::new(
    "authz-step-up-required",
    401,
    "Stronger authentication required",
);
/// The response named an object the caller does not own; answered as not found so
/// its existence is not revealed.
pub const NOT_FOUND: ProblemType = ProblemType::new("authz-not-found", 404, "Not found");

/// A HEAD request to an operation whose ownership is checked on the
/// response body: a HEAD answer has none, so only GET can be answered.
pub const HEAD_NOT_CHECKABLE: ProblemType = ProblemType::new(
    "authz-head-not-checkable",
    405,
    "Method not allowed: use GET",
);

/// Every problem type of this crate.
pub const ALL: [ProblemType; 11] = [
    UNAUTHENTICATED,
    NO_RULE,
    INSUFFICIENT_SCOPE,
    WRONG_CREDENTIAL,
    MISSING_ROLE,
    NOT_OWNER,
    POLICY_DENIED,
    STEP_UP_REQUIRED,
    NOT_FOUND,
    HEAD_NOT_CHECKABLE,
    AMBIGUOUS_PARAMETER,
];

/// [`HEAD_NOT_CHECKABLE`], with `Allow: GET`.
pub fn head_not_checkable() -> Problem {
    let mut problem = Problem::new(HEAD_NOT_CHECKABLE);
    problem
        .headers
        .push((http::header::ALLOW, HeaderValue::from_static("GET")));
    problem
}

/// Quotes a value for an auth-param (RFC 9110 quoted-string); our values are
/// configuration tokens, but escape anyway.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn with_challenge(problem: Problem, challenge: &str) -> Problem {
    match HeaderValue::from_str(challenge) {
        Ok(value) => problem.with_header(WWW_AUTHENTICATE, value),
        Err(_) => problem.with_header(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"rampart\""),
        ),
    }
}

/// 401 for an anonymous call to a protected operation.
pub fn unauthenticated() -> Problem {
    with_challenge(Problem::new(UNAUTHENTICATED), "Bearer realm=\"rampart\"")
}

/// 403 `insufficient_scope` naming the scopes the operation needs (RFC 6750 §3.1).
pub fn insufficient_scope(required: &[String]) -> Problem {
    let challenge = format!(
        "Bearer realm=\"rampart\", error=\"insufficient_scope\", scope={}",
        quoted(&required.join(" "))
    );
    with_challenge(Problem::new(INSUFFICIENT_SCOPE), &challenge)
}

/// 401 `insufficient_user_authentication` (RFC 9470 §3) with `acr_values` and
/// `max_age` when the operation requires them.
pub fn step_up(acr_values: &[String], max_age: Option<u64>) -> Problem {
    let mut challenge = String::from(
        "Bearer realm=\"rampart\", error=\"insufficient_user_authentication\", \
         error_description=\"A different authentication level is required\"",
    );
    if !acr_values.is_empty() {
        challenge.push_str(", acr_values=");
        challenge.push_str(&quoted(&acr_values.join(" ")));
    }
    if let Some(max_age) = max_age {
        challenge.push_str(&format!(", max_age={max_age}"));
    }
    let mut problem = Problem::new(STEP_UP_REQUIRED);
    if !acr_values.is_empty() {
        problem = problem.with_extension("acr_values", serde_json::json!(acr_values));
    }
    if let Some(max_age) = max_age {
        problem = problem.with_extension("max_age", serde_json::json!(max_age));
    }
    with_challenge(problem, &challenge)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn header(problem: &Problem) -> &str {
        problem.headers[0].1.to_str().unwrap()
    }

    #[test]
    fn step_up_challenge_follows_rfc9470() {
        let p = step_up(
            &["urn:mace:incommon:iap:silver".into(), "mfa".into()],
            Some(300),
        );
        assert_eq!(p.kind.status, 401);
        assert_eq!(
            header(&p),
            "Bearer realm=\"rampart\", error=\"insufficient_user_authentication\", \
             error_description=\"A different authentication level is required\", \
             acr_values=\"urn:mace:incommon:iap:silver mfa\", max_age=300"
        );
    }

    #[test]
    fn scope_challenge_names_the_scopes() {
        let p = insufficient_scope(&["pets:write".into(), "a\"b".into()]);
        assert_eq!(
            header(&p),
            "Bearer realm=\"rampart\", error=\"insufficient_scope\", scope=\"pets:write a\\\"b\""
        );
    }
}
