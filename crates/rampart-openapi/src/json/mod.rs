//! Streaming JSON over raw bytes, without building a tree.
//!
//! - [`lexer`]: the byte-level tokenizer (strings, numbers, literals) shared by the two passes.
//! - [`scan`]: the request pre-scan that enforces depth, array length, string length and
//!   key-count limits and refuses duplicate keys *before* any tree is allocated (JSON bombs,
//!   parser differentials).
//! - [`filter`]: the response filter that copies a JSON document while dropping members a
//!   [`crate::shape`] says the client must not see, again without building a tree.
//! - [`strip`]: removes named members from a request body, copying the rest verbatim
//!   (strip mode).

pub mod filter;
pub mod lexer;
pub mod scan;
pub mod strip;

pub use scan::{JsonLimits, ScanError, prescan};
