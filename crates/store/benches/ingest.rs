//! Events per second through `IngestStore::ingest_batch`, for SQLite and (when
//! `PERISCOPE_TEST_POSTGRES_URL` is set) PostgreSQL, at batch sizes 1, 100 and
//! 1000, with ~5 KB event payloads spread over 50 issues.
//!
//! ```text
//! PERISCOPE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p periscope-store --bench ingest
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use periscope_store::{
    Backend, IngestStore, NewEvent, ProjectStore, SqliteSynchronous, Store, StoreConfig,
};

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A realistic ~5 KB Sentry event: a stack trace of 12 frames, contexts, tags.
fn payload(event_id: &str, key: usize) -> Vec<u8> {
    let mut frames = String::new();
    for f in 0..12 {
        if f > 0 {
            frames.push(',');
        }
        frames.push_str(&format!(
            r#"{{"filename":"app/services/module_{key}_{f}.py","abs_path":"/srv/app/services/module_{key}_{f}.py","function":"handle_request_{f}","module":"app.services.module_{f}","lineno":{},"colno":12,"in_app":{},"context_line":"    result = self.process(payload, retries={f})","pre_context":["def handle(self):","    try:"],"post_context":["    except Exception:","        raise"]}}"#,
            100 + f * 7,
            f % 3 != 0
        ));
    }
    format!(
        r#"{{"event_id":"{event_id}","timestamp":"2026-01-01T12:00:00Z","platform":"python","level":"error","logger":"app.worker","server_name":"web-{}","release":"app@1.4.{}","environment":"production","exception":{{"values":[{{"type":"ValueError","value":"invalid literal for int() with base 10: 'x{key}'","mechanism":{{"type":"generic","handled":false}},"stacktrace":{{"frames":[{frames}]}}}}]}},"tags":{{"browser":"Firefox 120","os":"Linux","customer":"c-{}"}},"contexts":{{"runtime":{{"name":"CPython","version":"3.12.1"}},"os":{{"name":"Linux","version":"6.1"}}}},"user":{{"id":"{}","ip_address":"10.0.0.{}"}},"sdk":{{"name":"sentry.python","version":"2.19.0"}}}}"#,
        key % 7,
        key % 5,
        event_id.len() + key,
        event_id,
        key % 250
    )
    .into_bytes()
}

fn batch(project_id: periscope_store::ProjectId, size: usize) -> Vec<NewEvent> {
    let now = Utc::now();
    (0..size)
        .map(|_| {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let event_id = format!("{:032x}", n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let key = (n % 50) as usize;
            NewEvent {
                project_id,
                payload: payload(&event_id, key),
                event_id,
                grouping_keys: vec![periscope_store::GroupingKey::new(
                    format!("{key:064x}"),
                    "default",
                )],
                title: format!("ValueError: invalid literal for int() with base 10: 'x{key}'"),
                culprit: Some(format!("app.services.module_{key}_0 in handle_request_0")),
                level: "error".into(),
                timestamp: now,
                received_at: now,
                release: Some(format!("app@1.4.{}", key % 5)),
                environment: Some("production".into()),
                tags: vec![
                    ("browser".into(), "Firefox 120".into()),
                    ("os".into(), "Linux".into()),
                    ("server_name".into(), format!("web-{}", key % 7)),
                ],
                grouping_explanation: None,
                user: Some(format!("id:{}", n % 1000)),
            }
        })
        .collect()
}

struct Target {
    name: &'static str,
    store: Store,
    project_id: periscope_store::ProjectId,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some((admin, db)) = &self.pg_drop
            && let Ok(mut c) = PgConnection::establish(admin)
        {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
        }
    }
}

fn targets() -> Vec<Target> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::from_url(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .unwrap();
    // PERISCOPE_BENCH_SQLITE_SYNCHRONOUS=normal measures the faster, less
    // durable setting (the default is FULL).
    if std::env::var("PERISCOPE_BENCH_SQLITE_SYNCHRONOUS")
        .is_ok_and(|v| v.eq_ignore_ascii_case("normal"))
    {
        config.sqlite_synchronous = SqliteSynchronous::Normal;
    }
    let store = Store::open(&config).unwrap();
    let project_id = store
        .create_project("bench", "0123456789abcdef0123456789abcdef", Utc::now())
        .unwrap()
        .id;
    out.push(Target {
        name: "sqlite",
        store,
        project_id,
        _dir: Some(dir),
        pg_drop: None,
    });
    match std::env::var("PERISCOPE_TEST_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() => {
            let db = format!("periscope_bench_{}", std::process::id());
            let mut c = PgConnection::establish(&admin).unwrap();
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .unwrap();
            c.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
            let base = admin.split('?').next().unwrap_or(&admin);
            let host = base.rsplit_once('/').map_or(base, |(h, _)| h);
            let store =
                Store::open(&StoreConfig::new(Backend::Postgres(format!("{host}/{db}")))).unwrap();
            let project_id = store
                .create_project("bench", "0123456789abcdef0123456789abcdef", Utc::now())
                .unwrap()
                .id;
            out.push(Target {
                name: "postgres",
                store,
                project_id,
                _dir: None,
                pg_drop: Some((admin, db)),
            });
        }
        _ => println!("skipped postgres: PERISCOPE_TEST_POSTGRES_URL not set"),
    }
    out
}

fn bench_ingest(c: &mut Criterion) {
    let sample = batch(periscope_store::ProjectId(1), 1);
    println!("payload size: {} bytes", sample[0].payload.len());
    for target in targets() {
        let mut group = c.benchmark_group(format!("ingest_batch/{}", target.name));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        for size in [1usize, 100, 1000] {
            group.throughput(Throughput::Elements(size as u64));
            group.bench_function(format!("batch_{size}"), |b| {
                // Only `ingest_batch` is timed; building the events is not.
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let events = batch(target.project_id, size);
                        let start = Instant::now();
                        target.store.ingest_batch(&events, Utc::now()).unwrap();
                        total += start.elapsed();
                    }
                    total
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
