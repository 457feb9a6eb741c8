//! Per-operation requirements as plain data, and the pure checks over an
//! identity: scopes (all required), roles (any of), step-up (acr/amr/auth_time),
//! ownership of a path parameter (BOLA) and of a response object.

use std::borrow::Cow;

use rampart_core::Identity;
use serde::Deserialize;
use serde_json::Value;

fn sub() -> String {
    "sub".into()
}
fn owner() -> String {
    "owner".into()
}
fn default_body_limit() -> usize {
    1024 * 1024
}

/// A path parameter must name the caller (BOLA), unless the caller holds a role.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerRule {
    /// The path parameter, e.g. `username` in `/users/{username}`.
    pub param: String,
    /// The claim it must equal; `consumer` means the identity's consumer. Default `sub`.
    #[serde(default = "sub")]
    pub claim: String,
    /// Roles exempt from the check (e.g. `admin`).
    #[serde(default)]
    pub unless_roles: Vec<String>,
}

/// A response object's owner field must name the caller, else 404.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseOwnerRule {
    /// Field (dotted path) holding the owner. Default `owner`.
    #[serde(default = "owner")]
    pub field: String,
    /// The claim it must equal; `consumer` means the identity's consumer. Default `sub`.
    #[serde(default = "sub")]
    pub claim: String,
    /// Roles exempt from the check.
    #[serde(default)]
    pub unless_roles: Vec<String>,
    /// Largest response body inspected; larger bodies are refused (fail closed).
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
}

/// Step-up authentication requirements (RFC 9470).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpRule {
    /// The `acr` claim must be one of these.
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// The `amr` claim must contain at least one of these (e.g. `mfa`, `otp`).
    #[serde(default)]
    pub amr: Vec<String>,
    /// `auth_time` must be at most this many seconds ago.
    #[serde(default)]
    pub max_age_seconds: Option<u64>,
}

fn has_any_role(identity: &Identity, roles: &[String]) -> bool {
    roles.iter().any(|r| identity.roles.contains(r))
}

/// The value a rule compares against: a claim (dotted path), or the consumer.
pub fn caller_value<'a>(identity: &'a Identity, claim: &str) -> Option<Cow<'a, str>> {
    if claim == "consumer" {
        return Some(Cow::Borrowed(identity.consumer.as_str()));
    }
    id_text(identity.claim(claim)?)
}

/// A claim or field value as ownership compares it: a string, or an integer
/// in decimal (numeric user ids are common: `"user_id": 42` owns `/users/42`);
/// anything else is no id at all.
fn id_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(text) => Some(Cow::Borrowed(text)),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// Scopes the identity lacks, in configuration order.
pub fn missing_scopes<'a>(identity: &Identity, required: &'a [String]) -> Vec<&'a String> {
    required
        .iter()
        .filter(|s| !identity.scopes.contains(s))
        .collect()
}

/// Whether the identity has one of `roles` (true when none are required).
pub fn roles_ok(identity: &Identity, roles: &[String]) -> bool {
    roles.is_empty() || has_any_role(identity, roles)
}

impl StepUpRule {
    /// Whether the identity's authentication satisfies the rule at `now`.
    pub fn satisfied(&self, identity: &Identity, now: u64) -> bool {
        let claims = &identity.claims;
        if !self.acr_values.is_empty() {
            let acr = claims.get("acr").and_then(Value::as_str);
            if !acr.is_some_and(|acr| self.acr_values.iter().any(|v| v == acr)) {
                return false;
            }
        }
        if !self.amr.is_empty() {
            let amr = claims.get("amr").and_then(Value::as_array);
            let ok = amr.is_some_and(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .any(|m| self.amr.iter().any(|want| want == m))
            });
            if !ok {
                return false;
            }
        }
        if let Some(max_age) = self.max_age_seconds {
            let Some(auth_time) = claims.get("auth_time").and_then(Value::as_u64) else {
                return false;
            };
            // A future auth_time is as suspicious as an old one.
            if auth_time > now || now - auth_time > max_age {
                return false;
            }
        }
        true
    }
}

impl OwnerRule {
    /// Whether the caller may address the object named by `params`.
    pub fn allows(&self, identity: &Identity, params: &[(String, String)]) -> bool {
        if has_any_role(identity, &self.unless_roles) {
            return true;
        }
        let value = params
            .iter()
            .find(|(name, _)| *name == self.param)
            .map(|(_, v)| v);
        match (value, caller_value(identity, &self.claim)) {
            (Some(value), Some(caller)) => *value == *caller,
            _ => false,
        }
    }
}

/// The response-ownership expectation for one caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected<'a> {
    /// The caller holds an exempt role.
    Exempt,
    /// The owner field must equal this.
    Owner(Cow<'a, str>),
    /// The caller has no such claim: nothing can be theirs.
    NoClaim,
}

fn field_at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(value, |v, part| v.as_object()?.get(part))
}

impl ResponseOwnerRule {
    /// What the response must carry for this caller.
    pub fn expected<'a>(&self, identity: &'a Identity) -> Expected<'a> {
        if has_any_role(identity, &self.unless_roles) {
            return Expected::Exempt;
        }
        caller_value(identity, &self.claim).map_or(Expected::NoClaim, Expected::Owner)
    }

    /// Whether `body` (JSON object, or array of objects) belongs to `owner`.
    /// Anything else, a missing field included, is refused.
    pub fn body_owned_by(&self, body: &[u8], owner: &str) -> bool {
        if body.len() > self.max_body_bytes {
            return false;
        }
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return false;
        };
        let owns = |item: &Value| {
            field_at(item, &self.field)
                .and_then(id_text)
                .is_some_and(|id| id == owner)
        };
        match &value {
            Value::Array(items) => items.iter().all(owns),
            Value::Object(_) => owns(&value),
            _ => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    fn identity(roles: &[&str], claims: Value) -> Identity {
        Identity {
            consumer: "app".into(),
            method: "jwt".into(),
            roles: roles.iter().map(|r| (*r).to_string()).collect(),
            scopes: vec!["a".into()],
            claims: claims.as_object().cloned().unwrap(),
            ..Identity::default()
        }
    }

    #[test]
    fn step_up_checks_acr_amr_and_age() {
        let rule = StepUpRule {
            acr_values: vec!["mfa".into()],
            amr: vec!["otp".into(), "hwk".into()],
            max_age_seconds: Some(300),
        };
        let good = identity(
            &[],
            json!({"acr": "mfa", "amr": ["pwd", "otp"], "auth_time": 1000}),
        );
        assert!(rule.satisfied(&good, 1300));
        assert!(!rule.satisfied(&good, 1301), "too old");
        assert!(!rule.satisfied(&good, 999), "auth_time in the future");
        let weak = identity(
            &[],
            json!({"acr": "pwd", "amr": ["otp"], "auth_time": 1000}),
        );
        assert!(!rule.satisfied(&weak, 1000));
        let no_amr = identity(
            &[],
            json!({"acr": "mfa", "amr": ["pwd"], "auth_time": 1000}),
        );
        assert!(!rule.satisfied(&no_amr, 1000));
        let no_time = identity(&[], json!({"acr": "mfa", "amr": ["otp"]}));
        assert!(!rule.satisfied(&no_time, 1000));
        let amr_string = identity(&[], json!({"acr": "mfa", "amr": "otp", "auth_time": 1000}));
        assert!(!rule.satisfied(&amr_string, 1000));
    }

    #[test]
    fn owner_rule_compares_param_and_claim() {
        let rule = OwnerRule {
            param: "username".into(),
            claim: "sub".into(),
            unless_roles: vec!["admin".into()],
        };
        let alice = identity(&[], json!({"sub": "alice"}));
        let params = |v: &str| vec![("username".to_string(), v.to_string())];
        assert!(rule.allows(&alice, &params("alice")));
        assert!(!rule.allows(&alice, &params("bob")));
        assert!(!rule.allows(&alice, &params("Alice")));
        assert!(
            !rule.allows(&identity(&[], json!({})), &params("alice")),
            "no claim, no access"
        );
        assert!(rule.allows(&identity(&["admin"], json!({})), &params("bob")));
        let by_consumer = OwnerRule {
            claim: "consumer".into(),
            ..rule
        };
        assert!(by_consumer.allows(&alice, &params("app")));
        // Numeric ids: `"uid": 42` owns `/users/42`, not `/users/43`; other
        // kinds of values own nothing.
        let by_uid = OwnerRule {
            claim: "uid".into(),
            ..by_consumer
        };
        assert!(by_uid.allows(&identity(&[], json!({"uid": 42})), &params("42")));
        assert!(!by_uid.allows(&identity(&[], json!({"uid": 42})), &params("43")));
        assert!(!by_uid.allows(&identity(&[], json!({"uid": 4.2})), &params("4.2")));
        assert!(!by_uid.allows(&identity(&[], json!({"uid": true})), &params("true")));
    }

    #[test]
    fn response_owner_checks_objects_and_arrays() {
        let rule = ResponseOwnerRule {
            field: "meta.owner".into(),
            claim: "sub".into(),
            unless_roles: vec![],
            max_body_bytes: 100,
        };
        assert!(rule.body_owned_by(br#"{"meta":{"owner":"alice"}}"#, "alice"));
        assert!(rule.body_owned_by(br#"[{"meta":{"owner":"alice"}}]"#, "alice"));
        assert!(!rule.body_owned_by(
            br#"[{"meta":{"owner":"alice"}},{"meta":{"owner":"bob"}}]"#,
            "alice"
        ));
        assert!(!rule.body_owned_by(br#"{"meta":{}}"#, "alice"));
        assert!(!rule.body_owned_by(b"not json", "alice"));
        assert!(!rule.body_owned_by(&[b' '; 101], "alice"));
        // A numeric owner field compares in decimal.
        assert!(rule.body_owned_by(br#"{"meta":{"owner":42}}"#, "42"));
        assert!(!rule.body_owned_by(br#"{"meta":{"owner":42}}"#, "4"));
        assert!(!rule.body_owned_by(br#"{"meta":{"owner":[42]}}"#, "42"));
    }

    #[test]
    fn scopes_all_roles_any() {
        let id = identity(&["user"], json!({}));
        assert!(missing_scopes(&id, &["a".into()]).is_empty());
        assert_eq!(
            missing_scopes(&id, &["a".into(), "b".into()]),
            [&"b".to_string()]
        );
        assert!(roles_ok(&id, &[]));
        assert!(roles_ok(&id, &["admin".into(), "user".into()]));
        assert!(!roles_ok(&id, &["admin".into()]));
    }
}
