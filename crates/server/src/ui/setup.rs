//! A new project and its setup page: the DSN, a snippet per platform, a test
//! event sent through the real protocol, and the wait for the first event.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::auth::Viewer;
use super::form::{FormData, QueryData, encode, id};
use super::{call, error_page, layout, see_other};
use crate::service::{IssueQuery, ServiceError};
use crate::state::AppState;

/// `(platform, language class, snippet)`: `init` with the DSN and one line that
/// raises a test error. `{DSN}` is replaced.
const SNIPPETS: &[(&str, &str)] = &[
    (
        "Python",
        "pip install sentry-sdk\n\nimport sentry_sdk\nsentry_sdk.init(dsn=\"{DSN}\")\n\n1 / 0  # a test error",
    ),
    (
        "JavaScript (browser)",
        "npm install @sentry/browser\n\nimport * as Sentry from \"@sentry/browser\";\nSentry.init({ dsn: \"{DSN}\" });\n\nsetTimeout(() => { throw new Error(\"Periscope test error\"); });",
    ),
    (
        "Node.js",
        "npm install @sentry/node\n\nconst Sentry = require(\"@sentry/node\");\nSentry.init({ dsn: \"{DSN}\" });\n\nSentry.captureException(new Error(\"Periscope test error\"));",
    ),
    (
        "Rust",
        "cargo add sentry\n\nlet _guard = sentry::init(\"{DSN}\");\n\nsentry::capture_message(\"Periscope test error\", sentry::Level::Error);",
    ),
    (
        "Go",
        "go get github.com/getsentry/sentry-go\n\nsentry.Init(sentry.ClientOptions{Dsn: \"{DSN}\"})\ndefer sentry.Flush(2 * time.Second)\n\nsentry.CaptureException(errors.New(\"Periscope test error\"))",
    ),
    (
        "Java",
        "// io.sentry:sentry\nSentry.init(options -> options.setDsn(\"{DSN}\"));\n\nSentry.captureException(new RuntimeException(\"Periscope test error\"));",
    ),
    (
        ".NET",
        "dotnet add package Sentry\n\nusing var _ = SentrySdk.Init(o => o.Dsn = \"{DSN}\");\n\nSentrySdk.CaptureException(new Exception(\"Periscope test error\"));",
    ),
    (
        "PHP",
        "composer require sentry/sentry\n\n\\Sentry\\init(['dsn' => '{DSN}']);\n\n\\Sentry\\captureException(new \\Exception('Periscope test error'));",
    ),
];

fn new_form(viewer: &Viewer, name: &str, error: Option<&str>) -> Markup {
    layout::page(
        "New project",
        viewer,
        &[("New project", "/projects/new".to_owned())],
        html! {
            h1 { "New project" }
            form.settings method="post" action="/projects" {
                input type="hidden" name="_csrf" value=(viewer.csrf);
                label {
                    "Name"
                    input type="text" name="name" value=(name) maxlength="400" required autofocus;
                    @if let Some(e) = error { span.field-error role="alert" { (e) } }
                }
                button.primary type="submit" { "Create project" }
            }
        },
    )
}

/// `GET /projects/new` (admins).
pub(crate) async fn new_project(viewer: Viewer) -> Response {
    if let Err(r) = viewer.require_admin() {
        return r;
    }
    new_form(&viewer, "", None).into_response()
}

/// `POST /projects` (admins): create, then the setup page.
pub(crate) async fn create_project(
    State(state): State<AppState>,
    viewer: Viewer,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check_admin(&form) {
        return r;
    }
    let name = form.get("name").unwrap_or_default().to_owned();
    let wanted = name.clone();
    match call(&state, move |s| Ok(s.create_project(&wanted))).await {
        Err(r) => r,
        Ok(Ok(p)) => see_other(&format!("/projects/{}/setup", p.id)),
        Ok(Err(e @ ServiceError::InvalidField { .. })) => (
            StatusCode::BAD_REQUEST,
            new_form(&viewer, &name, Some(&e.to_string())),
        )
            .into_response(),
        Ok(Err(e)) => super::service_error(e),
    }
}

/// `GET /projects/{id}/setup`: the DSN, snippets, test event, first event.
pub(crate) async fn setup(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    QueryData(q): QueryData,
) -> Response {
    let project_id = match id(&raw) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let loaded = call(&state, move |s| {
        let project = s.project(project_id)?;
        let first = s.list_issues(
            project_id,
            IssueQuery {
                status: Some("all".into()),
                limit: Some(1),
                ..IssueQuery::default()
            },
        )?;
        Ok((project, first.items.into_iter().next()))
    })
    .await;
    let (project, latest) = match loaded {
        Ok(x) => x,
        Err(r) => return r,
    };
    let dsn = project.dsn.clone().unwrap_or_default();
    let sent = q.text("sent");
    let failed = q.text("failed");
    let body = html! {
        h1 { "Set up " (project.name) }
        (super::settings::project_tabs(project.id, "setup", viewer.user.is_admin()))
        section #dsn {
            h2 { "1. The DSN" }
            p { "Give this to the SDK (it is public: it can only send events to this project)." }
            p.mono { code #dsn-value { (dsn) } " " button.copy.hidden type="button" data-copy=(dsn) { "Copy" } }
        }
        section #snippets {
            h2 { "2. Initialise the SDK" }
            @for (platform, code) in SNIPPETS {
                details.snippet open[*platform == "Python"] {
                    summary { (platform) }
                    @let text = code.replace("{DSN}", &dsn);
                    pre { code { (text) } }
                    button.copy.hidden type="button" data-copy=(text) { "Copy" }
                }
            }
        }
        section #first-event {
            h2 { "3. The first event" }
            @match &latest {
                Some(issue) => {
                    p.ok #arrived { "Events arrive. The latest issue: " a href={ "/issues/" (issue.id) } { (issue.title) } }
                    p { a href={ "/projects/" (project.id) "/issues" } { "See all issues »" } }
                }
                None => {
                    p #waiting { "Waiting for the first event… (this page checks every 3 seconds)" }
                }
            }
            @if let Some(id) = sent { p.muted { "Test event " code { (id) } " sent." } }
            @if let Some(e) = failed { p.error role="alert" { "The test event failed: " (e) } }
            @if viewer.user.is_admin() {
                form method="post" action={ "/projects/" (project.id) "/test-event" } {
                    input type="hidden" name="_csrf" value=(viewer.csrf);
                    button type="submit" { "Send a test event" }
                }
            }
        }
    };
    let crumbs = [
        (
            project.name.as_str(),
            format!("/projects/{project_id}/issues"),
        ),
        ("Setup", format!("/projects/{project_id}/setup")),
    ];
    let page = layout::page_with_refresh(
        &format!("Set up {}", project.name),
        &viewer,
        &crumbs,
        latest.is_none().then_some(3),
        body,
    );
    page.into_response()
}

/// `POST /projects/{id}/test-event` (admins).
pub(crate) async fn test_event(
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
    match state
        .service
        .send_test_event(project_id, state.config.listen)
        .await
    {
        Ok(event_id) => see_other(&format!("/projects/{project_id}/setup?sent={event_id}")),
        Err(ServiceError::NotFound(m)) => error_page(StatusCode::NOT_FOUND, &m),
        Err(e) => {
            tracing::warn!(error = %e, "test event failed");
            see_other(&format!(
                "/projects/{project_id}/setup?failed={}",
                encode(&e.to_string())
            ))
        }
    }
}
