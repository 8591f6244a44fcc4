//! The installation status: the service over a seeded database (SQLite, and
//! PostgreSQL when `PERISCOPE_TEST_POSTGRES_URL` is set), the admin API's
//! answer against its own OpenAPI schema (in process), and on a real server
//! `GET /api/admin/status` agreeing with `/metrics` on accepted and refused
//! requests once the maintenance worker has saved them; `periscope status`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use periscope_server::app::{build_state, router};
use periscope_server::config::Config;
use periscope_server::service::Service;
use periscope_server::service::status::{
    LimitSource, LiveFigures, ProcessStatus, QuotaUsage, QuotaUsed, RefusalReason,
};
use periscope_store::{
    AlertStore, IngestStore, NewEvent, ProjectSettings, ProjectStore, ProjectUpdate, StatsStore,
    Store,
};

const KEY: &str = "status-admin-key-0123456789abcdefghijk";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 30, 0).unwrap()
}

fn event(project: periscope_store::ProjectId, n: u32, at: DateTime<Utc>) -> NewEvent {
    NewEvent {
        project_id: project,
        event_id: format!(
            "{:032x}",
            u128::from(n) + (u128::from(project.get() as u64) << 64)
        ),
        grouping_keys: vec![periscope_store::GroupingKey::new(
            format!("key-{}", n % 2),
            "periscope:2026-11",
        )],
        title: format!("Error {n}"),
        culprit: None,
        level: "error".into(),
        timestamp: at,
        received_at: at,
        release: None,
        environment: None,
        tags: Vec::new(),
        payload: format!(r#"{{"message":"error {n}"}}"#).into_bytes(),
        grouping_explanation: None,
        user: None,
    }
}

fn config(lookup: &[(&str, &str)]) -> Config {
    Config::from_lookup(&|name: &str| {
        lookup
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap()
}

/// Seeds `store` and checks the status the service makes of it.
fn check_seeded(store: Store, backend: &str) {
    let t = now();
    let config = config(&[
        ("PERISCOPE_QUOTA_PROJECT_PER_HOUR", "1000"),
        ("PERISCOPE_QUOTA_INSTALLATION_PER_MINUTE", "500"),
    ]);
    let service = Service::new(Arc::new(store.clone()), Arc::new(config));

    // Two projects, five events stored; the first with its own minute quota.
    let web = store
        .create_project("web", "0123456789abcdef0123456789abcdef", t)
        .unwrap();
    let api = store
        .create_project("api", "fedcba9876543210fedcba9876543210", t)
        .unwrap();
    store
        .update_project(
            web.id,
            &ProjectUpdate {
                name: None,
                settings: Some(ProjectSettings {
                    quota_per_minute: Some(10),
                    ..Default::default()
                }),
            },
        )
        .unwrap();
    // Two alerts (new issues of `web`), each to one destination.
    store
        .create_destination(web.id, "internal_logger", &serde_json::json!({}), t)
        .unwrap();
    let batch: Vec<NewEvent> = (0..3)
        .map(|n| event(web.id, n, t))
        .chain((0..2).map(|n| event(api.id, n + 10, t)))
        .collect();
    store.ingest_batch(&batch, t).unwrap();
    let claimed = store
        .claim_deliveries(t, 10, t + chrono::Duration::seconds(30))
        .unwrap();
    assert_eq!(claimed.len(), 2);
    store
        .fail_delivery(claimed[0].delivery_id, t, "refused", None)
        .unwrap();

    // The counters, as the replicas' maintenance workers add them.
    let h = |hours: i64| t - chrono::Duration::hours(hours);
    store
        .add_installation_counts(&[("events_accepted", 10), ("rejected_rate_limited", 3)], t)
        .unwrap();
    store
        .add_installation_counts(&[("events_accepted", 4), ("rejected_too_large", 1)], h(2))
        .unwrap();
    store
        .add_installation_counts(
            &[
                ("rejected_forbidden", 1),
                ("rejected_unauthorized", 2),
                ("rejected_bad_request", 2),
            ],
            h(1),
        )
        .unwrap();
    // 25 hours ago: outside the 24 hours.
    store
        .add_installation_counts(
            &[("events_accepted", 100), ("rejected_overloaded", 7)],
            h(25),
        )
        .unwrap();

    let s = service.installation_status(t, None).unwrap();
    assert_eq!(s.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(s.generated_at, "2026-03-01T12:30:00.000Z");
    assert_eq!(s.database.backend, backend);
    assert!(s.database.size_bytes > 0);
    assert_eq!(s.events_stored, 5);
    assert_eq!(s.events_accepted_hourly.len(), 24);
    assert_eq!(s.events_accepted_hourly[23], 10, "the hour under way last");
    assert_eq!(s.events_accepted_hourly[21], 4);
    assert_eq!(s.events_accepted_24h, 14);
    // 10 accepted in the minute under way, none before: 10 over 300 s.
    assert!(
        (s.ingest_rate_per_second - 10.0 / 300.0).abs() < 1e-9,
        "{}",
        s.ingest_rate_per_second
    );
    let refused = |r: RefusalReason| {
        s.refusals_24h
            .iter()
            .find(|c| c.reason == r)
            .map(|c| c.count)
            .unwrap()
    };
    assert_eq!(refused(RefusalReason::RateLimited), 3);
    assert_eq!(refused(RefusalReason::Unauthenticated), 3);
    assert_eq!(refused(RefusalReason::BadInput), 3);
    assert_eq!(refused(RefusalReason::Overloaded), 0);
    assert_eq!(refused(RefusalReason::StoreError), 0);
    assert_eq!(s.refused_24h, 9);
    assert_eq!((s.deliveries.pending, s.deliveries.failed), (1, 1));
    assert_eq!(s.installation_quota.limit, Some(500));
    assert_eq!(s.installation_quota.source, LimitSource::Default);
    assert_eq!(s.installation_quota.used, None, "no running server");
    assert_eq!(s.process, None);
    let projects: Vec<(i64, &str, u64)> = s
        .projects
        .iter()
        .map(|p| (p.id, p.name.as_str(), p.stored_events))
        .collect();
    assert_eq!(
        projects,
        vec![(web.id.get(), "web", 3), (api.id.get(), "api", 2)]
    );
    let w = &s.projects[0];
    assert_eq!(
        (w.per_minute.limit, w.per_minute.source),
        (Some(10), LimitSource::Project)
    );
    assert_eq!(
        (w.per_hour.limit, w.per_hour.source),
        (Some(1000), LimitSource::Default)
    );
    assert_eq!(
        (w.per_day.limit, w.per_day.source),
        (None, LimitSource::None)
    );
    assert_eq!(s.projects[1].per_minute.source, LimitSource::None);

    // With a running server's figures: usage where a limit applies.
    let process = ProcessStatus {
        bus_depth: 3,
        bus_capacity: 4096,
        requests_in_flight: 2,
        max_requests_in_flight: 2048,
        uptime_seconds: 61,
    };
    let mut usage = QuotaUsage {
        installation_per_minute: Some(42),
        ..Default::default()
    };
    usage.projects.insert(
        web.id.get(),
        QuotaUsed {
            per_minute: 7,
            per_hour: 9,
            per_day: 0,
        },
    );
    let live = service
        .installation_status(
            t,
            Some(LiveFigures {
                process: process.clone(),
                quotas: usage,
            }),
        )
        .unwrap();
    assert_eq!(live.process, Some(process));
    assert_eq!(live.installation_quota.used, Some(42));
    let w = &live.projects[0];
    assert_eq!(
        (w.per_minute.used, w.per_hour.used, w.per_day.used),
        (Some(7), Some(9), None)
    );
    let a = &live.projects[1];
    assert_eq!(
        (a.per_minute.used, a.per_hour.used, a.per_day.used),
        (None, Some(0), None),
        "nothing counted yet under a limit is 0 used"
    );
    // What the doors print.
    let v = serde_json::to_value(&live).unwrap();
    assert_eq!(v["refusals_24h"][2]["reason"], "bad_input");
    assert_eq!(v["projects"][0]["per_minute"]["source"], "project");
    assert_eq!(v["process"]["uptime_seconds"], 61);
}

#[test]
fn a_status_over_a_seeded_database_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_url(&format!(
        "sqlite://{}",
        dir.path().join("periscope.db").display()
    ))
    .unwrap();
    check_seeded(store, "sqlite");
}

#[test]
fn a_status_over_a_seeded_database_postgres() {
    let Some(db) = crate::common::TestDatabase::create("status") else {
        return;
    };
    check_seeded(Store::open_url(db.url()).unwrap(), "postgres");
}

// ---------------------------------------------------------------------------
// The admin API's shape

/// Checks `value` against `schema` (the subset of JSON Schema utoipa writes:
/// `$ref`, `type` (one or a list), `properties`, `required`, `items`,
/// `enum`, `oneOf`); every object must have exactly the documented properties.
fn conforms(doc: &Value, schema: &Value, value: &Value, path: &str) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return conforms(doc, &doc["components"]["schemas"][name], value, path);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let fits = options.iter().any(|o| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                conforms(doc, o, value, path)
            }))
            .is_ok()
        });
        assert!(fits, "{path}: {value} fits none of {schema}");
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types.is_empty() {
        assert!(
            types.contains(&kind) || (kind == "integer" && types.contains(&"number")),
            "{path}: a {kind} where the schema says {types:?}"
        );
    }
    if let Some(allowed) = schema["enum"].as_array() {
        assert!(
            allowed.contains(value),
            "{path}: {value} not in {allowed:?}"
        );
    }
    if let Some(min) = schema["minimum"].as_f64() {
        assert!(
            value.as_f64().is_none_or(|v| v >= min),
            "{path}: below {min}"
        );
    }
    match value {
        Value::Object(map) => {
            let props = schema["properties"].as_object().unwrap_or_else(|| {
                panic!("{path}: an object where the schema has no properties: {schema}")
            });
            for key in map.keys() {
                assert!(props.contains_key(key), "{path}.{key} is not documented");
            }
            for req in schema["required"].as_array().into_iter().flatten() {
                let req = req.as_str().unwrap();
                assert!(
                    map.contains_key(req),
                    "{path}.{req} is required but missing"
                );
            }
            for (key, v) in map {
                conforms(doc, &props[key], v, &format!("{path}.{key}"));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                conforms(doc, &schema["items"], v, &format!("{path}[{i}]"));
            }
        }
        _ => {}
    }
}

async fn get(app: &axum::Router, path: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::builder().uri(path);
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_status_route_answers_its_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("periscope.db");
    let db_path = db.to_str().unwrap().to_owned();
    let config = config(&[
        ("SQLITE_PATH", &db_path),
        ("API_SECRET_KEY_ADMIN", KEY),
        ("PERISCOPE_QUOTA_PROJECT_PER_MINUTE", "100"),
    ]);
    let store = Store::open_url(&format!("sqlite://{}", db.display())).unwrap();
    store
        .create_project("web", "0123456789abcdef0123456789abcdef", Utc::now())
        .unwrap();
    store
        .add_installation_counts(&[("events_accepted", 2)], Utc::now())
        .unwrap();
    let (state, _writer) = build_state(config, Arc::new(store)).unwrap();
    let app = router(state);

    let (status, body) = get(&app, "/api/admin/status", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["detail"].is_string());

    let (status, body) = get(&app, "/api/admin/status", Some(KEY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, doc) = get(&app, "/api/admin/openapi.json", None).await;
    let op = &doc["paths"]["/api/admin/status"]["get"];
    let documented: Vec<&str> = op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(documented, ["200", "401", "429", "503"]);
    // Always present, `null` or not.
    let required = &doc["components"]["schemas"]["QuotaWindow"]["required"];
    assert_eq!(*required, serde_json::json!(["limit", "source", "used"]));
    let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
    conforms(&doc, schema, &body, "answer");
    let error_schema = &op["responses"]["401"]["content"]["application/json"]["schema"];
    conforms(
        &doc,
        error_schema,
        &serde_json::json!({"detail": "x"}),
        "error",
    );

    let s = &body["status"];
    assert_eq!(s["events_accepted_24h"], 2);
    assert_eq!(s["events_accepted_hourly"].as_array().unwrap().len(), 24);
    assert_eq!(s["database"]["backend"], "sqlite");
    assert_eq!(s["process"]["bus_capacity"], 4096);
    assert_eq!(s["process"]["max_requests_in_flight"], 2048);
    assert_eq!(s["projects"][0]["per_minute"]["limit"], 100);
    assert_eq!(s["projects"][0]["per_minute"]["source"], "default");
    assert_eq!(s["projects"][0]["per_minute"]["used"], 0);
    assert_eq!(s["projects"][0]["per_hour"]["used"], Value::Null);
    let reasons: Vec<&str> = s["refusals_24h"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "rate_limited",
            "overloaded",
            "bad_input",
            "unauthenticated",
            "store_error"
        ]
    );
}

// ---------------------------------------------------------------------------
// A real server

/// The value of one sample of `/metrics` (0 when absent).
fn sample(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn admin_status(s: &crate::common::Server) -> Value {
    let resp = crate::common::http()
        .get(format!("{}/api/admin/status", s.base()))
        .header("authorization", format!("Bearer {KEY}"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    serde_json::from_str::<Value>(&resp.text().unwrap()).unwrap()["status"].clone()
}

fn post(s: &crate::common::Server, project: i64, key: &str, body: Vec<u8>) -> u16 {
    crate::common::http()
        .post(s.store_url(project))
        .header("X-Sentry-Auth", crate::common::auth_header(key))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn the_status_agrees_with_metrics_on_a_running_server() {
    let mut s = crate::common::Server::sqlite();
    s.set("API_SECRET_KEY_ADMIN", KEY);
    s.set("PERISCOPE_QUOTA_PROJECT_PER_MINUTE", "3");
    s.start();
    let (p, _dsn, key) = s.create_project("status");

    let statuses: Vec<u16> = (0..5)
        .map(|i| post(&s, p, &key, crate::common::small_event(&format!("g{i}")).1))
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let (_, body) = crate::common::small_event("bad key");
    assert!(matches!(
        post(&s, p, "00000000000000000000000000000000", body),
        401 | 403
    ));
    assert_eq!(post(&s, p, &key, b"{not json".to_vec()), 400);

    // The maintenance worker saves every 5 s: wait until both agree.
    let reason = |status: &Value, r: &str| -> u64 {
        status["refusals_24h"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["reason"] == r)
            .and_then(|c| c["count"].as_u64())
            .unwrap()
    };
    let (metrics, status) = periscope_test_support::wait::until(
        "the status to agree with /metrics",
        Duration::from_secs(20),
        || {
            let m = s.metrics();
            let status = admin_status(&s);
            let rejected = |r: &str| {
                sample(
                    &m,
                    &format!("periscope_events_rejected_total{{reason=\"{r}\"}}"),
                )
            };
            let agree = status["events_accepted_24h"].as_u64()
                == Some(sample(&m, "periscope_events_accepted_total"))
                && reason(&status, "rate_limited") == rejected("rate_limited")
                && reason(&status, "unauthenticated")
                    == rejected("unauthorized") + rejected("forbidden")
                && reason(&status, "bad_input") == rejected("bad_request") + rejected("too_large")
                && reason(&status, "overloaded") == rejected("overloaded")
                && reason(&status, "store_error") == rejected("store_error")
                && status["refused_24h"].as_u64() == Some(4);
            agree.then_some((m, status))
        },
    );
    assert_eq!(sample(&metrics, "periscope_events_accepted_total"), 3);
    assert_eq!(status["events_accepted_24h"], 3);
    assert_eq!(status["events_accepted_hourly"][23], 3);
    assert_eq!(reason(&status, "rate_limited"), 2);
    assert_eq!(reason(&status, "unauthenticated"), 1);
    assert_eq!(reason(&status, "bad_input"), 1);
    assert_eq!(status["events_stored"], 3);
    assert!(status["ingest_rate_per_second"].as_f64().unwrap() > 0.0);
    // This server's quota usage: 3 of 3 this minute.
    let project = &status["projects"][0];
    assert_eq!(project["per_minute"]["limit"], 3);
    assert_eq!(project["per_minute"]["used"], 3);
    assert!(status["process"]["uptime_seconds"].as_u64().is_some());
    assert_eq!(status["process"]["requests_in_flight"], 0);

    // The command line: the database's figures, no live ones.
    let text = s.cli(&["status"]);
    assert!(text.contains("accepted, 24 h    3"), "{text}");
    assert!(text.contains("refused, 24 h     4"), "{text}");
    assert!(text.contains("come from a running server"), "{text}");
    let json: Value = serde_json::from_str(s.cli(&["status", "--json"]).trim()).unwrap();
    assert_eq!(json["events_accepted_24h"], 3);
    assert_eq!(json["process"], Value::Null);
    assert_eq!(json["projects"][0]["per_minute"]["used"], Value::Null);
}
