//! A compiled configuration: everything a request needs, built completely before it
//! serves and then swapped in atomically (see `reload`). A request keeps the
//! `Arc<Runtime>` it started with, so in-flight requests finish on their config.

use std::sync::Arc;

use rampart_audit::{AuditLog, FileSink, FileSinkOptions, QueryRedactor, Sink, StdoutSink};
use rampart_config::{Api, AuditSink, Config, ConfigError, ConfigErrors, Upstream};
use rampart_core::Stage;
use tokio::sync::Semaphore;

use crate::listeners::ListenerSettings;
use crate::upstream::{UpstreamClient, build_client};

/// Builds the stages of an API from its configuration. The binary supplies one
/// that wires every engine; tests supply their own.
pub trait StageFactory: Send + Sync + 'static {
    /// The stages of `api`, in any order (the runtime sorts them by phase, stably).
    fn stages(&self, config: &Config, api: &Api) -> Result<Vec<Arc<dyn Stage>>, ConfigErrors>;

    /// Extra endpoints for the admin listener (e.g. revocations). Default none.
    fn admin_extension(&self) -> Option<Arc<dyn crate::admin::AdminExtension>> {
        None
    }
}

/// A factory that adds no stages: a plain hardened reverse proxy.
#[derive(Debug, Default)]
pub struct NoStages;

impl StageFactory for NoStages {
    fn stages(&self, _config: &Config, _api: &Api) -> Result<Vec<Arc<dyn Stage>>, ConfigErrors> {
        Ok(Vec::new())
    }
}

/// One API, ready to serve.
pub struct ApiRuntime {
    /// Its configuration.
    pub config: Api,
    /// Pooled upstream client.
    pub client: UpstreamClient,
    /// Stages in phase order.
    pub stages: Vec<Arc<dyn Stage>>,
    /// Whether any stage may need a response body (decided per response).
    pub response_stages: bool,
    /// The stages in response-phase order (stable), for the response side.
    pub response_order: Vec<Arc<dyn Stage>>,
    /// The `Host` header requests to this upstream carry (its authority, without
    /// a default port), made once instead of by the client on every request.
    pub upstream_host: Option<http::HeaderValue>,
}

impl ApiRuntime {
    /// Whether a request's raw header fields may go upstream as the lines they
    /// arrived as ([`crate::fields`]): no stage will read them and the upstream
    /// client writes HTTP/1 lines (plain `http://`, so never HTTP/2).
    pub fn forwards_raw_fields(&self) -> bool {
        self.stages.is_empty() && self.client.sends_lines()
    }
}

/// The compiled configuration.
pub struct Runtime {
    /// The configuration it was built from.
    pub config: Config,
    /// APIs, in configuration order.
    pub apis: Vec<ApiRuntime>,
    /// The audit log.
    pub audit: AuditLog,
    /// Query redaction for audit records.
    pub redactor: QueryRedactor,
    /// Requests in flight (bounded by `limits.max_in_flight`).
    pub in_flight: Arc<Semaphore>,
    /// The client listeners' settings, TLS built, in configuration order.
    pub listeners: Vec<Arc<ListenerSettings>>,
}

impl Runtime {
    /// Builds a runtime. `previous` lends its audit log when the audit settings did
    /// not change, so a reload does not reopen files.
    pub fn build(
        config: Config,
        factory: &dyn StageFactory,
        previous: Option<&Runtime>,
    ) -> Result<Self, ConfigErrors> {
        if let Some(previous) = previous {
            // Checked first: building stages would already make counter stores
            // for new APIs with the new settings.
            let restart_only = restart_only_changes(&previous.config, &config);
            if !restart_only.is_empty() {
                return Err(ConfigErrors(restart_only));
            }
        }
        let mut errors = Vec::new();
        let mut apis = Vec::new();
        for (i, api) in config.apis.iter().enumerate() {
            let client = match upstream_client(&config, i, &api.upstream) {
                Ok(client) => Some(client),
                Err(error) => {
                    errors.push(error);
                    None
                }
            };
            let stages = match factory.stages(&config, api) {
                Ok(mut stages) => {
                    stages.sort_by_key(|stage| stage.phase());
                    Some(stages)
                }
                Err(more) => {
                    errors.extend(more.0);
                    None
                }
            };
            if let (Some(client), Some(stages)) = (client, stages) {
                let mut response_order = stages.clone();
                response_order.sort_by_key(|stage| stage.response_phase());
                apis.push(ApiRuntime {
                    upstream_host: host_header(&api.upstream.url),
                    config: api.clone(),
                    client,
                    response_stages: !stages.is_empty(),
                    response_order,
                    stages,
                });
            }
        }
        // TLS that cannot be built refuses the configuration, here, before
        // any listener is touched.
        let running = previous.map_or(&[][..], |previous| &previous.listeners[..]);
        let listeners = crate::listeners::prepare(&config, running).unwrap_or_else(|more| {
            errors.extend(more);
            Vec::new()
        });
        let audit = match previous {
            Some(previous) if previous.config.audit.sinks == config.audit.sinks => {
                Some(previous.audit.clone())
            }
            _ => match open_audit(&config) {
                Ok(audit) => Some(audit),
                Err(error) => {
                    errors.push(error);
                    None
                }
            },
        };
        match audit {
            Some(audit) if errors.is_empty() => Ok(Self {
                redactor: audit_redactor(&config),
                // One semaphore for the process's life: requests still running
                // on the previous runtime hold its permits, so a fresh one per
                // reload would let up to twice the limit run (reload() resizes
                // it when the limit changes).
                in_flight: previous.map_or_else(
                    || Arc::new(Semaphore::new(config.limits.max_in_flight)),
                    |previous| previous.in_flight.clone(),
                ),
                config,
                apis,
                audit,
                listeners,
            }),
            _ => Err(ConfigErrors(errors)),
        }
    }

    /// Moves the shared in-flight limit from `previous_limit` to this
    /// runtime's (called once the runtime is about to be swapped in, not while
    /// building: a build that fails must leave the serving limit alone).
    /// Permits held by running requests cannot be taken back: the shortfall is
    /// acquired, and forgotten, as those requests finish.
    pub(crate) fn resize_in_flight(&self, previous_limit: usize) {
        let limit = self.config.limits.max_in_flight;
        if limit > previous_limit {
            self.in_flight.add_permits(limit - previous_limit);
        } else if limit < previous_limit {
            let excess = previous_limit - limit;
            let short = excess - self.in_flight.forget_permits(excess);
            if short > 0 {
                let semaphore = self.in_flight.clone();
                // `short` is at most `limits.max_in_flight`'s bound (10,000,000).
                let short = u32::try_from(short).unwrap_or(u32::MAX);
                tokio::spawn(async move {
                    if let Ok(permits) = semaphore.acquire_many_owned(short).await {
                        permits.forget();
                    }
                });
            }
        }
    }

    /// The API for a host and normalised path: host must match (or the API takes
    /// any host), then the longest path prefix that ends at a segment boundary.
    /// Path parameters do not count: `/admin;x` is `/admin`'s.
    pub fn route(&self, host: &str, path: &str) -> Option<&ApiRuntime> {
        // Tomcat, Jetty and Spring drop path parameters before they route:
        // `/admin;jsessionid=1` is their `/admin`, and must be routed to that
        // API, not to one under `/` beside it. Only a path with `;` pays.
        let unparameterised;
        // A plain loop: paths are short, and memchr's set-up costs more here.
        let path = if path.bytes().any(|b| b == b';') {
            unparameterised = without_parameters(path);
            unparameterised.as_str()
        } else {
            path
        };
        self.apis
            .iter()
            .filter(|api| api.config.hosts.is_empty() || api.config.hosts.iter().any(|h| h == host))
            .filter(|api| prefix_matches(&api.config.path_prefix, path))
            // Prefer host-specific APIs, then longer prefixes.
            .max_by_key(|api| (!api.config.hosts.is_empty(), api.config.path_prefix.len()))
    }
}

/// The audit log's query redactor: `audit.redact_params`, and the query
/// parameter each API takes its API key in. A key name need not look like a
/// credential (`k`), and a rejected key is logged as much as an accepted one.
fn audit_redactor(config: &Config) -> QueryRedactor {
    let key_params = config.apis.iter().filter_map(|api| {
        let authn = &api.engines.authn.as_ref()?.value;
        authn.api_key.as_ref()?.query_param.clone()
    });
    QueryRedactor::new(config.audit.redact_params.iter().cloned().chain(key_params))
}

/// The `Host` value for requests to `url`: its host, and its port unless that is
/// the scheme's default (what hyper's client would set).
pub(crate) fn host_header(url: &http::Uri) -> Option<http::HeaderValue> {
    let authority = url.authority()?;
    let host = authority.host();
    let default_port = if url.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    let text = match authority.port_u16() {
        Some(port) if port != default_port => format!("{host}:{port}"),
        _ => host.to_string(),
    };
    http::HeaderValue::from_str(&text).ok()
}

/// `path` with each segment's parameters (from `;` to the segment's end)
/// removed, and a segment that leaves empty merged away as normalisation
/// merges `//` (a last one stays: the trailing slash).
fn without_parameters(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut segments = path.split('/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        let name = segment.split(';').next().unwrap_or_default();
        if name.is_empty() && segments.peek().is_some() {
            continue;
        }
        out.push('/');
        out.push_str(name);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

fn open_audit(config: &Config) -> Result<AuditLog, ConfigError> {
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    for (i, sink) in config.audit.sinks.iter().enumerate() {
        match sink {
            AuditSink::Stdout => sinks.push(Box::new(StdoutSink::default())),
            AuditSink::File {
                path,
                max_bytes,
                keep,
                max_age,
            } => {
                let options = FileSinkOptions {
                    max_bytes: *max_bytes,
                    keep: *keep,
                    max_age: *max_age,
                };
                let sink = FileSink::open(path, options)
                    .map_err(|err| audit_path_error(config, i, &err))?;
                sinks.push(Box::new(sink));
            }
        }
    }
    AuditLog::start(sinks, config.audit.queue_capacity).map_err(|err| {
        ConfigError::new(
            &config.source,
            None,
            "audit",
            format!("cannot start writer: {err}"),
        )
    })
}

/// Changes a reload cannot apply, as errors: the identity adapters (started
/// once per process) and the rate-limit counter stores (kept per API across
/// reloads, so that counts survive them) are built from these sections once.
/// Taken silently, the reload would report success and keep the old settings;
/// refused, the old configuration keeps serving and the message says why.
fn restart_only_changes(previous: &Config, next: &Config) -> Vec<ConfigError> {
    const WHY: &str = "changed: it is applied at start only (a reload keeps what it built); restart to apply it, the old configuration keeps serving";
    let mut errors = Vec::new();
    if previous.redis.as_ref().map(|r| &r.value) != next.redis.as_ref().map(|r| &r.value) {
        let line = next.redis.as_ref().and_then(|r| r.line());
        errors.push(ConfigError::new(&next.source, line, "redis", WHY));
    }
    // Built once by the server: the admin listener, the connection cap and
    // the audit queue (kept across reloads while the sinks are the same).
    let built_once = [
        ("admin.bind", previous.admin_bind != next.admin_bind),
        (
            "limits.max_connections",
            previous.limits.max_connections != next.limits.max_connections,
        ),
        (
            "audit.queue_capacity",
            previous.audit.queue_capacity != next.audit.queue_capacity,
        ),
    ];
    for (field, changed) in built_once {
        if changed {
            errors.push(ConfigError::new(
                &next.source,
                next.line_of(field),
                field,
                WHY,
            ));
        }
    }
    if previous.identity.as_ref().map(|i| &i.value) != next.identity.as_ref().map(|i| &i.value) {
        let line = next.identity.as_ref().and_then(|i| i.line());
        errors.push(ConfigError::new(&next.source, line, "identity", WHY));
    }
    for (i, api) in next.apis.iter().enumerate() {
        let before = previous
            .apis
            .iter()
            .find(|old| old.name == api.name)
            .and_then(|old| old.engines.rate_limit.as_ref());
        if let (Some(before), Some(now)) = (before, &api.engines.rate_limit)
            && before.value.local != now.value.local
        {
            let line = now.line();
            errors.push(ConfigError::new(
                &next.source,
                line,
                format!("apis[{i}].rate_limit.local"),
                WHY,
            ));
        }
    }
    errors
}

/// The client of API `i`'s upstream (its CA and client identity read and
/// parsed; nothing connects), or the error naming its field and line.
fn upstream_client(
    config: &Config,
    i: usize,
    upstream: &Upstream,
) -> Result<UpstreamClient, ConfigError> {
    build_client(upstream).map_err(|err| {
        let field = format!("apis[{i}].upstream");
        ConfigError::new(
            &config.source,
            config.line_of(&field),
            field,
            err.to_string(),
        )
    })
}

/// The error of audit sink `i`'s file path, with its line.
fn audit_path_error(config: &Config, i: usize, err: &std::io::Error) -> ConfigError {
    let field = format!("audit.sinks[{i}].file.path");
    ConfigError::new(
        &config.source,
        config.line_of(&field),
        field,
        format!("cannot open: {err}"),
    )
}

/// Whether every audit file sink could be opened, found without creating
/// anything (for `rampart check`: an audit path in a directory the gateway
/// may not write is found there, not at the next start).
pub fn check_audit_files(config: &Config) -> Vec<ConfigError> {
    config
        .audit
        .sinks
        .iter()
        .enumerate()
        .filter_map(|(i, sink)| match sink {
            AuditSink::File { path, .. } => FileSink::check(path)
                .err()
                .map(|err| audit_path_error(config, i, &err)),
            AuditSink::Stdout => None,
        })
        .collect()
}

/// Builds every API's stages and upstream client without starting anything
/// (for `rampart check`: a CA file that is not PEM is found there, not at
/// the next start).
pub fn check_stages(config: &Config, factory: &dyn StageFactory) -> Result<(), ConfigErrors> {
    let errors: Vec<ConfigError> = config
        .apis
        .iter()
        .enumerate()
        .flat_map(|(i, api)| {
            let client = upstream_client(config, i, &api.upstream)
                .err()
                .map(|error| vec![error]);
            let stages = factory.stages(config, api).err().map(|errors| errors.0);
            client.into_iter().chain(stages).flatten()
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{host_header, prefix_matches, restart_only_changes, without_parameters};

    /// A configuration with `redis`, `identity` and `rate_limit.local` as given.
    fn config(
        redis_timeout: u64,
        http_timeout: u64,
        max_keys: u64,
        prefix: &str,
    ) -> rampart_config::Config {
        let text = format!(
            "listeners:\n  - bind: 127.0.0.1:0\nredis:\n  url: redis://127.0.0.1:6379\n  timeout_ms: {redis_timeout}\nidentity:\n  http: {{timeout_ms: {http_timeout}}}\napis:\n  - name: a\n    path_prefix: {prefix}\n    upstream: {{url: http://127.0.0.1:1}}\n    rate_limit:\n      local: {{max_keys: {max_keys}}}\n"
        );
        rampart_config::load_str(std::path::Path::new("/etc/rampart/r.yaml"), &text).unwrap()
    }

    #[test]
    fn a_reload_refuses_what_it_cannot_apply_and_takes_the_rest() {
        let before = config(250, 5000, 100_000, "/");
        // Routing changes are a reload's business.
        assert!(restart_only_changes(&before, &config(250, 5000, 100_000, "/v2")).is_empty());
        let errors: Vec<String> = restart_only_changes(&before, &config(500, 9000, 200_000, "/"))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(
            errors[0].starts_with("/etc/rampart/r.yaml:4: redis: changed"),
            "{errors:#?}"
        );
        assert!(
            errors[1].starts_with("/etc/rampart/r.yaml:7: identity: changed"),
            "{errors:#?}"
        );
        assert!(
            errors[2].starts_with("/etc/rampart/r.yaml:13: apis[0].rate_limit.local: changed"),
            "{errors:#?}"
        );
        assert!(errors[2].contains("restart to apply"), "{errors:#?}");
        // What the server built once: the admin listener, the connection cap
        // and the audit queue (a lowered cap during an attack did nothing).
        let with = |extra: &str| {
            let text = format!(
                "listeners:\n  - bind: 127.0.0.1:0\n{extra}apis:\n  - name: a\n    upstream: {{url: http://127.0.0.1:1}}\n"
            );
            rampart_config::load_str(std::path::Path::new("/etc/rampart/r.yaml"), &text).unwrap()
        };
        let before = with("");
        let after = with(
            "admin: {bind: 127.0.0.1:9999}\nlimits:\n  max_connections: 10\n  drain_timeout: 5s\naudit:\n  queue_capacity: 100\n",
        );
        let errors: Vec<String> = restart_only_changes(&before, &after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(
            errors[0].starts_with("/etc/rampart/r.yaml:3: admin.bind: changed"),
            "{errors:#?}"
        );
        assert!(
            errors[1].starts_with("/etc/rampart/r.yaml:5: limits.max_connections: changed"),
            "{errors:#?}"
        );
        assert!(
            errors[2].starts_with("/etc/rampart/r.yaml:8: audit.queue_capacity: changed"),
            "{errors:#?}"
        );
    }

    #[test]
    fn upstream_host_headers_omit_default_ports() {
        let host = |url: &str| host_header(&url.parse().unwrap()).unwrap();
        assert_eq!(host("http://127.0.0.1:8080/base"), "127.0.0.1:8080");
        assert_eq!(host("http://api.internal/"), "api.internal");
        assert_eq!(host("http://api.internal:80/"), "api.internal");
        assert_eq!(host("https://api.internal:443/"), "api.internal");
        assert_eq!(host("https://api.internal:80/"), "api.internal:80");
        assert_eq!(host("http://[::1]:9000/"), "[::1]:9000");
    }

    #[test]
    fn prefixes_match_at_segment_boundaries() {
        assert!(prefix_matches("/", "/anything"));
        assert!(prefix_matches("/api", "/api"));
        assert!(prefix_matches("/api", "/api/users"));
        assert!(!prefix_matches("/api", "/apix"));
        assert!(prefix_matches("/api/", "/api/users"));
        assert!(!prefix_matches("/api/", "/api"));
    }

    /// `/admin;jsessionid=1` is `/admin` to Tomcat, Jetty and Spring: it
    /// used to miss the `/admin` prefix and go to the API under `/`.
    #[test]
    fn path_parameters_do_not_count_for_routing() {
        assert_eq!(without_parameters("/admin;jsessionid=1"), "/admin");
        assert_eq!(without_parameters("/a;x/b;y=1;z/c"), "/a/b/c");
        assert_eq!(without_parameters("/;x/admin"), "/admin");
        assert_eq!(without_parameters("/a/b;x/"), "/a/b/");
        assert_eq!(without_parameters("/;x"), "/");
    }
}
