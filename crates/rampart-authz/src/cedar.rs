//! Cedar attribute policies (ABAC).
//!
//! Policies load from files with the configuration; each parse or validation
//! error is reported as `file:line:column`. The request maps to Cedar as:
//! - principal `Rampart::Consumer::"<consumer>"` (or `Rampart::Anonymous::"anonymous"`)
//!   with `method`, `scopes`, `roles`, `plan` and `claims` (a record);
//! - action `Rampart::Action::"GET /pets/{id}"` (the operation key);
//! - resource `Rampart::Route::"GET /pets/{id}"` with `api`, `path` and `params`
//!   (a record of the decoded path parameters);
//! - context `ip` (ipaddr), `now` (Unix seconds), `tls`, `mtls` (booleans),
//!   `tls_version` and `client_cert_subject` (strings, when known).
//!
//! `mode: permit_required` (default) allows only what a `permit` allows;
//! `forbid_only` adds an implicit `permit` so policies only carve out denials.
//! Unlike plain Cedar, a policy whose evaluation errors (e.g. reads a claim the
//! token lacks without a `has` guard) denies the request instead of being skipped.
//! Attributes no policy mentions are not built (a per-request saving).
//!
//! Per request, cheapest first: [`CedarEngine::prepare`] has sliced the policies
//! per operation at build time (an operation no policy can apply to is decided
//! without evaluation); the principal, resource and context are built as
//! evaluated values (cedar-policy-core's types, which the public API wraps) and
//! the entity store skips the transitive-closure pass (no entity has parents).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    ActionConstraint, Authorizer, Context, Decision, Entities, EntityId, EntityTypeName, EntityUid,
    Policy, PolicyId, PolicySet, Request, ResourceConstraint, Schema, ValidationMode, Validator,
};
use cedar_policy_core::ast::{self, RestrictedExpr};
use cedar_policy_core::entities::{NoEntitiesSchema, TCComputation};
use cedar_policy_core::evaluator::RestrictedEvaluator;
use cedar_policy_core::extensions::Extensions;
use miette::Diagnostic;
use serde::Deserialize;
use serde_json::Value;
use smol_str::SmolStr;

use crate::error::{ConfigError, invalid};

/// How Cedar decisions combine with the operation rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CedarMode {
    /// Deny unless a policy permits.
    #[default]
    PermitRequired,
    /// Allow unless a policy forbids.
    ForbidOnly,
}

/// Cedar configuration.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CedarConfig {
    /// Policy files (`.cedar`).
    pub policies: Vec<PathBuf>,
    /// Optional schema (`.cedarschema`): policies are then validated strictly.
    #[serde(default)]
    pub schema: Option<PathBuf>,
    /// Decision mode.
    #[serde(default)]
    pub mode: CedarMode,
}

/// Facts about the request for the Cedar context.
#[derive(Debug, Clone, Default)]
pub struct CedarFacts<'a> {
    /// Consumer, `None` for anonymous calls.
    pub consumer: Option<&'a str>,
    /// Authentication method.
    pub method: &'a str,
    /// Scopes.
    pub scopes: &'a [String],
    /// Roles.
    pub roles: &'a [String],
    /// Plan.
    pub plan: Option<&'a str>,
    /// Verified claims.
    pub claims: Option<&'a serde_json::Map<String, Value>>,
    /// Operation key.
    pub operation: &'a str,
    /// API name.
    pub api: &'a str,
    /// Normalised path.
    pub path: &'a str,
    /// Decoded path parameters.
    pub params: &'a [(String, String)],
    /// Client IP.
    pub ip: String,
    /// Unix seconds.
    pub now: u64,
    /// TLS in use.
    pub tls: bool,
    /// TLS version.
    pub tls_version: Option<&'a str>,
    /// Verified client certificate subject, if any.
    pub client_cert_subject: Option<&'a str>,
}

/// Loaded, validated policies.
#[derive(Debug)]
pub struct CedarEngine {
    policies: PolicySet,
    /// Per operation: its action and resource ids and the policies that can
    /// apply to it (see [`CedarEngine::prepare`]).
    sliced: HashMap<String, Slice>,
    mode: CedarMode,
    authorizer: Authorizer,
    /// Every word of the policy text: an attribute no policy names is not built
    /// (Cedar only accepts literal attribute names, so this is a safe
    /// over-approximation, and a reference we missed errors, which denies).
    words: HashSet<String>,
    types: Types,
}

/// What one operation needs, computed once.
#[derive(Debug)]
struct Slice {
    action: EntityUid,
    resource: EntityUid,
    /// Only the policies whose action scope admits this operation; `None`
    /// when none does (the decision then needs no evaluation).
    policies: Option<PolicySet>,
}

/// The id of the `permit` that `forbid_only` mode adds.
const IMPLICIT_PERMIT: &str = "rampart-implicit-permit";

/// The identifier-like words of `text`.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn first_offset(diag: &dyn Diagnostic) -> usize {
    diag.labels()
        .and_then(|mut labels| labels.next())
        .map_or(0, |label| label.offset())
}

fn policy_error(
    path: &str,
    file: &str,
    text: &str,
    diag: &dyn Diagnostic,
    message: String,
) -> ConfigError {
    let (line, column) = line_col(text, first_offset(diag));
    ConfigError::Policy {
        path: path.into(),
        file: file.into(),
        line,
        column,
        message,
    }
}

const MAX_CLAIM_DEPTH: usize = 6;

/// JSON claim -> Cedar value; nulls and floats are left out. Built as Cedar's
/// evaluated value directly (cedar-policy-core's type, which the public API
/// wraps): no expression to build and evaluate again per request.
fn to_cedar(value: &Value, depth: usize) -> Option<ast::Value> {
    if depth > MAX_CLAIM_DEPTH {
        return None;
    }
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(ast::Value::from(*b)),
        Value::Number(n) => n.as_i64().map(ast::Value::from),
        Value::String(s) => Some(ast::Value::from(s.as_str())),
        Value::Array(items) => Some(ast::Value::set(
            items.iter().filter_map(|v| to_cedar(v, depth + 1)),
            None,
        )),
        Value::Object(map) => Some(ast::Value::record(
            map.iter()
                .filter_map(|(k, v)| to_cedar(v, depth + 1).map(|v| (SmolStr::new(k), v))),
            None,
        )),
    }
}

fn strings(items: &[String]) -> ast::Value {
    ast::Value::set(items.iter().map(|s| ast::Value::from(s.as_str())), None)
}

/// An entity with attributes and no parents.
fn entity(uid: &EntityUid, attrs: Vec<(SmolStr, ast::Value)>) -> ast::Entity {
    ast::Entity::new_with_attr_partial_value(
        uid.clone().into(),
        attrs
            .into_iter()
            .map(|(k, v)| (k, ast::PartialValue::from(v))),
        HashSet::new(),
        HashSet::new(),
        [],
    )
}

/// Whether `policy`'s action and resource scopes name only `operations`;
/// else the id named and why it never matches.
fn check_scope(
    policy: &Policy,
    operations: &HashSet<String>,
    types: &Types,
) -> Result<(), (String, String)> {
    let actions: Vec<EntityUid> = match policy.action_constraint() {
        ActionConstraint::Any => Vec::new(),
        ActionConstraint::Eq(action) => vec![action],
        ActionConstraint::In(actions) => actions,
    };
    let resource_constraint = policy.resource_constraint();
    if let ResourceConstraint::Is(type_name) | ResourceConstraint::IsIn(type_name, _) =
        &resource_constraint
        && *type_name != types.route
    {
        return Err((
            type_name.to_string(),
            format!(
                "resources are `Rampart::Route`: `resource is {type_name}` matches no request, so this policy never applies"
            ),
        ));
    }
    let resource = match resource_constraint {
        ResourceConstraint::Any | ResourceConstraint::Is(_) => None,
        ResourceConstraint::Eq(resource)
        | ResourceConstraint::In(resource)
        | ResourceConstraint::IsIn(_, resource) => Some(resource),
    };
    let named = actions
        .iter()
        .map(|uid| (uid, &types.action, "action"))
        .chain(resource.iter().map(|uid| (uid, &types.route, "resource")));
    for (uid, expected, role) in named {
        let id = uid.id().unescaped();
        if uid.type_name() != expected {
            return Err((
                id.to_owned(),
                format!(
                    "{role} `{uid}` matches no request: {role}s are `{expected}::\"METHOD /path\"`, so this policy never applies"
                ),
            ));
        }
        if operations.contains(id) {
            continue;
        }
        let closest = rampart_core::names::closest(id, operations.iter().map(String::as_str));
        // An operation key of another API (a policy file shared by several,
        // told apart by `resource.api`) is fine here; a likely typo of one of
        // this API's is said at load. Anything else (`"writes"`, an action
        // group: Rampart's actions belong to none) never matches: refused.
        if crate::route::OperationKey::parse(id).is_some() {
            if let Some(closest) = closest {
                tracing::warn!(
                    policy = %policy.id(),
                    "{role} `{uid}` is not an operation of this API's spec: did you mean `{closest}`? (the policy does not apply to it)"
                );
            }
            continue;
        }
        let mut message = format!(
            "{role} `{uid}` is not an operation key (`METHOD /path`; Rampart has no action groups), so this policy never applies"
        );
        if let Some(closest) = closest {
            message.push_str(&format!(" (did you mean `{closest}`?)"));
        }
        return Err((id.to_owned(), message));
    }
    Ok(())
}

/// The entity types requests use, parsed once (parsing a name runs Cedar's
/// parser, far too slow for every request).
#[derive(Debug)]
struct Types {
    consumer: EntityTypeName,
    anonymous: EntityTypeName,
    action: EntityTypeName,
    route: EntityTypeName,
    /// The `ip` extension function's name.
    ip: cedar_policy_core::ast::Name,
}

impl Types {
    fn new() -> Option<Self> {
        Some(Self {
            consumer: EntityTypeName::from_str("Rampart::Consumer").ok()?,
            anonymous: EntityTypeName::from_str("Rampart::Anonymous").ok()?,
            action: EntityTypeName::from_str("Rampart::Action").ok()?,
            route: EntityTypeName::from_str("Rampart::Route").ok()?,
            ip: cedar_policy_core::ast::Name::from_str("ip").ok()?,
        })
    }

    /// `ip("<text>")`, as `RestrictedExpression::new_ip` builds it, without
    /// parsing the function name (a few microseconds per request).
    fn ip(&self, text: &str) -> RestrictedExpr {
        RestrictedExpr::call_extension_fn(self.ip.clone(), [RestrictedExpr::val(text)])
    }
}

fn uid(type_name: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(type_name.clone(), EntityId::new(id))
}

impl CedarConfig {
    /// Loads, parses and (with a schema) validates the policies.
    pub fn build(&self, path: &str) -> Result<CedarEngine, ConfigError> {
        self.build_for(path, None)
    }

    /// Like [`CedarConfig::build`]; with `operations` (the spec's operation
    /// keys), every action and route a policy's scope names must be one of
    /// them: any other id (a typo, an action group, which Rampart's entities
    /// never belong to) matches no request, and the policy would silently
    /// never apply (a `forbid` that forbids nothing).
    pub fn build_for(
        &self,
        path: &str,
        operations: Option<&HashSet<String>>,
    ) -> Result<CedarEngine, ConfigError> {
        let types = Types::new().ok_or_else(|| invalid(path, "internal: entity type names"))?;
        if self.policies.is_empty() {
            return Err(invalid(
                format!("{path}.policies"),
                "at least one policy file is required",
            ));
        }
        let mut all = PolicySet::new();
        let mut referenced = HashSet::new();
        // policy id -> (file, text), to place validation errors.
        let mut origin: HashMap<PolicyId, (String, String)> = HashMap::new();
        for (i, file) in self.policies.iter().enumerate() {
            let field = format!("{path}.policies[{i}]");
            let name = file.display().to_string();
            let text = std::fs::read_to_string(file).map_err(|source| ConfigError::File {
                path: field.clone(),
                file: name.clone(),
                source,
            })?;
            referenced.extend(words(&text).map(str::to_owned));
            let set = PolicySet::from_str(&text)
                .map_err(|e| policy_error(&field, &name, &text, &e, e.to_string()))?;
            if set.templates().next().is_some() {
                return Err(invalid(field, "policy templates are not supported"));
            }
            for (n, policy) in set.policies().enumerate() {
                let id = match policy.annotation("id") {
                    Some(id) => id.to_owned(),
                    None => format!("{name}#{n}"),
                };
                let id = PolicyId::new(id);
                all.add(policy.new_id(id.clone())).map_err(|e| {
                    invalid(field.clone(), format!("duplicate policy id {id}: {e}"))
                })?;
                if let Some(operations) = operations {
                    check_scope(policy, operations, &types).map_err(|(named, message)| {
                        let offset = text
                            .find(&format!("\"{named}\""))
                            .or_else(|| text.find(named.as_str()))
                            .unwrap_or(0);
                        let (line, column) = line_col(&text, offset);
                        ConfigError::Policy {
                            path: field.clone(),
                            file: name.clone(),
                            line,
                            column,
                            message,
                        }
                    })?;
                }
                origin.insert(id, (name.clone(), text.clone()));
            }
        }
        if let Some(schema_file) = &self.schema {
            let field = format!("{path}.schema");
            let name = schema_file.display().to_string();
            let text =
                std::fs::read_to_string(schema_file).map_err(|source| ConfigError::File {
                    path: field.clone(),
                    file: name.clone(),
                    source,
                })?;
            let (schema, _warnings) =
                Schema::from_cedarschema_str(&text).map_err(|e| ConfigError::Schema {
                    path: field,
                    file: name,
                    message: e.to_string(),
                })?;
            let result = Validator::new(schema).validate(&all, ValidationMode::Strict);
            if let Some(error) = result.validation_errors().next() {
                let (file, text) = origin.get(error.policy_id()).cloned().unwrap_or_default();
                return Err(policy_error(
                    &format!("{path}.policies"),
                    &file,
                    &text,
                    error,
                    error.to_string(),
                ));
            }
        }
        if self.mode == CedarMode::ForbidOnly {
            let permit = Policy::parse(
                Some(PolicyId::new(IMPLICIT_PERMIT)),
                "permit(principal, action, resource);",
            )
            .map_err(|e| invalid(path, e.to_string()))?;
            all.add(permit).map_err(|e| invalid(path, e.to_string()))?;
        }
        Ok(CedarEngine {
            policies: all,
            sliced: HashMap::new(),
            mode: self.mode,
            authorizer: Authorizer::new(),
            words: referenced,
            types,
        })
    }
}

/// Why a Cedar evaluation could not run (treated as deny).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CedarError {
    /// The principal, action or resource id could not be built.
    #[error("cannot build entity")]
    Entity,
    /// The context could not be built (e.g. an unparsable IP).
    #[error("cannot build context")]
    Context,
    /// Cedar refused the request.
    #[error("cannot build request")]
    Request,
}

impl CedarEngine {
    /// Whether a policy may read the request's path or its parameters
    /// (`resource.path`, `resource.params`): only then does a decision vouch
    /// for what they name.
    pub fn reads_path(&self) -> bool {
        self.words.contains("params") || self.words.contains("path")
    }

    /// Number of loaded policies.
    pub fn len(&self) -> usize {
        self.policies.policies().count()
    }

    /// Whether no policy is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Precomputes, for each of `operations` (operation keys), its action and
    /// resource ids and the policies whose action scope admits it (`action ==
    /// X`, `action in [..]` naming it, or no action constraint): a request then
    /// evaluates only those, and none at all when no policy can apply.
    /// Operations not prepared still work, against the whole set.
    pub fn prepare<'a>(&mut self, operations: impl IntoIterator<Item = &'a str>) {
        for operation in operations {
            let action = uid(&self.types.action, operation);
            let resource = uid(&self.types.route, operation);
            let relevant: Vec<Policy> = self
                .policies
                .policies()
                .filter(|p| match p.action_constraint() {
                    ActionConstraint::Any => true,
                    ActionConstraint::Eq(a) => a == action,
                    ActionConstraint::In(list) => list.contains(&action),
                })
                .cloned()
                .collect();
            // Only the implicit permit (forbid_only) or nothing: decided without
            // evaluating anything.
            let decisive = relevant
                .iter()
                .any(|p| AsRef::<str>::as_ref(p.id()) != IMPLICIT_PERMIT);
            let policies = if decisive {
                PolicySet::from_policies(relevant).ok()
            } else {
                None
            };
            // A set that fails to rebuild (cannot happen: ids were unique) falls
            // back to the whole set.
            let policies = match policies {
                Some(set) => Some(set),
                None if decisive => Some(self.policies.clone()),
                None => None,
            };
            self.sliced.insert(
                operation.to_owned(),
                Slice {
                    action,
                    resource,
                    policies,
                },
            );
        }
    }

    /// Whether the policies allow this request.
    pub fn is_allowed(&self, facts: &CedarFacts<'_>) -> Result<bool, CedarError> {
        let types = &self.types;
        let slice = self.sliced.get(facts.operation);
        let policies = match slice {
            Some(Slice { policies: None, .. }) => {
                // No policy can apply to this operation.
                return Ok(self.mode == CedarMode::ForbidOnly);
            }
            Some(Slice {
                policies: Some(set),
                ..
            }) => set,
            None => &self.policies,
        };
        let (action, resource_uid) = match slice {
            Some(slice) => (slice.action.clone(), slice.resource.clone()),
            None => (
                uid(&types.action, facts.operation),
                uid(&types.route, facts.operation),
            ),
        };
        let principal_uid = match facts.consumer {
            Some(consumer) => uid(&types.consumer, consumer),
            None => uid(&types.anonymous, "anonymous"),
        };

        let used = |name: &str| self.words.contains(name);
        // A claim is kept if every word of its name appears in the policies.
        let claim_used = |name: &str| words(name).all(|w| self.words.contains(w));
        let mut attrs: Vec<(SmolStr, ast::Value)> = Vec::with_capacity(5);
        if used("method") {
            attrs.push(("method".into(), ast::Value::from(facts.method)));
        }
        if used("scopes") {
            attrs.push(("scopes".into(), strings(facts.scopes)));
        }
        if used("roles") {
            attrs.push(("roles".into(), strings(facts.roles)));
        }
        if let Some(plan) = facts.plan.filter(|_| used("plan")) {
            attrs.push(("plan".into(), ast::Value::from(plan)));
        }
        if used("claims") {
            let claims = facts
                .claims
                .into_iter()
                .flatten()
                .filter(|(k, _)| claim_used(k))
                .filter_map(|(k, v)| to_cedar(v, 1).map(|v| (SmolStr::new(k), v)));
            attrs.push(("claims".into(), ast::Value::record(claims, None)));
        }
        let principal = entity(&principal_uid, attrs);

        let mut resource_attrs: Vec<(SmolStr, ast::Value)> = Vec::with_capacity(3);
        if used("api") {
            resource_attrs.push(("api".into(), ast::Value::from(facts.api)));
        }
        if used("path") {
            resource_attrs.push(("path".into(), ast::Value::from(facts.path)));
        }
        if used("params") {
            let params = facts
                .params
                .iter()
                .map(|(k, v)| (SmolStr::new(k), ast::Value::from(v.as_str())));
            resource_attrs.push(("params".into(), ast::Value::record(params, None)));
        }
        let resource = entity(&resource_uid, resource_attrs);

        let extensions = Extensions::all_available();
        let mut context: BTreeMap<SmolStr, ast::Value> = BTreeMap::new();
        if used("ip") {
            // The one extension value: evaluated (parsing the address), an
            // unparsable one is an error (deny).
            let ip = RestrictedEvaluator::new(extensions)
                .interpret(types.ip(&facts.ip).as_borrowed())
                .map_err(|_| CedarError::Context)?;
            context.insert("ip".into(), ip);
        }
        if used("now") {
            let now = i64::try_from(facts.now).unwrap_or(i64::MAX);
            context.insert("now".into(), ast::Value::from(now));
        }
        if used("tls") {
            context.insert("tls".into(), ast::Value::from(facts.tls));
        }
        if used("mtls") {
            let mtls = facts.client_cert_subject.is_some();
            context.insert("mtls".into(), ast::Value::from(mtls));
        }
        if let Some(version) = facts.tls_version.filter(|_| used("tls_version")) {
            context.insert("tls_version".into(), ast::Value::from(version));
        }
        if let Some(subject) = facts
            .client_cert_subject
            .filter(|_| used("client_cert_subject"))
        {
            context.insert("client_cert_subject".into(), ast::Value::from(subject));
        }
        let context = Context::from(ast::Context::Value(Arc::new(context)));
        // Our two entities have no parents: the transitive closure Cedar would
        // compute (most of the cost of `Entities::from_entities`) is empty.
        let entities = cedar_policy_core::entities::Entities::from_entities(
            [principal, resource],
            None::<&NoEntitiesSchema>,
            TCComputation::AssumeAlreadyComputed,
            extensions,
        )
        .map(Entities::from)
        .map_err(|_| CedarError::Entity)?;
        let request = Request::new(principal_uid, action, resource_uid, context, None)
            .map_err(|_| CedarError::Request)?;
        let response = self.authorizer.is_authorized(&request, policies, &entities);
        // Cedar skips a policy whose evaluation errors, which could let a request
        // past a `forbid` it should have met: a gateway fails closed instead.
        if let Some(error) = response.diagnostics().errors().next() {
            tracing::warn!(%error, "cedar policy evaluation error; denying");
            return Ok(false);
        }
        Ok(response.decision() == Decision::Allow)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn ip_values_match_cedars_own_constructor() {
        let types = Types::new().unwrap();
        for ip in ["10.1.2.3", "::1", "not an ip"] {
            assert_eq!(
                &types.ip(ip),
                cedar_policy::RestrictedExpression::new_ip(ip).as_ref(),
                "{ip}"
            );
        }
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 99), (1, 3));
    }
}
