//! Accounts and sign-in sessions of the web UI.
//!
//! A user has an email (unique, compared without case), a role and a password
//! hashed with Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes, the
//! parameters OWASP recommends). A session is a random 256-bit token the browser
//! keeps in a cookie; the database keeps only its SHA-256, so a stolen database
//! does not sign anyone in. Hashing a password costs tens of milliseconds of CPU:
//! the door that calls [`Service::sign_in`] bounds how many run at once.
//!
//! People join and recover their accounts through one-time links: an
//! invitation (`{PERISCOPE_BASE_URL}/invite/{token}`, valid 7 days) lets its
//! holder pick a password and become a user with the invitation's email and
//! role; a reset link (`{PERISCOPE_BASE_URL}/reset/{token}`, valid 24 hours)
//! lets them set a new password, which ends every session of theirs. A token is
//! 256 random bits; only its SHA-256 is stored, it works once, and a new link of
//! the same kind for the same email replaces the pending one. Links are built
//! from the configured base URL only, never from a request's `Host`. They are
//! shown to the admin who made them, to pass on (the notification crate can only
//! send alerts, so nothing is emailed).
//!
//! There is always an admin once there is one: demoting or deleting the last
//! admin is refused (in the transaction that would do it).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, password_hash::rand_core::OsRng};
use base64::Engine;
use chrono::{DateTime, Utc};
pub use periscope_store::TokenKind;
use periscope_store::{Role, User, UserId, UserToken};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::views::timestamp;
use super::{Result, Service, ServiceError};

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted (hashing cost is bounded anyway; this bounds memory).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// The longest email accepted (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// How long an invitation link works.
pub const INVITE_LIFETIME: chrono::Duration = chrono::Duration::days(7);
/// How long a password-reset link works.
pub const RESET_LIFETIME: chrono::Duration = chrono::Duration::hours(24);
/// The length of a session handle ([`SessionInfo::id`]): hex characters of the
/// SHA-256 of the session's token.
pub const SESSION_HANDLE_CHARS: usize = 12;

/// A user as every door shows it (never the password hash).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct UserView {
    /// Numeric id.
    pub id: i64,
    /// Email (lower case).
    pub email: String,
    /// `admin` or `member`.
    pub role: String,
    /// When the account was created (RFC 3339, milliseconds).
    pub created_at: String,
}

impl UserView {
    fn of(u: &User) -> Self {
        Self {
            id: u.id.get(),
            email: u.email.clone(),
            role: u.role.as_str().to_owned(),
            created_at: timestamp(u.created_at),
        }
    }

    /// Whether the user may change settings, destinations and users.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin.as_str()
    }
}

/// A session just opened: the token goes to the browser, once.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The secret the browser sends back (base64url, 256 bits).
    pub token: String,
    /// Who signed in.
    pub user: UserView,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A live session.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// Who it belongs to.
    pub user: UserView,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// An invitation just made. The link is shown once: only its token's hash is
/// stored.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct Invitation {
    /// `{PERISCOPE_BASE_URL}/invite/{token}`: whoever opens it may pick a
    /// password and become this user, once, until `expires_at`.
    pub link: String,
    /// The invitee's email (lower case).
    pub email: String,
    /// The role the invitee gets: `admin` or `member`.
    pub role: String,
    /// When the link stops working (RFC 3339, milliseconds).
    pub expires_at: String,
}

/// A pending invitation as listed (its link cannot be shown again: make a new
/// invitation to get one, which replaces this one).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct PendingInvitation {
    /// The invitee's email (lower case).
    pub email: String,
    /// The role the invitee gets: `admin` or `member`.
    pub role: String,
    /// The email of the user who invited them (`null` when made from the
    /// command line or the admin API, or when that user was deleted).
    pub invited_by: Option<String>,
    /// When it was made (RFC 3339, milliseconds).
    pub created_at: String,
    /// When the link stops working (RFC 3339, milliseconds).
    pub expires_at: String,
}

/// A password-reset link just made (shown once, like an invitation's).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct ResetLink {
    /// `{PERISCOPE_BASE_URL}/reset/{token}`: whoever opens it may set the
    /// user's password, once, until `expires_at`.
    pub link: String,
    /// The user's email.
    pub email: String,
    /// When the link stops working (RFC 3339, milliseconds).
    pub expires_at: String,
}

/// What a usable link is for: the page that opens it shows its form with this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The invitee's email, or the email of the user whose password is reset.
    pub email: String,
    /// The role an invitee gets (for a reset: the user's role).
    pub role: Role,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

/// One of a user's live sessions, as the user's own settings page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// An opaque handle for [`Service::end_session`]: the first
    /// [`SESSION_HANDLE_CHARS`] hex characters of the SHA-256 of the token
    /// (it opens nothing).
    pub id: String,
    /// When it was opened (signed in).
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Whether it is the session that asked.
    pub current: bool,
}

/// The SHA-256 (hex) of a session token: what the database keeps.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random token of 256 bits, base64url without padding.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A generated password: 120 random bits as 20 base64url characters.
pub fn generate_password() -> String {
    let mut bytes = [0u8; 15];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An email as stored: trimmed, lower case; refused when it cannot be one.
///
/// At most [`MAX_EMAIL_CHARS`] characters as given (before trimming, like the
/// admin API's schema says).
pub fn normalize_email(email: &str) -> Result<String> {
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(ServiceError::field(
            "email",
            format!("an email has at most {MAX_EMAIL_CHARS} characters"),
        ));
    }
    let email = email.trim().to_lowercase();
    if email.is_empty() {
        return Err(ServiceError::field("email", "an email is required"));
    }
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !valid {
        return Err(ServiceError::field(
            "email",
            format!("{email:?} is not an email address (name@domain)"),
        ));
    }
    Ok(email)
}

/// Checks a new password's length.
pub fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(ServiceError::invalid(format!(
            "a password has at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(ServiceError::invalid(format!(
            "a password has at most {MAX_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Internal(format!("password hashing failed: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of nothing in particular: verifying against it when the email is
/// unknown costs as much as a real check, so timing does not tell which emails
/// have accounts.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("periscope decoy password").unwrap_or_default())
}

/// The role named (`admin` or `member`).
pub fn parse_role(role: &str) -> Result<Role> {
    match role.trim().to_ascii_lowercase().as_str() {
        "admin" => Ok(Role::Admin),
        "member" => Ok(Role::Member),
        other => Err(ServiceError::invalid(format!(
            "unknown role {other:?} (admin or member)"
        ))),
    }
}

impl Service {
    /// Creates an account.
    pub fn create_user(&self, email: &str, password: &str, role: Role) -> Result<UserView> {
        let email = normalize_email(email)?;
        check_password(password)?;
        let hash = hash_password(password)?;
        let user = self
            .db
            .create_user(&email, &hash, &role, Utc::now())
            .map_err(|e| match ServiceError::from(e) {
                ServiceError::Conflict(_) => {
                    ServiceError::Conflict(format!("a user with the email {email} exists"))
                }
                other => other,
            })?;
        Ok(UserView::of(&user))
    }

    /// Every account, by id.
    pub fn list_users(&self) -> Result<Vec<UserView>> {
        Ok(self.db.list_users()?.iter().map(UserView::of).collect())
    }

    /// How many accounts exist (the sign-in page explains the first step at 0).
    pub fn user_count(&self) -> Result<u64> {
        Ok(self.db.count_users()?)
    }

    fn user_named(&self, email: &str) -> Result<User> {
        let email = normalize_email(email)?;
        self.db
            .user_by_email(&email)?
            .ok_or_else(|| ServiceError::NotFound(format!("no user {email}")))
    }

    /// Sets a user's password; every session of the user ends except `keep` (the
    /// token of the session that asked, if any).
    pub fn set_password(&self, email: &str, password: &str, keep: Option<&str>) -> Result<()> {
        check_password(password)?;
        let user = self.user_named(email)?;
        let hash = hash_password(password)?;
        let keep = keep.map(token_hash);
        if self
            .db
            .set_password(user.id, &hash, keep.as_deref(), Utc::now())?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!("no user {}", user.email)))
        }
    }

    /// A user changes their own password: `current` must be right (a wrong one is
    /// a field error on `current`); every other session of theirs ends, the one
    /// that asked (`keep`) goes on.
    pub fn change_own_password(
        &self,
        email: &str,
        current: &str,
        password: &str,
        keep: &str,
    ) -> Result<()> {
        check_password(password).map_err(|e| ServiceError::field("password", e.to_string()))?;
        let user = self.user_named(email)?;
        if current.chars().count() > MAX_PASSWORD_CHARS
            || !verify_password(current, &user.password_hash)
        {
            return Err(ServiceError::field(
                "current",
                "the current password is wrong",
            ));
        }
        self.set_password(email, password, Some(keep))
    }

    /// Deletes an account (its sessions end with it). The last admin cannot be
    /// deleted ([`ServiceError::Conflict`]).
    pub fn delete_user(&self, email: &str) -> Result<UserView> {
        let user = self.user_named(email)?;
        if self
            .db
            .delete_user(user.id)
            .map_err(|e| last_admin(e, &user.email))?
        {
            Ok(UserView::of(&user))
        } else {
            Err(ServiceError::NotFound(format!("no user {}", user.email)))
        }
    }

    /// Checks an email and password and opens a session. A wrong email and a
    /// wrong password give the same error, after the same work.
    pub fn sign_in(&self, email: &str, password: &str, now: DateTime<Utc>) -> Result<NewSession> {
        let denied = || ServiceError::Denied("wrong email or password".to_owned());
        if password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(denied());
        }
        let user = match normalize_email(email) {
            Ok(email) => self.db.user_by_email(&email)?,
            Err(_) => None,
        };
        let Some(user) = user else {
            let _ = verify_password(password, decoy_hash());
            return Err(denied());
        };
        if !verify_password(password, &user.password_hash) {
            return Err(denied());
        }
        let token = new_token();
        let lifetime = chrono::Duration::from_std(self.config.session_lifetime)
            .unwrap_or(chrono::Duration::days(14));
        let expires_at = now + lifetime;
        self.db
            .create_session(&token_hash(&token), user.id, now, expires_at)?;
        Ok(NewSession {
            token,
            user: UserView::of(&user),
            expires_at,
        })
    }

    /// The session a token opens, if it is live.
    pub fn session(&self, token: &str, now: DateTime<Utc>) -> Result<Option<SessionView>> {
        // A token is 43 characters; anything much longer is not one (and is not hashed).
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        Ok(self
            .db
            .session(&token_hash(token), now)?
            .map(|s| SessionView {
                user: UserView::of(&s.user),
                expires_at: s.expires_at,
            }))
    }

    /// Ends a session (signing out); unknown tokens are fine.
    pub fn sign_out(&self, token: &str) -> Result<()> {
        if token.len() <= 128 {
            self.db.delete_session(&token_hash(token))?;
        }
        Ok(())
    }
}

/// The last-admin conflict of the store, said for `email`.
fn last_admin(e: periscope_store::StoreError, email: &str) -> ServiceError {
    match ServiceError::from(e) {
        ServiceError::Conflict(_) => ServiceError::Conflict(format!(
            "{email} is the last admin: make another user an admin first"
        )),
        other => other,
    }
}

/// A role a user may be given: admin or member.
fn assignable(role: Role) -> Result<Role> {
    match role {
        Role::Admin | Role::Member => Ok(role),
        Role::Unknown(other) => Err(ServiceError::invalid(format!(
            "unknown role {other:?} (admin or member)"
        ))),
    }
}

/// Whether `token` can be one of ours (a token is 43 characters; anything much
/// longer is not hashed).
fn plausible_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= 128
}

/// The error for a link that does not work (unknown, used, expired, revoked or
/// replaced: the holder cannot tell which, and need not).
fn dead_link(kind: &TokenKind) -> ServiceError {
    ServiceError::NotFound(match kind {
        TokenKind::Invite => "this invitation link does not work: it has expired, was used already, or was withdrawn or replaced by a newer one; ask an admin for a new invitation".to_owned(),
        TokenKind::Reset => "this password reset link does not work: it has expired, was used already, or was replaced by a newer one; ask an admin for a new link".to_owned(),
        TokenKind::Unknown(k) => format!("this {k} link does not work"),
    })
}

impl Service {
    /// One account.
    pub fn user(&self, id: i64) -> Result<UserView> {
        self.db
            .get_user(UserId(id))?
            .map(|u| UserView::of(&u))
            .ok_or_else(|| ServiceError::NotFound(format!("no user {id}")))
    }

    /// The link of a token: `{base_url}/{path}/{token}`, from the configured
    /// base URL only.
    fn link(&self, path: &str, token: &str) -> String {
        format!(
            "{}/{path}/{token}",
            self.config.base_url.trim_end_matches('/')
        )
    }

    /// Invites `email` to become a user with `role` (admin or member): returns the
    /// invitation link, valid 7 days, shown only now. `by` is the inviting user,
    /// if any. Inviting the email of an existing user is a
    /// [`ServiceError::Conflict`]; inviting an email again replaces its pending
    /// invitation (the earlier link stops working).
    pub fn invite_user(
        &self,
        email: &str,
        role: Role,
        by: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Invitation> {
        let email = normalize_email(email)?;
        let role = assignable(role)?;
        let token = new_token();
        let made = self
            .db
            .create_user_token(
                &token_hash(&token),
                &UserToken {
                    kind: TokenKind::Invite,
                    email: email.clone(),
                    role,
                    user_id: None,
                    created_by: by.map(UserId),
                    created_at: now,
                    expires_at: now + INVITE_LIFETIME,
                    used_at: None,
                },
            )
            .map_err(|e| match ServiceError::from(e) {
                ServiceError::Conflict(_) => {
                    ServiceError::Conflict(format!("a user with the email {email} exists"))
                }
                ServiceError::NotFound(_) => {
                    ServiceError::NotFound(format!("no user {}", by.unwrap_or_default()))
                }
                other => other,
            })?;
        Ok(Invitation {
            link: self.link("invite", &token),
            email: made.email,
            role: made.role.as_str().to_owned(),
            expires_at: timestamp(made.expires_at),
        })
    }

    /// Makes a password-reset link for the user with this email, valid 24
    /// hours, shown only now (a newer one replaces it). Using it sets the
    /// password and ends every session of the user.
    pub fn reset_link(&self, email: &str, now: DateTime<Utc>) -> Result<ResetLink> {
        let user = self.user_named(email)?;
        let token = new_token();
        let made = self.db.create_user_token(
            &token_hash(&token),
            &UserToken {
                kind: TokenKind::Reset,
                email: user.email.clone(),
                role: user.role.clone(),
                user_id: Some(user.id),
                created_by: None,
                created_at: now,
                expires_at: now + RESET_LIFETIME,
                used_at: None,
            },
        )?;
        Ok(ResetLink {
            link: self.link("reset", &token),
            email: made.email,
            expires_at: timestamp(made.expires_at),
        })
    }

    /// What a link's token is for, if it still works (for the page that shows
    /// its form); `None` when it does not (unknown, used, expired, replaced).
    pub fn token_info(
        &self,
        kind: TokenKind,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenInfo>> {
        if !plausible_token(token) {
            return Ok(None);
        }
        Ok(self
            .db
            .user_token(&kind, &token_hash(token), now)?
            .map(|t| TokenInfo {
                email: t.email,
                role: t.role,
                expires_at: t.expires_at,
            }))
    }

    /// Uses a link: checks it works, then the password (the rules of
    /// [`Service::create_user`]), then hashes it and redeems the token, once.
    fn redeem(
        &self,
        kind: TokenKind,
        token: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<User> {
        // The token first: hashing a password costs tens of milliseconds, and
        // without a working link nobody gets to spend them.
        let Some(info) = self.token_info(kind.clone(), token, now)? else {
            return Err(dead_link(&kind));
        };
        check_password(password)?;
        let hash = hash_password(password)?;
        self.db
            .redeem_user_token(&kind, &token_hash(token), &hash, now)
            .map_err(|e| match ServiceError::from(e) {
                ServiceError::Conflict(_) => ServiceError::Conflict(format!(
                    "a user with the email {} exists; sign in instead",
                    info.email
                )),
                other => other,
            })?
            // Used or withdrawn while the password was hashed.
            .ok_or_else(|| dead_link(&kind))
    }

    /// Accepts an invitation: creates its user with `password` (the rules of
    /// [`Service::create_user`]). The link works once; an unknown, used, expired
    /// or withdrawn one is [`ServiceError::NotFound`].
    pub fn accept_invite(
        &self,
        token: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<UserView> {
        let user = self.redeem(TokenKind::Invite, token, password, now)?;
        Ok(UserView::of(&user))
    }

    /// Uses a password-reset link: sets the password (the rules of
    /// [`Service::create_user`]) and ends every session of the user. The link
    /// works once; an unknown, used or expired one is
    /// [`ServiceError::NotFound`].
    pub fn reset_password(
        &self,
        token: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<UserView> {
        let user = self.redeem(TokenKind::Reset, token, password, now)?;
        Ok(UserView::of(&user))
    }

    /// The pending invitations (not used, not expired), oldest first.
    pub fn list_invitations(&self, now: DateTime<Utc>) -> Result<Vec<PendingInvitation>> {
        let pending = self.db.pending_invitations(now)?;
        let users = if pending.iter().any(|t| t.created_by.is_some()) {
            self.db.list_users()?
        } else {
            Vec::new()
        };
        let email_of = |id: Option<UserId>| {
            id.and_then(|id| users.iter().find(|u| u.id == id))
                .map(|u| u.email.clone())
        };
        Ok(pending
            .into_iter()
            .map(|t| PendingInvitation {
                invited_by: email_of(t.created_by),
                email: t.email,
                role: t.role.as_str().to_owned(),
                created_at: timestamp(t.created_at),
                expires_at: timestamp(t.expires_at),
            })
            .collect())
    }

    /// Withdraws the pending invitation of an email (its link stops working).
    pub fn revoke_invitation(&self, email: &str, now: DateTime<Utc>) -> Result<()> {
        let email = normalize_email(email)?;
        if self.db.revoke_invitation(&email, now)? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!(
                "no pending invitation for {email}"
            )))
        }
    }

    /// Gives a user another role (admin or member). Demoting the last admin is
    /// a [`ServiceError::Conflict`].
    pub fn set_role(&self, email: &str, role: Role) -> Result<UserView> {
        let role = assignable(role)?;
        let user = self.user_named(email)?;
        if !self
            .db
            .set_role(user.id, &role)
            .map_err(|e| last_admin(e, &user.email))?
        {
            return Err(ServiceError::NotFound(format!("no user {}", user.email)));
        }
        Ok(UserView::of(&User { role, ..user }))
    }

    /// A user's live sessions, newest first; `current_token` (the token of the
    /// session asking, if any) marks its own.
    pub fn list_sessions(
        &self,
        user_id: i64,
        current_token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionInfo>> {
        let current = current_token.filter(|t| plausible_token(t)).map(token_hash);
        Ok(self
            .db
            .list_sessions(UserId(user_id), now)?
            .into_iter()
            .map(|s| SessionInfo {
                id: s.token_hash.chars().take(SESSION_HANDLE_CHARS).collect(),
                created_at: s.created_at,
                expires_at: s.expires_at,
                current: current.as_deref() == Some(s.token_hash.as_str()),
            })
            .collect())
    }

    /// Ends one of a user's sessions, named by its [`SessionInfo::id`]. Only
    /// that user's sessions can be named; an unknown handle is
    /// [`ServiceError::NotFound`].
    pub fn end_session(&self, user_id: i64, handle: &str) -> Result<()> {
        let handle = handle.trim().to_ascii_lowercase();
        let gone = || ServiceError::NotFound("no such session (it may have ended already)".into());
        if handle.len() != SESSION_HANDLE_CHARS || !handle.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(gone());
        }
        // Every session of the user, expired ones not yet pruned included.
        let mut ended = false;
        for s in self
            .db
            .list_sessions(UserId(user_id), DateTime::<Utc>::UNIX_EPOCH)?
        {
            if s.token_hash.starts_with(&handle) {
                ended |= self.db.delete_session(&s.token_hash)?;
            }
        }
        if ended { Ok(()) } else { Err(gone()) }
    }

    /// Ends every session of a user but the one of `keep_token` (signing out
    /// everywhere else); returns how many ended.
    pub fn end_other_sessions(&self, user_id: i64, keep_token: &str) -> Result<u64> {
        let keep = token_hash(keep_token);
        Ok(self.db.end_sessions(UserId(user_id), Some(&keep))?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in ["", "ann", "@x", "ann@", "a b@c", "a@b@c", "a\u{7}@b"] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        assert!(normalize_email(&format!("{}@x", "a".repeat(300))).is_err());
    }

    #[test]
    fn passwords_hash_and_verify() {
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsE", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_eq!(generate_password().len(), 20);
    }

    #[test]
    fn roles_parse() {
        assert_eq!(parse_role("Admin").unwrap(), Role::Admin);
        assert_eq!(parse_role("member").unwrap(), Role::Member);
        assert!(parse_role("root").is_err());
    }
}

/// The rules of invitations, reset links, roles and sessions, through the
/// service over a real store: SQLite always, PostgreSQL when
/// `PERISCOPE_TEST_POSTGRES_URL` is set.
#[cfg(test)]
mod link_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::sync::Arc;

    use chrono::{Duration, TimeZone};
    use periscope_store::{Store, StoreConfig};

    use super::*;
    use crate::config::Config;

    const BASE: &str = "https://errors.example.com/periscope";

    /// Runs `check` on a service over SQLite, then over PostgreSQL if set.
    fn on_each_backend(check: impl Fn(&Service)) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("users.db").display());
        check(&service(&url));
        if let Some(db) = periscope_test_support::postgres::TestDatabase::create("svc_users") {
            check(&service(db.url()));
        }
    }

    fn service(url: &str) -> Service {
        let store = Store::open(&StoreConfig::from_url(url).unwrap()).unwrap();
        let config = Config::from_lookup(&|k| match k {
            // A trailing slash is dropped by the configuration.
            "PERISCOPE_BASE_URL" => Some(format!("{BASE}/")),
            _ => None,
        })
        .unwrap();
        Service::new(Arc::new(store), Arc::new(config))
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap()
    }

    /// The token at the end of a link made under `BASE`.
    fn token_of<'a>(link: &'a str, kind: &str) -> &'a str {
        let prefix = format!("{BASE}/{kind}/");
        let token = link
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{link} does not start with {prefix}"));
        assert_eq!(token.len(), 43, "{link}");
        token
    }

    fn admin(s: &Service, email: &str) -> UserView {
        s.create_user(email, "admin password", Role::Admin).unwrap()
    }

    fn is_not_found(r: Result<impl std::fmt::Debug>) -> bool {
        matches!(r, Err(ServiceError::NotFound(_)))
    }

    fn is_conflict(r: Result<impl std::fmt::Debug>) -> bool {
        matches!(r, Err(ServiceError::Conflict(_)))
    }

    #[test]
    fn invitations_make_users_once_from_a_base_url_link() {
        on_each_backend(|s| {
            let ann = admin(s, "ann@example.com");
            let inv = s
                .invite_user(" Bob@Example.com ", Role::Member, Some(ann.id), t0())
                .unwrap();
            let token = token_of(&inv.link, "invite");
            assert_eq!(inv.email, "bob@example.com");
            assert_eq!(inv.role, "member");
            assert_eq!(inv.expires_at, timestamp(t0() + Duration::days(7)));

            let info = s
                .token_info(TokenKind::Invite, token, t0())
                .unwrap()
                .unwrap();
            assert_eq!(info.email, "bob@example.com");
            assert_eq!(info.role, Role::Member);
            assert_eq!(info.expires_at, t0() + Duration::days(7));
            // Not a reset token; garbage is nothing.
            assert_eq!(s.token_info(TokenKind::Reset, token, t0()).unwrap(), None);
            for bad in ["", "x", &"y".repeat(500)] {
                assert_eq!(s.token_info(TokenKind::Invite, bad, t0()).unwrap(), None);
                assert!(is_not_found(s.accept_invite(bad, "long enough", t0())));
            }

            let listed = s.list_invitations(t0()).unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].email, "bob@example.com");
            assert_eq!(listed[0].invited_by.as_deref(), Some("ann@example.com"));
            assert_eq!(listed[0].created_at, timestamp(t0()));

            // The password rules of create_user; a refused password does not
            // spend the link.
            let err = s.accept_invite(token, "short", t0()).unwrap_err();
            assert!(matches!(err, ServiceError::Invalid(_)), "{err:?}");
            let bob = s
                .accept_invite(token, "bob's password", t0() + Duration::hours(1))
                .unwrap();
            assert_eq!(bob.email, "bob@example.com");
            assert_eq!(bob.role, "member");
            assert!(s.sign_in("bob@example.com", "bob's password", t0()).is_ok());

            // Single use: the second try is NotFound, with a message that says why.
            let err = s
                .accept_invite(token, "another password", t0() + Duration::hours(2))
                .unwrap_err();
            match err {
                ServiceError::NotFound(m) => assert!(m.contains("used already"), "{m}"),
                other => panic!("{other:?}"),
            }
            assert_eq!(s.token_info(TokenKind::Invite, token, t0()).unwrap(), None);
            assert!(s.list_invitations(t0()).unwrap().is_empty());
            assert!(s.sign_in("bob@example.com", "bob's password", t0()).is_ok());

            // Inviting an existing user is a conflict.
            assert!(is_conflict(s.invite_user(
                "BOB@example.com",
                Role::Admin,
                None,
                t0()
            )));
            // Bad emails and roles are refused.
            let err = s
                .invite_user("not an email", Role::Member, None, t0())
                .unwrap_err();
            assert_eq!(err.field_name(), Some("email"), "{err:?}");
            let err = s
                .invite_user("c@example.com", Role::Unknown("owner".into()), None, t0())
                .unwrap_err();
            assert!(matches!(err, ServiceError::Invalid(_)), "{err:?}");
        });
    }

    #[test]
    fn invitations_expire_after_seven_days() {
        on_each_backend(|s| {
            let inv = s
                .invite_user("a@example.com", Role::Admin, None, t0())
                .unwrap();
            let b = s
                .invite_user("b@example.com", Role::Member, None, t0())
                .unwrap();
            let end = t0() + Duration::days(7);
            let a = token_of(&inv.link, "invite");
            assert!(
                s.token_info(TokenKind::Invite, a, end - Duration::seconds(1))
                    .unwrap()
                    .is_some()
            );
            assert_eq!(s.token_info(TokenKind::Invite, a, end).unwrap(), None);
            assert!(is_not_found(s.accept_invite(a, "long enough", end)));
            assert!(s.list_invitations(end).unwrap().is_empty());
            assert_eq!(
                s.list_invitations(end - Duration::seconds(1))
                    .unwrap()
                    .len(),
                2
            );
            // Just before the end it still works, and gives the invited role.
            let user = s
                .accept_invite(
                    token_of(&b.link, "invite"),
                    "long enough",
                    end - Duration::seconds(1),
                )
                .unwrap();
            assert_eq!(user.role, "member");
            // Expired links are pruned.
            assert_eq!(s.db().prune_user_tokens(end).unwrap(), 2);
        });
    }

    #[test]
    fn a_new_invitation_replaces_the_pending_one_and_revoking_ends_it() {
        on_each_backend(|s| {
            let first = s
                .invite_user("c@example.com", Role::Member, None, t0())
                .unwrap();
            let second = s
                .invite_user(
                    "C@example.com",
                    Role::Admin,
                    None,
                    t0() + Duration::minutes(1),
                )
                .unwrap();
            assert_ne!(first.link, second.link);
            let old = token_of(&first.link, "invite");
            assert_eq!(s.token_info(TokenKind::Invite, old, t0()).unwrap(), None);
            assert!(is_not_found(s.accept_invite(old, "long enough", t0())));
            let listed = s.list_invitations(t0()).unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].role, "admin");
            assert_eq!(
                listed[0].expires_at,
                timestamp(t0() + Duration::minutes(1) + Duration::days(7))
            );

            // Revoked: the link stops working; revoking again is NotFound.
            s.revoke_invitation("c@EXAMPLE.com", t0()).unwrap();
            assert!(is_not_found(s.revoke_invitation("c@example.com", t0())));
            assert!(is_not_found(s.accept_invite(
                token_of(&second.link, "invite"),
                "long enough",
                t0()
            )));
            assert!(s.list_invitations(t0()).unwrap().is_empty());

            // Creating the user directly drops a pending invitation.
            let third = s
                .invite_user("d@example.com", Role::Member, None, t0())
                .unwrap();
            s.create_user("d@example.com", "long enough", Role::Member)
                .unwrap();
            assert!(s.list_invitations(t0()).unwrap().is_empty());
            assert!(is_not_found(s.accept_invite(
                token_of(&third.link, "invite"),
                "long enough",
                t0()
            )));
        });
    }

    #[test]
    fn reset_links_set_the_password_once_and_end_every_session() {
        on_each_backend(|s| {
            admin(s, "ann@example.com");
            let now = Utc::now();
            let one = s.sign_in("ann@example.com", "admin password", now).unwrap();
            let two = s.sign_in("ann@example.com", "admin password", now).unwrap();
            assert!(is_not_found(s.reset_link("nobody@example.com", now)));

            let first = s.reset_link("ANN@example.com", now).unwrap();
            let link = s.reset_link("ann@example.com", now).unwrap();
            assert_eq!(link.email, "ann@example.com");
            assert_eq!(link.expires_at, timestamp(now + Duration::hours(24)));
            let token = token_of(&link.link, "reset");
            // The newer link replaced the older one; an invitation is not a reset.
            assert!(is_not_found(s.reset_password(
                token_of(&first.link, "reset"),
                "new password",
                now
            )));
            assert!(is_not_found(s.accept_invite(token, "new password", now)));
            assert!(s.list_invitations(now).unwrap().is_empty());
            let info = s.token_info(TokenKind::Reset, token, now).unwrap().unwrap();
            assert_eq!(info.email, "ann@example.com");
            // Expiry at 24 hours.
            assert!(is_not_found(s.reset_password(
                token,
                "new password",
                now + Duration::hours(24)
            )));
            let err = s.reset_password(token, "short", now).unwrap_err();
            assert!(matches!(err, ServiceError::Invalid(_)), "{err:?}");

            let user = s.reset_password(token, "new password", now).unwrap();
            assert_eq!(user.email, "ann@example.com");
            assert!(s.session(&one.token, now).unwrap().is_none());
            assert!(s.session(&two.token, now).unwrap().is_none());
            assert!(s.sign_in("ann@example.com", "admin password", now).is_err());
            assert!(s.sign_in("ann@example.com", "new password", now).is_ok());
            // Once only.
            assert!(is_not_found(s.reset_password(token, "third password", now)));
            assert!(s.sign_in("ann@example.com", "new password", now).is_ok());
        });
    }

    #[test]
    fn the_last_admin_cannot_be_demoted_or_deleted() {
        on_each_backend(|s| {
            admin(s, "ann@example.com");
            s.create_user("bob@example.com", "long enough", Role::Member)
                .unwrap();
            let err = s.set_role("ann@example.com", Role::Member).unwrap_err();
            match err {
                ServiceError::Conflict(m) => assert!(m.contains("last admin"), "{m}"),
                other => panic!("{other:?}"),
            }
            assert!(is_conflict(s.delete_user("ann@example.com")));
            assert_eq!(
                s.set_role("ann@example.com", Role::Admin).unwrap().role,
                "admin"
            );
            assert!(is_not_found(s.set_role("nobody@example.com", Role::Member)));
            let err = s
                .set_role("bob@example.com", Role::Unknown("root".into()))
                .unwrap_err();
            assert!(matches!(err, ServiceError::Invalid(_)), "{err:?}");

            // With a second admin, the first may go.
            let bob = s.set_role("BOB@example.com", Role::Admin).unwrap();
            assert_eq!(bob.role, "admin");
            assert_eq!(s.user(bob.id).unwrap(), bob);
            assert_eq!(
                s.set_role("ann@example.com", Role::Member).unwrap().role,
                "member"
            );
            assert!(is_conflict(s.delete_user("bob@example.com")));
            s.delete_user("ann@example.com").unwrap();
            assert!(is_not_found(s.user(-1)));
        });
    }

    #[test]
    fn sessions_are_listed_with_handles_and_ended() {
        on_each_backend(|s| {
            let ann = admin(s, "ann@example.com");
            let bob = s
                .create_user("bob@example.com", "long enough", Role::Member)
                .unwrap();
            let now = Utc::now();
            let mine = s.sign_in("ann@example.com", "admin password", now).unwrap();
            let other = s
                .sign_in(
                    "ann@example.com",
                    "admin password",
                    now + Duration::seconds(1),
                )
                .unwrap();
            let third = s
                .sign_in(
                    "ann@example.com",
                    "admin password",
                    now + Duration::seconds(2),
                )
                .unwrap();
            let bobs = s.sign_in("bob@example.com", "long enough", now).unwrap();

            let listed = s.list_sessions(ann.id, Some(&mine.token), now).unwrap();
            assert_eq!(listed.len(), 3);
            assert_eq!(listed.iter().filter(|x| x.current).count(), 1);
            let current = listed.iter().find(|x| x.current).unwrap();
            assert_eq!(current.id, token_hash(&mine.token)[..12]);
            for x in &listed {
                assert_eq!(x.id.len(), SESSION_HANDLE_CHARS);
                assert!(x.id.bytes().all(|b| b.is_ascii_hexdigit()));
            }
            assert!(
                s.list_sessions(ann.id, None, now)
                    .unwrap()
                    .iter()
                    .all(|x| !x.current)
            );

            // One session by its handle; not another user's, not garbage.
            let other_id = token_hash(&other.token)[..12].to_owned();
            let bobs_id = token_hash(&bobs.token)[..12].to_owned();
            assert!(is_not_found(s.end_session(ann.id, &bobs_id)));
            assert!(s.session(&bobs.token, now).unwrap().is_some());
            for bad in ["", "zz", "0123456789ab0", &token_hash(&other.token)] {
                assert!(is_not_found(s.end_session(ann.id, bad)), "{bad:?}");
            }
            s.end_session(ann.id, &other_id.to_uppercase()).unwrap();
            assert!(s.session(&other.token, now).unwrap().is_none());
            assert!(is_not_found(s.end_session(ann.id, &other_id)));
            assert_eq!(s.list_sessions(ann.id, None, now).unwrap().len(), 2);

            // Everywhere else.
            assert_eq!(s.end_other_sessions(ann.id, &mine.token).unwrap(), 1);
            assert!(s.session(&third.token, now).unwrap().is_none());
            assert!(s.session(&mine.token, now).unwrap().is_some());
            assert!(s.session(&bobs.token, now).unwrap().is_some());
            assert_eq!(s.list_sessions(bob.id, None, now).unwrap().len(), 1);
        });
    }
}
