//! Members that do not travel in a direction are not required in it:
//! `readOnly` ones in requests (mass assignment refuses them), `writeOnly` ones
//! in responses (the filter removes them).
//!
//! Whether a member is `readOnly` is read as the shapes read it
//! ([`Reader::flag`]: on the property's schema or what it references or
//! combines with `allOf`), over what always applies with an object schema:
//! its own `properties`, its `$ref` and its `allOf` chain. Each such name is
//! dropped from the `required` lists of that schema, of that chain, and of
//! the `anyOf`/`oneOf` (and `then`/`else`) branches below it: otherwise a body
//! without it fails `required` and a body with it fails `readOnly`, and no
//! request can pass. A name one `oneOf`/`anyOf` branch flags stays required in
//! its siblings (which are chosen per branch, see [`crate::shape`]): dropped
//! there, `oneOf: [Existing{required: [id]}, New{id readOnly}]` would let
//! `Existing` match any body and make `{"name": "x"}` match both branches.
//! A shared definition whose `required` would lose a name
//! only for this use is copied in place of its reference (its other uses keep
//! their list).

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::bundle::{Direction, SCHEMA_LISTS, SCHEMA_MAPS, SCHEMA_ONE};
use crate::shape::Reader;

/// Deepest schema nesting walked (the bundler refuses deeper ones).
const MAX_DEPTH: usize = 64;
/// Deepest chain of references and compositions followed to collect names.
const MAX_CHAIN: usize = 16;
/// Keywords whose schemas apply to the same instance as the schema holding them.
const SAME_INSTANCE: [&str; 5] = ["allOf", "anyOf", "oneOf", "then", "else"];
/// Those that always apply when the schema holding them does.
const ALWAYS: [&str; 1] = ["allOf"];

/// Drops the members that do not travel in `direction` from the `required`
/// lists of the bundled schema `root` (definitions under `defs_key`).
pub fn drop_required(root: &mut Value, defs_key: &str, direction: Direction) {
    let flag = match direction {
        Direction::Request => "readOnly",
        Direction::Response => "writeOnly",
    };
    // Names are read from the bundle as it came: dropping `required` entries
    // changes nothing they depend on.
    let original = root.clone();
    let mut pass = Pass {
        reader: Reader::new(&original, defs_key),
        flag,
        memo: HashMap::new(),
    };
    pass.walk(root, 0);
}

struct Pass<'b> {
    reader: Reader<'b>,
    flag: &'static str,
    /// Flagged names of each definition's composition.
    memo: HashMap<String, BTreeSet<String>>,
}

/// The schemas `schema` applies to the same instance under `keys`.
fn branches<'s>(
    schema: &'s Value,
    keys: &'static [&'static str],
) -> impl Iterator<Item = &'s Value> {
    keys.iter()
        .filter_map(move |k| schema.get(*k))
        .flat_map(|v| match v {
            Value::Array(list) => list.iter().collect::<Vec<_>>(),
            one => vec![one],
        })
}

impl<'b> Pass<'b> {
    /// Adjusts `schema` for its own composition, then every schema inside it.
    fn walk(&mut self, schema: &mut Value, depth: usize) {
        if depth > MAX_DEPTH || !schema.is_object() {
            return;
        }
        self.strip(schema, &BTreeSet::new(), &mut Vec::new(), 0);
        let Value::Object(map) = schema else {
            return;
        };
        for (key, value) in map.iter_mut() {
            let key = key.as_str();
            if SCHEMA_MAPS.contains(&key) {
                if let Value::Object(members) = value {
                    for sub in members.values_mut() {
                        self.walk(sub, depth + 1);
                    }
                }
            } else if SCHEMA_ONE.contains(&key) || SCHEMA_LISTS.contains(&key) {
                match value {
                    Value::Array(items) => {
                        for sub in items {
                            self.walk(sub, depth + 1);
                        }
                    }
                    one => self.walk(one, depth + 1),
                }
            }
        }
    }

    /// The flagged property names of what always applies with `schema` (its
    /// properties, `$ref` and `allOf` chain), and whether a
    /// reference cycle cut the walk short (such results are not memoised).
    fn names(
        &mut self,
        schema: &Value,
        depth: usize,
        visiting: &mut Vec<String>,
    ) -> (BTreeSet<String>, bool) {
        let mut out = BTreeSet::new();
        let mut cut = false;
        if depth > MAX_CHAIN {
            return (out, true);
        }
        if let Some(Value::Object(props)) = schema.get("properties") {
            for (name, prop) in props {
                if self.reader.flag(prop, self.flag) {
                    out.insert(name.clone());
                }
            }
        }
        let reader = self.reader;
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str)
            && let (Some(name), Some(target)) =
                (reader.def_name(reference), reader.target(reference))
        {
            if let Some(known) = self.memo.get(name) {
                out.extend(known.iter().cloned());
            } else if visiting.iter().any(|v| v == name) {
                cut = true;
            } else {
                visiting.push(name.to_string());
                let (found, c) = self.names(target, depth + 1, visiting);
                visiting.pop();
                if !c {
                    self.memo.insert(name.to_string(), found.clone());
                }
                cut |= c;
                out.extend(found);
            }
        }
        for branch in branches(schema, &ALWAYS) {
            let (found, c) = self.names(branch, depth + 1, visiting);
            cut |= c;
            out.extend(found);
        }
        (out, cut)
    }

    /// Removes `names` (those of the schemas `schema` applies with) and the
    /// names flagged by what always applies with `schema` from the `required`
    /// lists of `schema`'s composition. A
    /// referenced definition that requires one of them (and does not drop it
    /// itself) is copied in, adjusted, in place of the reference.
    fn strip(
        &mut self,
        schema: &mut Value,
        names: &BTreeSet<String>,
        inlined: &mut Vec<String>,
        depth: usize,
    ) {
        if depth > MAX_CHAIN || !schema.is_object() {
            return;
        }
        let own = self.names(schema, 0, &mut Vec::new()).0;
        let merged;
        let names = if own.is_subset(names) {
            names
        } else {
            merged = names.union(&own).cloned().collect::<BTreeSet<_>>();
            &merged
        };
        let Value::Object(map) = schema else {
            return;
        };
        if let Some(Value::Array(required)) = map.get_mut("required") {
            required.retain(|r| r.as_str().is_none_or(|r| !names.contains(r)));
        }
        for key in SAME_INSTANCE {
            match map.get_mut(key) {
                Some(Value::Array(list)) => {
                    for branch in list {
                        self.strip(branch, names, inlined, depth + 1);
                    }
                }
                Some(one) => self.strip(one, names, inlined, depth + 1),
                None => {}
            }
        }
        let reader = self.reader;
        let Some(reference) = map.get("$ref").and_then(Value::as_str) else {
            return;
        };
        let (Some(name), Some(target)) = (reader.def_name(reference), reader.target(reference))
        else {
            return;
        };
        if inlined.iter().any(|n| n == name) {
            return; // a definition composed of itself: left as it is
        }
        let own = self.names(target, 0, &mut Vec::new()).0;
        let foreign: BTreeSet<String> = names.difference(&own).cloned().collect();
        if foreign.is_empty() || !requires_any(reader, target, &foreign, 0) {
            return;
        }
        let mut copy = target.clone();
        inlined.push(name.to_string());
        self.strip(&mut copy, names, inlined, depth + 1);
        inlined.pop();
        // `$ref` beside other keywords applies like an `allOf` branch.
        map.remove("$ref");
        match map.get_mut("allOf") {
            Some(Value::Array(list)) => list.push(copy),
            _ => {
                map.insert("allOf".into(), Value::Array(vec![copy]));
            }
        }
    }
}

/// Whether a `required` list of `schema`'s composition names one of `names`.
fn requires_any(
    reader: Reader<'_>,
    schema: &Value,
    names: &BTreeSet<String>,
    depth: usize,
) -> bool {
    if depth > MAX_CHAIN {
        return false;
    }
    if let Some(Value::Array(required)) = schema.get("required")
        && required
            .iter()
            .any(|r| r.as_str().is_some_and(|r| names.contains(r)))
    {
        return true;
    }
    let referenced = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| reader.target(r));
    referenced
        .into_iter()
        .chain(branches(schema, &SAME_INSTANCE))
        .any(|s| requires_any(reader, s, names, depth + 1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn adjusted(mut schema: Value, direction: Direction) -> Value {
        drop_required(&mut schema, "$defs", direction);
        schema
    }

    #[test]
    fn read_only_through_a_reference_is_not_required_in_requests() {
        let schema = json!({
            "$ref": "#/$defs/User",
            "$defs": {
                "Id": {"type": "string", "readOnly": true},
                "User": {"required": ["id", "name"], "properties": {
                    "id": {"$ref": "#/$defs/Id"}, "name": {"type": "string"}
                }}
            }
        });
        let out = adjusted(schema.clone(), Direction::Request);
        assert_eq!(out["$defs"]["User"]["required"], json!(["name"]));
        // Responses keep it: it is sent there.
        let out = adjusted(schema, Direction::Response);
        assert_eq!(out["$defs"]["User"]["required"], json!(["id", "name"]));
    }

    #[test]
    fn read_only_from_a_sibling_branch_is_not_required() {
        let schema = json!({
            "allOf": [
                {"$ref": "#/$defs/Entity"},
                {"required": ["id", "title"], "properties": {"title": {}}}
            ],
            "$defs": {"Entity": {"properties": {"id": {"type": "string", "readOnly": true}}}}
        });
        let out = adjusted(schema, Direction::Request);
        assert_eq!(out["allOf"][1]["required"], json!(["title"]));
    }

    #[test]
    fn a_shared_definition_is_copied_not_loosened_for_its_other_uses() {
        // `Base` requires `id`; only `User` makes it readOnly.
        let schema = json!({
            "properties": {
                "user": {"$ref": "#/$defs/User"},
                "base": {"$ref": "#/$defs/Base"}
            },
            "$defs": {
                "Base": {"required": ["id"], "properties": {"id": {"type": "string"}}},
                "User": {"allOf": [
                    {"$ref": "#/$defs/Base"},
                    {"properties": {"id": {"readOnly": true}}}
                ]}
            }
        });
        let out = adjusted(schema, Direction::Request);
        assert_eq!(out["$defs"]["Base"]["required"], json!(["id"]));
        let copy = &out["$defs"]["User"]["allOf"][0];
        assert!(copy.get("$ref").is_none(), "{copy}");
        assert_eq!(copy["allOf"][0]["required"], json!([]));
    }

    #[test]
    fn write_only_members_are_not_required_in_responses() {
        let schema = json!({
            "required": ["password", "name"],
            "properties": {"password": {"allOf": [{"writeOnly": true}]}, "name": {}}
        });
        let out = adjusted(schema.clone(), Direction::Response);
        assert_eq!(out["required"], json!(["name"]));
        let out = adjusted(schema, Direction::Request);
        assert_eq!(out["required"], json!(["password", "name"]));
    }

    #[test]
    fn read_only_in_one_branch_stays_required_in_its_siblings() {
        let schema = json!({
            "oneOf": [
                {"$ref": "#/$defs/ExistingTag"},
                {"$ref": "#/$defs/NewTag"}
            ],
            "$defs": {
                "ExistingTag": {"required": ["id"], "properties": {"id": {"type": "integer"}}},
                "NewTag": {"required": ["id", "name"], "properties": {
                    "id": {"type": "integer", "readOnly": true}, "name": {"type": "string"}
                }}
            }
        });
        let out = adjusted(schema, Direction::Request);
        assert_eq!(out["$defs"]["ExistingTag"]["required"], json!(["id"]));
        assert_eq!(out["$defs"]["NewTag"]["required"], json!(["name"]));
        // Flagged where it always applies, the branches drop it.
        let schema = json!({
            "properties": {"id": {"readOnly": true}},
            "anyOf": [{"required": ["id"]}, {"required": ["id", "x"]}]
        });
        let out = adjusted(schema, Direction::Request);
        assert_eq!(out["anyOf"], json!([{"required": []}, {"required": ["x"]}]));
    }

    #[test]
    fn self_composed_definitions_terminate() {
        let schema = json!({
            "$ref": "#/$defs/A",
            "$defs": {"A": {"allOf": [{"$ref": "#/$defs/A"}], "required": ["x"],
                "properties": {"x": {"readOnly": true}}}}
        });
        let out = adjusted(schema, Direction::Request);
        assert_eq!(out["$defs"]["A"]["required"], json!([]));
    }
}
