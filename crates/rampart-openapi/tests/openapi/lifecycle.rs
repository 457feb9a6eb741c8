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
