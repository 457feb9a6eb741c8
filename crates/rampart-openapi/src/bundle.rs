//! Turns one schema of the spec into a self-contained JSON Schema document.
//!
//! Every `$ref` reachable from the schema (in this file or a sibling) is copied into
//! the bundle's definitions under a generated name and rewritten to point there, so
//! recursion keeps working and the validator never resolves anything on its own. The
//! OpenAPI 3.0 dialect is translated to Draft 4 on the way (`nullable`), and the
//! `required` lists are adjusted for the direction by [`crate::travel`] (`readOnly`
//! members are not required in requests, `writeOnly` ones not in responses). In 3.0, siblings of a `$ref` are
//! dropped except the markers that make the gateway stricter (`readOnly`,
//! `writeOnly`, `x-rampart-roles`). `format: int32`/`int64` become bounds.

use std::collections::{HashMap, VecDeque};

use serde_json::{Map, Value};

use crate::error::LoadError;
use crate::loader::{DocId, DocSet, escape_segment};

/// The OpenAPI dialect of a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecVersion {
    /// 3.0.x: schemas are a Draft 4 variant with `nullable`.
    V30,
    /// 3.1.x: schemas are JSON Schema 2020-12.
    V31,
}

impl SpecVersion {
    /// The definitions keyword of the bundle.
    pub fn defs_key(self) -> &'static str {
        match self {
            SpecVersion::V30 => "definitions",
            SpecVersion::V31 => "$defs",
        }
    }

    /// The jsonschema draft.
    pub fn draft(self) -> jsonschema::Draft {
        match self {
            SpecVersion::V30 => jsonschema::Draft::Draft4,
            SpecVersion::V31 => jsonschema::Draft::Draft202012,
        }
    }
}

/// Which message the schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A request body or parameter.
    Request,
    /// A response body.
    Response,
}

/// Keywords whose value is a map of schemas.
pub(crate) const SCHEMA_MAPS: [&str; 5] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];
/// Keywords whose value is one schema.
pub(crate) const SCHEMA_ONE: [&str; 12] = [
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
    "contentSchema",
];
/// Keywords whose value is a list of schemas.
pub(crate) const SCHEMA_LISTS: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];
/// Schema identifiers dropped from copies (references were rewritten already).
const IDENTIFIERS: [&str; 3] = ["$id", "$anchor", "$schema"];
/// Keywords kept beside a 3.0 `$ref`: they only ever make the gateway stricter.
const REF_MARKERS: [&str; 3] = ["readOnly", "writeOnly", "x-rampart-roles"];
/// Deepest schema nesting copied (protects the loader from absurd specs).
const MAX_DEPTH: usize = 64;

struct Bundler<'d> {
    docs: &'d DocSet,
    version: SpecVersion,
    names: HashMap<(DocId, String), String>,
    queue: VecDeque<(DocId, String, String)>,
}

/// Bundles the schema at `pointer` in document `doc`.
pub fn bundle(
    docs: &DocSet,
    doc: DocId,
    pointer: &str,
    schema: &Value,
    version: SpecVersion,
    direction: Direction,
) -> Result<Value, LoadError> {
    let mut b = Bundler {
        docs,
        version,
        names: HashMap::new(),
        queue: VecDeque::new(),
    };
    let mut root = b.copy(doc, pointer, schema, 0)?;
    let defs_key = version.defs_key();
    let mut defs = Map::new();
    while let Some((d, p, name)) = b.queue.pop_front() {
        let target = docs
            .docs
            .get(d)
            .and_then(|x| x.value.pointer(&p))
            .unwrap_or(&Value::Bool(true));
        let copied = b.copy(d, &p, target, 0)?;
        defs.insert(name, copied);
    }
    if defs.is_empty() {
        crate::travel::drop_required(&mut root, defs_key, direction);
        return Ok(root);
    }
    // A root that is itself a `$ref` would hide sibling keywords in Draft 4: wrap it.
    if root.get("$ref").is_some() || !root.is_object() {
        let mut wrapper = Map::new();
        wrapper.insert("allOf".into(), Value::Array(vec![root]));
        root = Value::Object(wrapper);
    }
    if let Value::Object(map) = &mut root {
        map.insert(defs_key.into(), Value::Object(defs));
    }
    crate::travel::drop_required(&mut root, defs_key, direction);
    Ok(root)
}

impl Bundler<'_> {
    fn copy(
        &mut self,
        doc: DocId,
        pointer: &str,
        schema: &Value,
        depth: usize,
    ) -> Result<Value, LoadError> {
        if depth > MAX_DEPTH {
            return Err(LoadError::Invalid {
                at: self.docs.at(doc, pointer),
                message: "schema nested too deeply".into(),
            });
        }
        let Value::Object(map) = schema else {
            return Ok(schema.clone());
        };
        let mut out = Map::new();
        if let Some(Value::String(reference)) = map.get("$ref") {
            let (tdoc, tptr, _) = self.docs.resolve(doc, pointer, reference)?;
            let key = (tdoc, tptr.clone());
            let name = match self.names.get(&key) {
                Some(name) => name.clone(),
                None => {
                    let name = format!("s{}", self.names.len());
                    self.names.insert(key, name.clone());
                    self.queue.push_back((tdoc, tptr, name.clone()));
                    name
                }
            };
            out.insert(
                "$ref".into(),
                Value::String(format!("#/{}/{name}", self.version.defs_key())),
            );
            if self.version == SpecVersion::V30 {
                // 3.0 ignores siblings of $ref, but a marker that hides or refuses
                // a member is kept: honouring it is the safe side.
                for key in REF_MARKERS {
                    if let Some(v) = map.get(key) {
                        out.insert(key.into(), v.clone());
                    }
                }
                return Ok(Value::Object(out));
            }
        }
        for (key, value) in map {
            // Every reference is rewritten into the bundle's definitions, so the
            // identifiers that located schemas are dropped: a `$id` left in a copied
            // definition would change the base its rewritten `$ref`s resolve against.
            if key == "$ref" || IDENTIFIERS.contains(&key.as_str()) {
                continue;
            }
            let child_ptr = format!("{pointer}/{}", escape_segment(key));
            let copied = if SCHEMA_MAPS.contains(&key.as_str()) {
                match value {
                    Value::Object(members) => {
                        let mut m = Map::new();
                        for (name, sub) in members {
                            let p = format!("{child_ptr}/{}", escape_segment(name));
                            m.insert(name.clone(), self.copy(doc, &p, sub, depth + 1)?);
                        }
                        Value::Object(m)
                    }
                    other => other.clone(),
                }
            } else if SCHEMA_ONE.contains(&key.as_str()) || SCHEMA_LISTS.contains(&key.as_str()) {
                match value {
                    Value::Array(items) => {
                        let mut v = Vec::with_capacity(items.len());
                        for (i, sub) in items.iter().enumerate() {
                            v.push(self.copy(doc, &format!("{child_ptr}/{i}"), sub, depth + 1)?);
                        }
                        Value::Array(v)
                    }
                    other => self.copy(doc, &child_ptr, other, depth + 1)?,
                }
            } else {
                value.clone()
            };
            out.insert(key.clone(), copied);
        }
        if self.version == SpecVersion::V30 {
            translate_nullable(&mut out);
        }
        self.discriminate(doc, pointer, map, &mut out)?;
        integer_range(&mut out);
        Ok(Value::Object(out))
    }

    /// A `oneOf`/`anyOf` with a `discriminator`: each mapped branch also requires the
    /// discriminator property to hold one of its values, so exactly one branch can
    /// match (loose branches otherwise all match, and `oneOf` fails on legitimate
    /// bodies). In 3.1 (2020-12) the union becomes `if tag then branch` clauses, so
    /// a branch's failures are reported at their own pointers. The discriminator
    /// keeps the mapping to the bundled branches for [`crate::shape`] (mass
    /// assignment and response filtering see the chosen branch only). Values come
    /// from `mapping` (references or schema names) or, for unmapped `$ref` branches,
    /// the referenced schema's name.
    fn discriminate(
        &mut self,
        doc: DocId,
        pointer: &str,
        original: &Map<String, Value>,
        out: &mut Map<String, Value>,
    ) -> Result<(), LoadError> {
        let Some(property) = original
            .get("discriminator")
            .and_then(|d| d.get("propertyName"))
            .and_then(Value::as_str)
        else {
            return Ok(());
        };
        let Some(key) = ["oneOf", "anyOf"]
            .into_iter()
            .find(|k| out.contains_key(*k))
        else {
            return Ok(());
        };
        let (Some(Value::Array(branches)), Some(Value::Array(copied))) =
            (original.get(key), out.get(key))
        else {
            return Ok(());
        };
        // Explicit mapping: value -> target (document, pointer).
        let mut explicit = Vec::new();
        if let Some(Value::Object(mapping)) =
            original.get("discriminator").and_then(|d| d.get("mapping"))
        {
            for (value, target) in mapping {
                let Some(target) = target.as_str() else {
                    continue;
                };
                let reference = if target.contains(['#', '/', '.']) {
                    target.to_string()
                } else {
                    format!("#/components/schemas/{target}")
                };
                let (d, p, _) = self.docs.resolve(doc, pointer, &reference)?;
                explicit.push((value.clone(), (d, p)));
            }
        }
        let mut rewritten = Vec::with_capacity(copied.len());
        let mut conditionals = Vec::with_capacity(copied.len());
        let mut all_values = Vec::new();
        let mut table = Map::new();
        for (branch, copy) in branches.iter().zip(copied) {
            let reference = branch.get("$ref").and_then(Value::as_str);
            let target = match reference {
                Some(r) => Some(self.docs.resolve(doc, pointer, r)?),
                None => None,
            };
            let mut values: Vec<Value> = explicit
                .iter()
                .filter(|(_, t)| {
                    target
                        .as_ref()
                        .is_some_and(|(d, p, _)| t.0 == *d && t.1 == *p)
                })
                .map(|(v, _)| Value::String(v.clone()))
                .collect();
            if values.is_empty()
                && let Some((_, p, _)) = &target
                && !explicit
                    .iter()
                    .any(|(v, _)| Some(v.as_str()) == p.rsplit('/').next())
            {
                // Implicit mapping: the schema's name.
                if let Some(name) = p.rsplit('/').next() {
                    values.push(Value::String(name.replace("~1", "/").replace("~0", "~")));
                }
            }
            if values.is_empty() {
                rewritten.push(copy.clone());
                continue;
            }
            for v in &values {
                if let Some(v) = v.as_str() {
                    table.insert(v.to_string(), copy.clone());
                }
            }
            all_values.extend(values.iter().cloned());
            let tag = tag_schema(property, values);
            let mut conditional = Map::new();
            conditional.insert("if".into(), tag.clone());
            conditional.insert("then".into(), copy.clone());
            conditionals.push(Value::Object(conditional));
            let mut wrapper = Map::new();
            wrapper.insert("allOf".into(), Value::Array(vec![tag, copy.clone()]));
            rewritten.push(Value::Object(wrapper));
        }
        if self.version == SpecVersion::V31 && conditionals.len() == branches.len() {
            // 2020-12 has if/then: the failures of the chosen branch are reported
            // where they are, not as one opaque `oneOf`.
            out.remove(key);
            let mut all_of = match out.remove("allOf") {
                Some(Value::Array(list)) => list,
                _ => Vec::new(),
            };
            all_of.push(tag_schema(property, all_values));
            all_of.extend(conditionals);
            out.insert("allOf".into(), Value::Array(all_of));
        } else {
            out.insert(key.into(), Value::Array(rewritten));
        }
        let mut d = Map::new();
        d.insert("propertyName".into(), Value::String(property.to_string()));
        d.insert("x-rampart-mapping".into(), Value::Object(table));
        out.insert("discriminator".into(), Value::Object(d));
        Ok(())
    }
}

/// `{properties: {<property>: {enum: values}}, required: [<property>]}`.
fn tag_schema(property: &str, values: Vec<Value>) -> Value {
    let mut constraint = Map::new();
    constraint.insert("enum".into(), Value::Array(values));
    let mut props = Map::new();
    props.insert(property.to_string(), Value::Object(constraint));
    let mut tag = Map::new();
    tag.insert("properties".into(), Value::Object(props));
    tag.insert(
        "required".into(),
        Value::Array(vec![Value::String(property.to_string())]),
    );
    Value::Object(tag)
}

/// `format: int32`/`int64` as the bounds they mean (the validator checks
/// formats of strings only): `minimum`/`maximum` set on the schema itself
/// unless it already has one as strict. On the schema, not in an added `allOf`
/// branch: readers that follow a single-branch `allOf` (parameter kinds, the
/// byte-schema test) must see the schema as it was written.
fn integer_range(out: &mut Map<String, Value>) {
    let (min, max) = match out.get("format").and_then(Value::as_str) {
        Some("int32") => (i64::from(i32::MIN), i64::from(i32::MAX)),
        Some("int64") => (i64::MIN, i64::MAX),
        _ => return,
    };
    // Compared as f64: the bounds are exact there up to rounding at 2^63,
    // which only keeps an existing bound equal to the format's.
    let existing = |out: &Map<String, Value>, key: &str| out.get(key).and_then(Value::as_f64);
    if !existing(out, "minimum").is_some_and(|existing| existing >= min as f64) {
        out.insert("minimum".into(), Value::from(min));
    }
    if !existing(out, "maximum").is_some_and(|existing| existing <= max as f64) {
        out.insert("maximum".into(), Value::from(max));
    }
}

/// OpenAPI 3.0 `nullable: true` is `type: [t, "null"]` (and `null` in `enum`) in JSON Schema.
fn translate_nullable(out: &mut Map<String, Value>) {
    if out.remove("nullable") != Some(Value::Bool(true)) {
        return;
    }
    if let Some(Value::String(t)) = out.get("type") {
        let t = t.clone();
        out.insert(
            "type".into(),
            Value::Array(vec![Value::String(t), "null".into()]),
        );
    }
    if let Some(Value::Array(values)) = out.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
}

/// Compiles a bundled schema into a validator for the spec's draft, with format
/// checks on and no remote retrieval.
pub fn compile(schema: &Value, version: SpecVersion) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .with_draft(version.draft())
        .should_validate_formats(true)
        // Formats OpenAPI specs use that Draft 4 does not define.
        .with_format("uuid", is_uuid)
        .with_format("date", is_date)
        .offline()
        .build(schema)
        .map_err(|e| e.to_string())
}

/// `8-4-4-4-12` hexadecimal digits.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// RFC 3339 `full-date`, with real calendar days.
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn extra_formats() {
        assert!(is_uuid("6f1c2d1e-8c1b-4a53-9f0e-0a1b2c3d4e5f"));
        assert!(!is_uuid("6f1c2d1e8c1b4a539f0e0a1b2c3d4e5f"));
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2023-02-29"));
        assert!(!is_date("2026-02-30"));
        assert!(!is_date("2026-1-01"));
    }
}
