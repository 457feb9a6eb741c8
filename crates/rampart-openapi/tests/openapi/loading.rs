//! Loading: 3.0 YAML with sibling-file refs, 3.1 JSON, and load errors that name the
//! file, the line and what is wrong.

use std::path::Path;

use rampart_openapi::{BuildError, OpenApiConfig};

use crate::support::*;

fn minimal(spec: &str) -> OpenApiConfig {
    serde_saphyr::from_str(&format!("spec: {spec}\n")).unwrap()
}

fn load_error(spec: &str) -> String {
    match minimal(spec).build(&data()) {
        Ok(_) => panic!("{spec} should not load"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_sample_spec_loads_with_its_sibling_file() {
    let engine = config().build(&data()).unwrap();
    let ops: Vec<&str> = engine.operations().collect();
    assert!(ops.contains(&"GET /users/{id}"));
    assert!(ops.contains(&"POST /login"));
    assert_eq!(engine.version(), rampart_openapi::bundle::SpecVersion::V30);
}

#[test]
fn a_31_json_spec_loads() {
    let engine = minimal("v31.json").build(&data()).unwrap();
    assert_eq!(engine.version(), rampart_openapi::bundle::SpecVersion::V31);
}

#[test]
fn remote_refs_are_refused_not_fetched() {
    let e = load_error("bad/remote.yaml");
    assert!(e.contains("remote.yaml:11"), "{e}");
    assert!(e.contains("remote references are not fetched"), "{e}");
}

#[test]
fn a_missing_ref_target_names_file_line_and_ref() {
    let e = load_error("bad/missing.yaml");
    assert!(e.contains("missing.yaml:11"), "{e}");
    assert!(e.contains("#/components/schemas/Nope"), "{e}");
}

#[test]
fn yaml_syntax_errors_name_the_line() {
    let e = load_error("bad/syntax.yaml");
    assert!(e.contains("syntax.yaml:"), "{e}");
    assert!(e.contains("not valid YAML/JSON"), "{e}");
}

#[test]
fn swagger_2_is_refused() {
    let e = load_error("bad/version.yaml");
    assert!(e.contains("unsupported OpenAPI version"), "{e}");
}

#[test]
fn refs_cannot_leave_the_spec_directory() {
    let e = load_error("bad/escape.yaml");
    assert!(e.contains("outside the spec directory"), "{e}");
}

#[test]
fn missing_spec_file_is_a_read_error() {
    let e = load_error("nope.yaml");
    assert!(e.contains("nope.yaml"), "{e}");
}

#[test]
fn config_errors_name_the_field() {
    let mut cfg = config();
    cfg.operations
        .insert("noSuchOperation".into(), Default::default());
    let e = cfg.build(&data()).err().unwrap();
    assert!(matches!(e, BuildError::UnknownOperation { .. }));
    assert!(
        e.to_string()
            .contains("openapi.operations[\"noSuchOperation\"]"),
        "{e}"
    );

    let mut cfg = config();
    cfg.limits.max_depth = Some(0);
    let e = cfg.build(&data()).err().unwrap().to_string();
    assert!(e.contains("openapi.limits.max_depth"), "{e}");

    let bad: Result<OpenApiConfig, _> = serde_saphyr::from_str("spec: x.yaml\nstrict: true\n");
    assert!(bad.is_err(), "unknown keys are refused");
}

#[test]
fn deprecation_dates_are_checked_at_build() {
    let mut cfg = config();
    cfg.deprecation = Some(rampart_openapi::DeprecationConfig {
        sunset: Some("next year".into()),
        ..Default::default()
    });
    let e = cfg.build(Path::new(&data())).err().unwrap().to_string();
    assert!(e.contains("openapi.deprecation.sunset"), "{e}");
}

#[test]
fn the_config_schema_is_published() {
    let schema = schemars::schema_for!(OpenApiConfig);
    let text = serde_json::to_string(&schema).unwrap();
    assert!(text.contains("undeclared_properties"));
}

#[test]
fn an_invalid_schema_names_file_and_line() {
    let e = load_error("bad/pattern.yaml");
    assert!(e.contains("pattern.yaml:9"), "{e}");
    assert!(e.contains("invalid schema"), "{e}");
}

#[test]
fn an_unusable_path_template_names_file_and_line() {
    let e = load_error("bad/template.yaml");
    assert!(e.contains("template.yaml:4"), "{e}");
    assert!(e.contains("one named parameter per path segment"), "{e}");
}

#[test]
fn refs_to_path_items_parameters_bodies_and_responses_resolve_across_files() {
    use rampart_core::Verdict;
    let api = api_with(minimal("refs/main.yaml"), NOW);
    passes(&api, &mut req("GET", "/things?limit=3"));
    let p = refused(run(&api, &mut req("GET", "/things?limit=11")));
    assert!(has_failure(&p, "query", "/limit", "maximum"));
    // 3.1: `properties` beside the `$ref` count as declared.
    passes(
        &api,
        &mut json(req("POST", "/things"), r#"{"name":"a","colour":"red"}"#),
    );
    let p = refused(run(
        &api,
        &mut json(req("POST", "/things"), r#"{"name":"a","price":1}"#),
    ));
    assert!(has_failure(&p, "body", "/price", "undeclared"));
    let mut cx = req("GET", "/things");
    passes(&api, &mut cx);
    let mut resp = response(
        200,
        Some("application/json"),
        r#"[{"name":"a","colour":"red"}]"#,
    );
    assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
    assert_eq!(body_json(&resp), serde_json::json!([{"name": "a"}]));
}

#[test]
fn a_username_field_where_no_name_can_be_read_is_refused() {
    // `GET /users/me` has no body: the per-username lock-out would count nothing.
    let mut cfg = config();
    cfg.operations.insert(
        "me".into(),
        serde_json::from_value(serde_json::json!({
            "auth_endpoint": true, "username_field": "/username"
        }))
        .unwrap(),
    );
    let e = cfg.build(Path::new(&data())).err().unwrap().to_string();
    assert!(e.contains("operations[\"me\"].username_field"), "{e}");
    assert!(e.contains("declares no request body"), "{e}");
    // A JSON body is read at any depth.
    let mut cfg = config();
    cfg.operations.insert(
        "login".into(),
        serde_json::from_value(serde_json::json!({
            "auth_endpoint": true, "username_field": "/credentials/email"
        }))
        .unwrap(),
    );
    assert!(cfg.build(Path::new(&data())).is_ok());
}
