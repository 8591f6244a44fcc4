//! Store configuration: which database, how many connections.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Result, StoreError};

/// Which database the store uses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// An SQLite database file (created if missing).
    Sqlite(PathBuf),
    /// A private in-memory SQLite database (lost when the store is dropped; the
    /// pool then holds exactly one connection).
    SqliteMemory,
    /// A PostgreSQL server, given by its libpq URL (`postgres://user:pass@host:port/db`).
    Postgres(String),
}

/// How to open a [`Store`](crate::Store).
///
/// Build it from a URL with [`StoreConfig::from_url`], then adjust the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreConfig {
    /// The database.
    pub backend: Backend,
    /// Most connections kept open (forced to 1 for an in-memory database).
    pub pool_size: u32,
    /// How long to wait for a free connection (and, on PostgreSQL, to connect).
    pub connect_timeout: Duration,
    /// SQLite only: how long a writer waits for the database lock before failing.
    pub busy_timeout: Duration,
    /// SQLite only: page cache per connection, in KiB (allocated as used).
    pub sqlite_cache_kib: u32,
    /// zstd level used to compress event payloads (1 = fastest, 19 = smallest).
    pub compression_level: i32,
    /// SQLite only: how commits reach the disk (see [`SqliteSynchronous`]).
    /// Default [`SqliteSynchronous::Full`]: an acknowledged event survives a
    /// power loss.
    pub sqlite_synchronous: SqliteSynchronous,
    /// The dedicated writer connection of [`Store::ingest_writer`](crate::Store::ingest_writer):
    /// how long a batch waits for it (and, on PostgreSQL, for a new connection
    /// to be made) before failing with an
    /// [unavailable](crate::StoreError::is_unavailable) error. Default 2 s, so a
    /// dead database fails a batch fast instead of after `connect_timeout`.
    pub writer_connect_timeout: Duration,
    /// Most events one ingest batch deletes to keep projects under their
    /// `max_events` cap (all projects of the batch together). Whatever is still
    /// over the cap afterwards (a cap just lowered, a batch larger than the cap)
    /// is removed by [`Store::retention_step`](crate::Store::retention_step).
    /// Default 1000 (a full default batch), so a project at its cap stays there.
    pub max_evictions_per_batch: u32,
    /// Most rows of the per-issue tag index (`key:value` search) one issue
    /// gets; values first seen after that are not searchable on that issue.
    /// `level`, `release` and `environment` are indexed before the event's
    /// tags. Default 1000.
    pub max_tag_values_per_issue: u32,
}

/// SQLite's `synchronous` setting (the database runs in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SqliteSynchronous {
    /// `synchronous = FULL`: each commit syncs the WAL file before it returns.
    /// A committed (acknowledged) event survives a process crash *and* a power
    /// loss or kernel crash (on storage that honours flushes). Costs one
    /// `fsync` per commit (per batch, not per event).
    #[default]
    Full,
    /// `synchronous = NORMAL`: the WAL is synced only at checkpoints. A
    /// committed event survives a process crash (the OS holds the write), but a
    /// power loss or kernel crash may roll back the last transactions committed
    /// since the last sync; the database itself stays consistent.
    Normal,
}

impl SqliteSynchronous {
    /// The pragma value: `FULL` or `NORMAL`.
    pub fn as_pragma(self) -> &'static str {
        match self {
            SqliteSynchronous::Full => "FULL",
            SqliteSynchronous::Normal => "NORMAL",
        }
    }
}

impl StoreConfig {
    /// A configuration for `backend` with the defaults: 8 connections, 30 s to
    /// connect, 5 s SQLite busy timeout, 32 MiB SQLite page cache per connection,
    /// zstd level 1 (fast; JSON still shrinks 5–10×), SQLite `synchronous =
    /// FULL`, 2 s for the writer connection, at most 1000 evictions per batch and
    /// 1000 tag index rows per issue.
    pub fn new(backend: Backend) -> Self {
        StoreConfig {
            backend,
            pool_size: 8,
            connect_timeout: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(5),
            sqlite_cache_kib: 32 * 1024,
            compression_level: 1,
            sqlite_synchronous: SqliteSynchronous::Full,
            writer_connect_timeout: Duration::from_secs(2),
            max_evictions_per_batch: 1000,
            max_tag_values_per_issue: 1000,
        }
    }

    /// Parses a database URL:
    ///
    /// - `sqlite::memory:`, `sqlite://:memory:` or `:memory:` — in-memory SQLite;
    /// - `sqlite://path/to/file.db` (relative) or `sqlite:///abs/file.db`, also
    ///   `sqlite:path` — an SQLite file;
    /// - `postgres://…` or `postgresql://…` — PostgreSQL (libpq URL, passed as is).
    pub fn from_url(url: &str) -> Result<Self> {
        let url = url.trim();
        if url == ":memory:" || url == "sqlite::memory:" || url == "sqlite://:memory:" {
            return Ok(Self::new(Backend::SqliteMemory));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::new(Backend::Postgres(url.to_owned())));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"));
        match path {
            Some(p) if !p.is_empty() => Ok(Self::new(Backend::Sqlite(PathBuf::from(p)))),
            _ => Err(StoreError::Config(format!(
                "unsupported database URL {url:?}: use sqlite://path/to/file.db, sqlite::memory: or postgres://user@host:port/db"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            StoreConfig::from_url("sqlite::memory:").unwrap().backend,
            Backend::SqliteMemory
        );
        assert_eq!(
            StoreConfig::from_url(":memory:").unwrap().backend,
            Backend::SqliteMemory
        );
        assert_eq!(
            StoreConfig::from_url("sqlite://data/p.db").unwrap().backend,
            Backend::Sqlite("data/p.db".into())
        );
        assert_eq!(
            StoreConfig::from_url("sqlite:///var/p.db").unwrap().backend,
            Backend::Sqlite("/var/p.db".into())
        );
        assert_eq!(
            StoreConfig::from_url("postgres://u@h:5432/d")
                .unwrap()
                .backend,
            Backend::Postgres("postgres://u@h:5432/d".into())
        );
        assert!(StoreConfig::from_url("mysql://x").is_err());
        assert!(StoreConfig::from_url("sqlite://").is_err());
    }
}
