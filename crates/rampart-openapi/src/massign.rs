//! Mass assignment: request body members the schema does not declare, `readOnly`
//! members, and forbidden member names, found on the parsed body.
//!
//! Runs after the schema validator, so types are known to match where declared. In
//! strip mode undeclared members are removed in place and the body re-serialised.

use serde_json::Value;

use crate::config::{Policy, UndeclaredMode};
use crate::problems::{Failure, In, push_index, push_segment};
use crate::shape::{ANY, Member, Shapes};

/// Walks `value` against the shapes; returns whether anything was stripped.
pub fn check(
    shapes: &Shapes,
    value: &mut Value,
    policy: &Policy,
    failures: &mut Vec<Failure>,
) -> bool {
    let mut pointer = String::new();
    walk(
        shapes,
        shapes.root,
        value,
        policy,
        &mut pointer,
        failures,
        0,
    )
}

fn forbidden(policy: &Policy, key: &str) -> bool {
    !policy.forbidden.is_empty() && policy.forbidden.iter().any(|f| f.eq_ignore_ascii_case(key))
}

fn walk(
    shapes: &Shapes,
    id: usize,
    value: &mut Value,
    policy: &Policy,
    pointer: &mut String,
    failures: &mut Vec<Failure>,
    depth: usize,
) -> bool {
    // The pre-scan bounded the depth already; this guards direct callers.
    if depth > 256 {
        return false;
    }
    let mut shape = shapes.get(id);
    // A discriminated union: only the branch the body names declares members.
    if let Some(branch) = shape.select(value) {
        shape = shapes.get(branch);
    }
    let mut stripped = false;
    match value {
        Value::Object(map) => {
            let mut remove = Vec::new();
            for (key, child) in map.iter_mut() {
                let len = pointer.len();
                push_segment(pointer, key);
                if forbidden(policy, key) {
                    failures.push(Failure::new(In::Body, pointer, "forbidden"));
                    pointer.truncate(len);
                    continue;
                }
                let next = match &shape.object {
                    _ if shape.any => Some(ANY),
                    None => None, // a type mismatch the validator reported
                    Some(obj) => match obj.member(key) {
                        Member::Declared(prop) => {
                            if prop.read_only {
                                failures.push(Failure::new(In::Body, pointer, "readOnly"));
                            }
                            Some(prop.shape)
                        }
                        Member::Pattern(s) => Some(s),
                        Member::Undeclared => match policy.undeclared {
                            UndeclaredMode::Refuse => {
                                failures.push(Failure::new(In::Body, pointer, "undeclared"));
                                None
                            }
                            UndeclaredMode::Strip => {
                                remove.push(key.clone());
                                None
                            }
                            UndeclaredMode::Allow => Some(ANY),
                        },
                    },
                };
                if let Some(next) = next {
                    stripped |= walk(shapes, next, child, policy, pointer, failures, depth + 1);
                }
                pointer.truncate(len);
            }
            for key in &remove {
                map.remove(key);
            }
            stripped |= !remove.is_empty();
        }
        Value::Array(items) => {
            let item = if shape.any { Some(ANY) } else { shape.items };
            if let Some(item) = item {
                for (i, child) in items.iter_mut().enumerate() {
                    let len = pointer.len();
                    push_index(pointer, i);
                    stripped |= walk(shapes, item, child, policy, pointer, failures, depth + 1);
                    pointer.truncate(len);
                }
            }
        }
        _ => {}
    }
    stripped
}
