//! Any bytes as an OpenAPI document: loading and compiling it never panics, a
//! refusal says something, and a spec that compiles can route any request.
//! Specs come from API teams and third parties, so the loader, the `$ref`
//! bundler and the schema compiler are parsers of untrusted input too.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use http::Method;
use libfuzzer_sys::fuzz_target;
use rampart_openapi::OpenApiConfig;

/// A directory of this process's own, holding the one spec file rewritten
/// for every input (the loader reads specs from files, as the gateway does).
fn spec_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rampart-fuzz-spec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

fn config() -> &'static OpenApiConfig {
    static CONFIG: OnceLock<OpenApiConfig> = OnceLock::new();
    CONFIG.get_or_init(|| serde_saphyr::from_str("spec: spec.yaml").expect("fixed config parses"))
}

const PROBES: [(&str, &str); 5] = [
    ("GET", "/"),
    ("GET", "/pets/1"),
    ("POST", "/v1/users"),
    ("DELETE", "/a/b/c;x=1"),
    ("PATCH", "/%2e%2e/x"),
];

fuzz_target!(|data: &[u8]| {
    let dir = spec_dir();
    if std::fs::write(dir.join("spec.yaml"), data).is_err() {
        return;
    }
    match config().build(dir) {
        Ok(api) => {
            for (method, path) in PROBES {
                let method = Method::from_bytes(method.as_bytes()).expect("fixed method");
                let _ = api.route(&method, path);
            }
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
