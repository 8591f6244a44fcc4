//! The admin API's grouping: a project's grouping settings and trying them on
//! an event, an issue's grouping keys, merging and unmerging issues.
//!
//! ```text
//! $ curl -s -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" \
//!     http://127.0.0.1:8000/api/admin/projects/1/grouping
//! {"config": "periscope:2026-12", "transition_from": null, ..., "fingerprint_rules": "", ...}
//! $ curl -s -X POST -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" \
//!     -d '{"event": {"message": "boom"}, "fingerprint_rules": "message:boom -> boom"}' \
//!     http://127.0.0.1:8000/api/admin/projects/1/grouping/test
//! {"config": "periscope:2026-12", "key": "…", "variant": "custom-fingerprint", ..., "issue_id": null}
//! $ curl -s -X POST -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" \
//!     -d '{"issues": [12, 13]}' http://127.0.0.1:8000/api/admin/issues/7/merge
//! {"issue_id": 7, "merged": [12, 13], "moved_keys": 2, "moved_events": 40}
//! $ curl -s -X POST -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" \
//!     -d '{"keys": ["…"]}' http://127.0.0.1:8000/api/admin/issues/7/unmerge
//! {"issue_id": 14, "from": 7}
//! ```
//!
//! Rules and the configuration are changed with `PATCH /api/admin/projects/{id}`
//! (`grouping_strategy`, `fingerprint_rules`, `stacktrace_rules`); a merged
//! issue answers `GET /api/admin/issues/{id}` with its `merged_into`.

use axum::extract::State;
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ErrorAnswer, JsonBody, Params, PathParams, ProjectScope, call};
use crate::error::ApiError;
use crate::service::grouping::{
    GroupingSettingsView, GroupingTest, GroupingTestView, IssueKeyView, MergeRequest, MergeView,
    UnmergeRequest,
};
use crate::state::AppState;

/// `{"keys": [...]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct IssueKeysAnswer {
    /// The issue's grouping keys, the busiest first.
    pub(crate) keys: Vec<IssueKeyView>,
}

/// `{"issue_id": ..., "from": ...}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct UnmergeAnswer {
    /// The new issue holding the moved keys and their events.
    pub(crate) issue_id: i64,
    /// The issue they came from.
    pub(crate) from: i64,
}

/// A project's grouping: configuration, transition, rules, and the
/// configurations one can switch to.
#[utoipa::path(get, path = "/api/admin/projects/{id}/grouping", tag = "grouping",
    params(("id" = i64, Path, description = "The project id.")),
    responses((status = 200, body = GroupingSettingsView), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub(crate) async fn get_grouping(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<axum::Json<GroupingSettingsView>, ApiError> {
    Ok(axum::Json(
        call(&state, move |s| s.grouping_settings(id)).await?,
    ))
}

/// Group an event (given, or stored) the way the project does, or with draft
/// settings, and name the issue it would join now. Nothing is stored.
#[utoipa::path(post, path = "/api/admin/projects/{id}/grouping/test", tag = "grouping",
    params(("id" = i64, Path, description = "The project id.")),
    request_body = GroupingTest,
    responses((status = 200, body = GroupingTestView), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer), (status = 409, description = "Neither event nor event_id, and the project has no stored event yet.", body = ErrorAnswer)))]
pub(crate) async fn test_grouping(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    JsonBody(test): JsonBody<GroupingTest>,
) -> Result<axum::Json<GroupingTestView>, ApiError> {
    Ok(axum::Json(
        call(&state, move |s| s.test_grouping(id, test)).await?,
    ))
}

/// An issue's grouping keys with their own counts.
#[utoipa::path(get, path = "/api/admin/issues/{id}/keys", tag = "grouping",
    params(("id" = i64, Path, description = "The issue id (unique across projects)."), ProjectScope),
    responses((status = 200, body = IssueKeysAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub(crate) async fn issue_keys(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    Params(scope): Params<ProjectScope>,
) -> Result<axum::Json<IssueKeysAnswer>, ApiError> {
    let keys = call(&state, move |s| s.issue_keys(id, scope.project)).await?;
    Ok(axum::Json(IssueKeysAnswer { keys }))
}

/// Merge issues of the same project into this one: their keys, events,
/// counters, alerts and activity move here; they redirect here afterwards.
#[utoipa::path(post, path = "/api/admin/issues/{id}/merge", tag = "grouping",
    params(("id" = i64, Path, description = "The issue to merge into."), ProjectScope),
    request_body = MergeRequest,
    responses((status = 200, body = MergeView), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer), (status = 409, body = ErrorAnswer)))]
pub(crate) async fn merge_issues(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    Params(scope): Params<ProjectScope>,
    JsonBody(req): JsonBody<MergeRequest>,
) -> Result<axum::Json<MergeView>, ApiError> {
    Ok(axum::Json(
        call(&state, move |s| {
            s.merge_issues(id, scope.project, &req.issues, None, Utc::now())
        })
        .await?,
    ))
}

/// Move some of an issue's grouping keys, with the events that joined by
/// them, to a new issue.
#[utoipa::path(post, path = "/api/admin/issues/{id}/unmerge", tag = "grouping",
    params(("id" = i64, Path, description = "The issue to split."), ProjectScope),
    request_body = UnmergeRequest,
    responses((status = 200, body = UnmergeAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer), (status = 409, body = ErrorAnswer)))]
pub(crate) async fn unmerge_issue(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    Params(scope): Params<ProjectScope>,
    JsonBody(req): JsonBody<UnmergeRequest>,
) -> Result<axum::Json<UnmergeAnswer>, ApiError> {
    let new = call(&state, move |s| {
        s.unmerge_issue(id, scope.project, &req.keys, None, Utc::now())
    })
    .await?;
    Ok(axum::Json(UnmergeAnswer {
        issue_id: new,
        from: id,
    }))
}

/// The grouping part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(get_grouping, test_grouping, issue_keys, merge_issues, unmerge_issue))]
pub(crate) struct GroupingDoc;
