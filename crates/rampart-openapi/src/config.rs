//! The `openapi` section of an API's configuration (raw, as written in YAML) and its
//! resolution into per-operation [`Policy`]s.
//!
//! Real specs are loose; every rule can be tightened or relaxed per operation here
//! without editing the spec. Operations are named by `operationId` or by
//! `"METHOD /path/template"`.
//!
//! ```yaml
//! spec: users.yaml                  # relative to the config file
//! strict_query: true                # unknown query parameters: 400
//! undeclared_properties: refuse     # refuse | strip | allow
//! limits: { max_body_bytes: 1048576, max_depth: 32 }
//! forbidden_properties: [is_admin, role]
//! role_visible: { salary: [hr] }    # response members only these roles see
//! operations:
//!   login: { auth_endpoint: true, username_field: /username, reveal_properties: [access_token] }
//!   updateUser: { undeclared_properties: strip }
//!   createUser:                     # constraints the spec forgot, added to its schema
//!     request_schema: { properties: { email: { format: email, maxLength: 254 } } }
//!   listUsers:
//!     parameters: { limit: { maximum: 100 } }
//!   "GET /legacy/users":
//!     deprecation:
//!       since: "2026-01-01T00:00:00Z"
//!       sunset: "2027-01-01T00:00:00Z"
//!       link: https://example.com/deprecations/legacy
//!       allowed_consumers: [old-app]
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::BuildError;
use crate::json::JsonLimits;

/// The `openapi` section of one API.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenApiConfig {
    /// The OpenAPI 3.0/3.1 document (YAML or JSON), relative to the config file.
    pub spec: PathBuf,
    /// Path prefix the spec's paths live under (e.g. `/v1`). Default: the path of the
    /// first `servers` URL when it has no variables, else none.
    #[serde(default)]
    pub base_path: Option<String>,
    /// Refuse query parameters the operation does not declare. Default: false.
    #[serde(default)]
    pub strict_query: bool,
    /// What to do with body members the schema does not declare. Default: refuse.
    #[serde(default)]
    pub undeclared_properties: UndeclaredMode,
    /// Body size and JSON structure limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Request body members refused at any depth (e.g. `admin`, `role`, `is_admin`).
    #[serde(default)]
    pub forbidden_properties: Vec<String>,
    /// Response members whose names look sensitive but may be shown.
    #[serde(default)]
    pub reveal_properties: Vec<String>,
    /// Response members (by name, any depth) shown only to callers holding one of the roles.
    #[serde(default)]
    pub role_visible: BTreeMap<String, Vec<String>>,
    /// Status of the one failure answer of authentication endpoints: 400, 401 or 403.
    /// Default: 401.
    #[serde(default = "default_auth_status")]
    pub auth_failure_status: u16,
    /// Deprecation of the whole API version.
    #[serde(default)]
    pub deprecation: Option<DeprecationConfig>,
    /// Per-operation overrides, keyed by `operationId` or `"METHOD /template"`.
    #[serde(default)]
    pub operations: BTreeMap<String, OperationOverride>,
}

fn default_auth_status() -> u16 {
    401
}

/// Treatment of undeclared body members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UndeclaredMode {
    /// Refuse the request with 400.
    #[default]
    Refuse,
    /// Remove the members and forward the rest.
    Strip,
    /// Let them through (the spec's own `additionalProperties: false` still applies).
    Allow,
}

/// Size and structure limits; unset fields take the defaults (or, in an operation
/// override, the API-wide values).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body in bytes. Default 1 MiB.
    pub max_body_bytes: Option<usize>,
    /// Deepest JSON nesting, 1..=100. Default 32.
    pub max_depth: Option<usize>,
    /// Most items in one JSON array. Default 10 000.
    pub max_array_items: Option<usize>,
    /// Longest JSON string in bytes. Default 65 536.
    pub max_string_bytes: Option<usize>,
    /// Most members in one JSON object. Default 1 000.
    pub max_object_keys: Option<usize>,
}

/// Deprecation and sunset of an operation or API version.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeprecationConfig {
    /// When it was deprecated (RFC 3339, e.g. `2026-01-01T00:00:00Z`). Default: the epoch.
    pub since: Option<String>,
    /// When it stops answering (RFC 3339); after it, requests get 410.
    pub sunset: Option<String>,
    /// Documentation of the deprecation (sent as `Link: <...>; rel="deprecation"`).
    pub link: Option<String>,
    /// Only these consumers may still call it once deprecated (others get
    /// 403). Default: everyone.
    pub allowed_consumers: Option<Vec<String>>,
}

impl DeprecationConfig {
    /// This operation's deprecation over the API's: each field it sets wins,
    /// the others are the API's (an operation that only adds a `link` keeps
    /// the API's sunset and allowlist).
    pub fn over(&self, api: Option<&DeprecationConfig>) -> DeprecationConfig {
        let Some(api) = api else {
            return self.clone();
        };
        DeprecationConfig {
            since: self.since.clone().or_else(|| api.since.clone()),
            sunset: self.sunset.clone().or_else(|| api.sunset.clone()),
            link: self.link.clone().or_else(|| api.link.clone()),
            allowed_consumers: self
                .allowed_consumers
                .clone()
                .or_else(|| api.allowed_consumers.clone()),
        }
    }
}

/// Overrides for one operation.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationOverride {
    /// Overrides `strict_query`.
    pub strict_query: Option<bool>,
    /// Overrides `undeclared_properties`.
    pub undeclared_properties: Option<UndeclaredMode>,
    /// Overrides individual limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Added to the API-wide forbidden properties.
    #[serde(default)]
    pub forbidden_properties: Vec<String>,
    /// Added to the API-wide revealed properties.
    #[serde(default)]
    pub reveal_properties: Vec<String>,
    /// Added to (and overriding) the API-wide role-visible properties.
    #[serde(default)]
    pub role_visible: BTreeMap<String, Vec<String>>,
    /// An authentication endpoint: every 4xx becomes one identical answer, and
    /// its requests are login attempts for the `rate_limit` lock-out (its
    /// upstream 401s are failures).
    #[serde(default)]
    pub auth_endpoint: bool,
    /// Deprecation of this operation (overrides the API-wide one).
    pub deprecation: Option<DeprecationConfig>,
    /// A JSON Schema (in the spec's dialect) the request body must satisfy as well
    /// as the spec's own: tightens a loose spec (formats, lengths, patterns,
    /// required members) without editing it. It adds constraints only; which members
    /// are declared still comes from the spec.
    #[serde(default)]
    pub request_schema: Option<serde_json::Value>,
    /// Per parameter name: a JSON Schema the parameter's decoded value must satisfy
    /// as well as the spec's (e.g. `limit: {maximum: 100}`).
    #[serde(default)]
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// Authentication endpoints only: where the login identifier (username) is in
    /// the request body, as a JSON pointer (`/username`, `/credentials/email`); for
    /// form (`application/x-www-form-urlencoded`, `multipart/form-data`) bodies the
    /// pointer's one segment names the field. The lock-out counts failures per identifier. The body of
    /// such an operation is read before the rate limits, up to 64 KiB (larger: 413).
    pub username_field: Option<String>,
}

/// The resolved rules of one operation.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Refuse undeclared query parameters.
    pub strict_query: bool,
    /// Undeclared body members.
    pub undeclared: UndeclaredMode,
    /// Largest body.
    pub max_body_bytes: usize,
    /// JSON structure limits.
    pub limits: JsonLimits,
    /// Forbidden request members, lower-case.
    pub forbidden: Vec<String>,
    /// Revealed sensitive-looking response members, lower-case.
    pub reveal: Vec<String>,
    /// Role-restricted response members.
    pub role_visible: HashMap<String, Vec<String>>,
    /// Authentication endpoint.
    pub auth_endpoint: bool,
    /// Extra schema for the request body (`request_schema`).
    pub request_schema: Option<Arc<jsonschema::Validator>>,
    /// Extra schemas per parameter name (`parameters`).
    pub param_schemas: Vec<(String, Arc<jsonschema::Validator>)>,
    /// JSON pointer of the login identifier in the body (`username_field`).
    pub username_field: Option<String>,
}

/// Longest accepted `username_field` pointer.
const MAX_POINTER_LEN: usize = 256;

/// Default largest body.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// Highest accepted `max_depth`: keeps recursion bounded and below serde_json's own
/// recursion limit (128), so the pre-scan and the parser never disagree.
pub const MAX_DEPTH_CEILING: usize = 100;

impl OpenApiConfig {
    /// The API-wide policy.
    pub(crate) fn base_policy(&self) -> Result<Policy, BuildError> {
        let d = JsonLimits::default();
        let l = &self.limits;
        let policy = Policy {
            strict_query: self.strict_query,
            undeclared: self.undeclared_properties,
            max_body_bytes: l.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY),
            limits: JsonLimits {
                max_depth: l.max_depth.unwrap_or(d.max_depth),
                max_array_items: l.max_array_items.unwrap_or(d.max_array_items),
                max_string_bytes: l.max_string_bytes.unwrap_or(d.max_string_bytes),
                max_object_keys: l.max_object_keys.unwrap_or(d.max_object_keys),
            },
            forbidden: lower(&self.forbidden_properties),
            reveal: lower(&self.reveal_properties),
            role_visible: lower_keys(&self.role_visible),
            auth_endpoint: false,
            request_schema: None,
            param_schemas: Vec::new(),
            username_field: None,
        };
        check_limits(&policy, "limits")?;
        if ![400, 401, 403].contains(&self.auth_failure_status) {
            return Err(BuildError::Field {
                field: "auth_failure_status".into(),
                message: "must be 400, 401 or 403".into(),
            });
        }
        Ok(policy)
    }
}

impl OperationOverride {
    /// Applies this override to the API-wide policy.
    pub(crate) fn apply(&self, base: &Policy, key: &str) -> Result<Policy, BuildError> {
        let mut p = base.clone();
        if let Some(s) = self.strict_query {
            p.strict_query = s;
        }
        if let Some(u) = self.undeclared_properties {
            p.undeclared = u;
        }
        let l = &self.limits;
        if let Some(v) = l.max_body_bytes {
            p.max_body_bytes = v;
        }
        if let Some(v) = l.max_depth {
            p.limits.max_depth = v;
        }
        if let Some(v) = l.max_array_items {
            p.limits.max_array_items = v;
        }
        if let Some(v) = l.max_string_bytes {
            p.limits.max_string_bytes = v;
        }
        if let Some(v) = l.max_object_keys {
            p.limits.max_object_keys = v;
        }
        p.forbidden.extend(lower(&self.forbidden_properties));
        p.reveal.extend(lower(&self.reveal_properties));
        p.role_visible.extend(lower_keys(&self.role_visible));
        p.auth_endpoint = self.auth_endpoint;
        if let Some(field) = &self.username_field {
            let bad = |message: &str| BuildError::Field {
                field: format!("operations[{key:?}].username_field"),
                message: message.into(),
            };
            if !self.auth_endpoint {
                return Err(bad("needs `auth_endpoint: true`"));
            }
            if !field.starts_with('/') || field.len() > MAX_POINTER_LEN {
                return Err(bad("must be a JSON pointer such as /username"));
            }
            p.username_field = Some(field.clone());
        }
        check_limits(&p, &format!("operations[{key:?}].limits"))?;
        Ok(p)
    }
}

/// `role_visible` with its member names lower-cased: member names match
/// without regard to case, as `forbidden_properties` and `reveal_properties` do.
fn lower_keys(map: &BTreeMap<String, Vec<String>>) -> HashMap<String, Vec<String>> {
    map.iter()
        .map(|(name, roles)| (name.to_ascii_lowercase(), roles.clone()))
        .collect()
}

fn lower(names: &[String]) -> Vec<String> {
    names.iter().map(|n| n.to_ascii_lowercase()).collect()
}

fn check_limits(p: &Policy, field: &str) -> Result<(), BuildError> {
    let bad = |name: &str, message: &str| BuildError::Field {
        field: format!("{field}.{name}"),
        message: message.into(),
    };
    if p.limits.max_depth == 0 || p.limits.max_depth > MAX_DEPTH_CEILING {
        return Err(bad("max_depth", "must be between 1 and 100"));
    }
    if p.limits.max_array_items == 0 {
        return Err(bad("max_array_items", "must be positive"));
    }
    if p.limits.max_string_bytes == 0 {
        return Err(bad("max_string_bytes", "must be positive"));
    }
    if p.limits.max_object_keys == 0 {
        return Err(bad("max_object_keys", "must be positive"));
    }
    if p.max_body_bytes == 0 {
        return Err(bad("max_body_bytes", "must be positive"));
    }
    Ok(())
}
