//! The authorization [`Stage`] at [`Phase::Authorization`].
//!
//! Order per request, cheapest and least revealing first: the operation must have
//! a rule (default deny, BFLA); a non-public operation needs an identity (401);
//! scopes (403 `insufficient_scope`), roles (403); step-up (401 RFC 9470
//! challenge); path-parameter ownership (403); Cedar policies (403). An operation
//! with a response-ownership rule leaves a check for [`Stage::on_response`], which
//! turns a response about someone else's object into a 404 before any byte of it
//! leaves the gateway.

use std::collections::HashMap;
use std::sync::Arc;

use rampart_core::{Phase, Problem, RequestCx, ResponseCx, ResponsePhase, Stage, Step, Verdict};

use crate::cedar::{CedarEngine, CedarFacts};
use crate::clock::Clock;
use crate::config::OperationRule;
use crate::problem;
use crate::route::OperationKey;
use crate::rules::{self, Expected};
use crate::spec_security::SpecRequirements;

/// A compiled operation.
#[derive(Debug, Clone)]
pub struct Operation {
    pub(crate) key: OperationKey,
    pub(crate) rule: OperationRule,
    /// The spec's `security` requirements, when they apply.
    pub(crate) spec: Option<SpecRequirements>,
}

/// Left in `cx.extensions` for the response side.
#[derive(Debug, Clone)]
struct ResponseOwnerCheck {
    operation: String,
    /// `None`: the caller has no owner claim, so nothing can be theirs.
    owner: Option<String>,
}

/// A refusal with its reason code for logs and metrics.
#[derive(Debug)]
struct Denial {
    reason: &'static str,
    // Boxed: refusals are the rare path; keep `Result<(), Denial>` small.
    problem: Box<Problem>,
}

fn deny(reason: &'static str, problem: Problem) -> Denial {
    Denial {
        reason,
        problem: Box::new(problem),
    }
}

/// The authorization stage (build it with [`crate::AuthzConfig::build`]).
pub struct AuthzStage {
    operations: HashMap<String, Operation>,
    cedar: Option<CedarEngine>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AuthzStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthzStage")
            .field("operations", &self.operations.len())
            .field("cedar_policies", &self.cedar.as_ref().map(CedarEngine::len))
            .finish()
    }
}

fn record(cx: &RequestCx, denial: Denial) -> Verdict {
    metrics::counter!("rampart_authz_denials_total", "reason" => denial.reason).increment(1);
    tracing::info!(request_id = %cx.request_id, reason = denial.reason, "authorization refused");
    Verdict::Respond(*denial.problem)
}

impl AuthzStage {
    pub(crate) fn new(
        operations: HashMap<String, Operation>,
        cedar: Option<CedarEngine>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            operations,
            cedar,
            clock,
        }
    }

    fn decide(&self, cx: &mut RequestCx) -> Result<(), Denial> {
        let Some(route) = cx.route.as_deref() else {
            return Err(deny("no-route", Problem::new(problem::NO_RULE)));
        };
        let Some(op) = self.operations.get(route) else {
            return Err(deny("no-rule", Problem::new(problem::NO_RULE)));
        };
        let rule = &op.rule;
        // The route stage matched this template; a mismatch means the two disagree
        // and we refuse rather than guess the parameters.
        let params = op
            .key
            .extract(&cx.path)
            .ok_or_else(|| deny("path-mismatch", Problem::new(problem::NO_RULE)))?;
        // A decision that reads path parameters (an owner rule, Cedar's
        // `resource.params`) vouches for each one as a single segment; one
        // that decodes to a path of its own (`docs/..%2F..%2Fglobex%2Fdocs%2F7`)
        // could name another object to an upstream that joins it.
        let reads_params = rule.owner.is_some()
            || (rule.cedar && self.cedar.as_ref().is_some_and(CedarEngine::reads_path));
        if reads_params && params.iter().any(|(_, value)| escapes_its_segment(value)) {
            return Err(deny(
                "ambiguous-parameter",
                Problem::new(problem::AMBIGUOUS_PARAMETER),
            ));
        }
        let now = self.clock.unix_secs();
        if let Some(identity) = &cx.identity {
            let missing = rules::missing_scopes(identity, &rule.scopes);
            if !missing.is_empty() {
                return Err(deny(
                    "insufficient-scope",
                    problem::insufficient_scope(&rule.scopes),
                ));
            }
            let client_cert = cx.tls.as_ref().is_some_and(|tls| tls.client_cert.is_some());
            if let Some(spec) = &op.spec
                && !spec.satisfied_by(identity, client_cert)
            {
                return Err(match spec.scopes_to_ask_for(identity, client_cert) {
                    Some(scopes) => deny("insufficient-scope", problem::insufficient_scope(scopes)),
                    None => deny("wrong-credential", Problem::new(problem::WRONG_CREDENTIAL)),
                });
            }
            if !rules::roles_ok(identity, &rule.roles) {
                return Err(deny("missing-role", Problem::new(problem::MISSING_ROLE)));
            }
            if let Some(step_up) = &rule.step_up
                && !step_up.satisfied(identity, now)
            {
                return Err(deny(
                    "step-up-required",
                    problem::step_up(&step_up.acr_values, step_up.max_age_seconds),
                ));
            }
            if let Some(owner) = &rule.owner
                && !owner.allows(identity, &params)
            {
                return Err(deny("not-owner", Problem::new(problem::NOT_OWNER)));
            }
        } else if !rule.public {
            return Err(deny("unauthenticated", problem::unauthenticated()));
        }
        if rule.cedar
            && let Some(cedar) = &self.cedar
        {
            let identity = cx.identity.as_ref();
            let tls = cx.tls.as_ref();
            let facts = CedarFacts {
                consumer: identity.map(|i| i.consumer.as_str()),
                method: identity.map_or("anonymous", |i| i.method.as_str()),
                scopes: identity.map_or(&[], |i| i.scopes.as_slice()),
                roles: identity.map_or(&[], |i| i.roles.as_slice()),
                plan: identity.and_then(|i| i.plan.as_deref()),
                claims: identity.map(|i| &i.claims),
                operation: route,
                api: &cx.api,
                path: &cx.path,
                params: &params,
                ip: cx.client_ip.to_string(),
                now,
                tls: tls.is_some(),
                tls_version: tls.map(|t| t.version.as_str()),
                client_cert_subject: tls
                    .and_then(|t| t.client_cert.as_ref())
                    .map(|c| c.subject.as_str()),
            };
            match cedar.is_allowed(&facts) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(deny("policy-denied", Problem::new(problem::POLICY_DENIED)));
                }
                Err(error) => {
                    tracing::warn!(%error, "cedar request could not be built; denying");
                    return Err(deny("policy-error", Problem::new(problem::POLICY_DENIED)));
                }
            }
        }
        if let (Some(owner_rule), Some(identity)) = (&rule.response_owner, &cx.identity) {
            let owner = match owner_rule.expected(identity) {
                Expected::Exempt => None,
                Expected::Owner(owner) => Some(Some(owner.into_owned())),
                Expected::NoClaim => Some(None),
            };
            if let Some(owner) = owner {
                if cx.method == http::Method::HEAD {
                    // A HEAD answer has no body to find the owner in: the
                    // check could only refuse, and a 404 would lie.
                    return Err(deny("head-not-checkable", problem::head_not_checkable()));
                }
                // The check needs the object in a 2xx body: a conditional or
                // partial request could be answered 304 or 206 instead, whose
                // headers (ETag, Last-Modified, length) tell someone else's
                // object from a missing one, the existence the 404 hides.
                // In any spelling: `If_None_Match` reaches Rack and PHP as
                // `HTTP_IF_NONE_MATCH`, the same as `If-None-Match`.
                let spelled: Vec<http::HeaderName> = cx
                    .headers
                    .keys()
                    .filter(|name| {
                        CONDITIONAL_FIELDS.iter().any(|field| {
                            rampart_core::names::is_spelling(
                                field.as_str(),
                                name.as_str().as_bytes(),
                            )
                        })
                    })
                    .cloned()
                    .collect();
                for name in spelled {
                    cx.headers.remove(name);
                }
                let check = ResponseOwnerCheck {
                    operation: route.to_owned(),
                    owner,
                };
                cx.extensions.insert(check);
            }
        }
        Ok(())
    }

    fn response_check<'a>(
        &'a self,
        cx: &'a RequestCx,
    ) -> Option<(&'a ResponseOwnerCheck, &'a Operation)> {
        let check = cx.extensions.get::<ResponseOwnerCheck>()?;
        Some((check, self.operations.get(&check.operation)?))
    }
}

/// Request fields that let an upstream answer without the whole object
/// (RFC 9110 §13 preconditions, §14 ranges): removed where the response's
/// owner is checked.
const CONDITIONAL_FIELDS: [http::HeaderName; 6] = [
    http::header::IF_NONE_MATCH,
    http::header::IF_MODIFIED_SINCE,
    http::header::IF_MATCH,
    http::header::IF_UNMODIFIED_SINCE,
    http::header::IF_RANGE,
    http::header::RANGE,
];

/// Whether a path parameter reaches beyond its own segment: a slash or
/// backslash (sent encoded), or a dot segment; or reads as two values: with a
/// `;`, Tomcat, Jetty and Spring see the text before it while Express, Go and
/// Rails see the whole, so an owner check of either vouches for neither. A value that did not decode is
/// kept as received (see [`crate::route::OperationKey::extract`]), so its
/// encoded separators are looked for too: `%FF` beside `..%2F` must not hide
/// them from this check while an upstream decodes them.
fn escapes_its_segment(value: &str) -> bool {
    let encoded_separator = value.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'2', b'f') | (b'5', b'c')
            )
    });
    value.contains(['/', '\\', ';']) || encoded_separator || value == ".." || value == "."
}

impl Stage for AuthzStage {
    fn name(&self) -> &'static str {
        "authz"
    }

    fn phase(&self) -> Phase {
        Phase::Authorization
    }

    fn on_request<'a>(&'a self, cx: &'a mut RequestCx) -> Step<'a> {
        match self.decide(cx) {
            Ok(()) => Step::CONTINUE,
            Err(denial) => Step::Done(record(cx, denial)),
        }
    }

    fn response_phase(&self) -> ResponsePhase {
        ResponsePhase::Inspection
    }

    fn wants_response_body(&self, cx: &RequestCx, response: &ResponseCx) -> bool {
        response.status.is_success() && self.response_check(cx).is_some()
    }

    fn on_response<'a>(&'a self, cx: &'a mut RequestCx, response: &'a mut ResponseCx) -> Step<'a> {
        if !response.status.is_success() {
            return Step::CONTINUE;
        }
        let Some((check, op)) = self.response_check(cx) else {
            return Step::CONTINUE;
        };
        let owned = match (&op.rule.response_owner, &check.owner, &response.body) {
            (Some(rule), Some(owner), Some(body)) => rule.body_owned_by(body, owner),
            // No owner claim, no rule, or a body that was not buffered (too large):
            // fail closed.
            _ => false,
        };
        if owned {
            Step::CONTINUE
        } else {
            let denial = deny("response-not-owner", Problem::new(problem::NOT_FOUND));
            Step::Done(record(cx, denial))
        }
    }
}
