//! The issue page: what the issue is, how often it happens, what to do about it,
//! and one of its events read in full.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::auth::Viewer;
use super::form::{FormData, QueryData, encode, id};
use super::{call, error_page, layout, see_other};
use crate::service::IssueChange;
use crate::service::event::{EventDetails, ExceptionView, FrameView, Relation, safe_link};
use crate::service::overview::IssuePage;
use crate::state::AppState;

/// Breadcrumbs shown before "show all".
const RECENT_CRUMBS: usize = 20;
/// Largest payload shown inline as raw JSON (the download has all of it).
const MAX_INLINE_JSON: usize = 256 * 1024;

/// `GET /issues/{id}?event=&q=&frames=all&crumbs=all`.
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    QueryData(q): QueryData,
) -> Response {
    let issue_id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let event = q.text("event").map(str::to_owned);
    let search = q.text("q").map(str::to_owned);
    let loaded = {
        let search = search.clone();
        call(&state, move |s| {
            s.issue_page(issue_id, event.as_deref(), search.as_deref(), Utc::now())
        })
        .await
    };
    let p = match loaded {
        Ok(p) => p,
        Err(r) => return r,
    };
    let opts = Options {
        all_frames: q.get("frames") == Some("all"),
        all_crumbs: q.get("crumbs") == Some("all"),
        search: search.unwrap_or_default(),
    };
    let title = p.issue.title.clone();
    let crumbs = [
        (
            p.project.name.as_str(),
            format!("/projects/{}/issues", p.project.id),
        ),
        (title.as_str(), format!("/issues/{issue_id}")),
    ];
    layout::page(
        &title,
        &viewer,
        &crumbs,
        render(&p, &viewer, &opts, Utc::now()),
    )
    .into_response()
}

struct Options {
    all_frames: bool,
    all_crumbs: bool,
    search: String,
}

/// The search query that filters the list by a tag value.
fn tag_query(key: &str, value: &str) -> String {
    if value.chars().any(char::is_whitespace) {
        format!("{key}:\"{value}\"")
    } else {
        format!("{key}:{value}")
    }
}

fn event_url(issue: i64, event: &str, opts: &Options) -> String {
    let mut u = format!("/issues/{issue}?event={}", encode(event));
    if opts.all_frames {
        u.push_str("&frames=all");
    }
    u
}

fn render(p: &IssuePage, viewer: &Viewer, opts: &Options, now: DateTime<Utc>) -> Markup {
    let i = &p.issue;
    html! {
        section.issuehead {
            div { (layout::level(&i.level)) " " (layout::status(i.status.as_str())) }
            h1 #title { (i.title) }
            @if let Some(c) = &i.culprit { p.muted.mono { (c) } }
        }
        dl.facts {
            div { dt { "First seen" } dd { (layout::ago(i.first_seen, now)) @if let Some(r) = &i.first_release { br; span.muted { "in " (r) } } } }
            div { dt { "Last seen" } dd { (layout::ago(i.last_seen, now)) @if let Some(r) = &i.last_release { br; span.muted { "in " (r) } } } }
            div { dt { "Events" } dd #count { (layout::count(i.count)) } }
            div { dt { "Last 24 hours" } dd { (layout::count(p.count_24h)) } }
            div { dt { "Last 30 days" } dd { (layout::count(p.count_30d)) } }
            div { dt { "Users" } dd { (layout::count(i.user_count)) } }
            @if let Some(r) = &i.resolved_in_release { div { dt { "Resolved in" } dd { (r) } } }
            @if let Some(t) = i.muted_until { div { dt { "Muted until" } dd { (layout::ago(t, now)) } } }
            @if let Some(n) = i.unmute_at_count { div { dt { "Muted until count" } dd { (layout::count(n)) } } }
        }
        (actions(p, viewer))
        (layout::chart(&p.hourly, "48 h ago", "now", "Events per hour, last 48 hours"))
        (layout::chart(&p.daily, "30 days ago", "today", "Events per day, last 30 days"))
        @if !p.tags.is_empty() {
            h2 { "Tags" }
            div.tagdist {
                @for t in &p.tags {
                    section {
                        h3 { (t.key) }
                        ul {
                            @for (value, n) in &t.values {
                                li {
                                    a href={ "/projects/" (i.project_id) "/issues?status=all&q=" (encode(&tag_query(&t.key, value))) } title=(value) { (value) }
                                    meter min="0" max=(t.total.max(1)) value=(n) {}
                                    span.num { (percent(*n, t.total)) }
                                }
                            }
                            @if t.other > 0 {
                                li { span.muted { "other" } meter min="0" max=(t.total.max(1)) value=(t.other) {} span.num { (percent(t.other, t.total)) } }
                            }
                        }
                    }
                }
            }
        }
        h2 #event { "Event" }
        (event_nav(p, opts))
        @if let Some(matches) = &p.matches {
            section.matches {
                h3 { (matches.len()) " matching event" @if matches.len() != 1 { "s" } @if matches.len() == 50 { " (the 50 newest)" } }
                @if !matches.is_empty() {
                    table { tbody {
                        @for m in matches {
                            tr {
                                td.mono { a href=(event_url(i.id.get(), &m.event_id, opts)) { (m.event_id) } }
                                td { (layout::ago(m.timestamp, now)) }
                                td { (m.release.as_deref().unwrap_or("")) }
                                td { (m.environment.as_deref().unwrap_or("")) }
                            }
                        }
                    } }
                }
            }
        }
        @match (&p.event, &p.details) {
            (Some(e), Some(d)) => (event_body(p, &e.summary.event_id, d, &e.payload, opts)),
            _ => p.muted { "No event of this issue is stored any more (retention removed them); the counts above still hold." },
        }
        h2 { "Activity" }
        (activity(p, now))
    }
}

fn percent(n: u64, total: u64) -> String {
    if total == 0 {
        return "0%".into();
    }
    let pct = n as f64 * 100.0 / total as f64;
    if pct > 0.0 && pct < 1.0 {
        "<1%".into()
    } else {
        format!("{pct:.0}%")
    }
}

fn actions(p: &IssuePage, viewer: &Viewer) -> Markup {
    let id = p.issue.id.get();
    let status = p.issue.status.as_str();
    let form = |action: &str, label: &str, extra: Markup| {
        html! {
            form method="post" action={ "/issues/" (id) "/status" } {
                input type="hidden" name="_csrf" value=(viewer.csrf);
                input type="hidden" name="action" value=(action);
                (extra)
                button type="submit" { (label) }
            }
        }
    };
    html! {
        section.actions aria-label="Actions" {
            @if status != "resolved" { (form("resolve", "Resolve", html!{})) }
            (form("resolve_in_release", "Resolve in release", html! {
                input type="text" name="release" list="releases" placeholder="release" aria-label="Release" maxlength="200" required;
                datalist #releases { @for r in &p.releases { option value=(r) {} } }
            }))
            @if status != "muted" {
                (form("mute_for", "Mute for", html! {
                    select name="seconds" aria-label="Mute for" {
                        option value="3600" { "1 hour" }
                        option value="86400" { "24 hours" }
                        option value="604800" { "7 days" }
                        option value="2592000" { "30 days" }
                    }
                }))
                (form("mute_count", "Mute until", html! {
                    input type="number" name="count" min="1" value="100" aria-label="More events" ; span.muted { "more events" }
                }))
                (form("mute", "Mute", html!{}))
            }
            @if status != "unresolved" { (form("reopen", "Reopen", html!{})) }
        }
    }
}

fn event_nav(p: &IssuePage, opts: &Options) -> Markup {
    let id = p.issue.id.get();
    let link = |label: &str, rel: &str, target: &Option<String>| match target {
        Some(e) => html! { a rel=(rel) href=(event_url(id, e, opts)) { (label) } },
        None => html! { span.disabled { (label) } },
    };
    html! {
        nav.eventnav aria-label="Events" {
            @if let Some(pos) = &p.position {
                (link("« First", "first", &pos.first))
                (link("‹ Previous", "prev", &pos.previous))
                span #position { "Event " (layout::count(pos.index)) " of " (layout::count(pos.total)) " stored" }
                (link("Next ›", "next", &pos.next))
                (link("Latest »", "last", &pos.latest))
            }
            @if let Some(e) = &p.event {
                a href=(event_url(id, &e.summary.event_id, opts)) { "Permalink" }
                a href={ "/issues/" (id) "/events/" (e.summary.event_id) "/json" } { "Download JSON" }
            }
            form.inline method="get" action={ "/issues/" (id) } {
                input type="search" name="q" value=(opts.search) placeholder="Search this issue's events" aria-label="Search this issue's events" maxlength="1000";
                button type="submit" { "Search" }
            }
        }
    }
}

fn kv(rows: &[(String, String)]) -> Markup {
    html! {
        table.kv { tbody {
            @for (k, v) in rows {
                tr { th { (k) } td { (value(v)) } }
            }
        } }
    }
}

/// A value: a link when it is an http(s) URL, else text.
fn value(v: &str) -> Markup {
    match safe_link(v) {
        Some(url) => {
            html! { a href=(url) rel="noopener noreferrer nofollow" target="_blank" { (v) } }
        }
        None => html! { (v) },
    }
}

fn event_body(
    p: &IssuePage,
    event_id: &str,
    d: &EventDetails,
    payload: &[u8],
    opts: &Options,
) -> Markup {
    let frames_toggle = html! {
        p.frametoggle {
            a data-frames="all" class=(if opts.all_frames { "hidden" } else { "" }) href={ "/issues/" (p.issue.id) "?event=" (event_id) "&frames=all#event" } { "Show all frames" }
            a data-frames="app" class=(if opts.all_frames { "" } else { "hidden" }) href={ "/issues/" (p.issue.id) "?event=" (event_id) "#event" } { "Only in-app frames" }
        }
    };
    html! {
        dl.facts {
            div { dt { "Event id" } dd.mono { (event_id) } }
            @if let Some(t) = d.timestamp { div { dt { "Occurred" } dd { (t.format("%Y-%m-%d %H:%M:%S UTC").to_string()) } } }
            @if let Some(r) = &d.release { div { dt { "Release" } dd { (r) } } }
            @if let Some(e) = &d.environment { div { dt { "Environment" } dd { (e) } } }
            @if let Some(s) = &d.server_name { div { dt { "Server" } dd { (s) } } }
            @if let Some(pl) = &d.platform { div { dt { "Platform" } dd { (pl) } } }
        }
        @if let Some(m) = &d.message { h3 { "Message" } pre.message { (m) } }
        @for problem in &d.problems { p.muted { "Note: " (problem) } }
        @if !d.exceptions.is_empty() {
            h3 { "Exception" @if d.exceptions.len() > 1 { "s" } }
            (frames_toggle)
            @for (n, ex) in d.exceptions.iter().enumerate() {
                (exception(ex, n, opts))
            }
        } @else if !d.threads.is_empty() {
            h3 { "Threads" }
            (frames_toggle)
            @for t in &d.threads {
                section.thread {
                    h3 { "Thread " (t.id.as_deref().unwrap_or("?")) @if let Some(n) = &t.name { " (" (n) ")" } @if t.crashed { " — crashed" } }
                    (stack(&t.frames, 0, opts))
                }
            }
        }
        @if !d.breadcrumbs.is_empty() {
            h3 #breadcrumbs { "Breadcrumbs" }
            @let skip = if opts.all_crumbs { 0 } else { d.breadcrumbs.len().saturating_sub(RECENT_CRUMBS) };
            @if skip > 0 || d.breadcrumbs_total > d.breadcrumbs.len() {
                p.muted {
                    @if skip > 0 { (skip) " earlier breadcrumbs hidden · " a href={ "/issues/" (p.issue.id) "?event=" (event_id) "&crumbs=all#breadcrumbs" } { "show all" } }
                    @if d.breadcrumbs_total > d.breadcrumbs.len() { " (" (d.breadcrumbs_total - d.breadcrumbs.len()) " older ones are only in the raw JSON)" }
                }
            }
            table.crumbs-table {
                thead { tr { th { "Time" } th { "Category" } th { "Level" } th { "Message" } th { "Data" } } }
                tbody {
                    @for b in d.breadcrumbs.iter().skip(skip) {
                        tr {
                            td.num { (b.offset_ms.map(offset).unwrap_or_default()) }
                            td { (b.category.as_deref().or(b.ty.as_deref()).unwrap_or("")) }
                            td { @if let Some(l) = &b.level { (layout::level(l)) } }
                            td { (b.message.as_deref().unwrap_or("")) }
                            td.data { @for (k, v) in &b.data { div { b { (k) } " " (v) } } }
                        }
                    }
                }
            }
        }
        @if !d.tags.is_empty() {
            h3 { "Tags" }
            div.tags { @for (k, v) in &d.tags { span { b { (k) } " " (v) } } }
        }
        @if let Some(r) = &d.request {
            h3 { "Request" }
            p.mono { (r.method.as_deref().unwrap_or("")) " " @if let Some(u) = &r.url { (value(u)) } }
            @if !r.query.is_empty() { h4 { "Query" } (kv(&r.query)) }
            @if !r.headers.is_empty() { h4 { "Headers" } (kv(&r.headers)) }
            @if !r.cookie_names.is_empty() { h4 { "Cookies (names only)" } p.mono { (r.cookie_names.join(", ")) } }
            @if let Some(body) = &r.body { h4 { "Body" } pre { (body) } }
        }
        @if !d.user.is_empty() { h3 { "User" } (kv(&d.user)) }
        @for c in &d.contexts {
            h3 { "Context: " (c.key) @if !c.kind.is_empty() && c.kind != c.key { span.muted { " (" (c.kind) ")" } } }
            (kv(&c.fields))
        }
        @if let Some((name, version)) = &d.sdk { h3 { "SDK" } p.mono { (name) " " (version) } }
        @if !d.modules.is_empty() {
            details.modules {
                summary { h3.inline { "Packages (" (d.modules.len()) ")" } }
                (kv(&d.modules))
            }
        }
        h3 { "Grouping" }
        (grouping(p))
        details.raw {
            summary { "Raw JSON (" (layout::count(payload.len() as u64)) " bytes)" }
            pre { (pretty(payload)) }
        }
    }
}

fn offset(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "+" };
    let ms = ms.unsigned_abs();
    if ms < 60_000 {
        format!("{sign}{}.{:03} s", ms / 1000, ms % 1000)
    } else if ms < 3_600_000 {
        format!("{sign}{} min {} s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{sign}{} h {} min", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

fn pretty(payload: &[u8]) -> String {
    let text = serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned());
    if text.len() > MAX_INLINE_JSON {
        let mut cut = MAX_INLINE_JSON;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}\n… (cut; download the JSON for all of it)", &text[..cut])
    } else {
        text
    }
}

fn exception(ex: &ExceptionView, n: usize, opts: &Options) -> Markup {
    html! {
        @if n > 0 {
            p.relation { (Relation::sentence_for(ex.relation_to_previous)) }
        }
        section class={ "exception depth-" (ex.depth.min(4)) } {
            p {
                span.type { (ex.ty.as_deref().unwrap_or("Error")) }
                @if let Some(m) = &ex.module { span.muted { " (" (m) ")" } }
                @if let Some(mech) = &ex.mechanism {
                    " " span.muted { "· " (mech.ty.as_deref().unwrap_or("mechanism")) @if mech.handled == Some(false) { ", unhandled" } }
                }
            }
            @if let Some(v) = &ex.value { p.value { (v) } }
            (stack(&ex.frames, ex.omitted_frames, opts))
        }
    }
}

/// Frames newest first; library frames folded unless asked for all (or when no
/// frame is marked in-app, in which case every frame is shown).
fn stack(frames: &[FrameView], omitted: usize, opts: &Options) -> Markup {
    let any_app = frames.iter().any(|f| f.in_app == Some(true));
    let newest_first: Vec<&FrameView> = frames.iter().rev().collect();
    let first_app = newest_first
        .iter()
        .position(|f| f.in_app == Some(true) || !any_app);
    let hidden = if any_app {
        frames.iter().filter(|f| f.in_app != Some(true)).count()
    } else {
        0
    };
    html! {
        div.stack {
            @if hidden > 0 {
                p.folded class=(if opts.all_frames { "hidden" } else { "" }) { (hidden) " library frame" @if hidden != 1 { "s" } " folded" }
            }
            @for (i, f) in newest_first.iter().enumerate() {
                @let library = any_app && f.in_app != Some(true);
                @let class = match (library, opts.all_frames) {
                    (true, false) => "frame library hidden",
                    (true, true) => "frame library",
                    _ => "frame app",
                };
                details class=(class) open[Some(i) == first_app] {
                    summary {
                        span.file { (f.filename.as_deref().or(f.abs_path.as_deref()).or(f.module.as_deref()).or(f.package.as_deref()).unwrap_or("?")) }
                        @if let Some(l) = f.lineno { ":" (l) @if let Some(c) = f.colno { ":" (c) } }
                        " in " span.fn { (f.function.as_deref().unwrap_or("?")) }
                        @if library { span.muted { " · library" } }
                    }
                    @if !f.source.is_empty() {
                        ol.source {
                            @for line in &f.source {
                                li class=(if line.current { "current" } else { "" }) {
                                    span.ln { (line.number.map(|n| n.to_string()).unwrap_or_default()) }
                                    code { (line.text) }
                                }
                            }
                        }
                    }
                    @if !f.vars.is_empty() {
                        div.vars { (kv(&f.vars)) }
                    }
                }
            }
            @if omitted > 0 { p.muted { (omitted) " frames omitted" } }
        }
    }
}

fn grouping(p: &IssuePage) -> Markup {
    match &p.grouping {
        None => html! { p.muted { "This event cannot be grouped again (it no longer parses)." } },
        Some(g) => html! {
            p { "Configuration " code { (g.config.as_str()) } ", variant " code { (g.variant) } ": key " code.mono { (g.key) }
                @for k in &g.other_keys { ", also " code.mono { (k) } } }
            @if g.key != p.issue.grouping_key {
                p.muted { "This event groups to another key today than the issue's (" code { (p.issue.grouping_key) } "); it was grouped with an older rule." }
            }
            ul.tree { (component(&g.explanation)) }
        },
    }
}

fn component(c: &periscope_grouping::Component) -> Markup {
    html! {
        li class=(if c.contributes { "on" } else { "off" }) {
            span.name { (c.name) }
            @if !c.values.is_empty() { " " span.values { (c.values.join(" · ")) } }
            @if let Some(h) = &c.hint { " " span.hint { "(" (h) ")" } }
            @if !c.children.is_empty() {
                ul.tree { @for child in &c.children { (component(child)) } }
            }
        }
    }
}

fn activity(p: &IssuePage, now: DateTime<Utc>) -> Markup {
    html! {
        @if p.activity.is_empty() && p.alerts.is_empty() {
            p.muted { "Nothing yet: status changes, regressions and alerts appear here." }
        }
        ul.activity {
            @for a in &p.activity {
                li {
                    (layout::ago(a.created_at, now)) " · "
                    strong { (a.kind.as_str()) }
                    @if let Some(d) = &a.detail { " " (d) }
                    @if let Some(who) = &a.actor { " by " (who) } @else { " (automatic)" }
                }
            }
            @for a in &p.alerts {
                li {
                    (a.created_at) " · alert " strong { (a.kind) } " → "
                    @for (n, d) in a.deliveries.iter().enumerate() {
                        @if n > 0 { ", " }
                        (d.destination_type) " " (d.state)
                    }
                    @if a.deliveries.is_empty() { "no destination" }
                }
            }
        }
    }
}

/// `POST /issues/{id}/status`.
pub(crate) async fn change_status(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check(&form) {
        return r;
    }
    let issue_id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let number = |name: &str| form.text(name).and_then(|v| v.parse::<u64>().ok());
    let change = match form.get("action") {
        Some("resolve") => IssueChange {
            status: "resolved".into(),
            ..IssueChange::default()
        },
        Some("resolve_in_release") => IssueChange {
            status: "resolved".into(),
            resolved_in_release: Some(form.get("release").unwrap_or_default().to_owned()),
            ..IssueChange::default()
        },
        Some("mute") => IssueChange {
            status: "muted".into(),
            ..IssueChange::default()
        },
        Some("mute_for") => IssueChange {
            status: "muted".into(),
            mute_for_seconds: Some(number("seconds").unwrap_or(0)),
            ..IssueChange::default()
        },
        Some("mute_count") => IssueChange {
            status: "muted".into(),
            mute_until_count: Some(number("count").unwrap_or(0)),
            ..IssueChange::default()
        },
        Some("reopen") => IssueChange {
            status: "unresolved".into(),
            ..IssueChange::default()
        },
        _ => return error_page(StatusCode::BAD_REQUEST, "Unknown action."),
    };
    let actor = viewer.user.email.clone();
    match call(&state, move |s| {
        s.update_issue(issue_id, None, change, Some(&actor), Utc::now())
    })
    .await
    {
        Ok(_) => see_other(&format!("/issues/{issue_id}")),
        Err(r) => r,
    }
}

/// `GET /issues/{id}/events/{event_id}/json`: the stored payload as a download.
pub(crate) async fn raw_json(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path((raw, event_id)): Path<(String, String)>,
) -> Response {
    let issue_id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let loaded = {
        let event_id = event_id.clone();
        call(&state, move |s| s.issue_event(issue_id, &event_id)).await
    };
    let event = match loaded {
        Ok(e) => e,
        Err(r) => return r,
    };
    let mut r = event.payload.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"event-{}.json\"",
        event.summary.event_id
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}
