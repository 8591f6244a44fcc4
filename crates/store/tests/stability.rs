//! A failing database: error classes of real failures (SQLite locked, full,
//! read-only, cannot open; PostgreSQL connection terminated, refused,
//! read-only) and the dedicated writer connection that fails fast and
//! reconnects by itself. PostgreSQL cases run when
//! `PERISCOPE_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{at, event, t0};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use periscope_store::ProjectId;
use periscope_store::{
    Backend, ErrorClass, IngestStore, IssueFilter, IssueStore, ProjectStore, Store, StoreConfig,
    StoreError,
};

fn project(store: &Store, name: &str) -> periscope_store::ProjectId {
    store
        .create_project(name, &common::event_id(), t0())
        .unwrap()
        .id
}

fn sqlite_path(config: &StoreConfig) -> PathBuf {
    match &config.backend {
        Backend::Sqlite(p) => p.clone(),
        other => panic!("not an SQLite file: {other:?}"),
    }
}

#[test]
fn sqlite_busy_database_is_unavailable_and_the_writer_recovers() {
    let db = common::sqlite();
    let mut config = db.config.clone();
    config.busy_timeout = Duration::from_millis(200);
    let store = Store::open(&config).unwrap();
    let writer = store.ingest_writer().unwrap();
    let p = project(&store, "busy");
    writer.ingest_batch(&[event(p, "A", 0)], at(0)).unwrap();

    let mut locker = SqliteConnection::establish(sqlite_path(&config).to_str().unwrap()).unwrap();
    locker.batch_execute("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let err = writer.ingest_batch(&[event(p, "A", 1)], at(1)).unwrap_err();
    let waited = started.elapsed();
    println!("locked: {err} after {waited:?}");
    assert_eq!(err.class(), ErrorClass::Unavailable, "{err}");
    assert!(err.is_unavailable());
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    locker.batch_execute("ROLLBACK").unwrap();
    writer.ingest_batch(&[event(p, "A", 2)], at(2)).unwrap();
    assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 2);
}

#[test]
fn sqlite_full_read_only_and_missing_databases_are_unavailable() {
    let db = common::sqlite();
    let store = db.open();
    let path = sqlite_path(&db.config);
    let path = path.to_str().unwrap();

    // Full: `max_page_count` cannot go below the current size, so 1 means
    // "no room to grow"; SQLite then answers SQLITE_FULL.
    let mut full = SqliteConnection::establish(path).unwrap();
    full.batch_execute("PRAGMA max_page_count = 1").unwrap();
    let err = diesel::sql_query(
        "INSERT INTO usage_counters (usage_key, bucket_start, usage_count) VALUES (hex(randomblob(200000)), 1, 1)",
    )
    .execute(&mut full)
    .unwrap_err();
    let err = StoreError::from(err);
    println!("full: {err}");
    assert_eq!(err.class(), ErrorClass::Unavailable, "{err}");

    // Read-only.
    let mut ro = SqliteConnection::establish(&format!("file:{path}?mode=ro")).unwrap();
    let err = diesel::sql_query(
        "INSERT INTO usage_counters (usage_key, bucket_start, usage_count) VALUES ('k', 1, 1)",
    )
    .execute(&mut ro)
    .unwrap_err();
    let err = StoreError::from(err);
    println!("read-only: {err}");
    assert_eq!(err.class(), ErrorClass::Unavailable, "{err}");

    // Cannot open.
    let mut config = StoreConfig::from_url("sqlite:///nonexistent/periscope/dir/x.db").unwrap();
    config.connect_timeout = Duration::from_millis(500);
    let err = Store::open(&config).unwrap_err();
    println!("cannot open: {err}");
    assert!(err.is_unavailable(), "{err}");

    // Errors caused by the data are not.
    let key = common::event_id();
    store.create_project("a", &key, t0()).unwrap();
    let err = store.create_project("b", &key, t0()).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Data, "{err}");
    let err = store
        .ingest_batch(&[event(ProjectId(9999), "A", 0)], at(0))
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Data, "{err}");
    let err = store
        .list_issues(
            ProjectId(1),
            &IssueFilter {
                cursor: Some("junk".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Data, "{err}");
}

#[test]
fn in_memory_writer_shares_the_database() {
    let store = Store::open_url("sqlite::memory:").unwrap();
    let writer = store.ingest_writer().unwrap();
    let p = project(&store, "mem");
    let out = writer.ingest_batch(&[event(p, "A", 0)], at(0)).unwrap();
    assert!(out[0].created);
    assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 1);
}

/// The admin URL and the test database's name.
fn pg_admin(db: &common::TestDb) -> (String, String) {
    let admin = std::env::var("PERISCOPE_TEST_POSTGRES_URL").unwrap();
    let Backend::Postgres(url) = &db.config.backend else {
        panic!("not postgres")
    };
    let name = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    (admin, name)
}

fn terminate_all(admin: &mut PgConnection, name: &str) {
    admin
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .unwrap();
}

#[test]
fn postgres_writer_fails_fast_and_reconnects() {
    let Some(db) = common::postgres() else {
        return;
    };
    let (admin_url, name) = pg_admin(&db);
    let store = db.open();
    let writer = store.ingest_writer().unwrap();
    let p = project(&store, "pg");
    writer.ingest_batch(&[event(p, "A", 0)], at(0)).unwrap();
    let mut admin = PgConnection::establish(&admin_url).unwrap();

    // Every connection killed (a restart): the next batch reconnects.
    terminate_all(&mut admin, &name);
    writer.ingest_batch(&[event(p, "A", 1)], at(1)).unwrap();
    assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 2);

    // The database refuses connections (down): the batch fails within the
    // writer's 2 s, classified unavailable.
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .unwrap();
    terminate_all(&mut admin, &name);
    let started = Instant::now();
    let err = writer.ingest_batch(&[event(p, "A", 2)], at(2)).unwrap_err();
    let waited = started.elapsed();
    println!("down: {err} after {waited:?}");
    assert!(err.is_unavailable(), "{err}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    // Back up: the writer reconnects by itself.
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .unwrap();
    let started = Instant::now();
    let mut result = writer.ingest_batch(&[event(p, "A", 3)], at(3));
    while result.is_err() && started.elapsed() < Duration::from_secs(10) {
        result = writer.ingest_batch(&[event(p, "A", 3)], at(3));
    }
    println!("back after {:?}", started.elapsed());
    result.unwrap();

    // Read-only (a standby, or `default_transaction_read_only`): unavailable.
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} SET default_transaction_read_only = on"
        ))
        .unwrap();
    terminate_all(&mut admin, &name);
    let err = writer.ingest_batch(&[event(p, "A", 4)], at(4)).unwrap_err();
    println!("read-only: {err}");
    assert!(err.is_unavailable(), "{err}");
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} RESET default_transaction_read_only"
        ))
        .unwrap();
    terminate_all(&mut admin, &name);
    writer.ingest_batch(&[event(p, "A", 5)], at(5)).unwrap();
    assert_eq!(store.get_project(p).unwrap().unwrap().stored_events, 4);
}

#[test]
fn postgres_terminated_and_refused_connections_are_unavailable() {
    let Some(db) = common::postgres() else {
        return;
    };
    let (admin_url, _) = pg_admin(&db);
    let _store = db.open();
    let Backend::Postgres(url) = &db.config.backend else {
        unreachable!()
    };
    let mut admin = PgConnection::establish(&admin_url).unwrap();

    // A session terminated by the administrator (57P01), as on shutdown.
    let mut victim = PgConnection::establish(url).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let pid: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result(&mut victim)
        .unwrap();
    admin
        .batch_execute(&format!("SELECT pg_terminate_backend({})", pid.pid))
        .unwrap();
    // Await the session's end (it is gone from pg_stat_activity) instead of sleeping.
    periscope_test_support::wait::until_true(
        "the terminated session to end",
        Duration::from_secs(10),
        || {
            #[derive(diesel::QueryableByName)]
            struct Count {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            diesel::sql_query(format!(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = {}",
                pid.pid
            ))
            .get_result::<Count>(&mut admin)
            .unwrap()
            .n == 0
        },
    );
    let err = StoreError::from(
        diesel::sql_query("SELECT 1")
            .execute(&mut victim)
            .unwrap_err(),
    );
    println!("terminated: {err}");
    assert_eq!(err.class(), ErrorClass::Unavailable, "{err}");

    // Nothing listening: the store cannot open.
    let mut config = StoreConfig::from_url("postgres://postgres@127.0.0.1:1/none").unwrap();
    config.connect_timeout = Duration::from_millis(500);
    let err = Store::open(&config).unwrap_err();
    println!("refused: {err}");
    assert!(err.is_unavailable(), "{err}");
}
