//! Splitting and decoding a compact JWS before any key is touched: size bound,
//! three canonical base64url parts, JSON-object header and claims, and the header
//! checks that must hold whatever the issuer (`alg: none`, key-injecting headers).
//! This is the parser of untrusted input that the `authn_jwt_parse` fuzz target runs.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::error::JwtError;

/// Header members that let a token choose or carry its own verification key, or
/// demand extensions: always refused (key confusion / SSRF through `jku`/`x5u`).
const FORBIDDEN_HEADERS: [&str; 5] = ["jku", "x5u", "jwk", "x5c", "crit"];

/// A structurally valid token whose signature is not yet checked.
#[derive(Debug, Clone)]
pub struct UnverifiedToken<'a> {
    /// The signing algorithm the header names (never `none`).
    pub alg: Algorithm,
    /// The header's `kid`, when present.
    pub kid: Option<String>,
    /// The header's `typ`, when present.
    pub typ: Option<String>,
    /// The claims, NOT yet trustworthy.
    pub claims: Map<String, Value>,
    /// `base64url(header) "." base64url(claims)`: the signed bytes.
    pub signing_input: &'a str,
    /// The base64url signature.
    pub signature: &'a str,
}

fn decode_json_object(part: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed),
    }
}

/// Parses a compact JWS of at most `max_len` bytes.
pub fn parse(token: &str, max_len: usize) -> Result<UnverifiedToken<'_>, JwtError> {
    if token.len() > max_len {
        return Err(JwtError::Oversized);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        // An empty signature is how `alg: none` tokens usually travel.
        return Err(JwtError::Malformed);
    }
    let header_map = decode_json_object(header)?;
    let alg = match header_map.get("alg") {
        Some(Value::String(alg)) if alg.eq_ignore_ascii_case("none") => {
            return Err(JwtError::AlgNone);
        }
        Some(Value::String(alg)) => {
            Algorithm::from_str(alg).map_err(|_| JwtError::AlgNotAllowed)?
        }
        _ => return Err(JwtError::Malformed),
    };
    if let Some(name) = FORBIDDEN_HEADERS
        .iter()
        .find(|name| header_map.contains_key(**name))
    {
        return Err(JwtError::ForbiddenHeader(name));
    }
    let kid = match header_map.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(JwtError::Malformed),
    };
    let typ = match header_map.get("typ") {
        None => None,
        Some(Value::String(typ)) => Some(typ.clone()),
        Some(_) => return Err(JwtError::Malformed),
    };
    let claims = decode_json_object(payload)?;
    let signing_input = token
        .get(..header.len() + 1 + payload.len())
        .ok_or(JwtError::Malformed)?;
    Ok(UnverifiedToken {
        alg,
        kid,
        typ,
        claims,
        signing_input,
        signature,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    fn token(header: &str, claims: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(claims))
    }

    #[test]
    fn well_formed_token_parses() {
        let t = token(r#"{"alg":"ES256","kid":"k1"}"#, r#"{"sub":"a"}"#);
        let parsed = parse(&t, 8192).unwrap();
        assert_eq!(parsed.alg, Algorithm::ES256);
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
        assert_eq!(parsed.claims["sub"], "a");
        assert_eq!(parsed.signature, "c2ln");
    }

    #[test]
    fn alg_none_in_any_case_is_refused() {
        for alg in ["none", "None", "NONE"] {
            let t = format!("{}.{}.", b64(&format!(r#"{{"alg":"{alg}"}}"#)), b64("{}"));
            // Empty signature is malformed before the header is even read...
            assert_eq!(parse(&t, 8192).unwrap_err(), JwtError::Malformed);
            // ...and with a signature it is refused by name.
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), "{}");
            assert_eq!(parse(&t, 8192).unwrap_err(), JwtError::AlgNone);
        }
    }

    #[test]
    fn key_injecting_headers_are_refused() {
        for name in FORBIDDEN_HEADERS {
            let t = token(&format!(r#"{{"alg":"RS256","{name}":"x"}}"#), "{}");
            assert_eq!(
                parse(&t, 8192).unwrap_err(),
                JwtError::ForbiddenHeader(name)
            );
        }
    }

    #[test]
    fn malformed_shapes_are_refused() {
        let good_header = b64(r#"{"alg":"RS256"}"#);
        let cases = [
            String::new(),
            "a.b".to_string(),
            "a.b.c.d".to_string(),
            format!("{good_header}.{}.sig.", b64("{}")),
            format!("{good_header}.bm90IGpzb24.sig"),
            format!("{good_header}.{}.sig", b64("[1,2]")),
            format!("{}.{}.sig", b64(r#"{"alg":5}"#), b64("{}")),
            format!("{}.{}.sig", b64(r#"{"alg":"RS256","kid":7}"#), b64("{}")),
            format!("{good_header}=.{}.sig", b64("{}")),
            format!("{}.{}.sig", b64(r#"{"typ":"JWT"}"#), b64("{}")),
        ];
        for case in cases {
            assert_eq!(
                parse(&case, 8192).unwrap_err(),
                JwtError::Malformed,
                "{case}"
            );
        }
    }

    #[test]
    fn unknown_algorithm_is_not_allowed() {
        let t = token(r#"{"alg":"XS999"}"#, "{}");
        assert_eq!(parse(&t, 8192).unwrap_err(), JwtError::AlgNotAllowed);
    }

    #[test]
    fn oversized_is_refused_before_parsing_and_the_boundary_passes() {
        let t = token(r#"{"alg":"ES256"}"#, r#"{"sub":"a"}"#);
        assert!(parse(&t, t.len()).is_ok());
        assert_eq!(parse(&t, t.len() - 1).unwrap_err(), JwtError::Oversized);
    }
}
