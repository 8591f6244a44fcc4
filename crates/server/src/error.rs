//! The HTTP error answer: a status, `{"detail": "..."}` and sometimes headers.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error answer of the HTTP API.
#[derive(Debug)]
pub(crate) struct ApiError {
    /// The status code.
    pub(crate) status: StatusCode,
    /// What went wrong, for a person.
    pub(crate) detail: String,
    /// Extra headers (`Retry-After`, `X-Sentry-Rate-Limits`, ...).
    pub(crate) headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    /// An error with `status` and `detail`.
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    /// 400.
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401.
    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403.
    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404.
    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 413.
    pub(crate) fn too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, detail)
    }

    /// 500: the detail is logged, the client sees a generic line.
    pub(crate) fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the server log",
        )
    }

    /// 503 with `Retry-After`.
    pub(crate) fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail).with_header(
            axum::http::header::RETRY_AFTER,
            retry_after_secs.to_string(),
        )
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "detail": self.detail });
        let mut resp = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }
}

impl From<crate::service::ServiceError> for ApiError {
    fn from(e: crate::service::ServiceError) -> Self {
        use crate::service::ServiceError as E;
        match e {
            E::Invalid(m) | E::InvalidField { message: m, .. } => ApiError::bad_request(m),
            E::NotFound(m) => ApiError::not_found(m),
            E::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            E::Denied(m) => ApiError::unauthorized(m),
            E::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                ApiError::unavailable("the database is unavailable; retry later", 5)
            }
            other => ApiError::internal(other),
        }
    }
}
