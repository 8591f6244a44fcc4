//! Alert delivery for an error tracker: email, webhooks, Slack, Discord and a
//! log line, with a retry policy, a per-destination rate cap and protection
//! against server-side request forgery.
//!
//! # What it is
//!
//! When an error tracker sees a new issue, a regression or an issue whose
//! mute ended, someone should hear about it, soon, once, and without the
//! tracker slowing down. This crate is the "hear about it" part. It knows
//! nothing about databases or ingestion: it turns an [`Alert`] into a message
//! for one [`Destination`] and tells you precisely how an attempt went.
//!
//! # The main types
//!
//! - [`Alert`] — what happened: why ([`AlertKind`]), in which project, about
//!   what ([`AlertSubject`]: an issue today), and what a message shows of it
//!   (title, culprit, level, counts, first/last seen, link). Plain
//!   serializable data.
//! - [`Destination`] — where it goes: `email`, `generic_webhook`,
//!   `slack_webhook`, `discord_webhook` or `internal_logger`, as a
//!   `{"type": ...}` JSON object an admin API can accept and store.
//! - [`Notifier`] — one method, `deliver(&Alert, &Destination)`, one attempt.
//!   One implementation per channel: [`EmailNotifier`] (SMTP),
//!   [`WebhookNotifier`] (generic webhook, Slack, Discord: one HTTP client),
//!   [`LogNotifier`]; and the [`Dispatcher`], which holds them and routes each
//!   destination to its channel.
//! - [`DeliveryError`] — what failed, as a sentence to store with the attempt
//!   (`smtp: 550 mailbox unavailable`, `webhook: 502 from https://...`), and
//!   [`DeliveryError::is_permanent`] to decide whether to try again.
//! - [`RetryPolicy`] — timeouts, exponential back-off with jitter, a maximum
//!   number of attempts; [`RetryPolicy::decide`] is a pure function of the
//!   attempt count, the error and a jitter value.
//! - [`RateCap`] and [`RateCapState`] — at most N alerts per destination in any
//!   hour, then exactly one summary ([`HeldBack`]) saying how many were held back.
//! - [`format`](mod@format) — the message bodies as pure functions, and the webhook
//!   signature ([`format::sign`], [`format::verify_signature`]).
//!
//! # Why it is shaped this way
//!
//! *Delivery never blocks ingestion.* The crate does not queue anything
//! itself: a server writes alerts to a durable outbox and a separate task
//! calls [`Notifier::deliver`]. Every attempt is bounded by a timeout, so a
//! dead destination costs one task a few seconds, never the ingest path.
//!
//! *Decisions are pure, I/O is thin.* Back-off, permanence and the rate cap
//! take the time and the randomness as arguments, so a server can keep
//! attempts in its database (surviving restarts) and ask the policy when to
//! retry, and tests can check every rule without sleeping. For simple in-process
//! use, [`deliver_with_retries`] wraps the same policy in a loop.
//!
//! *Errors are for people.* A failed delivery ends up in an admin screen. The
//! message names the channel, the status or SMTP reply, and the target, with
//! secrets removed (Slack and Discord keep their token in the URL path, so
//! only their host is shown).
//!
//! *Safe by default.* Webhook URLs are user input. Unless
//! [`DispatcherConfig::allow_private_targets`] is set, targets resolving to
//! loopback, private, link-local or other non-public addresses are refused
//! (checked before connecting, and again by the HTTP client's resolver to
//! defeat DNS rebinding); redirects are not followed. A bare `smtp://` URL
//! requires STARTTLS. Chat messages escape mentions (`<!channel>`,
//! `@everyone`) that an error message might contain.
//!
//! # Example
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use chrono::Utc;
//! use periscope_notify::{
//!     Alert, AlertKind, AlertSubject, Destination, Dispatcher, DispatcherConfig, IssueId,
//!     Notifier, ProjectId, RetryDecision, RetryPolicy, random_jitter,
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let dispatcher = Dispatcher::new(DispatcherConfig::default())?;
//! let destination: Destination = serde_json::from_str(
//!     r#"{"type": "generic_webhook", "url": "https://example.com/hook", "secret": "s3cret"}"#,
//! )?;
//! destination.validate()?;
//!
//! let alert = Alert {
//!     kind: AlertKind::NewIssue,
//!     project_id: ProjectId(1),
//!     project_name: "shop".into(),
//!     subject: Some(AlertSubject::Issue(IssueId(42))),
//!     title: "ZeroDivisionError: division by zero".into(),
//!     culprit: Some("app.views.divide".into()),
//!     level: "error".into(),
//!     event_count: 1,
//!     first_seen: Utc::now(),
//!     last_seen: Utc::now(),
//!     url: "https://periscope.example.com/issues/42".into(),
//!     environment: None,
//!     release: None,
//! };
//!
//! let policy = RetryPolicy::default();
//! if let Err(error) = dispatcher.deliver(&alert, &destination).await {
//!     // Store `error.to_string()` with the attempt, then:
//!     match policy.decide(1, &error, random_jitter()) {
//!         RetryDecision::RetryAfter(delay) => { /* schedule attempt 2 after `delay` */ }
//!         RetryDecision::GiveUpPermanent | RetryDecision::GiveUpExhausted => { /* mark failed */ }
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod alert;
mod destination;
mod dispatch;
mod email;
mod error;
pub mod format;
mod log;
mod policy;
mod ratecap;
mod ssrf;
mod webhook;

pub use alert::{Alert, AlertKind, AlertSubject, IssueId, ProjectId};
pub use destination::{
    Destination, MAX_CUSTOM_HEADERS, MAX_EMAIL_RECIPIENTS, MAX_URL_LEN, RESERVED_HEADERS,
    SmtpConfig, SmtpTls, display_target,
};
pub use dispatch::{
    Delivered, Dispatcher, DispatcherConfig, GaveUp, Notifier, deliver_with_retries,
};
pub use email::EmailNotifier;
pub use error::{Channel, ConfigError, DeliveryError};
pub use log::LogNotifier;
pub use policy::{RetryDecision, RetryPolicy, random_jitter};
pub use ratecap::{Admission, HeldBack, MAX_RATE_CAP, RATE_WINDOW, RateCap, RateCapState};
pub use ssrf::is_public_ip;
pub use webhook::WebhookNotifier;

/// The README's code, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
