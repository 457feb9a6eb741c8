//! Secret references in this crate's sections, kept as the text written
//! (`env:NAME` or `file:PATH`) and resolved through [`rampart_core::secret`], the
//! one implementation every section shares (inline values are refused; a file's
//! trailing CR/LF are trimmed).

use std::path::Path;

use rampart_core::secret::SecretRef;

/// Why a secret reference could not be resolved. Never contains the secret.
pub use rampart_core::secret::SecretError as SecretRefError;

/// The same reference with a relative `file:` path taken from `dir` (the
/// configuration's directory), as every other path in the configuration is.
/// Absolute paths, `env:` references and non-references are returned unchanged
/// (the last are refused when resolved).
pub fn relative_to(reference: &str, dir: &Path) -> String {
    match SecretRef::parse(reference) {
        Ok(parsed) => parsed.relative_to(dir).to_string(),
        Err(_) => reference.to_string(),
    }
}

/// Resolves `env:NAME` or `file:PATH` to its text.
pub fn resolve(reference: &str) -> Result<String, SecretRefError> {
    SecretRef::parse(reference)?.load_text()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn relative_references_resolve_from_the_config_directory() {
        let dir =
            std::env::temp_dir().join(format!("rampart-adapters-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), "s3cret\r\n").unwrap();
        let reference = relative_to("file:token", &dir);
        assert_eq!(reference, format!("file:{}", dir.join("token").display()));
        assert_eq!(resolve(&reference).unwrap(), "s3cret");
        assert_eq!(relative_to("env:X", &dir), "env:X");
        assert!(matches!(
            resolve("hunter2"),
            Err(SecretRefError::NotAReference)
        ));
    }
}
