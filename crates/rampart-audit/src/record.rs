//! The audit record: who called what, with which result, sizes and timing.
//!
//! [`AuditRecord::write_line`] writes the record straight into a caller's
//! buffer (the queue's, see `writer`) in serde_json's format (`line`), so a
//! record costs no allocation of its own once the queue's buffer has grown.

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::SystemTime;

use rampart_core::{Identity, WafNotes};
use serde::{Serialize, Serializer};

mod line;

/// The outcome of a request, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Forwarded to the upstream and answered.
    Allow,
    /// Refused by Rampart (a stage or a protocol check).
    Deny,
    /// Forwarded, but the upstream could not be reached, timed out, or
    /// answered with a server error that a response stage masked.
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

/// One JSON line per request. Field names are a fixed contract, written in
/// this order.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// When the request arrived; written as RFC 3339 UTC with milliseconds.
    #[serde(serialize_with = "timestamp")]
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
    /// Request body bytes read from the client: as far as the request path
    /// read the body (nothing of a refused request's body still in flight),
    /// or the whole of a body that arrived with its head.
    pub bytes_in: u64,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// Total time in Rampart, milliseconds (microsecond resolution).
    #[serde(serialize_with = "millis")]
    pub duration_ms: f64,
    /// Time waiting for the upstream's response head, milliseconds.
    #[serde(serialize_with = "opt_millis")]
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
        line::write(self, out);
        out.push(b'\n');
    }
}

fn timestamp<S: Serializer>(ts: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let text = rampart_core::time::rfc3339_millis_bytes(*ts);
    s.serialize_str(std::str::from_utf8(&text).unwrap_or_default())
}

/// Milliseconds rounded to the microsecond: `0.473`, not `0.47291800000000003`.
fn millis<S: Serializer>(ms: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(millis_rounded(*ms))
}

fn millis_rounded(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

fn opt_millis<S: Serializer>(ms: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => millis(ms, s),
        None => s.serialize_none(),
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// A record with every field set (also the base of `line`'s tests).
    pub(super) fn record() -> AuditRecord {
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
        assert!(text.contains("\"duration_ms\":1.0,"), "{text}");
        assert!(text.contains("\"upstream_ms\":0.25,"), "{text}");
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
            (0.0, "0.0"),
            (0.4724, "0.472"),
            (0.4726, "0.473"),
            (1.1787150000000002, "1.179"),
            (12345.0, "12345.0"),
            (-1.5, "-1.5"),
            (2e12, "2000000000000.0"),
        ];
        for (value, text) in cases {
            let mut r = record();
            r.duration_ms = value;
            let line = String::from_utf8(r.to_line()).unwrap();
            assert!(
                line.contains(&format!("\"duration_ms\":{text},")),
                "{value}: {line}"
            );
            serde_json::from_str::<serde_json::Value>(&line).unwrap();
        }
    }

    #[test]
    fn strings_with_quotes_and_control_characters_stay_one_valid_line() {
        let mut r = record();
        r.path = "/a\"b\\c\nd\r\u{1}\u{7f}é".into();
        r.request_id = "line\nbreak".into();
        let line = r.to_line();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["path"], r.path.as_str());
        assert_eq!(value["request_id"], "line\nbreak");
    }

    #[test]
    fn timestamps_match_the_core_formatter() {
        for millis in [0u64, 951_782_400_999, 1_709_164_799_000, 4_102_444_800_001] {
            let mut r = record();
            r.ts = UNIX_EPOCH + Duration::from_millis(millis);
            let value: serde_json::Value = serde_json::from_slice(&r.to_line()).unwrap();
            assert_eq!(value["ts"], rampart_core::time::rfc3339_millis(r.ts));
        }
        let r = record();
        let value: serde_json::Value = serde_json::from_slice(&r.to_line()).unwrap();
        assert_eq!(value["ts"], "2025-11-28T09:43:20.123Z");
    }
}
