//! Secret references in this crate's sections: `env:NAME` or `file:PATH`, the
//! same syntax and semantics as `rampart_config::SecretRef` (inline values are
//! refused; a file's trailing CR/LF are trimmed).
//!
//! Why not `rampart_config::SecretRef` itself: `rampart-config` embeds adapter
//! sections (as it does `rampart_redis::RedisStoreConfig`), so it must be able to
//! depend on this crate; depending on it here would make that a cycle.

use std::path::{Path, PathBuf};

/// Why a secret reference could not be resolved. Never contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretRefError {
    /// The value is neither `env:NAME` nor `file:PATH`.
    #[error("a secret must be a reference, `env:NAME` or `file:PATH`")]
    NotAReference,
    /// The environment variable is unset or not UTF-8.
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    /// The file could not be read.
    #[error("cannot read secret file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Largest secret file read (a pepper or password, not a document).
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// The same reference with a relative `file:` path taken from `dir` (the
/// configuration's directory), as every other path in the configuration is.
/// Absolute paths and `env:` references are returned unchanged.
pub fn relative_to(reference: &str, dir: &Path) -> String {
    match reference.strip_prefix("file:").filter(|p| !p.is_empty()) {
        Some(path) => format!("file:{}", dir.join(path).display()),
        None => reference.to_string(),
    }
}

/// Resolves `env:NAME` or `file:PATH` (relative paths from the working directory).
pub fn resolve(reference: &str) -> Result<String, SecretRefError> {
    if let Some(name) = reference.strip_prefix("env:").filter(|n| !n.is_empty()) {
        return std::env::var(name).map_err(|_| SecretRefError::MissingEnv(name.to_string()));
    }
    let Some(path) = reference.strip_prefix("file:").filter(|p| !p.is_empty()) else {
        return Err(SecretRefError::NotAReference);
    };
    let path = PathBuf::from(path);
    let read = || -> std::io::Result<String> {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(&path)?
            .take(MAX_SECRET_FILE)
            .read_to_string(&mut text)?;
        Ok(text)
    };
    read()
        .map(|text| text.trim_end_matches(['\r', '\n']).to_string())
        .map_err(|source| SecretRefError::File { path, source })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_and_inline_values_are_refused() {
        for inline in ["hunter2", "env:", "file:", "ENV:X", ""] {
            assert!(
                matches!(resolve(inline), Err(SecretRefError::NotAReference)),
                "{inline}"
            );
        }
        let path =
            std::env::temp_dir().join(format!("rampart-adapters-secret-{}", std::process::id()));
        std::fs::write(&path, "s3cret\r\n").unwrap();
        assert_eq!(
            resolve(&format!("file:{}", path.display())).unwrap(),
            "s3cret"
        );
        let err = resolve("env:RAMPART_ADAPTERS_SURELY_UNSET")
            .unwrap_err()
            .to_string();
        assert!(err.contains("RAMPART_ADAPTERS_SURELY_UNSET"), "{err}");
        assert!(matches!(
            resolve("file:/nonexistent/rampart/secret"),
            Err(SecretRefError::File { .. })
        ));
    }
}
