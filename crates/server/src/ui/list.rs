//! A project's issue list: tabs by status, the search of the admin API, cursor
//! pages, and bulk resolve / mute / reopen, and (admins) merging the ticked
//! issues into the oldest of them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};

use super::auth::Viewer;
use super::form::{FormData, QueryData, encode, id};
use super::{call, error_page, layout, see_other};
use crate::service::{IssueChange, IssueQuery};
use crate::state::AppState;

const TABS: &[(&str, &str)] = &[
    ("unresolved", "Unresolved"),
    ("resolved", "Resolved"),
    ("muted", "Muted"),
    ("all", "All"),
];

/// The sorts offered: (name, label).
const SORTS: &[(&str, &str)] = &[
    ("last_seen", "Last seen"),
    ("first_seen", "First seen"),
    ("count", "Events"),
];

/// The list URL for a status, search and sort.
pub(crate) fn list_url(project: i64, status: &str, query: &str, sort: &str) -> String {
    let mut url = format!("/projects/{project}/issues?status={}", encode(status));
    if !query.is_empty() {
        url.push_str("&q=");
        url.push_str(&encode(query));
    }
    if sort != "last_seen" {
        url.push_str("&sort=");
        url.push_str(&encode(sort));
    }
    url
}

/// `GET /projects/{id}/issues?status=&q=&cursor=`.
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    QueryData(q): QueryData,
) -> Response {
    let project_id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let status = q
        .text("status")
        .filter(|s| TABS.iter().any(|(t, _)| t == s))
        .unwrap_or("unresolved")
        .to_owned();
    let search = q.get("q").unwrap_or_default().trim().to_owned();
    let sort = q
        .text("sort")
        .filter(|s| SORTS.iter().any(|(k, _)| k == s))
        .unwrap_or("last_seen")
        .to_owned();
    let cursor = q.text("cursor").map(str::to_owned);
    let query = IssueQuery {
        status: Some(status.clone()),
        query: Some(search.clone()),
        sort: Some(sort.clone()),
        cursor: cursor.clone(),
        limit: Some(50),
    };
    let loaded = call(&state, move |s| {
        let project = s.project(project_id)?;
        let rows = s.issue_summaries(project_id, query, Utc::now())?;
        Ok((project, rows))
    })
    .await;
    let (project, rows) = match loaded {
        Ok(x) => x,
        Err(r) => return r,
    };
    let now = Utc::now();
    let here = list_url(project_id, &status, &search, &sort);
    let body = html! {
        h1 { (project.name) }
        (super::settings::project_tabs(project_id, "issues", viewer.user.is_admin()))
        nav.tabs {
            @for (tab, label) in TABS {
                a class=(if *tab == status { "active" } else { "" }) href=(list_url(project_id, tab, &search, &sort)) { (label) }
            }
        }
        form.toolbar method="get" action={ "/projects/" (project_id) "/issues" } {
            input type="hidden" name="status" value=(status);
            @if sort != "last_seen" { input type="hidden" name="sort" value=(sort); }
            input type="search" name="q" value=(search) placeholder="Search: words, level:error, release:1.2, environment:prod, any tag key:value" aria-label="Search issues" maxlength="1000";
            button type="submit" { "Search" }
            @if !search.is_empty() { a href=(list_url(project_id, &status, "", &sort)) { "Clear" } }
        }
        nav.sorts aria-label="Sort" {
            span.muted { "Sort by " }
            @for (key, label) in SORTS {
                @if *key == sort { strong #sort { (label) } } @else { a href=(list_url(project_id, &status, &search, key)) { (label) } }
                " "
            }
        }
        @if rows.items.is_empty() {
            p.muted #empty { "No " (if status == "all" { "" } else { status.as_str() }) " issues" @if !search.is_empty() { " match this search" } "." }
        } @else {
            form method="post" action={ "/projects/" (project_id) "/issues/bulk" } {
                input type="hidden" name="_csrf" value=(viewer.csrf);
                input type="hidden" name="back" value=(here);
                div.toolbar {
                    span.muted { "With the selected issues:" }
                    button type="submit" name="action" value="resolve" { "Resolve" }
                    button type="submit" name="action" value="mute" { "Mute" }
                    button type="submit" name="action" value="reopen" { "Reopen" }
                    @if viewer.user.is_admin() {
                        button type="submit" name="action" value="merge" title="The ticked issues become one: the oldest of them (the lowest number) keeps its page, the others lead to it." { "Merge into the oldest" }
                    }
                }
                table.issues {
                    thead { tr {
                        th { input type="checkbox" data-select-all aria-label="Select all"; }
                        th { "Issue" }
                        th.num { "Events" }
                        th.num { "Users" }
                        th { "First seen" }
                        th { "Last seen" }
                        th { "14 days" }
                    } }
                    tbody {
                        @for row in &rows.items {
                            (issue_row(row, now))
                        }
                    }
                }
            }
        }
        nav.pager {
            @if cursor.is_some() { a href=(here) { "« First page" } }
            @if let Some(next) = &rows.next_cursor {
                a rel="next" href={ (here) "&cursor=" (encode(next)) } { "Next page »" }
            }
        }
    };
    layout::page(
        &project.name,
        &viewer,
        &[(
            project.name.as_str(),
            format!("/projects/{project_id}/issues"),
        )],
        body,
    )
    .into_response()
}

fn issue_row(row: &crate::service::overview::IssueSummary, now: chrono::DateTime<Utc>) -> Markup {
    let i = &row.issue;
    html! {
        tr data-issue=(i.id) {
            td { input type="checkbox" name="id" value=(i.id) aria-label="Select"; }
            td.title {
                (layout::level(&i.level)) " "
                @if i.status.as_str() != "unresolved" { (layout::status(i.status.as_str())) " " }
                a href={ "/issues/" (i.id) } { (i.title) }
                @if let Some(c) = &i.culprit { div.culprit { (c) } }
            }
            td.num { (layout::count(i.count)) }
            td.num { (layout::count(i.user_count)) }
            td { (layout::ago(i.first_seen, now)) }
            td { (layout::ago(i.last_seen, now)) }
            td { (layout::sparkline(&row.daily, "events per day, last 14 days")) }
        }
    }
}

/// `POST /projects/{id}/issues/bulk`: resolve, mute or reopen the ticked issues.
pub(crate) async fn bulk(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check(&form) {
        return r;
    }
    let project_id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if form.get("action") == Some("merge") {
        if let Err(r) = viewer.require_admin() {
            return r;
        }
        return merge(&state, &viewer, project_id, &form).await;
    }
    let status = match form.get("action") {
        Some("resolve") => "resolved",
        Some("mute") => "muted",
        Some("reopen") => "unresolved",
        _ => return error_page(StatusCode::BAD_REQUEST, "Choose resolve, mute or reopen."),
    };
    let ids: Vec<i64> = match form.all("id").map(str::parse::<i64>).collect() {
        Ok(ids) => ids,
        Err(_) => return error_page(StatusCode::BAD_REQUEST, "An issue id is not a number."),
    };
    if ids.len() > 1000 {
        return error_page(StatusCode::BAD_REQUEST, "At most 1000 issues at once.");
    }
    let actor = viewer.user.email.clone();
    let changed = call(&state, move |s| {
        for id in ids {
            s.update_issue(
                id,
                Some(project_id),
                IssueChange {
                    status: status.to_owned(),
                    ..IssueChange::default()
                },
                Some(&actor),
                Utc::now(),
            )?;
        }
        Ok(())
    })
    .await;
    if let Err(r) = changed {
        return r;
    }
    let back = form
        .get("back")
        .filter(|b| b.starts_with(&format!("/projects/{project_id}/issues")))
        .map_or_else(|| format!("/projects/{project_id}/issues"), str::to_owned);
    see_other(&back)
}

/// The bulk form's "Merge into the oldest": the ticked issue created first
/// (the lowest number) receives the others; its page shows what moved.
async fn merge(state: &AppState, viewer: &Viewer, project_id: i64, form: &FormData) -> Response {
    let mut ids: Vec<i64> = match form.all("id").map(str::parse::<i64>).collect() {
        Ok(ids) => ids,
        Err(_) => return error_page(StatusCode::BAD_REQUEST, "An issue id is not a number."),
    };
    ids.sort_unstable();
    ids.dedup();
    if ids.len() < 2 {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Tick at least two issues to merge them.",
        );
    }
    let target = ids[0];
    let sources = ids[1..].to_vec();
    let actor = viewer.user.email.clone();
    let merged = call(state, move |s| {
        s.merge_issues(target, Some(project_id), &sources, Some(&actor), Utc::now())
    })
    .await;
    match merged {
        Ok(m) => {
            tracing::info!(issue = m.issue_id, merged = ?m.merged, by = %viewer.user.email, "issues merged from the issue list");
            let merged: Vec<String> = m.merged.iter().map(i64::to_string).collect();
            see_other(&format!(
                "/issues/{}?merged={}&moved={}",
                m.issue_id,
                merged.join(","),
                m.moved_events
            ))
        }
        Err(r) => r,
    }
}
