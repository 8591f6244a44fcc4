//! Email over SMTP: [`EmailNotifier`].

use std::error::Error as StdError;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::alert::Alert;
use crate::destination::{Destination, SmtpConfig, SmtpTls, parse_mailbox, truncate};
use crate::dispatch::{Notifier, deepest_cause, wrong_destination};
use crate::error::{Channel, ConfigError, DeliveryError};
use crate::format;

/// Sends [`Destination::Email`] alerts through one SMTP server: a
/// multipart message with a plain-text and an HTML body. Each delivery opens
/// one connection; the whole conversation is bounded by the timeout.
pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    target: String,
    timeout: Duration,
}

impl std::fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("server", &self.target)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl EmailNotifier {
    /// Builds the SMTP transport (no connection is made yet). Fails on a bad
    /// URL or sender address.
    pub fn new(config: &SmtpConfig, timeout: Duration) -> Result<EmailNotifier, ConfigError> {
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
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(target.host.clone())
                .port(target.port)
                .tls(tls)
                .timeout(Some(timeout));
        if let Some((user, pass)) = target.credentials.clone() {
            builder = builder.credentials(Credentials::new(user, pass));
        }
        if let Some(name) = target.hello_name.clone() {
            builder = builder.hello_name(ClientId::Domain(name));
        }
        Ok(EmailNotifier {
            transport: builder.build(),
            from,
            target: format!("{}:{}", target.host, target.port),
            timeout,
        })
    }

    /// Sends one plain-text message (not an alert: an account invitation, say)
    /// to one recipient, through the same server and within the same timeout.
    pub async fn send_text(
        &self,
        to: &str,
        subject: &str,
        body: &str,
    ) -> Result<(), DeliveryError> {
        let misconfigured = |reason: String| DeliveryError::Misconfigured {
            channel: Channel::Smtp,
            reason,
        };
        let mailbox = parse_mailbox(to).map_err(|e| misconfigured(e.to_string()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(mailbox)
            .subject(truncate(subject, 200))
            .body(body.to_owned())
            .map_err(|e| misconfigured(format!("cannot build the message: {e}")))?;
        self.transmit(message).await
    }

    async fn transmit(&self, message: Message) -> Result<(), DeliveryError> {
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Err(_) => Err(DeliveryError::Timeout {
                channel: Channel::Smtp,
                target: self.target.clone(),
                after: self.timeout,
            }),
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(smtp_error(&e, &self.target, self.timeout)),
        }
    }

    async fn send(&self, alert: &Alert, to: &[String]) -> Result<(), DeliveryError> {
        let misconfigured = |reason: String| DeliveryError::Misconfigured {
            channel: Channel::Smtp,
            reason,
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
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
        self.transmit(message).await
    }
}

impl Notifier for EmailNotifier {
    async fn deliver(&self, alert: &Alert, destination: &Destination) -> Result<(), DeliveryError> {
        match destination {
            Destination::Email { to } => self.send(alert, to).await,
            other => Err(wrong_destination(Channel::Smtp, other)),
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
