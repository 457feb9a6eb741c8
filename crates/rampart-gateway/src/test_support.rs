//! What the crate's tests share: a waker that counts its wake-ups, a way to
//! spend a task's cooperative budget (for code that polls timers and
//! signals), and the mutations the parsers' agreement tests feed on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Wake};

/// A waker that counts its wake-ups.
#[derive(Default)]
pub(crate) struct CountingWaker(AtomicUsize);

impl CountingWaker {
    /// Wake-ups so far.
    pub(crate) fn woken(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Spends the current task's cooperative budget (polls tokio refuses
/// after this register nothing), as a burst of ready work would.
pub(crate) fn spend_budget(task: &mut Context<'_>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    for _ in 0..1024 {
        // Cannot fail: the receiver is held here.
        let _ = tx.send(());
    }
    while tokio::task::coop::has_budget_remaining() {
        let _ = rx.poll_recv(task);
    }
}

/// Mutations of test inputs from a fixed xorshift sequence: bytes replaced
/// (by CR, LF, NUL, any byte or a printable one) and inputs cut short.
pub(crate) struct Mutator(u64);

impl Mutator {
    /// A sequence starting from `seed` (not zero).
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next number of the sequence.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Replaces one to three bytes of `data` at or after `from` (how many
    /// goes with `round`) and, every fifth round, cuts it short (keeping at
    /// least one byte).
    pub(crate) fn mutate(&mut self, data: &mut Vec<u8>, from: usize, round: usize) {
        for _ in 0..(round % 3) + 1 {
            let at = from + (self.next() as usize) % (data.len() - from);
            data[at] = match self.next() % 8 {
                0 => b'\r',
                1 => b'\n',
                2 => 0,
                3 => (self.next() >> 24) as u8,
                _ => b' ' + (self.next() % 95) as u8,
            };
        }
        if round.is_multiple_of(5) {
            let keep = 1 + (self.next() as usize) % data.len();
            data.truncate(keep);
        }
    }
}
