//! The two [`Stage`]s the gateway registers for an API with a spec.
//!
//! - [`RouteStage`] at [`Phase::Route`]: inventory (404/405), sunset (410); sets
//!   `cx.route` and puts [`MatchedOperation`] and [`PathParams`] in `cx.extensions`;
//!   refuses method overrides in headers and the query and removes URL overrides
//!   (see [`crate::overrides`]).
//!   On the response, at [`ResponsePhase::ErrorMasking`]: 5xx and undeclared statuses
//!   become generic problems, authentication endpoints answer every 4xx identically,
//!   and deprecation headers are added. On authentication operations it leaves a
//!   [`crate::LoginOperation`] mark and, with a `username_field`, reads the body
//!   and leaves a [`crate::LoginIdentifier`], both for the lock-out.
//! - [`ValidationStage`] at [`Phase::Validation`] (after authentication, so the
//!   consumer allowlist sees the identity): parameters and body. On the response, at
//!   [`ResponsePhase::Filtering`]: content type check and body filtering.

use std::sync::Arc;

use rampart_core::{Phase, Problem, RequestCx, ResponseCx, ResponsePhase, Stage, Step, Verdict};

use crate::compile::Operation;
use crate::engine::{MatchedOperation, OpenApi, PathParams, Routed};
use crate::problems::{SUNSET, auth_failed};
use crate::{login, overrides, request, response};

/// Inventory and error masking.
#[derive(Debug, Clone)]
pub struct RouteStage {
    api: Arc<OpenApi>,
}

/// Parameter and body validation, response filtering.
#[derive(Debug, Clone)]
pub struct ValidationStage {
    api: Arc<OpenApi>,
}

impl RouteStage {
    /// A route stage over `api`.
    pub fn new(api: Arc<OpenApi>) -> Self {
        Self { api }
    }
}

impl ValidationStage {
    /// A validation stage over `api`.
    pub fn new(api: Arc<OpenApi>) -> Self {
        Self { api }
    }
}

/// A bounded label for a method: custom methods are one series, not one each.
fn method_label(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

fn refuse(problem: Problem) -> Step<'static> {
    Step::Done(Verdict::Respond(problem))
}

/// The operation of this request: from the route stage's annotation, or matched
/// again when the route stage did not run (or ran on a previous build).
fn operation<'a>(api: &'a OpenApi, cx: &mut RequestCx) -> Option<&'a Operation> {
    if let Some(op) = cx
        .extensions
        .get::<MatchedOperation>()
        .and_then(|m| api.operation(m))
    {
        return Some(op);
    }
    match api.route(&cx.method, &cx.path) {
        Routed::Found(m, params) => {
            cx.route = Some(m.route.clone());
            cx.extensions.insert(params);
            cx.extensions.insert(m.clone());
            api.operation(&m)
        }
        Routed::Refused(_) => None,
    }
}

/// As [`operation`], without annotating the request.
fn lookup<'a>(api: &'a OpenApi, cx: &RequestCx) -> Option<&'a Operation> {
    if let Some(op) = cx
        .extensions
        .get::<MatchedOperation>()
        .and_then(|m| api.operation(m))
    {
        return Some(op);
    }
    match api.route(&cx.method, &cx.path) {
        Routed::Found(m, _) => api.operation(&m),
        Routed::Refused(_) => None,
    }
}

impl Stage for RouteStage {
    fn name(&self) -> &'static str {
        "openapi-route"
    }

    fn phase(&self) -> Phase {
        Phase::Route
    }

    fn request_body_limit(&self, cx: &RequestCx) -> Option<usize> {
        // Only login operations with a `username_field`: the lock-out (next phase)
        // needs the identifier before authentication. This body is read before the
        // pre-authentication rate limits run, so it is capped well below the usual
        // body limit: credentials are small.
        if !self.api.has_login_fields {
            return None;
        }
        let op = lookup(&self.api, cx)?;
        op.policy
            .username_field
            .as_ref()
            .map(|_| op.policy.max_body_bytes.min(crate::login::MAX_LOGIN_BODY))
    }

    fn on_request<'a>(&'a self, cx: &'a mut RequestCx) -> Step<'a> {
        match self.api.route(&cx.method, &cx.path) {
            Routed::Refused(problem) => {
                // Shadow API traffic: recorded in the audit record (with the full path)
                // under its slug, and counted. The counter is labelled by API, method
                // and slug only: labelling by request path would let a client create
                // unbounded metric series.
                cx.notes.reason = Some(problem.kind.slug.to_string());
                metrics::counter!(
                    "rampart_openapi_undeclared_requests_total",
                    "api" => cx.api.clone(),
                    "method" => method_label(&cx.method),
                    "reason" => problem.kind.slug,
                )
                .increment(1);
                refuse(problem)
            }
            Routed::Found(m, params) => {
                let op = self.api.operation(&m);
                if op.is_some_and(|o| o.policy.auth_endpoint) {
                    cx.extensions.insert(login::LoginOperation);
                }
                if let (Some(o), Some(body)) = (op, cx.body.as_ref())
                    && let Some(pointer) = &o.policy.username_field
                    && let Some(id) = login::extract(&cx.headers, body, pointer, &o.policy.limits)
                {
                    cx.extensions.insert(id);
                }
                if let Err(p) = overrides::check_head(op, &cx.headers, cx.query.as_deref()) {
                    return refuse(p);
                }
                overrides::remove_url_overrides(op, &mut cx.headers);
                cx.route = Some(m.route.clone());
                cx.extensions.insert(params);
                cx.extensions.insert(m);
                if let Some(l) = op.and_then(|o| o.lifecycle.as_ref())
                    && l.is_sunset(crate::lifecycle::unix_now(self.api.clock.as_ref()))
                {
                    let mut p = Problem::new(SUNSET);
                    p.headers.extend(l.headers.iter().cloned());
                    return refuse(p);
                }
                Step::CONTINUE
            }
        }
    }

    fn response_phase(&self) -> ResponsePhase {
        ResponsePhase::ErrorMasking
    }

    fn on_response<'a>(&'a self, cx: &'a mut RequestCx, resp: &'a mut ResponseCx) -> Step<'a> {
        let Some(op) = operation(&self.api, cx) else {
            return Step::CONTINUE;
        };
        match response::mask(op, self.api.auth_status, resp) {
            Ok(()) => Step::CONTINUE,
            Err(p) => refuse(p),
        }
    }
}

/// An HTTP/2 (or later) request without `Content-Length`: it may carry a body
/// no header announces (DATA frames need none), so an operation that declares
/// no body still reads it to refuse one. An HTTP/1 request without
/// `Content-Length` or `Transfer-Encoding` has none.
fn body_unannounced(cx: &RequestCx) -> bool {
    cx.version >= http::Version::HTTP_2 && !cx.headers.contains_key(http::header::CONTENT_LENGTH)
}

impl Stage for ValidationStage {
    fn name(&self) -> &'static str {
        "openapi-validation"
    }

    fn phase(&self) -> Phase {
        Phase::Validation
    }

    fn request_body_limit(&self, cx: &RequestCx) -> Option<usize> {
        let op = lookup(&self.api, cx)?;
        (op.body.is_some() || body_unannounced(cx)).then_some(op.policy.max_body_bytes)
    }

    fn on_request<'a>(&'a self, cx: &'a mut RequestCx) -> Step<'a> {
        let Some(op) = operation(&self.api, cx) else {
            // The route stage refuses undeclared routes; without it, refuse here too.
            return match self.api.route(&cx.method, &cx.path) {
                Routed::Refused(p) => refuse(p),
                Routed::Found(..) => Step::CONTINUE,
            };
        };
        let params = cx
            .extensions
            .get::<PathParams>()
            .cloned()
            .unwrap_or_default();
        match request::check(op, &params, cx, self.api.clock.as_ref()) {
            Ok(()) => Step::CONTINUE,
            Err(p) if op.policy.auth_endpoint && p.kind.status_code().is_client_error() => {
                // One identical answer: a probe cannot tell which check failed.
                refuse(Problem::new(auth_failed(self.api.auth_status)))
            }
            Err(p) => refuse(p),
        }
    }

    fn response_phase(&self) -> ResponsePhase {
        ResponsePhase::Filtering
    }

    fn wants_response_body(&self, cx: &RequestCx, resp: &ResponseCx) -> bool {
        lookup(&self.api, cx).is_some_and(|op| response::wants_body(op, cx, resp))
    }

    fn on_response<'a>(&'a self, cx: &'a mut RequestCx, resp: &'a mut ResponseCx) -> Step<'a> {
        let Some(op) = operation(&self.api, cx) else {
            return Step::CONTINUE;
        };
        match response::filter_response(op, cx, resp) {
            Ok(()) => Step::CONTINUE,
            Err(p) => refuse(p),
        }
    }
}
