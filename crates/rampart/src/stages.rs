//! Wires the engines' stages into each API from its configuration. Each engine
//! validates its own section; its errors are reported with the config file, the
//! section's line and the field path.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::{Arc, Weak};

use rampart_adapters::Adapters;
use rampart_config::{Api, Config, ConfigError, ConfigErrors, Located};
use rampart_core::Stage;
use rampart_gateway::StageFactory;
use rampart_gateway::admin::{AdminExtension, AdminFuture};
use rampart_ratelimit::{
    ConsumerRateLimitStage, CounterStore, LocalStore, PreAuthRateLimitStage, RateLimitConfig,
    RateLimiter, UpstreamFailures,
};

/// The production stage factory.
#[derive(Default)]
pub struct EngineStages {
    /// Identity adapters (HTTP, key store, shared revocation), started once.
    adapters: Option<Arc<Adapters>>,
    /// Rate-limit counter stores, kept across reloads so that a reload does
    /// not reset every counter: by API name and the store's own settings (a
    /// changed `local` section gets a new store, not the old one's sizes),
    /// held weakly so that a store lives as long as a runtime uses it.
    counters: parking_lot::Mutex<HashMap<CounterStoreKey, Weak<dyn CounterStore>>>,
}

/// What a counter store is reused by: the API's name and, for the in-memory
/// store, its `max_keys` and `shards` (Redis is a restart-only setting).
type CounterStoreKey = (String, Option<(usize, usize)>);

/// The error of an `authn` section when the identity adapters did not start
/// (`rampart check` leaves it out when it reports why they did not).
pub(crate) const NO_ADAPTERS: &str = "identity adapters are not running";

impl EngineStages {
    /// A factory whose authentication stages use `adapters`.
    pub fn with_adapters(adapters: Arc<Adapters>) -> Self {
        Self {
            adapters: Some(adapters),
            counters: parking_lot::Mutex::default(),
        }
    }

    /// The counter store of `api`: Redis when configured, else this instance's memory.
    fn counter_store(
        &self,
        config: &Config,
        api: &Api,
        section: &RateLimitConfig,
    ) -> Result<Arc<dyn CounterStore>, String> {
        let key: CounterStoreKey = (
            api.name.clone(),
            config
                .redis
                .is_none()
                .then_some((section.local.max_keys, section.local.shards)),
        );
        let mut stores = self.counters.lock();
        if let Some(store) = stores.get(&key).and_then(Weak::upgrade) {
            return Ok(store);
        }
        // Stores no runtime uses any more (an API removed, its settings changed).
        stores.retain(|_, store| store.strong_count() > 0);
        let store: Arc<dyn CounterStore> = match &config.redis {
            Some(_) => Arc::new(redis_store(config, Some(&api.name))?),
            None => Arc::new(LocalStore::new(
                section.local.max_keys,
                section.local.shards,
            )),
        };
        stores.insert(key, Arc::downgrade(&store));
        Ok(store)
    }
}

/// The `security` requirements of the OpenAPI document at `spec`.
fn spec_security(spec: &std::path::Path) -> Result<rampart_authz::SpecSecurity, String> {
    use rampart_openapi::loader::{DocSet, escape_segment};
    let docs = DocSet::load(spec).map_err(|e| e.to_string())?;
    // Path items in other files (`$ref: paths/orders.yaml#/item`) are put in
    // place, as the OpenAPI compiler follows them: their operations' `security`
    // must not be lost (`rampart-authz` reads one document).
    let mut main = docs.main().clone();
    if let (Some(items), Some(paths)) = (
        docs.main()
            .get("paths")
            .and_then(serde_json::Value::as_object),
        main.get_mut("paths")
            .and_then(serde_json::Value::as_object_mut),
    ) {
        for (template, item) in items {
            if item.get("$ref").is_none() {
                continue;
            }
            let pointer = format!("/paths/{}", escape_segment(template));
            let (_, _, resolved) = docs.deref(0, pointer, item).map_err(|e| e.to_string())?;
            paths.insert(template.clone(), resolved.clone());
        }
    }
    rampart_authz::SpecSecurity::from_document(&main).map_err(|e| e.to_string())
}

impl StageFactory for EngineStages {
    fn admin_extension(&self) -> Option<Arc<dyn AdminExtension>> {
        let adapters = self.adapters.clone()?;
        Some(Arc::new(RevocationsEndpoint(adapters)))
    }

    fn stages(&self, config: &Config, api: &Api) -> Result<Vec<Arc<dyn Stage>>, ConfigErrors> {
        let index = config
            .apis
            .iter()
            .position(|a| a.name == api.name)
            .unwrap_or(0);
        let mut wiring = Wiring {
            config,
            field: format!("apis[{index}]"),
            stages: Vec::new(),
            errors: Vec::new(),
        };
        let sections = &api.engines;
        let mut openapi_built = None;
        if let Some(section) = &sections.openapi {
            wiring.add(section, "openapi", |openapi| {
                let compiled = Arc::new(openapi.build(&config.base_dir)?);
                openapi_built = Some(compiled.clone());
                let stages: Vec<Arc<dyn Stage>> = vec![
                    Arc::new(rampart_openapi::RouteStage::new(compiled.clone())),
                    Arc::new(rampart_openapi::ValidationStage::new(compiled)),
                ];
                Ok::<_, rampart_openapi::BuildError>(stages)
            });
        }
        // A spec that failed to build is reported above; route names are checked
        // against a spec that built, or refused when there is no spec at all.
        if sections.openapi.is_none() || openapi_built.is_some() {
            let declared = openapi_built.as_ref().map(|openapi| {
                openapi
                    .operations()
                    .collect::<std::collections::HashSet<_>>()
            });
            let errors =
                crate::route_names::check(config, &wiring.field, sections, declared.as_ref());
            wiring.errors.extend(errors);
        }
        let mut lockout_limiter: Option<Arc<RateLimiter>> = None;
        if let Some(section) = &sections.rate_limit {
            let field = format!("{}.rate_limit", wiring.field);
            wiring.add(section, "rate_limit", |rate_limit| {
                let policy = rate_limit.compile(&field).map_err(|e| e.to_string())?;
                let store = self.counter_store(config, api, rate_limit)?;
                let limiter = Arc::new(RateLimiter::new(
                    policy,
                    store,
                    Arc::new(rampart_ratelimit::SystemClock),
                ));
                let mut stages: Vec<Arc<dyn Stage>> = vec![
                    Arc::new(PreAuthRateLimitStage::new(limiter.clone())),
                    Arc::new(ConsumerRateLimitStage::new(limiter.clone())),
                ];
                if let Some(lockout) = limiter.lockout() {
                    // Nothing would ever count a failure: an existing config that
                    // relied on upstream 401s anywhere must say so now.
                    let has_login = sections
                        .openapi
                        .as_ref()
                        .is_some_and(|o| o.value.operations.values().any(|op| op.auth_endpoint));
                    if sections.authn.is_none()
                        && !has_login
                        && lockout.policy().upstream_failures == UpstreamFailures::LoginOperations
                    {
                        return Err(format!(
                            "{field}.lockout: nothing can count a failure: the API has no `authn` \
                             section and no login operation, and upstream 401s count only on \
                             login operations (`upstream_failures: login_operations`, the \
                             default); mark the login operation `auth_endpoint: true` in \
                             `openapi.operations`, or set `upstream_failures: every_route`"
                        ));
                    }
                    stages.push(Arc::new(crate::lockout::LockoutStage::new(limiter.clone())));
                    lockout_limiter = Some(limiter);
                }
                Ok::<_, String>(stages)
            });
        }
        if let Some(section) = &sections.authn {
            let field = format!("{}.authn", wiring.field);
            wiring.add(section, "authn", |authn| {
                let authn = &authn.relative_to(&config.base_dir);
                let adapters = self
                    .adapters
                    .as_ref()
                    .ok_or_else(|| NO_ADAPTERS.to_string())?;
                let deps = adapters
                    .authn_deps(authn, &field)
                    .map_err(|e| e.to_string())?;
                // Remote JWKS caches come from the adapters, which keep them
                // (and their keys) across reloads and refresh them in the background.
                let built = authn.build(&field, &deps).map_err(|e| e.to_string())?;
                let mut stage: Arc<dyn Stage> = Arc::new(built);
                if let Some(limiter) = &lockout_limiter {
                    // Failed authentications feed the lock-out.
                    stage = Arc::new(crate::lockout::CountFailures::new(stage, limiter.clone()));
                }
                Ok::<_, String>(vec![stage])
            });
        }
        if let Some(section) = &sections.authz {
            let field = format!("{}.authz", wiring.field);
            wiring.add(section, "authz", |authz| {
                // Policy files are relative to the configuration file.
                let mut authz = authz.clone();
                if let Some(cedar) = authz.cedar.as_mut() {
                    for policy in &mut cedar.policies {
                        *policy = config.base_dir.join(&*policy);
                    }
                    if let Some(schema) = cedar.schema.as_mut() {
                        *schema = config.base_dir.join(&*schema);
                    }
                }
                // Required scopes from the spec's `security`, when the API has one.
                let spec = match &sections.openapi {
                    Some(openapi) => spec_security(&config.base_dir.join(&openapi.value.spec))?,
                    None => rampart_authz::SpecSecurity::default(),
                };
                let stage: Arc<dyn Stage> = Arc::new(
                    authz
                        .build_with_spec(&field, Arc::new(rampart_authz::clock::SystemClock), &spec)
                        .map_err(|e| e.to_string())?,
                );
                Ok::<_, String>(vec![stage])
            });
        }
        if let (None, Some(openapi)) = (&sections.authz, &sections.openapi) {
            // The spec's `security` is enforced by the authz stage only: say so
            // when it would be silently ignored.
            let protected = spec_security(&config.base_dir.join(&openapi.value.spec))
                .map(|spec| spec.operations().count())
                .unwrap_or(0);
            if protected > 0 {
                tracing::warn!(
                    api = %api.name,
                    operations = protected,
                    "the OpenAPI spec declares security requirements but the API has no authz section: they are not enforced"
                );
            }
        }
        if let Some(section) = &sections.waf {
            wiring.add(section, "waf", |waf| {
                let mut waf = waf.clone();
                for rule in &mut waf.rules {
                    *rule = config.base_dir.join(&*rule);
                }
                let stage = rampart_waf::WafStage::new(&waf)?;
                // Accepted, but less is inspected than the file says: say so.
                for warning in stage.compiled().warnings() {
                    tracing::warn!(api = %api.name, "waf: {warning}");
                }
                let stage: Arc<dyn Stage> = Arc::new(stage);
                Ok::<_, rampart_waf::WafConfigError>(vec![stage])
            });
        }
        if wiring.errors.is_empty() {
            Ok(wiring.stages)
        } else {
            Err(ConfigErrors(wiring.errors))
        }
    }
}

/// The Redis counter store of the configuration's `redis` section, its keys under
/// the API's own prefix when `api` is given. URLs may be `env:`/`file:`
/// references, to keep passwords out of the file.
pub(crate) fn redis_store(
    config: &Config,
    api: Option<&str>,
) -> Result<rampart_redis::RedisStore, String> {
    let Some(section) = &config.redis else {
        return Err("no redis section".to_string());
    };
    let mut redis = section.value.clone();
    if let Some(api) = api {
        redis.key_prefix = format!("{}{api}:", redis.key_prefix);
    }
    let resolve = |text: &str, field: &str| {
        rampart_core::secret::SecretRef::value_or_reference(text, &config.base_dir)
            .map_err(|e| format!("redis.{field}: {e}"))
    };
    if let Some(url) = &redis.url {
        redis.url = Some(resolve(url, "url")?);
    }
    for (i, node) in redis.cluster_nodes.iter_mut().enumerate() {
        *node = resolve(node, &format!("cluster_nodes[{i}]"))?;
    }
    rampart_redis::RedisStore::for_api(&redis, "redis", api.unwrap_or(""))
        .map_err(|e| e.to_string())
}

/// The admin API's `/revocations`, answered by the identity adapters.
struct RevocationsEndpoint(Arc<Adapters>);

impl AdminExtension for RevocationsEndpoint {
    fn serves(&self, path: &str) -> bool {
        path == rampart_adapters::admin::REVOCATIONS_PATH
    }

    fn max_body(&self) -> usize {
        rampart_adapters::admin::MAX_ADMIN_BODY
    }

    /// Not ready before the first full sync of shared revocations: the local
    /// list starts empty, so a fresh instance would accept every credential
    /// revoked elsewhere (a load balancer sends it nothing until then).
    fn ready(&self) -> bool {
        self.0
            .revocation_sync()
            .is_none_or(|sync| sync.has_synced_once())
    }

    fn handle<'a>(
        &'a self,
        peer: std::net::SocketAddr,
        method: &'a http::Method,
        path: &'a str,
        headers: &'a http::HeaderMap,
        body: bytes::Bytes,
    ) -> AdminFuture<'a> {
        Box::pin(async move {
            let authorization = headers
                .get(http::header::AUTHORIZATION)
                .map(http::HeaderValue::as_bytes);
            let answer = self
                .0
                .admin_request(peer, method.as_str(), path, authorization, &body)
                .await
                .unwrap_or_else(|| rampart_adapters::AdminAnswer {
                    status: 404,
                    content_type: "application/problem+json",
                    body: serde_json::json!({"type": "urn:rampart:problem:admin-not-found", "title": "Not Found", "status": 404}),
                    challenge: None,
                    allow: None,
                });
            let mut response = http::Response::new(http_body_util::Full::new(bytes::Bytes::from(
                answer.body.to_string(),
            )));
            *response.status_mut() = http::StatusCode::from_u16(answer.status)
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            let headers = response.headers_mut();
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(answer.content_type),
            );
            headers.insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            );
            if let Some(challenge) = answer.challenge {
                headers.insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static(challenge),
                );
            }
            if let Some(allow) = answer.allow {
                headers.insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
            }
            response
        })
    }
}

/// Collects the stages and errors of one API.
struct Wiring<'a> {
    config: &'a Config,
    field: String,
    stages: Vec<Arc<dyn Stage>>,
    errors: Vec<ConfigError>,
}

impl Wiring<'_> {
    fn add<T, E: Display>(
        &mut self,
        section: &Located<T>,
        name: &str,
        build: impl FnOnce(&T) -> Result<Vec<Arc<dyn Stage>>, E>,
    ) {
        match build(&section.value) {
            Ok(stages) => self.stages.extend(stages),
            Err(error) => {
                let (field, message) = split_field(&self.field, name, &error.to_string());
                self.errors.push(ConfigError::new(
                    &self.config.source,
                    section.line(),
                    field,
                    message,
                ));
            }
        }
    }
}

/// An engine's error names its field in front of the message, either in full
/// (`apis[0].authz.operations["GET /x"].owner: ...`) or from its section
/// (`openapi.limits.max_depth: ...`): that path becomes the error's field, so it
/// is not repeated after the section's.
///
/// `api_field` is empty for top-level sections (`identity`, `redis`).
pub(crate) fn split_field(api_field: &str, section: &str, text: &str) -> (String, String) {
    let in_api = |path: &str| {
        if api_field.is_empty() {
            path.to_string()
        } else {
            format!("{api_field}.{path}")
        }
    };
    let section_field = in_api(section);
    if let Some((path, message)) = text.split_once(": ") {
        let within = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        };
        if within(&section_field) {
            return (path.to_string(), message.to_string());
        }
        if within(section) {
            return (in_api(path), message.to_string());
        }
    }
    (section_field, text.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::Arc;

    use super::{EngineStages, spec_security, split_field};

    #[test]
    fn counter_stores_are_kept_across_reloads_only_while_used_and_unchanged() {
        let config = rampart_config::load_str(
            std::path::Path::new("/etc/rampart/rampart.yaml"),
            "listeners:\n  - bind: 127.0.0.1:8080\napis:\n  - name: a\n    upstream: {url: http://127.0.0.1:3000}\n",
        )
        .unwrap();
        let api = &config.apis[0];
        let section = |max_keys: usize| -> rampart_ratelimit::RateLimitConfig {
            serde_json::from_value(serde_json::json!({"local": {"max_keys": max_keys}})).unwrap()
        };
        let factory = EngineStages::default();
        let first = factory.counter_store(&config, api, &section(1000)).unwrap();
        // A reload with the same settings keeps the counts.
        let again = factory.counter_store(&config, api, &section(1000)).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        // Changed settings get a store of their own, while the running one
        // (a reload refused later still serves with it) is kept.
        let resized = factory.counter_store(&config, api, &section(2000)).unwrap();
        assert!(!Arc::ptr_eq(&first, &resized));
        drop(resized);
        let same = factory.counter_store(&config, api, &section(1000)).unwrap();
        assert!(Arc::ptr_eq(&first, &same));
        // No runtime uses it any more: it is not kept.
        drop((first, again, same));
        let fresh = factory.counter_store(&config, api, &section(1000)).unwrap();
        assert_eq!(Arc::strong_count(&fresh), 1);
        // And the stores nobody used any more were let go.
        assert_eq!(factory.counters.lock().len(), 1);
    }

    #[test]
    fn the_security_of_path_items_in_other_files_is_kept() {
        // The OpenAPI compiler routes `/orders/{id}` through the file its path
        // item lives in; its `security` (inherited from the document, or its
        // own) must reach the authz stage too, not be dropped.
        let dir = std::env::temp_dir().join(format!("rampart-spec-refs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("paths")).unwrap();
        std::fs::write(
            dir.join("spec.yaml"),
            "openapi: 3.0.3\ninfo: {title: t, version: '1'}\nsecurity: [{oauth: [orders:read]}]\ncomponents:\n  securitySchemes:\n    oauth: {type: oauth2, flows: {clientCredentials: {tokenUrl: /t, scopes: {}}}}\npaths:\n  /orders/{id}:\n    $ref: paths/orders.yaml#/item\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("paths/orders.yaml"),
            "item:\n  get:\n    responses: {'200': {description: ok}}\n  delete:\n    security: [{oauth: [orders:write]}]\n    responses: {'204': {description: gone}}\n",
        )
        .unwrap();
        let spec = spec_security(&dir.join("spec.yaml")).unwrap();
        let caller = rampart_core::Identity::default();
        let scopes = |op: &str| {
            spec.get(op)
                .and_then(|r| r.scopes_to_ask_for(&caller, false))
                .map(<[String]>::to_vec)
        };
        assert_eq!(
            scopes("GET /orders/{id}"),
            Some(vec!["orders:read".to_string()])
        );
        assert_eq!(
            scopes("DELETE /orders/{id}"),
            Some(vec!["orders:write".to_string()])
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_engine_error_path_becomes_the_field() {
        let split = |text: &str| split_field("apis[1]", "authz", text);
        assert_eq!(
            split("apis[1].authz.operations[\"GET /x\"].owner.param: not a parameter"),
            (
                "apis[1].authz.operations[\"GET /x\"].owner.param".to_string(),
                "not a parameter".to_string()
            )
        );
        assert_eq!(
            split_field("apis[0]", "openapi", "openapi.limits.max_depth: too deep"),
            (
                "apis[0].openapi.limits.max_depth".to_string(),
                "too deep".to_string()
            )
        );
        // A message without a path of the section keeps the section as field.
        assert_eq!(
            split("cannot read policy.cedar: No such file"),
            (
                "apis[1].authz".to_string(),
                "cannot read policy.cedar: No such file".to_string()
            )
        );
        assert_eq!(
            split("authzz: x"),
            ("apis[1].authz".to_string(), "authzz: x".to_string())
        );
    }
}
