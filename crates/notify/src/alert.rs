//! The [`Alert`]: what happened to which subject, everything a message needs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};

/// Why an alert was raised, and what it is about: the one definition of each,
/// shared with the store.
pub use periscope_types::{AlertKind, AlertSubject};
/// The ids an alert names, shared with the store.
pub use periscope_types::{IssueId, ProjectId};

/// One alert, as delivered to every destination of its project.
///
/// The struct is plain data; the server fills it from its alert record and the
/// issue it is about. It serializes to the `alert` object of the generic
/// webhook body (see the crate README for the versioned format).
///
/// Today every alert is about an issue ([`AlertSubject::Issue`]), except the
/// rate cap's [`AlertKind::HeldBack`] summary, which is about no single subject.
/// The fields after `subject` describe the subject in terms every channel can
/// show — a title, a place, a level, a count, a time span and a link — so a
/// future subject (a cron monitor, user feedback) fills the same fields with
/// its own meaning, as the summary already does, instead of adding a shape.
///
/// On the wire, `subject` is `{"type": "issue", "id": 42}` (or `null`), and
/// `issue_id` is written beside it for receivers of earlier versions: the
/// subject's issue id, or 0 when the alert is not about an issue. When a body
/// without `subject` is read, a positive `issue_id` names the subject.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "WireAlert")]
pub struct Alert {
    /// Why the alert was raised.
    pub kind: AlertKind,
    /// Numeric project id.
    pub project_id: ProjectId,
    /// Project name, for people.
    pub project_name: String,
    /// What the alert is about; `None` for a [`AlertKind::HeldBack`] summary.
    pub subject: Option<AlertSubject>,
    /// Issue title, e.g. `ZeroDivisionError: division by zero` (for a summary:
    /// `N alerts were held back`).
    pub title: String,
    /// Where it happened (function or transaction), when known.
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
    pub environment: Option<String>,
    /// Release of the triggering event, when known.
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

    /// The issue this alert is about, if it is about one.
    pub fn issue_id(&self) -> Option<IssueId> {
        self.subject.and_then(|s| s.issue_id())
    }
}

/// The webhook's `alert` object as written: the fields of [`Alert`] in order,
/// with the deprecated `issue_id` after `subject`.
#[derive(Serialize)]
struct WireAlertOut<'a> {
    kind: &'a AlertKind,
    project_id: ProjectId,
    project_name: &'a str,
    subject: Option<AlertSubject>,
    /// Deprecated in favour of `subject`; 0 when the alert is not about an issue.
    issue_id: i64,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    culprit: Option<&'a str>,
    level: &'a str,
    event_count: i64,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    release: Option<&'a str>,
}

impl Serialize for Alert {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireAlertOut {
            kind: &self.kind,
            project_id: self.project_id,
            project_name: &self.project_name,
            subject: self.subject,
            issue_id: self.issue_id().map_or(0, IssueId::get),
            title: &self.title,
            culprit: self.culprit.as_deref(),
            level: &self.level,
            event_count: self.event_count,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            url: &self.url,
            environment: self.environment.as_deref(),
            release: self.release.as_deref(),
        }
        .serialize(serializer)
    }
}

/// The webhook's `alert` object as read: bodies of every version 1 sender,
/// with or without `subject`; unknown fields are ignored.
#[derive(Deserialize)]
struct WireAlert {
    kind: AlertKind,
    project_id: ProjectId,
    project_name: String,
    #[serde(default)]
    subject: Option<AlertSubject>,
    #[serde(default)]
    issue_id: i64,
    title: String,
    #[serde(default)]
    culprit: Option<String>,
    level: String,
    event_count: i64,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    url: String,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    release: Option<String>,
}

impl From<WireAlert> for Alert {
    fn from(w: WireAlert) -> Alert {
        // Senders before `subject` wrote only `issue_id` (0 for a summary).
        let subject = w
            .subject
            .or((w.issue_id > 0).then_some(AlertSubject::Issue(IssueId(w.issue_id))));
        Alert {
            kind: w.kind,
            project_id: w.project_id,
            project_name: w.project_name,
            subject,
            title: w.title,
            culprit: w.culprit,
            level: w.level,
            event_count: w.event_count,
            first_seen: w.first_seen,
            last_seen: w.last_seen,
            url: w.url,
            environment: w.environment,
            release: w.release,
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
        // A body from before `subject`: the issue id names the subject.
        assert_eq!(alert.subject, Some(AlertSubject::Issue(IssueId(2))));
    }

    fn issue_alert() -> Alert {
        let t = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Alert {
            kind: AlertKind::NewIssue,
            project_id: ProjectId(1),
            project_name: "p".into(),
            subject: Some(AlertSubject::Issue(IssueId(42))),
            title: "t".into(),
            culprit: None,
            level: "error".into(),
            event_count: 1,
            first_seen: t,
            last_seen: t,
            url: "http://x/issues/42".into(),
            environment: None,
            release: None,
        }
    }

    #[test]
    fn the_subject_is_written_with_the_deprecated_issue_id_beside_it() {
        let alert = issue_alert();
        assert_eq!(alert.issue_id(), Some(IssueId(42)));
        let v = serde_json::to_value(&alert).unwrap();
        assert_eq!(v["subject"], serde_json::json!({"type": "issue", "id": 42}));
        assert_eq!(v["issue_id"], 42);
        // In the body, `issue_id` follows `subject`.
        let text = serde_json::to_string(&alert).unwrap();
        assert!(
            text.starts_with(
                r#"{"kind":"new_issue","project_id":1,"project_name":"p","subject":{"type":"issue","id":42},"issue_id":42,"title":"t","level":"error","#
            ),
            "{text}"
        );
        assert_eq!(serde_json::from_value::<Alert>(v).unwrap(), alert);
    }

    #[test]
    fn an_alert_without_subject_writes_null_and_issue_id_zero() {
        let mut alert = issue_alert();
        alert.kind = AlertKind::HeldBack;
        alert.subject = None;
        alert.culprit = Some("c".into());
        alert.environment = Some("e".into());
        alert.release = Some("r".into());
        let v = serde_json::to_value(&alert).unwrap();
        assert_eq!(v["subject"], serde_json::Value::Null);
        assert_eq!(v["issue_id"], 0);
        assert_eq!(serde_json::from_value::<Alert>(v.clone()).unwrap(), alert);
        // The same body without `subject`, as earlier senders wrote it.
        let mut old = v;
        old.as_object_mut().unwrap().remove("subject");
        assert_eq!(serde_json::from_value::<Alert>(old).unwrap(), alert);
    }

    #[test]
    fn the_subject_wins_over_issue_id_and_issue_id_may_be_absent() {
        let mut v = serde_json::to_value(issue_alert()).unwrap();
        v["issue_id"] = serde_json::json!(7);
        assert_eq!(
            serde_json::from_value::<Alert>(v.clone()).unwrap().subject,
            Some(AlertSubject::Issue(IssueId(42)))
        );
        v.as_object_mut().unwrap().remove("issue_id");
        assert_eq!(serde_json::from_value::<Alert>(v).unwrap(), issue_alert());
    }

    /// A known gap, pinned so that it is noticed when it closes:
    /// [`AlertSubject`] has no case for subjects of newer versions, so an
    /// alert about one cannot be read (let alone written back) by this version.
    #[test]
    fn a_subject_of_a_newer_version_is_not_readable_yet() {
        let mut v = serde_json::to_value(issue_alert()).unwrap();
        v["subject"] = serde_json::json!({"type": "monitor", "id": 3});
        assert!(serde_json::from_value::<Alert>(v).is_err());
    }
}
