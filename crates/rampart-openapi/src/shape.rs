//! What a schema declares about objects, flattened for fast walks over bodies.
//!
//! A [`Shapes`] arena is built once per bundled schema: for each schema node, the
//! declared properties (with `readOnly`, `writeOnly`, role and visibility marks), how
//! undeclared members are treated, and the item shapes of arrays (by position for
//! tuples: `prefixItems`, Draft 4 `items: [..]`). `allOf` branches are merged: a
//! property any of them declares is declared. A discriminated `oneOf`/`anyOf`
//! declares what the branch its tag names declares ([`Discriminator`]); one
//! without a discriminator, what a branch the value validates against declares
//! ([`Union`]). Recursive schemas share nodes through the bundle's definitions.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use regex::Regex;
use serde_json::Value;

use crate::bundle::SpecVersion;

mod reader;
mod union;

pub use reader::Reader;
use union::Split;
pub use union::{Branch, Union};

/// FNV-1a: fast for the short member names looked up on every body member. The maps
/// are fixed at build time (no attacker-driven inserts), so hash flooding does not apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A map keyed by member name with the [`Fnv`] hasher.
pub type NameMap<V> = HashMap<String, V, BuildHasherDefault<Fnv>>;

/// Index of a node in a [`Shapes`] arena.
pub type ShapeId = usize;

/// The node that accepts anything (a free-form schema).
pub const ANY: ShapeId = 0;

/// The node of the schema `false`, which no value matches: nothing of a value
/// there is shown (a tuple's `items: false`, a property declared `false`).
pub const NEVER: ShapeId = 1;

/// How members a schema does not name are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Additional {
    /// The schema says nothing (`additionalProperties` absent): the spec probably
    /// forgot it; policy decides (refuse or strip).
    Undeclared,
    /// `additionalProperties: false`.
    Forbidden,
    /// `additionalProperties: true` or a schema: allowed, with this shape.
    Allowed(ShapeId),
}

/// One declared property.
#[derive(Debug, Clone)]
pub struct Prop {
    /// The property's shape.
    pub shape: ShapeId,
    /// `readOnly: true`: refused in requests.
    pub read_only: bool,
    /// `writeOnly: true`: removed from responses.
    pub write_only: bool,
    /// `x-rampart-roles`: visible in responses only to these roles.
    pub roles: Option<Vec<String>>,
    /// `x-rampart-visible: true`: shown even if its name looks sensitive.
    pub reveal: bool,
    /// The name looks sensitive (computed once at build).
    pub sensitive: bool,
}

/// Declared properties: a list scanned linearly while short (most objects: faster
/// than hashing every member name), indexed by a hash map once long.
#[derive(Debug, Clone, Default)]
pub struct Props {
    list: Vec<(String, Prop)>,
    index: Option<NameMap<usize>>,
}

/// Above this many properties, lookups go through a hash index.
const INDEX_ABOVE: usize = 12;

impl Props {
    /// The property named `name`.
    pub fn get(&self, name: &str) -> Option<&Prop> {
        self.get_bytes(name.as_bytes())
    }

    /// The property whose name has these bytes.
    pub fn get_bytes(&self, name: &[u8]) -> Option<&Prop> {
        let i = match &self.index {
            None => self.list.iter().position(|(n, _)| n.as_bytes() == name)?,
            Some(index) => *index.get(std::str::from_utf8(name).ok()?)?,
        };
        self.list.get(i).map(|(_, p)| p)
    }

    /// Whether `name` is declared.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// How many properties are declared.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether none is declared.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Adds a property; one declared twice (by several branches) keeps the strictest
    /// marks: roles are intersected (see [`intersect`]), and a sensitive-looking
    /// name is revealed only if every declaration says `x-rampart-visible`.
    fn merge(&mut self, name: &str, prop: Prop) {
        match self.list.iter_mut().find(|(n, _)| n == name) {
            Some((_, p)) => {
                p.read_only |= prop.read_only;
                p.write_only |= prop.write_only;
                p.roles = intersect(p.roles.take(), prop.roles);
                p.reveal &= prop.reveal;
            }
            None => self.list.push((name.to_string(), prop)),
        }
    }

    fn finish(&mut self) {
        if self.list.len() > INDEX_ABOVE {
            let index = self
                .list
                .iter()
                .enumerate()
                .map(|(i, (n, _))| (n.clone(), i))
                .collect();
            self.index = Some(index);
        }
    }
}

/// What an object schema declares.
#[derive(Debug, Clone)]
pub struct ObjectShape {
    /// Declared properties by name.
    pub props: Props,
    /// `patternProperties`.
    pub patterns: Vec<(Regex, ShapeId)>,
    /// Everything else.
    pub additional: Additional,
}

impl ObjectShape {
    /// What a member named `key` is: its declared property, a pattern shape, or how
    /// undeclared members are treated.
    pub fn member(&self, key: &str) -> Member<'_> {
        self.member_bytes(key.as_bytes())
    }

    /// As [`ObjectShape::member`], for a name given as bytes (as read from a body).
    pub fn member_bytes(&self, key: &[u8]) -> Member<'_> {
        if let Some(prop) = self.props.get_bytes(key) {
            return Member::Declared(prop);
        }
        if !self.patterns.is_empty() {
            // A name that is not UTF-8 matches no pattern.
            let text = std::str::from_utf8(key).unwrap_or_default();
            for (re, shape) in &self.patterns {
                if !text.is_empty() && re.is_match(text) {
                    return Member::Pattern(*shape);
                }
            }
        }
        match self.additional {
            Additional::Allowed(shape) => Member::Pattern(shape),
            Additional::Undeclared | Additional::Forbidden => Member::Undeclared,
        }
    }
}

/// The verdict on one object member.
#[derive(Debug)]
pub enum Member<'a> {
    /// A named property.
    Declared(&'a Prop),
    /// Allowed by `patternProperties` or `additionalProperties`.
    Pattern(ShapeId),
    /// Not declared.
    Undeclared,
}

/// One schema node.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Free-form: any value, any members.
    pub any: bool,
    /// The schema `false` ([`NEVER`]): no value may be shown.
    pub never: bool,
    /// Present when the schema can be an object.
    pub object: Option<ObjectShape>,
    /// Item shape when the schema can be an array (past `prefix`).
    pub items: Option<ShapeId>,
    /// Shapes of a tuple's leading items (`prefixItems`; Draft 4 `items: [..]`).
    pub prefix: Vec<ShapeId>,
    /// A `discriminator`: the object's shape is the branch its property names.
    pub discriminator: Option<Box<Discriminator>>,
    /// A `oneOf`/`anyOf` without a discriminator: the value's shape is a
    /// branch it validates against. This node itself merges every branch
    /// (what is used when no value is at hand to choose by).
    pub union: Option<Box<Union>>,
}

/// The branches of a discriminated `oneOf`/`anyOf`.
#[derive(Debug, Clone, Default)]
pub struct Discriminator {
    /// The member whose value selects the branch.
    pub property: String,
    /// Value → the branch's shape (with the parent's own declarations merged in).
    pub branches: Vec<(String, ShapeId)>,
}

impl Shape {
    /// The shape of array item `index`: its tuple position's, else `items`.
    pub fn item(&self, index: usize) -> Option<ShapeId> {
        if self.any {
            return Some(ANY);
        }
        self.prefix.get(index).copied().or(self.items)
    }

    /// The discriminated branch `value` names, if any (see [`Shapes::resolve`],
    /// which also chooses among a [`Union`]'s branches).
    pub fn select(&self, value: &Value) -> Option<ShapeId> {
        let d = self.discriminator.as_ref()?;
        let tag = value.get(&d.property)?.as_str()?;
        d.branches.iter().find(|(v, _)| v == tag).map(|(_, id)| *id)
    }
}

/// The arena for one bundled schema.
#[derive(Debug, Clone)]
pub struct Shapes {
    nodes: Vec<Shape>,
    /// The root schema's node.
    pub root: ShapeId,
}

impl Shapes {
    /// The node `id` (an unknown id reads as free-form).
    pub fn get(&self, id: ShapeId) -> &Shape {
        static FREE: Shape = Shape {
            any: true,
            never: false,
            object: None,
            items: None,
            prefix: Vec::new(),
            discriminator: None,
            union: None,
        };
        self.nodes.get(id).unwrap_or(&FREE)
    }

    /// Builds the arena for a bundled schema whose definitions live under `defs_key`.
    /// `defs_key` also tells the dialect (`definitions`: 3.0, Draft 4; `$defs`:
    /// 3.1, 2020-12), for the validators of [`Union`] branches.
    pub fn build(bundle: &Value, defs_key: &str) -> Shapes {
        let version = if defs_key == SpecVersion::V30.defs_key() {
            SpecVersion::V30
        } else {
            SpecVersion::V31
        };
        let mut b = Builder {
            reader: Reader::new(bundle, defs_key),
            version,
            nodes: base_nodes(),
            memo: HashMap::new(),
            union_nodes: 0,
            validators: HashMap::new(),
        };
        let root = b.node(bundle, 0);
        Shapes {
            nodes: b.nodes,
            root,
        }
    }

    /// Marks declared properties named in `role_visible` (configuration, names
    /// lower-cased; matched without regard to case) as visible only to those
    /// roles. Where the spec restricts one too (`x-rampart-roles`), only roles
    /// both name may see it: the configuration tightens the spec, never
    /// loosens it.
    pub fn assign_roles(&mut self, role_visible: &HashMap<String, Vec<String>>) {
        if role_visible.is_empty() {
            return;
        }
        for node in &mut self.nodes {
            if let Some(obj) = &mut node.object {
                for (name, prop) in obj.props.list.iter_mut() {
                    let Some(roles) = role_visible.get(&name.to_ascii_lowercase()) else {
                        continue;
                    };
                    prop.roles = intersect(prop.roles.take(), Some(roles.clone()));
                }
            }
        }
    }

    /// A trivial arena: everything free-form.
    pub fn free() -> Shapes {
        Shapes {
            nodes: base_nodes(),
            root: ANY,
        }
    }
}

const MAX_DEPTH: usize = 48;

/// The nodes every arena starts with: [`ANY`] and [`NEVER`].
fn base_nodes() -> Vec<Shape> {
    vec![
        Shape {
            any: true,
            ..Shape::default()
        },
        Shape {
            never: true,
            ..Shape::default()
        },
    ]
}

struct Builder<'b> {
    reader: Reader<'b>,
    version: SpecVersion,
    nodes: Vec<Shape>,
    memo: HashMap<Memo<'b>, ShapeId>,
    /// [`Union`] branch nodes built so far (bounded by [`MAX_UNION_NODES`]).
    union_nodes: usize,
    /// Branch validators by the branch schema's address (a branch shared by
    /// several nodes is compiled once).
    validators: HashMap<usize, Option<Arc<jsonschema::Validator>>>,
}

/// What a node is shared by: a pure `$ref` (its target), or one schema of the
/// bundle (by address: the bundle is not moved while the arena is built).
#[derive(PartialEq, Eq, Hash)]
enum Memo<'b> {
    Ref(&'b str),
    At(usize),
}

/// What the branches of one schema declare, merged.
#[derive(Default, Clone)]
struct Acc<'b> {
    /// Keep `oneOf`/`anyOf` lists without a discriminator apart, in `unions`,
    /// rather than merging their branches.
    split: bool,
    /// The unions kept apart.
    unions: Vec<Split<'b>>,
    typed: bool,
    objectish: bool,
    props: Vec<(&'b String, &'b Value)>,
    patterns: Vec<(&'b String, &'b Value)>,
    additional: Option<&'b Value>,
    items: Option<&'b Value>,
    /// A tuple's leading item schemas (first declaration found).
    prefix: Option<&'b Vec<Value>>,
    /// The schema holding a discriminator (first one found).
    discriminated: Option<&'b serde_json::Map<String, Value>>,
}

impl<'b> Builder<'b> {
    fn target(&self, reference: &str) -> Option<&'b Value> {
        self.reader.target(reference)
    }

    /// The node of a schema; a pure reference reuses its definition's node
    /// (recursion). A reference with keywords beside it (3.1) extends the
    /// definition for that use only, so its node is shared by that schema alone.
    fn node(&mut self, schema: &'b Value, depth: usize) -> ShapeId {
        if depth > MAX_DEPTH {
            return ANY;
        }
        if schema == &Value::Bool(false) {
            return NEVER;
        }
        // Any other schema is shared by its uses: the branch nodes of a union
        // or discriminator each list the parent's own properties, whose
        // subtrees are then built once, not once per branch.
        let key = match schema {
            Value::Object(map) => match map.get("$ref").and_then(Value::as_str) {
                Some(r) if map.len() == 1 => Some(Memo::Ref(r)),
                _ => Some(Memo::At(std::ptr::from_ref(schema) as usize)),
            },
            _ => None,
        };
        if let Some(k) = &key
            && let Some(&id) = self.memo.get(k)
        {
            return id;
        }
        let id = self.nodes.len();
        self.nodes.push(Shape::default());
        if let Some(k) = key {
            self.memo.insert(k, id);
        }
        let mut acc = Acc {
            split: true,
            ..Acc::default()
        };
        self.collect(schema, &mut acc, 0, false);
        let shape = self.shape_of(acc, depth);
        if let Some(slot) = self.nodes.get_mut(id) {
            *slot = shape;
        }
        id
    }

    /// The shape of what `acc` collected, with its discriminator and unions.
    fn shape_of(&mut self, acc: Acc<'b>, depth: usize) -> Shape {
        let discriminated = acc.discriminated;
        let mut shape = self.split(acc, depth);
        if let Some(parent) = discriminated {
            shape.discriminator = self.discriminator(parent, depth).map(Box::new);
        }
        shape
    }

    /// One node per discriminated branch: the parent's own declarations (without
    /// its `oneOf`/`anyOf`) and the branch's.
    fn discriminator(
        &mut self,
        parent: &'b serde_json::Map<String, Value>,
        depth: usize,
    ) -> Option<Discriminator> {
        let d = parent.get("discriminator")?;
        let property = d.get("propertyName")?.as_str()?.to_string();
        let Some(Value::Object(mapping)) = d.get("x-rampart-mapping") else {
            return None;
        };
        let mut branches = Vec::with_capacity(mapping.len());
        for (value, branch) in mapping {
            let id = self.nodes.len();
            self.nodes.push(Shape::default());
            let mut acc = Acc {
                split: true,
                ..Acc::default()
            };
            self.collect_filtered(parent, &mut acc, depth);
            self.collect(branch, &mut acc, 1, true);
            let shape = self.split(acc, depth + 1);
            if let Some(slot) = self.nodes.get_mut(id) {
                *slot = shape;
            }
            branches.push((value.clone(), id));
        }
        Some(Discriminator { property, branches })
    }

    /// [`Builder::collect`] on a discriminated parent, leaving out its branches.
    fn collect_filtered(
        &self,
        parent: &'b serde_json::Map<String, Value>,
        acc: &mut Acc<'b>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        self.collect_map(parent, acc, 1, true, true);
    }

    fn collect(&self, schema: &'b Value, acc: &mut Acc<'b>, depth: usize, in_branch: bool) {
        if depth > MAX_DEPTH {
            return;
        }
        let Value::Object(map) = schema else {
            return;
        };
        self.collect_map(map, acc, depth, in_branch, false);
    }

    fn collect_map(
        &self,
        map: &'b serde_json::Map<String, Value>,
        acc: &mut Acc<'b>,
        depth: usize,
        in_branch: bool,
        skip_branches: bool,
    ) {
        if !in_branch && acc.discriminated.is_none() && map.contains_key("discriminator") {
            acc.discriminated = Some(map);
        }
        if let Some(r) = map.get("$ref").and_then(Value::as_str)
            && let Some(t) = self.target(r)
        {
            self.collect(t, acc, depth + 1, in_branch);
        }
        if let Some(t) = map.get("type") {
            acc.typed = true;
            let has = |name: &str| match t {
                Value::String(s) => s == name,
                Value::Array(list) => list.iter().any(|x| x.as_str() == Some(name)),
                _ => false,
            };
            if has("object") {
                acc.objectish = true;
            }
            if has("array") && acc.items.is_none() {
                acc.items = Some(&Value::Bool(true));
            }
        }
        if let Some(Value::Object(props)) = map.get("properties") {
            acc.objectish = true;
            acc.props.extend(props.iter());
        }
        if let Some(Value::Object(props)) = map.get("patternProperties") {
            acc.objectish = true;
            acc.patterns.extend(props.iter());
        }
        for key in ["additionalProperties", "unevaluatedProperties"] {
            if let Some(a) = map.get(key) {
                acc.objectish = true;
                acc.additional = Some(more_permissive(acc.additional, a));
            }
        }
        // A tuple: 2020-12 `prefixItems` (then `items` for the rest), or Draft 4
        // `items: [..]` (then `additionalItems`).
        let rest = match (map.get("prefixItems"), map.get("items")) {
            (Some(Value::Array(prefix)), items) => {
                acc.prefix.get_or_insert(prefix);
                items
            }
            (None, Some(Value::Array(prefix))) => {
                acc.prefix.get_or_insert(prefix);
                map.get("additionalItems")
            }
            (_, items) => items,
        };
        // `items: false` (or `additionalItems: false`) closes the tuple: no
        // item past it may be shown.
        if let Some(items) = rest
            && (items.is_object() || items == &Value::Bool(false))
        {
            acc.items = Some(items);
        }
        // The branches of a discriminated union (the bundle may have turned its
        // `oneOf` into if/then, which declares nothing by itself).
        if !skip_branches
            && let Some(Value::Object(mapping)) = map
                .get("discriminator")
                .and_then(|d| d.get("x-rampart-mapping"))
        {
            for branch in mapping.values() {
                self.collect(branch, acc, depth + 1, in_branch);
            }
        }
        // A discriminator with branches to choose from chooses; otherwise a
        // `oneOf`/`anyOf` is a union whose branch the value decides.
        let discriminated = map
            .get("discriminator")
            .and_then(|d| d.get("x-rampart-mapping"))
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty());
        for key in ["allOf", "anyOf", "oneOf"] {
            if skip_branches && key != "allOf" {
                continue;
            }
            if let Some(Value::Array(branches)) = map.get(key) {
                if key != "allOf" && acc.split && !discriminated {
                    acc.unions.push(Split {
                        list: branches,
                        depth,
                        in_branch,
                    });
                    continue;
                }
                for branch in branches {
                    self.collect(branch, acc, depth + 1, in_branch);
                }
            }
        }
    }

    fn finish(&mut self, acc: Acc<'b>, depth: usize) -> Shape {
        if !acc.typed && !acc.objectish && acc.items.is_none() && acc.prefix.is_none() {
            return Shape {
                any: true,
                ..Shape::default()
            };
        }
        let mut items = acc.items.map(|s| self.node(s, depth + 1));
        let prefix: Vec<ShapeId> = acc
            .prefix
            .into_iter()
            .flatten()
            .map(|s| self.node(s, depth + 1))
            .collect();
        if !prefix.is_empty() && items.is_none() {
            // Items past the tuple that no schema describes are free-form.
            items = Some(ANY);
        }
        if !acc.objectish {
            return Shape {
                items,
                prefix,
                ..Shape::default()
            };
        }
        let free_form = acc.props.is_empty() && acc.patterns.is_empty() && acc.additional.is_none();
        let additional = match acc.additional {
            _ if free_form => Additional::Allowed(ANY),
            None => Additional::Undeclared,
            Some(Value::Bool(false)) => Additional::Forbidden,
            Some(Value::Bool(true)) => Additional::Allowed(ANY),
            Some(schema) => Additional::Allowed(self.node(schema, depth + 1)),
        };
        let mut props = Props::default();
        for (name, schema) in acc.props {
            let shape = self.node(schema, depth + 1);
            let prop = Prop {
                shape,
                read_only: self.reader.flag(schema, "readOnly"),
                write_only: self.reader.flag(schema, "writeOnly"),
                roles: self.roles(schema, 0),
                reveal: self.reader.flag(schema, "x-rampart-visible"),
                sensitive: crate::json::filter::looks_sensitive(name),
            };
            props.merge(name, prop);
        }
        props.finish();
        let mut patterns = Vec::new();
        for (pattern, schema) in acc.patterns {
            // Patterns were already compiled by the validator; an unsupported one is
            // ignored here (its members then count as undeclared: the safe side).
            if let Ok(re) = Regex::new(pattern) {
                patterns.push((re, self.node(schema, depth + 1)));
            }
        }
        Shape {
            object: Some(ObjectShape {
                props,
                patterns,
                additional,
            }),
            items,
            prefix,
            ..Shape::default()
        }
    }

    /// The roles `x-rampart-roles` allows on the schema and what it references or
    /// combines with `allOf` (like [`Reader::flag`]); several lists intersect.
    fn roles(&self, schema: &Value, depth: usize) -> Option<Vec<String>> {
        if depth > 8 {
            return None;
        }
        let mut roles = match schema.get("x-rampart-roles") {
            None => None,
            Some(Value::String(r)) => Some(vec![r.clone()]),
            Some(Value::Array(list)) => Some(
                list.iter()
                    .filter_map(|r| r.as_str().map(String::from))
                    .collect(),
            ),
            // Not a role list: nobody is shown the member rather than everybody.
            Some(_) => Some(Vec::new()),
        };
        if let Some(t) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| self.target(r))
        {
            roles = intersect(roles, self.roles(t, depth + 1));
        }
        if let Some(Value::Array(branches)) = schema.get("allOf") {
            for b in branches {
                roles = intersect(roles, self.roles(b, depth + 1));
            }
        }
        roles
    }
}

/// Two role restrictions on one member. Each list admits a caller holding any of
/// its roles, and every restriction must admit the caller; the intersection is a
/// single list that never admits more (it may refuse a caller holding one role of
/// each list but none of both: the safe side).
fn intersect(a: Option<Vec<String>>, b: Option<Vec<String>>) -> Option<Vec<String>> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => Some(a.into_iter().filter(|r| b.contains(r)).collect()),
    }
}

fn more_permissive<'b>(current: Option<&'b Value>, new: &'b Value) -> &'b Value {
    match (current, new) {
        (None, n) => n,
        (Some(Value::Bool(false)), n) => n,
        (Some(c), Value::Bool(false)) => c,
        (Some(Value::Bool(true)), _) => &Value::Bool(true),
        (Some(_), n) => n,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flattens_all_of_and_marks_properties() {
        let bundle = json!({
            "allOf": [{"$ref": "#/$defs/s0"}, {"properties": {"extra": {"type": "string"}}}],
            "$defs": {"s0": {"type": "object", "properties": {
                "id": {"type": "integer", "readOnly": true},
                "password": {"type": "string", "writeOnly": true},
                "salary": {"type": "number", "x-rampart-roles": ["hr"]},
                "children": {"type": "array", "items": {"$ref": "#/$defs/s0"}}
            }}}
        });
        let shapes = Shapes::build(&bundle, "$defs");
        let root = shapes.get(shapes.root).object.as_ref().unwrap();
        assert_eq!(root.additional, Additional::Undeclared);
        let Member::Declared(id) = root.member("id") else {
            panic!()
        };
        assert!(id.read_only);
        let Member::Declared(pw) = root.member("password") else {
            panic!()
        };
        assert!(pw.write_only);
        let Member::Declared(salary) = root.member("salary") else {
            panic!()
        };
        assert_eq!(salary.roles.as_deref(), Some(&["hr".to_string()][..]));
        assert!(matches!(root.member("extra"), Member::Declared(_)));
        assert!(matches!(root.member("admin"), Member::Undeclared));
        // The recursive items point back to a node with the same properties.
        let Member::Declared(children) = root.member("children") else {
            panic!()
        };
        let item = shapes.get(children.shape).items.unwrap();
        let item_obj = shapes.get(item).object.as_ref().unwrap();
        assert!(item_obj.props.contains_key("password"));
    }

    #[test]
    fn tuples_give_each_position_its_shape() {
        let obj = |name: &str| json!({"type": "object", "properties": {name: {}}});
        for (tuple, rest) in [
            (
                json!({"prefixItems": [obj("a"), obj("b")], "items": obj("c")}),
                true,
            ),
            (
                json!({"items": [obj("a"), obj("b")], "additionalItems": obj("c")}),
                true,
            ),
            (
                json!({"type": "array", "prefixItems": [obj("a"), obj("b")]}),
                false,
            ),
        ] {
            let shapes = Shapes::build(&tuple, "$defs");
            let root = shapes.get(shapes.root);
            let declares = |i: usize, name: &str| {
                let shape = shapes.get(root.item(i).unwrap());
                shape.any || shape.object.as_ref().unwrap().props.contains_key(name)
            };
            assert!(declares(0, "a") && !declares(0, "b"), "{tuple}");
            assert!(declares(1, "b") && !declares(1, "a"), "{tuple}");
            assert!(declares(2, "c") && declares(5, "c"), "{tuple}");
            // Past a tuple with no rest schema: free-form.
            assert_eq!(!declares(2, "x"), rest, "{tuple}");
        }
    }

    #[test]
    fn tuples_closed_with_false_admit_nothing_past_them() {
        let obj = json!({"type": "object", "properties": {"a": {}}});
        for tuple in [
            json!({"prefixItems": [obj.clone()], "items": false}),
            json!({"items": [obj.clone()], "additionalItems": false}),
            json!({"type": "array", "prefixItems": [obj.clone()], "items": false}),
        ] {
            let shapes = Shapes::build(&tuple, "$defs");
            let root = shapes.get(shapes.root);
            assert!(
                shapes.get(root.item(0).unwrap()).object.is_some(),
                "{tuple}"
            );
            assert_eq!(root.item(1), Some(NEVER), "{tuple}");
            assert!(shapes.get(NEVER).never);
        }
        // A property declared `false` is NEVER too, not free-form.
        let shapes = Shapes::build(&json!({"properties": {"x": false}}), "$defs");
        let obj = shapes.get(shapes.root).object.as_ref().unwrap();
        let Member::Declared(x) = obj.member("x") else {
            panic!()
        };
        assert_eq!(x.shape, NEVER);
    }

    #[test]
    fn many_properties_use_the_index() {
        let props: serde_json::Map<String, Value> = (0..30)
            .map(|i| (format!("p{i}"), json!({"type": "string"})))
            .collect();
        let shapes = Shapes::build(&json!({"properties": props}), "$defs");
        let obj = shapes.get(shapes.root).object.as_ref().unwrap();
        assert_eq!(obj.props.len(), 30);
        assert!(matches!(obj.member("p29"), Member::Declared(_)));
        assert!(matches!(obj.member_bytes(b"p0"), Member::Declared(_)));
        assert!(matches!(obj.member("p30"), Member::Undeclared));
        assert!(matches!(obj.member_bytes(b"\xff"), Member::Undeclared));
    }

    #[test]
    fn free_form_and_explicit_additional_properties() {
        let shapes = Shapes::build(&json!({"type": "object"}), "$defs");
        assert_eq!(
            shapes.get(shapes.root).object.as_ref().unwrap().additional,
            Additional::Allowed(ANY)
        );
        let shapes = Shapes::build(
            &json!({"properties": {"a": {}}, "additionalProperties": false}),
            "$defs",
        );
        assert_eq!(
            shapes.get(shapes.root).object.as_ref().unwrap().additional,
            Additional::Forbidden
        );
        let shapes = Shapes::build(&json!({}), "$defs");
        assert!(shapes.get(shapes.root).any);
    }
}
