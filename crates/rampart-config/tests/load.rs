//! Loading configuration files: valid ones load, every invalid one is refused with
//! file, line and field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use rampart_config::{AuditSink, TlsMinVersion, load_str};

const FILE: &str = "/etc/rampart/test.yaml";

fn errors_of(text: &str) -> Vec<String> {
    match load_str(Path::new(FILE), text) {
        Ok(_) => panic!("config should have been refused"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn minimal_config_loads_with_defaults() {
    let config = load_str(
        Path::new(FILE),
        "listeners:\n  - bind: 127.0.0.1:8080\napis:\n  - name: users\n    upstream:\n      url: http://127.0.0.1:3000\n",
    )
    .unwrap();
    assert_eq!(config.listeners[0].bind.port(), 8080);
    assert_eq!(config.admin_bind.to_string(), "127.0.0.1:9901");
    assert_eq!(config.apis[0].path_prefix, "/");
    assert_eq!(config.apis[0].max_body_bytes, 1 << 20);
    assert_eq!(config.audit.sinks, vec![AuditSink::Stdout]);
    assert_eq!(config.limits.max_headers, 100);
    assert_eq!(
        config.apis[0].upstream.response_body_timeout,
        std::time::Duration::from_secs(60)
    );
}

#[test]
fn an_empty_audit_sink_list_is_refused_not_read_as_stdout() {
    // `sinks: []` once meant stdout without a word: whoever wrote it to turn
    // the audit log off got it on stdout instead.
    let errors = errors_of(
        "listeners:\n  - bind: 127.0.0.1:8080\naudit:\n  sinks: []\napis:\n  - name: users\n    upstream:\n      url: http://127.0.0.1:3000\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("/etc/rampart/test.yaml:4: audit.sinks: must list at least one sink"),
        "{errors:?}"
    );
    // Listed sinks are taken as listed; no `sinks` key is the default, stdout.
    let config = load_str(
        Path::new(FILE),
        "listeners:\n  - bind: 127.0.0.1:8080\naudit:\n  sinks:\n    - stdout: {}\n    - file: {path: /var/log/rampart/audit.jsonl}\napis:\n  - name: users\n    upstream:\n      url: http://127.0.0.1:3000\n",
    )
    .unwrap();
    assert_eq!(config.audit.sinks.len(), 2);
    assert_eq!(config.audit.sinks[0], AuditSink::Stdout);
    let config = load_str(
        Path::new(FILE),
        "listeners:\n  - bind: 127.0.0.1:8080\naudit:\n  queue_capacity: 10\napis:\n  - name: users\n    upstream:\n      url: http://127.0.0.1:3000\n",
    )
    .unwrap();
    assert_eq!(config.audit.sinks, vec![AuditSink::Stdout]);
}

#[test]
fn empty_listener_and_api_lists_are_refused_with_their_lines() {
    let errors = errors_of("# nothing to serve\nlisteners: []\napis: []\n");
    assert_eq!(
        errors,
        vec![
            "/etc/rampart/test.yaml:2: listeners: at least one listener is required".to_string(),
            "/etc/rampart/test.yaml:3: apis: at least one API is required".to_string(),
        ]
    );
}

#[test]
fn an_address_used_twice_is_named_by_its_own_index_and_line() {
    // The first listener's address is refused; the others are still named as
    // the file has them (listeners[3] on line 5 repeats listeners[1];
    // listeners[2] takes the admin listener's default address), not by their
    // place among the valid ones.
    let errors = errors_of(
        "listeners:\n  - bind: nowhere\n  - bind: 127.0.0.1:8080\n  - bind: 127.0.0.1:9901\n  - bind: 127.0.0.1:8080\napis:\n  - name: users\n    upstream:\n      url: http://127.0.0.1:3000\n",
    );
    assert_eq!(
        errors,
        vec![
            "/etc/rampart/test.yaml:2: listeners[0].bind: `nowhere` is not an address like 127.0.0.1:8080".to_string(),
            "/etc/rampart/test.yaml:4: listeners[2].bind: address 127.0.0.1:9901 is used twice".to_string(),
            "/etc/rampart/test.yaml:5: listeners[3].bind: address 127.0.0.1:8080 is used twice".to_string(),
        ]
    );
}

/// Two sockets that would refuse each other are refused up front: a wildcard
/// address and one it covers on the same port (`[::]` is dual-stack, so it
/// covers IPv4 too), against another listener or the admin listener. Those
/// that can share a port are not.
#[test]
fn overlapping_binds_are_refused_with_their_index_and_line() {
    let errors = errors_of(
        "listeners:\n  - bind: 0.0.0.0:8080\n  - bind: 127.0.0.1:8080\n  - bind: \"[::]:8081\"\n  - bind: 10.0.0.1:8081\n  - bind: 0.0.0.0:9901\n  - bind: \"[::ffff:127.0.0.1]:8082\"\n  - bind: 127.0.0.1:8082\napis:\n  - name: users\n    upstream:\n      url: http://127.0.0.1:3000\n",
    );
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(errors[0].starts_with("/etc/rampart/test.yaml:3: listeners[1].bind: address 127.0.0.1:8080 overlaps listeners[0].bind 0.0.0.0:8080"), "{errors:#?}");
    assert!(errors[1].starts_with("/etc/rampart/test.yaml:5: listeners[3].bind: address 10.0.0.1:8081 overlaps listeners[2].bind [::]:8081"), "{errors:#?}");
    assert!(errors[2].starts_with("/etc/rampart/test.yaml:6: listeners[4].bind: address 0.0.0.0:9901 overlaps the admin listener's 127.0.0.1:9901"), "{errors:#?}");
    assert!(errors[3].starts_with("/etc/rampart/test.yaml:8: listeners[6].bind: address 127.0.0.1:8082 overlaps listeners[5].bind [::ffff:127.0.0.1]:8082"), "{errors:#?}");

    // Different addresses, or families a wildcard does not cover, share a port.
    load_str(
        Path::new(FILE),
        "listeners:\n  - bind: 127.0.0.1:8080\n  - bind: 127.0.0.2:8080\n  - bind: 0.0.0.0:8083\n  - bind: \"[::1]:8083\"\n  - bind: 127.0.0.1:0\n  - bind: 0.0.0.0:0\napis:\n  - name: users\n    upstream:\n      url: http://127.0.0.1:3000\n",
    )
    .unwrap();
}

#[test]
fn an_unknown_dotted_key_is_reported_at_the_object_holding_it() {
    // The key's own dot is not a level of the path.
    let errors = errors_of(
        "listeners:\n  - bind: 127.0.0.1:8080\napis:\n  - name: a\n    upstream.url: http://x\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("/etc/rampart/test.yaml:5: apis[0]: unknown field `upstream.url`"),
        "{errors:?}"
    );
}

#[test]
fn listener_names_are_plain_and_unique() {
    let errors = errors_of(
        "listeners:\n  - {name: public, bind: 127.0.0.1:8080}\n  - {name: public, bind: 127.0.0.1:8081}\n  - {name: \"\", bind: 127.0.0.1:8082}\n  - {name: \"my api\", bind: 127.0.0.1:8083}\napis:\n  - name: a\n    upstream: {url: http://127.0.0.1:1}\n",
    );
    assert_eq!(
        errors,
        vec![
            "/etc/rampart/test.yaml:4: listeners[2].name: must be non-empty letters, digits, `-`, `_` or `.`".to_string(),
            "/etc/rampart/test.yaml:5: listeners[3].name: must be non-empty letters, digits, `-`, `_` or `.`".to_string(),
            "/etc/rampart/test.yaml:3: listeners[1].name: duplicate listener name `public`".to_string(),
        ]
    );
    let config = load_str(
        Path::new(FILE),
        "listeners:\n  - {name: public, bind: 127.0.0.1:8080}\n  - bind: 127.0.0.1:8081\napis:\n  - name: a\n    upstream: {url: http://127.0.0.1:1}\n",
    )
    .unwrap();
    assert_eq!(config.listeners[0].name, "public");
    assert_eq!(config.listeners[1].name, "127.0.0.1:8081");
}

#[test]
fn unknown_key_is_refused_with_its_line() {
    let errors = errors_of("listeners:\n  - bind: 127.0.0.1:8080\n    colour: blue\napis: []\n");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("/etc/rampart/test.yaml:3"),
        "{errors:?}"
    );
    assert!(errors[0].contains("colour"), "{errors:?}");
}

#[test]
fn parse_errors_name_the_field_path_through_engine_sections() {
    // An unknown key inside an engine section is named by its object's path.
    let errors = errors_of(
        "listeners:\n  - bind: 127.0.0.1:8080\napis:\n  - name: a\n    upstream: {url: http://x}\n    rate_limit:\n      pre_auth:\n        - {name: l, key: client_ip, rate: 5, per: 1m, rout: [x]}\n",
    );
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(
            "/etc/rampart/test.yaml:8: apis[0].rate_limit.pre_auth[0]: unknown field `rout`"
        ),
        "{errors:?}"
    );
    // The location is given once, in front.
    assert!(!errors[0].contains("column"), "{errors:?}");
    // A bad value is named by its own field; keys with spaces are quoted.
    let errors = errors_of(
        "listeners:\n  - bind: 127.0.0.1:8080\napis:\n  - name: a\n    upstream: {url: http://x}\n    authz:\n      operations:\n        \"GET /x\": {public: maybe}\n",
    );
    assert!(
        errors[0]
            .starts_with("/etc/rampart/test.yaml:8: apis[0].authz.operations[\"GET /x\"].public:"),
        "{errors:?}"
    );
}

#[test]
fn every_semantic_error_is_listed_with_line_and_field() {
    let text = "\
listeners:
  - bind: not-an-address
limits:
  header_read_timeout: 10 parsecs
trusted_proxies: [10.0.0.0/33]
apis:
  - name: users
    path_prefix: users
    upstream:
      url: ftp://example.com
      connect_timeout: 0s
      response_body_timeout: 0s
";
    let errors = errors_of(text);
    let expect = [
        (":2: listeners[0].bind", "not-an-address"),
        (":4: limits.header_read_timeout", "unknown unit"),
        (":5: trusted_proxies[0]", "not an IP or CIDR"),
        (":8: apis[0].path_prefix", "must start with"),
        (":10: apis[0].upstream.url", "http://"),
        (":11: apis[0].upstream.connect_timeout", "greater than zero"),
        (
            ":12: apis[0].upstream.response_body_timeout",
            "greater than zero",
        ),
    ];
    for (place, words) in expect {
        assert!(
            errors
                .iter()
                .any(|e| e.contains(place) && e.contains(words)),
            "missing {place} {words} in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), expect.len(), "{errors:#?}");
}

#[test]
fn trusting_every_address_is_refused_and_refused_urls_keep_their_secrets() {
    let errors = errors_of(
        "listeners:\n  - bind: 127.0.0.1:8080\ntrusted_proxies: [10.0.0.0/8, 0.0.0.0/0, \"::/0\"]\napis:\n  - name: a\n    upstream: {url: \"https://svc:S3cret@up:8443/base?token=T0ken\"}\n",
    );
    for place in ["trusted_proxies[1]", "trusted_proxies[2]"] {
        assert!(
            errors
                .iter()
                .any(|e| e.contains(place) && e.contains("trusts every address")),
            "{errors:#?}"
        );
    }
    assert!(!errors.iter().any(|e| e.contains("trusted_proxies[0]")));
    let url_error = errors
        .iter()
        .find(|e| e.contains("apis[0].upstream.url"))
        .unwrap();
    assert!(
        url_error.contains("https://…@up:8443/base?…"),
        "{url_error}"
    );
    assert!(!url_error.contains("S3cret") && !url_error.contains("T0ken"));
    // A password holding `/`, `?` or `#` (base64 does) is cut at the last `@`.
    for (url, secret) in [
        ("https://svc:ab/cd@up:8443", "ab/cd"),
        ("https://svc:p?ss@up:8443#frag", "p?ss"),
        ("https://svc:p#ss@up:8443", "p#ss"),
        ("https://up:8443/a#Fr4gment", "Fr4gment"),
    ] {
        let errors = errors_of(&format!(
            "listeners:\n  - bind: 127.0.0.1:8080\napis:\n  - name: a\n    upstream: {{url: \"{url}\"}}\n"
        ));
        let url_error = errors
            .iter()
            .find(|e| e.contains("apis[0].upstream.url"))
            .unwrap();
        assert!(!url_error.contains(secret), "{url}: {url_error}");
        assert!(url_error.contains("up:8443"), "{url}: {url_error}");
    }
    // A single proxy, or a network of them, is fine.
    load_str(
        Path::new(FILE),
        "listeners:\n  - bind: 127.0.0.1:8080\ntrusted_proxies: [10.0.0.0/8, 192.0.2.1, \"2001:db8::/32\"]\napis:\n  - name: a\n    upstream: {url: http://127.0.0.1:3000}\n",
    )
    .unwrap();
    // An IPv4-mapped range means its IPv4 addresses (the gateway names a
    // dual-stack listener's IPv4 clients so).
    let config = load_str(
        Path::new(FILE),
        "listeners:\n  - bind: 127.0.0.1:8080\ntrusted_proxies: [\"::ffff:10.0.0.0/104\", \"::ffff:192.0.2.1\"]\napis:\n  - name: a\n    upstream: {url: http://127.0.0.1:3000}\n",
    )
    .unwrap();
    let nets: Vec<String> = config
        .trusted_proxies
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(nets, ["10.0.0.0/8", "192.0.2.1/32"]);
}

#[test]
fn two_sinks_on_one_file_are_refused() {
    let errors = errors_of(
        "listeners:\n  - bind: 127.0.0.1:8080\naudit:\n  sinks:\n    - file: {path: audit.log}\n    - stdout: {}\n    - file: {path: ./audit.log}\napis:\n  - name: a\n    upstream: {url: http://127.0.0.1:3000}\n",
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains(":7: audit.sinks[2].file.path")
                && e.contains("already another sink's file")),
        "{errors:#?}"
    );
    assert_eq!(errors.len(), 1, "{errors:#?}");
}

#[test]
fn tls_files_must_exist_and_versions_are_checked() {
    let text = "\
listeners:
  - bind: 127.0.0.1:8443
    tls:
      cert: /nonexistent/cert.pem
      key: /nonexistent/key.pem
      min_version: \"1.1\"
apis:
  - name: a
    upstream: {url: http://127.0.0.1:1}
";
    let errors = errors_of(text);
    assert!(
        errors
            .iter()
            .any(|e| e.contains(":4: listeners[0].tls.cert")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains(":5: listeners[0].tls.key")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains(":6: listeners[0].tls.min_version")),
        "{errors:#?}"
    );
    let _ = TlsMinVersion::Tls13;
}

#[test]
fn values_the_gateway_could_not_use_are_refused_not_reinterpreted() {
    // Each would have been accepted and then panicked (a semaphore of more
    // permits than tokio allows), allocated per request, stalled rotation,
    // dropped HSTS, never matched a request or dropped part of a URL.
    let text = "\
listeners:
  - bind: 127.0.0.1:8443
    tls:
      cert: /nonexistent/cert.pem
      key: /nonexistent/key.pem
      hsts: \"max-age=1\\u00e9; \\x01\"
limits:
  max_connections: 18446744073709551615
  max_in_flight: 10000001
  max_headers: 100000000
audit:
  queue_capacity: 99999999999
  sinks:
    - file: {path: /tmp/audit.jsonl, keep: 1000000000000}
    - file: {path: /tmp/audit2.jsonl, keep: 0}
apis:
  - name: a
    hosts: [api.example.com:8443, \"*.example.com\", \"\", user@api.example.com]
    upstream: {url: \"http://user:pw@127.0.0.1:1\"}
  - name: b
    upstream: {url: \"http://127.0.0.1:1/v1#top\"}
  - name: c
    upstream:
      url: http://127.0.0.1:2
      max_idle_connections: 10000001
";
    let errors = errors_of(text);
    for expected in [
        ":6: listeners[0].tls.hsts: must be a header value",
        ":8: limits.max_connections: must be at most 10000000",
        ":9: limits.max_in_flight: must be at most 10000000",
        ":10: limits.max_headers: must be at most 10000",
        ":12: audit.queue_capacity: must be at most 10000000",
        ":14: audit.sinks[0].file.keep: must be at most 10000",
        ":15: audit.sinks[1].file.keep: must be greater than zero",
        ":18: apis[0].hosts[0]: `api.example.com:8443` is not a host name",
        ":18: apis[0].hosts[1]: `*.example.com` is not a host name",
        ":18: apis[0].hosts[2]: `` is not a host name",
        ":18: apis[0].hosts[3]: `user@api.example.com` is not a host name",
        ":19: apis[0].upstream.url: `http://…@127.0.0.1:1` is not an http:// or https:// URL",
        ":21: apis[1].upstream.url: `http://127.0.0.1:1/v1#…` is not an http:// or https:// URL",
        ":25: apis[2].upstream.max_idle_connections: must be at most 10000000",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "no {expected:?} in {errors:#?}"
        );
    }

    // The same kinds of value within bounds load.
    let config = load_str(
        Path::new(FILE),
        "\
listeners:
  - bind: 127.0.0.1:8080
limits: {max_connections: 10000000, max_in_flight: 5, max_headers: 10000}
audit:
  queue_capacity: 10000000
  sinks: [file: {path: /tmp/audit.jsonl, keep: 10000}]
apis:
  - name: a
    hosts: [API.example.com, 127.0.0.1, \"[::1]\"]
    upstream: {url: \"http://127.0.0.1:1/v1\"}
",
    )
    .unwrap();
    assert_eq!(config.limits.max_connections, 10_000_000);
    assert_eq!(config.limits.max_headers, 10_000);
    assert_eq!(
        config.apis[0].hosts,
        vec!["api.example.com", "127.0.0.1", "[::1]"]
    );
}

#[test]
fn an_openapi_body_limit_past_the_apis_is_refused() {
    // The gateway buffers at most the API's max_body_bytes for any stage.
    let text = "\
listeners:
  - bind: 127.0.0.1:8080
apis:
  - name: a
    max_body_bytes: 1MiB
    upstream: {url: http://127.0.0.1:1}
    openapi:
      spec: spec.yaml
      limits: {max_body_bytes: 10485760}
      operations:
        upload: {limits: {max_body_bytes: 2097152}}
        small: {limits: {max_body_bytes: 1024}}
";
    let errors = errors_of(text);
    assert_eq!(
        errors,
        vec![
            "/etc/rampart/test.yaml:8: apis[0].openapi.limits.max_body_bytes: 10485760 exceeds the API's max_body_bytes (1048576): larger bodies are refused with 413 before this limit is checked".to_string(),
            "/etc/rampart/test.yaml:8: apis[0].openapi.operations[\"upload\"].limits.max_body_bytes: 2097152 exceeds the API's max_body_bytes (1048576): larger bodies are refused with 413 before this limit is checked".to_string(),
        ]
    );
}

#[test]
fn a_written_waf_body_limit_past_the_apis_is_refused() {
    // Written above the API's limit: refused; the 128 KiB default above a
    // smaller API limit and a written value within it are fine.
    let api = |name: &str, max: &str, waf: &str| {
        format!(
            "  - name: {name}\n    path_prefix: /{name}\n    max_body_bytes: {max}\n    upstream: {{url: http://127.0.0.1:1}}\n    waf: {{rules: [crs-setup.conf]{waf}}}\n"
        )
    };
    let text = format!(
        "listeners:\n  - bind: 127.0.0.1:8080\napis:\n{}{}{}{}",
        api("big", "64KiB", ", request_body_limit: 1048576"),
        api("default", "64KiB", ""),
        api("within", "1MiB", ", request_body_limit: 1048576"),
        api("off", "64KiB", ", request_body_limit: null"),
    );
    assert_eq!(
        errors_of(&text),
        vec![
            "/etc/rampart/test.yaml:8: apis[0].waf.request_body_limit: 1048576 exceeds the API's max_body_bytes (65536): larger bodies are refused with 413 before the WAF sees them".to_string(),
        ]
    );
}

#[test]
fn redis_key_prefixes_too_long_are_named_where_they_are_written() {
    // 50 bytes of prefix: an API name of 13 bytes fits (50 + 13 + ":" = 64),
    // one of 14 does not, and is named by its own line. An API without rate
    // limits keeps no counters in Redis.
    let prefix = "p".repeat(50);
    let api = |name: &str, limits: bool| {
        format!(
            "  - name: {name}\n    path_prefix: /{name}\n    upstream: {{url: http://127.0.0.1:1}}\n{}",
            if limits {
                "    rate_limit: {pre_auth: [{name: ip, key: client_ip, rate: 10, per: 1s}]}\n"
            } else {
                ""
            }
        )
    };
    let head = "listeners:\n  - bind: 127.0.0.1:8080\n";
    let text = format!(
        "{head}redis:\n  url: redis://127.0.0.1:1\n  key_prefix: {prefix}\napis:\n{}{}{}",
        api("thirteen-byte", true),
        api("fourteen-bytes", true),
        api("fourteen-bytes-no-limits", false),
    );
    assert_eq!(
        errors_of(&text),
        vec![format!(
            "/etc/rampart/test.yaml:11: apis[1].name: this API's Redis counters would live under `{prefix}fourteen-bytes:`, 65 bytes, more than 64 (shorten the name or redis.key_prefix)"
        )]
    );
    // A prefix too long on its own is the redis section's error, once.
    let text = format!(
        "{head}redis:\n  url: redis://127.0.0.1:1\n  key_prefix: {}\napis:\n{}",
        "p".repeat(65),
        api("a", true),
    );
    assert_eq!(
        errors_of(&text),
        vec!["/etc/rampart/test.yaml:4: redis.key_prefix: at most 64 bytes, no braces".to_string()]
    );
}

#[test]
fn two_apis_for_the_same_host_and_prefix_are_refused() {
    let text = "\
listeners:
  - bind: 127.0.0.1:8080
apis:
  - name: first
    path_prefix: /v1
    upstream: {url: http://127.0.0.1:1}
  - name: second
    hosts: [a.example.com]
    path_prefix: /v1
    upstream: {url: http://127.0.0.1:2}
  - name: third
    path_prefix: /v1
    upstream: {url: http://127.0.0.1:3}
  - name: fourth
    hosts: [b.example.com, A.example.com]
    path_prefix: /v1
    upstream: {url: http://127.0.0.1:4}
";
    let errors = errors_of(text);
    assert_eq!(
        errors,
        vec![
            "/etc/rampart/test.yaml:11: apis[2]: routes any host and path prefix `/v1` like apis[0]: one of them would get no traffic".to_string(),
            "/etc/rampart/test.yaml:14: apis[3]: routes host `a.example.com` and path prefix `/v1` like apis[1]: one of them would get no traffic".to_string(),
        ]
    );
}

#[test]
fn duplicate_api_names_and_addresses_are_refused() {
    let text = "\
listeners:
  - bind: 127.0.0.1:9901
apis:
  - name: a
    upstream: {url: http://127.0.0.1:1}
  - name: a
    upstream: {url: http://127.0.0.1:2}
";
    let errors = errors_of(text);
    assert!(
        errors
            .iter()
            .any(|e| e.contains(":6: apis[1].name") && e.contains("duplicate")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("listeners[0].bind") && e.contains("twice")),
        "{errors:#?}"
    );
}

#[test]
fn malformed_yaml_is_an_error_not_a_panic() {
    for text in [
        "",
        ":",
        "listeners: [",
        "apis: {a: [}",
        "\t- x",
        "listeners: 5\napis: x\n",
    ] {
        assert!(load_str(Path::new(FILE), text).is_err(), "{text:?}");
    }
}

#[test]
fn schema_names_top_level_sections() {
    let schema = rampart_config::json_schema();
    let properties = &schema["properties"];
    for key in [
        "listeners",
        "admin",
        "limits",
        "trusted_proxies",
        "audit",
        "apis",
    ] {
        assert!(properties.get(key).is_some(), "schema lacks {key}");
    }
    assert_eq!(schema["additionalProperties"], false);
}

#[test]
fn published_schema_is_up_to_date() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.schema.json");
    let published: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        published,
        rampart_config::json_schema(),
        "docs/config.schema.json is stale: run `cargo run -p rampart -- config-schema > docs/config.schema.json`"
    );
}

#[test]
fn an_admin_token_on_a_non_loopback_admin_bind_is_a_warning() {
    // The admin listener is plain HTTP: its bearer token would cross the
    // network in clear. Accepted (a private network may be meant), but said.
    let config = |admin: &str, token: bool| {
        let identity = if token {
            "identity:\n  admin_token: env:RAMPART_ADMIN_TOKEN\n"
        } else {
            ""
        };
        format!(
            "listeners:\n  - bind: 127.0.0.1:8080\nadmin:\n  bind: {admin}\n{identity}apis:\n  - name: users\n    upstream:\n      url: http://127.0.0.1:3000\n"
        )
    };
    let warnings = |text: &str| -> Vec<String> {
        load_str(Path::new(FILE), text)
            .unwrap()
            .warnings()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    for admin in ["0.0.0.0:9901", "10.0.0.5:9901", "\"[::]:9901\""] {
        let found = warnings(&config(admin, true));
        assert_eq!(found.len(), 1, "{admin}: {found:?}");
        assert!(
            found[0].starts_with("/etc/rampart/test.yaml:4: admin.bind: ")
                && found[0].contains("not a loopback address"),
            "{found:?}"
        );
    }
    for admin in ["127.0.0.1:9901", "127.0.0.2:9901", "\"[::1]:9901\""] {
        assert!(warnings(&config(admin, true)).is_empty(), "{admin}");
    }
    // Without a token there is no /revocations and nothing secret to leak.
    assert!(warnings(&config("0.0.0.0:9901", false)).is_empty());
}

/// The warnings of a configuration whose one API (`shop`) has this `authn`
/// section (indented under `    authn:`).
fn authn_warnings(authn: &str) -> Vec<String> {
    let text = format!(
        "listeners:\n  - bind: 127.0.0.1:8080\napis:\n  - name: shop\n    upstream: {{url: http://127.0.0.1:3000}}\n    authn:\n{authn}"
    );
    load_str(Path::new(FILE), &text)
        .unwrap()
        .warnings()
        .iter()
        .map(ToString::to_string)
        .collect()
}

const COMPANY: &str = "        - {issuer: https://idp.example, audiences: [shop], algorithms: [EdDSA], jwks_url: https://idp.example/jwks}\n";

fn partner(prefix: &str) -> String {
    format!(
        "        - {{issuer: https://partner.example, audiences: [shop], algorithms: [EdDSA], jwks_url: https://partner.example/jwks{prefix}}}\n"
    )
}

fn introspection(more: &str) -> String {
    format!(
        "      introspection: {{endpoint: https://idp.example/introspect, client_id: shop, client_secret: env:SECRET, audiences: [shop]{more}}}\n"
    )
}

#[test]
fn two_identity_providers_sharing_a_consumer_namespace_is_a_warning() {
    // A partner's `alice` would be the company's `alice`: same objects, same
    // rate-limit buckets, same lock-out. Accepted (refusing would break
    // running deployments), but said, naming the API and both issuers.
    let found = authn_warnings(&format!(
        "      jwt:\n        issuers:\n{COMPANY}{}",
        partner("")
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    let warning = &found[0];
    assert!(
        warning
            .starts_with("/etc/rampart/test.yaml:7: apis[0].authn: API `shop` accepts tokens of "),
        "{warning}"
    );
    for part in [
        "jwt.issuers[0] (`https://idp.example`)",
        "jwt.issuers[1] (`https://partner.example`)",
        "none has a consumer_prefix",
        "give each identity provider a distinct consumer_prefix",
        "or leave at most one without",
        "falls in another provider's namespace are refused",
    ] {
        assert!(warning.contains(part), "{part}: {warning}");
    }
    // The same prefix on both is one namespace too.
    let found = authn_warnings(&format!(
        "      jwt:\n        issuers:\n{}{}",
        COMPANY.replace('}', ", consumer_prefix: \"ext:\"}"),
        partner(", consumer_prefix: \"ext:\"")
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("all have consumer_prefix `ext:`"),
        "{found:?}"
    );
    // A JWT issuer and introspection of an unnamed issuer.
    let found = authn_warnings(&format!(
        "      jwt:\n        issuers:\n{COMPANY}{}",
        introspection("")
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("jwt.issuers[0] (`https://idp.example`) and introspection"),
        "{found:?}"
    );
    // Of three issuers, the two without a prefix share a namespace.
    let third = "        - {issuer: https://third.example, audiences: [shop], algorithms: [EdDSA], jwks_url: https://third.example/jwks}\n";
    let found = authn_warnings(&format!(
        "      jwt:\n        issuers:\n{COMPANY}{}{third}",
        partner(", consumer_prefix: \"partner:\"")
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains(
            "jwt.issuers[0] (`https://idp.example`) and jwt.issuers[2] (`https://third.example`)"
        ) && !found[0].contains("jwt.issuers[1]"),
        "{found:?}"
    );
}

#[test]
fn identity_providers_in_namespaces_of_their_own_are_no_warning() {
    // One token issuer, beside API keys and client certificates: no
    // warning, by choice. Not that nothing could be confused: API keys and
    // mTLS rules name consumers in the unprefixed namespace, so this
    // issuer's `sub: alice` is the certificate's consumer `alice`. The
    // operator names those consumers; the documentation says to give the
    // issuer a consumer_prefix when its subjects could name them.
    let single = format!(
        "      api_key: {{pepper: env:PEPPER}}\n      mtls: {{rules: [{{san: \"URI:spiffe://example.org/billing\", consumer: alice}}]}}\n      jwt:\n        issuers:\n{COMPANY}"
    );
    assert_eq!(authn_warnings(&single), Vec::<String>::new());
    assert_eq!(authn_warnings(&introspection("")), Vec::<String>::new());
    // A prefix on the partner: each has a namespace of its own.
    let prefixed = format!(
        "      jwt:\n        issuers:\n{COMPANY}{}{}",
        partner(", consumer_prefix: \"partner:\""),
        introspection(", consumer_prefix: \"opaque:\"")
    );
    assert_eq!(authn_warnings(&prefixed), Vec::<String>::new());
    // Introspection of the same issuer as a JWT issuer is that identity
    // provider (its opaque tokens), not another one.
    let same = format!(
        "      jwt:\n        issuers:\n{COMPANY}{}",
        introspection(", issuer: https://idp.example")
    );
    assert_eq!(authn_warnings(&same), Vec::<String>::new());
    // With the same prefix on both, too.
    let same = format!(
        "      jwt:\n        issuers:\n{}{}",
        COMPANY.replace('}', ", consumer_prefix: \"idp:\"}"),
        introspection(", issuer: https://idp.example, consumer_prefix: \"idp:\"")
    );
    assert_eq!(authn_warnings(&same), Vec::<String>::new());
    // Prefixes nested in each other, or one without: no warning (tokens whose
    // consumer falls in the other's namespace are refused at run time).
    let nested = format!(
        "      jwt:\n        issuers:\n{}{}",
        COMPANY.replace('}', ", consumer_prefix: \"p:\"}"),
        partner(", consumer_prefix: \"p:x:\"")
    );
    assert_eq!(authn_warnings(&nested), Vec::<String>::new());
}

#[test]
fn introspection_of_a_jwt_issuer_with_another_prefix_is_a_warning() {
    // One identity provider, by JWT and by opaque token: with two prefixes,
    // each of its users would be two consumers (two rate-limit buckets,
    // objects owned by one not by the other).
    for (company, opaque, said) in [
        (
            "",
            ", consumer_prefix: \"idp:\"",
            "has consumer_prefix `idp:` where the issuer has no consumer_prefix",
        ),
        (
            ", consumer_prefix: \"idp:\"",
            "",
            "has no consumer_prefix where the issuer has consumer_prefix `idp:`",
        ),
        (
            ", consumer_prefix: \"a:\"",
            ", consumer_prefix: \"b:\"",
            "has consumer_prefix `b:` where the issuer has consumer_prefix `a:`",
        ),
    ] {
        let found = authn_warnings(&format!(
            "      jwt:\n        issuers:\n{}{}",
            COMPANY.replace('}', &format!("{company}}}")),
            introspection(&format!(", issuer: https://idp.example{opaque}"))
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "/etc/rampart/test.yaml:7: apis[0].authn.introspection.consumer_prefix: API `shop`: introspection is of the issuer of jwt.issuers[0] (`https://idp.example`)"
            ) && found[0].contains(said)
                && found[0].contains("give both the same consumer_prefix"),
            "{found:?}"
        );
    }
    // Introspection of another issuer, with another prefix: two providers
    // in namespaces of their own.
    let found = authn_warnings(&format!(
        "      jwt:\n        issuers:\n{COMPANY}{}",
        introspection(", issuer: https://opaque.example, consumer_prefix: \"opaque:\"")
    ));
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn ownership_comparing_a_claim_across_identity_providers_is_a_warning() {
    // A claim has no prefix: `owner: {claim: sub}` gives the partner's
    // `alice` the company's alice's objects whatever the consumer prefixes.
    // Comparing the consumer (prefixed) tells them apart.
    let authz = |claim: &str| {
        format!(
            "    authz:\n      operations:\n        \"GET /accounts/{{username}}\": {{owner: {{param: username{claim}}}}}\n        \"GET /orders/{{id}}\": {{response_owner: {{field: owner, claim: consumer}}}}\n"
        )
    };
    let two = format!(
        "      jwt:\n        issuers:\n{COMPANY}{}",
        partner(", consumer_prefix: \"partner:\"")
    );
    let found = authn_warnings(&format!("{two}{}", authz("")));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "/etc/rampart/test.yaml:12: apis[0].authz.operations[\"GET /accounts/{username}\"].owner.claim: compares the claim `sub` as each identity provider writes it"
        ) && found[0].contains("jwt.issuers[0] (`https://idp.example`), jwt.issuers[1] (`https://partner.example`)")
            && found[0].contains("claim: consumer"),
        "{found:?}"
    );
    // The consumer: no warning; nor with one identity provider.
    assert_eq!(
        authn_warnings(&format!("{two}{}", authz(", claim: consumer"))),
        Vec::<String>::new()
    );
    assert_eq!(
        authn_warnings(&format!(
            "      jwt:\n        issuers:\n{COMPANY}{}",
            authz("")
        )),
        Vec::<String>::new()
    );
}
