//! The compiled engine: built once from [`OpenApiConfig`], shared by the stages.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderValue, Method};
use rampart_core::Problem;

use crate::bundle::SpecVersion;
use crate::compile::{Compiled, Operation, compile};
use crate::config::OpenApiConfig;
use crate::error::BuildError;
use crate::lifecycle::{Clock, SystemClock};
use crate::loader::DocSet;
use crate::params::percent_decode;
use crate::problems::{METHOD_NOT_ALLOWED, ROUTE_NOT_DECLARED};
use crate::routes::RouteMatch;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Path parameters of the matched operation, percent-decoded, in template order. The
/// route stage puts them in `RequestCx::extensions` for later stages (authorization,
/// ownership checks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams {
    /// `(name, decoded value)` pairs.
    pub params: Vec<(String, String)>,
    /// The raw values, validated by the validation stage (decoding twice would let
    /// `%2541` pass as `A`).
    pub(crate) raw: Vec<String>,
    /// `(name, raw value)` as servers that keep path parameters read them
    /// (`42;x`), where that differs: validated too, or text after `;` would reach
    /// them unchecked.
    pub(crate) whole: Vec<(String, String)>,
}

impl PathParams {
    /// The decoded value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every raw value the validation stage checks, by name: each parameter's,
    /// then the whole segments' (see [`PathParams`]).
    pub(crate) fn sources(&self) -> Vec<(&str, String)> {
        let names = self.params.iter().map(|(n, _)| n.as_str());
        names
            .zip(self.raw.iter().cloned())
            .chain(self.whole.iter().map(|(n, v)| (n.as_str(), v.clone())))
            .collect()
    }
}

/// The operation a request matched, in `RequestCx::extensions` (besides `cx.route`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedOperation {
    /// `METHOD /template`.
    pub route: String,
    /// The spec's `operationId`.
    pub operation_id: Option<String>,
    api: u64,
    index: usize,
}

/// The result of routing a request.
#[derive(Debug)]
pub enum Routed {
    /// A declared operation.
    Found(MatchedOperation, PathParams),
    /// Refused: 404 or 405.
    Refused(Problem),
}

/// The compiled OpenAPI engine of one API.
#[derive(Debug)]
pub struct OpenApi {
    id: u64,
    pub(crate) compiled: Compiled,
    pub(crate) auth_status: u16,
    pub(crate) clock: Arc<dyn Clock>,
    /// Whether any operation names a `username_field` (the route stage then reads
    /// those operations' bodies).
    pub(crate) has_login_fields: bool,
}

impl OpenApiConfig {
    /// Loads the spec (relative paths resolve against `base_dir`, the config file's
    /// directory) and compiles it with this configuration, using the system clock.
    pub fn build(&self, base_dir: &Path) -> Result<OpenApi, BuildError> {
        self.build_with_clock(base_dir, Arc::new(SystemClock))
    }

    /// As [`OpenApiConfig::build`], with an injected clock.
    pub fn build_with_clock(
        &self,
        base_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<OpenApi, BuildError> {
        let docs = DocSet::load(&base_dir.join(&self.spec))?;
        let compiled = compile(&docs, self)?;
        let has_login_fields = compiled
            .ops
            .iter()
            .any(|o| o.policy.username_field.is_some());
        Ok(OpenApi {
            has_login_fields,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            compiled,
            auth_status: self.auth_failure_status,
            clock,
        })
    }
}

impl OpenApi {
    /// The spec's dialect.
    pub fn version(&self) -> SpecVersion {
        self.compiled.version
    }

    /// Every declared operation as `METHOD /template` (for metrics and `rampart check`).
    pub fn operations(&self) -> impl Iterator<Item = &str> {
        self.compiled.ops.iter().map(|o| o.route.as_str())
    }

    /// Matches a normalised request path and method against the inventory.
    pub fn route(&self, method: &Method, path: &str) -> Routed {
        let base = self.compiled.base_path.as_str();
        let rest = match path.strip_prefix(base) {
            Some(r) if r.starts_with('/') => r,
            Some("") if base.is_empty() => path,
            _ => return Routed::Refused(Problem::new(ROUTE_NOT_DECLARED)),
        };
        match self.compiled.routes.find(method, rest) {
            RouteMatch::Found { op, params, whole } => {
                let Some(operation) = self.compiled.ops.get(op) else {
                    return Routed::Refused(Problem::new(ROUTE_NOT_DECLARED));
                };
                let path_params = PathParams {
                    params: params
                        .iter()
                        .map(|(n, v)| {
                            (
                                n.to_string(),
                                percent_decode(v).unwrap_or_else(|| v.to_string()),
                            )
                        })
                        .collect(),
                    raw: params.iter().map(|(_, v)| v.to_string()).collect(),
                    whole: whole
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect(),
                };
                let matched = MatchedOperation {
                    route: operation.route.clone(),
                    operation_id: operation.operation_id.clone(),
                    api: self.id,
                    index: op,
                };
                Routed::Found(matched, path_params)
            }
            RouteMatch::MethodNotAllowed { allow } => {
                let mut p = Problem::new(METHOD_NOT_ALLOWED);
                if let Ok(v) = HeaderValue::from_str(allow) {
                    p = p.with_header(http::header::ALLOW, v);
                }
                Routed::Refused(p)
            }
            // Ambiguous: the request names a declared operation only in a spelling
            // upstreams may read as another one; to the contract it is not declared
            // (the same answer as any undeclared spelling, nothing to tell a prober).
            RouteMatch::NotFound | RouteMatch::Ambiguous => {
                Routed::Refused(Problem::new(ROUTE_NOT_DECLARED))
            }
        }
    }

    /// The operation behind a match made by this engine (not a previous build).
    pub(crate) fn operation(&self, m: &MatchedOperation) -> Option<&Operation> {
        if m.api != self.id {
            return None;
        }
        self.compiled.ops.get(m.index)
    }

    /// The route and validation stages over this engine.
    pub fn stages(self) -> (crate::stage::RouteStage, crate::stage::ValidationStage) {
        let api = Arc::new(self);
        (
            crate::stage::RouteStage::new(api.clone()),
            crate::stage::ValidationStage::new(api),
        )
    }
}
