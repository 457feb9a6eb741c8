//! A guard in front of hyper's HTTP/1 parser.
//!
//! hyper parses strictly, but it answers what it refuses with an empty-bodied
//! status, calls no service (so no audit record is written) and resolves
//! `Content-Length` together with `Transfer-Encoding` by ignoring the length.
//! This guard reads every request head on an HTTP/1 connection before hyper does,
//! refuses ambiguous or oversized heads itself (problem+json, `Connection: close`,
//! an audit record through [`OnRefusal`]), and hands hyper only heads it accepted.
//! To find each next head it follows the body framing (Content-Length or chunked)
//! of the request before it; bytes are passed through unchanged.
//!
//! On a refusal the guard ends hyper's input (EOF); hyper finishes any response in
//! progress and shuts the connection down, and the guard writes the refusal then,
//! after everything hyper wrote, so pipelined responses never interleave.
//! Connections that open with the HTTP/2 preface are passed through untouched.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::problems::GatewayError;

/// The HTTP/2 connection preface of a client with prior knowledge (RFC 9113
/// §3.4). Only the whole of it hands a connection to HTTP/2: its first bytes
/// alone would let a client skip the HTTP/1 checks and their header-read
/// timeout with `PRI ` and nothing after it.
pub(crate) const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a connection's first bytes say about the HTTP/2 preface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Preface {
    /// All of it: an HTTP/2 connection.
    Complete,
    /// Its beginning, so far (or nothing yet): wait for more bytes.
    Partial,
    /// Not the preface: HTTP/1.
    Other,
}

/// Classifies the first bytes of a connection.
pub(crate) fn h2_preface(first: &[u8]) -> Preface {
    let n = first.len().min(H2_PREFACE.len());
    if first.get(..n) != H2_PREFACE.get(..n) {
        Preface::Other
    } else if n == H2_PREFACE.len() {
        Preface::Complete
    } else {
        Preface::Partial
    }
}

/// Head limits the guard enforces.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// Largest head in bytes (request line + headers + blank line).
    pub max_header_bytes: usize,
    /// Most header fields.
    pub max_headers: usize,
    /// Time allowed for a request head, from when the guard starts waiting for it
    /// (so it is also the keep-alive idle timeout). An idle connection is closed
    /// quietly; a partial head gets 408.
    pub header_read_timeout: std::time::Duration,
}

/// What the guard knows about a head it refused.
#[derive(Debug, Clone, Default)]
pub struct RefusedHead {
    /// The request id returned to the client.
    pub request_id: String,
    /// Method, when the request line parsed.
    pub method: Option<String>,
    /// Request target, when the request line parsed.
    pub target: Option<String>,
    /// Host header, when present.
    pub host: Option<String>,
    /// Bytes of the head seen.
    pub head_bytes: usize,
}

/// Called once per refused head (to write the audit record and count it).
pub trait OnRefusal: Send + Sync + 'static {
    /// A head was refused for `error`.
    fn refused(&self, error: GatewayError, head: &RefusedHead);
}

#[derive(Debug)]
enum Framing {
    /// Waiting for (the rest of) a request head.
    Head,
    /// Passing `n` more body bytes.
    Length(u64),
    /// Following chunked framing.
    Chunked(Chunk),
    /// No more checks: HTTP/2 only (an HTTP/1 connection whose framing the
    /// guard cannot follow gets EOF instead, see `end_input`).
    Passthrough,
}

#[derive(Debug, Clone, Copy)]
enum Chunk {
    Size { value: u64, digits: u8 },
    SizeExtension { value: u64 },
    SizeLf { value: u64 },
    Data(u64),
    DataCr,
    DataLf,
    TrailerLineStart,
    TrailerLine,
    TrailerLf { empty: bool },
}

/// The guarded connection.
pub struct GuardedIo<T> {
    inner: T,
    limits: HeadLimits,
    on_refusal: Arc<dyn OnRefusal>,
    framing: Framing,
    first_bytes: bool,
    /// Bytes of the current, incomplete head.
    head: Vec<u8>,
    /// Accepted bytes not yet handed to hyper.
    ready: Vec<u8>,
    ready_from: usize,
    /// A refusal to write once hyper is done (empty: none); `Some` also
    /// means "EOF to hyper".
    refusal: Option<Vec<u8>>,
    refusal_written: usize,
    /// Running while waiting for a head.
    /// The timer is kept between requests and re-armed with `reset`, so a
    /// keep-alive connection does not allocate one per request.
    head_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    head_deadline_armed: bool,
    /// The deadline passed on an idle connection: EOF without a response.
    idle_closed: bool,
    /// Heads handed to hyper, and responses finished (counted by the service):
    /// while they differ a request is in flight and no head is awaited, although
    /// hyper keeps polling for reads to notice a client that goes away.
    heads_passed: u64,
    responses_done: Arc<AtomicU64>,
    /// Set once the connection turned out to be HTTP/2 (the preface came):
    /// the guard then passes everything and closes no idle connection.
    http2: Arc<AtomicBool>,
}

impl<T> GuardedIo<T> {
    /// Guards `inner`.
    pub fn new(
        inner: T,
        limits: HeadLimits,
        on_refusal: Arc<dyn OnRefusal>,
        responses_done: Arc<AtomicU64>,
    ) -> Self {
        Self {
            inner,
            limits,
            on_refusal,
            framing: Framing::Head,
            first_bytes: true,
            head: Vec::new(),
            ready: Vec::new(),
            ready_from: 0,
            refusal: None,
            refusal_written: 0,
            head_deadline: None,
            head_deadline_armed: false,
            idle_closed: false,
            heads_passed: 0,
            responses_done,
            http2: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Becomes true once the connection turns out to be HTTP/2.
    pub fn http2_flag(&self) -> Arc<AtomicBool> {
        self.http2.clone()
    }

    /// The HTTP/2 preface came: everything after it is hyper's.
    fn preface_passed(&mut self) {
        self.first_bytes = false;
        self.framing = Framing::Passthrough;
        self.http2.store(true, Ordering::Relaxed);
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Feeds bytes read from the client through the framing state machine and
    /// returns how many leading bytes of `input` hyper may take as they are.
    ///
    /// The common case costs no copy: heads that arrive whole are checked where
    /// they were read (in hyper's own buffer, see `poll_read`) and bodies are only
    /// counted. Once something cannot be passed in place (a head split across
    /// reads, a re-encoded request target), it and everything after it in `input`
    /// is copied into `ready` (accepted) or `head` (an incomplete head), so the
    /// order hyper sees is unchanged; a refusal discards the rest.
    fn accept(&mut self, input: &[u8]) -> usize {
        let (passed, mut after_head) = self.accept_step(input);
        // Bytes after a head accepted by copying, one head at a time: a loop,
        // not recursion, so a read holding many pipelined heads cannot grow
        // the stack, and an offset into `input`, not a copy of the rest per
        // head. `ready` holds the head just accepted, so nothing more passes
        // in place.
        let mut from = 0;
        while let Some(used) = after_head.filter(|&used| used > 0) {
            from += used;
            let Some(rest) = input.get(from..).filter(|rest| !rest.is_empty()) else {
                break;
            };
            let (passed, next) = self.accept_step(rest);
            debug_assert_eq!(passed, 0);
            after_head = next;
        }
        passed
    }

    /// One pass of [`accept`](Self::accept): the bytes hyper may take in
    /// place, and where in `input` the bytes after a head accepted by
    /// copying begin, when some are still to go.
    fn accept_step(&mut self, input: &[u8]) -> (usize, Option<usize>) {
        // `input[..passed]` goes to hyper in place; once `copying`, accepted bytes
        // are appended to `ready` instead (they must follow what is queued there).
        let mut copying = !self.head.is_empty() || !self.ready.is_empty();
        let mut passed = 0;
        let mut pos = 0;
        while pos < input.len() && self.refusal.is_none() {
            let rest = input.get(pos..).unwrap_or_default();
            let take = match &mut self.framing {
                Framing::Passthrough => rest.len(),
                Framing::Length(remaining) => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        self.framing = Framing::Head;
                    }
                    take
                }
                Framing::Chunked(_) => self.chunked(rest),
                Framing::Head
                    if copying || (self.first_bytes && h2_preface(rest) == Preface::Partial) =>
                {
                    let used = self.accept_head_copied(rest);
                    return (passed, used.map(|used| pos + used));
                }
                Framing::Head => {
                    if self.first_bytes {
                        self.first_bytes = false;
                        // The whole HTTP/2 preface: hand the connection to hyper
                        // untouched.
                        if h2_preface(rest) == Preface::Complete {
                            self.preface_passed();
                            continue;
                        }
                    }
                    match find_head_end(rest, 0) {
                        Some(end) if end > self.limits.max_header_bytes => {
                            self.refuse(GatewayError::HeadersTooLarge, None);
                            return (passed, None);
                        }
                        Some(end) => {
                            let head = rest.get(..end).unwrap_or_default();
                            match self.check_head(head) {
                                Ok((framing, None)) => {
                                    self.head_passed(framing);
                                    end
                                }
                                Ok((framing, Some(rewritten))) => {
                                    self.head_passed(framing);
                                    copying = true;
                                    self.ready.extend_from_slice(&rewritten);
                                    pos += end;
                                    continue;
                                }
                                Err(error) => {
                                    self.refuse_head(error, head);
                                    return (passed, None);
                                }
                            }
                        }
                        None if rest.len() > self.limits.max_header_bytes => {
                            self.refuse(GatewayError::HeadersTooLarge, None);
                            return (passed, None);
                        }
                        None => {
                            // An incomplete head waits for more bytes.
                            self.head.extend_from_slice(rest);
                            return (passed, None);
                        }
                    }
                }
            };
            if copying {
                self.ready
                    .extend_from_slice(rest.get(..take).unwrap_or_default());
            } else {
                passed = pos + take;
            }
            pos += take;
        }
        (passed, None)
    }

    /// A head was accepted: its body follows with `framing`.
    fn head_passed(&mut self, framing: Framing) {
        self.head_deadline_armed = false;
        self.heads_passed += 1;
        self.framing = framing;
    }

    /// The copying path for head bytes: appends to the incomplete head what of
    /// `input` can still belong to it and checks it once it is complete.
    /// Returns how many bytes of `input` it took when more follow (after an
    /// accepted head or the HTTP/2 preface); `None` when it took them all or
    /// refused.
    fn accept_head_copied(&mut self, input: &[u8]) -> Option<usize> {
        let start = self.head.len();
        // A head longer than the limit is refused, so no more is copied: the
        // bytes of the heads pipelined after this one stay in `input`.
        let room = (self.limits.max_header_bytes + 1).saturating_sub(start);
        let took = input.len().min(room.max(1));
        self.head
            .extend_from_slice(input.get(..took).unwrap_or_default());
        if self.first_bytes {
            match h2_preface(&self.head) {
                Preface::Complete => {
                    self.preface_passed();
                    self.ready.append(&mut self.head);
                    return Some(took);
                }
                // Held (under the header-read deadline) until it is whole
                // or turns out to be something else: `PRI * HTTP/2.0\r\n\r\n`
                // alone would be a complete HTTP/1 head.
                Preface::Partial => return (took < input.len()).then_some(took),
                Preface::Other => self.first_bytes = false,
            }
        }
        // Search from a little before the new bytes: the terminator may span reads.
        let from = start.saturating_sub(3);
        match find_head_end(&self.head, from) {
            Some(end) if end > self.limits.max_header_bytes => {
                self.refuse(GatewayError::HeadersTooLarge, None);
            }
            Some(end) => {
                // What was copied past the head's end is still in `input`.
                self.head.truncate(end);
                let head = std::mem::take(&mut self.head);
                match self.check_head(&head) {
                    Ok((framing, rewritten)) => {
                        self.head_passed(framing);
                        self.ready
                            .extend_from_slice(rewritten.as_deref().unwrap_or(&head));
                        // The bytes after the head go on (all copied now,
                        // since `ready` is not empty).
                        return Some(end.saturating_sub(start));
                    }
                    Err(error) => self.refuse_head(error, &head),
                }
            }
            None if self.head.len() > self.limits.max_header_bytes => {
                self.refuse(GatewayError::HeadersTooLarge, None);
            }
            None => {}
        }
        None
    }

    /// Advances the chunked state machine; returns how many bytes belong to the body.
    fn chunked(&mut self, input: &[u8]) -> usize {
        let Framing::Chunked(mut state) = self.framing else {
            return 0;
        };
        let mut used = 0;
        // Indexed, not iterated: chunk data is skipped in one step below.
        while let Some(&byte) = input.get(used) {
            used += 1;
            state = match state {
                Chunk::Size { value, digits } => match (byte as char).to_digit(16) {
                    Some(d) if digits < 16 => Chunk::Size {
                        value: value << 4 | u64::from(d),
                        digits: digits + 1,
                    },
                    None if digits > 0 && (byte == b';' || byte == b' ' || byte == b'\t') => {
                        Chunk::SizeExtension { value }
                    }
                    None if digits > 0 && byte == b'\r' => Chunk::SizeLf { value },
                    // Malformed, or more than 16 digits (leading zeros count,
                    // as in Rampart's own server; hyper would take them).
                    _ => return self.end_input(used),
                },
                Chunk::SizeExtension { value } => match byte {
                    b'\r' => Chunk::SizeLf { value },
                    b'\n' => return self.end_input(used),
                    _ => Chunk::SizeExtension { value },
                },
                Chunk::SizeLf { value } if byte == b'\n' => {
                    if value == 0 {
                        Chunk::TrailerLineStart
                    } else {
                        Chunk::Data(value)
                    }
                }
                Chunk::Data(remaining) => {
                    // Skip ahead over the rest of this chunk's data in one step.
                    let available = input.len().saturating_sub(used) as u64;
                    let skip = (remaining - 1).min(available);
                    used += skip as usize;
                    let left = remaining - 1 - skip;
                    if left == 0 {
                        Chunk::DataCr
                    } else {
                        Chunk::Data(left)
                    }
                }
                Chunk::DataCr if byte == b'\r' => Chunk::DataLf,
                Chunk::DataLf if byte == b'\n' => Chunk::Size {
                    value: 0,
                    digits: 0,
                },
                Chunk::TrailerLineStart if byte == b'\r' => Chunk::TrailerLf { empty: true },
                Chunk::TrailerLineStart | Chunk::TrailerLine if byte != b'\r' => Chunk::TrailerLine,
                Chunk::TrailerLine => Chunk::TrailerLf { empty: false },
                Chunk::TrailerLf { empty } if byte == b'\n' => {
                    if empty {
                        self.framing = Framing::Head;
                        return used;
                    }
                    Chunk::TrailerLineStart
                }
                _ => return self.end_input(used),
            };
        }
        self.framing = Framing::Chunked(state);
        used
    }

    /// Chunked framing the guard cannot follow: hyper gets the `used` bytes,
    /// the bad one last (to refuse it, or to wait for more), then EOF.
    /// Passing the rest unchecked instead, on the belief that hyper refuses
    /// the same bytes, let a body hyper accepted (a 17-digit size with
    /// leading zeros) carry the connection's later heads past every check.
    /// No answer of the guard's own: the body belongs to a request hyper is
    /// handling, whose response (and audit record) reports the broken body.
    fn end_input(&mut self, used: usize) -> usize {
        self.refusal = Some(Vec::new());
        self.framing = Framing::Head;
        used
    }

    /// Checks a complete head; returns the framing of its body, and the head with
    /// its request target re-encoded when that was needed (see [`encode_target`]).
    /// Allocates nothing for a head that passes as it is.
    fn check_head(&self, head: &[u8]) -> Result<(Framing, Option<Vec<u8>>), GatewayError> {
        let mut stack = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; 128];
        let mut heap = Vec::new();
        let slots = if self.limits.max_headers <= stack.len() {
            stack.get_mut(..self.limits.max_headers).unwrap_or_default()
        } else {
            heap.resize(self.limits.max_headers, std::mem::MaybeUninit::uninit());
            heap.as_mut_slice()
        };
        let mut request = httparse::Request::new(&mut []);
        match request.parse_with_uninit_headers(head, slots) {
            // A head httparse ends earlier (at bare LFs) than the CRLF CRLF the
            // guard framed it by would leave bytes that are neither: refused.
            Ok(httparse::Status::Complete(parsed)) if parsed == head.len() => {}
            Ok(httparse::Status::Complete(_)) => return Err(GatewayError::Malformed),
            Err(httparse::Error::TooManyHeaders) => return Err(GatewayError::HeadersTooLarge),
            Ok(httparse::Status::Partial) | Err(_) => return Err(GatewayError::Malformed),
        }
        let framing = match body_framing(&request)? {
            BodyFraming::Chunked => Framing::Chunked(Chunk::Size {
                value: 0,
                digits: 0,
            }),
            BodyFraming::None => Framing::Head,
            BodyFraming::Length(length) => Framing::Length(length),
        };
        let target = request.path.unwrap_or_default();
        let rewritten = match encode_target(target) {
            TargetCheck::Fine => None,
            TargetCheck::Encoded(encoded) => {
                // The request line is `METHOD SP target SP version`: swap the target.
                let at = head
                    .windows(target.len())
                    .position(|window| window == target.as_bytes())
                    .ok_or(GatewayError::Malformed)?;
                let mut new_head = Vec::with_capacity(head.len() + encoded.len());
                new_head.extend_from_slice(head.get(..at).unwrap_or_default());
                new_head.extend_from_slice(encoded.as_bytes());
                new_head.extend_from_slice(head.get(at + target.len()..).unwrap_or_default());
                Some(new_head)
            }
            TargetCheck::Invalid => return Err(GatewayError::Malformed),
        };
        Ok((framing, rewritten))
    }

    /// Refuses a complete head, with what can be learnt from it for the audit
    /// record (parsed again: refusals are rare, accepted heads allocate nothing).
    fn refuse_head(&mut self, error: GatewayError, head: &[u8]) {
        let facts = refused_head_facts(head, self.limits.max_headers);
        self.refuse(error, Some(facts));
    }

    fn refuse(&mut self, error: GatewayError, facts: Option<RefusedHead>) {
        let mut facts = facts.unwrap_or_else(|| RefusedHead {
            head_bytes: self.head.len(),
            ..RefusedHead::default()
        });
        let response = refusal_response(error, &mut facts, self.on_refusal.as_ref());
        self.refusal = Some(response);
        self.head.clear();
    }
}

/// A request body's framing, from its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// No body.
    None,
    /// Content-Length.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
}

/// The body framing of a parsed head; refuses every ambiguous one (invalid or
/// conflicting Content-Length, any coding but a single `chunked`, both headers,
/// chunked in HTTP/1.0).
pub(crate) fn body_framing(
    request: &httparse::Request<'_, '_>,
) -> Result<BodyFraming, GatewayError> {
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok());
            match (value, content_length) {
                (None, _) => return Err(GatewayError::Malformed),
                (Some(new), Some(old)) if new != old => return Err(GatewayError::Malformed),
                (Some(new), _) => content_length = Some(new),
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only a single `chunked` coding is accepted: anything else is a
            // framing the upstream might read differently.
            if transfer_encoding || !header.value.eq_ignore_ascii_case(b"chunked") {
                return Err(GatewayError::Malformed);
            }
            transfer_encoding = true;
        }
    }
    if transfer_encoding && (content_length.is_some() || request.version == Some(0)) {
        return Err(GatewayError::Malformed);
    }
    Ok(match content_length {
        _ if transfer_encoding => BodyFraming::Chunked,
        Some(0) | None => BodyFraming::None,
        Some(length) => BodyFraming::Length(length),
    })
}

/// What can be learnt from a refused head for the audit record (parsed again:
/// refusals are rare, accepted heads allocate nothing).
pub(crate) fn refused_head_facts(head: &[u8], max_headers: usize) -> RefusedHead {
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut request = httparse::Request::new(&mut headers);
    let parsed = request.parse(head);
    let mut facts = RefusedHead {
        method: request.method.map(str::to_string),
        // A fragment is refused (`encode_target`) but was still logged: it
        // is never sent upstream, and may hold a token (`#access_token=`).
        target: request
            .path
            .map(|target| origin_form(without_fragment(target)).to_string()),
        head_bytes: head.len(),
        ..RefusedHead::default()
    };
    match parsed {
        Ok(httparse::Status::Complete(_)) => {
            for header in request.headers.iter() {
                if header.name.eq_ignore_ascii_case("host") {
                    // Without user information (`alice:pw@host`), as a
                    // request that is not refused records it.
                    facts.host = std::str::from_utf8(header.value)
                        .ok()
                        .map(|host| host.rsplit('@').next().unwrap_or_default().to_string());
                } else if header.name.eq_ignore_ascii_case("x-request-id") {
                    facts.request_id = std::str::from_utf8(header.value)
                        .unwrap_or_default()
                        .to_string();
                }
            }
        }
        // Too many headers: what was parsed is not returned; nothing to add.
        Err(httparse::Error::TooManyHeaders) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            // The head did not parse; still keep the client's request id, so
            // the refusal can be found in the audit log by it.
            facts.request_id = raw_request_id(head).unwrap_or_default();
        }
    }
    facts
}

/// A request target without its fragment (from the first `#`).
fn without_fragment(target: &str) -> &str {
    target.split('#').next().unwrap_or_default()
}

/// The path and query of a request target: an absolute-form target
/// (`http://user:pw@host/x?q`) loses its scheme and authority, as the path of
/// a request that is not refused does (its user information would otherwise
/// reach the audit log).
fn origin_form(target: &str) -> &str {
    let Some((scheme, rest)) = target.split_once("://") else {
        return target;
    };
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return target;
    }
    rest.find(['/', '?'])
        .and_then(|start| rest.get(start..))
        .unwrap_or("/")
}

/// Reports a refusal (audit record, metric) and returns the complete response
/// to write before closing: problem+json, `Connection: close`. The request id
/// is the client's when well-formed, a new one otherwise.
pub(crate) fn refusal_response(
    error: GatewayError,
    facts: &mut RefusedHead,
    on_refusal: &dyn OnRefusal,
) -> Vec<u8> {
    let mut id_headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_str(&facts.request_id) {
        id_headers.insert("x-request-id", value);
    }
    facts.request_id = crate::headers::request_id(&id_headers);
    on_refusal.refused(error, facts);
    let problem = error.problem();
    let body = problem.to_json(&facts.request_id);
    let status = problem.kind.status_code();
    let mut response = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncache-control: no-store\r\nx-request-id: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        facts.request_id,
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    response
}

/// Whether a request target passes as it is, re-encoded, or not at all.
pub(crate) enum TargetCheck {
    /// Fine as it is.
    Fine,
    /// Re-encoded.
    Encoded(String),
    /// Refused.
    Invalid,
}

/// Bytes every URI parser accepts as they are.
fn plainly_safe(byte: u8) -> bool {
    PLAINLY_SAFE
        .get(usize::from(byte))
        .copied()
        .unwrap_or(false)
}

/// [`plainly_safe`] as a table: it runs over every request target.
static PLAINLY_SAFE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric();
        byte += 1;
    }
    let extra = b"-._~!$&'()*+,;=:@/?%";
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
};

/// Request targets with characters RFC 3986 does not allow raw (`"`, `<`, `|`,
/// `\`, non-ASCII bytes …) are common in real and in attack traffic. Rather than
/// refuse them unseen, percent-encode those bytes: the target then means what the
/// upstream would decode anyway, hyper accepts it, and every stage (the WAF above
/// all) inspects it. Control characters and targets still unparseable after
/// encoding are refused.
pub(crate) fn encode_target(target: &str) -> TargetCheck {
    let absolute = target.starts_with("http://") || target.starts_with("https://");
    if target.starts_with('?') {
        // A query with no path: the path is `/` (what every upstream would assume).
        return match encode_target(&format!("/{target}")) {
            TargetCheck::Fine => TargetCheck::Encoded(format!("/{target}")),
            other => other,
        };
    }
    // A fragment is never part of a request target (RFC 9112 §3.2); parsers that
    // drop it and parsers that keep it would see different requests.
    if target.contains('#') {
        return TargetCheck::Invalid;
    }
    if !(target.starts_with('/') || target == "*" || absolute) {
        // Authority form (CONNECT) and anything else a reverse proxy never serves.
        return TargetCheck::Invalid;
    }
    if target.bytes().all(plainly_safe) {
        return TargetCheck::Fine;
    }
    // `http` takes bytes past ASCII raw, but the path normaliser (rightly)
    // does not: a raw UTF-8 path (`/caf\xc3\xa9`) was refused with 400
    // where its encoding `/caf%C3%A9` passes. Such a target is encoded.
    if target.is_ascii()
        && (http::uri::PathAndQuery::try_from(target).is_ok()
            || http::Uri::try_from(target).is_ok())
    {
        return TargetCheck::Fine;
    }
    let mut encoded = String::with_capacity(target.len() * 3);
    for byte in target.bytes() {
        if byte.is_ascii_control() {
            return TargetCheck::Invalid;
        }
        if plainly_safe(byte) || byte == b'[' || byte == b']' {
            encoded.push(char::from(byte));
        } else {
            encoded.push('%');
            encoded.push(char::from(b"0123456789ABCDEF"[usize::from(byte >> 4)]));
            encoded.push(char::from(b"0123456789ABCDEF"[usize::from(byte & 0xf)]));
        }
    }
    if http::uri::PathAndQuery::try_from(encoded.as_str()).is_ok()
        || http::Uri::try_from(encoded.as_str()).is_ok()
    {
        TargetCheck::Encoded(encoded)
    } else {
        TargetCheck::Invalid
    }
}

/// The value of an `X-Request-Id` line in a head that did not parse.
fn raw_request_id(head: &[u8]) -> Option<String> {
    head.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = line.split_at(colon);
        if !name.eq_ignore_ascii_case(b"x-request-id") {
            return None;
        }
        let value = std::str::from_utf8(value.get(1..)?).ok()?.trim();
        Some(value.to_string())
    })
}

/// Offset just past the first `\r\n\r\n` at or after `from`, skipping leading empty
/// lines before a request line (RFC 9112 §2.2 lets servers ignore them).
pub(crate) fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let from = from.max(start);
    HEAD_END.find(buf.get(from..)?).map(|i| from + i + 4)
}

/// The blank line's searcher, built once (`memmem::find` builds one per call).
/// (A `memchr` per LF, checking the three bytes before it, cost more: ~1,060
/// instructions a proxied GET for its request and response heads against
/// ~660, callgrind.)
static HEAD_END: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));

impl<T: AsyncRead + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready_from < this.ready.len() {
                let available = &this.ready[this.ready_from..];
                let n = available.len().min(buf.remaining());
                buf.put_slice(&available[..n]);
                this.ready_from += n;
                if this.ready_from == this.ready.len() {
                    this.ready.clear();
                    this.ready_from = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.refusal.is_some() || this.idle_closed {
                // EOF: hyper stops reading and closes.
                return Poll::Ready(Ok(()));
            }
            // Read straight into hyper's buffer and check the bytes there: what
            // `accept` passes stays in place, the rest is taken back out of the
            // buffer (copied to `ready`/`head`, or dropped by a refusal).
            let start = buf.filled().len();
            let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
            if polled.is_pending() {
                let in_flight = this.heads_passed > this.responses_done.load(Ordering::Acquire);
                if !matches!(this.framing, Framing::Head) || (in_flight && this.head.is_empty()) {
                    this.head_deadline_armed = false;
                    return Poll::Pending;
                }
                let timeout = this.limits.header_read_timeout;
                let armed = this.head_deadline_armed;
                let deadline = this
                    .head_deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if !armed {
                    // Counts from the first wait for this head, as a new timer would.
                    deadline
                        .as_mut()
                        .reset(tokio::time::Instant::now() + timeout);
                    this.head_deadline_armed = true;
                }
                ready!(deadline.as_mut().poll(cx));
                this.head_deadline_armed = false;
                if this.head.is_empty() {
                    this.idle_closed = true;
                } else {
                    this.refuse(GatewayError::HeaderTimeout, None);
                }
                continue;
            }
            ready!(polled)?;
            let Some(read) = buf.filled().get(start..).filter(|read| !read.is_empty()) else {
                // EOF from the client.
                return Poll::Ready(Ok(()));
            };
            let passed = this.accept(read).min(read.len());
            buf.set_filled(start + passed);
            if passed > 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(refusal) = &this.refusal {
            while this.refusal_written < refusal.len() {
                let n = ready!(
                    Pin::new(&mut this.inner).poll_write(cx, &refusal[this.refusal_written..])
                )?;
                if n == 0 {
                    break;
                }
                this.refusal_written += n;
            }
            ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// A guard over no socket that ignores refusals (fuzzing and tests feed it
/// bytes directly).
fn detached_guard() -> GuardedIo<()> {
    struct Ignore;
    impl OnRefusal for Ignore {
        fn refused(&self, _error: GatewayError, _head: &RefusedHead) {}
    }
    let limits = HeadLimits {
        max_header_bytes: 8192,
        max_headers: 32,
        header_read_timeout: std::time::Duration::from_secs(1),
    };
    GuardedIo::new((), limits, Arc::new(Ignore), Arc::new(AtomicU64::new(0)))
}

/// Fuzzing entry point: feeds `input` in two reads split at `split` through a
/// guard and returns the bytes it would hand to hyper and whether it refused.
#[doc(hidden)]
pub fn fuzz_feed(input: &[u8], split: usize) -> (Vec<u8>, bool) {
    let mut guard = detached_guard();
    let (first, second) = input.split_at(split.min(input.len()));
    let mut out = Vec::new();
    for read in [first, second] {
        // What passes in place comes before what was queued by the same read.
        let passed = guard.accept(read);
        out.extend_from_slice(read.get(..passed).unwrap_or_default());
        out.append(&mut guard.ready);
    }
    (out, guard.refusal.is_some())
}

#[cfg(test)]
mod tests;
