//! Checks on the (signature-verified) claims: time window with leeway, maximum
//! age, audience, required claims. Registered time claims must be JSON numbers:
//! a string `exp` is refused, not skipped (the jsonwebtoken CVE-2026-25537 class).

use serde_json::{Map, Value};

use super::error::JwtError;

/// The claim rules of one issuer.
#[derive(Debug, Clone)]
pub struct ClaimRules {
    /// Accepted audiences; the token's `aud` must name at least one.
    pub audiences: Vec<String>,
    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: u64,
    /// Maximum age in seconds since `iat` (which then becomes required).
    pub max_age: Option<u64>,
    /// Whether `exp` must be present (default true).
    pub require_exp: bool,
    /// Claims that must be present.
    pub required: Vec<String>,
}

fn numeric(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            // Fractional seconds are allowed by RFC 7519 (NumericDate); floor them.
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or(JwtError::InvalidClaim(name)),
        Some(_) => Err(JwtError::InvalidClaim(name)),
    }
}

/// Whether `aud` names one of `audiences`: a string is one audience (RFC 7519
/// §4.1.3, never split at spaces), an array matches on any element.
pub(crate) fn audience_matches(
    claims: &Map<String, Value>,
    audiences: &[String],
) -> Result<bool, JwtError> {
    match claims.get("aud") {
        None => Ok(false),
        Some(Value::String(aud)) => Ok(audiences.iter().any(|a| a == aud)),
        Some(Value::Array(list)) => Ok(list.iter().any(|v| {
            v.as_str()
                .is_some_and(|aud| audiences.iter().any(|a| a == aud))
        })),
        Some(_) => Err(JwtError::InvalidClaim("aud")),
    }
}

impl ClaimRules {
    /// Validates `claims` at time `now` (Unix seconds).
    pub fn check(&self, claims: &Map<String, Value>, now: u64) -> Result<(), JwtError> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let leeway = i64::try_from(self.leeway).unwrap_or(i64::MAX);
        match numeric(claims, "exp")? {
            Some(exp) if now > exp.saturating_add(leeway) => return Err(JwtError::Expired),
            Some(_) => {}
            None if self.require_exp => return Err(JwtError::MissingClaim("exp".into())),
            None => {}
        }
        if let Some(nbf) = numeric(claims, "nbf")?
            && now.saturating_add(leeway) < nbf
        {
            return Err(JwtError::NotYetValid);
        }
        let iat = numeric(claims, "iat")?;
        if let Some(iat) = iat
            && now.saturating_add(leeway) < iat
        {
            return Err(JwtError::IssuedInFuture);
        }
        if let Some(max_age) = self.max_age {
            let iat = iat.ok_or_else(|| JwtError::MissingClaim("iat".into()))?;
            let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
            if now.saturating_sub(iat) > max_age.saturating_add(leeway) {
                return Err(JwtError::TooOld);
            }
        }
        if !audience_matches(claims, &self.audiences)? {
            return Err(JwtError::WrongAudience);
        }
        if let Some(missing) = self
            .required
            .iter()
            .find(|name| !claims.contains_key(*name))
        {
            return Err(JwtError::MissingClaim(missing.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rules() -> ClaimRules {
        ClaimRules {
            audiences: vec!["api".into()],
            leeway: 30,
            max_age: Some(3600),
            require_exp: true,
            required: vec!["sub".into()],
        }
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    const NOW: u64 = 1_000_000;

    #[test]
    fn valid_claims_pass_including_leeway_boundaries() {
        let c =
            claims(json!({"sub":"a","aud":"api","exp":NOW - 30,"iat":NOW - 3630,"nbf":NOW + 30}));
        rules().check(&c, NOW).unwrap();
        let c = claims(json!({"sub":"a","aud":["x","api"],"exp":NOW as f64 + 0.5,"iat":NOW}));
        rules().check(&c, NOW).unwrap();
    }

    #[test]
    fn time_window_violations_are_refused_just_past_the_leeway() {
        let base = json!({"sub":"a","aud":"api","exp":NOW + 100,"iat":NOW});
        let with = |k: &str, v: Value| {
            let mut c = claims(base.clone());
            c.insert(k.into(), v);
            c
        };
        let r = rules();
        assert_eq!(
            r.check(&with("exp", json!(NOW - 31)), NOW),
            Err(JwtError::Expired)
        );
        assert_eq!(
            r.check(&with("nbf", json!(NOW + 31)), NOW),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(
            r.check(&with("iat", json!(NOW + 31)), NOW),
            Err(JwtError::IssuedInFuture)
        );
        assert_eq!(
            r.check(&with("iat", json!(NOW - 3631)), NOW),
            Err(JwtError::TooOld)
        );
        assert_eq!(
            r.check(&with("exp", json!("99999999999")), NOW),
            Err(JwtError::InvalidClaim("exp"))
        );
        assert_eq!(
            r.check(&with("aud", json!("other")), NOW),
            Err(JwtError::WrongAudience)
        );
        assert_eq!(
            r.check(&with("aud", json!(5)), NOW),
            Err(JwtError::InvalidClaim("aud"))
        );
    }

    #[test]
    fn missing_claims_are_refused() {
        let r = rules();
        let c = claims(json!({"sub":"a","aud":"api","iat":NOW}));
        assert_eq!(r.check(&c, NOW), Err(JwtError::MissingClaim("exp".into())));
        let c = claims(json!({"sub":"a","aud":"api","exp":NOW + 5}));
        assert_eq!(r.check(&c, NOW), Err(JwtError::MissingClaim("iat".into())));
        let c = claims(json!({"aud":"api","exp":NOW + 5,"iat":NOW}));
        assert_eq!(r.check(&c, NOW), Err(JwtError::MissingClaim("sub".into())));
        let c = claims(json!({"sub":"a","exp":NOW + 5,"iat":NOW}));
        assert_eq!(r.check(&c, NOW), Err(JwtError::WrongAudience));
    }
}
