//! The admin API (`/api/admin/*`).

use axum::Router;

use crate::app::AppState;

/// The admin routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
