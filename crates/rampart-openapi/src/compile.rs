//! The spec compiler: paths, operations, parameters, bodies and responses of a loaded
//! [`DocSet`] become [`Operation`]s with validators and shapes, and a [`RouteTable`].
//! Runs once per (re)load; nothing here runs per request.

use std::collections::BTreeSet;
use std::sync::Arc;

use http::Method;
use serde_json::Value;

use crate::bundle::{Direction, SpecVersion, bundle, compile as compile_schema};
use crate::config::{OpenApiConfig, OperationOverride, Policy};
use crate::error::{BuildError, LoadError};
use crate::lifecycle::Lifecycle;
use crate::loader::{DocId, DocSet, escape_segment};
use crate::params::{Kind, Param, Scalar, Style, kind_of};
use crate::problems::In;
use crate::routes::RouteTable;
use crate::shape::Shapes;

/// One declared media type of a body.
#[derive(Debug)]
pub struct MediaSpec {
    /// Lower-case media range, e.g. `application/json`, `image/*`, `*/*`.
    pub range: String,
    /// Whether bodies of this type are JSON (validated and filtered).
    pub json: bool,
    /// A wildcard range that covers JSON (`*/*`, `application/*`): a JSON body
    /// it matches is handled as JSON (pre-scan, schema, mass assignment, response
    /// filtering), free-form when it has no schema or a string one. See
    /// [`MediaSpec::is_json`].
    pub covers_json: bool,
    /// For `application/x-www-form-urlencoded` and `multipart/form-data` request
    /// bodies with a schema: the
    /// declared fields (type, and whether repeated values make an array).
    pub form: Option<crate::params::FormFields>,
    /// Request schema validator (request bodies only).
    pub validator: Option<jsonschema::Validator>,
    /// Declared members, for mass assignment and response filtering.
    pub shapes: Shapes,
}

/// A request body declaration.
#[derive(Debug)]
pub struct BodySpec {
    /// `required: true`.
    pub required: bool,
    /// The declared media types.
    pub media: Vec<MediaSpec>,
}

/// Which statuses a response declaration covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKey {
    /// One status.
    Exact(u16),
    /// `1XX`..`5XX`: the hundreds digit.
    Range(u16),
    /// `default`.
    Default,
}

/// A response declaration.
#[derive(Debug)]
pub struct ResponseSpec {
    /// Statuses covered.
    pub status: StatusKey,
    /// Declared media types (empty: no body).
    pub media: Vec<MediaSpec>,
}

/// One compiled operation.
#[derive(Debug)]
pub struct Operation {
    /// `METHOD /template`, e.g. `GET /users/{id}`.
    pub route: String,
    /// `operationId`, when declared.
    pub operation_id: Option<String>,
    /// Parameters (path-level merged with operation-level).
    pub params: Vec<Param>,
    /// Request body.
    pub body: Option<BodySpec>,
    /// Responses.
    pub responses: Vec<ResponseSpec>,
    /// Rules from configuration.
    pub policy: Policy,
    /// Deprecation, when any.
    pub lifecycle: Option<Lifecycle>,
}

impl Operation {
    /// The response declaration for `status`: exact, then range, then default.
    pub fn response(&self, status: u16) -> Option<&ResponseSpec> {
        let find = |key: StatusKey| self.responses.iter().find(|r| r.status == key);
        find(StatusKey::Exact(status))
            .or_else(|| find(StatusKey::Range(status / 100)))
            .or_else(|| find(StatusKey::Default))
    }
}

/// The compiled spec.
#[derive(Debug)]
pub struct Compiled {
    /// Spec dialect.
    pub version: SpecVersion,
    /// Prefix of every path (`""` for none).
    pub base_path: String,
    /// Routes.
    pub routes: RouteTable,
    /// Operations, indexed by the route table.
    pub ops: Vec<Operation>,
}

const METHODS: [(&str, Method); 8] = [
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("options", Method::OPTIONS),
    ("head", Method::HEAD),
    ("patch", Method::PATCH),
    ("trace", Method::TRACE),
];

/// Compiles a loaded spec with its configuration.
pub fn compile(docs: &DocSet, cfg: &OpenApiConfig) -> Result<Compiled, BuildError> {
    let main = docs.main();
    let version = match main.get("openapi").and_then(Value::as_str) {
        Some(v) if v.starts_with("3.0.") => SpecVersion::V30,
        Some(v) if v.starts_with("3.1.") => SpecVersion::V31,
        found => {
            return Err(LoadError::UnsupportedVersion {
                at: docs.at(0, "/openapi"),
                found: found.map(String::from),
            }
            .into());
        }
    };
    let base_path = match &cfg.base_path {
        Some(b) => b.trim_end_matches('/').to_string(),
        None => server_base_path(main),
    };
    if !base_path.is_empty() && !base_path.starts_with('/') {
        return Err(BuildError::Field {
            field: "base_path".into(),
            message: "must start with '/'".into(),
        });
    }
    let base_policy = cfg.base_policy()?;
    let api_lifecycle = match &cfg.deprecation {
        Some(d) => Some(Lifecycle::compile(d, "deprecation").map_err(|m| field_error(&m))?),
        None => None,
    };
    let empty = serde_json::Map::new();
    let paths = match main.get("paths") {
        Some(Value::Object(paths)) => paths,
        // 3.1 allows a document without paths (components or webhooks only).
        None if version == SpecVersion::V31 => &empty,
        _ => {
            return Err(LoadError::Invalid {
                at: docs.at(0, "/paths"),
                message: "`paths` must be an object".into(),
            }
            .into());
        }
    };
    let c = Ctx { docs, version };
    let mut routes = RouteTable::default();
    let mut ops = Vec::new();
    let mut used = BTreeSet::new();
    for (template, item) in paths {
        let item_ptr = format!("/paths/{}", escape_segment(template));
        let (idoc, iptr, item) = docs.deref(0, item_ptr.clone(), item)?;
        let shared = item.get("parameters");
        for (name, method) in &METHODS {
            let Some(op) = item.get(*name) else { continue };
            let op_ptr = format!("{iptr}/{name}");
            let route = format!("{method} {template}");
            let operation_id = op
                .get("operationId")
                .and_then(Value::as_str)
                .map(String::from);
            let key = operation_id
                .as_ref()
                .filter(|id| cfg.operations.contains_key(*id))
                .cloned()
                .unwrap_or_else(|| route.clone());
            if key != route && cfg.operations.contains_key(&route) {
                return Err(BuildError::OperationNamedTwice {
                    operation_id: key,
                    route,
                });
            }
            let over = cfg.operations.get(&key);
            if over.is_some() {
                used.insert(key.clone());
            }
            let mut policy = match over {
                Some(o) => o.apply(&base_policy, &key)?,
                None => base_policy.clone(),
            };
            let lifecycle = match over.and_then(|o| o.deprecation.as_ref()) {
                Some(d) => Some(
                    Lifecycle::compile(
                        &d.over(cfg.deprecation.as_ref()),
                        &format!("operations[{key:?}].deprecation"),
                    )
                    .map_err(|m| field_error(&m))?,
                ),
                None if api_lifecycle.is_some() => api_lifecycle.clone(),
                None if op.get("deprecated") == Some(&Value::Bool(true)) => {
                    Some(Lifecycle::spec_deprecated())
                }
                None => None,
            };
            let params = c.params(idoc, &iptr, shared, &op_ptr, op, template)?;
            let body = match op.get("requestBody") {
                Some(b) => Some(c.body(idoc, &format!("{op_ptr}/requestBody"), b)?),
                None => None,
            };
            if let Some(o) = over {
                c.tighten(o, &key, &params, body.as_ref(), &mut policy)?;
            }
            let mut responses =
                c.responses(idoc, &format!("{op_ptr}/responses"), op.get("responses"))?;
            for media in responses.iter_mut().flat_map(|r| r.media.iter_mut()) {
                media.shapes.assign_roles(&policy.role_visible);
            }
            let index = ops.len();
            let matrix: Vec<&str> = params
                .iter()
                .filter(|p| p.location == In::Path && p.style == Style::Matrix)
                .map(|p| p.name.as_str())
                .collect();
            routes
                .add(template, method.clone(), index, &matrix)
                .map_err(|e| LoadError::Invalid {
                    at: docs.at(idoc, &item_ptr),
                    message: e.0.to_string(),
                })?;
            ops.push(Operation {
                route,
                operation_id,
                params,
                body,
                responses,
                policy,
                lifecycle,
            });
        }
    }
    if let Some(key) = cfg.operations.keys().find(|k| !used.contains(*k)) {
        return Err(BuildError::UnknownOperation { key: key.clone() });
    }
    routes.finish();
    Ok(Compiled {
        version,
        base_path,
        routes,
        ops,
    })
}

fn field_error(message: &str) -> BuildError {
    let (field, message) = message.split_once(": ").unwrap_or(("deprecation", message));
    BuildError::Field {
        field: field.to_string(),
        message: message.to_string(),
    }
}

/// The path of the first server URL, when it is usable as a fixed prefix.
fn server_base_path(main: &Value) -> String {
    let Some(url) = main
        .get("servers")
        .and_then(|s| s.get(0))
        .and_then(|s| s.get("url"))
        .and_then(Value::as_str)
    else {
        return String::new();
    };
    if url.contains('{') {
        return String::new();
    }
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').and_then(|i| rest.get(i..)).unwrap_or(""),
        None => url,
    };
    if !path.starts_with('/') {
        return String::new();
    }
    path.trim_end_matches('/').to_string()
}

struct Ctx<'d> {
    docs: &'d DocSet,
    version: SpecVersion,
}

impl Ctx<'_> {
    /// Compiles an operation override's extra schemas (`request_schema`,
    /// `parameters`) into the policy; each must name something the operation has.
    fn tighten(
        &self,
        over: &OperationOverride,
        key: &str,
        params: &[Param],
        body: Option<&BodySpec>,
        policy: &mut Policy,
    ) -> Result<(), BuildError> {
        let bad = |field: String, message: String| BuildError::Field { field, message };
        if let Some(pointer) = &over.username_field {
            // Read from a JSON body at any depth, from a form or multipart one
            // by a one-segment pointer; anything else never yields a name, and
            // the per-username lock-out would silently count nothing.
            let field = format!("operations[{key:?}].username_field");
            let media = body.map(|b| b.media.as_slice()).unwrap_or_default();
            let json = media.iter().any(|m| m.json || m.covers_json);
            let form = media
                .iter()
                .any(|m| m.range == FORM || m.range == MULTIPART);
            let one_segment = pointer.get(1..).is_some_and(|rest| !rest.contains('/'));
            if body.is_none() {
                return Err(bad(field, "the operation declares no request body".into()));
            }
            let readable = json || (form && one_segment);
            if !readable {
                return Err(bad(
                    field,
                    if form {
                        "form and multipart bodies are read by a one-segment pointer (`/username`)"
                            .into()
                    } else {
                        "the operation's body is neither JSON nor a form: no name can be read from it".into()
                    },
                ));
            }
        }
        if let Some(schema) = &over.request_schema {
            let field = format!("operations[{key:?}].request_schema");
            if body.is_none() {
                return Err(bad(field, "the operation declares no request body".into()));
            }
            let v = compile_schema(schema, self.version).map_err(|m| bad(field, m))?;
            policy.request_schema = Some(Arc::new(v));
        }
        for (name, schema) in &over.parameters {
            let field = format!("operations[{key:?}].parameters.{name}");
            if !params.iter().any(|p| p.name.eq_ignore_ascii_case(name)) {
                return Err(bad(
                    field,
                    "the operation declares no such parameter".into(),
                ));
            }
            let v = compile_schema(schema, self.version).map_err(|m| bad(field, m))?;
            policy.param_schemas.push((name.clone(), Arc::new(v)));
        }
        Ok(())
    }

    fn params(
        &self,
        doc: DocId,
        item_ptr: &str,
        shared: Option<&Value>,
        op_ptr: &str,
        op: &Value,
        template: &str,
    ) -> Result<Vec<Param>, LoadError> {
        let mut out: Vec<Param> = Vec::new();
        let lists = [
            (shared, format!("{item_ptr}/parameters")),
            (op.get("parameters"), format!("{op_ptr}/parameters")),
        ];
        for (list, ptr) in lists {
            let Some(Value::Array(list)) = list else {
                continue;
            };
            for (i, raw) in list.iter().enumerate() {
                let (pdoc, pptr, p) = self.docs.deref(doc, format!("{ptr}/{i}"), raw)?;
                let Some(param) = self.param(pdoc, &pptr, p)? else {
                    continue;
                };
                // Operation-level parameters override path-level ones (same name and place).
                out.retain(|q| !(q.name == param.name && q.location == param.location));
                out.push(param);
            }
        }
        // Loose specs forget path parameters: every template variable is still required.
        for var in template
            .split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next())
        {
            if !out.iter().any(|p| p.location == In::Path && p.name == var) {
                out.push(Param {
                    name: var.to_string(),
                    location: In::Path,
                    required: true,
                    style: Style::Simple,
                    explode: false,
                    kind: Kind::Scalar(Scalar::String),
                    validator: None,
                    shapes: None,
                    fold_case: false,
                });
            }
        }
        // `limit` and `Limit` both declared: each is its own key, not the
        // other's spelling.
        let names: Vec<String> = out
            .iter()
            .filter(|p| p.location == In::Query)
            .map(|p| p.name.clone())
            .collect();
        for p in out.iter_mut().filter(|p| p.location == In::Query) {
            p.fold_case = !names
                .iter()
                .any(|n| *n != p.name && n.eq_ignore_ascii_case(&p.name));
        }
        Ok(out)
    }

    fn param(&self, doc: DocId, ptr: &str, p: &Value) -> Result<Option<Param>, LoadError> {
        let invalid = |message: &str| LoadError::Invalid {
            at: self.docs.at(doc, ptr),
            message: message.to_string(),
        };
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("parameter without `name`"))?;
        let location = match p.get("in").and_then(Value::as_str) {
            Some("path") => In::Path,
            Some("query") => In::Query,
            Some("header") => In::Header,
            Some("cookie") => In::Cookie,
            _ => {
                return Err(invalid(
                    "parameter `in` must be path, query, header or cookie",
                ));
            }
        };
        if location == In::Header
            && ["accept", "content-type", "authorization"]
                .contains(&name.to_ascii_lowercase().as_str())
        {
            return Ok(None); // ignored by OpenAPI itself
        }
        let default_style = match location {
            In::Path | In::Header => Style::Simple,
            _ => Style::Form,
        };
        let style = match p.get("style").and_then(Value::as_str) {
            Some(s) => Style::parse(s).ok_or_else(|| invalid("unknown parameter `style`"))?,
            None => default_style,
        };
        let explode = p
            .get("explode")
            .and_then(Value::as_bool)
            .unwrap_or(style == Style::Form);
        let required = location == In::Path || p.get("required") == Some(&Value::Bool(true));
        // A parameter has a `schema`, or a `content` map with one media type (a
        // JSON document in a query parameter, say).
        let (schema, sptr, json) = match (p.get("schema"), p.get("content")) {
            (Some(schema), _) => (Some(schema), format!("{ptr}/schema"), false),
            (None, Some(Value::Object(content))) => {
                let mut media = content.iter();
                let (Some((range, m)), None) = (media.next(), media.next()) else {
                    return Err(invalid(
                        "parameter `content` must hold exactly one media type",
                    ));
                };
                let sptr = format!("{ptr}/content/{}/schema", escape_segment(range));
                (m.get("schema"), sptr, is_json(&essence(range)))
            }
            (None, Some(_)) => return Err(invalid("parameter `content` must be an object")),
            (None, None) => (None, String::new(), false),
        };
        let (kind, validator, shapes) = match schema {
            Some(schema) => {
                let b = bundle(
                    self.docs,
                    doc,
                    &sptr,
                    schema,
                    self.version,
                    Direction::Request,
                )?;
                let v = compile_schema(&b, self.version).map_err(|message| LoadError::Schema {
                    at: self.docs.at(doc, &sptr),
                    message,
                })?;
                if json {
                    let shapes = Shapes::build(&b, self.version.defs_key());
                    (Kind::Json, Some(v), Some(shapes))
                } else if style == Style::DeepObject && location == In::Query {
                    // Its members are walked like a body's: a schema naming
                    // properties is closed (`filter[isAdmin]` is undeclared).
                    let shapes = Shapes::build(&b, self.version.defs_key());
                    (kind_of(&b, self.version.defs_key()), Some(v), Some(shapes))
                } else {
                    (kind_of(&b, self.version.defs_key()), Some(v), None)
                }
            }
            None if json => (Kind::Json, None, None),
            None => (Kind::Scalar(Scalar::String), None, None),
        };
        let name = if location == In::Header {
            name.to_ascii_lowercase()
        } else {
            name.to_string()
        };
        Ok(Some(Param {
            name,
            location,
            required,
            style,
            explode,
            kind,
            validator,
            shapes,
            fold_case: true,
        }))
    }

    fn body(&self, doc: DocId, ptr: &str, raw: &Value) -> Result<BodySpec, LoadError> {
        let (bdoc, bptr, b) = self.docs.deref(doc, ptr.to_string(), raw)?;
        Ok(BodySpec {
            required: b.get("required") == Some(&Value::Bool(true)),
            media: self.media(bdoc, &bptr, b.get("content"), Direction::Request)?,
        })
    }

    fn responses(
        &self,
        doc: DocId,
        ptr: &str,
        raw: Option<&Value>,
    ) -> Result<Vec<ResponseSpec>, LoadError> {
        let mut out = Vec::new();
        let Some(Value::Object(map)) = raw else {
            return Ok(out);
        };
        for (key, r) in map {
            let rptr = format!("{ptr}/{}", escape_segment(key));
            let status = parse_status(key).ok_or_else(|| LoadError::Invalid {
                at: self.docs.at(doc, &rptr),
                message: format!(
                    "response key {key:?} is not a status, a range like 2XX, or default"
                ),
            })?;
            let (rdoc, rptr, r) = self.docs.deref(doc, rptr, r)?;
            out.push(ResponseSpec {
                status,
                media: self.media(rdoc, &rptr, r.get("content"), Direction::Response)?,
            });
        }
        Ok(out)
    }

    fn media(
        &self,
        doc: DocId,
        ptr: &str,
        content: Option<&Value>,
        direction: Direction,
    ) -> Result<Vec<MediaSpec>, LoadError> {
        let mut out = Vec::new();
        let Some(Value::Object(content)) = content else {
            return Ok(out);
        };
        for (range, m) in content {
            let range = essence(range);
            let json = is_json(&range);
            let is_form = (range == FORM || range == MULTIPART) && direction == Direction::Request;
            let mut form = None;
            let mptr = format!("{ptr}/content/{}/schema", escape_segment(&range));
            let wildcard = covers_json(&range);
            let (validator, shapes) = match m.get("schema") {
                Some(schema) if json || is_form || wildcard => {
                    let b = bundle(self.docs, doc, &mptr, schema, self.version, direction)?;
                    if wildcard && describes_bytes(&b, self.version.defs_key()) {
                        // A string schema under a wildcard describes raw bytes, not
                        // a JSON document: a JSON body there is still pre-scanned,
                        // parsed and checked for forbidden members, free-form.
                        out.push(MediaSpec {
                            covers_json: true,
                            range,
                            json,
                            form,
                            validator: None,
                            shapes: Shapes::free(),
                        });
                        continue;
                    }
                    let validator = match direction {
                        Direction::Request => {
                            Some(compile_schema(&b, self.version).map_err(|message| {
                                LoadError::Schema {
                                    at: self.docs.at(doc, &mptr),
                                    message,
                                }
                            })?)
                        }
                        Direction::Response => None,
                    };
                    if is_form {
                        form = Some(crate::params::form_fields(&b, self.version.defs_key()));
                    }
                    (validator, Shapes::build(&b, self.version.defs_key()))
                }
                _ => (None, Shapes::free()),
            };
            out.push(MediaSpec {
                covers_json: wildcard,
                range,
                json,
                form,
                validator,
                shapes,
            });
        }
        Ok(out)
    }
}

fn parse_status(key: &str) -> Option<StatusKey> {
    if key == "default" {
        return Some(StatusKey::Default);
    }
    let upper = key.to_ascii_uppercase();
    if let Some(d) = upper.strip_suffix("XX") {
        let digit: u16 = d.parse().ok()?;
        return (1..=5).contains(&digit).then_some(StatusKey::Range(digit));
    }
    let code: u16 = key.parse().ok()?;
    (100..=599)
        .contains(&code)
        .then_some(StatusKey::Exact(code))
}

/// The form media type.
pub const FORM: &str = "application/x-www-form-urlencoded";
/// The multipart form media type.
pub const MULTIPART: &str = "multipart/form-data";

/// Lower-case media type without parameters.
pub fn essence(media: &str) -> String {
    media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a media type is JSON (`application/json`, `*/*+json`).
pub fn is_json(essence: &str) -> bool {
    essence == "application/json" || essence.ends_with("+json")
}

/// Whether a declared media range is a wildcard a JSON body can fall under.
fn covers_json(range: &str) -> bool {
    range == "*/*" || range == "application/*"
}

/// Whether a bundled schema is a string (what `*/*` uploads declare), following a
/// root `$ref` or one-branch `allOf` into the definitions.
fn describes_bytes(root: &Value, defs_key: &str) -> bool {
    let prefix = format!("#/{defs_key}/");
    let mut schema = root;
    for _ in 0..8 {
        match schema.get("type") {
            Some(Value::String(t)) => return t == "string",
            Some(_) => return false,
            None => {}
        }
        let next = match (schema.get("$ref"), schema.get("allOf")) {
            (Some(Value::String(r)), _) => r
                .strip_prefix(&prefix)
                .and_then(|name| root.get(defs_key)?.get(name)),
            (None, Some(Value::Array(list))) if list.len() == 1 => list.first(),
            _ => None,
        };
        match next {
            Some(n) => schema = n,
            None => return false,
        }
    }
    false
}

impl MediaSpec {
    /// Whether a body of media type `essence` that matched this declaration is
    /// handled as JSON: the declaration is JSON, or a wildcard over a JSON body
    /// (a JSON answer under `*/*` must not skip the response filter).
    pub fn is_json(&self, essence: &str) -> bool {
        self.json || (self.covers_json && is_json(essence))
    }
}

/// The declared media type a concrete one matches: exact, then `type/*`, then `*/*`.
pub fn match_media<'m>(media: &'m [MediaSpec], essence: &str) -> Option<&'m MediaSpec> {
    if let Some(m) = media.iter().find(|m| m.range == essence) {
        return Some(m);
    }
    let main = essence.split('/').next().unwrap_or("");
    media
        .iter()
        .find(|m| m.range.strip_suffix("/*") == Some(main))
        .or_else(|| media.iter().find(|m| m.range == "*/*"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn media(range: &str) -> MediaSpec {
        MediaSpec {
            range: range.into(),
            json: is_json(range),
            covers_json: covers_json(range),
            form: None,
            validator: None,
            shapes: Shapes::free(),
        }
    }

    #[test]
    fn media_ranges_match_most_specific_first() {
        let list = [media("*/*"), media("image/*"), media("application/json")];
        assert_eq!(
            match_media(&list, "application/json").unwrap().range,
            "application/json"
        );
        assert_eq!(match_media(&list, "image/png").unwrap().range, "image/*");
        assert_eq!(match_media(&list, "text/html").unwrap().range, "*/*");
        assert!(match_media(&list[2..], "text/html").is_none());
        assert_eq!(
            essence(" Application/JSON ; charset=UTF-8"),
            "application/json"
        );
        assert!(is_json("application/problem+json"));
        assert!(!is_json("application/jsonp"));
    }

    #[test]
    fn response_keys() {
        assert_eq!(parse_status("200"), Some(StatusKey::Exact(200)));
        assert_eq!(parse_status("4xx"), Some(StatusKey::Range(4)));
        assert_eq!(parse_status("default"), Some(StatusKey::Default));
        assert_eq!(parse_status("6XX"), None);
        assert_eq!(parse_status("99"), None);
        assert_eq!(parse_status("ok"), None);
    }

    #[test]
    fn server_urls_give_the_base_path() {
        let base = |url: &str| server_base_path(&serde_json::json!({"servers": [{"url": url}]}));
        assert_eq!(base("https://api.example.com/v1/"), "/v1");
        assert_eq!(base("https://api.example.com"), "");
        assert_eq!(base("/api"), "/api");
        assert_eq!(base("https://{region}.example.com/v2"), "");
    }
}
