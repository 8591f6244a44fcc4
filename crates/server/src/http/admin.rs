//! The admin API (`/api/admin/*`): projects, issues, events, alerts, alert
//! destinations, users ([`users`]) and the web UI's test sends ([`test_sends`]),
//! as JSON, behind `Authorization: Bearer $API_SECRET_KEY_ADMIN`.
//!
//! Every answer is JSON; every error is `{"detail": "..."}` ([`ApiError`]) with a
//! fitting status: 400 for a bad body, query or path, 401 without the right key,
//! 404 for an unknown id. The extractors of this module replace axum's plain-text
//! rejections so that clients always get the same error shape. Handlers are thin:
//! each turns its request into one call of the application layer
//! ([`crate::service`], on the blocking pool) and its result into JSON. The admin
//! key is checked by a layer in front of every route. The OpenAPI description
//! (`GET /api/admin/openapi.json`, no authentication) is generated from the
//! handlers' own request and answer types ([`ApiDoc`]).
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
use axum::routing::{delete, get, patch, post};
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::service::views::{
    AlertView, DestinationView, EventView, IssueDetailView, IssueView, ProjectView,
};
use crate::service::{
    AlertQuery, DestinationChange, IssueChange, IssueQuery, NewDestination, ProjectChange, Service,
    ServiceError,
};
use crate::state::AppState;

mod deliveries;
mod grouping;
mod keys;
mod status;
mod test_sends;
mod users;

/// The admin routes, behind the admin key (checked by a layer before anything
/// else of the request is looked at), and the OpenAPI document (no key).
pub(crate) fn routes(state: AppState) -> Router<AppState> {
    let authed = Router::new()
        .route(
            "/api/admin/projects",
            get(list_projects).post(create_project),
        )
        .route(
            "/api/admin/projects/{id}",
            get(get_project).patch(patch_project).delete(delete_project),
        )
        .route(
            "/api/admin/projects/{id}/keys",
            get(keys::list_keys).post(keys::add_key),
        )
        .route(
            "/api/admin/projects/{id}/keys/{public_key}",
            delete(keys::revoke_key),
        )
        .route("/api/admin/projects/{id}/issues", get(list_issues))
        .route("/api/admin/projects/{id}/events/{event_id}", get(get_event))
        .route("/api/admin/projects/{id}/alerts", get(list_alerts))
        .route(
            "/api/admin/projects/{id}/deliveries/{delivery_id}/retry",
            post(deliveries::retry_delivery),
        )
        .route(
            "/api/admin/projects/{id}/alert_notification_destinations",
            get(list_destinations).post(create_destination),
        )
        .route(
            "/api/admin/projects/{id}/alert_notification_destinations/{dest_id}",
            delete(delete_destination),
        )
        .route(
            "/api/admin/projects/{id}/destinations/{destination_id}",
            patch(patch_destination),
        )
        .route("/api/admin/issues/{id}", get(get_issue).patch(patch_issue))
        .route("/api/admin/issues/{id}/events", get(list_issue_events))
        .route("/api/admin/issues/{id}/keys", get(grouping::issue_keys))
        .route("/api/admin/issues/{id}/merge", post(grouping::merge_issues))
        .route(
            "/api/admin/issues/{id}/unmerge",
            post(grouping::unmerge_issue),
        )
        .route(
            "/api/admin/projects/{id}/grouping",
            get(grouping::get_grouping),
        )
        .route(
            "/api/admin/projects/{id}/grouping/test",
            post(grouping::test_grouping),
        )
        .route(
            "/api/admin/users",
            get(users::list_users).post(users::create_user),
        )
        .route(
            "/api/admin/users/{id}",
            get(users::get_user)
                .patch(users::patch_user)
                .delete(users::delete_user),
        )
        .route("/api/admin/users/{id}/reset-link", post(users::reset_link))
        .route(
            "/api/admin/users/invitations",
            get(users::list_invitations).post(users::create_invitation),
        )
        .route(
            "/api/admin/users/invitations/{email}",
            delete(users::revoke_invitation),
        )
        .route("/api/admin/status", get(status::get_status))
        .route(
            "/api/admin/projects/{id}/test-event",
            post(test_sends::send_test_event),
        )
        .route(
            "/api/admin/projects/{id}/destinations/{destination_id}/test",
            post(test_sends::test_destination),
        )
        .route_layer(axum::middleware::from_fn_with_state(state, require_admin));
    Router::new()
        .route("/api/admin/openapi.json", get(openapi))
        .merge(authed)
}

// ---------------------------------------------------------------------------
// Authentication

/// The layer in front of every admin route: the admin key, with wrong keys
/// slowed down per client address.
async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let ip = crate::throttle::client_ip(peer, request.headers(), &state.config.trusted_proxies);
    let now = std::time::Instant::now();
    if let Err(wait) = state.throttle.check(&ip, now) {
        return too_many_failures(wait).into_response();
    }
    let given = request.headers().get(header::AUTHORIZATION);
    match check_key(state.config.admin_key.as_deref(), given) {
        Ok(()) => {
            state.throttle.success(&ip);
            next.run(request).await
        }
        Err(e) => {
            // A key that was given and is wrong is a guess: guesses from one
            // address are slowed down (a missing header is not counted).
            if given.is_some() && state.config.admin_key.is_some() {
                tracing::warn!(client = %ip, "wrong admin key");
                if let Some(wait) = state.throttle.failure(&ip, now) {
                    return too_many_failures(wait).into_response();
                }
            }
            e.with_header(header::WWW_AUTHENTICATE, "Bearer".to_owned())
                .into_response()
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
pub(crate) fn check_key(
    expected: Option<&str>,
    given: Option<&HeaderValue>,
) -> Result<(), ApiError> {
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
pub(crate) struct JsonBody<T>(pub T);

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
pub(crate) struct Params<T>(pub T);

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
pub(crate) struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| PathParams(p))
            .map_err(|e| ApiError::bad_request(format!("invalid path: {}", e.body_text())))
    }
}

/// Runs a service call on the blocking pool (the database is blocking).
async fn call<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
{
    let service = state.service.clone();
    tokio::task::spawn_blocking(move || f(&service))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

// ---------------------------------------------------------------------------
// Answer shapes

/// `{"project": ...}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProjectAnswer {
    /// The project.
    pub(crate) project: ProjectView,
}

/// `{"projects": [...]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProjectsAnswer {
    /// Every project.
    pub(crate) projects: Vec<ProjectView>,
}

/// `{"issues": [...], "next_cursor": ...}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct IssuesAnswer {
    /// One page of issues.
    pub(crate) issues: Vec<IssueView>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub(crate) next_cursor: Option<String>,
}

/// `{"issue": ...}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct IssueAnswer {
    /// The issue.
    pub(crate) issue: IssueView,
}

/// `{"issue": ...}` with grouping and latest event.
#[derive(Serialize, ToSchema)]
pub(crate) struct IssueDetailAnswer {
    /// The issue.
    pub(crate) issue: IssueDetailView,
}

/// `{"events": [...], "next_cursor": ...}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct EventsAnswer {
    /// One page of events, newest first.
    pub(crate) events: Vec<EventView>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub(crate) next_cursor: Option<String>,
}

/// `{"alerts": [...]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct AlertsAnswer {
    /// The latest alerts.
    pub(crate) alerts: Vec<AlertView>,
}

/// `{"destination": ...}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct DestinationAnswer {
    /// The destination.
    pub(crate) destination: DestinationView,
}

/// `{"destinations": [...]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct DestinationsAnswer {
    /// The project's destinations.
    pub(crate) destinations: Vec<DestinationView>,
}

/// Every error: `{"detail": "..."}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorAnswer {
    /// What went wrong, for a person.
    pub(crate) detail: String,
}

// ---------------------------------------------------------------------------
// Request shapes (only those not owned by the service)

/// `POST /api/admin/projects`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateProject {
    /// The name (trimmed; 1 to 200 characters).
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub(crate) name: String,
}

/// The body of `POST /api/admin/projects/{id}/alert_notification_destinations`:
/// one shape per destination type (see
/// [`destination_schema`](crate::service::destination_schema)).
pub(crate) struct DestinationInput;

/// A placeholder for the derive: [`document`] puts the real schema in.
impl utoipa::PartialSchema for DestinationInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(
            utoipa::openapi::schema::Object::new(),
        ))
    }
}

impl ToSchema for DestinationInput {}

/// The body of `PATCH /api/admin/projects/{id}/destinations/{destination_id}` (see
/// [`destination_change_schema`](crate::service::destination_change_schema)).
pub(crate) struct DestinationChangeInput;

/// A placeholder for the derive: [`document`] puts the real schema in.
impl utoipa::PartialSchema for DestinationChangeInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(
            utoipa::openapi::schema::Object::new(),
        ))
    }
}

impl ToSchema for DestinationChangeInput {}

/// The optional `?project=` of issue links: when given, the issue must belong to it.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProjectScope {
    /// When given, the issue must belong to this project (404 otherwise); issue
    /// links in alerts carry it.
    pub(crate) project: Option<i64>,
}

/// `GET /api/admin/issues/{id}/events`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// When given, the issue must belong to this project.
    pub(crate) project: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^(e-?[0-9]{1,18}_-?[0-9]{1,18})?$")]
    pub(crate) cursor: Option<String>,
    /// Events per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<usize>,
}

// ---------------------------------------------------------------------------
// Projects

/// Create a project with one key.
#[utoipa::path(post, path = "/api/admin/projects", tag = "projects",
    request_body = CreateProject,
    responses((status = 201, body = ProjectAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer)))]
async fn create_project(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateProject>,
) -> Result<Response, ApiError> {
    let project = call(&state, move |s| s.create_project(&body.name)).await?;
    Ok((StatusCode::CREATED, axum::Json(ProjectAnswer { project })).into_response())
}

/// Every project.
#[utoipa::path(get, path = "/api/admin/projects", tag = "projects",
    responses((status = 200, body = ProjectsAnswer), (status = 401, body = ErrorAnswer)))]
async fn list_projects(
    State(state): State<AppState>,
) -> Result<axum::Json<ProjectsAnswer>, ApiError> {
    let projects = call(&state, |s| s.list_projects()).await?;
    Ok(axum::Json(ProjectsAnswer { projects }))
}

/// One project.
#[utoipa::path(get, path = "/api/admin/projects/{id}", tag = "projects",
    params(("id" = i64, Path, description = "The project id.")),
    responses((status = 200, body = ProjectAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
async fn get_project(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<axum::Json<ProjectAnswer>, ApiError> {
    let project = call(&state, move |s| s.project(id)).await?;
    Ok(axum::Json(ProjectAnswer { project }))
}

/// Change a project: absent fields are left as they are, `null` removes a limit.
#[utoipa::path(patch, path = "/api/admin/projects/{id}", tag = "projects",
    params(("id" = i64, Path, description = "The project id.")),
    request_body = ProjectChange,
    responses((status = 200, body = ProjectAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
async fn patch_project(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    JsonBody(change): JsonBody<ProjectChange>,
) -> Result<axum::Json<ProjectAnswer>, ApiError> {
    let project = call(&state, move |s| s.update_project(id, change)).await?;
    Ok(axum::Json(ProjectAnswer { project }))
}

/// Delete a project with its keys, issues, events, alerts and destinations.
#[utoipa::path(delete, path = "/api/admin/projects/{id}", tag = "projects",
    params(("id" = i64, Path, description = "The project id.")),
    responses((status = 204, description = "Deleted."), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
async fn delete_project(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<StatusCode, ApiError> {
    call(&state, move |s| s.delete_project(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------
// Issues and events

/// A page of a project's issues, most recently seen first, or first seen
/// (`sort=first_seen`), or most events (`sort=count`). A `next_cursor` is
/// valid only with the same `sort` (409 with another).
#[utoipa::path(get, path = "/api/admin/projects/{id}/issues", tag = "issues",
    params(("id" = i64, Path, description = "The project id."), IssueQuery),
    responses((status = 200, body = IssuesAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
              (status = 409, description = "The cursor was made for another sort.", body = ErrorAnswer)))]
async fn list_issues(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    Params(q): Params<IssueQuery>,
) -> Result<axum::Json<IssuesAnswer>, ApiError> {
    let page = call(&state, move |s| s.list_issues(id, q)).await?;
    Ok(axum::Json(IssuesAnswer {
        issues: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// One issue with its grouping explanation and latest event.
#[utoipa::path(get, path = "/api/admin/issues/{id}", tag = "issues",
    params(("id" = i64, Path, description = "The issue id (unique across projects)."), ProjectScope),
    responses((status = 200, body = IssueDetailAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
async fn get_issue(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    Params(scope): Params<ProjectScope>,
) -> Result<axum::Json<IssueDetailAnswer>, ApiError> {
    let issue = call(&state, move |s| {
        s.issue_detail(id, scope.project).map(|d| d.view())
    })
    .await?;
    Ok(axum::Json(IssueDetailAnswer { issue }))
}

/// Resolve, mute or reopen an issue.
#[utoipa::path(patch, path = "/api/admin/issues/{id}", tag = "issues",
    params(("id" = i64, Path, description = "The issue id (unique across projects)."), ProjectScope),
    request_body = IssueChange,
    responses((status = 200, body = IssueAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
async fn patch_issue(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    Params(scope): Params<ProjectScope>,
    JsonBody(change): JsonBody<IssueChange>,
) -> Result<axum::Json<IssueAnswer>, ApiError> {
    let issue = call(&state, move |s| {
        s.update_issue(id, scope.project, change, None, Utc::now())
    })
    .await?;
    Ok(axum::Json(IssueAnswer { issue }))
}

/// A page of an issue's events, newest first.
#[utoipa::path(get, path = "/api/admin/issues/{id}/events", tag = "issues",
    params(("id" = i64, Path, description = "The issue id (unique across projects)."), EventsQuery),
    responses((status = 200, body = EventsAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
async fn list_issue_events(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    Params(q): Params<EventsQuery>,
) -> Result<axum::Json<EventsAnswer>, ApiError> {
    let page = call(&state, move |s| {
        s.list_issue_events(id, q.project, q.cursor, q.limit)
    })
    .await?;
    Ok(axum::Json(EventsAnswer {
        events: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// The payload the SDK sent, byte for byte, as `application/json` (the issue id in
/// `X-Periscope-Issue-Id`).
#[utoipa::path(get, path = "/api/admin/projects/{id}/events/{event_id}", tag = "issues",
    params(("id" = i64, Path, description = "The project id."),
           ("event_id" = String, Path, pattern = "^-*([0-9a-fA-F]-*){32}$", description = "The event id: 32 hexadecimal characters (dashes and case ignored).")),
    responses((status = 200, description = "The event as the SDK sent it.", content_type = "application/json", body = Object),
              (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
async fn get_event(
    State(state): State<AppState>,
    PathParams((id, event_id)): PathParams<(i64, String)>,
) -> Result<Response, ApiError> {
    let event = call(&state, move |s| s.event(id, &event_id)).await?;
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

/// A project's latest alerts with their delivery state; `state=` keeps those
/// with a delivery in that state (each with all its deliveries).
#[utoipa::path(get, path = "/api/admin/projects/{id}/alerts", tag = "alerts",
    params(("id" = i64, Path, description = "The project id."), AlertQuery),
    responses((status = 200, body = AlertsAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
async fn list_alerts(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    Params(q): Params<AlertQuery>,
) -> Result<axum::Json<AlertsAnswer>, ApiError> {
    let alerts = call(&state, move |s| s.query_alerts(id, q)).await?;
    Ok(axum::Json(AlertsAnswer { alerts }))
}

/// Add an alert destination.
#[utoipa::path(post, path = "/api/admin/projects/{id}/alert_notification_destinations", tag = "alerts",
    params(("id" = i64, Path, description = "The project id.")),
    request_body = DestinationInput,
    responses((status = 201, body = DestinationAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
async fn create_destination(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let destination = call(&state, move |s| {
        s.create_destination(id, NewDestination(body))
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(DestinationAnswer { destination }),
    )
        .into_response())
}

/// A project's alert destinations (secrets hidden).
#[utoipa::path(get, path = "/api/admin/projects/{id}/alert_notification_destinations", tag = "alerts",
    params(("id" = i64, Path, description = "The project id.")),
    responses((status = 200, body = DestinationsAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
async fn list_destinations(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<axum::Json<DestinationsAnswer>, ApiError> {
    let destinations = call(&state, move |s| s.list_destinations(id)).await?;
    Ok(axum::Json(DestinationsAnswer { destinations }))
}

/// Change an alert destination: fields left out keep their stored value, and
/// so do the write-only ones (the webhook `secret` and header values) when
/// blank or `***`; `null` removes the secret, the headers or the per-hour cap.
/// The type cannot change; a field the destination's type does not have, or a
/// header kept that has no stored value, is a 409. Refused like a new
/// destination otherwise (400), e.g. a URL naming a private address while
/// `PERISCOPE_ALLOW_PRIVATE_WEBHOOKS` is off.
#[utoipa::path(patch, path = "/api/admin/projects/{id}/destinations/{destination_id}", tag = "alerts",
    params(("id" = i64, Path, description = "The project id."), ("destination_id" = i64, Path, description = "The destination id (as listed by alert_notification_destinations).")),
    request_body = DestinationChangeInput,
    responses((status = 200, body = DestinationAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
              (status = 409, description = "The change does not fit the destination (its type, or a header with no stored value).", body = ErrorAnswer)))]
async fn patch_destination(
    State(state): State<AppState>,
    PathParams((id, destination_id)): PathParams<(i64, i64)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<axum::Json<DestinationAnswer>, ApiError> {
    let destination = call(&state, move |s| {
        s.update_destination(id, destination_id, DestinationChange(body))
    })
    .await?;
    Ok(axum::Json(DestinationAnswer { destination }))
}

/// Remove an alert destination.
#[utoipa::path(delete, path = "/api/admin/projects/{id}/alert_notification_destinations/{dest_id}", tag = "alerts",
    params(("id" = i64, Path, description = "The project id."), ("dest_id" = i64, Path, description = "The destination id.")),
    responses((status = 204, description = "Deleted."), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
async fn delete_destination(
    State(state): State<AppState>,
    PathParams((id, dest_id)): PathParams<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    call(&state, move |s| s.delete_destination(id, dest_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------
// OpenAPI

/// The OpenAPI document, generated from the handlers' own request and answer
/// types, so it cannot drift from them.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Periscope admin API", description = "Projects, issues, events, alerts, alert destinations and the web UI's users. Every route but this document needs `Authorization: Bearer $API_SECRET_KEY_ADMIN`; every error is `{\"detail\": \"...\"}`."),
    paths(create_project, list_projects, get_project, patch_project, delete_project,
          list_issues, get_issue, patch_issue, list_issue_events, get_event,
          list_alerts, create_destination, list_destinations, patch_destination, delete_destination, openapi),
    modifiers(&AdminKey),
    security(("adminKey" = []))
)]
pub(crate) struct ApiDoc;

struct AdminKey;

impl utoipa::Modify for AdminKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "adminKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The server's API_SECRET_KEY_ADMIN."))
                    .build(),
            ),
        );
    }
}

/// The document for a server with `config`: its base URL as the server, and the
/// schemas that the derive cannot express (one shape per issue status and per
/// destination type; email only when the server can send mail).
pub(crate) fn document(config: &crate::config::Config) -> Value {
    use utoipa::OpenApi;
    let mut doc = ApiDoc::openapi();
    doc.merge(users::UsersDoc::openapi());
    doc.merge(keys::KeysDoc::openapi());
    doc.merge(status::StatusDoc::openapi());
    doc.merge(deliveries::DeliveriesDoc::openapi());
    doc.merge(test_sends::TestSendsDoc::openapi());
    doc.merge(grouping::GroupingDoc::openapi());
    doc.servers = Some(vec![utoipa::openapi::Server::new(&config.base_url)]);
    let mut doc = serde_json::to_value(doc).unwrap_or(Value::Null);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert(
            "IssueChange".to_owned(),
            crate::service::IssueChange::json_schema(),
        );
        schemas.insert(
            "DestinationInput".to_owned(),
            crate::service::destination_schema(config.smtp_url.is_some()),
        );
        schemas.insert(
            "DestinationChangeInput".to_owned(),
            crate::service::destination_change_schema(config.smtp_url.is_some()),
        );
        // The configuration ids, then the names stored before versioning
        // (still accepted), then null.
        let mut strategies: Vec<Value> = periscope_grouping::ConfigId::ALL
            .iter()
            .map(|c| Value::from(c.as_str()))
            .chain(
                periscope_grouping::ConfigId::ALL
                    .iter()
                    .filter_map(|c| c.legacy_name())
                    .map(Value::from),
            )
            .collect();
        strategies.push(Value::Null);
        if let Some(field) = schemas
            .get_mut("ProjectChange")
            .and_then(|s| s.pointer_mut("/properties/grouping_strategy"))
            .and_then(Value::as_object_mut)
        {
            field.insert("enum".to_owned(), Value::Array(strategies));
        }
    }
    doc
}

/// This document (no key needed).
#[utoipa::path(get, path = "/api/admin/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", body = Object)))]
async fn openapi(State(state): State<AppState>) -> axum::Json<Value> {
    axum::Json(document(&state.config))
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

    #[test]
    fn the_document_names_every_route() {
        let config = crate::config::Config::from_lookup(&|_| None).unwrap();
        let doc = serde_json::to_value(document(&config)).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        assert_eq!(
            paths.len(),
            10 + 5 + 2 + 1 + 1 + 2 + 1 + 5,
            "{:?}",
            paths.keys().collect::<Vec<_>>()
        );
        assert!(doc["components"]["schemas"]["ProjectChange"].is_object());
        let shapes = |name: &str| {
            doc["components"]["schemas"][name]["oneOf"]
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!(shapes("IssueChange"), 5);
        assert_eq!(shapes("DestinationInput"), 4, "no email without SMTP");
    }
}
