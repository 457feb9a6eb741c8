//! Unions without a discriminator: which branch a value is shaped by, and the
//! branch nodes and validators built for them.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use super::{Acc, Builder, MAX_DEPTH, Member, Props, Shape, ShapeId, Shapes, intersect};

/// Most nested choices (discriminators, unions) followed for one value.
pub(super) const MAX_RESOLVE: usize = 16;
/// Most [`Union`] branch nodes one arena builds (unions nested in unions
/// multiply them); past it, a union's branches are merged instead (every
/// branch's members declared, the least a spec can mean).
pub(super) const MAX_UNION_NODES: usize = 512;

/// The branches of a `oneOf`/`anyOf` without a discriminator. JSON Schema lets
/// a value validate against a branch that does not name its members (branches
/// are open unless they say otherwise), so a member counts as declared only
/// when a branch the value validates against declares it: the value's shape is
/// the first branch it validates against that declares all its members, else
/// the valid branch declaring most of them (the rest are undeclared: refused or
/// stripped as mass assignment, hidden in responses), else (nothing validates)
/// the branch declaring fewest (the least shown). Each branch keeps its own `additionalProperties`,
/// so one free-form branch does not open the others. Property marks
/// (`readOnly`, `writeOnly`, roles, visibility) are the strictest any branch
/// gives, as when branches were merged.
#[derive(Debug, Clone, Default)]
pub struct Union {
    /// The branches, in the schema's order.
    pub branches: Vec<Branch>,
}

/// One branch of a [`Union`].
#[derive(Debug, Clone)]
pub struct Branch {
    /// What the branch declares, with the parent's own declarations.
    pub shape: ShapeId,
    /// The branch's schema, compiled once at load. `None` when it did not
    /// compile on its own (a response schema the gateway never validates):
    /// such a branch counts as matching.
    pub validator: Option<Arc<jsonschema::Validator>>,
}

/// A `oneOf`/`anyOf` list kept apart, and how its branches are collected.
#[derive(Clone, Copy)]
pub(super) struct Split<'b> {
    pub(super) list: &'b Vec<Value>,
    pub(super) depth: usize,
    pub(super) in_branch: bool,
}

impl Shapes {
    /// The shape that applies to `value` at node `id`: the discriminated branch
    /// it names, the [`Union`] branch it is chosen by, and so on down nested
    /// unions; `id` itself when there is nothing to choose.
    pub fn resolve(&self, mut id: ShapeId, value: &Value) -> ShapeId {
        for _ in 0..MAX_RESOLVE {
            let shape = self.get(id);
            if let Some(branch) = shape.select(value) {
                id = branch;
                continue;
            }
            match shape.union.as_deref().and_then(|u| self.choose(u, value)) {
                Some(branch) => id = branch,
                None => break,
            }
        }
        id
    }

    /// The branch of `union` that applies to `value` (see [`Union`]). A branch
    /// that is a union itself is ranked by all its branches' members (merged),
    /// and chosen among next: the cost stays linear in the nesting.
    fn choose(&self, union: &Union, value: &Value) -> Option<ShapeId> {
        // Ranked by validity, then by members declared: most among valid
        // branches, fewest among invalid ones. With no branch to vouch for
        // the value, the one showing least of it is chosen: a response whose
        // value matches no branch must not show the privileged branch's
        // members (`{"kind":"public","salary":5}` shown as staff). A request
        // like that fails the schema anyway.
        let mut best: Option<((bool, isize), ShapeId)> = None;
        for b in &union.branches {
            let valid = b.validator.as_ref().is_none_or(|v| v.is_valid(value));
            let (declared, total) = self.coverage(b.shape, value);
            if valid && declared == total {
                return Some(b.shape);
            }
            let declared = isize::try_from(declared).unwrap_or(isize::MAX);
            let rank = (valid, if valid { declared } else { -declared });
            if best.is_none_or(|(r, _)| rank > r) {
                best = Some((rank, b.shape));
            }
        }
        best.map(|(_, id)| id)
    }

    /// How many of `value`'s members node `id` declares, of how many (an
    /// array or scalar has none to declare).
    fn coverage(&self, id: ShapeId, value: &Value) -> (usize, usize) {
        let Value::Object(map) = value else {
            return (0, 0);
        };
        let shape = self.get(id);
        let declared = match &shape.object {
            _ if shape.any => map.len(),
            None => 0,
            Some(obj) => map
                .keys()
                .filter(|k| !matches!(obj.member(k), Member::Undeclared))
                .count(),
        };
        (declared, map.len())
    }
}

impl<'b> Builder<'b> {
    /// The shape of `acc` with its first union's branches as a [`Union`]; the
    /// node itself merges every branch (as do nodes past the budget). Each
    /// branch node has the parent's own declarations, the branch's, and the
    /// remaining unions (split again in turn).
    pub(super) fn split(&mut self, mut acc: Acc<'b>, depth: usize) -> Shape {
        let unions = std::mem::take(&mut acc.unions);
        let Some((first, rest)) = unions.split_first() else {
            return self.finish(acc, depth);
        };
        let mut merged = acc.clone();
        merged.split = false;
        for u in &unions {
            for branch in u.list {
                self.collect(branch, &mut merged, u.depth + 1, u.in_branch);
            }
        }
        let mut shape = self.finish(merged, depth);
        if first.list.is_empty()
            || depth > MAX_DEPTH
            || self.union_nodes + first.list.len() > MAX_UNION_NODES
        {
            return shape;
        }
        self.union_nodes += first.list.len();
        let mut branches = Vec::with_capacity(first.list.len());
        for branch in first.list {
            let mut a = acc.clone();
            a.discriminated = None;
            a.unions = rest.to_vec();
            self.collect(branch, &mut a, first.depth + 1, first.in_branch);
            let id = self.nodes.len();
            self.nodes.push(Shape::default());
            let s = self.shape_of(a, depth + 1);
            if let Some(slot) = self.nodes.get_mut(id) {
                *slot = s;
            }
            branches.push(Branch {
                shape: id,
                validator: self.validator(branch),
            });
        }
        if let Some(obj) = &shape.object {
            for b in &branches {
                self.impose(b.shape, &obj.props, 0);
            }
        }
        shape.union = Some(Box::new(Union { branches }));
        shape
    }

    /// Gives the properties of node `id` (and of its union branches) the
    /// marks `strictest` has for the same names.
    fn impose(&mut self, id: ShapeId, strictest: &Props, depth: usize) {
        if depth > MAX_RESOLVE {
            return;
        }
        let Some(node) = self.nodes.get_mut(id) else {
            return;
        };
        if let Some(obj) = &mut node.object {
            for (name, p) in &mut obj.props.list {
                if let Some(m) = strictest.get(name) {
                    p.read_only |= m.read_only;
                    p.write_only |= m.write_only;
                    p.roles = intersect(p.roles.take(), m.roles.clone());
                    p.reveal &= m.reveal;
                }
            }
        }
        let nested: Vec<ShapeId> = node
            .union
            .iter()
            .flat_map(|u| u.branches.iter().map(|b| b.shape))
            .collect();
        for b in nested {
            self.impose(b, strictest, depth + 1);
        }
    }

    /// The validator of one union branch: the branch with the definitions it
    /// reaches, compiled once per branch schema.
    fn validator(&mut self, branch: &'b Value) -> Option<Arc<jsonschema::Validator>> {
        let key = std::ptr::from_ref(branch) as usize;
        if let Some(v) = self.validators.get(&key) {
            return v.clone();
        }
        let mut defs = serde_json::Map::new();
        let mut queue = vec![branch];
        let mut seen = HashSet::new();
        while let Some(schema) = queue.pop() {
            let mut refs = Vec::new();
            references(schema, &mut refs, 0);
            for r in refs {
                if let (Some(name), Some(target)) = (self.reader.def_name(r), self.reader.target(r))
                    && seen.insert(name)
                {
                    defs.insert(name.to_string(), target.clone());
                    queue.push(target);
                }
            }
        }
        let mut wrapper = serde_json::Map::new();
        wrapper.insert("allOf".into(), Value::Array(vec![branch.clone()]));
        if !defs.is_empty() {
            wrapper.insert(self.reader.defs_key().into(), Value::Object(defs));
        }
        let v = crate::bundle::compile(&Value::Object(wrapper), self.version)
            .ok()
            .map(Arc::new);
        self.validators.insert(key, v.clone());
        v
    }
}

/// Collects the `$ref` values inside `value` (a schema and its subschemas).
fn references<'v>(value: &'v Value, out: &mut Vec<&'v str>, depth: usize) {
    if depth > 128 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => references(v, out, depth + 1),
                }
            }
        }
        Value::Array(list) => {
            for v in list {
                references(v, out, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The properties node `id` declares for `value`, sorted.
    fn declared(shapes: &Shapes, value: &Value) -> Vec<String> {
        let shape = shapes.get(shapes.resolve(shapes.root, value));
        let mut names: Vec<String> = shape
            .object
            .as_ref()
            .map(|o| o.props.list.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn unions_resolve_to_a_branch_the_value_matches_nested_ones_too() {
        let branch = |name: &str| {
            json!({"type": "object", "required": [name],
                "properties": {name: {"type": "integer"}, "id": {}}})
        };
        let schema = json!({
            "properties": {"common": {}},
            "oneOf": [
                branch("a"),
                {"anyOf": [branch("b"), {"allOf": [branch("c")], "properties": {"id": {"readOnly": true}}}]}
            ]
        });
        let shapes = Shapes::build(&schema, "$defs");
        assert_eq!(declared(&shapes, &json!({"a": 1})), ["a", "common", "id"]);
        assert_eq!(declared(&shapes, &json!({"b": 1})), ["b", "common", "id"]);
        assert_eq!(declared(&shapes, &json!({"c": 1})), ["c", "common", "id"]);
        // `c` validates, `b` does not (`b` is not an integer): the member
        // `b` is not declared.
        assert_eq!(
            declared(&shapes, &json!({"c": 1, "b": "x", "x": 1})),
            ["c", "common", "id"]
        );
        // Marks are the strictest any branch gives: `id` is readOnly in all.
        let shape = shapes.get(shapes.resolve(shapes.root, &json!({"a": 1})));
        let Member::Declared(id) = shape.object.as_ref().unwrap().member("id") else {
            panic!()
        };
        assert!(id.read_only);
        // Without a value, the node merges every branch.
        assert_eq!(
            shapes.get(shapes.root).object.as_ref().unwrap().props.len(),
            5
        );
    }

    #[test]
    fn many_nested_unions_stay_within_the_node_budget() {
        let unions: Vec<Value> = (0..12)
            .map(|i| {
                json!({"oneOf": [
                    {"properties": {format!("a{i}"): {}}},
                    {"properties": {format!("b{i}"): {}}},
                    {"properties": {format!("c{i}"): {}}}
                ]})
            })
            .collect();
        let shapes = Shapes::build(&json!({"allOf": unions}), "$defs");
        assert!(
            shapes.nodes.len() < 4 * MAX_UNION_NODES,
            "{}",
            shapes.nodes.len()
        );
        assert!(shapes.get(shapes.root).union.is_some());
        // Past the budget branches are merged: members still resolve somewhere.
        let names = declared(&shapes, &json!({"a0": 1, "b11": 1}));
        assert!(names.contains(&"a0".to_string()), "{names:?}");
    }
}
