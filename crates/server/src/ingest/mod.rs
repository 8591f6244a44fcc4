//! The Sentry ingest endpoints: `/api/{project_id}/store/`, `/envelope/`, `/security/`.
//!
//! Each request goes: credentials → project (cached) → body (size-capped, decoded with
//! a cap) → parse → quota → group → the ingest bus, and is answered 200 only once the
//! digest writer has committed the event. Every failure is a 4xx/5xx with a
//! `{"detail": ...}` body; nothing on this path panics on client data.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;

use periscope_sentry_envelope::{Auth, Envelope, Event, EventId, ItemType, ParseLimits};
use periscope_store::{IngestOutcome, NewEvent};

use crate::error::ApiError;
use crate::metrics::Rejection;
use crate::pipeline::decode::{DecodeError, Encoding, decode};
use crate::pipeline::keys::ProjectInfo;
use crate::state::AppState;
use crate::text::shorten;

/// Which endpoint a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Store,
    Envelope,
    Security,
}

/// `POST /api/{project_id}/store/`.
pub(crate) const STORE: u8 = 0;
/// `POST /api/{project_id}/envelope/`.
pub(crate) const ENVELOPE: u8 = 1;
/// `POST /api/{project_id}/security/` (CSP reports).
pub(crate) const SECURITY: u8 = 2;

/// The handler of the ingest endpoint `E` ([`STORE`], [`ENVELOPE`] or [`SECURITY`]).
pub(crate) async fn endpoint<const E: u8>(
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
        return unread_body(
            ApiError::unavailable("too many requests in flight; retry later", 1).into_response(),
        );
    };
    let mut consumed = false;
    match ingest(
        &state,
        endpoint,
        &project,
        query.as_deref(),
        &headers,
        body,
        &mut consumed,
    )
    .await
    {
        Ok(resp) => resp,
        Err(err) => {
            state.metrics.rejected(rejection_of(err.status));
            let resp = err.into_response();
            if consumed { resp } else { unread_body(resp) }
        }
    }
}

/// An answer given before the request body was read to its end: the connection
/// cannot carry another request (the rest of the body is still on it), so say
/// `Connection: close` — otherwise a client puts the connection back in its pool
/// and its next request fails on a closed socket.
fn unread_body(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
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

/// Longest envelope header line read to find the `dsn` of an envelope that has no
/// other credentials (real ones are a few hundred bytes).
const MAX_HEADER_LINE: usize = 64 * 1024;
/// Most compressed bytes read while looking for that line.
const MAX_HEADER_LINE_RAW: usize = 256 * 1024;

/// Bytes of the shared body-memory budget held by one request, charged as the body
/// arrives (never the whole limit up front) and given back when the request ends.
struct BodyBudget {
    pool: std::sync::Arc<tokio::sync::Semaphore>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    kib: u32,
}

impl BodyBudget {
    fn new(pool: std::sync::Arc<tokio::sync::Semaphore>) -> Self {
        Self {
            pool,
            permit: None,
            kib: 0,
        }
    }

    /// Makes sure `bytes` in all are charged; 503 when the budget is spent.
    fn charge_to(&mut self, bytes: usize) -> Result<(), ApiError> {
        let want = u32::try_from(bytes / 1024 + 1).unwrap_or(u32::MAX);
        if want <= self.kib {
            return Ok(());
        }
        let more = self
            .pool
            .clone()
            .try_acquire_many_owned(want - self.kib)
            .map_err(|_| {
                ApiError::unavailable("too much request data in flight; retry later", 1)
            })?;
        match &mut self.permit {
            Some(p) => p.merge(more),
            None => self.permit = Some(more),
        }
        self.kib = want;
        Ok(())
    }
}

/// The body as it arrives: one chunk shared as is, more chunks copied together.
#[derive(Default)]
struct Received {
    first: Option<Bytes>,
    rest: Option<bytes::BytesMut>,
}

impl Received {
    fn len(&self) -> usize {
        match (&self.first, &self.rest) {
            (_, Some(b)) => b.len(),
            (Some(b), None) => b.len(),
            (None, None) => 0,
        }
    }

    fn push(&mut self, data: Bytes, capacity_hint: usize) {
        if let Some(rest) = &mut self.rest {
            rest.extend_from_slice(&data);
        } else if let Some(first) = self.first.take() {
            let mut rest =
                bytes::BytesMut::with_capacity(capacity_hint.max(first.len() + data.len()));
            rest.extend_from_slice(&first);
            rest.extend_from_slice(&data);
            self.rest = Some(rest);
        } else {
            self.first = Some(data);
        }
    }

    fn as_slice(&self) -> &[u8] {
        match (&self.first, &self.rest) {
            (_, Some(b)) => b,
            (Some(b), None) => b,
            (None, None) => &[],
        }
    }

    fn into_bytes(self) -> Bytes {
        match (self.first, self.rest) {
            (_, Some(b)) => b.freeze(),
            (Some(b), None) => b,
            (None, None) => Bytes::new(),
        }
    }
}

/// The first line of an envelope seen so far, when it can be told.
enum HeaderLine {
    Found(Vec<u8>),
    NeedMore,
    TooLong,
}

fn header_line(encoding: Encoding, received: &[u8], complete: bool) -> HeaderLine {
    let decoded: std::borrow::Cow<'_, [u8]> = if encoding == Encoding::Identity {
        std::borrow::Cow::Borrowed(received)
    } else {
        std::borrow::Cow::Owned(crate::pipeline::decode::prefix(
            encoding,
            received,
            MAX_HEADER_LINE + 1,
        ))
    };
    if let Some(end) = decoded.iter().position(|b| *b == b'\n') {
        return HeaderLine::Found(decoded[..end].to_vec());
    }
    if decoded.len() > MAX_HEADER_LINE || received.len() > MAX_HEADER_LINE_RAW {
        return HeaderLine::TooLong;
    }
    if complete {
        HeaderLine::Found(decoded.into_owned())
    } else {
        HeaderLine::NeedMore
    }
}

/// The public key named by an envelope header line's `dsn` (checked against the
/// project of the URL).
fn key_of_header_line(line: &[u8], project_id: i64) -> Result<String, ApiError> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(default)]
        dsn: Option<String>,
    }
    let head: Head = serde_json::from_slice(line.trim_ascii())
        .map_err(|e| ApiError::bad_request(format!("invalid envelope header: {e}")))?;
    let url_project = u64::try_from(project_id).unwrap_or(0);
    Auth::resolve(None, head.dsn.as_deref(), url_project)
        .map(|a| a.public_key)
        .map_err(auth_error)
}

async fn ingest(
    state: &AppState,
    endpoint: Endpoint,
    project: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
    consumed: &mut bool,
) -> Result<Response, ApiError> {
    let project_id: i64 = project.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid project id {:?}: expected a positive number",
            shorten(project, 40)
        ))
    })?;
    // While the database or the writer cannot work, answer at once.
    if let Err(reason) = state.health.ingest() {
        tracing::debug!(reason, "ingest refused");
        return Err(ApiError::unavailable(
            "the server cannot store events right now; retry later",
            5,
        ));
    }

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
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(format!(
            "body larger than {limit} bytes"
        )));
    }

    // Body memory is budgeted by what arrives (an authenticated request with a
    // declared length takes it at once), so a slow or chunked upload holds only
    // what it has sent, and an unauthenticated one little more than its first line.
    let mut budget = BodyBudget::new(state.body_memory.clone());
    let capacity_hint = match (&project_info, declared) {
        (Some(_), Some(n)) => {
            budget.charge_to(n)?;
            n
        }
        _ => 0,
    };
    let mut received = Received::default();
    let deadline = tokio::time::Instant::now() + state.config.body_read_timeout;
    let mut body = body;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request body did not arrive within {} s",
                        state.config.body_read_timeout.as_secs()
                    ),
                ));
            }
            Ok(None) => {
                *consumed = true;
                break;
            }
            Ok(Some(Err(e))) => {
                return Err(ApiError::bad_request(format!(
                    "could not read the body: {e}"
                )));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let total = received.len() + data.len();
        if total > limit {
            return Err(ApiError::too_large(format!(
                "body larger than {limit} bytes"
            )));
        }
        budget.charge_to(total)?;
        received.push(data, capacity_hint);
        if project_info.is_none() {
            match header_line(encoding, received.as_slice(), false) {
                HeaderLine::NeedMore => {}
                HeaderLine::TooLong => {
                    return Err(ApiError::bad_request(
                        "no envelope header line within the first 64 KiB",
                    ));
                }
                HeaderLine::Found(line) => {
                    let key = key_of_header_line(&line, project_id)?;
                    project_info = Some(state.authorize(project_id, &key).await?);
                }
            }
        }
    }
    if project_info.is_none() {
        match header_line(encoding, received.as_slice(), true) {
            HeaderLine::Found(line) if !line.trim_ascii().is_empty() => {
                let key = key_of_header_line(&line, project_id)?;
                project_info = Some(state.authorize(project_id, &key).await?);
            }
            HeaderLine::TooLong => {
                return Err(ApiError::bad_request(
                    "no envelope header line within the first 64 KiB",
                ));
            }
            _ => return Err(ApiError::bad_request("empty body")),
        }
    }
    let Some(project_info) = project_info else {
        return Err(ApiError::unauthorized("missing credentials"));
    };
    let raw = received.into_bytes();

    // Decoding, parsing and grouping are CPU work: they run on the blocking pool,
    // at most one per core at a time, so a heavy event never stalls the async
    // workers that serve everyone else.
    let cpu = state
        .cpu
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::unavailable("the server is shutting down", 5))?;
    let work = Work {
        state: state.clone(),
        endpoint,
        encoding,
        limit,
        raw,
        budget,
        project_id,
        project: project_info,
        header_auth,
    };
    let processed = tokio::task::spawn_blocking(move || {
        let _cpu = cpu;
        work.run(Utc::now())
    })
    .await
    .map_err(ApiError::internal)??;
    let (event_id, waiter) = match processed {
        Processed::NoEvent => {
            // An envelope without an error event (sessions, client reports, ...):
            // counted, accepted.
            return Ok((StatusCode::OK, axum::Json(serde_json::json!({}))).into_response());
        }
        Processed::Queued { event_id, waiter } => (event_id, waiter),
    };

    let outcome: IngestOutcome =
        match tokio::time::timeout(state.config.commit_timeout, waiter).await {
            Ok(Ok(Ok(outcome))) => outcome,
            Ok(Ok(Err(e))) => {
                tracing::debug!(error = %e, "event not stored");
                return Err(ApiError::unavailable(
                    "the event could not be stored now; retry later",
                    5,
                ));
            }
            Ok(Err(_)) => {
                return Err(ApiError::unavailable(
                    "the ingest writer stopped; retry later",
                    5,
                ));
            }
            Err(_) => {
                // It may still commit; a retry with the same event id is then
                // recognized as a duplicate.
                return Err(ApiError::unavailable(
                    "the event was not confirmed in time; retry later",
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

/// The CPU part of one request, moved to a blocking thread.
struct Work {
    state: AppState,
    endpoint: Endpoint,
    encoding: Encoding,
    limit: usize,
    raw: Bytes,
    budget: BodyBudget,
    project_id: i64,
    project: std::sync::Arc<ProjectInfo>,
    header_auth: Option<Auth>,
}

type Waiter =
    tokio::sync::oneshot::Receiver<Result<IngestOutcome, crate::pipeline::bus::CommitError>>;

enum Processed {
    NoEvent,
    Queued { event_id: EventId, waiter: Waiter },
}

impl Work {
    /// Decodes, parses, admits (bus place, quotas), groups and queues the event.
    /// The body's memory budget is given back when this returns: from here on the
    /// event is held by the bus, which has its own byte budget.
    fn run(mut self, now: DateTime<Utc>) -> Result<Processed, ApiError> {
        let state = &self.state;
        let limit = self.limit;
        let raw = std::mem::take(&mut self.raw);
        let decoded = decode(self.encoding, raw, limit).map_err(|e| match e {
            DecodeError::TooLarge { limit } => {
                ApiError::too_large(format!("body larger than {limit} bytes once decoded"))
            }
            other => ApiError::bad_request(other.to_string()),
        })?;
        if decoded.is_empty() {
            return Err(ApiError::bad_request("empty body"));
        }
        if self.encoding != Encoding::Identity {
            // Received and decoded bytes are both held now.
            let received = self.budget.kib as usize * 1024;
            self.budget.charge_to(received + decoded.len())?;
        }

        let (event_json, header_event_id) = match self.endpoint {
            Endpoint::Store => {
                let json =
                    periscope_sentry_envelope::decode_store_body(&decoded, limit).map_err(|e| {
                        match e {
                            periscope_sentry_envelope::Error::StoreBodyTooLarge { .. } => {
                                ApiError::too_large(e.to_string())
                            }
                            other => ApiError::bad_request(other.to_string()),
                        }
                    })?;
                // Plain JSON comes back borrowed: keep sharing the body, no copy.
                let json = match json {
                    std::borrow::Cow::Borrowed(slice) => decoded.slice_ref(slice),
                    std::borrow::Cow::Owned(v) => Bytes::from(v),
                };
                (Some(json), None)
            }
            Endpoint::Security => {
                let json =
                    crate::pipeline::csp::csp_to_event(&decoded).map_err(ApiError::bad_request)?;
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
                if let Some(dsn) = envelope.headers.dsn.as_deref() {
                    // The dsn must agree with the other credentials and the URL
                    // (without other credentials, it is what authorized the request).
                    let url_project = u64::try_from(self.project_id).unwrap_or(0);
                    Auth::resolve(self.header_auth.clone(), Some(dsn), url_project)
                        .map_err(auth_error)?;
                }
                let mut event = None;
                for item in &envelope.items {
                    match &item.headers.ty {
                        ItemType::Event => event = Some(item.payload.clone()),
                        ItemType::Security | ItemType::RawSecurity => {
                            let json = crate::pipeline::csp::csp_to_event(&item.payload)
                                .map_err(ApiError::bad_request)?;
                            event = Some(Bytes::from(json));
                        }
                        ItemType::Attachment
                            if item.headers.attachment_type.as_deref() == Some("event.payload")
                                && event.is_none() =>
                        {
                            event = Some(item.payload.clone());
                        }
                        // Counted by item type (rate limits go by category).
                        other => state.metrics.item_accepted(other),
                    }
                }
                (event, envelope.headers.event_id)
            }
        };
        let Some(event_json) = event_json else {
            return Ok(Processed::NoEvent);
        };
        if event_json.len() > state.config.max_event_bytes {
            return Err(ApiError::too_large(format!(
                "event larger than {} bytes",
                state.config.max_event_bytes
            )));
        }
        let event = Event::from_slice(&event_json)
            .map_err(|e| ApiError::bad_request(format!("invalid event: {e}")))?;

        // Reserve the place on the bus first, so that an event refused with 503
        // does not use up quota; then count the quotas (installation, project);
        // group only what is admitted.
        let bytes = event_json.len() + 512;
        let slot = state
            .bus
            .reserve(bytes)
            .map_err(|_| ApiError::unavailable("the ingest queue is full; retry later", 1))?;
        if let Err(limits) = state.quotas.check(&self.project, now) {
            let err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate limited: quota exceeded; retry later",
            )
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
        let grouped = self.project.grouping.group(&event, now);
        let grouping = &grouped.grouping;
        let timestamp = event
            .timestamp
            .as_ref()
            .map(|t| t.as_datetime())
            .filter(|t| *t < now + chrono::Duration::minutes(5))
            .unwrap_or(now);
        let new_event = NewEvent {
            project_id: periscope_store::ProjectId(self.project_id),
            // In lookup order: app before system, the current configuration
            // before the one a transition leaves.
            grouping_keys: grouped.keys.clone(),
            event_id: event_id.to_string(),
            title: text_column(&grouping.title),
            culprit: grouping.culprit.as_deref().map(text_column),
            level: event
                .level
                .as_ref()
                .map(|l| text_column(shorten(l.as_str(), limits::MAX_LEVEL_CHARS)))
                .unwrap_or_else(|| "error".to_owned()),
            timestamp: clamp_past(timestamp, now),
            received_at: now,
            release: event
                .release
                .as_deref()
                .filter(|r| r.chars().count() <= limits::MAX_RELEASE_CHARS)
                .map(text_column),
            environment: event
                .environment
                .as_deref()
                .filter(|e| e.chars().count() <= limits::MAX_ENVIRONMENT_CHARS)
                .map(text_column),
            tags: limits::indexed_tags(&event.tags)
                .map(|(k, v)| (text_column(k), text_column(v)))
                .collect(),
            payload: event_json.to_vec(),
            grouping_explanation: None,
            user: limits::event_user(event.user.as_ref()),
        };
        Ok(Processed::Queued {
            event_id,
            waiter: slot.send(new_event),
        })
    }
}

/// The limits on what one event puts into indexed columns (the stored payload
/// keeps everything the SDK sent).
pub(crate) mod limits {
    /// Most tags of one event indexed for search.
    pub(crate) const MAX_TAGS: usize = 200;
    /// Longest tag key indexed, in characters (Sentry: 32); longer ones are dropped.
    pub(crate) const MAX_TAG_KEY_CHARS: usize = 32;
    /// Longest tag value indexed, in characters (Sentry: 200); longer ones are dropped.
    pub(crate) const MAX_TAG_VALUE_CHARS: usize = 200;
    /// Longest release kept, in characters (Sentry: 200); a longer one is dropped.
    pub(crate) const MAX_RELEASE_CHARS: usize = 200;
    /// Longest environment kept, in characters (Sentry: 64); a longer one is dropped.
    pub(crate) const MAX_ENVIRONMENT_CHARS: usize = 64;
    /// Longest level kept, in characters (longer ones are cut).
    pub(crate) const MAX_LEVEL_CHARS: usize = 32;
    /// Longest user identifier handed to the store, in characters (longer ones
    /// are cut; the store keeps only its hash).
    pub(crate) const MAX_USER_CHARS: usize = 200;

    /// The identifier of the event's user, for counting an issue's distinct
    /// users: the first non-empty of the `user` object's `id` (string or
    /// number), `email`, `username` and `ip_address`, prefixed by which one it
    /// is (`id:42`, `email:a@b.example`), cut to [`MAX_USER_CHARS`]. The
    /// `{{auto}}` placeholder SDKs send for the IP address names no one.
    pub(crate) fn event_user(user: Option<&serde_json::Value>) -> Option<String> {
        let user = user?.as_object()?;
        ["id", "email", "username", "ip_address"]
            .into_iter()
            .find_map(|field| {
                let value = match user.get(field)? {
                    serde_json::Value::String(s) => s.trim().to_owned(),
                    serde_json::Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                (!value.is_empty() && value != "{{auto}}").then(|| format!("{field}:{value}"))
            })
            .map(|s| s.chars().take(MAX_USER_CHARS).collect())
    }

    /// The tags of an event that are indexed: the first [`MAX_TAGS`] whose key and
    /// value are within bounds and whose key is not empty. Over-long tags are
    /// dropped, not cut, as Sentry does: a cut value would be a made-up value.
    pub(crate) fn indexed_tags(tags: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
        tags.iter()
            .filter(|(k, v)| {
                !k.is_empty()
                    && k.chars().count() <= MAX_TAG_KEY_CHARS
                    && v.chars().count() <= MAX_TAG_VALUE_CHARS
            })
            .take(MAX_TAGS)
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_user_is_named_by_its_first_non_empty_field() {
            use serde_json::json;
            let user = |v: serde_json::Value| event_user(Some(&v));
            assert_eq!(
                user(json!({"id": 42, "email": "a@b"})).as_deref(),
                Some("id:42")
            );
            assert_eq!(user(json!({"id": "u-1"})).as_deref(), Some("id:u-1"));
            assert_eq!(
                user(json!({"id": "", "email": "a@b", "username": "x"})).as_deref(),
                Some("email:a@b")
            );
            assert_eq!(
                user(json!({"id": null, "email": " ", "username": "ann"})).as_deref(),
                Some("username:ann")
            );
            assert_eq!(
                user(json!({"ip_address": "10.0.0.1"})).as_deref(),
                Some("ip_address:10.0.0.1")
            );
            assert_eq!(user(json!({"ip_address": "{{auto}}"})), None);
            assert_eq!(user(json!({"id": {"nested": 1}, "name": "x"})), None);
            assert_eq!(user(json!("just a string")), None);
            assert_eq!(event_user(None), None);
            let long = user(json!({"email": "é".repeat(500)})).unwrap_or_default();
            assert_eq!(long.chars().count(), MAX_USER_CHARS);
            assert!(long.starts_with("email:é"));
        }

        #[test]
        fn over_long_and_surplus_tags_are_dropped() {
            let mut tags = vec![
                ("k".repeat(33), "v".into()),
                ("ok".into(), "v".repeat(201)),
                (String::new(), "v".into()),
                ("fine".into(), "é".repeat(200)),
            ];
            for i in 0..500 {
                tags.push((format!("t{i}"), "x".into()));
            }
            let kept: Vec<_> = indexed_tags(&tags).collect();
            assert_eq!(kept.len(), MAX_TAGS);
            assert_eq!(kept[0].0, "fine");
        }
    }
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

impl AppState {
    /// Resolves a public key to its project, checking it belongs to `project_id`.
    pub(crate) async fn authorize(
        &self,
        project_id: i64,
        public_key: &str,
    ) -> Result<std::sync::Arc<ProjectInfo>, ApiError> {
        // Answers never echo the key, and never carry internal error text.
        match self.keys.lookup(&self.store, public_key).await {
            Ok(Some(info)) if info.project_id == project_id => Ok(info),
            Ok(Some(_)) => Err(ApiError::forbidden(format!(
                "the key is not valid for project {project_id}"
            ))),
            Ok(None) => Err(ApiError::forbidden("unknown key")),
            Err(e) => {
                tracing::warn!(error = %e, "key lookup failed");
                Err(ApiError::unavailable(
                    "cannot check the key now; retry later",
                    5,
                ))
            }
        }
    }
}
