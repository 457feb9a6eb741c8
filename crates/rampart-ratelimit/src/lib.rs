//! GCRA rate limits, plans, quotas, lockouts over a Clock and a CounterStore; no I/O.
