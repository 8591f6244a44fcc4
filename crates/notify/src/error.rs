//! The crate's error types: [`DeliveryError`] (one attempt failed) and
//! [`ConfigError`] (a destination or the dispatcher is misconfigured).

use std::fmt;
use std::time::Duration;

/// The channel an error happened on; it is the first word of every
/// [`DeliveryError`] message (`smtp: ...`, `webhook: ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Channel {
    /// Email over SMTP.
    Smtp,
    /// The generic JSON webhook.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// A Discord webhook.
    Discord,
    /// The internal logger.
    Log,
}

impl Channel {
    /// The lower-case name used in messages (`smtp`, `webhook`, `slack`, `discord`, `log`).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Smtp => "smtp",
            Channel::Webhook => "webhook",
            Channel::Slack => "slack",
            Channel::Discord => "discord",
            Channel::Log => "log",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one delivery attempt failed.
///
/// The `Display` text is meant to be stored with the delivery attempt and shown
/// to a person: it starts with the channel and names the target (webhook URLs
/// are shown without credentials or query, Slack and Discord URLs without
/// their secret path). [`DeliveryError::is_permanent`] tells a retry loop
/// whether trying again can help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The HTTP endpoint answered with a non-2xx status.
    #[error("{channel}: {status} from {target}{}", snippet_suffix(.body))]
    HttpStatus {
        /// Which webhook flavour.
        channel: Channel,
        /// The HTTP status code.
        status: u16,
        /// The target URL, redacted for display.
        target: String,
        /// The first bytes of the response body (at most 200 characters), may be empty.
        body: String,
        /// The `Retry-After` the server asked for (seconds form only), if any.
        retry_after: Option<Duration>,
    },
    /// The SMTP server answered with a negative reply.
    #[error("smtp: {code} {message}")]
    SmtpReply {
        /// The three-digit SMTP reply code.
        code: u16,
        /// The server's text.
        message: String,
    },
    /// Could not reach the target (connection refused, DNS failure, TLS failure, reset).
    #[error("{channel}: cannot connect to {target}: {reason}")]
    Connect {
        /// The channel.
        channel: Channel,
        /// The target, redacted for display.
        target: String,
        /// What the transport said.
        reason: String,
    },
    /// The attempt took longer than the configured timeout.
    #[error("{channel}: no answer from {target} within {}", humanize(*.after))]
    Timeout {
        /// The channel.
        channel: Channel,
        /// The target, redacted for display.
        target: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The target was refused before any connection was made (SSRF protection,
    /// or a scheme other than http/https).
    #[error("{channel}: refused {target}: {reason}")]
    Refused {
        /// The channel.
        channel: Channel,
        /// The target, redacted for display.
        target: String,
        /// Why, with the setting that would allow it.
        reason: String,
    },
    /// The destination cannot work as configured (bad address, bad URL, no SMTP
    /// server configured). Retrying does not help; fix the configuration.
    #[error("{channel}: {reason}")]
    Misconfigured {
        /// The channel.
        channel: Channel,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Any other transport failure (protocol error, broken response).
    #[error("{channel}: {reason}")]
    Transport {
        /// The channel.
        channel: Channel,
        /// What happened.
        reason: String,
        /// Whether the transport said the failure is permanent.
        permanent: bool,
    },
}

fn snippet_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

fn humanize(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl DeliveryError {
    /// Whether retrying cannot help.
    ///
    /// HTTP: 4xx is permanent except 408 (request timeout) and 429 (too many
    /// requests); 5xx is retried; 1xx/3xx (redirects are not followed) are
    /// permanent. SMTP: 5yz replies are permanent, 4yz are retried. Timeouts
    /// and connection failures are retried; refused targets and
    /// misconfiguration are permanent.
    pub fn is_permanent(&self) -> bool {
        match self {
            DeliveryError::HttpStatus { status, .. } => !matches!(*status, 408 | 429 | 500..=599),
            DeliveryError::SmtpReply { code, .. } => (500..600).contains(code),
            DeliveryError::Connect { .. } | DeliveryError::Timeout { .. } => false,
            DeliveryError::Refused { .. } | DeliveryError::Misconfigured { .. } => true,
            DeliveryError::Transport { permanent, .. } => *permanent,
        }
    }

    /// The delay the remote side asked for (`Retry-After` on a 429 or 503), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DeliveryError::HttpStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The channel the failure happened on.
    pub fn channel(&self) -> Channel {
        match self {
            DeliveryError::SmtpReply { .. } => Channel::Smtp,
            DeliveryError::HttpStatus { channel, .. }
            | DeliveryError::Connect { channel, .. }
            | DeliveryError::Timeout { channel, .. }
            | DeliveryError::Refused { channel, .. }
            | DeliveryError::Misconfigured { channel, .. }
            | DeliveryError::Transport { channel, .. } => *channel,
        }
    }
}

/// A configuration that cannot work: a destination that fails validation or a
/// dispatcher that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The SMTP URL cannot be used.
    #[error(
        "invalid SMTP URL: {0} (expected smtp://user:pass@host:port?tls=starttls|opportunistic|none or smtps://user:pass@host:port)"
    )]
    SmtpUrl(String),
    /// An email address (sender or recipient) does not parse.
    #[error("invalid email address {address:?}: {reason}")]
    EmailAddress {
        /// The address as given.
        address: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An email destination without recipients, or with too many.
    #[error("email destination needs between 1 and {max} recipients, got {got}")]
    Recipients {
        /// How many were given.
        got: usize,
        /// The maximum accepted.
        max: usize,
    },
    /// A webhook URL that is not an absolute http(s) URL.
    #[error("invalid webhook URL {url:?}: {reason}")]
    Url {
        /// The URL as given (may be truncated).
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A custom header name or value that HTTP does not allow, or a reserved name.
    #[error("invalid header {name:?}: {reason}")]
    Header {
        /// The header name as given.
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The HTTP client could not be built (TLS backend initialisation).
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}
