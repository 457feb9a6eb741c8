//! Schemas built from references and compositions: markers (`readOnly`,
//! `writeOnly`) that come through them, unions without a discriminator, and
//! tuples closed with `false`. For each, the request that must be refused or the
//! response member that must be removed, and the legitimate one that passes.

use rampart_openapi::OpenApiConfig;

use crate::support::*;

/// The stages over `spec` (written to a directory of its own: tests run in
/// parallel).
fn api_of(name: &str, spec: &str) -> Api {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("rampart-openapi-{name}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("spec.yaml"), spec).unwrap();
    let cfg: OpenApiConfig = serde_saphyr::from_str("spec: spec.yaml\n").unwrap();
    let (route, validation) = cfg.build(&dir).unwrap().stages();
    Api { route, validation }
}

const READ_ONLY: &str = r##"openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /users:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/User"}
      responses: {"201": {description: created}}
  /posts:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Post"}
      responses: {"201": {description: created}}
components:
  schemas:
    Id: {type: string, readOnly: true}
    User:
      type: object
      required: [id, name]
      properties:
        id: {$ref: "#/components/schemas/Id"}
        name: {type: string}
    Entity:
      type: object
      properties:
        id: {type: string, readOnly: true}
    Post:
      allOf:
        - $ref: "#/components/schemas/Entity"
        - type: object
          required: [id, title]
          properties:
            title: {type: string}
"##;

/// A body without `id` passes (it was `required`, and refused with it); with
/// it, it is refused as readOnly, and only as that.
fn read_only_is_not_required(path: &str, legit: &str, with_id: &str) {
    let api = api_of("read-only", READ_ONLY);
    passes(&api, &mut json(req("POST", path), legit));
    let p = refused(run(&api, &mut json(req("POST", path), with_id)));
    assert_eq!(
        failures(&p),
        [("body".into(), "/id".into(), "readOnly".into())],
        "{path}"
    );
}

#[test]
fn read_only_through_a_reference_is_not_required() {
    read_only_is_not_required("/users", r#"{"name":"A"}"#, r#"{"id":"1","name":"A"}"#);
}

#[test]
fn read_only_from_an_all_of_branch_is_not_required() {
    read_only_is_not_required("/posts", r#"{"title":"T"}"#, r#"{"id":"1","title":"T"}"#);
    // The other required members still are.
    let api = api_of("read-only", READ_ONLY);
    let p = refused(run(&api, &mut json(req("POST", "/posts"), "{}")));
    assert!(has_failure(&p, "body", "/title", "required"), "{p:?}");
    assert!(!has_failure(&p, "body", "/id", "required"), "{p:?}");
}

/// A pair: a person, then a number, and nothing after (3.1 `items: false`,
/// Draft 4 `additionalItems: false` in 3.0).
fn tuples(version: &str, tuple: &str) -> Api {
    let spec = format!(
        r##"openapi: {version}
info: {{title: t, version: "1"}}
paths:
  /pair:
    get:
      responses:
        "200":
          description: the pair
          content:
            application/json:
              schema:
                type: object
                properties:
                  pair: {{{tuple}}}
                  internal: false
"##
    );
    api_of("tuples", &spec)
}

#[test]
fn nothing_past_a_tuple_closed_with_false_is_shown() {
    let person = "{type: object, properties: {name: {type: string}}}";
    for api in [
        tuples(
            "3.1.0",
            &format!("type: array, prefixItems: [{person}, {{type: integer}}], items: false"),
        ),
        tuples(
            "3.0.3",
            &format!("type: array, items: [{person}, {{type: integer}}], additionalItems: false"),
        ),
    ] {
        let mut cx = req("GET", "/pair");
        passes(&api, &mut cx);
        let body =
            r#"{"pair":[{"name":"A","x":1},2,{"name":"B","internal":"i"},"leak"],"internal":"i"}"#;
        let mut resp = response(200, Some("application/json"), body);
        assert_eq!(
            respond(&api, &mut cx, &mut resp),
            rampart_core::Verdict::Continue
        );
        assert_eq!(
            body_json(&resp),
            serde_json::json!({"pair": [{"name": "A"}, 2]})
        );
    }
}
