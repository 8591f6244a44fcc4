//! Issues and their events.

use chrono::{DateTime, Utc};
use periscope_sentry_envelope::Event;
use periscope_store::{
    IssueAction, IssueFilter, IssueId, IssueSort, ProjectId, StatusFilter, StoredEvent,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::views::{EventView, GroupingView, IssueDetailView, IssueView, PageView};
use super::{Result, Service, ServiceError, page_limit};

/// Longest mute by time: ten years.
pub const MAX_MUTE_SECONDS: u64 = 10 * 365 * 86_400;
/// Longest issue search, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;

/// Which issues to list. The query of `GET /api/admin/projects/{id}/issues`; the
/// CLI builds it from its flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IssueQuery {
    /// `unresolved` (default), `resolved`, `muted` or `all`.
    #[param(pattern = "^(unresolved|resolved|muted|all)$")]
    pub status: Option<String>,
    /// Free text and `key:value` terms (`level:`, `release:`, `environment:`, tag
    /// keys); at most 1000 characters.
    #[param(max_length = 1000)]
    pub query: Option<String>,
    /// The order, newest or largest first: `last_seen` (default), `first_seen`
    /// or `count` (events).
    #[param(pattern = "^(last_seen|first_seen|count)$")]
    pub sort: Option<String>,
    /// The `next_cursor` of the previous page (of the same sort).
    #[param(pattern = "^([icf]-?[0-9]{1,18}_-?[0-9]{1,18})?$")]
    pub cursor: Option<String>,
    /// Issues per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

pub(super) fn status_filter(s: Option<&str>) -> Result<StatusFilter> {
    match s.unwrap_or("unresolved") {
        "unresolved" => Ok(StatusFilter::Unresolved),
        "resolved" => Ok(StatusFilter::Resolved),
        "muted" => Ok(StatusFilter::Muted),
        "all" => Ok(StatusFilter::All),
        other => Err(ServiceError::invalid(format!(
            "unknown status {other:?} (use unresolved, resolved, muted or all)"
        ))),
    }
}

/// The sorts of an issue listing, as every door names them.
pub const ISSUE_SORTS: [&str; 3] = ["last_seen", "first_seen", "count"];

/// The sort named `s` (none: `last_seen`).
pub(super) fn issue_sort(s: Option<&str>) -> Result<IssueSort> {
    match s.unwrap_or("last_seen") {
        "last_seen" => Ok(IssueSort::LastSeen),
        "first_seen" => Ok(IssueSort::FirstSeen),
        "count" => Ok(IssueSort::EventCount),
        other => Err(ServiceError::field(
            "sort",
            format!(
                "unknown sort {:?} (use {})",
                crate::text::shorten(other, 64),
                ISSUE_SORTS.join(", ")
            ),
        )),
    }
}

/// The name of a sort, as [`ISSUE_SORTS`] has it.
fn sort_name(sort: IssueSort) -> &'static str {
    match sort {
        IssueSort::LastSeen => "last_seen",
        IssueSort::FirstSeen => "first_seen",
        IssueSort::EventCount => "count",
    }
}

impl IssueQuery {
    /// The store's filter for this query, or why it is refused (status, sort,
    /// search length, page size; a cursor made for another sort is a
    /// conflict: it is a well-formed cursor, of another listing).
    pub(super) fn filter(self) -> Result<IssueFilter> {
        let sort = issue_sort(self.sort.as_deref())?;
        let cursor = self.cursor.filter(|c| !c.is_empty());
        if let Some(other) = cursor.as_deref().and_then(IssueSort::of_cursor)
            && other != sort
        {
            return Err(ServiceError::Conflict(format!(
                "this cursor continues a list sorted by {0}, not {1}: pass sort={0} with it, or start again without a cursor",
                sort_name(other),
                sort_name(sort)
            )));
        }
        Ok(IssueFilter {
            status: status_filter(self.status.as_deref())?,
            sort,
            query: checked_query(self.query)?,
            cursor,
            limit: page_limit(self.limit, 50)?,
        })
    }
}

/// A search query within its length bound (none: the empty query).
pub(super) fn checked_query(q: Option<String>) -> Result<String> {
    let q = q.unwrap_or_default();
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(ServiceError::invalid(format!(
            "query must be at most {MAX_QUERY_CHARS} characters"
        )));
    }
    Ok(q)
}

/// A change of an issue's status. The body of `PATCH /api/admin/issues/{id}`; the
/// CLI's `issue resolve|mute|reopen` build it from their flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueChange {
    /// `resolved`, `unresolved` or `muted`.
    pub status: String,
    /// With `resolved`: resolved in this release (trimmed, not empty, at most
    /// 200 characters); a later release's event reopens the issue.
    pub resolved_in_release: Option<String>,
    /// With `muted`: for this many seconds (1 to ten years).
    #[serde(default, deserialize_with = "super::projects::whole_once")]
    pub mute_for_seconds: Option<u64>,
    /// With `muted`: until this many more events arrive (at least 1).
    #[serde(default, deserialize_with = "super::projects::whole_once")]
    pub mute_until_count: Option<u64>,
}

/// A placeholder for the derive: the document uses [`IssueChange::json_schema`].
impl utoipa::PartialSchema for IssueChange {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(
            utoipa::openapi::schema::Object::new(),
        ))
    }
}

impl IssueChange {
    /// The JSON Schema of exactly what [`IssueChange::action`] accepts: one shape
    /// per status, the mute fields exclusive.
    pub fn json_schema() -> serde_json::Value {
        let release = serde_json::json!({
            "type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S",
            "description": "Resolved in this release (trimmed); an event of a later release reopens the issue."
        });
        let shape = |status: &str, extra: serde_json::Value, required: &[&str]| {
            let mut properties =
                serde_json::json!({"status": {"type": "string", "enum": [status]}});
            if let (Some(p), Some(e)) = (properties.as_object_mut(), extra.as_object()) {
                p.extend(e.clone());
            }
            let mut req = vec!["status"];
            req.extend_from_slice(required);
            serde_json::json!({
                "type": "object", "additionalProperties": false,
                "required": req, "properties": properties
            })
        };
        serde_json::json!({
            "oneOf": [
                shape("resolved", serde_json::json!({"resolved_in_release": release}), &[]),
                shape("unresolved", serde_json::json!({}), &[]),
                shape("muted", serde_json::json!({}), &[]),
                shape("muted", serde_json::json!({"mute_for_seconds": {
                    "type": "integer", "minimum": 1, "maximum": MAX_MUTE_SECONDS,
                    "description": "Muted for this many seconds."}}), &["mute_for_seconds"]),
                shape("muted", serde_json::json!({"mute_until_count": {
                    "type": "integer", "minimum": 1, "maximum": u64::MAX,
                    "description": "Muted until this many more events arrive."}}), &["mute_until_count"]),
            ]
        })
    }
}

impl ToSchema for IssueChange {}

impl IssueChange {
    /// The store action, or why the change is refused.
    pub fn action(self, now: DateTime<Utc>) -> Result<IssueAction> {
        let mute_fields = self.mute_for_seconds.is_some() || self.mute_until_count.is_some();
        match self.status.as_str() {
            "resolved" => {
                if mute_fields {
                    return Err(ServiceError::invalid(
                        "mute_for_seconds and mute_until_count go with status \"muted\"",
                    ));
                }
                match self.resolved_in_release {
                    None => Ok(IssueAction::Resolve),
                    Some(r) if r.trim().is_empty() => Err(ServiceError::invalid(
                        "resolved_in_release must not be empty",
                    )),
                    Some(r) if r.chars().count() > 200 => Err(ServiceError::invalid(
                        "resolved_in_release must be at most 200 characters",
                    )),
                    Some(r) => Ok(IssueAction::ResolveInRelease(r.trim().to_owned())),
                }
            }
            "muted" => {
                if self.resolved_in_release.is_some() {
                    return Err(ServiceError::invalid(
                        "resolved_in_release goes with status \"resolved\"",
                    ));
                }
                match (self.mute_for_seconds, self.mute_until_count) {
                    (Some(_), Some(_)) => Err(ServiceError::invalid(
                        "give mute_for_seconds or mute_until_count, not both",
                    )),
                    (Some(secs), None) => {
                        if secs == 0 || secs > MAX_MUTE_SECONDS {
                            return Err(ServiceError::invalid(format!(
                                "mute_for_seconds must be between 1 and {MAX_MUTE_SECONDS}"
                            )));
                        }
                        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
                        Ok(IssueAction::MuteUntil(
                            now + chrono::Duration::seconds(secs),
                        ))
                    }
                    (None, Some(0)) => {
                        Err(ServiceError::invalid("mute_until_count must be at least 1"))
                    }
                    (None, Some(n)) => Ok(IssueAction::MuteForEvents(n)),
                    (None, None) => Ok(IssueAction::Mute),
                }
            }
            "unresolved" => {
                if mute_fields || self.resolved_in_release.is_some() {
                    return Err(ServiceError::invalid(
                        "status \"unresolved\" takes no other field",
                    ));
                }
                Ok(IssueAction::Reopen)
            }
            other => Err(ServiceError::invalid(format!(
                "unknown status {other:?} (use resolved, unresolved or muted)"
            ))),
        }
    }
}

/// An issue with its latest stored event (payload included) and its project's
/// grouping strategy: what `issue show` and `GET /api/admin/issues/{id}` display.
#[derive(Debug, Clone)]
pub struct IssueDetail {
    /// The issue.
    pub issue: periscope_store::Issue,
    /// Its latest stored event, with the payload.
    pub latest: Option<StoredEvent>,
    /// Its project's settings (the grouping configuration and rules with them).
    pub settings: periscope_store::ProjectSettings,
}

impl IssueDetail {
    /// The grouping of the latest event (grouping is deterministic, so this is
    /// how the issue's events group now).
    pub fn grouping(&self) -> Option<periscope_grouping::Grouping> {
        let event = Event::from_slice(&self.latest.as_ref()?.payload).ok()?;
        Some(
            super::grouping::ProjectGrouping::of(&self.settings)
                .current()
                .group(&event),
        )
    }

    /// The view every door shows.
    pub fn view(&self) -> IssueDetailView {
        let grouping = self.grouping();
        IssueDetailView {
            issue: IssueView::from(&self.issue),
            grouping: GroupingView {
                strategy: self.settings.grouping_strategy.clone(),
                key: grouping.as_ref().map(|g| g.key.clone()),
                variant: grouping.as_ref().map(|g| g.variant.clone()),
                explanation: grouping
                    .as_ref()
                    .and_then(|g| serde_json::to_value(&g.explanation).ok()),
                stored_explanation: self.issue.grouping_explanation.clone(),
            },
            latest_event: self.latest.as_ref().map(|e| EventView::from(&e.summary)),
        }
    }
}

/// An event id as stored: 32 lowercase hex characters (dashes and case ignored).
pub(super) fn normalize_event_id(raw: &str) -> Result<String> {
    let id: String = raw
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(ServiceError::invalid(format!(
            "{:?} is not an event id (32 hexadecimal characters)",
            crate::text::shorten(raw, 64)
        )))
    }
}

impl Service {
    /// A page of a project's issues.
    pub fn list_issues(&self, project_id: i64, q: IssueQuery) -> Result<PageView<IssueView>> {
        let filter = q.filter()?;
        self.require_project(project_id)?;
        let page = self.db.list_issues(ProjectId(project_id), &filter)?;
        Ok(PageView {
            items: page.items.iter().map(IssueView::from).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// An issue, optionally required to belong to `project`.
    pub(super) fn scoped_issue(
        &self,
        id: i64,
        project: Option<i64>,
    ) -> Result<periscope_store::Issue> {
        match self.db.get_issue(IssueId(id))? {
            Some(i) if project.is_none_or(|p| p == i.project_id.get()) => Ok(i),
            _ => Err(ServiceError::NotFound(format!("no issue {id}"))),
        }
    }

    /// An issue with its latest event and grouping.
    pub fn issue_detail(&self, id: i64, project: Option<i64>) -> Result<IssueDetail> {
        let issue = self.scoped_issue(id, project)?;
        let settings = self
            .db
            .get_project(issue.project_id)?
            .map(|p| p.settings)
            .unwrap_or_default();
        let latest = match self
            .db
            .list_events(IssueId(id), None, 1, None)?
            .items
            .first()
        {
            Some(s) => self.db.get_event(issue.project_id, &s.event_id)?,
            None => None,
        };
        Ok(IssueDetail {
            issue,
            latest,
            settings,
        })
    }

    /// Changes an issue's status; `actor` (who did it, if known) goes into the
    /// issue's activity log.
    pub fn update_issue(
        &self,
        id: i64,
        project: Option<i64>,
        change: IssueChange,
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<IssueView> {
        let action = change.action(now)?;
        self.scoped_issue(id, project)?;
        let issue = self
            .db
            .update_issue(IssueId(id), &action, actor, now)?
            .ok_or_else(|| ServiceError::NotFound(format!("no issue {id}")))?;
        Ok(IssueView::from(&issue))
    }

    /// A page of an issue's events, newest first.
    pub fn list_issue_events(
        &self,
        id: i64,
        project: Option<i64>,
        cursor: Option<String>,
        limit: Option<usize>,
    ) -> Result<PageView<EventView>> {
        let limit = page_limit(limit, 50)?;
        self.scoped_issue(id, project)?;
        let page = self.db.list_events(
            IssueId(id),
            cursor.filter(|c| !c.is_empty()).as_deref(),
            limit,
            None,
        )?;
        Ok(PageView {
            items: page.items.iter().map(EventView::from).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// One stored event with the payload the SDK sent.
    pub fn event(&self, project_id: i64, event_id: &str) -> Result<StoredEvent> {
        let event_id = normalize_event_id(event_id)?;
        self.require_project(project_id)?;
        self.db
            .get_event(ProjectId(project_id), &event_id)?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("no event {event_id} in project {project_id}"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn action(v: serde_json::Value) -> Result<IssueAction> {
        serde_json::from_value::<IssueChange>(v)
            .map_err(|e| ServiceError::invalid(e.to_string()))?
            .action(now())
    }

    #[test]
    fn status_changes_and_their_rules() {
        assert_eq!(
            action(serde_json::json!({"status": "resolved"})).unwrap(),
            IssueAction::Resolve
        );
        assert_eq!(
            action(serde_json::json!({"status": "resolved", "resolved_in_release": " 1.2 "}))
                .unwrap(),
            IssueAction::ResolveInRelease("1.2".into())
        );
        assert!(
            action(serde_json::json!({"status": "resolved", "resolved_in_release": "  "})).is_err()
        );
        assert!(
            action(
                serde_json::json!({"status": "resolved", "resolved_in_release": "x".repeat(201)})
            )
            .is_err()
        );
        assert_eq!(
            action(serde_json::json!({"status": "muted", "mute_until_count": 5})).unwrap(),
            IssueAction::MuteForEvents(5)
        );
        assert!(action(serde_json::json!({"status": "muted", "mute_until_count": 0})).is_err());
        match action(serde_json::json!({"status": "muted", "mute_for_seconds": 60})).unwrap() {
            IssueAction::MuteUntil(t) => assert_eq!(t.to_rfc3339(), "2026-01-01T00:01:00+00:00"),
            other => panic!("{other:?}"),
        }
        assert!(action(serde_json::json!({"status": "muted", "mute_for_seconds": 0})).is_err());
        assert!(
            action(
                serde_json::json!({"status": "muted", "mute_for_seconds": MAX_MUTE_SECONDS + 1})
            )
            .is_err()
        );
        assert!(
            action(
                serde_json::json!({"status": "muted", "mute_for_seconds": 5, "mute_until_count": 5})
            )
            .is_err()
        );
        assert_eq!(
            action(serde_json::json!({"status": "muted"})).unwrap(),
            IssueAction::Mute
        );
        assert_eq!(
            action(serde_json::json!({"status": "unresolved"})).unwrap(),
            IssueAction::Reopen
        );
        assert!(
            action(serde_json::json!({"status": "unresolved", "mute_until_count": 1})).is_err()
        );
        assert!(action(serde_json::json!({"status": "gone"})).is_err());
    }

    #[test]
    fn sorts_are_named_and_checked() {
        let filter = |sort: Option<&str>| {
            IssueQuery {
                sort: sort.map(str::to_owned),
                ..IssueQuery::default()
            }
            .filter()
        };
        assert_eq!(filter(None).unwrap().sort, IssueSort::LastSeen);
        assert_eq!(filter(Some("last_seen")).unwrap().sort, IssueSort::LastSeen);
        assert_eq!(
            filter(Some("first_seen")).unwrap().sort,
            IssueSort::FirstSeen
        );
        assert_eq!(filter(Some("count")).unwrap().sort, IssueSort::EventCount);
        // A cursor of another sort: a conflict naming its sort; junk is left
        // to the store (an invalid cursor).
        let with_cursor = |sort: &str, cursor: &str| {
            IssueQuery {
                sort: Some(sort.to_owned()),
                cursor: Some(cursor.to_owned()),
                ..IssueQuery::default()
            }
            .filter()
        };
        assert!(with_cursor("count", "c12_3").is_ok());
        assert!(with_cursor("last_seen", "i12_3").is_ok());
        assert!(with_cursor("first_seen", "junk").is_ok());
        let e = with_cursor("first_seen", "c12_3").unwrap_err();
        assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
        assert!(e.to_string().contains("sort=count"), "{e}");
        for bad in ["", "Count", "event_count", "priority"] {
            let e = filter(Some(bad)).unwrap_err();
            assert_eq!(e.field_name(), Some("sort"), "{bad:?}");
            let m = e.to_string();
            assert!(
                m.contains("last_seen") && m.contains("first_seen") && m.contains("count"),
                "{m}"
            );
        }
    }

    #[test]
    fn event_ids_are_normalized() {
        assert_eq!(
            normalize_event_id("550E8400-E29B-41D4-A716-446655440000").unwrap(),
            "550e8400e29b41d4a716446655440000"
        );
        assert!(normalize_event_id("xyz").is_err());
        assert!(normalize_event_id(&"a".repeat(33)).is_err());
    }
}
