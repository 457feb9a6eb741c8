//! The send timeout for connections hyper serves (HTTP/2, and HTTP/1 when
//! Rampart's own HTTP/1 server is off).
//!
//! Rampart's HTTP/1 server bounds every response write itself
//! (`limits.send_timeout`). hyper has no such bound: an HTTP/2 client that
//! opens streams and never grants flow-control window (or stops reading the
//! socket) leaves each response body unpolled, holding its in-flight slot and
//! its upstream connection for as long as the connection lives, which pings
//! answered by the client make forever. A few dozen such connections use up
//! `max_in_flight`.
//!
//! [`StallWatch`] is one per connection: every response body it serves is
//! wrapped in a [`Watched`] body that notes when it last handed a frame to
//! hyper. A body waiting for its upstream does not count (the upstream's own
//! timeouts bound that wait); a body that handed out a frame and has not been
//! asked for the next one within the send timeout is waiting for the client,
//! and then the whole connection is closed: its streams all belong to that
//! client, and hyper offers no way to end one stream from outside.
//!
//! The same watch closes a connection idle past a limit (no request being
//! handled, no response body alive): Rampart's HTTP/1 server closes an idle
//! keep-alive connection after `limits.header_read_timeout`, and an HTTP/2
//! client answering pings would otherwise keep one open forever.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use parking_lot::Mutex;
use tokio::time::Instant;

/// A body's clock value while it waits for its own source (not for the client).
const WAITING_ON_SOURCE: u64 = u64::MAX;

/// The response bodies of one connection and when each last waited for the
/// client.
#[derive(Debug)]
pub(crate) struct StallWatch {
    epoch: Instant,
    bodies: Mutex<Vec<Weak<AtomicU64>>>,
    /// Requests being handled or whose response body is alive.
    busy: AtomicUsize,
    /// When `busy` last fell to zero (ms since `epoch`).
    idle_since: AtomicU64,
}

/// Why [`StallWatch::until_stalled_or_idle`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// A response waited for the client past the send timeout: drop the connection.
    Stalled,
    /// Nothing in flight past the idle limit: close it gracefully.
    Idle,
}

/// One request in flight on a watched connection, from its start until its
/// response body is gone (see [`StallWatch::busy`]).
#[derive(Debug)]
pub(crate) struct Busy(Arc<StallWatch>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle_since.store(self.0.now_ms(), Ordering::Relaxed);
        }
    }
}

impl StallWatch {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            bodies: Mutex::new(Vec::new()),
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
        })
    }

    /// Marks a request in flight until the returned guard is dropped (it
    /// goes into the response body, see [`StallWatch::watch`]).
    pub(crate) fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    /// Whether nothing has been in flight for longer than `limit`.
    fn idle(&self, limit: Duration) -> bool {
        let limit = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        self.busy.load(Ordering::Acquire) == 0
            && self
                .now_ms()
                .saturating_sub(self.idle_since.load(Ordering::Relaxed))
                > limit
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Wraps `body` so this watch sees it; `busy` ends with it.
    pub(crate) fn watch<B>(&self, body: B, busy: Busy) -> Watched<B> {
        let clock = Arc::new(AtomicU64::new(self.now_ms()));
        self.bodies.lock().push(Arc::downgrade(&clock));
        Watched {
            inner: body,
            clock,
            epoch: self.epoch,
            _busy: busy,
        }
    }

    /// Whether a live body has waited for the client longer than `limit`;
    /// forgets bodies that ended.
    pub(crate) fn stalled(&self, limit: Duration) -> bool {
        let now = self.now_ms();
        let limit = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        let mut bodies = self.bodies.lock();
        let mut stalled = false;
        bodies.retain(|body| match body.upgrade() {
            Some(clock) => {
                let since = clock.load(Ordering::Relaxed);
                stalled |= since != WAITING_ON_SOURCE && now.saturating_sub(since) > limit;
                true
            }
            None => false,
        });
        stalled
    }

    /// Resolves once a body stalls past `send_timeout` or, as `idle` says,
    /// the connection has been idle too long; checks a few times per the
    /// shorter.
    pub(crate) async fn until_stalled_or_idle(
        &self,
        send_timeout: Duration,
        idle: &IdleClose,
    ) -> Ended {
        let idle_timeout = idle.timeout();
        let shortest = idle_timeout.map_or(send_timeout, |limit| limit.min(send_timeout));
        let period = (shortest / 4).max(Duration::from_millis(50));
        let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if self.stalled(send_timeout) {
                return Ended::Stalled;
            }
            // Not (yet) known to be HTTP/2 behind the guard: the guard's to close.
            if idle_timeout.is_some_and(|limit| idle.applies() && self.idle(limit)) {
                return Ended::Idle;
            }
        }
    }
}

/// When a connection hyper serves is closed with nothing in flight.
pub(crate) enum IdleClose {
    /// Never (HTTP/1 behind the guard, which closes idle ones itself).
    Never,
    /// After this long (HTTP/2, like an HTTP/1 keep-alive connection).
    After(Duration),
    /// After this long, once the flag says the connection is HTTP/2 (behind
    /// the guard, which passes an h2 connection through untouched).
    OnceHttp2(Duration, Arc<AtomicBool>),
}

impl IdleClose {
    fn timeout(&self) -> Option<Duration> {
        match self {
            IdleClose::Never => None,
            IdleClose::After(after) | IdleClose::OnceHttp2(after, _) => Some(*after),
        }
    }

    fn applies(&self) -> bool {
        match self {
            IdleClose::OnceHttp2(_, http2) => http2.load(Ordering::Relaxed),
            IdleClose::Never | IdleClose::After(_) => true,
        }
    }
}

/// A response body seen by a [`StallWatch`].
#[derive(Debug)]
pub(crate) struct Watched<B> {
    inner: B,
    clock: Arc<AtomicU64>,
    epoch: Instant,
    _busy: Busy,
}

impl<B> Body for Watched<B>
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
        let mark = match &poll {
            // Handed out: the next ask is the client's to make possible.
            Poll::Ready(_) => {
                u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
            }
            Poll::Pending => WAITING_ON_SOURCE,
        };
        self.clock.store(mark, Ordering::Relaxed);
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    /// A body whose source never has anything yet.
    struct Silent;

    impl Body for Silent {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Pending
        }
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_body_left_waiting_for_the_client_stalls() {
        let watch = StallWatch::new();
        let limit = Duration::from_secs(1);
        // A body handed its frame and never asked again: stalled past the limit.
        let mut asked_once = watch.watch(Full::new(Bytes::from_static(b"x")), watch.busy());
        assert!(asked_once.frame().await.is_some());
        // A body waiting for its source: not the client's doing.
        let mut waiting = watch.watch(Silent, watch.busy());
        let polled =
            std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut waiting).poll_frame(cx))).await;
        assert!(polled.is_pending());
        tokio::time::advance(Duration::from_millis(900)).await;
        assert!(!watch.stalled(limit));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(watch.stalled(limit));
        // Ended (dropped) bodies are forgotten.
        drop(asked_once);
        assert!(!watch.stalled(limit));
        drop(waiting);
        assert!(!watch.stalled(limit));
        assert!(watch.bodies.lock().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_only_with_nothing_in_flight() {
        let watch = StallWatch::new();
        let limit = Duration::from_secs(1);
        let request = watch.busy();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(!watch.idle(limit), "a request in flight");
        drop(request);
        tokio::time::advance(Duration::from_millis(900)).await;
        assert!(!watch.idle(limit));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(watch.idle(limit));
    }
}
