//! Test harness: each check runs once per backend, as two named tests
//! (`check::sqlite` and `check::postgres`, see [`backend_test`]), so a failure says
//! which backend failed.
//!
//! SQLite always (a fresh file in a temporary folder); PostgreSQL when
//! `PERISCOPE_TEST_POSTGRES_URL` is set, in a fresh database created for the test
//! and dropped after it, also when the test panics (the shared
//! `periscope_test_support::postgres::TestDatabase` guard); otherwise the PostgreSQL
//! test prints "skipped: PERISCOPE_TEST_POSTGRES_URL not set" and passes.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use periscope_store::{
    Backend, IssueFilter, IssueStore, NewEvent, StatusFilter, Store, StoreConfig,
};
use periscope_test_support::postgres::TestDatabase;

/// A backend under test; cleans up when dropped.
pub struct TestDb {
    pub name: &'static str,
    pub config: StoreConfig,
    _dir: Option<tempfile::TempDir>,
    pub pg: Option<TestDatabase>,
}

impl TestDb {
    pub fn open(&self) -> Store {
        Store::open(&self.config).expect("open store")
    }
}

pub fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = StoreConfig::from_url(&format!(
        "sqlite://{}",
        dir.path().join("test.db").display()
    ))
    .expect("config");
    TestDb {
        name: "sqlite",
        config,
        _dir: Some(dir),
        pg: None,
    }
}

/// A fresh PostgreSQL database, or `None` after printing "skipped: ...".
pub fn postgres() -> Option<TestDb> {
    let db = TestDatabase::create("store")?;
    let mut config = StoreConfig::new(Backend::Postgres(db.url().to_owned()));
    config.pool_size = 4;
    Some(TestDb {
        name: "postgres",
        config,
        _dir: None,
        pg: Some(db),
    })
}

/// Runs `check` on `db` (with a store opened on it).
pub fn run_on(db: Option<TestDb>, check: impl Fn(&TestDb, &Store)) {
    let Some(db) = db else { return };
    let store = db.open();
    check(&db, &store);
}

/// `backend_test!(name, |db, store| { ... })` defines the tests `name::sqlite` and
/// `name::postgres`, each running the closure on its own backend.
#[allow(unused_macros)]
macro_rules! backend_test {
    ($name:ident, $check:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                $crate::common::run_on(Some($crate::common::sqlite()), $check);
            }

            #[test]
            fn postgres() {
                $crate::common::run_on($crate::common::postgres(), $check);
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use backend_test;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(secs)
}

static EVENT_COUNTER: AtomicU64 = AtomicU64::new(1);

/// A fresh 32-hex event id.
pub fn event_id() -> String {
    format!(
        "{:016x}{:016x}",
        std::process::id(),
        EVENT_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// An event of `project` grouped under `key`, at `secs` after t0.
pub fn event(project: periscope_store::ProjectId, key: &str, secs: i64) -> NewEvent {
    let id = event_id();
    let payload = format!(
        r#"{{"event_id":"{id}","message":"boom in {key}","level":"error","extra":{{"n":{secs}}}}}"#
    );
    NewEvent {
        project_id: project,
        event_id: id,
        grouping_keys: vec![periscope_store::GroupingKey::new(key, "default")],
        title: format!("Error: boom in {key}"),
        culprit: Some(format!("app.{key}")),
        level: "error".to_owned(),
        timestamp: at(secs),
        received_at: at(secs),
        release: None,
        environment: Some("production".to_owned()),
        tags: vec![("browser".to_owned(), "firefox".to_owned())],
        payload: payload.into_bytes(),
        grouping_explanation: None,
        user: None,
    }
}

pub fn with_release(mut e: NewEvent, release: &str) -> NewEvent {
    e.release = Some(release.to_owned());
    e
}

/// Every issue of a project (any status, up to 1000).
pub fn all_issues(
    store: &periscope_store::Store,
    project_id: periscope_store::ProjectId,
) -> Vec<periscope_store::Issue> {
    store
        .list_issues(
            project_id,
            &IssueFilter {
                status: StatusFilter::All,
                limit: 1000,
                ..Default::default()
            },
        )
        .unwrap()
        .items
}
