//! The one reader of markers in a bundled schema.

use serde_json::Value;

/// Reads a bundled schema: reference targets in its definitions, and the
/// markers (`readOnly`, `writeOnly`, `x-rampart-visible`) a schema carries
/// itself or through what it references or combines with `allOf`. The shapes
/// and the bundle's `required` adjustment ([`crate::bundle`]) read markers
/// through this one reader, so a member refused (or hidden) as `readOnly`
/// (`writeOnly`) is never also required.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'b> {
    bundle: &'b Value,
    defs_key: &'b str,
}

impl<'b> Reader<'b> {
    /// A reader of `bundle`, whose definitions live under `defs_key`.
    pub fn new(bundle: &'b Value, defs_key: &'b str) -> Self {
        Self { bundle, defs_key }
    }

    /// The keyword the definitions live under.
    pub fn defs_key(&self) -> &'b str {
        self.defs_key
    }

    /// The definition name a bundle reference (`#/<defs_key>/<name>`) names.
    pub fn def_name<'r>(&self, reference: &'r str) -> Option<&'r str> {
        reference
            .strip_prefix("#/")?
            .strip_prefix(self.defs_key)?
            .strip_prefix('/')
    }

    /// The definition a bundle reference names.
    pub fn target(&self, reference: &str) -> Option<&'b Value> {
        self.bundle
            .get(self.defs_key)?
            .get(self.def_name(reference)?)
    }

    /// Whether `key: true` is set on the schema or what it references/combines
    /// with `allOf`.
    pub fn flag(&self, schema: &Value, key: &str) -> bool {
        self.flag_at(schema, key, 0)
    }

    fn flag_at(&self, schema: &Value, key: &str, depth: usize) -> bool {
        if depth > 8 {
            return false;
        }
        if schema.get(key) == Some(&Value::Bool(true)) {
            return true;
        }
        if let Some(t) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| self.target(r))
            && self.flag_at(t, key, depth + 1)
        {
            return true;
        }
        match schema.get("allOf") {
            Some(Value::Array(branches)) => {
                branches.iter().any(|b| self.flag_at(b, key, depth + 1))
            }
            _ => false,
        }
    }
}
