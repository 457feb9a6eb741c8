//! Request validation of a matched operation: consumer allowlist of deprecated
//! operations, parameters, then the body (size, media type, structure limits,
//! schema, mass assignment).

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, COOKIE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue};
use rampart_core::{Problem, RequestCx};

use crate::compile::{Operation, essence, match_media};
use crate::engine::PathParams;
use crate::json::prescan;
use crate::lifecycle::Clock;
use crate::params::{Sources, parse_cookies, parse_query, parse_request_query};
use crate::problems::{
    BODY_TOO_LARGE, DEPRECATED_CONSUMER, Failure, In, OVERRIDE_NOT_ALLOWED, UNSUPPORTED_MEDIA_TYPE,
    push_schema_failures, push_segment, validation_problem,
};
use crate::{massign, overrides};

/// Checks `cx` against `op`; `Err` is the refusal. May rewrite `cx.body` (strip mode).
/// `clock` decides whether a deprecation's allowlist applies yet.
pub fn check(
    op: &Operation,
    path: &PathParams,
    cx: &mut RequestCx,
    clock: &dyn Clock,
) -> Result<(), Problem> {
    if let Some(allowed) = op.lifecycle.as_ref().and_then(|l| l.allowed_at(clock)) {
        let consumer = cx.identity.as_ref().map(|i| i.consumer.as_str());
        if !consumer.is_some_and(|c| allowed.iter().any(|a| a == c)) {
            return Err(Problem::new(DEPRECATED_CONSUMER));
        }
    }
    let mut failures = Vec::new();
    check_params(op, path, cx, &mut failures);
    check_body(op, cx, &mut failures)?;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(validation_problem(&failures))
    }
}

fn check_params(op: &Operation, path: &PathParams, cx: &RequestCx, failures: &mut Vec<Failure>) {
    let strict = op.policy.strict_query;
    let query = match cx
        .query
        .as_deref()
        .map(|q| parse_request_query(q, &op.params, strict))
    {
        None => Vec::new(),
        Some(Ok(q)) => q,
        Some(Err(rule)) => {
            failures.push(Failure::new(In::Query, "", rule));
            Vec::new()
        }
    };
    // Cookies are parsed only for operations that declare cookie parameters.
    let cookies = if op.params.iter().any(|p| p.location == In::Cookie) {
        let values: Option<Vec<&str>> = cx
            .headers
            .get_all(COOKIE)
            .iter()
            .map(|v| v.to_str().ok())
            .collect();
        // A Cookie field that is not visible ASCII is refused, not skipped:
        // skipped, the cookies in it reached the upstream unchecked.
        match values.ok_or("encoding").and_then(parse_cookies) {
            Ok(c) => c,
            Err(rule) => {
                failures.push(Failure::new(In::Cookie, "", rule));
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let src = Sources {
        path: path.sources(),
        query,
        headers: Some(&cx.headers),
        cookies,
    };
    for param in &op.params {
        let extra = op
            .policy
            .param_schemas
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&param.name))
            .map(|(_, v)| v.as_ref());
        param.check_with(&src, extra, Some(&op.policy), failures);
    }
    if op.policy.strict_query {
        for (key, _) in &src.query {
            if !op.params.iter().any(|p| p.owns_query_key(key)) {
                let mut pointer = String::new();
                push_segment(&mut pointer, key);
                failures.push(Failure::new(In::Query, &pointer, "undeclared"));
            }
        }
    }
}

/// Whether the headers announce a body.
pub fn announces_body(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

fn check_body(
    op: &Operation,
    cx: &mut RequestCx,
    failures: &mut Vec<Failure>,
) -> Result<(), Problem> {
    let len = cx.body.as_ref().map_or(0, Bytes::len);
    let present = len > 0 || announces_body(&cx.headers);
    if len > op.policy.max_body_bytes {
        return Err(Problem::new(BODY_TOO_LARGE));
    }
    let Some(spec) = &op.body else {
        if present {
            // No media type is declared for this operation.
            return Err(Problem::new(UNSUPPORTED_MEDIA_TYPE));
        }
        return Ok(());
    };
    if !present {
        if spec.required {
            failures.push(Failure::new(In::Body, "", "required"));
        }
        return Ok(());
    }
    // Content-Type is a singleton (RFC 9110 §8.3): with two, this check and
    // the upstream could each read another one.
    let mut types = cx.headers.get_all(CONTENT_TYPE).iter();
    let content_type = match (types.next(), types.next()) {
        (Some(only), None) => only.to_str().ok().map(essence),
        _ => None,
    }
    .ok_or_else(|| Problem::new(UNSUPPORTED_MEDIA_TYPE))?;
    let media = match_media(&spec.media, &content_type)
        .ok_or_else(|| Problem::new(UNSUPPORTED_MEDIA_TYPE))?;
    // Frameworks take `_method` from form and JSON bodies whatever the spec
    // says of them (JSON handled as such is checked once parsed, below).
    if let Some(body) = &cx.body
        && overrides::body_overrides(media, &content_type, &cx.headers, body)
    {
        return Err(Problem::new(OVERRIDE_NOT_ALLOWED));
    }
    if let Some(fields) = &media.form {
        return check_form(op, media, fields, cx, failures);
    }
    // Under a wildcard range the body's own type decides: a JSON body declared
    // as `*/*` must not skip the JSON checks.
    if !media.is_json(&content_type) {
        return Ok(());
    }
    let Some(body) = cx.body.clone() else {
        // Announced but not buffered: it exceeded what the gateway buffers.
        return Err(Problem::new(BODY_TOO_LARGE));
    };
    if let Err(e) = prescan(&body, &op.policy.limits) {
        failures.push(Failure::new(In::Body, "", e.rule()));
        return Ok(());
    }
    let mut value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            failures.push(Failure::new(In::Body, "", "json-syntax"));
            return Ok(());
        }
    };
    if overrides::json_overrides(&media.shapes, &value) {
        return Err(Problem::new(OVERRIDE_NOT_ALLOWED));
    }
    validate_body(media, op, &value, failures);
    let stripped = massign::stripped_members(&media.shapes, &mut value, &op.policy, failures);
    if !stripped.is_empty() && failures.is_empty() {
        note_stripped(cx);
        // The client's text minus the stripped members (order, number spelling and
        // wide integers kept); re-serialising the tree is only the fallback.
        let set = stripped.into_iter().collect();
        let bytes = crate::json::strip::remove_members(&body, &set)
            .unwrap_or_else(|| serde_json::to_vec(&value).unwrap_or_default());
        replace_body(&mut cx.headers, &mut cx.body, bytes);
    }
    Ok(())
}

/// A form body (`application/x-www-form-urlencoded`, decoded with the query rules, or
/// `multipart/form-data`): typed by the schema, then validated and walked for mass
/// assignment like JSON.
fn check_form(
    op: &Operation,
    media: &crate::compile::MediaSpec,
    fields: &crate::params::FormFields,
    cx: &mut RequestCx,
    failures: &mut Vec<Failure>,
) -> Result<(), Problem> {
    let Some(body) = cx.body.clone() else {
        return Err(Problem::new(BODY_TOO_LARGE));
    };
    let multipart = media.range == crate::compile::MULTIPART;
    let parsed = if multipart {
        let content_type = cx
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        crate::multipart::parse(content_type, &body)
    } else {
        std::str::from_utf8(&body)
            .map_err(|_| "encoding")
            .and_then(parse_query)
    };
    let pairs = match parsed {
        Ok(p) => p,
        Err(rule) => {
            failures.push(Failure::new(In::Body, "", rule));
            return Ok(());
        }
    };
    let mut value = serde_json::Value::Object(crate::params::form_object(pairs, fields, failures));
    validate_body(media, op, &value, failures);
    if multipart && op.policy.undeclared == crate::config::UndeclaredMode::Strip {
        // A multipart body is not re-encoded: what would be stripped is refused.
        let mut policy = op.policy.clone();
        policy.undeclared = crate::config::UndeclaredMode::Refuse;
        massign::check(&media.shapes, &mut value, &policy, failures);
        return Ok(());
    }
    let stripped = massign::check(&media.shapes, &mut value, &op.policy, failures);
    if stripped
        && failures.is_empty()
        && let serde_json::Value::Object(map) = &value
    {
        note_stripped(cx);
        let encoded = crate::params::form_encode(map);
        replace_body(&mut cx.headers, &mut cx.body, encoded.into_bytes());
    }
    Ok(())
}

/// The spec's schema, then the configuration's extra `request_schema`.
fn validate_body(
    media: &crate::compile::MediaSpec,
    op: &Operation,
    value: &serde_json::Value,
    failures: &mut Vec<Failure>,
) {
    let extra = op.policy.request_schema.as_deref();
    for validator in media.validator.iter().chain(extra) {
        push_schema_failures(validator, value, In::Body, "", failures);
    }
}

/// Records in the audit notes (without overriding another stage's reason) that the
/// body was forwarded with undeclared members removed.
fn note_stripped(cx: &mut RequestCx) {
    cx.notes
        .reason
        .get_or_insert_with(|| STRIPPED_REASON.to_string());
    metrics::counter!("rampart_openapi_request_bodies_stripped_total", "api" => cx.api.clone())
        .increment(1);
}

/// The audit reason of a request forwarded with undeclared members stripped.
pub const STRIPPED_REASON: &str = "undeclared-properties-stripped";

/// Replaces a message body and its framing: a fixed `Content-Length`, and no
/// `Transfer-Encoding` (both together would invite request smuggling downstream).
pub fn replace_body(headers: &mut HeaderMap, body: &mut Option<Bytes>, new: Vec<u8>) {
    headers.remove(TRANSFER_ENCODING);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(new.len()));
    *body = Some(Bytes::from(new));
}
