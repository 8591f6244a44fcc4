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
}

impl StoreConfig {
    /// A configuration for `backend` with the defaults: 8 connections, 30 s to
    /// connect, 5 s SQLite busy timeout, 32 MiB SQLite page cache per connection, zstd level 1 (fast; JSON still
    /// shrinks 5–10×).
    pub fn new(backend: Backend) -> Self {
        StoreConfig {
            backend,
            pool_size: 8,
            connect_timeout: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(5),
            sqlite_cache_kib: 32 * 1024,
            compression_level: 1,
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
