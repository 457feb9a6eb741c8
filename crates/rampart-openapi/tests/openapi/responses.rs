//! Responses: filtering (undeclared, writeOnly, role-restricted, sensitive names),
//! error masking, content types, uniform failures of authentication endpoints.

use rampart_core::Verdict;
use serde_json::json;

use crate::support::*;

const LEAKY_USER: &str = r#"{"id":7,"name":"Alice","email":"alice@example.com","password":"hunter22",
 "salary":120000,"reset_token":"rt-123","api_key_hint":"ab12","ssn":"078-05-1120",
 "internal_notes":"VIP","address":{"city":"Paris","geo_secret":"x","lat":1},
 "friends":[{"id":8,"name":"Bob","email":"bob@example.com","password_hash":"$2b$"}]}"#;

fn get_user(api: &Api, roles: &[&str]) -> rampart_core::RequestCx {
    let mut cx = as_consumer(req("GET", "/v1/users/7"), "web", roles);
    passes(api, &mut cx);
    cx
}

#[test]
fn undeclared_write_only_sensitive_and_role_restricted_members_are_removed() {
    let api = api();
    let mut cx = get_user(&api, &[]);
    let mut resp = response(200, Some("application/json"), LEAKY_USER);
    assert!(rampart_core::Stage::wants_response_body(
        &api.validation,
        &cx,
        &resp
    ));
    assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
    assert_eq!(
        body_json(&resp),
        json!({"id": 7, "name": "Alice", "email": "alice@example.com", "api_key_hint": "ab12",
               "address": {"city": "Paris"},
               "friends": [{"id": 8, "name": "Bob", "email": "bob@example.com"}]})
    );
    assert!(resp.headers.get("transfer-encoding").is_none());
    let len: usize = resp.headers["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(len, resp.body.as_ref().unwrap().len());
}

#[test]
fn role_restricted_members_are_shown_to_the_role() {
    let api = api();
    let mut cx = get_user(&api, &["hr"]);
    let mut resp = response(200, Some("application/json"), LEAKY_USER);
    assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
    assert_eq!(body_json(&resp)["salary"], json!(120000));
}

#[test]
fn role_visible_names_match_any_case_and_narrow_the_spec() {
    // The member is `salary`, the configuration says `Salary`: still only hr.
    // `bonus` is for hr and finance in the spec; the configuration keeps hr.
    let mut cfg = config();
    cfg.role_visible = [
        ("Salary".to_string(), vec!["hr".to_string()]),
        ("BONUS".to_string(), vec!["hr".to_string()]),
    ]
    .into_iter()
    .collect();
    let api = api_with(cfg, NOW);
    let body = r#"{"id":7,"name":"Alice","salary":5,"bonus":1}"#;
    let seen = |roles: &[&str]| {
        let mut cx = as_consumer(req("GET", "/v1/users/7"), "web", roles);
        passes(&api, &mut cx);
        let mut resp = response(200, Some("application/json"), body);
        assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
        let out = body_json(&resp);
        (out.get("salary").is_some(), out.get("bonus").is_some())
    };
    assert_eq!(seen(&[]), (false, false));
    assert_eq!(seen(&["finance"]), (false, false));
    assert_eq!(seen(&["hr"]), (true, true));
}

#[test]
fn revealed_sensitive_names_are_kept() {
    let mut cfg = config();
    cfg.reveal_properties = vec!["reset_token".into()];
    let api = api_with(cfg, NOW);
    let mut cx = as_consumer(req("GET", "/v1/users/7"), "web", &[]);
    passes(&api, &mut cx);
    let mut resp = response(200, Some("application/json"), LEAKY_USER);
    assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
    assert_eq!(body_json(&resp)["reset_token"], json!("rt-123"));
}

#[test]
fn a_clean_response_passes_byte_for_byte() {
    let api = api();
    let mut cx = get_user(&api, &[]);
    let clean = r#"{"id":7,"name":"Alice","email":"alice@example.com"}"#;
    let mut resp = response(200, Some("application/json"), clean);
    assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
    assert_eq!(resp.body.as_deref(), Some(clean.as_bytes()));
}

#[test]
fn a_json_answer_under_a_wildcard_media_type_is_still_filtered() {
    // `*/*` does not say the body is JSON; one that is still loses its
    // secrets and role-restricted members (free-form: no schema to hold it to).
    let api = api();
    let mut cx = as_consumer(req("GET", "/v1/exports/1"), "web", &[]);
    passes(&api, &mut cx);
    let body = r#"{"id":1,"password":"hunter22","salary":5,"rows":[{"n":1,"api_secret":"s"}]}"#;
    let mut resp = response(200, Some("application/json; charset=utf-8"), body);
    assert!(rampart_core::Stage::wants_response_body(
        &api.validation,
        &cx,
        &resp
    ));
    assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
    assert_eq!(body_json(&resp), json!({"id": 1, "rows": [{"n": 1}]}));
    // Anything else under it passes as it is.
    let mut cx = as_consumer(req("GET", "/v1/exports/1"), "web", &[]);
    passes(&api, &mut cx);
    let csv = "id,password\n1,hunter22\n";
    let mut resp = response(200, Some("text/csv"), csv);
    assert!(!rampart_core::Stage::wants_response_body(
        &api.validation,
        &cx,
        &resp
    ));
    assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
    assert_eq!(resp.body.as_deref(), Some(csv.as_bytes()));
}

#[test]
fn arrays_of_objects_are_filtered_item_by_item() {
    let api = api();
    let mut cx = req("GET", "/v1/users");
    passes(&api, &mut cx);
    let mut resp = response(
        200,
        Some("application/json"),
        r#"[{"id":1,"name":"A","token":"t"},{"id":2,"is_admin":true}]"#,
    );
    assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
    assert_eq!(body_json(&resp), json!([{"id": 1, "name": "A"}, {"id": 2}]));
}

#[test]
fn upstream_5xx_is_masked() {
    let api = api();
    let mut cx = get_user(&api, &[]);
    let mut resp = response(
        500,
        Some("text/html"),
        "<h1>Traceback: psycopg2.errors.SyntaxError at SELECT *</h1>",
    );
    let p = refused(respond(&api, &mut cx, &mut resp));
    assert_eq!(p.kind.slug, "upstream-error");
    assert_eq!(p.kind.status, 502);
    assert!(p.detail.is_none());
}

#[test]
fn undeclared_statuses_are_masked() {
    let api = api();
    let mut cx = get_user(&api, &[]);
    // An undeclared success is not in the contract: 502.
    let mut resp = response(202, Some("application/json"), "{}");
    let p = refused(respond(&api, &mut cx, &mut resp));
    assert_eq!((p.kind.slug, p.kind.status), ("response-not-declared", 502));
    // An undeclared client error keeps its status, not its body.
    let mut resp = response(
        429,
        Some("text/plain"),
        "rate limited by node-7 (redis 10.0.0.5)",
    );
    let p = refused(respond(&api, &mut cx, &mut resp));
    assert_eq!((p.kind.slug, p.kind.status), ("response-not-declared", 429));
    // 304 answers a conditional GET and carries no body: passes.
    let mut resp = response(304, None, "");
    resp.body = None;
    assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
    // A declared error status without declared content keeps its status but not its body.
    let mut resp = response(
        404,
        Some("text/html"),
        "<pre>NotFound at /srv/app/users.py:42</pre>",
    );
    let p = refused(respond(&api, &mut cx, &mut resp));
    assert_eq!((p.kind.slug, p.kind.status), ("response-not-declared", 404));
    // The same status without a body passes.
    let mut resp = response(404, None, "");
    resp.body = None;
    assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
}

#[test]
fn undeclared_response_content_types_are_refused() {
    let api = api();
    let mut cx = get_user(&api, &[]);
    let mut resp = response(200, Some("text/html"), "<html>debug</html>");
    assert_eq!(
        refused(respond(&api, &mut cx, &mut resp)).kind.slug,
        "response-not-declared"
    );
    let mut resp = response(200, Some("application/json"), "{not json");
    assert_eq!(refused(respond(&api, &mut cx, &mut resp)).kind.status, 502);
}

#[test]
fn an_undeclared_body_without_a_length_header_is_read_and_refused() {
    // A chunked or close-delimited answer (or an HTTP/2 one): no header says
    // there is a body, so the stage asks for it to find out.
    let api = api();
    for ct in [Some("text/html"), None] {
        let mut cx = get_user(&api, &[]);
        let mut resp = response(200, ct, "<html>stack trace</html>");
        resp.headers.remove("content-length");
        resp.body = None;
        assert!(
            rampart_core::Stage::wants_response_body(&api.validation, &cx, &resp),
            "{ct:?}"
        );
        resp.body = Some(bytes::Bytes::from_static(b"<html>stack trace</html>"));
        assert_eq!(
            refused(respond(&api, &mut cx, &mut resp)).kind.slug,
            "response-not-declared"
        );
        // Read and found empty: nothing to refuse.
        let mut cx = get_user(&api, &[]);
        let mut resp = response(200, ct, "");
        resp.headers.remove("content-length");
        assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
    }
    // A length header says whether there is one: not read (a length of 0
    // passes, any other is refused unread, however large).
    let mut cx = get_user(&api, &[]);
    let mut resp = response(200, Some("text/html"), "");
    resp.body = None;
    assert!(!rampart_core::Stage::wants_response_body(
        &api.validation,
        &cx,
        &resp
    ));
    assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
    let mut cx = get_user(&api, &[]);
    let mut resp = response(200, Some("application/pdf"), "");
    resp.headers
        .insert("content-length", http::HeaderValue::from(20u64 << 20));
    resp.body = None;
    assert!(!rampart_core::Stage::wants_response_body(
        &api.validation,
        &cx,
        &resp
    ));
    assert_eq!(
        refused(respond(&api, &mut cx, &mut resp)).kind.slug,
        "response-not-declared"
    );
}

#[test]
fn authentication_endpoints_fail_uniformly() {
    let api = api();
    let login = |body: &str| json(req("POST", "/v1/login"), body);
    let mut ok = login(r#"{"username":"alice","password":"pw"}"#);
    passes(&api, &mut ok);
    let mut resp = response(200, Some("application/json"), r#"{"access_token":"abc"}"#);
    assert_eq!(respond(&api, &mut ok, &mut resp), Verdict::Continue);
    // The token's name looks sensitive; the config reveals it for this operation only.
    assert_eq!(body_json(&resp), json!({"access_token": "abc"}));

    // Wrong user, wrong password, malformed request: the same answer.
    let answers: Vec<_> = [
        (
            r#"{"username":"nobody","password":"pw"}"#,
            Some((401, r#"{"error":"no such user"}"#)),
        ),
        (
            r#"{"username":"alice","password":"bad"}"#,
            Some((403, r#"{"error":"bad password"}"#)),
        ),
        (r#"{"username":"alice"}"#, None),
        (
            r#"{"username":"alice","password":"pw","role":"admin"}"#,
            None,
        ),
    ]
    .into_iter()
    .map(|(body, upstream)| {
        let mut cx = login(body);
        match upstream {
            None => refused(run(&api, &mut cx)),
            Some((status, text)) => {
                passes(&api, &mut cx);
                let mut resp = response(status, Some("application/json"), text);
                refused(respond(&api, &mut cx, &mut resp))
            }
        }
    })
    .collect();
    for p in &answers {
        assert_eq!(p, &answers[0]);
        assert_eq!(p.kind.status, 401);
        assert_eq!(p.to_json("r"), answers[0].to_json("r"));
    }
}

#[test]
fn an_unbuffered_json_body_fails_closed_but_head_passes() {
    let api = api();
    let mut cx = get_user(&api, &[]);
    let mut resp = response(200, Some("application/json"), LEAKY_USER);
    resp.body = None; // the gateway could not buffer it
    assert_eq!(refused(respond(&api, &mut cx, &mut resp)).kind.status, 502);

    let mut head = req("HEAD", "/v1/users/7");
    passes(&api, &mut head);
    let mut resp = response(200, Some("application/json"), LEAKY_USER);
    resp.body = None;
    assert!(!rampart_core::Stage::wants_response_body(
        &api.validation,
        &head,
        &resp
    ));
    assert_eq!(respond(&api, &mut head, &mut resp), Verdict::Continue);
}

#[test]
fn role_and_read_only_markers_on_referenced_schemas_and_beside_refs_hold() {
    let api = api();
    let body = r#"{"id":1,"employee":"E","pay":5,"grade":"G7","desk":"D2","api_secret":"s"}"#;
    let shown = |roles: &[&str]| {
        let mut cx = as_consumer(
            json(req("POST", "/v1/payslips"), r#"{"employee":"E"}"#),
            "web",
            roles,
        );
        passes(&api, &mut cx);
        let mut resp = response(201, Some("application/json"), body);
        assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
        let out = body_json(&resp);
        let mut keys: Vec<String> = out.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    // `pay` is a Pay, restricted to hr on the component; `grade` beside its
    // $ref; `desk` by two declarations, [hr, payroll] and [payroll]: payroll only;
    // `api_secret` revealed by one declaration of two: hidden.
    assert_eq!(shown(&[]), ["employee", "id"]);
    assert_eq!(shown(&["hr"]), ["employee", "grade", "id", "pay"]);
    assert_eq!(shown(&["payroll"]), ["desk", "employee", "id"]);
    // `readOnly` beside a 3.0 $ref still refuses the member in requests.
    let p = refused(run(
        &api,
        &mut json(req("POST", "/v1/payslips"), r#"{"id":1,"employee":"E"}"#),
    ));
    assert!(has_failure(&p, "body", "/id", "readOnly"), "{p:?}");
}
