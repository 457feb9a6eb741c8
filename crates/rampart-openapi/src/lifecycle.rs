//! Deprecation and sunset: the `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and `Link`
//! headers, 410 after sunset, and the consumer allowlist of deprecated operations.
//! Time comes from an injected [`Clock`] (`rampart_core::time`'s, re-exported).

use http::HeaderValue;
pub use rampart_core::time::{Clock, ManualClock, SystemClock};

use crate::config::DeprecationConfig;

/// The compiled lifecycle of an operation.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    /// Deprecated since (Unix seconds).
    pub since: i64,
    /// Sunset (Unix seconds).
    pub sunset: Option<i64>,
    /// Headers to add to every response.
    pub headers: Vec<(http::HeaderName, HeaderValue)>,
    /// Only these consumers may call it.
    pub allowed_consumers: Option<Vec<String>>,
}

impl Lifecycle {
    /// Compiles a deprecation; `field` names it in errors.
    pub fn compile(cfg: &DeprecationConfig, field: &str) -> Result<Lifecycle, String> {
        let since = match &cfg.since {
            Some(s) => parse_rfc3339(s)
                .ok_or_else(|| format!("{field}.since: not an RFC 3339 date-time"))?,
            None => 0,
        };
        let sunset = match &cfg.sunset {
            Some(s) => Some(
                parse_rfc3339(s)
                    .ok_or_else(|| format!("{field}.sunset: not an RFC 3339 date-time"))?,
            ),
            None => None,
        };
        if sunset.is_some_and(|sunset| sunset < since) {
            return Err(format!("{field}.sunset: before `since`"));
        }
        if cfg.allowed_consumers.as_ref().is_some_and(Vec::is_empty) {
            return Err(format!(
                "{field}.allowed_consumers: empty (nobody could call it): leave it out to allow everyone, or set `sunset` to retire the operation"
            ));
        }
        let mut headers = Vec::new();
        let value = |s: String, name: &str| {
            HeaderValue::from_str(&s).map_err(|_| format!("{field}.{name}: not usable in a header"))
        };
        headers.push((
            http::HeaderName::from_static("deprecation"),
            value(format!("@{since}"), "since")?,
        ));
        if let Some(t) = sunset {
            headers.push((
                http::HeaderName::from_static("sunset"),
                value(http_date(t), "sunset")?,
            ));
        }
        if let Some(link) = &cfg.link {
            if link.contains(['<', '>', '"', '\r', '\n']) {
                return Err(format!("{field}.link: must be a plain URI"));
            }
            headers.push((
                http::header::LINK,
                value(
                    format!("<{link}>; rel=\"deprecation\"; type=\"text/html\""),
                    "link",
                )?,
            ));
        }
        Ok(Lifecycle {
            since,
            sunset,
            headers,
            allowed_consumers: cfg.allowed_consumers.clone(),
        })
    }

    /// The lifecycle of an operation the spec marks `deprecated: true` without configuration.
    pub fn spec_deprecated() -> Lifecycle {
        Lifecycle {
            since: 0,
            sunset: None,
            headers: vec![(
                http::HeaderName::from_static("deprecation"),
                HeaderValue::from_static("@0"),
            )],
            allowed_consumers: None,
        }
    }

    /// The consumers allowed now: the allowlist applies once the deprecation
    /// has begun (`since`); before it, everyone may call. The clock is read
    /// only for an operation with an allowlist.
    pub fn allowed_at(&self, clock: &dyn Clock) -> Option<&[String]> {
        let allowed = self.allowed_consumers.as_deref()?;
        (unix_now(clock) >= self.since).then_some(allowed)
    }

    /// Whether the sunset has passed.
    pub fn is_sunset(&self, now: i64) -> bool {
        self.sunset.is_some_and(|s| now >= s)
    }
}

/// `clock`'s time in the signed seconds lifecycles compare.
pub fn unix_now(clock: &dyn Clock) -> i64 {
    i64::try_from(clock.unix_secs()).unwrap_or(i64::MAX)
}

/// Parses an RFC 3339 date-time (`2026-01-01T00:00:00Z`, any offset) or a bare date
/// (`2026-01-01`, midnight UTC) into Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let is_date = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if is_date {
        return rampart_core::time::parse_rfc3339(&format!("{text}T00:00:00Z"));
    }
    rampart_core::time::parse_rfc3339(text)
}

/// Formats Unix seconds as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(secs: i64) -> String {
    rampart_core::time::http_date(secs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1994-11-06T08:49:37Z"), Some(784_111_777));
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            parse_rfc3339("1994-11-06T09:49:37+01:00"),
            Some(784_111_777)
        );
        assert_eq!(parse_rfc3339("2027-01-01"), Some(1_798_761_600));
        assert_eq!(http_date(1_798_761_600), "Fri, 01 Jan 2027 00:00:00 GMT");
        assert_eq!(parse_rfc3339("2027-13-01"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("99999999999999999-01-01"), None);
    }

    #[test]
    fn headers_follow_the_rfcs() {
        let cfg = DeprecationConfig {
            since: Some("2026-01-01T00:00:00Z".into()),
            sunset: Some("2027-01-01T00:00:00Z".into()),
            link: Some("https://example.com/deprecations/v1".into()),
            allowed_consumers: None,
        };
        let l = Lifecycle::compile(&cfg, "deprecation").unwrap();
        let get = |n: &str| {
            l.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.to_str().unwrap().to_string())
        };
        assert_eq!(get("deprecation").unwrap(), "@1767225600");
        assert_eq!(get("sunset").unwrap(), "Fri, 01 Jan 2027 00:00:00 GMT");
        assert_eq!(
            get("link").unwrap(),
            "<https://example.com/deprecations/v1>; rel=\"deprecation\"; type=\"text/html\""
        );
        assert!(!l.is_sunset(1_798_761_599));
        assert!(l.is_sunset(1_798_761_600));
    }
}
