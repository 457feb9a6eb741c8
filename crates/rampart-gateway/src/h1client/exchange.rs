//! One exchange on a connection: the request written (head and body, the
//! head with the first body piece), and the response head read, both at once
//! so an early answer is heard; interim responses skipped.

use std::io::{self, Write as _};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{Method, Response};
use http_body::Body;
use tokio::io::AsyncWrite;

use super::request::{BodyFraming, encode_head};
use super::response::{self, Framing, HeadersAs, Parsed, ResponseError};
use super::{Connection, ExchangeError, INLINE_BODY, Outgoing, SendBody};
use crate::upstream::UpstreamBody;

/// A response head as the exchange returns it, with its body still on the
/// connection.
pub(crate) struct Exchanged {
    pub response: Response<()>,
    pub framing: Framing,
    pub keep_alive: bool,
    /// The response came before the whole request was sent (an early
    /// answer): the connection is not reused.
    pub early: bool,
    /// The upstream's announced keep-alive timeout (`Keep-Alive: timeout=`).
    pub keep_alive_timeout: Option<std::time::Duration>,
    /// The head's header lines, when they were asked for as lines.
    pub raw_headers: Option<response::RawHeaders>,
}

/// The outgoing side of an exchange: what is still to be written, in order.
pub(super) struct Pending {
    /// Bytes of `Connection::write` already written.
    pub(super) written: usize,
    /// A large data piece written after the write buffer (not copied into it).
    pub(super) big: Bytes,
    /// Written after `big` (the CRLF ending a chunk).
    pub(super) after_big: &'static [u8],
    /// Flushed after the last write (TLS buffers).
    pub(super) flushed: bool,
    /// The body has ended (its last framing is in the buffer).
    pub(super) body_done: bool,
    /// Body bytes taken so far, against a declared length.
    pub(super) taken: u64,
    /// Writing failed: the upstream may still have answered (and closed).
    pub(super) write_failed: Option<io::Error>,
    /// Something of the request has been written.
    pub(super) head_sent: bool,
    /// A streamed body has been polled to a frame (or its end).
    pub(super) body_taken: bool,
}

impl Connection {
    /// The error of an exchange whose first write failed. On TCP a failed
    /// write moved no byte, so the request provably never left (any method
    /// may be resent). Over TLS it may have: rustls takes the whole
    /// plaintext, then writes its records in several writes, and a reset
    /// between two of them fails the call after part of the request left;
    /// that is an I/O error (only idempotent requests are resent).
    fn first_write_failed(&self, error: io::Error) -> ExchangeError {
        if matches!(self.io, super::Stream::Tls(_)) {
            ExchangeError::Io(error)
        } else {
            ExchangeError::FailedBeforeRequest(error)
        }
    }

    /// Sends the request and reads the response head, both at once: an upstream
    /// that answers before the request body has been sent (an early error) is
    /// heard at once, and the connection is then not reused. A full body stays
    /// with the caller (replayable); a stream is consumed.
    pub(crate) async fn exchange(
        &mut self,
        request: &Outgoing<'_>,
        body: &mut SendBody,
    ) -> Result<Exchanged, ExchangeError> {
        self.read.clear();
        self.searched = 0;
        let mut pending = Pending {
            written: 0,
            big: Bytes::new(),
            after_big: b"",
            flushed: false,
            body_done: true,
            taken: 0,
            write_failed: None,
            head_sent: false,
            body_taken: false,
        };
        let framing = match body {
            SendBody::None => {
                encode_head(&mut self.write, request, BodyFraming::None);
                BodyFraming::None
            }
            SendBody::Full(bytes) => {
                encode_head(
                    &mut self.write,
                    request,
                    BodyFraming::Length(bytes.len() as u64),
                );
                if bytes.len() <= INLINE_BODY {
                    self.write.extend_from_slice(bytes);
                } else {
                    pending.big = bytes.clone();
                }
                BodyFraming::None
            }
            SendBody::Stream { length, .. } => {
                let framing = match *length {
                    Some(n) => BodyFraming::Length(n),
                    None => BodyFraming::Chunked,
                };
                encode_head(&mut self.write, request, framing);
                pending.body_done = false;
                framing
            }
        };
        let head_request = *request.method == Method::HEAD;
        let wanted = request.response_headers;
        let mut interim = 0usize;
        let mut stream = match body {
            SendBody::Stream { body, .. } => Some(body),
            _ => None,
        };
        let result = std::future::poll_fn(|cx| {
            loop {
                // Until the head is written nothing may be read as the
                // response: bytes (or a close) now are left from before.
                if !pending.head_sent && pending.write_failed.is_none() {
                    match self.poll_fill(cx) {
                        Poll::Pending => {}
                        Poll::Ready(Ok(0)) => {
                            return Poll::Ready(Err(ExchangeError::ClosedBeforeRequest));
                        }
                        Poll::Ready(Ok(_)) => return Poll::Ready(Err(ExchangeError::Stale)),
                        Poll::Ready(Err(error)) => {
                            return Poll::Ready(Err(ExchangeError::FailedBeforeRequest(error)));
                        }
                    }
                }
                let progressed =
                    match self.poll_send(cx, &mut pending, stream.as_deref_mut(), framing) {
                        Ok(progressed) => progressed,
                        Err(error) => return Poll::Ready(Err(error)),
                    };
                if !pending.head_sent {
                    if let Some(error) = pending.write_failed.take() {
                        return Poll::Ready(Err(self.first_write_failed(error)));
                    }
                    if progressed {
                        continue;
                    }
                    return self.pending_or_timed_out(cx);
                }
                // With the whole body written, only the flush is left: the
                // response is looked for after it (a read now would find
                // nothing: one poll of the socket for nothing per request).
                // While a body streams, the response is looked for after
                // every step, so an early answer is heard at once.
                if progressed && pending.body_done {
                    continue;
                }
                match self.poll_head(cx, head_request, wanted, &mut interim) {
                    Poll::Ready(Err(ExchangeError::Closed)) if pending.write_failed.is_some() => {
                        let error = pending.write_failed.take();
                        return Poll::Ready(Err(ExchangeError::Io(
                            error.unwrap_or_else(|| io::ErrorKind::BrokenPipe.into()),
                        )));
                    }
                    Poll::Ready(result) => return Poll::Ready(result),
                    Poll::Pending if !progressed => return self.pending_or_timed_out(cx),
                    Poll::Pending => {}
                }
            }
        })
        .await;
        let sent = pending.body_done
            && pending.flushed
            && pending.write_failed.is_none()
            && self.write.is_empty();
        self.write.clear();
        self.body_taken = pending.body_taken;
        result.map(|mut exchanged| {
            exchanged.keep_alive &= sent;
            exchanged.early = !sent;
            exchanged
        })
    }

    /// The exchange waits: pending, unless the response-head deadline passed.
    fn pending_or_timed_out(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Exchanged, ExchangeError>> {
        if self.head_expired(cx) {
            Poll::Ready(Err(ExchangeError::TimedOut))
        } else {
            Poll::Pending
        }
    }

    /// Moves the request forward: writes what is buffered, then takes the next
    /// body piece. Returns whether anything happened (so the caller polls again).
    pub(super) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        pending: &mut Pending,
        body: Option<&mut UpstreamBody>,
        framing: BodyFraming,
    ) -> Result<bool, ExchangeError> {
        if pending.write_failed.is_some() || pending.flushed {
            return Ok(false);
        }
        // Body pieces at hand join the buffer before it is written (the head
        // goes out with the first piece), up to the inline size. Never while a
        // big piece or its closing CRLF is unsent: the next frame would go out
        // before them and break the chunked framing.
        if !pending.body_done
            && pending.big.is_empty()
            && pending.after_big.is_empty()
            && self.write.len() - pending.written < INLINE_BODY
            && let Some(body) = body
        {
            // The written prefix goes before more is appended: with a slow
            // upstream the buffer would otherwise hold the whole upload.
            if pending.written > 0 {
                self.write.drain(..pending.written);
                pending.written = 0;
            }
            let polled = Pin::new(body).poll_frame(cx);
            pending.body_taken |= polled.is_ready();
            match polled {
                // Only the head so far: it waits for the first piece.
                Poll::Pending if !pending.head_sent && pending.taken == 0 => return Ok(false),
                Poll::Pending => {}
                Poll::Ready(Some(Err(error))) => return Err(ExchangeError::Body(error)),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        pending.taken += data.len() as u64;
                        if let BodyFraming::Length(n) = framing
                            && pending.taken > n
                        {
                            return Err(ExchangeError::BodyLength);
                        }
                        let chunked = matches!(framing, BodyFraming::Chunked);
                        if chunked {
                            // Writing into a Vec cannot fail.
                            let _ = write!(self.write, "{:x}\r\n", data.len());
                        }
                        if data.len() <= INLINE_BODY {
                            self.write.extend_from_slice(&data);
                            if chunked {
                                self.write.extend_from_slice(b"\r\n");
                            }
                        } else {
                            pending.big = data;
                            pending.after_big = if chunked { b"\r\n" } else { b"" };
                        }
                    }
                    return Ok(true);
                }
                Poll::Ready(None) => {
                    if let BodyFraming::Length(n) = framing
                        && pending.taken != n
                    {
                        return Err(ExchangeError::BodyLength);
                    }
                    if matches!(framing, BodyFraming::Chunked) {
                        self.write.extend_from_slice(b"0\r\n\r\n");
                    }
                    pending.body_done = true;
                    return Ok(true);
                }
            }
        }
        // The buffered bytes first, then the big piece, then its CRLF.
        let out: &[u8] = if pending.written < self.write.len() {
            self.write.get(pending.written..).unwrap_or_default()
        } else if !pending.big.is_empty() {
            &pending.big
        } else if !pending.after_big.is_empty() {
            pending.after_big
        } else {
            &[]
        };
        if !out.is_empty() {
            return match Pin::new(&mut self.io).poll_write(cx, out) {
                Poll::Pending => Ok(false),
                Poll::Ready(Ok(0)) => {
                    pending.write_failed = Some(io::ErrorKind::WriteZero.into());
                    Ok(true)
                }
                Poll::Ready(Ok(n)) => {
                    pending.head_sent = true;
                    if pending.written < self.write.len() {
                        pending.written += n;
                        if pending.written == self.write.len() {
                            self.write.clear();
                            pending.written = 0;
                        }
                    } else if !pending.big.is_empty() {
                        pending.big.advance(n);
                    } else {
                        pending.after_big = pending.after_big.get(n..).unwrap_or_default();
                    }
                    Ok(true)
                }
                Poll::Ready(Err(error)) => {
                    pending.write_failed = Some(error);
                    Ok(true)
                }
            };
        }
        // Nothing left to write while the body waits: what TLS holds goes
        // out now, not only at the body's end.
        if !pending.body_done && pending.head_sent {
            return match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Pending | Poll::Ready(Ok(())) => Ok(false),
                Poll::Ready(Err(error)) => {
                    pending.write_failed = Some(error);
                    Ok(true)
                }
            };
        }
        if pending.body_done {
            return match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Pending => Ok(false),
                Poll::Ready(Ok(())) => {
                    pending.flushed = true;
                    Ok(false)
                }
                Poll::Ready(Err(error)) => {
                    pending.write_failed = Some(error);
                    Ok(true)
                }
            };
        }
        Ok(false)
    }

    /// Reads until a final response head, skipping interim ones.
    fn poll_head(
        &mut self,
        cx: &mut Context<'_>,
        head_request: bool,
        wanted: HeadersAs,
        interim: &mut usize,
    ) -> Poll<Result<Exchanged, ExchangeError>> {
        loop {
            // A head that came whole is parsed where it lies, at the first
            // look at its bytes (`searched` is 0 until the search has looked
            // at some), without the search for its end. Only when lines are
            // wanted: values that go into a map are copies here, not slices
            // of the head (on the lines path only the rare few that must).
            if self.searched == 0
                && !self.read.is_empty()
                && wanted == HeadersAs::Lines
                && let Some((len, parsed)) = response::parse_first_look(&self.read, head_request)
            {
                self.read.advance(len);
                if let Parsed::Final(_, head) = parsed {
                    return Poll::Ready(Ok(exchanged(head)));
                }
                // An interim head (a first look takes no other kind).
                if let Err(error) = count_interim(interim) {
                    return Poll::Ready(Err(error));
                }
                continue;
            }
            // Only the new bytes are searched for the head's end (a trickling
            // upstream would otherwise cost a full parse per read); the head
            // is parsed once, and must end exactly there.
            let Some(end) =
                crate::h1guard::find_head_end(&self.read, self.searched.saturating_sub(3))
            else {
                if self.read.len() > response::MAX_HEAD_BYTES {
                    return Poll::Ready(Err(ResponseError::TooLarge.into()));
                }
                self.searched = self.read.len();
                match self.poll_fill(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(error)) => {
                        return Poll::Ready(Err(read_failure(error, &self.read, *interim)));
                    }
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(if self.read.is_empty() && *interim == 0 {
                            ExchangeError::Closed
                        } else {
                            ExchangeError::Response(ResponseError::Malformed)
                        }));
                    }
                    Poll::Ready(Ok(_)) => {}
                }
                continue;
            };
            // The head leaves the read buffer as `Bytes`: the response's
            // header values are slices of it, not copies. Whatever the parse
            // says, the connection is done with these bytes (a head that does
            // not end at `end` fails the exchange and closes the connection).
            let head = self.read.split_to(end).freeze();
            self.searched = 0;
            match response::parse_shared(&head, head_request, wanted)? {
                Parsed::Interim(len) | Parsed::Final(len, _) if len != end => {
                    return Poll::Ready(Err(ResponseError::Malformed.into()));
                }
                Parsed::Partial => return Poll::Ready(Err(ResponseError::Malformed.into())),
                Parsed::Interim(_) => {
                    if let Err(error) = count_interim(interim) {
                        return Poll::Ready(Err(error));
                    }
                }
                Parsed::Final(_, head) => return Poll::Ready(Ok(exchanged(head))),
            }
        }
    }
}

/// Counts an interim head skipped, refusing one past
/// [`response::MAX_INTERIM`].
fn count_interim(interim: &mut usize) -> Result<(), ExchangeError> {
    *interim += 1;
    if *interim > response::MAX_INTERIM {
        return Err(ResponseError::TooManyInterim.into());
    }
    Ok(())
}

/// The exchange's result for a final response head.
fn exchanged(head: response::Head) -> Exchanged {
    let mut response = Response::new(());
    *response.status_mut() = head.status;
    *response.version_mut() = head.version;
    *response.headers_mut() = head.headers;
    Exchanged {
        raw_headers: head.raw,
        response,
        framing: head.framing,
        keep_alive: head.keep_alive,
        early: false,
        keep_alive_timeout: head.keep_alive_timeout,
    }
}

/// A read error while waiting for the response head: retryable (`Io`) only
/// when nothing at all has been received.
pub(super) fn read_failure(error: io::Error, read: &[u8], interim: usize) -> ExchangeError {
    if read.is_empty() && interim == 0 {
        ExchangeError::Io(error)
    } else {
        ExchangeError::ReadAfterResponse(error)
    }
}
