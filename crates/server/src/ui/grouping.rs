//! A project's grouping tab: its configuration (switching starts a
//! transition), its fingerprint and stack-trace rules (Sentry's syntax; an
//! error names its line and column, next to its field, with the text kept),
//! and trying draft rules on an event without saving them. Everyone can look
//! and try; only admins save.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::auth::Viewer;
use super::form::{FormData, QueryData, id};
use super::settings::project_tabs;
use super::{call, layout, see_other};
use crate::service::grouping::{GroupingSettingsView, GroupingTest, GroupingTestView};
use crate::service::views::ProjectView;
use crate::service::{ProjectChange, ServiceError};
use crate::state::AppState;

/// Rows of each rules textarea.
const RULE_ROWS: usize = 8;

/// What the form shows: what is stored, or what was just submitted.
#[derive(Debug, Clone, Default)]
struct Draft {
    config: String,
    fingerprint_rules: String,
    stacktrace_rules: String,
    event: String,
}

impl Draft {
    fn of(view: &GroupingSettingsView) -> Self {
        Self {
            config: view.config.clone(),
            fingerprint_rules: view.fingerprint_rules.clone(),
            stacktrace_rules: view.stacktrace_rules.clone(),
            event: String::new(),
        }
    }

    /// The submitted form; a field left out keeps the stored value.
    fn from_form(form: &FormData, view: &GroupingSettingsView) -> Self {
        let or = |name: &str, stored: &str| form.get(name).unwrap_or(stored).to_owned();
        Self {
            config: or("config", &view.config),
            fingerprint_rules: or("fingerprint_rules", &view.fingerprint_rules),
            stacktrace_rules: or("stacktrace_rules", &view.stacktrace_rules),
            event: form.get("event").unwrap_or_default().to_owned(),
        }
    }

    /// Whether the rules or the configuration differ from the stored ones.
    fn differs_from(&self, view: &GroupingSettingsView) -> bool {
        self.config != view.config
            || self.fingerprint_rules != view.fingerprint_rules
            || self.stacktrace_rules != view.stacktrace_rules
    }
}

/// Errors of the form, each at its field (`grouping_strategy`,
/// `fingerprint_rules`, `stacktrace_rules`, `event`), or for the whole form.
#[derive(Debug, Default)]
struct Errors(Vec<ServiceError>);

impl Errors {
    fn at(&self, field: &str) -> Option<&ServiceError> {
        self.0.iter().find(|e| e.field_name() == Some(field))
    }

    fn general(&self) -> impl Iterator<Item = &ServiceError> {
        self.0.iter().filter(|e| {
            !matches!(
                e.field_name(),
                Some(
                    "grouping_strategy"
                        | "config"
                        | "fingerprint_rules"
                        | "stacktrace_rules"
                        | "event"
                )
            )
        })
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Everything one rendering of the tab needs.
struct Tab<'a> {
    viewer: &'a Viewer,
    project: &'a ProjectView,
    view: &'a GroupingSettingsView,
    draft: &'a Draft,
    errors: &'a Errors,
    saved: bool,
    tried: Option<&'a GroupingTestView>,
    transition: std::time::Duration,
}

fn error_at(e: Option<&ServiceError>) -> Markup {
    html! { @if let Some(e) = e { span.field-error role="alert" { (e) } } }
}

fn render(t: &Tab<'_>) -> Markup {
    let p = t.project;
    let admin = t.viewer.user.is_admin();
    let crumbs = [
        (p.name.as_str(), format!("/projects/{}/issues", p.id)),
        ("Grouping", format!("/projects/{}/grouping", p.id)),
    ];
    let now = Utc::now();
    let days = layout::span(t.transition.as_secs());
    let rules_field = |name: &'static str, label: &str, text: &str| {
        let error = t.errors.at(name);
        html! {
            label class=(if error.is_some() { "rules invalid" } else { "rules" }) {
                (label)
                textarea name=(name) rows=(RULE_ROWS) spellcheck="false" autocomplete="off"
                    readonly[!admin] aria-invalid=(error.is_some()) { (text) }
                (error_at(error))
            }
        }
    };
    layout::page(
        &format!("{} grouping", p.name),
        t.viewer,
        &crumbs,
        html! {
            h1 { (p.name) }
            (project_tabs(p.id, "grouping", admin))
            @if t.saved { p.ok role="status" #saved { "Saved. New events are grouped with these settings." } }
            @for e in t.errors.general() { p.error role="alert" { (e) } }
            @if !admin { p.muted #read-only { "Only an admin can change the grouping; you can read it and try it on an event." } }
            form.settings.grouping method="post" action={ "/projects/" (p.id) "/grouping" } {
                input type="hidden" name="_csrf" value=(t.viewer.csrf);
                h2 { "Configuration" }
                @let error = t.errors.at("grouping_strategy").or(t.errors.at("config"));
                label class=(if error.is_some() { "invalid" } else { "" }) {
                    "Grouping configuration"
                    select name="config" disabled[!admin] {
                        @for c in &t.view.configs {
                            option value=(c.id) selected[c.id == t.draft.config] {
                                (c.id) @if c.newest { " (newest)" } @if c.id == t.view.config { " — in use" }
                            }
                        }
                    }
                    (error_at(error))
                }
                @if !admin { input type="hidden" name="config" value=(t.draft.config); }
                dl.configs {
                    @for c in &t.view.configs {
                        dt { code { (c.id) } }
                        dd { (c.description) }
                    }
                }
                p.muted {
                    "Switching the configuration changes the keys new events get. For " (days)
                    " after a switch (PERISCOPE_GROUPING_TRANSITION_DAYS) each event is grouped under both configurations, so events of existing issues keep joining them instead of opening new issues."
                }
                @if let (Some(from), Some(until)) = (&t.view.transition_from, &t.view.transition_until) {
                    p.notice #transition {
                        "A transition from " code { (from) } " to " code { (t.view.config) } " is under way; it ends "
                        @match DateTime::parse_from_rfc3339(until) {
                            Ok(u) => (layout::ago(u.with_timezone(&Utc), now)),
                            Err(_) => (until),
                        }
                        "."
                    }
                }
                h2 { "Fingerprint rules" }
                p.muted {
                    "One rule per line: matchers, an arrow, then the fingerprint (comma-separated parts) and optionally a title. "
                    "Every event the matchers hold for gets that fingerprint, so all of them form one issue. "
                    "Matchers: error.type, error.value, message, logger, level, tags.NAME, stack.function, stack.module, stack.abs_path, stack.package, family, app, sdk, release; values are globs (*, ?), quoted when they hold spaces; ! negates. "
                    "{{ default }} in the fingerprint stands for the usual grouping, {{ transaction }} or {{ logger }} for those values. # starts a comment. The first matching rule wins."
                }
                pre.example { code {
                    "error.type:DatabaseUnavailable -> system-down\n"
                    "error.value:\"connection error: *\" -> connection-error, {{ transaction }}\n"
                    "logger:my.package.* level:error -> error-logger title=\"Error from {{ logger }}\""
                } }
                (rules_field("fingerprint_rules", "Fingerprint rules", &t.draft.fingerprint_rules))
                h2 { "Stack-trace rules" }
                p.muted {
                    "One rule per line: matchers on a frame, then actions. "
                    "+app / -app mark the frames in-app or not (the app variant groups by in-app frames only); +group / -group make them count for the key or not; "
                    "a ^ before an action applies it to the frames above (towards the crash), a v to those below; max-frames=N keeps only the N frames nearest the crash; category=NAME names them. "
                    "Rules run top to bottom after the configuration's own rules; a later rule wins. # starts a comment."
                }
                pre.example { code {
                    "stack.module:vendor.* -app\n"
                    "family:native stack.function:std::* -app -group\n"
                    "stack.function:log_and_reraise ^-group"
                } }
                (rules_field("stacktrace_rules", "Stack-trace rules", &t.draft.stacktrace_rules))
                p.muted { "A change of rules applies to events that arrive from now on; existing issues keep their events." }
                @if admin {
                    div.toolbar { button.primary type="submit" { "Save" } }
                }
                h2 #try { "Try it" }
                p.muted {
                    "Paste an event as an SDK sends it (JSON), or the id of a stored event of this project, and see how the rules above group it. "
                    "Nothing is saved: this tries the text of the fields above as it is now."
                }
                @let error = t.errors.at("event");
                label class=(if error.is_some() { "invalid" } else { "" }) {
                    "Event JSON or event id"
                    textarea name="event" rows="8" spellcheck="false" autocomplete="off" placeholder="{\"exception\": {\"values\": [{\"type\": \"ValueError\", \"value\": \"bad input\"}]}}  — or an event id" aria-invalid=(error.is_some()) { (t.draft.event) }
                    (error_at(error))
                }
                div.toolbar {
                    button type="submit" formaction={ "/projects/" (p.id) "/grouping/test#try" } { "Try these rules" }
                }
            }
            @if let Some(r) = t.tried { (outcome(r, t.draft.differs_from(t.view))) }
        },
    )
}

/// What trying the rules gave.
fn outcome(r: &GroupingTestView, draft: bool) -> Markup {
    let explanation =
        serde_json::from_value::<periscope_grouping::Component>(r.explanation.clone());
    html! {
        section.tried #outcome aria-labelledby="outcome-title" {
            h3 #outcome-title { "Result" @if draft { " with the rules above (not saved)" } }
            p #would {
                @match r.issue_id {
                    Some(i) => { "This event would join " a href={ "/issues/" (i) } { "issue #" (i) } "." },
                    None => { "This event would open a new issue." },
                }
            }
            dl.facts {
                div { dt { "Key" } dd.mono #tried-key { (r.key) } }
                div { dt { "Variant" } dd { code { (r.variant) } } }
                div { dt { "Configuration" } dd { code { (r.config) } } }
                div { dt { "Title" } dd { (r.title) } }
                @if let Some(c) = &r.culprit { div { dt { "Culprit" } dd.mono { (c) } } }
            }
            @if !r.other_keys.is_empty() {
                p.muted { "Also looked up: " @for (n, k) in r.other_keys.iter().enumerate() { @if n > 0 { ", " } code { (k) } } }
            }
            h4 { "What made the key" }
            @if r.values.is_empty() {
                p.muted { "No value contributed." }
            } @else {
                table.kv { tbody {
                    @for (component, value) in &r.values {
                        tr { th { (component) } td { (value) } }
                    }
                } }
            }
            h4 { "Explanation" }
            p.muted { "+ counts for the key, − does not; the notes in parentheses say why, naming the rule that changed a frame." }
            @match explanation {
                Ok(c) => { ul.tree.explanation { (super::issue::component(&c)) } },
                Err(_) => { pre { (serde_json::to_string_pretty(&r.explanation).unwrap_or_default()) } },
            }
        }
    }
}

/// Loads the project and its grouping (one blocking call).
async fn load(
    state: &AppState,
    project_id: i64,
) -> Result<(ProjectView, GroupingSettingsView), Response> {
    call(state, move |s| {
        Ok((s.project(project_id)?, s.grouping_settings(project_id)?))
    })
    .await
}

/// `GET /projects/{id}/grouping`: everyone reads; admins edit.
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
    let (project, view) = match load(&state, project_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    render(&Tab {
        viewer: &viewer,
        project: &project,
        view: &view,
        draft: &Draft::of(&view),
        errors: &Errors::default(),
        saved: q.get("saved").is_some(),
        tried: None,
        transition: state.config.grouping_transition,
    })
    .into_response()
}

/// Errors that are about the form, shown on it (400); others become error pages.
fn form_errors(e: ServiceError) -> Result<ServiceError, Response> {
    match e {
        e @ (ServiceError::InvalidField { .. }
        | ServiceError::Invalid(_)
        | ServiceError::NotFound(_)) => Ok(e),
        other => Err(super::service_error(other)),
    }
}

/// `POST /projects/{id}/grouping` (admins): saves the configuration and the
/// rules; errors are shown at their field with the submitted text kept.
pub(crate) async fn save(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check_admin(&form) {
        return r;
    }
    let project_id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let (project, view) = match load(&state, project_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let draft = Draft::from_form(&form, &view);
    // Both rule sets are checked, so that both errors show at once.
    let mut errors = Errors::default();
    for (fp, st) in [
        (draft.fingerprint_rules.as_str(), ""),
        ("", draft.stacktrace_rules.as_str()),
    ] {
        if let Err(e) = crate::service::grouping::compile_rules(fp, st) {
            errors.0.push(e);
        }
    }
    if errors.is_empty() {
        let change = ProjectChange {
            // Only a switch is sent: the stored name may be an older spelling
            // of the same configuration.
            grouping_strategy: (draft.config != view.config).then(|| draft.config.clone()),
            fingerprint_rules: (draft.fingerprint_rules != view.fingerprint_rules)
                .then(|| draft.fingerprint_rules.clone()),
            stacktrace_rules: (draft.stacktrace_rules != view.stacktrace_rules)
                .then(|| draft.stacktrace_rules.clone()),
            ..ProjectChange::default()
        };
        match call(&state, move |s| Ok(s.update_project(project_id, change))).await {
            Err(r) => return r,
            Ok(Ok(_)) => {
                tracing::info!(project = project_id, by = %viewer.user.email, "grouping settings saved from the web UI");
                return see_other(&format!("/projects/{project_id}/grouping?saved=1"));
            }
            Ok(Err(e)) => match form_errors(e) {
                Ok(e) => errors.0.push(e),
                Err(r) => return r,
            },
        }
    }
    (
        StatusCode::BAD_REQUEST,
        render(&Tab {
            viewer: &viewer,
            project: &project,
            view: &view,
            draft: &draft,
            errors: &errors,
            saved: false,
            tried: None,
            transition: state.config.grouping_transition,
        }),
    )
        .into_response()
}

/// The event field: a JSON object, or a stored event's id.
fn event_input(text: &str) -> Result<(Option<serde_json::Value>, Option<String>), ServiceError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ServiceError::field(
            "event",
            "paste an event's JSON or type a stored event's id",
        ));
    }
    if text.starts_with('{') {
        return serde_json::from_str::<serde_json::Value>(text)
            .map(|v| (Some(v), None))
            .map_err(|e| {
                ServiceError::field("event", format!("the event is not valid JSON: {e}"))
            });
    }
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok((None, Some(hex.to_ascii_lowercase())));
    }
    Err(ServiceError::field(
        "event",
        "this is neither an event's JSON (an object, starting with {) nor an event id (32 hexadecimal digits)",
    ))
}

/// `POST /projects/{id}/grouping/test`: groups the event with the rules of
/// the form, saves nothing (members may try too).
pub(crate) async fn try_rules(
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
    let (project, view) = match load(&state, project_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let draft = Draft::from_form(&form, &view);
    let mut errors = Errors::default();
    let mut tried = None;
    match event_input(&draft.event) {
        Err(e) => errors.0.push(e),
        Ok((event, event_id)) => {
            let test = GroupingTest {
                event,
                event_id,
                config: Some(draft.config.clone()),
                fingerprint_rules: Some(draft.fingerprint_rules.clone()),
                stacktrace_rules: Some(draft.stacktrace_rules.clone()),
            };
            match call(&state, move |s| Ok(s.test_grouping(project_id, test))).await {
                Err(r) => return r,
                Ok(Ok(t)) => tried = Some(t),
                Ok(Err(e)) => match form_errors(e) {
                    // A stored event that is not there is the event field's error.
                    Ok(ServiceError::NotFound(m)) => errors.0.push(ServiceError::field("event", m)),
                    Ok(e) => errors.0.push(e),
                    Err(r) => return r,
                },
            }
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (
        status,
        render(&Tab {
            viewer: &viewer,
            project: &project,
            view: &view,
            draft: &draft,
            errors: &errors,
            saved: false,
            tried: tried.as_ref(),
            transition: state.config.grouping_transition,
        }),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_event_field_takes_json_or_an_id() {
        let (json, none) = event_input(" {\"message\": \"x\"} ").unwrap();
        assert_eq!(json.unwrap()["message"], "x");
        assert!(none.is_none());
        let id = "0123456789ABCDEF0123456789abcdef";
        assert_eq!(event_input(id).unwrap().1.unwrap(), id.to_ascii_lowercase());
        let dashed = "01234567-89ab-cdef-0123-456789abcdef";
        assert_eq!(
            event_input(dashed).unwrap().1.unwrap(),
            "0123456789abcdef0123456789abcdef"
        );
        for bad in ["", "nope", "{not json", "0123"] {
            let e = event_input(bad).unwrap_err();
            assert_eq!(e.field_name(), Some("event"), "{bad}");
        }
    }
}
