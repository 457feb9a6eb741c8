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

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
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
}

impl StallWatch {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            bodies: Mutex::new(Vec::new()),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Wraps `body` so this watch sees it.
    pub(crate) fn watch<B>(&self, body: B) -> Watched<B> {
        let clock = Arc::new(AtomicU64::new(self.now_ms()));
        self.bodies.lock().push(Arc::downgrade(&clock));
        Watched {
            inner: body,
            clock,
            epoch: self.epoch,
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

    /// Resolves once a body stalls past `limit`, checking a few times per
    /// `limit` (never, when there is no limit).
    pub(crate) async fn until_stalled(&self, limit: Duration) {
        let period = (limit / 4).max(Duration::from_millis(50));
        let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if self.stalled(limit) {
                return;
            }
        }
    }
}

/// A response body seen by a [`StallWatch`].
#[derive(Debug)]
pub(crate) struct Watched<B> {
    inner: B,
    clock: Arc<AtomicU64>,
    epoch: Instant,
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
        let mut asked_once = watch.watch(Full::new(Bytes::from_static(b"x")));
        assert!(asked_once.frame().await.is_some());
        // A body waiting for its source: not the client's doing.
        let mut waiting = watch.watch(Silent);
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
}
