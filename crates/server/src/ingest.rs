//! The Sentry ingest endpoints: `/api/{project_id}/store/`, `/envelope/`, `/security/`.
//!
//! Each request goes: credentials → project (cached) → body (size-capped, decoded with
//! a cap) → parse → quota → group → the ingest bus, and is answered 200 only once the
//! digest writer has committed the event. Every failure is a 4xx/5xx with a
//! `{"detail": ...}` body; nothing on this path panics on client data.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;

use periscope_sentry_envelope::{Auth, Envelope, Event, EventId, ItemType, ParseLimits};
use periscope_store::{IngestOutcome, NewEvent};

use crate::app::{AppState, ProjectInfo};
use crate::decode::{DecodeError, Encoding, decode};
use crate::error::ApiError;
use crate::metrics::Rejection;

/// Which endpoint a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Store,
    Envelope,
    Security,
}

/// `POST /api/{project_id}/store/`.
pub const STORE: u8 = 0;
/// `POST /api/{project_id}/envelope/`.
pub const ENVELOPE: u8 = 1;
/// `POST /api/{project_id}/security/` (CSP reports).
pub const SECURITY: u8 = 2;

/// The handler of the ingest endpoint `E` ([`STORE`], [`ENVELOPE`] or [`SECURITY`]).
pub async fn endpoint<const E: u8>(
    State(state): State<AppState>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let endpoint = match E {
        STORE => Endpoint::Store,
        ENVELOPE => Endpoint::Envelope,
        _ => Endpoint::Security,
    };
    handle(state, endpoint, project, query, headers, body).await
}

async fn handle(
    state: AppState,
    endpoint: Endpoint,
    project: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Bound the work in flight: past the limit, answer 503 at once.
    let Ok(_permit) = state.inflight.clone().try_acquire_owned() else {
        state.metrics.rejected(Rejection::Overloaded);
        return ApiError::unavailable("too many requests in flight; retry later", 1)
            .into_response();
    };
    match ingest(&state, endpoint, &project, query.as_deref(), &headers, body).await {
        Ok(resp) => resp,
        Err(err) => {
            state.metrics.rejected(rejection_of(err.status));
            err.into_response()
        }
    }
}

fn rejection_of(status: StatusCode) -> Rejection {
    match status {
        StatusCode::UNAUTHORIZED => Rejection::Unauthorized,
        StatusCode::FORBIDDEN => Rejection::Forbidden,
        StatusCode::PAYLOAD_TOO_LARGE => Rejection::TooLarge,
        StatusCode::TOO_MANY_REQUESTS => Rejection::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => Rejection::Overloaded,
        s if s.is_server_error() => Rejection::StoreError,
        _ => Rejection::BadRequest,
    }
}

/// Maps a credentials error to its answer: a refused version is 400, the rest 401.
fn auth_error(e: periscope_sentry_envelope::Error) -> ApiError {
    use periscope_sentry_envelope::Error as E;
    match e {
        E::AuthUnsupportedVersion { .. } => ApiError::bad_request(e.to_string()),
        E::AuthDsnMismatch { .. } => ApiError::forbidden(e.to_string()),
        other => ApiError::unauthorized(other.to_string()),
    }
}

/// The credentials of a request from its headers and query string.
fn header_credentials(headers: &HeaderMap, query: Option<&str>) -> Result<Option<Auth>, ApiError> {
    let text = |name: HeaderName| -> Result<Option<&str>, ApiError> {
        match headers.get(&name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(Some)
                .map_err(|_| ApiError::unauthorized(format!("{name}: not valid text"))),
        }
    };
    Auth::from_request(
        text(HeaderName::from_static("x-sentry-auth"))?,
        text(header::AUTHORIZATION)?,
        query,
    )
    .map_err(auth_error)
}

async fn ingest(
    state: &AppState,
    endpoint: Endpoint,
    project: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let project_id: i64 = project.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid project id {project:?}: expected a positive number"
        ))
    })?;

    // Credentials given outside the body are checked before the body is read.
    let header_auth = header_credentials(headers, query)?;
    let mut project_info = match &header_auth {
        Some(auth) => Some(state.authorize(project_id, &auth.public_key).await?),
        None if endpoint != Endpoint::Envelope => {
            return Err(ApiError::unauthorized(
                "missing credentials: send X-Sentry-Auth: Sentry sentry_key=<key>, sentry_version=7 (or ?sentry_key=)",
            ));
        }
        None => None,
    };

    let limit = match endpoint {
        Endpoint::Envelope => state.config.max_envelope_bytes,
        Endpoint::Store | Endpoint::Security => state.config.max_event_bytes,
    };
    let encoding = match headers.get(header::CONTENT_ENCODING) {
        None => Encoding::Identity,
        Some(v) => Encoding::parse(v.to_str().unwrap_or("?"))
            .map_err(|e| ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()))?,
    };
    // Body memory is budgeted: the declared (or largest possible) size before reading,
    // the decoded size once known. Past the budget the request is answered 503, so a
    // flood of large bodies cannot exhaust memory.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(format!(
            "body larger than {limit} bytes"
        )));
    }
    let _received_budget = reserve_body_memory(state, declared.unwrap_or(limit))?;
    let raw = read_body(body, limit, state.config.body_read_timeout).await?;
    let decoded = decode(encoding, raw, limit).map_err(|e| match e {
        DecodeError::TooLarge { limit } => {
            ApiError::too_large(format!("body larger than {limit} bytes once decoded"))
        }
        other => ApiError::bad_request(other.to_string()),
    })?;
    if decoded.is_empty() {
        return Err(ApiError::bad_request("empty body"));
    }
    let _decoded_budget = if encoding == Encoding::Identity {
        None
    } else {
        Some(reserve_body_memory(state, decoded.len())?)
    };

    let now = Utc::now();
    let (event_json, header_event_id) = match endpoint {
        Endpoint::Store => {
            let json = periscope_sentry_envelope::decode_store_body(&decoded, limit).map_err(
                |e| match e {
                    periscope_sentry_envelope::Error::StoreBodyTooLarge { .. } => {
                        ApiError::too_large(e.to_string())
                    }
                    other => ApiError::bad_request(other.to_string()),
                },
            )?;
            // Plain JSON comes back borrowed: keep sharing the body, no copy.
            let json = match json {
                std::borrow::Cow::Borrowed(slice) => decoded.slice_ref(slice),
                std::borrow::Cow::Owned(v) => Bytes::from(v),
            };
            (Some(json), None)
        }
        Endpoint::Security => {
            let json = crate::csp::csp_to_event(&decoded).map_err(ApiError::bad_request)?;
            (Some(Bytes::from(json)), None)
        }
        Endpoint::Envelope => {
            let limits = ParseLimits {
                max_items: state.config.max_envelope_items,
                max_item_size: state.config.max_envelope_bytes,
                ..ParseLimits::default()
            };
            let envelope = Envelope::parse(decoded, &limits)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            if project_info.is_none() || envelope.headers.dsn.is_some() {
                let url_project = u64::try_from(project_id).unwrap_or(0);
                let auth = Auth::resolve(
                    header_auth.clone(),
                    envelope.headers.dsn.as_deref(),
                    url_project,
                )
                .map_err(auth_error)?;
                if project_info.is_none() {
                    project_info = Some(state.authorize(project_id, &auth.public_key).await?);
                }
            }
            let mut event = None;
            for item in &envelope.items {
                match &item.headers.ty {
                    ItemType::Event => event = Some(item.payload.clone()),
                    ItemType::Security | ItemType::RawSecurity => {
                        let json = crate::csp::csp_to_event(&item.payload)
                            .map_err(ApiError::bad_request)?;
                        event = Some(Bytes::from(json));
                    }
                    ItemType::Attachment
                        if item.headers.attachment_type.as_deref() == Some("event.payload")
                            && event.is_none() =>
                    {
                        event = Some(item.payload.clone());
                    }
                    other => state
                        .metrics
                        .item_accepted(other.data_category().unwrap_or("other")),
                }
            }
            (event, envelope.headers.event_id)
        }
    };
    let Some(project_info) = project_info else {
        return Err(ApiError::unauthorized("missing credentials"));
    };
    let Some(event_json) = event_json else {
        // An envelope without an error event (sessions, client reports, ...): counted, accepted.
        return Ok((StatusCode::OK, axum::Json(serde_json::json!({}))).into_response());
    };
    if event_json.len() > state.config.max_event_bytes {
        return Err(ApiError::too_large(format!(
            "event larger than {} bytes",
            state.config.max_event_bytes
        )));
    }
    let event = Event::from_slice(&event_json)
        .map_err(|e| ApiError::bad_request(format!("invalid event: {e}")))?;

    // Reserve the place on the bus first, so that an event refused with 503 does not
    // use up quota; then count the quotas (installation, project); group only what
    // is admitted.
    let bytes = event_json.len() + 512;
    let slot = state
        .bus
        .reserve(bytes)
        .map_err(|_| ApiError::unavailable("the ingest queue is full; retry later", 1))?;
    if let Err(limits) = state.quotas.check(&project_info, now) {
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate limited: quota exceeded; retry later",
        );
        err = err
            .with_header(
                header::RETRY_AFTER,
                limits
                    .retry_after_header()
                    .unwrap_or_else(|| "60".to_owned()),
            )
            .with_header(
                HeaderName::from_static("x-sentry-rate-limits"),
                limits.to_header_value(),
            );
        return Err(err);
    }

    let event_id = header_event_id
        .or(event.event_id)
        .filter(|id| !id.is_nil())
        .unwrap_or_else(|| EventId::from_bytes(rand::random()));
    let grouping = state.grouper(&project_info.grouping_strategy).group(&event);
    let timestamp = event
        .timestamp
        .as_ref()
        .map(|t| t.as_datetime())
        .filter(|t| *t < now + chrono::Duration::minutes(5))
        .unwrap_or(now);
    let new_event = NewEvent {
        project_id,
        event_id: event_id.to_string(),
        grouping_key: grouping.key.clone(),
        title: text_column(&grouping.title),
        culprit: grouping.culprit.as_deref().map(text_column),
        level: event
            .level
            .as_ref()
            .map(|l| text_column(l.as_str()))
            .unwrap_or_else(|| "error".to_owned()),
        timestamp: clamp_past(timestamp, now),
        received_at: now,
        release: event.release.as_deref().map(text_column),
        environment: event.environment.as_deref().map(text_column),
        tags: event
            .tags
            .iter()
            .map(|(k, v)| (text_column(k), text_column(v)))
            .collect(),
        payload: event_json.to_vec(),
        grouping_explanation: None,
    };

    let waiter = slot.send(new_event);
    let outcome: IngestOutcome = match waiter.await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => {
            return Err(ApiError::unavailable(
                format!("event not stored: {}", e.0),
                5,
            ));
        }
        Err(_) => {
            return Err(ApiError::unavailable(
                "the ingest writer stopped; retry later",
                5,
            ));
        }
    };
    state.metrics.event_accepted(outcome.duplicate);
    Ok((
        StatusCode::OK,
        axum::Json(serde_json::json!({ "id": event_id.to_string() })),
    )
        .into_response())
}

/// Takes `bytes` of the body-memory budget for as long as the permit lives.
fn reserve_body_memory(
    state: &AppState,
    bytes: usize,
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    let kib = u32::try_from(bytes / 1024 + 1).unwrap_or(u32::MAX);
    state
        .body_memory
        .clone()
        .try_acquire_many_owned(kib)
        .map_err(|_| ApiError::unavailable("too much request data in flight; retry later", 1))
}

/// A value for an indexed text column: NUL characters (valid JSON, `\u0000`) become
/// U+FFFD. PostgreSQL refuses NUL in text, so one such event would otherwise fail
/// its whole digest batch and never be stored; the payload keeps the original.
fn text_column(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{fffd}")
    } else {
        s.to_owned()
    }
}

fn clamp_past(ts: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    // Events older than 90 days are stored as received now: a wrong client clock
    // must not hide them behind every retention window.
    if ts < now - chrono::Duration::days(90) {
        now
    } else {
        ts
    }
}

/// Reads a request body, refusing more than `limit` bytes as received, or a body
/// that takes longer than `timeout` to arrive (408). Every request holds one of the
/// `max_inflight_requests` permits while its body arrives, so without the timeout a
/// few clients that stall mid-body (slowloris) would hold every permit and shut
/// ingest out for everyone.
async fn read_body(
    body: Body,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, limit);
    let Ok(result) = tokio::time::timeout(timeout, limited.collect()).await else {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                timeout.as_secs()
            ),
        ));
    };
    match result {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(ApiError::too_large(format!(
                    "body larger than {limit} bytes"
                )))
            } else {
                Err(ApiError::bad_request(format!(
                    "could not read the body: {e}"
                )))
            }
        }
    }
}

impl AppState {
    /// Resolves a public key to its project, checking it belongs to `project_id`.
    pub async fn authorize(
        &self,
        project_id: i64,
        public_key: &str,
    ) -> Result<ProjectInfo, ApiError> {
        match self.keys.lookup(&self.store, public_key).await {
            Ok(Some(info)) if info.project_id == project_id => Ok(info),
            Ok(Some(_)) => Err(ApiError::forbidden(format!(
                "the key {public_key} is not valid for project {project_id}"
            ))),
            Ok(None) => Err(ApiError::forbidden(format!("unknown key {public_key}"))),
            Err(e) => Err(ApiError::unavailable(
                format!("cannot check the key now: {e}"),
                5,
            )),
        }
    }
}
