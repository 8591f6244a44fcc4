//! Request bodies in flight share a memory budget (`PERISCOPE_MAX_BODY_MEMORY`):
//! a body that does not fit is answered 503 with `Retry-After`, smaller ones still pass.

use crate::common::{Server, auth_header, http};

#[test]
fn bodies_beyond_the_memory_budget_get_503() {
    let mut s = Server::sqlite();
    let (project, _dsn, key) = s.create_project("budget");
    s.set("PERISCOPE_MAX_BODY_MEMORY", "65536");
    s.start();
    let url = format!("{}/api/{project}/store/", s.base());

    // 200 KB of valid JSON: under the 1 MiB event limit, over the 64 KiB budget.
    let big = format!(
        r#"{{"message": "big", "extra": {{"pad": "{}"}}}}"#,
        "x".repeat(200_000)
    );
    let resp = http()
        .post(&url)
        .header("X-Sentry-Auth", auth_header(&key))
        .body(big)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let detail: serde_json::Value = resp.json().unwrap();
    assert!(
        detail["detail"].as_str().unwrap().contains("in flight"),
        "{detail}"
    );

    // Bodies of ~25 KB fit one at a time (even counted twice, received and
    // decoded, they stay under 64 KiB). Twenty in a row are 500 KB, nearly eight
    // budgets: if a request kept any of its share, the budget would run out within
    // a few requests and answer 503.
    let medium = format!(
        r#"{{"message": "medium", "extra": {{"pad": "{}"}}}}"#,
        "y".repeat(25_000)
    );
    let client = http();
    for i in 0..20 {
        let resp = client
            .post(&url)
            .header("X-Sentry-Auth", auth_header(&key))
            .body(medium.clone())
            .send()
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            200,
            "request {i}: the budget was not given back"
        );
    }
}
