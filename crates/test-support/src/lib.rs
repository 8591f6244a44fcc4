//! Shared helpers of Periscope's tests (a `publish = false` crate, used only as a
//! path dev-dependency):
//!
//! - [`corpus`]: the event corpus named by `PERISCOPE_CORPUS_DIR`;
//! - `postgres` (feature `postgres`): a fresh PostgreSQL database per test, named by
//!   `PERISCOPE_TEST_POSTGRES_URL`, dropped when its guard is dropped, a panicking test
//!   included;
//! - [`http`] and [`smtp`]: recording servers (a scripted HTTP server for webhooks, an
//!   SMTP server that records mail and what the client did about TLS);
//! - [`net`]: a listener that accepts and never answers, a port that refuses
//!   connections (held, never released), and a TCP proxy that keeps one address while
//!   the server behind it is restarted;
//! - [`wait`]: awaiting a condition instead of sleeping.
//!
//! Everything listens on 127.0.0.1 and binds port 0, keeping the listener for as long
//! as it is used: no helper picks a port by binding and releasing it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod corpus;
pub mod http;
pub mod net;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod smtp;
pub mod wait;

/// The line a PostgreSQL test prints when it does not run.
pub const POSTGRES_SKIPPED: &str = "skipped: PERISCOPE_TEST_POSTGRES_URL not set";

/// `PERISCOPE_TEST_POSTGRES_URL`, or `None` after printing [`POSTGRES_SKIPPED`].
pub fn postgres_url_or_skip() -> Option<String> {
    match std::env::var("PERISCOPE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("{POSTGRES_SKIPPED}");
            None
        }
    }
}
