//! Rampart's own HTTP/1.1 client connection to upstreams (plain TCP or rustls).
//!
//! No connection task: the request's own future writes the head (and a body
//! that is already at hand) in one write and reads the response head; the
//! response body ([`H1Body`]) owns the connection while it is read and hands it
//! back to the pool when the response ended cleanly and the upstream did not
//! ask to close. Idle connections sit in the pool as plain sockets; a checkout
//! probes them once (without waiting) so one the upstream closed is not used.
//!
//! Layout: this file holds the connection and its failures; `stream` the
//! byte stream (TCP or rustls); `request` the request as it is sent (head
//! encoding, body classification); `exchange` one request/response-head
//! exchange; `body` the response body read off the connection; [`response`]
//! parses response heads and their framing (sans I/O, fuzzed). Bodies are
//! decoded with the server's strict decoder ([`crate::h1server::decode`]).
//! `RAMPART_UPSTREAM_H1=hyper` selects hyper's client instead (see
//! [`crate::pool`]).

pub mod response;

mod body;
mod exchange;
mod request;
mod stream;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, ReadBuf};

use crate::BoxError;
use response::ResponseError;

pub(crate) use body::Checkin;
pub use body::{H1Body, ResponseBodyError};
#[doc(hidden)]
pub use request::fuzz_request_lines_agree;
pub(crate) use request::{Outgoing, SendBody, idempotent};
pub(crate) use stream::Stream;

/// Request body bytes sent in the same write as the head when they are at hand.
const INLINE_BODY: usize = 64 * 1024;
/// Read buffer growth step.
const READ_CHUNK: usize = 16 * 1024;
/// Trailer section bound for chunked responses.
const MAX_TRAILERS: usize = 16 * 1024;

/// Why an HTTP/1 exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Writing the request or reading the response failed.
    #[error("upstream I/O failed: {0}")]
    Io(io::Error),
    /// The upstream closed the connection before a complete response head.
    #[error("upstream closed the connection before responding")]
    Closed,
    /// The response head was refused.
    #[error("bad upstream response: {0}")]
    Response(#[from] ResponseError),
    /// The request body failed while it was being sent.
    #[error("request body failed: {0}")]
    Body(BoxError),
    /// The request body's length differs from the length it declared.
    #[error("request body length differs from its declared length")]
    BodyLength,
    /// Reading failed after part of a response had arrived: the upstream saw
    /// the request, so it is never sent again.
    #[error("upstream I/O failed mid-response: {0}")]
    ReadAfterResponse(io::Error),
    /// A reused connection had bytes to read before the request head was
    /// written (left over from an earlier exchange): never taken as this
    /// request's response.
    #[error("upstream sent bytes before the request")]
    Stale,
    /// The connection was found closed before any byte of the request was
    /// written (the upstream closed it while it sat idle).
    #[error("upstream closed the connection before the request was sent")]
    ClosedBeforeRequest,
    /// Reading or writing failed before any byte of the request was written
    /// (a reset idle connection).
    #[error("upstream connection failed before the request was sent: {0}")]
    FailedBeforeRequest(io::Error),
    /// The response head did not arrive within the response-header timeout.
    #[error("upstream response head timed out")]
    TimedOut,
}

impl ExchangeError {
    /// Whether nothing came back: a reused connection that fails this way was
    /// most likely closed by the upstream while idle, and an idempotent request
    /// may be sent again on another. The upstream may still have received it
    /// (its close crossed the request), so never for other requests: see
    /// [`ExchangeError::unsent`].
    pub(crate) fn is_retryable(&self) -> bool {
        self.unsent() || matches!(self, ExchangeError::Closed | ExchangeError::Io(_))
    }

    /// Whether the exchange failed before any byte of the request left: the
    /// upstream cannot have acted on it, so any request whose body is still at
    /// hand may be sent again on another connection, whatever its method.
    pub(crate) fn unsent(&self) -> bool {
        matches!(
            self,
            ExchangeError::Stale
                | ExchangeError::ClosedBeforeRequest
                | ExchangeError::FailedBeforeRequest(_)
        )
    }
}

/// One upstream HTTP/1.1 connection and its read buffer.
pub(crate) struct Connection {
    io: Stream,
    read: BytesMut,
    /// How far `read` has been searched for the end of a response head.
    searched: usize,
    write: Vec<u8>,
    /// When the upstream's announced keep-alive timer (`Keep-Alive:
    /// timeout=` on the last response) fires at the latest: counted from the
    /// response head's arrival. The upstream starts it once it has sent the
    /// whole response, which is later: so this never runs past it. (A read
    /// that had to wait proves nothing later: the bytes may have sat in the
    /// upstream's send buffer and ours while a slow client drained them.)
    pub(crate) keep_alive_until: Option<std::time::Instant>,
    /// The last exchange took something from a streamed request body (which
    /// then cannot be sent again elsewhere).
    body_taken: bool,
    /// When the response head must have arrived (the response-header
    /// timeout), set per exchange.
    pub(crate) head_deadline: Option<tokio::time::Instant>,
    /// One timer for the connection's life, not one per request: it may be
    /// armed for an earlier request's deadline, and when it fires early it is
    /// moved to the current one (see [`Connection::head_expired`]).
    head_timer: Option<crate::deadline::Deadline>,
}

impl Connection {
    pub(crate) fn new(io: Stream) -> Self {
        Connection {
            io,
            read: BytesMut::with_capacity(READ_CHUNK),
            searched: 0,
            write: Vec::with_capacity(4096),
            keep_alive_until: None,
            body_taken: false,
            head_deadline: None,
            head_timer: None,
        }
    }

    /// Plain TCP (no TLS).
    pub(crate) fn is_plain(&self) -> bool {
        matches!(self.io, Stream::Tcp(_))
    }

    /// Whether an idle connection still looks usable: nothing to read and not
    /// closed. Never waits. tokio learns of a close that has just arrived only
    /// at its next look at the sockets; with `thorough` the kernel is asked
    /// first (one system call), for connections idle long enough that the
    /// upstream's keep-alive timer may have fired.
    pub(crate) fn probe_idle(&mut self, thorough: bool) -> bool {
        if !self.read.is_empty() {
            return false;
        }
        let plain = self.is_plain();
        let peeked = if thorough { self.kernel_peek() } else { None };
        match peeked {
            // Nothing to read: plain TCP needs no second look.
            Some(Err(error)) if error.kind() == io::ErrorKind::WouldBlock && plain => {
                return true;
            }
            Some(Err(error)) if error.kind() == io::ErrorKind::WouldBlock => {}
            // Closed or reset; or, on plain TCP, bytes nobody asked for (TLS
            // records may be session tickets, which rustls takes below).
            Some(Ok(0) | Err(_)) => return false,
            Some(Ok(_)) if plain => return false,
            Some(Ok(_)) | None => {}
        }
        // Over TLS this read also reports what rustls took in with the last
        // response (a close_notify: end of stream; a refused record: the
        // error tokio-rustls kept), though the socket has nothing more.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut scratch = [0u8; 64];
        let mut buf = ReadBuf::new(&mut scratch);
        matches!(
            Pin::new(&mut self.io).poll_read(&mut cx, &mut buf),
            Poll::Pending
        )
    }

    /// Whether the response-head deadline has passed; when not, the task is
    /// woken by then. Deadlines only grow on a connection, so a timer left
    /// from an earlier request fires early, never late.
    fn head_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.head_deadline else {
            return false;
        };
        let timer = self
            .head_timer
            .get_or_insert_with(|| crate::deadline::Deadline::at(deadline));
        if timer.deadline() > deadline {
            timer.reset(deadline);
        }
        while timer.poll_fired(cx).is_ready() {
            if timer.deadline() >= deadline {
                return true;
            }
            timer.reset(deadline);
        }
        false
    }

    /// Peeks at the socket under the stream, bypassing tokio's readiness
    /// (None for in-memory test streams).
    fn kernel_peek(&self) -> Option<io::Result<usize>> {
        let tcp = self.tcp()?;
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        // The socket is non-blocking: no data yet is `WouldBlock`.
        Some(socket2::SockRef::from(tcp).peek(&mut byte))
    }

    /// The TCP socket under the stream (None for in-memory test streams).
    pub(crate) fn tcp(&self) -> Option<&tokio::net::TcpStream> {
        match &self.io {
            Stream::Tcp(tcp) => Some(tcp),
            Stream::Tls(tls) => Some(tls.get_ref().0),
            #[cfg(test)]
            _ => None,
        }
    }

    /// Whether the last exchange left a streamed request body as it was
    /// (nothing polled from it): after an [`ExchangeError::unsent`] failure
    /// the body can still be sent on another connection.
    pub(crate) fn body_untouched(&self) -> bool {
        !self.body_taken
    }

    /// Reads more bytes into the read buffer; `Ok(0)` at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        use std::future::Future;
        use tokio::io::AsyncReadExt;
        if self.read.capacity() - self.read.len() < 1024 {
            // Reclaims the same allocation when the pieces handed out earlier
            // are gone (the usual case), else grows.
            self.read.reserve(READ_CHUNK);
        }
        // `read_buf` holds no state of its own: a fresh one per poll is fine.
        std::pin::pin!(self.io.read_buf(&mut self.read)).poll(cx)
    }
}

#[cfg(test)]
mod tests;
