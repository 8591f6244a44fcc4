//! Accounts: the users page (admins: invite, change role, reset link, remove),
//! each user's own account page (password, sessions), and the pages an
//! invitation or reset link opens.
//!
//! Invitation and reset links are built by the service from
//! `PERISCOPE_BASE_URL`, never from the request's `Host`; they are single-use
//! and stored hashed. The forms behind a link carry no CSRF token: the link's
//! own secret is in the form's URL, which another site cannot know, and the
//! Origin check in front of every POST applies as everywhere.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};
use periscope_store::{Role, TokenKind};

use super::auth::{SESSION_COOKIE, Viewer, cookie};
use super::form::{FormData, QueryData};
use super::{call, error_page, layout, see_other};
use crate::service::ServiceError;
use crate::service::users::parse_role;
use crate::state::AppState;

/// A message shown once after an action (`done` from the redirect's query).
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "invited" => Some("Invitation created: copy the link below and send it."),
        "role" => Some("Role changed."),
        "removed" => Some("User removed."),
        "revoked" => Some("Invitation revoked."),
        "password" => Some("Password changed; your other sessions have ended."),
        "ended" => Some("Session ended."),
        _ => None,
    }
}

/// `GET /users` (admins).
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    QueryData(q): QueryData,
) -> Response {
    if let Err(r) = viewer.require_admin() {
        return r;
    }
    users_page(&state, &viewer, q.get("done"), None, None).await
}

async fn users_page(
    state: &AppState,
    viewer: &Viewer,
    done: Option<&str>,
    link: Option<(String, String)>,
    error: Option<ServiceError>,
) -> Response {
    let invite_error = error
        .as_ref()
        .filter(|e| e.field_name() == Some("email"))
        .map(ToString::to_string);
    let error = error
        .filter(|e| e.field_name() != Some("email"))
        .map(|e| e.to_string());
    let loaded = call(state, |s| {
        Ok((s.list_users()?, s.list_invitations(Utc::now())?))
    })
    .await;
    let (users, invitations) = match loaded {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = html! {
        h1 { "Users" }
        @if let Some(n) = notice(done) { p.ok role="status" { (n) } }
        @if let Some(e) = &error { p.error role="alert" #users-error { (e) } }
        @if let Some((what, url)) = &link {
            section.notice #link {
                p { (what) " (shown once; valid for a limited time):" }
                p.mono { code #link-value { (url) } " " button.copy.hidden type="button" data-copy=(url) { "Copy" } }
            }
        }
        table.users {
            thead { tr { th { "Email" } th { "Role" } th { "Since" } th {} } }
            tbody {
                @for u in &users {
                    tr data-user=(u.email) {
                        td { (u.email) @if u.email == viewer.user.email { span.muted { " (you)" } } }
                        td {
                            form.inline method="post" action="/users/role" {
                                input type="hidden" name="_csrf" value=(viewer.csrf);
                                input type="hidden" name="email" value=(u.email);
                                select name="role" aria-label="Role" {
                                    option value="member" selected[u.role == "member"] { "member" }
                                    option value="admin" selected[u.role == "admin"] { "admin" }
                                }
                                " " button type="submit" { "Change" }
                            }
                        }
                        td { (u.created_at) }
                        td {
                            form.inline method="post" action="/users/reset-link" {
                                input type="hidden" name="_csrf" value=(viewer.csrf);
                                input type="hidden" name="email" value=(u.email);
                                button type="submit" { "Reset link" }
                            }
                            " "
                            form.inline method="post" action="/users/remove" {
                                input type="hidden" name="_csrf" value=(viewer.csrf);
                                input type="hidden" name="email" value=(u.email);
                                button type="submit" { "Remove" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Invite someone" }
        form.settings method="post" action="/users/invite" {
            input type="hidden" name="_csrf" value=(viewer.csrf);
            label { "Email" input type="email" name="email" required maxlength="254";
                @if let Some(e) = &invite_error { span.field-error role="alert" #invite-error { (e) } } }
            label { "Role"
                select name="role" { option value="member" { "member" } option value="admin" { "admin" } }
            }
            button.primary type="submit" { "Create an invitation link" }
        }
        @if !invitations.is_empty() {
            h2 { "Pending invitations" }
            table.invitations {
                thead { tr { th { "Email" } th { "Role" } th { "By" } th { "Expires" } th {} } }
                tbody {
                    @for i in &invitations {
                        tr {
                            td { (i.email) } td { (i.role) }
                            td { (i.invited_by.as_deref().unwrap_or("the command line")) }
                            td { (i.expires_at) }
                            td {
                                form.inline method="post" action="/users/revoke-invitation" {
                                    input type="hidden" name="_csrf" value=(viewer.csrf);
                                    input type="hidden" name="email" value=(i.email);
                                    button type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
        p.muted { "The same on the command line: " code { "periscope user invite|role|reset-link|delete|list" } "." }
    };
    layout::page("Users", viewer, &[("Users", "/users".to_owned())], body).into_response()
}

/// The admin actions of the users page: `POST /users/{action}`.
pub(crate) async fn act(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(action): Path<String>,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check_admin(&form) {
        return r;
    }
    let email = form.get("email").unwrap_or_default().trim().to_owned();
    let role = form.get("role").unwrap_or("member").to_owned();
    let by = viewer.user.id;
    let outcome: Result<Option<(String, String)>, ServiceError> = match action.as_str() {
        "invite" => {
            let r = call(&state, move |s| {
                Ok(parse_role(&role)
                    .and_then(|role| s.invite_user(&email, role, Some(by), Utc::now())))
            })
            .await;
            match r {
                Ok(Ok(i)) => {
                    // Emailed too when the server can send mail; the link is
                    // shown either way.
                    let sent = state.service.email_invitation(&i, &viewer.user.email).await;
                    let what = match sent {
                        Ok(true) => format!("Invitation emailed to {}; its link", i.email),
                        Ok(false) => format!("Invitation link for {}", i.email),
                        Err(e) => {
                            tracing::warn!(error = %e, "invitation email failed");
                            format!("The email to {} failed ({e}); the invitation link", i.email)
                        }
                    };
                    Ok(Some((what, i.link)))
                }
                Ok(Err(e)) => Err(e),
                Err(page) => return page,
            }
        }
        "reset-link" => {
            let r = call(&state, move |s| Ok(s.reset_link(&email, Utc::now()))).await;
            match r {
                Ok(r) => r.map(|l| Some((format!("Password reset link for {}", l.email), l.link))),
                Err(page) => return page,
            }
        }
        "role" => {
            let r = call(&state, move |s| {
                Ok(parse_role(&role).and_then(|role| s.set_role(&email, role)))
            })
            .await;
            match r {
                Ok(r) => r.map(|_| None),
                Err(page) => return page,
            }
        }
        "remove" => {
            if email == viewer.user.email {
                Err(ServiceError::invalid("you cannot remove yourself"))
            } else {
                match call(&state, move |s| Ok(s.delete_user(&email))).await {
                    Ok(r) => r.map(|_| None),
                    Err(page) => return page,
                }
            }
        }
        "revoke-invitation" => {
            match call(&state, move |s| Ok(s.revoke_invitation(&email, Utc::now()))).await {
                Ok(r) => r.map(|()| None),
                Err(page) => return page,
            }
        }
        _ => return error_page(StatusCode::NOT_FOUND, "No such action."),
    };
    let done = match action.as_str() {
        "invite" => "invited",
        "reset-link" => "reset",
        "role" => "role",
        "remove" => "removed",
        _ => "revoked",
    };
    match outcome {
        // A link is shown on the answer itself (never put in a URL or a log).
        Ok(Some(link)) => users_page(&state, &viewer, Some(done), Some(link), None).await,
        Ok(None) => see_other(&format!("/users?done={done}")),
        Err(
            e @ (ServiceError::Invalid(_)
            | ServiceError::InvalidField { .. }
            | ServiceError::Conflict(_)
            | ServiceError::NotFound(_)),
        ) => {
            let mut r = users_page(&state, &viewer, None, None, Some(e)).await;
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r
        }
        Err(e) => super::service_error(e),
    }
}

/// `GET /account`: one's own password and sessions.
pub(crate) async fn account(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    QueryData(q): QueryData,
) -> Response {
    account_page(&state, &viewer, &headers, q.get("done"), None).await
}

async fn account_page(
    state: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    done: Option<&str>,
    error: Option<String>,
) -> Response {
    let token = cookie(headers, SESSION_COOKIE)
        .unwrap_or_default()
        .to_owned();
    let user_id = viewer.user.id;
    let sessions = match call(state, move |s| {
        s.list_sessions(user_id, Some(&token), Utc::now())
    })
    .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = Utc::now();
    let body = html! {
        h1 { "Your account" }
        p { (viewer.user.email) " · " (viewer.user.role) }
        @if let Some(n) = notice(done) { p.ok role="status" { (n) } }
        h2 { "Change your password" }
        form.settings method="post" action="/account/password" {
            input type="hidden" name="_csrf" value=(viewer.csrf);
            label { "Current password" input type="password" name="current" autocomplete="current-password" required; }
            label {
                "New password (at least 8 characters)"
                input type="password" name="password" autocomplete="new-password" required;
                @if let Some(e) = &error { span.field-error role="alert" { (e) } }
            }
            button.primary type="submit" { "Change password" }
        }
        h2 { "Your sessions" }
        table.sessions {
            thead { tr { th { "Signed in" } th { "Expires" } th {} } }
            tbody {
                @for s in &sessions {
                    tr {
                        td { (layout::ago(s.created_at, now)) @if s.current { strong { " (this browser)" } } }
                        td { (layout::ago(s.expires_at, now)) }
                        td {
                            @if !s.current {
                                form.inline method="post" action="/account/sessions/end" {
                                    input type="hidden" name="_csrf" value=(viewer.csrf);
                                    input type="hidden" name="id" value=(s.id);
                                    button type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if sessions.len() > 1 {
            form method="post" action="/account/sessions/end-others" {
                input type="hidden" name="_csrf" value=(viewer.csrf);
                button type="submit" { "Sign out every other session" }
            }
        }
    };
    layout::page(
        "Your account",
        viewer,
        &[("Account", "/account".to_owned())],
        body,
    )
    .into_response()
}

/// `POST /account/password`: needs the current password; ends the other sessions.
pub(crate) async fn change_password(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check(&form) {
        return r;
    }
    let current = form.get("current").unwrap_or_default().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    let token = cookie(&headers, SESSION_COOKIE)
        .unwrap_or_default()
        .to_owned();
    let email = viewer.user.email.clone();
    let Ok(permit) = state.password_hashes.clone().acquire_owned().await else {
        return error_page(StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment.");
    };
    let outcome = call(&state, move |s| {
        let r = s.change_own_password(&email, &current, &password, &token);
        drop(permit);
        Ok(r)
    })
    .await;
    match outcome {
        Err(r) => r,
        Ok(Ok(())) => see_other("/account?done=password"),
        Ok(Err(e @ (ServiceError::Invalid(_) | ServiceError::InvalidField { .. }))) => {
            let mut r = account_page(&state, &viewer, &headers, None, Some(e.to_string())).await;
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r
        }
        Ok(Err(e)) => super::service_error(e),
    }
}

/// `POST /account/sessions/{end|end-others}`.
pub(crate) async fn end_sessions(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(which): Path<String>,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check(&form) {
        return r;
    }
    let user_id = viewer.user.id;
    let token = cookie(&headers, SESSION_COOKIE)
        .unwrap_or_default()
        .to_owned();
    let handle = form.get("id").unwrap_or_default().to_owned();
    let outcome = match which.as_str() {
        "end" => call(&state, move |s| s.end_session(user_id, &handle)).await,
        "end-others" => {
            call(&state, move |s| {
                s.end_other_sessions(user_id, &token).map(|_| ())
            })
            .await
        }
        _ => return error_page(StatusCode::NOT_FOUND, "No such action."),
    };
    match outcome {
        Ok(()) => see_other("/account?done=ended"),
        Err(r) => r,
    }
}

fn token_form(
    kind: TokenKind,
    token: &str,
    email: &str,
    role: Option<&Role>,
    error: Option<&str>,
) -> Markup {
    let (title, action, button) = match kind {
        TokenKind::Invite => (
            "Accept the invitation",
            format!("/invite/{token}"),
            "Create my account",
        ),
        _ => (
            "Choose a new password",
            format!("/reset/{token}"),
            "Set the password",
        ),
    };
    layout::bare(
        title,
        html! {
            main.narrow.signin {
                h1 { (title) }
                p { "For " strong { (email) } @if let Some(r) = role { " (" (r.as_str()) ")" } "." }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action=(action) {
                    label { "Password (at least 8 characters)" input type="password" name="password" autocomplete="new-password" required autofocus; }
                    label { "The same again" input type="password" name="again" autocomplete="new-password" required; }
                    button.primary type="submit" { (button) }
                }
            }
        },
    )
}

/// `GET /invite/{token}`.
pub(crate) async fn invite_page(state: State<AppState>, Path(token): Path<String>) -> Response {
    token_page(state, TokenKind::Invite, token).await
}

/// `GET /reset/{token}`.
pub(crate) async fn reset_page(state: State<AppState>, Path(token): Path<String>) -> Response {
    token_page(state, TokenKind::Reset, token).await
}

/// `POST /invite/{token}`.
pub(crate) async fn redeem_invite(
    state: State<AppState>,
    Path(token): Path<String>,
    form: FormData,
) -> Response {
    redeem(state, TokenKind::Invite, token, form).await
}

/// `POST /reset/{token}`.
pub(crate) async fn redeem_reset(
    state: State<AppState>,
    Path(token): Path<String>,
    form: FormData,
) -> Response {
    redeem(state, TokenKind::Reset, token, form).await
}

async fn token_page(State(state): State<AppState>, kind: TokenKind, token: String) -> Response {
    let looked_up = token.clone();
    let k = kind.clone();
    match call(&state, move |s| s.token_info(k, &looked_up, Utc::now())).await {
        Err(r) => r,
        Ok(None) => error_page(
            StatusCode::NOT_FOUND,
            "This link is unknown, used or expired. Ask an admin for a new one.",
        ),
        Ok(Some(info)) => {
            let role = matches!(kind, TokenKind::Invite).then_some(&info.role);
            token_form(kind.clone(), &token, &info.email, role, None).into_response()
        }
    }
}

/// An invitation or reset redeemed: the account is made (or the password
/// set), then the sign-in page.
async fn redeem(
    State(state): State<AppState>,
    kind: TokenKind,
    token: String,
    form: FormData,
) -> Response {
    let password = form.get("password").unwrap_or_default().to_owned();
    if form.get("again") != Some(password.as_str()) {
        let t = token.clone();
        let k = kind.clone();
        return match call(&state, move |s| s.token_info(k, &t, Utc::now())).await {
            Ok(Some(info)) => (
                StatusCode::BAD_REQUEST,
                token_form(
                    kind,
                    &token,
                    &info.email,
                    None,
                    Some("The two passwords differ."),
                ),
            )
                .into_response(),
            Ok(None) => error_page(
                StatusCode::NOT_FOUND,
                "This link is unknown, used or expired.",
            ),
            Err(r) => r,
        };
    }
    let t = token.clone();
    let k = kind.clone();
    let Ok(permit) = state.password_hashes.clone().acquire_owned().await else {
        return error_page(StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment.");
    };
    let outcome = call(&state, move |s| {
        let r = match k {
            TokenKind::Invite => s.accept_invite(&t, &password, Utc::now()),
            _ => s.reset_password(&t, &password, Utc::now()),
        };
        drop(permit);
        Ok(r)
    })
    .await;
    match outcome {
        Err(r) => r,
        Ok(Ok(user)) => {
            tracing::info!(user = %user.email, "account link redeemed");
            see_other("/signin?done=account")
        }
        Ok(Err(e @ (ServiceError::Invalid(_) | ServiceError::InvalidField { .. }))) => {
            let t = token.clone();
            let k = kind.clone();
            let email = call(&state, move |s| s.token_info(k, &t, Utc::now()))
                .await
                .ok()
                .flatten()
                .map(|i| i.email)
                .unwrap_or_default();
            (
                StatusCode::BAD_REQUEST,
                token_form(kind, &token, &email, None, Some(&e.to_string())),
            )
                .into_response()
        }
        Ok(Err(ServiceError::NotFound(m))) => error_page(StatusCode::NOT_FOUND, &m),
        Ok(Err(e)) => super::service_error(e),
    }
}
