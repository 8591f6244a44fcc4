//! The [`Alert`]: what happened to which issue, everything a message needs.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an alert was raised.
///
/// Serialized as a lower-case string (`"new_issue"`, `"regression"`,
/// `"unmute"`, `"held_back"`); any other string is kept as [`AlertKind::Unknown`]
/// so a newer server's alerts still deserialize.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// The first event of a new issue.
    NewIssue,
    /// An event for an issue that had been resolved.
    Regression,
    /// An event for a muted issue whose mute condition ended.
    Unmute,
    /// A summary: alerts to this destination were held back by its rate cap.
    /// `event_count` carries how many; see [`crate::HeldBack::to_alert`].
    HeldBack,
    /// A kind this version does not know; the string is kept as is.
    Unknown(String),
}

impl AlertKind {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            AlertKind::NewIssue => "new_issue",
            AlertKind::Regression => "regression",
            AlertKind::Unmute => "unmute",
            AlertKind::HeldBack => "held_back",
            AlertKind::Unknown(s) => s,
        }
    }

    /// Parses a wire name; never fails (unknown names become [`AlertKind::Unknown`]).
    pub fn from_wire(s: &str) -> AlertKind {
        match s {
            "new_issue" => AlertKind::NewIssue,
            "regression" => AlertKind::Regression,
            "unmute" => AlertKind::Unmute,
            "held_back" => AlertKind::HeldBack,
            other => AlertKind::Unknown(other.to_owned()),
        }
    }

    /// A short human phrase: "New issue", "Regression", "Unmuted issue", ...
    pub fn headline(&self) -> &str {
        match self {
            AlertKind::NewIssue => "New issue",
            AlertKind::Regression => "Regression",
            AlertKind::Unmute => "Unmuted issue",
            AlertKind::HeldBack => "Alerts held back",
            AlertKind::Unknown(_) => "Alert",
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AlertKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AlertKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(AlertKind::from_wire(&s))
    }
}

/// One alert about one issue, as delivered to every destination of its project.
///
/// The struct is plain data; the server fills it from its issue row. It
/// serializes to the `alert` object of the generic webhook body (see the
/// crate README for the versioned format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Why the alert was raised.
    pub kind: AlertKind,
    /// Numeric project id.
    pub project_id: i64,
    /// Project name, for people.
    pub project_name: String,
    /// Numeric issue id (0 for a [`AlertKind::HeldBack`] summary).
    pub issue_id: i64,
    /// Issue title, e.g. `ZeroDivisionError: division by zero`.
    pub title: String,
    /// Where it happened (function or transaction), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub culprit: Option<String>,
    /// Event level: `fatal`, `error`, `warning`, `info`, `debug` (free text).
    pub level: String,
    /// How many events the issue has (for a summary: how many alerts were held back).
    pub event_count: i64,
    /// When the issue was first seen.
    pub first_seen: DateTime<Utc>,
    /// When the issue was last seen.
    pub last_seen: DateTime<Utc>,
    /// Link to the issue in the Periscope UI or API.
    pub url: String,
    /// Environment of the triggering event, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Release of the triggering event, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}

impl Alert {
    /// The one-line summary used as email subject and chat fallback text:
    /// `New issue in shop: ZeroDivisionError: division by zero`.
    pub fn headline(&self) -> String {
        match self.kind {
            AlertKind::HeldBack => format!("{} in {}", self.title, self.project_name),
            _ => format!(
                "{} in {}: {}",
                self.kind.headline(),
                self.project_name,
                self.title
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_round_trips_and_keeps_unknown() {
        for k in [
            "new_issue",
            "regression",
            "unmute",
            "held_back",
            "escalating",
        ] {
            let kind: AlertKind = serde_json::from_str(&format!("\"{k}\"")).unwrap();
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{k}\""));
        }
        assert_eq!(
            AlertKind::from_wire("escalating"),
            AlertKind::Unknown("escalating".into())
        );
    }

    #[test]
    fn alert_tolerates_missing_optional_and_unknown_fields() {
        let json = r#"{"kind":"regression","project_id":1,"project_name":"p","issue_id":2,
            "title":"t","level":"error","event_count":3,"first_seen":"2026-01-01T00:00:00Z",
            "last_seen":"2026-01-02T00:00:00Z","url":"http://x/issues/2","future":true}"#;
        let alert: Alert = serde_json::from_str(json).unwrap();
        assert_eq!(alert.kind, AlertKind::Regression);
        assert_eq!(alert.culprit, None);
        assert_eq!(alert.headline(), "Regression in p: t");
    }
}
