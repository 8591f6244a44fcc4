//! Whether ingest can work now: the database and the digest writer.
//!
//! The writer reports every commit ([`crate::pipeline::bus::WriterObserver`]): a batch that
//! fails as a whole (connection, lock, disk) marks the database unavailable, and
//! from then on new ingest requests are answered 503 at once instead of queueing
//! behind a dead database; a probe ([`probe_loop`]) checks the database every half
//! second while it is marked down and lifts the mark when it answers again, and so
//! does the next successful commit. A writer thread that ends while the server runs
//! marks the writer dead. `/health` answers 503 in both cases; the reason goes to
//! the log, never into the answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Shared health flags.
#[derive(Debug)]
pub(crate) struct Health {
    database_up: AtomicBool,
    writer_alive: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            database_up: AtomicBool::new(true),
            writer_alive: AtomicBool::new(true),
        }
    }
}

impl Health {
    /// `Ok(())` when ingest can take events now; otherwise why not (for the log).
    pub(crate) fn ingest(&self) -> Result<(), &'static str> {
        if !self.writer_alive.load(Ordering::Relaxed) {
            Err("the digest writer stopped")
        } else if !self.database_up.load(Ordering::Relaxed) {
            Err("the database is unavailable")
        } else {
            Ok(())
        }
    }

    /// Whether the writer thread runs.
    pub(crate) fn writer_alive(&self) -> bool {
        self.writer_alive.load(Ordering::Relaxed)
    }

    fn set_database(&self, up: bool) {
        let was = self.database_up.swap(up, Ordering::Relaxed);
        if was != up {
            if up {
                tracing::warn!("the database is available again: ingest resumes");
            } else {
                tracing::error!("the database is unavailable: ingest answers 503 until it returns");
            }
        }
    }
}

/// The writer's reports, applied to [`Health`].
#[derive(Debug, Clone)]
pub(crate) struct HealthObserver(pub Arc<Health>);

impl crate::pipeline::bus::WriterObserver for HealthObserver {
    fn committed(&self) {
        self.0.set_database(true);
    }

    fn unavailable(&self, error: &str) {
        tracing::error!(error = %error, "database unavailable");
        self.0.set_database(false);
    }

    fn stopped(&self) {
        self.0.writer_alive.store(false, Ordering::Relaxed);
    }
}

/// While the database is marked down, checks it every `interval` and marks it up
/// when it answers. Ends when `shutdown` changes.
pub(crate) async fn probe_loop(
    health: Arc<Health>,
    store: crate::service::Db,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if health.database_up.load(Ordering::Relaxed) {
            continue;
        }
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.health()).await {
            Ok(Ok(())) => health.set_database(true),
            Ok(Err(e)) => tracing::debug!(error = %e, "database still unavailable"),
            Err(e) => tracing::warn!(error = %e, "database probe failed"),
        }
    }
}
