//! Secrets in configuration: always by reference, `env:NAME` or `file:PATH`,
//! never inline, and never printed.
//!
//! One type for every section of the configuration file (identity, authn, Redis
//! URLs, ...), so that every secret is written, resolved and refused the same
//! way. References are read at configuration time only.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Largest secret file read: a pepper, password or URL, not a document.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Where a secret comes from. Written as `env:NAME` or `file:PATH`, or as the
/// mapping `{env: NAME}` / `{file: PATH}`; anything else is refused, so a secret
/// can never be written inline by mistake.
#[derive(Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "SecretRefForm")]
#[schemars(with = "SecretRefForm")]
pub enum SecretRef {
    /// Read the environment variable.
    Env(String),
    /// Read the file (trailing CR/LF trimmed).
    File(PathBuf),
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
    /// Read the environment variable.
    Env(String),
    /// Read the file (trailing CR/LF trimmed).
    File(PathBuf),
}

impl TryFrom<SecretRefForm> for SecretRef {
    type Error = SecretError;

    fn try_from(form: SecretRefForm) -> Result<Self, Self::Error> {
        match form {
            SecretRefForm::Reference(text) => SecretRef::parse(&text),
            SecretRefForm::Tagged(TaggedSecretRef::Env(name)) if !name.is_empty() => {
                Ok(SecretRef::Env(name))
            }
            SecretRefForm::Tagged(TaggedSecretRef::File(path)) if !path.as_os_str().is_empty() => {
                Ok(SecretRef::File(path))
            }
            SecretRefForm::Tagged(_) => Err(SecretError::NotAReference),
        }
    }
}

/// Why a secret could not be loaded. Never contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
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
    /// The file is larger than any secret (64 KiB): likely the wrong file.
    #[error("secret file {0} is larger than 64 KiB")]
    TooLarge(PathBuf),
    /// The secret is used as text but is not UTF-8.
    #[error("the secret is not UTF-8 text")]
    NotText,
}

impl SecretRef {
    /// Parses `env:NAME` or `file:PATH`.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        if let Some(name) = text.strip_prefix("env:").filter(|n| !n.is_empty()) {
            Ok(Self::Env(name.to_string()))
        } else if let Some(path) = text.strip_prefix("file:").filter(|p| !p.is_empty()) {
            Ok(Self::File(PathBuf::from(path)))
        } else {
            Err(SecretError::NotAReference)
        }
    }

    /// Whether `text` is written as a reference (`env:` or `file:`), for fields
    /// that take either a plain value or a reference to one (a Redis URL).
    pub fn is_reference(text: &str) -> bool {
        text.starts_with("env:") || text.starts_with("file:")
    }

    /// For fields that hold either a plain value or a secret reference (a Redis
    /// URL with a password): the value itself, or what the reference points to
    /// (a relative file taken from `dir`).
    pub fn value_or_reference(text: &str, dir: &Path) -> Result<String, SecretError> {
        if Self::is_reference(text) {
            Self::parse(text)?.relative_to(dir).load_text()
        } else {
            Ok(text.to_string())
        }
    }

    /// The same reference with a relative file path taken from `dir` (the
    /// configuration file's directory), as every other path in the file is.
    pub fn relative_to(&self, dir: &Path) -> Self {
        match self {
            Self::File(path) => Self::File(dir.join(path)),
            Self::Env(name) => Self::Env(name.clone()),
        }
    }

    /// Reads the secret (at configuration time only).
    pub fn load(&self) -> Result<Secret, SecretError> {
        let mut bytes = match self {
            Self::Env(name) => std::env::var(name)
                .map_err(|_| SecretError::MissingEnv(name.clone()))?
                .into_bytes(),
            Self::File(path) => {
                let mut bytes = Vec::new();
                std::fs::File::open(path)
                    .and_then(|file| file.take(MAX_SECRET_FILE + 1).read_to_end(&mut bytes))
                    .map_err(|source| SecretError::File {
                        path: path.clone(),
                        source,
                    })?;
                if bytes.len() as u64 > MAX_SECRET_FILE {
                    return Err(SecretError::TooLarge(path.clone()));
                }
                bytes
            }
        };
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        Ok(Secret(bytes))
    }

    /// Reads the secret as text.
    pub fn load_text(&self) -> Result<String, SecretError> {
        String::from_utf8(self.load()?.0).map_err(|_| SecretError::NotText)
    }
}

/// The reference as written (`env:NAME`, `file:PATH`); it is not secret.
impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
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

    fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("rampart-core-{name}-{}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn both_written_forms_parse_and_inline_secrets_are_refused() {
        let parse = |json: &str| serde_json::from_str::<SecretRef>(json);
        assert_eq!(
            parse(r#""env:PEPPER""#).unwrap(),
            SecretRef::Env("PEPPER".into())
        );
        assert_eq!(
            parse(r#""file:p.txt""#).unwrap(),
            SecretRef::File("p.txt".into())
        );
        assert_eq!(
            parse(r#"{"env": "PEPPER"}"#).unwrap(),
            SecretRef::Env("PEPPER".into())
        );
        assert_eq!(
            parse(r#"{"file": "/p"}"#).unwrap(),
            SecretRef::File("/p".into())
        );
        let inline = parse(r#""hunter2-hunter2""#).unwrap_err().to_string();
        assert!(inline.contains("must be a reference"), "{inline}");
        assert!(!inline.contains("hunter2"), "{inline}");
        for bad in [
            r#""env:""#,
            r#""file:""#,
            r#""ENV:X""#,
            r#""""#,
            r#"{"env": ""}"#,
            r#"{"inline": "x"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_values_pass_and_references_are_resolved() {
        let dir = std::env::temp_dir();
        let file = temp_file("url", b"redis://:pw@127.0.0.1/\n");
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            SecretRef::value_or_reference(&format!("file:{name}"), &dir).unwrap(),
            "redis://:pw@127.0.0.1/"
        );
        assert_eq!(
            SecretRef::value_or_reference("redis://127.0.0.1/", &dir).unwrap(),
            "redis://127.0.0.1/"
        );
        assert!(SecretRef::value_or_reference("env:RAMPART_TEST_SURELY_UNSET_VAR", &dir).is_err());
        std::fs::remove_file(file).unwrap();
    }

    #[test]
    fn relative_files_are_taken_from_the_config_directory() {
        let dir = Path::new("/etc/rampart");
        assert_eq!(
            SecretRef::File("pepper".into()).relative_to(dir),
            SecretRef::File(dir.join("pepper"))
        );
        assert_eq!(
            SecretRef::File("/abs".into()).relative_to(dir),
            SecretRef::File("/abs".into())
        );
        assert_eq!(
            SecretRef::Env("X".into()).relative_to(dir),
            SecretRef::Env("X".into())
        );
    }

    #[test]
    fn files_are_read_trimmed_and_oversized_ones_refused() {
        let path = temp_file("trim", b"s3cret\r\n");
        assert_eq!(SecretRef::File(path.clone()).load_text().unwrap(), "s3cret");
        let big = temp_file("big", &vec![b'a'; 100_000]);
        assert!(matches!(
            SecretRef::File(big.clone()).load(),
            Err(SecretError::TooLarge(_))
        ));
        let binary = temp_file("binary", &[0xff, 0xfe]);
        assert!(matches!(
            SecretRef::File(binary.clone()).load_text(),
            Err(SecretError::NotText)
        ));
        for path in [path, big, binary] {
            std::fs::remove_file(path).unwrap();
        }
        assert!(
            SecretRef::File("/surely/absent/rampart".into())
                .load()
                .is_err()
        );
    }

    #[test]
    fn a_missing_variable_is_named_and_nothing_secret_is_printed() {
        let err = SecretRef::Env("RAMPART_TEST_SURELY_UNSET_VAR".into())
            .load()
            .unwrap_err()
            .to_string();
        assert!(err.contains("RAMPART_TEST_SURELY_UNSET_VAR"));
        let secret = Secret::new(b"hunter2-hunter2".to_vec());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
