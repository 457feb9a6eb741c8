//! A deadline timer for a connection's whole life, polled only when polling
//! could tell something new.
//!
//! The HTTP/1 server's header-read timeout and the upstream client's
//! response-head timeout each keep one timer per connection and check it
//! whenever their read is pending, once or more per request. Polling a tokio
//! `Sleep` that is already waiting costs ~100 instructions; yet a timer that
//! returned `Pending` to a waker wakes that waker when it fires, and a
//! connection's task polls with the same waker every time. So the timer is
//! polled again only when it was reset, when the waker differs, or when it
//! has fired (`Sleep::is_elapsed`, an atomic load); otherwise it is still
//! pending and registered ([`Registration`], which also exempts these polls
//! from tokio's cooperative budget).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::time::{Instant, Sleep};

/// The waker a long-lived wait returned `Pending` to: while a poll comes with
/// that same waker and nothing says the wait is over, polling it again would
/// tell nothing new. Shared by [`Deadline`] and the HTTP/1 server's drain
/// signal.
#[derive(Default)]
pub(crate) struct Registration(Option<Waker>);

impl Registration {
    /// Polls `wait`, unless it is registered with this poll's waker already
    /// and `unchanged` (the caller's cheap check found nothing happened). The
    /// poll is exempt from tokio's cooperative budget: a poll refused for want
    /// of budget returns `Pending` without registering anything, and a wait
    /// believed registered would never wake the task.
    pub(crate) fn poll<F: Future + Unpin>(
        &mut self,
        wait: F,
        cx: &mut Context<'_>,
        unchanged: bool,
    ) -> Poll<F::Output> {
        let registered = self
            .0
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
        if registered && unchanged {
            return Poll::Pending;
        }
        let mut unbudgeted = tokio::task::coop::unconstrained(wait);
        match Pin::new(&mut unbudgeted).poll(cx) {
            Poll::Ready(output) => {
                self.0 = None;
                Poll::Ready(output)
            }
            Poll::Pending => {
                if !registered {
                    self.0 = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    /// The wait changed (a timer was reset): the next poll polls it.
    pub(crate) fn forget(&mut self) {
        self.0 = None;
    }
}

pub(crate) struct Deadline {
    sleep: Pin<Box<Sleep>>,
    registration: Registration,
}

impl Deadline {
    pub(crate) fn at(deadline: Instant) -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            registration: Registration::default(),
        }
    }

    pub(crate) fn deadline(&self) -> Instant {
        self.sleep.deadline()
    }

    /// Moves the deadline (earlier or later); the next poll polls the timer.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        self.sleep.as_mut().reset(deadline);
        self.registration.forget();
    }

    /// Ready once the deadline has passed.
    pub(crate) fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let unchanged = !self.sleep.is_elapsed();
        self.registration.poll(self.sleep.as_mut(), cx, unchanged)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::test_support::{CountingWaker, spend_budget};

    #[tokio::test(start_paused = true)]
    async fn fires_once_due_and_wakes_the_registered_waker() {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut deadline = Deadline::at(Instant::now() + Duration::from_secs(10));
        // Polled many times while waiting: pending every time.
        for _ in 0..5 {
            assert!(deadline.poll_fired(&mut cx).is_pending());
        }
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert!(deadline.poll_fired(&mut cx).is_pending());
        assert_eq!(counter.woken(), 0);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(counter.woken(), 1, "the waker registered first was woken");
        assert!(deadline.poll_fired(&mut cx).is_ready());
        assert!(deadline.poll_fired(&mut cx).is_ready(), "and stays fired");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_moves_the_deadline_either_way() {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let start = Instant::now();
        let mut deadline = Deadline::at(start + Duration::from_secs(10));
        assert!(deadline.poll_fired(&mut cx).is_pending());
        // Later: not fired at the first deadline.
        deadline.reset(start + Duration::from_secs(20));
        assert!(deadline.poll_fired(&mut cx).is_pending());
        tokio::time::sleep(Duration::from_secs(15)).await;
        assert!(deadline.poll_fired(&mut cx).is_pending());
        // Earlier: fires at the new one.
        deadline.reset(start + Duration::from_secs(16));
        assert!(deadline.poll_fired(&mut cx).is_pending());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(counter.woken() >= 1);
        assert!(deadline.poll_fired(&mut cx).is_ready());
        // Re-armed after firing.
        deadline.reset(Instant::now() + Duration::from_secs(5));
        assert!(deadline.poll_fired(&mut cx).is_pending());
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(deadline.poll_fired(&mut cx).is_ready());
    }

    /// A first poll made after the task spent its cooperative budget still
    /// arms the timer: it fires and wakes the waker.
    #[tokio::test(start_paused = true)]
    async fn a_poll_without_budget_left_still_arms_the_timer() {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        let mut deadline = Deadline::at(Instant::now() + Duration::from_secs(1));
        std::future::poll_fn(|task| {
            spend_budget(task);
            assert!(
                deadline
                    .poll_fired(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            Poll::Ready(())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(counter.woken(), 1);
        assert!(
            deadline
                .poll_fired(&mut Context::from_waker(&waker))
                .is_ready()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn another_waker_is_registered_and_woken_instead() {
        let first = Arc::new(CountingWaker::default());
        let second = Arc::new(CountingWaker::default());
        let (waker1, waker2) = (Waker::from(first.clone()), Waker::from(second.clone()));
        let mut deadline = Deadline::at(Instant::now() + Duration::from_secs(1));
        assert!(
            deadline
                .poll_fired(&mut Context::from_waker(&waker1))
                .is_pending()
        );
        assert!(
            deadline
                .poll_fired(&mut Context::from_waker(&waker2))
                .is_pending()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!((first.woken(), second.woken()), (0, 1));
    }
}
