//! Sentry wire protocol (work in progress).

mod auth;
mod envelope;
mod error;
mod event;
mod lenient;
mod store;
mod types;

pub use auth::{Auth, Dsn, MAX_PROTOCOL_VERSION};
pub use envelope::{Envelope, EnvelopeHeaders, Item, ItemHeaders, ItemType, ParseLimits};
pub use error::Error;
pub use event::{ClientSdk, Event, Exception, Frame, LogEntry, Mechanism, Stacktrace, Thread};
pub use store::decode_store_body;
pub use types::{EventId, Level, ParseEventIdError, Timestamp};
