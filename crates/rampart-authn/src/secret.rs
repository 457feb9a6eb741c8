//! Secrets in configuration (`env:NAME` / `file:PATH` references, redacted
//! bytes): the shared types of [`rampart_core::secret`], under this crate's path.

pub use rampart_core::secret::{Secret, SecretError, SecretRef};
