//! A project's settings (admins): name, quotas, retention, its keys' DSNs, and
//! deletion with a typed confirmation. Every field is checked by the same rules
//! as the admin API (`ProjectChange`); an error is shown next to its field.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::auth::Viewer;
use super::form::{FormData, id};
use super::{call, layout, see_other};
use crate::service::views::ProjectView;
use crate::service::{ProjectChange, ServiceError};
use crate::state::AppState;

/// The tabs of a project's pages.
pub(crate) fn project_tabs(project: i64, active: &str, admin: bool) -> Markup {
    let tab = |key: &str, label: &str, href: String| {
        html! { a class=(if key == active { "active" } else { "" }) href=(href) { (label) } }
    };
    html! {
        nav.tabs.project-tabs {
            (tab("issues", "Issues", format!("/projects/{project}/issues")))
            (tab("alerts", "Alerts", format!("/projects/{project}/alerts")))
            (tab("setup", "Setup", format!("/projects/{project}/setup")))
            (tab("grouping", "Grouping", format!("/projects/{project}/grouping")))
            @if admin {
                (tab("destinations", "Destinations", format!("/projects/{project}/destinations")))
                (tab("settings", "Settings", format!("/projects/{project}/settings")))
            }
        }
    }
}

/// Quota fields, per data category (only errors have quotas today; the form is
/// generic so that per-category quotas add rows, not a new form).
const QUOTA_CATEGORIES: &[(&str, &str)] = &[("", "Error events")];

/// The values a form shows: what is stored, or what was just submitted.
struct Values {
    fields: Vec<(&'static str, String)>,
}

impl Values {
    fn of(p: &ProjectView) -> Self {
        let n = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        let s = &p.settings;
        Self {
            fields: vec![
                ("name", p.name.clone()),
                ("quota_per_minute", n(s.quota_per_minute)),
                ("quota_per_hour", n(s.quota_per_hour)),
                ("quota_per_day", n(s.quota_per_day)),
                ("max_events", n(s.max_events)),
                ("max_age_days", n(s.max_age_days.map(u64::from))),
            ],
        }
    }

    fn from_form(form: &FormData) -> Self {
        let names = [
            "name",
            "quota_per_minute",
            "quota_per_hour",
            "quota_per_day",
            "max_events",
            "max_age_days",
        ];
        Self {
            fields: names
                .iter()
                .map(|n| (*n, form.get(n).unwrap_or_default().to_owned()))
                .collect(),
        }
    }

    fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A limit field: empty is "no limit", else a whole number (the service checks
/// the range).
fn limit(form: &FormData, field: &'static str) -> Result<Option<Option<u64>>, ServiceError> {
    match form.get(field).map(str::trim) {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(v) => match v.parse::<u64>() {
            Ok(n) => Ok(Some(Some(n))),
            Err(_) if v.starts_with('-') => Err(ServiceError::field(
                field,
                "must be at least 1 (leave it empty for no limit)",
            )),
            Err(_) if v.chars().all(|c| c.is_ascii_digit()) => {
                Err(ServiceError::field(field, "is far too large"))
            }
            Err(_) => Err(ServiceError::field(
                field,
                "must be a whole number (leave it empty for no limit)",
            )),
        },
    }
}

/// The project's grouping configuration (a name stored before versioning
/// with the id it means) and the configurations there are; the grouping tab
/// changes it.
fn grouping_config(project: i64, stored: &str) -> Markup {
    let config = crate::service::grouping::stored_config(stored);
    let meant = (config.as_str() != stored).then_some(config.as_str());
    html! {
        p {
            "Configuration: " code { (stored) }
            @if let Some(id) = meant { " (" code { (id) } ")" }
            ". It is switched, and the project's fingerprint and stack-trace rules are edited, on the "
            a href={ "/projects/" (project) "/grouping" } { "Grouping" } " tab."
        }
        p.muted {
            "Configurations: "
            @for (i, c) in periscope_grouping::ConfigId::ALL.iter().enumerate() {
                @if i > 0 { "; " }
                code { (c.as_str()) } " — " (c.description())
            }
            "."
        }
    }
}

fn change_from(form: &FormData) -> Result<ProjectChange, ServiceError> {
    Ok(ProjectChange {
        name: form.get("name").map(str::to_owned),
        quota_per_minute: limit(form, "quota_per_minute")?,
        quota_per_hour: limit(form, "quota_per_hour")?,
        quota_per_day: limit(form, "quota_per_day")?,
        max_events: limit(form, "max_events")?,
        max_age_days: limit(form, "max_age_days")?,
        grouping_strategy: None,
        fingerprint_rules: None,
        stacktrace_rules: None,
    })
}

fn field(values: &Values, error: Option<&ServiceError>, name: &'static str, label: &str) -> Markup {
    let message = error.filter(|e| e.field_name() == Some(name));
    html! {
        label class=(if message.is_some() { "invalid" } else { "" }) {
            (label)
            input type="text" inputmode=(if name == "name" { "text" } else { "numeric" }) name=(name) value=(values.get(name)) aria-invalid=(message.is_some());
            @if let Some(e) = message { span.field-error role="alert" { (e) } }
        }
    }
}

fn render(
    viewer: &Viewer,
    p: &ProjectView,
    values: &Values,
    error: Option<&ServiceError>,
    saved: bool,
) -> Markup {
    let crumbs = [
        (p.name.as_str(), format!("/projects/{}/issues", p.id)),
        ("Settings", format!("/projects/{}/settings", p.id)),
    ];
    layout::page(
        &format!("{} settings", p.name),
        viewer,
        &crumbs,
        html! {
            h1 { (p.name) }
            (project_tabs(p.id, "settings", true))
            @if saved { p.ok role="status" { "Saved." } }
            @if let Some(e) = error.filter(|e| e.field_name().is_none()) { p.error role="alert" { (e) } }
            form.settings method="post" action={ "/projects/" (p.id) "/settings" } {
                input type="hidden" name="_csrf" value=(viewer.csrf);
                h2 { "General" }
                (field(values, error, "name", "Name"))
                h2 { "Quotas" }
                p.muted { "Events accepted per window; past a limit the SDK is answered 429 with the time to wait. Leave a field empty for no limit." }
                table.quotas {
                    thead { tr { th { "Category" } th { "Per minute" } th { "Per hour" } th { "Per day" } } }
                    tbody {
                        @for (_prefix, label) in QUOTA_CATEGORIES {
                            tr {
                                td { (label) }
                                td { (field(values, error, "quota_per_minute", "")) }
                                td { (field(values, error, "quota_per_hour", "")) }
                                td { (field(values, error, "quota_per_day", "")) }
                            }
                        }
                    }
                }
                h2 { "Retention" }
                (field(values, error, "max_events", "Most events stored (the oldest go first; empty: no cap)"))
                (field(values, error, "max_age_days", "Delete events older than this many days (empty: keep)"))
                button.primary type="submit" { "Save" }
            }
            h2 #keys { "Keys" }
            p.muted { "Each key's DSN sends to this project. Revoking a key refuses its events on every server within seconds; it stays listed for the record." }
            @if let Some(e) = error.filter(|e| e.field_name() == Some("key")) { p.error role="alert" #key-error { (e) } }
            table.keys {
                thead { tr { th { "DSN" } th { "Created" } th { "State" } th {} } }
                tbody {
                    @for k in &p.keys {
                        tr data-key=(k.public_key) {
                            td.mono { code { (k.dsn) } " " @if k.revoked_at.is_none() { button.copy.hidden type="button" data-copy=(k.dsn) { "Copy" } } }
                            td { (k.created_at) }
                            td { @match &k.revoked_at { Some(t) => { span.muted { "revoked " (t) } }, None => { "active" } } }
                            td {
                                @if k.revoked_at.is_none() {
                                    form.inline method="post" action={ "/projects/" (p.id) "/keys/" (k.public_key) "/revoke" } {
                                        input type="hidden" name="_csrf" value=(viewer.csrf);
                                        button type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action={ "/projects/" (p.id) "/keys" } {
                input type="hidden" name="_csrf" value=(viewer.csrf);
                button type="submit" { "Add a key" }
            }
            h2 { "Grouping" }
            (grouping_config(p.id, &p.settings.grouping_strategy))
            h2.danger { "Delete this project" }
            form.settings.danger method="post" action={ "/projects/" (p.id) "/delete" } {
                input type="hidden" name="_csrf" value=(viewer.csrf);
                p { "This deletes the project with all of its issues, events, destinations and alerts. Type the project's name to confirm." }
                label {
                    "Project name"
                    input type="text" name="confirm" autocomplete="off" required;
                    @if error.is_some_and(|e| e.field_name() == Some("confirm")) {
                        span.field-error role="alert" { "The name typed does not match." }
                    }
                }
                button.danger type="submit" { "Delete project" }
            }
        },
    )
}

/// `GET /projects/{id}/settings` (admins).
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    super::form::QueryData(q): super::form::QueryData,
) -> Response {
    if let Err(r) = viewer.require_admin() {
        return r;
    }
    let project_id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match call(&state, move |s| s.project(project_id)).await {
        Ok(p) => {
            render(&viewer, &p, &Values::of(&p), None, q.get("saved").is_some()).into_response()
        }
        Err(r) => r,
    }
}

/// `POST /projects/{id}/settings` (admins).
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
    let change = change_from(&form);
    let result = call(&state, move |s| {
        let outcome = change.and_then(|c| s.update_project(project_id, c));
        Ok((s.project(project_id)?, outcome))
    })
    .await;
    match result {
        Err(r) => r,
        Ok((_, Ok(_))) => see_other(&format!("/projects/{project_id}/settings?saved=1")),
        Ok((p, Err(e @ (ServiceError::InvalidField { .. } | ServiceError::Invalid(_))))) => (
            StatusCode::BAD_REQUEST,
            render(&viewer, &p, &Values::from_form(&form), Some(&e), false),
        )
            .into_response(),
        Ok((_, Err(e))) => super::service_error(e),
    }
}

/// `POST /projects/{id}/delete` (admins): only with the name typed.
pub(crate) async fn delete(
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
    let typed = form.get("confirm").unwrap_or_default().trim().to_owned();
    let result = call(&state, move |s| {
        let p = s.project(project_id)?;
        if p.name != typed {
            return Ok(Err(p));
        }
        s.delete_project(project_id)?;
        Ok(Ok(()))
    })
    .await;
    match result {
        Err(r) => r,
        Ok(Ok(())) => {
            tracing::info!(project = project_id, by = %viewer.user.email, "project deleted from the web UI");
            see_other("/")
        }
        Ok(Err(p)) => (
            StatusCode::BAD_REQUEST,
            render(
                &viewer,
                &p,
                &Values::of(&p),
                Some(&ServiceError::field(
                    "confirm",
                    "the name typed does not match",
                )),
                false,
            ),
        )
            .into_response(),
    }
}

/// `POST /projects/{id}/keys` (admins): a new key.
pub(crate) async fn add_key(
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
    match call(&state, move |s| s.add_key(project_id)).await {
        Ok(_) => see_other(&format!("/projects/{project_id}/settings#keys")),
        Err(r) => r,
    }
}

/// `POST /projects/{id}/keys/{public_key}/revoke` (admins).
pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((raw, key)): Path<(String, String)>,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check_admin(&form) {
        return r;
    }
    let project_id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let outcome = call(&state, move |s| {
        let r = s.revoke_key(project_id, &key);
        Ok((s.project(project_id)?, r))
    })
    .await;
    match outcome {
        Err(r) => r,
        Ok((_, Ok(_))) => see_other(&format!("/projects/{project_id}/settings#keys")),
        Ok((p, Err(ServiceError::Conflict(m)))) => (
            StatusCode::CONFLICT,
            render(
                &viewer,
                &p,
                &Values::of(&p),
                Some(&ServiceError::field("key", m)),
                false,
            ),
        )
            .into_response(),
        Ok((_, Err(e))) => super::service_error(e),
    }
}
