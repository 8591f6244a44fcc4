//! The admin API's client keys (`/api/admin/projects/{id}/keys/*`): list, add,
//! revoke.
//!
//! ```text
//! $ curl -s -X POST -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" \
//!     http://127.0.0.1:8000/api/admin/projects/1/keys
//! {"key": {"public_key": "…", "dsn": "http://…@127.0.0.1:8000/1", "created_at": "…", "revoked_at": null}}
//! $ curl -s -X DELETE -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" \
//!     http://127.0.0.1:8000/api/admin/projects/1/keys/0123456789abcdef0123456789abcdef
//! ```
//!
//! A revoked key authenticates nothing within about a second on every replica,
//! and stays listed with its `revoked_at`. A project keeps at least one active
//! key: revoking the last one is a 409.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ErrorAnswer, PathParams, call};
use crate::error::ApiError;
use crate::service::views::KeyView;
use crate::state::AppState;

/// `{"key": ...}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct KeyAnswer {
    /// The key.
    pub(crate) key: KeyView,
}

/// `{"keys": [...]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct KeysAnswer {
    /// The project's keys, oldest first, revoked ones included.
    pub(crate) keys: Vec<KeyView>,
}

/// A project's client keys, oldest first, revoked ones included.
#[utoipa::path(get, path = "/api/admin/projects/{id}/keys", tag = "projects",
    params(("id" = i64, Path, description = "The project id.")),
    responses((status = 200, body = KeysAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub(crate) async fn list_keys(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<axum::Json<KeysAnswer>, ApiError> {
    let keys = call(&state, move |s| s.keys(id)).await?;
    Ok(axum::Json(KeysAnswer { keys }))
}

/// Add a new random client key to a project (its DSN works at once).
#[utoipa::path(post, path = "/api/admin/projects/{id}/keys", tag = "projects",
    params(("id" = i64, Path, description = "The project id.")),
    responses((status = 201, body = KeyAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub(crate) async fn add_key(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<Response, ApiError> {
    let key = call(&state, move |s| s.add_key(id)).await?;
    Ok((StatusCode::CREATED, axum::Json(KeyAnswer { key })).into_response())
}

/// Revoke a client key: it authenticates nothing from now on (every replica
/// within about a second) and stays listed with its `revoked_at`. Revoking a
/// revoked key answers the key as it is; the project's last active key cannot
/// be revoked (409: add another key first).
#[utoipa::path(delete, path = "/api/admin/projects/{id}/keys/{public_key}", tag = "projects",
    params(("id" = i64, Path, description = "The project id."),
           ("public_key" = String, Path, pattern = "^[0-9a-fA-F]{32}$", description = "The public key: 32 hexadecimal digits (any case).")),
    responses((status = 200, body = KeyAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
              (status = 409, description = "The project's last active key.", body = ErrorAnswer)))]
pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    PathParams((id, public_key)): PathParams<(i64, String)>,
) -> Result<axum::Json<KeyAnswer>, ApiError> {
    let key = call(&state, move |s| s.revoke_key(id, &public_key)).await?;
    Ok(axum::Json(KeyAnswer { key }))
}

/// The keys' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_keys, add_key, revoke_key))]
pub(crate) struct KeysDoc;
