//! Signing in and out, the session cookie and CSRF protection.
//!
//! - The session cookie `periscope_session` holds a random 256-bit token
//!   (`HttpOnly`, `SameSite=Lax`, `Secure` when the base URL is https); the
//!   database keeps its SHA-256. Signing in always opens a new session.
//! - Every form carries `_csrf`: for a signed-in user the SHA-256 of a fixed label
//!   and the session token (a page from another site can neither read the cookie
//!   nor compute it); on the sign-in form, the value of a random `periscope_csrf`
//!   cookie (double submit). Independently, [`same_origin`] refuses any POST whose
//!   `Origin` (or, without one, `Referer`) is not this site.
//! - Failed sign-ins are slowed down per client address and per account by the
//!   throttle (a growing wait, never a lockout someone else could trigger), and at
//!   most `PERISCOPE_MAX_PASSWORD_HASHES` Argon2 hashes run at once.

use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::html;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::form::{FormData, QueryData};
use super::{call, error_page, layout, see_other};
use crate::service::ServiceError;
use crate::service::users::{SessionView, UserView, new_token};
use crate::state::AppState;

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "periscope_session";
/// The sign-in form's CSRF cookie.
const CSRF_COOKIE: &str = "periscope_csrf";

/// The signed-in user of a request. As an extractor: a GET without a live
/// session is redirected to the sign-in page, anything else is refused (403).
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    /// Who.
    pub(crate) user: UserView,
    /// The CSRF token every form of theirs carries.
    pub(crate) csrf: String,
}

impl Viewer {
    /// Whether a form's `_csrf` is this session's.
    pub(crate) fn csrf_ok(&self, form: &FormData) -> bool {
        let given = form.get("_csrf").unwrap_or_default();
        bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes()))
    }

    /// Refuses (403) a form without this session's CSRF token.
    pub(crate) fn check(&self, form: &FormData) -> Result<(), Response> {
        if self.csrf_ok(form) {
            Ok(())
        } else {
            Err(error_page(
                StatusCode::FORBIDDEN,
                "This form's security token is missing or stale. Reload the page and try again.",
            ))
        }
    }

    /// [`Viewer::check`] and [`Viewer::require_admin`]: an admin's form.
    pub(crate) fn check_admin(&self, form: &FormData) -> Result<(), Response> {
        self.check(form).and_then(|()| self.require_admin())
    }

    /// Refuses (403) a user who is not an admin.
    pub(crate) fn require_admin(&self) -> Result<(), Response> {
        if self.user.is_admin() {
            Ok(())
        } else {
            Err(error_page(
                StatusCode::FORBIDDEN,
                "Only an admin can do this.",
            ))
        }
    }
}

fn csrf_for(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"periscope csrf v1\0");
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

/// The value of cookie `name`.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let refuse = |parts: &Parts| {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                see_other(&format!("/signin?next={}", super::form::encode(&next)))
            } else {
                error_page(
                    StatusCode::FORBIDDEN,
                    "You are not signed in (or your session ended). Sign in and try again.",
                )
            }
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned) else {
            return Err(refuse(parts));
        };
        let looked_up = token.clone();
        let session: Option<SessionView> =
            call(state, move |s| s.session(&looked_up, Utc::now())).await?;
        match session {
            Some(s) => Ok(Viewer {
                user: s.user,
                csrf: csrf_for(&token),
            }),
            None => Err(refuse(parts)),
        }
    }
}

/// The origin (`scheme://host[:port]`) of a URL.
fn origin_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..url.len() - rest.len() + host_len])
}

/// Whether a state-changing request comes from this site: its `Origin` (or,
/// without one, its `Referer`) is the base URL's origin or the origin of the
/// `Host` it was sent to. A request with neither header is refused.
pub(crate) fn same_origin(headers: &HeaderMap, base_url: &str) -> bool {
    let claimed = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|v| *v != "null")
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(origin_of)
                .map(str::to_owned)
        });
    let Some(claimed) = claimed else {
        return false;
    };
    let claimed = claimed.to_ascii_lowercase();
    if origin_of(base_url).is_some_and(|o| o.eq_ignore_ascii_case(&claimed)) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (host, claimed.split_once("://")) {
        (Some(host), Some((_, claimed_host))) => claimed_host.eq_ignore_ascii_case(host),
        _ => false,
    }
}

/// A `next` target that stays on this site (a path, not `//host` or a scheme).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control)
                && n.len() <= 2000 =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn secure(state: &AppState) -> &'static str {
    if state.config.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

fn set_cookie(response: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

struct SignInForm<'a> {
    csrf: &'a str,
    next: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    no_users: bool,
    account_ready: bool,
}

fn sign_in_markup(f: &SignInForm<'_>) -> maud::Markup {
    layout::bare(
        "Sign in",
        html! {
            main.narrow.signin {
                h1 { "Periscope" }
                @if f.no_users {
                    section.notice #setup {
                        h2 { "Welcome — no account exists yet" }
                        p { "Create the first admin on the server's command line (it asks for a password, or prints a generated one):" }
                        pre.command { code { "periscope user create you@example.com --admin" } }
                        p { "Then sign in here." }
                    }
                }
                @if f.account_ready { p.ok role="status" { "Your account is ready: sign in with your new password." } }
                @if let Some(e) = f.error { p.error role="alert" { (e) } }
                form method="post" action="/signin" {
                    input type="hidden" name="_csrf" value=(f.csrf);
                    input type="hidden" name="next" value=(f.next);
                    label { "Email" input type="email" name="email" value=(f.email) autocomplete="username" required autofocus; }
                    label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// `GET /signin`: the form (and, before any account exists, how to make one).
pub(crate) async fn sign_in_page(
    State(state): State<AppState>,
    QueryData(q): QueryData,
) -> Response {
    let no_users = match call(&state, |s| s.user_count()).await {
        Ok(n) => n == 0,
        Err(r) => return r,
    };
    let csrf = new_token();
    let next = safe_next(q.get("next"));
    let mut response = sign_in_markup(&SignInForm {
        csrf: &csrf,
        next: &next,
        email: "",
        error: None,
        no_users,
        account_ready: q.get("done") == Some("account"),
    })
    .into_response();
    set_cookie(
        &mut response,
        format!(
            "{CSRF_COOKIE}={csrf}; Path=/signin; HttpOnly; SameSite=Strict; Max-Age=3600{}",
            secure(&state)
        ),
    );
    response
}

fn wait_message(wait: Duration) -> String {
    format!(
        "Too many failed sign-ins. Wait {} s before trying again.",
        wait.as_secs().max(1)
    )
}

/// `POST /signin`.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    form: FormData,
) -> Response {
    let cookie_token = cookie(&headers, CSRF_COOKIE).unwrap_or_default();
    let given = form.get("_csrf").unwrap_or_default();
    if cookie_token.is_empty() || !bool::from(given.as_bytes().ct_eq(cookie_token.as_bytes())) {
        return error_page(
            StatusCode::FORBIDDEN,
            "The sign-in form's security token is missing or stale. Reload the sign-in page and try again.",
        );
    }
    let email = form.get("email").unwrap_or_default().trim().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    let next = safe_next(form.get("next"));
    let again = |status: StatusCode, error: &str| {
        (
            status,
            sign_in_markup(&SignInForm {
                csrf: cookie_token,
                next: &next,
                email: &email,
                error: Some(error),
                no_users: false,
                account_ready: false,
            }),
        )
            .into_response()
    };
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let ip = crate::throttle::client_ip(peer, &headers, &state.config.trusted_proxies);
    let account: String = email.to_lowercase().chars().take(254).collect();
    let now = Instant::now();
    let blocked = state
        .sign_in_by_address
        .check(&ip, now)
        .err()
        .into_iter()
        .chain(state.sign_in_by_account.check(&account, now).err())
        .max();
    if let Some(wait) = blocked {
        return again(StatusCode::TOO_MANY_REQUESTS, &wait_message(wait));
    }
    // Argon2 is deliberately expensive: bound how many run at once, and do not
    // queue for long (a flood gets 503s, not a backlog).
    let permit = match tokio::time::timeout(
        Duration::from_secs(5),
        state.password_hashes.clone().acquire_owned(),
    )
    .await
    {
        Ok(Ok(p)) => p,
        _ => {
            let mut r = again(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy checking other sign-ins; try again in a moment.",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return r;
        }
    };
    let signed_in = {
        let email = email.clone();
        call(&state, move |s| {
            let r = s.sign_in(&email, &password, Utc::now());
            drop(permit);
            Ok(r)
        })
        .await
    };
    match signed_in {
        Err(r) => r,
        Ok(Err(ServiceError::Denied(_))) => {
            tracing::warn!(client = %ip, "failed sign-in");
            let waits = [
                state.sign_in_by_address.failure(&ip, now),
                state.sign_in_by_account.failure(&account, now),
            ];
            match waits.into_iter().flatten().max() {
                Some(wait) => again(StatusCode::TOO_MANY_REQUESTS, &wait_message(wait)),
                None => again(StatusCode::UNAUTHORIZED, "Wrong email or password."),
            }
        }
        Ok(Err(e)) => super::service_error(e),
        Ok(Ok(session)) => {
            state.sign_in_by_address.success(&ip);
            state.sign_in_by_account.success(&account);
            tracing::info!(user = %session.user.email, client = %ip, "signed in");
            let mut response = see_other(&next);
            let max_age = (session.expires_at - Utc::now()).num_seconds().max(0);
            set_cookie(
                &mut response,
                format!(
                    "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
                    session.token,
                    secure(&state)
                ),
            );
            set_cookie(
                &mut response,
                format!("{CSRF_COOKIE}=; Path=/signin; Max-Age=0"),
            );
            response
        }
    }
}

/// `POST /signout`: ends the session.
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    viewer: Viewer,
    form: FormData,
) -> Response {
    if let Err(r) = viewer.check(&form) {
        return r;
    }
    let token = cookie(&headers, SESSION_COOKIE)
        .unwrap_or_default()
        .to_owned();
    if let Err(r) = call(&state, move |s| s.sign_out(&token)).await {
        return r;
    }
    let mut response = see_other("/signin");
    set_cookie(
        &mut response,
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origins() {
        let base = "https://errors.example.com/";
        assert!(same_origin(
            &headers(&[("origin", "https://errors.example.com")]),
            base
        ));
        assert!(same_origin(
            &headers(&[
                ("origin", "http://127.0.0.1:8000"),
                ("host", "127.0.0.1:8000")
            ]),
            base
        ));
        assert!(same_origin(
            &headers(&[("referer", "https://errors.example.com/issues/1")]),
            base
        ));
        assert!(!same_origin(
            &headers(&[
                ("origin", "https://evil.example"),
                ("host", "errors.example.com")
            ]),
            base
        ));
        assert!(!same_origin(
            &headers(&[("origin", "null"), ("host", "errors.example.com")]),
            base
        ));
        assert!(!same_origin(
            &headers(&[("host", "errors.example.com")]),
            base
        ));
        assert!(!same_origin(
            &headers(&[("origin", "https://errors.example.com.evil.example")]),
            base
        ));
    }

    #[test]
    fn next_targets_stay_here() {
        assert_eq!(safe_next(Some("/issues/3?x=1")), "/issues/3?x=1");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "",
            "javascript:x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn cookies_are_found() {
        let h = headers(&[("cookie", "a=1; periscope_session=tok; b=2")]);
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
        assert_ne!(csrf_for("a"), csrf_for("b"));
    }
}
