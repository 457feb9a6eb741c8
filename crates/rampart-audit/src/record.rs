//! The audit record: who called what, with which result, sizes and timing.
//!
//! [`AuditRecord::write_line`] writes the JSON line straight into a caller's
//! buffer (the queue's, see `writer`): no intermediate strings or JSON values, so a
//! record costs no allocation of its own once the queue's buffer has grown.

use std::borrow::Cow;
use std::io::Write;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use rampart_core::{Identity, WafNotes};
use serde::Serialize;

/// The outcome of a request, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Forwarded to the upstream and answered.
    Allow,
    /// Refused by Rampart (a stage or a protocol check).
    Deny,
    /// Forwarded, but the upstream could not be reached or timed out.
    Error,
}

impl Decision {
    /// The recorded value (also the metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Error => "error",
        }
    }
}

/// One JSON line per request. Field names are a fixed contract; the line is
/// written by [`AuditRecord::write_line`] in this field order.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// When the request arrived; written as RFC 3339 UTC with milliseconds (`ts`).
    pub ts: SystemTime,
    /// The request id (as returned to the client in `X-Request-Id`).
    pub request_id: String,
    /// The client IP (see trusted proxies).
    pub client_ip: IpAddr,
    /// Request method (borrowed for the standard ones, see [`method_name`]).
    pub method: Cow<'static, str>,
    /// Requested host.
    pub host: String,
    /// Normalised path.
    pub path: String,
    /// Query string with sensitive parameters redacted.
    pub query: Option<String>,
    /// Matched API.
    pub api: Option<String>,
    /// Matched route or operation.
    pub route: Option<String>,
    /// Response status sent to the client.
    pub status: u16,
    /// Request body bytes received.
    pub bytes_in: u64,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// Total time in Rampart, milliseconds.
    pub duration_ms: f64,
    /// Time waiting for the upstream's response head, milliseconds.
    pub upstream_ms: Option<f64>,
    /// `allow`, `deny` or `error`.
    pub decision: Decision,
    /// A stable reason code (a problem slug), when there is one.
    pub reason: Option<Cow<'static, str>>,
    /// The authenticated caller (never a secret).
    pub identity: Option<Identity>,
    /// WAF results.
    pub waf: WafNotes,
}

impl AuditRecord {
    /// The record as one JSON line (with the trailing newline).
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = Vec::with_capacity(384);
        self.write_line(&mut line);
        line
    }

    /// Appends the record as one JSON line (with the trailing newline) to `out`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"ts\":\"");
        write_timestamp(out, self.ts);
        out.extend_from_slice(b"\",\"request_id\":");
        write_str(out, &self.request_id);
        out.extend_from_slice(b",\"client_ip\":\"");
        match self.client_ip {
            // The common case, without the formatting machinery.
            IpAddr::V4(ip) => {
                for (i, octet) in ip.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    out.extend_from_slice(itoa::Buffer::new().format(octet).as_bytes());
                }
            }
            // Infallible: writing into a Vec.
            IpAddr::V6(ip) => {
                let _ = write!(out, "{ip}");
            }
        }
        out.extend_from_slice(b"\",\"method\":");
        write_str(out, &self.method);
        out.extend_from_slice(b",\"host\":");
        write_str(out, &self.host);
        out.extend_from_slice(b",\"path\":");
        write_str(out, &self.path);
        out.extend_from_slice(b",\"query\":");
        write_opt_str(out, self.query.as_deref());
        out.extend_from_slice(b",\"api\":");
        write_opt_str(out, self.api.as_deref());
        out.extend_from_slice(b",\"route\":");
        write_opt_str(out, self.route.as_deref());
        out.extend_from_slice(b",\"status\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.status).as_bytes());
        out.extend_from_slice(b",\"bytes_in\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.bytes_in).as_bytes());
        out.extend_from_slice(b",\"bytes_out\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.bytes_out).as_bytes());
        out.extend_from_slice(b",\"duration_ms\":");
        write_f64(out, self.duration_ms);
        out.extend_from_slice(b",\"upstream_ms\":");
        match self.upstream_ms {
            Some(ms) => write_f64(out, ms),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"decision\":\"");
        out.extend_from_slice(self.decision.as_str().as_bytes());
        out.extend_from_slice(b"\",\"reason\":");
        write_opt_str(out, self.reason.as_deref());
        out.extend_from_slice(b",\"identity\":");
        match &self.identity {
            // Rare and nested: serde's writer, still straight into `out`.
            Some(identity) => {
                if serde_json::to_writer(&mut *out, identity).is_err() {
                    out.extend_from_slice(b"null");
                }
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"waf\":{\"matched_rules\":[");
        for (i, id) in self.waf.matched_rules.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(itoa::Buffer::new().format(*id).as_bytes());
        }
        out.extend_from_slice(b"],\"anomaly_score\":");
        out.extend_from_slice(
            itoa::Buffer::new()
                .format(self.waf.anomaly_score)
                .as_bytes(),
        );
        out.extend_from_slice(b"}}\n");
    }
}

/// A method name for [`AuditRecord::method`], without a copy for the standard ones.
pub fn method_name(method: &str) -> Cow<'static, str> {
    const STANDARD: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
    ];
    match STANDARD.iter().find(|standard| **standard == method) {
        Some(standard) => Cow::Borrowed(standard),
        None => Cow::Owned(method.to_string()),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (what `rampart_core::time::rfc3339_millis` makes),
/// written without an intermediate string.
fn write_timestamp(out: &mut Vec<u8>, time: SystemTime) {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX / 2);
    let (year, month, day) = rampart_core::time::civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    if (0..=9999).contains(&year) {
        let year = u32::try_from(year).unwrap_or(0);
        digits(out, year / 100, 2);
        digits(out, year % 100, 2);
    } else {
        // Not a real request's time; keep the line valid anyway.
        let _ = write!(out, "{year}");
    }
    out.push(b'-');
    digits(out, month, 2);
    out.push(b'-');
    digits(out, day, 2);
    out.push(b'T');
    let of_day = u32::try_from(of_day).unwrap_or(0);
    digits(out, of_day / 3600, 2);
    out.push(b':');
    digits(out, of_day / 60 % 60, 2);
    out.push(b':');
    digits(out, of_day % 60, 2);
    out.push(b'.');
    digits(out, since_epoch.subsec_millis(), 3);
    out.push(b'Z');
}

/// `value` zero-padded to `width` digits (values fit by construction).
fn digits(out: &mut Vec<u8>, value: u32, width: u32) {
    let mut divisor = 10u32.pow(width.saturating_sub(1));
    while divisor > 0 {
        out.push(b'0' + u8::try_from(value / divisor % 10).unwrap_or(0));
        divisor /= 10;
    }
}

/// A duration in milliseconds as a JSON number with microsecond resolution
/// (`1.000`, `0.473`): integer formatting, no float printing on every record.
/// Values outside the usual range are written in full; non-finite is `null`.
fn write_f64(out: &mut Vec<u8>, value: f64) {
    if !value.is_finite() {
        out.extend_from_slice(b"null");
    } else if (0.0..1e12).contains(&value) {
        // In range, so the conversion is exact enough and cannot saturate.
        let micros = (value * 1000.0).round() as u64;
        out.extend_from_slice(itoa::Buffer::new().format(micros / 1000).as_bytes());
        out.push(b'.');
        digits(out, u32::try_from(micros % 1000).unwrap_or(0), 3);
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
    }
}

fn write_opt_str(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(value) => write_str(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string: quotes, backslashes and control characters escaped.
fn write_str(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    let bytes = value.as_bytes();
    // Usually nothing needs escaping: one check (it vectorises) and one copy.
    if bytes
        .iter()
        .all(|&b| b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f)
    {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut plain_from = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(plain_from..i).unwrap_or_default());
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        plain_from = i + 1;
    }
    out.extend_from_slice(bytes.get(plain_from..).unwrap_or_default());
    out.push(b'"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record() -> AuditRecord {
        AuditRecord {
            ts: UNIX_EPOCH + Duration::from_millis(1_764_323_000_123),
            request_id: "r-1".into(),
            client_ip: "2001:db8::1".parse().unwrap(),
            method: method_name("POST"),
            host: "api.example.com".into(),
            path: "/a \"quoted\"\\path\u{1}\u{7f}é".into(),
            query: Some("q=1&token=REDACTED".into()),
            api: Some("shop".into()),
            route: None,
            status: 201,
            bytes_in: 12,
            bytes_out: 3456,
            duration_ms: 1.0,
            upstream_ms: Some(0.25),
            decision: Decision::Allow,
            reason: Some(Cow::Borrowed("waf-detected")),
            identity: Some(Identity {
                consumer: "alice".into(),
                method: "jwt".into(),
                scopes: vec!["read".into()],
                ..Identity::default()
            }),
            waf: WafNotes {
                matched_rules: vec![942100, 941100],
                anomaly_score: 10,
            },
        }
    }

    /// The line is the JSON serde_json would write for the same fields, in the
    /// contract's field order, and parses back to the same values.
    #[test]
    fn the_line_is_valid_json_with_every_field_in_order() {
        let r = record();
        let line = r.to_line();
        assert_eq!(line.last(), Some(&b'\n'));
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        let expected = serde_json::json!({
            "ts": rampart_core::time::rfc3339_millis(r.ts),
            "request_id": "r-1",
            "client_ip": "2001:db8::1",
            "method": "POST",
            "host": "api.example.com",
            "path": r.path,
            "query": "q=1&token=REDACTED",
            "api": "shop",
            "route": null,
            "status": 201,
            "bytes_in": 12,
            "bytes_out": 3456,
            "duration_ms": 1.0,
            "upstream_ms": 0.25,
            "decision": "allow",
            "reason": "waf-detected",
            "identity": serde_json::to_value(r.identity.as_ref().unwrap()).unwrap(),
            "waf": {"matched_rules": [942100, 941100], "anomaly_score": 10},
        });
        assert_eq!(value, expected);
        let text = std::str::from_utf8(&line).unwrap();
        let keys = [
            "ts",
            "request_id",
            "client_ip",
            "method",
            "host",
            "path",
            "query",
            "api",
            "route",
            "status",
            "bytes_in",
            "bytes_out",
            "duration_ms",
            "upstream_ms",
            "decision",
            "reason",
            "identity",
            "waf",
        ];
        let mut at = 0;
        for key in keys {
            let found = text[at..].find(&format!("\"{key}\":")).unwrap();
            at += found;
        }
        assert!(
            text.contains("\"ts\":\"2025-11-28T09:43:20.123Z\""),
            "{text}"
        );
        assert!(text.contains("\"duration_ms\":1.000,"), "{text}");
        assert!(text.contains("\"upstream_ms\":0.250,"), "{text}");
    }

    #[test]
    fn empty_options_are_null_and_non_finite_numbers_too() {
        let mut r = record();
        r.query = None;
        r.api = None;
        r.identity = None;
        r.reason = None;
        r.upstream_ms = None;
        r.duration_ms = f64::NAN;
        r.waf = WafNotes::default();
        r.client_ip = "10.0.0.1".parse().unwrap();
        let value: serde_json::Value = serde_json::from_slice(&r.to_line()).unwrap();
        for key in [
            "query",
            "api",
            "identity",
            "reason",
            "upstream_ms",
            "duration_ms",
        ] {
            assert!(value[key].is_null(), "{key}");
        }
        assert_eq!(value["client_ip"], "10.0.0.1");
        assert_eq!(
            value["waf"],
            serde_json::json!({"matched_rules": [], "anomaly_score": 0})
        );
    }

    #[test]
    fn durations_have_microsecond_resolution_and_odd_values_stay_valid() {
        let cases = [
            (0.0, "0.000"),
            (0.4724, "0.472"),
            (0.4726, "0.473"),
            (1.1787150000000002, "1.179"),
            (12345.0, "12345.000"),
            (-1.5, "-1.5"),
            (2e12, "2000000000000.0"),
        ];
        for (value, text) in cases {
            let mut out = Vec::new();
            write_f64(&mut out, value);
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
    }

    #[test]
    fn strings_are_escaped_only_where_needed() {
        let mut out = Vec::new();
        write_str(&mut out, "plain/path?x=1");
        write_str(&mut out, "a\"b\\c\nd\u{1}\u{7f}é");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"plain/path?x=1\"\"a\\\"b\\\\c\\nd\\u0001\\u007fé\""
        );
    }

    #[test]
    fn timestamps_match_the_core_formatter() {
        for millis in [0u64, 951_782_400_999, 1_709_164_799_000, 4_102_444_800_001] {
            let ts = UNIX_EPOCH + Duration::from_millis(millis);
            let mut out = Vec::new();
            write_timestamp(&mut out, ts);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                rampart_core::time::rfc3339_millis(ts)
            );
        }
    }
}
