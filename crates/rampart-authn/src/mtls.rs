//! mTLS identity and certificate-bound tokens.
//!
//! rustls has already verified the client certificate against the listener's CA;
//! here a verified certificate is mapped to a consumer by rules on its subject or
//! SANs (as the gateway renders them: `DNS:…`, `URI:…`, `email:…`, `IP:…`), first
//! matching rule wins. [`check_binding`] enforces RFC 8705: a token with
//! `cnf.x5t#S256` is only accepted over a connection presenting that certificate.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use rampart_core::{ClientCert, Identity};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config_error::{ConfigError, invalid};

/// One mapping rule.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MtlsRuleConfig {
    /// Match the subject DN exactly (e.g. `CN=billing, O=Example`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Match one SAN exactly (e.g. `URI:spiffe://example.org/billing`).
    #[serde(default)]
    pub san: Option<String>,
    /// Match any SAN starting with this (e.g. `URI:spiffe://example.org/ns/prod/`).
    #[serde(default)]
    pub san_prefix: Option<String>,
    /// The consumer; default: the matched SAN (or subject).
    #[serde(default)]
    pub consumer: Option<String>,
    /// Scopes granted.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Roles granted.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Plan.
    #[serde(default)]
    pub plan: Option<String>,
}

/// mTLS configuration.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MtlsConfig {
    /// Mapping rules, first match wins.
    #[serde(default)]
    pub rules: Vec<MtlsRuleConfig>,
    /// Refuse bearer tokens that are not certificate-bound (`cnf.x5t#S256`).
    #[serde(default)]
    pub require_bound_tokens: bool,
}

#[derive(Debug, Clone)]
enum Matcher {
    Subject(String),
    San(String),
    SanPrefix(String),
}

#[derive(Debug, Clone)]
struct Rule {
    matcher: Matcher,
    consumer: Option<String>,
    scopes: Vec<String>,
    roles: Vec<String>,
    plan: Option<String>,
}

/// The compiled mapping.
#[derive(Debug, Clone)]
pub struct MtlsMapper {
    rules: Vec<Rule>,
    /// Whether bearer tokens must be certificate-bound.
    pub require_bound_tokens: bool,
}

impl MtlsConfig {
    /// Validates the rules.
    pub fn build(&self, path: &str) -> Result<MtlsMapper, ConfigError> {
        let mut rules = Vec::with_capacity(self.rules.len());
        for (i, rule) in self.rules.iter().enumerate() {
            let rule_path = format!("{path}.rules[{i}]");
            let matcher = match (&rule.subject, &rule.san, &rule.san_prefix) {
                (Some(s), None, None) if !s.is_empty() => Matcher::Subject(s.clone()),
                (None, Some(s), None) if !s.is_empty() => Matcher::San(s.clone()),
                (None, None, Some(p)) if p.contains(':') && p.len() > 4 => {
                    Matcher::SanPrefix(p.clone())
                }
                _ => {
                    return Err(invalid(
                        rule_path,
                        "exactly one non-empty matcher of subject, san, san_prefix (with its TYPE: tag) is required",
                    ));
                }
            };
            rules.push(Rule {
                matcher,
                consumer: rule.consumer.clone(),
                scopes: rule.scopes.clone(),
                roles: rule.roles.clone(),
                plan: rule.plan.clone(),
            });
        }
        Ok(MtlsMapper {
            rules,
            require_bound_tokens: self.require_bound_tokens,
        })
    }
}

impl MtlsMapper {
    /// Whether any mapping rule exists (mTLS can authenticate on its own).
    pub fn maps_identities(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The identity of a verified certificate, or `None` if no rule matches.
    pub fn identity(&self, cert: &ClientCert) -> Option<Identity> {
        self.rules.iter().find_map(|rule| {
            let matched = match &rule.matcher {
                Matcher::Subject(subject) => (cert.subject == *subject).then(|| subject.clone()),
                Matcher::San(san) => cert.sans.iter().find(|s| *s == san).cloned(),
                Matcher::SanPrefix(prefix) => cert
                    .sans
                    .iter()
                    .find(|s| s.len() > prefix.len() && s.starts_with(prefix.as_str()))
                    .cloned(),
            }?;
            let consumer = rule.consumer.clone().unwrap_or(matched);
            // `sub` = the consumer, as for API keys, so `sub`-based rules apply.
            let mut claims = Map::new();
            claims.insert("sub".into(), Value::String(consumer.clone()));
            Some(Identity {
                consumer,
                method: "mtls".into(),
                credential_id: Some(cert.sha256_thumbprint.clone()),
                scopes: rule.scopes.clone(),
                roles: rule.roles.clone(),
                plan: rule.plan.clone(),
                claims,
            })
        })
    }
}

/// Why a token's certificate binding failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// The token is bound but no client certificate was presented.
    #[error("bound token without client certificate")]
    NoCertificate,
    /// The presented certificate is not the one the token is bound to.
    #[error("certificate thumbprint mismatch")]
    Mismatch,
    /// Bound tokens are required and this one is not bound (or `cnf` is malformed).
    #[error("token not certificate-bound")]
    Unbound,
}

/// RFC 8705 §3: checks `cnf.x5t#S256` against the presented certificate.
pub fn check_binding(
    claims: &Map<String, Value>,
    cert: Option<&ClientCert>,
    require_bound: bool,
) -> Result<(), BindingError> {
    let thumbprint = match claims.get("cnf") {
        None if require_bound => return Err(BindingError::Unbound),
        None => return Ok(()),
        Some(Value::Object(cnf)) => match cnf.get("x5t#S256") {
            Some(Value::String(t)) => t,
            // A cnf we do not understand (e.g. DPoP `jkt`) cannot be honoured: refuse.
            _ => return Err(BindingError::Unbound),
        },
        Some(_) => return Err(BindingError::Unbound),
    };
    let cert = cert.ok_or(BindingError::NoCertificate)?;
    verify_slices_are_equal(thumbprint.as_bytes(), cert.sha256_thumbprint.as_bytes())
        .map_err(|_| BindingError::Mismatch)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cert(subject: &str, sans: &[&str]) -> ClientCert {
        ClientCert {
            subject: subject.into(),
            sans: sans.iter().map(|s| (*s).to_string()).collect(),
            sha256_thumbprint: "thumb-A".into(),
        }
    }

    fn mapper(rules: serde_json::Value) -> MtlsMapper {
        let cfg: MtlsConfig = serde_json::from_value(json!({ "rules": rules })).unwrap();
        cfg.build("authn.mtls").unwrap()
    }

    #[test]
    fn certificates_map_by_subject_san_and_prefix() {
        let m = mapper(json!([
            {"subject": "CN=billing, O=Example", "consumer": "billing", "roles": ["service"]},
            {"san": "URI:spiffe://example.org/orders"},
            {"san_prefix": "URI:spiffe://example.org/ns/prod/", "scopes": ["internal"]}
        ]));
        let id = m.identity(&cert("CN=billing, O=Example", &[])).unwrap();
        assert_eq!(
            (id.consumer.as_str(), id.method.as_str()),
            ("billing", "mtls")
        );
        assert_eq!(id.roles, ["service"]);
        assert_eq!(id.credential_id.as_deref(), Some("thumb-A"));
        let id = m
            .identity(&cert("CN=x", &["DNS:x", "URI:spiffe://example.org/orders"]))
            .unwrap();
        assert_eq!(id.consumer, "URI:spiffe://example.org/orders");
        let id = m
            .identity(&cert("CN=y", &["URI:spiffe://example.org/ns/prod/sa/cart"]))
            .unwrap();
        assert_eq!(id.consumer, "URI:spiffe://example.org/ns/prod/sa/cart");
        assert_eq!(id.scopes, ["internal"]);
    }

    #[test]
    fn lookalike_certificates_map_to_nothing() {
        let m = mapper(json!([
            {"subject": "CN=billing, O=Example"},
            {"san": "URI:spiffe://example.org/orders"},
            {"san_prefix": "URI:spiffe://example.org/ns/prod/"}
        ]));
        for c in [
            cert("CN=billing, O=Example, OU=evil", &[]),
            cert("CN=billing", &[]),
            cert("CN=z", &["URI:spiffe://example.org/orders/extra"]),
            cert("CN=z", &["DNS:spiffe://example.org/orders"]),
            cert("CN=z", &["URI:spiffe://example.org/ns/prod"]),
            cert("CN=z", &["URI:spiffe://example.org/ns/prod/"]),
            cert("CN=z", &["URI:spiffe://example.org/ns/production/sa"]),
        ] {
            assert!(m.identity(&c).is_none(), "{c:?}");
        }
    }

    #[test]
    fn invalid_rules_name_their_path() {
        for rules in [
            json!([{}]),
            json!([{"subject": "a", "san": "b"}]),
            json!([{"san_prefix": ""}]),
        ] {
            let cfg: MtlsConfig = serde_json::from_value(json!({ "rules": rules })).unwrap();
            let err = cfg.build("authn.mtls").unwrap_err().to_string();
            assert!(err.starts_with("authn.mtls.rules[0]"), "{err}");
        }
    }

    #[test]
    fn bound_tokens_need_the_same_certificate() {
        let c = cert("CN=a", &[]);
        let bound = json!({"cnf": {"x5t#S256": "thumb-A"}});
        let bound = bound.as_object().unwrap();
        assert_eq!(check_binding(bound, Some(&c), true), Ok(()));
        assert_eq!(
            check_binding(bound, None, false),
            Err(BindingError::NoCertificate)
        );
        let other = ClientCert {
            sha256_thumbprint: "thumb-B".into(),
            ..c.clone()
        };
        assert_eq!(
            check_binding(bound, Some(&other), false),
            Err(BindingError::Mismatch)
        );
        let unbound = json!({"sub": "a"});
        assert_eq!(
            check_binding(unbound.as_object().unwrap(), Some(&c), false),
            Ok(())
        );
        assert_eq!(
            check_binding(unbound.as_object().unwrap(), Some(&c), true),
            Err(BindingError::Unbound)
        );
        let weird = json!({"cnf": {"jkt": "x"}});
        assert_eq!(
            check_binding(weird.as_object().unwrap(), Some(&c), false),
            Err(BindingError::Unbound)
        );
    }
}
