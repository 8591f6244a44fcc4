//! The store's error type and its classification.

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
    /// The request's input is not usable as given (for example an event
    /// without any grouping key): nothing was written.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A merge or unmerge that cannot be done (see [`GroupingError`]): nothing
    /// was written.
    #[error("{0}")]
    Grouping(#[from] GroupingError),
    /// A concurrent merge or unmerge (on another connection or replica)
    /// moved a grouping key this transaction had resolved; it was rolled back
    /// and may be retried as it is ([`ErrorClass::Transient`]). The store
    /// retries such batches itself before giving up.
    #[error("a concurrent change moved a grouping key: {0}; retry")]
    Raced(String),
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

/// Why a merge or unmerge was refused (inside [`StoreError::Grouping`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GroupingError {
    /// No such issue (or it belongs to no project named).
    #[error("issue {0} does not exist")]
    UnknownIssue(crate::IssueId),
    /// The issue belongs to another project than the one named: merge and
    /// unmerge stay inside one project.
    #[error("issue {issue} belongs to project {actual}, not to project {expected}")]
    OtherProject {
        /// The issue.
        issue: crate::IssueId,
        /// Its project.
        actual: crate::ProjectId,
        /// The project named in the request.
        expected: crate::ProjectId,
    },
    /// An issue cannot be merged into itself.
    #[error("issue {0} cannot be merged into itself")]
    SelfMerge(crate::IssueId),
    /// The issue was merged into another one (a tombstone): merge into, from
    /// or unmerge that one instead.
    #[error("issue {issue} was merged into issue {into}; use issue {into}")]
    Tombstone {
        /// The tombstone.
        issue: crate::IssueId,
        /// Where it was merged.
        into: crate::IssueId,
    },
    /// Nothing to merge: no source issue was named.
    #[error("no issue to merge was named")]
    NoSources,
    /// No key to unmerge was named.
    #[error("no grouping key to unmerge was named")]
    NoKeys,
    /// The key is not one of the issue's grouping keys.
    #[error("{key:?} is not a grouping key of issue {issue}")]
    UnknownKey {
        /// The issue.
        issue: crate::IssueId,
        /// The key named.
        key: String,
    },
    /// Every key of the issue was named: an issue keeps at least one key
    /// (to move them all, merge the issue instead).
    #[error("issue {0} would keep no grouping key: leave at least one of its keys")]
    AllKeys(crate::IssueId),
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What kind of failure a [`StoreError`] is, for deciding what to do next
/// (see [`StoreError::class`]).
///
/// The digest writer's policy follows from it: on [`Unavailable`](Self::Unavailable)
/// keep the batch whole and back off (retrying it event by event would only wait
/// out the same timeout once per event); on [`Transient`](Self::Transient) retry
/// the same batch once; on [`Data`](Self::Data) retry event by event to isolate
/// the event that fails; [`Internal`](Self::Internal) will not go away by
/// retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The database as a whole cannot work now, whatever the data: cannot
    /// connect, connection lost or closed, no pooled connection in time, SQLite
    /// busy or locked past the busy timeout, I/O error, disk or database full,
    /// read-only database or transaction, database file missing or corrupt,
    /// PostgreSQL shutting down, starting up, out of resources (53xxx) or
    /// cancelling statements. Another statement would fail the same way.
    Unavailable,
    /// The transaction lost a race with a concurrent one (PostgreSQL
    /// serialization failure or deadlock): retrying the same work should succeed.
    Transient,
    /// The request's own data caused the error (a constraint, an unknown project,
    /// a value the database refused, a bad cursor, a missing row): the same data
    /// fails again, other data succeeds.
    Data,
    /// A misconfiguration, a failed migration, corrupt stored data or a bug in
    /// the store: retrying does not help.
    Internal,
}

impl StoreError {
    /// Classifies the error: does it concern the database as a whole
    /// ([`ErrorClass::Unavailable`]), a race ([`ErrorClass::Transient`]), the
    /// data of the request ([`ErrorClass::Data`]) or neither
    /// ([`ErrorClass::Internal`])?
    ///
    /// Diesel reports only a few error kinds (and not PostgreSQL's SQLSTATE
    /// code nor SQLite's result code), so the classification uses the kind when
    /// it says enough (`ClosedConnection`, `ReadOnlyTransaction`,
    /// `SerializationFailure`, the constraint violations) and otherwise the
    /// server's message text: SQLite's fixed English result-code messages
    /// (`database is locked`, `disk I/O error`, `database or disk is full`, …)
    /// and PostgreSQL's primary messages for the 08, 53, 57 and 40P01 codes
    /// (`terminating connection due to administrator command`, `the database
    /// system is shutting down`, `could not extend file …: No space left on
    /// device`, …) and libpq's connection messages (`server closed the connection
    /// unexpectedly`, `no connection to the server`, …). PostgreSQL messages are
    /// English unless the server's `lc_messages` is set to another language; an
    /// unknown message from the database is classified [`ErrorClass::Data`], the
    /// safe side for a writer (it retries event by event and each event fails
    /// again with the same class).
    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::Connect { .. } | StoreError::Pool(_) => ErrorClass::Unavailable,
            StoreError::Database(e) => classify_diesel(e),
            StoreError::Conflict(_)
            | StoreError::InvalidCursor(_)
            | StoreError::NotFound(_)
            | StoreError::UnknownProject(_)
            | StoreError::InvalidInput(_)
            | StoreError::Grouping(_) => ErrorClass::Data,
            StoreError::Raced(_) => ErrorClass::Transient,
            StoreError::Config(_) | StoreError::Migration(_) | StoreError::CorruptPayload(_) => {
                ErrorClass::Internal
            }
        }
    }

    /// True when the database as a whole cannot work now
    /// ([`ErrorClass::Unavailable`]): do not split the batch, back off and retry
    /// it whole (or answer 503).
    pub fn is_unavailable(&self) -> bool {
        self.class() == ErrorClass::Unavailable
    }
}

/// Classifies a diesel error (see [`StoreError::class`]).
fn classify_diesel(e: &diesel::result::Error) -> ErrorClass {
    use diesel::result::{DatabaseErrorKind as K, Error};
    match e {
        Error::DatabaseError(kind, info) => match kind {
            K::ClosedConnection | K::ReadOnlyTransaction => ErrorClass::Unavailable,
            K::SerializationFailure => ErrorClass::Transient,
            K::UniqueViolation
            | K::ForeignKeyViolation
            | K::NotNullViolation
            | K::CheckViolation
            | K::RestrictViolation
            | K::ExclusionViolation => ErrorClass::Data,
            _ => classify_message(info.message()),
        },
        // The commit failed and so did the rollback: the connection is unusable.
        Error::RollbackErrorOnCommit { commit_error, .. } => match classify_diesel(commit_error) {
            ErrorClass::Data | ErrorClass::Internal => ErrorClass::Unavailable,
            other => other,
        },
        Error::BrokenTransactionManager => ErrorClass::Unavailable,
        Error::InvalidCString(_) | Error::SerializationError(_) => ErrorClass::Data,
        _ => ErrorClass::Internal,
    }
}

/// Message fragments (lower case) of errors that concern the database as a
/// whole.
///
/// SQLite: the messages of SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR,
/// SQLITE_FULL, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_CORRUPT, SQLITE_NOTADB,
/// SQLITE_NOMEM, SQLITE_PROTOCOL and SQLITE_NOLFS (`sqlite3_errstr`), plus the
/// variants SQLite writes for some extended codes.
///
/// PostgreSQL: class 08 (connection exception) and libpq's own connection
/// messages; 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect
/// now, 57P04 database dropped, 57014 query canceled (statement or lock
/// timeout, cancel request); class 53 (53100 disk full, 53200 out of memory,
/// 53300 too many connections, 53400 configuration limit); 25006 read-only
/// transaction (normally reported by diesel as `ReadOnlyTransaction`); 58030
/// I/O error; 55P03 lock not available; 25P03 idle-session timeout.
const UNAVAILABLE_MESSAGES: &[&str] = &[
    // SQLite
    "database is locked",
    "database table is locked",
    "database schema is locked",
    "disk i/o error",
    "database or disk is full",
    "attempt to write a readonly database",
    "readonly database",
    "unable to open database file",
    "database disk image is malformed",
    "file is not a database",
    "out of memory",
    "locking protocol",
    "large file support is disabled",
    // PostgreSQL server
    "terminating connection",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "the database system is not accepting connections",
    "the database system is in a consistent recovery mode",
    "in a read-only transaction",
    "during recovery",
    "no space left on device",
    "could not extend file",
    "could not write",
    "could not fsync",
    "could not open file",
    "could not read block",
    "sorry, too many clients",
    "remaining connection slots are reserved",
    "too many connections",
    "canceling statement due to",
    "could not obtain lock",
    "canceling autovacuum",
    "database is not accepting commands",
    // libpq
    "server closed the connection unexpectedly",
    "no connection to the server",
    "connection to server",
    "could not connect to server",
    "could not receive data from server",
    "could not send data to server",
    "connection refused",
    "connection reset",
    "connection timed out",
    "broken pipe",
    "ssl syscall error",
    "eof detected",
    "lost synchronization with server",
    "another command is already in progress",
];

/// Message fragments of a lost race (PostgreSQL 40P01, 40001).
const TRANSIENT_MESSAGES: &[&str] = &["deadlock detected", "could not serialize access"];

fn classify_message(message: &str) -> ErrorClass {
    let m = message.to_ascii_lowercase();
    if TRANSIENT_MESSAGES.iter().any(|p| m.contains(p)) {
        ErrorClass::Transient
    } else if UNAVAILABLE_MESSAGES.iter().any(|p| m.contains(p)) {
        ErrorClass::Unavailable
    } else {
        ErrorClass::Data
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind as K, Error};

    fn db(kind: K, message: &str) -> StoreError {
        StoreError::from(Error::DatabaseError(kind, Box::new(message.to_owned())))
    }

    #[test]
    fn whole_database_failures_are_unavailable() {
        for m in [
            // SQLite result-code messages.
            "database is locked",
            "database table is locked",
            "disk I/O error",
            "database or disk is full",
            "attempt to write a readonly database",
            "unable to open database file",
            "database disk image is malformed",
            "file is not a database",
            // PostgreSQL primary messages.
            "terminating connection due to administrator command",
            "terminating connection due to crash of another server process",
            "the database system is shutting down",
            "the database system is starting up",
            "the database system is in recovery mode",
            "could not extend file \"base/16384/16385\": No space left on device",
            "could not write to file \"pg_wal/xlogtemp.123\": No space left on device",
            "cannot execute INSERT in a read-only transaction",
            "canceling statement due to statement timeout",
            "canceling statement due to lock timeout",
            "out of memory",
            // libpq.
            "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally",
            "no connection to the server\n",
            "could not receive data from server: Connection reset by peer",
            "SSL SYSCALL error: EOF detected",
        ] {
            assert_eq!(db(K::Unknown, m).class(), ErrorClass::Unavailable, "{m}");
        }
        assert!(db(K::ClosedConnection, "whatever").is_unavailable());
        assert!(db(K::ReadOnlyTransaction, "whatever").is_unavailable());
        assert!(db(K::UnableToSendCommand, "no connection to the server").is_unavailable());
        assert!(StoreError::Database(Error::BrokenTransactionManager).is_unavailable());
        assert!(
            StoreError::Connect {
                backend: "postgres",
                message: "connection refused".into()
            }
            .is_unavailable()
        );
    }

    #[test]
    fn races_are_transient() {
        assert_eq!(
            db(K::SerializationFailure, "could not serialize access").class(),
            ErrorClass::Transient
        );
        assert_eq!(
            db(K::Unknown, "deadlock detected").class(),
            ErrorClass::Transient
        );
    }

    #[test]
    fn data_errors_are_not_unavailable() {
        for (kind, m) in [
            (
                K::UniqueViolation,
                "duplicate key value violates unique constraint",
            ),
            (K::ForeignKeyViolation, "FOREIGN KEY constraint failed"),
            (
                K::NotNullViolation,
                "NOT NULL constraint failed: events.title",
            ),
            (K::CheckViolation, "CHECK constraint failed"),
            (
                K::Unknown,
                "invalid byte sequence for encoding \"UTF8\": 0x00",
            ),
            (K::Unknown, "value too long for type character varying(10)"),
            (K::Unknown, "string or blob too big"),
        ] {
            let e = db(kind, m);
            assert_eq!(e.class(), ErrorClass::Data, "{m}");
            assert!(!e.is_unavailable());
        }
        assert_eq!(StoreError::UnknownProject(3).class(), ErrorClass::Data);
        assert_eq!(
            StoreError::InvalidCursor("x".into()).class(),
            ErrorClass::Data
        );
        assert_eq!(
            StoreError::Migration("x".into()).class(),
            ErrorClass::Internal
        );
        assert_eq!(
            StoreError::Database(Error::NotFound).class(),
            ErrorClass::Internal
        );
    }

    #[test]
    fn a_failed_commit_whose_rollback_failed_too_is_unavailable() {
        let e = StoreError::Database(Error::RollbackErrorOnCommit {
            rollback_error: Box::new(Error::BrokenTransactionManager),
            commit_error: Box::new(Error::DatabaseError(
                K::Unknown,
                Box::new("database is locked".to_owned()),
            )),
        });
        assert!(e.is_unavailable());
    }
}
