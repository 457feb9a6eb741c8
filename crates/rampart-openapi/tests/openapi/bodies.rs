//! Bodies: media types, size, structure limits while parsing, duplicate keys, schema
//! validation, and mass assignment (undeclared, readOnly, forbidden; refuse or strip).

use http::HeaderValue;
use serde_json::{Value, json};

use crate::support::*;

const ALICE: &str = r#"{"name":"Alice","email":"alice@example.com","password":"correct horse"}"#;

#[test]
fn a_legitimate_body_passes_unchanged() {
    let api = api();
    let mut cx = json(req("POST", "/v1/users"), ALICE);
    passes(&api, &mut cx);
    assert_eq!(cx.body.as_deref(), Some(ALICE.as_bytes()));
}

#[test]
fn schema_failures_list_pointer_and_rule() {
    let api = api();
    let body = r#"{"name":"","email":"not-an-email","password":"short","nickname":null,"friends":[{"name":7}]}"#;
    let p = refused(run(&api, &mut json(req("POST", "/v1/users"), body)));
    assert!(has_failure(&p, "body", "/name", "minLength"), "{p:?}");
    assert!(has_failure(&p, "body", "/email", "format"));
    assert!(has_failure(&p, "body", "/password", "minLength"));
    assert!(has_failure(&p, "body", "/friends/0/name", "type"));
    // `id` is readOnly, so not required in a request; `nickname` is nullable (3.0).
    assert!(!failures(&p).iter().any(|(_, ptr, _)| ptr == "/nickname"));
    // The friend lacks `email`: reported at the member's pointer.
    assert!(has_failure(&p, "body", "/friends/0/email", "required"));
    assert!(
        !failures(&p)
            .iter()
            .any(|(_, ptr, _)| ptr == "/id" || ptr == "/friends/0/id"),
        "{p:?}"
    );
    let text = String::from_utf8(p.to_json("r")).unwrap();
    assert!(
        !text.contains("not-an-email") && !text.contains("short"),
        "{text}"
    );
}

#[test]
fn required_body_and_required_members() {
    let api = api();
    let p = refused(run(&api, &mut req("POST", "/v1/users")));
    assert!(has_failure(&p, "body", "", "required"));
    let p = refused(run(
        &api,
        &mut json(req("POST", "/v1/users"), r#"{"name":"A"}"#),
    ));
    assert!(has_failure(&p, "body", "/email", "required"));
}

#[test]
fn an_http2_body_no_header_announces_is_read_and_refused_where_none_is_declared() {
    use rampart_core::Stage;
    let api = api();
    let h2 = |method: &str, uri: &str| {
        let mut cx = req(method, uri);
        cx.version = http::Version::HTTP_2;
        cx
    };
    // DATA frames need no Content-Length: the body is asked for to look.
    let delete = h2("DELETE", "/v1/users/1");
    assert!(api.validation.request_body_limit(&delete).is_some());
    let mut delete = with_body(delete, "application/json", "{}");
    delete.headers.remove("content-length");
    assert_eq!(refused(run(&api, &mut delete)).kind.status, 415);
    // Read and empty: passes.
    let mut empty = h2("DELETE", "/v1/users/1");
    empty.body = Some(bytes::Bytes::new());
    passes(&api, &mut empty);
    // With a length, or over HTTP/1 (no body without a framing header), the
    // headers tell: nothing to read.
    let mut announced = h2("DELETE", "/v1/users/1");
    announced
        .headers
        .insert("content-length", http::HeaderValue::from(0));
    assert!(api.validation.request_body_limit(&announced).is_none());
    assert!(
        api.validation
            .request_body_limit(&req("DELETE", "/v1/users/1"))
            .is_none()
    );
}

#[test]
fn two_content_types_are_refused() {
    // A singleton field: this check and the upstream could read different ones.
    let api = api();
    let mut cx = json(req("POST", "/v1/users"), ALICE);
    cx.headers
        .append("content-type", http::HeaderValue::from_static("text/plain"));
    assert_eq!(refused(run(&api, &mut cx)).kind.status, 415);
    passes(&api, &mut json(req("POST", "/v1/users"), ALICE));
}

#[test]
fn undeclared_media_types_get_415() {
    let api = api();
    let p = refused(run(
        &api,
        &mut with_body(req("POST", "/v1/users"), "application/xml", "<user/>"),
    ));
    assert_eq!(p.kind.status, 415);
    let p = refused(run(
        &api,
        &mut with_body(req("POST", "/v1/users"), "text/plain", ALICE),
    ));
    assert_eq!(p.kind.status, 415);
    let mut no_type = json(req("POST", "/v1/users"), ALICE);
    no_type.headers.remove("content-type");
    assert_eq!(refused(run(&api, &mut no_type)).kind.status, 415);
    // A body on an operation that declares none.
    let p = refused(run(&api, &mut json(req("DELETE", "/v1/users/1"), "{}")));
    assert_eq!(p.kind.status, 415);
    // Media type parameters and case do not matter.
    passes(
        &api,
        &mut with_body(
            req("POST", "/v1/users"),
            "Application/JSON; charset=utf-8",
            ALICE,
        ),
    );
    // Non-JSON declared media types pass without JSON validation.
    passes(
        &api,
        &mut with_body(req("PUT", "/v1/users/1/avatar"), "image/png", "\u{89}PNG"),
    );
}

#[test]
fn size_limit_per_operation_gives_413() {
    let api = api();
    let big = format!(
        r#"{{"name":"A","email":"a@example.com","address":{{"city":"{}"}}}}"#,
        "x".repeat(2048)
    );
    let p = refused(run(&api, &mut json(req("POST", "/v1/users"), &big)));
    assert_eq!(p.kind.status, 413);
    // The same body is within the API-wide default on another operation.
    passes(&api, &mut json(req("PATCH", "/v1/users/1"), &big));
    // The stage tells the gateway how much to buffer.
    let mut cx = req("POST", "/v1/users");
    let _ = done(rampart_core::Stage::on_request(&api.route, &mut cx));
    assert_eq!(
        rampart_core::Stage::request_body_limit(&api.validation, &cx),
        Some(2048)
    );
}

#[test]
fn json_bombs_stop_at_the_structure_limits() {
    let api = api();
    // max_depth 4 on createUser: the address object is depth 2, friends[0].address depth 4.
    let deep = r#"{"name":"A","email":"a@example.com","friends":[{"name":"B","email":"b@example.com","friends":[{}]}]}"#;
    let p = refused(run(&api, &mut json(req("POST", "/v1/users"), deep)));
    assert!(has_failure(&p, "body", "", "max-depth"), "{p:?}");
    let wide = r#"{"name":"A","email":"a@example.com","friends":[{},{},{},{},{},{}]}"#;
    let p = refused(run(&api, &mut json(req("POST", "/v1/users"), wide)));
    assert!(has_failure(&p, "body", "", "max-array-items"));
}

#[test]
fn duplicate_keys_are_refused() {
    let api = api();
    let body = r#"{"name":"A","email":"a@example.com","name":"B"}"#;
    let p = refused(run(&api, &mut json(req("POST", "/v1/users"), body)));
    assert!(has_failure(&p, "body", "", "duplicate-key"));
}

#[test]
fn malformed_json_is_a_400() {
    let api = api();
    let p = refused(run(
        &api,
        &mut json(req("POST", "/v1/users"), r#"{"name": "A",}"#),
    ));
    assert!(has_failure(&p, "body", "", "json-syntax"));
}

#[test]
fn mass_assignment_undeclared_members_are_refused() {
    let api = api();
    let body = r#"{"name":"A","email":"a@example.com","credits":1000000,"address":{"city":"X","verified":true}}"#;
    let p = refused(run(&api, &mut json(req("POST", "/v1/users"), body)));
    assert!(has_failure(&p, "body", "/credits", "undeclared"));
    assert!(has_failure(&p, "body", "/address/verified", "undeclared"));
}

#[test]
fn mass_assignment_read_only_and_forbidden_members_are_refused() {
    let api = api();
    let body = r#"{"id":1,"name":"A","email":"a@example.com"}"#;
    let p = refused(run(&api, &mut json(req("POST", "/v1/users"), body)));
    assert!(has_failure(&p, "body", "/id", "readOnly"));
    let body = r#"{"name":"A","email":"a@example.com","friends":[{"name":"B","email":"b@example.com","is_admin":true}]}"#;
    let p = refused(run(&api, &mut json(req("POST", "/v1/users"), body)));
    assert!(has_failure(&p, "body", "/friends/0/is_admin", "forbidden"));
    // Forbidden names are matched case-insensitively and even in strip mode.
    let p = refused(run(
        &api,
        &mut json(req("PATCH", "/v1/users/1"), r#"{"Role":"admin"}"#),
    ));
    assert!(has_failure(&p, "body", "/Role", "forbidden"));
}

#[test]
fn strip_mode_removes_undeclared_members_and_forwards_the_rest() {
    let api = api();
    let mut cx = json(
        req("PATCH", "/v1/users/1"),
        r#"{"name":"B","email":"b@example.com","credits":5,"address":{"city":"Y","x":1}}"#,
    );
    cx.headers.remove("content-length");
    cx.headers
        .insert("transfer-encoding", HeaderValue::from_static("chunked"));
    passes(&api, &mut cx);
    // The rewritten body is framed by Content-Length alone.
    assert!(cx.headers.get("transfer-encoding").is_none());
    assert_eq!(
        cx.notes.reason.as_deref(),
        Some("undeclared-properties-stripped")
    );
    let forwarded: Value = serde_json::from_slice(cx.body.as_ref().unwrap()).unwrap();
    assert_eq!(
        forwarded,
        json!({"name": "B", "email": "b@example.com", "address": {"city": "Y"}})
    );
    let len = cx
        .headers
        .get("content-length")
        .unwrap()
        .to_str()
        .unwrap()
        .parse::<usize>()
        .unwrap();
    assert_eq!(len, cx.body.as_ref().unwrap().len());
}

#[test]
fn a_31_spec_validates_with_2020_12() {
    let cfg: rampart_openapi::OpenApiConfig = serde_saphyr::from_str("spec: v31.json\n").unwrap();
    let api = api_with(cfg, NOW);
    let ok = r#"{"name":null,"price":2.5}"#;
    passes(
        &api,
        &mut with_body(
            req("PUT", "/items/ABC123.json"),
            "application/merge-patch+json",
            ok,
        ),
    );
    let p = refused(run(
        &api,
        &mut with_body(
            req("PUT", "/items/ABC123.json"),
            "application/merge-patch+json",
            r#"{"price":0}"#,
        ),
    ));
    assert!(has_failure(&p, "body", "/price", "exclusiveMinimum"));
    let p = refused(run(&api, &mut req("GET", "/items/abc.json")));
    assert!(has_failure(&p, "path", "/sku", "pattern"));
    let mut cx = req("GET", "/items/ABC123.json");
    cx.headers.insert("x-any", HeaderValue::from_static("1"));
    passes(&api, &mut cx);
}

const FORM: &str = "application/x-www-form-urlencoded";

#[test]
fn form_bodies_are_validated_like_json() {
    let api = api();
    let ok = "bio=Hello+world&age=42&interests=chess&interests=go";
    let mut cx = with_body(req("POST", "/v1/users/1/profile"), FORM, ok);
    passes(&api, &mut cx);
    assert_eq!(cx.body.as_deref(), Some(ok.as_bytes()));

    let p = refused(run(
        &api,
        &mut with_body(req("POST", "/v1/users/1/profile"), FORM, "age=-1&bio=x"),
    ));
    assert!(has_failure(&p, "body", "/age", "minimum"));
    let p = refused(run(
        &api,
        &mut with_body(req("POST", "/v1/users/1/profile"), FORM, "age=old"),
    ));
    assert!(has_failure(&p, "body", "/age", "type"));
    let p = refused(run(
        &api,
        &mut with_body(req("POST", "/v1/users/1/profile"), FORM, "age=1&age=99"),
    ));
    assert!(has_failure(&p, "body", "/age", "duplicate"));
    let p = refused(run(
        &api,
        &mut with_body(
            req("POST", "/v1/users/1/profile"),
            FORM,
            "interests=a&interests=b&interests=c&interests=d",
        ),
    ));
    assert!(has_failure(&p, "body", "/interests", "maxItems"));
}

#[test]
fn form_bodies_get_mass_assignment_checks() {
    let api = api();
    let p = refused(run(
        &api,
        &mut with_body(
            req("POST", "/v1/users/1/profile"),
            FORM,
            "bio=x&is_admin=true&credits=9",
        ),
    ));
    assert!(has_failure(&p, "body", "/is_admin", "forbidden"));
    assert!(has_failure(&p, "body", "/credits", "undeclared"));

    let mut cfg = config();
    cfg.operations.insert(
        "updateProfile".into(),
        rampart_openapi::OperationOverride {
            undeclared_properties: Some(rampart_openapi::UndeclaredMode::Strip),
            ..Default::default()
        },
    );
    let api = api_with(cfg, NOW);
    let mut cx = with_body(
        req("POST", "/v1/users/1/profile"),
        FORM,
        "bio=a+b%26c&credits=9&interests=x",
    );
    passes(&api, &mut cx);
    assert_eq!(cx.body.as_deref(), Some(&b"bio=a+b%26c&interests=x"[..]));
}

#[test]
fn strip_mode_forwards_the_clients_text_minus_the_stripped_members() {
    let api = api();
    let mut cx = json(
        req("PATCH", "/v1/users/1"),
        r#"{"name":"B\u00e9", "zzz":{"deep":[1,2]},"email":"b@example.com","address":{"x":123456789012345678901234567890,"city":"Y"}}"#,
    );
    passes(&api, &mut cx);
    // Member order and escapes are the client's; only the undeclared members go
    // (a re-serialised tree would reorder members and rewrite numbers).
    assert_eq!(
        std::str::from_utf8(cx.body.as_ref().unwrap()).unwrap(),
        r#"{"name":"B\u00e9","email":"b@example.com","address":{"city":"Y"}}"#
    );
}

#[test]
fn a_json_body_under_a_wildcard_media_range_gets_the_json_checks() {
    let api = api();
    // `*/*` with the User schema: a JSON body is held to it like `application/json`.
    let p = refused(run(
        &api,
        &mut json(
            req("POST", "/v1/imports"),
            r#"{"name":"A","email":"a@example.com","is_admin":true}"#,
        ),
    ));
    assert!(has_failure(&p, "body", "/is_admin", "forbidden"), "{p:?}");
    let p = refused(run(
        &api,
        &mut json(req("POST", "/v1/imports"), r#"{"name":"A","credits":9}"#),
    ));
    assert!(has_failure(&p, "body", "/credits", "undeclared"), "{p:?}");
    assert!(has_failure(&p, "body", "/email", "required"), "{p:?}");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let p = refused(run(&api, &mut json(req("POST", "/v1/imports"), &deep)));
    assert!(has_failure(&p, "body", "", "max-depth"), "{p:?}");
    // A string schema under `application/*` declares bytes: JSON is only
    // pre-scanned and checked for forbidden members.
    let p = refused(run(
        &api,
        &mut json(req("POST", "/v1/files"), r#"{"is_admin":true}"#),
    ));
    assert!(has_failure(&p, "body", "/is_admin", "forbidden"), "{p:?}");
    let p = refused(run(&api, &mut json(req("POST", "/v1/files"), &deep)));
    assert!(has_failure(&p, "body", "", "max-depth"), "{p:?}");
    // Legitimate: a valid JSON body, and non-JSON bodies under the wildcards.
    passes(
        &api,
        &mut json(
            req("POST", "/v1/imports"),
            r#"{"name":"A","email":"a@example.com"}"#,
        ),
    );
    passes(
        &api,
        &mut with_body(
            req("POST", "/v1/imports"),
            "text/csv",
            "name,is_admin\nA,1\n",
        ),
    );
    passes(
        &api,
        &mut json(req("POST", "/v1/files"), r#"{"any":{"thing":[1,2]}}"#),
    );
    passes(
        &api,
        &mut with_body(req("POST", "/v1/files"), "application/pdf", "%PDF-1.7"),
    );
}

#[test]
fn int32_and_int64_formats_bound_integers() {
    let api = api();
    let post = |uri: &str, body: &str| run(&api, &mut json(req("POST", uri), body));
    let p = refused(post("/v1/payslips", r#"{"days":2147483648}"#));
    assert!(has_failure(&p, "body", "/days", "maximum"), "{p:?}");
    let p = refused(post("/v1/payslips", r#"{"days":-1}"#));
    assert!(has_failure(&p, "body", "/days", "minimum"), "{p:?}");
    let p = refused(post("/v1/payslips", r#"{"ledger":9223372036854775808}"#));
    assert!(has_failure(&p, "body", "/ledger", "maximum"), "{p:?}");
    let p = refused(post("/v1/payslips?batch=-2147483649", "{}"));
    assert!(has_failure(&p, "query", "/batch", "minimum"), "{p:?}");
    for ok in [
        r#"{"days":2147483647}"#,
        r#"{"days":0,"ledger":-9223372036854775808}"#,
        r#"{"ledger":9223372036854775807}"#,
    ] {
        assert_eq!(
            post("/v1/payslips", ok),
            rampart_core::Verdict::Continue,
            "{ok}"
        );
    }
    assert_eq!(
        post("/v1/payslips?batch=-2147483648", "{}"),
        rampart_core::Verdict::Continue
    );
    // The format's bounds leave the schema's shape alone: an integer reached
    // through a one-branch allOf is still read as an integer.
    assert_eq!(
        post("/v1/payslips?ledger_ref=42", "{}"),
        rampart_core::Verdict::Continue
    );
    let p = refused(post("/v1/payslips?ledger_ref=x", "{}"));
    assert!(has_failure(&p, "query", "/ledger_ref", "type"), "{p:?}");
}
