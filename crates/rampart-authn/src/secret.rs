//! Secrets in configuration: referenced by file or environment variable, never
//! written inline, and never printed (`Debug` is redacted).

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// Where a secret comes from. Written as `env:NAME` or `file:PATH` like every
/// other secret in the configuration file, or as `{env: NAME}` / `{file: PATH}`.
#[derive(Clone, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "SecretRefForm")]
#[schemars(with = "SecretRefForm")]
pub enum SecretRef {
    /// Read the file (trailing newlines are trimmed).
    File(PathBuf),
    /// Read the environment variable.
    Env(String),
}

/// The two ways a [`SecretRef`] is written.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum SecretRefForm {
    /// `env:NAME` or `file:PATH`.
    Reference(String),
    /// `{env: NAME}` or `{file: PATH}`.
    Tagged(TaggedSecretRef),
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum TaggedSecretRef {
    /// Read the file (trailing newlines are trimmed).
    File(PathBuf),
    /// Read the environment variable.
    Env(String),
}

impl TryFrom<SecretRefForm> for SecretRef {
    type Error = &'static str;

    fn try_from(form: SecretRefForm) -> Result<Self, Self::Error> {
        const NOT_A_REFERENCE: &str = "a secret must be a reference, `env:NAME` or `file:PATH`";
        match form {
            SecretRefForm::Reference(text) => {
                if let Some(name) = text.strip_prefix("env:").filter(|n| !n.is_empty()) {
                    Ok(SecretRef::Env(name.to_string()))
                } else if let Some(path) = text.strip_prefix("file:").filter(|p| !p.is_empty()) {
                    Ok(SecretRef::File(PathBuf::from(path)))
                } else {
                    Err(NOT_A_REFERENCE)
                }
            }
            SecretRefForm::Tagged(TaggedSecretRef::File(path)) => Ok(SecretRef::File(path)),
            SecretRefForm::Tagged(TaggedSecretRef::Env(name)) => Ok(SecretRef::Env(name)),
        }
    }
}

impl SecretRef {
    /// The same reference with a relative file path taken from `dir` (the
    /// configuration file's directory).
    pub fn relative_to(&self, dir: &std::path::Path) -> Self {
        match self {
            SecretRef::File(path) => SecretRef::File(dir.join(path)),
            SecretRef::Env(name) => SecretRef::Env(name.clone()),
        }
    }
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
    fn both_written_forms_parse_and_inline_secrets_are_refused() {
        let parse = |yaml: &str| serde_json::from_str::<SecretRef>(yaml);
        assert!(matches!(parse(r#""env:PEPPER""#).unwrap(), SecretRef::Env(n) if n == "PEPPER"));
        assert!(
            matches!(parse(r#""file:p.txt""#).unwrap(), SecretRef::File(p) if p == std::path::Path::new("p.txt"))
        );
        assert!(
            matches!(parse(r#"{"env": "PEPPER"}"#).unwrap(), SecretRef::Env(n) if n == "PEPPER")
        );
        assert!(matches!(
            parse(r#"{"file": "/p"}"#).unwrap(),
            SecretRef::File(_)
        ));
        let inline = parse(r#""hunter2-hunter2""#).unwrap_err().to_string();
        assert!(inline.contains("must be a reference"), "{inline}");
        assert!(!inline.contains("hunter2"), "{inline}");
        assert!(parse(r#""env:""#).is_err());
        assert!(parse(r#"{"inline": "x"}"#).is_err());
    }

    #[test]
    fn relative_files_are_taken_from_the_config_directory() {
        let dir = std::path::Path::new("/etc/rampart");
        let SecretRef::File(path) = SecretRef::File("pepper".into()).relative_to(dir) else {
            panic!()
        };
        assert_eq!(path, dir.join("pepper"));
        let SecretRef::File(path) = SecretRef::File("/abs".into()).relative_to(dir) else {
            panic!()
        };
        assert_eq!(path, std::path::Path::new("/abs"));
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
