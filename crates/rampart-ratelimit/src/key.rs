//! What a limit counts by, and how the value is taken from a request.
//!
//! A key's value comes from trusted facts: the client IP the gateway resolved
//! (the socket peer, or the first untrusted `X-Forwarded-For` hop behind a trusted
//! proxy), the authenticated identity, the matched route. Header and claim values
//! are client-chosen: they partition a limit, and a request with no usable
//! header value (absent, empty, not visible ASCII, longer than
//! [`MAX_KEY_VALUE_LEN`]) is counted per client IP instead, under
//! [`PER_IP`]`<ip>`: a client that omits the header gets a bucket of its own,
//! as with any value it chooses, and cannot use up one shared by every other
//! client without it.
//!
//! Identity keys other than `consumer` (`application`, `api_key`, `claim:<name>`)
//! never pool strangers: when the value is missing, empty, not a string, number or
//! boolean, or too long, the request is counted per consumer instead, under
//! [`PER_CONSUMER`]`<consumer>`. A real value starting with [`ESCAPE`] gets a
//! second one (header values too), so no real value can take a fallback bucket. Numbers
//! and booleans count as their JSON text (`42`, `true`).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::IpAddr;

use http::{HeaderMap, HeaderName};
use rampart_core::Identity;

/// Client-chosen values (headers, claims, an unmatched path) longer than this share
/// one bucket instead of being keys.
pub const MAX_KEY_VALUE_LEN: usize = 128;
/// Identity values (consumer, credential id, application) longer than this share
/// one bucket; the identity is verified, so the bound is only against pathology.
pub const MAX_IDENTITY_VALUE_LEN: usize = 512;

/// The bucket for requests without a value (no header, no claim).
pub const ABSENT: &str = "-";
/// The bucket for values longer than [`MAX_KEY_VALUE_LEN`] or not text.
pub const OVERSIZE: &str = "~";
/// The first character of an identity key's per-consumer fallback; doubled at the
/// start of a real value so the two can never be equal.
pub const ESCAPE: char = '#';
/// The prefix of an identity key's per-consumer fallback value.
pub const PER_CONSUMER: &str = "#consumer:";
/// The prefix of a header key's per-client-IP fallback value.
pub const PER_IP: &str = "#ip:";

/// The address a per-IP limit counts: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by
/// its /64 prefix. One IPv6 subscriber usually holds a whole /64, so counting /128s
/// would let one client rotate through 2^64 addresses and never be limited.
pub fn ip_bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(bits))
            }
        },
    }
}

/// What a limit partitions requests by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// The client IP (IPv6 by /64, see [`ip_bucket`]).
    ClientIp,
    /// The authenticated consumer.
    Consumer,
    /// The application: the `client_id` or `azp` claim, else the credential id.
    Application,
    /// The API key (credential id) the request used.
    ApiKey,
    /// The matched route or operation (the path when no route matched).
    Route,
    /// A request header's value.
    Header(HeaderName),
    /// A verified claim's value.
    Claim(String),
    /// One bucket for all requests.
    Global,
}

impl KeyKind {
    /// Parses `client_ip`, `consumer`, `application`, `api_key`, `route`, `global`,
    /// `header:<name>`, `claim:<name>`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "client_ip" | "ip" => Self::ClientIp,
            "consumer" => Self::Consumer,
            "application" => Self::Application,
            "api_key" => Self::ApiKey,
            "route" => Self::Route,
            "global" => Self::Global,
            other => {
                if let Some(name) = other.strip_prefix("header:") {
                    Self::Header(HeaderName::from_bytes(name.as_bytes()).ok()?)
                } else if let Some(name) = other.strip_prefix("claim:") {
                    if name.is_empty() {
                        return None;
                    }
                    Self::Claim(name.to_owned())
                } else {
                    return None;
                }
            }
        })
    }

    /// Whether the key needs an authenticated identity.
    pub fn needs_identity(&self) -> bool {
        matches!(
            self,
            Self::Consumer | Self::Application | Self::ApiKey | Self::Claim(_)
        )
    }

    /// A short tag for storage keys and adaptive overrides.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::ClientIp => "ip",
            Self::Consumer => "consumer",
            Self::Application => "app",
            Self::ApiKey => "key",
            Self::Route => "route",
            Self::Header(_) => "hdr",
            Self::Claim(_) => "claim",
            Self::Global => "global",
        }
    }
}

/// The request facts keys are taken from.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The resolved client IP.
    pub client_ip: IpAddr,
    /// The matched route template.
    pub route: Option<&'a str>,
    /// The normalised path (used for `route` when no route matched).
    pub path: &'a str,
    /// The authenticated caller.
    pub identity: Option<&'a Identity>,
    /// Request headers.
    pub headers: &'a HeaderMap,
}

impl<'a> Facts<'a> {
    /// The facts of a request context.
    pub fn of(cx: &'a rampart_core::RequestCx) -> Self {
        Self {
            client_ip: cx.client_ip,
            route: cx.route.as_deref(),
            path: &cx.path,
            identity: cx.identity.as_ref(),
            headers: &cx.headers,
        }
    }

    /// Appends the key value for `kind` to `out`; `false` when the limit does not
    /// apply (an identity-based key on an anonymous request).
    pub fn write_value(&self, kind: &KeyKind, out: &mut String) -> bool {
        match kind {
            KeyKind::ClientIp => {
                let _ = write!(out, "{}", ip_bucket(self.client_ip));
            }
            KeyKind::Route => bounded(
                out,
                Some(self.route.unwrap_or(self.path)),
                MAX_KEY_VALUE_LEN,
            ),
            KeyKind::Global => out.push('*'),
            KeyKind::Header(name) => {
                let usable = self
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| fits(v, MAX_KEY_VALUE_LEN));
                match usable {
                    Some(v) => push_escaped(out, v),
                    None => {
                        out.push_str(PER_IP);
                        let _ = write!(out, "{}", ip_bucket(self.client_ip));
                    }
                }
            }
            KeyKind::Consumer => {
                let Some(id) = self.identity else {
                    return false;
                };
                bounded(out, Some(&id.consumer), MAX_IDENTITY_VALUE_LEN);
            }
            KeyKind::ApiKey => {
                return self.identity_value(out, MAX_IDENTITY_VALUE_LEN, |id| {
                    id.credential_id.as_deref().map(Cow::Borrowed)
                });
            }
            KeyKind::Application => {
                return self.identity_value(out, MAX_IDENTITY_VALUE_LEN, |id| {
                    claim_text(id, "client_id")
                        .or_else(|| claim_text(id, "azp"))
                        .or_else(|| id.credential_id.as_deref().map(Cow::Borrowed))
                });
            }
            KeyKind::Claim(name) => {
                return self.identity_value(out, MAX_KEY_VALUE_LEN, |id| claim_text(id, name));
            }
        }
        true
    }

    /// Writes the value `pick` takes from the identity, or the consumer's fallback
    /// when there is no usable one (see the module docs).
    fn identity_value(
        &self,
        out: &mut String,
        max: usize,
        pick: impl FnOnce(&'a Identity) -> Option<Cow<'a, str>>,
    ) -> bool {
        let Some(id) = self.identity else {
            return false;
        };
        match pick(id).filter(|v| fits(v, max)) {
            Some(v) => push_escaped(out, &v),
            None => {
                out.push_str(PER_CONSUMER);
                let room = max.saturating_sub(PER_CONSUMER.len());
                if id.consumer.len() <= room {
                    out.push_str(&id.consumer);
                } else {
                    // Too long to spell out within the bound: its digest keeps
                    // it apart from every other consumer all the same.
                    out.push_str(OVERSIZE);
                    push_digest(out, b"rampart-ratelimit-key\0", id.consumer.as_bytes());
                }
            }
        }
        true
    }
}

/// Whether `value` can be a key value of at most `max` bytes: not empty, and
/// short enough with the escape [`push_escaped`] may add (no key value is ever
/// longer than its bound).
fn fits(value: &str, max: usize) -> bool {
    !value.is_empty() && value.len() + usize::from(value.starts_with(ESCAPE)) <= max
}

/// Appends a real value, its leading [`ESCAPE`] doubled so that it never equals
/// a fallback bucket's name.
fn push_escaped(out: &mut String, value: &str) {
    if value.starts_with(ESCAPE) {
        out.push(ESCAPE);
    }
    out.push_str(value);
}

/// 32 hex digits (128 bits: distinct values stay apart) of a SHA-256 of
/// `value` under `domain` (so the digests of one use never equal another's).
pub(crate) fn push_digest(out: &mut String, domain: &[u8], value: &[u8]) {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(domain)
        .chain_update(value)
        .finalize();
    for byte in digest.iter().take(16) {
        let _ = write!(out, "{byte:02x}");
    }
}

/// A claim as key text: strings as they are, numbers and booleans as their JSON
/// text; `None` for anything else (absent, null, objects, arrays) or empty.
fn claim_text<'a>(id: &'a Identity, name: &str) -> Option<Cow<'a, str>> {
    match id.claim(name)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(Cow::Borrowed(s.as_str())),
        serde_json::Value::Number(n) => Some(Cow::Owned(n.to_string())),
        serde_json::Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

fn bounded(out: &mut String, value: Option<&str>, max: usize) {
    match value {
        None | Some("") => out.push_str(ABSENT),
        Some(v) if v.len() > max => out.push_str(OVERSIZE),
        Some(v) => out.push_str(v),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn facts<'a>(headers: &'a HeaderMap, id: Option<&'a Identity>) -> Facts<'a> {
        Facts {
            client_ip: "203.0.113.7".parse().unwrap(),
            route: Some("POST /login"),
            path: "/login",
            identity: id,
            headers,
        }
    }

    fn value(f: &Facts<'_>, kind: &str) -> Option<String> {
        let mut s = String::new();
        f.write_value(&KeyKind::parse(kind).unwrap(), &mut s)
            .then_some(s)
    }

    #[test]
    fn values_come_from_trusted_facts() {
        let mut headers = HeaderMap::new();
        headers.insert("x-tenant", "acme".parse().unwrap());
        let mut id = Identity {
            consumer: "alice".into(),
            credential_id: Some("rk_live_ab12".into()),
            ..Identity::default()
        };
        id.claims.insert("azp".into(), "mobile-app".into());
        let f = facts(&headers, Some(&id));
        assert_eq!(value(&f, "client_ip").unwrap(), "203.0.113.7");
        assert_eq!(value(&f, "consumer").unwrap(), "alice");
        assert_eq!(value(&f, "api_key").unwrap(), "rk_live_ab12");
        assert_eq!(value(&f, "application").unwrap(), "mobile-app");
        assert_eq!(value(&f, "route").unwrap(), "POST /login");
        assert_eq!(value(&f, "header:x-tenant").unwrap(), "acme");
        assert_eq!(value(&f, "claim:azp").unwrap(), "mobile-app");
        assert_eq!(value(&f, "global").unwrap(), "*");
    }

    #[test]
    fn unusable_header_values_count_per_client_ip() {
        let mut headers = HeaderMap::new();
        let f = facts(&headers, None);
        assert_eq!(value(&f, "header:x-tenant").unwrap(), "#ip:203.0.113.7");
        assert_eq!(
            value(&f, "consumer"),
            None,
            "identity keys skip anonymous requests"
        );
        for unusable in ["a".repeat(500), String::new()] {
            headers.insert("x-tenant", unusable.parse().unwrap());
            let f = facts(&headers, None);
            assert_eq!(value(&f, "header:x-tenant").unwrap(), "#ip:203.0.113.7");
        }
        headers.insert(
            "x-tenant",
            http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        let f = facts(&headers, None);
        assert_eq!(value(&f, "header:x-tenant").unwrap(), "#ip:203.0.113.7");
        // A real value spelling a fallback bucket is escaped out of it.
        headers.insert("x-tenant", "#ip:203.0.113.7".parse().unwrap());
        let f = facts(&headers, None);
        assert_eq!(value(&f, "header:x-tenant").unwrap(), "##ip:203.0.113.7");
        // IPv6 clients by their /64.
        let empty = HeaderMap::new();
        let mut f = facts(&empty, None);
        f.client_ip = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        assert_eq!(value(&f, "header:x-tenant").unwrap(), "#ip:2001:db8:1:2::");
    }

    #[test]
    fn numeric_and_boolean_claims_count_as_their_text() {
        let headers = HeaderMap::new();
        let mut id = Identity {
            consumer: "alice".into(),
            ..Identity::default()
        };
        id.claims.insert("tenant".into(), 42.into());
        id.claims.insert("client_id".into(), 7.into());
        id.claims.insert("beta".into(), true.into());
        let f = facts(&headers, Some(&id));
        assert_eq!(value(&f, "claim:tenant").unwrap(), "42");
        assert_eq!(value(&f, "claim:beta").unwrap(), "true");
        assert_eq!(value(&f, "application").unwrap(), "7");
    }

    #[test]
    fn identity_keys_without_a_value_count_per_consumer_not_in_one_shared_bucket() {
        let headers = HeaderMap::new();
        let alice = Identity {
            consumer: "alice".into(),
            ..Identity::default()
        };
        let mut bob = Identity {
            consumer: "bob".into(),
            credential_id: Some(String::new()),
            ..Identity::default()
        };
        bob.claims.insert("tenant".into(), serde_json::Value::Null);
        bob.claims.insert("client_id".into(), "".into());
        for kind in ["api_key", "application", "claim:tenant"] {
            let a = value(&facts(&headers, Some(&alice)), kind).unwrap();
            let b = value(&facts(&headers, Some(&bob)), kind).unwrap();
            assert_eq!(a, "#consumer:alice", "{kind}");
            assert_eq!(b, "#consumer:bob", "{kind}");
        }
        // Too long a claim, or an object, is no value either.
        bob.claims.insert("tenant".into(), "t".repeat(500).into());
        bob.claims
            .insert("org".into(), serde_json::json!({"id": 1}));
        let f = facts(&headers, Some(&bob));
        assert_eq!(value(&f, "claim:tenant").unwrap(), "#consumer:bob");
        assert_eq!(value(&f, "claim:org").unwrap(), "#consumer:bob");
        // A real value cannot take a consumer's fallback bucket.
        let mut mallory = Identity {
            consumer: "mallory".into(),
            ..Identity::default()
        };
        mallory
            .claims
            .insert("tenant".into(), "#consumer:alice".into());
        let f = facts(&headers, Some(&mallory));
        assert_eq!(value(&f, "claim:tenant").unwrap(), "##consumer:alice");
    }

    #[test]
    fn fallback_and_escaped_values_stay_within_the_bound() {
        // Found by the ratelimit_keys fuzz target: a consumer too long for the
        // claim bound after the fallback's prefix made a 160-byte key value.
        let headers = HeaderMap::new();
        let long = |c: char| std::iter::repeat_n(c, 150).collect::<String>();
        let mut a = Identity {
            consumer: long('a'),
            ..Identity::default()
        };
        a.claims.insert("tenant".into(), long('t').into());
        let f = facts(&headers, Some(&a));
        let value_a = value(&f, "claim:tenant").unwrap();
        assert!(value_a.len() <= MAX_KEY_VALUE_LEN, "{value_a}");
        assert!(value_a.starts_with(PER_CONSUMER), "{value_a}");
        // Another long consumer keeps its own bucket.
        let b = Identity {
            consumer: long('b'),
            ..Identity::default()
        };
        let f = facts(&headers, Some(&b));
        assert_ne!(value(&f, "claim:tenant").unwrap(), value_a);
        // A real value of the full length that needs the escape falls back
        // rather than growing past the bound.
        let mut c = Identity {
            consumer: "carol".into(),
            ..Identity::default()
        };
        let hashed = format!("#{}", "x".repeat(MAX_KEY_VALUE_LEN - 1));
        c.claims.insert("tenant".into(), hashed.into());
        let f = facts(&headers, Some(&c));
        assert_eq!(value(&f, "claim:tenant").unwrap(), "#consumer:carol");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix() {
        let headers = HeaderMap::new();
        let mut f = facts(&headers, None);
        f.client_ip = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
        assert_eq!(value(&f, "client_ip").unwrap(), "2001:db8:1:2::");
        f.client_ip = "2001:db8:1:2::9".parse().unwrap();
        assert_eq!(value(&f, "client_ip").unwrap(), "2001:db8:1:2::");
        f.client_ip = "2001:db8:1:3::9".parse().unwrap();
        assert_eq!(value(&f, "client_ip").unwrap(), "2001:db8:1:3::");
        f.client_ip = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(value(&f, "client_ip").unwrap(), "203.0.113.7");
    }

    #[test]
    fn unknown_kinds_are_rejected() {
        for bad in [
            "",
            "ip4",
            "header:",
            "header:bad name",
            "claim:",
            "Consumer",
        ] {
            assert!(KeyKind::parse(bad).is_none(), "{bad}");
        }
    }
}
