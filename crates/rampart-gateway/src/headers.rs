//! Header handling on the way in and out: request ids, the client IP behind trusted
//! proxies, hop-by-hop removal, `X-Forwarded-*`, and headers that reveal the
//! upstream's software.

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue, header};
use ipnet::IpNet;

/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Headers meaningful only for one connection (RFC 9110 §7.6.1), never forwarded.
pub(crate) const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// Upstream response headers that name the upstream's software, removed on
/// the way to the client.
const UPSTREAM_SOFTWARE: [&str; 2] = ["server", "x-powered-by"];

/// Whether an upstream response header named `name` (any case) is removed on
/// the way to the client by name: hop-by-hop or naming the upstream's
/// software, as [`clean_response`] does (headers named by `Connection`
/// aside). The response parser's header lines use it too.
pub fn removed_from_responses(name: &[u8]) -> bool {
    HOP_BY_HOP
        .iter()
        .chain(&UPSTREAM_SOFTWARE)
        .any(|known| name.eq_ignore_ascii_case(known.as_bytes()))
}

/// Appends the header line `prefix` `value` CRLF; `prefix` is the name with
/// its `: ` (fixed names are written with it: one copy fewer per line).
pub(crate) fn write_line(out: &mut Vec<u8>, prefix: &[u8], value: &[u8]) {
    out.extend_from_slice(prefix);
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Where in `head` the whole line `name: value` CRLF lies, given where its
/// name and value lie, when it is exactly that form (one space after the
/// colon, CRLF right after the value): such a line can be copied as received
/// instead of written anew from its pieces.
pub(crate) fn line_as_received(
    head: &[u8],
    name: std::ops::Range<usize>,
    value: std::ops::Range<usize>,
) -> Option<std::ops::Range<usize>> {
    let line_end = value.end + 2;
    (value.start == name.end + 2
        && head.get(name.end..value.start)? == b": "
        && head.get(value.end..line_end)? == b"\r\n")
        .then_some(name.start..line_end)
}

/// Whether the token `name` (a field name httparse accepted) is `lower` in
/// any case, where `lower` is lower-case letters, digits and `-`. Eight bytes
/// at a time: OR-ing 0x20 into a token's bytes lower-cases its letters and
/// turns no other token byte into a letter, a digit or `-`, so one OR and one
/// compare per word replace folding each byte. (Not for arbitrary bytes: CR
/// ORed with 0x20 is `-`.)
pub(crate) fn token_is(name: &[u8], lower: &[u8]) -> bool {
    const FOLD: u64 = 0x2020_2020_2020_2020;
    let word = |bytes: &[u8], at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|word| <[u8; 8]>::try_from(word).ok())
            .map_or(0, u64::from_le_bytes)
    };
    if name.len() != lower.len() {
        return false;
    }
    let Some(last) = name.len().checked_sub(8) else {
        return name
            .iter()
            .zip(lower)
            .all(|(&byte, &lower)| byte | 0x20 == lower);
    };
    // Whole words, then the last eight bytes (overlapping the one before).
    (0..last)
        .step_by(8)
        .chain([last])
        .all(|at| word(name, at) | FOLD == word(lower, at))
}

/// A header name as received (any case), as `HeaderName::from_bytes` makes
/// it. The names nearly every request and response carries are recognised by
/// length and a case-insensitive compare, without the generic path's
/// lower-casing copy and table search; every other name takes that path.
pub fn header_name(raw: &[u8]) -> Result<HeaderName, http::header::InvalidHeaderName> {
    let known =
        |name: &'static [u8], header: HeaderName| raw.eq_ignore_ascii_case(name).then_some(header);
    let found = match raw.len() {
        4 => known(b"host", header::HOST).or_else(|| known(b"date", header::DATE)),
        6 => known(b"accept", header::ACCEPT).or_else(|| known(b"server", header::SERVER)),
        10 => known(b"user-agent", header::USER_AGENT)
            .or_else(|| known(b"connection", header::CONNECTION)),
        12 => known(b"content-type", header::CONTENT_TYPE),
        13 => known(b"authorization", header::AUTHORIZATION)
            .or_else(|| known(b"cache-control", header::CACHE_CONTROL)),
        14 => known(b"content-length", header::CONTENT_LENGTH),
        15 => known(b"accept-encoding", header::ACCEPT_ENCODING)
            .or_else(|| known(b"accept-language", header::ACCEPT_LANGUAGE)),
        17 => known(b"transfer-encoding", header::TRANSFER_ENCODING),
        _ => None,
    };
    match found {
        Some(name) => Ok(name),
        None => HeaderName::from_bytes(raw),
    }
}

/// The inbound request id if well-formed (1–128 of `[A-Za-z0-9._:-]`), else a new one.
pub fn request_id(headers: &HeaderMap) -> String {
    request_id_from(headers.get(&X_REQUEST_ID).map(HeaderValue::as_bytes))
}

/// [`request_id`] given the first `X-Request-Id` value, if any.
pub fn request_id_from(inbound: Option<&[u8]>) -> String {
    let well_formed = inbound.filter(|id| {
        (1..=128).contains(&id.len())
            && id
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    });
    // Only ASCII letters, digits and `._:-`: valid UTF-8.
    match well_formed.and_then(|id| std::str::from_utf8(id).ok()) {
        Some(id) => id.to_string(),
        None => generate_request_id(),
    }
}

fn generate_request_id() -> String {
    /// Each byte's two lower-case hex digits: a lookup per byte, not per digit.
    const HEX_PAIRS: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut pairs = [[0u8; 2]; 256];
        let mut byte = 0;
        while byte < 256 {
            pairs[byte] = [DIGITS[byte >> 4], DIGITS[byte & 0xf]];
            byte += 1;
        }
        pairs
    };
    // One 128-bit draw: sampling a `[u8; 16]` draws each byte on its own.
    let bits: u128 = rand::random();
    let mut hex = [0u8; 32];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(bits.to_be_bytes()) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
    }
    std::str::from_utf8(&hex).map_or_else(|_| String::new(), str::to_owned)
}

/// The client's IP: the socket peer, unless the peer is a trusted proxy, in which
/// case the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
/// (Right-most, because every entry left of the last trusted hop was written by
/// whoever the client is and proves nothing.)
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    client_ip_from(
        peer,
        headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .map(HeaderValue::as_bytes),
        trusted,
    )
}

/// [`client_ip`] given the `X-Forwarded-For` values, in order.
pub fn client_ip_from<'a>(
    peer: IpAddr,
    forwarded_for: impl Iterator<Item = &'a [u8]>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    // Split at the byte level: an entry the client wrote with a byte past
    // ASCII is one garbled entry, not a reason to drop the whole field with
    // the address the trusted proxy appended to it (that made the proxy the
    // client: a second rate-limit budget for whoever sent it).
    let hops = forwarded_for
        .flat_map(|value| value.split(|&b| b == b','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        let parsed = std::str::from_utf8(hop.trim_ascii())
            .ok()
            .and_then(|hop| hop.parse::<IpAddr>().ok())
            .map(|ip| ip.to_canonical());
        match parsed {
            Some(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // A garbled entry ends the chain: trust nothing beyond it.
            None => break,
        }
    }
    client
}

/// Whether a field named `name` (any case) is hop-by-hop.
pub fn is_hop_by_hop_name(name: &[u8]) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|hop| name.eq_ignore_ascii_case(hop.as_bytes()))
}

/// Whether `name` is one of [`HOP_BY_HOP`].
fn is_hop_by_hop(name: &HeaderName) -> bool {
    // Standard names compare by tag; the two non-standard ones by text.
    name == header::CONNECTION
        || name == header::TE
        || name == header::TRAILER
        || name == header::UPGRADE
        || name == header::PROXY_AUTHENTICATE
        || name == header::PROXY_AUTHORIZATION
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names instead of a hashed
    // lookup per hop-by-hop name (this runs twice per request).
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    // The usual `Connection: keep-alive` / `close` name nothing beyond the
    // hop-by-hop set itself, so those tokens cost no header-name copy.
    // Split as bytes: a value with a non-ASCII token must still give up the
    // names beside it.
    let named = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|token| {
            !token.eq_ignore_ascii_case(b"close")
                && !HOP_BY_HOP
                    .iter()
                    .any(|hop| token.eq_ignore_ascii_case(hop.as_bytes()))
        })
        .filter_map(|name| HeaderName::from_bytes(name).ok());
    // Only the hop-by-hop names present, found in the same single pass.
    let present = headers.keys().filter(|name| is_hop_by_hop(name)).cloned();
    let doomed: Vec<HeaderName> = named.chain(present).collect();
    for name in doomed {
        // End-to-end headers named in `Connection` are dropped too (RFC 9110
        // §7.6.1), whatever they are: what the gateway sets itself (the
        // request id, `X-Forwarded-*`) is set after this runs.
        headers.remove(name);
    }
}

/// A connection's peer as [`set_forwarded`] needs it: the address, and the same
/// as a header value, made once per connection instead of once per request.
#[derive(Debug, Clone)]
pub struct ForwardedPeer {
    /// The TCP peer's address.
    pub ip: IpAddr,
    /// `ip` as an `X-Forwarded-For` value.
    pub value: HeaderValue,
}

impl ForwardedPeer {
    /// The peer `ip`.
    pub fn new(ip: IpAddr) -> Self {
        // An address's text is always a valid header value.
        let value = HeaderValue::from_str(&ip.to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        Self { ip, value }
    }
}

/// Fields from which an upstream may take the client's address or the
/// request's origin (scheme, port, host, path prefix) that the gateway does
/// not set itself: dropped from a client that is not a trusted proxy, as its
/// `X-Forwarded-*` are replaced; a trusted proxy's are kept. Lower-case.
pub const CLIENT_ADDRESS_FIELDS: [&str; 14] = [
    "forwarded",
    "x-real-ip",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-forwarded-ssl",
    "x-forwarded-scheme",
    "front-end-https",
    "x-url-scheme",
    "true-client-ip",
    "x-client-ip",
    "cf-connecting-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
];

/// Fields that make some upstreams (IIS, older Symfony and Zend) serve
/// another path than the request line's, which routing and every stage
/// decided on: dropped from every client, a trusted proxy too (a rewriting
/// proxy in front adds `X-Original-URL` to everything; the path it forwarded
/// is the one checked). The OpenAPI stage removes them too, where it runs.
/// Lower-case.
pub const URL_OVERRIDE_FIELDS: [&str; 2] = ["x-original-url", "x-rewrite-url"];

/// Bit `n` set: a name of `names` is `n` bytes long (all are under 64). One
/// test rules out most names before any comparison.
pub(crate) const fn length_mask(names: &[&str]) -> u64 {
    let mut mask = 0u64;
    let mut i = 0;
    while i < names.len() {
        mask |= 1 << names[i].len();
        i += 1;
    }
    mask
}

/// Whether a name of `mask`'s length could be there.
fn length_in(mask: u64, name: &[u8]) -> bool {
    name.len() < 64 && mask & (1 << name.len()) != 0
}

/// Bit `n` set: a name of `names` starts with the `n`th letter (`a` = 0; all
/// start with a letter). With the lengths, it rules out common fields such
/// as `Accept-Language`, as long as `X-Forwarded-For`, before any comparison.
const fn first_letter_mask(names: &[&str]) -> u32 {
    let mut mask = 0u32;
    let mut i = 0;
    while i < names.len() {
        mask |= 1 << (names[i].as_bytes()[0] - b'a');
        i += 1;
    }
    mask
}

/// Whether a name starting with `name`'s first letter (any case) could be there.
fn first_letter_in(mask: u32, name: &[u8]) -> bool {
    match name.first().map(u8::to_ascii_lowercase) {
        Some(first @ b'a'..=b'z') => mask & (1 << (first - b'a')) != 0,
        _ => false,
    }
}

const CLIENT_ADDRESS_LENGTHS: u64 =
    length_mask(&CLIENT_ADDRESS_FIELDS) | length_mask(&UNDERSCORE_SENSITIVE);
const CLIENT_ADDRESS_FIRST_LETTERS: u32 =
    first_letter_mask(&CLIENT_ADDRESS_FIELDS) | first_letter_mask(&UNDERSCORE_SENSITIVE);
const URL_OVERRIDE_LENGTHS: u64 = length_mask(&URL_OVERRIDE_FIELDS);

/// The names CGI-style upstreams (PHP, WSGI, Rack) cannot tell from ours when
/// written with `_` for `-`: they read `X_Forwarded_For` as `HTTP_X_FORWARDED_FOR`.
const UNDERSCORE_SENSITIVE: [&str; 6] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
    "x-request-id",
    "forwarded",
];

/// Whether a client's field named `name` (any case) is dropped when the client
/// is not a trusted proxy: one of [`CLIENT_ADDRESS_FIELDS`] (with `-` or `_`),
/// or a name of [`UNDERSCORE_SENSITIVE`] written with underscores.
pub fn is_client_address_field(name: &[u8]) -> bool {
    if !length_in(CLIENT_ADDRESS_LENGTHS, name)
        || !first_letter_in(CLIENT_ADDRESS_FIRST_LETTERS, name)
    {
        return false;
    }
    if CLIENT_ADDRESS_FIELDS
        .iter()
        .any(|field| rampart_core::names::is_spelling(field, name))
    {
        return true;
    }
    name.contains(&b'_')
        && UNDERSCORE_SENSITIVE
            .iter()
            .any(|field| rampart_core::names::is_underscore_spelling(field, name))
}

/// Whether a client's field named `name` (any case, `-` or `_`) is one of
/// [`URL_OVERRIDE_FIELDS`], dropped from every client.
pub fn is_url_override_field(name: &[u8]) -> bool {
    length_in(URL_OVERRIDE_LENGTHS, name)
        && URL_OVERRIDE_FIELDS
            .iter()
            .any(|field| rampart_core::names::is_spelling(field, name))
}

/// Sets `X-Forwarded-For/-Proto/-Host` on a request going upstream. Inbound values
/// are kept (and appended to) only when the peer is a trusted proxy; from any
/// other client, the fields of [`is_client_address_field`] are dropped. The
/// fields of [`is_url_override_field`] are dropped from every client.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    peer_trusted: bool,
    peer: &ForwardedPeer,
    proto: &'static str,
    host: &str,
) {
    // URL overrides from anyone; other fields an upstream may take the
    // client's address from, unless a trusted proxy set them. (Collecting
    // none allocates nothing.)
    let dropped: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let name = name.as_str().as_bytes();
            is_url_override_field(name) || (!peer_trusted && is_client_address_field(name))
        })
        .cloned()
        .collect();
    for name in dropped {
        headers.remove(name);
    }
    if !peer_trusted {
        // `insert` replaces whatever the client sent under these names.
        headers.insert(X_FORWARDED_FOR.clone(), peer.value.clone());
        headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
        if let Ok(value) = HeaderValue::from_str(host) {
            headers.insert(X_FORWARDED_HOST.clone(), value);
        } else {
            headers.remove(&X_FORWARDED_HOST);
        }
        return;
    }
    // Every inbound line, joined in order, then the peer: the chain
    // `client_ip_from` reads. Taking only the first line (a proxy may add its
    // own line instead of appending) let the upstream see another client than
    // the one Rampart's stages judged. Bytes, not text: an entry with a byte
    // past ASCII stays one garbled entry there too, not a lost chain.
    let mut joined = Vec::new();
    for value in headers.get_all(&X_FORWARDED_FOR) {
        joined.extend_from_slice(value.as_bytes());
        joined.extend_from_slice(b", ");
    }
    let forwarded_for = if joined.is_empty() {
        Some(peer.value.clone())
    } else {
        joined.extend_from_slice(peer.value.as_bytes());
        HeaderValue::from_bytes(&joined).ok()
    };
    if let Some(value) = forwarded_for {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
    if !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    }
    if !headers.contains_key(&X_FORWARDED_HOST)
        && let Ok(value) = HeaderValue::from_str(host)
    {
        headers.insert(X_FORWARDED_HOST.clone(), value);
    }
}

/// Cleans an upstream response's headers: hop-by-hop, `Server`, `X-Powered-By`.
pub fn clean_response(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
    for name in UPSTREAM_SOFTWARE {
        headers.remove(name);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_client_address_field_passes_the_quick_filters() {
        for field in CLIENT_ADDRESS_FIELDS {
            for spelling in [
                field.to_string(),
                field.to_ascii_uppercase(),
                field.replace('-', "_"),
            ] {
                assert!(is_client_address_field(spelling.as_bytes()), "{spelling}");
            }
        }
        for field in UNDERSCORE_SENSITIVE {
            let spelling = field.replace('-', "_").to_ascii_uppercase();
            assert!(is_client_address_field(spelling.as_bytes()), "{spelling}");
        }
        for other in [
            "accept-language",
            "authorization",
            "x-forwarded-for",
            "",
            "9",
        ] {
            assert!(!is_client_address_field(other.as_bytes()), "{other}");
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn known_names_are_the_generic_parse_in_any_case_and_others_fall_through() {
        let names = [
            "host",
            "date",
            "accept",
            "server",
            "user-agent",
            "connection",
            "content-type",
            "authorization",
            "cache-control",
            "content-length",
            "accept-encoding",
            "accept-language",
            "transfer-encoding",
            "x-request-id",
            "etag",
            "hostx",
            "hos",
            "content-lengtH",
            "ACCEPT",
            "X-Custom",
            "accept-charset",
            "set-cookie",
        ];
        for name in names {
            for text in [
                name.to_string(),
                name.to_ascii_uppercase(),
                name.to_ascii_lowercase(),
            ] {
                let ours = header_name(text.as_bytes()).unwrap();
                assert_eq!(
                    ours,
                    HeaderName::from_bytes(text.as_bytes()).unwrap(),
                    "{text}"
                );
                assert_eq!(ours.as_str(), name.to_ascii_lowercase(), "{text}");
            }
        }
        for bad in ["", "ho st", "h\u{e9}st", "host:", "(date)"] {
            assert!(header_name(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_is_agrees_with_a_case_insensitive_compare_for_every_token() {
        const TOKEN_PUNCTUATION: &[u8] = b"!#$%&'*+-.^_`|~";
        let token_bytes: Vec<u8> = (0u8..=127)
            .filter(|b| b.is_ascii_alphanumeric() || TOKEN_PUNCTUATION.contains(b))
            .collect();
        for lower in [
            &b"te"[..],
            b"date",
            b"server",
            b"connection",
            b"x-request-id",
            b"content-length",
            b"x-forwarded-for",
            b"transfer-encoding",
            b"strict-transport-security",
        ] {
            assert!(token_is(lower, lower));
            assert!(token_is(&lower.to_ascii_uppercase(), lower));
            assert!(!token_is(&lower[1..], lower));
            // Every token byte at every position, in a name otherwise upper-case.
            for at in 0..lower.len() {
                for &byte in &token_bytes {
                    let mut name = lower.to_ascii_uppercase();
                    name[at] = byte;
                    assert_eq!(
                        token_is(&name, lower),
                        name.eq_ignore_ascii_case(lower),
                        "{:?} against {:?}",
                        String::from_utf8_lossy(&name),
                        String::from_utf8_lossy(lower)
                    );
                }
            }
        }
    }

    #[test]
    fn well_formed_request_ids_are_kept_others_replaced() {
        assert_eq!(
            request_id(&headers(&[("x-request-id", "ftw-abc_1.2:3")])),
            "ftw-abc_1.2:3"
        );
        for bad in ["", "has space", "semi;colon", &"x".repeat(129)] {
            let id = request_id(&headers(&[("x-request-id", bad)]));
            assert_eq!(id.len(), 32, "{bad:?}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert_ne!(id, bad);
        }
        assert_ne!(request_id(&HeaderMap::new()), request_id(&HeaderMap::new()));
    }

    #[test]
    fn generated_request_ids_use_every_hex_digit_in_both_halves_of_a_byte() {
        // 64 ids: 1,024 high and 1,024 low digits; a digit missing from either
        // half by chance is less likely than 1 in 10^26.
        let mut high = std::collections::BTreeSet::new();
        let mut low = std::collections::BTreeSet::new();
        for _ in 0..64 {
            let id = generate_request_id();
            for pair in id.as_bytes().chunks_exact(2) {
                high.insert(pair[0]);
                low.insert(pair[1]);
            }
        }
        let digits: std::collections::BTreeSet<u8> = b"0123456789abcdef".iter().copied().collect();
        assert_eq!(high, digits);
        assert_eq!(low, digits);
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(client_ip(peer, &h, &[]), peer);
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(client_ip(peer, &h, &trusted), peer);
    }

    #[test]
    fn forwarded_for_from_trusted_proxies_yields_the_first_untrusted_hop() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        // The client forged 6.6.6.6; the trusted LB appended the real client 198.51.100.7.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.2")]);
        assert_eq!(
            client_ip(peer, &h, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let garbled = headers(&[("x-forwarded-for", "6.6.6.6, junk")]);
        assert_eq!(client_ip(peer, &garbled, &trusted), peer);
        // A byte past ASCII in what the client wrote garbles that entry only:
        // the address the proxy appended still names the client (it used to
        // drop the whole field, making the proxy the client).
        let high = [&b"\xff"[..], b", 198.51.100.7"].concat();
        assert_eq!(
            client_ip_from(peer, [high.as_slice()].into_iter(), &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_removed() {
        let mut h = headers(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("accept", "*/*"),
        ]);
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
    }

    #[test]
    fn a_non_ascii_token_does_not_shield_the_names_beside_it() {
        let mut h = headers(&[("x-secret-hop", "1"), ("accept", "*/*")]);
        h.append(
            header::CONNECTION,
            HeaderValue::from_bytes(b"x-secret-hop, caf\xe9").unwrap(),
        );
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("accept"));
    }

    #[test]
    fn each_hop_by_hop_header_alone_is_removed() {
        for name in HOP_BY_HOP {
            let mut h = headers(&[(name, "x"), ("accept", "*/*")]);
            remove_hop_by_hop(&mut h);
            assert_eq!(h.len(), 1, "{name}");
            assert!(h.contains_key("accept"), "{name}");
        }
        let mut h = headers(&[("accept", "*/*"), ("x-keep", "1")]);
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn other_client_address_fields_are_dropped_for_untrusted_peers_only() {
        let sent = [
            ("forwarded", "for=6.6.6.6"),
            ("x-real-ip", "6.6.6.6"),
            ("x_forwarded_for", "6.6.6.6"),
            ("X_Real_IP", "6.6.6.6"),
            ("x-request_id", "forged"),
            ("x_custom_thing", "kept"),
            ("x-real-ips", "kept"),
        ];
        let mut untrusted = headers(&sent);
        let peer = ForwardedPeer::new("203.0.113.9".parse().unwrap());
        set_forwarded(&mut untrusted, false, &peer, "http", "a.example");
        let mut names: Vec<&str> = untrusted.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "x-forwarded-for",
                "x-forwarded-host",
                "x-forwarded-proto",
                "x-real-ips",
                "x_custom_thing",
            ]
        );
        let mut trusted = headers(&sent);
        set_forwarded(&mut trusted, true, &peer, "http", "a.example");
        assert_eq!(trusted["forwarded"], "for=6.6.6.6");
        assert_eq!(trusted["x-real-ip"], "6.6.6.6");
    }

    #[test]
    fn forwarded_headers_are_replaced_for_untrusted_peers() {
        let mut h = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-host", "evil")]);
        set_forwarded(
            &mut h,
            false,
            &ForwardedPeer::new("203.0.113.9".parse().unwrap()),
            "https",
            "api.example.com",
        );
        assert_eq!(h["x-forwarded-for"], "203.0.113.9");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "api.example.com");
        let mut h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        let trusted_peer = ForwardedPeer::new("10.0.0.1".parse().unwrap());
        set_forwarded(&mut h, true, &trusted_peer, "http", "a");
        assert_eq!(h["x-forwarded-for"], "198.51.100.7, 10.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        // A trusted proxy that adds its own line (HAProxy's `option
        // forwardfor`): every line is kept, in order, as `client_ip` reads them.
        let mut h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        set_forwarded(&mut h, true, &trusted_peer, "http", "a");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-for"], "6.6.6.6, 198.51.100.7, 10.0.0.1");
        // An entry past ASCII does not lose the chain.
        let mut h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        h.append(
            X_FORWARDED_FOR.clone(),
            HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        set_forwarded(&mut h, true, &trusted_peer, "http", "a");
        assert_eq!(
            h["x-forwarded-for"].as_bytes(),
            b"198.51.100.7, caf\xc3\xa9, 10.0.0.1"
        );
        // A trusted proxy's own proto and host are kept.
        let mut h = headers(&[("x-forwarded-proto", "https"), ("x-forwarded-host", "b")]);
        set_forwarded(&mut h, true, &trusted_peer, "http", "a");
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "b");
        // Several inbound values from an untrusted peer are all replaced.
        let mut h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "7.7.7.7"),
        ]);
        set_forwarded(&mut h, false, &trusted_peer, "http", "a");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
    }

    #[test]
    fn upstream_software_headers_are_removed() {
        let mut h = headers(&[
            ("server", "Apache/2.4.1"),
            ("x-powered-by", "PHP/5.2"),
            ("content-type", "a/b"),
        ]);
        clean_response(&mut h);
        assert_eq!(h.len(), 1);
    }
}
