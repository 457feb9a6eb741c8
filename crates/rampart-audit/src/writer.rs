//! The bounded queue between request handlers and sinks.
//!
//! Handlers call [`AuditLog::submit`], which never blocks on I/O: the record is
//! moved into the queue (a short mutex hold, no allocation once the queue has
//! grown), and a full queue drops the record, counts it
//! (`rampart_audit_dropped_total` and [`AuditLog::dropped`]) and warns at most once
//! a second. A dedicated thread takes the whole queue at a time (swapping in an
//! empty one), serialises the records, writes the lines to every sink and
//! flushes, so a tailing reader sees a record within milliseconds (the writer
//! polls, see `drain`). Serialising there, not in `submit`, keeps the JSON
//! formatting (about 1,300 instructions a record) off the threads that serve
//! requests. Dropping every clone of the `AuditLog` lets the thread write what
//! is queued and exit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::record::AuditRecord;
use crate::sink::Sink;

/// Sleep of the writer after a busy poll: batches of a few milliseconds keep its
/// wake-ups and write calls far fewer than requests.
const MIN_IDLE_SLEEP: Duration = Duration::from_millis(4);
/// Longest sleep of an idle writer (the most a record waits to be written).
const MAX_IDLE_SLEEP: Duration = Duration::from_millis(16);

/// Line buffer capacity kept between batches (bursts may grow it further, briefly).
const KEEP_BUFFER_BYTES: usize = 1 << 20;
/// Queue capacity (in records) kept between batches, likewise.
const KEEP_QUEUED_RECORDS: usize = 4096;

/// Handle on the audit queue; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    queue: Arc<Queue>,
    shared: Arc<Shared>,
}

/// Records waiting for the writer, boxed: a record is ~500 bytes, and the
/// request path builds it in its box, so queueing and writing it moves a
/// pointer, not the record (three copies of it per request before).
type Batch = Vec<Box<AuditRecord>>;

/// What handlers and the writer thread share.
struct Queue {
    state: Mutex<QueueState>,
    capacity: usize,
    /// Set when the last handle is gone or [`AuditLog::close`] is called: the
    /// writer drains and exits.
    closed: AtomicBool,
}

struct QueueState {
    batch: Batch,
    /// The writer has taken its last batch: a record queued now would never
    /// be written, so it is counted as dropped instead.
    finished: bool,
}

/// What the handles share (dropped with the last one).
struct Shared {
    queue: Arc<Queue>,
    dropped: AtomicU64,
    last_warning_secs: AtomicU64,
    /// Taken by the first [`AuditLog::close`], which waits for it.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.queue.closed.store(true, Ordering::Release);
        if let Some(thread) = &*self.thread.lock() {
            thread.thread().unpark();
        }
    }
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
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState {
                batch: Batch::new(),
                finished: false,
            }),
            capacity: capacity.max(1),
            closed: AtomicBool::new(false),
        });
        let thread = std::thread::Builder::new()
            .name("rampart-audit".into())
            .spawn({
                let queue = queue.clone();
                move || {
                    lower_priority();
                    drain(&queue, sinks)
                }
            })?;
        Ok(Self {
            queue: queue.clone(),
            shared: Arc::new(Shared {
                queue,
                dropped: AtomicU64::new(0),
                last_warning_secs: AtomicU64::new(0),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Queues a record (serialised by the writer); never blocks on I/O.
    pub fn submit(&self, record: AuditRecord) {
        self.submit_boxed(Box::new(record));
    }

    /// [`submit`](Self::submit) for a record already in its box.
    pub fn submit_boxed(&self, record: Box<AuditRecord>) {
        {
            let mut state = self.queue.state.lock();
            if state.batch.len() < self.queue.capacity && !state.finished {
                state.batch.push(record);
                return;
            }
        }
        // Dropped outside the lock.
        drop(record);
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

    /// Records dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Ends the audit log (at shutdown): waits until every record queued so
    /// far is written, even while other handles live on (a connection task
    /// the drain timeout left behind). A record submitted after that is
    /// counted as dropped, not queued for a writer that is gone.
    pub fn close(self) {
        self.queue.closed.store(true, Ordering::Release);
        let thread = self.shared.thread.lock().take();
        if let Some(thread) = thread {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

fn drain(queue: &Queue, mut sinks: Vec<Box<dyn Sink>>) {
    // The batch the writer owns; swapped with the queue's so neither allocates.
    let mut taken = Batch::new();
    let mut lines = Vec::new();
    // The writer polls instead of being woken per record: a wake-up per `submit`
    // would cost a futex call and a context switch per request. Polling costs at
    // most `MAX_IDLE_SLEEP` of latency per record.
    let mut idle = MIN_IDLE_SLEEP;
    loop {
        // Read before taking the batch: records queued before the close are in
        // it, and later ones are refused (`finished`) under the same lock.
        let closed = queue.closed.load(Ordering::Acquire);
        {
            let mut state = queue.state.lock();
            std::mem::swap(&mut state.batch, &mut taken);
            state.finished = closed;
        }
        if !taken.is_empty() {
            for record in taken.drain(..) {
                record.write_line(&mut lines);
            }
            for sink in sinks.iter_mut() {
                if let Err(failure) = sink.write_lines(&lines) {
                    metrics::counter!("rampart_audit_write_errors_total").increment(1);
                    metrics::counter!("rampart_audit_lost_total")
                        .increment(failure.lines_lost as u64);
                    tracing::error!(
                        error = %failure.error,
                        lines_lost = failure.lines_lost,
                        "audit sink write failed"
                    );
                }
            }
            flush_all(&mut sinks);
            lines.clear();
            // A burst (a stalled sink) may have grown them; do not keep that forever.
            lines.shrink_to(KEEP_BUFFER_BYTES);
            taken.shrink_to(KEEP_QUEUED_RECORDS);
            idle = MIN_IDLE_SLEEP;
        } else {
            idle = (idle * 2).min(MAX_IDLE_SLEEP);
        }
        if closed {
            return;
        }
        std::thread::park_timeout(idle);
    }
}

/// How much lower than the process the writer thread runs (nice steps).
const WRITER_NICE_OFFSET: i32 = 10;

/// Lowers the calling (writer) thread's scheduling priority by
/// `RAMPART_AUDIT_NICE` steps, [`WRITER_NICE_OFFSET`] by default (0 leaves it).
///
/// Why: the writer wakes every few milliseconds; at the process's priority
/// each wake-up could preempt the request worker on a busy machine. Lowered,
/// it takes the time the worker leaves. Measured with `bench/cpu-ab.sh`
/// (GET, 2 cores shared with wrk and the origin), three runs: +12%, +5% and
/// +8% req/s against the same binary at the process's priority, with less
/// CPU per request. It still gets its share under contention: with four
/// busy-looping processes beside the benchmark, no record was dropped.
/// Failing to change it (a platform without per-thread priorities) is
/// harmless.
fn lower_priority() {
    let offset = std::env::var("RAMPART_AUDIT_NICE")
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .unwrap_or(WRITER_NICE_OFFSET)
        .clamp(0, 19);
    if offset == 0 {
        return;
    }
    // On Linux a thread id names one thread here, not the whole process.
    let thread = Some(rustix::thread::gettid());
    if let Ok(current) = rustix::process::getpriority_process(thread) {
        let _ = rustix::process::setpriority_process(thread, (current + offset).min(19));
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
        fn write_lines(&mut self, lines: &[u8]) -> Result<(), crate::sink::SinkError> {
            if let Some(gate) = &self.1 {
                let _held = gate.lock().unwrap();
            }
            for line in lines.split_inclusive(|&b| b == b'\n') {
                self.0
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(line).into_owned());
            }
            Ok(())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The nice values of this process's threads named `name`.
    fn nice_of_threads(name: &str) -> Vec<i32> {
        let mut found = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            // `tid (comm) state ... priority nice ...`: nice is the 17th
            // field after the command.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            if stat.get(open + 1..close) != Some(name) {
                continue;
            }
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            found.push(fields[16].parse().unwrap());
        }
        found
    }

    #[test]
    fn the_writer_runs_below_the_process_priority() {
        if std::env::var_os("RAMPART_AUDIT_NICE").is_some() {
            return; // the operator's choice, not the default under test
        }
        let base = rustix::process::getpriority_process(None).unwrap();
        let want = (base + WRITER_NICE_OFFSET).min(19);
        let log = AuditLog::start(vec![], 16).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !nice_of_threads("rampart-audit").contains(&want) {
            assert!(
                std::time::Instant::now() < deadline,
                "no writer at nice {want}: {:?}",
                nice_of_threads("rampart-audit")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(log);
    }

    fn record(id: &str) -> AuditRecord {
        AuditRecord {
            ts: UNIX_EPOCH,
            request_id: id.into(),
            client_ip: "127.0.0.1".parse().unwrap(),
            method: crate::record::method_name("GET"),
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
    fn records_are_written_when_every_handle_is_dropped() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let log = AuditLog::start(vec![Box::new(MemorySink(lines.clone(), None))], 16).unwrap();
        let clone = log.clone();
        log.submit(record("a"));
        clone.submit(record("b"));
        drop(log);
        drop(clone);
        // The writer drains on its own; wait for it without a timing assertion.
        while lines.lock().unwrap().len() < 2 {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(lines.lock().unwrap().len(), 2);
    }

    #[test]
    fn close_writes_every_queued_record_while_other_handles_live_on() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let log = AuditLog::start(vec![Box::new(MemorySink(lines.clone(), None))], 64).unwrap();
        // A handle kept by a task the drain timeout left running.
        let straggler = log.clone();
        for i in 0..20 {
            straggler.submit(record(&format!("r{i}")));
        }
        log.close();
        // Written before close returned, not whenever the writer got to them.
        assert_eq!(lines.lock().unwrap().len(), 20);
        // Later records have no writer: counted, never silently lost.
        straggler.submit(record("late"));
        assert_eq!(straggler.dropped(), 1);
        assert_eq!(lines.lock().unwrap().len(), 20);
    }

    #[test]
    fn a_stuck_sink_makes_records_drop_and_count_not_block() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let capacity = 4;
        let log = AuditLog::start(
            vec![Box::new(MemorySink(lines.clone(), Some(gate.clone())))],
            capacity,
        )
        .unwrap();
        // The writer takes at most one full batch and blocks in the sink; at most
        // one more batch fills the queue; everything past that is dropped.
        for i in 0..100 {
            log.submit(record(&format!("r{i}")));
        }
        let dropped = log.dropped();
        assert!(
            (100 - 2 * capacity as u64..=100 - capacity as u64).contains(&dropped),
            "dropped {dropped}"
        );
        drop(held);
        log.close();
        assert_eq!(lines.lock().unwrap().len() as u64, 100 - dropped);
    }
}
