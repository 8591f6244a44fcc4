//! Server time of the web UI's pages on a large database.
//!
//! ```text
//! cargo run --release -p periscope-server --example ui_bench -- \
//!     [--issues 10000] [--events 1000000] [--rounds 200] [--db /tmp/ui-bench.db]
//! ```
//!
//! Seeds an SQLite database (through the store's ingest, so every counter the
//! pages read is kept as in production; an existing `--db` with data is reused),
//! then requests the issue list (first page, a search, a tag filter) and an
//! issue page through the router in-process with a signed-in session, and prints
//! p50/p95 of each and the list page's weight. Not a test: run by hand, outside CI.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use chrono::Utc;
use periscope_server::config::Config;
use periscope_store::{IngestStore, NewEvent, ProjectStore, Store};
use tower::ServiceExt;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

fn payload(event_id: &str, issue: usize, n: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "event_id": event_id,
        "platform": "python",
        "level": "error",
        "release": format!("shop@1.{}.0", n % 20),
        "environment": if n.is_multiple_of(3) { "staging" } else { "production" },
        "user": {"id": format!("user-{}", n % 500)},
        "tags": {"browser": format!("Firefox {}", 100 + n % 7), "region": (["eu", "us", "ap"][n % 3])},
        "breadcrumbs": {"values": (0..10).map(|i| serde_json::json!({
            "timestamp": 1_700_000_000.0 + i as f64, "category": "http", "message": format!("GET /api/items/{i}")
        })).collect::<Vec<_>>()},
        "exception": {"values": [{
            "type": format!("Error{issue}"),
            "value": format!("failure number {issue} in the checkout"),
            "stacktrace": {"frames": (0..12).map(|f| serde_json::json!({
                "filename": format!("app/module_{f}.py"), "function": format!("handler_{f}"),
                "lineno": 10 + f, "in_app": f % 3 != 0,
                "pre_context": ["a = 1", "b = 2"], "context_line": format!("raise Error{issue}()"),
                "post_context": ["c = 3"], "vars": {"item": "lamp", "quantity": n}
            })).collect::<Vec<_>>()}
        }]}
    }))
    .unwrap()
}

fn seed(store: &Store, project: periscope_store::ProjectId, issues: usize, events: usize) {
    let writer = store.ingest_writer().unwrap();
    let started = Instant::now();
    let batch = 1000;
    let mut n = 0;
    while n < events {
        let now = Utc::now();
        let items: Vec<NewEvent> = (n..(n + batch).min(events))
            .map(|i| {
                let issue = i % issues;
                let event_id = format!("{:032x}", i as u128 + 1);
                NewEvent {
                    project_id: project,
                    payload: payload(&event_id, issue, i),
                    event_id,
                    grouping_keys: vec![periscope_store::GroupingKey::new(
                        format!("{issue:032x}"),
                        "default",
                    )],
                    title: format!("Error{issue}: failure number {issue} in the checkout"),
                    culprit: Some(format!("app/module_{} in handler", issue % 50)),
                    level: "error".into(),
                    timestamp: now - chrono::Duration::seconds(((events - i) / 10) as i64),
                    received_at: now,
                    release: Some(format!("shop@1.{}.0", i % 20)),
                    environment: Some("production".into()),
                    tags: vec![
                        ("browser".into(), format!("Firefox {}", 100 + i % 7)),
                        ("region".into(), ["eu", "us", "ap"][i % 3].into()),
                    ],
                    grouping_explanation: None,
                    user: Some(format!("id:user-{}", i % 500)),
                }
            })
            .collect();
        writer.ingest_batch(&items, now).unwrap();
        n += items.len();
        if n % 100_000 == 0 {
            eprintln!(
                "seeded {n} events in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let issues: usize = arg("--issues", "10000").parse().unwrap();
    let events: usize = arg("--events", "1000000").parse().unwrap();
    let rounds: usize = arg("--rounds", "200").parse().unwrap();
    let path = arg("--db", "/tmp/periscope-ui-bench.db");
    let url = format!("sqlite://{path}");
    let store = Store::open_url(&url).unwrap();
    let project = match store.list_projects().unwrap().first() {
        Some(p) => p.id,
        None => {
            let p = store
                .create_project("bench", &"b".repeat(32), Utc::now())
                .unwrap();
            eprintln!("seeding {events} events over {issues} issues into {path}");
            seed(&store, p.id, issues, events);
            p.id
        }
    };
    let config = Config::from_lookup(&|name| match name {
        "DATABASE_URL" => Some(url.clone()),
        _ => None,
    })
    .unwrap();
    let db: periscope_server::service::Db = Arc::new(store);
    let (state, _writer) = periscope_server::app::build_state(config.clone(), db.clone()).unwrap();
    let service = periscope_server::service::Service::new(db.clone(), Arc::new(config));
    let token = tokio::task::spawn_blocking(move || {
        let email = "bench@example.com";
        let _ = service.create_user(email, "bench password", periscope_store::Role::Member);
        service
            .sign_in(email, "bench password", Utc::now())
            .unwrap()
            .token
    })
    .await
    .unwrap();
    let router = periscope_server::app::router(state);
    let some_issue = db
        .list_issues(
            project,
            &periscope_store::IssueFilter {
                status: periscope_store::StatusFilter::All,
                query: String::new(),
                cursor: None,
                limit: 1,
                ..Default::default()
            },
        )
        .unwrap()
        .items[0]
        .id;
    let pages = [
        (
            "issue list, first page",
            format!("/projects/{project}/issues"),
        ),
        (
            "issue list, search",
            format!("/projects/{project}/issues?q=failure+number+77"),
        ),
        (
            "issue list, tag filter",
            format!("/projects/{project}/issues?q=browser%3A%22Firefox+103%22"),
        ),
        ("issue page", format!("/issues/{some_issue}")),
    ];
    println!("{issues} issues, {events} events, {rounds} rounds per page (SQLite, in-process)");
    for (name, path) in &pages {
        let mut times = Vec::with_capacity(rounds);
        let mut bytes = 0;
        for _ in 0..rounds {
            let request = Request::get(path.as_str())
                .header("cookie", format!("periscope_session={token}"))
                .body(Body::empty())
                .unwrap();
            let started = Instant::now();
            let response = router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            times.push(started.elapsed());
            assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
            bytes = body.len();
        }
        times.sort();
        println!(
            "{name:<24} p50 {:>7.2} ms   p95 {:>7.2} ms   {:>7} bytes",
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.95).as_secs_f64() * 1000.0,
            bytes
        );
    }
}
