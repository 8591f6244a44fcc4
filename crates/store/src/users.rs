//! Users of the web UI and their sessions (see [`crate::UserStore`]).

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};

use crate::error::{Result, StoreError};
use crate::model::{Role, Session, User};
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
            id: r.id,
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

pub(crate) fn get_user<C: Exec>(c: &mut C, id: i64) -> Result<Option<User>> {
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
    id: i64,
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

pub(crate) fn set_role<C: Exec>(c: &mut C, id: i64, role: &Role) -> Result<bool> {
    Ok(c.exec(
        Q::new("UPDATE users SET role = ? WHERE id = ?")
            .bind(role.as_str())
            .bind(id),
    )? > 0)
}

pub(crate) fn delete_user<C: Exec>(c: &mut C, id: i64) -> Result<bool> {
    // Sessions go by cascade.
    Ok(c.exec(Q::new("DELETE FROM users WHERE id = ?").bind(id))? > 0)
}

pub(crate) fn create_session<C: Exec>(
    c: &mut C,
    token_hash: &str,
    user_id: i64,
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
            id: r.id,
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
