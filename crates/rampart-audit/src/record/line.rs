//! The audit record's JSON line, written by hand: field names are fixed
//! fragments and strings without anything to escape (nearly all of them) are
//! copied as they are. serde_json escaped every key and value a byte at a
//! time, ~6,500 instructions per record, the largest user-space cost of a
//! proxied request. The output is byte-for-byte serde_json's (the tests
//! compare both on generated records); whatever needs escaping, a float or an
//! identity still goes through serde_json itself.

use std::io::Write;
use std::net::IpAddr;

use super::{AuditRecord, millis_rounded};

/// Appends the record as one JSON object (no newline) to `out`.
pub(super) fn write(rec: &AuditRecord, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"ts\":\"");
    out.extend_from_slice(&timestamp(rec.ts));
    out.extend_from_slice(b"\",\"request_id\":");
    string(out, &rec.request_id);
    out.extend_from_slice(b",\"client_ip\":\"");
    ip(out, rec.client_ip);
    out.extend_from_slice(b"\",\"method\":");
    string(out, &rec.method);
    out.extend_from_slice(b",\"host\":");
    string(out, &rec.host);
    out.extend_from_slice(b",\"path\":");
    string(out, &rec.path);
    out.extend_from_slice(b",\"query\":");
    opt_string(out, rec.query.as_deref());
    out.extend_from_slice(b",\"api\":");
    opt_string(out, rec.api.as_deref());
    out.extend_from_slice(b",\"route\":");
    opt_string(out, rec.route.as_deref());
    out.extend_from_slice(b",\"status\":");
    integer(out, rec.status);
    out.extend_from_slice(b",\"bytes_in\":");
    integer(out, rec.bytes_in);
    out.extend_from_slice(b",\"bytes_out\":");
    integer(out, rec.bytes_out);
    out.extend_from_slice(b",\"duration_ms\":");
    float(out, Some(rec.duration_ms));
    out.extend_from_slice(b",\"upstream_ms\":");
    float(out, rec.upstream_ms);
    out.extend_from_slice(b",\"decision\":\"");
    out.extend_from_slice(rec.decision.as_str().as_bytes());
    out.extend_from_slice(b"\",\"reason\":");
    opt_string(out, rec.reason.as_deref());
    out.extend_from_slice(b",\"identity\":");
    match &rec.identity {
        None => out.extend_from_slice(b"null"),
        Some(identity) => {
            if serde_json::to_writer(&mut *out, identity).is_err() {
                // Cannot fail for its field types; keep the line valid JSON.
                out.extend_from_slice(b"null");
            }
        }
    }
    out.extend_from_slice(b",\"waf\":{\"matched_rules\":[");
    for (i, id) in rec.waf.matched_rules.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        integer(out, *id);
    }
    out.extend_from_slice(b"],\"anomaly_score\":");
    integer(out, rec.waf.anomaly_score);
    out.extend_from_slice(b"}}");
}

thread_local! {
    /// The last timestamp written on this thread and its whole second.
    static LAST_TS: std::cell::Cell<(u64, [u8; 24])> = const { std::cell::Cell::new((u64::MAX, [0; 24])) };
}

/// First second of the year 10000, which `rfc3339_millis_bytes` clamps.
const YEAR_10000: u64 = 253_402_300_800;

/// `rfc3339_millis_bytes(ts)`, with the date and time of day reused within a
/// second: only the milliseconds change between most records.
fn timestamp(ts: std::time::SystemTime) -> [u8; 24] {
    let since_epoch = ts.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    if secs >= YEAR_10000 {
        return rampart_core::time::rfc3339_millis_bytes(ts);
    }
    LAST_TS.with(|last| {
        let (last_secs, mut text) = last.get();
        if last_secs != secs {
            text = rampart_core::time::rfc3339_millis_bytes(ts);
            last.set((secs, text));
            return text;
        }
        if let Some(millis) = text.get_mut(20..23) {
            millis.copy_from_slice(&three_digits(since_epoch.subsec_millis()));
        }
        text
    })
}

/// `n` (below 1,000) as three decimal digits, zero-padded.
fn three_digits(n: u32) -> [u8; 3] {
    // Each is a single decimal digit.
    [
        b'0' + (n / 100 % 10) as u8,
        b'0' + (n / 10 % 10) as u8,
        b'0' + (n % 10) as u8,
    ]
}

/// A JSON string: copied when it holds nothing JSON escapes (control
/// characters, `"`, `\`), else written by serde_json.
fn string(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        if serde_json::to_writer(&mut *out, s).is_err() {
            out.extend_from_slice(b"\"\"");
        }
        return;
    }
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// Whether JSON escapes any byte of `bytes`: a control character, `"` or
/// `\`. Eight bytes at a time (the short tail padded with a byte that needs
/// nothing): a byte-at-a-time test of the record's short strings was a
/// sixth of the writer's work.
fn needs_escape(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    if words
        .by_ref()
        .any(|word| word_needs_escape(u64::from_le_bytes(word.try_into().unwrap_or([0; 8]))))
    {
        return true;
    }
    let tail = words.remainder();
    if tail.is_empty() {
        return false;
    }
    let mut padded = [b'a'; 8];
    if let Some(head) = padded.get_mut(..tail.len()) {
        head.copy_from_slice(tail);
    }
    word_needs_escape(u64::from_le_bytes(padded))
}

/// Whether any byte of `word` is below 0x20, `"` or `\`. Each test is the
/// exact "some byte is zero" / "some byte is below n" bit trick: subtracting
/// borrows into a byte's top bit only from a byte that is (or was made) below
/// the bound, and `!word` keeps bytes whose own top bit was set from counting.
fn word_needs_escape(word: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS != 0;
    below(word, 0x20)
        || below(word ^ (ONES * u64::from(b'"')), 1)
        || below(word ^ (ONES * u64::from(b'\\')), 1)
}

fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn integer(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Milliseconds as the record writes them (rounded to the microsecond), in
/// serde_json's float format; `null` when absent or not finite.
fn float(out: &mut Vec<u8>, ms: Option<f64>) {
    let Some(ms) = ms else {
        out.extend_from_slice(b"null");
        return;
    };
    // The record holds `millis_rounded(ms)`, a whole number of microseconds
    // over 1,000. Below a billion milliseconds (and not negative) that has at
    // most 12 significant digits, so its shortest round-trip form, serde_json's,
    // is that decimal: integer part, then the fraction without trailing zeros
    // (at least one digit). Written here, it costs a tenth of the general float
    // formatter. (The sign test keeps -0.0, which serde_json writes as such.)
    let micros = (ms * 1000.0).round();
    if micros.is_sign_positive() && micros < 1e12 {
        let micros = micros as u64;
        integer(out, micros / 1000);
        out.push(b'.');
        // `micros % 1000` is below 1,000: the cast is exact.
        let fraction = three_digits((micros % 1000) as u32);
        let kept = match fraction {
            [_, b'0', b'0'] => 1,
            [_, _, b'0'] => 2,
            _ => 3,
        };
        out.extend_from_slice(fraction.get(..kept).unwrap_or_default());
        return;
    }
    match serde_json::to_writer(&mut *out, &millis_rounded(ms)) {
        Ok(()) => {}
        Err(_) => out.extend_from_slice(b"null"),
    }
}

/// The address as `Display` writes it (digits, dots, hex and colons: nothing
/// to escape). IPv4, every request's case, without the formatting machinery.
fn ip(out: &mut Vec<u8>, addr: IpAddr) {
    match addr {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                integer(out, octet);
            }
        }
        IpAddr::V6(v6) => {
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::borrow::Cow;
    use std::time::{Duration, UNIX_EPOCH};

    use proptest::prelude::*;
    use rampart_core::{Identity, WafNotes};

    use super::super::{AuditRecord, Decision};

    fn by_serde(rec: &AuditRecord) -> Vec<u8> {
        serde_json::to_vec(rec).unwrap()
    }

    fn by_hand(rec: &AuditRecord) -> Vec<u8> {
        let mut out = Vec::new();
        super::write(rec, &mut out);
        out
    }

    /// Any text, weighted towards what JSON escapes and multi-byte UTF-8.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9/._~:-]{0,40}",
            "[\\x00-\\x1f\"\\\\\\x7f a-z\u{e9}\u{2028}\u{1F600}]{0,24}",
            any::<String>(),
        ]
    }

    fn float() -> impl Strategy<Value = f64> {
        prop_oneof![
            0.0..10_000.0f64,
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(0.0005),
            Just(1e21),
            any::<f64>(),
        ]
    }

    prop_compose! {
        fn record()(
            ms in 0u64..4_102_444_800_000,
            request_id in text(),
            v4 in any::<bool>(),
            ip4 in any::<[u8; 4]>(),
            ip6 in any::<[u16; 8]>(),
            method in text(),
            host in text(),
            path in text(),
            query in proptest::option::of(text()),
            api in proptest::option::of(text()),
            route in proptest::option::of(text()),
            status in any::<u16>(),
            bytes_in in any::<u64>(),
            bytes_out in any::<u64>(),
            duration_ms in float(),
            upstream_ms in proptest::option::of(float()),
            decision in prop_oneof![Just(Decision::Allow), Just(Decision::Deny), Just(Decision::Error)],
            reason in proptest::option::of(text()),
            identity in proptest::option::of((text(), text(), proptest::option::of(text()), proptest::collection::vec(text(), 0..3))),
            matched_rules in proptest::collection::vec(any::<u64>(), 0..5),
            anomaly_score in any::<i64>(),
        ) -> AuditRecord {
            AuditRecord {
                ts: UNIX_EPOCH + Duration::from_millis(ms),
                request_id,
                client_ip: if v4 { ip4.into() } else { ip6.into() },
                method: Cow::Owned(method),
                host,
                path,
                query,
                api,
                route,
                status,
                bytes_in,
                bytes_out,
                duration_ms,
                upstream_ms,
                decision,
                reason: reason.map(Cow::Owned),
                identity: identity.map(|(consumer, method, credential_id, scopes)| Identity {
                    consumer,
                    method,
                    credential_id,
                    roles: scopes.iter().rev().cloned().collect(),
                    scopes,
                    plan: None,
                    ..Identity::default()
                }),
                waf: WafNotes { matched_rules, anomaly_score },
            }
        }
    }

    #[test]
    fn the_line_is_what_serde_json_writes() {
        // The record strategy's nested types need more stack than a test
        // thread has in debug builds.
        let run = || {
            let mut runner =
                proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(2000));
            runner
                .run(&record(), |rec| {
                    let (hand, serde) = (by_hand(&rec), by_serde(&rec));
                    prop_assert_eq!(
                        String::from_utf8(hand).unwrap(),
                        String::from_utf8(serde).unwrap()
                    );
                    Ok(())
                })
                .unwrap();
        };
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(run)
            .unwrap()
            .join()
            .unwrap();
    }

    /// The float writer against serde_json on the values around every branch
    /// of its short path: trailing zeros, the billion-millisecond bound, signs,
    /// values that round up to the next whole number, and a random sweep.
    #[test]
    fn durations_are_written_as_serde_json_writes_them() {
        let by_serde = |ms: f64| serde_json::to_vec(&super::millis_rounded(ms)).unwrap();
        let by_hand = |ms: f64| {
            let mut out = Vec::new();
            super::float(&mut out, Some(ms));
            out
        };
        let mut values = vec![
            0.0,
            -0.0,
            // Rounds to -0.0; NaN with the sign bit; the smallest subnormal;
            // the last value on the short path and the first past it.
            -0.0004,
            -f64::NAN,
            f64::NEG_INFINITY,
            5e-324,
            999_999_999.999_4,
            999_999_999.999_5,
            0.0004,
            0.0005,
            0.001,
            0.01,
            0.1,
            0.12,
            0.123,
            0.1234,
            1.0,
            1.5,
            2.9996,
            9.9999,
            10.0,
            100.05,
            123_456.789,
            999_999.999_5,
            999_999_999.999,
            999_999_999.999_6,
            1e9,
            1e9 + 0.5,
            1e12,
            1e21,
            -1.5,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
        ];
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        for _ in 0..20_000 {
            let strategy = prop_oneof![0.0..10.0f64, 0.0..1e6f64, 0.0..2e9f64, any::<f64>()];
            values.push(strategy.new_tree(&mut runner).unwrap().current());
        }
        for micros in 0..5_000u32 {
            values.push(f64::from(micros) / 1000.0);
        }
        for ms in values {
            assert_eq!(
                String::from_utf8(by_hand(ms)).unwrap(),
                String::from_utf8(by_serde(ms)).unwrap(),
                "{ms:?}"
            );
        }
    }

    #[test]
    fn timestamps_from_the_per_second_cache_are_the_formatted_ones() {
        use std::time::{Duration, UNIX_EPOCH};
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut times: Vec<u64> = vec![
            0,
            999,
            1_000,
            1_001,
            253_402_300_799_999,
            253_402_300_800_000,
            u64::MAX / 4,
        ];
        use proptest::strategy::{Strategy, ValueTree};
        for _ in 0..5_000 {
            let base = (0u64..4_102_444_800_000)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            // Runs inside one second, then a jump: the cache hits and misses.
            times.extend([
                base,
                base + 1,
                base + 17,
                base + 999 - base % 1000,
                base + 1000,
            ]);
        }
        for ms in times {
            let ts = UNIX_EPOCH + Duration::from_millis(ms);
            assert_eq!(
                super::timestamp(ts),
                rampart_core::time::rfc3339_millis_bytes(ts),
                "{ms}"
            );
        }
    }

    #[test]
    fn every_escaped_byte_is_found_at_every_position() {
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 40] {
            assert!(!super::needs_escape(&vec![b'a'; len]), "{len}");
            for at in 0..len {
                for byte in [0u8, 0x1f, b'"', b'\\'] {
                    let mut text = vec![b'a'; len];
                    if let Some(slot) = text.get_mut(at) {
                        *slot = byte;
                    }
                    assert!(super::needs_escape(&text), "{len} {at} {byte}");
                }
            }
        }
        assert!(!super::needs_escape("é\u{7f} ~".as_bytes()));
    }

    #[test]
    fn every_byte_value_is_judged_as_json_does_beside_any_other() {
        let escaped = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
        // Each byte beside each other byte, at each position of a word and
        // of a tail: neighbours (a borrow from one byte to the next) must not
        // change the answer.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for at in [0usize, 3, 6, 7, 8, 12] {
                    let mut text = [b'a'; 14];
                    text[at] = a;
                    text[at + 1] = b;
                    assert_eq!(
                        super::needs_escape(&text),
                        escaped(a) || escaped(b),
                        "{a:#x} {b:#x} at {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn escapes_and_fallbacks_match_serde_json() {
        let mut rec = super::super::tests::record();
        for s in [
            "",
            "plain",
            "quo\"te",
            "back\\slash",
            "ctl\u{1}\u{1f}",
            "del\u{7f}",
            "é\u{2028}",
        ] {
            rec.path = s.into();
            rec.client_ip = "::ffff:192.0.2.1".parse().unwrap();
            assert_eq!(by_hand(&rec), by_serde(&rec), "{s:?}");
        }
    }
}
