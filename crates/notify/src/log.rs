//! The internal logger: [`LogNotifier`].

use crate::alert::{Alert, IssueId};

use crate::destination::Destination;
use crate::dispatch::{Notifier, wrong_destination};
use crate::error::{Channel, DeliveryError};

/// Delivers [`Destination::InternalLogger`] alerts as one structured
/// `tracing` event at WARN level, target `periscope_notify`, with one field
/// per alert field: `subject` as text (`issue 42`, or `none` for a held-back
/// summary) and, as in the webhook body, `issue_id` (the subject's issue, or
/// 0). Never fails. Text fields are escaped (`\n` becomes the two
/// characters `\` `n`), so a title cannot start a forged log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    async fn deliver(&self, alert: &Alert, destination: &Destination) -> Result<(), DeliveryError> {
        if !matches!(destination, Destination::InternalLogger) {
            return Err(wrong_destination(Channel::Log, destination));
        }
        // Titles, culprits and names come from events, that is from anyone with
        // a DSN: control characters are escaped so no one can forge log lines.
        tracing::warn!(
            target: "periscope_notify",
            kind = %alert.kind,
            project_id = alert.project_id.get(),
            project = %alert.project_name.escape_debug(),
            subject = %alert
                .subject
                .map_or_else(|| "none".to_owned(), |s| s.to_string())
                .escape_debug(),
            issue_id = alert.issue_id().map_or(0, IssueId::get),
            title = %alert.title.escape_debug(),
            culprit = %alert.culprit.as_deref().unwrap_or("").escape_debug(),
            level = %alert.level.escape_debug(),
            event_count = alert.event_count,
            first_seen = %alert.first_seen,
            last_seen = %alert.last_seen,
            url = %alert.url.escape_debug(),
            "{}",
            alert.headline().escape_debug()
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertKind, AlertSubject, ProjectId};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn event_text_cannot_forge_log_lines() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let now = chrono::Utc::now();
        let alert = Alert {
            kind: AlertKind::NewIssue,
            project_id: ProjectId(1),
            project_name: "p\nINFO fake".into(),
            subject: Some(AlertSubject::Issue(IssueId(2))),
            title: "boom\n2026-01-01T00:00:00Z ERROR forged line\r\u{1b}[31m".into(),
            culprit: Some("x\ny".into()),
            level: "error".into(),
            event_count: 1,
            first_seen: now,
            last_seen: now,
            url: "http://h/1".into(),
            environment: None,
            release: None,
        };
        tracing::subscriber::with_default(subscriber, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(LogNotifier.deliver(&alert, &Destination::InternalLogger))
                .unwrap();
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "one line: {text:?}");
        assert!(text.contains("forged line"));
        assert!(text.contains("subject=issue 2 issue_id=2"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }
}
