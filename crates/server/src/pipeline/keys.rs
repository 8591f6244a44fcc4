//! Public key → project, for the ingest path.
//!
//! Every ingest request names a public key, and DSNs are public (every browser
//! app ships one), so this cache faces hostile input:
//!
//! - a key is checked for its shape ([`valid_shape`]: the 32 hex digits Periscope
//!   issues) before any lookup, so junk costs neither a query nor a cache entry;
//! - the cache is bounded in entries (each entry is a fixed-size key and a small
//!   project summary, so in bytes too) and evicts by recency and frequency
//!   (quick_cache's CLOCK-Pro), so a flood of unknown keys cannot push out the keys
//!   in use, and nothing is ever dropped wholesale because the cache is full;
//! - concurrent misses for one key wait for a single lookup (a table of the
//!   lookups in flight, bounded by the requests in flight);
//! - entries live `ttl`, and the whole cache is invalidated when the database's
//!   key version changes ([`KeyCache::observe_version`]), which a background task
//!   polls every second: a key revoked or a project deleted on any replica stops
//!   working on every replica within about a second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::service::Db;

/// What the ingest path needs to know of a project (cached per public key).
#[derive(Debug, Clone)]
pub(crate) struct ProjectInfo {
    /// The project id.
    pub(crate) project_id: i64,
    /// The project's own per-minute quota.
    pub(crate) quota_per_minute: Option<u64>,
    /// The project's own per-hour quota.
    pub(crate) quota_per_hour: Option<u64>,
    /// The project's own per-day quota.
    pub(crate) quota_per_day: Option<u64>,
    /// How it groups (configuration, transition, rules), compiled once per
    /// cache fill.
    pub(crate) grouping: crate::service::grouping::ProjectGrouping,
}

impl ProjectInfo {
    /// The ingest view of a stored project.
    pub(crate) fn of(p: &periscope_store::Project) -> Self {
        Self {
            project_id: p.id.get(),
            quota_per_minute: p.settings.quota_per_minute,
            quota_per_hour: p.settings.quota_per_hour,
            quota_per_day: p.settings.quota_per_day,
            grouping: crate::service::grouping::ProjectGrouping::of(&p.settings),
        }
    }
}

/// Length of a public key.
pub(crate) const KEY_LEN: usize = 32;

/// Whether `key` has the shape of a public key Periscope issues: 32 hex digits.
pub(crate) fn valid_shape(key: &str) -> bool {
    key.len() == KEY_LEN && key.bytes().all(|b| b.is_ascii_hexdigit())
}

#[derive(Clone)]
struct Entry {
    at: Instant,
    info: Option<Arc<ProjectInfo>>,
}

/// Why a key could not be resolved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LookupError {
    /// The database could not answer (the detail is for the log only).
    #[error("the key lookup failed: {0}")]
    Store(String),
}

/// The cache (see the module docs).
pub(crate) struct KeyCache {
    ttl: Duration,
    entries: quick_cache::sync::Cache<String, Entry>,
    version: AtomicI64,
    generation: AtomicU64,
    pending: Mutex<HashMap<String, Arc<Pending>>>,
}

/// A lookup in flight, shared by the callers that want the same key.
type Pending = tokio::sync::OnceCell<Result<Option<Arc<ProjectInfo>>, String>>;

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("ttl", &self.ttl)
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl KeyCache {
    /// An empty cache of at most about `capacity` keys, each kept `ttl`.
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
            version: AtomicI64::new(i64::MIN),
            generation: AtomicU64::new(0),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Looks `public_key` up, from the cache or the store. A key of the wrong
    /// shape is unknown without a lookup.
    pub(crate) async fn lookup(
        &self,
        store: &Db,
        public_key: &str,
    ) -> Result<Option<Arc<ProjectInfo>>, LookupError> {
        if !valid_shape(public_key) {
            return Ok(None);
        }
        if let Some(entry) = self.entries.get(public_key) {
            if entry.at.elapsed() < self.ttl {
                return Ok(entry.info);
            }
            self.entries.remove(public_key);
        }
        // Concurrent misses for one key share one lookup: the first caller runs
        // it, the others wait for its answer. The table holds only lookups in
        // flight (at most one per ingest request in flight).
        let cell = {
            let mut pending = self
                .pending
                .lock()
                .map_err(|_| LookupError::Store("key lookup table poisoned".into()))?;
            pending
                .entry(public_key.to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::OnceCell::new()))
                .clone()
        };
        let generation = self.generation.load(Ordering::Acquire);
        let answer = cell
            .get_or_init(|| async {
                let store = store.clone();
                let key = public_key.to_owned();
                let found = tokio::task::spawn_blocking(move || store.project_by_key(&key))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))?;
                let info = found.as_ref().map(|p| Arc::new(ProjectInfo::of(p)));
                // Not cached if the cache was invalidated meanwhile: the answer
                // may predate the change.
                if self.generation.load(Ordering::Acquire) == generation {
                    self.entries.insert(
                        public_key.to_owned(),
                        Entry {
                            at: Instant::now(),
                            info: info.clone(),
                        },
                    );
                }
                Ok::<_, String>(info)
            })
            .await
            .clone();
        if let Ok(mut pending) = self.pending.lock()
            && pending
                .get(public_key)
                .is_some_and(|c| Arc::ptr_eq(c, &cell))
        {
            pending.remove(public_key);
        }
        answer.map_err(LookupError::Store)
    }

    /// Forgets everything (after a project or key changed in this process).
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }

    /// Takes note of the database's key version; a change (on any replica)
    /// invalidates the cache.
    pub(crate) fn observe_version(&self, version: i64) {
        let before = self.version.swap(version, Ordering::Relaxed);
        if before != version && before != i64::MIN {
            tracing::debug!(before, version, "keys changed: key cache invalidated");
            self.invalidate();
        }
    }

    /// Entries held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory_db() -> Db {
        std::sync::Arc::new(
            periscope_store::Store::open(
                &periscope_store::StoreConfig::from_url("sqlite::memory:").unwrap(),
            )
            .unwrap(),
        )
    }

    #[test]
    fn shapes() {
        assert!(valid_shape("0123456789abcdef0123456789ABCDEF"));
        assert!(!valid_shape("0123456789abcdef0123456789abcde"));
        assert!(!valid_shape("0123456789abcdef0123456789abcdeg"));
        assert!(!valid_shape(&"a".repeat(96_000)));
        assert!(!valid_shape(""));
    }

    #[tokio::test]
    async fn unknown_and_junk_keys_are_bounded() {
        let store = memory_db();
        let project = store
            .create_project("p", "00000000000000000000000000000001", chrono::Utc::now())
            .unwrap();
        let cache = KeyCache::new(Duration::from_secs(60), 100);
        let valid = "00000000000000000000000000000001";
        assert_eq!(
            cache
                .lookup(&store, valid)
                .await
                .unwrap()
                .unwrap()
                .project_id,
            project.id.get()
        );
        // Junk is refused without an entry.
        assert!(
            cache
                .lookup(&store, &"x".repeat(5000))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(cache.len(), 1);
        // A flood of unknown well-shaped keys stays within the bound, and the key
        // in use (looked up again meanwhile) survives it.
        for i in 0..2000u32 {
            let k = format!("{:032x}", u128::from(i) + 1000);
            assert!(cache.lookup(&store, &k).await.unwrap().is_none());
            if i % 10 == 0 {
                assert!(cache.lookup(&store, valid).await.unwrap().is_some());
            }
        }
        assert!(cache.len() <= 200, "{}", cache.len());
        assert!(
            cache.entries.get(valid).is_some(),
            "the key in use survived"
        );
    }

    #[tokio::test]
    async fn a_deleted_project_is_forgotten_on_invalidation() {
        let store = memory_db();
        let k = "00000000000000000000000000000003";
        let p = store.create_project("p", k, chrono::Utc::now()).unwrap();
        let cache = KeyCache::new(Duration::from_secs(60), 10_000);
        assert!(cache.lookup(&store, k).await.unwrap().is_some());
        assert_eq!(cache.len(), 1);
        assert!(cache.lookup(&store, k).await.unwrap().is_some());
        store.delete_project(p.id).unwrap();
        assert!(cache.lookup(&store, k).await.unwrap().is_some(), "cached");
        cache.invalidate();
        assert!(cache.lookup(&store, k).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_version_change_invalidates() {
        let store = memory_db();
        let cache = KeyCache::new(Duration::from_secs(60), 100);
        let k = "00000000000000000000000000000002";
        assert!(cache.lookup(&store, k).await.unwrap().is_none());
        cache.observe_version(1);
        assert_eq!(cache.len(), 1, "the first version seen changes nothing");
        store.create_project("p", k, chrono::Utc::now()).unwrap();
        assert!(
            cache.lookup(&store, k).await.unwrap().is_none(),
            "cached miss"
        );
        cache.observe_version(2);
        assert!(cache.lookup(&store, k).await.unwrap().is_some());
    }
}
