//! The issue page: what the issue is, how often it happens, what to do about it,
//! and one of its events read in full.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::auth::Viewer;
use super::form::{FormData, QueryData, encode, id};
use super::{call, error_page, layout, see_other};
use crate::service::event::{EventDetails, ExceptionView, FrameView, Relation, safe_link};
use crate::service::grouping::{IssueKeyView, MAX_MERGE};
use crate::service::overview::IssuePage;
use crate::service::{IssueChange, ServiceError};
use crate::state::AppState;

/// Breadcrumbs shown before "show all".
const RECENT_CRUMBS: usize = 20;
/// Largest payload shown inline as raw JSON (the download has all of it).
const MAX_INLINE_JSON: usize = 256 * 1024;

/// Characters of a grouping key shown (the whole key is in its `title`).
const SHORT_KEY: usize = 12;

/// `GET /issues/{id}?event=&q=&frames=all&crumbs=all`. A merged issue (a
/// tombstone) redirects to the issue it was merged into, with the same query.
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    RawQuery(raw_query): RawQuery,
    QueryData(q): QueryData,
) -> Response {
    let issue_id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let notice = done_notice(&q);
    let shown = show(&state, &viewer, issue_id, &q, notice, StatusCode::OK).await;
    match shown {
        Shown::Page(r) => r,
        Shown::MergedInto(live) => {
            let query = raw_query
                .filter(|q| !q.is_empty())
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            see_other(&format!("/issues/{live}{query}"))
        }
    }
}

/// A message at the top of the issue page after a grouping action.
enum Notice {
    /// What was done (markup built from numbers, never from the query's text).
    Done(Markup),
    /// Why it was not done.
    Failed(String),
}

/// The notice a redirect after a merge or an unmerge asks for: only numbers
/// are read from the query, so a link cannot make the page say anything else.
fn done_notice(q: &FormData) -> Option<Notice> {
    let number = |name: &str| q.text(name).and_then(|v| v.parse::<u64>().ok());
    if let Some(merged) = q.text("merged") {
        let ids: Vec<i64> = merged
            .split(',')
            .filter_map(|v| v.trim().parse::<i64>().ok())
            .filter(|n| *n > 0)
            .take(MAX_MERGE)
            .collect();
        if ids.is_empty() {
            return None;
        }
        let moved = number("moved").unwrap_or(0);
        return Some(Notice::Done(html! {
            "Merged " (issue_links(&ids)) " into this issue; "
            (layout::count(moved)) " stored event" @if moved != 1 { "s" } " moved here."
        }));
    }
    let from = q
        .text("unmerged_from")
        .and_then(|v| v.parse::<i64>().ok())?;
    let keys = number("keys").unwrap_or(0);
    Some(Notice::Done(html! {
        "This new issue holds " (layout::count(keys)) " grouping key" @if keys != 1 { "s" }
        " moved out of " a href={ "/issues/" (from) } { "issue #" (from) }
        ", with the events that joined by them."
    }))
}

/// `#3, #5` as links.
fn issue_links(ids: &[i64]) -> Markup {
    html! {
        @for (n, i) in ids.iter().enumerate() {
            @if n > 0 { ", " }
            a href={ "/issues/" (i) } { "#" (i) }
        }
    }
}

/// The issue page, or the issue a tombstone was merged into.
enum Shown {
    Page(Response),
    MergedInto(i64),
}

/// Loads and renders the issue page (with `notice` and `status`), unless the
/// issue was merged into another one.
async fn show(
    state: &AppState,
    viewer: &Viewer,
    issue_id: i64,
    q: &FormData,
    notice: Option<Notice>,
    status: StatusCode,
) -> Shown {
    let event = q.text("event").map(str::to_owned);
    let search = q.text("q").map(str::to_owned);
    let loaded = {
        let search = search.clone();
        call(state, move |s| {
            let live = s.live_issue(issue_id)?;
            if live != issue_id {
                return Ok(Err(live));
            }
            let page = s.issue_page(issue_id, event.as_deref(), search.as_deref(), Utc::now())?;
            let keys = s.issue_keys(issue_id, None)?;
            Ok(Ok((page, keys)))
        })
        .await
    };
    let (p, keys) = match loaded {
        Ok(Ok(x)) => x,
        Ok(Err(live)) => return Shown::MergedInto(live),
        Err(r) => return Shown::Page(r),
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
    let now = Utc::now();
    let body = html! {
        @match &notice {
            Some(Notice::Done(m)) => p.ok.notice role="status" #grouping-notice { (m) },
            Some(Notice::Failed(m)) => p.error.notice role="alert" #grouping-notice { (m) },
            None => {},
        }
        (render(&p, &keys, viewer, &opts, now))
    };
    Shown::Page((status, layout::page(&title, viewer, &crumbs, body)).into_response())
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

fn render(
    p: &IssuePage,
    keys: &[IssueKeyView],
    viewer: &Viewer,
    opts: &Options,
    now: DateTime<Utc>,
) -> Markup {
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
        (grouping_keys(p, keys, viewer, now))
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

/// One component of a grouping explanation, with its children: whether it
/// counts (also in words, for screen readers and copied text), its values and
/// its hint (which names the rule that changed it, if one did).
pub(crate) fn component(c: &periscope_grouping::Component) -> Markup {
    html! {
        li class=(if c.contributes { "on" } else { "off" }) {
            span.mark title=(if c.contributes { "counts for the key" } else { "does not count" }) {
                (if c.contributes { "+" } else { "−" })
            }
            " "
            span.name { (c.name) }
            @if !c.values.is_empty() { " " span.values { (c.values.join(" · ")) } }
            @if let Some(h) = &c.hint { " " span.hint { "(" (h) ")" } }
            @if !c.children.is_empty() {
                ul.tree { @for child in &c.children { (component(child)) } }
            }
        }
    }
}

/// A grouping key shortened for a table cell.
fn short_key(key: &str) -> String {
    if key.chars().count() > SHORT_KEY {
        let cut: String = key.chars().take(SHORT_KEY).collect();
        format!("{cut}…")
    } else {
        key.to_owned()
    }
}

/// An RFC 3339 time of the service as "3 min ago".
fn ago_text(t: Option<&str>, now: DateTime<Utc>) -> Markup {
    match t.and_then(|t| DateTime::parse_from_rfc3339(t).ok()) {
        Some(t) => layout::ago(t.with_timezone(&Utc), now),
        None => html! { span.muted { "—" } },
    }
}

/// The issue's grouping keys; for admins, moving some to a new issue and
/// merging other issues into this one.
fn grouping_keys(
    p: &IssuePage,
    keys: &[IssueKeyView],
    viewer: &Viewer,
    now: DateTime<Utc>,
) -> Markup {
    let id = p.issue.id.get();
    let admin = viewer.user.is_admin();
    let can_move = admin && keys.len() > 1;
    html! {
        section.grouping-keys aria-labelledby="grouping" {
            h2 #grouping { "Grouping" }
            p.muted {
                "Events join this issue by these grouping keys (computed by the project's grouping configuration and rules; "
                a href={ "/projects/" (p.project.id) "/grouping" } { "see the project's grouping" } ")."
            }
            form method="post" action={ "/issues/" (id) "/unmerge" } {
                input type="hidden" name="_csrf" value=(viewer.csrf);
                table.grouping-keys {
                    thead { tr {
                        @if can_move { th { span.hidden { "Move" } } }
                        th { "Key" } th { "Configuration" } th.num { "Events" } th { "Last seen" }
                    } }
                    tbody {
                        @for k in keys {
                            tr data-key=(k.key) {
                                @if can_move {
                                    td { input type="checkbox" name="key" value=(k.key) aria-label={ "Move key " (k.key) }; }
                                }
                                td.mono { code title=(k.key) { (short_key(&k.key)) } }
                                td { code { (k.config) } }
                                td.num { (layout::count(k.count)) }
                                td { (ago_text(k.last_seen.as_deref(), now)) }
                            }
                        }
                        @if keys.is_empty() {
                            tr { td colspan="5" { span.muted { "No grouping key is recorded for this issue." } } }
                        }
                    }
                }
                @if can_move {
                    div.toolbar {
                        button type="submit" { "Move to a new issue" }
                        span.muted { "The checked keys, with the events that joined by them, become a new issue (at least one key stays here)." }
                    }
                }
            }
            @if admin {
                form.toolbar.merge method="post" action={ "/issues/" (id) "/merge" } {
                    input type="hidden" name="_csrf" value=(viewer.csrf);
                    label.inline {
                        "Merge issues into this one "
                        input type="text" name="issues" placeholder="issue numbers, e.g. 12, 15 18" aria-label="Issues to merge into this one" maxlength="2000" required;
                    }
                    button type="submit" { "Merge into #" (id) }
                    span.muted { "Their events, keys, counts and history move here; their pages then lead here." }
                }
            }
        }
    }
}

/// Activity detail text with `#12` turned into links to issue 12 (the store
/// names merged and unmerged issues so).
fn detail_links(text: &str) -> Markup {
    let mut parts: Vec<(bool, &str)> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('#') {
        let digits = rest[at + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(rest.len() - at - 1, |n| n);
        if digits == 0 {
            parts.push((false, &rest[..=at]));
            rest = &rest[at + 1..];
            continue;
        }
        parts.push((false, &rest[..at]));
        parts.push((true, &rest[at + 1..at + 1 + digits]));
        rest = &rest[at + 1 + digits..];
    }
    parts.push((false, rest));
    html! {
        @for (link, t) in parts {
            @if link { a href={ "/issues/" (t) } { "#" (t) } } @else { (t) }
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
                    @if let Some(d) = &a.detail { " " (detail_links(d)) }
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
        let live = s.live_issue(issue_id)?;
        if live != issue_id {
            return Ok(Err(live));
        }
        s.update_issue(issue_id, None, change, Some(&actor), Utc::now())
            .map(Ok)
    })
    .await
    {
        Ok(Ok(_)) => see_other(&format!("/issues/{issue_id}")),
        Ok(Err(live)) => merged_away(issue_id, live),
        Err(r) => r,
    }
}

/// The answer to a form sent to an issue that was merged meanwhile (a page
/// left open): nothing was done; the issue it went to is linked.
fn merged_away(issue_id: i64, live: i64) -> Response {
    let body = layout::bare(
        "Conflict",
        html! {
            main.narrow {
                h1 { "409 Conflict" }
                p.error { "Issue #" (issue_id) " was merged into issue #" (live) "; nothing was changed." }
                p { a href={ "/issues/" (live) } { "Open issue #" (live) } }
            }
        },
    );
    (StatusCode::CONFLICT, body).into_response()
}

/// Issue numbers typed in a form: separated by commas and/or spaces, an
/// optional `#` before each.
fn parse_issue_numbers(text: &str) -> Result<Vec<i64>, String> {
    let mut ids = Vec::new();
    for word in text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        let digits = word.strip_prefix('#').unwrap_or(word);
        match digits.parse::<i64>() {
            Ok(n) if n > 0 => ids.push(n),
            _ => {
                let shown: String = word.chars().take(40).collect();
                return Err(format!(
                    "“{shown}” is not an issue number: type the numbers of the issues to merge, separated by commas or spaces."
                ));
            }
        }
        if ids.len() > MAX_MERGE {
            return Err(format!("At most {MAX_MERGE} issues are merged at once."));
        }
    }
    if ids.is_empty() {
        return Err("Type the number of at least one issue to merge into this one.".into());
    }
    Ok(ids)
}

/// The issue page again with why a grouping action was refused; errors that
/// are not about the request become the usual error pages.
async fn refused(state: &AppState, viewer: &Viewer, issue_id: i64, e: ServiceError) -> Response {
    let status = match &e {
        ServiceError::Invalid(_) | ServiceError::InvalidField { .. } => StatusCode::BAD_REQUEST,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::Conflict(_) => StatusCode::CONFLICT,
        _ => return super::service_error(e),
    };
    refused_with(state, viewer, issue_id, status, e.to_string()).await
}

async fn refused_with(
    state: &AppState,
    viewer: &Viewer,
    issue_id: i64,
    status: StatusCode,
    message: String,
) -> Response {
    let mut target = issue_id;
    // A page left open on an issue merged meanwhile: show the issue it went to.
    for _ in 0..2 {
        let notice = Some(Notice::Failed(message.clone()));
        match show(state, viewer, target, &FormData::default(), notice, status).await {
            Shown::Page(r) => return r,
            Shown::MergedInto(live) => target = live,
        }
    }
    error_page(status, &message)
}

/// `POST /issues/{id}/merge` (admins): merges the issues typed in `issues`
/// into this one, then shows it with what moved.
pub(crate) async fn merge(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check_admin(&form) {
        return r;
    }
    let issue_id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let sources = match parse_issue_numbers(form.get("issues").unwrap_or_default()) {
        Ok(ids) => ids,
        Err(m) => return refused_with(&state, &viewer, issue_id, StatusCode::BAD_REQUEST, m).await,
    };
    let actor = viewer.user.email.clone();
    let outcome = call(&state, move |s| {
        Ok(s.merge_issues(issue_id, None, &sources, Some(&actor), Utc::now()))
    })
    .await;
    match outcome {
        Err(r) => r,
        Ok(Ok(m)) => {
            tracing::info!(issue = m.issue_id, merged = ?m.merged, by = %viewer.user.email, "issues merged from the web UI");
            let merged: Vec<String> = m.merged.iter().map(i64::to_string).collect();
            see_other(&format!(
                "/issues/{}?merged={}&moved={}",
                m.issue_id,
                merged.join(","),
                m.moved_events
            ))
        }
        Ok(Err(e)) => refused(&state, &viewer, issue_id, e).await,
    }
}

/// `POST /issues/{id}/unmerge` (admins): moves the checked `key`s to a new
/// issue and shows it.
pub(crate) async fn unmerge(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check_admin(&form) {
        return r;
    }
    let issue_id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let keys: Vec<String> = form.all("key").map(str::to_owned).collect();
    if keys.is_empty() {
        return refused_with(
            &state,
            &viewer,
            issue_id,
            StatusCode::BAD_REQUEST,
            "Check at least one grouping key to move to a new issue.".into(),
        )
        .await;
    }
    let n = keys.len();
    let actor = viewer.user.email.clone();
    let outcome = call(&state, move |s| {
        Ok(s.unmerge_issue(issue_id, None, &keys, Some(&actor), Utc::now()))
    })
    .await;
    match outcome {
        Err(r) => r,
        Ok(Ok(new)) => {
            tracing::info!(issue = issue_id, new, by = %viewer.user.email, "grouping keys moved to a new issue from the web UI");
            see_other(&format!("/issues/{new}?unmerged_from={issue_id}&keys={n}"))
        }
        Ok(Err(e)) => refused(&state, &viewer, issue_id, e).await,
    }
}

/// `GET /issues/{id}/events/{event_id}/json`: the stored payload as a download
/// (of a merged issue: redirected to the issue it was merged into).
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
        call(&state, move |s| {
            let live = s.live_issue(issue_id)?;
            if live != issue_id {
                return Ok(Err(live));
            }
            s.issue_event(issue_id, &event_id).map(Ok)
        })
        .await
    };
    let event = match loaded {
        Ok(Ok(e)) => e,
        // The events of a merged issue are the other issue's now.
        Ok(Err(live)) => {
            return see_other(&format!("/issues/{live}/events/{}/json", encode(&event_id)));
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn issue_numbers_are_read_with_commas_spaces_and_hashes() {
        assert_eq!(
            parse_issue_numbers("12, #15 18;19").unwrap(),
            [12, 15, 18, 19]
        );
        assert!(
            parse_issue_numbers("  ")
                .unwrap_err()
                .contains("at least one")
        );
        assert!(parse_issue_numbers("3 x").unwrap_err().contains("“x”"));
        assert!(parse_issue_numbers("0").is_err());
        let many = (1..=(MAX_MERGE as i64 + 1))
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(parse_issue_numbers(&many).unwrap_err().contains("At most"));
    }

    #[test]
    fn activity_details_link_the_issues_they_name() {
        let m = detail_links("into #14: <b>k</b> #x #").into_string();
        assert_eq!(
            m,
            "into <a href=\"/issues/14\">#14</a>: &lt;b&gt;k&lt;/b&gt; #x #"
        );
        assert_eq!(
            detail_links("#3, #5").into_string(),
            "<a href=\"/issues/3\">#3</a>, <a href=\"/issues/5\">#5</a>"
        );
        assert_eq!(short_key("0123456789abcdef"), "0123456789ab…");
        assert_eq!(short_key("short"), "short");
    }

    #[test]
    fn done_notices_are_made_of_numbers_only() {
        let q = FormData::parse(b"merged=3,x,%3Cb%3E,5&moved=7").unwrap();
        let Some(Notice::Done(m)) = done_notice(&q) else {
            panic!("a notice");
        };
        let m = m.into_string();
        assert!(
            m.contains("href=\"/issues/3\"") && m.contains("href=\"/issues/5\""),
            "{m}"
        );
        assert!(!m.contains("&lt;b") && m.contains("7 stored events"), "{m}");
        let q = FormData::parse(b"merged=%3Cscript%3E").unwrap();
        assert!(done_notice(&q).is_none());
        assert!(done_notice(&FormData::default()).is_none());
    }
}
