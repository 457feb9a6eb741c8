//! Invariants of the local rate-limit store under arbitrary traffic: for every
//! GCRA key, the units accepted never exceed `burst + elapsed / emission`; a
//! refused batch changes nothing; quotas never pass more than their limit; no
//! panic on any time sequence (including the clock going backwards).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_ratelimit::store::Algorithm;
use rampart_ratelimit::{LocalStore, Op};

const KEYS: usize = 6;

fn algorithm(k: usize) -> Algorithm {
    match k {
        0 => Algorithm::Gcra { emission_us: 1, burst: 1 },
        1 => Algorithm::Gcra { emission_us: 1000, burst: 3 },
        2 => Algorithm::Gcra { emission_us: 7, burst: 50 },
        3 => Algorithm::Gcra { emission_us: 1_000_000, burst: 2 },
        4 => Algorithm::Window { limit: 5, window_end_us: u64::MAX },
        _ => Algorithm::Window { limit: 1, window_end_us: u64::MAX },
    }
}

fuzz_target!(|data: &[u8]| {
    // Room for every key: eviction (which may forget a busy key) is not under test.
    let store = LocalStore::new(4096, 4);
    let start: u64 = 1_000_000_000;
    let mut now = start;
    let mut latest = start;
    let mut earliest = start;
    let mut accepted = [0u64; KEYS];
    for chunk in data.chunks_exact(3) {
        let [dt, sel, costs] = [chunk[0], chunk[1], chunk[2]];
        // Time mostly moves forward, sometimes jumps back a little.
        if dt & 0x80 == 0 {
            now = now.saturating_add(u64::from(dt) * 97);
        } else {
            now = now.saturating_sub(u64::from(dt & 0x7f));
        }
        latest = latest.max(now);
        earliest = earliest.min(now);
        let keys: Vec<usize> = (0..KEYS).filter(|k| sel & (1 << k) != 0).collect();
        if keys.is_empty() {
            continue;
        }
        let ops: Vec<Op> = keys
            .iter()
            .enumerate()
            .map(|(i, &k)| Op {
                key: format!("k:{{{k}}}"),
                algorithm: algorithm(k),
                cost: u64::from((costs >> (i % 4 * 2)) & 3),
            })
            .collect();
        let out = store.apply_now(now, &ops);
        assert_eq!(out.len(), ops.len());
        let all = out.iter().all(|o| o.allowed);
        for ((op, o), &k) in ops.iter().zip(&out).zip(&keys) {
            if !o.allowed {
                assert!(o.retry_after_us > 0, "a refusal says when to retry");
            }
            if let Algorithm::Gcra { burst, .. } = op.algorithm {
                assert!(o.remaining <= burst);
            }
            if all {
                accepted[k] += op.cost;
            }
        }
    }
    // Every charge moves a key's TAT forward by `cost × emission`, from at least the
    // earliest time seen, and a pass needs TAT - burst × emission <= the latest time.
    let elapsed = latest - earliest;
    for (k, &n) in accepted.iter().enumerate() {
        match algorithm(k) {
            Algorithm::Gcra { emission_us, burst } => {
                assert!(n <= burst + elapsed / emission_us, "key {k}: {n} accepted");
            }
            Algorithm::Window { limit, .. } => assert!(n <= limit, "key {k}: {n} accepted"),
        }
    }
});
