//! Requirements from an OpenAPI document's `security` (OpenAPI 3.0/3.1 §4.8.30):
//! each operation's own `security`, else the document's.
//!
//! Semantics, as the spec defines them: `security` is a list of alternatives (any
//! one suffices); each alternative names schemes that must all be satisfied. An
//! `oauth2` or `openIdConnect` scheme requires its listed scopes; for `apiKey`,
//! `http` and `mutualTLS` schemes the list (OpenAPI 3.1) names required roles.
//! An `apiKey` scheme is satisfied only by an API key (unless it names the
//! `Authorization` header: Swagger 2's way of writing a bearer token) and a
//! `mutualTLS` one only by a verified client certificate (the identity, or
//! the connection's beside a certificate-bound token), so in `[{oauth:
//! [admin]}, {key: []}]` a token without `admin` does not pass through the API
//! key alternative. OAuth schemes are satisfied by any credential holding their
//! scopes (Rampart's API key records carry scopes), `http` schemes by any.
//! Role lists on other schemes are required roles in OpenAPI 3.1 documents and
//! ignored in 3.0 ones (which define no such lists).
//!
//! What the gateway makes of it (conservative, so a spec cannot open anything):
//! - an operation whose requirements name at least one scheme in every
//!   alternative gets an implicit rule: authenticated, plus the scopes of one
//!   alternative; an operation with a config rule adds them to it (config
//!   `scopes`, when non-empty, replace them; `spec_security: false` ignores them);
//! - `security: []` or an empty alternative `{}` (anonymous allowed) grant
//!   nothing: such an operation still needs a config rule (default deny);
//! - a requirement naming a scheme the document does not define is a
//!   configuration error.
//!
//! Pure: takes the parsed document (the binary reads it with `rampart-openapi`'s
//! loader and puts path items from other files in place). Local `$ref`s
//! (`#/...`) of path items and schemes are followed; any other is an error.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

/// Method keys of a path item, with the upper-case method of operation keys.
const METHODS: [(&str, &str); 8] = [
    ("get", "GET"),
    ("put", "PUT"),
    ("post", "POST"),
    ("delete", "DELETE"),
    ("options", "OPTIONS"),
    ("head", "HEAD"),
    ("patch", "PATCH"),
    ("trace", "TRACE"),
];

/// What kind of credential a scheme asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// Any authenticated caller (OAuth and `http` schemes: Rampart's
    /// identity does not say which header carried the credential, and its
    /// API key records carry scopes too).
    Any,
    /// An API key (`apiKey` schemes, except one on `Authorization`, which
    /// Swagger 2 specs use for bearer tokens).
    ApiKey,
    /// A verified client certificate on the connection (`mutualTLS`), as an
    /// identity of its own or beside a certificate-bound token.
    ClientCert,
}

/// One alternative: what a caller must hold to satisfy it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Requirement {
    /// Scopes of its `oauth2`/`openIdConnect` schemes, all required.
    pub scopes: Vec<String>,
    /// Role names listed for its other schemes, all required (OpenAPI 3.1
    /// documents only: 3.0 does not define such lists).
    pub roles: Vec<String>,
    /// The credential each of its schemes asks for; all must be presented.
    pub credentials: Vec<Credential>,
}

impl Requirement {
    /// Whether a caller presented the credentials this alternative asks for.
    fn presented_by(&self, identity: &rampart_core::Identity, client_cert: bool) -> bool {
        self.credentials.iter().all(|credential| match credential {
            Credential::Any => true,
            Credential::ApiKey => identity.method == "api_key",
            Credential::ClientCert => client_cert || identity.method == "mtls",
        })
    }

    /// Whether a caller satisfies this alternative.
    fn satisfied_by(&self, identity: &rampart_core::Identity, client_cert: bool) -> bool {
        self.presented_by(identity, client_cert)
            && self.scopes.iter().all(|s| identity.scopes.contains(s))
            && self.roles.iter().all(|r| identity.roles.contains(r))
    }
}

/// The alternatives of one operation; satisfied when any one is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpecRequirements {
    /// Never empty in a [`SpecSecurity`].
    pub alternatives: Vec<Requirement>,
}

impl SpecRequirements {
    /// Whether a caller satisfies one alternative: presenting the credentials
    /// its schemes ask for (see [`Credential`]) and holding its scopes and
    /// roles.
    /// `client_cert`: the connection presented a verified client certificate.
    pub fn satisfied_by(&self, identity: &rampart_core::Identity, client_cert: bool) -> bool {
        self.alternatives
            .iter()
            .any(|alt| alt.satisfied_by(identity, client_cert))
    }

    /// Why a caller who does not satisfy any alternative is refused: the
    /// scopes of the first alternative whose credentials it presented (to name
    /// in an `insufficient_scope` challenge), or `None` when it presented the
    /// credentials of none (no scope would help: another kind of credential
    /// is needed).
    pub fn scopes_to_ask_for(
        &self,
        identity: &rampart_core::Identity,
        client_cert: bool,
    ) -> Option<&[String]> {
        self.alternatives
            .iter()
            .find(|a| a.presented_by(identity, client_cert))
            .map(|a| a.scopes.as_slice())
    }
}

/// Requirements by operation key (`GET /users/{id}`).
#[derive(Debug, Clone, Default)]
pub struct SpecSecurity {
    operations: HashMap<String, SpecRequirements>,
    /// Every operation the document declares, with requirements or not.
    declared: HashSet<String>,
}

/// Why a document's `security` cannot be used (names the JSON pointer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("OpenAPI {pointer}: {reason}")]
pub struct SpecSecurityError {
    /// Where in the document.
    pub pointer: String,
    /// What is wrong.
    pub reason: String,
}

fn error(pointer: impl Into<String>, reason: impl Into<String>) -> SpecSecurityError {
    SpecSecurityError {
        pointer: pointer.into(),
        reason: reason.into(),
    }
}

/// Follows local `$ref`s (at most 16 hops).
fn deref<'a>(doc: &'a Value, mut value: &'a Value) -> Option<&'a Value> {
    for _ in 0..16 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return Some(value);
        };
        let pointer = reference.strip_prefix('#')?;
        value = doc.pointer(pointer)?;
    }
    None
}

/// Whether a scheme carries scopes, and the credential it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kind {
    scoped: bool,
    credential: Credential,
}

fn scheme_kinds(doc: &Value) -> Result<HashMap<String, Kind>, SpecSecurityError> {
    let mut kinds = HashMap::new();
    let Some(schemes) = doc.pointer("/components/securitySchemes") else {
        return Ok(kinds);
    };
    let Some(schemes) = schemes.as_object() else {
        return Err(error("/components/securitySchemes", "must be an object"));
    };
    for (name, scheme) in schemes {
        let pointer = format!("/components/securitySchemes/{name}");
        let scheme = deref(doc, scheme);
        let field = |name: &str| scheme.and_then(|s| s.get(name)).and_then(Value::as_str);
        let kind = match field("type") {
            // Scopes are what these require, and in Rampart API key records
            // carry scopes too: any credential holding them.
            Some("oauth2" | "openIdConnect") => Kind {
                scoped: true,
                credential: Credential::Any,
            },
            // Swagger 2 has no bearer scheme: converted specs describe a
            // bearer token as an API key in `Authorization`.
            Some("apiKey")
                if field("in") == Some("header")
                    && field("name").is_some_and(|n| n.eq_ignore_ascii_case("authorization")) =>
            {
                Kind {
                    scoped: false,
                    credential: Credential::Any,
                }
            }
            Some("apiKey") => Kind {
                scoped: false,
                credential: Credential::ApiKey,
            },
            Some("mutualTLS") => Kind {
                scoped: false,
                credential: Credential::ClientCert,
            },
            Some("http") => Kind {
                scoped: false,
                credential: Credential::Any,
            },
            _ => return Err(error(pointer, "unknown or missing security scheme type")),
        };
        kinds.insert(name.clone(), kind);
    }
    Ok(kinds)
}

/// `None`: the list grants anonymous access or is empty (no spec rule).
fn requirements(
    list: &Value,
    pointer: &str,
    kinds: &HashMap<String, Kind>,
    roles_listed: bool,
) -> Result<Option<SpecRequirements>, SpecSecurityError> {
    let Some(items) = list.as_array() else {
        return Err(error(pointer, "`security` must be an array"));
    };
    let mut alternatives = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{pointer}/{i}");
        let Some(schemes) = item.as_object() else {
            return Err(error(at, "a security requirement must be an object"));
        };
        if schemes.is_empty() {
            // `{}`: anonymous callers satisfy the spec; config must decide.
            return Ok(None);
        }
        let mut requirement = Requirement::default();
        for (name, listed) in schemes {
            let kind = kinds
                .get(name)
                .ok_or_else(|| error(&at, format!("security scheme `{name}` is not defined")))?;
            let listed = listed
                .as_array()
                .ok_or_else(|| error(&at, "scopes must be an array"))?;
            // Scopes for OAuth schemes; for the others OpenAPI 3.1 lets the
            // list name required roles (3.0 defines no such list: ignored).
            let into = if kind.scoped {
                &mut requirement.scopes
            } else if roles_listed {
                &mut requirement.roles
            } else {
                requirement.credentials.push(kind.credential);
                continue;
            };
            for item in listed {
                let item = item
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| error(&at, "scopes and roles must be non-empty strings"))?;
                if !into.iter().any(|s| s == item) {
                    into.push(item.to_owned());
                }
            }
            requirement.credentials.push(kind.credential);
        }
        alternatives.push(requirement);
    }
    Ok((!alternatives.is_empty()).then_some(SpecRequirements { alternatives }))
}

impl SpecSecurity {
    /// Reads the requirements of every operation of an OpenAPI document.
    pub fn from_document(doc: &Value) -> Result<Self, SpecSecurityError> {
        let kinds = scheme_kinds(doc)?;
        let roles_listed = doc
            .get("openapi")
            .and_then(Value::as_str)
            .is_some_and(|version| version.starts_with("3.1"));
        let global = match doc.get("security") {
            Some(list) => requirements(list, "/security", &kinds, roles_listed)?,
            None => None,
        };
        let mut operations = HashMap::new();
        let mut declared = HashSet::new();
        let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
            return Ok(Self {
                operations,
                declared,
            });
        };
        for (template, item) in paths {
            let escaped = template.replace('~', "~0").replace('/', "~1");
            // A path item in another file must be put in place by the caller
            // (the binary does, with the OpenAPI loader): skipped, its
            // operations' requirements would be lost without a word.
            let Some(item) = deref(doc, item) else {
                return Err(error(
                    format!("/paths/{escaped}"),
                    "path item `$ref` does not resolve within the document",
                ));
            };
            for (key, method) in METHODS {
                let Some(op) = item.get(key) else { continue };
                declared.insert(format!("{method} {template}"));
                let own = match op.get("security") {
                    Some(list) => requirements(
                        list,
                        &format!("/paths/{escaped}/{key}/security"),
                        &kinds,
                        roles_listed,
                    )?,
                    None => global.clone(),
                };
                if let Some(own) = own {
                    operations.insert(format!("{method} {template}"), own);
                }
            }
        }
        Ok(Self {
            operations,
            declared,
        })
    }

    /// Every operation key the document declares (`GET /users/{id}`).
    pub fn declared(&self) -> &HashSet<String> {
        &self.declared
    }

    /// The requirements of an operation, if the spec states any.
    pub fn get(&self, operation: &str) -> Option<&SpecRequirements> {
        self.operations.get(operation)
    }

    /// Operations with requirements.
    pub fn operations(&self) -> impl Iterator<Item = (&str, &SpecRequirements)> {
        self.operations.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc() -> Value {
        json!({
            "openapi": "3.1.0",
            "security": [{"oauth": ["read"]}],
            "components": {"securitySchemes": {
                "oauth": {"type": "oauth2", "flows": {}},
                "key": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "oidc": {"$ref": "#/components/x-schemes/oidc"}
            }, "x-schemes": {"oidc": {"type": "openIdConnect"}}},
            "paths": {
                "/items": {
                    "get": {},
                    "post": {"security": [{"oauth": ["write", "read"]}, {"oidc": ["admin"]}]},
                    "delete": {"security": [{"key": ["deleter"]}]}
                },
                "/public": {"get": {"security": []}, "post": {"security": [{}, {"oauth": ["x"]}]}},
                "/ref": {"$ref": "#/x-items"}
            },
            "x-items": {"put": {"security": [{"oauth": ["a"], "key": []}]}}
        })
    }

    #[test]
    fn a_path_item_in_another_file_is_an_error_not_a_skip() {
        // Skipped, its operations' requirements would be lost silently.
        let mut doc = doc();
        doc["paths"]["/orders"] = json!({"$ref": "paths/orders.yaml#/item"});
        let err = SpecSecurity::from_document(&doc).unwrap_err();
        assert_eq!(err.pointer, "/paths/~1orders");
    }

    #[test]
    fn operations_inherit_or_override_the_document_requirements() {
        let who = |method: &str, scopes: &[&str], roles: &[&str]| rampart_core::Identity {
            method: method.into(),
            scopes: scopes.iter().map(|s| (*s).to_string()).collect(),
            roles: roles.iter().map(|s| (*s).to_string()).collect(),
            ..rampart_core::Identity::default()
        };
        let spec = SpecSecurity::from_document(&doc()).unwrap();
        let get = spec.get("GET /items").unwrap();
        assert_eq!(
            get.scopes_to_ask_for(&who("jwt", &[], &[]), false),
            Some(&["read".to_string()][..])
        );
        assert!(get.satisfied_by(&who("jwt", &["read"], &[]), false));
        assert!(!get.satisfied_by(&who("jwt", &["write"], &[]), false));
        // API key records carry scopes: one holding the scope satisfies it.
        assert!(get.satisfied_by(&who("api_key", &["read"], &[]), false));
        let post = spec.get("POST /items").unwrap();
        assert!(post.satisfied_by(&who("jwt", &["write", "read"], &[]), false));
        assert!(
            post.satisfied_by(&who("jwt", &["admin"], &[]), false),
            "the other alternative"
        );
        assert!(!post.satisfied_by(&who("jwt", &["write"], &[]), false));
        // apiKey with a role list (OpenAPI 3.1): an API key holding the role.
        let delete = spec.get("DELETE /items").unwrap();
        assert!(delete.satisfied_by(&who("api_key", &[], &["deleter"]), false));
        assert!(!delete.satisfied_by(&who("api_key", &[], &[]), false));
        assert!(!delete.satisfied_by(&who("jwt", &[], &["deleter"]), false));
        // A 3.0 document defines no role lists: the same one is ignored.
        let mut v30 = doc();
        v30["openapi"] = json!("3.0.3");
        let spec30 = SpecSecurity::from_document(&v30).unwrap();
        assert!(
            spec30
                .get("DELETE /items")
                .unwrap()
                .satisfied_by(&who("api_key", &[], &[]), false)
        );
        // `security: []` and `{}` grant nothing by themselves.
        assert!(spec.get("GET /public").is_none());
        assert!(spec.get("POST /public").is_none());
        // Local path-item refs are followed; schemes combine (AND): a token
        // with `a` is not also an API key.
        let put = spec.get("PUT /ref").unwrap();
        assert!(!put.satisfied_by(&who("jwt", &["a"], &[]), false));
        // A token where the scheme asks for an API key: no scope would help.
        assert_eq!(put.scopes_to_ask_for(&who("jwt", &["a"], &[]), false), None);
        assert_eq!(
            put.scopes_to_ask_for(&who("api_key", &[], &[]), false),
            Some(&["a".to_string()][..])
        );
        assert_eq!(spec.operations().count(), 4);
    }

    #[test]
    fn an_alternative_is_satisfied_only_by_its_kind_of_credential() {
        // `[{oauth: [admin]}, {key: []}]`: a token without `admin` must not
        // pass through the API key alternative.
        let doc = json!({
            "components": {"securitySchemes": {
                "oauth": {"type": "oauth2", "flows": {}},
                "key": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "swagger2bearer": {"type": "apiKey", "in": "header", "name": "Authorization"},
                "bearer": {"type": "http", "scheme": "Bearer"},
                "cert": {"type": "mutualTLS"}
            }},
            "paths": {
                "/admin": {"get": {"security": [{"oauth": ["admin"]}, {"key": []}]}},
                "/bearer": {"get": {"security": [{"bearer": []}]}},
                "/swagger2": {"get": {"security": [{"swagger2bearer": []}]}},
                "/cert": {"get": {"security": [{"cert": []}]}},
                "/bound": {"get": {"security": [{"cert": [], "oauth": ["read"]}]}}
            }
        });
        let spec = SpecSecurity::from_document(&doc).unwrap();
        let who = |method: &str, scopes: &[&str]| rampart_core::Identity {
            method: method.into(),
            scopes: scopes.iter().map(|s| (*s).to_string()).collect(),
            ..rampart_core::Identity::default()
        };
        let admin = spec.get("GET /admin").unwrap();
        assert!(!admin.satisfied_by(&who("jwt", &[]), false));
        assert!(admin.satisfied_by(&who("jwt", &["admin"]), false));
        assert!(admin.satisfied_by(&who("api_key", &[]), false));
        // `http` schemes, and an "API key" in Authorization (Swagger 2's
        // bearer token): any authenticated caller.
        assert!(
            spec.get("GET /bearer")
                .unwrap()
                .satisfied_by(&who("jwt", &[]), false)
        );
        assert!(
            spec.get("GET /swagger2")
                .unwrap()
                .satisfied_by(&who("jwt", &[]), false)
        );
        // mutualTLS: a client certificate, as the identity or beside a
        // certificate-bound token.
        let cert = spec.get("GET /cert").unwrap();
        assert!(cert.satisfied_by(&who("mtls", &[]), false));
        assert!(cert.satisfied_by(&who("jwt", &[]), true));
        assert!(!cert.satisfied_by(&who("jwt", &[]), false));
        let bound = spec.get("GET /bound").unwrap();
        assert!(bound.satisfied_by(&who("jwt", &["read"]), true));
        assert!(!bound.satisfied_by(&who("jwt", &["read"]), false));
    }

    #[test]
    fn undefined_schemes_and_bad_shapes_are_errors() {
        let mut bad = doc();
        bad["paths"]["/items"]["get"]["security"] = json!([{"nope": []}]);
        let err = SpecSecurity::from_document(&bad).unwrap_err();
        assert_eq!(err.pointer, "/paths/~1items/get/security/0");
        assert!(err.reason.contains("nope"));
        let mut bad = doc();
        bad["security"] = json!({"oauth": []});
        assert!(SpecSecurity::from_document(&bad).is_err());
        let mut bad = doc();
        bad["components"]["securitySchemes"]["key"] = json!({"type": "magic"});
        assert!(SpecSecurity::from_document(&bad).is_err());
        let mut bad = doc();
        bad["security"] = json!([{"oauth": [""]}]);
        assert!(SpecSecurity::from_document(&bad).is_err());
        // No security anywhere: no requirements.
        let none = json!({"paths": {"/a": {"get": {}}}});
        assert_eq!(
            SpecSecurity::from_document(&none)
                .unwrap()
                .operations()
                .count(),
            0
        );
    }
}
