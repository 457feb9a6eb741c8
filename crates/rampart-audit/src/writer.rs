//! The bounded queue between request handlers and sinks.
//!
//! Handlers call [`AuditLog::submit`], which never blocks: a full queue drops the
//! record, counts it (`rampart_audit_dropped_total` and [`AuditLog::dropped`]) and
//! warns at most once a second. A dedicated thread drains the queue into every sink
//! and flushes whenever the queue runs empty, so a tailing reader sees a record
//! within milliseconds (the writer polls, see `drain`). Dropping every clone of the `AuditLog` lets the thread
//! write what is queued and exit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::record::AuditRecord;
use crate::sink::Sink;

/// Sleep of the writer after a busy poll.
const MIN_IDLE_SLEEP: Duration = Duration::from_millis(1);
/// Longest sleep of an idle writer (the most a record waits to be written).
const MAX_IDLE_SLEEP: Duration = Duration::from_millis(16);

/// Handle on the audit queue; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sender: SyncSender<AuditRecord>,
    shared: Arc<Shared>,
}

struct Shared {
    dropped: AtomicU64,
    last_warning_secs: AtomicU64,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Starts the writer thread over `sinks` with a queue of `capacity` records.
    pub fn start(sinks: Vec<Box<dyn Sink>>, capacity: usize) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::sync_channel(capacity.max(1));
        let thread = std::thread::Builder::new()
            .name("rampart-audit".into())
            .spawn(move || drain(receiver, sinks))?;
        Ok(Self {
            sender,
            shared: Arc::new(Shared {
                dropped: AtomicU64::new(0),
                last_warning_secs: AtomicU64::new(0),
                thread: Some(thread),
            }),
        })
    }

    /// Queues a record; never blocks.
    pub fn submit(&self, record: AuditRecord) {
        match self.sender.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let total = self.shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                metrics::counter!("rampart_audit_dropped_total").increment(1);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                if self.shared.last_warning_secs.swap(now, Ordering::Relaxed) != now {
                    tracing::warn!(dropped_total = total, "audit queue full: records dropped");
                }
            }
        }
    }

    /// Records dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Closes this handle and, if it was the last, waits until every queued record
    /// is written.
    pub fn close(self) {
        let AuditLog { sender, shared } = self;
        drop(sender);
        if let Ok(Shared {
            thread: Some(thread),
            ..
        }) = Arc::try_unwrap(shared)
        {
            let _ = thread.join();
        }
    }
}

fn drain(receiver: Receiver<AuditRecord>, mut sinks: Vec<Box<dyn Sink>>) {
    let write = |record: AuditRecord, sinks: &mut Vec<Box<dyn Sink>>| {
        let line = record.to_line();
        for sink in sinks.iter_mut() {
            if let Err(err) = sink.write_line(&line) {
                metrics::counter!("rampart_audit_write_errors_total").increment(1);
                tracing::error!(error = %err, "audit sink write failed");
            }
        }
    };
    // The writer polls instead of blocking in `recv`: a blocked receiver would make
    // every `submit` wake this thread (a futex call and a context switch per
    // request). Polling costs at most `MAX_IDLE_SLEEP` of latency per record.
    let mut idle = MIN_IDLE_SLEEP;
    loop {
        let mut wrote = false;
        loop {
            match receiver.try_recv() {
                Ok(record) => {
                    write(record, &mut sinks);
                    wrote = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    flush_all(&mut sinks);
                    return;
                }
            }
        }
        if wrote {
            flush_all(&mut sinks);
            idle = MIN_IDLE_SLEEP;
        } else {
            idle = (idle * 2).min(MAX_IDLE_SLEEP);
        }
        std::thread::sleep(idle);
    }
}

fn flush_all(sinks: &mut [Box<dyn Sink>]) {
    for sink in sinks.iter_mut() {
        if let Err(err) = sink.flush() {
            tracing::error!(error = %err, "audit sink flush failed");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::record::Decision;
    use std::sync::Mutex;

    /// A sink that records lines in memory, optionally blocking until released.
    struct MemorySink(Arc<Mutex<Vec<String>>>, Option<Arc<Mutex<()>>>);

    impl Sink for MemorySink {
        fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
            if let Some(gate) = &self.1 {
                let _held = gate.lock().unwrap();
            }
            self.0
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(line).into_owned());
            Ok(())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn record(id: &str) -> AuditRecord {
        AuditRecord {
            ts: "1970-01-01T00:00:00.000Z".into(),
            request_id: id.into(),
            client_ip: "127.0.0.1".into(),
            method: "GET".into(),
            host: "h".into(),
            path: "/".into(),
            query: None,
            api: None,
            route: None,
            status: 200,
            bytes_in: 0,
            bytes_out: 0,
            duration_ms: 0.0,
            upstream_ms: None,
            decision: Decision::Allow,
            reason: None,
            identity: None,
            waf: Default::default(),
        }
    }

    #[test]
    fn records_are_written_and_close_waits_for_them() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let log = AuditLog::start(vec![Box::new(MemorySink(lines.clone(), None))], 16).unwrap();
        for i in 0..10 {
            log.submit(record(&format!("r{i}")));
        }
        log.close();
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 10);
        assert!(lines[3].contains("\"request_id\":\"r3\""));
    }

    #[test]
    fn a_stuck_sink_makes_records_drop_and_count_not_block() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let log = AuditLog::start(
            vec![Box::new(MemorySink(lines.clone(), Some(gate.clone())))],
            4,
        )
        .unwrap();
        // The writer takes one record and blocks in the sink; 4 more fill the queue.
        for i in 0..100 {
            log.submit(record(&format!("r{i}")));
        }
        let dropped = log.dropped();
        assert!((95..=96).contains(&dropped), "dropped {dropped}");
        drop(held);
        log.close();
        assert_eq!(lines.lock().unwrap().len() as u64, 100 - dropped);
    }
}
