//! `Located<T>`: a YAML value together with the line it was written on, so that
//! semantic errors found after parsing can still name their line.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};

/// A value and its 1-based source line (0 when unknown, e.g. built in code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// The line the value was written on.
    pub line: u64,
}

impl<T> Located<T> {
    /// A value with no known line.
    pub fn unplaced(value: T) -> Self {
        Self { value, line: 0 }
    }

    /// The line, if known.
    pub fn line(&self) -> Option<u64> {
        (self.line > 0).then_some(self.line)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        Ok(Self {
            line: spanned.referenced.line(),
            value: spanned.value,
        })
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Located<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}
