//! Placeholder; filled in with the limiter.
fn main() {}
