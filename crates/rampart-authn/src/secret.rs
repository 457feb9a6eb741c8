//! Secrets in configuration: referenced by file or environment variable, never
//! written inline, and never printed (`Debug` is redacted).

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// Where a secret comes from.
#[derive(Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SecretRef {
    /// Read the file (trailing newlines are trimmed).
    File(PathBuf),
    /// Read the environment variable.
    Env(String),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::File(path) => write!(f, "SecretRef::File({})", path.display()),
            SecretRef::Env(name) => write!(f, "SecretRef::Env({name})"),
        }
    }
}

/// Why a secret could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file could not be read.
    #[error("cannot read secret file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The environment variable is unset or not UTF-8.
    #[error("environment variable {0} is unset")]
    Env(String),
}

impl SecretRef {
    /// Loads the secret bytes (at configuration time only).
    pub fn load(&self) -> Result<Secret, SecretError> {
        let mut bytes = match self {
            SecretRef::File(path) => std::fs::read(path).map_err(|source| SecretError::File {
                path: path.clone(),
                source,
            })?,
            SecretRef::Env(name) => std::env::var(name)
                .map_err(|_| SecretError::Env(name.clone()))?
                .into_bytes(),
        };
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        Ok(Secret(bytes))
    }
}

/// Secret bytes whose `Debug` prints nothing of them.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let secret = Secret::new(b"hunter2-hunter2".to_vec());
        let printed = format!("{secret:?}");
        assert!(!printed.contains("hunter2"));
    }

    #[test]
    fn file_secret_is_trimmed() {
        let dir = std::env::temp_dir().join(format!("rampart-secret-{}", std::process::id()));
        std::fs::write(&dir, b"abc\n").unwrap();
        let secret = SecretRef::File(dir.clone()).load().unwrap();
        assert_eq!(secret.expose(), b"abc");
        std::fs::remove_file(dir).unwrap();
    }
}
