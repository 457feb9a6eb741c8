//! Secrets by reference: `env:NAME` or `file:PATH`, resolved when used, never
//! required inline in a config file.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a secret lives.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable.
    Env(String),
    /// A file; trailing newlines are trimmed.
    File(PathBuf),
}

/// Why a secret could not be resolved. Never contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The reference is neither `env:NAME` nor `file:PATH`.
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

impl SecretRef {
    /// Parses a reference; relative file paths are taken from `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, SecretError> {
        if let Some(name) = text.strip_prefix("env:").filter(|n| !n.is_empty()) {
            Ok(Self::Env(name.to_string()))
        } else if let Some(path) = text.strip_prefix("file:").filter(|p| !p.is_empty()) {
            Ok(Self::File(base_dir.join(path)))
        } else {
            Err(SecretError::NotAReference)
        }
    }

    /// Reads the secret.
    pub fn resolve(&self) -> Result<String, SecretError> {
        match self {
            Self::Env(name) => {
                std::env::var(name).map_err(|_| SecretError::MissingEnv(name.clone()))
            }
            Self::File(path) => std::fs::read_to_string(path)
                .map(|text| text.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                }),
        }
    }
}

// The reference is not secret, but keep Debug output uniform with other wrappers.
impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn inline_secrets_are_refused() {
        assert!(matches!(
            SecretRef::parse("hunter2", Path::new("/")),
            Err(SecretError::NotAReference)
        ));
        assert!(SecretRef::parse("env:", Path::new("/")).is_err());
    }

    #[test]
    fn file_secret_is_read_relative_to_base_and_trimmed() {
        let dir = std::env::temp_dir().join(format!("rampart-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pepper"), "s3cret\n").unwrap();
        let secret = SecretRef::parse("file:pepper", &dir).unwrap();
        assert_eq!(secret.resolve().unwrap(), "s3cret");
        let missing = SecretRef::parse("file:absent", &dir).unwrap();
        assert!(missing.resolve().is_err());
    }

    #[test]
    fn missing_env_is_an_error_naming_the_variable() {
        let secret = SecretRef::parse("env:RAMPART_TEST_SURELY_UNSET_VAR", Path::new("/")).unwrap();
        let err = secret.resolve().unwrap_err().to_string();
        assert!(err.contains("RAMPART_TEST_SURELY_UNSET_VAR"));
    }
}
