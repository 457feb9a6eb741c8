//! Errors found while loading a spec or building the engine from configuration. These
//! are operator-facing (they name files, lines and fields); clients only ever see
//! [`rampart_core::Problem`]s.

use std::fmt;
use std::path::PathBuf;

/// Where in a spec file something is: the file, the line when it could be found, and
/// the JSON pointer inside the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecLocation {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// JSON pointer inside the document (empty for the whole file).
    pub pointer: String,
}

impl fmt::Display for SpecLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.pointer.is_empty() {
            write!(f, " (at #{})", self.pointer)?;
        }
        Ok(())
    }
}

/// Why a spec could not be loaded and compiled.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A spec file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A spec file is larger than the loader accepts.
    #[error("{file}: larger than {limit} bytes")]
    TooLarge {
        /// The file.
        file: String,
        /// The limit.
        limit: usize,
    },
    /// A spec file is not valid YAML or JSON.
    #[error("{at}: not valid YAML/JSON: {message}")]
    Parse {
        /// Where.
        at: SpecLocation,
        /// The parser's message.
        message: String,
    },
    /// The `openapi` version is missing or not 3.0.x / 3.1.x.
    #[error("{at}: unsupported OpenAPI version {found:?} (3.0.x and 3.1.x are supported)")]
    UnsupportedVersion {
        /// Where.
        at: SpecLocation,
        /// The version found, if any.
        found: Option<String>,
    },
    /// A `$ref` cannot be resolved.
    #[error("{at}: cannot resolve $ref {reference:?}: {why}")]
    Ref {
        /// Where the reference is.
        at: SpecLocation,
        /// The reference text.
        reference: String,
        /// Why it failed.
        why: &'static str,
    },
    /// The document is structurally wrong (a missing or mistyped member).
    #[error("{at}: {message}")]
    Invalid {
        /// Where.
        at: SpecLocation,
        /// What is wrong.
        message: String,
    },
    /// A schema could not be compiled into a validator.
    #[error("{at}: invalid schema: {message}")]
    Schema {
        /// Where.
        at: SpecLocation,
        /// The compiler's message.
        message: String,
    },
    /// More files are referenced than the loader accepts.
    #[error("more than {limit} spec files referenced")]
    TooManyFiles {
        /// The limit.
        limit: usize,
    },
}

/// Why a configuration could not be built into an engine; names the field path.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The spec failed to load.
    #[error("openapi.spec: {0}")]
    Spec(#[from] LoadError),
    /// A field has a value that cannot be used.
    #[error("openapi.{field}: {message}")]
    Field {
        /// Dotted field path inside the `openapi` section.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// An `operations` key names no operation of the spec.
    #[error(
        "openapi.operations[{key:?}]: no operation with this operationId or \"METHOD /path\" in the spec"
    )]
    UnknownOperation {
        /// The key.
        key: String,
    },
    /// Two `operations` keys (its operationId and its `METHOD /path`) name the
    /// same operation: which settings apply would be ambiguous.
    #[error(
        "openapi.operations[{operation_id:?}]: names the same operation as \"{route}\"; keep one of the two keys"
    )]
    OperationNamedTwice {
        /// The key that is an operationId.
        operation_id: String,
        /// The key that is `METHOD /path`.
        route: String,
    },
}
