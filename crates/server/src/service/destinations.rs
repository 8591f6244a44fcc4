//! Alert destinations and the alerts of a project.

use chrono::Utc;
use serde_json::Value;

use periscope_notify::Destination;

use periscope_store::{DeliveryId, DeliveryState, DestinationId, ProjectId};
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
/// parser does not check), so that the document and the code agree. Each
/// refusal is a field error on the field at fault.
fn check_body(body: &Value) -> Result<()> {
    let bad = |field: &'static str, m: String| {
        Err(ServiceError::field(
            field,
            format!("invalid destination: {m}"),
        ))
    };
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
                "url",
                "url must be an http or https URL with a host name or IPv4 address (no user info, no fragment)"
                    .into(),
            );
        }
    }
    if kind == "email"
        && let Some(Value::Array(to)) = body.get("to")
    {
        if to.is_empty() || to.len() > MAX_RECIPIENTS {
            return bad(
                "to",
                format!("email needs 1 to {MAX_RECIPIENTS} recipients"),
            );
        }
        for address in to {
            let a = address.as_str().unwrap_or_default();
            if a.chars().count() > 254 || !matches(EMAIL_PATTERN, a) {
                return bad(
                    "to",
                    format!(
                        "{:?} is not an email address (local@domain.tld or Name <local@domain.tld>)",
                        crate::text::shorten(a, 100)
                    ),
                );
            }
        }
    }
    if kind == "generic_webhook"
        && let Some(Value::Object(headers)) = body.get("headers")
    {
        if headers.len() > MAX_HEADERS {
            return bad("headers", format!("at most {MAX_HEADERS} custom headers"));
        }
        for (name, value) in headers {
            if !matches(HEADER_NAME_PATTERN, name)
                || RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str())
            {
                return bad(
                    "headers",
                    format!(
                        "header {:?}: letters, digits and dashes, not one Periscope sets itself",
                        crate::text::shorten(name, 100)
                    ),
                );
            }
            if !value
                .as_str()
                .is_some_and(|v| matches(HEADER_VALUE_PATTERN, v))
            {
                return bad(
                    "headers",
                    format!(
                        "header {:?}: the value must be printable ASCII of at most 1024 characters",
                        crate::text::shorten(name, 100)
                    ),
                );
            }
        }
    }
    Ok(())
}

/// The per-hour cap of a body (`None`: absent or `null`, the notifier's
/// default).
fn max_per_hour(body: &Value) -> Result<Option<u64>> {
    match body.get("max_per_hour") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 1e6)
                .map(|f| f as u64)
        }) {
            Some(n @ 1..=100_000) => Ok(Some(n)),
            _ => Err(ServiceError::field(
                "max_per_hour",
                "max_per_hour must be a whole number between 1 and 100000",
            )),
        },
    }
}

/// The host of a webhook URL when it names a private, loopback, link-local or
/// otherwise non-public address literally (an IP address, `localhost` or a
/// `*.localhost` name), without resolving anything: names that resolve to
/// such addresses are refused at delivery time by the notifier's own check.
pub(crate) fn private_target(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return (!periscope_notify::is_public_ip(ip)).then(|| host.to_owned());
    }
    let name = bare.trim_end_matches('.').to_ascii_lowercase();
    (name == "localhost" || name.ends_with(".localhost")).then(|| host.to_owned())
}

/// The fields a change may carry.
const CHANGE_FIELDS: [&str; 6] = ["type", "url", "to", "secret", "headers", "max_per_hour"];

/// The placeholder the views show instead of a secret: sent back in a change,
/// it keeps the stored value (so a form or a script may send back what it read).
const REDACTED: &str = "***";

/// Whether a write-only value in a change means "keep what is stored": blank or
/// the placeholder.
fn keeps(value: &str) -> bool {
    value.trim().is_empty() || value == REDACTED
}

/// A change to a destination: the JSON object `PATCH
/// /api/admin/projects/{id}/destinations/{destination_id}` takes (see
/// [`destination_change_schema`]), which the CLI builds from its flags.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationChange(pub Value);

/// The JSON Schema of a destination change: exactly the shapes
/// [`Service::update_destination`] accepts (whether a field fits the stored
/// destination's type is known only then: a 409 when it does not).
pub fn destination_change_schema(email: bool) -> Value {
    use serde_json::json;
    let mut kinds = vec![
        "generic_webhook",
        "slack_webhook",
        "discord_webhook",
        "internal_logger",
    ];
    if email {
        kinds.insert(0, "email");
    }
    let mut properties = json!({
        "type": {"type": "string", "enum": kinds,
            "description": "The destination's type, if given: it cannot change (409 if it differs)."},
        "url": {"type": "string", "maxLength": MAX_URL_CHARS,
            "anyOf": [{"pattern": URL_PATTERN}, {"pattern": HOST_URL_PATTERN}, {"pattern": "^$"}],
            "description": "Webhook types: the new URL; empty keeps the stored one."},
        "secret": {"type": ["string", "null"],
            "description": "generic_webhook: the new signing secret (write-only); empty, blank or \"***\" keeps the stored one, null removes it."},
        "headers": {"type": ["object", "null"], "maxProperties": MAX_HEADERS,
            "propertyNames": {"pattern": HEADER_NAME_PATTERN, "not": {"pattern": reserved_pattern()}},
            "additionalProperties": {"type": "string", "pattern": HEADER_VALUE_PATTERN},
            "description": "generic_webhook: the headers from now on (those left out are removed); a value that is blank or \"***\" keeps that header's stored value (write-only; 409 for a header with none). null removes them all."},
        "max_per_hour": {"type": ["integer", "null"], "minimum": 1, "maximum": 100_000,
            "description": "Alerts per hour before a summary; null: the default (60)."}
    });
    if email && let Some(p) = properties.as_object_mut() {
        p.insert(
            "to".into(),
            json!({"type": "array", "minItems": 1, "maxItems": MAX_RECIPIENTS,
                "items": {"type": "string", "maxLength": 254, "pattern": EMAIL_PATTERN},
                "description": "email: the recipients from now on."}),
        );
    }
    json!({"type": "object", "additionalProperties": false, "properties": properties,
        "description": "Fields left out keep their stored value. A field the destination's type does not have is a 409."})
}

/// The body of the destination `stored` after `change` (see
/// [`destination_change_schema`]): the shapes are checked here (400), whether
/// the change fits the stored destination too (409); the values are checked
/// afterwards like a new destination's.
fn merge_change(
    stored: &periscope_store::Destination,
    change: &serde_json::Map<String, Value>,
) -> Result<Value> {
    let kind = stored.kind.as_str();
    let conflict = |m: String| Err(ServiceError::Conflict(m));
    let shape = |field: &'static str, what: &str| {
        Err(ServiceError::field(
            field,
            format!("invalid change: {field} must be {what}"),
        ))
    };
    // Shapes first, for every field (a malformed change is a 400 whatever it
    // asks).
    for (key, value) in change {
        let ok = match key.as_str() {
            "type" | "url" => value.is_string(),
            "to" => value.is_array(),
            "secret" => value.is_string() || value.is_null(),
            "headers" => {
                value.is_null()
                    || value.as_object().is_some_and(|h| {
                        h.values()
                            .all(|v| v.as_str().is_some_and(|v| matches(HEADER_VALUE_PATTERN, v)))
                    })
            }
            "max_per_hour" => value.is_number() || value.is_null(),
            other => {
                return Err(ServiceError::invalid(format!(
                    "invalid change: unknown field {:?} (a change takes {})",
                    crate::text::shorten(other, 64),
                    CHANGE_FIELDS.join(", ")
                )));
            }
        };
        if !ok {
            let (field, what) = match key.as_str() {
                "type" => ("type", "a string"),
                "url" => ("url", "a string"),
                "to" => ("to", "a list of addresses"),
                "secret" => ("secret", "a string or null"),
                "headers" => (
                    "headers",
                    "an object of header values (printable ASCII, at most 1024 characters), or null",
                ),
                _ => ("max_per_hour", "a whole number or null"),
            };
            return shape(field, what);
        }
    }
    let fields: &[&str] = match kind {
        "email" => &["to"],
        "generic_webhook" => &["url", "secret", "headers"],
        "slack_webhook" | "discord_webhook" => &["url"],
        _ => &[],
    };
    let mut out = stored.config.as_object().cloned().unwrap_or_default();
    out.insert("type".into(), kind.into());
    for (key, value) in change {
        match key.as_str() {
            "type" => {
                if value.as_str() != Some(kind) {
                    return conflict(format!(
                        "destination {} is a {kind}: its type cannot change (add another destination instead)",
                        stored.id
                    ));
                }
            }
            "max_per_hour" => {
                if value.is_null() {
                    out.remove("max_per_hour");
                } else {
                    out.insert(key.clone(), value.clone());
                }
            }
            field if !fields.contains(&field) => {
                return conflict(format!(
                    "destination {} is a {kind}, which has no {field}",
                    stored.id
                ));
            }
            "url" => {
                if let Some(url) = value.as_str()
                    && !url.is_empty()
                {
                    out.insert(key.clone(), value.clone());
                }
            }
            "to" => {
                out.insert(key.clone(), value.clone());
            }
            "secret" => match value.as_str() {
                None => {
                    out.remove("secret");
                }
                Some(s) if keeps(s) => {}
                Some(_) => {
                    out.insert(key.clone(), value.clone());
                }
            },
            _ => {
                // headers
                let Some(given) = value.as_object() else {
                    out.remove("headers");
                    continue;
                };
                let before = out.get("headers").and_then(Value::as_object).cloned();
                let mut headers = serde_json::Map::new();
                for (name, v) in given {
                    let v = v.as_str().unwrap_or_default();
                    if keeps(v) {
                        let kept = before.as_ref().and_then(|b| {
                            b.get(name).or_else(|| {
                                b.iter()
                                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                                    .map(|(_, v)| v)
                            })
                        });
                        match kept {
                            Some(old) => {
                                headers.insert(name.clone(), old.clone());
                            }
                            None => {
                                return conflict(format!(
                                    "header {:?} has no stored value to keep: give its value",
                                    crate::text::shorten(name, 100)
                                ));
                            }
                        }
                    } else {
                        headers.insert(name.clone(), v.into());
                    }
                }
                out.insert("headers".into(), headers.into());
            }
        }
    }
    Ok(out.into())
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

/// What the CLI's `destination update` flags ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFlags {
    /// A new webhook URL.
    pub url: Option<String>,
    /// New email recipients (replacing them all).
    pub to: Vec<String>,
    /// A new webhook secret.
    pub secret: Option<String>,
    /// Remove the webhook secret.
    pub no_secret: bool,
    /// The headers from now on, `Name: value` (an empty value keeps that
    /// header's stored value).
    pub headers: Vec<String>,
    /// Remove every custom header.
    pub no_headers: bool,
    /// A new per-hour cap.
    pub max_per_hour: Option<u64>,
    /// Back to the default per-hour cap.
    pub default_max_per_hour: bool,
}

/// Builds the JSON body of a destination change from command-line flags.
pub fn destination_change_body(flags: ChangeFlags) -> Result<serde_json::Value, String> {
    let mut body = serde_json::Map::new();
    if let Some(url) = flags.url {
        body.insert("url".into(), url.into());
    }
    if !flags.to.is_empty() {
        body.insert("to".into(), flags.to.into());
    }
    match (flags.secret, flags.no_secret) {
        (Some(_), true) => return Err("--secret and --no-secret exclude each other".into()),
        (Some(secret), false) => {
            body.insert("secret".into(), secret.into());
        }
        (None, true) => {
            body.insert("secret".into(), Value::Null);
        }
        (None, false) => {}
    }
    match (flags.headers.is_empty(), flags.no_headers) {
        (false, true) => return Err("--header and --no-headers exclude each other".into()),
        (true, true) => {
            body.insert("headers".into(), Value::Null);
        }
        (false, false) => {
            let mut map = serde_json::Map::new();
            for h in &flags.headers {
                let (k, v) = h.split_once(':').ok_or_else(|| {
                    format!("--header {h:?}: expected `Name: value` (or `Name:` to keep its value)")
                })?;
                map.insert(k.trim().to_owned(), v.trim().into());
            }
            body.insert("headers".into(), map.into());
        }
        (true, false) => {}
    }
    match (flags.max_per_hour, flags.default_max_per_hour) {
        (Some(_), true) => {
            return Err("--max-per-hour and --default-max-per-hour exclude each other".into());
        }
        (Some(n), false) => {
            body.insert("max_per_hour".into(), n.into());
        }
        (None, true) => {
            body.insert("max_per_hour".into(), Value::Null);
        }
        (None, false) => {}
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
    /// The destination a body describes, checked (shapes, values, and the
    /// target: a literal private address is refused unless
    /// `PERISCOPE_ALLOW_PRIVATE_WEBHOOKS` is set): its kind and the config to
    /// store.
    fn checked_destination(&self, body: &Value) -> Result<(String, Value)> {
        if !body.is_object() {
            return Err(ServiceError::invalid(
                "a destination is a JSON object with a \"type\"",
            ));
        }
        let max_per_hour = max_per_hour(body)?;
        check_body(body)?;
        let dest = validate_destination(&self.config, body).map_err(ServiceError::Invalid)?;
        self.check_target(&dest)?;
        let kind = dest.type_name().to_owned();
        let mut config =
            serde_json::to_value(&dest).map_err(|e| ServiceError::Internal(e.to_string()))?;
        if let (Some(n), Some(obj)) = (max_per_hour, config.as_object_mut()) {
            obj.insert("max_per_hour".into(), n.into());
        }
        Ok((kind, config))
    }

    /// Refuses a webhook whose URL names a private address literally (see
    /// [`private_target`]) unless private targets are allowed. Nothing is
    /// resolved here: the notifier checks resolved addresses at delivery.
    fn check_target(&self, dest: &Destination) -> Result<()> {
        if self.config.allow_private_webhooks {
            return Ok(());
        }
        let url = match dest {
            Destination::GenericWebhook { url, .. }
            | Destination::SlackWebhook { url }
            | Destination::DiscordWebhook { url } => url,
            _ => return Ok(()),
        };
        match private_target(url) {
            Some(host) => Err(ServiceError::field(
                "url",
                format!(
                    "{host} is a private address; set PERISCOPE_ALLOW_PRIVATE_WEBHOOKS=true to allow internal targets"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Adds an alert destination to a project.
    pub fn create_destination(
        &self,
        project_id: i64,
        body: NewDestination,
    ) -> Result<DestinationView> {
        let (kind, config) = self.checked_destination(&body.0)?;
        self.require_project(project_id)?;
        let stored =
            self.db
                .create_destination(ProjectId(project_id), &kind, &config, Utc::now())?;
        Ok(DestinationView::from(&stored))
    }

    /// Changes a destination of a project: fields left out keep their stored
    /// value, and so do the write-only ones (the webhook `secret`, header
    /// values) when blank or `***`; `null` removes the secret, the headers or
    /// the per-hour cap; an empty `url` keeps it. Its type cannot change, and
    /// a field its type does not have is a conflict. The result is checked as
    /// a new destination is (the private-address rule included). Deliveries
    /// not yet made use the new settings.
    pub fn update_destination(
        &self,
        project_id: i64,
        destination_id: i64,
        change: DestinationChange,
    ) -> Result<DestinationView> {
        let Value::Object(change) = change.0 else {
            return Err(ServiceError::invalid(
                "a change is a JSON object of the fields to change",
            ));
        };
        self.require_project(project_id)?;
        let missing = || {
            ServiceError::NotFound(format!(
                "no destination {destination_id} in project {project_id}"
            ))
        };
        let stored = self
            .db
            .list_destinations(ProjectId(project_id))?
            .into_iter()
            .find(|d| d.id == DestinationId(destination_id))
            .ok_or_else(missing)?;
        let body = merge_change(&stored, &change)?;
        if stored.kind == "email" && self.config.smtp_url.is_none() {
            return Err(ServiceError::Conflict(
                "email destinations need an SMTP server: set PERISCOPE_SMTP_URL and PERISCOPE_EMAIL_FROM".to_owned(),
            ));
        }
        let (_, config) = self.checked_destination(&body)?;
        let updated = self
            .db
            .update_destination(
                ProjectId(project_id),
                DestinationId(destination_id),
                &config,
            )?
            .ok_or_else(missing)?;
        Ok(DestinationView::from(&updated))
    }

    /// A project's destinations.
    pub fn list_destinations(&self, project_id: i64) -> Result<Vec<DestinationView>> {
        self.require_project(project_id)?;
        Ok(self
            .db
            .list_destinations(ProjectId(project_id))?
            .iter()
            .map(DestinationView::from)
            .collect())
    }

    /// Removes a destination.
    pub fn delete_destination(&self, project_id: i64, destination_id: i64) -> Result<()> {
        self.require_project(project_id)?;
        if self
            .db
            .delete_destination(ProjectId(project_id), DestinationId(destination_id))?
        {
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
            .list_alerts(ProjectId(project_id), limit, state.as_ref())?
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
            .retry_delivery(DeliveryId(delivery_id), ProjectId(project_id), Utc::now())?
        {
            return Err(missing());
        }
        self.db
            .get_delivery(ProjectId(project_id), DeliveryId(delivery_id))?
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
            project_id: ProjectId(p),
            event_id: "0123456789abcdef0123456789abcdef".into(),
            grouping_keys: vec![periscope_store::GroupingKey::new("k", "default")],
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
        let e = s.retry_delivery(p, id.get()).unwrap_err();
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
        assert_eq!(failed[0].deliveries[0].id, id.get());
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

        let d = s.retry_delivery(p, id.get()).unwrap();
        assert_eq!(
            (d.id, d.state.as_str(), d.attempts),
            (id.get(), "pending", 1)
        );
        assert_eq!(d.last_error.as_deref(), Some("refused"));
        assert!(d.next_attempt_at.is_some());
        // Unknown here: another project's, no such delivery, no such project.
        for (project, delivery) in [(other, id.get()), (p, 987_654), (987_654, id.get())] {
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
        let e = s.retry_delivery(p, id.get()).unwrap_err();
        assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
        assert!(e.to_string().contains("delivered"), "{e}");
    }

    #[test]
    fn change_bodies_from_flags() {
        let b = destination_change_body(ChangeFlags {
            url: Some("https://hooks.example/y".into()),
            no_secret: true,
            headers: vec!["X-Team: core".into(), "X-Env:".into()],
            default_max_per_hour: true,
            ..ChangeFlags::default()
        })
        .unwrap();
        assert_eq!(
            b,
            serde_json::json!({"url": "https://hooks.example/y", "secret": null,
                "headers": {"X-Team": "core", "X-Env": ""}, "max_per_hour": null})
        );
        assert_eq!(
            destination_change_body(ChangeFlags::default()).unwrap(),
            serde_json::json!({})
        );
        for bad in [
            ChangeFlags {
                secret: Some("a".into()),
                no_secret: true,
                ..ChangeFlags::default()
            },
            ChangeFlags {
                headers: vec!["X: y".into()],
                no_headers: true,
                ..ChangeFlags::default()
            },
            ChangeFlags {
                headers: vec!["nocolon".into()],
                ..ChangeFlags::default()
            },
            ChangeFlags {
                max_per_hour: Some(3),
                default_max_per_hour: true,
                ..ChangeFlags::default()
            },
        ] {
            assert!(destination_change_body(bad).is_err());
        }
    }

    #[test]
    fn literal_private_targets() {
        for url in [
            "http://127.0.0.1:9/hook",
            "http://10.1.2.3/x",
            "https://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://localhost:8080/",
            "http://LOCALHOST/",
            "http://api.localhost/",
            "http://[::1]/",
            "http://[fd00::1]/",
        ] {
            assert!(private_target(url).is_some(), "{url}");
        }
        assert_eq!(
            private_target("http://127.0.0.1:9/hook").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            private_target("http://LocalHost/").as_deref(),
            Some("localhost")
        );
        for url in [
            "https://hooks.slack.com/services/T/B/C",
            "http://93.184.216.34/",
            "https://example.com/localhost",
            "http://localhost.example.com/",
            "not a url",
        ] {
            assert_eq!(private_target(url), None, "{url}");
        }
    }

    /// A service whose configuration is `vars` (e.g. the private-webhook switch).
    fn service_with(vars: &[(&str, &str)]) -> Service {
        let store = periscope_store::Store::open_url("sqlite::memory:").unwrap();
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let config =
            Config::from_lookup(&|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
                .unwrap();
        Service::new(std::sync::Arc::new(store), std::sync::Arc::new(config))
    }

    #[test]
    fn private_webhook_targets_are_refused_at_creation_unless_allowed() {
        let s = service_with(&[]);
        let p = s.create_project("p").unwrap().id;
        for (kind, url, host) in [
            ("generic_webhook", "http://127.0.0.1:9/hook", "127.0.0.1"),
            ("slack_webhook", "http://localhost/hook", "localhost"),
            (
                "discord_webhook",
                "http://169.254.169.254/x",
                "169.254.169.254",
            ),
        ] {
            let e = s
                .create_destination(
                    p,
                    NewDestination(serde_json::json!({"type": kind, "url": url})),
                )
                .unwrap_err();
            assert_eq!(e.field_name(), Some("url"), "{kind}");
            assert_eq!(
                e.to_string(),
                format!(
                    "{host} is a private address; set PERISCOPE_ALLOW_PRIVATE_WEBHOOKS=true to allow internal targets"
                )
            );
        }
        // Names are not resolved here (the notifier checks them at delivery).
        assert!(
            s.create_destination(
                p,
                NewDestination(serde_json::json!({"type": "generic_webhook", "url": "https://hooks.example.com/x"}))
            )
            .is_ok()
        );
        let allowed = service_with(&[("PERISCOPE_ALLOW_PRIVATE_WEBHOOKS", "true")]);
        let q = allowed.create_project("q").unwrap().id;
        assert!(
            allowed
                .create_destination(
                    q,
                    NewDestination(serde_json::json!({"type": "generic_webhook", "url": "http://127.0.0.1:9/hook"}))
                )
                .is_ok()
        );
    }

    #[test]
    fn changes_keep_write_only_values_and_fit_the_type() {
        let s = service_with(&[]);
        let p = s.create_project("p").unwrap().id;
        let other = s.create_project("other").unwrap().id;
        let hook = s
            .create_destination(
                p,
                NewDestination(serde_json::json!({
                    "type": "generic_webhook", "url": "https://hooks.example.com/a",
                    "secret": "s3cret", "headers": {"X-Team": "web", "X-Env": "prod"},
                    "max_per_hour": 5
                })),
            )
            .unwrap()
            .id;
        let stored = |s: &Service| {
            s.db().list_destinations(ProjectId(p)).unwrap()[0]
                .config
                .clone()
        };
        let change = |v: serde_json::Value| s.update_destination(p, hook, DestinationChange(v));

        // Left out, blank or the placeholder: kept.
        for keep in [
            serde_json::json!({}),
            serde_json::json!({"secret": ""}),
            serde_json::json!({"secret": "  "}),
            serde_json::json!({"secret": "***", "url": "", "type": "generic_webhook"}),
            serde_json::json!({"headers": {"X-Team": "***", "x-env": ""}}),
        ] {
            let view = change(keep.clone()).unwrap();
            assert_eq!(view.config["secret"], "***", "{keep}");
            let c = stored(&s);
            assert_eq!(c["secret"], "s3cret", "{keep}");
            assert_eq!(c["url"], "https://hooks.example.com/a", "{keep}");
            assert_eq!(c["headers"]["X-Team"], "web", "{keep}");
            assert_eq!(c["max_per_hour"], 5, "{keep}");
        }
        // The header asked as x-env keeps X-Env's value under the name given.
        assert_eq!(stored(&s)["headers"]["x-env"], "prod");

        // New values; headers left out are removed.
        change(serde_json::json!({
            "url": "https://hooks.example.com/b", "secret": "n3w",
            "headers": {"X-Team": "payments"}, "max_per_hour": null
        }))
        .unwrap();
        let c = stored(&s);
        assert_eq!(c["url"], "https://hooks.example.com/b");
        assert_eq!(c["secret"], "n3w");
        assert_eq!(c["headers"], serde_json::json!({"X-Team": "payments"}));
        assert!(c.get("max_per_hour").is_none());
        // null removes the secret and the headers.
        change(serde_json::json!({"secret": null, "headers": null})).unwrap();
        let c = stored(&s);
        assert!(
            c.get("secret").is_none() && c.get("headers").is_none(),
            "{c}"
        );

        // Conflicts with the stored destination: 409.
        for bad in [
            serde_json::json!({"type": "slack_webhook"}),
            serde_json::json!({"to": ["a@example.com"]}),
            serde_json::json!({"headers": {"X-New": "***"}}),
        ] {
            let e = change(bad.clone()).unwrap_err();
            assert!(matches!(e, ServiceError::Conflict(_)), "{bad}: {e:?}");
        }
        // Malformed: 400, on the field when there is one.
        for (bad, field) in [
            (serde_json::json!({"colour": "red"}), None),
            (serde_json::json!({"url": 5}), Some("url")),
            (serde_json::json!({"url": "ftp://x.example/"}), Some("url")),
            (
                serde_json::json!({"headers": {"X-Team": "a\nb"}}),
                Some("headers"),
            ),
            (
                serde_json::json!({"headers": {"Content-Type": "x"}}),
                Some("headers"),
            ),
            (serde_json::json!({"max_per_hour": 0}), Some("max_per_hour")),
            (serde_json::json!({"secret": 5}), Some("secret")),
        ] {
            let e = change(bad.clone()).unwrap_err();
            assert!(
                matches!(
                    e,
                    ServiceError::Invalid(_) | ServiceError::InvalidField { .. }
                ),
                "{bad}: {e:?}"
            );
            assert_eq!(e.field_name(), field, "{bad}");
        }
        assert!(matches!(
            change(serde_json::json!([1])).unwrap_err(),
            ServiceError::Invalid(_)
        ));
        // The private-address rule applies to changes too.
        let e = change(serde_json::json!({"url": "http://10.0.0.1/hook"})).unwrap_err();
        assert_eq!(e.field_name(), Some("url"));
        assert!(
            e.to_string()
                .contains("PERISCOPE_ALLOW_PRIVATE_WEBHOOKS=true"),
            "{e}"
        );
        assert_eq!(
            stored(&s)["url"],
            "https://hooks.example.com/b",
            "unchanged"
        );
        // Unknown here.
        for (project, id) in [(other, hook), (p, 987_654), (987_654, hook)] {
            let e = s
                .update_destination(project, id, DestinationChange(serde_json::json!({})))
                .unwrap_err();
            assert!(matches!(e, ServiceError::NotFound(_)), "{e:?}");
        }

        // Other types: a Slack URL changes, an empty one is kept.
        let slack = s
            .create_destination(
                p,
                NewDestination(serde_json::json!({"type": "slack_webhook", "url": "https://hooks.slack.com/services/T/B/C"})),
            )
            .unwrap()
            .id;
        let v = s
            .update_destination(p, slack, DestinationChange(serde_json::json!({"url": ""})))
            .unwrap();
        assert_eq!(v.config["url"], "https://hooks.slack.com/…");
        let e = s
            .update_destination(
                p,
                slack,
                DestinationChange(serde_json::json!({"secret": "x"})),
            )
            .unwrap_err();
        assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
    }

    #[test]
    fn the_change_schema_has_every_field_the_service_takes() {
        let schema = destination_change_schema(true);
        let props = schema["properties"].as_object().unwrap();
        let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut fields = CHANGE_FIELDS.to_vec();
        fields.sort_unstable();
        assert_eq!(names, fields);
        assert_eq!(schema["additionalProperties"], false);
        assert!(
            destination_change_schema(false)["properties"]
                .get("to")
                .is_none()
        );
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
