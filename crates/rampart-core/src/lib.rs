//! Rampart's shared contract between the gateway and every security engine.
//!
//! Everything a request passes through in Rampart is a [`Stage`] registered at a
//! [`Phase`]. The gateway owns sockets and runs stages in phase order; a stage sees
//! the request through a [`RequestCx`] and answers with a [`Verdict`]: continue, or
//! respond with a [`Problem`] (RFC 9457). This crate is small and stable on purpose
//! and knows nothing of tokio or hyper, so engines depend on it and not on the
//! gateway.
//!
//! Layout:
//! - [`phase`]: the ordered request phases (DESIGN §1) and response phases.
//! - [`problem`]: problem types and the `application/problem+json` body.
//! - [`context`]: the per-request state stages read and annotate (identity, TLS facts,
//!   audit notes).
//! - [`stage`]: the `Stage` trait and its synchronous-or-async [`Step`].
//! - [`percent`]: percent-decoding, one reading of `%XX` for every engine.
//! - [`secret`]: secrets in configuration, by `env:`/`file:` reference only.
//! - [`time`]: the injected [`time::Clock`] and calendar conversions engines share.

pub mod context;
pub mod names;
pub mod percent;
pub mod phase;
pub mod problem;
pub mod secret;
pub mod stage;
pub mod throttle;
pub mod time;

pub use context::{AuditNotes, ClientCert, Identity, RequestCx, ResponseCx, TlsInfo, WafNotes};
pub use phase::{Phase, ResponsePhase};
pub use problem::{Problem, ProblemType};
pub use stage::{Stage, Step, Verdict};
