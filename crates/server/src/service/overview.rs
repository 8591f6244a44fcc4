//! What the pages that summarise show: projects with their activity, issue rows
//! with their sparklines, and everything the issue page needs in one call.
//!
//! All of it comes from counters the digest writer keeps as events arrive (hourly
//! counts per issue and project, tag value counts, distinct users), never from a
//! scan of the events table.

use chrono::{DateTime, Duration, DurationRound, Utc};
use periscope_sentry_envelope::Event;
use periscope_store::{
    Activity, CountBucket, EventPosition, EventSummary, Issue, IssueId, ProjectId, StoredEvent,
    TagDistribution,
};

use super::event::{EventDetails, event_details};
use super::views::{AlertView, ProjectView};
use super::{IssueQuery, Result, Service, ServiceError};

/// Days in the sparklines.
pub const SPARK_DAYS: usize = 14;
/// Most alerts shown in an issue's activity.
pub const ISSUE_ALERTS: usize = 50;
/// Most tag values shown per key on the issue page.
pub const TOP_TAG_VALUES: usize = 10;

/// A project with its activity.
#[derive(Debug, Clone)]
pub struct ProjectSummary {
    /// The project.
    pub project: ProjectView,
    /// Its unresolved issues.
    pub unresolved: u64,
    /// Events received in the last 24 hours.
    pub events_24h: u64,
    /// Events per day for the last [`SPARK_DAYS`] days, oldest first (today last).
    pub daily: Vec<u64>,
}

/// An issue row of a list.
#[derive(Debug, Clone)]
pub struct IssueSummary {
    /// The issue.
    pub issue: Issue,
    /// Events per day for the last [`SPARK_DAYS`] days, oldest first.
    pub daily: Vec<u64>,
}

/// A page of issue rows.
#[derive(Debug, Clone)]
pub struct IssueSummaries {
    /// The rows.
    pub items: Vec<IssueSummary>,
    /// The cursor of the next page.
    pub next_cursor: Option<String>,
}

/// Everything the issue page shows.
#[derive(Debug, Clone)]
pub struct IssuePage {
    /// The issue.
    pub issue: Issue,
    /// Its project.
    pub project: ProjectView,
    /// The event shown (the one asked for, else the latest stored).
    pub event: Option<StoredEvent>,
    /// Its contents, read for display.
    pub details: Option<EventDetails>,
    /// Where it sits among the issue's stored events.
    pub position: Option<EventPosition>,
    /// How the shown event groups now.
    pub grouping: Option<periscope_grouping::Grouping>,
    /// The project's grouping strategy.
    pub strategy: String,
    /// Events per hour for the last 48 hours, oldest first.
    pub hourly: Vec<u64>,
    /// Events per day for the last 30 days, oldest first.
    pub daily: Vec<u64>,
    /// Events in the last 24 hours.
    pub count_24h: u64,
    /// Events in the last 30 days.
    pub count_30d: u64,
    /// The distribution of each tag's values.
    pub tags: Vec<TagDistribution>,
    /// Status changes and regressions, newest first.
    pub activity: Vec<Activity>,
    /// Alerts raised for this issue, newest first.
    pub alerts: Vec<AlertView>,
    /// Releases to offer for "resolve in release".
    pub releases: Vec<String>,
    /// With a search within the issue's events: the matching events.
    pub matches: Option<Vec<EventSummary>>,
}

/// Counts per bucket of `width`, `n` buckets ending with the one holding `now`.
fn series(buckets: &[CountBucket], now: DateTime<Utc>, width: Duration, n: usize) -> Vec<u64> {
    let mut out = vec![0u64; n];
    let last_start = now.duration_trunc(width).unwrap_or(now);
    let w = width.num_milliseconds().max(1);
    for b in buckets {
        let back = (last_start - b.start).num_milliseconds();
        let back = if back <= 0 { 0 } else { (back + w - 1) / w };
        let Ok(back) = usize::try_from(back) else {
            continue;
        };
        if b.start > last_start + width {
            continue;
        }
        if back < n {
            let i = n - 1 - back;
            out[i] = out[i].saturating_add(b.count);
        }
    }
    out
}

fn sum_since(buckets: &[CountBucket], since: DateTime<Utc>) -> u64 {
    buckets
        .iter()
        .filter(|b| b.start >= since)
        .map(|b| b.count)
        .sum()
}

impl Service {
    /// Every project with its unresolved issues and recent events.
    pub fn project_summaries(&self, now: DateTime<Utc>) -> Result<Vec<ProjectSummary>> {
        let projects = self.db.list_projects()?;
        let unresolved = self.db.unresolved_counts()?;
        let since = (now - Duration::days(SPARK_DAYS as i64))
            .duration_trunc(Duration::days(1))
            .unwrap_or(now);
        let counts = self.db.project_counts(since)?;
        let base = &self.config.base_url;
        Ok(projects
            .iter()
            .map(|p| {
                let buckets = counts
                    .iter()
                    .find(|(id, _)| *id == p.id)
                    .map(|(_, b)| b.as_slice())
                    .unwrap_or_default();
                ProjectSummary {
                    project: ProjectView::of(base, p),
                    unresolved: unresolved
                        .iter()
                        .find(|(id, _)| *id == p.id)
                        .map_or(0, |(_, n)| *n),
                    events_24h: sum_since(buckets, now - Duration::hours(24)),
                    daily: series(buckets, now, Duration::days(1), SPARK_DAYS),
                }
            })
            .collect())
    }

    /// A page of a project's issues with their sparklines.
    pub fn issue_summaries(
        &self,
        project_id: i64,
        q: IssueQuery,
        now: DateTime<Utc>,
    ) -> Result<IssueSummaries> {
        let filter = q.filter()?;
        self.require_project(project_id)?;
        let page = self.db.list_issues(ProjectId(project_id), &filter)?;
        let ids: Vec<IssueId> = page.items.iter().map(|i| i.id).collect();
        let since = (now - Duration::days(SPARK_DAYS as i64))
            .duration_trunc(Duration::days(1))
            .unwrap_or(now);
        let counts = self.db.issue_counts(&ids, since)?;
        Ok(IssueSummaries {
            items: page
                .items
                .into_iter()
                .map(|issue| {
                    let buckets = counts
                        .iter()
                        .find(|(id, _)| *id == issue.id)
                        .map(|(_, b)| b.as_slice())
                        .unwrap_or_default();
                    IssueSummary {
                        daily: series(buckets, now, Duration::days(1), SPARK_DAYS),
                        issue,
                    }
                })
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// One stored event of an issue (with its payload).
    pub fn issue_event(&self, issue_id: i64, event_id: &str) -> Result<StoredEvent> {
        let issue = self.scoped_issue(issue_id, None)?;
        let event_id = super::issues::normalize_event_id(event_id)?;
        match self.db.get_event(issue.project_id, &event_id)? {
            Some(e) if e.summary.issue_id == issue.id => Ok(e),
            _ => Err(ServiceError::NotFound(format!(
                "no event {event_id} in issue {issue_id}"
            ))),
        }
    }

    /// The issue page: the issue, one of its events (`event_id`, else the latest),
    /// counts, tags, activity, and the events matching `event_query` if given.
    pub fn issue_page(
        &self,
        id: i64,
        event_id: Option<&str>,
        event_query: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<IssuePage> {
        let issue = self.scoped_issue(id, None)?;
        let project = self
            .db
            .get_project(issue.project_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("no issue {id}")))?;
        let strategy = project.settings.grouping_strategy.clone();
        let event = match event_id {
            Some(e) => {
                let e = super::issues::normalize_event_id(e)?;
                match self.db.get_event(issue.project_id, &e)? {
                    Some(ev) if ev.summary.issue_id == issue.id => Some(ev),
                    _ => {
                        return Err(ServiceError::NotFound(format!(
                            "no event {e} in issue {id}"
                        )));
                    }
                }
            }
            None => match self.db.list_events(issue.id, None, 1, None)?.items.first() {
                Some(s) => self.db.get_event(issue.project_id, &s.event_id)?,
                None => None,
            },
        };
        let position = match &event {
            Some(e) => self.db.event_position(issue.id, &e.summary.event_id)?,
            None => None,
        };
        let details = event.as_ref().map(|e| event_details(&e.payload));
        let grouping = event.as_ref().and_then(|e| {
            let parsed = Event::from_slice(&e.payload).ok()?;
            Some(
                super::grouping::ProjectGrouping::of(&project.settings)
                    .current()
                    .group(&parsed),
            )
        });
        let since = (now - Duration::days(30))
            .duration_trunc(Duration::days(1))
            .unwrap_or(now);
        let buckets = self
            .db
            .issue_counts(&[issue.id], since)?
            .into_iter()
            .next()
            .map(|(_, b)| b)
            .unwrap_or_default();
        let tags = self.db.tag_distribution(issue.id, TOP_TAG_VALUES)?;
        let mut releases: Vec<String> = Vec::new();
        for r in [issue.last_release.clone(), issue.first_release.clone()]
            .into_iter()
            .flatten()
            .chain(
                tags.iter()
                    .filter(|t| t.key == "release")
                    .flat_map(|t| t.values.iter().map(|(v, _)| v.clone())),
            )
        {
            if !releases.contains(&r) {
                releases.push(r);
            }
        }
        let alerts = self
            .db
            .issue_alerts(issue.id, ISSUE_ALERTS)?
            .iter()
            .map(AlertView::from)
            .collect();
        let matches = match event_query.map(str::trim).filter(|q| !q.is_empty()) {
            Some(q) => {
                let q = super::issues::checked_query(Some(q.to_owned()))?;
                Some(self.db.list_events(issue.id, None, 50, Some(&q))?.items)
            }
            None => None,
        };
        Ok(IssuePage {
            activity: self.db.list_activity(issue.id, 50)?,
            project: ProjectView::of(&self.config.base_url, &project),
            hourly: series(&buckets, now, Duration::hours(1), 48),
            daily: series(&buckets, now, Duration::days(1), 30),
            count_24h: sum_since(&buckets, now - Duration::hours(24)),
            count_30d: buckets.iter().map(|b| b.count).sum(),
            issue,
            event,
            details,
            position,
            grouping,
            strategy,
            tags,
            alerts,
            releases,
            matches,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn series_ends_with_the_current_bucket() {
        let now = t("2026-11-30T12:30:00Z");
        let b = |s: &str, count| CountBucket { start: t(s), count };
        let buckets = [
            b("2026-11-30T12:00:00Z", 3),
            b("2026-11-30T11:00:00Z", 2),
            b("2026-11-30T09:00:00Z", 1),
            b("2026-11-29T09:00:00Z", 7),
        ];
        assert_eq!(
            series(&buckets, now, Duration::hours(1), 4),
            vec![1, 0, 2, 3]
        );
        assert_eq!(series(&buckets, now, Duration::days(1), 2), vec![7, 6]);
        assert_eq!(sum_since(&buckets, now - Duration::hours(24)), 6);
    }
}
