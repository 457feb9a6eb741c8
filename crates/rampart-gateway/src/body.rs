//! Body wrappers: counting bytes as they stream, and emitting the audit record when
//! the response body is finished (or abandoned), so the record has the real
//! `bytes_out` and `duration_ms` without buffering; and [`ReadIdle`], the bound on
//! the wait between two reads of an upstream response body.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;

use crate::BoxError;
use crate::h1client::response::RawHeaders;

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

/// How a response body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// Sent to its end.
    Complete,
    /// Dropped before its end (the client went away) or failed other than
    /// below.
    Abandoned,
    /// The upstream stopped sending it for longer than its
    /// `response_body_timeout`: the client got a short response.
    UpstreamTimeout,
    /// The upstream connection broke while the body was read (reset, the
    /// socket's own timeout, a close before the declared end, broken
    /// framing): the client got a short response.
    UpstreamFailed,
}

impl BodyEnd {
    /// How a response body that failed with `error` ended.
    fn of_error(error: &BoxError) -> Self {
        use crate::h1client::ResponseBodyError;
        match error.downcast_ref::<ResponseBodyError>() {
            Some(ResponseBodyError::TimedOut) => BodyEnd::UpstreamTimeout,
            Some(_) => BodyEnd::UpstreamFailed,
            // hyper's client (HTTP/2, the HTTP/1 fallback): its body errors
            // are the upstream connection's.
            None if error.is::<hyper::Error>() => BodyEnd::UpstreamFailed,
            None => BodyEnd::Abandoned,
        }
    }
}

/// Called once when a response body ends or is dropped, with the bytes sent.
pub trait OnBodyDone: Send + Sync + 'static {
    /// The body is done.
    fn done(self: Box<Self>, bytes_out: u64, end: BodyEnd);
}

/// The response body sent to clients.
pub struct ResponseBody {
    /// Boxed even for the upstream's own body: inline, the ~200-byte pooled
    /// body made every move of the response (several per request) that much
    /// larger, which cost more than the box's allocation (measured: +440
    /// instructions of `memcpy` per GET).
    inner: BoxBody<Bytes, BoxError>,
    bytes_out: u64,
    on_done: Option<Box<dyn OnBodyDone>>,
    head_lines: Option<HeadLines>,
}

/// Response header lines Rampart's HTTP/1 server writes beside the head's
/// map: the upstream's, passed through (no stage looked at them), and the
/// request id, which then never needs a map of its own.
#[derive(Debug, Clone)]
pub struct HeadLines {
    /// The upstream's header lines, cleaned.
    pub upstream: RawHeaders,
    /// `X-Request-Id`'s value.
    pub request_id: Option<http::HeaderValue>,
}

impl ResponseBody {
    /// Wraps `inner`; `on_done` runs when it finishes.
    pub fn new(inner: BoxBody<Bytes, BoxError>, on_done: Option<Box<dyn OnBodyDone>>) -> Self {
        Self {
            inner,
            bytes_out: 0,
            on_done,
            head_lines: None,
        }
    }

    /// Sets the header lines the HTTP/1 server writes with the head.
    pub fn with_head_lines(mut self, head_lines: Option<HeadLines>) -> Self {
        self.head_lines = head_lines;
        self
    }

    /// The header lines to write with the head (Rampart's HTTP/1 server only:
    /// a server that writes only the map must not be given any).
    pub fn head_lines(&self) -> Option<&HeadLines> {
        self.head_lines.as_ref()
    }

    fn finish(&mut self, end: BodyEnd) {
        if let Some(on_done) = self.on_done.take() {
            on_done.done(self.bytes_out, end);
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
                    self.finish(BodyEnd::Complete);
                }
            }
            Poll::Ready(None) => self.finish(BodyEnd::Complete),
            Poll::Ready(Some(Err(error))) => self.finish(BodyEnd::of_error(error)),
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
        let end = if self.inner.is_end_stream() {
            BodyEnd::Complete
        } else {
            BodyEnd::Abandoned
        };
        self.finish(end);
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

/// Bounds the wait between two reads of a response body. The timer is made
/// only when a read first has to wait (a body already at hand costs none),
/// and progress only notes the time: the timer, when it fires, moves itself
/// to the last progress plus the bound rather than being reset per read.
pub struct ReadIdle {
    bound: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// When bytes last arrived while the timer ran.
    last: Option<tokio::time::Instant>,
}

impl ReadIdle {
    /// Allows `bound` between reads.
    pub fn new(bound: Duration) -> Self {
        ReadIdle {
            bound,
            sleep: None,
            last: None,
        }
    }

    /// Bytes arrived.
    pub fn progress(&mut self) {
        if self.sleep.is_some() {
            self.last = Some(tokio::time::Instant::now());
        }
    }

    /// A read has to wait: whether the bound has passed since the last bytes
    /// (else the task is woken when it may have).
    pub fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        use std::future::Future;
        let bound = self.bound;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(bound)));
        while sleep.as_mut().poll(cx).is_ready() {
            match self.last.take() {
                Some(last) if last + bound > tokio::time::Instant::now() => {
                    sleep.as_mut().reset(last + bound);
                }
                _ => return true,
            }
        }
        false
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_upstream_body_is_told_from_its_timeout_and_from_a_client_gone() {
        use crate::h1client::ResponseBodyError;
        let end = |error: BoxError| BodyEnd::of_error(&error);
        assert_eq!(
            end(Box::new(ResponseBodyError::TimedOut)),
            BodyEnd::UpstreamTimeout
        );
        // The socket's ETIMEDOUT is the connection's failure, not the timer's.
        let socket_timeout = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert_eq!(
            end(Box::new(ResponseBodyError::Io(socket_timeout))),
            BodyEnd::UpstreamFailed
        );
        assert_eq!(
            end(Box::new(ResponseBodyError::Incomplete)),
            BodyEnd::UpstreamFailed
        );
        assert_eq!(end("something else".into()), BodyEnd::Abandoned);
    }

    #[tokio::test(start_paused = true)]
    async fn the_read_bound_runs_from_the_last_bytes_and_costs_nothing_until_a_wait() {
        let ms = Duration::from_millis;
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut idle = ReadIdle::new(ms(1000));
        // Bytes at hand: no timer made.
        idle.progress();
        assert!(idle.sleep.is_none());
        // A wait arms it.
        assert!(!idle.expired(&mut cx));
        assert!(idle.sleep.is_some());
        // Steady bytes keep it from firing, however long the body takes.
        for _ in 0..5 {
            tokio::time::advance(ms(600)).await;
            idle.progress();
            assert!(!idle.expired(&mut cx));
        }
        // A stall past the bound since the last bytes: expired.
        tokio::time::advance(ms(900)).await;
        assert!(!idle.expired(&mut cx));
        tokio::time::advance(ms(200)).await;
        assert!(idle.expired(&mut cx));
    }
}
