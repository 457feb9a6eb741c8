//! A body that fails everywhere: refused with at most MAX_FAILURES listed,
//! without collecting every failure first.

use crate::support::*;

#[test]
fn a_pathological_body_is_refused_with_a_capped_list() {
    let api = orders_api(true);
    let item = r#"{"sku":1,"qty":"x","admin":true}"#;
    let body = format!("[{}]", vec![item; 5000].join(","));
    let p = refused(run(&api, &mut json(req("POST", "/orders"), &body)));
    let listed = failures(&p);
    assert_eq!(listed.len(), rampart_openapi::problems::MAX_FAILURES);
    // The schema's first failure, then the walk's, up to the cap.
    assert_eq!(listed[0].2, "type", "{listed:?}");
    assert!(
        has_failure(&p, "body", "/0/admin", "undeclared"),
        "{listed:?}"
    );
    // A legitimate one passes.
    passes(
        &api,
        &mut json(req("POST", "/orders"), r#"[{"sku":"a-1","qty":2}]"#),
    );
}
