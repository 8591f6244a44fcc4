//! The admin API (`/api/admin/*`): projects, issues, events, alerts and alert
//! destinations, as JSON, behind `Authorization: Bearer $API_SECRET_KEY_ADMIN`.
//!
//! Every answer is JSON; every error is `{"detail": "..."}` ([`ApiError`]) with a
//! fitting status: 400 for a bad body, query or path, 401 without the right key,
//! 404 for an unknown id. The extractors of this module replace axum's plain-text
//! rejections so that clients always get the same error shape. Store calls are
//! blocking and run on the blocking pool. The OpenAPI description of these routes
//! (`GET /api/admin/openapi.json`, no authentication) is in [`crate::openapi`].
//!
//! ```text
//! $ curl -s -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" \
//!     'http://127.0.0.1:8000/api/admin/projects/1/issues?query=level:error+release:shop@1.2.0'
//! {"issues": [{"id": 7, "title": "ZeroDivisionError: division by zero", ...}], "next_cursor": "..."}
//! $ curl -s -X PATCH -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" \
//!     -d '{"status": "resolved", "resolved_in_release": "shop@1.3.0"}' \
//!     http://127.0.0.1:8000/api/admin/issues/7
//! ```
//!
//! Issue ids are global; the optional `?project=` of issue links (the URL alerts
//! carry) restricts an issue route to one project, and every `/projects/{id}/...`
//! route only ever reads that project's rows.

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use chrono::{DateTime, SecondsFormat, Utc};
use periscope_store::{
    AlertStore, AlertWithDeliveries, Destination, EventSummary, Issue, IssueAction, IssueFilter,
    IssueStore, ProjectSettings, ProjectStore, ProjectUpdate, StatusFilter, Store, StoreError,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::error::ApiError;

/// Most alerts `GET .../alerts` returns.
const MAX_ALERTS: usize = 1000;
/// Longest mute by time: ten years.
const MAX_MUTE_SECONDS: u64 = 10 * 365 * 86_400;
/// Longest project name, in characters.
const MAX_NAME_CHARS: usize = 200;
/// Largest quota or event cap a project may be given.
const MAX_LIMIT: u64 = 1_000_000_000_000;
/// Longest retention by age, in days (a century).
const MAX_AGE_DAYS: u32 = 36_500;
/// Longest issue search, in bytes.
const MAX_QUERY_BYTES: usize = 1000;

/// The admin routes.
pub fn routes() -> Router<AppState> {
    let authed = Router::new()
        .route(
            "/api/admin/projects",
            get(list_projects).post(create_project),
        )
        .route(
            "/api/admin/projects/{id}",
            get(get_project).patch(patch_project).delete(delete_project),
        )
        .route("/api/admin/projects/{id}/issues", get(list_issues))
        .route("/api/admin/projects/{id}/events/{event_id}", get(get_event))
        .route("/api/admin/projects/{id}/alerts", get(list_alerts))
        .route(
            "/api/admin/projects/{id}/alert_notification_destinations",
            get(list_destinations).post(create_destination),
        )
        .route(
            "/api/admin/projects/{id}/alert_notification_destinations/{dest_id}",
            delete(delete_destination),
        )
        .route("/api/admin/issues/{id}", get(get_issue).patch(patch_issue))
        .route("/api/admin/issues/{id}/events", get(list_issue_events));
    Router::new()
        .route("/api/admin/openapi.json", get(openapi))
        .merge(authed)
}

// ---------------------------------------------------------------------------
// Authentication

/// Proof that the request carries the admin key: the first argument of every
/// authenticated handler, so it runs before any other extractor.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        let ip = crate::throttle::client_ip(peer, &parts.headers, &state.config.trusted_proxies);
        let now = std::time::Instant::now();
        if let Err(wait) = state.throttle.check(ip, now) {
            return Err(too_many_failures(wait));
        }
        let given = parts.headers.get(header::AUTHORIZATION);
        match check_key(state.config.admin_key.as_deref(), given) {
            Ok(()) => {
                state.throttle.success(ip);
                Ok(Admin)
            }
            Err(e) => {
                // A key that was given and is wrong is a guess: guesses from one
                // address are slowed down (a missing header is not counted).
                if given.is_some() && state.config.admin_key.is_some() {
                    tracing::warn!(client = %ip, "wrong admin key");
                    if let Some(wait) = state.throttle.failure(ip, now) {
                        return Err(too_many_failures(wait));
                    }
                }
                Err(e.with_header(header::WWW_AUTHENTICATE, "Bearer".to_owned()))
            }
        }
    }
}

fn too_many_failures(wait: std::time::Duration) -> ApiError {
    let secs = wait.as_secs().max(1);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many wrong keys from this address; retry in {secs} s"),
    )
    .with_header(header::RETRY_AFTER, secs.to_string())
}

/// Checks an `Authorization` header against the admin key, in constant time.
pub fn check_key(expected: Option<&str>, given: Option<&HeaderValue>) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Err(ApiError::unauthorized(
            "the admin API is disabled: set API_SECRET_KEY_ADMIN on the server and send `Authorization: Bearer <that key>`",
        ));
    };
    let Some(given) = given else {
        return Err(ApiError::unauthorized(
            "missing `Authorization: Bearer <API_SECRET_KEY_ADMIN>` header",
        ));
    };
    let given = given.as_bytes();
    let token = match given.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => given[7..].trim_ascii(),
        _ => {
            return Err(ApiError::unauthorized(
                "the Authorization header must be `Bearer <API_SECRET_KEY_ADMIN>`",
            ));
        }
    };
    if bool::from(token.ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("wrong admin key"))
    }
}

// ---------------------------------------------------------------------------
// Extractors whose rejections are `{"detail": ...}`

/// A JSON body (any content type); a bad one is a 400 with the parser's message.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "a JSON object is expected as the request body",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
    }
}

/// Query parameters; bad ones are a 400.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(q)| Params(q))
            .map_err(|e| {
                ApiError::bad_request(format!("invalid query parameters: {}", e.body_text()))
            })
    }
}

/// Path parameters; bad ones (an id that is not a number) are a 400.
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| PathParams(p))
            .map_err(|e| ApiError::bad_request(format!("invalid path: {}", e.body_text())))
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// Runs a blocking store call on the blocking pool, mapping store errors.
async fn blocking<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
{
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(ApiError::internal)?
}

/// A store error as an answer.
fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::InvalidCursor(_) => ApiError::bad_request(format!(
            "{e}: pass the next_cursor of a previous page unchanged"
        )),
        StoreError::NotFound(m) => ApiError::not_found(m),
        StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
        StoreError::Pool(_) | StoreError::Connect { .. } => {
            ApiError::unavailable(format!("database unavailable: {e}"), 5)
        }
        other => ApiError::internal(other),
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ts_opt(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| ts(t).into())
}

fn no_project(id: i64) -> ApiError {
    ApiError::not_found(format!("no project {id}"))
}

fn no_issue(id: i64) -> ApiError {
    ApiError::not_found(format!("no issue {id}"))
}

/// Fails with 404 unless the project exists.
fn require_project(store: &Store, id: i64) -> Result<periscope_store::Project, ApiError> {
    store
        .get_project(id)
        .map_err(store_error)?
        .ok_or_else(|| no_project(id))
}

/// The JSON shape of an issue.
pub fn issue_json(i: &Issue) -> Value {
    json!({
        "id": i.id,
        "project_id": i.project_id,
        "title": i.title,
        "culprit": i.culprit,
        "level": i.level,
        "status": i.status.as_str(),
        "count": i.count,
        "first_seen": ts(i.first_seen),
        "last_seen": ts(i.last_seen),
        "grouping_key": i.grouping_key,
        "created_at": ts(i.created_at),
        "status_changed_at": ts_opt(i.status_changed_at),
        "resolved_in_release": i.resolved_in_release,
        "muted_until": ts_opt(i.muted_until),
        "unmute_at_count": i.unmute_at_count,
    })
}

/// The JSON shape of a stored event's summary.
pub fn event_json(e: &EventSummary) -> Value {
    let tags: serde_json::Map<String, Value> = e
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "event_id": e.event_id,
        "project_id": e.project_id,
        "issue_id": e.issue_id,
        "timestamp": ts(e.timestamp),
        "received_at": ts(e.received_at),
        "level": e.level,
        "title": e.title,
        "culprit": e.culprit,
        "release": e.release,
        "environment": e.environment,
        "tags": tags,
        "payload_size": e.payload_size,
    })
}

/// The JSON shape of a destination, secrets hidden.
pub fn destination_json(d: &Destination) -> Value {
    json!({
        "id": d.id,
        "project_id": d.project_id,
        "type": d.kind,
        "config": crate::alerts::redacted_config(&d.config),
        "created_at": ts(d.created_at),
    })
}

/// The JSON shape of an alert with its deliveries.
pub fn alert_json(a: &AlertWithDeliveries) -> Value {
    let deliveries: Vec<Value> = a
        .deliveries
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "destination_id": d.destination_id,
                "destination_type": d.destination_kind,
                "state": d.state.as_str(),
                "attempts": d.attempts,
                "last_error": d.last_error,
                "last_attempt_at": ts_opt(d.last_attempt_at),
                "next_attempt_at": ts_opt(d.next_attempt_at),
                "delivered_at": ts_opt(d.delivered_at),
            })
        })
        .collect();
    json!({
        "id": a.alert.id,
        "project_id": a.alert.project_id,
        "issue_id": a.alert.issue_id,
        "issue_title": a.issue_title,
        "kind": a.alert.kind.as_str(),
        "created_at": ts(a.alert.created_at),
        "deliveries": deliveries,
    })
}

fn page_limit(limit: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match limit {
        None => Ok(default),
        Some(n @ 1..=1000) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit must be between 1 and 1000 (got {n})"
        ))),
    }
}

// ---------------------------------------------------------------------------
// Projects

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateProject {
    name: String,
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::bad_request("name must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::bad_request(format!(
            "name must be at most {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name.to_owned())
}

async fn create_project(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateProject>,
) -> Result<Response, ApiError> {
    let name = check_name(&body.name)?;
    let base = state.config.base_url.clone();
    let p = blocking(&state, move |s| {
        s.create_project(&name, &crate::commands::new_public_key(), Utc::now())
            .map_err(store_error)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "project": crate::commands::project_json(&base, &p) })),
    )
        .into_response())
}

async fn list_projects(
    _: Admin,
    State(state): State<AppState>,
) -> Result<axum::Json<Value>, ApiError> {
    let base = state.config.base_url.clone();
    let projects = blocking(&state, |s| s.list_projects().map_err(store_error)).await?;
    let all: Vec<Value> = projects
        .iter()
        .map(|p| crate::commands::project_json(&base, p))
        .collect();
    Ok(axum::Json(json!({ "projects": all })))
}

async fn get_project(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<axum::Json<Value>, ApiError> {
    let p = blocking(&state, move |s| require_project(s, id)).await?;
    Ok(axum::Json(
        json!({ "project": crate::commands::project_json(&state.config.base_url, &p) }),
    ))
}

/// `Some(None)` for an explicit `null` (clear the limit), `None` when absent.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /api/admin/projects/{id}`: absent fields are left as they are, `null`
/// removes a limit.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PatchProject {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    quota_per_minute: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    quota_per_hour: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    quota_per_day: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    max_events: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    max_age_days: Option<Option<u32>>,
    grouping_strategy: Option<String>,
}

impl PatchProject {
    fn apply(
        self,
        mut settings: ProjectSettings,
    ) -> Result<(Option<String>, ProjectSettings), ApiError> {
        let name = self.name.as_deref().map(check_name).transpose()?;
        for (field, value) in [
            ("quota_per_minute", self.quota_per_minute),
            ("quota_per_hour", self.quota_per_hour),
            ("quota_per_day", self.quota_per_day),
            ("max_events", self.max_events),
        ] {
            if let Some(Some(n)) = value
                && n > MAX_LIMIT
            {
                return Err(ApiError::bad_request(format!(
                    "{field} must be at most {MAX_LIMIT} (or null for no limit)"
                )));
            }
        }
        if let Some(Some(days)) = self.max_age_days
            && days > MAX_AGE_DAYS
        {
            return Err(ApiError::bad_request(format!(
                "max_age_days must be at most {MAX_AGE_DAYS} (or null for no limit)"
            )));
        }
        if let Some(v) = self.quota_per_minute {
            settings.quota_per_minute = v;
        }
        if let Some(v) = self.quota_per_hour {
            settings.quota_per_hour = v;
        }
        if let Some(v) = self.quota_per_day {
            settings.quota_per_day = v;
        }
        if let Some(v) = self.max_events {
            if v == Some(0) {
                return Err(ApiError::bad_request(
                    "max_events must be at least 1 (or null for no cap)",
                ));
            }
            settings.max_events = v;
        }
        if let Some(v) = self.max_age_days {
            if v == Some(0) {
                return Err(ApiError::bad_request(
                    "max_age_days must be at least 1 (or null for no cap)",
                ));
            }
            settings.max_age_days = v;
        }
        if let Some(s) = self.grouping_strategy {
            let strategy: periscope_grouping::Strategy = s.parse().map_err(|_| {
                let known: Vec<&str> = periscope_grouping::Strategy::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect();
                ApiError::bad_request(format!(
                    "unknown grouping_strategy {s:?} (known: {})",
                    known.join(", ")
                ))
            })?;
            settings.grouping_strategy = strategy.as_str().to_owned();
        }
        Ok((name, settings))
    }
}

async fn patch_project(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    JsonBody(body): JsonBody<PatchProject>,
) -> Result<axum::Json<Value>, ApiError> {
    let p = blocking(&state, move |s| {
        let current = require_project(s, id)?;
        let (name, settings) = body.apply(current.settings)?;
        s.update_project(
            id,
            &ProjectUpdate {
                name,
                settings: Some(settings),
            },
        )
        .map_err(store_error)?
        .ok_or_else(|| no_project(id))
    })
    .await?;
    state.keys.invalidate();
    Ok(axum::Json(
        json!({ "project": crate::commands::project_json(&state.config.base_url, &p) }),
    ))
}

async fn delete_project(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<StatusCode, ApiError> {
    let existed = blocking(&state, move |s| s.delete_project(id).map_err(store_error)).await?;
    state.keys.invalidate();
    if existed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_project(id))
    }
}

// ---------------------------------------------------------------------------
// Issues and events

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuesQuery {
    status: Option<String>,
    query: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn parse_status(s: Option<&str>) -> Result<StatusFilter, ApiError> {
    match s.unwrap_or("unresolved") {
        "unresolved" => Ok(StatusFilter::Unresolved),
        "resolved" => Ok(StatusFilter::Resolved),
        "muted" => Ok(StatusFilter::Muted),
        "all" => Ok(StatusFilter::All),
        other => Err(ApiError::bad_request(format!(
            "unknown status {other:?} (use unresolved, resolved, muted or all)"
        ))),
    }
}

async fn list_issues(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    Params(q): Params<IssuesQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    if q.query.as_ref().is_some_and(|t| t.len() > MAX_QUERY_BYTES) {
        return Err(ApiError::bad_request(format!(
            "query must be at most {MAX_QUERY_BYTES} bytes"
        )));
    }
    let filter = IssueFilter {
        status: parse_status(q.status.as_deref())?,
        query: q.query.unwrap_or_default(),
        cursor: q.cursor.filter(|c| !c.is_empty()),
        limit: page_limit(q.limit, 50)?,
    };
    let page = blocking(&state, move |s| {
        require_project(s, id)?;
        s.list_issues(id, &filter).map_err(store_error)
    })
    .await?;
    let issues: Vec<Value> = page.items.iter().map(issue_json).collect();
    Ok(axum::Json(
        json!({ "issues": issues, "next_cursor": page.next_cursor }),
    ))
}

/// The optional `?project=` of issue links: when given, the issue must belong to it.
#[derive(Deserialize)]
struct ProjectScope {
    project: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    project: Option<i64>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn scoped(issue: Option<Issue>, id: i64, project: Option<i64>) -> Result<Issue, ApiError> {
    match issue {
        Some(i) if project.is_none_or(|p| p == i.project_id) => Ok(i),
        _ => Err(no_issue(id)),
    }
}

async fn get_issue(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    Params(scope): Params<ProjectScope>,
) -> Result<axum::Json<Value>, ApiError> {
    let detail = blocking(&state, move |s| {
        crate::commands::issue_detail(s, id).map_err(store_error)
    })
    .await?;
    let Some(detail) = detail else {
        return Err(no_issue(id));
    };
    let issue = scoped(Some(detail.issue), id, scope.project)?;
    let grouping = detail
        .latest
        .as_ref()
        .and_then(|e| crate::commands::regroup(&e.payload, &detail.strategy));
    let mut out = issue_json(&issue);
    if let Some(obj) = out.as_object_mut() {
        obj.insert(
            "grouping".into(),
            json!({
                "strategy": detail.strategy,
                "key": grouping.as_ref().map(|g| g.key.clone()),
                "variant": grouping.as_ref().map(|g| g.variant.clone()),
                "explanation": grouping.as_ref().map(|g| &g.explanation),
                "stored_explanation": issue.grouping_explanation,
            }),
        );
        obj.insert(
            "latest_event".into(),
            detail
                .latest
                .as_ref()
                .map_or(Value::Null, |e| event_json(&e.summary)),
        );
    }
    Ok(axum::Json(json!({ "issue": out })))
}

/// `PATCH /api/admin/issues/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchIssue {
    status: String,
    resolved_in_release: Option<String>,
    mute_for_seconds: Option<u64>,
    mute_until_count: Option<u64>,
}

impl PatchIssue {
    fn action(self, now: DateTime<Utc>) -> Result<IssueAction, ApiError> {
        let mute_fields = self.mute_for_seconds.is_some() || self.mute_until_count.is_some();
        match self.status.as_str() {
            "resolved" => {
                if mute_fields {
                    return Err(ApiError::bad_request(
                        "mute_for_seconds and mute_until_count go with status \"muted\"",
                    ));
                }
                match self.resolved_in_release {
                    None => Ok(IssueAction::Resolve),
                    Some(r) if r.trim().is_empty() => Err(ApiError::bad_request(
                        "resolved_in_release must not be empty",
                    )),
                    Some(r) => Ok(IssueAction::ResolveInRelease(r.trim().to_owned())),
                }
            }
            "muted" => {
                if self.resolved_in_release.is_some() {
                    return Err(ApiError::bad_request(
                        "resolved_in_release goes with status \"resolved\"",
                    ));
                }
                match (self.mute_for_seconds, self.mute_until_count) {
                    (Some(_), Some(_)) => Err(ApiError::bad_request(
                        "give mute_for_seconds or mute_until_count, not both",
                    )),
                    (Some(secs), None) => {
                        if secs == 0 || secs > MAX_MUTE_SECONDS {
                            return Err(ApiError::bad_request(format!(
                                "mute_for_seconds must be between 1 and {MAX_MUTE_SECONDS}"
                            )));
                        }
                        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
                        Ok(IssueAction::MuteUntil(
                            now + chrono::Duration::seconds(secs),
                        ))
                    }
                    (None, Some(0)) => {
                        Err(ApiError::bad_request("mute_until_count must be at least 1"))
                    }
                    (None, Some(n)) => Ok(IssueAction::MuteForEvents(n)),
                    (None, None) => Ok(IssueAction::Mute),
                }
            }
            "unresolved" => {
                if mute_fields || self.resolved_in_release.is_some() {
                    return Err(ApiError::bad_request(
                        "status \"unresolved\" takes no other field",
                    ));
                }
                Ok(IssueAction::Reopen)
            }
            other => Err(ApiError::bad_request(format!(
                "unknown status {other:?} (use resolved, unresolved or muted)"
            ))),
        }
    }
}

async fn patch_issue(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    Params(scope): Params<ProjectScope>,
    JsonBody(body): JsonBody<PatchIssue>,
) -> Result<axum::Json<Value>, ApiError> {
    let now = Utc::now();
    let action = body.action(now)?;
    let issue = blocking(&state, move |s| {
        scoped(s.get_issue(id).map_err(store_error)?, id, scope.project)?;
        s.update_issue(id, &action, now)
            .map_err(store_error)?
            .ok_or_else(|| no_issue(id))
    })
    .await?;
    Ok(axum::Json(json!({ "issue": issue_json(&issue) })))
}

async fn list_issue_events(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    Params(q): Params<EventsQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let limit = page_limit(q.limit, 50)?;
    let cursor = q.cursor.filter(|c| !c.is_empty());
    let page = blocking(&state, move |s| {
        scoped(s.get_issue(id).map_err(store_error)?, id, q.project)?;
        s.list_events(id, cursor.as_deref(), limit)
            .map_err(store_error)
    })
    .await?;
    let events: Vec<Value> = page.items.iter().map(event_json).collect();
    Ok(axum::Json(
        json!({ "events": events, "next_cursor": page.next_cursor }),
    ))
}

/// An event id as stored: 32 lowercase hex characters (dashes and case ignored).
fn normalize_event_id(raw: &str) -> Result<String, ApiError> {
    let id: String = raw
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(ApiError::bad_request(format!(
            "{raw:?} is not an event id (32 hexadecimal characters)"
        )))
    }
}

/// The payload the SDK sent, byte for byte, as `application/json`.
async fn get_event(
    _: Admin,
    State(state): State<AppState>,
    PathParams((id, event_id)): PathParams<(i64, String)>,
) -> Result<Response, ApiError> {
    let event_id = normalize_event_id(&event_id)?;
    let shown = event_id.clone();
    let event = blocking(&state, move |s| {
        require_project(s, id)?;
        s.get_event(id, &event_id).map_err(store_error)
    })
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no event {shown} in project {id}")))?;
    let mut resp = event.payload.into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&event.summary.issue_id.to_string()) {
        headers.insert("x-periscope-issue-id", v);
    }
    Ok(resp)
}

// ---------------------------------------------------------------------------
// Alerts and destinations

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsQuery {
    limit: Option<usize>,
}

async fn list_alerts(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    Params(q): Params<AlertsQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let limit = page_limit(q.limit, 100)?.min(MAX_ALERTS);
    let alerts = blocking(&state, move |s| {
        require_project(s, id)?;
        s.list_alerts(id, limit).map_err(store_error)
    })
    .await?;
    let alerts: Vec<Value> = alerts.iter().map(alert_json).collect();
    Ok(axum::Json(json!({ "alerts": alerts })))
}

async fn create_destination(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "a destination is a JSON object with a \"type\"",
        ));
    }
    let max_per_hour = match body.get("max_per_hour") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=100_000) => Some(n),
            _ => {
                return Err(ApiError::bad_request(
                    "max_per_hour must be a whole number between 1 and 100000",
                ));
            }
        },
    };
    let dest =
        crate::alerts::validate_destination(&state.config, &body).map_err(ApiError::bad_request)?;
    let kind = dest.type_name().to_owned();
    let mut config = serde_json::to_value(&dest).map_err(ApiError::internal)?;
    if let (Some(n), Some(obj)) = (max_per_hour, config.as_object_mut()) {
        obj.insert("max_per_hour".into(), n.into());
    }
    let stored = blocking(&state, move |s| {
        require_project(s, id)?;
        s.create_destination(id, &kind, &config, Utc::now())
            .map_err(store_error)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "destination": destination_json(&stored) })),
    )
        .into_response())
}

async fn list_destinations(
    _: Admin,
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<axum::Json<Value>, ApiError> {
    let list = blocking(&state, move |s| {
        require_project(s, id)?;
        s.list_destinations(id).map_err(store_error)
    })
    .await?;
    let all: Vec<Value> = list.iter().map(destination_json).collect();
    Ok(axum::Json(json!({ "destinations": all })))
}

async fn delete_destination(
    _: Admin,
    State(state): State<AppState>,
    PathParams((id, dest_id)): PathParams<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    let existed = blocking(&state, move |s| {
        require_project(s, id)?;
        s.delete_destination(id, dest_id).map_err(store_error)
    })
    .await?;
    if existed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "no destination {dest_id} in project {id}"
        )))
    }
}

// ---------------------------------------------------------------------------
// OpenAPI

async fn openapi(State(state): State<AppState>) -> axum::Json<Value> {
    axum::Json(crate::openapi::document(&state.config.base_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn admin_key_checks() {
        assert!(check_key(Some("k3y"), Some(&hv("Bearer k3y"))).is_ok());
        assert!(check_key(Some("k3y"), Some(&hv("bearer  k3y "))).is_ok());
        for bad in ["Bearer k3", "Bearer k3yy", "Basic k3y", "k3y", "Bearer", ""] {
            let e = check_key(Some("k3y"), Some(&hv(bad))).unwrap_err();
            assert_eq!(e.status, StatusCode::UNAUTHORIZED, "{bad:?}");
        }
        assert!(check_key(Some("k3y"), None).is_err());
        let off = check_key(None, Some(&hv("Bearer k3y"))).unwrap_err();
        assert!(off.detail.contains("API_SECRET_KEY_ADMIN"));
    }

    fn action(body: Value) -> Result<IssueAction, ApiError> {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        serde_json::from_value::<PatchIssue>(body)
            .map_err(|e| ApiError::bad_request(e.to_string()))?
            .action(now)
    }

    #[test]
    fn issue_patches() {
        assert_eq!(
            action(json!({"status": "resolved"})).unwrap(),
            IssueAction::Resolve
        );
        assert_eq!(
            action(json!({"status": "resolved", "resolved_in_release": " 1.2 "})).unwrap(),
            IssueAction::ResolveInRelease("1.2".into())
        );
        assert_eq!(
            action(json!({"status": "muted", "mute_until_count": 5})).unwrap(),
            IssueAction::MuteForEvents(5)
        );
        match action(json!({"status": "muted", "mute_for_seconds": 60})).unwrap() {
            IssueAction::MuteUntil(t) => assert_eq!(t.to_rfc3339(), "2026-01-01T00:01:00+00:00"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            action(json!({"status": "muted"})).unwrap(),
            IssueAction::Mute
        );
        assert_eq!(
            action(json!({"status": "unresolved"})).unwrap(),
            IssueAction::Reopen
        );
        for bad in [
            json!({"status": "muted", "mute_for_seconds": u64::MAX}),
            json!({"status": "muted", "mute_until_count": 0}),
            json!({"status": "muted", "resolved_in_release": "1"}),
            json!({"status": "gone"}),
        ] {
            assert_eq!(action(bad).unwrap_err().status, StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn project_patches_keep_absent_fields_and_clear_nulls() {
        let mut settings = ProjectSettings {
            quota_per_hour: Some(10),
            quota_per_day: Some(100),
            ..ProjectSettings::default()
        };
        let patch: PatchProject =
            serde_json::from_value(json!({"quota_per_hour": null, "grouping_strategy": "sentry"}))
                .unwrap();
        let (name, s) = patch.apply(settings.clone()).unwrap();
        assert_eq!(name, None);
        assert_eq!(s.quota_per_hour, None);
        assert_eq!(s.quota_per_day, Some(100));
        assert_eq!(s.grouping_strategy, "default");
        settings.quota_per_hour = None;
        assert_eq!(s, settings);
    }

    #[test]
    fn event_ids() {
        assert_eq!(
            normalize_event_id("01234567-89AB-CDEF-0123-456789ABCDEF").unwrap(),
            "0123456789abcdef0123456789abcdef"
        );
        assert!(normalize_event_id("xyz").is_err());
        assert!(normalize_event_id(&"0".repeat(33)).is_err());
    }

    #[test]
    fn openapi_document_is_consistent() {
        let doc = crate::openapi::document("http://localhost:8000");
        let paths = doc["paths"].as_object().unwrap();
        assert_eq!(paths.len(), 10);
        let text = doc.to_string();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("#/components/schemas/") {
            rest = &rest[at + 21..];
            let name = &rest[..rest.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "dangling $ref {name}"
            );
        }
    }
}
