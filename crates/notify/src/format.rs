//! The message each channel sends, as pure functions of an [`Alert`].
//!
//! Exposed so a server can preview messages and a receiver can check
//! signatures with the same code ([`verify_signature`]).

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::alert::{Alert, AlertKind, AlertSubject};
use crate::destination::truncate;

/// The `version` field of the generic webhook body. It changes only when a
/// field is removed or changes meaning; new fields may appear in any version.
pub const WEBHOOK_BODY_VERSION: u32 = 1;

/// The header carrying the body signature: `sha256=<hex HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Periscope-Signature";

/// The header carrying the send time (Unix seconds), also found as `sent_at`
/// inside the signed body.
pub const TIMESTAMP_HEADER: &str = "X-Periscope-Timestamp";

/// The generic webhook body:
/// `{"version": 1, "sent_at": "<RFC 3339>", "alert": {...}}` where `alert` is
/// the serialized [`Alert`]: its `subject` (`{"type": "issue", "id": 42}`, or
/// `null` for a held-back summary) and, for receivers written before
/// `subject`, the deprecated `issue_id` (the subject's issue, or 0).
pub fn webhook_body(alert: &Alert, sent_at: DateTime<Utc>) -> Value {
    json!({
        "version": WEBHOOK_BODY_VERSION,
        "sent_at": sent_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "alert": alert,
    })
}

/// The signature header value for `body`: `sha256=` followed by the lower-case
/// hex HMAC-SHA256 of the exact body bytes, keyed with `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(secret, body)))
}

/// Checks a signature header value against a body in constant time. Accepts
/// the `sha256=<hex>` form only.
pub fn verify_signature(secret: &[u8], body: &[u8], header_value: &str) -> bool {
    let Some(hex_part) = header_value.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_part) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn hmac_sha256(secret: &[u8], body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; the error branch cannot happen.
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Replaces control characters (newlines included) with spaces, for one-line contexts.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The subject as a fact: `("Issue", "42")`; subjects of later versions of
/// the types crate as `("Subject", <their display form>)`.
fn subject_fact(subject: AlertSubject) -> (&'static str, String) {
    match subject {
        AlertSubject::Issue(id) => ("Issue", id.to_string()),
        // `AlertSubject` is non-exhaustive: later versions add subjects.
        other => ("Subject", one_line(&other.to_string())),
    }
}

/// The `(label, value)` facts shown by every channel: what the alert is
/// about, then the level, counts, times, environment and release.
fn facts(alert: &Alert) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(8);
    if alert.kind == AlertKind::HeldBack {
        out.push(("Held back", alert.event_count.to_string()));
        out.push(("First held back", time(alert.first_seen)));
        out.push(("Last held back", time(alert.last_seen)));
        return out;
    }
    if let Some(subject) = alert.subject {
        out.push(subject_fact(subject));
    }
    out.push(("Level", one_line(&alert.level)));
    out.push(("Events", alert.event_count.to_string()));
    out.push(("First seen", time(alert.first_seen)));
    out.push(("Last seen", time(alert.last_seen)));
    if let Some(env) = &alert.environment {
        out.push(("Environment", one_line(env)));
    }
    if let Some(release) = &alert.release {
        out.push(("Release", one_line(release)));
    }
    out
}

/// Email subject: `[Periscope] New issue in <project>: <title>` (one line, at most 200 characters).
pub fn email_subject(alert: &Alert) -> String {
    truncate(&one_line(&format!("[Periscope] {}", alert.headline())), 200)
}

/// Plain-text email body.
pub fn email_text(alert: &Alert) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{} in {}\n\n",
        alert.kind.headline(),
        one_line(&alert.project_name)
    ));
    out.push_str(&one_line(&alert.title));
    out.push('\n');
    if let Some(culprit) = &alert.culprit {
        out.push_str(&format!("in {}\n", one_line(culprit)));
    }
    out.push('\n');
    for (label, value) in facts(alert) {
        out.push_str(&format!("{:<16}{value}\n", format!("{label}:")));
    }
    out.push_str(&format!("\nOpen in Periscope: {}\n", one_line(&alert.url)));
    out.push_str(&format!(
        "\n-- \nSent by Periscope because this address is an alert destination of project {}.\n",
        one_line(&alert.project_name)
    ));
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// HTML email body (inline styles only, every value escaped).
pub fn email_html(alert: &Alert) -> String {
    let mut rows = String::new();
    for (label, value) in facts(alert) {
        rows.push_str(&format!(
            "<tr><td style=\"padding:2px 12px 2px 0;color:#666\">{}</td><td>{}</td></tr>",
            html_escape(label),
            html_escape(&value)
        ));
    }
    let culprit = alert
        .culprit
        .as_deref()
        .map(|c| {
            format!(
                "<p style=\"margin:0 0 12px;color:#444\"><code>{}</code></p>",
                html_escape(c)
            )
        })
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif;font-size:14px\">\
<p style=\"margin:0 0 4px;color:#666\">{kind} in {project}</p>\
<h2 style=\"margin:0 0 8px\">{title}</h2>{culprit}\
<table style=\"border-collapse:collapse;margin:0 0 12px\">{rows}</table>\
<p><a href=\"{url}\">Open in Periscope</a></p>\
<p style=\"color:#999;font-size:12px\">Sent by Periscope because this address is an alert destination of project {project}.</p>\
</body></html>",
        kind = html_escape(alert.kind.headline()),
        project = html_escape(&alert.project_name),
        title = html_escape(&alert.title),
        url = html_escape(&alert.url),
    )
}

fn is_http_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && !url.contains(char::is_whitespace)
}

/// Escapes the three characters Slack's mrkdwn gives meaning to.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Slack incoming-webhook body: a `text` fallback (notifications) and `blocks`.
/// Titles are escaped, so `<!channel>` in an error message pings nobody.
pub fn slack_body(alert: &Alert) -> Value {
    let header = truncate(
        &one_line(&format!(
            "{} in {}",
            alert.kind.headline(),
            alert.project_name
        )),
        150,
    );
    let title = match truncate(&one_line(&alert.title), 500) {
        t if t.trim().is_empty() => "(no title)".to_owned(),
        t => slack_escape(&t),
    };
    let mut main = if is_http_url(&alert.url) {
        format!(
            "*<{}|{title}>*",
            slack_escape(&one_line(&alert.url)).replace('|', "%7C")
        )
    } else {
        format!("*{title}*")
    };
    if let Some(culprit) = &alert.culprit {
        main.push_str(&format!(
            "\n`{}`",
            slack_escape(&truncate(&one_line(culprit), 300)).replace('`', "'")
        ));
    }
    let fields: Vec<Value> = facts(alert)
        .into_iter()
        .map(|(label, value)| {
            json!({"type": "mrkdwn", "text": format!("*{label}*\n{}", slack_escape(&truncate(&value, 200)))})
        })
        .collect();
    json!({
        "text": slack_escape(&truncate(&one_line(&alert.headline()), 1000)),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": false}},
            {"type": "section", "text": {"type": "mrkdwn", "text": main}},
            {"type": "section", "fields": fields},
        ],
    })
}

fn discord_color(alert: &Alert) -> u32 {
    if alert.kind == AlertKind::HeldBack {
        return 0x9e9e9e;
    }
    match alert.level.as_str() {
        "fatal" | "error" => 0xe03e2f,
        "warning" => 0xf5a623,
        "info" => 0x3b82f6,
        _ => 0x9e9e9e,
    }
}

/// Discord webhook body: `content` plus one embed; mentions are disabled
/// (`allowed_mentions.parse = []`) so `@everyone` in an error message pings nobody.
pub fn discord_body(alert: &Alert) -> Value {
    let content = truncate(
        &one_line(&format!(
            "**{}** in {}",
            alert.kind.headline(),
            alert.project_name
        )),
        2000,
    );
    let fields: Vec<Value> = facts(alert)
        .into_iter()
        .map(|(label, value)| json!({"name": label, "value": truncate(&value, 1024), "inline": true}))
        .collect();
    let mut embed = json!({
        "color": discord_color(alert),
        "fields": fields,
        "timestamp": alert.last_seen.to_rfc3339_opts(SecondsFormat::Secs, true),
        "footer": {"text": "Periscope"},
    });
    // Discord rejects empty strings and non-http URLs in embeds: omit them.
    let title = truncate(&one_line(&alert.title), 256);
    if !title.trim().is_empty() {
        embed["title"] = Value::String(title);
    }
    if let Some(culprit) = alert.culprit.as_deref().filter(|c| !c.trim().is_empty()) {
        embed["description"] = Value::String(format!(
            "`{}`",
            truncate(&one_line(culprit), 1000).replace('`', "'")
        ));
    }
    if is_http_url(&alert.url) {
        embed["url"] = Value::String(alert.url.clone());
    }
    json!({
        "content": content,
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{IssueId, ProjectId};
    use chrono::TimeZone;

    fn alert() -> Alert {
        Alert {
            kind: AlertKind::NewIssue,
            project_id: ProjectId(7),
            project_name: "shop".into(),
            subject: Some(AlertSubject::Issue(IssueId(42))),
            title: "ValueError: <!channel> & @everyone\nsecond line".into(),
            culprit: Some("app.views.pay".into()),
            level: "error".into(),
            event_count: 3,
            first_seen: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            last_seen: Utc.with_ymd_and_hms(2026, 1, 2, 4, 0, 0).unwrap(),
            url: "https://periscope.example/issues/42".into(),
            environment: Some("production".into()),
            release: None,
        }
    }

    #[test]
    fn webhook_body_is_versioned() {
        let sent = Utc.with_ymd_and_hms(2026, 1, 2, 5, 0, 0).unwrap();
        let body = webhook_body(&alert(), sent);
        assert_eq!(body["version"], 1);
        assert_eq!(body["sent_at"], "2026-01-02T05:00:00Z");
        assert_eq!(body["alert"]["kind"], "new_issue");
        assert_eq!(body["alert"]["subject"], json!({"type": "issue", "id": 42}));
        assert_eq!(body["alert"]["issue_id"], 42);
        assert_eq!(body["alert"]["first_seen"], "2026-01-02T03:04:05Z");
    }

    #[test]
    fn signatures_verify_and_detect_tampering() {
        let sig = sign(b"key", b"{\"a\":1}");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert!(verify_signature(b"key", b"{\"a\":1}", &sig));
        assert!(!verify_signature(b"key", b"{\"a\":2}", &sig));
        assert!(!verify_signature(b"other", b"{\"a\":1}", &sig));
        assert!(!verify_signature(b"key", b"{\"a\":1}", "sha1=00"));
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn subject_is_one_bounded_line() {
        let mut a = alert();
        assert_eq!(
            email_subject(&a),
            "[Periscope] New issue in shop: ValueError: <!channel> & @everyone second line"
        );
        a.title = "x".repeat(1000);
        assert_eq!(email_subject(&a).chars().count(), 200);
    }

    #[test]
    fn bodies_escape_what_they_must() {
        let a = alert();
        let html = email_html(&a);
        assert!(html.contains("&lt;!channel&gt; &amp; @everyone"));
        assert!(!html.contains("<!channel>"));
        let text = email_text(&a);
        assert!(
            text.contains("in app.views.pay")
                && text.contains("https://periscope.example/issues/42")
        );
        let slack = slack_body(&a).to_string();
        assert!(!slack.contains("<!channel>"));
        let discord = discord_body(&a);
        assert_eq!(discord["allowed_mentions"]["parse"], json!([]));
        assert_eq!(
            discord["embeds"][0]["url"],
            "https://periscope.example/issues/42"
        );
        assert_eq!(discord["embeds"][0]["color"], 0xe03e2f);
        assert_eq!(discord["embeds"][0]["description"], "`app.views.pay`");
    }

    #[test]
    fn every_channel_names_the_subject() {
        let a = alert();
        assert!(email_text(&a).contains("\nIssue:          42\n"));
        assert!(email_html(&a).contains(">Issue</td><td>42</td>"));
        assert_eq!(
            slack_body(&a)["blocks"][2]["fields"][0]["text"],
            "*Issue*\n42"
        );
        assert_eq!(
            discord_body(&a)["embeds"][0]["fields"][0],
            json!({"name": "Issue", "value": "42", "inline": true})
        );
        // A summary is about no subject, and says so by omission.
        let summary = crate::HeldBack {
            count: 3,
            first_held_at: a.first_seen,
            last_held_at: a.last_seen,
        }
        .to_alert(ProjectId(7), "shop", "https://periscope.example/");
        assert_eq!(summary.subject, None);
        let labels: Vec<&str> = facts(&summary).into_iter().map(|(l, _)| l).collect();
        assert_eq!(labels, ["Held back", "First held back", "Last held back"]);
        assert_eq!(webhook_body(&summary, a.last_seen)["alert"]["issue_id"], 0);
    }

    #[test]
    fn optional_parts_are_omitted_not_empty() {
        let mut a = alert();
        a.culprit = None;
        a.url = String::new();
        a.title = String::new();
        let discord = discord_body(&a);
        let embed = discord["embeds"][0].as_object().unwrap();
        for key in ["title", "description", "url"] {
            assert!(!embed.contains_key(key), "{key}");
        }
        let slack = slack_body(&a);
        assert_eq!(slack["blocks"][1]["text"]["text"], "*(no title)*");
    }
}
