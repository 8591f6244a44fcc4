//! The admin API's users (`/api/admin/users/*`): accounts of the web UI, their
//! roles, invitations and password-reset links.
//!
//! ```text
//! $ curl -s -X POST -H "Authorization: Bearer $API_SECRET_KEY_ADMIN" \
//!     -d '{"email": "bob@example.com", "role": "member"}' \
//!     http://127.0.0.1:8000/api/admin/users/invitations
//! {"link": "https://errors.example.com/invite/…", "email": "bob@example.com", "role": "member", "expires_at": "…"}
//! ```
//!
//! Links are made from `PERISCOPE_BASE_URL`, never from the request, and are
//! shown only in the answer that makes them. The request schemas say exactly what
//! the service accepts (an email pattern and lengths, the two roles), so a body
//! that fits them is never refused as malformed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use periscope_store::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ErrorAnswer, JsonBody, PathParams, call};
use crate::error::ApiError;
use crate::service::users::{
    Invitation, PendingInvitation, ResetLink, UserView, generate_password,
};
use crate::state::AppState;

/// A role a user can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RoleName {
    /// Everything, including managing users.
    Admin,
    /// Everyday work on projects and issues.
    Member,
}

impl From<RoleName> for Role {
    fn from(r: RoleName) -> Self {
        match r {
            RoleName::Admin => Role::Admin,
            RoleName::Member => Role::Member,
        }
    }
}

/// `POST /api/admin/users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUser {
    /// The email to sign in with (trimmed, kept in lower case; at most 254
    /// characters as given).
    #[schema(
        min_length = 3,
        max_length = 254,
        pattern = "^[\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*[^@\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+@[^@\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+[\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
    )]
    pub(crate) email: String,
    /// `admin` or `member`.
    pub(crate) role: RoleName,
    /// The password (8 to 1024 characters). Absent or `null`: one is
    /// generated and returned in the answer, once.
    #[schema(min_length = 8, max_length = 1024)]
    #[serde(default)]
    pub(crate) password: Option<String>,
}

/// `PATCH /api/admin/users/{id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeUser {
    /// The new role. Demoting the last admin is refused (409).
    pub(crate) role: RoleName,
}

/// `POST /api/admin/users/invitations`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateInvitation {
    /// The invitee's email (trimmed, kept in lower case; at most 254
    /// characters as given). Not the email of an existing user.
    #[schema(
        min_length = 3,
        max_length = 254,
        pattern = "^[\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*[^@\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+@[^@\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+[\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
    )]
    pub(crate) email: String,
    /// The role the invitee gets: `admin` or `member`.
    pub(crate) role: RoleName,
}

/// `{"user": ...}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct UserAnswer {
    /// The user.
    pub(crate) user: UserView,
}

/// `{"user": ..., "password": ...}`: a user just created.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedUserAnswer {
    /// The user.
    pub(crate) user: UserView,
    /// The generated password, shown this once; absent when the request gave
    /// one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) password: Option<String>,
}

/// `{"users": [...]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct UsersAnswer {
    /// Every user, by id.
    pub(crate) users: Vec<UserView>,
}

/// `{"invitations": [...]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct InvitationsAnswer {
    /// The pending invitations (not used, not expired), oldest first.
    pub(crate) invitations: Vec<PendingInvitation>,
}

/// Every user.
#[utoipa::path(get, path = "/api/admin/users", tag = "users",
    responses((status = 200, body = UsersAnswer), (status = 401, body = ErrorAnswer)))]
pub(crate) async fn list_users(
    State(state): State<AppState>,
) -> Result<axum::Json<UsersAnswer>, ApiError> {
    let users = call(&state, |s| s.list_users()).await?;
    Ok(axum::Json(UsersAnswer { users }))
}

/// Create a user. Without a password, one is generated and returned once.
#[utoipa::path(post, path = "/api/admin/users", tag = "users",
    request_body = CreateUser,
    responses((status = 201, body = CreatedUserAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 409, description = "A user with this email exists.", body = ErrorAnswer)))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateUser>,
) -> Result<Response, ApiError> {
    let answer = call(&state, move |s| {
        let (password, generated) = match body.password {
            Some(p) => (p, false),
            None => (generate_password(), true),
        };
        let user = s.create_user(&body.email, &password, body.role.into())?;
        Ok(CreatedUserAnswer {
            user,
            password: generated.then_some(password),
        })
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// One user.
#[utoipa::path(get, path = "/api/admin/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "The user id.")),
    responses((status = 200, body = UserAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub(crate) async fn get_user(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<axum::Json<UserAnswer>, ApiError> {
    let user = call(&state, move |s| s.user(id)).await?;
    Ok(axum::Json(UserAnswer { user }))
}

/// Change a user's role. Demoting the last admin is refused.
#[utoipa::path(patch, path = "/api/admin/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "The user id.")),
    request_body = ChangeUser,
    responses((status = 200, body = UserAnswer), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer), (status = 409, description = "The user is the last admin.", body = ErrorAnswer)))]
pub(crate) async fn patch_user(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    JsonBody(body): JsonBody<ChangeUser>,
) -> Result<axum::Json<UserAnswer>, ApiError> {
    let user = call(&state, move |s| {
        let user = s.user(id)?;
        s.set_role(&user.email, body.role.into())
    })
    .await?;
    Ok(axum::Json(UserAnswer { user }))
}

/// Delete a user (their sessions end). The last admin cannot be deleted.
#[utoipa::path(delete, path = "/api/admin/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "The user id.")),
    responses((status = 204, description = "Deleted."), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer), (status = 409, description = "The user is the last admin.", body = ErrorAnswer)))]
pub(crate) async fn delete_user(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<StatusCode, ApiError> {
    call(&state, move |s| {
        let user = s.user(id)?;
        s.delete_user(&user.email)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make a password-reset link for a user, valid 24 hours (it replaces an
/// earlier one). Using it sets the password and ends every session of the user.
#[utoipa::path(post, path = "/api/admin/users/{id}/reset-link", tag = "users",
    params(("id" = i64, Path, description = "The user id.")),
    responses((status = 201, body = ResetLink), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub(crate) async fn reset_link(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
) -> Result<Response, ApiError> {
    let link = call(&state, move |s| {
        let user = s.user(id)?;
        s.reset_link(&user.email, Utc::now())
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(link)).into_response())
}

/// Invite someone: the answer's link, valid 7 days, lets them pick a password
/// and become a user with the role (it replaces an earlier invitation of the
/// email). Nothing is emailed: pass the link on.
#[utoipa::path(post, path = "/api/admin/users/invitations", tag = "users",
    request_body = CreateInvitation,
    responses((status = 201, body = Invitation), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 409, description = "A user with this email exists.", body = ErrorAnswer)))]
pub(crate) async fn create_invitation(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateInvitation>,
) -> Result<Response, ApiError> {
    let invitation = call(&state, move |s| {
        s.invite_user(&body.email, body.role.into(), None, Utc::now())
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(invitation)).into_response())
}

/// The pending invitations (their links are not shown again).
#[utoipa::path(get, path = "/api/admin/users/invitations", tag = "users",
    responses((status = 200, body = InvitationsAnswer), (status = 401, body = ErrorAnswer)))]
pub(crate) async fn list_invitations(
    State(state): State<AppState>,
) -> Result<axum::Json<InvitationsAnswer>, ApiError> {
    let invitations = call(&state, |s| s.list_invitations(Utc::now())).await?;
    Ok(axum::Json(InvitationsAnswer { invitations }))
}

/// Withdraw the pending invitation of an email (its link stops working).
#[utoipa::path(delete, path = "/api/admin/users/invitations/{email}", tag = "users",
    params(("email" = String, Path, min_length = 3, max_length = 254, pattern = "^[\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*[^@\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+@[^@\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+[\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$", description = "The invitee's email (any case).")),
    responses((status = 204, description = "Withdrawn."), (status = 400, body = ErrorAnswer), (status = 401, body = ErrorAnswer), (status = 404, description = "No pending invitation for this email.", body = ErrorAnswer)))]
pub(crate) async fn revoke_invitation(
    State(state): State<AppState>,
    PathParams(email): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    call(&state, move |s| s.revoke_invitation(&email, Utc::now())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user routes' part of the OpenAPI document (merged into
/// [`ApiDoc`](super::ApiDoc)'s by [`document`](super::document)).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_users, create_user, get_user, patch_user, delete_user, reset_link,
          create_invitation, list_invitations, revoke_invitation),
    tags((name = "users", description = "Accounts of the web UI, their roles, invitations and password-reset links."))
)]
pub(crate) struct UsersDoc;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::service::users::normalize_email;

    /// What the service accepts as an email, as a JSON Schema pattern: optional
    /// surrounding white space (trimmed), then `local@domain` without white space,
    /// control characters or a second `@` (the classes are Unicode's White_Space
    /// and Cc, which Rust's `trim`, `is_whitespace` and `is_control` use).
    const EMAIL_PATTERN: &str = "^[\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*[^@\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+@[^@\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+[\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$";

    /// The pattern the schema carries is the one the service follows: every
    /// string the pattern (and the length bounds) admits is accepted, every
    /// other one refused.
    #[test]
    fn the_email_schema_is_the_service_rule() {
        let re = regex::Regex::new(EMAIL_PATTERN).unwrap();
        let mut samples: Vec<String> = [
            "a@b",
            " Ann@Example.COM\t",
            "\u{3000}x@y\u{85}",
            "ünï@cödé.example",
            "İ@x",
            "a@b@c",
            "@b",
            "a@",
            "a b@c",
            "a\u{7}@b",
            "\u{0}a@b",
            "a@b\u{7f}",
            "a@b\u{a0}c",
            "\u{feff}a@b",
            "a@b\u{200b}",
            "",
            "  ",
            "@",
            "a@\u{2028}",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        samples.push(format!("{}@x", "a".repeat(252)));
        samples.push(format!("{}@x", "a".repeat(253)));
        samples.push(format!(" {}@x", "a".repeat(251)));
        samples.push(format!(" {}@x", "a".repeat(252)));
        samples.push(format!("{}@x", "İ".repeat(252)));
        for s in &samples {
            let n = s.chars().count();
            let schema_ok = re.is_match(s) && (3..=254).contains(&n);
            let service_ok = normalize_email(s).is_ok();
            assert_eq!(schema_ok, service_ok, "{s:?}");
        }
    }

    /// The attribute strings are the constant (they must be literals there).
    #[test]
    fn the_documented_patterns_are_the_constant() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(UsersDoc::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        for name in ["CreateUser", "CreateInvitation"] {
            assert_eq!(
                schemas[name]["properties"]["email"]["pattern"], EMAIL_PATTERN,
                "{name}"
            );
        }
        let param = &doc["paths"]["/api/admin/users/invitations/{email}"]["delete"]["parameters"]
            [0]["schema"];
        assert_eq!(param["pattern"], EMAIL_PATTERN);
        assert_eq!(param["maxLength"], 254);
    }
}
