//! Schemas built from references and compositions: markers (`readOnly`,
//! `writeOnly`) that come through them, unions without a discriminator, and
//! tuples closed with `false`. For each, the request that must be refused or the
//! response member that must be removed, and the legitimate one that passes.

use rampart_core::Verdict;
use rampart_openapi::OpenApiConfig;

use crate::support::*;

/// The stages over `spec` (written to a directory of its own: tests run in
/// parallel).
fn api_of(name: &str, spec: &str) -> Api {
    configured(name, spec, "")
}

/// As [`api_of`], with more configuration (YAML lines).
fn configured(name: &str, spec: &str, config: &str) -> Api {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("rampart-openapi-{name}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("spec.yaml"), spec).unwrap();
    let cfg: OpenApiConfig = serde_saphyr::from_str(&format!("spec: spec.yaml\n{config}")).unwrap();
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

/// Unions without a discriminator: a self-service update or an admin one; the
/// settings of a user (named ones, or free string labels); a public or a
/// staff view.
fn unions(version: &str, undeclared: &str) -> Api {
    let spec = format!(
        r##"openapi: {version}
info: {{title: t, version: "1"}}
paths:
  /profile:
    patch:
      requestBody:
        content:
          application/json:
            schema:
              oneOf:
                - $ref: "#/components/schemas/SelfUpdate"
                - $ref: "#/components/schemas/AdminUpdate"
      responses: {{"204": {{description: updated}}}}
  /settings:
    put:
      requestBody:
        content:
          application/json:
            schema:
              anyOf:
                - type: object
                  properties: {{theme: {{type: string}}, beta: {{type: boolean}}}}
                - type: object
                  additionalProperties: {{type: string}}
      responses: {{"204": {{description: stored}}}}
  /people:
    get:
      responses:
        "200":
          description: people
          content:
            application/json:
              schema:
                type: array
                items: {{$ref: "#/components/schemas/Person"}}
components:
  schemas:
    SelfUpdate:
      type: object
      required: [name]
      properties: {{name: {{type: string}}, email: {{type: string}}}}
    AdminUpdate:
      type: object
      required: [role, reason]
      properties: {{role: {{type: string}}, reason: {{type: string}}}}
    Person:
      oneOf:
        - type: object
          required: [kind, name]
          properties: {{kind: {{type: string, enum: [public]}}, name: {{type: string}}}}
        - type: object
          required: [kind, name, salary]
          properties:
            kind: {{type: string, enum: [staff]}}
            name: {{type: string}}
            salary: {{type: number}}
"##
    );
    configured(
        "unions",
        &spec,
        &format!("undeclared_properties: {undeclared}\n"),
    )
}

#[test]
fn a_union_member_counts_only_if_a_branch_the_body_matches_declares_it() {
    for version in ["3.0.3", "3.1.0"] {
        let api = unions(version, "refuse");
        let patch = |body: &str| run(&api, &mut json(req("PATCH", "/profile"), body));
        // `role` belongs to the admin branch, which this body does not
        // validate against (no reason); the self-service branch it does
        // validate against (open, as JSON Schema branches are) does not name it.
        let p = refused(patch(r#"{"name":"x","role":"admin"}"#));
        assert!(
            has_failure(&p, "body", "/role", "undeclared"),
            "{version}: {p:?}"
        );
        // Each branch's own members pass.
        assert_eq!(
            patch(r#"{"name":"x","email":"e"}"#),
            Verdict::Continue,
            "{version}"
        );
        assert_eq!(
            patch(r#"{"role":"admin","reason":"r"}"#),
            Verdict::Continue,
            "{version}"
        );
        // Strip mode forwards the body the matching branch declares.
        let api = unions(version, "strip");
        let mut cx = json(req("PATCH", "/profile"), r#"{"name":"x","role":"admin"}"#);
        passes(&api, &mut cx);
        assert_eq!(
            cx.body.as_deref(),
            Some(&br#"{"name":"x"}"#[..]),
            "{version}"
        );
    }
}

#[test]
fn a_free_map_branch_does_not_open_the_other_branches() {
    for version in ["3.0.3", "3.1.0"] {
        let api = unions(version, "refuse");
        let put = |body: &str| run(&api, &mut json(req("PUT", "/settings"), body));
        // Not all strings: only the named branch matches, and it does not name `admin`.
        let p = refused(put(r#"{"theme":"dark","admin":true}"#));
        assert!(
            has_failure(&p, "body", "/admin", "undeclared"),
            "{version}: {p:?}"
        );
        // Legitimate: the named settings, or string labels only.
        assert_eq!(put(r#"{"theme":"dark","beta":true}"#), Verdict::Continue);
        assert_eq!(put(r#"{"theme":"dark","team":"blue"}"#), Verdict::Continue);
    }
}

#[test]
fn responses_show_only_the_members_of_the_branch_the_value_matches() {
    for version in ["3.0.3", "3.1.0"] {
        let api = unions(version, "refuse");
        let mut cx = req("GET", "/people");
        passes(&api, &mut cx);
        // The upstream leaks a salary in a public view: that branch has none.
        // One that matches no branch (a null name) is shown by the branch
        // showing least, not by the staff branch that declares most.
        let body = r#"[{"kind":"public","name":"A","salary":1},{"kind":"staff","name":"B","salary":2},{"kind":"public","name":null,"salary":5}]"#;
        let mut resp = response(200, Some("application/json"), body);
        assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
        assert_eq!(
            body_json(&resp),
            serde_json::json!([
                {"kind": "public", "name": "A"},
                {"kind": "staff", "name": "B", "salary": 2},
                {"kind": "public", "name": null}
            ]),
            "{version}"
        );
    }
}

const TAGS: &str = r##"openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /tags:
    post:
      requestBody:
        content:
          application/json:
            schema:
              oneOf:
                - $ref: "#/components/schemas/ExistingTag"
                - $ref: "#/components/schemas/NewTag"
      responses: {"201": {description: created}}
components:
  schemas:
    ExistingTag:
      type: object
      required: [id]
      properties:
        id: {type: integer}
    NewTag:
      type: object
      required: [name]
      properties:
        id: {type: integer, readOnly: true}
        name: {type: string}
"##;

/// `readOnly` in one `oneOf` branch does not loosen its sibling's `required`:
/// loosened, `ExistingTag` matched every body and `{"name": "x"}` matched both.
#[test]
fn read_only_in_one_branch_leaves_its_sibling_required() {
    let api = api_of("tags", TAGS);
    passes(&api, &mut json(req("POST", "/tags"), r#"{"name":"x"}"#));
    // `{"id":1}` validates as `ExistingTag` only (as before), and is then
    // refused as mass assignment: a union's members carry the strictest marks
    // any branch gives (see `shape::union`), so `id` is readOnly there too.
    let p = refused(run(&api, &mut json(req("POST", "/tags"), r#"{"id":1}"#)));
    assert_eq!(
        failures(&p),
        [("body".into(), "/id".into(), "readOnly".into())]
    );
    // Both branches match: not one of them.
    let p = refused(run(
        &api,
        &mut json(req("POST", "/tags"), r#"{"id":1,"name":"x"}"#),
    ));
    assert!(has_failure(&p, "body", "", "oneOf"), "{p:?}");
}
