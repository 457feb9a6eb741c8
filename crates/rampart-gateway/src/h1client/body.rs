//! A response body read off its connection as it is polled, handing the
//! connection back to its pool when the response ended cleanly.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::response::Framing;
use super::{Connection, MAX_TRAILERS};
use crate::BoxError;
use crate::h1server::decode::{BodyError, Decoded, Decoder};

/// Why a response body could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum ResponseBodyError {
    /// Reading failed: the connection broke (a reset, or the socket's own
    /// `ETIMEDOUT` from TCP keep-alive or retransmissions, which is not
    /// [`ResponseBodyError::TimedOut`]).
    #[error("upstream body read failed: {0}")]
    Io(io::Error),
    /// The body's framing was broken.
    #[error("upstream body malformed: {0}")]
    Framing(BodyError),
    /// The upstream closed before the declared end.
    #[error("upstream closed before the response body ended")]
    Incomplete,
    /// The upstream sent nothing for longer than the response body timeout
    /// (`response_body_timeout`; only that timer reports this).
    #[error("upstream response body stalled past its timeout")]
    TimedOut,
}

/// Where a response body is read from, and where the connection goes after.
pub(crate) trait Checkin: Send + Sync + 'static {
    /// Takes back a connection whose response ended cleanly.
    fn checkin(&self, conn: Box<Connection>);
}

/// A response body read from its connection as it is polled.
pub struct H1Body {
    conn: Option<Box<Connection>>,
    decoder: BodyDecoder,
    keep_alive: bool,
    home: Option<std::sync::Arc<dyn Checkin>>,
    /// The longest wait between two reads (`response_body_timeout`).
    idle: Option<crate::body::ReadIdle>,
}

/// Reads more of a body, failing with `TimedOut` when `idle` passes without
/// a byte; a failed read is `Io`, whatever its kind (an `ETIMEDOUT` from the
/// socket is a broken connection, not the body timeout).
fn fill_bounded(
    conn: &mut Connection,
    idle: &mut Option<crate::body::ReadIdle>,
    cx: &mut Context<'_>,
) -> Poll<Result<usize, ResponseBodyError>> {
    match conn.poll_fill(cx) {
        Poll::Ready(Ok(n)) => {
            if let (1.., Some(idle)) = (n, idle.as_mut()) {
                idle.progress();
            }
            Poll::Ready(Ok(n))
        }
        Poll::Ready(Err(error)) => Poll::Ready(Err(ResponseBodyError::Io(error))),
        Poll::Pending => {
            if let Some(idle) = idle
                && idle.expired(cx)
            {
                return Poll::Ready(Err(ResponseBodyError::TimedOut));
            }
            Poll::Pending
        }
    }
}

enum BodyDecoder {
    Framed(Decoder),
    Close,
    Done,
}

impl H1Body {
    /// `read_idle` bounds the wait between two reads.
    pub(crate) fn new(
        conn: Box<Connection>,
        framing: Framing,
        keep_alive: bool,
        home: std::sync::Arc<dyn Checkin>,
        read_idle: Option<std::time::Duration>,
    ) -> Self {
        let decoder = match framing {
            Framing::Empty => BodyDecoder::Done,
            Framing::Length(n) => BodyDecoder::Framed(Decoder::length(n)),
            Framing::Chunked => BodyDecoder::Framed(Decoder::chunked()),
            Framing::Close => BodyDecoder::Close,
        };
        let mut body = H1Body {
            conn: Some(conn),
            decoder,
            keep_alive: keep_alive && framing != Framing::Close,
            home: Some(home),
            idle: read_idle.map(crate::body::ReadIdle::new),
        };
        if matches!(body.decoder, BodyDecoder::Done) {
            body.finish();
        }
        body
    }

    /// The body ended cleanly: the connection goes home if it can be reused.
    fn finish(&mut self) {
        self.decoder = BodyDecoder::Done;
        let (Some(conn), Some(home)) = (self.conn.take(), self.home.take()) else {
            return;
        };
        // Bytes past the response mean the upstream sent more than it framed.
        if self.keep_alive && conn.read.is_empty() {
            home.checkin(conn);
        }
    }

    fn fail(&mut self) {
        self.decoder = BodyDecoder::Done;
        self.conn = None;
        self.home = None;
    }
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match &mut this.decoder {
                BodyDecoder::Done => return Poll::Ready(None),
                BodyDecoder::Close => {
                    if !conn.read.is_empty() {
                        let data = conn.read.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    match fill_bounded(conn, &mut this.idle, cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(0)) => {
                            this.fail();
                            return Poll::Ready(None);
                        }
                        Poll::Ready(Ok(_)) => {}
                        Poll::Ready(Err(error)) => {
                            this.fail();
                            return Poll::Ready(Some(Err(Box::new(error))));
                        }
                    }
                }
                BodyDecoder::Framed(decoder) => {
                    match decoder.decode(&mut conn.read, MAX_TRAILERS) {
                        Ok(Decoded::Data(data)) => {
                            if decoder.is_done() {
                                this.finish();
                            }
                            return Poll::Ready(Some(Ok(Frame::data(data))));
                        }
                        Ok(Decoded::Done) => {
                            this.finish();
                            return Poll::Ready(None);
                        }
                        Ok(Decoded::NeedMore) => {}
                        Err(error) => {
                            this.fail();
                            return Poll::Ready(Some(Err(Box::new(ResponseBodyError::Framing(
                                error,
                            )))));
                        }
                    }
                    match fill_bounded(conn, &mut this.idle, cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(0)) => {
                            this.fail();
                            return Poll::Ready(Some(Err(Box::new(ResponseBodyError::Incomplete))));
                        }
                        Poll::Ready(Ok(_)) => {}
                        Poll::Ready(Err(error)) => {
                            this.fail();
                            return Poll::Ready(Some(Err(Box::new(error))));
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.decoder, BodyDecoder::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.decoder {
            BodyDecoder::Done => SizeHint::with_exact(0),
            BodyDecoder::Framed(Decoder::Length(n)) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}
