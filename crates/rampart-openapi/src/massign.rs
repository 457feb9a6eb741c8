//! Mass assignment: request body members the schema does not declare, `readOnly`
//! members, and forbidden member names, found on the parsed body.
//!
//! Runs after the schema validator, so types are known to match where declared. In
//! strip mode undeclared members are removed in place and the body re-serialised.

use serde_json::Value;

use crate::config::{Policy, UndeclaredMode};
use crate::problems::{Failure, In, MAX_FAILURES, push_index, push_segment};
use crate::shape::{ANY, Member, Shapes};

/// Walks `value` against the shapes; returns whether anything was stripped.
pub fn check(
    shapes: &Shapes,
    value: &mut Value,
    policy: &Policy,
    failures: &mut Vec<Failure>,
) -> bool {
    !stripped_members(shapes, value, policy, failures).is_empty()
}

/// As [`check`], returning the JSON pointers of the members stripped (strip mode),
/// so the caller can remove them from the original text.
pub fn stripped_members(
    shapes: &Shapes,
    value: &mut Value,
    policy: &Policy,
    failures: &mut Vec<Failure>,
) -> Vec<String> {
    let mut pointer = String::new();
    let mut walker = Walker {
        shapes,
        policy,
        location: In::Body,
        failures,
        removed: Vec::new(),
    };
    walker.walk(shapes.root, value, &mut pointer, 0);
    walker.removed
}

/// As [`check`], for a JSON document found elsewhere (a `content` parameter):
/// failures are reported at `location`, under `prefix`.
pub fn check_at(
    shapes: &Shapes,
    value: &mut Value,
    policy: &Policy,
    location: In,
    prefix: &str,
    failures: &mut Vec<Failure>,
) -> bool {
    let mut pointer = prefix.to_string();
    let mut walker = Walker {
        shapes,
        policy,
        location,
        failures,
        removed: Vec::new(),
    };
    walker.walk(shapes.root, value, &mut pointer, 0)
}

struct Walker<'a> {
    shapes: &'a Shapes,
    policy: &'a Policy,
    location: In,
    failures: &'a mut Vec<Failure>,
    /// Pointers of stripped members.
    removed: Vec<String>,
}

fn forbidden(policy: &Policy, key: &str) -> bool {
    !policy.forbidden.is_empty() && policy.forbidden.iter().any(|f| f.eq_ignore_ascii_case(key))
}

impl Walker<'_> {
    fn full(&self) -> bool {
        self.failures.len() >= MAX_FAILURES
    }

    fn walk(&mut self, id: usize, value: &mut Value, pointer: &mut String, depth: usize) -> bool {
        let (shapes, policy) = (self.shapes, self.policy);
        // The pre-scan bounded the depth already; this guards direct callers.
        // Past MAX_FAILURES nothing more is reported: the walk stops (what it
        // would strip no longer matters, the request is refused).
        if depth > 256 || self.full() {
            return false;
        }
        // A union: only the branch the body names (discriminator) or validates
        // against and is declared by declares members.
        let shape = shapes.get(shapes.resolve(id, value));
        let mut stripped = false;
        match value {
            Value::Object(map) => {
                let mut remove = Vec::new();
                for (key, child) in map.iter_mut() {
                    if self.full() {
                        break;
                    }
                    let len = pointer.len();
                    push_segment(pointer, key);
                    if forbidden(policy, key) {
                        self.failures
                            .push(Failure::new(self.location, pointer, "forbidden"));
                        pointer.truncate(len);
                        continue;
                    }
                    let next = match &shape.object {
                        _ if shape.any => Some(ANY),
                        None => None, // a type mismatch the validator reported
                        Some(obj) => match obj.member(key) {
                            Member::Declared(prop) => {
                                if prop.read_only {
                                    self.failures.push(Failure::new(
                                        self.location,
                                        pointer,
                                        "readOnly",
                                    ));
                                }
                                Some(prop.shape)
                            }
                            Member::Pattern(s) => Some(s),
                            Member::Undeclared => match policy.undeclared {
                                UndeclaredMode::Refuse => {
                                    self.failures.push(Failure::new(
                                        self.location,
                                        pointer,
                                        "undeclared",
                                    ));
                                    None
                                }
                                UndeclaredMode::Strip => {
                                    remove.push(key.clone());
                                    self.removed.push(pointer.clone());
                                    None
                                }
                                UndeclaredMode::Allow => Some(ANY),
                            },
                        },
                    };
                    if let Some(next) = next {
                        stripped |= self.walk(next, child, pointer, depth + 1);
                    }
                    pointer.truncate(len);
                }
                for key in &remove {
                    map.remove(key);
                }
                stripped |= !remove.is_empty();
            }
            Value::Array(items) => {
                for (i, child) in items.iter_mut().enumerate() {
                    if self.full() {
                        break;
                    }
                    // None: a type mismatch the validator reported.
                    let Some(item) = shape.item(i) else {
                        continue;
                    };
                    let len = pointer.len();
                    push_index(pointer, i);
                    stripped |= self.walk(item, child, pointer, depth + 1);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
        stripped
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_stops_at_the_failure_cap() {
        let cfg: crate::OpenApiConfig = serde_saphyr::from_str("spec: x.yaml").unwrap();
        let policy = cfg.base_policy().unwrap();
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"items": {"type": "array", "items": {
                "type": "object", "properties": {"name": {"type": "string"}}
            }}}
        });
        let shapes = Shapes::build(&schema, "$defs");
        let members: serde_json::Map<String, Value> = (0..1000)
            .map(|i| (format!("k{i}"), Value::from(i)))
            .collect();
        let mut value = Value::Object(members);
        let mut failures = Vec::new();
        check(&shapes, &mut value, &policy, &mut failures);
        assert_eq!(failures.len(), MAX_FAILURES);
        // Nested, in arrays.
        let item = serde_json::json!({"name": "a", "isAdmin": true});
        let mut value = serde_json::json!({"items": vec![item; 1000]});
        let mut failures = Vec::new();
        check(&shapes, &mut value, &policy, &mut failures);
        assert_eq!(failures.len(), MAX_FAILURES);
    }
}
