//! Deprecation headers, 410 after sunset (injected clock), consumer allowlist.

use rampart_core::Verdict;

use crate::support::*;

/// 2027-01-01T00:00:00Z, the configured sunset.
const SUNSET: i64 = 1_798_761_600;

fn header<'a>(resp: &'a rampart_core::ResponseCx, name: &str) -> &'a str {
    resp.headers.get(name).unwrap().to_str().unwrap()
}

#[test]
fn deprecated_operations_carry_deprecation_sunset_and_link() {
    let api = api();
    let mut cx = as_consumer(req("GET", "/v1/legacy/users"), "old-app", &[]);
    passes(&api, &mut cx);
    let mut resp = response(200, None, "");
    resp.body = None;
    assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
    assert_eq!(header(&resp, "deprecation"), "@1767225600");
    assert_eq!(header(&resp, "sunset"), "Fri, 01 Jan 2027 00:00:00 GMT");
    assert_eq!(
        header(&resp, "link"),
        "<https://example.com/deprecations/legacy>; rel=\"deprecation\"; type=\"text/html\""
    );
}

#[test]
fn operations_not_deprecated_carry_no_headers() {
    let api = api();
    let mut cx = req("GET", "/v1/users/1");
    passes(&api, &mut cx);
    let mut resp = response(404, None, "");
    resp.body = None;
    assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
    assert!(resp.headers.get("deprecation").is_none());
}

#[test]
fn after_sunset_the_answer_is_410() {
    let before = api_at(SUNSET - 1);
    passes(
        &before,
        &mut as_consumer(req("GET", "/v1/legacy/users"), "old-app", &[]),
    );
    let after = api_at(SUNSET);
    let p = refused(run(
        &after,
        &mut as_consumer(req("GET", "/v1/legacy/users"), "old-app", &[]),
    ));
    assert_eq!(p.kind.status, 410);
    assert!(p.headers.iter().any(|(n, _)| n == "sunset"));
}

#[test]
fn deprecated_operations_are_limited_to_existing_consumers() {
    let api = api();
    let p = refused(run(
        &api,
        &mut as_consumer(req("GET", "/v1/legacy/users"), "new-app", &[]),
    ));
    assert_eq!(p.kind.status, 403);
    let p = refused(run(&api, &mut req("GET", "/v1/legacy/users")));
    assert_eq!(p.kind.status, 403);
}

#[test]
fn spec_deprecation_without_config_still_announces_it() {
    let mut cfg = config();
    cfg.operations.remove("GET /legacy/users");
    let api = api_with(cfg, NOW);
    let mut cx = req("GET", "/v1/legacy/users");
    passes(&api, &mut cx);
    let mut resp = response(200, None, "");
    resp.body = None;
    assert_eq!(respond(&api, &mut cx, &mut resp), Verdict::Continue);
    assert_eq!(header(&resp, "deprecation"), "@0");
}

/// 2026-01-01T00:00:00Z, the configured `since`.
const SINCE: i64 = 1_767_225_600;

#[test]
fn the_allowlist_applies_once_the_deprecation_has_begun() {
    // Announced ahead: until `since`, every consumer may still call it.
    let before = api_at(SINCE - 1);
    passes(
        &before,
        &mut as_consumer(req("GET", "/v1/legacy/users"), "new-app", &[]),
    );
    let p = refused(run(
        &api_at(SINCE),
        &mut as_consumer(req("GET", "/v1/legacy/users"), "new-app", &[]),
    ));
    assert_eq!(p.kind.status, 403);
}

#[test]
fn an_operations_deprecation_keeps_the_apis_other_fields() {
    // API-wide: a sunset and an allowlist. The operation only adds a link:
    // the sunset and the allowlist still hold for it.
    let mut cfg = config();
    cfg.deprecation = Some(rampart_openapi::DeprecationConfig {
        sunset: Some("2027-01-01T00:00:00Z".into()),
        allowed_consumers: Some(vec!["old-app".into()]),
        ..Default::default()
    });
    cfg.operations.insert(
        "GET /legacy/users".into(),
        serde_json::from_value(serde_json::json!({
            "deprecation": {"link": "https://example.com/legacy"}
        }))
        .unwrap(),
    );
    let now = api_with(cfg.clone(), NOW);
    let p = refused(run(
        &now,
        &mut as_consumer(req("GET", "/v1/legacy/users"), "new-app", &[]),
    ));
    assert_eq!(p.kind.status, 403);
    passes(
        &now,
        &mut as_consumer(req("GET", "/v1/legacy/users"), "old-app", &[]),
    );
    let later = api_with(cfg, SUNSET);
    let p = refused(run(
        &later,
        &mut as_consumer(req("GET", "/v1/legacy/users"), "old-app", &[]),
    ));
    assert_eq!(p.kind.status, 410);
}

#[test]
fn deprecations_that_cannot_be_meant_are_refused() {
    let refusal = |deprecation: serde_json::Value| {
        let mut cfg = config();
        cfg.deprecation = Some(serde_json::from_value(deprecation).unwrap());
        cfg.build(&data()).err().map(|e| e.to_string())
    };
    let empty = refusal(serde_json::json!({"allowed_consumers": []})).unwrap();
    assert!(
        empty.contains("deprecation.allowed_consumers: empty"),
        "{empty}"
    );
    let backwards =
        refusal(serde_json::json!({"since": "2027-01-01", "sunset": "2026-01-01"})).unwrap();
    assert!(
        backwards.contains("deprecation.sunset: before `since`"),
        "{backwards}"
    );
    assert_eq!(
        refusal(serde_json::json!({"since": "2026-01-01", "sunset": "2027-01-01"})),
        None
    );
}
