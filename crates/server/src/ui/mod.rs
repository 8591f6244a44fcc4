//! The web UI: server-rendered pages over the same operations as the admin API
//! and the CLI.
//!
//! Every page is HTML built on the server with `maud` (templates are Rust code,
//! checked when the crate compiles, and every interpolated value is escaped unless
//! a template says otherwise, which ours never do for data). The stylesheet, the
//! small script and the icon are compiled into the binary and served under
//! `/static/` with a content hash in their query, so they can be cached for ever.
//! No page needs JavaScript: every action is a `<form>` and every toggle a link or
//! a `<details>` element; the script only adds copy buttons, keyboard shortcuts and
//! local times.
//!
//! Event data is hostile. Besides escaping, the pages are served with a
//! Content-Security-Policy that allows no inline script or style and no `eval`,
//! so an injection that slipped through escaping still could not run. Links are
//! made only from `http(s)` URLs ([`crate::service::event::safe_link`]).
//!
//! Authentication is a session cookie (see [`auth`]); every form carries a CSRF
//! token bound to the session, and every POST must come from our own origin. No
//! GET changes anything. Handlers are thin: they read the request, call one
//! [`Service`](crate::service::Service) method on the blocking pool, and render.

// Handlers return `Result<_, Response>`: the error is the page answered at once,
// so its size does not matter.
#![allow(clippy::result_large_err)]

mod alerts;
mod assets;
mod auth;
mod form;
mod grouping;
mod issue;
mod layout;
mod list;
mod projects;
mod settings;
mod setup;
mod status;
mod users;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::service::{Service, ServiceError};
use crate::state::AppState;

/// Largest form body accepted (forms are small; the bulk form carries ids).
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The Content-Security-Policy of every UI answer.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The UI's routes.
pub(crate) fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(projects::home))
        .route("/signin", get(auth::sign_in_page).post(auth::sign_in))
        .route("/signout", post(auth::sign_out))
        .route("/projects", post(setup::create_project))
        .route("/projects/new", get(setup::new_project))
        .route("/projects/{id}/setup", get(setup::setup))
        .route("/projects/{id}/test-event", post(setup::test_event))
        .route(
            "/projects/{id}/settings",
            get(settings::page).post(settings::save),
        )
        .route("/projects/{id}/delete", post(settings::delete))
        .route("/projects/{id}/keys", post(settings::add_key))
        .route(
            "/projects/{id}/keys/{public_key}/revoke",
            post(settings::revoke_key),
        )
        .route(
            "/projects/{id}/grouping",
            get(grouping::page).post(grouping::save),
        )
        .route("/projects/{id}/grouping/test", post(grouping::try_rules))
        .route("/projects/{id}/alerts", get(alerts::log))
        .route(
            "/projects/{id}/deliveries/{delivery_id}/retry",
            post(alerts::retry_delivery),
        )
        .route(
            "/projects/{id}/destinations",
            get(alerts::destinations).post(alerts::add_destination),
        )
        .route(
            "/projects/{id}/destinations/{destination_id}/delete",
            post(alerts::delete_destination),
        )
        .route(
            "/projects/{id}/destinations/{destination_id}/test",
            post(alerts::test_destination),
        )
        .route(
            "/projects/{id}/destinations/{destination_id}/edit",
            post(alerts::edit_destination),
        )
        .route("/projects/{id}/issues", get(list::page))
        .route("/projects/{id}/issues/bulk", post(list::bulk))
        .route("/issues/{id}", get(issue::page))
        .route("/issues/{id}/status", post(issue::change_status))
        .route("/issues/{id}/merge", post(issue::merge))
        .route("/issues/{id}/unmerge", post(issue::unmerge))
        .route("/issues/{id}/events/{event_id}/json", get(issue::raw_json))
        .route("/status", get(status::page))
        .route("/users", get(users::page))
        .route("/users/{action}", post(users::act))
        .route("/account", get(users::account))
        .route("/account/password", post(users::change_password))
        .route("/account/sessions/{which}", post(users::end_sessions))
        .route(
            "/invite/{token}",
            get(users::invite_page).post(users::redeem_invite),
        )
        .route(
            "/reset/{token}",
            get(users::reset_page).post(users::redeem_reset),
        )
        .route("/static/{file}", get(assets::serve))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn_with_state(state, guard))
}

/// In front of every UI route: POSTs must come from our own origin, and every
/// answer carries the security headers.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET
        && request.method() != Method::HEAD
        && !auth::same_origin(request.headers(), &state.config.base_url)
    {
        return error_page(
            StatusCode::FORBIDDEN,
            "This form was not sent from this site's own pages (its Origin does not match), so it was refused.",
        );
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, "content-security-policy", CSP);
    set(headers, "x-frame-options", "DENY");
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "same-origin");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, "cache-control", "no-store");
    }
    response
}

/// An HTML error page.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = layout::bare(
        title,
        maud::html! {
            main.narrow {
                h1 { (status.as_u16()) " " (title) }
                p.error { (message) }
                p { a href="/" { "Back to the projects" } }
            }
        },
    );
    (status, body).into_response()
}

/// The error page for a service error.
fn service_error(e: ServiceError) -> Response {
    match e {
        ServiceError::Invalid(m) | ServiceError::InvalidField { message: m, .. } => {
            error_page(StatusCode::BAD_REQUEST, &m)
        }
        ServiceError::NotFound(m) => error_page(StatusCode::NOT_FOUND, &m),
        ServiceError::Conflict(m) => error_page(StatusCode::CONFLICT, &m),
        ServiceError::Denied(m) => error_page(StatusCode::FORBIDDEN, &m),
        ServiceError::Unavailable(cause) => {
            tracing::warn!(error = %cause, "database unavailable");
            let mut r = error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable right now; try again in a few seconds.",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
        other => {
            tracing::error!(error = %other, "internal error");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong; the server log has the details.",
            )
        }
    }
}

/// Runs a service call on the blocking pool; errors become error pages.
async fn call<T, F>(state: &AppState, f: F) -> Result<T, Response>
where
    T: Send + 'static,
    F: FnOnce(&Service) -> crate::service::Result<T> + Send + 'static,
{
    let service = state.service.clone();
    match tokio::task::spawn_blocking(move || f(&service)).await {
        Ok(result) => result.map_err(service_error),
        Err(e) => Err(service_error(ServiceError::Internal(e.to_string()))),
    }
}

/// A 303 redirect (after a form post, or to sign in).
fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}
