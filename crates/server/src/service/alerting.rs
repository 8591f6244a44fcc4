//! Alert delivery as the application sees it: the dispatcher built from the
//! configuration (the notifier worker and the "send a test alert" action use the
//! same one), and a test alert delivered at once through it.

use std::time::Duration;

use chrono::Utc;
use periscope_notify::{
    Alert, AlertKind, Destination, Dispatcher, DispatcherConfig, Notifier, SmtpConfig,
};
use periscope_store::{DestinationId, ProjectId};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Result, Service, ServiceError};
use crate::config::Config;

/// What a refused private target tells the reader to do.
pub const ALLOW_PRIVATE_HINT: &str = "set PERISCOPE_ALLOW_PRIVATE_WEBHOOKS=true";

/// The dispatcher of the configuration: SMTP when configured, the private-target
/// policy, a 15 s timeout per attempt.
pub fn dispatcher(config: &Config) -> std::result::Result<Dispatcher, String> {
    let smtp = match (&config.smtp_url, &config.email_from) {
        (Some(url), Some(from)) => Some(SmtpConfig::new(url.clone(), from.clone())),
        _ => None,
    };
    Dispatcher::new(DispatcherConfig {
        smtp,
        allow_private_targets: config.allow_private_webhooks,
        timeout: Duration::from_secs(15),
        allow_private_hint: ALLOW_PRIVATE_HINT.to_owned(),
        ..DispatcherConfig::default()
    })
    .map_err(|e| format!("alert delivery: {e}"))
}

/// The outcome of a test alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TestDelivery {
    /// The destination.
    pub destination_id: i64,
    /// Whether the destination accepted it.
    pub delivered: bool,
    /// Why not, exactly (for admins: it may name internal hosts); `null` when
    /// delivered.
    pub error: Option<String>,
}

impl Service {
    /// Delivers one test alert to a destination now, through the same dispatcher
    /// as real alerts (one attempt, no retry), and says what happened.
    pub async fn test_destination(
        &self,
        project_id: i64,
        destination_id: i64,
    ) -> Result<TestDelivery> {
        let service = self.clone();
        let (project, stored) = tokio::task::spawn_blocking(move || {
            let project = service.require_project(project_id)?;
            let stored = service
                .db
                .list_destinations(ProjectId(project_id))?
                .into_iter()
                .find(|d| d.id == DestinationId(destination_id))
                .ok_or_else(|| {
                    ServiceError::NotFound(format!(
                        "no destination {destination_id} in project {project_id}"
                    ))
                })?;
            Ok::<_, ServiceError>((project, stored))
        })
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))??;
        let mut config = stored.config.clone();
        if let Some(obj) = config.as_object_mut() {
            obj.remove("max_per_hour");
        }
        let destination: Destination = serde_json::from_value(config).map_err(|e| {
            ServiceError::Internal(format!("destination {destination_id} cannot be read: {e}"))
        })?;
        let dispatcher = dispatcher(&self.config).map_err(ServiceError::Internal)?;
        let now = Utc::now();
        let alert = Alert {
            kind: AlertKind::NewIssue,
            project_id: ProjectId(project_id),
            project_name: project.name.clone(),
            subject: None,
            title: "Test alert from Periscope: this destination works".to_owned(),
            culprit: Some("sent from the destinations page".to_owned()),
            level: "info".to_owned(),
            event_count: 0,
            first_seen: now,
            last_seen: now,
            url: format!(
                "{}/projects/{project_id}/destinations",
                self.config.base_url.trim_end_matches('/')
            ),
            environment: None,
            release: None,
        };
        let outcome = dispatcher.deliver(&alert, &destination).await;
        Ok(TestDelivery {
            destination_id,
            delivered: outcome.is_ok(),
            error: outcome.err().map(|e| e.to_string()),
        })
    }
}

impl Service {
    /// Emails an invitation's link to the invited address when the server can
    /// send mail (`PERISCOPE_SMTP_URL` and `PERISCOPE_EMAIL_FROM`): `Ok(false)`
    /// when it cannot, `Ok(true)` once sent, the SMTP error otherwise.
    pub async fn email_invitation(
        &self,
        invitation: &super::users::Invitation,
        invited_by: &str,
    ) -> Result<bool> {
        let (Some(url), Some(from)) = (&self.config.smtp_url, &self.config.email_from) else {
            return Ok(false);
        };
        let mailer = periscope_notify::EmailNotifier::new(
            &SmtpConfig::new(url.clone(), from.clone()),
            Duration::from_secs(15),
        )
        .map_err(|e| ServiceError::Internal(format!("email: {e}")))?;
        let body = format!(
            "{invited_by} invites you to Periscope, the error tracker, as {role}.\n\n\
             Choose your password here (the link works once, until {expires}):\n\n{link}\n\n\
             If you did not expect this, ignore this message.\n",
            role = invitation.role,
            expires = invitation.expires_at,
            link = invitation.link,
        );
        mailer
            .send_text(&invitation.email, "Your invitation to Periscope", &body)
            .await
            .map(|()| true)
            .map_err(|e| ServiceError::Internal(format!("the invitation email failed: {e}")))
    }
}
