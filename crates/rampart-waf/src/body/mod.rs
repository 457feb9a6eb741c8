//! Request body processors: pure functions from body bytes to the variables
//! ModSecurity fills (ARGS_POST, FILES, MULTIPART_*, XML).
//!
//! URLENCODED and MULTIPART are chosen from the Content-Type; JSON and XML are
//! switched on by rules (`ctl:requestBodyProcessor`), as in ModSecurity.

pub mod json;
pub mod multipart;
pub mod urlencoded;
pub mod xml;

/// A `(name, value)` pair.
pub type Pair = (Vec<u8>, Vec<u8>);
