//! One stored event, as a reader sees it: a typed, bounded view of the payload.
//!
//! The web UI's issue page and `periscope issue show` display the same event, so
//! every decision about *what* is shown lives here, once: the order of chained
//! exceptions and the sentence between them, the numbering of source lines, which
//! frames and breadcrumbs are kept, how a variable's value reads, which cookie data
//! may be shown (names only, never values). The doors only decide *how* it looks.
//!
//! # Never failing, always bounded
//!
//! Payloads come from the public internet. [`event_details`] never fails and never
//! panics: a payload that is not JSON, or not an object, gives an empty view; a
//! field of the wrong type is left out; either way [`EventDetails::problems`] says
//! what could not be shown. The work is linear in the payload's size and the view's
//! size is bounded whatever the payload's shape:
//!
//! | what | kept |
//! | --- | --- |
//! | exceptions | the last [`MAX_EXCEPTIONS`] (the raised one and its nearest causes) |
//! | threads | [`MAX_THREADS`], crashed and current ones first |
//! | frames of a stack | the innermost [`MAX_FRAMES`] ([`ExceptionView::omitted_frames`] counts the rest) |
//! | source lines around a frame | [`MAX_CONTEXT_LINES`] before and after |
//! | variables of a frame | [`MAX_VARS`] (a last `…` entry says how many more) |
//! | breadcrumbs | the last [`MAX_BREADCRUMBS`] ([`EventDetails::breadcrumbs_total`] counts all) |
//! | request headers | [`MAX_HEADERS`] |
//! | modules | [`MAX_MODULES`] |
//! | contexts | [`MAX_CONTEXTS`] |
//! | any other list of pairs (tags, fields, query, data) | [`MAX_PAIRS`] |
//! | a string | [`MAX_STRING_CHARS`] characters, then `…` |
//! | a value | [`MAX_DEPTH`] levels of nesting, deeper ones shown as `…` |
//! | the payload | [`MAX_NESTING`] levels: deeper values are replaced by `"…"` before parsing |
//!
//! A cut that the view does not already show (a count, a `…`) is noted in
//! `problems`. The payload is read once by the protocol crate's tolerant
//! [`Event`] model (the same reading grouping uses, so the title and the exception
//! shown agree) and once more, shallowly, for the top-level fields whose raw shape
//! matters (message parameters by name, fields of the wrong type).
//!
//! # Chained exceptions
//!
//! SDKs send `exception.values` oldest first: the last value is the one raised.
//! Python prints a chain the same way — the original error first, then *"The above
//! exception was the direct cause of the following exception"* (`raise … from`,
//! mechanism source `__cause__`) or *"During handling of the above exception,
//! another exception occurred"* (`__context__`) — and so does this view. Exception
//! groups (Python's `ExceptionGroup`, JavaScript's `AggregateError`, .NET's
//! `AggregateException`) are trees: members point to their group with
//! `mechanism.parent_id` and come after it, one level deeper
//! ([`ExceptionView::depth`]). A cause or context always directly precedes, in the
//! SDK's list, the exception it belongs to (Python's SDK even gives a group
//! member's cause the root as `parent_id`, so that order, not the id, is trusted
//! for chains). Without a mechanism source nothing says whether an exception was
//! the *cause* or merely the *context* of the next (Python's SDK sends plain chains
//! without one, Java's too), so no relation is guessed: the view says `None` and
//! the doors print a neutral separator.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use periscope_sentry_envelope::{Event, Exception, Frame, Stacktrace, Timestamp};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// Most exceptions kept: the last ones of the SDK's list.
pub const MAX_EXCEPTIONS: usize = 64;
/// Most threads kept.
pub const MAX_THREADS: usize = 32;
/// Most frames kept per stack trace: the innermost ones.
pub const MAX_FRAMES: usize = 500;
/// Most breadcrumbs kept: the last ones.
pub const MAX_BREADCRUMBS: usize = 200;
/// Most variables kept per frame.
pub const MAX_VARS: usize = 200;
/// Most request headers kept.
pub const MAX_HEADERS: usize = 100;
/// Most modules kept.
pub const MAX_MODULES: usize = 500;
/// Most contexts kept.
pub const MAX_CONTEXTS: usize = 50;
/// Most entries of any other list of pairs (tags, user, a context's fields, query,
/// environment, breadcrumb data, cookie names, fingerprint).
pub const MAX_PAIRS: usize = 200;
/// Most source lines kept before, and after, a frame's line.
pub const MAX_CONTEXT_LINES: usize = 50;
/// Longest string shown, in characters; a longer one is cut and ends with `…`.
pub const MAX_STRING_CHARS: usize = 4096;
/// Deepest nesting shown inside a value; deeper containers read `…`.
pub const MAX_DEPTH: usize = 8;
/// Deepest nesting read from the payload; deeper values are replaced by `"…"`
/// before parsing (the JSON parser refuses more than 128 levels).
pub const MAX_NESTING: usize = 64;

/// Everything shown of one event.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EventDetails {
    /// `event_id`, 32 hex digits.
    pub event_id: Option<String>,
    /// When it happened (the SDK's clock).
    pub timestamp: Option<DateTime<Utc>>,
    /// `level` (`debug`, `info`, `warning`, `error`, `fatal` or as sent).
    pub level: Option<String>,
    /// `platform` (`python`, `javascript`, `native` …).
    pub platform: Option<String>,
    /// `logger`.
    pub logger: Option<String>,
    /// `transaction` (the route or task).
    pub transaction: Option<String>,
    /// `release`.
    pub release: Option<String>,
    /// `dist`.
    pub dist: Option<String>,
    /// `environment`.
    pub environment: Option<String>,
    /// `server_name`.
    pub server_name: Option<String>,
    /// The message: `logentry.formatted`, else `message`, else `logentry.message`
    /// with its `params` filled in.
    pub message: Option<String>,
    /// The exceptions in reading order (see the module documentation).
    pub exceptions: Vec<ExceptionView>,
    /// The threads, when there is no exception: crashed thread first.
    pub threads: Vec<ThreadView>,
    /// The top-level stack trace (a message sent with a stack), when there is no
    /// exception.
    pub stacktrace: Option<StacktraceView>,
    /// The last breadcrumbs, in time order.
    pub breadcrumbs: Vec<BreadcrumbView>,
    /// How many breadcrumbs the event carried.
    pub breadcrumbs_total: usize,
    /// Tags, in the order sent.
    pub tags: Vec<(String, String)>,
    /// The HTTP request being handled.
    pub request: Option<RequestView>,
    /// The user: `id`, `email`, `username`, `ip_address`, `name`, `geo`, then the
    /// other fields.
    pub user: Vec<(String, String)>,
    /// Contexts: browser, os, runtime, device, app, trace …
    pub contexts: Vec<ContextView>,
    /// The SDK that sent it: (name, version); the version is empty when unknown.
    pub sdk: Option<(String, String)>,
    /// Installed modules and their versions, sorted by name.
    pub modules: Vec<(String, String)>,
    /// The SDK's fingerprint, when it sent one.
    pub fingerprint: Vec<String>,
    /// What could not be read or was cut without a mark in the view.
    pub problems: Vec<String>,
}

impl EventDetails {
    /// The primary exception: the one raised (the last of the SDK's list), which
    /// titles the event.
    pub fn primary_exception(&self) -> Option<&ExceptionView> {
        self.exceptions.iter().find(|e| e.primary)
    }
}

/// How an exception relates to the one shown before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The previous exception caused this one (`raise … from`, `__cause__`,
    /// JavaScript's `Error.cause`, .NET's `InnerException`).
    Cause,
    /// This one was raised while handling the previous one (`__context__`).
    Context,
    /// This one is a member of the exception group above it (one level up).
    GroupMember,
}

impl Relation {
    /// The sentence printed between the two exceptions (Python's wording).
    pub fn sentence(self) -> &'static str {
        match self {
            Relation::Cause => {
                "The above exception was the direct cause of the following exception:"
            }
            Relation::Context => {
                "During handling of the above exception, another exception occurred:"
            }
            Relation::GroupMember => "A member of the exception group above:",
        }
    }

    /// The sentence before an exception that is not the first: its relation's,
    /// or a neutral one when the relation is not known.
    pub fn sentence_for(relation: Option<Relation>) -> &'static str {
        relation.map_or(
            "The above exception is chained to the following exception:",
            Relation::sentence,
        )
    }
}

/// How an exception was caught.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MechanismView {
    /// `type` (`generic`, `onerror`, `excepthook`, `chained` …).
    #[serde(rename = "type")]
    pub ty: Option<String>,
    /// Whether the program handled it (`Some(false)`: it crashed or went uncaught).
    pub handled: Option<bool>,
    /// The type and value were made up by the SDK (a signal, an error code).
    pub synthetic: bool,
}

/// One exception.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExceptionView {
    /// `type` (`ValueError`).
    #[serde(rename = "type")]
    pub ty: Option<String>,
    /// `value` (the message).
    pub value: Option<String>,
    /// `module` of the type.
    pub module: Option<String>,
    /// How it was caught.
    pub mechanism: Option<MechanismView>,
    /// How it relates to the exception shown before it.
    pub relation_to_previous: Option<Relation>,
    /// Nesting in exception groups: 0 at the top, members one more than their group.
    pub depth: usize,
    /// It is an exception group.
    pub is_group: bool,
    /// It is the exception raised (the last of the SDK's list), which titles the event.
    pub primary: bool,
    /// Frames as the SDK sends them: oldest call first, the innermost last.
    pub frames: Vec<FrameView>,
    /// Oldest frames left out (beyond [`MAX_FRAMES`]).
    pub omitted_frames: usize,
}

impl ExceptionView {
    /// `Type: value`, `Type`, or the value.
    pub fn title(&self) -> String {
        match (self.ty.as_deref(), self.value.as_deref()) {
            (Some(t), Some(v)) if !v.is_empty() => format!("{t}: {v}"),
            (Some(t), _) => t.to_owned(),
            (None, Some(v)) => v.to_owned(),
            (None, None) => "Error".to_owned(),
        }
    }

    /// The frames innermost first, as most displays show them.
    pub fn frames_newest_first(&self) -> impl DoubleEndedIterator<Item = &FrameView> {
        self.frames.iter().rev()
    }
}

/// One thread of a crashed or hung program.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ThreadView {
    /// `id`.
    pub id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// It crashed.
    pub crashed: bool,
    /// It was the current thread.
    pub current: bool,
    /// Frames, oldest call first.
    pub frames: Vec<FrameView>,
    /// Oldest frames left out (beyond [`MAX_FRAMES`]).
    pub omitted_frames: usize,
}

impl ThreadView {
    /// The frames innermost first.
    pub fn frames_newest_first(&self) -> impl DoubleEndedIterator<Item = &FrameView> {
        self.frames.iter().rev()
    }
}

/// A stack trace that belongs to no exception or thread.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StacktraceView {
    /// Frames, oldest call first.
    pub frames: Vec<FrameView>,
    /// Oldest frames left out (beyond [`MAX_FRAMES`]).
    pub omitted_frames: usize,
}

impl StacktraceView {
    /// The frames innermost first.
    pub fn frames_newest_first(&self) -> impl DoubleEndedIterator<Item = &FrameView> {
        self.frames.iter().rev()
    }
}

/// One line of source code around a frame.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceLine {
    /// Its line number, when the frame's line is known.
    pub number: Option<u64>,
    /// The text, as sent (tabs and all).
    pub text: String,
    /// It is the frame's line (`context_line`).
    pub current: bool,
}

/// One stack frame.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FrameView {
    /// `filename` (relative, as shown).
    pub filename: Option<String>,
    /// `abs_path` (absolute path or URL).
    pub abs_path: Option<String>,
    /// `module`.
    pub module: Option<String>,
    /// `function`, else `raw_function`, else `symbol`.
    pub function: Option<String>,
    /// `lineno`.
    pub lineno: Option<u64>,
    /// `colno`.
    pub colno: Option<u64>,
    /// `in_app`: the application's own code (`None`: the SDK did not say).
    pub in_app: Option<bool>,
    /// `package` (a native frame's binary or library).
    pub package: Option<String>,
    /// `instruction_addr` (native frames).
    pub instruction_addr: Option<String>,
    /// The source lines around the frame's line, in file order.
    pub source: Vec<SourceLine>,
    /// Local variables: name and value (a string as sent, anything else as
    /// compact JSON). A last `("…", "N more")` entry counts those left out.
    pub vars: Vec<(String, String)>,
}

impl FrameView {
    /// `file:line:col in function`: the file is the filename, else the absolute
    /// path, module or package, the function else the instruction address; parts
    /// not known are left out (`?` when nothing is known).
    pub fn location(&self) -> String {
        let place = self
            .filename
            .as_deref()
            .or(self.abs_path.as_deref())
            .or(self.module.as_deref())
            .or(self.package.as_deref());
        let function = self
            .function
            .as_deref()
            .or(self.instruction_addr.as_deref());
        let Some(place) = place else {
            return function.unwrap_or("?").to_owned();
        };
        let mut out = place.to_owned();
        if let Some(line) = self.lineno {
            let _ = write!(out, ":{line}");
            if let Some(col) = self.colno {
                let _ = write!(out, ":{col}");
            }
        }
        if let Some(f) = function {
            let _ = write!(out, " in {f}");
        }
        out
    }
}

/// One breadcrumb: something that happened before the event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BreadcrumbView {
    /// When, if the breadcrumb's time could be read.
    pub timestamp: Option<DateTime<Utc>>,
    /// Milliseconds from the event's time (negative: before it).
    pub offset_ms: Option<i64>,
    /// `type` (`default`, `http`, `navigation`, `error` …).
    #[serde(rename = "type")]
    pub ty: Option<String>,
    /// `category` (`console`, `ui.click`, `fetch` …).
    pub category: Option<String>,
    /// `level`.
    pub level: Option<String>,
    /// `message`.
    pub message: Option<String>,
    /// `data`, as (key, text) pairs.
    pub data: Vec<(String, String)>,
}

/// The HTTP request being handled. Cookie *values* are never part of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestView {
    /// `method`.
    pub method: Option<String>,
    /// `url`.
    pub url: Option<String>,
    /// The query string's parameters, decoded.
    pub query: Vec<(String, String)>,
    /// Headers, without `Cookie` and `Set-Cookie`.
    pub headers: Vec<(String, String)>,
    /// The names of the cookies sent (from `cookies` or the `Cookie` header).
    pub cookie_names: Vec<String>,
    /// The body (`data`): a string as sent, anything else as compact JSON.
    pub body: Option<String>,
    /// `env` (CGI-style server variables).
    pub env: Vec<(String, String)>,
}

/// One context: a named group of facts about the device, OS, runtime …
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContextView {
    /// The key it was sent under (`os`, `server-runtime` …).
    pub key: String,
    /// Its `type` (`os`, `runtime` …), the key when not given.
    pub kind: String,
    /// Its fields, without `type`.
    pub fields: Vec<(String, String)>,
}

/// Whether `url` may become a link: `Some` only for an absolute `http://` or
/// `https://` URL (scheme in any case) with a host and no whitespace or control
/// character.
pub fn safe_link(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let web = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let clean = !url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || is_bidi_control(c));
    (web && clean && !host.is_empty() && !host.starts_with(':')).then_some(url)
}

/// Unicode's directional formatting characters, which reorder how text displays.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The view of a stored event's payload. Never fails: see the module documentation.
pub fn event_details(payload: &[u8]) -> EventDetails {
    let mut b = Builder::default();
    let json = payload.strip_prefix(b"\xef\xbb\xbf").unwrap_or(payload);
    let (json, replaced) = cut_deep_nesting(json, MAX_NESTING);
    if replaced > 0 {
        b.problems.push(format!(
            "{replaced} value(s) nested deeper than {MAX_NESTING} levels were left out"
        ));
    }
    let event = match Event::from_slice(&json) {
        Ok(event) => event,
        Err(e) => {
            b.problems.push(cut(&format!(
                "the payload could not be read as a JSON object: {e}"
            )));
            return EventDetails {
                problems: b.problems,
                ..EventDetails::default()
            };
        }
    };
    // The top-level fields, raw: only their first byte or two are looked at, except
    // the message's, which are parsed again for parameters by name.
    let top: BTreeMap<String, &RawValue> = serde_json::from_slice(&json).unwrap_or_default();
    b.check_shapes(&top, &event);

    let mut d = EventDetails {
        event_id: event.event_id.map(|id| id.to_string()),
        timestamp: event.timestamp.map(|t| t.as_datetime()),
        level: event.level.as_ref().map(|l| cut(l.as_str())),
        platform: cut_opt(&event.platform),
        logger: cut_opt(&event.logger),
        transaction: cut_opt(&event.transaction),
        release: cut_opt(&event.release),
        dist: cut_opt(&event.dist),
        environment: cut_opt(&event.environment),
        server_name: cut_opt(&event.server_name),
        message: message(&top, &event),
        ..EventDetails::default()
    };
    d.exceptions = b.exceptions(&event);
    if d.exceptions.is_empty() {
        d.threads = b.threads(&event);
        d.stacktrace = event
            .stacktrace
            .as_ref()
            .filter(|s| !s.frames.is_empty())
            .map(|s| {
                let (frames, omitted_frames) = frames(s);
                StacktraceView {
                    frames,
                    omitted_frames,
                }
            });
    }
    d.breadcrumbs_total = event.breadcrumbs.len();
    d.breadcrumbs = breadcrumbs(&event.breadcrumbs, d.timestamp);
    d.tags = b.pairs(
        "tags",
        event.tags.iter().map(|(k, v)| (cut(k), cut(v))).collect(),
        MAX_PAIRS,
    );
    d.request = event.request.as_ref().and_then(|r| b.request(r));
    d.user = event.user.as_ref().map(|u| b.user(u)).unwrap_or_default();
    d.contexts = event
        .contexts
        .as_ref()
        .map(|c| b.contexts(c))
        .unwrap_or_default();
    d.sdk = event.sdk.as_ref().and_then(|s| {
        let name = s.name.as_deref().map(cut);
        let version = s.version.as_deref().map(cut);
        (name.is_some() || version.is_some()).then(|| {
            (
                name.unwrap_or_else(|| "unknown".to_owned()),
                version.unwrap_or_default(),
            )
        })
    });
    if let Some(Value::Object(m)) = event.other.get("modules") {
        let mut modules: Vec<(String, String)> = m
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (cut(k), value_text(v)))
            .collect();
        modules.sort();
        d.modules = b.pairs("modules", modules, MAX_MODULES);
    }
    let fingerprint = event.fingerprint.unwrap_or_default();
    d.fingerprint = b.pairs(
        "fingerprint entries",
        fingerprint.iter().map(|s| cut(s)).collect(),
        MAX_PAIRS,
    );
    d.problems = b.finish();
    d
}

// ---- building ----------------------------------------------------------------

/// Collects problems while the view is built.
#[derive(Default)]
struct Builder {
    problems: Vec<String>,
    /// What was cut without a mark: (what, how often, how many left out, limit).
    cuts: BTreeMap<&'static str, (usize, usize, usize)>,
}

impl Builder {
    fn note_cut(&mut self, what: &'static str, left_out: usize, limit: usize) {
        let e = self.cuts.entry(what).or_insert((0, 0, limit));
        e.0 += 1;
        e.1 += left_out;
    }

    fn finish(mut self) -> Vec<String> {
        for (what, (times, left_out, limit)) in self.cuts {
            let places = if times > 1 {
                format!(" (in {times} places)")
            } else {
                String::new()
            };
            self.problems.push(format!(
                "{left_out} {what} not shown: at most {limit} are kept{places}"
            ));
        }
        self.problems
    }

    /// The first `limit` of `items`; the rest counted as `what`.
    fn pairs<T>(&mut self, what: &'static str, mut items: Vec<T>, limit: usize) -> Vec<T> {
        if items.len() > limit {
            self.note_cut(what, items.len() - limit, limit);
            items.truncate(limit);
        }
        items
    }

    /// Notes top-level fields the tolerant reader had to leave out.
    fn check_shapes(&mut self, top: &BTreeMap<String, &RawValue>, event: &Event) {
        for (key, raw) in top {
            let kind = json_kind(raw.get());
            let expected = match key.as_str() {
                "exception"
                | "sentry.interfaces.Exception"
                | "threads"
                | "breadcrumbs"
                | "tags" => ["object", "list"],
                "request"
                | "sentry.interfaces.Http"
                | "user"
                | "sentry.interfaces.User"
                | "contexts"
                | "sdk"
                | "modules" => ["object", "object"],
                "timestamp" if event.timestamp.is_none() && kind != "null" => {
                    self.problems.push(format!(
                        "the timestamp {} could not be read",
                        cut_to(raw.get(), 64)
                    ));
                    continue;
                }
                _ => continue,
            };
            if kind != "null" && !expected.contains(&kind) {
                let wanted = if expected[0] == expected[1] {
                    "an object".to_owned()
                } else {
                    "an object or a list".to_owned()
                };
                self.problems.push(format!(
                    "`{}` is {kind} where {wanted} was expected: not shown",
                    cut_to(key, 64),
                    kind = match kind {
                        "object" => "an object",
                        "list" => "a list",
                        "string" => "a string",
                        "boolean" => "a boolean",
                        _ => "a number",
                    },
                ));
            }
        }
    }

    fn exceptions(&mut self, event: &Event) -> Vec<ExceptionView> {
        let all = &event.exceptions;
        let start = all.len().saturating_sub(MAX_EXCEPTIONS);
        if start > 0 {
            self.note_cut("exceptions (the oldest causes)", start, MAX_EXCEPTIONS);
        }
        let exs = &all[start..];
        let order = reading_order(exs);
        // Native and Java SDKs may put an exception's stack on its thread.
        let thread_stacks: HashMap<&str, &Stacktrace> = event
            .threads
            .iter()
            .filter_map(|t| Some((t.id.as_deref()?, t.stacktrace.as_ref()?)))
            .collect();
        let last = exs.len().saturating_sub(1);
        order
            .into_iter()
            .map(|(i, relation, depth)| {
                let e = &exs[i];
                let stack = e
                    .stacktrace
                    .as_ref()
                    .filter(|s| !s.frames.is_empty())
                    .or_else(|| thread_stacks.get(e.thread_id.as_deref()?).copied());
                let (frames, omitted_frames) = stack.map(frames).unwrap_or_default();
                exception_view(e, relation, depth, i == last, frames, omitted_frames)
            })
            .collect()
    }

    fn threads(&mut self, event: &Event) -> Vec<ThreadView> {
        let mut threads: Vec<_> = event.threads.iter().collect();
        // Stable: crashed first, then the current one, then as sent.
        threads.sort_by_key(|t| (!t.crashed, !t.current));
        if threads.len() > MAX_THREADS {
            self.note_cut("threads", threads.len() - MAX_THREADS, MAX_THREADS);
        }
        threads
            .into_iter()
            .take(MAX_THREADS)
            .map(|t| {
                let (frames, omitted_frames) =
                    t.stacktrace.as_ref().map(frames).unwrap_or_default();
                ThreadView {
                    id: cut_opt(&t.id),
                    name: cut_opt(&t.name),
                    crashed: t.crashed,
                    current: t.current,
                    frames,
                    omitted_frames,
                }
            })
            .collect()
    }

    fn request(&mut self, r: &Value) -> Option<RequestView> {
        let r = r.as_object()?;
        let mut view = RequestView {
            method: r.get("method").and_then(scalar_text),
            url: r.get("url").and_then(scalar_text),
            body: r
                .get("data")
                .or_else(|| r.get("body"))
                .filter(|v| !v.is_null())
                .map(value_text),
            ..RequestView::default()
        };
        let query = match r.get("query_string").or_else(|| r.get("query")) {
            Some(Value::String(s)) => parse_query(s),
            Some(v) => pairs_of(v),
            None => Vec::new(),
        };
        view.query = self.pairs("query parameters", query, MAX_PAIRS);
        let mut names = Vec::new();
        match r.get("cookies") {
            Some(Value::String(s)) => names.extend(cookie_names(s)),
            Some(Value::Object(m)) => names.extend(m.keys().map(|k| cut(k.trim()))),
            Some(Value::Array(a)) => names.extend(a.iter().filter_map(|p| match p {
                Value::Array(kv) => kv.first().and_then(scalar_text),
                Value::String(s) => cookie_names(s).into_iter().next(),
                _ => None,
            })),
            _ => {}
        }
        let mut headers = Vec::new();
        for (name, value) in r.get("headers").map(pairs_of).unwrap_or_default() {
            if name.eq_ignore_ascii_case("cookie") {
                names.extend(cookie_names(&value));
            } else if name.eq_ignore_ascii_case("set-cookie") {
                names.extend(cookie_names(&value).into_iter().take(1));
            } else {
                headers.push((name, value));
            }
        }
        view.headers = self.pairs("request headers", headers, MAX_HEADERS);
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| !n.is_empty() && seen.insert(n.clone()));
        view.cookie_names = self.pairs("cookie names", names, MAX_PAIRS);
        let env = r.get("env").map(pairs_of).unwrap_or_default();
        view.env = self.pairs("request environment variables", env, MAX_PAIRS);
        Some(view)
    }

    fn user(&mut self, u: &Value) -> Vec<(String, String)> {
        let Some(m) = u.as_object() else {
            return Vec::new();
        };
        const FIRST: [&str; 6] = ["id", "email", "username", "ip_address", "name", "geo"];
        let known = FIRST.iter().filter_map(|k| Some((*k, m.get(*k)?)));
        let others = m
            .iter()
            .filter(|(k, _)| !FIRST.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v));
        let fields: Vec<(String, String)> = known
            .chain(others)
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                let text = match (k, v) {
                    ("geo", Value::Object(g)) => geo_text(g).unwrap_or_else(|| value_text(v)),
                    _ => value_text(v),
                };
                (cut(k), text)
            })
            .collect();
        self.pairs("user fields", fields, MAX_PAIRS)
    }

    fn contexts(&mut self, c: &Value) -> Vec<ContextView> {
        let Some(m) = c.as_object() else {
            return Vec::new();
        };
        const FIRST: [&str; 8] = [
            "browser", "os", "runtime", "device", "app", "gpu", "culture", "trace",
        ];
        let known = FIRST.iter().filter_map(|k| Some((*k, m.get(*k)?)));
        let others = m
            .iter()
            .filter(|(k, _)| !FIRST.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v));
        let present: Vec<(&str, &Value)> =
            known.chain(others).filter(|(_, v)| !v.is_null()).collect();
        if present.len() > MAX_CONTEXTS {
            self.note_cut("contexts", present.len() - MAX_CONTEXTS, MAX_CONTEXTS);
        }
        let mut out = Vec::new();
        for (key, v) in present.into_iter().take(MAX_CONTEXTS) {
            let (kind, fields) = match v {
                Value::Object(o) => {
                    let kind = o
                        .get("type")
                        .and_then(scalar_text)
                        .unwrap_or_else(|| cut(key));
                    let fields: Vec<(String, String)> = o
                        .iter()
                        .filter(|(k, v)| k.as_str() != "type" && !v.is_null())
                        .map(|(k, v)| (cut(k), value_text(v)))
                        .collect();
                    (kind, fields)
                }
                other => (cut(key), vec![("value".to_owned(), value_text(other))]),
            };
            let fields = self.pairs("context fields", fields, MAX_PAIRS);
            out.push(ContextView {
                key: cut(key),
                kind,
                fields,
            });
        }
        out
    }
}

/// The kind of a raw JSON value, from its first byte.
fn json_kind(raw: &str) -> &'static str {
    match raw.trim_start().as_bytes().first() {
        Some(b'{') => "object",
        Some(b'[') => "list",
        Some(b'"') => "string",
        Some(b'n') => "null",
        Some(b't' | b'f') => "boolean",
        _ => "number",
    }
}

// ---- exceptions ----------------------------------------------------------------

/// How an exception hangs off its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// A cause or context of the parent, shown before it at the same depth.
    Chain(Option<Relation>),
    /// A member of the parent group, shown after it, one level deeper.
    Member,
}

/// The relation a mechanism source names, for chains.
fn chain_relation(source: &str) -> Option<Relation> {
    match source {
        "__cause__" | "cause" | "InnerException" => Some(Relation::Cause),
        "__context__" => Some(Relation::Context),
        _ => None,
    }
}

/// `exceptions[2]`, `errors[0]`, `InnerExceptions[1]` → 2, 0, 1.
fn member_index(source: &str) -> Option<u64> {
    let (name, rest) = source.split_once('[')?;
    let index = rest.strip_suffix(']')?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| index.parse().ok())
        .flatten()
}

/// The reading order of `exs` (the SDK's list, oldest first): (index, relation to
/// the previous one shown, depth), every index exactly once.
fn reading_order(exs: &[Exception]) -> Vec<(usize, Option<Relation>, usize)> {
    let n = exs.len();
    let mechanism = |i: usize| exs[i].mechanism.as_ref();
    let source = |i: usize| mechanism(i).and_then(|m| m.source.as_deref());
    let mut ids: HashMap<u64, usize> = HashMap::new();
    for i in 0..n {
        if let Some(id) = mechanism(i).and_then(|m| m.exception_id) {
            ids.entry(id).or_insert(i);
        }
    }
    let mut parent: Vec<Option<(usize, Link)>> = (0..n)
        .map(|i| {
            let next = (i + 1 < n).then_some(i + 1);
            let by_id = mechanism(i)
                .and_then(|m| m.parent_id)
                .and_then(|p| ids.get(&p).copied())
                .filter(|&p| p != i);
            match (source(i).and_then(chain_relation), by_id) {
                // A cause or context directly precedes its exception in every SDK's list.
                (Some(rel), _) => next.map(|p| (p, Link::Chain(Some(rel)))),
                (None, Some(p)) => {
                    let member = mechanism(p).is_some_and(|m| m.is_exception_group)
                        || source(i).and_then(member_index).is_some();
                    let link = if member {
                        Link::Member
                    } else {
                        Link::Chain(None)
                    };
                    Some((p, link))
                }
                (None, None) => next.map(|p| (p, Link::Chain(None))),
            }
        })
        .collect();
    // Ids from the payload can form cycles: cut each at the first exception found
    // on one (it becomes a root).
    for i in 0..n {
        let mut at = i;
        for _ in 0..=n {
            match parent[at] {
                Some((p, _)) if p == i => {
                    parent[i] = None;
                    break;
                }
                Some((p, _)) => at = p,
                None => break,
            }
        }
    }
    let mut chains: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut roots = Vec::new();
    // Later in the list means nearer to the parent (chains) or earlier among the
    // members (SDKs prepend), so children are collected from the end.
    for i in (0..n).rev() {
        match parent[i] {
            Some((p, Link::Member)) => members[p].push(i),
            Some((p, Link::Chain(_))) => chains[p].push(i),
            None => roots.push(i),
        }
    }
    for m in &mut members {
        // By the index the source names when there is one (stable otherwise).
        m.sort_by_key(|&i| source(i).and_then(member_index).unwrap_or(u64::MAX));
    }
    roots.reverse();
    let mut out = Vec::with_capacity(n);
    let ctx = Tree {
        parent: &parent,
        chains: &chains,
        members: &members,
    };
    for r in roots {
        ctx.emit(r, 0, None, &mut out);
    }
    out
}

struct Tree<'a> {
    parent: &'a [Option<(usize, Link)>],
    chains: &'a [Vec<usize>],
    members: &'a [Vec<usize>],
}

impl Tree<'_> {
    /// Shows `node`'s causes first (oldest first), then `node`, then its members.
    /// The tree is acyclic and holds at most [`MAX_EXCEPTIONS`] nodes, so the
    /// recursion is bounded.
    fn emit(
        &self,
        node: usize,
        depth: usize,
        entering: Option<Relation>,
        out: &mut Vec<(usize, Option<Relation>, usize)>,
    ) {
        let mut relation = entering;
        // `chains` was filled from the end: the nearest cause is first; show the
        // farthest first.
        for &c in self.chains[node].iter().rev() {
            self.emit(c, depth, relation, out);
            relation = match self.parent[c] {
                Some((_, Link::Chain(r))) => r,
                _ => None,
            };
        }
        out.push((node, relation, depth));
        for &m in &self.members[node] {
            self.emit(m, depth + 1, Some(Relation::GroupMember), out);
        }
    }
}

fn exception_view(
    e: &Exception,
    relation: Option<Relation>,
    depth: usize,
    primary: bool,
    frames: Vec<FrameView>,
    omitted_frames: usize,
) -> ExceptionView {
    ExceptionView {
        ty: cut_opt(&e.ty),
        value: cut_opt(&e.value),
        module: cut_opt(&e.module),
        mechanism: e.mechanism.as_ref().map(|m| MechanismView {
            ty: cut_opt(&m.ty),
            handled: m.handled,
            synthetic: m.synthetic,
        }),
        relation_to_previous: relation,
        depth,
        is_group: e.mechanism.as_ref().is_some_and(|m| m.is_exception_group),
        primary,
        frames,
        omitted_frames,
    }
}

// ---- frames ----------------------------------------------------------------------

/// The innermost [`MAX_FRAMES`] frames and how many older ones were left out.
fn frames(st: &Stacktrace) -> (Vec<FrameView>, usize) {
    let omitted = st.frames.len().saturating_sub(MAX_FRAMES);
    (
        st.frames[omitted..].iter().map(frame_view).collect(),
        omitted,
    )
}

fn frame_view(f: &Frame) -> FrameView {
    FrameView {
        filename: cut_opt(&f.filename),
        abs_path: cut_opt(&f.abs_path),
        module: cut_opt(&f.module),
        function: f
            .function
            .as_deref()
            .or(f.raw_function.as_deref())
            .or(f.symbol.as_deref())
            .map(cut),
        lineno: f.lineno,
        colno: f.colno,
        in_app: f.in_app,
        package: cut_opt(&f.package),
        instruction_addr: cut_opt(&f.instruction_addr),
        source: source_lines(f),
        vars: f.vars.as_ref().map(vars).unwrap_or_default(),
    }
}

/// `pre_context`, `context_line`, `post_context` as numbered lines: the frame's
/// line is `lineno`, the ones before count down from it.
fn source_lines(f: &Frame) -> Vec<SourceLine> {
    let pre = &f.pre_context[f.pre_context.len().saturating_sub(MAX_CONTEXT_LINES)..];
    let post = &f.post_context[..f.post_context.len().min(MAX_CONTEXT_LINES)];
    let mut out = Vec::with_capacity(pre.len() + post.len() + 1);
    let before = pre.len() as u64;
    for (i, text) in pre.iter().enumerate() {
        out.push(SourceLine {
            number: f
                .lineno
                .and_then(|l| (l + i as u64).checked_sub(before))
                .filter(|&n| n > 0),
            text: cut(text),
            current: false,
        });
    }
    if let Some(line) = &f.context_line {
        out.push(SourceLine {
            number: f.lineno,
            text: cut(line),
            current: true,
        });
    }
    for (i, text) in post.iter().enumerate() {
        out.push(SourceLine {
            number: f.lineno.and_then(|l| l.checked_add(1 + i as u64)),
            text: cut(text),
            current: false,
        });
    }
    out
}

fn vars(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = match v {
        Value::Object(m) => m
            .iter()
            .take(MAX_VARS)
            .map(|(k, v)| (cut(k), value_text(v)))
            .collect(),
        Value::Array(a) => a
            .iter()
            .take(MAX_VARS)
            .enumerate()
            .map(|(i, v)| (i.to_string(), value_text(v)))
            .collect(),
        _ => Vec::new(),
    };
    let total = match v {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    };
    if total > MAX_VARS {
        out.push(("…".to_owned(), format!("{} more", total - MAX_VARS)));
    }
    out
}

// ---- breadcrumbs ----------------------------------------------------------------

fn breadcrumbs(all: &[Value], event_time: Option<DateTime<Utc>>) -> Vec<BreadcrumbView> {
    let kept = &all[all.len().saturating_sub(MAX_BREADCRUMBS)..];
    // Time order (stable); one without a time stays right after the one before it.
    let mut last = None;
    let mut keyed: Vec<(Option<DateTime<Utc>>, BreadcrumbView)> = kept
        .iter()
        .map(|c| {
            let crumb = breadcrumb(c, event_time);
            if crumb.timestamp.is_some() {
                last = crumb.timestamp;
            }
            (last, crumb)
        })
        .collect();
    keyed.sort_by_key(|(t, _)| *t);
    keyed.into_iter().map(|(_, c)| c).collect()
}

fn breadcrumb(c: &Value, event_time: Option<DateTime<Utc>>) -> BreadcrumbView {
    let Some(m) = c.as_object() else {
        return BreadcrumbView {
            message: Some(value_text(c)),
            ..BreadcrumbView::default()
        };
    };
    let timestamp = m.get("timestamp").and_then(|t| match t {
        Value::Number(n) => n.as_f64().and_then(Timestamp::from_unix_f64),
        Value::String(s) => Timestamp::parse(s),
        _ => None,
    });
    let timestamp = timestamp.map(|t| t.as_datetime());
    let data = match m.get("data") {
        Some(Value::Object(d)) => d
            .iter()
            .filter(|(_, v)| !v.is_null())
            .take(MAX_PAIRS)
            .map(|(k, v)| (cut(k), value_text(v)))
            .collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![("data".to_owned(), value_text(other))],
    };
    BreadcrumbView {
        timestamp,
        offset_ms: timestamp
            .zip(event_time)
            .map(|(t, e)| (t - e).num_milliseconds()),
        ty: m.get("type").and_then(scalar_text),
        category: m.get("category").and_then(scalar_text),
        level: m.get("level").and_then(scalar_text),
        message: m.get("message").and_then(scalar_text),
        data,
    }
}

// ---- message ----------------------------------------------------------------------

/// `logentry.formatted`, else `message`, else `logentry.message` with its params.
fn message(top: &BTreeMap<String, &RawValue>, event: &Event) -> Option<String> {
    let parse = |key: &str| -> Option<Value> {
        serde_json::from_str::<Value>(top.get(key)?.get())
            .ok()
            .filter(|v| !v.is_null())
    };
    let entry = parse("logentry").or_else(|| parse("sentry.interfaces.Message"));
    let message = parse("message");
    if entry.is_none() && message.is_none() {
        // The top level could not be read shallowly (or has no message): the
        // tolerant reader's message, if any.
        return event.message().map(cut);
    }
    let formatted = |v: &Option<Value>| -> Option<String> {
        match v.as_ref()? {
            Value::Object(o) => o.get("formatted").and_then(scalar_text),
            other => scalar_text(other),
        }
    };
    if let Some(f) = formatted(&entry).or_else(|| formatted(&message)) {
        return Some(f);
    }
    [&entry, &message].into_iter().find_map(|v| {
        let o = v.as_ref()?.as_object()?;
        let template = o.get("message").and_then(scalar_text)?;
        Some(match o.get("params") {
            Some(p) if !p.is_null() => format_params(&template, p),
            _ => template,
        })
    })
}

/// Fills the placeholders of `template` with `params`: printf style (`%s`, `%5d`,
/// `%(name)s` for named params) when the template has any, else braces (`{}`,
/// `{0}`, `{name}`). A placeholder without a param stays as it is.
fn format_params(template: &str, params: &Value) -> String {
    let template = cut_to(template, MAX_STRING_CHARS);
    let positional: &[Value] = match params {
        Value::Array(a) => a,
        _ => &[],
    };
    let named = params.as_object();
    let printf = has_printf_placeholder(&template);
    let mut next = 0;
    let mut out = String::with_capacity(template.len());
    let mut rest: &str = &template;
    while let Some(i) = rest.find(if printf { '%' } else { '{' }) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (consumed, value): (usize, Option<Cow<'_, str>>) = if !printf {
            // `{}`, `{N}` or `{name}`.
            match tail[1..].find('}') {
                Some(0) => {
                    next += 1;
                    (
                        2,
                        positional.get(next - 1).map(|v| Cow::Owned(value_text(v))),
                    )
                }
                Some(close) if close <= 64 => {
                    let key = &tail[1..1 + close];
                    let v = match key.parse::<usize>() {
                        Ok(n) => positional.get(n),
                        Err(_) => named.and_then(|m| m.get(key)),
                    };
                    (close + 2, v.map(|v| Cow::Owned(value_text(v))))
                }
                _ => (1, None),
            }
        } else if tail.starts_with("%%") {
            (2, Some(Cow::Borrowed("%")))
        } else if let Some(t) = tail.strip_prefix("%(") {
            let named_value = t.find(')').and_then(|close| {
                let len = printf_spec_len(&t[close + 1..])?;
                let v = named?.get(&t[..close])?;
                Some((2 + close + 1 + len, Cow::Owned(value_text(v))))
            });
            match named_value {
                Some((len, v)) => (len, Some(v)),
                None => (1, None),
            }
        } else {
            match printf_spec_len(&tail[1..]) {
                Some(len) => {
                    next += 1;
                    (
                        1 + len,
                        positional.get(next - 1).map(|v| Cow::Owned(value_text(v))),
                    )
                }
                None => (1, None),
            }
        };
        match value {
            Some(v) => out.push_str(&v),
            None => out.push_str(&tail[..consumed]),
        }
        rest = &tail[consumed..];
        if out.len() > JSON_BUDGET {
            rest = "";
        }
    }
    out.push_str(rest);
    cut(&out)
}

fn has_printf_placeholder(template: &str) -> bool {
    template.match_indices('%').any(|(i, _)| {
        let t = &template[i + 1..];
        t.starts_with('(') || printf_spec_len(t).is_some()
    })
}

/// The length of a printf conversion (`s`, `5d`, `-3.2f`, `r` …) at the start of `s`.
fn printf_spec_len(s: &str) -> Option<usize> {
    let body = s
        .find(|c: char| !(c.is_ascii_digit() || "-+ #.".contains(c)))
        .unwrap_or(s.len());
    let conv = s[body..].chars().next()?;
    "sdifrxXeEgGcoaub".contains(conv).then_some(body + 1)
}

// ---- request and user ----------------------------------------------------------------

/// Pairs from an object, or a list of `[key, value]` pairs (or `"k=v"` strings).
fn pairs_of(v: &Value) -> Vec<(String, String)> {
    match v {
        Value::Object(m) => m
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (cut(k), header_text(v)))
            .collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|p| match p {
                Value::Array(kv) => {
                    let k = kv.first().and_then(scalar_text)?;
                    let v = kv.get(1).map(header_text).unwrap_or_default();
                    Some((k, v))
                }
                Value::String(s) => {
                    let (k, v) = s.split_once('=').unwrap_or((s, ""));
                    Some((cut(k), cut(v)))
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A header value: a string, a list of strings joined by `, ` (as .NET sends
/// them), else compact JSON.
fn header_text(v: &Value) -> String {
    match v {
        Value::Array(a) if a.iter().all(|x| x.is_string() || x.is_number()) => {
            let parts: Vec<String> = a.iter().take(MAX_PAIRS).map(value_text).collect();
            cut(&parts.join(", "))
        }
        other => value_text(other),
    }
}

/// `a=1&b=x%20y` → `[("a", "1"), ("b", "x y")]`.
fn parse_query(q: &str) -> Vec<(String, String)> {
    let q = q.strip_prefix('?').unwrap_or(q);
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (cut(&percent_decode(k)), cut(&percent_decode(v)))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = hex {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The names of `a=1; b=2` (a `Cookie` header or a `cookies` string).
fn cookie_names(s: &str) -> Vec<String> {
    s.split(';')
        .filter_map(|part| {
            let name = part.split_once('=').map_or(part, |(n, _)| n).trim();
            (!name.is_empty()).then(|| cut(name))
        })
        .collect()
}

/// `City, Region, CC` of a user's `geo`, when it has any of them.
fn geo_text(g: &serde_json::Map<String, Value>) -> Option<String> {
    let parts: Vec<String> = ["city", "subdivision", "region", "country_code"]
        .iter()
        .filter_map(|k| g.get(*k).and_then(scalar_text))
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

// ---- values and strings -----------------------------------------------------------

/// `s`, at most [`MAX_STRING_CHARS`] characters (a cut one ends with `…`).
fn cut(s: &str) -> String {
    cut_to(s, MAX_STRING_CHARS).into_owned()
}

fn cut_to(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
        None => Cow::Borrowed(s),
    }
}

fn cut_opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(cut)
}

/// A string, number or boolean as text; anything else `None`.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(cut(s)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A value as display text: a string as it is (SDKs such as Python's send
/// variables as their `repr`), anything else as compact JSON, nested at most
/// [`MAX_DEPTH`] levels, at most [`MAX_STRING_CHARS`] characters.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => cut(s),
        other => {
            let mut out = String::new();
            write_json(other, 1, &mut out);
            cut(&out)
        }
    }
}

/// Bytes written past which containers stop adding elements: the text is cut to
/// [`MAX_STRING_CHARS`] characters afterwards, so work stays bounded.
const JSON_BUDGET: usize = MAX_STRING_CHARS * 4;

fn write_json(v: &Value, depth: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_json_str(&cut_to(s, MAX_STRING_CHARS), out),
        Value::Array(a) if depth > MAX_DEPTH && !a.is_empty() => out.push('…'),
        Value::Object(m) if depth > MAX_DEPTH && !m.is_empty() => out.push('…'),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if out.len() > JSON_BUDGET {
                    out.push('…');
                    break;
                }
                if i > 0 {
                    out.push(',');
                }
                write_json(x, depth + 1, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if out.len() > JSON_BUDGET {
                    out.push('…');
                    break;
                }
                if i > 0 {
                    out.push(',');
                }
                write_json_str(&cut_to(k, MAX_STRING_CHARS), out);
                out.push(':');
                write_json(x, depth + 1, out);
            }
            out.push('}');
        }
    }
}

fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json` with every array or object that opens deeper than `max` levels replaced
/// by the string `"…"`, and how many were replaced. One pass; the input is copied
/// only when something is replaced. Unbalanced input stays unbalanced (the parser
/// then reports it).
fn cut_deep_nesting(json: &[u8], max: usize) -> (Cow<'_, [u8]>, usize) {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut cuts = 0;
    let mut depth = 0usize;
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => i = skip_string(json, i),
            b'[' | b'{' if depth >= max => {
                let end = skip_container(json, i);
                let buf = out.get_or_insert_with(|| Vec::with_capacity(json.len()));
                buf.extend_from_slice(&json[copied..i]);
                buf.extend_from_slice("\"…\"".as_bytes());
                copied = end;
                cuts += 1;
                i = end;
            }
            b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    match out {
        Some(mut buf) => {
            buf.extend_from_slice(&json[copied.min(json.len())..]);
            (Cow::Owned(buf), cuts)
        }
        None => (Cow::Borrowed(json), 0),
    }
}

/// The index just past the string that opens at `start` (or the end).
fn skip_string(json: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < json.len() {
        match json[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    json.len()
}

/// The index just past the array or object that opens at `start` (or the end).
fn skip_container(json: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < json.len() {
        match json[i] {
            b'"' => {
                i = skip_string(json, i);
                continue;
            }
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    json.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn details(v: Value) -> EventDetails {
        event_details(&serde_json::to_vec(&v).unwrap())
    }

    fn titles(d: &EventDetails) -> Vec<(String, Option<Relation>, usize)> {
        d.exceptions
            .iter()
            .map(|e| (e.title(), e.relation_to_previous, e.depth))
            .collect()
    }

    fn t(title: &str, r: Option<Relation>, depth: usize) -> (String, Option<Relation>, usize) {
        (title.to_owned(), r, depth)
    }

    #[test]
    fn python_chains_read_original_first_with_cause_and_context() {
        // `raise RuntimeError from ValueError`, which was raised while handling a
        // KeyError: the SDK lists the KeyError first and the RuntimeError last.
        let d = details(json!({"exception": {"values": [
            {"type": "KeyError", "value": "'a'", "mechanism": {"type": "chained", "source": "__context__", "exception_id": 2, "parent_id": 1}},
            {"type": "ValueError", "value": "bad", "mechanism": {"type": "chained", "source": "__cause__", "exception_id": 1, "parent_id": 0}},
            {"type": "RuntimeError", "value": "wrapped", "mechanism": {"type": "excepthook", "handled": false, "exception_id": 0}}
        ]}}));
        assert_eq!(
            titles(&d),
            vec![
                t("KeyError: 'a'", None, 0),
                t("ValueError: bad", Some(Relation::Context), 0),
                t("RuntimeError: wrapped", Some(Relation::Cause), 0),
            ]
        );
        assert_eq!(
            d.primary_exception().map(ExceptionView::title).as_deref(),
            Some("RuntimeError: wrapped")
        );
        let m = d.exceptions[2].mechanism.as_ref().unwrap();
        assert_eq!(
            (m.ty.as_deref(), m.handled),
            (Some("excepthook"), Some(false))
        );
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert!(Relation::Cause.sentence().contains("direct cause"));
        assert!(Relation::Context.sentence().starts_with("During handling"));
    }

    #[test]
    fn chains_without_a_source_guess_no_relation() {
        // Python's and Java's SDKs send plain chains: `raise … from` and an error
        // raised while handling another cannot be told apart.
        let d = details(json!({"sdk": {"name": "sentry.python", "version": "2.0"},
            "exception": [{"type": "A", "value": "1"}, {"type": "B", "value": "2"}, {"type": "C", "value": "3"}]}));
        assert_eq!(
            titles(&d),
            vec![t("A: 1", None, 0), t("B: 2", None, 0), t("C: 3", None, 0)]
        );
        assert!(d.exceptions[2].primary && !d.exceptions[0].primary);
    }

    #[test]
    fn exception_groups_nest_their_members_in_order() {
        // The corpus's Python `ExceptionGroup("nested", [ValueError,
        // ExceptionGroup("imports", [ImportError, ModuleNotFoundError]), TypeError])`.
        let m = |id: u64, parent: Option<u64>, source: Option<&str>, group: bool| json!({"type": "chained", "exception_id": id, "parent_id": parent, "source": source, "is_exception_group": group});
        let d = details(json!({"exception": {"values": [
            {"type": "TypeError", "value": "int", "mechanism": m(5, Some(0), Some("exceptions[2]"), false)},
            {"type": "ModuleNotFoundError", "value": "another", "mechanism": m(4, Some(2), Some("exceptions[1]"), false)},
            {"type": "ImportError", "value": "no.such", "mechanism": m(3, Some(2), Some("exceptions[0]"), false)},
            {"type": "ExceptionGroup", "value": "imports", "mechanism": m(2, Some(0), Some("exceptions[1]"), true)},
            {"type": "ValueError", "value": "123", "mechanism": m(1, Some(0), Some("exceptions[0]"), false)},
            {"type": "ExceptionGroup", "value": "nested", "mechanism": m(0, None, None, true)}
        ]}}));
        let g = Some(Relation::GroupMember);
        assert_eq!(
            titles(&d),
            vec![
                t("ExceptionGroup: nested", None, 0),
                t("ValueError: 123", g, 1),
                t("ExceptionGroup: imports", g, 1),
                t("ImportError: no.such", g, 2),
                t("ModuleNotFoundError: another", g, 2),
                t("TypeError: int", g, 1),
            ]
        );
        assert!(d.exceptions[0].is_group && d.exceptions[0].primary);
        assert!(d.exceptions[2].is_group);
    }

    #[test]
    fn a_group_members_cause_comes_before_it_inside_the_group() {
        // Python's SDK gives a member's `__cause__` the root as parent_id; the
        // list order says whose cause it is.
        let d = details(json!({"exception": {"values": [
            {"type": "OSError", "value": "disk", "mechanism": {"exception_id": 3, "parent_id": 0, "source": "__cause__"}},
            {"type": "ValueError", "value": "b", "mechanism": {"exception_id": 2, "parent_id": 0, "source": "exceptions[1]"}},
            {"type": "KeyError", "value": "a", "mechanism": {"exception_id": 1, "parent_id": 0, "source": "exceptions[0]"}},
            {"type": "ExceptionGroup", "value": "g", "mechanism": {"exception_id": 0, "is_exception_group": true}}
        ]}}));
        let g = Some(Relation::GroupMember);
        assert_eq!(
            titles(&d),
            vec![
                t("ExceptionGroup: g", None, 0),
                t("KeyError: a", g, 1),
                t("OSError: disk", g, 1),
                t("ValueError: b", Some(Relation::Cause), 1),
            ]
        );
    }

    #[test]
    fn javascript_aggregate_errors_and_error_causes() {
        // sentry-javascript's LinkedErrors: children are prepended, `cause` and
        // `errors[i]` name the field.
        let d = details(json!({"platform": "javascript", "exception": {"values": [
            {"type": "TypeError", "value": "second", "mechanism": {"type": "chained", "source": "errors[1]", "exception_id": 2, "parent_id": 0}},
            {"type": "Error", "value": "root cause", "mechanism": {"type": "chained", "source": "cause", "exception_id": 3, "parent_id": 1}},
            {"type": "RangeError", "value": "first", "mechanism": {"type": "chained", "source": "errors[0]", "exception_id": 1, "parent_id": 0}},
            {"type": "AggregateError", "value": "many", "mechanism": {"type": "onunhandledrejection", "handled": false, "exception_id": 0, "is_exception_group": true}}
        ]}}));
        let g = Some(Relation::GroupMember);
        assert_eq!(
            titles(&d),
            vec![
                t("AggregateError: many", None, 0),
                t("Error: root cause", g, 1),
                t("RangeError: first", Some(Relation::Cause), 1),
                t("TypeError: second", g, 1),
            ]
        );
    }

    #[test]
    fn hostile_exception_ids_show_every_exception_once() {
        // Cycles, self-references, unknown parents, duplicate ids.
        let d = details(json!({"exception": [
            {"type": "A", "mechanism": {"exception_id": 1, "parent_id": 2}},
            {"type": "B", "mechanism": {"exception_id": 2, "parent_id": 1}},
            {"type": "C", "mechanism": {"exception_id": 3, "parent_id": 3}},
            {"type": "D", "mechanism": {"exception_id": 1, "parent_id": 99}},
            {"type": "E", "mechanism": {"parent_id": 4, "source": "exceptions[18446744073709551615]"}}
        ]}));
        let mut seen: Vec<String> = d.exceptions.iter().map(ExceptionView::title).collect();
        seen.sort();
        assert_eq!(seen, ["A", "B", "C", "D", "E"]);
    }

    #[test]
    fn frames_of_javascript_rust_and_native_code() {
        let d = details(
            json!({"exception": [{"type": "E", "value": "v", "stacktrace": {"frames": [
                {"abs_path": "https://example.com/static/app.min.js", "filename": "/static/app.min.js", "function": "onClick", "lineno": 1, "colno": 3456, "in_app": true},
                {"module": "myapp::handlers", "function": "myapp::handlers::pay", "package": "myapp", "lineno": 88, "in_app": true},
                {"package": "/usr/lib/libc.so.6", "instruction_addr": "0x7f1a2b3c", "symbol": "abort", "in_app": false},
                {"package": "/usr/lib/libc.so.6", "instruction_addr": "0x7f1a0000"},
                {}
            ]}}]}),
        );
        let f = &d.exceptions[0].frames;
        assert_eq!(f[0].location(), "/static/app.min.js:1:3456 in onClick");
        assert_eq!(
            f[1].location(),
            "myapp::handlers:88 in myapp::handlers::pay"
        );
        assert_eq!(f[2].location(), "/usr/lib/libc.so.6 in abort");
        assert_eq!(f[2].in_app, Some(false));
        assert_eq!(f[3].location(), "/usr/lib/libc.so.6 in 0x7f1a0000");
        assert_eq!(f[4].location(), "?");
        let bare = FrameView {
            instruction_addr: Some("0xbcc196b4".into()),
            ..FrameView::default()
        };
        assert_eq!(bare.location(), "0xbcc196b4");
        let newest: Vec<_> = d.exceptions[0]
            .frames_newest_first()
            .map(|f| f.function.clone())
            .collect();
        assert_eq!(newest[2].as_deref(), Some("abort"));
        assert_eq!(newest[4].as_deref(), Some("onClick"));
    }

    #[test]
    fn source_lines_are_numbered_from_the_frames_line() {
        let frame = |v: Value| {
            let d = details(json!({"exception": [{"type": "E", "stacktrace": {"frames": [v]}}]}));
            d.exceptions[0].frames[0].source.clone()
        };
        let lines = frame(
            json!({"lineno": 10, "pre_context": ["a", "b", "c"], "context_line": "d", "post_context": ["e", "f"]}),
        );
        let numbered: Vec<_> = lines
            .iter()
            .map(|l| (l.number, l.text.as_str(), l.current))
            .collect();
        assert_eq!(
            numbered,
            vec![
                (Some(7), "a", false),
                (Some(8), "b", false),
                (Some(9), "c", false),
                (Some(10), "d", true),
                (Some(11), "e", false),
                (Some(12), "f", false),
            ]
        );
        // Unknown line: no numbers.
        let lines = frame(json!({"pre_context": ["a"], "context_line": "b"}));
        assert!(lines.iter().all(|l| l.number.is_none()));
        assert!(lines[1].current);
        // More context than lines before it: those have no number.
        let lines =
            frame(json!({"lineno": 2, "pre_context": ["x", "y", "z"], "context_line": "w"}));
        let numbers: Vec<_> = lines.iter().map(|l| l.number).collect();
        assert_eq!(numbers, vec![None, None, Some(1), Some(2)]);
        // No context line: the others keep their numbers, none is current.
        let lines = frame(json!({"lineno": 5, "pre_context": ["a"], "post_context": ["c"]}));
        assert_eq!(
            lines
                .iter()
                .map(|l| (l.number, l.current))
                .collect::<Vec<_>>(),
            vec![(Some(4), false), (Some(6), false)]
        );
        // Hostile amounts of context are cut around the line.
        let many: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
        let lines = frame(
            json!({"lineno": 20_000, "pre_context": many, "context_line": "x", "post_context": many}),
        );
        assert_eq!(lines.len(), 2 * MAX_CONTEXT_LINES + 1);
        assert_eq!(lines[0].number, Some(20_000 - MAX_CONTEXT_LINES as u64));
    }

    #[test]
    fn variables_read_as_compact_bounded_text() {
        let mut many = serde_json::Map::new();
        for i in 0..250 {
            many.insert(format!("v{i:03}"), json!(i));
        }
        let deep = (0..20).fold(json!("bottom"), |v, _| json!({"k": v}));
        let d = details(
            json!({"exception": [{"type": "E", "stacktrace": {"frames": [
                {"vars": {"s": "'hello'", "n": 3, "l": [1, "two", null], "o": {"a": {"b": true}}, "deep": deep}},
                {"vars": many},
                {"vars": ["first", 2]}
            ]}}]}),
        );
        let f = &d.exceptions[0].frames;
        let vars: BTreeMap<_, _> = f[0].vars.iter().cloned().collect();
        assert_eq!(vars["s"], "'hello'");
        assert_eq!(vars["n"], "3");
        assert_eq!(vars["l"], r#"[1,"two",null]"#);
        assert_eq!(vars["o"], r#"{"a":{"b":true}}"#);
        assert_eq!(
            vars["deep"],
            r#"{"k":{"k":{"k":{"k":{"k":{"k":{"k":{"k":…}}}}}}}}"#
        );
        assert_eq!(f[1].vars.len(), MAX_VARS + 1);
        assert_eq!(
            f[1].vars.last().unwrap(),
            &("…".to_owned(), "50 more".to_owned())
        );
        assert_eq!(
            f[2].vars,
            vec![("0".into(), "first".into()), ("1".into(), "2".into())]
        );
    }

    #[test]
    fn cookie_values_are_never_shown() {
        for request in [
            json!({"cookies": "session=SECRET1; csrftoken=SECRET2", "headers": {"Cookie": "theme=SECRET3", "Accept": "*/*"}}),
            json!({"cookies": {"session": "SECRET1", "csrftoken": "SECRET2"}, "headers": [["cookie", "theme=SECRET3"], ["Accept", "*/*"]]}),
            json!({"cookies": [["session", "SECRET1"], ["csrftoken", "SECRET2"]], "headers": {"COOKIE": ["theme=SECRET3"], "Accept": "*/*", "Set-Cookie": "sid=SECRET4; Path=/"}}),
        ] {
            let d = details(json!({"request": request}));
            let r = d.request.as_ref().unwrap();
            let text = serde_json::to_string(&d).unwrap();
            assert!(!text.contains("SECRET"), "{text}");
            assert!(
                r.headers
                    .iter()
                    .all(|(k, _)| !k.to_ascii_lowercase().contains("cookie"))
            );
            assert_eq!(r.headers, vec![("Accept".to_owned(), "*/*".to_owned())]);
            for name in ["session", "csrftoken", "theme"] {
                assert!(r.cookie_names.iter().any(|n| n == name), "{name}: {r:?}");
            }
        }
    }

    #[test]
    fn request_query_headers_body_and_env() {
        let d = details(json!({"request": {
            "method": "POST", "url": "https://shop.example/pay",
            "query_string": "?a=1&b=x%20y+z&flag", "data": {"amount": 10},
            "headers": {"Accept-Language": ["en-US", "en"], "X-N": 5},
            "env": {"REMOTE_ADDR": "10.0.0.1"}
        }}));
        let r = d.request.unwrap();
        assert_eq!(
            (r.method.as_deref(), r.url.as_deref()),
            (Some("POST"), Some("https://shop.example/pay"))
        );
        assert_eq!(
            r.query,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y z".into()),
                ("flag".into(), String::new())
            ]
        );
        assert_eq!(r.body.as_deref(), Some(r#"{"amount":10}"#));
        assert!(
            r.headers
                .contains(&("Accept-Language".into(), "en-US, en".into()))
        );
        assert!(r.headers.contains(&("X-N".into(), "5".into())));
        assert_eq!(r.env, vec![("REMOTE_ADDR".into(), "10.0.0.1".into())]);
        for q in [json!([["a", "1"], ["b", 2]]), json!({"a": "1", "b": 2})] {
            let d = details(json!({"request": {"query_string": q}}));
            assert_eq!(
                d.request.unwrap().query,
                vec![("a".into(), "1".into()), ("b".into(), "2".into())]
            );
        }
        let d = details(
            json!({"request": {"headers": (0..150).map(|i| [format!("H{i}"), "v".to_owned()]).collect::<Vec<_>>()}}),
        );
        assert_eq!(d.request.unwrap().headers.len(), MAX_HEADERS);
        assert!(
            d.problems.iter().any(|p| p.contains("50 request headers")),
            "{:?}",
            d.problems
        );
    }

    #[test]
    fn breadcrumbs_in_time_order_with_offsets_from_the_event() {
        let d = details(json!({
            "timestamp": "2026-03-01T12:00:10Z",
            "breadcrumbs": {"values": [
                {"timestamp": 1772366405.5, "category": "http", "level": "info", "type": "http", "data": {"url": "/a", "status_code": 200}},
                {"timestamp": "2026-03-01T12:00:01.250Z", "category": "ui.click", "message": "button#pay"},
                {"message": "no time"},
                {"timestamp": "2026-03-01T12:00:12Z", "message": "after"},
                "just text",
                null
            ]}
        }));
        assert_eq!(d.breadcrumbs_total, 5);
        let seen: Vec<_> = d
            .breadcrumbs
            .iter()
            .map(|c| (c.offset_ms, c.message.clone().or(c.category.clone())))
            .collect();
        assert_eq!(
            seen,
            vec![
                (Some(-8750), Some("button#pay".into())),
                // Sent after the click: it stays after it.
                (None, Some("no time".into())),
                (Some(-4500), Some("http".into())),
                (Some(2000), Some("after".into())),
                (None, Some("just text".into())),
            ]
        );
        let http = &d.breadcrumbs[2];
        assert_eq!(http.ty.as_deref(), Some("http"));
        assert_eq!(http.level.as_deref(), Some("info"));
        assert_eq!(
            http.data,
            vec![
                ("status_code".into(), "200".into()),
                ("url".into(), "/a".into())
            ]
        );
        assert!(d.breadcrumbs[0].timestamp.is_some());
    }

    #[test]
    fn only_the_last_breadcrumbs_are_kept() {
        let crumbs: Vec<Value> = (0..100_000)
            .map(|i| json!({"message": i.to_string()}))
            .collect();
        let d = details(json!({"breadcrumbs": crumbs}));
        assert_eq!(d.breadcrumbs_total, 100_000);
        assert_eq!(d.breadcrumbs.len(), MAX_BREADCRUMBS);
        assert_eq!(d.breadcrumbs[0].message.as_deref(), Some("99800"));
        assert_eq!(d.breadcrumbs[199].message.as_deref(), Some("99999"));
    }

    #[test]
    fn messages_from_logentry_and_message() {
        let msg = |v: Value| details(v).message;
        assert_eq!(msg(json!({"message": "plain"})), Some("plain".into()));
        assert_eq!(msg(json!({"logentry": "bare"})), Some("bare".into()));
        assert_eq!(
            msg(json!({"logentry": {"formatted": "done", "message": "x %s"}, "message": "other"})),
            Some("done".into())
        );
        assert_eq!(
            msg(json!({"logentry": {"message": "x %s"}, "message": "other"})),
            Some("other".into())
        );
        assert_eq!(
            msg(
                json!({"logentry": {"message": "cleanup of %s: %r (100%%) %5d", "params": ["a", "'b'", 7]}})
            ),
            Some("cleanup of a: 'b' (100%) 7".into())
        );
        assert_eq!(
            msg(
                json!({"logentry": {"message": "Error during cleanup of %(one)s: %(two)s", "params": {"two": "B", "one": "A"}}})
            ),
            Some("Error during cleanup of A: B".into())
        );
        assert_eq!(
            msg(
                json!({"logentry": {"message": "user {} paid {0} {name} {}", "params": ["u", "p"]}})
            ),
            Some("user u paid u {name} p".into())
        );
        assert_eq!(
            msg(json!({"logentry": {"message": "missing %s %s", "params": ["only"]}})),
            Some("missing only %s".into())
        );
        assert_eq!(
            msg(json!({"logentry": {"message": "json {\"a\": %s}", "params": [1]}})),
            Some("json {\"a\": 1}".into())
        );
        assert_eq!(
            msg(json!({"sentry.interfaces.Message": {"message": "legacy"}})),
            Some("legacy".into())
        );
        assert_eq!(msg(json!({})), None);
    }

    #[test]
    fn tags_user_contexts_sdk_modules_and_facts() {
        let d = details(json!({
            "event_id": "fff1050314a3433a823cfedec50f312f", "timestamp": 1772366410,
            "level": "warn", "platform": "python", "release": "shop@1.2", "environment": "prod",
            "server_name": "web-1", "transaction": "/pay", "logger": "shop", "dist": "7",
            "tags": [["browser", "Chrome"], ["n", 3]],
            "user": {"username": "bob", "id": 42, "email": "b@example.com", "ip_address": "10.0.0.1",
                     "geo": {"city": "Lyon", "country_code": "FR"}, "plan": "pro", "nothing": null},
            "contexts": {"zeta": {"v": 1}, "server-runtime": {"type": "runtime", "name": "CPython", "version": "3.12"},
                         "os": {"name": "Linux", "version": null}, "trace": {"trace_id": "abc"}, "gone": null, "odd": 5},
            "sdk": {"name": "sentry.python", "version": "2.20.0"},
            "modules": {"zlib": "1.0", "Django": "5.0", "attrs": "23"},
            "fingerprint": ["{{ default }}", "x"]
        }));
        assert_eq!(
            d.event_id.as_deref(),
            Some("fff1050314a3433a823cfedec50f312f")
        );
        assert_eq!(d.level.as_deref(), Some("warning"));
        assert!(d.timestamp.is_some());
        for v in [
            &d.platform,
            &d.release,
            &d.environment,
            &d.server_name,
            &d.transaction,
            &d.logger,
            &d.dist,
        ] {
            assert!(v.is_some());
        }
        assert_eq!(
            d.tags,
            vec![
                ("browser".into(), "Chrome".into()),
                ("n".into(), "3".into())
            ]
        );
        let keys: Vec<_> = d.user.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["id", "email", "username", "ip_address", "geo", "plan"]
        );
        assert_eq!(d.user[0].1, "42");
        assert_eq!(d.user[4].1, "Lyon, FR");
        let contexts: Vec<_> = d
            .contexts
            .iter()
            .map(|c| (c.key.as_str(), c.kind.as_str()))
            .collect();
        assert_eq!(
            contexts,
            [
                ("os", "os"),
                ("trace", "trace"),
                ("odd", "odd"),
                ("server-runtime", "runtime"),
                ("zeta", "zeta")
            ]
        );
        assert_eq!(d.contexts[0].fields, vec![("name".into(), "Linux".into())]);
        assert_eq!(d.contexts[2].fields, vec![("value".into(), "5".into())]);
        assert_eq!(d.sdk, Some(("sentry.python".into(), "2.20.0".into())));
        let modules: Vec<_> = d.modules.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(modules, ["Django", "attrs", "zlib"]);
        assert_eq!(d.fingerprint, ["{{ default }}", "x"]);
        assert!(d.problems.is_empty(), "{:?}", d.problems);
    }

    #[test]
    fn threads_when_there_is_no_exception() {
        let d = details(json!({"threads": {"values": [
            {"id": 1, "name": "main", "stacktrace": {"frames": [{"function": "idle"}]}},
            {"id": 2, "name": "worker", "crashed": true, "stacktrace": {"frames": [{"function": "crash"}]}},
            {"id": 3, "current": true}
        ]}, "stacktrace": {"frames": [{"function": "top"}]}}));
        let ids: Vec<_> = d.threads.iter().map(|t| t.id.as_deref().unwrap()).collect();
        assert_eq!(ids, ["2", "3", "1"]);
        assert!(d.threads[0].crashed);
        assert_eq!(
            d.stacktrace.unwrap().frames[0].function.as_deref(),
            Some("top")
        );
        // With an exception, the threads are not shown, but an exception without a
        // stack takes its thread's.
        let d = details(
            json!({"exception": [{"type": "SIGSEGV", "thread_id": 2, "mechanism": {"synthetic": true}}],
            "threads": [{"id": 1, "stacktrace": {"frames": [{"function": "idle"}]}},
                        {"id": 2, "crashed": true, "stacktrace": {"frames": [{"function": "crash"}]}}]}),
        );
        assert!(d.threads.is_empty());
        assert_eq!(d.exceptions[0].frames[0].function.as_deref(), Some("crash"));
        assert!(d.exceptions[0].mechanism.as_ref().unwrap().synthetic);
        let many: Vec<Value> = (0..100).map(|i| json!({"id": i})).collect();
        assert_eq!(details(json!({"threads": many})).threads.len(), MAX_THREADS);
    }

    #[test]
    fn links_only_for_web_urls() {
        for ok in [
            "http://a.example/x?y=1#z",
            "HTTPS://a.example",
            "https://u@host:8080/p",
        ] {
            assert_eq!(safe_link(ok), Some(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript://x%0aalert(1)",
            "data:text/html,x",
            "/relative",
            "//evil.example",
            "ftp://a.example",
            "http://",
            "https:///path",
            "http://a b",
            "http://a.example/\n",
            "http://a\u{202e}.example",
            " http://a.example",
            "http://user@/x",
            "http://:80/",
        ] {
            assert_eq!(safe_link(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unreadable_payloads_give_an_empty_view_with_a_problem() {
        for bad in [
            &b"not json"[..],
            b"[1,2]",
            b"\"x\"",
            b"",
            b"{\"a\":",
            b"\xff\xfe",
        ] {
            let d = event_details(bad);
            assert_eq!(d.problems.len(), 1, "{:?}", d.problems);
            assert!(d.exceptions.is_empty() && d.message.is_none());
        }
        // A byte-order mark is fine.
        assert_eq!(
            event_details(b"\xef\xbb\xbf{\"message\":\"hi\"}")
                .message
                .as_deref(),
            Some("hi")
        );
    }

    #[test]
    fn wrong_types_everywhere_are_left_out_and_noted() {
        let d = details(json!({
            "exception": 5, "threads": "x", "breadcrumbs": 7, "request": [1], "user": "bob",
            "contexts": 3, "tags": 4, "sdk": [], "modules": "m", "timestamp": {"when": "now"},
            "level": [], "message": {"params": 3}, "logentry": 17, "fingerprint": "fp",
            "stacktrace": {"frames": "x"}, "release": {"v": 1}
        }));
        for key in [
            "exception",
            "threads",
            "breadcrumbs",
            "request",
            "user",
            "contexts",
            "tags",
            "sdk",
            "modules",
        ] {
            assert!(
                d.problems
                    .iter()
                    .any(|p| p.starts_with(&format!("`{key}`"))),
                "{key}: {:?}",
                d.problems
            );
        }
        assert!(d.problems.iter().any(|p| p.contains("timestamp")));
        assert!(d.exceptions.is_empty() && d.request.is_none() && d.user.is_empty());
        // Inside: frames, vars, context, mechanism of the wrong type.
        let d = details(
            json!({"exception": [{"type": ["x"], "value": {"v": 1}, "mechanism": "m",
            "stacktrace": {"frames": [{"lineno": "twelve", "pre_context": 5, "vars": 3, "in_app": "maybe", "context_line": ["a"]}, 7]}}],
            "request": {"headers": "h", "cookies": 5, "query_string": 9, "env": [], "method": {}},
            "user": {"geo": "Paris", "id": {"a": 1}}, "contexts": {"os": [1, 2]},
            "breadcrumbs": [{"timestamp": true, "data": "d", "message": {"m": 1}}]}),
        );
        assert_eq!(d.exceptions.len(), 1);
        assert_eq!(d.exceptions[0].frames.len(), 1);
        assert!(d.exceptions[0].frames[0].source.is_empty());
        assert_eq!(
            d.user,
            vec![
                ("id".into(), r#"{"a":1}"#.into()),
                ("geo".into(), "Paris".into())
            ]
        );
        assert_eq!(d.breadcrumbs[0].data, vec![("data".into(), "d".into())]);
    }

    #[test]
    fn deep_nesting_is_cut_and_the_rest_still_reads() {
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        let payload = format!(
            r#"{{"extra": {deep}, "exception": [{{"type": "E", "value": "v", "stacktrace": {{"frames": [{{"function": "f", "vars": {{"x": {deep}}}}}]}}}}], "message": "m", "tags": {{"a": "{{[\"b"}}}}"#
        );
        let d = event_details(payload.as_bytes());
        assert_eq!(d.exceptions[0].title(), "E: v");
        assert_eq!(d.exceptions[0].frames[0].vars[0].0, "x");
        assert!(d.exceptions[0].frames[0].vars[0].1.contains('…'));
        assert_eq!(d.message.as_deref(), Some("m"));
        assert_eq!(d.tags, vec![("a".into(), "{[\"b".into())]);
        assert!(
            d.problems.iter().any(|p| p.contains("nested deeper")),
            "{:?}",
            d.problems
        );
        // Unbalanced deep input neither panics nor hangs.
        let d = event_details("{\"a\":".to_owned().repeat(10_000).as_bytes());
        assert!(!d.problems.is_empty());
        let d = event_details(format!("{{\"a\": {}", "[{\"b\\\"\": ".repeat(20_000)).as_bytes());
        assert!(!d.problems.is_empty());
    }

    #[test]
    fn huge_strings_are_cut_with_an_ellipsis() {
        let huge = "é".repeat(1_000_000);
        let d = details(
            json!({"exception": [{"type": "E", "value": huge}], "tags": {"t": huge},
            "request": {"url": huge, "data": huge}}),
        );
        let value = d.exceptions[0].value.as_deref().unwrap();
        assert_eq!(value.chars().count(), MAX_STRING_CHARS + 1);
        assert!(value.ends_with('…'));
        assert_eq!(d.tags[0].1.chars().count(), MAX_STRING_CHARS + 1);
        let r = d.request.unwrap();
        assert_eq!(r.url.unwrap().chars().count(), MAX_STRING_CHARS + 1);
        assert_eq!(r.body.unwrap().chars().count(), MAX_STRING_CHARS + 1);
        // A value that is a long list is cut too, without rendering all of it.
        let long: Vec<u32> = (0..200_000).collect();
        let d = details(
            json!({"exception": [{"type": "E", "stacktrace": {"frames": [{"vars": {"l": long}}]}}]}),
        );
        assert_eq!(
            d.exceptions[0].frames[0].vars[0].1.chars().count(),
            MAX_STRING_CHARS + 1
        );
    }

    #[test]
    fn too_many_of_everything_is_bounded() {
        let frames: Vec<Value> = (0..2000)
            .map(|i| json!({"function": format!("f{i}")}))
            .collect();
        let exceptions: Vec<Value> = (0..100)
            .map(|i| json!({"type": format!("E{i}"), "stacktrace": {"frames": frames}}))
            .collect();
        let modules: serde_json::Map<String, Value> =
            (0..800).map(|i| (format!("m{i:04}"), json!("1"))).collect();
        let d = details(json!({"exception": exceptions, "modules": modules}));
        assert_eq!(d.exceptions.len(), MAX_EXCEPTIONS);
        assert_eq!(d.exceptions[0].ty.as_deref(), Some("E36"));
        assert_eq!(d.exceptions[63].ty.as_deref(), Some("E99"));
        let x = &d.exceptions[0];
        assert_eq!((x.frames.len(), x.omitted_frames), (MAX_FRAMES, 1500));
        assert_eq!(x.frames.last().unwrap().function.as_deref(), Some("f1999"));
        assert_eq!(d.modules.len(), MAX_MODULES);
        assert_eq!(d.modules[0].0, "m0000");
        assert!(
            d.problems.iter().any(|p| p.contains("36 exceptions")),
            "{:?}",
            d.problems
        );
        assert!(
            d.problems.iter().any(|p| p.contains("300 modules")),
            "{:?}",
            d.problems
        );
    }

    #[test]
    fn a_one_megabyte_event_builds_quickly() {
        let frame = json!({"filename": "app/views.py", "function": "handle", "lineno": 42, "in_app": true,
            "pre_context": ["a = 1", "b = 2", "c = 3", "d = 4", "e = 5"], "context_line": "boom()",
            "post_context": ["x", "y", "z", "w", "v"], "vars": {"request": "<WSGIRequest>", "n": 5, "items": [1, 2, 3]}});
        let frames: Vec<Value> = (0..3000).map(|_| frame.clone()).collect();
        let crumbs: Vec<Value> = (0..2000)
            .map(|i| json!({"timestamp": 1772366400 + i, "category": "query", "message": "SELECT * FROM t WHERE id = %s"}))
            .collect();
        let payload = serde_json::to_vec(&json!({"timestamp": 1772367400, "exception": [{"type": "E", "stacktrace": {"frames": frames}}], "breadcrumbs": crumbs})).unwrap();
        assert!(payload.len() > 900_000, "{}", payload.len());
        let started = std::time::Instant::now();
        let d = event_details(&payload);
        let took = started.elapsed();
        println!(
            "built the view of a {} byte event in {took:?}",
            payload.len()
        );
        assert_eq!(d.exceptions[0].frames.len(), MAX_FRAMES);
        // Generous for unoptimized test builds; release builds take a few ms.
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    }

    // ---- property tests: any JSON value, mutated events, any bytes -------------

    /// Keys of the protocol, so random values hit the interesting paths.
    const KEYS: &[&str] = &[
        "exception",
        "values",
        "type",
        "value",
        "mechanism",
        "source",
        "exception_id",
        "parent_id",
        "is_exception_group",
        "stacktrace",
        "frames",
        "vars",
        "pre_context",
        "context_line",
        "post_context",
        "lineno",
        "threads",
        "crashed",
        "breadcrumbs",
        "timestamp",
        "data",
        "request",
        "headers",
        "cookies",
        "query_string",
        "user",
        "geo",
        "contexts",
        "tags",
        "sdk",
        "name",
        "modules",
        "logentry",
        "message",
        "params",
        "formatted",
        "thread_id",
        "id",
        "env",
        "fingerprint",
        "x",
    ];

    /// Strings that mean something to the view: format strings, cookie
    /// syntax, relation sources, a timestamp, terminal escapes and bidi controls.
    const SPECIAL_STRINGS: &[&str] = &[
        "%s {} %(x)s",
        "a=1; b=2",
        "__cause__",
        "exceptions[1]",
        "2026-01-01T00:00:00Z",
        "\u{1b}[31m\u{202e}",
    ];

    /// Any JSON value: null, booleans, numbers (small ones, which read as line
    /// numbers and exception ids, any `i64`, fractional timestamps), strings
    /// (protocol keys, special strings, arbitrary text, strings around the
    /// length limit), and arrays and objects of them keyed by protocol keys, at
    /// most 10 levels deep (beyond [`MAX_DEPTH`]) and about 96 nodes.
    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..70).prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (0.0f64..2e9).prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop::sample::select(KEYS).prop_map(Value::from),
            prop::sample::select(SPECIAL_STRINGS).prop_map(Value::from),
            "\\PC{0,20}".prop_map(Value::from),
            "[a-z\\x00-\\x1f\\u{202e}]{0,8}".prop_map(Value::from),
            (0..MAX_STRING_CHARS + 10).prop_map(|n| Value::from("é".repeat(n))),
        ];
        leaf.prop_recursive(10, 96, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(
                    |pairs| Value::Object(
                        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                    )
                ),
            ]
        })
    }

    /// Every string of the serialized view is within the limit.
    fn strings_bounded(v: &Value) -> bool {
        match v {
            Value::String(s) => s.chars().count() <= MAX_STRING_CHARS + 1,
            Value::Array(a) => a.iter().all(strings_bounded),
            Value::Object(m) => m.values().all(strings_bounded),
            _ => true,
        }
    }

    /// Every bound of the view is respected.
    fn check_bounded(d: &EventDetails) -> Result<(), TestCaseError> {
        prop_assert!(d.exceptions.len() <= MAX_EXCEPTIONS);
        prop_assert!(d.threads.len() <= MAX_THREADS);
        prop_assert!(d.breadcrumbs.len() <= MAX_BREADCRUMBS);
        prop_assert!(d.tags.len() <= MAX_PAIRS && d.user.len() <= MAX_PAIRS);
        prop_assert!(d.contexts.len() <= MAX_CONTEXTS && d.modules.len() <= MAX_MODULES);
        let frames = d
            .exceptions
            .iter()
            .map(|e| &e.frames)
            .chain(d.threads.iter().map(|t| &t.frames));
        for f in frames.flatten() {
            prop_assert!(f.vars.len() <= MAX_VARS + 1);
            prop_assert!(f.source.len() <= 2 * MAX_CONTEXT_LINES + 1);
        }
        if let Some(r) = &d.request {
            prop_assert!(r.headers.len() <= MAX_HEADERS && r.query.len() <= MAX_PAIRS);
        }
        match serde_json::to_value(d) {
            Ok(v) => prop_assert!(strings_bounded(&v)),
            Err(e) => prop_assert!(false, "the view does not serialize: {e}"),
        }
        Ok(())
    }

    /// A rich event touching every section, to mutate.
    fn rich_event() -> Value {
        json!({
            "event_id": "fff1050314a3433a823cfedec50f312f", "timestamp": "2026-03-01T12:00:10Z",
            "level": "error", "platform": "python", "message": "m %s",
            "logentry": {"message": "a %s %(x)s {}", "params": ["p"]},
            "exception": {"values": [
                {"type": "KeyError", "value": "k", "mechanism": {"source": "__context__", "exception_id": 2, "parent_id": 1}},
                {"type": "ValueError", "value": "v", "mechanism": {"source": "exceptions[0]", "exception_id": 1, "parent_id": 0},
                 "stacktrace": {"frames": [{"filename": "a.py", "lineno": 3, "pre_context": ["x"], "context_line": "y",
                     "post_context": ["z"], "vars": {"a": {"b": [1]}}, "in_app": true}]}},
                {"type": "ExceptionGroup", "value": "g", "thread_id": 1, "mechanism": {"exception_id": 0, "is_exception_group": true}}
            ]},
            "threads": [{"id": 1, "crashed": true, "stacktrace": {"frames": [{"function": "f"}]}}],
            "stacktrace": {"frames": [{"function": "top"}]},
            "breadcrumbs": {"values": [{"timestamp": 1772366400.5, "category": "c", "data": {"k": "v"}}]},
            "tags": {"a": "b"}, "fingerprint": ["f"],
            "request": {"url": "https://x.example/?a=1", "query_string": "a=1", "cookies": "s=1",
                        "headers": [["Cookie", "t=2"], ["Accept", "*/*"]], "data": {"d": 1}, "env": {"E": "1"}},
            "user": {"id": 1, "geo": {"city": "Lyon"}}, "contexts": {"os": {"name": "Linux"}},
            "sdk": {"name": "s", "version": "1"}, "modules": {"m": "1"}
        })
    }

    /// The JSON pointer of every value inside `v` (not `v` itself).
    fn pointers(v: &Value, at: &str, out: &mut Vec<String>) {
        let children: Vec<(String, &Value)> = match v {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, x)| (i.to_string(), x))
                .collect(),
            Value::Object(m) => m
                .iter()
                .map(|(k, x)| (k.replace('~', "~0").replace('/', "~1"), x))
                .collect(),
            _ => Vec::new(),
        };
        for (step, child) in children {
            let pointer = format!("{at}/{step}");
            pointers(child, &pointer, out);
            out.push(pointer);
        }
    }

    /// The rich event with one to three of its values (picked by path, at any
    /// depth) replaced by arbitrary values. A replacement inside a value an
    /// earlier one replaced is skipped.
    fn mutated_event() -> impl Strategy<Value = Value> {
        let mut paths = Vec::new();
        pointers(&rich_event(), "", &mut paths);
        prop::collection::vec((prop::sample::select(paths), any_value()), 1..4).prop_map(
            |replacements| {
                let mut event = rich_event();
                for (pointer, value) in replacements {
                    if let Some(slot) = event.pointer_mut(&pointer) {
                        *slot = value;
                    }
                }
                event
            },
        )
    }

    /// Bytes that are not (quite) JSON: JSON-ish characters, any bytes, and
    /// serialized values cut short or with one byte changed.
    fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
        let alphabet: &[u8] = b"{}[]\",:\\ 0123456789.-eEtrufalsn\"\x00\xff";
        prop_oneof![
            prop::collection::vec(prop::sample::select(alphabet), 0..200),
            prop::collection::vec(any::<u8>(), 0..200),
            (any_value(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
                let mut bytes = serde_json::to_vec(&v).unwrap_or_default();
                bytes.truncate(cut.index(bytes.len() + 1));
                bytes
            }),
            (any_value(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(v, at, byte)| {
                let mut bytes = serde_json::to_vec(&v).unwrap_or_default();
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
                bytes
            }),
        ]
    }

    #[test]
    fn the_rich_event_reads_without_problems() {
        let whole = details(rich_event());
        assert!(whole.problems.is_empty(), "{:?}", whole.problems);
        assert_eq!(whole.exceptions.len(), 3);
    }

    proptest! {
        // 256 cases each (debug builds run them in a few seconds); set
        // PROPTEST_CASES for a longer run.
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_json_value_builds_a_bounded_view(v in any_value(), key in prop::sample::select(KEYS)) {
            let bytes = serde_json::to_vec(&v)?;
            check_bounded(&event_details(&bytes))?;
            // The same as a field of an event, so the top level is an object.
            let mut event = serde_json::Map::new();
            event.insert(key.to_owned(), v);
            check_bounded(&details(Value::Object(event)))?;
        }

        #[test]
        fn a_mutated_event_builds_a_bounded_view(event in mutated_event()) {
            check_bounded(&details(event))?;
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in any_bytes()) {
            check_bounded(&event_details(&bytes))?;
        }
    }
}
