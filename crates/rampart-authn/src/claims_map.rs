//! Turning verified claims (from a JWT or an introspection response) into a
//! [`rampart_core::Identity`]: which claim names the consumer, where scopes, roles
//! and plan live. Claim names may be dotted paths (`realm_access.roles`).
//!
//! A claim like `sub` is unique only within its issuer (RFC 7519 §4.1.2, OpenID
//! Connect Core §2): a source's `consumer_prefix` (`partner:`) is put in front of
//! the consumer it names, so that the users of two identity providers are two
//! sets of consumers.

use rampart_core::Identity;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Where the identity's parts are found in the claims.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimMapping {
    /// Claims naming the consumer, first present wins; a present claim that is
    /// not a non-empty string refuses the token (no fallback to the next).
    /// Default `[sub, client_id]`.
    #[serde(default = "default_consumer")]
    pub consumer: Vec<String>,
    /// Scopes: a space-separated string or an array. Default `scope` (then `scp`).
    #[serde(default = "default_scopes")]
    pub scopes: String,
    /// Roles: an array or space-separated string. Default `roles`.
    #[serde(default = "default_roles")]
    pub roles: String,
    /// The plan (rate-limit tier), if the issuer states one.
    #[serde(default)]
    pub plan: Option<String>,
}

fn default_consumer() -> Vec<String> {
    vec!["sub".into(), "client_id".into()]
}
fn default_scopes() -> String {
    "scope".into()
}
fn default_roles() -> String {
    "roles".into()
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            consumer: default_consumer(),
            scopes: default_scopes(),
            roles: default_roles(),
            plan: None,
        }
    }
}

pub use rampart_core::context::claim_at;

/// Longest `consumer_prefix`, in bytes.
pub const MAX_CONSUMER_PREFIX_BYTES: usize = 64;

/// Checks the `consumer_prefix` of a token source at `path` (the field's
/// path): when given, not empty (leave it out for none: an empty prefix would
/// look like a namespace of its own and be none), at most
/// [`MAX_CONSUMER_PREFIX_BYTES`], no control characters (the consumer goes
/// into headers, logs and the audit record), and no `/` or `\`: a consumer
/// holding one can never equal a path parameter (one decoding to several
/// segments is refused, `authz-ambiguous-parameter`), so ownership by the
/// consumer would lock every user of the source out.
pub fn validate_consumer_prefix(
    path: &str,
    prefix: Option<&str>,
) -> Result<(), crate::config_error::ConfigError> {
    let Some(prefix) = prefix else {
        return Ok(());
    };
    let reason = if prefix.is_empty() {
        "must not be empty (leave it out for no prefix)"
    } else if prefix.len() > MAX_CONSUMER_PREFIX_BYTES {
        "at most 64 bytes"
    } else if prefix.chars().any(char::is_control) {
        "must not contain control characters"
    } else if prefix.contains(['/', '\\']) {
        "must not contain `/` or `\\` (a consumer holding one never equals a path parameter)"
    } else {
        return Ok(());
    };
    Err(crate::config_error::invalid(path, reason))
}

/// For each token source of an API, in order, from their `consumer_prefix`es
/// (`None`: unset, the empty namespace): the prefixes of the others that
/// extend its own, shortest only (`p:` covers `p:x:`). A source without
/// prefix gets every other one; `p:` beside `p:x:` gets `p:x:`; equal
/// prefixes are one namespace, and none of each other's.
pub fn foreign_prefixes(prefixes: &[Option<&str>]) -> Vec<Vec<String>> {
    let all: Vec<&str> = prefixes.iter().map(|p| p.unwrap_or_default()).collect();
    all.iter()
        .map(|own| {
            let longer: Vec<&str> = all
                .iter()
                .copied()
                .filter(|p| p.len() > own.len() && p.starts_with(own))
                .collect();
            let mut shortest: Vec<String> = longer
                .iter()
                .filter(|p| !longer.iter().any(|q| q.len() < p.len() && p.starts_with(q)))
                .map(|p| (*p).to_owned())
                .collect();
            shortest.sort();
            shortest.dedup();
            shortest
        })
        .collect()
}

/// The namespace a token source (a JWT issuer, introspection) names its
/// consumers in: its `consumer_prefix`, and the namespaces of the API's other
/// sources nested in it ([`foreign_prefixes`], set when the stage is built;
/// usually none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerNamespace {
    /// Put in front of the consumer claim.
    pub prefix: Option<String>,
    /// A consumer starting with one of these is another source's user.
    pub foreign: Vec<String>,
}

impl ConsumerNamespace {
    /// `prefix`'s namespace, with no other source's nested in it yet.
    pub fn new(prefix: Option<String>) -> Self {
        Self {
            prefix,
            foreign: Vec::new(),
        }
    }

    /// Whether `consumer` (prefix and claim) is in the namespace of another
    /// source: it starts with one of [`Self::foreign`]. Nothing to compare
    /// for the usual single source.
    pub fn is_foreign(&self, consumer: &str) -> bool {
        self.foreign
            .iter()
            .any(|prefix| consumer.starts_with(prefix.as_str()))
    }
}

/// Why claims give no identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoIdentity {
    /// No consumer claim (or one of the wrong shape).
    NoConsumer,
    /// The consumer falls in another token source's namespace.
    OutsideNamespace,
}

/// Strings from a space-separated string or an array of strings; other shapes
/// give nothing (a malformed scope claim grants nothing).
pub fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => s.split_ascii_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

impl ClaimMapping {
    /// Checks the mapping of the section at `path` (`...claims`): a consumer
    /// claim is required, and no claim name may be empty.
    pub fn validate(&self, path: &str) -> Result<(), crate::config_error::ConfigError> {
        if self.consumer.is_empty() || self.consumer.iter().any(String::is_empty) {
            return Err(crate::config_error::invalid(
                format!("{path}.consumer"),
                "at least one claim name is required, and none may be empty",
            ));
        }
        for (field, name) in [
            ("scopes", Some(&self.scopes)),
            ("roles", Some(&self.roles)),
            ("plan", self.plan.as_ref()),
        ] {
            if name.is_some_and(|name| name.is_empty()) {
                return Err(crate::config_error::invalid(
                    format!("{path}.{field}"),
                    "a claim name must not be empty",
                ));
            }
        }
        Ok(())
    }

    /// The consumer named by the claims, if any: the first consumer claim
    /// present (`null` counts as absent). One present but not a non-empty
    /// string names no one, and the next claim is not tried: with a numeric
    /// `sub`, falling back to `client_id` made every user of a client one
    /// consumer (sharing its limits, its ownership checks).
    pub fn consumer(&self, claims: &Map<String, Value>) -> Option<String> {
        for name in &self.consumer {
            match claim_at(claims, name) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) if !s.is_empty() => return Some(s.clone()),
                Some(_) => return None,
            }
        }
        None
    }

    /// The identity for these claims. The consumer is the source's
    /// `consumer_prefix` (if it has one) followed by the consumer claim, and
    /// is refused when it falls in another source's namespace; the claims
    /// themselves are kept as they are.
    pub fn identity(
        &self,
        method: &str,
        credential_id: Option<String>,
        claims: Map<String, Value>,
        namespace: &ConsumerNamespace,
    ) -> Result<Identity, NoIdentity> {
        let named = self.consumer(&claims).ok_or(NoIdentity::NoConsumer)?;
        let consumer = match &namespace.prefix {
            Some(prefix) => format!("{prefix}{named}"),
            None => named,
        };
        if namespace.is_foreign(&consumer) {
            return Err(NoIdentity::OutsideNamespace);
        }
        let mut scopes = string_list(claim_at(&claims, &self.scopes));
        if scopes.is_empty() && self.scopes == "scope" {
            scopes = string_list(claims.get("scp"));
        }
        let roles = string_list(claim_at(&claims, &self.roles));
        let plan = self
            .plan
            .as_deref()
            .and_then(|p| claim_at(&claims, p))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(Identity {
            consumer,
            method: method.into(),
            credential_id,
            scopes,
            roles,
            plan,
            claims,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn maps_nested_roles_scp_and_plan() {
        let claims = json!({"client_id":"svc","scp":["read","write"],
            "realm_access":{"roles":["admin"]},"tier":"gold"});
        let mapping = ClaimMapping {
            roles: "realm_access.roles".into(),
            plan: Some("tier".into()),
            ..ClaimMapping::default()
        };
        let id = mapping
            .identity(
                "jwt",
                Some("j1".into()),
                claims.as_object().cloned().unwrap(),
                &ConsumerNamespace::default(),
            )
            .unwrap();
        assert_eq!(id.consumer, "svc");
        assert_eq!(id.scopes, ["read", "write"]);
        assert_eq!(id.roles, ["admin"]);
        assert_eq!(id.plan.as_deref(), Some("gold"));
    }

    #[test]
    fn a_mapping_needs_a_consumer_claim_and_no_empty_names() {
        assert!(ClaimMapping::default().validate("jwt.claims").is_ok());
        let no_consumer = ClaimMapping {
            consumer: vec![],
            ..ClaimMapping::default()
        };
        let err = no_consumer
            .validate("introspection.claims")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("introspection.claims.consumer"), "{err}");
        let empty_roles = ClaimMapping {
            roles: String::new(),
            ..ClaimMapping::default()
        };
        let err = empty_roles.validate("jwt.claims").unwrap_err().to_string();
        assert!(err.starts_with("jwt.claims.roles"), "{err}");
    }

    #[test]
    fn a_consumer_claim_of_the_wrong_shape_refuses_rather_than_falls_back() {
        let mapping = ClaimMapping::default();
        let consumer = |claims: serde_json::Value| mapping.consumer(claims.as_object().unwrap());
        // A numeric or empty `sub` is not the client's name.
        for sub in [
            json!(42),
            json!(""),
            json!(["alice"]),
            json!({"id": "alice"}),
            json!(true),
        ] {
            assert_eq!(
                consumer(json!({"sub": sub, "client_id": "web"})),
                None,
                "{sub}"
            );
        }
        // Absent (or null): the next claim names the consumer.
        assert_eq!(
            consumer(json!({"client_id": "web"})).as_deref(),
            Some("web")
        );
        assert_eq!(
            consumer(json!({"sub": null, "client_id": "web"})).as_deref(),
            Some("web")
        );
        assert_eq!(
            consumer(json!({"sub": "alice", "client_id": "web"})).as_deref(),
            Some("alice")
        );
        // A later claim of the wrong shape does not matter once one names someone.
        assert_eq!(
            consumer(json!({"sub": "alice", "client_id": 7})).as_deref(),
            Some("alice")
        );
    }

    #[test]
    fn a_consumer_prefix_goes_in_front_of_the_consumer_and_leaves_the_claims() {
        let mapping = ClaimMapping::default();
        let claims = json!({"sub": "alice", "client_id": "web"});
        let identity = |prefix: Option<&str>| {
            let namespace = ConsumerNamespace::new(prefix.map(str::to_owned));
            mapping
                .identity(
                    "jwt",
                    None,
                    claims.as_object().cloned().unwrap(),
                    &namespace,
                )
                .unwrap()
        };
        let partner = identity(Some("partner:"));
        assert_eq!(partner.consumer, "partner:alice");
        assert_eq!(partner.claims["sub"], "alice");
        // Without one, the consumer is the claim, as before.
        assert_eq!(identity(None).consumer, "alice");
        // No consumer claim, no identity, prefix or not.
        let none = json!({"sub": 7});
        let prefixed = ConsumerNamespace::new(Some("p:".into()));
        assert!(
            mapping
                .identity("jwt", None, none.as_object().cloned().unwrap(), &prefixed)
                .is_err()
        );
    }

    #[test]
    fn a_consumer_prefix_is_short_printable_and_not_empty() {
        let check =
            |prefix: &str| validate_consumer_prefix("jwt.issuers[1].consumer_prefix", Some(prefix));
        assert!(validate_consumer_prefix("x", None).is_ok());
        for good in ["partner:", "idp-2.", "é:", "urn:idp:", &"p".repeat(64)] {
            assert!(check(good).is_ok(), "{good:?}");
        }
        for (bad, reason) in [
            ("", "must not be empty"),
            (&"p".repeat(65) as &str, "at most 64 bytes"),
            ("partner\n", "control characters"),
            ("a\u{7f}", "control characters"),
            ("a\u{85}", "control characters"),
            ("\t", "control characters"),
            // A consumer holding a `/` never equals a path parameter: owners
            // compared to the consumer would all be locked out.
            ("idp-2/", "must not contain `/` or `\\`"),
            ("idp\\2:", "must not contain `/` or `\\`"),
        ] {
            let err = check(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("jwt.issuers[1].consumer_prefix: ") && err.contains(reason),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn each_source_gets_the_other_namespaces_nested_in_its_own() {
        // One source, or equal prefixes (two unset): nothing to refuse.
        assert_eq!(foreign_prefixes(&[None]), vec![Vec::<String>::new()]);
        assert_eq!(
            foreign_prefixes(&[None, None]),
            vec![vec![], Vec::<String>::new()]
        );
        assert_eq!(
            foreign_prefixes(&[Some("p:"), Some("p:")]),
            vec![vec![], Vec::<String>::new()]
        );
        // Unset beside prefixes: every other prefix; a prefixed source,
        // nothing of the unset one's.
        assert_eq!(
            foreign_prefixes(&[None, Some("partner:"), Some("opaque:")]),
            vec![
                vec!["opaque:".to_string(), "partner:".to_string()],
                vec![],
                vec![]
            ]
        );
        // Nested: `p:` refuses `p:x:`, `p:x:` nothing; the unset one only
        // the shortest (`p:` covers `p:x:`).
        assert_eq!(
            foreign_prefixes(&[Some("p:"), Some("p:x:"), None]),
            vec![vec!["p:x:".to_string()], vec![], vec!["p:".to_string()]]
        );
        // Different prefixes, none in the other: nothing.
        assert_eq!(
            foreign_prefixes(&[Some("a:"), Some("b:")]),
            vec![vec![], Vec::<String>::new()]
        );
    }

    #[test]
    fn a_consumer_in_a_foreign_namespace_is_told() {
        let namespace = ConsumerNamespace {
            prefix: None,
            foreign: vec!["partner:".to_string()],
        };
        assert!(namespace.is_foreign("partner:alice"));
        assert!(!namespace.is_foreign("alice"));
        assert!(!namespace.is_foreign("partner"));
        assert!(!ConsumerNamespace::default().is_foreign("partner:alice"));
    }

    #[test]
    fn no_consumer_no_identity_and_bad_shapes_grant_nothing() {
        let mapping = ClaimMapping::default();
        let claims = json!({"sub": 5, "scope": {"a": 1}});
        assert!(
            mapping
                .identity(
                    "jwt",
                    None,
                    claims.as_object().cloned().unwrap(),
                    &ConsumerNamespace::default()
                )
                .is_err()
        );
        assert!(string_list(Some(&json!({"a":1}))).is_empty());
    }
}
