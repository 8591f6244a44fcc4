//! The crate's error type.

/// What can go wrong in this crate: reading rate-limit headers back, and quota
/// configuration that cannot work.
///
/// Accounting itself never fails: a refusal is a [`RateLimits`](crate::RateLimits)
/// decision, not an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    /// A retry-after value (in `Retry-After`, or the first field of an
    /// `X-Sentry-Rate-Limits` item) is not a non-negative number of seconds.
    #[error(
        "retry-after {value:?} is not a non-negative number of seconds \
         (expected e.g. `60`; the HTTP-date form of Retry-After is not supported)"
    )]
    InvalidRetryAfter {
        /// The offending text.
        value: String,
    },

    /// An `X-Sentry-Rate-Limits` item lacks a required field.
    #[error(
        "rate limit {item:?} has no {field} field; each comma-separated item must look like \
         `retry_after_seconds:categories:scope[:reason_code[:namespaces]]`"
    )]
    MissingField {
        /// The item, as received.
        item: String,
        /// The name of the missing field.
        field: &'static str,
    },

    /// An `X-Sentry-Rate-Limits` value holds more items than
    /// [`RateLimits::MAX_PARSED_ITEMS`](crate::RateLimits::MAX_PARSED_ITEMS).
    #[error(
        "X-Sentry-Rate-Limits holds more than {max} items; a real server sends a handful, \
         so this value is refused rather than parsed"
    )]
    TooManyItems {
        /// The maximum accepted.
        max: usize,
    },

    /// A quota's window is zero.
    #[error("quota {id:?} has a zero window; give it a window of at least one millisecond")]
    ZeroWindow {
        /// The quota's id.
        id: String,
    },

    /// A quota's id cannot be sent as a reason code.
    #[error(
        "quota id {id:?} is not a valid reason code: use 1 to 64 ASCII letters, digits, \
         '_', '-' or '.' (e.g. `project_quota`)"
    )]
    InvalidQuotaId {
        /// The offending id.
        id: String,
    },
}
