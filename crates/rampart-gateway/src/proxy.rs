//! The request path: checks, routing, the stage runner, forwarding, response
//! stages, and the audit record. One call of [`handle`] per request.

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::uri::PathAndQuery;
use http::{
    HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header, request::Parts,
};
use http_body::Body as _;
use http_body_util::{BodyExt, Empty, Full, Limited};
use rampart_audit::{AuditRecord, Decision};
use rampart_core::stage::RESPONSE_BUFFER_LIMIT;
use rampart_core::{Problem, RequestCx, ResponseCx, TlsInfo, Verdict};

use crate::body::{BodyEnd, CountingBody, HeadLines, OnBodyDone, PrefixedBody, ResponseBody};
use crate::fields::{FieldsView, Known, OutgoingFields, RawFields, UpstreamHead};
use crate::h1client::response::{HeadersAs, RawHeaders};
use crate::h1server::InboundBody;
use crate::headers::{self, X_REQUEST_ID};
use crate::normalize::normalize_path;
use crate::problems::{GatewayError, problem_response};
use crate::runtime::{ApiRuntime, Runtime};
use crate::upstream::{PooledBody, UpstreamRequestError};
use crate::{BoxError, Gateway};

/// Facts about the client connection a request arrived on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// TCP peer.
    pub peer: SocketAddr,
    /// TLS facts (None on plain listeners).
    pub tls: Option<TlsInfo>,
    /// `Strict-Transport-Security` value for TLS listeners.
    pub hsts: Option<HeaderValue>,
    /// Responses finished on this connection (read by the HTTP/1 guard).
    pub responses_done: Arc<AtomicU64>,
    /// The peer for `X-Forwarded-For` (its header value made once).
    pub forwarded: headers::ForwardedPeer,
    /// Responses go out through Rampart's own HTTP/1 server, which can write
    /// upstream headers passed through as lines
    /// ([`HeadersAs::Lines`](crate::h1client::response::HeadersAs)).
    pub writes_header_lines: bool,
}

/// What the audit record needs that is known only as the request progresses.
struct Outcome {
    status: StatusCode,
    decision: Decision,
    reason: Option<Cow<'static, str>>,
    upstream_ms: Option<f64>,
    /// The upstream's header lines, when they pass through as lines.
    raw_headers: Option<RawHeaders>,
}

/// Everything needed to write the audit record once the response body is done.
struct AuditDraft {
    runtime: Arc<Runtime>,
    started: Instant,
    /// Boxed apart from the draft: it goes to the audit queue as it is (a
    /// pointer moves, not ~500 bytes).
    record: Box<AuditRecord>,
    /// Request body bytes received, counted as the body is read; `None` for
    /// requests without a body or with one received whole with the head
    /// (already in the record).
    bytes_in: Option<Arc<AtomicU64>>,
    responses_done: Arc<AtomicU64>,
    /// Held until the response body ends (or is dropped), not just its head: the
    /// gateway's in-flight slot and whatever stages left in the request's
    /// extensions (rate-limit concurrency guards), so a slow streamed response
    /// still counts as in flight.
    in_flight: Option<tokio::sync::OwnedSemaphorePermit>,
    held: Option<http::Extensions>,
}

impl OnBodyDone for AuditDraft {
    fn done(self: Box<Self>, bytes_out: u64, end: BodyEnd) {
        let AuditDraft {
            runtime,
            started,
            mut record,
            bytes_in,
            responses_done,
            in_flight,
            held,
        } = *self;
        drop((in_flight, held));
        responses_done.fetch_add(1, Ordering::Release);
        // The head (and its status) went out already: the record says the
        // response was cut short by a stalled or broken upstream.
        let cut = match end {
            BodyEnd::UpstreamTimeout => Some((GatewayError::UpstreamTimeout, "body_timeout")),
            BodyEnd::UpstreamFailed => Some((GatewayError::UpstreamUnreachable, "body_error")),
            BodyEnd::Complete | BodyEnd::Abandoned => None,
        };
        if let Some((cause, kind)) = cut {
            record.decision = Decision::Error;
            record.reason = Some(Cow::Borrowed(cause.problem().kind.slug));
            metrics::counter!("rampart_upstream_errors_total", "api" => record.api.clone().unwrap_or_default(), "kind" => kind).increment(1);
        }
        let elapsed = started.elapsed();
        record.bytes_out = bytes_out;
        if let Some(counter) = bytes_in {
            record.bytes_in = counter.load(Ordering::Relaxed);
        }
        record.duration_ms = elapsed.as_secs_f64() * 1000.0;
        crate::telemetry::RequestMetrics::global().record(
            record.api.as_deref().unwrap_or("-"),
            record.route.as_deref().unwrap_or("-"),
            record.status,
            record.decision.as_str(),
            elapsed.as_secs_f64(),
        );
        runtime.audit.submit_boxed(record);
    }
}

/// Serves one request. Never fails: every error becomes a problem response.
/// The request comes as its head and body (not a `Request` made of them and
/// taken apart here: two copies of the ~220-byte head per request).
/// `admit: false` refuses it (503 `connection-overloaded`, audited) without
/// running anything: its connection has too many requests running already.
pub async fn handle(
    gateway: Arc<Gateway>,
    conn: Arc<ConnInfo>,
    mut parts: Parts,
    body: InboundBody,
    fields: Option<RawFields>,
    admit: bool,
) -> Result<Response<ResponseBody>, Infallible> {
    let started = Instant::now();
    let ts = crate::wall_clock::system_time_at(started);
    let runtime = gateway.runtime();
    let view = fields
        .as_ref()
        .map_or(FieldsView::Map(&parts.headers), FieldsView::Raw);
    let request_id = headers::request_id_from(view.first_known(Known::XRequestId));
    // One copy of the id for every header that carries it (response, upstream).
    let id_header = HeaderValue::from_str(&request_id).ok();
    let peer_trusted = is_trusted(&runtime, conn.peer.ip());
    let client_ip = if peer_trusted {
        headers::client_ip_from(
            conn.peer.ip(),
            view.known(Known::XForwardedFor),
            &runtime.config.trusted_proxies,
        )
    } else {
        conn.peer.ip()
    };
    // Only a body still arriving needs a counter shared with the upstream
    // side; one received whole is counted now.
    let received_whole = body.received_whole();
    let bytes_in =
        (received_whole.is_none() && !body.is_end_stream()).then(|| Arc::new(AtomicU64::new(0)));
    // Boxed from the start: the response body owns it in the end, and a box
    // moves as a pointer. Written into their boxes (`Box::new` built the
    // ~500-byte record on the stack and copied it).
    let record = Box::write(
        Box::new_uninit(),
        AuditRecord {
            ts,
            request_id: String::new(),
            client_ip,
            method: rampart_audit::record::method_name(parts.method.as_str()),
            host: String::new(),
            path: String::new(),
            query: None,
            api: None,
            route: None,
            status: 0,
            bytes_in: received_whole.unwrap_or(0),
            bytes_out: 0,
            duration_ms: 0.0,
            upstream_ms: None,
            decision: Decision::Deny,
            reason: None,
            identity: None,
            waf: Default::default(),
        },
    );
    let mut draft = Box::new(AuditDraft {
        record,
        runtime: runtime.clone(),
        started,
        bytes_in: bytes_in.clone(),
        responses_done: conn.responses_done.clone(),
        in_flight: None,
        held: None,
    });

    if admit {
        draft.in_flight = runtime.in_flight.clone().try_acquire_owned().ok();
    }
    let (host, host_header_ok) = host_of(&parts, view);
    let host = host.unwrap_or_default();
    let served = if draft.in_flight.is_some() {
        let mut request = Inbound {
            parts: &mut parts,
            fields,
            body,
            request_id,
            id_header: id_header.as_ref(),
            host,
            client_ip,
            peer_trusted,
            host_header_ok,
            started,
        };
        // Boxed: the request's future is large, and hyper moves the handler's
        // future around; a pointer moves cheaper than kilobytes. Made in its
        // box: `Box::pin(serve(..))` built it on the stack and copied its
        // 4.4 KB into the box, once per request.
        let boxed = Box::write(
            Box::new_uninit(),
            serve(&runtime, &conn, &mut request, bytes_in.as_ref()),
        );
        Box::into_pin(boxed).await
    } else {
        Err(Refusal {
            problem: if admit {
                GatewayError::Overloaded
            } else {
                GatewayError::ConnectionOverloaded
            }
            .problem(),
            cx: None,
            decision: Decision::Deny,
            request_id,
            host,
            upstream_ms: None,
        })
    };
    let (response, outcome, cx) = match served {
        Ok((response, outcome, cx)) => (response, outcome, Some(cx)),
        // A request refused before it had a context is recorded with its
        // target as received (`serve` only reads the URI).
        Err(refusal) => refused(&runtime, &mut draft, refusal, &parts.uri),
    };
    let Some(cx) = cx else {
        // Refused before routing: the record is complete.
        return Ok(finish(&gateway, &conn, draft, outcome, response, id_header));
    };
    let record = &mut draft.record;
    record.request_id = cx.request_id;
    record.host = cx.host;
    // The request is answered: the path was forwarded as it came; the
    // record's copy loses session ids in path parameters.
    record.path = runtime.redactor.redact_path(cx.path);
    record.query = cx.query.map(|q| runtime.redactor.redact_owned(q));
    record.api = Some(cx.api).filter(|api| !api.is_empty());
    record.route = cx.route;
    // Moved only when there is one: the ~200 bytes of an empty one were
    // copied twice per anonymous request.
    if cx.identity.is_some() {
        record.identity = cx.identity;
    }
    record.waf = cx.notes.waf;
    record.reason = cx.notes.reason.map(Cow::Owned);
    draft.held = Some(cx.extensions);
    Ok(finish(&gateway, &conn, draft, outcome, response, id_header))
}

/// The problem response for a refused request, with its outcome and context;
/// for one refused before it had a context, the record takes the raw target
/// and no context comes back. Kept out of line: the request path's code
/// stays compact for the instruction cache.
#[cold]
#[inline(never)]
fn refused(
    runtime: &Runtime,
    draft: &mut AuditDraft,
    refusal: Refusal,
    uri: &Uri,
) -> (
    Response<crate::upstream::UpstreamBody>,
    Outcome,
    Option<Box<RequestCx>>,
) {
    let outcome = Outcome {
        status: refusal.problem.kind.status_code(),
        decision: refusal.decision,
        reason: Some(Cow::Borrowed(refusal.problem.kind.slug)),
        upstream_ms: refusal.upstream_ms,
        raw_headers: None,
    };
    match refusal.cx {
        Some(cx) => {
            let response = problem_response(&refusal.problem, &cx.request_id).map(full);
            (response, outcome, Some(cx))
        }
        None => {
            let record = &mut draft.record;
            record.request_id = refusal.request_id;
            record.host = refusal.host;
            record.path = runtime.redactor.redact_path(uri.path().to_string());
            record.query = uri.query().map(|q| runtime.redactor.redact(q));
            let response = problem_response(&refusal.problem, &record.request_id);
            (response.map(full), outcome, None)
        }
    }
}

/// Completes the response: the request id, HSTS, `Connection: close` while
/// draining, and the body that writes the audit record when it ends.
fn finish(
    gateway: &Gateway,
    conn: &ConnInfo,
    mut draft: Box<AuditDraft>,
    outcome: Outcome,
    response: Response<crate::upstream::UpstreamBody>,
    id_header: Option<HeaderValue>,
) -> Response<ResponseBody> {
    let record = &mut draft.record;
    record.status = outcome.status.as_u16();
    record.decision = outcome.decision;
    record.reason = outcome.reason.or(record.reason.take());
    record.upstream_ms = outcome.upstream_ms;

    let (mut parts, body) = response.into_parts();
    // With the upstream's headers as lines, the id goes as a line too (the
    // response's map then stays empty: no allocation for one header).
    let head_lines = match outcome.raw_headers {
        Some(upstream) => {
            // An upstream's own id stays in the map (not among the lines):
            // ours replaces it. (Nearly always empty: no lookup then.)
            parts.headers.remove(&X_REQUEST_ID);
            Some(HeadLines {
                upstream,
                request_id: id_header,
            })
        }
        None => {
            if let Some(value) = id_header {
                parts.headers.insert(X_REQUEST_ID.clone(), value);
            }
            None
        }
    };
    if let Some(hsts) = &conn.hsts {
        parts
            .headers
            .insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    if gateway.is_draining() && parts.version < Version::HTTP_2 {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Response::from_parts(
        parts,
        ResponseBody::new(body, Some(draft)).with_head_lines(head_lines),
    )
}

/// A request as it reaches [`serve`].
struct Inbound<'a> {
    /// The head (in [`handle`]'s state: not copied again); its map is empty
    /// when `fields` holds the header fields.
    parts: &'a mut Parts,
    fields: Option<RawFields>,
    body: InboundBody,
    request_id: String,
    /// Borrowed from [`handle`], which writes it on the response: cloning a
    /// `HeaderValue` made from a copy allocated a shared header for it.
    id_header: Option<&'a HeaderValue>,
    host: String,
    client_ip: IpAddr,
    peer_trusted: bool,
    /// The `Host` header parsed as an authority when `host` was taken from it.
    host_header_ok: bool,
    /// When [`handle`] began (the head read): the request context's
    /// `received_at`.
    started: Instant,
}

/// A request answered by Rampart itself, with the context when one was made (or
/// the id and host it would have had).
struct Refusal {
    problem: Problem,
    cx: Option<Box<RequestCx>>,
    decision: Decision,
    request_id: String,
    host: String,
    /// Set when a response stage refused the upstream's answer: the
    /// upstream was reached and acted, and the record must say so.
    upstream_ms: Option<f64>,
}

/// The response, its outcome, and the request's context (boxed: it is large and
/// moves through several futures).
type Served = (
    Response<crate::upstream::UpstreamBody>,
    Outcome,
    Box<RequestCx>,
);

/// Reads an upstream response body into memory, up to `limit` bytes (plus the
/// rest of the frame that crosses it). Returns the bytes read and, when the
/// body is longer than `limit`, the unread rest of the stream. Trailers are
/// dropped, as for any buffered body.
async fn buffer_response(
    mut incoming: PooledBody,
    limit: usize,
) -> Result<(Bytes, Option<PooledBody>), BoxError> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    let truncated = loop {
        let Some(frame) = incoming.frame().await else {
            break false;
        };
        if let Ok(data) = frame?.into_data() {
            len = len.saturating_add(data.len());
            chunks.push(data);
            if len > limit {
                break true;
            }
        }
    };
    // One frame (the usual case for small bodies) is kept without a copy.
    let bytes = if chunks.len() == 1 {
        chunks.pop().unwrap_or_default()
    } else {
        let mut joined = BytesMut::with_capacity(len);
        for chunk in &chunks {
            joined.extend_from_slice(chunk);
        }
        joined.freeze()
    };
    Ok((bytes, truncated.then_some(incoming)))
}

pub(crate) fn full(bytes: Bytes) -> crate::upstream::UpstreamBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

fn is_trusted(runtime: &Runtime, ip: IpAddr) -> bool {
    runtime
        .config
        .trusted_proxies
        .iter()
        .any(|net| net.contains(&ip))
}

/// The host a request addressed, lower-case, without port; `None` when absent.
/// Also whether the (first) `Host` header was parsed and is a valid
/// authority, which [`check_head`] then need not parse again.
fn host_of(parts: &Parts, fields: FieldsView<'_>) -> (Option<String>, bool) {
    if let Some(authority) = parts.uri.authority() {
        return (Some(authority.host().to_ascii_lowercase()), false);
    }
    let value = fields.first_known(Known::Host);
    if let Some(host) = value.and_then(plain_host) {
        return (Some(host), true);
    }
    let parsed = value
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(|value| value.parse::<http::uri::Authority>().ok());
    match parsed {
        Some(authority) => (Some(authority.host().to_ascii_lowercase()), true),
        None => (None, false),
    }
}

/// The lower-case host of a `Host` value that is a plain name or IPv4 address
/// with an optional port (`api.example.com`, `127.0.0.1:8080`): nearly every
/// request's. Such a value is always a valid authority with that host, so the
/// authority parse (a copy, a validation pass and a host search) is skipped;
/// anything else (IPv6 literals, user info, odd characters) returns `None` and
/// takes the full parse.
fn plain_host(value: &[u8]) -> Option<String> {
    let (host, port) = match value.iter().position(|&b| b == b':') {
        Some(colon) => (value.get(..colon)?, value.get(colon + 1..)?),
        None => (value, &[][..]),
    };
    let host_ok = !host.is_empty()
        && host
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok = value.len() == host.len()
        || ((1..=5).contains(&port.len()) && port.iter().all(u8::is_ascii_digit));
    if !(host_ok && port_ok) {
        return None;
    }
    // Only ASCII letters, digits, `.` and `-`: valid UTF-8.
    std::str::from_utf8(host).ok().map(str::to_ascii_lowercase)
}

/// Protocol checks hyper does not already make. `host_header_ok`: the first
/// `Host` header is known to parse as an authority ([`host_of`]).
fn check_head(
    parts: &Parts,
    fields: FieldsView<'_>,
    runtime: &Runtime,
    host_header_ok: bool,
) -> Result<(), GatewayError> {
    if parts.method == http::Method::CONNECT {
        return Err(GatewayError::MethodNotSupported);
    }
    let limits = &runtime.config.limits;
    let target_len = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if target_len > limits.max_uri_length {
        return Err(GatewayError::UriTooLong);
    }
    if fields.len() > limits.max_headers {
        return Err(GatewayError::HeadersTooLarge);
    }
    // RFC 9112 §3.2: no Host in HTTP/1.1, several, or an unusable one is a 400.
    let mut hosts = fields.known(Known::Host);
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return Err(GatewayError::Malformed),
        (None, None) if parts.version == Version::HTTP_11 => return Err(GatewayError::Malformed),
        (Some(host), None)
            if !host_header_ok
                && (host.is_empty()
                    || std::str::from_utf8(host)
                        .ok()
                        .and_then(|h| h.parse::<http::uri::Authority>().ok())
                        .is_none()) =>
        {
            return Err(GatewayError::Malformed);
        }
        // Routing follows the target's authority (h2's `:authority`, an
        // HTTP/1 absolute-form target) while stages and the upstream may read
        // `Host`: the two must name the same host (RFC 9113 §8.3.1 calls a
        // disagreement malformed), or a WAF exclusion or policy keyed on Host
        // would be decided for another host than the one routed to.
        (Some(host), None)
            if parts.uri.authority().is_some_and(|authority| {
                !std::str::from_utf8(host)
                    .ok()
                    .and_then(|h| h.parse::<http::uri::Authority>().ok())
                    .is_some_and(|h| h.host().eq_ignore_ascii_case(authority.host()))
            }) =>
        {
            return Err(GatewayError::Malformed);
        }
        _ => {}
    }
    // The HTTP/1 parse (Rampart's server, or hyper behind the guard) refuses
    // non-chunked codings, conflicting Content-Length, obs-fold and bad field
    // names and values; h2 requests come through hyper's checks. A
    // Transfer-Encoding that survives to here must be exactly `chunked`.
    for coding in fields.known(Known::TransferEncoding) {
        if !coding.eq_ignore_ascii_case(b"chunked") {
            return Err(GatewayError::Malformed);
        }
    }
    Ok(())
}

/// Serves a routed request. `request` is borrowed from [`handle`]'s state, not
/// moved into this future: the ~450-byte request was copied in, then its
/// head out again. What is taken from it is taken by `std::mem::take` and
/// the like (an empty `String` or header map costs no allocation).
async fn serve(
    runtime: &Arc<Runtime>,
    conn: &ConnInfo,
    request: &mut Inbound<'_>,
    bytes_in: Option<&Arc<AtomicU64>>,
) -> Result<Served, Refusal> {
    let Inbound {
        parts,
        fields,
        body,
        request_id,
        id_header,
        host,
        client_ip,
        peer_trusted,
        host_header_ok,
        started,
    } = request;
    let (client_ip, peer_trusted, started) = (*client_ip, *peer_trusted, *started);
    let request_id = std::mem::take(request_id);
    let host = std::mem::take(host);
    let refused = |error: GatewayError, request_id: String, host: String| Refusal {
        problem: error.problem(),
        cx: None,
        decision: Decision::Deny,
        request_id,
        host,
        upstream_ms: None,
    };
    let view = fields
        .as_ref()
        .map_or(FieldsView::Map(&parts.headers), FieldsView::Raw);
    if let Err(error) = check_head(parts, view, runtime, *host_header_ok) {
        return Err(refused(error, request_id, host));
    }
    let Ok(path) = normalize_path(parts.uri.path()) else {
        return Err(refused(GatewayError::Malformed, request_id, host));
    };
    let Some(api) = runtime.route(&host, &path) else {
        return Err(refused(GatewayError::RouteNotFound, request_id, host));
    };

    // An empty path for `new`: it would copy it as the raw target, set below.
    // Written into its box, not built on the stack and copied (~780 bytes).
    let mut cx = Box::write(
        Box::new_uninit(),
        RequestCx::new(
            request_id,
            conn.peer,
            std::mem::replace(&mut parts.method, Method::GET),
            String::new(),
        ),
    );
    cx.path = path;
    cx.client_ip = client_ip;
    cx.tls = conn.tls.clone();
    cx.host = host;
    cx.query = parts.uri.query().map(str::to_string);
    cx.version = parts.version;
    cx.received_at = Some(started);
    // Only stages read the raw target (the WAF's REQUEST_URI): an API without
    // any is spared the copy.
    if !api.stages.is_empty() {
        cx.raw_target = parts
            .uri
            .path_and_query()
            .map_or_else(|| cx.path.clone(), |target| target.as_str().to_string());
    }
    cx.api = api.config.name.clone();
    // Stages (the WAF above all) see the headers as sent, hop-by-hop ones
    // included; those are removed just before forwarding. Raw fields stay raw
    // only when nothing will read them and they can go upstream as lines.
    let raw_fields = match fields.take() {
        Some(raw)
            if api.forwards_raw_fields()
                && crate::fields::lines_fit(peer_trusted, api.response_stages, &raw) =>
        {
            Some(raw)
        }
        Some(raw) => {
            cx.headers = match raw.to_map(6) {
                Ok(map) => map,
                Err(error) => return Err(Refusal::with_cx(error.problem(), cx, Decision::Deny)),
            };
            None
        }
        None => {
            // Swapped: the context's empty map goes back (no map made).
            std::mem::swap(&mut cx.headers, &mut parts.headers);
            None
        }
    };

    let mut body = Some(std::mem::replace(body, InboundBody::Empty));
    if !api.stages.is_empty() {
        // Boxed: the stages' code and state stay out of the path of APIs
        // without stages (and the request's future smaller for all).
        let body_read_timeout = runtime.config.limits.body_read_timeout;
        let stages = run_request_stages(api, &mut cx, &mut body, bytes_in, body_read_timeout);
        if let Err((problem, decision)) = Box::pin(stages).await {
            return Err(Refusal::with_cx(problem, cx, decision));
        }
    }
    let facts = ForwardFacts {
        peer_trusted,
        id_header: id_header.take(),
        inbound_target: parts.uri.path_and_query().cloned(),
        raw_fields,
    };
    forward(api, conn, cx, body, facts, bytes_in).await
}

impl Refusal {
    fn with_cx(problem: Problem, cx: Box<RequestCx>, decision: Decision) -> Self {
        Refusal {
            problem,
            cx: Some(cx),
            decision,
            request_id: String::new(),
            host: String::new(),
            upstream_ms: None,
        }
    }
}

/// Runs the API's stages in phase order, buffering the body for the first stage
/// that asks for it.
///
/// Every stage that reads the body refuses bodies past its own limit, so the body
/// is buffered up to the smallest limit of all the route's stages, not only the
/// first one's: a WAF limit below the OpenAPI one must still answer 413 rather
/// than let the WAF see a truncated or unread body. A stage whose limit is
/// smaller than a body buffered earlier (its limit may depend on what earlier
/// stages set) refuses it the same way.
async fn run_request_stages(
    api: &ApiRuntime,
    cx: &mut RequestCx,
    body: &mut Option<InboundBody>,
    bytes_in: Option<&Arc<AtomicU64>>,
    body_read_timeout: Duration,
) -> Result<(), (Problem, Decision)> {
    let too_large = || (GatewayError::BodyTooLarge.problem(), Decision::Deny);
    for (index, stage) in api.stages.iter().enumerate() {
        if let Some(limit) = stage.request_body_limit(cx) {
            match (&cx.body, body.take()) {
                (Some(buffered), _) if buffered.len() > limit => return Err(too_large()),
                (None, Some(incoming)) => {
                    let later = api.stages.get(index + 1..).unwrap_or_default();
                    let limit = later
                        .iter()
                        .filter_map(|stage| stage.request_body_limit(cx))
                        .fold(limit.min(api.config.max_body_bytes), usize::min);
                    let bytes = buffer_body(&cx.headers, incoming, limit, body_read_timeout)
                        .await
                        .map_err(|error| (error.problem(), Decision::Deny))?;
                    if let Some(counter) = bytes_in {
                        counter.store(bytes.len() as u64, Ordering::Relaxed);
                    }
                    cx.body = Some(bytes);
                }
                (_, unread) => *body = unread,
            }
        }
        if let Verdict::Respond(problem) = stage.on_request(cx).resolve().await {
            metrics::counter!("rampart_stage_denials_total", "stage" => stage.name(), "reason" => problem.kind.slug)
                .increment(1);
            return Err((problem, Decision::Deny));
        }
    }
    Ok(())
}

/// Reads the whole body, refusing it past `limit` bytes (413) or when it has not
/// arrived within `timeout` (408): a client that declares a body and sends it
/// slowly, or not at all, must not hold the request and its in-flight slot.
async fn buffer_body(
    headers: &http::HeaderMap,
    body: InboundBody,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(GatewayError::BodyTooLarge);
    }
    let Ok(collected) = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await
    else {
        return Err(GatewayError::BodyTimeout);
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(GatewayError::BodyTooLarge),
        Err(_) => Err(GatewayError::BodyReadFailed),
    }
}

/// The URI a request is sent upstream with: the upstream's scheme, authority and
/// base path, then the (normalised, maybe prefix-stripped) path and the query.
/// `inbound` is the target as received: when the upstream adds no base path and
/// the path and query are what arrived, it is reused as it is (no copy, no parse).
fn upstream_uri(
    api: &ApiRuntime,
    cx: &RequestCx,
    inbound: Option<&PathAndQuery>,
) -> Result<Uri, GatewayError> {
    let base = &api.config.upstream.url;
    let mut path = cx.path.as_str();
    if api.config.strip_prefix {
        path = match path.strip_prefix(api.config.path_prefix.trim_end_matches('/')) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            // Routed with its path parameters set aside (`/api;x/v1/users`
            // for `/api/v1`): the prefix is not there to cut as sent, and
            // forwarding it whole, or cut mid-segment, would reach another path.
            _ => return Err(GatewayError::Malformed),
        };
    }
    let base_path = base.path().trim_end_matches('/');
    if let Some(inbound) = inbound
        && base_path.is_empty()
        && path.starts_with('/')
        && inbound.path() == path
        && inbound.query() == cx.query.as_deref()
    {
        let mut parts = http::uri::Parts::default();
        parts.scheme = base.scheme().cloned();
        parts.authority = base.authority().cloned();
        parts.path_and_query = Some(inbound.clone());
        return Uri::from_parts(parts).map_err(|_| GatewayError::Malformed);
    }
    let mut target = String::with_capacity(base_path.len() + path.len() + 1);
    target.push_str(base_path);
    if !path.starts_with('/') {
        target.push('/');
    }
    target.push_str(path);
    if let Some(query) = &cx.query {
        target.push('?');
        target.push_str(query);
    }
    let mut builder = Uri::builder().path_and_query(target);
    if let Some(scheme) = base.scheme() {
        builder = builder.scheme(scheme.clone());
    }
    if let Some(authority) = base.authority() {
        builder = builder.authority(authority.clone());
    }
    builder.build().map_err(|_| GatewayError::Malformed)
}

/// What [`forward`] needs of the inbound request besides its context.
struct ForwardFacts<'a> {
    peer_trusted: bool,
    id_header: Option<&'a HeaderValue>,
    inbound_target: Option<PathAndQuery>,
    /// The client's fields, when they go upstream as lines (`cx.headers` is
    /// then empty).
    raw_fields: Option<RawFields>,
}

async fn forward(
    api: &ApiRuntime,
    conn: &ConnInfo,
    mut cx: Box<RequestCx>,
    body: Option<InboundBody>,
    facts: ForwardFacts<'_>,
    bytes_in: Option<&Arc<AtomicU64>>,
) -> Result<Served, Refusal> {
    let ForwardFacts {
        peer_trusted,
        id_header,
        inbound_target,
        raw_fields,
    } = facts;
    let uri = match upstream_uri(api, &cx, inbound_target.as_ref()) {
        Ok(uri) => uri,
        Err(error) => return Err(Refusal::with_cx(error.problem(), cx, Decision::Deny)),
    };
    let upstream_head = UpstreamHead {
        host: api.upstream_host.as_ref(),
        // Response stages read bodies: ask the upstream for an uncompressed one.
        strip_accept_encoding: api.response_stages,
        peer_trusted,
        peer: &conn.forwarded,
        proto: if conn.tls.is_some() { "https" } else { "http" },
        forwarded_host: &cx.host,
        request_id: id_header,
    };
    let upstream_body = match (cx.body.clone(), body) {
        (Some(bytes), _) => full(bytes),
        // A body already at its end goes as `Empty`: boxing it costs nothing.
        (None, Some(incoming)) if !incoming.is_end_stream() => match bytes_in {
            Some(counter) => CountingBody::new(incoming, counter.clone()).boxed(),
            None => incoming.boxed(),
        },
        (None, _) => Empty::new().map_err(|never| match never {}).boxed(),
    };
    let mut request = Request::new(upstream_body);
    *request.method_mut() = cx.method.clone();
    *request.uri_mut() = uri;
    // Swapped, not taken and assigned: each empty map made and dropped
    // costs ~60 instructions, and this path used to make three.
    std::mem::swap(request.headers_mut(), &mut cx.headers);
    if raw_fields.is_none() {
        upstream_head.apply_to_map(request.headers_mut());
        join_cookie_fields(request.headers_mut());
    }

    // With no stage to look at the response, its headers go from upstream to
    // client as lines (already cleaned), not through a map.
    let headers_as = if conn.writes_header_lines && api.response_order.is_empty() {
        HeadersAs::Lines
    } else {
        HeadersAs::Map
    };
    let sent = Instant::now();
    // The client bounds the wait for the response head (the upstream's
    // `response_header_timeout`).
    let fields = raw_fields
        .as_ref()
        .map(|raw| OutgoingFields::new(&upstream_head, raw));
    let result = api
        .client
        .request_sent_at(request, sent, headers_as, fields)
        .await;
    let upstream_ms = Some(sent.elapsed().as_secs_f64() * 1000.0);
    let response = match result {
        Ok(response) => response,
        Err(error) => return Err(upstream_failed(api, cx, &error)),
    };

    let (mut parts, mut incoming) = response.into_parts();
    let raw_headers = incoming.take_raw_headers();
    headers::clean_response(&mut parts.headers);
    let outcome = Outcome {
        status: parts.status,
        decision: Decision::Allow,
        reason: None,
        upstream_ms,
        raw_headers,
    };
    if api.response_order.is_empty() {
        // No response stage: the head and body go on as they came.
        return Ok((Response::from_parts(parts, incoming.boxed()), outcome, cx));
    }
    // Boxed: its code and state stay out of the path of APIs without
    // response stages (the request path's futures are large already).
    Box::pin(through_response_stages(api, cx, parts, incoming, outcome)).await
}

/// Joins several `cookie` fields into one, separated by `; `: HTTP/2 clients
/// may send one field per cookie (RFC 9113 §8.2.3, browsers do), and an
/// HTTP/1 upstream must get them as one line; many read only the first, or
/// join repeats with `,`, and lose the session cookie.
fn join_cookie_fields(headers: &mut http::HeaderMap) {
    let mut values = headers.get_all(http::header::COOKIE).iter();
    if values.next().is_none() || values.next().is_none() {
        return;
    }
    let mut joined = Vec::new();
    for value in headers.get_all(http::header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(value.as_bytes());
    }
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        headers.insert(http::header::COOKIE, value);
    }
}

/// The refusal for a failed upstream request, logged and counted. Kept out
/// of line: the request path's code stays compact for the instruction cache.
#[cold]
#[inline(never)]
fn upstream_failed(api: &ApiRuntime, cx: Box<RequestCx>, error: &UpstreamRequestError) -> Refusal {
    if error.is_client_body() {
        // Not an upstream failure: neither counted nor logged as one, or any
        // client could raise the upstream-error alerts at will.
        tracing::debug!(api = %api.config.name, request_id = %cx.request_id, error = %error, "request body broke off");
        return Refusal::with_cx(GatewayError::BodyReadFailed.problem(), cx, Decision::Deny);
    }
    if error.is_timeout() {
        tracing::warn!(api = %api.config.name, request_id = %cx.request_id, "upstream response timed out");
        metrics::counter!("rampart_upstream_errors_total", "api" => api.config.name.clone(), "kind" => "timeout").increment(1);
        return Refusal::with_cx(GatewayError::UpstreamTimeout.problem(), cx, Decision::Error);
    }
    let kind = if error.is_connect() {
        "connect"
    } else {
        "protocol"
    };
    tracing::warn!(api = %api.config.name, request_id = %cx.request_id, error = %error, "upstream request failed");
    metrics::counter!("rampart_upstream_errors_total", "api" => api.config.name.clone(), "kind" => kind).increment(1);
    Refusal::with_cx(
        GatewayError::UpstreamUnreachable.problem(),
        cx,
        Decision::Error,
    )
}

/// The refusal for an upstream response body that failed while buffered for
/// the response stages: 504 when it stalled past the body timeout, 502 when
/// the upstream broke it off; logged and counted as when it streams.
#[cold]
#[inline(never)]
fn buffering_failed(api: &ApiRuntime, cx: Box<RequestCx>, error: &BoxError) -> Refusal {
    let (kind, problem) = match error.downcast_ref::<crate::h1client::ResponseBodyError>() {
        Some(crate::h1client::ResponseBodyError::TimedOut) => {
            ("body_timeout", GatewayError::UpstreamTimeout.problem())
        }
        _ => ("body_error", GatewayError::UpstreamUnreachable.problem()),
    };
    tracing::warn!(api = %api.config.name, request_id = %cx.request_id, error = %error, "upstream response body failed while buffered");
    metrics::counter!("rampart_upstream_errors_total", "api" => api.config.name.clone(), "kind" => kind).increment(1);
    Refusal::with_cx(problem, cx, Decision::Error)
}

/// Runs the API's response stages over the upstream's response, buffering
/// its body for the stages that read it.
async fn through_response_stages(
    api: &ApiRuntime,
    mut cx: Box<RequestCx>,
    mut parts: http::response::Parts,
    incoming: PooledBody,
    mut outcome: Outcome,
) -> Result<Served, Refusal> {
    let mut response_cx = ResponseCx {
        status: parts.status,
        headers: std::mem::take(&mut parts.headers),
        body: None,
        body_truncated: false,
    };
    let mut stream = Some(incoming);
    // Every refusal from here on replaces an answer the upstream gave.
    let upstream_ms = outcome.upstream_ms;
    let after_upstream = |mut refusal: Refusal| {
        refusal.upstream_ms = upstream_ms;
        refusal
    };
    for stage in &api.response_order {
        if stage.wants_response_body(&cx, &response_cx) {
            if response_cx.body.is_none()
                && let Some(incoming) = stream.take()
            {
                match buffer_response(incoming, RESPONSE_BUFFER_LIMIT).await {
                    Ok((bytes, rest)) => {
                        response_cx.body = Some(bytes);
                        response_cx.body_truncated = rest.is_some();
                        stream = rest;
                    }
                    Err(error) => return Err(after_upstream(buffering_failed(api, cx, &error))),
                }
            }
            // A stage that validates or rewrites the whole body cannot let a body
            // it could not see pass.
            if response_cx.body_truncated && !stage.inspects_response_body_prefix() {
                tracing::warn!(api = %api.config.name, request_id = %cx.request_id, stage = stage.name(), "upstream response body longer than the response buffer; refused");
                return Err(after_upstream(Refusal::with_cx(
                    GatewayError::UpstreamUnreachable.problem(),
                    cx,
                    Decision::Error,
                )));
            }
        }
        if let Verdict::Respond(problem) =
            stage.on_response(&mut cx, &mut response_cx).resolve().await
        {
            // An upstream failure masked (a 5xx turned into a uniform
            // problem) is still the upstream's error, for alerts on it.
            let decision = if parts.status.is_server_error() {
                Decision::Error
            } else {
                Decision::Deny
            };
            return Err(after_upstream(Refusal::with_cx(problem, cx, decision)));
        }
    }
    parts.status = response_cx.status;
    parts.headers = response_cx.headers;
    // A HEAD or 304 answer has no body to measure: its Content-Length is the
    // representation's (the GET's), kept as the upstream sent it.
    let bodiless = cx.method == http::Method::HEAD || parts.status == StatusCode::NOT_MODIFIED;
    let body = match (response_cx.body, stream) {
        (Some(_), None) if bodiless => Empty::new().map_err(|never| match never {}).boxed(),
        (Some(bytes), None) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            full(bytes)
        }
        (Some(prefix), Some(rest)) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            PrefixedBody::new(prefix, rest).boxed()
        }
        (None, Some(incoming)) => incoming.boxed(),
        (None, None) => Empty::new().map_err(|never| match never {}).boxed(),
    };
    outcome.status = parts.status;
    Ok((Response::from_parts(parts, body), outcome, cx))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::plain_host;
    use proptest::prelude::*;

    /// What the full path makes of a `Host` value.
    fn by_authority(value: &[u8]) -> Option<String> {
        let authority = std::str::from_utf8(value)
            .ok()?
            .parse::<http::uri::Authority>()
            .ok()?;
        Some(authority.host().to_ascii_lowercase())
    }

    #[test]
    fn plain_hosts_take_the_short_path_and_agree_with_the_authority_parse() {
        for value in [
            "api.example.com",
            "API.Example.COM",
            "127.0.0.1:8080",
            "localhost:1",
            "a-b.c:65535",
            "x:99999",
        ] {
            let short = plain_host(value.as_bytes());
            assert!(short.is_some(), "{value}");
            assert_eq!(short, by_authority(value.as_bytes()), "{value}");
        }
    }

    #[test]
    fn anything_else_takes_the_full_parse() {
        for value in [
            "",
            ":80",
            "host:",
            "host:123456",
            "host:8x",
            "a:1:2",
            "[::1]:8080",
            "user@host",
            "ho st",
            "host_name",
            "h%41st",
            "host/path",
            "é.example",
        ] {
            assert_eq!(plain_host(value.as_bytes()), None, "{value}");
        }
    }

    proptest! {
        #[test]
        fn the_short_path_never_disagrees_with_the_authority_parse(
            value in prop_oneof![
                "[a-zA-Z0-9.-]{0,12}(:[0-9]{0,6})?",
                "[a-zA-Z0-9.:@\\[\\]%_ -]{0,16}",
                proptest::collection::vec(any::<u8>(), 0..16).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            ]
        ) {
            if let Some(host) = plain_host(value.as_bytes()) {
                prop_assert_eq!(Some(host), by_authority(value.as_bytes()));
            }
        }
    }
}
