//! The audit log: one JSON record per request, written off the request path.
//!
//! - [`record`]: the [`AuditRecord`] and its fields (a contract with tools outside
//!   the repo: names are fixed).
//! - [`redact`]: what never reaches a log: sensitive query parameters are replaced
//!   before a record is built; credentials and cookies are never part of a record.
//! - [`sink`]: where lines go ([`Sink`]): stdout, or a file with size-based rotation
//!   and retention by count and age.
//! - [`writer`]: the bounded queue and the thread that drains it ([`AuditLog`]).
//!   Submitting never blocks: past the bound, records are dropped and counted in
//!   `rampart_audit_dropped_total`; records a sink fails to write (a full disk)
//!   are counted in `rampart_audit_lost_total`.

pub mod record;
pub mod redact;
pub mod sink;
pub mod writer;

pub use record::{AuditRecord, Decision};
pub use redact::QueryRedactor;
pub use sink::{FileSink, FileSinkOptions, Sink, SinkError, StdoutSink};
pub use writer::AuditLog;
