//! Raw -> typed: checks every value and collects every problem, so `rampart check`
//! can list them all at once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Uri;
use ipnet::IpNet;

use crate::error::{ConfigError, ConfigErrors};
use crate::located::Located;
use crate::raw::{RawApi, RawConfig, RawLimits, RawListener, RawSink, RawSize, RawUpstream};
use crate::typed::*;
use crate::units::{parse_duration, parse_size};

/// Collects errors while converting; each check returns `None` after recording one.
struct Checker<'a> {
    file: &'a Path,
    base_dir: PathBuf,
    errors: Vec<ConfigError>,
    /// See [`Config::field_lines`].
    field_lines: BTreeMap<String, u64>,
}

impl Checker<'_> {
    /// Keeps `field`'s line for errors found after validation.
    fn keep_line(&mut self, field: &str, line: Option<u64>) {
        if let Some(line) = line {
            self.field_lines.insert(field.to_string(), line);
        }
    }

    fn error(&mut self, line: Option<u64>, field: &str, message: impl Into<String>) {
        self.errors
            .push(ConfigError::new(self.file, line, field, message));
    }

    fn socket_addr(&mut self, value: &Located<String>, field: &str) -> Option<SocketAddr> {
        match value.value.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.error(
                    value.line(),
                    field,
                    format!("`{}` is not an address like 127.0.0.1:8080", value.value),
                );
                None
            }
        }
    }

    fn duration(
        &mut self,
        value: Option<&Located<String>>,
        field: &str,
        default: Duration,
    ) -> Duration {
        let Some(value) = value else { return default };
        match parse_duration(&value.value) {
            Ok(duration) if !duration.is_zero() => duration,
            Ok(_) => {
                self.error(value.line(), field, "must be greater than zero");
                default
            }
            Err(message) => {
                self.error(value.line(), field, message);
                default
            }
        }
    }

    fn size(&mut self, value: Option<&Located<RawSize>>, field: &str, default: usize) -> usize {
        let Some(value) = value else { return default };
        let parsed = match &value.value {
            RawSize::Bytes(bytes) => Ok(*bytes),
            RawSize::Text(text) => parse_size(text),
        };
        match parsed.map(usize::try_from) {
            Ok(Ok(0)) => {
                self.error(value.line(), field, "must be greater than zero");
                default
            }
            Ok(Ok(size)) => size,
            Ok(Err(_)) => {
                self.error(value.line(), field, "is too large");
                default
            }
            Err(message) => {
                self.error(value.line(), field, message);
                default
            }
        }
    }

    /// A count from 1 to `max`. The bound keeps what the gateway builds from
    /// it sane: a semaphore of that many permits (tokio's refuses more than
    /// `usize::MAX >> 3`), header slots per request, queued records.
    fn count(
        &mut self,
        value: Option<&Located<u64>>,
        field: &str,
        default: usize,
        max: usize,
    ) -> usize {
        // Its line, for errors found later (a reload refusing a change).
        self.keep_line(field, value.and_then(Located::line));
        self.bounded(value, field, default, 1..=max)
    }

    /// A number within `range` (`default` when absent or refused).
    fn bounded(
        &mut self,
        value: Option<&Located<u64>>,
        field: &str,
        default: usize,
        range: std::ops::RangeInclusive<usize>,
    ) -> usize {
        let Some(value) = value else { return default };
        match usize::try_from(value.value) {
            Ok(n) if range.contains(&n) => n,
            Ok(0) => {
                self.error(value.line(), field, "must be greater than zero");
                default
            }
            _ => {
                let max = range.end();
                self.error(value.line(), field, format!("must be at most {max}"));
                default
            }
        }
    }

    /// A file that must exist; relative paths are taken from the config's directory.
    fn existing_file(&mut self, value: &Located<String>, field: &str) -> PathBuf {
        let path = self.base_dir.join(&value.value);
        if !path.is_file() {
            self.error(
                value.line(),
                field,
                format!("file `{}` does not exist", path.display()),
            );
        }
        path
    }
}

/// Most request header fields a limit may allow: each slot beyond 128 is
/// allocated per request (32 bytes each).
const MAX_HEADERS: usize = 10_000;
/// Most connections, requests in flight or idle upstream connections a limit
/// may allow (far above what one instance serves, far below tokio's bound).
const MAX_CONCURRENCY: usize = 10_000_000;
/// Most rotated audit files a file sink may keep.
const MAX_KEPT_AUDIT_FILES: usize = 10_000;
/// Most audit records the queue may hold (about 600 bytes each: ~6 GB).
const MAX_QUEUED_RECORDS: usize = 10_000_000;

pub(crate) fn validate(file: &Path, raw: RawConfig) -> Result<Config, ConfigErrors> {
    let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut c = Checker {
        file,
        base_dir,
        errors: Vec::new(),
        field_lines: BTreeMap::new(),
    };

    if raw.listeners.value.is_empty() {
        c.error(
            raw.listeners.line(),
            "listeners",
            "at least one listener is required",
        );
    }
    let listeners: Vec<Listener> = raw
        .listeners
        .value
        .iter()
        .enumerate()
        .filter_map(|(i, listener)| listener_of(&mut c, listener, &format!("listeners[{i}]")))
        .collect();
    let admin_bind = match &raw.admin.bind {
        Some(bind) => {
            c.keep_line("admin.bind", bind.line());
            c.socket_addr(bind, "admin.bind")
        }
        None => Some(SocketAddr::from(([127, 0, 0, 1], 9901))),
    };
    let limits = limits_of(&mut c, &raw.limits);
    let trusted_proxies = raw
        .trusted_proxies
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| {
            let text = entry.value.trim();
            let parsed = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from));
            match parsed {
                // `X-Forwarded-For` from everyone would be believed: any
                // client could name its own address (rate limits, lock-out
                // and the audit log keyed by it).
                Ok(net) if net.prefix_len() == 0 => {
                    c.error(
                        entry.line(),
                        &format!("trusted_proxies[{i}]"),
                        format!(
                            "`{text}` trusts every address: list the proxies in front of Rampart"
                        ),
                    );
                    None
                }
                Ok(net) => Some(unmapped(net)),
                Err(_) => {
                    c.error(
                        entry.line(),
                        &format!("trusted_proxies[{i}]"),
                        format!("`{text}` is not an IP or CIDR"),
                    );
                    None
                }
            }
        })
        .collect();
    let audit = audit_of(&mut c, &raw);

    if raw.apis.value.is_empty() {
        c.error(raw.apis.line(), "apis", "at least one API is required");
    }
    // Checked here, with the section's line, rather than first by the API
    // whose rate limits build the store (it would be reported there).
    let redis_prefix_ok = match &raw.redis {
        Some(redis) => {
            const FIELD: &str = "redis.key_prefix";
            match redis.value.check_key_prefix(FIELD.into()) {
                Ok(()) => true,
                Err(error) => {
                    // The error says its field first; the checker says it too.
                    let message = error.to_string();
                    let message = message.strip_prefix(FIELD).unwrap_or(&message);
                    c.error(
                        redis.line(),
                        FIELD,
                        message.trim_start_matches(": ").to_string(),
                    );
                    false
                }
            }
        }
        None => true,
    };
    let mut names = HashSet::new();
    let mut routes = HashMap::new();
    let mut apis = Vec::new();
    for (i, api) in raw.apis.value.iter().enumerate() {
        let field = format!("apis[{i}]");
        if !names.insert(api.name.value.clone()) {
            c.error(
                api.name.line(),
                &format!("{field}.name"),
                format!("duplicate API name `{}`", api.name.value),
            );
        }
        // Each API's shared counters live under `{key_prefix}{name}:`; a
        // prefix bad on its own is the `redis` section's error (above).
        if let (Some(redis), Some(_)) = (&raw.redis, &api.rate_limit)
            && redis_prefix_ok
        {
            let prefix = &redis.value.key_prefix;
            let combined = prefix.len() + api.name.value.len() + 1;
            if combined > rampart_redis::MAX_KEY_PREFIX_BYTES {
                c.error(
                    api.name.line(),
                    &format!("{field}.name"),
                    format!(
                        "this API's Redis counters would live under `{prefix}{}:`, {combined} bytes, more than {} (shorten the name or redis.key_prefix)",
                        api.name.value,
                        rampart_redis::MAX_KEY_PREFIX_BYTES
                    ),
                );
            }
        }
        if let Some(typed) = api_of(&mut c, api, &field, limits.max_body_bytes) {
            // Two APIs for the same host (or any host) and path prefix: one of
            // them would never get a request.
            let keys: Vec<Option<&str>> = if typed.hosts.is_empty() {
                vec![None]
            } else {
                typed.hosts.iter().map(|h| Some(h.as_str())).collect()
            };
            for key in keys {
                let route = (key.map(str::to_string), typed.path_prefix.clone());
                if let Some(first) = routes.insert(route, i) {
                    c.error(
                        api.name.line(),
                        &field,
                        format!(
                            "routes {} and path prefix `{}` like apis[{first}]: one of them would get no traffic",
                            key.map_or("any host".to_string(), |h| format!("host `{h}`")),
                            typed.path_prefix
                        ),
                    );
                    break;
                }
            }
            apis.push(typed);
        }
    }

    // Checked on the file's listeners (their index and line), not on the valid
    // ones, whose index differs once one before them was refused.
    let mut binds: Vec<(usize, SocketAddr)> = Vec::new();
    let mut listener_names = HashSet::new();
    for (i, raw_listener) in raw.listeners.value.iter().enumerate() {
        // Metrics and logs tell listeners apart by name.
        if let Some(name) = &raw_listener.name
            && !listener_names.insert(name.value.as_str())
        {
            c.error(
                name.line(),
                &format!("listeners[{i}].name"),
                format!("duplicate listener name `{}`", name.value),
            );
        }
        let Ok(bind) = raw_listener.bind.value.parse::<SocketAddr>() else {
            continue;
        };
        // Port 0 (any free port, used by tests) cannot collide.
        if bind.port() == 0 {
            continue;
        }
        let clash = if Some(bind) == admin_bind || binds.iter().any(|(_, b)| *b == bind) {
            Some(format!("address {bind} is used twice"))
        } else if let Some(admin) = admin_bind.filter(|admin| overlap(*admin, bind)) {
            Some(format!(
                "address {bind} overlaps the admin listener's {admin}{WHY_OVERLAP}"
            ))
        } else {
            binds
                .iter()
                .find(|(_, b)| overlap(*b, bind))
                .map(|(j, other)| {
                    format!("address {bind} overlaps listeners[{j}].bind {other}{WHY_OVERLAP}")
                })
        };
        if let Some(message) = clash {
            c.error(
                raw_listener.bind.line(),
                &format!("listeners[{i}].bind"),
                message,
            );
        }
        binds.push((i, bind));
    }

    match (c.errors.is_empty(), admin_bind) {
        (true, Some(admin_bind)) => Ok(Config {
            source: file.to_path_buf(),
            base_dir: c.base_dir.clone(),
            listeners,
            admin_bind,
            limits,
            trusted_proxies,
            audit,
            redis: raw.redis,
            identity: raw.identity,
            apis,
            field_lines: c.field_lines,
        }),
        _ => Err(ConfigErrors(c.errors)),
    }
}

/// Why two binds on one port clash, for the error naming them.
const WHY_OVERLAP: &str = ": same port, and a wildcard address takes it on every address of its family (`[::]` on IPv4 too)";

/// Whether two sockets on the same port would refuse each other: the same
/// address, or a wildcard and an address it covers. A `[::]` socket is
/// dual-stack (the gateway serves IPv4 clients on it), so it covers IPv4
/// addresses too; an IPv4-mapped address is its IPv4 address.
fn overlap(a: SocketAddr, b: SocketAddr) -> bool {
    let covers = |wildcard: std::net::IpAddr, other: std::net::IpAddr| {
        wildcard.is_unspecified() && (wildcard.is_ipv6() || other.is_ipv4())
    };
    let (x, y) = (a.ip().to_canonical(), b.ip().to_canonical());
    a.port() == b.port() && (x == y || covers(x, y) || covers(y, x))
}

fn listener_of(c: &mut Checker<'_>, raw: &RawListener, field: &str) -> Option<Listener> {
    // Lines of what the gateway checks again when it binds the socket and
    // builds the TLS (errors found then name them).
    c.keep_line(&format!("{field}.bind"), raw.bind.line());
    if let Some(tls) = &raw.tls {
        c.keep_line(&format!("{field}.tls"), tls.cert.line());
        c.keep_line(&format!("{field}.tls.cert"), tls.cert.line());
        c.keep_line(&format!("{field}.tls.key"), tls.key.line());
        if let Some(ca) = &tls.client_ca {
            c.keep_line(&format!("{field}.tls.client_ca"), ca.line());
        }
    }
    let bind = c.socket_addr(&raw.bind, &format!("{field}.bind"));
    if let Some(name) = &raw.name
        && !is_plain_name(&name.value)
    {
        c.error(
            name.line(),
            &format!("{field}.name"),
            "must be non-empty letters, digits, `-`, `_` or `.`",
        );
    }
    let tls = raw.tls.as_ref().map(|tls| {
        let cert = c.existing_file(&tls.cert, &format!("{field}.tls.cert"));
        let key = c.existing_file(&tls.key, &format!("{field}.tls.key"));
        let min_version = match tls
            .min_version
            .as_ref()
            .map(|v| (v.value.as_str(), v.line()))
        {
            None | Some(("1.2", _)) => TlsMinVersion::Tls12,
            Some(("1.3", _)) => TlsMinVersion::Tls13,
            Some((other, line)) => {
                c.error(
                    line,
                    &format!("{field}.tls.min_version"),
                    format!("`{other}` is not \"1.2\" or \"1.3\""),
                );
                TlsMinVersion::Tls12
            }
        };
        let mode = match tls
            .client_auth
            .as_ref()
            .map(|v| (v.value.as_str(), v.line()))
        {
            None | Some(("required", _)) => ClientAuth::Required,
            Some(("optional", _)) => ClientAuth::Optional,
            Some((other, line)) => {
                c.error(
                    line,
                    &format!("{field}.tls.client_auth"),
                    format!("`{other}` is not `required` or `optional`"),
                );
                ClientAuth::Required
            }
        };
        if tls.client_ca.is_none() && tls.client_auth.is_some() {
            c.error(
                tls.client_auth.as_ref().and_then(Located::line),
                &format!("{field}.tls.client_auth"),
                "needs `client_ca`",
            );
        }
        let client_ca = tls
            .client_ca
            .as_ref()
            .map(|ca| (c.existing_file(ca, &format!("{field}.tls.client_ca")), mode));
        let hsts = match tls.hsts.as_ref() {
            None => Some("max-age=31536000".to_string()),
            Some(value) if value.value.is_empty() => None,
            // A value no header can carry would have been dropped, and HSTS
            // with it, without a word; the directives are ASCII.
            Some(value)
                if !value
                    .value
                    .bytes()
                    .all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) =>
            {
                c.error(
                    value.line(),
                    &format!("{field}.tls.hsts"),
                    "must be a header value (visible ASCII, spaces and tabs), e.g. max-age=31536000; includeSubDomains",
                );
                None
            }
            Some(value) => Some(value.value.clone()),
        };
        ListenerTls {
            cert,
            key,
            min_version,
            client_ca,
            hsts,
        }
    });
    let bind = bind?;
    Some(Listener {
        name: raw
            .name
            .as_ref()
            .map_or_else(|| bind.to_string(), |name| name.value.clone()),
        bind,
        tls,
    })
}

fn limits_of(c: &mut Checker<'_>, raw: &RawLimits) -> Limits {
    let d = Limits::default();
    Limits {
        max_header_bytes: c.size(
            raw.max_header_bytes.as_ref(),
            "limits.max_header_bytes",
            d.max_header_bytes,
        ),
        max_headers: c.count(
            raw.max_headers.as_ref(),
            "limits.max_headers",
            d.max_headers,
            MAX_HEADERS,
        ),
        max_uri_length: c.size(
            raw.max_uri_length.as_ref(),
            "limits.max_uri_length",
            d.max_uri_length,
        ),
        header_read_timeout: c.duration(
            raw.header_read_timeout.as_ref(),
            "limits.header_read_timeout",
            d.header_read_timeout,
        ),
        max_connections: c.count(
            raw.max_connections.as_ref(),
            "limits.max_connections",
            d.max_connections,
            MAX_CONCURRENCY,
        ),
        max_in_flight: c.count(
            raw.max_in_flight.as_ref(),
            "limits.max_in_flight",
            d.max_in_flight,
            MAX_CONCURRENCY,
        ),
        max_body_bytes: c.size(
            raw.max_body_bytes.as_ref(),
            "limits.max_body_bytes",
            d.max_body_bytes,
        ),
        body_read_timeout: c.duration(
            raw.body_read_timeout.as_ref(),
            "limits.body_read_timeout",
            d.body_read_timeout,
        ),
        send_timeout: c.duration(
            raw.send_timeout.as_ref(),
            "limits.send_timeout",
            d.send_timeout,
        ),
        drain_timeout: c.duration(
            raw.drain_timeout.as_ref(),
            "limits.drain_timeout",
            d.drain_timeout,
        ),
    }
}

fn audit_of(c: &mut Checker<'_>, raw: &RawConfig) -> Audit {
    let mut sinks = Vec::new();
    let listed = raw.audit.sinks.as_ref();
    if let Some(listed) = listed
        && listed.value.is_empty()
    {
        c.error(
            listed.line(),
            "audit.sinks",
            "must list at least one sink (stdout: {} or file: {path: ...}): the audit log cannot be turned off",
        );
    }
    for (i, sink) in listed
        .map(|l| l.value.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let field = format!("audit.sinks[{i}]");
        match sink {
            RawSink::Stdout {} => sinks.push(AuditSink::Stdout),
            RawSink::File {
                path,
                max_bytes,
                keep,
                max_age,
            } => {
                let path_buf = c.base_dir.join(&path.value);
                c.keep_line(&format!("{field}.file.path"), path.line());
                // `audit.log` and `./audit.log` are one file: two writers
                // would double every record and rotate it under each other.
                let same_file = |other: &AuditSink| {
                    matches!(other, AuditSink::File { path: other, .. }
                        if other.components().eq(path_buf.components()))
                };
                if sinks.iter().any(same_file) {
                    c.error(
                        path.line(),
                        &format!("{field}.file.path"),
                        format!("`{}` is already another sink's file", path.value),
                    );
                }
                if path.value.is_empty() {
                    c.error(
                        path.line(),
                        &format!("{field}.file.path"),
                        "must not be empty",
                    );
                }
                let max_bytes = c.size(
                    max_bytes.as_ref(),
                    &format!("{field}.file.max_bytes"),
                    100 << 20,
                ) as u64;
                // Rotation looks for every numbered file up to `keep`. At
                // least one: with none, each rotation would delete the records
                // just written, before a shipper tailing the file has read them.
                let keep = c.bounded(
                    keep.as_ref(),
                    &format!("{field}.file.keep"),
                    10,
                    1..=MAX_KEPT_AUDIT_FILES,
                );
                let max_age = max_age.as_ref().map(|age| {
                    c.duration(
                        Some(age),
                        &format!("{field}.file.max_age"),
                        Duration::from_secs(7 * 86_400),
                    )
                });
                sinks.push(AuditSink::File {
                    path: path_buf,
                    max_bytes,
                    keep,
                    max_age,
                });
            }
        }
    }
    // No `sinks` key: the default, stdout.
    if sinks.is_empty() {
        sinks.push(AuditSink::Stdout);
    }
    Audit {
        sinks,
        queue_capacity: c.count(
            raw.audit.queue_capacity.as_ref(),
            "audit.queue_capacity",
            65_536,
            MAX_QUEUED_RECORDS,
        ),
        redact_params: raw
            .audit
            .redact_params
            .iter()
            .map(|p| p.to_ascii_lowercase())
            .collect(),
    }
}

/// A name for logs, metrics labels and references: non-empty letters,
/// digits, `-`, `_` or `.`.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
}

fn api_of(c: &mut Checker<'_>, raw: &RawApi, field: &str, default_body: usize) -> Option<Api> {
    if !is_plain_name(&raw.name.value) {
        c.error(
            raw.name.line(),
            &format!("{field}.name"),
            "must be non-empty letters, digits, `-`, `_` or `.`",
        );
    }
    let path_prefix = match &raw.path_prefix {
        None => "/".to_string(),
        Some(prefix)
            if prefix.value.starts_with('/') && !prefix.value.contains(['?', '#', '%']) =>
        {
            prefix.value.clone()
        }
        Some(prefix) => {
            c.error(
                prefix.line(),
                &format!("{field}.path_prefix"),
                "must start with `/` and hold no `?`, `#` or `%`",
            );
            "/".to_string()
        }
    };
    // Compared as the gateway compares a request's host: lower-case, without
    // port. Anything else could never match, and the API would get no traffic.
    let hosts = raw
        .hosts
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let plain = host
                .value
                .parse::<http::uri::Authority>()
                .is_ok_and(|authority| authority.as_str() == authority.host());
            if !plain || host.value.contains('*') {
                c.error(
                    host.line(),
                    &format!("{field}.hosts[{i}]"),
                    format!(
                        "`{}` is not a host name or address without port or wildcard",
                        host.value
                    ),
                );
            }
            host.value.to_ascii_lowercase()
        })
        .collect();
    let upstream = upstream_of(c, &raw.upstream, &format!("{field}.upstream"));
    let max_body_bytes = c.size(
        raw.max_body_bytes.as_ref(),
        &format!("{field}.max_body_bytes"),
        default_body,
    );
    // The gateway buffers no more than the API's limit for any stage (413
    // past it): an `openapi` limit above it would never be reached.
    if let Some(openapi) = &raw.openapi {
        let limits = std::iter::once(("limits".to_string(), &openapi.value.limits)).chain(
            openapi
                .value
                .operations
                .iter()
                .map(|(key, op)| (format!("operations[{key:?}].limits"), &op.limits)),
        );
        for (path, limits) in limits {
            if let Some(limit) = limits.max_body_bytes
                && limit > max_body_bytes
            {
                c.error(
                    openapi.line(),
                    &format!("{field}.openapi.{path}.max_body_bytes"),
                    format!(
                        "{limit} exceeds the API's max_body_bytes ({max_body_bytes}): larger bodies are refused with 413 before this limit is checked"
                    ),
                );
            }
        }
    }
    // The same for the WAF's limit, when written (its 128 KiB default is
    // simply capped by a smaller API limit).
    if let Some(waf) = &raw.waf
        && let Some(limit) = waf.value.written_body_limit()
        && limit > max_body_bytes
    {
        c.error(
            waf.line(),
            &format!("{field}.waf.request_body_limit"),
            format!(
                "{limit} exceeds the API's max_body_bytes ({max_body_bytes}): larger bodies are refused with 413 before the WAF sees them"
            ),
        );
    }
    Some(Api {
        name: raw.name.value.clone(),
        hosts,
        path_prefix,
        strip_prefix: raw.strip_prefix,
        upstream: upstream?,
        max_body_bytes,
        engines: EngineSections {
            openapi: raw.openapi.clone(),
            authn: raw.authn.clone(),
            authz: raw.authz.clone(),
            rate_limit: raw.rate_limit.clone(),
            waf: raw.waf.clone(),
        },
    })
}

/// A refused URL as an error may quote it: everything up to its last `@`
/// (user information: a password, `user:pw@`), its query (`?token=`) and its
/// fragment are replaced by `…`, since configuration errors go to logs (a
/// failed reload is logged). The last `@`, not the first one after the
/// authority's end: a password may itself hold `/`, `?` or `#` (base64 does).
fn without_secrets(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let (user, rest) = match rest.rfind('@') {
        Some(at) => ("…@", rest.get(at + 1..).unwrap_or_default()),
        None => ("", rest),
    };
    let (before_fragment, fragment) = match rest.split_once('#') {
        Some((before, _)) => (before, "#…"),
        None => (rest, ""),
    };
    let (host_and_path, query) = match before_fragment.split_once('?') {
        Some((before, _)) => (before, "?…"),
        None => (before_fragment, ""),
    };
    format!("{scheme}{user}{host_and_path}{query}{fragment}")
}

/// Whether an authority's port, if it names one, is a number: `http` ignores a
/// port it cannot read (`svc:ab` would go to port 443 of `svc`), which is how
/// `https://svc:pass/word@up` (a password holding `/`) would quietly connect
/// to the wrong host.
fn port_is_valid(authority: &http::uri::Authority) -> bool {
    let text = authority.as_str();
    // An IPv6 literal's colons are inside its brackets.
    let after_host = text.rfind(']').map_or(text, |end| &text[end + 1..]);
    !after_host.contains(':') || authority.port().is_some()
}

fn upstream_of(c: &mut Checker<'_>, raw: &RawUpstream, field: &str) -> Option<Upstream> {
    // The gateway reads the upstream's CA and client identity when it builds
    // the client; a file that does not parse is reported then, at the URL's line.
    c.keep_line(field, raw.url.line());
    let url = match raw.url.value.parse::<Uri>() {
        // User information (`user:pw@`) would never be sent and a fragment is
        // dropped by the parser: refused, not silently ignored.
        Ok(uri)
            if matches!(uri.scheme_str(), Some("http" | "https"))
                && uri
                    .authority()
                    .is_some_and(|a| !a.as_str().contains('@') && port_is_valid(a))
                && uri.query().is_none()
                && !raw.url.value.contains('#') =>
        {
            Some(uri)
        }
        _ => {
            c.error(
                raw.url.line(),
                &format!("{field}.url"),
                format!(
                    "`{}` is not an http:// or https:// URL without user information, query or fragment",
                    without_secrets(&raw.url.value)
                ),
            );
            None
        }
    };
    let ca = raw
        .ca
        .as_ref()
        .map(|ca| c.existing_file(ca, &format!("{field}.ca")));
    let client_identity = match (&raw.client_cert, &raw.client_key) {
        (Some(cert), Some(key)) => Some((
            c.existing_file(cert, &format!("{field}.client_cert")),
            c.existing_file(key, &format!("{field}.client_key")),
        )),
        (None, None) => None,
        (Some(cert), None) => {
            c.error(
                cert.line(),
                &format!("{field}.client_key"),
                "is required with `client_cert`",
            );
            None
        }
        (None, Some(key)) => {
            c.error(
                key.line(),
                &format!("{field}.client_cert"),
                "is required with `client_key`",
            );
            None
        }
    };
    if ca.is_some() && url.as_ref().and_then(Uri::scheme_str) == Some("http") {
        c.error(
            raw.ca.as_ref().and_then(Located::line),
            &format!("{field}.ca"),
            "only applies to https:// upstreams",
        );
    }
    let connect_timeout = c.duration(
        raw.connect_timeout.as_ref(),
        &format!("{field}.connect_timeout"),
        Duration::from_secs(5),
    );
    let response_header_timeout = c.duration(
        raw.response_header_timeout.as_ref(),
        &format!("{field}.response_header_timeout"),
        Duration::from_secs(30),
    );
    let response_body_timeout = c.duration(
        raw.response_body_timeout.as_ref(),
        &format!("{field}.response_body_timeout"),
        Duration::from_secs(60),
    );
    let idle_timeout = c.duration(
        raw.idle_timeout.as_ref(),
        &format!("{field}.idle_timeout"),
        Duration::from_secs(4),
    );
    let max_idle_connections = c.count(
        raw.max_idle_connections.as_ref(),
        &format!("{field}.max_idle_connections"),
        256,
        MAX_CONCURRENCY,
    );
    Some(Upstream {
        url: url?,
        ca,
        client_identity,
        connect_timeout,
        response_header_timeout,
        response_body_timeout,
        idle_timeout,
        max_idle_connections,
    })
}
/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) as the IPv4 network
/// it is: the gateway names an IPv4 client of a dual-stack listener by its
/// IPv4 address, so only that spelling can match it.
fn unmapped(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.network().to_ipv4_mapped()
        && let Some(prefix) = v6.prefix_len().checked_sub(96)
        && let Ok(v4net) = ipnet::Ipv4Net::new(v4, prefix)
    {
        return IpNet::V4(v4net);
    }
    net
}
