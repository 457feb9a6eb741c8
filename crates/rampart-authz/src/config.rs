//! `AuthzConfig`: the per-API authorization section (operations keyed
//! `METHOD /path/{param}` as the route stage names them), validated into an
//! [`AuthzStage`]. An operation without an entry is refused (default deny).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::cedar::CedarConfig;
use crate::clock::Clock;
use crate::error::{ConfigError, invalid};
use crate::route::OperationKey;
use crate::rules::{OwnerRule, ResponseOwnerRule, StepUpRule};
use crate::spec_security::SpecSecurity;
use crate::stage::{AuthzStage, Operation};

/// Largest response `response_owner` may read: what the gateway buffers of a
/// response for a stage (a larger one gets 502).
pub const MAX_RESPONSE_OWNER_BODY: usize = rampart_core::stage::RESPONSE_BUFFER_LIMIT;

fn yes() -> bool {
    true
}

/// What one operation requires.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationRule {
    /// Callable without an identity (no scopes, roles, ownership or step-up then).
    #[serde(default)]
    pub public: bool,
    /// Scopes, all required.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Roles, any one required.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Path-parameter ownership (BOLA).
    #[serde(default)]
    pub owner: Option<OwnerRule>,
    /// Response-object ownership (BOLA for ids that carry no owner).
    #[serde(default)]
    pub response_owner: Option<ResponseOwnerRule>,
    /// Step-up authentication.
    #[serde(default)]
    pub step_up: Option<StepUpRule>,
    /// Whether the Cedar policies apply to this operation. Default true.
    #[serde(default = "yes")]
    pub cedar: bool,
    /// Whether the OpenAPI spec's `security` requirements apply to this
    /// operation, on top of this rule. Default true. Non-empty `scopes` here
    /// replace the spec's scopes (its credentials and roles still apply).
    #[serde(default = "yes")]
    pub spec_security: bool,
}

/// Authorization configuration of an API.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthzConfig {
    /// Operations by key, e.g. `GET /users/{username}`.
    #[serde(default)]
    pub operations: BTreeMap<String, OperationRule>,
    /// Cedar policies.
    #[serde(default)]
    pub cedar: Option<CedarConfig>,
}

impl Default for OperationRule {
    fn default() -> Self {
        Self {
            public: false,
            scopes: Vec::new(),
            roles: Vec::new(),
            owner: None,
            response_owner: None,
            step_up: None,
            cedar: true,
            spec_security: true,
        }
    }
}

fn non_empty(path: &str, items: &[String]) -> Result<(), ConfigError> {
    match items.iter().position(String::is_empty) {
        Some(i) => Err(invalid(format!("{path}[{i}]"), "must not be empty")),
        None => Ok(()),
    }
}

impl OperationRule {
    fn validate(&self, path: &str, key: &OperationKey) -> Result<(), ConfigError> {
        non_empty(&format!("{path}.scopes"), &self.scopes)?;
        non_empty(&format!("{path}.roles"), &self.roles)?;
        if self.public
            && (!self.scopes.is_empty()
                || !self.roles.is_empty()
                || self.owner.is_some()
                || self.response_owner.is_some()
                || self.step_up.is_some())
        {
            return Err(invalid(
                format!("{path}.public"),
                "a public operation cannot require scopes, roles, ownership or step-up",
            ));
        }
        if let Some(owner) = &self.owner {
            if !key.params().any(|p| p == owner.param) {
                return Err(invalid(
                    format!("{path}.owner.param"),
                    "not a parameter of the operation's path",
                ));
            }
            if owner.claim.is_empty() {
                return Err(invalid(format!("{path}.owner.claim"), "must not be empty"));
            }
        }
        if let Some(owner) = &self.response_owner {
            if owner.field.is_empty() || owner.claim.is_empty() || owner.max_body_bytes == 0 {
                return Err(invalid(
                    format!("{path}.response_owner"),
                    "field, claim and max_body_bytes must be set",
                ));
            }
            // Checked on the response: on an operation that changes something,
            // the upstream has already changed someone else's object when the
            // check hides its answer. Such operations need `owner` (a path
            // parameter checked before the request is forwarded).
            if !matches!(key.method.as_str(), "GET" | "HEAD") {
                return Err(invalid(
                    format!("{path}.response_owner"),
                    "only for GET (it is checked on the response, after the upstream acted); use `owner` to check a path parameter before forwarding",
                ));
            }
            if owner.max_body_bytes > MAX_RESPONSE_OWNER_BODY {
                return Err(invalid(
                    format!("{path}.response_owner.max_body_bytes"),
                    format!("at most {MAX_RESPONSE_OWNER_BODY} (the gateway's response buffer)"),
                ));
            }
        }
        if let Some(step_up) = &self.step_up {
            if step_up.acr_values.is_empty()
                && step_up.amr.is_empty()
                && step_up.max_age_seconds.is_none()
            {
                return Err(invalid(
                    format!("{path}.step_up"),
                    "requires acr_values, amr or max_age_seconds",
                ));
            }
            non_empty(&format!("{path}.step_up.acr_values"), &step_up.acr_values)?;
            non_empty(&format!("{path}.step_up.amr"), &step_up.amr)?;
        }
        Ok(())
    }
}

impl AuthzConfig {
    /// Validates the section into the stage. `path` is the section's field path.
    pub fn build(&self, path: &str, clock: Arc<dyn Clock>) -> Result<AuthzStage, ConfigError> {
        self.build_with_spec(path, clock, &SpecSecurity::default())
    }

    /// As [`AuthzConfig::build`], with the requirements of the API's OpenAPI
    /// `security` (see [`crate::spec_security`]): an operation the spec protects
    /// gets an implicit rule (authenticated, the spec's scopes) when this
    /// section has none; one it has gets the spec's scopes added.
    pub fn build_with_spec(
        &self,
        path: &str,
        clock: Arc<dyn Clock>,
        spec: &SpecSecurity,
    ) -> Result<AuthzStage, ConfigError> {
        let mut operations = std::collections::HashMap::with_capacity(self.operations.len());
        for (name, rule) in &self.operations {
            let op_path = format!("{path}.operations[\"{name}\"]");
            let key = OperationKey::parse(name).ok_or_else(|| {
                invalid(
                    op_path.clone(),
                    "operation keys are `METHOD /path/{param}` with an upper-case method (at most one parameter per path segment)",
                )
            })?;
            rule.validate(&op_path, &key)?;
            let spec = spec
                .get(name)
                .filter(|_| rule.spec_security && !rule.public)
                .map(|requirements| {
                    let mut requirements = requirements.clone();
                    if !rule.scopes.is_empty() {
                        // The rule's scopes replace the spec's, nothing else:
                        // the credentials and roles each alternative asks for
                        // still hold (adding scopes must not loosen mutualTLS).
                        for alternative in &mut requirements.alternatives {
                            alternative.scopes.clear();
                        }
                    }
                    requirements
                });
            operations.insert(
                name.clone(),
                Operation {
                    key,
                    rule: rule.clone(),
                    spec,
                },
            );
        }
        for (name, requirements) in spec.operations() {
            if operations.contains_key(name) {
                continue;
            }
            // A template this crate cannot parse (two parameters in one
            // segment, `/files/{name}.{ext}`) gets no implicit rule: default deny.
            let Some(key) = OperationKey::parse(name) else {
                continue;
            };
            operations.insert(
                name.to_owned(),
                Operation {
                    key,
                    rule: OperationRule::default(),
                    spec: Some(requirements.clone()),
                },
            );
        }
        let mut cedar = match &self.cedar {
            // With a spec, policies must name its operations (see `build_for`).
            Some(cfg) => Some(cfg.build_for(
                &format!("{path}.cedar"),
                Some(spec.declared()).filter(|declared| !declared.is_empty()),
            )?),
            None => None,
        };
        if let Some(cedar) = cedar.as_mut() {
            // Per-operation policy slices, so requests evaluate only what applies.
            cedar.prepare(operations.keys().map(String::as_str));
        }
        Ok(AuthzStage::new(operations, cedar, clock))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn json_schema_is_published_for_the_section() {
        let text = serde_json::to_value(schemars::schema_for!(AuthzConfig))
            .unwrap()
            .to_string();
        for field in [
            "operations",
            "cedar",
            "step_up",
            "response_owner",
            "unless_roles",
        ] {
            assert!(text.contains(field), "{field}");
        }
    }
}
