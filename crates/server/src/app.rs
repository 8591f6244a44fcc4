//! The wiring: the state built, the router, and `periscope serve`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Method, header};
use axum::routing::{get, post};
use chrono::Utc;
use periscope_store::{NewEvent, Store, StoreConfig};
use tokio::sync::Semaphore;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::bus::{Bus, BusLimits};
use crate::pipeline::health::{Health, HealthObserver};
use crate::pipeline::keys::KeyCache;
use crate::pipeline::quotas::Quotas;
use crate::state::AppState;
use crate::throttle::{Throttle, ThrottleConfig};

/// The CORS policy of the ingest endpoints (PROTOCOL.md).
fn ingest_cors() -> CorsLayer {
    let allow: Vec<HeaderName> = [
        "x-sentry-auth",
        "x-requested-with",
        "x-forwarded-for",
        "origin",
        "referer",
        "accept",
        "content-type",
        "authentication",
        "authorization",
        "content-encoding",
        "transfer-encoding",
    ]
    .into_iter()
    .map(HeaderName::from_static)
    .collect();
    let expose: Vec<HeaderName> = ["x-sentry-error", "x-sentry-rate-limits", "retry-after"]
        .into_iter()
        .map(HeaderName::from_static)
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers(allow)
        .expose_headers(expose)
        .max_age(Duration::from_secs(3600))
}

/// The HTTP router.
pub fn router(state: AppState) -> Router {
    use crate::ingest;
    let ingest_routes = Router::new()
        .route(
            "/api/{project_id}/store/",
            post(ingest::endpoint::<{ ingest::STORE }>),
        )
        .route(
            "/api/{project_id}/store",
            post(ingest::endpoint::<{ ingest::STORE }>),
        )
        .route(
            "/api/{project_id}/envelope/",
            post(ingest::endpoint::<{ ingest::ENVELOPE }>),
        )
        .route(
            "/api/{project_id}/envelope",
            post(ingest::endpoint::<{ ingest::ENVELOPE }>),
        )
        .route(
            "/api/{project_id}/security/",
            post(ingest::endpoint::<{ ingest::SECURITY }>),
        )
        .route(
            "/api/{project_id}/security",
            post(ingest::endpoint::<{ ingest::SECURITY }>),
        )
        .layer(ingest_cors());
    Router::new()
        .merge(ingest_routes)
        .merge(crate::http::admin::routes(state.clone()))
        .merge(crate::ui::routes(state.clone()))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> crate::error::ApiError {
    crate::error::ApiError::not_found("no such endpoint")
}

/// `GET /health`: 200 when the database answers and the writer runs, else 503.
/// The reason goes to the log, never into the answer (anyone may call this).
async fn health(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let unavailable = || crate::error::ApiError::unavailable("unavailable", 5).into_response();
    if let Err(reason) = state.health.ingest() {
        tracing::warn!(reason, "health check: unavailable");
        return unavailable();
    }
    let store = state.store.clone();
    let check = tokio::task::spawn_blocking(move || store.health());
    match tokio::time::timeout(Duration::from_secs(5), check).await {
        Ok(Ok(Ok(()))) => axum::Json(serde_json::json!({"status": "ok"})).into_response(),
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            unavailable()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check failed");
            unavailable()
        }
        Err(_) => {
            tracing::warn!("health check: the database did not answer within 5 s");
            unavailable()
        }
    }
}

async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(
            state
                .config
                .max_inflight_requests
                .saturating_sub(state.inflight.available_permits()),
        ),
    )
        .into_response()
}

/// Opens the store named by the configuration (applying migrations).
pub fn open_store(config: &Config) -> Result<Store, String> {
    let fail = |e: periscope_store::StoreError| {
        // Driver messages may quote the connection string: show only scheme and host.
        let text = e
            .to_string()
            .replace(&config.database_url, &redact(&config.database_url));
        format!("database {}: {text}", redact(&config.database_url))
    };
    let mut store_config = StoreConfig::from_url(&config.database_url).map_err(fail)?;
    store_config.sqlite_cache_kib = config.sqlite_cache_kib;
    store_config.sqlite_synchronous = if config.sqlite_synchronous_full {
        periscope_store::SqliteSynchronous::Full
    } else {
        periscope_store::SqliteSynchronous::Normal
    };
    Store::open(&store_config).map_err(fail)
}

/// A database URL as logs and errors may show it (scheme and host only).
pub fn redact(url: &str) -> String {
    crate::redact::url(url)
}

/// Builds the state: store, bus and digest writer, quotas (restored from the store).
pub fn build_state(
    config: Config,
    store: crate::service::Db,
) -> Result<(AppState, std::thread::JoinHandle<()>), String> {
    // The writer has a connection of its own, so admin reads and key lookups
    // cannot starve it.
    let writer = store
        .ingest_writer()
        .map_err(|e| format!("cannot open the writer's database connection: {e}"))?;
    build_state_with_writer(config, store, writer)
}

/// [`build_state`] with a given digest writer (tests give one that fails).
pub fn build_state_with_writer(
    config: Config,
    store: crate::service::Db,
    writer_store: Box<dyn periscope_store::IngestStore + Send>,
) -> Result<(AppState, std::thread::JoinHandle<()>), String> {
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    let (bus, writer) = Bus::start(
        BusLimits {
            capacity: config.bus_capacity,
            max_bytes: config.bus_max_bytes,
            batch_size: config.batch_size,
        },
        metrics.clone(),
        move |events: &[NewEvent]| {
            writer_store.ingest_batch(events, Utc::now()).map_err(|e| {
                crate::pipeline::bus::BatchError {
                    whole_batch: e.is_unavailable(),
                    message: e.to_string(),
                }
            })
        },
        HealthObserver(health.clone()),
    )
    .map_err(|e| format!("cannot start the digest writer: {e}"))?;
    let quotas = Quotas::new(config.quotas.clone());
    match store.load_usage(Quotas::load_since(Utc::now())) {
        Ok(rows) => {
            let n = quotas.restore(rows);
            tracing::info!(buckets = n, "quota usage restored");
        }
        Err(e) => tracing::warn!(error = %e, "could not load quota usage; starting from zero"),
    }
    let config = Arc::new(config);
    let keys = Arc::new(KeyCache::new(
        config.key_cache_ttl,
        config.key_cache_entries,
    ));
    let service = {
        let keys = keys.clone();
        crate::service::Service::new(store.clone(), config.clone())
            .on_keys_changed(move || keys.invalidate())
    };
    let state = AppState {
        service,
        inflight: Arc::new(Semaphore::new(config.max_inflight_requests)),
        body_memory: Arc::new(Semaphore::new(
            (config.max_body_memory / 1024).clamp(1, Semaphore::MAX_PERMITS),
        )),
        keys,
        cpu: Arc::new(Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )),
        health,
        throttle: Arc::new(Throttle::new(ThrottleConfig {
            free_failures: config.auth_free_failures,
            base_delay: config.auth_failure_delay,
            ..ThrottleConfig::default()
        })),
        sign_in_by_address: Arc::new(Throttle::new(ThrottleConfig {
            free_failures: config.auth_free_failures,
            base_delay: config.auth_failure_delay,
            ..ThrottleConfig::default()
        })),
        sign_in_by_account: Arc::new(Throttle::new(ThrottleConfig {
            free_failures: config.auth_free_failures,
            base_delay: config.auth_failure_delay,
            ..ThrottleConfig::default()
        })),
        password_hashes: Arc::new(Semaphore::new(config.max_password_hashes)),
        config,
        store,
        bus,
        metrics,
        quotas: Arc::new(quotas),
    };
    Ok((state, writer))
}

/// `periscope serve`: runs until SIGINT/SIGTERM, then drains the ingest bus.
pub async fn serve(config: Config) -> Result<(), String> {
    let listen = config.listen;
    let store = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || open_store(&config))
            .await
            .map_err(|e| e.to_string())??
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e} (set HOST / PORT)"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let mut config = config;
    // The address bound (with PORT=0, the port picked): the server reaches its own
    // listener through it (the project setup page's test event).
    config.listen = bound;
    if config.base_url_from_listen && listen.port() == 0 {
        // PORT=0: DSNs and links name the port the system picked.
        let host = if bound.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else if bound.is_ipv6() {
            format!("[{}]", bound.ip())
        } else {
            bound.ip().to_string()
        };
        config.base_url = format!("http://{host}:{}", bound.port());
    }
    let (state, writer) = build_state(config, Arc::new(store))?;
    // Each connection takes a file descriptor: raise the soft limit to the hard
    // one, and keep the connection cap below it (leaving room for the database,
    // outgoing alerts and logs).
    let mut max_connections = state.config.max_connections;
    if let Some(files) = crate::http::connections::raise_open_files_limit() {
        let room = usize::try_from(files.saturating_sub(128))
            .unwrap_or(usize::MAX)
            .max(16);
        if room < max_connections {
            tracing::warn!(
                open_files = files,
                configured = max_connections,
                capped = room,
                "the open-files limit is below PERISCOPE_MAX_CONNECTIONS: connections capped"
            );
            max_connections = room;
        }
    }
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let maintenance = tokio::spawn(crate::workers::maintenance::maintenance_loop(
        state.clone(),
        shutdown_rx.clone(),
    ));
    let notifier = tokio::spawn(crate::workers::notifier::notifier_loop(
        state.clone(),
        shutdown_rx.clone(),
    ));
    let probe = tokio::spawn(crate::pipeline::health::probe_loop(
        state.health.clone(),
        state.store.clone(),
        Duration::from_millis(500),
        shutdown_rx.clone(),
    ));
    let versions = tokio::spawn(crate::workers::maintenance::key_version_loop(
        state.clone(),
        shutdown_rx.clone(),
    ));
    tracing::info!(listen = %bound, database = %redact(&state.config.database_url), "periscope listening");
    if let Ok(path) = std::env::var("PERISCOPE_ADDRESS_FILE") {
        // For tests and supervisors: the address actually bound (PORT=0 picks one).
        let tmp = format!("{path}.tmp");
        if let Err(e) =
            std::fs::write(&tmp, bound.to_string()).and_then(|()| std::fs::rename(&tmp, &path))
        {
            tracing::warn!(error = %e, "could not write PERISCOPE_ADDRESS_FILE");
        }
    }
    let app = router(state.clone());
    let limits = crate::http::connections::ConnectionLimits {
        header_timeout: state.config.header_timeout,
        idle_timeout: state.config.idle_timeout,
        max_connections,
    };
    let writer_died = {
        let health = state.health.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if !health.writer_alive() {
                    return;
                }
            }
        }
    };
    let mut failed = None;
    let stop = async {
        tokio::select! {
            () = shutdown_signal() => {}
            () = writer_died => {
                tracing::error!("the digest writer stopped unexpectedly: shutting down");
                failed = Some("the digest writer stopped unexpectedly".to_owned());
            }
        }
    };
    crate::http::connections::serve(listener, app, limits, stop, Duration::from_secs(30)).await;
    tracing::info!("shutting down: draining the ingest bus");
    let _ = shutdown_tx.send(true);
    let _ = maintenance.await;
    let _ = notifier.await;
    let _ = probe.await;
    let _ = versions.await;
    drop(state);
    // The writer ends once every bus sender is gone and the queue is drained.
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    tracing::info!("stopped");
    match failed {
        Some(reason) => Err(reason),
        None => Ok(()),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A digest writer that fails every batch as an unavailable database would,
    /// until it is healed.
    struct FailingWriter {
        inner: Box<dyn periscope_store::IngestStore + Send>,
        failing: Arc<std::sync::atomic::AtomicBool>,
    }

    impl periscope_store::IngestStore for FailingWriter {
        fn ingest_batch(
            &self,
            events: &[NewEvent],
            now: chrono::DateTime<Utc>,
        ) -> Result<Vec<periscope_store::IngestOutcome>, periscope_store::StoreError> {
            if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(periscope_store::StoreError::Connect {
                    backend: "sqlite",
                    message: "the test double is down".into(),
                });
            }
            self.inner.ingest_batch(events, now)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_store_gives_503_acknowledges_nothing_and_recovers() {
        use periscope_store::{IssueStore, ProjectStore};
        use tower::ServiceExt;

        let store = Store::open(&StoreConfig::from_url("sqlite::memory:").unwrap()).unwrap();
        let project = store
            .create_project("p", "0123456789abcdef0123456789abcdef", Utc::now())
            .unwrap();
        let db: crate::service::Db = Arc::new(store.clone());
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let writer = FailingWriter {
            inner: crate::service::Database::ingest_writer(&store).unwrap(),
            failing: failing.clone(),
        };
        let config = Config::from_lookup(&|_| None).unwrap();
        let (state, _writer) =
            build_state_with_writer(config, db.clone(), Box::new(writer)).unwrap();
        let (_stop, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(crate::pipeline::health::probe_loop(
            state.health.clone(),
            db.clone(),
            Duration::from_millis(100),
            stop_rx,
        ));
        let app = router(state.clone());
        let pid = project.id;
        let send = |n: u32| {
            let app = app.clone();
            async move {
                let req = axum::http::Request::post(format!("/api/{pid}/store/"))
                    .header(
                        "x-sentry-auth",
                        "Sentry sentry_key=0123456789abcdef0123456789abcdef, sentry_version=7",
                    )
                    .body(axum::body::Body::from(format!(
                        r#"{{"event_id": "{n:032x}", "message": "m {n}"}}"#
                    )))
                    .unwrap();
                app.oneshot(req).await.unwrap().status().as_u16()
            }
        };
        let stored = || {
            let s = store.clone();
            s.get_event(project.id, &format!("{:032x}", 1))
                .unwrap()
                .is_some()
                || s.get_event(project.id, &format!("{:032x}", 2))
                    .unwrap()
                    .is_some()
        };
        assert_eq!(send(1).await, 503);
        assert_eq!(send(2).await, 503);
        assert!(!stored(), "nothing acknowledged, nothing stored");
        // Healed: ingest resumes by itself (the probe and the next commit).
        failing.store(false, std::sync::atomic::Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut n = 10;
        loop {
            n += 1;
            if send(n).await == 200 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no recovery");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            store
                .get_event(project.id, &format!("{n:032x}"))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://h:5432/…"
        );
        assert_eq!(redact("sqlite://periscope.db"), "sqlite://periscope.db");
    }
}
