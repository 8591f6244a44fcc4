//! Test harness: runs one check against every available backend.
//!
//! SQLite always (a fresh file in a temporary folder); PostgreSQL when
//! `PERISCOPE_TEST_POSTGRES_URL` is set, in a fresh database created for the test
//! and dropped after it.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use periscope_store::{Backend, NewEvent, Store, StoreConfig};

/// A backend under test; cleans up when dropped.
pub struct TestDb {
    pub name: &'static str,
    pub config: StoreConfig,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>, // (admin url, database name)
}

impl TestDb {
    pub fn open(&self) -> Store {
        Store::open(&self.config).expect("open store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, db)) = &self.pg
            && let Ok(mut c) = PgConnection::establish(admin)
        {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "periscope_test_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
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

pub fn postgres() -> Option<TestDb> {
    let admin = match std::env::var("PERISCOPE_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            println!("skipped: PERISCOPE_TEST_POSTGRES_URL not set");
            return None;
        }
    };
    let db = unique_name();
    let mut c = PgConnection::establish(&admin).expect("connect to PERISCOPE_TEST_POSTGRES_URL");
    c.batch_execute(&format!("CREATE DATABASE {db}"))
        .expect("create test database");
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b.to_owned(), format!("?{q}")),
        None => (admin.clone(), String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => &base[..],
    };
    let url = format!("{host_part}/{db}{query}");
    let mut config = StoreConfig::new(Backend::Postgres(url));
    config.pool_size = 4;
    Some(TestDb {
        name: "postgres",
        config,
        _dir: None,
        pg: Some((admin, db)),
    })
}

/// Every backend available in this run.
pub fn backends() -> Vec<TestDb> {
    let mut v = vec![sqlite()];
    v.extend(postgres());
    v
}

/// Runs `check` on every backend.
pub fn each_backend(check: impl Fn(&TestDb, &Store)) {
    for db in backends() {
        let store = db.open();
        println!("backend: {}", db.name);
        check(&db, &store);
    }
}

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
pub fn event(project: i64, key: &str, secs: i64) -> NewEvent {
    let id = event_id();
    let payload = format!(
        r#"{{"event_id":"{id}","message":"boom in {key}","level":"error","extra":{{"n":{secs}}}}}"#
    );
    NewEvent {
        project_id: project,
        event_id: id,
        grouping_key: key.to_owned(),
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
    }
}

pub fn with_release(mut e: NewEvent, release: &str) -> NewEvent {
    e.release = Some(release.to_owned());
    e
}
