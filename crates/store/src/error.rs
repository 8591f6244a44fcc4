//! The store's error type.

use thiserror::Error;

/// Everything that can go wrong in the store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL or another configuration value is not usable.
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// The database could not be reached or opened.
    #[error("cannot connect to the {backend} database: {message}")]
    Connect {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// What the driver or pool said.
        message: String,
    },
    /// The embedded schema migrations could not be applied.
    #[error("cannot apply the database migrations: {0}")]
    Migration(String),
    /// No connection could be taken from the pool in time.
    #[error("no database connection available: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// A unique value (a project's public key, for example) is already taken.
    #[error("already exists: {0}")]
    Conflict(String),
    /// A pagination cursor was not produced by this store.
    #[error("invalid pagination cursor: {0:?}")]
    InvalidCursor(String),
    /// A referenced row does not exist (for example the project of an event).
    #[error("not found: {0}")]
    NotFound(String),
    /// An ingested event names a project that does not exist (deleted meanwhile?):
    /// the batch was not written; retry it without that project's events.
    #[error("project {0} does not exist")]
    UnknownProject(i64),
    /// A stored payload could not be decompressed.
    #[error("stored payload is corrupt: {0}")]
    CorruptPayload(String),
    /// A database statement failed.
    #[error("database error: {0}")]
    Database(#[source] diesel::result::Error),
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.message().to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                StoreError::NotFound(info.message().to_owned())
            }
            other => StoreError::Database(other),
        }
    }
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
