//! The one error type of the application layer.

use periscope_store::{ErrorClass, GroupingError, StoreError};

/// Why an operation could not be done. Each door maps it once: the HTTP adapter to
/// a status code (400, 404, 409, 503, 500), the CLI to its message and exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The request itself is wrong (a value out of range, an unknown name...).
    #[error("{0}")]
    Invalid(String),
    /// One field of the request is wrong; the message names it too, so doors that
    /// cannot point at a field (the API, the CLI) show it as they show `Invalid`.
    #[error("{message}")]
    InvalidField {
        /// The field, as the API names it (`name`, `quota_per_minute`, ...).
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// What the request names does not exist (`no project 7`).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what is stored (a key already in use).
    #[error("{0}")]
    Conflict(String),
    /// Credentials were wrong (a sign-in with a wrong email or password).
    #[error("{0}")]
    Denied(String),
    /// The database cannot answer now; retry later.
    #[error("the database is unavailable; retry later")]
    Unavailable(#[source] StoreError),
    /// Something that should not happen (the detail is for the log).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// [`ServiceError::InvalidField`].
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            message: message.into(),
        }
    }

    /// The field an [`InvalidField`](ServiceError::InvalidField) error is about.
    pub fn field_name(&self) -> Option<&'static str> {
        match self {
            Self::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }

    /// [`ServiceError::Invalid`] with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor(_) => ServiceError::Invalid(format!(
                "{e}: pass the next_cursor of a previous page unchanged"
            )),
            StoreError::NotFound(m) => ServiceError::NotFound(m),
            StoreError::Conflict(m) => ServiceError::Conflict(m),
            StoreError::InvalidInput(m) => ServiceError::Invalid(m),
            // What names something that is not there (an issue, one of its
            // keys, an issue of this project) is a 404; what the issues' state
            // forbids (a tombstone, itself, all of its keys) a 409; only a
            // request naming nothing is a 400.
            StoreError::Grouping(g) => match g {
                GroupingError::UnknownIssue(_)
                | GroupingError::UnknownKey { .. }
                | GroupingError::OtherProject { .. } => ServiceError::NotFound(g.to_string()),
                GroupingError::NoSources | GroupingError::NoKeys => {
                    ServiceError::Invalid(g.to_string())
                }
                _ => ServiceError::Conflict(g.to_string()),
            },
            other if other.class() == ErrorClass::Unavailable => ServiceError::Unavailable(other),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

/// The application layer's result type.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;
