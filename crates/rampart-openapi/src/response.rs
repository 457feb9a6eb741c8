//! Response handling of a matched operation: error masking, uniform failures of
//! authentication endpoints, lifecycle headers (first, at `ErrorMasking`), and the
//! content-type check and body filtering (at `Filtering`).

use http::header::CONTENT_TYPE;
use rampart_core::{Problem, ProblemType, RequestCx, ResponseCx};

use crate::compile::{Operation, essence, match_media};
use crate::json::filter::{Rules, filter};
use crate::problems::{RESPONSE_NOT_DECLARED, UPSTREAM_ERROR, auth_failed};
use crate::request::announces_body;

/// Deepest nesting accepted in an upstream JSON body.
pub const MAX_RESPONSE_DEPTH: usize = 128;

/// Masks upstream errors and undeclared statuses; adds lifecycle headers.
pub fn mask(op: &Operation, auth_status: u16, response: &mut ResponseCx) -> Result<(), Problem> {
    let headers = op
        .lifecycle
        .as_ref()
        .map(|l| l.headers.as_slice())
        .unwrap_or_default();
    let with_headers = |mut p: Problem| {
        p.headers.extend(headers.iter().cloned());
        p
    };
    let status = response.status.as_u16();
    if response.status.is_server_error() {
        return Err(with_headers(Problem::new(UPSTREAM_ERROR)));
    }
    if op.policy.auth_endpoint && response.status.is_client_error() {
        return Err(with_headers(Problem::new(auth_failed(auth_status))));
    }
    // 304 carries no body and answers a conditional request: never masked.
    if op.response(status).is_none() && status != 304 {
        // An undeclared client error keeps its status (the client did something
        // wrong) with a generic body; an undeclared success or redirect is not
        // something the contract allows, so it becomes a 502.
        let kind = if response.status.is_client_error() {
            undeclared_with_status(status)
        } else {
            RESPONSE_NOT_DECLARED
        };
        return Err(with_headers(Problem::new(kind)));
    }
    for (name, value) in headers {
        response.headers.insert(name.clone(), value.clone());
    }
    Ok(())
}

/// The generic problem that replaces an undeclared response, keeping its status.
fn undeclared_with_status(status: u16) -> ProblemType {
    ProblemType::new(RESPONSE_NOT_DECLARED.slug, status, "Response not declared")
}

/// Whether the filter needs the body: a declared JSON media type answered, or
/// one the spec does not declare (or none) when no header says whether there
/// is a body.
/// The second is read only to learn whether there is a body at all: the
/// framing need not say (a chunked or close-delimited HTTP/1 body, whose
/// `Transfer-Encoding` the gateway's client consumes, or an HTTP/2 one), and an
/// undeclared body must not pass for want of a length header.
pub fn wants_body(op: &Operation, cx: &RequestCx, response: &ResponseCx) -> bool {
    if cx.method == http::Method::HEAD {
        return false;
    }
    let Some(spec) = op.response(response.status.as_u16()) else {
        return false;
    };
    let ct = response
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(essence);
    match ct.and_then(|ct| Some((match_media(&spec.media, &ct)?, ct))) {
        Some((media, ct)) => media.is_json(&ct),
        // A length header already says there is one: refused without reading.
        None => !known_empty(response) && !announces_body(&response.headers),
    }
}

/// A response whose status or `Content-Length: 0` says it has no body.
fn known_empty(response: &ResponseCx) -> bool {
    matches!(response.status.as_u16(), 204 | 304)
        || response
            .headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes().trim_ascii() == b"0")
}

/// Checks the content type and filters a JSON body.
pub fn filter_response(
    op: &Operation,
    cx: &RequestCx,
    response: &mut ResponseCx,
) -> Result<(), Problem> {
    let status = response.status.as_u16();
    let Some(spec) = op.response(status) else {
        return Ok(()); // the masking stage refuses these
    };
    let has_body =
        response.body.as_ref().is_some_and(|b| !b.is_empty()) || announces_body(&response.headers);
    if !has_body {
        return Ok(());
    }
    let ct = response
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(essence);
    let Some((media, ct)) = ct.and_then(|ct| Some((match_media(&spec.media, &ct)?, ct))) else {
        // A body the spec does not declare (an HTML error page, a stack trace):
        // replaced by a generic problem with the same status.
        return Err(Problem::new(undeclared_with_status(status)));
    };
    if !media.is_json(&ct) {
        return Ok(());
    }
    if cx.method == http::Method::HEAD {
        return Ok(()); // headers only: nothing to filter
    }
    let Some(body) = &response.body else {
        // A JSON body the gateway did not buffer (over its response buffer limit)
        // cannot be filtered: fail closed rather than pass it through unread.
        return Err(Problem::new(RESPONSE_NOT_DECLARED));
    };
    let roles = cx
        .identity
        .as_ref()
        .map(|i| i.roles.as_slice())
        .unwrap_or_default();
    let rules = Rules {
        roles,
        reveal: &op.policy.reveal,
        role_visible: &op.policy.role_visible,
        max_depth: MAX_RESPONSE_DEPTH,
    };
    let out =
        filter(body, &media.shapes, &rules).map_err(|_| Problem::new(RESPONSE_NOT_DECLARED))?;
    if out.removed > 0 {
        metrics::counter!("rampart_openapi_response_members_removed_total", "api" => cx.api.clone())
            .increment(out.removed as u64);
        crate::request::replace_body(&mut response.headers, &mut response.body, out.body);
    }
    Ok(())
}
