//! The internal logger: [`LogNotifier`].

use crate::alert::Alert;
use crate::destination::Destination;
use crate::dispatch::{Notifier, wrong_destination};
use crate::error::{Channel, DeliveryError};

/// Delivers [`Destination::InternalLogger`] alerts as one structured
/// `tracing` event at WARN level, target `periscope_notify`, with one field
/// per alert field. Never fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    async fn deliver(&self, alert: &Alert, destination: &Destination) -> Result<(), DeliveryError> {
        if !matches!(destination, Destination::InternalLogger) {
            return Err(wrong_destination(Channel::Log, destination));
        }
        tracing::warn!(
            target: "periscope_notify",
            kind = %alert.kind,
            project_id = alert.project_id,
            project = %alert.project_name,
            issue_id = alert.issue_id,
            title = %alert.title,
            culprit = alert.culprit.as_deref().unwrap_or(""),
            level = %alert.level,
            event_count = alert.event_count,
            first_seen = %alert.first_seen,
            last_seen = %alert.last_seen,
            url = %alert.url,
            "{}",
            alert.headline()
        );
        Ok(())
    }
}
