//! Where alerts go: [`Destination`] (per project, stored by the server) and
//! [`SmtpConfig`] (one per server, used by every email destination).

use std::collections::BTreeMap;
use std::fmt;

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Most recipients one email destination may have.
pub const MAX_EMAIL_RECIPIENTS: usize = 50;
/// Most custom headers one generic webhook may have.
pub const MAX_CUSTOM_HEADERS: usize = 32;
/// Longest accepted webhook URL, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// Header names a generic webhook configuration may not set: they are owned by
/// the HTTP client or by the signature scheme (lower case; compare in any case).
pub const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "connection",
    "transfer-encoding",
    "x-periscope-signature",
    "x-periscope-timestamp",
];

/// One configured alert destination.
///
/// Serialized with a `type` tag, as the admin API accepts it:
///
/// ```json
/// {"type": "email", "to": ["oncall@example.com"]}
/// {"type": "generic_webhook", "url": "https://example.com/hook", "headers": {"X-Team": "web"}, "secret": "s3cret"}
/// {"type": "slack_webhook", "url": "https://hooks.slack.com/services/..."}
/// {"type": "discord_webhook", "url": "https://discord.com/api/webhooks/..."}
/// {"type": "internal_logger"}
/// ```
///
/// Unknown fields are ignored; an unknown `type` is an error. Call
/// [`Destination::validate`] before storing one. `Debug` output hides the
/// webhook secret, custom header values and the secret path of Slack and
/// Discord URLs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Destination {
    /// Email to these addresses, through the server's [`SmtpConfig`].
    Email {
        /// Recipient addresses (`a@b.c` or `Name <a@b.c>`).
        to: Vec<String>,
    },
    /// A POST of the versioned JSON body (see the README) to any URL.
    GenericWebhook {
        /// The http(s) URL.
        url: String,
        /// Extra headers sent with every request.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        /// When set, the body is signed: `X-Periscope-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    /// A Slack incoming webhook (`text` + `blocks`).
    SlackWebhook {
        /// The incoming-webhook URL.
        url: String,
    },
    /// A Discord webhook (`content` + `embeds`).
    DiscordWebhook {
        /// The webhook URL.
        url: String,
    },
    /// A structured `tracing` log line at WARN level (target `periscope_notify`).
    InternalLogger,
}

impl Destination {
    /// The `type` tag of this destination (`email`, `generic_webhook`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Destination::Email { .. } => "email",
            Destination::GenericWebhook { .. } => "generic_webhook",
            Destination::SlackWebhook { .. } => "slack_webhook",
            Destination::DiscordWebhook { .. } => "discord_webhook",
            Destination::InternalLogger => "internal_logger",
        }
    }

    /// Checks that the destination can work: addresses parse, URLs are absolute
    /// http(s) URLs, headers are valid and not reserved, sizes are bounded.
    ///
    /// It does not resolve host names; the SSRF check happens at delivery time.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Destination::Email { to } => {
                if to.is_empty() || to.len() > MAX_EMAIL_RECIPIENTS {
                    return Err(ConfigError::Recipients {
                        got: to.len(),
                        max: MAX_EMAIL_RECIPIENTS,
                    });
                }
                for address in to {
                    parse_mailbox(address)?;
                }
                Ok(())
            }
            Destination::GenericWebhook { url, headers, .. } => {
                parse_webhook_url(url)?;
                if headers.len() > MAX_CUSTOM_HEADERS {
                    return Err(ConfigError::Header {
                        name: format!("({} headers)", headers.len()),
                        reason: format!("at most {MAX_CUSTOM_HEADERS} custom headers"),
                    });
                }
                for (name, value) in headers {
                    parse_header(name, value)?;
                }
                Ok(())
            }
            Destination::SlackWebhook { url } | Destination::DiscordWebhook { url } => {
                parse_webhook_url(url).map(|_| ())
            }
            Destination::InternalLogger => Ok(()),
        }
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Email { to } => f.debug_struct("Email").field("to", to).finish(),
            Destination::GenericWebhook {
                url,
                headers,
                secret,
            } => f
                .debug_struct("GenericWebhook")
                .field("url", &display_target(url, true))
                .field("headers", &headers.keys().collect::<Vec<_>>())
                .field("secret", &secret.as_ref().map(|_| "<redacted>"))
                .finish(),
            Destination::SlackWebhook { url } => f
                .debug_struct("SlackWebhook")
                .field("url", &display_target(url, false))
                .finish(),
            Destination::DiscordWebhook { url } => f
                .debug_struct("DiscordWebhook")
                .field("url", &display_target(url, false))
                .finish(),
            Destination::InternalLogger => f.write_str("InternalLogger"),
        }
    }
}

/// Parses an address the way email delivery will.
pub(crate) fn parse_mailbox(address: &str) -> Result<lettre::message::Mailbox, ConfigError> {
    address
        .trim()
        .parse::<lettre::message::Mailbox>()
        .map_err(|e| ConfigError::EmailAddress {
            address: truncate(address, 200),
            reason: e.to_string(),
        })
}

/// Parses and checks a webhook URL (absolute, http or https, with a host, bounded).
pub(crate) fn parse_webhook_url(url: &str) -> Result<Url, ConfigError> {
    let bad = |reason: &str| ConfigError::Url {
        url: display_target(url, true),
        reason: reason.to_owned(),
    };
    if url.len() > MAX_URL_LEN {
        return Err(bad(&format!("longer than {MAX_URL_LEN} bytes")));
    }
    let parsed = Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(bad("only http and https URLs are accepted"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("the URL has no host"));
    }
    Ok(parsed)
}

/// Parses one custom header, refusing reserved names.
pub(crate) fn parse_header(
    name: &str,
    value: &str,
) -> Result<(HeaderName, HeaderValue), ConfigError> {
    let bad = |reason: String| ConfigError::Header {
        name: truncate(name, 100),
        reason,
    };
    let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
    if RESERVED_HEADERS.contains(&header_name.as_str()) {
        return Err(bad("this header is set by Periscope itself".to_owned()));
    }
    let header_value = HeaderValue::from_str(value).map_err(|e| bad(e.to_string()))?;
    Ok((header_name, header_value))
}

/// A URL as shown in messages and logs: no user info and no query; with
/// `keep_path == false` the path is replaced by `/…` (Slack and Discord keep
/// their secret token in the path). Unparseable input is shown truncated.
pub fn display_target(url: &str, keep_path: bool) -> String {
    match Url::parse(url) {
        Ok(parsed) => {
            let host = parsed.host_str().unwrap_or("");
            let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
            let path = if keep_path {
                parsed.path().to_owned()
            } else if parsed.path().len() > 1 {
                "/…".to_owned()
            } else {
                String::new()
            };
            format!("{}://{host}{port}{path}", parsed.scheme())
        }
        Err(_) => truncate(url, 60),
    }
}

pub(crate) fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmtpTls {
    /// TLS from the first byte (`smtps://`, port 465 by default).
    Implicit,
    /// Plain connection upgraded with STARTTLS, which the server must offer
    /// (`smtp://`, the default, or `?tls=starttls`; port 587 by default).
    StartTls,
    /// STARTTLS when the server offers it, plain otherwise (`?tls=opportunistic`).
    /// Open to a man in the middle; for legacy relays only.
    Opportunistic,
    /// No encryption at all (`?tls=none`, port 25 by default): for a relay on
    /// the same host or in tests.
    None,
}

/// The outgoing mail server, shared by every email destination.
///
/// The URL form: `smtp://user:pass@host:port?tls=starttls|opportunistic|none`
/// or `smtps://user:pass@host:port`. User and password are optional and
/// percent-decoded; a path segment sets the EHLO name
/// (`smtp://host/mail.example.com`). **Note:** unlike some libraries, a bare
/// `smtp://` URL here means STARTTLS *required*; plain text must be asked for
/// with `?tls=none`.
///
/// `Debug` hides the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpConfig {
    /// The connection URL (see the type docs).
    pub url: String,
    /// The sender, `alerts@example.com` or `Periscope <alerts@example.com>`.
    pub from: String,
}

/// The parts of an [`SmtpConfig`] URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SmtpTarget {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: SmtpTls,
    pub(crate) credentials: Option<(String, String)>,
    pub(crate) hello_name: Option<String>,
}

impl SmtpConfig {
    /// A configuration from a URL and a sender address.
    pub fn new(url: impl Into<String>, from: impl Into<String>) -> SmtpConfig {
        SmtpConfig {
            url: url.into(),
            from: from.into(),
        }
    }

    /// Checks the URL and the sender address; returns the TLS mode, host and port.
    pub fn validate(&self) -> Result<(SmtpTls, String, u16), ConfigError> {
        parse_mailbox(&self.from)?;
        let target = self.target()?;
        Ok((target.tls, target.host, target.port))
    }

    pub(crate) fn target(&self) -> Result<SmtpTarget, ConfigError> {
        let url = Url::parse(&self.url).map_err(|e| ConfigError::SmtpUrl(e.to_string()))?;
        let tls_param = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.to_ascii_lowercase());
        let tls = match (url.scheme(), tls_param.as_deref()) {
            ("smtps", None | Some("implicit" | "tls" | "wrapper")) => SmtpTls::Implicit,
            ("smtp", None | Some("starttls" | "required")) => SmtpTls::StartTls,
            ("smtp", Some("opportunistic")) => SmtpTls::Opportunistic,
            ("smtp", Some("none" | "plain")) => SmtpTls::None,
            (scheme @ ("smtp" | "smtps"), Some(other)) => {
                return Err(ConfigError::SmtpUrl(format!(
                    "unknown tls={other:?} for {scheme}://"
                )));
            }
            (other, _) => {
                return Err(ConfigError::SmtpUrl(format!("unknown scheme {other:?}")));
            }
        };
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']').to_owned(),
            _ => return Err(ConfigError::SmtpUrl("no host".to_owned())),
        };
        let port = url.port().unwrap_or(match tls {
            SmtpTls::Implicit => 465,
            SmtpTls::StartTls | SmtpTls::Opportunistic => 587,
            SmtpTls::None => 25,
        });
        let credentials = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let user = percent_decode(url.username())
                .ok_or_else(|| ConfigError::SmtpUrl("user name is not valid UTF-8".into()))?;
            let pass = percent_decode(url.password().unwrap_or(""))
                .ok_or_else(|| ConfigError::SmtpUrl("password is not valid UTF-8".into()))?;
            Some((user, pass))
        };
        let path = url.path().trim_matches('/');
        let hello_name = (!path.is_empty()).then(|| path.to_owned());
        Ok(SmtpTarget {
            host,
            port,
            tls,
            credentials,
            hello_name,
        })
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match Url::parse(&self.url) {
            Ok(mut url) => {
                if url.password().is_some() {
                    // Cannot fail for URLs that already have a host.
                    let _ = url.set_password(Some("redacted"));
                }
                url.to_string()
            }
            Err(_) => "<unparseable>".to_owned(),
        };
        f.debug_struct("SmtpConfig")
            .field("url", &shown)
            .field("from", &self.from)
            .finish()
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_use_the_admin_api_type_names() {
        let cases = [
            (r#"{"type":"email","to":["a@example.com"]}"#, "email"),
            (
                r#"{"type":"generic_webhook","url":"https://example.com/h","headers":{"X-A":"1"},"secret":"s"}"#,
                "generic_webhook",
            ),
            (
                r#"{"type":"slack_webhook","url":"https://hooks.slack.com/services/T/B/X"}"#,
                "slack_webhook",
            ),
            (
                r#"{"type":"discord_webhook","url":"https://discord.com/api/webhooks/1/x"}"#,
                "discord_webhook",
            ),
            (r#"{"type":"internal_logger"}"#, "internal_logger"),
        ];
        for (json, name) in cases {
            let d: Destination = serde_json::from_str(json).unwrap();
            assert_eq!(d.type_name(), name);
            d.validate().unwrap();
            let back = serde_json::to_value(&d).unwrap();
            assert_eq!(back["type"], name);
            let again: Destination = serde_json::from_value(back).unwrap();
            assert_eq!(again, d);
        }
        assert!(serde_json::from_str::<Destination>(r#"{"type":"pager"}"#).is_err());
    }

    #[test]
    fn generic_webhook_defaults() {
        let d: Destination = serde_json::from_str(
            r#"{"type":"generic_webhook","url":"http://x.example/h","extra":1}"#,
        )
        .unwrap();
        assert_eq!(
            d,
            Destination::GenericWebhook {
                url: "http://x.example/h".into(),
                headers: BTreeMap::new(),
                secret: None
            }
        );
    }

    #[test]
    fn validation_rejects_bad_configurations() {
        let bad = [
            Destination::Email { to: vec![] },
            Destination::Email {
                to: vec!["not an address".into()],
            },
            Destination::SlackWebhook {
                url: "ftp://example.com/x".into(),
            },
            Destination::DiscordWebhook {
                url: "/relative".into(),
            },
            Destination::GenericWebhook {
                url: "https://example.com".into(),
                headers: [("Content-Type".to_owned(), "text/plain".to_owned())].into(),
                secret: None,
            },
            Destination::GenericWebhook {
                url: "https://example.com".into(),
                headers: [("X-Ok".to_owned(), "line\nbreak".to_owned())].into(),
                secret: None,
            },
        ];
        for d in bad {
            assert!(d.validate().is_err(), "{d:?} should be rejected");
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let d = Destination::GenericWebhook {
            url: "https://user:pw@example.com/hook?token=abc".into(),
            headers: [("Authorization".to_owned(), "Bearer xyz".to_owned())].into(),
            secret: Some("s3cret".into()),
        };
        let shown = format!("{d:?}");
        for secret in ["pw", "abc", "xyz", "s3cret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let slack = Destination::SlackWebhook {
            url: "https://hooks.slack.com/services/T0/B0/TOKEN".into(),
        };
        assert!(!format!("{slack:?}").contains("TOKEN"));
        let smtp = SmtpConfig::new("smtp://u:hunter2@mail.example.com:587", "a@example.com");
        assert!(!format!("{smtp:?}").contains("hunter2"));
    }

    #[test]
    fn smtp_urls() {
        let t = SmtpConfig::new("smtp://mail.example.com", "a@example.com")
            .target()
            .unwrap();
        assert_eq!(
            (t.tls, t.port, t.credentials),
            (SmtpTls::StartTls, 587, None)
        );
        let t = SmtpConfig::new("smtps://u%40x:p%2Fw@mail.example.com", "a@example.com")
            .target()
            .unwrap();
        assert_eq!(t.tls, SmtpTls::Implicit);
        assert_eq!(t.port, 465);
        assert_eq!(t.credentials, Some(("u@x".into(), "p/w".into())));
        let t = SmtpConfig::new(
            "smtp://127.0.0.1:2525/ehlo.example?tls=none",
            "a@example.com",
        )
        .target()
        .unwrap();
        assert_eq!((t.tls, t.port), (SmtpTls::None, 2525));
        assert_eq!(t.hello_name.as_deref(), Some("ehlo.example"));
        let t = SmtpConfig::new("smtp://h?tls=opportunistic", "a@example.com")
            .target()
            .unwrap();
        assert_eq!(t.tls, SmtpTls::Opportunistic);
        assert!(
            SmtpConfig::new("http://h", "a@example.com")
                .validate()
                .is_err()
        );
        assert!(
            SmtpConfig::new("smtp://h?tls=maybe", "a@example.com")
                .validate()
                .is_err()
        );
        assert!(SmtpConfig::new("smtp://h", "nobody").validate().is_err());
    }
}
