//! periscope-notify (essay to come)

mod alert;
mod destination;
mod dispatch;
mod error;
pub mod format;
mod policy;
mod ratecap;
mod ssrf;

pub use alert::{Alert, AlertKind};
pub use destination::{
    Destination, MAX_CUSTOM_HEADERS, MAX_EMAIL_RECIPIENTS, MAX_URL_LEN, SmtpConfig, SmtpTls,
    display_target,
};
pub use dispatch::{
    Delivered, Dispatcher, DispatcherConfig, GaveUp, Notifier, deliver_with_retries,
};
pub use error::{Channel, ConfigError, DeliveryError};
pub use policy::{RetryDecision, RetryPolicy, random_jitter};
pub use ratecap::{Admission, HeldBack, MAX_RATE_CAP, RATE_WINDOW, RateCap, RateCapState};
pub use ssrf::is_public_ip;
