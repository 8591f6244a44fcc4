//! The home page: every project with its unresolved issues and recent events.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::html;

use super::auth::Viewer;
use super::{call, layout};
use crate::state::AppState;

/// `GET /`.
pub(crate) async fn home(State(state): State<AppState>, viewer: Viewer) -> Response {
    let summaries = match call(&state, |s| s.project_summaries(Utc::now())).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let body = html! {
        h1 { "Projects" }
        @if viewer.user.is_admin() {
            p { a.button href="/projects/new" { "New project" } }
        }
        @if summaries.is_empty() {
            section.notice {
                p { "No project yet." @if !viewer.user.is_admin() { " An admin creates them." } }
                p.muted { "On the command line: " code { "periscope project create my-app" } " (prints the DSN)." }
            }
        } @else {
            table.projects {
                thead { tr {
                    th { "Project" }
                    th.num { "Unresolved" }
                    th.num { "Events, 24 h" }
                    th { "Last 14 days" }
                    th { "DSN" }
                } }
                tbody {
                    @for p in &summaries {
                        tr {
                            td { a href={ "/projects/" (p.project.id) "/issues" } { (p.project.name) } }
                            td.num { (layout::count(p.unresolved)) }
                            td.num { (layout::count(p.events_24h)) }
                            td { (layout::sparkline(&p.daily, &format!("events per day, last {} days", p.daily.len()))) }
                            td.mono {
                                @if let Some(dsn) = &p.project.dsn {
                                    code { (dsn) }
                                    button.copy.hidden type="button" data-copy=(dsn) { "Copy" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page("Projects", &viewer, &[], body).into_response()
}
