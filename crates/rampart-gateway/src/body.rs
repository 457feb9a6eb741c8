//! Body wrappers: counting bytes as they stream, and emitting the audit record when
//! the response body is finished (or abandoned), so the record has the real
//! `bytes_out` and `duration_ms` without buffering.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;

use crate::BoxError;

/// A body that adds the length of every data frame to a shared counter.
pub struct CountingBody<B> {
    inner: B,
    counter: Arc<AtomicU64>,
}

impl<B> CountingBody<B> {
    /// Wraps `inner`, counting into `counter`.
    pub fn new(inner: B, counter: Arc<AtomicU64>) -> Self {
        Self { inner, counter }
    }
}

impl<B> Body for CountingBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &poll
            && let Some(data) = frame.data_ref()
        {
            self.counter.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Called once when a response body ends or is dropped, with the bytes sent.
pub trait OnBodyDone: Send + Sync + 'static {
    /// The body is done (`complete` is false when it was abandoned midway).
    fn done(self: Box<Self>, bytes_out: u64, complete: bool);
}

/// The response body sent to clients.
pub struct ResponseBody {
    inner: BoxBody<Bytes, BoxError>,
    bytes_out: u64,
    on_done: Option<Box<dyn OnBodyDone>>,
}

impl ResponseBody {
    /// Wraps `inner`; `on_done` runs when it finishes.
    pub fn new(inner: BoxBody<Bytes, BoxError>, on_done: Option<Box<dyn OnBodyDone>>) -> Self {
        Self {
            inner,
            bytes_out: 0,
            on_done,
        }
    }

    fn finish(&mut self, complete: bool) {
        if let Some(on_done) = self.on_done.take() {
            on_done.done(self.bytes_out, complete);
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes_out += data.len() as u64;
                }
                if self.inner.is_end_stream() {
                    self.finish(true);
                }
            }
            Poll::Ready(None) => self.finish(true),
            Poll::Ready(Some(Err(_))) => self.finish(false),
            Poll::Pending => {}
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}

/// A response body whose first part was already read (for response stages that
/// inspect a prefix of a body too long to buffer) followed by the rest of the
/// upstream's stream.
pub struct PrefixedBody<B> {
    prefix: Option<Bytes>,
    rest: B,
}

impl<B> PrefixedBody<B> {
    /// `prefix` is sent first, then every frame of `rest`.
    pub fn new(prefix: Bytes, rest: B) -> Self {
        Self {
            prefix: Some(prefix),
            rest,
        }
    }
}

impl<B> Body for PrefixedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let prefix = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(prefix));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(prefix));
        }
        hint
    }
}
