//! GCRA rate limits, plans, quotas, lockouts over a Clock and a CounterStore; no I/O.
pub mod clock;
pub mod gcra;
pub mod local;
pub mod store;
