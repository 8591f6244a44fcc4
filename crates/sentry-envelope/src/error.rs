//! The crate's one error type.

/// Everything that can go wrong while reading or writing the Sentry wire protocol.
///
/// Each malformed form has its own variant so a server can map it to an answer
/// (400 for bodies, 401 for credentials) and tests can assert on it; the
/// `Display` text is meant for the `detail` field of a 400/401 answer and says
/// what was wrong and where.
///
/// Item indices in messages are 0-based, matching [`crate::Envelope::items`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- event payloads -------------------------------------------------------
    /// The event payload is not valid JSON, or not a JSON object.
    #[error("event payload is not a valid JSON object: {0}")]
    InvalidEvent(#[source] serde_json::Error),

    // ---- bodies ---------------------------------------------------------------
    /// The request body is empty.
    #[error("the body is empty")]
    EmptyBody,
    /// A legacy store body that is not JSON is not valid base64 either.
    #[error("store body is neither JSON nor base64: {0}")]
    StoreBodyBase64(#[source] base64::DecodeError),
    /// A base64 store body did not hold zlib (or gzip) data.
    #[error("store body: base64 payload is not zlib/gzip compressed JSON: {0}")]
    StoreBodyCompression(#[source] std::io::Error),
    /// A base64 store body decoded to something that is not JSON, zlib or gzip.
    #[error(
        "store body: base64 payload starts with byte 0x{first:02x}, which is neither JSON nor zlib nor gzip"
    )]
    StoreBodyUnknownFormat {
        /// The first decoded byte.
        first: u8,
    },
    /// The decoded store body exceeds the caller's size limit.
    #[error("store body decodes to more than {max} bytes")]
    StoreBodyTooLarge {
        /// The limit that was exceeded, in bytes.
        max: usize,
    },

    // ---- envelopes ------------------------------------------------------------
    /// The envelope header (first line) is not a JSON object.
    #[error("envelope header (first line) is not a valid JSON object: {0}")]
    EnvelopeHeader(#[source] serde_json::Error),
    /// The envelope header's `event_id` is not 32 hex digits or a dashed UUID.
    #[error("envelope header: event_id {value:?} is not 32 hex digits or a UUID")]
    EnvelopeEventId {
        /// The value as sent (truncated to 64 characters).
        value: String,
    },
    /// A header line (envelope or item) is longer than the limit.
    #[error("{what}: header line is longer than {max} bytes")]
    HeaderTooLong {
        /// `"envelope header"` or `"item N"`.
        what: String,
        /// The limit, in bytes.
        max: usize,
    },
    /// An item header is not a JSON object.
    #[error("item {index}: header is not a valid JSON object: {source}")]
    ItemHeader {
        /// 0-based item index.
        index: usize,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// An item header has no `type` (or its `type` is not a string).
    #[error("item {index}: header has no \"type\" string")]
    MissingItemType {
        /// 0-based item index.
        index: usize,
    },
    /// An item header's `length` is not a non-negative integer.
    #[error("item {index}: header \"length\" is not a non-negative integer")]
    InvalidItemLength {
        /// 0-based item index.
        index: usize,
    },
    /// An item's declared `length` runs past the end of the body.
    #[error("item {index}: length {length} runs past the end of the body ({left} bytes left)")]
    ItemLengthPastEnd {
        /// 0-based item index.
        index: usize,
        /// The declared length.
        length: u64,
        /// Bytes left in the body after the item header.
        left: usize,
    },
    /// A length-delimited payload is followed by something other than `\n` or the end.
    #[error(
        "item {index}: payload of {length} bytes is followed by byte 0x{found:02x} instead of a newline (is \"length\" right?)"
    )]
    MissingNewlineAfterPayload {
        /// 0-based item index.
        index: usize,
        /// The declared length.
        length: u64,
        /// The byte found where `\n` was expected.
        found: u8,
    },
    /// The envelope has more items than the limit.
    #[error("envelope has more than {max} items")]
    TooManyItems {
        /// The limit.
        max: usize,
    },
    /// One item's payload is larger than the limit.
    #[error("item {index}: payload of {size} bytes is larger than the limit of {max} bytes")]
    ItemTooLarge {
        /// 0-based item index.
        index: usize,
        /// The payload size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A second `event` or `transaction` item.
    #[error(
        "items {first} and {second}: an envelope may carry at most one event or transaction item"
    )]
    DuplicateEventItem {
        /// Index of the first event/transaction item.
        first: usize,
        /// Index of the second one.
        second: usize,
    },

    // ---- DSN --------------------------------------------------------------------
    /// A DSN that does not have the `scheme://key@host/project_id` shape.
    #[error("invalid DSN: {reason}")]
    InvalidDsn {
        /// What is wrong, in words.
        reason: &'static str,
    },

    // ---- credentials ----------------------------------------------------------
    /// An auth header that does not start with `Sentry `.
    #[error("auth header does not start with \"Sentry \"")]
    AuthNotSentry,
    /// An auth pair without `=` (for example `sentry_key` alone).
    #[error("auth: pair {pair:?} has no '='")]
    AuthMalformedPair {
        /// The offending pair (truncated to 64 characters).
        pair: String,
    },
    /// Credentials without `sentry_key` (or with an empty one).
    #[error("auth: sentry_key is missing or empty")]
    AuthMissingKey,
    /// `sentry_version` that is not a number.
    #[error("auth: sentry_version {value:?} is not a number")]
    AuthInvalidVersion {
        /// The value as sent (truncated to 64 characters).
        value: String,
    },
    /// `sentry_version` above 7.
    #[error("auth: sentry_version {version} is not supported (at most 7)")]
    AuthUnsupportedVersion {
        /// The version sent.
        version: u32,
    },
    /// Two credential sources with different keys.
    #[error("credentials given twice with different keys ({first} and {second})")]
    AuthConflict {
        /// Where the first key came from.
        first: &'static str,
        /// Where the second key came from.
        second: &'static str,
    },
    /// The envelope header's `dsn` disagrees with the request's credentials.
    #[error("the envelope header's dsn does not match the request's credentials ({what} differs)")]
    AuthDsnMismatch {
        /// `"key"` or `"project"`.
        what: &'static str,
    },
}

/// Truncates a value for inclusion in an error message.
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
