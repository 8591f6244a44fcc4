//! The admin API's test sends, the web UI's two "try it" buttons: a test event
//! to a project (`POST /api/admin/projects/{id}/test-event`) and a test alert to
//! one of its destinations (`POST /api/admin/projects/{id}/destinations/{destination_id}/test`).
//!
//! ```text
//! $ curl -s -X POST -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" \
//!     http://127.0.0.1:8000/api/admin/projects/1/test-event
//! {"event_id": "5d2cf4a0c3b84f1e9a7b6c5d4e3f2a10"}
//! $ curl -s -X POST -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" \
//!     http://127.0.0.1:8000/api/admin/projects/1/destinations/3/test
//! {"destination_id": 3, "delivered": false, "error": "HTTP 404 Not Found: ..."}
//! ```
//!
//! The test event goes through the Sentry protocol to this server's own listener
//! on loopback (not through the base URL), with the project's first active key,
//! so it is counted, grouped and alerted on like any event. The test alert is
//! one attempt through the same dispatcher as real alerts, not recorded in the
//! alerts log; its outcome is the answer, with the exact error (the API is for
//! admins).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ErrorAnswer, PathParams};
use crate::error::ApiError;
use crate::service::ServiceError;
use crate::service::alerting::TestDelivery;
use crate::state::AppState;

/// `{"event_id": ...}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct TestEventAnswer {
    /// The id of the test event (32 hexadecimal digits), as the server
    /// acknowledged it; `GET /api/admin/projects/{id}/events/{event_id}` finds it
    /// once it is stored.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub(crate) event_id: String,
}

/// Send a test event to a project, as the project setup page does: through the
/// Sentry protocol to this server's own listener, with the project's first
/// active key. 202 once the ingest endpoint acknowledged it (it is stored and
/// grouped shortly after, and may alert like any event); 409 when the
/// project's quota refused it; 502 when the ingest endpoint refused it
/// otherwise or could not be reached, with its answer in `detail`.
#[utoipa::path(post, path = "/api/admin/projects/{id}/test-event", tag = "projects",
    params(("id" = i64, Path, description = "The project id.")),
    responses((status = 202, description = "Acknowledged by the ingest endpoint.", body = TestEventAnswer),
              (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
              (status = 409, description = "The project's quota refused the test event (the ingest endpoint answered 429); `detail` says so. Retry later or raise the quota.", body = ErrorAnswer),
              (status = 502, description = "This server's ingest endpoint refused the test event or could not be reached; `detail` says what it answered.", body = ErrorAnswer)))]
pub(crate) async fn send_test_event(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<Response, ApiError> {
    match state.service.send_test_event(id, state.config.listen).await {
        Ok(event_id) => Ok((
            StatusCode::ACCEPTED,
            axum::Json(TestEventAnswer { event_id }),
        )
            .into_response()),
        // Every internal failure of a test event is the round trip to the
        // server's own ingest endpoint: its answer is the detail.
        Err(ServiceError::Internal(detail)) => {
            tracing::warn!(project = id, error = %detail, "test event failed");
            Err(ApiError::new(StatusCode::BAD_GATEWAY, detail))
        }
        Err(e) => Err(e.into()),
    }
}

/// Deliver one test alert to a destination now, through the same dispatcher as
/// real alerts (one attempt, no retry, not recorded in the alerts log). 200
/// with the outcome, delivered or not: `error` says exactly why not (it may
/// name internal hosts).
#[utoipa::path(post, path = "/api/admin/projects/{id}/destinations/{destination_id}/test", tag = "alerts",
    params(("id" = i64, Path, description = "The project id."),
           ("destination_id" = i64, Path, description = "The destination id.")),
    responses((status = 200, description = "The outcome of the test alert.", body = TestDelivery),
              (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub(crate) async fn test_destination(
    State(state): State<AppState>,
    PathParams((id, destination_id)): PathParams<(i64, i64)>,
) -> Result<axum::Json<TestDelivery>, ApiError> {
    let outcome = state.service.test_destination(id, destination_id).await?;
    Ok(axum::Json(outcome))
}

/// The test sends' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(send_test_event, test_destination))]
pub(crate) struct TestSendsDoc;
