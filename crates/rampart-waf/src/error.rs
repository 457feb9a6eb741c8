//! Load errors: every problem found while reading rules names its file and line.

use std::fmt;
use std::path::PathBuf;

/// Where in the configuration something was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file (or a pseudo-name such as `<rampart-preamble>`).
    pub file: PathBuf,
    /// 1-based line of the start of the logical line.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A rules file could not be loaded; `location` says where.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct LoadError {
    /// File and line of the offending directive.
    pub location: Location,
    /// What is wrong.
    pub kind: LoadErrorKind,
}

/// The cause of a [`LoadError`]. One variant per cause.
#[derive(Debug, thiserror::Error)]
pub enum LoadErrorKind {
    /// A file (rules, included file, data file) could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An `Include` pattern matched nothing (use `IncludeOptional` to allow that).
    #[error("include pattern {0} matches no file")]
    IncludeNotFound(String),
    /// Includes nest deeper than the limit (probably a cycle).
    #[error("includes nest deeper than {0} levels")]
    IncludeTooDeep(usize),
    /// A directive this engine does not implement.
    #[error("unsupported directive {0}")]
    UnsupportedDirective(String),
    /// A directive got the wrong number of arguments.
    #[error("{directive} expects {expected}")]
    Arguments {
        /// The directive.
        directive: String,
        /// What it expects.
        expected: &'static str,
    },
    /// Quoting or escaping in the line is broken.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// An operator this engine does not implement.
    #[error("unsupported operator @{0}")]
    UnsupportedOperator(String),
    /// An operator's argument is invalid.
    #[error("invalid argument for @{operator}: {reason}")]
    OperatorArgument {
        /// The operator.
        operator: String,
        /// Why.
        reason: String,
    },
    /// An action this engine does not implement.
    #[error("unsupported action {0}")]
    UnsupportedAction(String),
    /// An action's argument is invalid.
    #[error("invalid argument for action {action}: {reason}")]
    ActionArgument {
        /// The action.
        action: String,
        /// Why.
        reason: String,
    },
    /// A transformation this engine does not implement.
    #[error("unsupported transformation {0}")]
    UnsupportedTransformation(String),
    /// A variable this engine does not implement.
    #[error("unsupported variable {0}")]
    UnsupportedVariable(String),
    /// A target (variable, selector) is malformed.
    #[error("invalid target {target}: {reason}")]
    Target {
        /// The target text.
        target: String,
        /// Why.
        reason: String,
    },
    /// A rule lacks something it must have, or has something it must not.
    #[error("invalid rule: {0}")]
    Rule(String),
    /// Two rules share an id.
    #[error("duplicate rule id {0}")]
    DuplicateId(u64),
    /// A directive names a rule id that was never defined.
    #[error("no rule with id {0}")]
    UnknownRuleId(u64),
    /// A `skipAfter` target (`SecMarker` name or rule id) does not occur after
    /// the rule in its phase.
    #[error(
        "skipAfter:{target}: no SecMarker or rule with that name after this rule in phase {phase}{}",
        if *only_earlier { " (only before it: a backward jump would loop)" } else { "" }
    )]
    SkipAfterTarget {
        /// The target as written.
        target: String,
        /// The rule's phase.
        phase: usize,
        /// Whether the target occurs before the rule.
        only_earlier: bool,
    },
    /// A chain was started but the file ended before its last rule.
    #[error("chain started but never finished")]
    UnfinishedChain,
}

/// A directive that loads but does not do what it says; `location` says
/// where. Loading goes on: the gateway logs these when it builds the stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadWarning {
    /// File and line of the directive.
    pub location: Location,
    /// What is ignored.
    pub kind: LoadWarningKind,
}

/// The cause of a [`LoadWarning`]. One variant per cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadWarningKind {
    /// `SecUnicodeMapFile`: no code-page map is loaded (ModSecurity's
    /// recommended configuration names one, so it is not refused).
    UnicodeMapFileIgnored,
}

impl fmt::Display for LoadWarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnicodeMapFileIgnored => f.write_str(
                "SecUnicodeMapFile has no effect: no code-page map is loaded; \
                 t:urlDecodeUni decodes %uHHHH full-width ASCII (U+FF01-U+FF5E) to ASCII \
                 and any other code point to its low byte",
            ),
        }
    }
}

impl fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.kind)
    }
}

impl LoadError {
    /// Builds an error at a location.
    pub fn new(location: Location, kind: LoadErrorKind) -> Self {
        Self { location, kind }
    }
}
