//! Alert destinations and the alerts of a project.

use chrono::Utc;
use serde_json::Value;

use periscope_notify::Destination;

use periscope_store::DeliveryState;
use serde::Deserialize;
use utoipa::IntoParams;

use super::views::{AlertView, DeliveryView, DestinationView};
use super::{Result, Service, ServiceError, page_limit};
use crate::config::Config;

/// Most alerts one listing returns.
pub const MAX_ALERTS: usize = 1000;

/// The delivery states alerts can be filtered by, as every door names them.
pub const DELIVERY_STATES: [&str; 3] = ["pending", "delivered", "failed"];

/// Which alerts to list. The query of `GET /api/admin/projects/{id}/alerts`; the
/// CLI builds it from its flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// Alerts returned, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Only the alerts with a delivery in this state (`pending`, `delivered` or
    /// `failed`), each with all its deliveries.
    #[param(pattern = "^(pending|delivered|failed)$")]
    pub state: Option<String>,
}

/// The delivery state named `s`.
fn delivery_state(s: &str) -> Result<DeliveryState> {
    match DeliveryState::parse(s) {
        DeliveryState::Unknown(_) => Err(ServiceError::field(
            "state",
            format!(
                "unknown delivery state {:?} (use {})",
                crate::text::shorten(s, 64),
                DELIVERY_STATES.join(", ")
            ),
        )),
        known => Ok(known),
    }
}

/// A destination to add: the JSON object the admin API takes (`{"type": ...}`,
/// see the OpenAPI document), which the CLI builds from its flags.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDestination(pub Value);

/// A webhook URL: http or https, a host name or an IPv4 address, an optional
/// port (1 to 65535), path and query (no user info, no fragment).
pub(crate) const URL_PATTERN: &str = concat!(
    r"^https?://",
    r"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])",
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?$",
);
/// The same with a host name whose last label starts with a letter.
pub(crate) const HOST_URL_PATTERN: &str = concat!(
    r"^https?://",
    r"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?$",
);
/// An email recipient: `local@domain.tld`, optionally with a name
/// (`Lead <lead@example.com>`).
pub(crate) const EMAIL_PATTERN: &str = concat!(
    r"^([A-Za-z0-9][A-Za-z0-9 _-]{0,62} <",
    r"[A-Za-z0-9_%+-]+(\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+",
    r">|",
    r"[A-Za-z0-9_%+-]+(\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+",
    r")$",
);
/// A custom header name.
pub(crate) const HEADER_NAME_PATTERN: &str = r"^[A-Za-z0-9-]{1,64}$";
/// A custom header value: visible ASCII, spaces and tabs.
pub(crate) const HEADER_VALUE_PATTERN: &str = r"^[\t\x20-\x7e]{0,1024}$";
/// Header names Periscope sets itself (any case): the notifier's list.
use periscope_notify::RESERVED_HEADERS;
/// Longest webhook URL, in characters.
pub(crate) const MAX_URL_CHARS: usize = 2048;
/// Most recipients of an email destination.
pub(crate) const MAX_RECIPIENTS: usize = 50;
/// Most custom headers of a generic webhook.
pub(crate) const MAX_HEADERS: usize = 32;

/// `abc` → `[aA][bB][cC]`: a case-insensitive pattern without flags, which every
/// JSON Schema regex dialect understands.
fn any_case(word: &str) -> String {
    word.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn reserved_pattern() -> String {
    let words: Vec<String> = RESERVED_HEADERS.iter().map(|w| any_case(w)).collect();
    format!("^({})$", words.join("|"))
}

/// The JSON Schema of a destination body: exactly what
/// [`Service::create_destination`] accepts (email only when the server can send
/// mail).
pub fn destination_schema(email: bool) -> Value {
    use serde_json::json;
    let url = json!({"type": "string", "maxLength": MAX_URL_CHARS,
        "anyOf": [{"pattern": URL_PATTERN}, {"pattern": HOST_URL_PATTERN}],
        "description": "http or https; a host name or IPv4 address, optional port, path and query."});
    let max_per_hour = json!({"type": ["integer", "null"], "minimum": 1, "maximum": 100_000,
        "description": "Alerts per hour before a summary (default 60)."});
    let shape = |kind: &str, properties: Value, required: &[&str]| {
        let mut props =
            json!({"type": {"type": "string", "enum": [kind]}, "max_per_hour": max_per_hour});
        if let (Some(p), Some(extra)) = (props.as_object_mut(), properties.as_object()) {
            p.extend(extra.clone());
        }
        let mut req = vec!["type"];
        req.extend_from_slice(required);
        json!({"type": "object", "required": req, "properties": props})
    };
    let mut shapes = Vec::new();
    if email {
        shapes.push(shape(
            "email",
            json!({"to": {"type": "array", "minItems": 1, "maxItems": MAX_RECIPIENTS,
                "items": {"type": "string", "maxLength": 254, "pattern": EMAIL_PATTERN}}}),
            &["to"],
        ));
    }
    shapes.push(shape(
        "generic_webhook",
        json!({
            "url": url,
            "secret": {"type": ["string", "null"], "description": "HMAC-SHA256 signing secret (X-Periscope-Signature)."},
            "headers": {"type": "object", "maxProperties": MAX_HEADERS,
                "propertyNames": {"pattern": HEADER_NAME_PATTERN, "not": {"pattern": reserved_pattern()}},
                "additionalProperties": {"type": "string", "pattern": HEADER_VALUE_PATTERN}}
        }),
        &["url"],
    ));
    shapes.push(shape("slack_webhook", json!({"url": url}), &["url"]));
    shapes.push(shape("discord_webhook", json!({"url": url}), &["url"]));
    shapes.push(shape("internal_logger", json!({}), &[]));
    json!({"oneOf": shapes})
}

fn matches(pattern: &str, text: &str) -> bool {
    regex::Regex::new(pattern).is_ok_and(|r| r.is_match(text))
}

/// Checks a body against [`destination_schema`]'s rules (the parts a JSON
/// parser does not check), so that the document and the code agree.
fn check_body(body: &Value) -> Result<()> {
    let bad = |m: String| Err(ServiceError::Invalid(format!("invalid destination: {m}")));
    let kind = body.get("type").and_then(Value::as_str).unwrap_or_default();
    if let Some(url) = body.get("url") {
        let url = url.as_str().unwrap_or_default();
        let webhook = matches!(
            kind,
            "generic_webhook" | "slack_webhook" | "discord_webhook"
        );
        if webhook
            && (url.chars().count() > MAX_URL_CHARS
                || !(matches(URL_PATTERN, url) || matches(HOST_URL_PATTERN, url)))
        {
            return bad(
                "url must be an http or https URL with a host name or IPv4 address (no user info, no fragment)"
                    .into(),
            );
        }
    }
    if kind == "email"
        && let Some(Value::Array(to)) = body.get("to")
    {
        if to.is_empty() || to.len() > MAX_RECIPIENTS {
            return bad(format!("email needs 1 to {MAX_RECIPIENTS} recipients"));
        }
        for address in to {
            let a = address.as_str().unwrap_or_default();
            if a.chars().count() > 254 || !matches(EMAIL_PATTERN, a) {
                return bad(format!(
                    "{:?} is not an email address (local@domain.tld or Name <local@domain.tld>)",
                    crate::text::shorten(a, 100)
                ));
            }
        }
    }
    if kind == "generic_webhook"
        && let Some(Value::Object(headers)) = body.get("headers")
    {
        if headers.len() > MAX_HEADERS {
            return bad(format!("at most {MAX_HEADERS} custom headers"));
        }
        for (name, value) in headers {
            if !matches(HEADER_NAME_PATTERN, name)
                || RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str())
            {
                return bad(format!(
                    "header {:?}: letters, digits and dashes, not one Periscope sets itself",
                    crate::text::shorten(name, 100)
                ));
            }
            if !value
                .as_str()
                .is_some_and(|v| matches(HEADER_VALUE_PATTERN, v))
            {
                return bad(format!(
                    "header {:?}: the value must be printable ASCII of at most 1024 characters",
                    crate::text::shorten(name, 100)
                ));
            }
        }
    }
    Ok(())
}

/// Builds the JSON body of a destination from command-line flags.
pub fn destination_body(
    kind: &str,
    url: Option<String>,
    to: Vec<String>,
    secret: Option<String>,
    headers: &[String],
) -> Result<serde_json::Value, String> {
    let mut body = serde_json::Map::new();
    body.insert("type".into(), kind.into());
    if let Some(url) = url {
        body.insert("url".into(), url.into());
    }
    if !to.is_empty() {
        body.insert("to".into(), to.into());
    }
    if let Some(secret) = secret {
        body.insert("secret".into(), secret.into());
    }
    if !headers.is_empty() {
        let mut map = serde_json::Map::new();
        for h in headers {
            let (k, v) = h
                .split_once(':')
                .ok_or_else(|| format!("--header {h:?}: expected `Name: value`"))?;
            map.insert(k.trim().to_owned(), v.trim().into());
        }
        body.insert("headers".into(), map.into());
    }
    Ok(body.into())
}

/// Checks a destination body (`{"type": ..., ...}`) and returns the destination.
/// Email destinations are refused when no SMTP server is configured.
pub fn validate_destination(
    config: &Config,
    body: &serde_json::Value,
) -> Result<Destination, String> {
    let mut body = body.clone();
    if let Some(obj) = body.as_object_mut() {
        obj.remove("max_per_hour");
    }
    let dest: Destination =
        serde_json::from_value(body).map_err(|e| format!("invalid destination: {e}"))?;
    dest.validate()
        .map_err(|e| format!("invalid destination: {e}"))?;
    if matches!(dest, Destination::Email { .. }) && config.smtp_url.is_none() {
        return Err(
            "email destinations need an SMTP server: set PERISCOPE_SMTP_URL and PERISCOPE_EMAIL_FROM".to_owned(),
        );
    }
    Ok(dest)
}

/// A destination's configuration for display: secrets and header values hidden,
/// URLs shown as scheme and host only (a Slack or Discord webhook's path is its
/// secret).
pub fn redacted_config(config: &serde_json::Value) -> serde_json::Value {
    let mut c = config.clone();
    if let Some(obj) = c.as_object_mut() {
        if let Some(serde_json::Value::String(url)) = obj.get_mut("url") {
            *url = crate::redact::url(url);
        }
        if obj.contains_key("secret") {
            obj.insert("secret".into(), "***".into());
        }
        if let Some(serde_json::Value::Object(headers)) = obj.get_mut("headers") {
            for v in headers.values_mut() {
                *v = "***".into();
            }
        }
    }
    c
}

impl Service {
    /// Adds an alert destination to a project.
    pub fn create_destination(
        &self,
        project_id: i64,
        body: NewDestination,
    ) -> Result<DestinationView> {
        let body = body.0;
        if !body.is_object() {
            return Err(ServiceError::invalid(
                "a destination is a JSON object with a \"type\"",
            ));
        }
        let max_per_hour = match body.get("max_per_hour") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64().or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 1e6)
                    .map(|f| f as u64)
            }) {
                Some(n @ 1..=100_000) => Some(n),
                _ => {
                    return Err(ServiceError::invalid(
                        "max_per_hour must be a whole number between 1 and 100000",
                    ));
                }
            },
        };
        check_body(&body)?;
        let dest = validate_destination(&self.config, &body).map_err(ServiceError::Invalid)?;
        let kind = dest.type_name().to_owned();
        let mut config =
            serde_json::to_value(&dest).map_err(|e| ServiceError::Internal(e.to_string()))?;
        if let (Some(n), Some(obj)) = (max_per_hour, config.as_object_mut()) {
            obj.insert("max_per_hour".into(), n.into());
        }
        self.require_project(project_id)?;
        let stored = self
            .db
            .create_destination(project_id, &kind, &config, Utc::now())?;
        Ok(DestinationView::from(&stored))
    }

    /// A project's destinations.
    pub fn list_destinations(&self, project_id: i64) -> Result<Vec<DestinationView>> {
        self.require_project(project_id)?;
        Ok(self
            .db
            .list_destinations(project_id)?
            .iter()
            .map(DestinationView::from)
            .collect())
    }

    /// Removes a destination.
    pub fn delete_destination(&self, project_id: i64, destination_id: i64) -> Result<()> {
        self.require_project(project_id)?;
        if self.db.delete_destination(project_id, destination_id)? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!(
                "no destination {destination_id} in project {project_id}"
            )))
        }
    }

    /// A project's latest alerts with their deliveries (every state; see
    /// [`Service::query_alerts`] for a filter).
    pub fn list_alerts(&self, project_id: i64, limit: Option<usize>) -> Result<Vec<AlertView>> {
        self.query_alerts(project_id, AlertQuery { limit, state: None })
    }

    /// A project's latest alerts with their deliveries, newest first; with a
    /// state, only those with a delivery in that state.
    pub fn query_alerts(&self, project_id: i64, q: AlertQuery) -> Result<Vec<AlertView>> {
        let limit = page_limit(q.limit, 100)?.min(MAX_ALERTS);
        let state = q.state.as_deref().map(delivery_state).transpose()?;
        self.require_project(project_id)?;
        Ok(self
            .db
            .list_alerts(project_id, limit, state.as_ref())?
            .iter()
            .map(AlertView::from)
            .collect())
    }

    /// "Retry now": a delivery that failed for good, or is pending (waiting
    /// for its next attempt), is attempted again as soon as the notifier next
    /// looks (within its interval), keeping its attempts and last error. A
    /// delivered one, or one being attempted right now, is a conflict.
    /// Returns the delivery as it is now.
    pub fn retry_delivery(&self, project_id: i64, delivery_id: i64) -> Result<DeliveryView> {
        self.require_project(project_id)?;
        let missing =
            || ServiceError::NotFound(format!("no delivery {delivery_id} in project {project_id}"));
        if !self
            .db
            .retry_delivery(delivery_id, project_id, Utc::now())?
        {
            return Err(missing());
        }
        self.db
            .get_delivery(project_id, delivery_id)?
            .map(|d| DeliveryView::from(&d))
            .ok_or_else(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service on an in-memory database, and the store under it.
    fn memory_service() -> (Service, periscope_store::Store) {
        let store = periscope_store::Store::open_url("sqlite::memory:").unwrap();
        let config = Config::from_lookup(&|_| None).unwrap();
        let service = Service::new(
            std::sync::Arc::new(store.clone()),
            std::sync::Arc::new(config),
        );
        (service, store)
    }

    #[test]
    fn delivery_states_are_named_and_checked() {
        assert_eq!(delivery_state("failed").unwrap(), DeliveryState::Failed);
        assert_eq!(delivery_state("pending").unwrap(), DeliveryState::Pending);
        assert_eq!(
            delivery_state("delivered").unwrap(),
            DeliveryState::Delivered
        );
        for bad in ["", "Failed", "paused"] {
            let e = delivery_state(bad).unwrap_err();
            assert_eq!(e.field_name(), Some("state"), "{bad:?}");
            assert!(e.to_string().contains("pending, delivered, failed"), "{e}");
        }
    }

    #[test]
    fn failed_deliveries_are_listed_and_retried() {
        use periscope_store::{IngestStore, NewEvent};
        let (s, store) = memory_service();
        let p = s.create_project("retry").unwrap().id;
        let other = s.create_project("other").unwrap().id;
        s.create_destination(
            p,
            NewDestination(serde_json::json!({"type": "internal_logger"})),
        )
        .unwrap();
        let now = Utc::now();
        let event = NewEvent {
            project_id: p,
            event_id: "0123456789abcdef0123456789abcdef".into(),
            grouping_key: "k".into(),
            title: "Error: x".into(),
            culprit: None,
            level: "error".into(),
            timestamp: now,
            received_at: now,
            release: None,
            environment: None,
            tags: Vec::new(),
            payload: b"{}".to_vec(),
            grouping_explanation: None,
            user: None,
        };
        store.ingest_batch(&[event], now).unwrap();
        let claimed = s
            .db()
            .claim_deliveries(now, 10, now + chrono::Duration::seconds(60))
            .unwrap();
        let id = claimed[0].delivery_id;
        // Being attempted: a conflict.
        let e = s.retry_delivery(p, id).unwrap_err();
        assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
        s.db().fail_delivery(id, now, "refused", None).unwrap();

        let failed = s
            .query_alerts(
                p,
                AlertQuery {
                    limit: None,
                    state: Some("failed".into()),
                },
            )
            .unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].deliveries[0].id, id);
        assert_eq!(failed[0].deliveries[0].alert_id, failed[0].id);
        let none = s
            .query_alerts(
                p,
                AlertQuery {
                    limit: None,
                    state: Some("pending".into()),
                },
            )
            .unwrap();
        assert!(none.is_empty());
        let e = s
            .query_alerts(
                p,
                AlertQuery {
                    limit: None,
                    state: Some("lost".into()),
                },
            )
            .unwrap_err();
        assert_eq!(e.field_name(), Some("state"));

        let d = s.retry_delivery(p, id).unwrap();
        assert_eq!((d.id, d.state.as_str(), d.attempts), (id, "pending", 1));
        assert_eq!(d.last_error.as_deref(), Some("refused"));
        assert!(d.next_attempt_at.is_some());
        // Unknown here: another project's, no such delivery, no such project.
        for (project, delivery) in [(other, id), (p, 987_654), (987_654, id)] {
            let e = s.retry_delivery(project, delivery).unwrap_err();
            assert!(matches!(e, ServiceError::NotFound(_)), "{e:?}");
        }
        // Delivered: a conflict.
        let claimed = s
            .db()
            .claim_deliveries(Utc::now(), 10, Utc::now() + chrono::Duration::seconds(60))
            .unwrap();
        assert_eq!(claimed[0].attempt, 2);
        s.db().complete_delivery(id, Utc::now()).unwrap();
        let e = s.retry_delivery(p, id).unwrap_err();
        assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
        assert!(e.to_string().contains("delivered"), "{e}");
    }

    #[test]
    fn webhook_urls() {
        for good in [
            "http://127.0.0.1:43567/hook",
            "https://hooks.slack.com/services/T000/B000/XXXX",
            "https://discord.com/api/webhooks/1/abc?wait=true",
            "http://localhost:65535/",
            "http://example.com",
        ] {
            assert!(
                matches(URL_PATTERN, good) || matches(HOST_URL_PATTERN, good),
                "{good}"
            );
        }
        for bad in [
            "ftp://example.com/",
            "http://user:pw@example.com/",
            "http://example.com:65536/",
            "http://example.com/#frag",
            "http://",
            "http://999.1.1.1/",
        ] {
            assert!(
                !(matches(URL_PATTERN, bad) || matches(HOST_URL_PATTERN, bad)),
                "{bad}"
            );
        }
    }

    #[test]
    fn recipients_and_headers() {
        assert!(matches(EMAIL_PATTERN, "oncall@example.com"));
        assert!(matches(EMAIL_PATTERN, "Lead <lead@example.com>"));
        assert!(!matches(EMAIL_PATTERN, "Lead<lead@example.com>"));
        assert!(!matches(EMAIL_PATTERN, ".x@example.com"));
        assert!(!matches(EMAIL_PATTERN, "x@localhost"));
        assert!(matches(HEADER_NAME_PATTERN, "X-Team"));
        assert!(!matches(HEADER_NAME_PATTERN, "X Team"));
        assert!(matches(&reserved_pattern(), "Content-TYPE"));
        assert!(!matches(&reserved_pattern(), "X-Content-Type"));
        assert!(matches(HEADER_VALUE_PATTERN, "core\tteam"));
        assert!(!matches(HEADER_VALUE_PATTERN, "line\nbreak"));
    }

    #[test]
    fn bodies_from_flags() {
        let b = destination_body(
            "generic_webhook",
            Some("https://hooks.example/x".into()),
            vec![],
            Some("s3cret".into()),
            &["X-Team: core".into()],
        )
        .unwrap();
        assert_eq!(b["type"], "generic_webhook");
        assert_eq!(b["headers"]["X-Team"], "core");
        let shown = redacted_config(&b);
        assert_eq!(shown["url"], "https://hooks.example/…");
        assert_eq!(shown["secret"], "***");
        assert_eq!(shown["headers"]["X-Team"], "***");
        assert!(
            destination_body("generic_webhook", None, vec![], None, &["nocolon".into()]).is_err()
        );
    }
}
