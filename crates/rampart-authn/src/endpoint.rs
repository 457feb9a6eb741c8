//! Which outbound endpoints (JWKS, introspection) a configuration may name:
//! `https://`, or plain `http://` to a literal loopback address only (tests,
//! sidecars): `127.0.0.0/8` or `[::1]`. Not `localhost`: a name is resolved
//! (through `/etc/hosts`, then DNS) when the call is made, and whatever it
//! resolves to would receive the plaintext request.
//! The host is compared after parsing, never by string prefix:
//! `http://127.0.0.1.evil.test` and `http://localhost@evil.test` are not loopback.
//! The I/O adapters apply the same check to every URL they call.

use http::Uri;

/// Parses `url` and checks it with [`check_endpoint`].
pub fn parse_endpoint(url: &str) -> Result<Uri, &'static str> {
    let uri: Uri = url.parse().map_err(|_| "not a valid URL")?;
    check_endpoint(&uri)?;
    Ok(uri)
}

/// `Ok` for `https://host...` and `http://` to a loopback IP literal
/// (`127.0.0.0/8`, `[::1]`); URLs with user info are refused (they hide the
/// real host from readers).
pub fn check_endpoint(uri: &Uri) -> Result<(), &'static str> {
    let authority = uri.authority().ok_or("no host")?;
    if authority.as_str().contains('@') {
        return Err("user info in URL");
    }
    if authority.host().is_empty() {
        return Err("no host");
    }
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback_literal(authority.host()) => Ok(()),
        Some("http") => Err("plain http only to a loopback IP (127.0.0.1, [::1])"),
        _ => Err("scheme must be https"),
    }
}

/// Whether `host` (as in a URI: IPv6 in brackets) is a loopback IP literal.
/// Names, `localhost` included, are not: what they resolve to is decided
/// later, outside the configuration.
fn is_loopback_literal(host: &str) -> bool {
    let ip = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().map(std::net::IpAddr::V6),
        None => host.parse::<std::net::Ipv4Addr>().map(std::net::IpAddr::V4),
    };
    ip.is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_pass() {
        for url in [
            "https://idp.example.com/.well-known/jwks.json",
            "https://idp.example.com:8443/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://127.0.0.2/jwks",
            "http://[::1]:9000/x",
        ] {
            assert!(parse_endpoint(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn lookalike_hosts_and_other_schemes_are_refused() {
        for url in [
            "http://127.0.0.1.evil.test/jwks",
            "http://localhost.evil.test/jwks",
            "http://localhost@evil.test/jwks",
            "http://127.0.0.1@evil.test/jwks",
            "https://user:pass@idp.example.com/jwks",
            "http://idp.example.com/jwks",
            // A name, resolved when called: could be anything by then.
            "http://localhost/jwks",
            "http://localhost:8080/jwks",
            "http://ip6-localhost/jwks",
            "http://[::ffff:127.0.0.1]/jwks",
            "http://0.0.0.0/jwks",
            "http://10.0.0.1/jwks",
            "ftp://idp.example.com/jwks",
            "file:///etc/passwd",
            "//idp.example.com/jwks",
            "https://",
            "not a url",
            "",
        ] {
            assert!(parse_endpoint(url).is_err(), "{url}");
        }
    }
}
