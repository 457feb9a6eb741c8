//! Deprecation and sunset: the `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and `Link`
//! headers, 410 after sunset, and the consumer allowlist of deprecated operations.
//! Time comes from an injected [`Clock`].

use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;

use crate::config::DeprecationConfig;

/// A source of the current time, injected so tests can move it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock stuck at a given time (tests, demos).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_unix(&self) -> i64 {
        self.0
    }
}

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

    /// Whether the sunset has passed.
    pub fn is_sunset(&self, now: i64) -> bool {
        self.sunset.is_some_and(|s| now >= s)
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS(.frac)?(Z|±HH:MM)` or `YYYY-MM-DD` into Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    // At most four digits per field: keeps every later product far from overflow.
    let num = |s: &str| -> Option<i64> {
        if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (date, time) = match text.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let (y, m, d) = (
        num(parts.next()?)?,
        num(parts.next()?)?,
        num(parts.next()?)?,
    );
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if let Some(t) = time {
        let (clock, offset) = if let Some(c) = t.strip_suffix(['Z', 'z']) {
            (c, 0)
        } else {
            let at = t.rfind(['+', '-'])?;
            let (c, off) = t.split_at(at);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let (oh, om) = off.get(1..)?.split_once(':')?;
            (c, sign * (num(oh)? * 3600 + num(om)? * 60))
        };
        let clock = clock.split('.').next()?;
        let mut hms = clock.split(':');
        let (h, mi, s) = (num(hms.next()?)?, num(hms.next()?)?, num(hms.next()?)?);
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
        secs += h * 3600 + mi * 60 + s - offset;
    }
    Some(secs)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats Unix seconds as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let wd = WEEKDAYS
        .get(usize::try_from(days.rem_euclid(7)).unwrap_or(0))
        .copied()
        .unwrap_or("Thu");
    let mon = MONTHS
        .get(usize::try_from(m - 1).unwrap_or(0))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{wd}, {d:02} {mon} {y:04} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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
