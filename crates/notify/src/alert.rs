//! The [`Alert`]: what happened to which issue, everything a message needs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why an alert was raised: the one definition, shared with the store.
pub use periscope_types::AlertKind;

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
            AlertKind::parse("escalating"),
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
