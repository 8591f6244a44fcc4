//! Webhooks: [`WebhookNotifier`] for the generic JSON webhook, Slack and Discord.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};

use crate::alert::Alert;
use crate::destination::{Destination, display_target, parse_header, parse_webhook_url, truncate};
use crate::dispatch::{DispatcherConfig, Notifier, deepest_cause, wrong_destination};
use crate::error::{Channel, ConfigError, DeliveryError};
use crate::format;
use crate::ssrf::{self, ResolveFailure};

/// Sends [`Destination::GenericWebhook`], [`Destination::SlackWebhook`] and
/// [`Destination::DiscordWebhook`] alerts: a JSON `POST` each, differing only
/// in the body (see [`crate::format`]). One HTTP client with its connection
/// pool; redirects are not followed, proxies from the environment are not
/// used, and non-public targets are refused unless allowed.
#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    http: reqwest::Client,
    allow_private: bool,
    timeout: Duration,
    allow_private_hint: String,
}

impl WebhookNotifier {
    /// Builds the HTTP client from `allow_private_targets`, `timeout` and
    /// `user_agent` of the configuration (`smtp` is not used).
    pub fn new(config: &DispatcherConfig) -> Result<WebhookNotifier, ConfigError> {
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
        Ok(WebhookNotifier {
            http,
            allow_private: config.allow_private_targets,
            timeout: config.timeout,
            allow_private_hint: config.allow_private_hint.clone(),
        })
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
            let checked =
                tokio::time::timeout(self.timeout, ssrf::resolve_checked(host, port, false))
                    .await
                    .unwrap_or_else(|_| {
                        Err(ResolveFailure::Lookup("DNS lookup timed out".to_owned()))
                    });
            match checked {
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
                                "{ip} is not a public address ({} to allow internal targets)",
                                self.allow_private_hint
                            )
                        } else {
                            format!(
                                "{host} resolves to the non-public address {ip} ({} to allow internal targets)",
                                self.allow_private_hint
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

    async fn send_generic(
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

impl Notifier for WebhookNotifier {
    async fn deliver(&self, alert: &Alert, destination: &Destination) -> Result<(), DeliveryError> {
        match destination {
            Destination::GenericWebhook {
                url,
                headers,
                secret,
            } => {
                self.send_generic(alert, url, headers, secret.as_deref())
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
            other => Err(wrong_destination(Channel::Webhook, other)),
        }
    }
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
