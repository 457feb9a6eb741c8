//! Configuration errors, naming the field path and, for Cedar, file and line.

/// A configuration that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is invalid or a combination is not allowed.
    #[error("{path}: {reason}")]
    Invalid {
        /// Field path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A policy or schema file could not be read.
    #[error("{path}: cannot read {file}: {source}")]
    File {
        /// Field path.
        path: String,
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A Cedar policy does not parse or does not validate against the schema.
    #[error("{path}: {file}:{line}:{column}: {message}")]
    Policy {
        /// Field path.
        path: String,
        /// The policy file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Cedar's message.
        message: String,
    },
    /// The Cedar schema does not parse.
    #[error("{path}: {file}: {message}")]
    Schema {
        /// Field path.
        path: String,
        /// The schema file.
        file: String,
        /// Cedar's message.
        message: String,
    },
}

pub(crate) fn invalid(path: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.into(),
        reason: reason.into(),
    }
}
