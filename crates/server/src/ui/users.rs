//! The accounts page (admins only). Accounts are made and changed with
//! `periscope user ...`; the page lists them and shows those commands.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::auth::Viewer;
use super::{call, layout};
use crate::state::AppState;

/// `GET /users`.
pub(crate) async fn page(State(state): State<AppState>, viewer: Viewer) -> Response {
    if let Err(r) = viewer.require_admin() {
        return r;
    }
    let users = match call(&state, |s| s.list_users()).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = html! {
        h1 { "Users" }
        table {
            thead { tr { th { "Email" } th { "Role" } th { "Since" } } }
            tbody {
                @for u in &users {
                    tr { td { (u.email) } td { (u.role) } td { (u.created_at) } }
                }
            }
        }
        section.notice {
            p { "Accounts are managed on the server's command line:" }
            pre { code {
                "periscope user create EMAIL [--admin]   # asks for a password, or --generate\n"
                "periscope user passwd EMAIL             # ends the user's sessions\n"
                "periscope user delete EMAIL --yes\n"
                "periscope user list"
            } }
        }
    };
    layout::page("Users", &viewer, &[("Users", "/users".to_owned())], body).into_response()
}
