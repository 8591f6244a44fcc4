//! Property tests: release ordering and untrusted search input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Ordering;

use periscope_store::{
    IssueFilter, IssueStore, ProjectStore, StatusFilter, Store, StoreError, compare_releases,
    release_is_newer,
};
use proptest::prelude::*;

fn release() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(-(rc|beta|alpha)(\\.[0-9])?)?(\\+[a-z0-9]{1,4})?",
        "[a-z]{1,5}@[0-9]{1,2}\\.[0-9]{1,2}",
        ".{0,12}",
    ]
}

proptest! {
    #[test]
    fn release_order_is_antisymmetric(a in release(), b in release()) {
        prop_assert_eq!(compare_releases(&a, &b), compare_releases(&b, &a).reverse());
        prop_assert!(!(release_is_newer(&a, &b) && release_is_newer(&b, &a)));
        prop_assert_eq!(compare_releases(&a, &a), Ordering::Equal);
    }

    #[test]
    fn release_order_is_transitive(a in release(), b in release(), c in release()) {
        if compare_releases(&a, &b) != Ordering::Greater
            && compare_releases(&b, &c) != Ordering::Greater
        {
            prop_assert_ne!(compare_releases(&a, &c), Ordering::Greater, "{} {} {}", a, b, c);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_query_or_cursor_is_answered_not_panicked(query in ".{0,40}", cursor in proptest::option::of(".{0,24}")) {
        let store = Store::open_url("sqlite::memory:").unwrap();
        let p = store
            .create_project("p", "0123456789abcdef0123456789abcdef", chrono::Utc::now())
            .unwrap();
        let r = store.list_issues(
            p.id,
            &IssueFilter { status: StatusFilter::All, query, cursor, limit: 10, ..Default::default() },
        );
        match r {
            Ok(page) => prop_assert!(page.items.is_empty()),
            Err(StoreError::InvalidCursor(_)) => {}
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}
