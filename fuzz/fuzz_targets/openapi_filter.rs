//! Fuzzes the streaming response filter with a schema that declares some members.
//! Invariants: no panic; the output is never longer than the input; when the input is
//! JSON, the output is JSON too and holds no member the schema leaves undeclared.
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rampart_openapi::json::filter::{Rules, filter};
use rampart_openapi::shape::Shapes;
use serde_json::{Value, json};

fn shapes() -> &'static Shapes {
    static SHAPES: OnceLock<Shapes> = OnceLock::new();
    SHAPES.get_or_init(|| {
        let schema = json!({"type": "object", "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "password": {"type": "string", "writeOnly": true},
            "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}
        }, "$defs": {"Item": {"properties": {"sku": {}, "children": {"items": {"$ref": "#/$defs/Item"}}}}}});
        Shapes::build(&schema, "$defs")
    })
}

fn has_key(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(m) => m.contains_key(key) || m.values().any(|c| has_key(c, key)),
        Value::Array(a) => a.iter().any(|c| has_key(c, key)),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let role_visible = HashMap::new();
    let rules = Rules {
        roles: &[],
        reveal: &[],
        role_visible: &role_visible,
        max_depth: 32,
    };
    let Ok(out) = filter(data, shapes(), &rules) else { return };
    assert!(out.body.len() <= data.len());
    if serde_json::from_slice::<Value>(data).is_ok() {
        let filtered: Value = serde_json::from_slice(&out.body).expect("filter output is JSON");
        if filtered.is_object() {
            assert!(!has_key(&filtered, "password"));
        }
    }
});
