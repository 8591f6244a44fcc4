//! Accounts and sign-in sessions of the web UI.
//!
//! A user has an email (unique, compared without case), a role and a password
//! hashed with Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes, the
//! parameters OWASP recommends). A session is a random 256-bit token the browser
//! keeps in a cookie; the database keeps only its SHA-256, so a stolen database
//! does not sign anyone in. Hashing a password costs tens of milliseconds of CPU:
//! the door that calls [`Service::sign_in`] bounds how many run at once.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, password_hash::rand_core::OsRng};
use base64::Engine;
use chrono::{DateTime, Utc};
use periscope_store::{Role, User};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::views::timestamp;
use super::{Result, Service, ServiceError};

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted (hashing cost is bounded anyway; this bounds memory).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// The longest email accepted (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// A user as every door shows it (never the password hash).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
            id: u.id,
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
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let count = email.chars().count();
    if count == 0 {
        return Err(ServiceError::invalid("an email is required"));
    }
    if count > MAX_EMAIL_CHARS {
        return Err(ServiceError::invalid(format!(
            "an email has at most {MAX_EMAIL_CHARS} characters"
        )));
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
        return Err(ServiceError::invalid(format!(
            "{email:?} is not an email address (name@domain)"
        )));
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

    /// Deletes an account (its sessions end with it).
    pub fn delete_user(&self, email: &str) -> Result<UserView> {
        let user = self.user_named(email)?;
        if self.db.delete_user(user.id)? {
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
