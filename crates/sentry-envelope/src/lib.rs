//! The Sentry wire protocol, as a server receives it.
//!
//! Any official Sentry SDK can send to a server built on this crate: it reads
//! the credentials SDKs send ([`Auth`], [`Dsn`]), the two body formats
//! ([`Envelope`] for `/envelope/`, [`decode_store_body`] for the legacy
//! `/store/`), and the error-event payload itself ([`Event`]). It also writes
//! envelopes, so a proxy, a CLI or a test tool can use it in the other
//! direction. It does no I/O, reads no clock and holds no randomness: bytes
//! in, values out.
//!
//! # The main types
//!
//! - [`Envelope`] — [`EnvelopeHeaders`] and a list of [`Item`]s, each with
//!   [`ItemHeaders`] (an [`ItemType`], with an `Unknown` case) and a payload.
//!   Payloads are [`bytes::Bytes`] slices of the request body: parsing copies
//!   no payload, so a 20 MiB minidump costs nothing extra. Limits are a
//!   [`ParseLimits`] argument, chosen by the server.
//! - [`Event`] — the error event, typed where grouping and display need it
//!   (exceptions with [`Mechanism`] and [`Stacktrace`] [`Frame`]s, threads,
//!   [`LogEntry`], fingerprint, tags, [`Level`], [`Timestamp`], [`EventId`],
//!   ...) and kept as JSON for the rest.
//! - [`DataCategory`] — the kinds of data Sentry rate-limits (`error`,
//!   `transaction`, `session`, `log_item`, ...), with an `Unknown` case;
//!   [`ItemType::data_category`] is the one table from item types to
//!   categories. Items are counted by type and rate-limited by category.
//! - [`Auth`] and [`Dsn`] — credentials from the `X-Sentry-Auth` or
//!   `Authorization` header, the query string, or the envelope's `dsn`.
//! - [`Error`] — one error type; each malformed form is its own variant, and
//!   its text says what and where (`item 2: length 120 runs past the end of
//!   the body (88 bytes left)`), fit for the `detail` of a 400 answer.
//!
//! # Why it is shaped this way
//!
//! **Tolerant where SDKs vary, strict where framing is at stake.** Sentry's
//! SDKs, old and new, disagree about shapes: `exception` is `{"values": [..]}`,
//! a bare list or a single object; `message` is a string or an object;
//! numbers arrive as strings and the other way round; anything may be `null`.
//! An error tracker that rejects such an event loses exactly the report its
//! user needed, so [`Event`] never fails on a field's type: wrong-typed
//! optional fields become `None`, convertible values are converted. Envelope
//! *framing* is the opposite: a wrong `length` means every later byte is
//! misread, so those errors are precise and fatal.
//!
//! **Typed streaming, not a JSON tree first.** [`Event`] is read with
//! hand-written serde visitors that convert as they go; only parts kept
//! verbatim (`contexts`, `extra`, breadcrumbs, frame `vars`, unknown keys)
//! become [`serde_json::Value`]. On one core this reads about 50,000 events
//! per second over the whole 190-event corpus (mean 8 KB, ~430 MiB/s) and
//! about 100,000 per second for typical 4 KB events; envelope framing alone
//! runs at several GiB/s since payloads are not copied (see `benches/parse.rs`).
//!
//! **Forward compatible.** Unknown item types, unknown header fields and
//! unknown event keys are kept (in `Unknown(..)` or `other` maps) and written
//! back, never rejected: new SDKs keep working with an old server.
//!
//! **No hidden policy.** The crate does not generate event ids (the caller
//! has the randomness source: [`EventId::from_bytes`]), does not read the
//! clock, and takes every size limit as a parameter.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use periscope_sentry_envelope::{Auth, Envelope, ItemType, ParseLimits};
//!
//! let auth = Auth::from_request(
//!     Some("Sentry sentry_key=0123456789abcdef0123456789abcdef, sentry_version=7"),
//!     None,
//!     None,
//! )?;
//! assert!(auth.is_some());
//!
//! let body = Bytes::from_static(
//!     b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n\
//!       {\"type\":\"event\"}\n\
//!       {\"exception\":{\"values\":[{\"type\":\"ValueError\",\"value\":\"boom\"}]}}\n",
//! );
//! let envelope = Envelope::parse(body, &ParseLimits::default())?;
//! assert_eq!(envelope.items[0].ty(), &ItemType::Event);
//!
//! let event = envelope.parse_event().expect("has an event item")?;
//! assert_eq!(event.exceptions[0].ty.as_deref(), Some("ValueError"));
//! assert_eq!(
//!     event.event_id.map(|id| id.to_string()).as_deref(),
//!     Some("9ec79c33ec9942ab8353589fcb2e04dc")
//! );
//! # Ok::<(), periscope_sentry_envelope::Error>(())
//! ```

mod auth;
mod category;
mod envelope;
mod error;
mod event;
mod lenient;
mod store;
mod types;

pub use auth::{Auth, Dsn, MAX_PROTOCOL_VERSION};
pub use category::DataCategory;
pub use envelope::{Envelope, EnvelopeHeaders, Item, ItemHeaders, ItemType, ParseLimits};
pub use error::Error;
pub use event::{ClientSdk, Event, Exception, Frame, LogEntry, Mechanism, Stacktrace, Thread};
pub use store::decode_store_body;
pub use types::{EventId, Level, ParseEventIdError, Timestamp};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// `bytes` is part of the public API (payloads); re-export it so users need no
// version match.
pub use bytes;
