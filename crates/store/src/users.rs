//! Users of the web UI and their sessions (see [`crate::UserStore`]).

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::UserId;
use crate::error::{Result, StoreError};
use crate::model::{Role, Session, TokenKind, User, UserSession, UserToken};
use crate::ops::{dt, ms, to_u64};
use crate::sql::{Exec, Q};

#[derive(QueryableByName)]
struct UserRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Text)]
    password_hash: String,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = BigInt)]
    password_changed_at: i64,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: UserId(r.id),
            email: r.email,
            role: Role::parse(&r.role),
            password_hash: r.password_hash,
            created_at: dt(r.created_at),
            password_changed_at: dt(r.password_changed_at),
        }
    }
}

const USER_COLS: &str = "id, email, role, password_hash, created_at, password_changed_at";

/// Emails are kept and compared lower-cased.
fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub(crate) fn create_user<C: Exec>(
    c: &mut C,
    email: &str,
    password_hash: &str,
    role: &Role,
    now: DateTime<Utc>,
) -> Result<User> {
    let email = normalize_email(email);
    let row: Option<UserRow> = c
        .row(
            Q::dynamic(format!("INSERT INTO users (email, role, password_hash, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?) RETURNING {USER_COLS}"))
                .cached()
                .bind(email.as_str())
                .bind(role.as_str())
                .bind(password_hash)
                .bind(ms(now))
                .bind(ms(now)),
        )
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("a user with the email {email} already exists"))
            }
            other => other,
        })?;
    // A pending invitation of the email has nothing left to do.
    c.exec(
        Q::new("DELETE FROM user_tokens WHERE kind = 'invite' AND email = ? AND used_at IS NULL")
            .bind(email.as_str()),
    )?;
    row.map(User::from)
        .ok_or_else(|| StoreError::NotFound(format!("user {email}")))
}

pub(crate) fn list_users<C: Exec>(c: &mut C) -> Result<Vec<User>> {
    let rows: Vec<UserRow> =
        c.rows(Q::dynamic(format!("SELECT {USER_COLS} FROM users ORDER BY id")).cached())?;
    Ok(rows.into_iter().map(User::from).collect())
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

pub(crate) fn count_users<C: Exec>(c: &mut C) -> Result<u64> {
    let row: Option<CountRow> = c.row(Q::new("SELECT COUNT(*) AS n FROM users"))?;
    Ok(row.map_or(0, |r| to_u64(r.n)))
}

pub(crate) fn get_user<C: Exec>(c: &mut C, id: UserId) -> Result<Option<User>> {
    let row: Option<UserRow> = c.row(
        Q::dynamic(format!("SELECT {USER_COLS} FROM users WHERE id = ?"))
            .cached()
            .bind(id),
    )?;
    Ok(row.map(User::from))
}

pub(crate) fn user_by_email<C: Exec>(c: &mut C, email: &str) -> Result<Option<User>> {
    let row: Option<UserRow> = c.row(
        Q::dynamic(format!("SELECT {USER_COLS} FROM users WHERE email = ?"))
            .cached()
            .bind(normalize_email(email)),
    )?;
    Ok(row.map(User::from))
}

pub(crate) fn set_password<C: Exec>(
    c: &mut C,
    id: UserId,
    password_hash: &str,
    keep_session: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let changed = c.exec(
        Q::new("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?")
            .bind(password_hash)
            .bind(ms(now))
            .bind(id),
    )?;
    if changed == 0 {
        return Ok(false);
    }
    match keep_session {
        Some(keep) => c.exec(
            Q::new("DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?")
                .bind(id)
                .bind(keep),
        )?,
        None => c.exec(Q::new("DELETE FROM sessions WHERE user_id = ?").bind(id))?,
    };
    Ok(true)
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Refuses (with a conflict) when user `id` is the only admin. Called in the
/// transaction that would take the role away: on PostgreSQL the admins' rows
/// are locked (in id order) until it ends, so a concurrent demotion waits and
/// then sees this one; SQLite's write transactions run one at a time anyway.
fn keep_an_admin<C: Exec>(c: &mut C, id: UserId) -> Result<()> {
    let sql = if c.is_postgres() {
        "SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE"
    } else {
        "SELECT id FROM users WHERE role = 'admin' ORDER BY id"
    };
    let admins: Vec<IdRow> = c.rows(Q::new(sql))?;
    if admins.len() == 1 && admins.iter().all(|a| a.id == id.get()) {
        return Err(StoreError::Conflict(format!("user {id} is the last admin")));
    }
    Ok(())
}

pub(crate) fn set_role<C: Exec>(c: &mut C, id: UserId, role: &Role) -> Result<bool> {
    if *role != Role::Admin {
        keep_an_admin(c, id)?;
    }
    Ok(c.exec(
        Q::new("UPDATE users SET role = ? WHERE id = ?")
            .bind(role.as_str())
            .bind(id),
    )? > 0)
}

pub(crate) fn delete_user<C: Exec>(c: &mut C, id: UserId) -> Result<bool> {
    keep_an_admin(c, id)?;
    // Sessions and reset tokens go by cascade.
    Ok(c.exec(Q::new("DELETE FROM users WHERE id = ?").bind(id))? > 0)
}

pub(crate) fn create_session<C: Exec>(
    c: &mut C,
    token_hash: &str,
    user_id: UserId,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    c.exec(
        Q::new("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
            .bind(token_hash)
            .bind(user_id)
            .bind(ms(now))
            .bind(ms(expires_at)),
    )
    .map_err(|e| match e {
        StoreError::NotFound(_) => StoreError::NotFound(format!("user {user_id}")),
        StoreError::Conflict(_) => StoreError::Conflict("the session token is in use".into()),
        other => other,
    })?;
    Ok(())
}

#[derive(QueryableByName)]
struct SessionRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Text)]
    password_hash: String,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = BigInt)]
    password_changed_at: i64,
    #[diesel(sql_type = BigInt)]
    session_created_at: i64,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
}

pub(crate) fn session<C: Exec>(
    c: &mut C,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>> {
    let row: Option<SessionRow> = c.row(
        Q::new("SELECT u.id, u.email, u.role, u.password_hash, u.created_at, u.password_changed_at, s.created_at AS session_created_at, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?")
            .bind(token_hash)
            .bind(ms(now)),
    )?;
    Ok(row.map(|r| Session {
        user: User {
            id: UserId(r.id),
            email: r.email,
            role: Role::parse(&r.role),
            password_hash: r.password_hash,
            created_at: dt(r.created_at),
            password_changed_at: dt(r.password_changed_at),
        },
        created_at: dt(r.session_created_at),
        expires_at: dt(r.expires_at),
    }))
}

pub(crate) fn delete_session<C: Exec>(c: &mut C, token_hash: &str) -> Result<bool> {
    Ok(c.exec(Q::new("DELETE FROM sessions WHERE token_hash = ?").bind(token_hash))? > 0)
}

pub(crate) fn prune_sessions<C: Exec>(c: &mut C, now: DateTime<Utc>) -> Result<u64> {
    Ok(c.exec(Q::new("DELETE FROM sessions WHERE expires_at <= ?").bind(ms(now)))? as u64)
}

#[derive(QueryableByName)]
struct UserSessionRow {
    #[diesel(sql_type = Text)]
    token_hash: String,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
}

pub(crate) fn list_sessions<C: Exec>(
    c: &mut C,
    user_id: UserId,
    now: DateTime<Utc>,
) -> Result<Vec<UserSession>> {
    let rows: Vec<UserSessionRow> = c.rows(
        Q::new("SELECT token_hash, created_at, expires_at FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY created_at DESC, token_hash")
            .bind(user_id)
            .bind(ms(now)),
    )?;
    Ok(rows
        .into_iter()
        .map(|r| UserSession {
            token_hash: r.token_hash,
            created_at: dt(r.created_at),
            expires_at: dt(r.expires_at),
        })
        .collect())
}

pub(crate) fn end_sessions<C: Exec>(c: &mut C, user_id: UserId, keep: Option<&str>) -> Result<u64> {
    let n = match keep {
        Some(keep) => c.exec(
            Q::new("DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?")
                .bind(user_id)
                .bind(keep),
        )?,
        None => c.exec(Q::new("DELETE FROM sessions WHERE user_id = ?").bind(user_id))?,
    };
    Ok(n as u64)
}

#[derive(QueryableByName)]
struct TokenRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    user_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    created_by: Option<i64>,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    used_at: Option<i64>,
}

impl From<TokenRow> for UserToken {
    fn from(r: TokenRow) -> Self {
        UserToken {
            kind: TokenKind::parse(&r.kind),
            email: r.email,
            role: Role::parse(&r.role),
            user_id: r.user_id.map(UserId),
            created_by: r.created_by.map(UserId),
            created_at: dt(r.created_at),
            expires_at: dt(r.expires_at),
            used_at: r.used_at.map(dt),
        }
    }
}

const TOKEN_COLS: &str = "kind, email, role, user_id, created_by, created_at, expires_at, used_at";

pub(crate) fn create_user_token<C: Exec>(
    c: &mut C,
    token_hash: &str,
    token: &UserToken,
) -> Result<UserToken> {
    let email = normalize_email(&token.email);
    match token.kind {
        TokenKind::Invite => {
            if user_by_email(c, &email)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "a user with the email {email} already exists"
                )));
            }
        }
        TokenKind::Reset => {
            let Some(user_id) = token.user_id else {
                return Err(StoreError::NotFound(
                    "a password reset needs the user it is for".into(),
                ));
            };
            if get_user(c, user_id)?.is_none() {
                return Err(StoreError::NotFound(format!("user {user_id}")));
            }
        }
        TokenKind::Unknown(_) => {}
    }
    // One pending token per kind and email: the new one replaces the others.
    c.exec(
        Q::new("DELETE FROM user_tokens WHERE kind = ? AND email = ? AND used_at IS NULL")
            .bind(token.kind.as_str())
            .bind(email.as_str()),
    )?;
    let row: Option<TokenRow> = c
        .row(
            Q::dynamic(format!("INSERT INTO user_tokens (token_hash, kind, email, role, user_id, created_by, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL) RETURNING {TOKEN_COLS}"))
                .cached()
                .bind(token_hash)
                .bind(token.kind.as_str())
                .bind(email.as_str())
                .bind(token.role.as_str())
                .bind(token.user_id)
                .bind(token.created_by)
                .bind(ms(token.created_at))
                .bind(ms(token.expires_at)),
        )
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict("the token is in use".into()),
            // The creator was deleted meanwhile, or the reset's user.
            StoreError::NotFound(_) => StoreError::NotFound(
                "the user the token is for, or the one who made it, no longer exists".into(),
            ),
            other => other,
        })?;
    row.map(UserToken::from)
        .ok_or_else(|| StoreError::NotFound(format!("token for {email}")))
}

pub(crate) fn user_token<C: Exec>(
    c: &mut C,
    kind: &TokenKind,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<UserToken>> {
    let row: Option<TokenRow> = c.row(
        Q::dynamic(format!("SELECT {TOKEN_COLS} FROM user_tokens WHERE token_hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ?"))
            .cached()
            .bind(token_hash)
            .bind(kind.as_str())
            .bind(ms(now)),
    )?;
    Ok(row.map(UserToken::from))
}

pub(crate) fn redeem_user_token<C: Exec>(
    c: &mut C,
    kind: &TokenKind,
    token_hash: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<User>> {
    // Marking it used first is what makes it single-use: of two concurrent
    // redemptions, the second finds no unused row to mark.
    let row: Option<TokenRow> = c.row(
        Q::dynamic(format!("UPDATE user_tokens SET used_at = ? WHERE token_hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ? RETURNING {TOKEN_COLS}"))
            .cached()
            .bind(ms(now))
            .bind(token_hash)
            .bind(kind.as_str())
            .bind(ms(now)),
    )?;
    let Some(token) = row.map(UserToken::from) else {
        return Ok(None);
    };
    match token.kind {
        TokenKind::Invite => {
            create_user(c, &token.email, password_hash, &token.role, now).map(Some)
        }
        TokenKind::Reset => {
            let Some(user_id) = token.user_id else {
                return Ok(None);
            };
            if !set_password(c, user_id, password_hash, None, now)? {
                return Ok(None);
            }
            get_user(c, user_id)
        }
        TokenKind::Unknown(_) => Ok(None),
    }
}

pub(crate) fn pending_invitations<C: Exec>(
    c: &mut C,
    now: DateTime<Utc>,
) -> Result<Vec<UserToken>> {
    let rows: Vec<TokenRow> = c.rows(
        Q::dynamic(format!("SELECT {TOKEN_COLS} FROM user_tokens WHERE kind = 'invite' AND used_at IS NULL AND expires_at > ? ORDER BY created_at, email"))
            .cached()
            .bind(ms(now)),
    )?;
    Ok(rows.into_iter().map(UserToken::from).collect())
}

pub(crate) fn revoke_invitation<C: Exec>(
    c: &mut C,
    email: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(c.exec(
        Q::new("DELETE FROM user_tokens WHERE kind = 'invite' AND email = ? AND used_at IS NULL AND expires_at > ?")
            .bind(normalize_email(email))
            .bind(ms(now)),
    )? > 0)
}

pub(crate) fn prune_user_tokens<C: Exec>(c: &mut C, now: DateTime<Utc>) -> Result<u64> {
    Ok(c.exec(Q::new("DELETE FROM user_tokens WHERE expires_at <= ?").bind(ms(now)))? as u64)
}
