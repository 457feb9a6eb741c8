//! The request body of Rampart's own HTTP/1 connection, and [`InboundBody`], the
//! body type the request path takes from either server.
//!
//! The connection decodes the body from its socket only when the handler asks
//! for more (`want`), one piece at a time, so a slow upstream slows the client
//! instead of filling memory.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use parking_lot::Mutex;

use super::decode::BodyError;
use crate::BoxError;

/// State shared by the connection (writer) and the [`RequestBody`] (reader).
#[derive(Debug, Default)]
struct State {
    /// A piece waiting for the reader.
    piece: Option<Bytes>,
    /// The body ended (after `piece` is taken).
    ended: bool,
    /// Decoding failed; the reader gets this error.
    failed: Option<BodyError>,
    /// The reader is waiting for a piece.
    wanted: bool,
    /// The reader is gone.
    dropped: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// The connection's side of a streaming request body.
#[derive(Debug, Clone)]
pub(crate) struct BodySender {
    state: Arc<Mutex<State>>,
}

/// What the reader currently needs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Demand {
    /// A piece (the slot is free and the reader waits).
    Piece,
    /// The reader dropped the body: stop feeding.
    Gone,
}

impl BodySender {
    /// Resolves when the reader wants a piece or is gone.
    pub(crate) fn poll_demand(&self, cx: &mut Context<'_>) -> Poll<Demand> {
        let mut state = self.state.lock();
        if state.dropped {
            return Poll::Ready(Demand::Gone);
        }
        if state.wanted && state.piece.is_none() {
            return Poll::Ready(Demand::Piece);
        }
        state.writer = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Whether the reader's slot is free (nothing waiting to be taken) and the
    /// reader still there.
    pub(crate) fn slot_free(&self) -> bool {
        let state = self.state.lock();
        state.piece.is_none() && !state.dropped
    }

    /// Hands the reader a piece; `last` ends the body with it.
    pub(crate) fn send(&self, piece: Option<Bytes>, last: bool) {
        let waker = {
            let mut state = self.state.lock();
            if piece.as_ref().is_some_and(|p| !p.is_empty()) {
                state.piece = piece;
                state.wanted = false;
            }
            state.ended |= last;
            state.reader.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Ends the body with an error.
    pub(crate) fn fail(&self, error: BodyError) {
        let waker = {
            let mut state = self.state.lock();
            state.failed = Some(error);
            state.reader.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A request body read from Rampart's HTTP/1 connection.
#[derive(Debug)]
pub struct RequestBody {
    state: Arc<Mutex<State>>,
    /// Declared length still to come (Content-Length bodies), for `size_hint`.
    remaining: Option<u64>,
    ended: bool,
}

impl RequestBody {
    /// A streaming body and the connection's sender for it.
    pub(crate) fn channel(length: Option<u64>) -> (Self, BodySender) {
        let state = Arc::new(Mutex::new(State::default()));
        (
            Self {
                state: state.clone(),
                remaining: length,
                ended: false,
            },
            BodySender { state },
        )
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let (result, writer) = {
            let mut state = self.state.lock();
            if let Some(piece) = state.piece.take() {
                let writer = state.writer.take();
                (Poll::Ready(Some(Ok(piece))), writer)
            } else if let Some(error) = state.failed {
                (Poll::Ready(Some(Err(error))), None)
            } else if state.ended {
                (Poll::Ready(None), None)
            } else {
                state.wanted = true;
                state.reader = Some(cx.waker().clone());
                (Poll::Pending, state.writer.take())
            }
        };
        if let Some(writer) = writer {
            writer.wake();
        }
        match result {
            Poll::Ready(Some(Ok(piece))) => {
                if let Some(remaining) = &mut self.remaining {
                    *remaining = remaining.saturating_sub(piece.len() as u64);
                }
                Poll::Ready(Some(Ok(Frame::data(piece))))
            }
            Poll::Ready(Some(Err(error))) => {
                self.ended = true;
                Poll::Ready(Some(Err(Box::new(error))))
            }
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.remaining == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(remaining) => SizeHint::with_exact(remaining),
            None => SizeHint::default(),
        }
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        let writer = {
            let mut state = self.state.lock();
            state.dropped = true;
            state.writer.take()
        };
        if let Some(writer) = writer {
            writer.wake();
        }
    }
}

/// A request body from either server: hyper's (h2, and HTTP/1 when Rampart's own
/// server is off), Rampart's HTTP/1 connection, or none (no allocation for the
/// common bodiless request).
#[derive(Debug)]
pub enum InboundBody {
    /// No body.
    Empty,
    /// hyper's body.
    Hyper(hyper::body::Incoming),
    /// Rampart's HTTP/1 body, still arriving.
    H1(RequestBody),
    /// Rampart's HTTP/1 body that came whole with its head (the common small
    /// POST): handed over as it is, with no channel between the connection
    /// and the request path. Empty once taken.
    Whole(Bytes),
}

impl InboundBody {
    /// The length of a body received whole with its head (not yet taken).
    pub fn received_whole(&self) -> Option<u64> {
        match self {
            InboundBody::Whole(bytes) => Some(bytes.len() as u64),
            _ => None,
        }
    }
}

impl From<hyper::body::Incoming> for InboundBody {
    fn from(body: hyper::body::Incoming) -> Self {
        InboundBody::Hyper(body)
    }
}

impl Body for InboundBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            InboundBody::Empty => Poll::Ready(None),
            InboundBody::Hyper(body) => Pin::new(body)
                .poll_frame(cx)
                .map_err(|err| -> BoxError { Box::new(err) }),
            InboundBody::H1(body) => Pin::new(body).poll_frame(cx),
            InboundBody::Whole(bytes) if bytes.is_empty() => Poll::Ready(None),
            InboundBody::Whole(bytes) => Poll::Ready(Some(Ok(Frame::data(std::mem::take(bytes))))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            InboundBody::Empty => true,
            InboundBody::Hyper(body) => body.is_end_stream(),
            InboundBody::H1(body) => body.is_end_stream(),
            InboundBody::Whole(bytes) => bytes.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            InboundBody::Empty => SizeHint::with_exact(0),
            InboundBody::Hyper(body) => body.size_hint(),
            InboundBody::H1(body) => body.size_hint(),
            InboundBody::Whole(bytes) => SizeHint::with_exact(bytes.len() as u64),
        }
    }
}
