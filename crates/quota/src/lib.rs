//! Quotas for an error tracker, answered the way Sentry SDKs understand.
//!
//! A client stuck in a loop must not take a server down or drown its database. This
//! crate decides, event by event, whether an event fits its quotas, and when it does
//! not, says exactly how long the client should back off, and for which kinds of
//! data: the `Retry-After` and `X-Sentry-Rate-Limits` headers every Sentry SDK reads.
//! It is pure and synchronous: no I/O, no clock, no async runtime.
//!
//! # The pieces
//!
//! - **Configuration** — [`Quota`]: at most `limit` units of some
//!   [`DataCategory`]s (the protocol crate's type, re-exported; an item's
//!   category comes from `ItemType::data_category`) per sliding `window`, shared by a [`QuotaScope`]
//!   (installation, project or key). A [`ScopedQuota`] applies it to one concrete
//!   project or key.
//! - **Accounting** — [`Limiter::check_and_count`] checks an event against every
//!   quota that applies and counts it in all of them, or in none. The counts live
//!   behind the [`Counter`] trait (one required method); [`MemoryCounter`] keeps
//!   them in memory, sharded and thread-safe, and can be
//!   [snapshotted](MemoryCounter::snapshot) and [restored](MemoryCounter::restore)
//!   so that quotas survive a restart.
//! - **Decisions** — a refusal is a set of [`RateLimit`]s ([`RateLimits`]), merged
//!   by keeping the longest retry-after per target, rendered to and parsed from the
//!   two headers.
//! - **Time** — [`UnixMillis`], passed in by the caller everywhere; tests control
//!   it completely.
//!
//! # Why it is shaped this way
//!
//! *Configuration is separate from decisions.* A `Quota` says what is allowed; a
//! `RateLimit` says what happened, and carries only what an SDK needs. The server
//! stores the first and sends the second.
//!
//! *Windows are bucketed and exact.* A fixed window ("100 per minute, reset on the
//! minute") lets a client send 100 in the last second of one minute and 100 in the
//! first second of the next: twice the limit within one second. A log of every
//! timestamp fixes that but costs memory per event. [`SlidingWindow`] cuts each
//! window into [`BUCKETS_PER_WINDOW`] epoch-aligned buckets and, at instant `t`,
//! counts every bucket that can hold an event of the last window. The result, proven
//! in [`SlidingWindow`]'s documentation and checked by property tests: **for any
//! arrival sequence, no interval of the window's length ever admits more than the
//! limit**, checking costs O(1), and the retry-after given to a refused client is
//! the exact instant at which it would be admitted again (admitted at that
//! millisecond, refused one millisecond before). The price: an event is remembered
//! up to one bucket (1/60 of the window) longer than strictly necessary.
//!
//! *Several quotas are one decision.* An event usually falls under an installation,
//! a project and a key quota. Counting it in the project quota and then refusing it
//! on the key quota would burn project quota for nothing; so a check covers all of
//! them, under all their locks, and counts either everywhere or nowhere.
//!
//! *Counts live behind a narrow trait.* One process keeps counts in memory; that is
//! fast (well under 200 ns per check of one quota) and, with periodic snapshots saved
//! to a database, survives restarts. Several replicas would need a shared counter:
//! it implements the same one method.
//!
//! *Wire types are forward compatible.* Unknown categories and scopes are kept as
//! [`DataCategory::Unknown`] and [`QuotaScope::Unknown`], so a header parses and
//! renders back unchanged, and a quota can name a category this crate has not heard
//! of.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use periscope_quota::{DataCategory, Limiter, Quota, QuotaScope, UnixMillis};
//!
//! // Configuration, typically loaded from the database.
//! let installation = Quota::new("installation_quota", QuotaScope::Installation, Some(10_000), Duration::from_secs(60));
//! let project = Quota::new("project_quota", QuotaScope::Project, Some(2), Duration::from_secs(3600))
//!     .with_categories([DataCategory::Error, DataCategory::Default]);
//!
//! let limiter = Limiter::default();
//! let now = UnixMillis(1_700_000_000_000); // in a server: UnixMillis::from(SystemTime::now())
//! let quotas = [installation.scoped(""), project.scoped("42")];
//!
//! for _ in 0..2 {
//!     assert!(limiter.check_and_count(&quotas, &DataCategory::Error, 1, now).is_ok());
//! }
//! match limiter.check_and_count(&quotas, &DataCategory::Error, 1, now) {
//!     Ok(()) => unreachable!(),
//!     Err(limits) => {
//!         // Answer 429 with these two headers.
//!         assert_eq!(limits.to_header_value(), "3600:error;default:project:project_quota");
//!         assert_eq!(limits.retry_after_header().as_deref(), Some("3600"));
//!     }
//! }
//! ```

mod config;
mod counter;
mod decision;
mod error;
mod limiter;
mod time;
mod window;

pub use config::{Quota, QuotaScope, ScopedQuota};
pub use counter::{Counter, MemoryCounter, Refusal, UsageBucket, WindowCheck};
pub use decision::{RateLimit, RateLimits, parse_retry_after};
pub use error::QuotaError;
pub use limiter::Limiter;
pub use time::UnixMillis;
pub use window::{BUCKETS_PER_WINDOW, SlidingWindow};

/// The data categories quotas count, owned by the protocol crate (where items
/// and their categories are defined) and re-exported here for convenience.
pub use periscope_sentry_envelope::DataCategory;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
