//! `$id` and `$anchor` targets inside one spec document (JSON Schema 2020-12, used by
//! OpenAPI 3.1), so that `$ref: "#pet"` or `$ref: "https://example.com/pet"` find the
//! schema that declares them without fetching anything.
//!
//! The supported forms, all within the referring document:
//! - `#name`: the schema whose `$anchor` is `name` (it must be unique in the file);
//! - `<id>`: the schema whose `$id` is exactly `<id>`;
//! - `<id>#name` and `<id>#/json/pointer`: an anchor or a pointer inside that schema.
//!
//! Relative `$id`s are compared as written (no base-URI resolution): specs in the
//! wild use absolute ones or plain names.

use serde_json::Value;

use crate::loader::escape_segment;

/// Most `$id`/`$anchor` entries indexed per document.
const MAX_ENTRIES: usize = 10_000;

/// The `$id`s and `$anchor`s of one document.
#[derive(Debug, Default, Clone)]
pub struct Anchors {
    /// `(id, pointer)`.
    ids: Vec<(String, String)>,
    /// `(enclosing id, anchor name, pointer)`.
    anchors: Vec<(Option<String>, String, String)>,
}

/// Why an `$id`/`$anchor` reference cannot be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorError {
    /// No schema declares it.
    Missing,
    /// Several schemas declare it.
    Ambiguous,
}

impl Anchors {
    /// Indexes `doc`.
    pub fn index(doc: &Value) -> Anchors {
        let mut out = Anchors::default();
        out.walk(doc, &mut String::new(), None, 0);
        out
    }

    fn walk(&mut self, value: &Value, pointer: &mut String, id: Option<&str>, depth: usize) {
        if depth > 256 || self.ids.len() + self.anchors.len() >= MAX_ENTRIES {
            return;
        }
        let children: Box<dyn Iterator<Item = (String, &Value)>> = match value {
            Value::Object(map) => {
                let own = map.get("$id").and_then(Value::as_str);
                if let Some(own) = own {
                    self.ids.push((own.to_string(), pointer.clone()));
                }
                let scope = own.or(id);
                if let Some(name) = map.get("$anchor").and_then(Value::as_str) {
                    self.anchors.push((
                        scope.map(str::to_string),
                        name.to_string(),
                        pointer.clone(),
                    ));
                }
                let scope = scope.map(str::to_string);
                for (key, child) in map {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&escape_segment(key));
                    self.walk(child, pointer, scope.as_deref(), depth + 1);
                    pointer.truncate(len);
                }
                return;
            }
            Value::Array(items) => {
                Box::new(items.iter().enumerate().map(|(i, v)| (i.to_string(), v)))
            }
            _ => return,
        };
        for (segment, child) in children {
            let len = pointer.len();
            pointer.push('/');
            pointer.push_str(&segment);
            self.walk(child, pointer, id, depth + 1);
            pointer.truncate(len);
        }
    }

    /// Whether `file` (the part of a reference before `#`) names an `$id` of this
    /// document (then it is not a file to load).
    pub fn has_id(&self, file: &str) -> bool {
        self.ids.iter().any(|(id, _)| id == file)
    }

    /// The JSON pointer a reference `file#fragment` names through an `$id` or an
    /// `$anchor`, `Ok(None)` when it is an ordinary file/pointer reference.
    /// `decode` turns a `/`-fragment into a JSON pointer.
    pub fn target(
        &self,
        file: &str,
        fragment: &str,
        decode: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<String>, AnchorError> {
        let scope = if file.is_empty() {
            None
        } else {
            let mut found = self.ids.iter().filter(|(id, _)| id == file);
            let Some((_, base)) = found.next() else {
                return Ok(None);
            };
            if found.next().is_some() {
                return Err(AnchorError::Ambiguous);
            }
            Some((file, base.as_str()))
        };
        if fragment.is_empty() || fragment.starts_with('/') {
            return match scope {
                None => Ok(None),
                Some((_, base)) => decode(fragment)
                    .map(|p| Some(format!("{base}{p}")))
                    .ok_or(AnchorError::Missing),
            };
        }
        let mut found = self.anchors.iter().filter(|(id, name, _)| {
            name == fragment && scope.is_none_or(|(file, _)| id.as_deref() == Some(file))
        });
        let Some((_, _, pointer)) = found.next() else {
            return Err(AnchorError::Missing);
        };
        if found.next().is_some() {
            return Err(AnchorError::Ambiguous);
        }
        Ok(Some(pointer.clone()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(f: &str) -> Option<String> {
        Some(f.to_string())
    }

    #[test]
    fn ids_and_anchors_resolve_to_pointers() {
        let doc = json!({"components": {"schemas": {
            "Pet": {"$id": "https://example.com/pet", "$anchor": "pet",
                    "$defs": {"Name": {"$anchor": "name", "type": "string"}}},
            "Dup1": {"$anchor": "dup"}, "Dup2": {"$anchor": "dup"}
        }}});
        let a = Anchors::index(&doc);
        let t = |file, frag| a.target(file, frag, decode);
        assert_eq!(t("", "pet"), Ok(Some("/components/schemas/Pet".into())));
        assert_eq!(
            t("https://example.com/pet", ""),
            Ok(Some("/components/schemas/Pet".into()))
        );
        assert_eq!(
            t("https://example.com/pet", "name"),
            Ok(Some("/components/schemas/Pet/$defs/Name".into()))
        );
        assert_eq!(
            t("https://example.com/pet", "/$defs/Name"),
            Ok(Some("/components/schemas/Pet/$defs/Name".into()))
        );
        assert_eq!(t("", "/components"), Ok(None));
        assert_eq!(t("other.yaml", ""), Ok(None));
        assert_eq!(t("", "dup"), Err(AnchorError::Ambiguous));
        assert_eq!(t("", "nothing"), Err(AnchorError::Missing));
        assert!(a.has_id("https://example.com/pet") && !a.has_id("pet.yaml"));
    }
}
