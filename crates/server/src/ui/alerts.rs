//! A project's alert destinations (admins) and its alerts log (everyone).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::auth::Viewer;
use super::form::{FormData, QueryData, id, ids};
use super::settings::project_tabs;
use super::{call, layout, see_other};
use crate::service::alerting::TestDelivery;
use crate::service::views::{AlertView, DestinationView, ProjectView};
use crate::service::{AlertQuery, NewDestination, ServiceError};
use crate::state::AppState;

/// Delivery states a reader filters the log by.
const STATES: &[&str] = &["pending", "delivered", "failed"];

/// The destination types the form offers: (type, label).
const KINDS: &[(&str, &str)] = &[
    ("generic_webhook", "Webhook"),
    ("slack_webhook", "Slack"),
    ("discord_webhook", "Discord"),
    ("email", "Email"),
    ("internal_logger", "Server log"),
];

/// `GET /projects/{id}/alerts?state=`: every alert with its deliveries.
pub(crate) async fn log(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    QueryData(q): QueryData,
) -> Response {
    let project_id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let filter = q
        .text("state")
        .filter(|s| STATES.contains(s))
        .map(str::to_owned);
    let query = AlertQuery {
        limit: Some(200),
        state: filter.clone(),
    };
    let loaded = call(&state, move |s| {
        Ok((s.project(project_id)?, s.query_alerts(project_id, query)?))
    })
    .await;
    let (project, alerts) = match loaded {
        Ok(x) => x,
        Err(r) => return r,
    };
    let shown: Vec<&AlertView> = alerts.iter().collect();
    let admin = viewer.user.is_admin();
    let body = html! {
        h1 { (project.name) }
        (project_tabs(project.id, "alerts", viewer.user.is_admin()))
        nav.tabs {
            a class=(if filter.is_none() { "active" } else { "" }) href={ "/projects/" (project.id) "/alerts" } { "All" }
            @for s in STATES {
                a class=(if filter.as_deref() == Some(*s) { "active" } else { "" }) href={ "/projects/" (project.id) "/alerts?state=" (s) } { (s) }
            }
        }
        @if shown.is_empty() {
            p.muted #no-alerts { "No alerts" @if let Some(f) = &filter { " with a " (f) " delivery" } ". Alerts are raised for new issues, regressions and unmuted issues." }
        } @else {
            table.alerts {
                thead { tr { th { "Raised" } th { "Kind" } th { "Issue" } th { "Deliveries" } } }
                tbody {
                    @for a in shown {
                        tr {
                            td { (a.created_at) }
                            td { strong { (a.kind) } }
                            td { @if let Some(i) = a.issue_id { a href={ "/issues/" (i) } { (a.issue_title) } } @else { (a.issue_title) } }
                            td {
                                @if a.deliveries.is_empty() { span.muted { "no destination" } }
                                @for d in &a.deliveries {
                                    div.delivery data-state=(d.state) {
                                        (d.destination_type) " #" (d.destination_id) ": " strong { (d.state) }
                                        " · " (d.attempts) " attempt" @if d.attempts != 1 { "s" }
                                        @if let Some(t) = &d.delivered_at { " · delivered " (t) }
                                        @if let Some(t) = &d.next_attempt_at { @if d.state == "pending" { " · next " (t) } }
                                        @if admin && d.state != "delivered" {
                                            " "
                                            form.inline method="post" action={ "/projects/" (project.id) "/deliveries/" (d.id) "/retry" } {
                                                input type="hidden" name="_csrf" value=(viewer.csrf);
                                                button type="submit" { "Retry now" }
                                            }
                                        }
                                        @if let Some(e) = &d.last_error { div.error.mono { (e) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let crumbs = [
        (
            project.name.as_str(),
            format!("/projects/{project_id}/issues"),
        ),
        ("Alerts", format!("/projects/{project_id}/alerts")),
    ];
    layout::page(&format!("{} alerts", project.name), &viewer, &crumbs, body).into_response()
}

/// What the add form shows again after an error.
#[derive(Default)]
struct Draft {
    kind: String,
    url: String,
    to: String,
    headers: String,
    max_per_hour: String,
}

fn destinations_page(
    viewer: &Viewer,
    project: &ProjectView,
    destinations: &[DestinationView],
    draft: &Draft,
    error: Option<&ServiceError>,
    tested: Option<&TestDelivery>,
) -> Markup {
    let at = |field: &str| error.filter(|e| e.field_name() == Some(field));
    let general = error.filter(|e| {
        !matches!(
            e.field_name(),
            Some("url" | "to" | "max_per_hour" | "headers")
        )
    });
    let crumbs = [
        (
            project.name.as_str(),
            format!("/projects/{}/issues", project.id),
        ),
        (
            "Destinations",
            format!("/projects/{}/destinations", project.id),
        ),
    ];
    layout::page(
        &format!("{} destinations", project.name),
        viewer,
        &crumbs,
        html! {
            h1 { (project.name) }
            (project_tabs(project.id, "destinations", true))
            h2 { "Where alerts go" }
            @if let Some(t) = tested {
                @if t.delivered {
                    p.ok role="status" #test-outcome { "Test alert delivered to destination #" (t.destination_id) "." }
                } @else {
                    p.error role="alert" #test-outcome { "Test alert to destination #" (t.destination_id) " failed: " (t.error.as_deref().unwrap_or("unknown error")) }
                }
            }
            @if destinations.is_empty() {
                p.muted #no-destinations { "No destination yet: alerts are recorded in the log but sent nowhere." }
            } @else {
                table.destinations {
                    thead { tr { th { "Type" } th { "Target" } th { "Per hour" } th {} } }
                    tbody {
                        @for d in destinations {
                            tr data-destination=(d.id) {
                                td { (d.kind) }
                                td.mono {
                                    (target(&d.config))
                                    @if d.kind == "generic_webhook" {
                                        br;
                                        span.muted.secret-state {
                                            @if d.config.get("secret").is_some_and(|v| !v.is_null()) { "secret: set" } @else { "secret: not set" }
                                            @if let Some(h) = d.config.get("headers").and_then(Value::as_object) {
                                                @if !h.is_empty() { " · headers: " (h.keys().cloned().collect::<Vec<_>>().join(", ")) }
                                            }
                                        }
                                    }
                                }
                                td { (d.config.get("max_per_hour").and_then(Value::as_u64).map_or_else(|| "60".to_owned(), |n| n.to_string())) }
                                td {
                                    form.inline method="post" action={ "/projects/" (project.id) "/destinations/" (d.id) "/test" } {
                                        input type="hidden" name="_csrf" value=(viewer.csrf);
                                        button type="submit" { "Send a test alert" }
                                    }
                                    " "
                                    form.inline method="post" action={ "/projects/" (project.id) "/destinations/" (d.id) "/delete" } {
                                        input type="hidden" name="_csrf" value=(viewer.csrf);
                                        button type="submit" { "Delete" }
                                    }
                                    details.edit {
                                        summary { "Edit" }
                                        form.settings method="post" action={ "/projects/" (project.id) "/destinations/" (d.id) "/edit" } {
                                            input type="hidden" name="_csrf" value=(viewer.csrf);
                                            @match d.kind.as_str() {
                                                "generic_webhook" | "slack_webhook" | "discord_webhook" => {
                                                    label { "New URL (empty: keep " (target(&d.config)) ")" input type="url" name="url" maxlength="2048"; }
                                                }
                                                "email" => {
                                                    label { "Recipients (empty: keep)" input type="text" name="to"; }
                                                }
                                                _ => {}
                                            }
                                            @if d.kind == "generic_webhook" {
                                                label { "New signing secret (empty: keep the stored one)" input type="password" name="secret" autocomplete="off"; }
                                                label.check { input type="checkbox" name="remove_secret" value="1"; " Remove the secret" }
                                            }
                                            label { "Alerts per hour (empty: keep; \"default\": 60)" input type="text" name="max_per_hour" inputmode="numeric"; }
                                            button type="submit" { "Save" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Add a destination" }
            @if let Some(e) = general { p.error role="alert" #destination-error { (e) } }
            form.settings method="post" action={ "/projects/" (project.id) "/destinations" } {
                input type="hidden" name="_csrf" value=(viewer.csrf);
                label { "Type"
                    select name="type" {
                        @for (k, label) in KINDS { option value=(k) selected[draft.kind == *k] { (label) } }
                    }
                }
                label { "URL (webhook, Slack, Discord)" input type="url" name="url" value=(draft.url) maxlength="2048";
                    @if let Some(e) = at("url") { span.field-error role="alert" { (e) } } }
                label { "Signing secret (webhook; HMAC-SHA256 in X-Periscope-Signature; write-only)" input type="password" name="secret" autocomplete="off"; }
                label { "Extra headers (webhook; one `Name: value` per line)" textarea name="headers" rows="2" { (draft.headers) }
                    @if let Some(e) = at("headers") { span.field-error role="alert" { (e) } } }
                label { "Recipients (email; comma-separated)" input type="text" name="to" value=(draft.to);
                    @if let Some(e) = at("to") { span.field-error role="alert" { (e) } } }
                label { "Alerts per hour before a summary (empty: 60)" input type="text" inputmode="numeric" name="max_per_hour" value=(draft.max_per_hour);
                    @if let Some(e) = at("max_per_hour") { span.field-error role="alert" { (e) } } }
                button.primary type="submit" { "Add destination" }
            }
        },
    )
}

/// What a destination sends to, as the redacted configuration shows it.
fn target(config: &Value) -> String {
    if let Some(url) = config.get("url").and_then(Value::as_str) {
        return url.to_owned();
    }
    if let Some(to) = config.get("to").and_then(Value::as_array) {
        return to
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", ");
    }
    "the server's log".to_owned()
}

/// The admin API's JSON body from the form.
fn body_from(form: &FormData) -> Result<Value, ServiceError> {
    let kind = form.text("type").unwrap_or_default();
    let mut body = Map::new();
    body.insert("type".into(), json!(kind));
    match kind {
        "generic_webhook" | "slack_webhook" | "discord_webhook" => {
            body.insert("url".into(), json!(form.text("url").unwrap_or_default()));
        }
        "email" => {
            let to: Vec<&str> = form
                .get("to")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            body.insert("to".into(), json!(to));
        }
        _ => {}
    }
    if kind == "generic_webhook" {
        if let Some(secret) = form.text("secret") {
            body.insert("secret".into(), json!(secret));
        }
        let mut headers = Map::new();
        for line in form.get("headers").unwrap_or_default().lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(ServiceError::field(
                    "headers",
                    format!("header line {line:?} is not `Name: value`"),
                ));
            };
            headers.insert(name.trim().to_owned(), json!(value.trim()));
        }
        if !headers.is_empty() {
            body.insert("headers".into(), Value::Object(headers));
        }
    }
    if let Some(n) = form.text("max_per_hour") {
        let n: u64 = n.parse().map_err(|_| {
            ServiceError::field(
                "max_per_hour",
                "max_per_hour must be a whole number between 1 and 100000",
            )
        })?;
        body.insert("max_per_hour".into(), json!(n));
    }
    Ok(Value::Object(body))
}

/// `GET /projects/{id}/destinations` (admins).
pub(crate) async fn destinations(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> Response {
    if let Err(r) = viewer.require_admin() {
        return r;
    }
    let project_id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match call(&state, move |s| {
        Ok((s.project(project_id)?, s.list_destinations(project_id)?))
    })
    .await
    {
        Ok((p, d)) => {
            destinations_page(&viewer, &p, &d, &Draft::default(), None, None).into_response()
        }
        Err(r) => r,
    }
}

/// `POST /projects/{id}/destinations` (admins).
pub(crate) async fn add_destination(
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
    let body = body_from(&form);
    let outcome = call(&state, move |s| {
        let created = body.and_then(|b| s.create_destination(project_id, NewDestination(b)));
        Ok((
            s.project(project_id)?,
            s.list_destinations(project_id)?,
            created,
        ))
    })
    .await;
    match outcome {
        Err(r) => r,
        Ok((_, _, Ok(_))) => see_other(&format!("/projects/{project_id}/destinations")),
        Ok((p, list, Err(e @ (ServiceError::Invalid(_) | ServiceError::InvalidField { .. })))) => {
            let draft = Draft {
                kind: form.get("type").unwrap_or_default().to_owned(),
                url: form.get("url").unwrap_or_default().to_owned(),
                to: form.get("to").unwrap_or_default().to_owned(),
                headers: form.get("headers").unwrap_or_default().to_owned(),
                max_per_hour: form.get("max_per_hour").unwrap_or_default().to_owned(),
            };
            (
                StatusCode::BAD_REQUEST,
                destinations_page(&viewer, &p, &list, &draft, Some(&e), None),
            )
                .into_response()
        }
        Ok((_, _, Err(e))) => super::service_error(e),
    }
}

/// `POST /projects/{id}/destinations/{destination_id}/delete` (admins).
pub(crate) async fn delete_destination(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((raw, raw_destination)): Path<(String, String)>,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check_admin(&form) {
        return r;
    }
    let (project_id, destination_id) = match ids(&raw, &raw_destination) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match call(&state, move |s| {
        s.delete_destination(project_id, destination_id)
    })
    .await
    {
        Ok(()) => see_other(&format!("/projects/{project_id}/destinations")),
        Err(r) => r,
    }
}

/// `POST /projects/{id}/destinations/{destination_id}/test` (admins): one test
/// alert through the real path; the page shows the outcome, the exact error
/// included (admins only reach it).
pub(crate) async fn test_destination(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((raw, raw_destination)): Path<(String, String)>,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check_admin(&form) {
        return r;
    }
    let (project_id, destination_id) = match ids(&raw, &raw_destination) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let tested = match state
        .service
        .test_destination(project_id, destination_id)
        .await
    {
        Ok(t) => t,
        Err(e) => return super::service_error(e),
    };
    match call(&state, move |s| {
        Ok((s.project(project_id)?, s.list_destinations(project_id)?))
    })
    .await
    {
        Ok((p, d)) => destinations_page(&viewer, &p, &d, &Draft::default(), None, Some(&tested))
            .into_response(),
        Err(r) => r,
    }
}

/// `POST /projects/{id}/deliveries/{delivery_id}/retry` (admins): the delivery
/// is tried again at once.
pub(crate) async fn retry_delivery(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((raw, raw_delivery)): Path<(String, String)>,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check_admin(&form) {
        return r;
    }
    let (project_id, delivery_id) = match ids(&raw, &raw_delivery) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match call(&state, move |s| s.retry_delivery(project_id, delivery_id)).await {
        Ok(_) => see_other(&format!("/projects/{project_id}/alerts")),
        Err(r) => r,
    }
}

/// The admin API's change body from the edit form: only what was filled in
/// (a blank field keeps the stored value; secrets are write-only).
fn change_from(form: &FormData) -> Result<Value, ServiceError> {
    let mut change = Map::new();
    if let Some(url) = form.text("url") {
        change.insert("url".into(), json!(url));
    }
    if let Some(to) = form.text("to") {
        let to: Vec<&str> = to
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        change.insert("to".into(), json!(to));
    }
    if form.get("remove_secret") == Some("1") {
        change.insert("secret".into(), Value::Null);
    } else if let Some(secret) = form.text("secret") {
        change.insert("secret".into(), json!(secret));
    }
    match form.text("max_per_hour") {
        None => {}
        Some("default") => {
            change.insert("max_per_hour".into(), Value::Null);
        }
        Some(n) => {
            let n: u64 = n.parse().map_err(|_| {
                ServiceError::field(
                    "max_per_hour",
                    "max_per_hour must be a whole number between 1 and 100000 (or \"default\")",
                )
            })?;
            change.insert("max_per_hour".into(), json!(n));
        }
    }
    Ok(Value::Object(change))
}

/// `POST /projects/{id}/destinations/{destination_id}/edit` (admins).
pub(crate) async fn edit_destination(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((raw, raw_destination)): Path<(String, String)>,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check_admin(&form) {
        return r;
    }
    let (project_id, destination_id) = match ids(&raw, &raw_destination) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let change = change_from(&form);
    let outcome = call(&state, move |s| {
        let changed = change.and_then(|c| {
            s.update_destination(
                project_id,
                destination_id,
                crate::service::DestinationChange(c),
            )
        });
        Ok((
            s.project(project_id)?,
            s.list_destinations(project_id)?,
            changed,
        ))
    })
    .await;
    match outcome {
        Err(r) => r,
        Ok((_, _, Ok(_))) => see_other(&format!("/projects/{project_id}/destinations")),
        Ok((
            p,
            list,
            Err(
                e @ (ServiceError::Invalid(_)
                | ServiceError::InvalidField { .. }
                | ServiceError::Conflict(_)),
            ),
        )) => {
            // The edit form's errors are shown above the table, naming the field.
            let shown = ServiceError::invalid(format!("destination #{destination_id}: {e}"));
            (
                StatusCode::BAD_REQUEST,
                destinations_page(&viewer, &p, &list, &Draft::default(), Some(&shown), None),
            )
                .into_response()
        }
        Ok((_, _, Err(e))) => super::service_error(e),
    }
}
