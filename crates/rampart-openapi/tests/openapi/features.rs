//! Beyond plain schemas (tests/data/features.yaml): `content` parameters, a
//! discriminated `oneOf`, `$anchor`/`$id` references, multipart and form bodies.
//! For each, the request that must be refused and the legitimate one that passes.

use rampart_openapi::OpenApiConfig;

use crate::support::*;

fn api() -> Api {
    let cfg: OpenApiConfig =
        serde_saphyr::from_str("spec: features.yaml\nforbidden_properties: [is_admin]\n").unwrap();
    api_with(cfg, NOW)
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn search(api: &Api, filter: &str) -> rampart_core::Verdict {
    run(
        api,
        &mut req("GET", &format!("/search?filter={}", encode(filter))),
    )
}

#[test]
fn a_json_query_parameter_is_parsed_and_validated() {
    let api = api();
    assert_eq!(
        search(&api, r#"{"status":"open","max":5}"#),
        rampart_core::Verdict::Continue
    );
    passes(&api, &mut req("GET", "/search"));
    let p = refused(search(&api, r#"{"status":"deleted"}"#));
    assert!(has_failure(&p, "query", "/filter/status", "enum"), "{p:?}");
    let p = refused(search(&api, r#"{"status":"open","admin":true}"#));
    assert!(
        has_failure(&p, "query", "/filter", "additionalProperties"),
        "{p:?}"
    );
    let p = refused(search(&api, "not json"));
    assert!(has_failure(&p, "query", "/filter", "json-syntax"), "{p:?}");
    let bomb = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let p = refused(search(&api, &bomb));
    assert!(has_failure(&p, "query", "/filter", "max-depth"), "{p:?}");
    // A loose JSON parameter gets the mass-assignment rules of bodies.
    let sort = |v: &str| {
        run(
            &api,
            &mut req("GET", &format!("/search?sort={}", encode(v))),
        )
    };
    assert_eq!(
        sort(r#"{"field":"name","desc":true}"#),
        rampart_core::Verdict::Continue
    );
    let p = refused(sort(r#"{"field":"name","is_admin":true}"#));
    assert!(
        has_failure(&p, "query", "/sort/is_admin", "forbidden"),
        "{p:?}"
    );
    let p = refused(sort(r#"{"field":"name","raw":"1=1"}"#));
    assert!(has_failure(&p, "query", "/sort/raw", "undeclared"), "{p:?}");
    let p = refused(run(
        &api,
        &mut req("GET", "/search?filter=%7B%7D&filter=%7B%7D"),
    ));
    assert!(has_failure(&p, "query", "/filter", "duplicate"), "{p:?}");
}

#[test]
fn a_discriminator_selects_one_branch() {
    let api = api();
    // Legitimate: each value names its branch (explicit mapping, then the schema
    // name), and loose branches no longer match together.
    for body in [
        r#"{"petType":"kitty","name":"Tom","huntingSkill":"lazy"}"#,
        r#"{"petType":"kitty","name":"Tom"}"#,
        r#"{"petType":"Dog","name":"Rex","packSize":3}"#,
    ] {
        passes(&api, &mut json(req("POST", "/pets"), body));
    }
    // A member of the other branch is undeclared for this one.
    let p = refused(run(
        &api,
        &mut json(req("POST", "/pets"), r#"{"petType":"kitty","packSize":3}"#),
    ));
    assert!(has_failure(&p, "body", "/packSize", "undeclared"), "{p:?}");
    // The chosen branch's constraints hold.
    let p = refused(run(
        &api,
        &mut json(req("POST", "/pets"), r#"{"petType":"Dog","packSize":-1}"#),
    ));
    assert!(has_failure(&p, "body", "/packSize", "minimum"), "{p:?}");
    // Unknown or missing discriminator values match no branch.
    for (body, rule) in [
        (r#"{"petType":"Cat","huntingSkill":"lazy"}"#, "enum"),
        (r#"{"petType":"Lion"}"#, "enum"),
        (r#"{"name":"Tom"}"#, "required"),
    ] {
        let p = refused(run(&api, &mut json(req("POST", "/pets"), body)));
        assert!(has_failure(&p, "body", "/petType", rule), "{body}: {p:?}");
    }
}

#[test]
fn responses_show_only_the_members_of_the_branch_they_name() {
    let api = api();
    let filtered = |body: &str| {
        let mut cx = req("GET", "/pets/1");
        passes(&api, &mut cx);
        let mut resp = response(200, Some("application/json"), body);
        assert_eq!(
            respond(&api, &mut cx, &mut resp),
            rampart_core::Verdict::Continue
        );
        body_json(&resp)
    };
    assert_eq!(
        filtered(r#"{"petType":"kitty","name":"Tom","huntingSkill":"lazy","packSize":3}"#),
        serde_json::json!({"petType":"kitty","name":"Tom","huntingSkill":"lazy"})
    );
    // The discriminator may come last.
    assert_eq!(
        filtered(r#"{"packSize":3,"huntingSkill":"lazy","petType":"Dog"}"#),
        serde_json::json!({"packSize":3,"petType":"Dog"})
    );
    // No (or an unknown) discriminator: every branch's members, nothing else.
    assert_eq!(
        filtered(r#"{"name":"X","packSize":3,"huntingSkill":"lazy","ssn":"1","extra":1}"#),
        serde_json::json!({"name":"X","packSize":3,"huntingSkill":"lazy"})
    );
}

#[test]
fn anchor_and_id_references_resolve_within_the_document() {
    let api = api();
    let owner = r#"{"name":"Ann","address":{"city":"Paris","zip":"75001"}}"#;
    passes(&api, &mut json(req("POST", "/owners"), owner));
    let bad_zip = owner.replace("75001", "7500");
    let p = refused(run(&api, &mut json(req("POST", "/owners"), &bad_zip)));
    assert!(has_failure(&p, "body", "/address/zip", "pattern"), "{p:?}");
    let extra = owner.replace(r#""city""#, r#""floor":3,"city""#);
    let p = refused(run(&api, &mut json(req("POST", "/owners"), &extra)));
    assert!(
        has_failure(&p, "body", "/address/floor", "undeclared"),
        "{p:?}"
    );
    passes(
        &api,
        &mut json(req("POST", "/addresses"), r#"{"city":"Lyon"}"#),
    );
    let p = refused(run(
        &api,
        &mut json(req("POST", "/addresses"), r#"{"zip":"69001"}"#),
    ));
    assert!(has_failure(&p, "body", "/city", "required"), "{p:?}");
}

#[test]
fn unknown_anchors_and_ids_are_load_errors() {
    let dir = std::env::temp_dir().join(format!("rampart-openapi-anchors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = |reference: &str| {
        format!(
            "openapi: 3.1.0\ninfo: {{title: t, version: '1'}}\npaths:\n  /a:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: {{$ref: '{reference}'}}\n      responses: {{'200': {{description: ok}}}}\ncomponents:\n  schemas:\n    A: {{$anchor: a, type: object}}\n    B: {{$anchor: twice}}\n    C: {{$anchor: twice}}\n"
        )
    };
    for (reference, why) in [
        ("#nowhere", "no schema declares"),
        ("#twice", "several schemas declare"),
        ("https://example.com/elsewhere", "remote references"),
    ] {
        std::fs::write(dir.join("spec.yaml"), spec(reference)).unwrap();
        let cfg: OpenApiConfig = serde_saphyr::from_str("spec: spec.yaml\n").unwrap();
        let e = cfg.build(&dir).expect_err(reference).to_string();
        assert!(e.contains(why), "{reference}: {e}");
    }
    std::fs::write(dir.join("spec.yaml"), spec("#a")).unwrap();
    let cfg: OpenApiConfig = serde_saphyr::from_str("spec: spec.yaml\n").unwrap();
    assert!(cfg.build(&dir).is_ok());
}

fn multipart(parts: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (name, value) in parts {
        let file = if *name == "file" {
            "; filename=\"a.bin\"\r\nContent-Type: application/octet-stream"
        } else {
            ""
        };
        out.push_str(&format!(
            "--B0undary\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n{value}\r\n"
        ));
    }
    out.push_str("--B0undary--\r\n");
    out
}

fn upload(api: &Api, body: &str) -> rampart_core::Verdict {
    run(
        api,
        &mut with_body(
            req("POST", "/uploads"),
            "multipart/form-data; boundary=B0undary",
            body,
        ),
    )
}

#[test]
fn multipart_bodies_are_validated_against_their_schema() {
    let api = api();
    let ok = multipart(&[
        ("title", "Report"),
        ("copies", "2"),
        ("tags", "a"),
        ("tags", "b"),
        ("file", "\u{1}binary\u{2}"),
    ]);
    assert_eq!(upload(&api, &ok), rampart_core::Verdict::Continue);
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case<'_>; 6] = [
        (
            &[("title", "R"), ("file", "x"), ("owner", "me")],
            "/owner",
            "undeclared",
        ),
        (
            &[("title", "R"), ("file", "x"), ("is_admin", "1")],
            "/is_admin",
            "forbidden",
        ),
        (
            &[("title", "R"), ("file", "x"), ("copies", "many")],
            "/copies",
            "type",
        ),
        (&[("title", "R")], "/file", "required"),
        (
            &[("title", &"R".repeat(21)), ("file", "x")],
            "/title",
            "maxLength",
        ),
        (
            &[("title", "R"), ("title", "S"), ("file", "x")],
            "/title",
            "duplicate",
        ),
    ];
    for (parts, pointer, rule) in cases {
        let p = refused(upload(&api, &multipart(parts)));
        assert!(
            has_failure(&p, "body", pointer, rule),
            "{pointer} {rule}: {p:?}"
        );
    }
    let p = refused(upload(
        &api,
        "--B0undary\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B0undary--",
    ));
    assert!(has_failure(&p, "body", "", "multipart"), "{p:?}");
    let p = refused(run(
        &api,
        &mut with_body(req("POST", "/uploads"), "multipart/form-data", &ok),
    ));
    assert!(has_failure(&p, "body", "", "multipart"), "{p:?}");
}

#[test]
fn form_bodies_are_validated_against_their_schema() {
    let api = api();
    let form = |body: &str| {
        run(
            &api,
            &mut with_body(
                req("POST", "/uploads"),
                "application/x-www-form-urlencoded",
                body,
            ),
        )
    };
    assert_eq!(
        form("title=Report&file=abc&copies=3&tags=a&tags=b"),
        rampart_core::Verdict::Continue
    );
    for (body, pointer, rule) in [
        ("title=R&file=x&owner=me", "/owner", "undeclared"),
        ("title=R&file=x&copies=0", "/copies", "minimum"),
        ("title=R&file=x&copies=two", "/copies", "type"),
        ("file=x", "/title", "required"),
        (
            "title=R&file=x&tags=a&tags=b&tags=c&tags=d",
            "/tags",
            "maxItems",
        ),
    ] {
        let p = refused(form(body));
        assert!(has_failure(&p, "body", pointer, rule), "{body}: {p:?}");
    }
}

#[test]
fn a_discriminator_works_in_openapi_30_too() {
    let dir = std::env::temp_dir().join(format!("rampart-openapi-disc30-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("spec.yaml"),
        r##"openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /pets:
    post:
      requestBody:
        content:
          application/json:
            schema:
              oneOf:
                - $ref: "#/components/schemas/Cat"
                - $ref: "#/components/schemas/Dog"
              discriminator:
                propertyName: kind
                mapping: {cat: Cat, dog: Dog}
      responses: {"201": {description: created}}
components:
  schemas:
    Cat:
      type: object
      properties: {kind: {type: string}, lives: {type: integer, maximum: 9}}
    Dog:
      type: object
      properties: {kind: {type: string}, good: {type: boolean}, nickname: {type: string, nullable: true}}
"##,
    )
    .unwrap();
    let cfg: OpenApiConfig = serde_saphyr::from_str("spec: spec.yaml\n").unwrap();
    let (route, validation) = cfg.build(&dir).unwrap().stages();
    let api = Api { route, validation };
    for body in [
        r#"{"kind":"cat","lives":9}"#,
        r#"{"kind":"dog","good":true,"nickname":null}"#,
        r#"{"kind":"cat"}"#,
    ] {
        passes(&api, &mut json(req("POST", "/pets"), body));
    }
    let p = refused(run(
        &api,
        &mut json(req("POST", "/pets"), r#"{"kind":"cat","good":true}"#),
    ));
    assert!(has_failure(&p, "body", "/good", "undeclared"), "{p:?}");
    for body in [
        r#"{"kind":"cat","lives":10}"#,
        r#"{"kind":"Cat"}"#,
        r#"{"good":true}"#,
    ] {
        refused(run(&api, &mut json(req("POST", "/pets"), body)));
    }
}

#[test]
fn keywords_beside_a_ref_extend_only_that_use_of_the_schema() {
    let api = api();
    // `editor` is a Person with an email; `viewer` a plain Person.
    let legit = r#"{"editor":{"name":"A","email":"a@example.com"},"viewer":{"name":"B"}}"#;
    let mut cx = json(req("POST", "/notes"), legit);
    passes(&api, &mut cx);
    let p = refused(run(
        &api,
        &mut json(
            req("POST", "/notes"),
            r#"{"viewer":{"name":"B","email":"b@example.com"}}"#,
        ),
    ));
    assert!(
        has_failure(&p, "body", "/viewer/email", "undeclared"),
        "{p:?}"
    );
    let body = r#"{"editor":{"name":"A","email":"a@x"},"viewer":{"name":"B","email":"b@x"}}"#;
    let mut resp = response(200, Some("application/json"), body);
    assert_eq!(
        respond(&api, &mut cx, &mut resp),
        rampart_core::Verdict::Continue
    );
    assert_eq!(
        body_json(&resp),
        serde_json::json!({"editor":{"name":"A","email":"a@x"},"viewer":{"name":"B"}})
    );
}

#[test]
fn tuple_items_are_checked_by_position() {
    let api = api();
    let post = |body: &str| run(&api, &mut json(req("POST", "/notes"), body));
    let p = refused(post(r#"{"pair":[{"name":"A","role":"admin"},1]}"#));
    assert!(
        has_failure(&p, "body", "/pair/0/role", "undeclared"),
        "{p:?}"
    );
    let p = refused(post(r#"{"pair":[{"name":"A"},1,{"tag":"t","credits":9}]}"#));
    assert!(
        has_failure(&p, "body", "/pair/2/credits", "undeclared"),
        "{p:?}"
    );
    let legit = r#"{"pair":[{"name":"A"},1,{"tag":"t"},{"tag":"u"}]}"#;
    assert_eq!(post(legit), rampart_core::Verdict::Continue);
    let mut cx = json(req("POST", "/notes"), legit);
    passes(&api, &mut cx);
    let body = r#"{"pair":[{"name":"A","email":"e"},1,{"tag":"t","password":"p","x":1}]}"#;
    let mut resp = response(200, Some("application/json"), body);
    assert_eq!(
        respond(&api, &mut cx, &mut resp),
        rampart_core::Verdict::Continue
    );
    assert_eq!(
        body_json(&resp),
        serde_json::json!({"pair":[{"name":"A"},1,{"tag":"t"}]})
    );
}
