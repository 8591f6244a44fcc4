//! The [`Notifier`] trait, the [`Dispatcher`] that routes each destination to
//! its channel's notifier, and [`deliver_with_retries`] for in-process use.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use crate::alert::Alert;
use crate::destination::{Destination, SmtpConfig, display_target};
use crate::email::EmailNotifier;
use crate::error::{Channel, ConfigError, DeliveryError};
use crate::log::LogNotifier;
use crate::policy::{RetryDecision, RetryPolicy, random_jitter};
use crate::webhook::WebhookNotifier;

/// Delivers one alert to one destination, once. Retrying is the caller's
/// business (see [`RetryPolicy`] and [`deliver_with_retries`]).
///
/// Each channel has its own implementation ([`EmailNotifier`],
/// [`WebhookNotifier`] for the generic webhook, Slack and Discord,
/// [`LogNotifier`]); [`Dispatcher`] routes to them. A server can implement it
/// with a fake in its own tests.
pub trait Notifier: Send + Sync {
    /// Makes one delivery attempt.
    fn deliver(
        &self,
        alert: &Alert,
        destination: &Destination,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// How the [`Dispatcher`] reaches the outside world.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// The outgoing mail server; `None` makes email destinations fail with a
    /// permanent "no SMTP server configured" error.
    pub smtp: Option<SmtpConfig>,
    /// Allow webhook targets that resolve to loopback, private or link-local
    /// addresses (see [`crate::is_public_ip`]). Off by default: with it off,
    /// a user who can configure a webhook cannot make the server probe its
    /// own network.
    pub allow_private_targets: bool,
    /// How long one HTTP request or one whole SMTP conversation may take.
    pub timeout: Duration,
    /// The `User-Agent` of webhook requests.
    pub user_agent: String,
    /// How a refusal of a non-public target tells the reader to allow such
    /// targets, in the words of the embedding application (the server says
    /// `set PERISCOPE_ALLOW_PRIVATE_WEBHOOKS=true`); the default names
    /// [`allow_private_targets`](DispatcherConfig::allow_private_targets).
    pub allow_private_hint: String,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            smtp: None,
            allow_private_targets: false,
            timeout: Duration::from_secs(15),
            user_agent: format!("periscope-notify/{}", env!("CARGO_PKG_VERSION")),
            allow_private_hint: "set allow_private_targets".to_owned(),
        }
    }
}

/// Delivers alerts to every kind of [`Destination`] by handing each to the
/// notifier of its channel: one [`WebhookNotifier`] (one HTTP client and its
/// connection pool), an optional [`EmailNotifier`] and the [`LogNotifier`].
/// Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Dispatcher {
    webhook: WebhookNotifier,
    email: Option<EmailNotifier>,
}

impl Dispatcher {
    /// Builds the HTTP client and the SMTP transport. Fails on a bad SMTP
    /// URL or sender address, so a server can refuse to start with a clear line.
    pub fn new(config: DispatcherConfig) -> Result<Dispatcher, ConfigError> {
        let webhook = WebhookNotifier::new(&config)?;
        let email = config
            .smtp
            .as_ref()
            .map(|smtp| EmailNotifier::new(smtp, config.timeout))
            .transpose()?;
        Ok(Dispatcher { webhook, email })
    }
}

impl Notifier for Dispatcher {
    async fn deliver(&self, alert: &Alert, destination: &Destination) -> Result<(), DeliveryError> {
        match destination {
            Destination::Email { .. } => match &self.email {
                Some(email) => email.deliver(alert, destination).await,
                None => Err(DeliveryError::Misconfigured {
                    channel: Channel::Smtp,
                    reason: "no SMTP server configured (set PERISCOPE_SMTP_URL and PERISCOPE_EMAIL_FROM)"
                        .into(),
                }),
            },
            Destination::GenericWebhook { .. }
            | Destination::SlackWebhook { .. }
            | Destination::DiscordWebhook { .. } => self.webhook.deliver(alert, destination).await,
            Destination::InternalLogger => LogNotifier.deliver(alert, destination).await,
        }
    }
}

/// The error for a destination handed to a notifier of another channel.
pub(crate) fn wrong_destination(channel: Channel, destination: &Destination) -> DeliveryError {
    DeliveryError::Misconfigured {
        channel,
        reason: format!(
            "this notifier does not handle destinations of type {}",
            destination.type_name()
        ),
    }
}

/// The innermost cause's message: transport errors wrap the useful part
/// ("Connection refused") several layers deep, and the outer layers of a
/// reqwest error repeat the full URL, which may hold a secret.
pub(crate) fn deepest_cause(e: &(dyn StdError + 'static)) -> String {
    let mut current: &(dyn StdError + 'static) = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// The channel and redacted target of a destination, for messages.
fn describe(destination: &Destination) -> (Channel, String) {
    match destination {
        Destination::Email { to } => (Channel::Smtp, to.join(", ")),
        Destination::GenericWebhook { url, .. } => (Channel::Webhook, display_target(url, true)),
        Destination::SlackWebhook { url } => (Channel::Slack, display_target(url, false)),
        Destination::DiscordWebhook { url } => (Channel::Discord, display_target(url, false)),
        Destination::InternalLogger => (Channel::Log, "log".to_owned()),
    }
}

/// A successful [`deliver_with_retries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Attempts made, the successful one included.
    pub attempts: u32,
}

/// A [`deliver_with_retries`] that gave up.
#[derive(Debug, thiserror::Error)]
#[error("gave up after {attempts} attempt(s): {error}")]
pub struct GaveUp {
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's error.
    pub error: DeliveryError,
}

/// Delivers with retries in this task: each attempt bounded by
/// `policy.timeout`, back-off with random jitter between attempts, stopping
/// at a permanent error or after `policy.max_attempts`.
///
/// For a server with a database outbox, prefer storing the attempt and
/// asking [`RetryPolicy::decide`] when to try again: that survives restarts.
pub async fn deliver_with_retries<N: Notifier>(
    notifier: &N,
    alert: &Alert,
    destination: &Destination,
    policy: &RetryPolicy,
) -> Result<Delivered, GaveUp> {
    let mut attempts = 0u32;
    loop {
        attempts = attempts.saturating_add(1);
        let result = match tokio::time::timeout(
            policy.timeout,
            notifier.deliver(alert, destination),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => {
                let (channel, target) = describe(destination);
                Err(DeliveryError::Timeout {
                    channel,
                    target,
                    after: policy.timeout,
                })
            }
        };
        let error = match result {
            Ok(()) => return Ok(Delivered { attempts }),
            Err(error) => error,
        };
        match policy.decide(attempts, &error, random_jitter()) {
            RetryDecision::RetryAfter(delay) => {
                tracing::debug!(
                    target: "periscope_notify",
                    attempts,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    %error,
                    "delivery failed, will retry"
                );
                tokio::time::sleep(delay).await;
            }
            RetryDecision::GiveUpPermanent | RetryDecision::GiveUpExhausted => {
                return Err(GaveUp { attempts, error });
            }
        }
    }
}
