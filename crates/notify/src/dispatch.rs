//! The [`Notifier`] trait and its implementation for every channel, the
//! [`Dispatcher`]; plus [`deliver_with_retries`] for in-process use.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};

use crate::alert::Alert;
use crate::destination::{
    Destination, SmtpConfig, SmtpTls, display_target, parse_header, parse_mailbox,
    parse_webhook_url, truncate,
};
use crate::error::{Channel, ConfigError, DeliveryError};
use crate::format;
use crate::policy::{RetryDecision, RetryPolicy, random_jitter};
use crate::ssrf::{self, ResolveFailure};

/// Delivers one alert to one destination, once. Retrying is the caller's
/// business (see [`RetryPolicy`] and [`deliver_with_retries`]).
///
/// [`Dispatcher`] implements it for every channel; a server can implement it
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
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            smtp: None,
            allow_private_targets: false,
            timeout: Duration::from_secs(15),
            user_agent: format!("periscope-notify/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    target: String,
}

/// Delivers alerts to every kind of [`Destination`]: one HTTP client (with
/// its connection pool) and one SMTP transport, shared by all deliveries.
/// Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Dispatcher {
    http: reqwest::Client,
    smtp: Option<SmtpSender>,
    allow_private: bool,
    timeout: Duration,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("smtp", &self.smtp.as_ref().map(|s| &s.target))
            .field("allow_private", &self.allow_private)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// Builds the HTTP client and the SMTP transport. Fails on a bad SMTP
    /// URL or sender address, so a server can refuse to start with a clear line.
    pub fn new(config: DispatcherConfig) -> Result<Dispatcher, ConfigError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(config.user_agent.clone());
        if let Some(resolver) = ssrf::resolver(config.allow_private_targets) {
            builder = builder.dns_resolver(resolver);
        }
        let http = builder
            .build()
            .map_err(|e| ConfigError::HttpClient(deepest_cause(&e)))?;
        let smtp = config
            .smtp
            .as_ref()
            .map(|c| build_smtp(c, config.timeout))
            .transpose()?;
        Ok(Dispatcher {
            http,
            smtp,
            allow_private: config.allow_private_targets,
            timeout: config.timeout,
        })
    }

    async fn send_email(&self, alert: &Alert, to: &[String]) -> Result<(), DeliveryError> {
        let misconfigured = |reason: String| DeliveryError::Misconfigured {
            channel: Channel::Smtp,
            reason,
        };
        let Some(smtp) = &self.smtp else {
            return Err(misconfigured(
                "no SMTP server configured (set PERISCOPE_SMTP_URL and PERISCOPE_EMAIL_FROM)"
                    .into(),
            ));
        };
        let mut builder = Message::builder()
            .from(smtp.from.clone())
            .subject(format::email_subject(alert));
        if to.is_empty() {
            return Err(misconfigured("the destination has no recipients".into()));
        }
        for address in to {
            let mailbox = parse_mailbox(address).map_err(|e| misconfigured(e.to_string()))?;
            builder = builder.to(mailbox);
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                format::email_text(alert),
                format::email_html(alert),
            ))
            .map_err(|e| misconfigured(format!("cannot build the message: {e}")))?;
        match tokio::time::timeout(self.timeout, smtp.transport.send(message)).await {
            Err(_) => Err(DeliveryError::Timeout {
                channel: Channel::Smtp,
                target: smtp.target.clone(),
                after: self.timeout,
            }),
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(smtp_error(&e, &smtp.target, self.timeout)),
        }
    }

    async fn post_json(
        &self,
        channel: Channel,
        url: &str,
        body: Vec<u8>,
        headers: HeaderMap,
    ) -> Result<(), DeliveryError> {
        let target = display_target(url, channel == Channel::Webhook);
        let parsed = parse_webhook_url(url).map_err(|e| DeliveryError::Misconfigured {
            channel,
            reason: e.to_string(),
        })?;
        if !self.allow_private {
            let host = parsed.host_str().unwrap_or_default();
            let port = parsed.port_or_known_default().unwrap_or(80);
            match ssrf::resolve_checked(host, port, false).await {
                Ok(_) => {}
                Err(ResolveFailure::NotPublic(ip)) => {
                    return Err(DeliveryError::Refused {
                        channel,
                        target,
                        reason: if host
                            .trim_matches(['[', ']'])
                            .parse::<std::net::IpAddr>()
                            .is_ok()
                        {
                            format!(
                                "{ip} is not a public address (set allow_private_targets to allow internal targets)"
                            )
                        } else {
                            format!(
                                "{host} resolves to the non-public address {ip} (set allow_private_targets to allow internal targets)"
                            )
                        },
                    });
                }
                Err(ResolveFailure::Lookup(reason)) => {
                    return Err(DeliveryError::Connect {
                        channel,
                        target,
                        reason: format!("cannot resolve {host}: {reason}"),
                    });
                }
            }
        }
        let response = self
            .http
            .post(parsed)
            .headers(headers)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .send()
            .await
            .map_err(|e| http_error(channel, &target, &e, self.timeout))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = read_snippet(response).await;
        Err(DeliveryError::HttpStatus {
            channel,
            status: status.as_u16(),
            target,
            body,
            retry_after,
        })
    }

    async fn send_generic_webhook(
        &self,
        alert: &Alert,
        url: &str,
        custom: &BTreeMap<String, String>,
        secret: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let sent_at = Utc::now();
        let body = serde_json::to_vec(&format::webhook_body(alert, sent_at)).map_err(|e| {
            DeliveryError::Transport {
                channel: Channel::Webhook,
                reason: format!("cannot serialize the body: {e}"),
                permanent: true,
            }
        })?;
        let mut headers = HeaderMap::new();
        for (name, value) in custom {
            let (name, value) =
                parse_header(name, value).map_err(|e| DeliveryError::Misconfigured {
                    channel: Channel::Webhook,
                    reason: e.to_string(),
                })?;
            headers.insert(name, value);
        }
        headers.insert(
            format::TIMESTAMP_HEADER,
            HeaderValue::from(sent_at.timestamp()),
        );
        if let Some(secret) = secret {
            let signature = format::sign(secret.as_bytes(), &body);
            if let Ok(value) = HeaderValue::from_str(&signature) {
                headers.insert(format::SIGNATURE_HEADER, value);
            }
        }
        self.post_json(Channel::Webhook, url, body, headers).await
    }

    async fn send_chat(
        &self,
        channel: Channel,
        url: &str,
        body: serde_json::Value,
    ) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(&body).map_err(|e| DeliveryError::Transport {
            channel,
            reason: format!("cannot serialize the body: {e}"),
            permanent: true,
        })?;
        self.post_json(channel, url, body, HeaderMap::new()).await
    }
}

impl Notifier for Dispatcher {
    async fn deliver(&self, alert: &Alert, destination: &Destination) -> Result<(), DeliveryError> {
        match destination {
            Destination::Email { to } => self.send_email(alert, to).await,
            Destination::GenericWebhook {
                url,
                headers,
                secret,
            } => {
                self.send_generic_webhook(alert, url, headers, secret.as_deref())
                    .await
            }
            Destination::SlackWebhook { url } => {
                self.send_chat(Channel::Slack, url, format::slack_body(alert))
                    .await
            }
            Destination::DiscordWebhook { url } => {
                self.send_chat(Channel::Discord, url, format::discord_body(alert))
                    .await
            }
            Destination::InternalLogger => {
                tracing::warn!(
                    target: "periscope_notify",
                    kind = %alert.kind,
                    project_id = alert.project_id,
                    project = %alert.project_name,
                    issue_id = alert.issue_id,
                    title = %alert.title,
                    culprit = alert.culprit.as_deref().unwrap_or(""),
                    level = %alert.level,
                    event_count = alert.event_count,
                    first_seen = %alert.first_seen,
                    last_seen = %alert.last_seen,
                    url = %alert.url,
                    "{}",
                    alert.headline()
                );
                Ok(())
            }
        }
    }
}

fn build_smtp(config: &SmtpConfig, timeout: Duration) -> Result<SmtpSender, ConfigError> {
    let from = parse_mailbox(&config.from)?;
    let target = config.target()?;
    let tls_parameters = || {
        TlsParameters::new(target.host.clone())
            .map_err(|e| ConfigError::SmtpUrl(format!("TLS set-up: {e}")))
    };
    let tls = match target.tls {
        SmtpTls::Implicit => Tls::Wrapper(tls_parameters()?),
        SmtpTls::StartTls => Tls::Required(tls_parameters()?),
        SmtpTls::Opportunistic => Tls::Opportunistic(tls_parameters()?),
        SmtpTls::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(target.host.clone())
        .port(target.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some((user, pass)) = target.credentials.clone() {
        builder = builder.credentials(Credentials::new(user, pass));
    }
    if let Some(name) = target.hello_name.clone() {
        builder = builder.hello_name(ClientId::Domain(name));
    }
    Ok(SmtpSender {
        transport: builder.build(),
        from,
        target: format!("{}:{}", target.host, target.port),
    })
}

/// The innermost cause's message: transport errors wrap the useful part
/// ("Connection refused") several layers deep, and the outer layers of a
/// reqwest error repeat the full URL, which may hold a secret.
fn deepest_cause(e: &(dyn StdError + 'static)) -> String {
    let mut current: &(dyn StdError + 'static) = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

fn http_error(
    channel: Channel,
    target: &str,
    e: &reqwest::Error,
    timeout: Duration,
) -> DeliveryError {
    if e.is_timeout() {
        return DeliveryError::Timeout {
            channel,
            target: target.to_owned(),
            after: timeout,
        };
    }
    let reason = deepest_cause(e);
    if e.is_connect() {
        DeliveryError::Connect {
            channel,
            target: target.to_owned(),
            reason,
        }
    } else if e.is_builder() {
        DeliveryError::Misconfigured { channel, reason }
    } else {
        DeliveryError::Transport {
            channel,
            reason: format!("{target}: {reason}"),
            permanent: false,
        }
    }
}

fn smtp_error(
    e: &lettre::transport::smtp::Error,
    target: &str,
    timeout: Duration,
) -> DeliveryError {
    if let Some(code) = e.status() {
        let message = e.source().map(ToString::to_string).unwrap_or_default();
        return DeliveryError::SmtpReply {
            code: u16::from(code),
            message: truncate(message.trim(), 300),
        };
    }
    if e.is_timeout() {
        return DeliveryError::Timeout {
            channel: Channel::Smtp,
            target: target.to_owned(),
            after: timeout,
        };
    }
    let reason = match e.source() {
        Some(_) => deepest_cause(e),
        None => e.to_string(),
    };
    if e.is_client() {
        DeliveryError::Transport {
            channel: Channel::Smtp,
            reason: format!("{target}: {reason}"),
            permanent: true,
        }
    } else if e.is_response() {
        DeliveryError::Transport {
            channel: Channel::Smtp,
            reason: format!("{target}: {reason}"),
            permanent: false,
        }
    } else {
        DeliveryError::Connect {
            channel: Channel::Smtp,
            target: target.to_owned(),
            reason,
        }
    }
}

/// Reads at most 1 KiB of an error response and keeps 200 characters of it.
async fn read_snippet(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < 1024 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(1024);
    let text = String::from_utf8_lossy(&bytes);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&one_line, 200)
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
