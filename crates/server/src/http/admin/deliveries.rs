//! The admin API's alert deliveries (`/api/admin/projects/{id}/deliveries/*`):
//! retry one now.
//!
//! ```text
//! $ curl -s -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" \
//!     'http://127.0.0.1:8000/api/admin/projects/1/alerts?state=failed'
//! $ curl -s -X POST -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" \
//!     http://127.0.0.1:8000/api/admin/projects/1/deliveries/7/retry
//! {"delivery": {"id": 7, "state": "pending", "attempts": 8, ...}}
//! ```

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ErrorAnswer, PathParams, call};
use crate::error::ApiError;
use crate::service::views::DeliveryView;
use crate::state::AppState;

/// `{"delivery": ...}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeliveryAnswer {
    /// The delivery as it is now.
    pub(crate) delivery: DeliveryView,
}

/// Retry a delivery now: one that failed for good, or is pending (waiting for
/// its next attempt), becomes pending and due at once (the notifier sends it
/// within its interval). Its attempts and last error are kept: the notifier's
/// retry policy counts attempts, so a delivery that used them all gets one more
/// attempt. A delivered one, or one being attempted right now, is a 409.
#[utoipa::path(post, path = "/api/admin/projects/{id}/deliveries/{delivery_id}/retry", tag = "alerts",
    params(("id" = i64, Path, description = "The project id."),
           ("delivery_id" = i64, Path, description = "The delivery id (see the alerts' `deliveries`).")),
    responses((status = 200, body = DeliveryAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
              (status = 409, description = "Delivered already, or being attempted right now.", body = ErrorAnswer)))]
pub(crate) async fn retry_delivery(
    State(state): State<AppState>,
    PathParams((id, delivery_id)): PathParams<(i64, i64)>,
) -> Result<axum::Json<DeliveryAnswer>, ApiError> {
    let delivery = call(&state, move |s| s.retry_delivery(id, delivery_id)).await?;
    Ok(axum::Json(DeliveryAnswer { delivery }))
}

/// The deliveries' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(retry_delivery))]
pub(crate) struct DeliveriesDoc;
