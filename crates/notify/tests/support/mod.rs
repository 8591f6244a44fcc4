//! The notify tests' own sample alert; the recording servers come from the shared
//! `periscope-test-support` crate.

#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

use chrono::{TimeZone, Utc};
use periscope_notify::{Alert, AlertKind, AlertSubject, IssueId, ProjectId};

pub use periscope_test_support::http::{HttpRecorder, Reply};
pub use periscope_test_support::net::RefusingPort;
pub use periscope_test_support::smtp::{SmtpOptions, SmtpRecorder};

/// A sample alert.
pub fn alert() -> Alert {
    Alert {
        kind: AlertKind::NewIssue,
        project_id: ProjectId(7),
        project_name: "shop".into(),
        subject: Some(AlertSubject::Issue(IssueId(42))),
        title: "ZeroDivisionError: division by zero".into(),
        culprit: Some("app.views.divide".into()),
        level: "error".into(),
        event_count: 3,
        first_seen: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        last_seen: Utc.with_ymd_and_hms(2026, 3, 1, 12, 5, 0).unwrap(),
        url: "http://periscope.test/issues/42".into(),
        environment: Some("production".into()),
        release: Some("shop@1.2.3".into()),
    }
}
