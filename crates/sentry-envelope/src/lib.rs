//! Sentry wire protocol (work in progress).

mod error;
mod event;
mod lenient;
mod store;
mod types;

pub use error::Error;
pub use event::{ClientSdk, Event, Exception, Frame, LogEntry, Mechanism, Stacktrace, Thread};
pub use store::decode_store_body;
pub use types::{EventId, Level, ParseEventIdError, Timestamp};
