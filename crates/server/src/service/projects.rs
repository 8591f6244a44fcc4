//! Projects and their keys.

use chrono::Utc;
use periscope_store::{ProjectId, ProjectSettings, ProjectUpdate};
use serde::Deserialize;
use utoipa::ToSchema;

use super::views::{KeyView, ProjectView};
use super::{Result, Service, ServiceError};

/// Longest project name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Largest quota or event cap a project may be given.
pub const MAX_LIMIT: u64 = 1_000_000_000_000;
/// Longest retention by age, in days (a century).
pub const MAX_AGE_DAYS: u32 = 36_500;

/// A new random public key: 32 lowercase hex characters.
pub fn new_public_key() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A public key as stored: 32 hexadecimal digits, lower case (the case of the
/// input is ignored; nothing else is).
fn check_public_key(key: &str) -> Result<String> {
    let k = key.to_ascii_lowercase();
    if k.len() == 32 && k.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(k)
    } else {
        Err(ServiceError::field(
            "public_key",
            format!(
                "{:?} is not a public key (32 hexadecimal digits)",
                crate::text::shorten(key, 64)
            ),
        ))
    }
}

/// A project name as stored: trimmed, not empty, at most [`MAX_NAME_CHARS`].
fn check_name(name: &str) -> Result<String> {
    let too_long = || {
        ServiceError::field(
            "name",
            format!("name must be at most {MAX_NAME_CHARS} characters"),
        )
    };
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(too_long());
    }
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceError::field("name", "name must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(too_long());
    }
    Ok(name.to_owned())
}

/// A whole number that JSON may write as `198` or `198.0`.
pub(crate) fn whole<'de, D>(d: D) -> std::result::Result<Option<Option<u64>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let v: Option<serde_json::Number> = Option::deserialize(d)?;
    match v {
        None => Ok(Some(None)),
        Some(n) => {
            if let Some(u) = n.as_u64() {
                return Ok(Some(Some(u)));
            }
            match n.as_f64() {
                Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= 9.0e15 => Ok(Some(Some(f as u64))),
                _ => Err(serde::de::Error::custom(format!(
                    "{n} is not a whole number of at least 0"
                ))),
            }
        }
    }
}

/// An optional whole number that JSON may write as `198` or `198.0` (`null` is
/// absent).
pub(crate) fn whole_once<'de, D>(d: D) -> std::result::Result<Option<u64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    whole(d).map(Option::flatten)
}

/// A change to a project: absent fields are left as they are, `null` removes a
/// limit. The body of `PATCH /api/admin/projects/{id}`; the CLI builds it from
/// its flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectChange {
    /// New name (trimmed; 1 to 200 characters).
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: Option<String>,
    /// Events per minute, at least 1; `null` for no limit.
    #[serde(default, deserialize_with = "whole")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 1_000_000_000_000_u64)]
    pub quota_per_minute: Option<Option<u64>>,
    /// Events per hour, at least 1; `null` for no limit.
    #[serde(default, deserialize_with = "whole")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 1_000_000_000_000_u64)]
    pub quota_per_hour: Option<Option<u64>>,
    /// Events per day, at least 1; `null` for no limit.
    #[serde(default, deserialize_with = "whole")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 1_000_000_000_000_u64)]
    pub quota_per_day: Option<Option<u64>>,
    /// Most events stored, at least 1; `null` for no cap.
    #[serde(default, deserialize_with = "whole")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 1_000_000_000_000_u64)]
    pub max_events: Option<Option<u64>>,
    /// Events older than this many days are deleted, 1 to 36500; `null` keeps them.
    #[serde(default, deserialize_with = "whole")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 36500)]
    pub max_age_days: Option<Option<u64>>,
    /// The grouping configuration: `periscope:2026-12` (the newest),
    /// `periscope:2026-11` or `type-and-value:2026-11`; the names stored
    /// before versioning (`default`, `type-and-value`) are still accepted.
    /// Switching starts a transition (`PERISCOPE_GROUPING_TRANSITION_DAYS`)
    /// during which events are grouped under both configurations, so existing
    /// issues keep their events.
    pub grouping_strategy: Option<String>,
    /// Fingerprint rules in Sentry's syntax (`error.type:Timeout -> timeouts`),
    /// one per line; `""` for none.
    pub fingerprint_rules: Option<String>,
    /// Stack-trace rules in Sentry's syntax (`stack.module:vendor.* -app`),
    /// one per line; `""` for none.
    pub stacktrace_rules: Option<String>,
}

impl ProjectChange {
    /// The project's name and settings after the change, or why it is refused.
    fn apply(self, mut settings: ProjectSettings) -> Result<(Option<String>, ProjectSettings)> {
        let name = self.name.as_deref().map(check_name).transpose()?;
        let limit = |field: &'static str,
                     value: Option<Option<u64>>,
                     max: u64|
         -> Result<Option<Option<u64>>> {
            match value {
                Some(Some(0)) => Err(ServiceError::field(
                    field,
                    format!("{field} must be at least 1 (or null for no limit)"),
                )),
                Some(Some(n)) if n > max => Err(ServiceError::field(
                    field,
                    format!("{field} must be at most {max} (or null for no limit)"),
                )),
                other => Ok(other),
            }
        };
        if let Some(v) = limit("quota_per_minute", self.quota_per_minute, MAX_LIMIT)? {
            settings.quota_per_minute = v;
        }
        if let Some(v) = limit("quota_per_hour", self.quota_per_hour, MAX_LIMIT)? {
            settings.quota_per_hour = v;
        }
        if let Some(v) = limit("quota_per_day", self.quota_per_day, MAX_LIMIT)? {
            settings.quota_per_day = v;
        }
        if let Some(v) = limit("max_events", self.max_events, MAX_LIMIT)? {
            settings.max_events = v;
        }
        if let Some(v) = limit("max_age_days", self.max_age_days, u64::from(MAX_AGE_DAYS))? {
            settings.max_age_days = v.map(|d| u32::try_from(d).unwrap_or(MAX_AGE_DAYS));
        }
        if let Some(s) = self.grouping_strategy {
            let config: periscope_grouping::ConfigId = s.parse().map_err(|_| {
                let known: Vec<&str> = periscope_grouping::ConfigId::ALL
                    .iter()
                    .map(|c| c.as_str())
                    .collect();
                ServiceError::field(
                    "grouping_strategy",
                    format!(
                        "unknown grouping_strategy {s:?} (known: {})",
                        known.join(", ")
                    ),
                )
            })?;
            // A name from before versioning is stored in its usual spelling
            // (it means the same configuration); an id as the id.
            let is_id = config.as_str().eq_ignore_ascii_case(s.trim());
            settings.grouping_strategy = match config.legacy_name() {
                Some(legacy) if !is_id => legacy,
                _ => config.as_str(),
            }
            .to_owned();
        }
        if let Some(rules) = self.fingerprint_rules {
            super::grouping::compile_rules(&rules, "")?;
            settings.fingerprint_rules = rules;
        }
        if let Some(rules) = self.stacktrace_rules {
            super::grouping::compile_rules("", &rules)?;
            settings.stacktrace_rules = rules;
        }
        Ok((name, settings))
    }
}

impl Service {
    fn base_url(&self) -> &str {
        &self.config.base_url
    }

    /// Creates a project with one new key.
    pub fn create_project(&self, name: &str) -> Result<ProjectView> {
        let name = check_name(name)?;
        let p = self
            .db
            .create_project(&name, &new_public_key(), Utc::now())?;
        // New projects group with the newest configuration (the column's
        // default is the first, which projects made before versioning keep).
        let settings = ProjectSettings {
            grouping_strategy: periscope_grouping::ConfigId::NEWEST.as_str().to_owned(),
            ..p.settings.clone()
        };
        let p = self
            .db
            .update_project(
                p.id,
                &ProjectUpdate {
                    name: None,
                    settings: Some(settings),
                },
            )?
            .unwrap_or(p);
        (self.keys_changed)();
        Ok(ProjectView::of(self.base_url(), &p))
    }

    /// Every project, by id.
    pub fn list_projects(&self) -> Result<Vec<ProjectView>> {
        Ok(self
            .db
            .list_projects()?
            .iter()
            .map(|p| ProjectView::of(self.base_url(), p))
            .collect())
    }

    /// One project.
    pub fn project(&self, id: i64) -> Result<ProjectView> {
        Ok(ProjectView::of(self.base_url(), &self.require_project(id)?))
    }

    pub(super) fn require_project(&self, id: i64) -> Result<periscope_store::Project> {
        self.db
            .get_project(ProjectId(id))?
            .ok_or_else(|| ServiceError::NotFound(format!("no project {id}")))
    }

    /// Changes a project's name and settings.
    pub fn update_project(&self, id: i64, change: ProjectChange) -> Result<ProjectView> {
        let current = self.require_project(id)?;
        let old_config = current.settings.grouping_strategy.clone();
        let (name, mut settings) = change.apply(current.settings)?;
        if settings.grouping_strategy != old_config {
            super::grouping::start_transition(
                &mut settings,
                &old_config,
                Utc::now(),
                self.config.grouping_transition,
            );
        }
        let p = self
            .db
            .update_project(
                ProjectId(id),
                &ProjectUpdate {
                    name,
                    settings: Some(settings),
                },
            )?
            .ok_or_else(|| ServiceError::NotFound(format!("no project {id}")))?;
        (self.keys_changed)();
        Ok(ProjectView::of(self.base_url(), &p))
    }

    /// Adds a new random client key to a project; returns it.
    pub fn add_key(&self, project_id: i64) -> Result<KeyView> {
        let key = new_public_key();
        let p = self
            .db
            .add_project_key(ProjectId(project_id), &key, Utc::now())?
            .ok_or_else(|| ServiceError::NotFound(format!("no project {project_id}")))?;
        (self.keys_changed)();
        p.keys
            .iter()
            .find(|k| k.public_key == key)
            .map(|k| KeyView::of(self.base_url(), p.id.get(), k))
            .ok_or_else(|| {
                ServiceError::Internal(format!("the new key of project {project_id} is not listed"))
            })
    }

    /// A project's client keys, oldest first, revoked ones included.
    pub fn keys(&self, project_id: i64) -> Result<Vec<KeyView>> {
        Ok(self.project(project_id)?.keys)
    }

    /// Revokes a client key of a project: from now on it authenticates nothing
    /// (the ingest key caches of every replica drop it within about a second);
    /// it stays listed with its `revoked_at`. Revoking a revoked key is fine.
    /// The project's last active key cannot be revoked (a conflict): add
    /// another one first. Returns the key as it is now.
    pub fn revoke_key(&self, project_id: i64, public_key: &str) -> Result<KeyView> {
        let key = check_public_key(public_key)?;
        self.require_project(project_id)?;
        if !self
            .db
            .revoke_project_key(ProjectId(project_id), &key, Utc::now())?
        {
            return Err(ServiceError::NotFound(format!(
                "no key {key} in project {project_id}"
            )));
        }
        (self.keys_changed)();
        let p = self.require_project(project_id)?;
        p.keys
            .iter()
            .find(|k| k.public_key == key)
            .map(|k| KeyView::of(self.base_url(), p.id.get(), k))
            .ok_or_else(|| ServiceError::NotFound(format!("no key {key} in project {project_id}")))
    }

    /// Deletes a project with everything of it; returns what it was.
    pub fn delete_project(&self, id: i64) -> Result<ProjectView> {
        let p = self.require_project(id)?;
        if !self.db.delete_project(ProjectId(id))? {
            return Err(ServiceError::NotFound(format!("no project {id}")));
        }
        (self.keys_changed)();
        Ok(ProjectView::of(self.base_url(), &p))
    }
}

/// An address to reach this server's own listener from inside: the bound
/// address, with an unspecified IP (`0.0.0.0`, `::`) replaced by loopback.
pub(crate) fn loopback(listener: std::net::SocketAddr) -> std::net::SocketAddr {
    let mut a = listener;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv6() {
            std::net::Ipv6Addr::LOCALHOST.into()
        } else {
            std::net::Ipv4Addr::LOCALHOST.into()
        });
    }
    a
}

impl Service {
    /// Sends a test event to the project through the Sentry protocol, to this
    /// server's own listener on loopback (not through the base URL, which may not
    /// be reachable from inside), with the project's first active key; returns
    /// its event id once the server acknowledged it.
    pub async fn send_test_event(
        &self,
        project_id: i64,
        listener: std::net::SocketAddr,
    ) -> Result<String> {
        let service = self.clone();
        let project = tokio::task::spawn_blocking(move || service.require_project(project_id))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))??;
        let Some(key) = project.keys.iter().find(|k| k.is_active()) else {
            return Err(ServiceError::invalid(format!(
                "project {project_id} has no active key to send with"
            )));
        };
        let event_id = format!("{:032x}", rand::random::<u128>());
        let body = serde_json::json!({
            "event_id": event_id,
            "level": "error",
            "platform": "other",
            "logger": "periscope",
            "message": {"formatted": "This is a test event sent from Periscope's project setup page"},
            "tags": {"source": "periscope-test-event"},
            "sdk": {"name": "periscope.test-event", "version": env!("CARGO_PKG_VERSION")},
        });
        let url = format!("http://{}/api/{project_id}/store/", loopback(listener));
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let answer = client
            .post(&url)
            .header(
                "x-sentry-auth",
                format!(
                    "Sentry sentry_key={}, sentry_version=7, sentry_client=periscope-test-event/{}",
                    key.public_key,
                    env!("CARGO_PKG_VERSION")
                ),
            )
            .json(&body)
            .send()
            .await
            .map_err(|e| ServiceError::Internal(format!("sending the test event failed: {e}")))?;
        let status = answer.status();
        if status.is_success() {
            Ok(event_id)
        } else {
            let text = answer.text().await.unwrap_or_default();
            let detail = format!(
                "the server refused the test event ({status}): {}",
                crate::text::shorten(&text, 300)
            );
            // A quota is the project's state, not a failure of the server:
            // a conflict the admin resolves by waiting or raising it.
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                Err(ServiceError::Conflict(detail))
            } else {
                Err(ServiceError::Internal(detail))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(v: serde_json::Value) -> Result<(Option<String>, ProjectSettings)> {
        serde_json::from_value::<ProjectChange>(v)
            .map_err(|e| ServiceError::invalid(e.to_string()))?
            .apply(ProjectSettings::default())
    }

    fn memory_service(calls: std::sync::Arc<std::sync::atomic::AtomicUsize>) -> Service {
        let store = periscope_store::Store::open_url("sqlite::memory:").unwrap();
        let config = crate::config::Config::from_lookup(&|_| None).unwrap();
        Service::new(std::sync::Arc::new(store), std::sync::Arc::new(config)).on_keys_changed(
            move || {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            },
        )
    }

    #[test]
    fn public_keys_are_32_hex_digits() {
        assert_eq!(check_public_key(&"A".repeat(32)).unwrap(), "a".repeat(32));
        let spaced = format!(" {} ", "a".repeat(32));
        for bad in [
            "",
            "abc",
            &"g".repeat(32),
            &"a".repeat(33),
            "../../x",
            &spaced,
        ] {
            let e = check_public_key(bad).unwrap_err();
            assert_eq!(e.field_name(), Some("public_key"), "{bad:?}");
        }
    }

    #[test]
    fn keys_are_added_and_revoked_but_never_the_last_active_one() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let s = memory_service(calls.clone());
        let p = s.create_project("keys").unwrap();
        let first = p.keys[0].public_key.clone();
        // The only key: a conflict, nothing changed.
        let e = s.revoke_key(p.id, &first).unwrap_err();
        assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
        assert!(e.to_string().contains("last active key"), "{e}");
        let added = s.add_key(p.id).unwrap();
        assert_eq!(added.public_key.len(), 32);
        assert_eq!(added.revoked_at, None);
        assert!(added.dsn.contains(&added.public_key));
        let before = calls.load(Ordering::Relaxed);
        // Any case of the key is the key.
        let revoked = s.revoke_key(p.id, &first.to_ascii_uppercase()).unwrap();
        assert_eq!(revoked.public_key, first);
        assert!(revoked.revoked_at.is_some());
        assert_eq!(
            calls.load(Ordering::Relaxed),
            before + 1,
            "key caches dropped"
        );
        // Twice is fine and keeps the first time.
        assert_eq!(s.revoke_key(p.id, &first).unwrap(), revoked);
        // Listed for the record; the project's DSN is the active key's.
        let keys = s.keys(p.id).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0], revoked);
        assert_eq!(s.project(p.id).unwrap().dsn, Some(added.dsn.clone()));
        // Now the added key is the last active one.
        let e = s.revoke_key(p.id, &added.public_key).unwrap_err();
        assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
        // Unknown keys and projects, malformed keys.
        let e = s.revoke_key(p.id, &"0".repeat(32)).unwrap_err();
        assert!(matches!(e, ServiceError::NotFound(_)), "{e:?}");
        let e = s.revoke_key(987_654, &first).unwrap_err();
        assert!(matches!(e, ServiceError::NotFound(_)), "{e:?}");
        assert!(matches!(
            s.add_key(987_654).unwrap_err(),
            ServiceError::NotFound(_)
        ));
        assert!(matches!(
            s.keys(987_654).unwrap_err(),
            ServiceError::NotFound(_)
        ));
        let e = s.revoke_key(p.id, "nope").unwrap_err();
        assert_eq!(e.field_name(), Some("public_key"));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(check_name("  shop  ").unwrap(), "shop");
        assert!(check_name("   ").is_err());
        assert!(check_name(&"x".repeat(200)).is_ok());
        assert!(check_name(&"é".repeat(201)).is_err());
    }

    #[test]
    fn limits_are_at_least_one_and_bounded() {
        assert!(change(serde_json::json!({"quota_per_minute": 0})).is_err());
        assert!(change(serde_json::json!({"max_events": 0})).is_err());
        assert!(change(serde_json::json!({"max_age_days": 36501})).is_err());
        assert!(change(serde_json::json!({"quota_per_day": 1_000_000_000_001_u64})).is_err());
        let (_, s) =
            change(serde_json::json!({"quota_per_minute": 198.0, "max_age_days": 7})).unwrap();
        assert_eq!(s.quota_per_minute, Some(198));
        assert_eq!(s.max_age_days, Some(7));
        assert!(change(serde_json::json!({"quota_per_minute": 1.5})).is_err());
        assert!(change(serde_json::json!({"quota_per_minute": -1})).is_err());
        let (_, s) = change(serde_json::json!({"quota_per_minute": null})).unwrap();
        assert_eq!(s.quota_per_minute, None);
        assert!(change(serde_json::json!({"grouping_strategy": "nope"})).is_err());
        assert!(change(serde_json::json!({"color": "red"})).is_err());
    }
}
