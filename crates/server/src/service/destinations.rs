//! Alert destinations and the alerts of a project.

use chrono::Utc;
use serde_json::Value;

use super::views::{AlertView, DestinationView};
use super::{Result, Service, ServiceError, page_limit};

/// Most alerts one listing returns.
pub const MAX_ALERTS: usize = 1000;

/// A destination to add: the JSON object the admin API takes (`{"type": ...}`,
/// see the OpenAPI document), which the CLI builds from its flags.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDestination(pub Value);

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
        let dest = crate::alerts::validate_destination(&self.config, &body)
            .map_err(ServiceError::Invalid)?;
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

    /// A project's latest alerts with their deliveries.
    pub fn list_alerts(&self, project_id: i64, limit: Option<usize>) -> Result<Vec<AlertView>> {
        let limit = page_limit(limit, 100)?.min(MAX_ALERTS);
        self.require_project(project_id)?;
        Ok(self
            .db
            .list_alerts(project_id, limit)?
            .iter()
            .map(AlertView::from)
            .collect())
    }
}
