//! The server's shared state, its router and `periscope serve`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderName, Method, header};
use axum::routing::{get, post};
use chrono::Utc;
use periscope_grouping::{Grouper, GroupingConfig, Strategy};
use periscope_store::{
    IngestOutcome, IngestStore, MaintenanceStore, NewEvent, ProjectStore, Store, StoreConfig,
    UsageStore,
};
use tokio::sync::Semaphore;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::bus::{Bus, BusLimits};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::quotas::Quotas;

/// What the ingest path needs to know of a project (cached per public key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectInfo {
    /// The project id.
    pub project_id: i64,
    /// The project's own per-minute quota.
    pub quota_per_minute: Option<u64>,
    /// The project's own per-hour quota.
    pub quota_per_hour: Option<u64>,
    /// The project's own per-day quota.
    pub quota_per_day: Option<u64>,
    /// Its grouping strategy name.
    pub grouping_strategy: String,
}

impl ProjectInfo {
    /// The ingest view of a stored project.
    pub fn of(p: &periscope_store::Project) -> Self {
        Self {
            project_id: p.id,
            quota_per_minute: p.settings.quota_per_minute,
            quota_per_hour: p.settings.quota_per_hour,
            quota_per_day: p.settings.quota_per_day,
            grouping_strategy: p.settings.grouping_strategy.clone(),
        }
    }
}

/// Public key → project, with a short time to live (changes to a project reach the
/// ingest path within the TTL; the admin API also invalidates on change). Unknown keys
/// are cached too, so a client hammering with a wrong key costs no database reads.
#[derive(Debug)]
pub struct KeyCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Instant, Option<ProjectInfo>)>>,
}

const KEY_CACHE_MAX: usize = 10_000;

impl KeyCache {
    /// An empty cache.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// Looks `public_key` up, from the cache or the store.
    pub async fn lookup(
        &self,
        store: &Store,
        public_key: &str,
    ) -> Result<Option<ProjectInfo>, String> {
        if let Ok(entries) = self.entries.read()
            && let Some((at, info)) = entries.get(public_key)
            && at.elapsed() < self.ttl
        {
            return Ok(info.clone());
        }
        let store = store.clone();
        let key = public_key.to_owned();
        let found = tokio::task::spawn_blocking(move || store.project_by_key(&key))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let info = found.as_ref().map(ProjectInfo::of);
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= KEY_CACHE_MAX {
                entries.clear();
            }
            entries.insert(public_key.to_owned(), (Instant::now(), info.clone()));
        }
        Ok(info)
    }

    /// Forgets everything (after a project changed).
    pub fn invalidate(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}

/// The state shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// Configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// The ingest bus to the digest writer.
    pub bus: Bus<NewEvent, IngestOutcome>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Ingest requests in flight.
    pub inflight: Arc<Semaphore>,
    /// Body memory of ingest requests, in KiB permits.
    pub body_memory: Arc<Semaphore>,
    /// Public key → project.
    pub keys: Arc<KeyCache>,
    /// Quotas.
    pub quotas: Arc<Quotas>,
    /// One grouper per strategy.
    pub groupers: Arc<Vec<(Strategy, Grouper)>>,
}

impl AppState {
    /// The grouper for a project's strategy name (unknown names use the default).
    pub fn grouper(&self, strategy: &str) -> &Grouper {
        let wanted: Strategy = strategy.parse().unwrap_or_default();
        self.groupers
            .iter()
            .find(|(s, _)| *s == wanted)
            .or_else(|| self.groupers.first())
            .map(|(_, g)| g)
            .unwrap_or_else(|| unreachable_grouper())
    }
}

fn unreachable_grouper() -> &'static Grouper {
    static DEFAULT: std::sync::OnceLock<Grouper> = std::sync::OnceLock::new();
    DEFAULT.get_or_init(|| Grouper::new(GroupingConfig::default()))
}

/// Every grouping strategy's grouper.
pub fn all_groupers() -> Vec<(Strategy, Grouper)> {
    Strategy::ALL
        .iter()
        .map(|s| (*s, Grouper::new(GroupingConfig::new(*s))))
        .collect()
}

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
        .merge(crate::admin::routes())
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> crate::error::ApiError {
    crate::error::ApiError::not_found("no such endpoint")
}

async fn health(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.health()).await {
        Ok(Ok(())) => axum::Json(serde_json::json!({"status": "ok"})).into_response(),
        Ok(Err(e)) => {
            crate::error::ApiError::unavailable(format!("database: {e}"), 5).into_response()
        }
        Err(e) => crate::error::ApiError::internal(e).into_response(),
    }
}

async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// Opens the store named by the configuration (applying migrations).
pub fn open_store(config: &Config) -> Result<Store, String> {
    let fail =
        |e: periscope_store::StoreError| format!("database {}: {e}", redact(&config.database_url));
    let mut store_config = StoreConfig::from_url(&config.database_url).map_err(fail)?;
    store_config.sqlite_cache_kib = config.sqlite_cache_kib;
    Store::open(&store_config).map_err(fail)
}

/// A database URL without its password.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Builds the state: store, bus and digest writer, quotas (restored from the store).
pub fn build_state(
    config: Config,
    store: Store,
) -> Result<(AppState, std::thread::JoinHandle<()>), String> {
    let metrics = Arc::new(Metrics::default());
    let writer_store = store.clone();
    let (bus, writer) = Bus::start(
        BusLimits {
            capacity: config.bus_capacity,
            max_bytes: config.bus_max_bytes,
            batch_size: config.batch_size,
        },
        metrics.clone(),
        move |events: &[NewEvent]| {
            writer_store
                .ingest_batch(events, Utc::now())
                .map_err(|e| e.to_string())
        },
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
    let state = AppState {
        inflight: Arc::new(Semaphore::new(config.max_inflight_requests)),
        body_memory: Arc::new(Semaphore::new(
            (config.max_body_memory / 1024).clamp(1, Semaphore::MAX_PERMITS),
        )),
        keys: Arc::new(KeyCache::new(config.key_cache_ttl)),
        config: Arc::new(config),
        store,
        bus,
        metrics,
        quotas: Arc::new(quotas),
        groupers: Arc::new(all_groupers()),
    };
    Ok((state, writer))
}

/// Periodic work: persist quota usage, prune it, evict expired events.
pub async fn maintenance_loop(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut rounds: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => {
                save_usage(&state).await;
                return;
            }
        }
        rounds += 1;
        save_usage(&state).await;
        if rounds % 60 == 1 {
            let store = state.store.clone();
            let result = tokio::task::spawn_blocking(move || {
                let now = Utc::now();
                let report = store.evict_expired(now);
                let pruned = store.prune_usage(Quotas::load_since(now));
                (report, pruned)
            })
            .await;
            match result {
                Ok((Ok(report), _)) => tracing::debug!(?report, "retention pass"),
                Ok((Err(e), _)) => tracing::warn!(error = %e, "retention pass failed"),
                Err(e) => tracing::warn!(error = %e, "retention task failed"),
            }
        }
    }
}

async fn save_usage(state: &AppState) {
    let deltas = state.quotas.take_deltas(Utc::now());
    if deltas.is_empty() {
        return;
    }
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.add_usage(&deltas)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not save quota usage"),
        Err(e) => tracing::warn!(error = %e, "quota usage task failed"),
    }
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
    let (state, writer) = build_state(config, store)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e} (set HOST / PORT)"))?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let maintenance = tokio::spawn(maintenance_loop(state.clone(), shutdown_rx.clone()));
    let notifier = tokio::spawn(crate::alerts::notifier_loop(
        state.clone(),
        shutdown_rx.clone(),
    ));
    tracing::info!(%listen, database = %redact(&state.config.database_url), "periscope listening");
    let app = router(state.clone());
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("shutting down: draining the ingest bus");
    let _ = shutdown_tx.send(true);
    let _ = maintenance.await;
    let _ = notifier.await;
    drop(state);
    // The writer ends once every bus sender is gone and the queue is drained.
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    tracing::info!("stopped");
    Ok(())
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

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://periscope.db"), "sqlite://periscope.db");
    }
}
