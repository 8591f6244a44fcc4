//! The tolerant error-event model.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::lenient::{
    FromMap, Key, LBool, LStr, LStrJson, LStrList, LU64, LValue, Obj, ObjList, Values,
    absent_otherwise, next, read_map,
};
use crate::types::{EventId, LEventId, LLevel, LTimestamp, Level, Timestamp};

/// An error event as an SDK sends it, read tolerantly.
///
/// The fields grouping and display need are typed; every other top-level key
/// is kept verbatim in [`Event::other`]. Reading never fails because of a
/// field's type: a wrong-typed optional field is `None` (or empty), numbers
/// sent as strings and strings sent as numbers are converted. Only input that
/// is not a JSON object fails ([`Event::from_slice`]).
///
/// The model is a *view*: nested unknown fields (inside frames, exceptions)
/// are not kept. Keep the original bytes when you need exactly what was sent.
///
/// Serializing an `Event` writes normalized Sentry JSON (`exception` as
/// `{"values": [...]}`, timestamps as RFC 3339, `logentry` as an object).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    /// `event_id`; `None` when missing or unreadable (the caller decides on one).
    pub event_id: Option<EventId>,
    /// `timestamp`.
    pub timestamp: Option<Timestamp>,
    /// `level`.
    pub level: Option<Level>,
    /// `platform` (`python`, `javascript`, ...).
    pub platform: Option<String>,
    /// `logger`.
    pub logger: Option<String>,
    /// From `logentry`, `sentry.interfaces.Message` or `message`, in that order of preference.
    pub logentry: Option<LogEntry>,
    /// `exception` values; the *last* entry is the primary (outermost) exception.
    pub exceptions: Vec<Exception>,
    /// `threads` values.
    pub threads: Vec<Thread>,
    /// Top-level `stacktrace` (sent by some SDKs for messages with a stack).
    pub stacktrace: Option<Stacktrace>,
    /// `fingerprint`: numbers and bools turned into strings, nulls dropped.
    pub fingerprint: Option<Vec<String>>,
    /// `tags` in the order sent; values turned into strings, null values dropped.
    pub tags: Vec<(String, String)>,
    /// `release`.
    pub release: Option<String>,
    /// `dist`.
    pub dist: Option<String>,
    /// `environment`.
    pub environment: Option<String>,
    /// `transaction` (the route or task name).
    pub transaction: Option<String>,
    /// `server_name`.
    pub server_name: Option<String>,
    /// `sdk`.
    pub sdk: Option<ClientSdk>,
    /// `user` (or `sentry.interfaces.User`), as sent.
    pub user: Option<Value>,
    /// `request` (or `sentry.interfaces.Http`), as sent.
    pub request: Option<Value>,
    /// `contexts`, as sent.
    pub contexts: Option<Value>,
    /// `extra`, as sent.
    pub extra: Option<Value>,
    /// `breadcrumbs` values, as sent.
    pub breadcrumbs: Vec<Value>,
    /// Every other top-level key, as sent (`modules`, `culprit`, `debug_meta`, ...).
    pub other: Map<String, Value>,
}

impl Event {
    /// Reads an event from its JSON text (the payload of an `event` item or a
    /// decoded store body).
    ///
    /// Fails only when the input is not valid JSON or not a JSON object (a
    /// leading UTF-8 byte-order mark is skipped). JSON nested deeper than 128
    /// levels is refused, as serde_json does, to bound stack use.
    pub fn from_slice(json: &[u8]) -> Result<Event, Error> {
        // Validating the whole text once is much faster than serde_json's
        // per-string validation; invalid UTF-8 falls back to `from_slice`,
        // which reports where.
        let json = json.strip_prefix(b"\xef\xbb\xbf").unwrap_or(json);
        let parsed = match std::str::from_utf8(json) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(json),
        };
        match parsed {
            Ok(event) => Ok(event),
            // Python's JSON encoder writes lone UTF-16 surrogates (`"\udc80"`, from
            // surrogate-escaped file names) that serde_json refuses; such an event is
            // still worth keeping, so they become U+FFFD and the event is parsed again.
            // (serde_json says "lone leading surrogate" or, for a high surrogate
            // followed by another escape, "unexpected end of hex escape").
            Err(e)
                if ["surrogate", "hex escape"]
                    .iter()
                    .any(|w| e.to_string().contains(w)) =>
            {
                serde_json::from_slice(&replace_lone_surrogates(json)).map_err(Error::InvalidEvent)
            }
            Err(e) => Err(Error::InvalidEvent(e)),
        }
    }

    /// The message: the formatted text, else the template.
    pub fn message(&self) -> Option<&str> {
        let e = self.logentry.as_ref()?;
        e.formatted.as_deref().or(e.message.as_deref())
    }

    /// The primary exception: the last entry (Sentry lists chained exceptions
    /// innermost first).
    pub fn primary_exception(&self) -> Option<&Exception> {
        self.exceptions.last()
    }

    /// The value of the first tag named `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A log message: `logentry` / `message`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LogEntry {
    /// The template (`"Error during cleanup of %s"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The formatted text; a bare string `message` lands here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// Template parameters (an object's values, in order, when sent as an object).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Value>,
}

/// An exception in the `exception` interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Exception {
    /// `type` (`ValueError`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    /// `value` (the message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `module`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// `mechanism`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<Mechanism>,
    /// `stacktrace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stacktrace: Option<Stacktrace>,
    /// `thread_id`, as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
}

/// How an exception was caught.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Mechanism {
    /// `type` (`generic`, `onerror`, `chained`, ...).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    /// `handled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled: Option<bool>,
    /// `synthetic`: the type/value were made up by the SDK, not the program.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub synthetic: bool,
    /// `exception_id` (exception groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception_id: Option<u64>,
    /// `parent_id` (exception groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<u64>,
    /// `is_exception_group`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_exception_group: bool,
    /// `source` (`__context__`, `errors[0]`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A stack trace.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stacktrace {
    /// Frames, oldest call first, crash frame last. `null` entries are skipped.
    pub frames: Vec<Frame>,
}

/// One stack frame.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Frame {
    /// `filename` (relative, as shown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// `abs_path` (absolute path or URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abs_path: Option<String>,
    /// `function`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// `raw_function` (the unsimplified/mangled name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_function: Option<String>,
    /// `symbol` (native frames: the mangled symbol).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// `module`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// `package` (binary or library).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// `platform`, when it differs from the event's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `lineno`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lineno: Option<u64>,
    /// `colno`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colno: Option<u64>,
    /// `in_app`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_app: Option<bool>,
    /// `context_line`: the source line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_line: Option<String>,
    /// `pre_context`: source lines before (`null` lines become `""`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pre_context: Vec<String>,
    /// `post_context`: source lines after.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_context: Vec<String>,
    /// `vars`: local variables, as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vars: Option<Value>,
    /// `instruction_addr` (native frames), as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction_addr: Option<String>,
}

/// A thread in the `threads` interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Thread {
    /// `id`, as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `crashed`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub crashed: bool,
    /// `current`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub current: bool,
    /// `stacktrace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stacktrace: Option<Stacktrace>,
}

/// The `sdk` that sent the event.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClientSdk {
    /// `name` (`sentry.python`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Every other key (`integrations`, `packages`, ...), as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

// ---- reading -----------------------------------------------------------------

/// Builds an [`Event`], remembering which message key won.
#[derive(Default)]
struct EventBuilder {
    event: Event,
    /// 0 none, 1 `message`, 2 `sentry.interfaces.Message`, 3 `logentry`.
    logentry_rank: u8,
}

impl FromMap for EventBuilder {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        let e = &mut self.event;
        match key {
            "event_id" => e.event_id = next!(map, LEventId),
            "timestamp" => e.timestamp = next!(map, LTimestamp),
            "level" => e.level = next!(map, LLevel),
            "platform" => e.platform = next!(map, LStr),
            "logger" => e.logger = next!(map, LStr),
            "logentry" | "sentry.interfaces.Message" | "message" => {
                let rank = match key {
                    "logentry" => 3,
                    "message" => 1,
                    _ => 2,
                };
                if let Some(m) = next!(map, LLogEntry)
                    && rank >= self.logentry_rank
                {
                    e.logentry = Some(m);
                    self.logentry_rank = rank;
                }
            }
            "exception" | "sentry.interfaces.Exception" => {
                e.exceptions = next!(map, Values<Exception>)
            }
            "threads" | "sentry.interfaces.Threads" => e.threads = next!(map, Values<Thread>),
            "stacktrace" | "sentry.interfaces.Stacktrace" => e.stacktrace = next!(map, LStacktrace),
            "fingerprint" => e.fingerprint = next!(map, LFingerprint),
            "tags" => e.tags = next!(map, LTags),
            "release" => e.release = next!(map, LStr),
            "dist" => e.dist = next!(map, LStr),
            "environment" => e.environment = next!(map, LStr),
            "transaction" => e.transaction = next!(map, LStr),
            "server_name" => e.server_name = next!(map, LStr),
            "sdk" => e.sdk = next!(map, Obj<ClientSdk>),
            "user" | "sentry.interfaces.User" => e.user = next!(map, LValue),
            "request" | "sentry.interfaces.Http" => e.request = next!(map, LValue),
            "contexts" => e.contexts = next!(map, LValue),
            "extra" => e.extra = next!(map, LValue),
            "breadcrumbs" | "sentry.interfaces.Breadcrumbs" => {
                e.breadcrumbs = next!(map, LBreadcrumbs)
            }
            other => {
                let v: Value = map.next_value()?;
                e.other.insert(other.to_owned(), v);
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Event;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Event, A::Error> {
                Ok(read_map::<EventBuilder, A>(map)?.event)
            }
        }
        d.deserialize_map(V)
    }
}

impl FromMap for Exception {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "type" => self.ty = next!(map, LStr),
            "value" => self.value = next!(map, LStrJson),
            "module" => self.module = next!(map, LStr),
            "mechanism" => self.mechanism = next!(map, Obj<Mechanism>),
            "stacktrace" => self.stacktrace = next!(map, LStacktrace),
            "thread_id" => self.thread_id = next!(map, LStr),
            _ => {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Option<Self> {
        let no_type = self.ty.as_deref().is_none_or(str::is_empty);
        if no_type && let Some((ty, value)) = self.value.as_deref().and_then(split_type_value) {
            let (ty, value) = (ty.to_owned(), value.to_owned());
            self.ty = Some(ty);
            self.value = Some(value);
        }
        let no_type = self.ty.as_deref().is_none_or(str::is_empty);
        let no_value = self.value.as_deref().is_none_or(str::is_empty);
        if no_type && no_value {
            None
        } else {
            Some(self)
        }
    }
}

/// `"ValueError: boom"` → `("ValueError", "boom")` when the part before the
/// first `": "` looks like a type name (`Foo::Bar`, `a.b.Error`, no spaces).
fn split_type_value(v: &str) -> Option<(&str, &str)> {
    let (ty, value) = v.split_once(": ")?;
    let looks_like_type = !ty.is_empty()
        && ty.len() <= 128
        && ty
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '$' | '\\' | ':'))
        && !ty.starts_with(|c: char| c.is_ascii_digit());
    looks_like_type.then(|| (ty, value.trim_start()))
}

impl FromMap for Mechanism {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "type" => self.ty = next!(map, LStr),
            "handled" => self.handled = next!(map, LBool),
            "synthetic" => self.synthetic = next!(map, LBool).unwrap_or(false),
            "exception_id" => self.exception_id = next!(map, LU64),
            "parent_id" => self.parent_id = next!(map, LU64),
            "is_exception_group" => self.is_exception_group = next!(map, LBool).unwrap_or(false),
            "source" => self.source = next!(map, LStr),
            _ => {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl FromMap for Stacktrace {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "frames" => self.frames = next!(map, ObjList<Frame>),
            _ => {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// A stack trace from an object, or from a bare list of frames.
#[derive(Default)]
struct LStacktrace(Option<Stacktrace>);

impl<'de> Deserialize<'de> for LStacktrace {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LStacktrace;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LStacktrace, A::Error> {
                Ok(LStacktrace(Some(read_map(map)?)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<LStacktrace, A::Error> {
                let frames =
                    ObjList::<Frame>::deserialize(de::value::SeqAccessDeserializer::new(seq))?.0;
                Ok(LStacktrace(Some(Stacktrace { frames })))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LStacktrace, D::Error> {
                d.deserialize_any(self)
            }
            absent_otherwise!(scalars);
            absent_otherwise!(null);
        }
        d.deserialize_any(V)
    }
}

impl FromMap for Frame {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "filename" => self.filename = next!(map, LStr),
            "abs_path" => self.abs_path = next!(map, LStr),
            "function" => self.function = next!(map, LStr),
            "raw_function" => self.raw_function = next!(map, LStr),
            "symbol" => self.symbol = next!(map, LStr),
            "module" => self.module = next!(map, LStr),
            "package" => self.package = next!(map, LStr),
            "platform" => self.platform = next!(map, LStr),
            "lineno" => self.lineno = next!(map, LU64),
            "colno" => self.colno = next!(map, LU64),
            "in_app" => self.in_app = next!(map, LBool),
            "context_line" => self.context_line = next!(map, LStr),
            "pre_context" => self.pre_context = next!(map, LStrList<true>),
            "post_context" => self.post_context = next!(map, LStrList<true>),
            "vars" => self.vars = next!(map, LValue),
            "instruction_addr" => self.instruction_addr = next!(map, LStr),
            _ => {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl FromMap for Thread {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "id" => self.id = next!(map, LStr),
            "name" => self.name = next!(map, LStr),
            "crashed" => self.crashed = next!(map, LBool).unwrap_or(false),
            "current" => self.current = next!(map, LBool).unwrap_or(false),
            "stacktrace" => self.stacktrace = next!(map, LStacktrace),
            _ => {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl FromMap for ClientSdk {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "name" => self.name = next!(map, LStr),
            "version" => self.version = next!(map, LStr),
            other => {
                let v: Value = map.next_value()?;
                self.other.insert(other.to_owned(), v);
            }
        }
        Ok(())
    }
}

impl FromMap for LogEntry {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "message" => self.message = next!(map, LStrJson),
            "formatted" => self.formatted = next!(map, LStrJson),
            "params" => {
                self.params = match map.next_value::<Value>()? {
                    Value::Array(a) => a,
                    Value::Object(o) => o.into_iter().map(|(_, v)| v).collect(),
                    Value::Null => Vec::new(),
                    v => vec![v],
                }
            }
            _ => {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Option<Self> {
        (self.message.is_some() || self.formatted.is_some()).then_some(self)
    }
}

/// A log entry from an object or a bare string (= formatted).
#[derive(Default)]
struct LLogEntry(Option<LogEntry>);

impl<'de> Deserialize<'de> for LLogEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LLogEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LLogEntry, A::Error> {
                Ok(LLogEntry(read_map::<LogEntry, A>(map)?.finish()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LLogEntry, E> {
                Ok(LLogEntry(Some(LogEntry {
                    formatted: Some(v.to_owned()),
                    ..LogEntry::default()
                })))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<LLogEntry, E> {
                Ok(LLogEntry(Some(LogEntry {
                    formatted: Some(v),
                    ..LogEntry::default()
                })))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LLogEntry, E> {
                self.visit_string(v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LLogEntry, E> {
                self.visit_string(v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LLogEntry, E> {
                self.visit_string(crate::lenient::float_to_string(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LLogEntry, E> {
                self.visit_string(v.to_string())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LLogEntry, D::Error> {
                d.deserialize_any(self)
            }
            absent_otherwise!(null);
            absent_otherwise!(seq);
        }
        d.deserialize_any(V)
    }
}

/// A fingerprint list; anything but a list is `None`.
#[derive(Default)]
struct LFingerprint(Option<Vec<String>>);

impl<'de> Deserialize<'de> for LFingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LFingerprint;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<LFingerprint, A::Error> {
                let list =
                    LStrList::<false>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(LFingerprint(Some(list.0)))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LFingerprint, D::Error> {
                d.deserialize_any(self)
            }
            absent_otherwise!(scalars);
            absent_otherwise!(null);
            absent_otherwise!(map);
        }
        d.deserialize_any(V)
    }
}

/// Tags from an object or a list of `[key, value]` pairs.
#[derive(Default)]
struct LTags(Vec<(String, String)>);

impl<'de> Deserialize<'de> for LTags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LTags;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LTags, A::Error> {
                let mut out = Vec::new();
                while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                    if let Some(v) = next!(map, LStr) {
                        out.push((k.into_owned(), v));
                    }
                }
                Ok(LTags(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LTags, A::Error> {
                let mut out = Vec::new();
                while let Some(pair) = seq.next_element::<LStrList<false>>()? {
                    if let Ok([k, v]) = <[String; 2]>::try_from(pair.0)
                        && !k.is_empty()
                    {
                        out.push((k, v));
                    }
                }
                Ok(LTags(out))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LTags, D::Error> {
                d.deserialize_any(self)
            }
            absent_otherwise!(scalars);
            absent_otherwise!(null);
        }
        d.deserialize_any(V)
    }
}

/// Breadcrumbs: `{"values": [..]}`, a bare list, or one object.
#[derive(Default)]
struct LBreadcrumbs(Vec<Value>);

impl<'de> Deserialize<'de> for LBreadcrumbs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = match Value::deserialize(d)? {
            Value::Array(a) => a,
            Value::Object(mut o) => match o.remove("values") {
                Some(Value::Array(a)) => a,
                Some(_) => Vec::new(),
                None if o.is_empty() => Vec::new(),
                None => vec![Value::Object(o)],
            },
            _ => Vec::new(),
        };
        Ok(LBreadcrumbs(
            list.into_iter().filter(|v| !v.is_null()).collect(),
        ))
    }
}

// ---- writing -----------------------------------------------------------------

struct ValuesOf<'a, T>(&'a [T]);

impl<T: Serialize> Serialize for ValuesOf<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Values", 1)?;
        st.serialize_field("values", self.0)?;
        st.end()
    }
}

struct TagList<'a>(&'a [(String, String)]);

impl Serialize for TagList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(k, v)| [k, v]))
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        macro_rules! opt {
            ($key:literal, $v:expr) => {
                if let Some(v) = &$v {
                    m.serialize_entry($key, v)?;
                }
            };
        }
        opt!("event_id", self.event_id);
        opt!("timestamp", self.timestamp);
        opt!("level", self.level);
        opt!("platform", self.platform);
        opt!("logger", self.logger);
        opt!("logentry", self.logentry);
        if !self.exceptions.is_empty() {
            m.serialize_entry("exception", &ValuesOf(&self.exceptions))?;
        }
        if !self.threads.is_empty() {
            m.serialize_entry("threads", &ValuesOf(&self.threads))?;
        }
        opt!("stacktrace", self.stacktrace);
        opt!("fingerprint", self.fingerprint);
        if !self.tags.is_empty() {
            m.serialize_entry("tags", &TagList(&self.tags))?;
        }
        opt!("release", self.release);
        opt!("dist", self.dist);
        opt!("environment", self.environment);
        opt!("transaction", self.transaction);
        opt!("server_name", self.server_name);
        opt!("sdk", self.sdk);
        opt!("user", self.user);
        opt!("request", self.request);
        opt!("contexts", self.contexts);
        opt!("extra", self.extra);
        if !self.breadcrumbs.is_empty() {
            m.serialize_entry("breadcrumbs", &ValuesOf(&self.breadcrumbs))?;
        }
        for (k, v) in &self.other {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Rewrites every `\uXXXX` escape of a lone UTF-16 surrogate (one not forming a
/// high+low pair) as `\ufffd`; everything else is copied as is. Escapes are only
/// recognised after an unescaped backslash, so `\\ud800` (a literal backslash)
/// stays untouched.
fn replace_lone_surrogates(json: &[u8]) -> Vec<u8> {
    fn escape_at(json: &[u8], i: usize) -> Option<u16> {
        let hex = json.get(i..i + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()
    }
    let is_high = |u: u16| (0xD800..0xDC00).contains(&u);
    let is_low = |u: u16| (0xDC00..0xE000).contains(&u);
    let mut out = Vec::with_capacity(json.len());
    let mut i = 0;
    while i < json.len() {
        if json[i] != b'\\' {
            out.push(json[i]);
            i += 1;
            continue;
        }
        match escape_at(json, i) {
            Some(u) if is_high(u) && escape_at(json, i + 6).is_some_and(is_low) => {
                out.extend_from_slice(&json[i..i + 12]);
                i += 12;
            }
            Some(u) if is_high(u) || is_low(u) => {
                out.extend_from_slice(b"\\ufffd");
                i += 6;
            }
            _ => {
                // Any other escape: copy the backslash and the escaped character.
                out.extend_from_slice(&json[i..(i + 2).min(json.len())]);
                i += 2;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let e = Event::from_slice(
            br#"{"message": "open /tmp/\udc80x failed", "tags": {"pair": "\ud83d\ude00", "lit": "\\ud800"}}"#,
        )
        .unwrap();
        assert_eq!(e.message(), Some("open /tmp/\u{fffd}x failed"));
        assert_eq!(e.tag("pair"), Some("\u{1f600}"));
        assert_eq!(e.tag("lit"), Some("\\ud800"));
        // A high surrogate at the very end, and one followed by a non-low escape.
        let e = Event::from_slice(br#"{"message": "a\ud800\n\ud800"}"#).unwrap();
        assert_eq!(e.message(), Some("a\u{fffd}\n\u{fffd}"));
        // Other errors stay errors.
        assert!(Event::from_slice(br#"{"message": "\uZZZZ"}"#).is_err());
    }

    fn ev(json: &str) -> Event {
        Event::from_slice(json.as_bytes()).unwrap()
    }

    #[test]
    fn not_an_object_fails() {
        assert!(matches!(
            Event::from_slice(b"[1]"),
            Err(Error::InvalidEvent(_))
        ));
        assert!(matches!(
            Event::from_slice(b"{\"a\":"),
            Err(Error::InvalidEvent(_))
        ));
        assert!(Event::from_slice(b"\"x\"").is_err());
        assert_eq!(ev("{}"), Event::default());
    }

    #[test]
    fn exception_shapes() {
        let values = ev(r#"{"exception":{"values":[{"type":"A","value":"x"}]}}"#);
        let list = ev(r#"{"exception":[{"type":"A","value":"x"}]}"#);
        let single = ev(r#"{"exception":{"type":"A","value":"x"}}"#);
        let legacy = ev(r#"{"sentry.interfaces.Exception":{"values":[{"type":"A","value":"x"}]}}"#);
        assert_eq!(values.exceptions.len(), 1);
        assert_eq!(values, list);
        assert_eq!(values, single);
        assert_eq!(values, legacy);
        assert!(ev(r#"{"exception":{}}"#).exceptions.is_empty());
        assert!(ev(r#"{"exception":"nope"}"#).exceptions.is_empty());
        assert!(ev(r#"{"exception":{"values":null}}"#).exceptions.is_empty());
        assert_eq!(
            ev(r#"{"exception":{"values":{"type":"A","value":"x"}}}"#),
            values
        );
        let one_frame = ev(r#"{"stacktrace":{"frames":{"function":"f"}}}"#);
        assert_eq!(one_frame.stacktrace.unwrap().frames.len(), 1);
        let dropped = ev(r#"{"exception":[{"module":"m"},null,3,{"value":"v"}]}"#);
        assert_eq!(dropped.exceptions.len(), 1);
        let split = ev(r#"{"exception":[{"type":"","value":"ValueError: boom"}]}"#);
        assert_eq!(split.exceptions[0].ty.as_deref(), Some("ValueError"));
        assert_eq!(split.exceptions[0].value.as_deref(), Some("boom"));
        let no_split = ev(r#"{"exception":[{"value":"it failed: boom"}]}"#);
        assert_eq!(no_split.exceptions[0].ty, None);
        let url = ev(r#"{"exception":[{"value":"http://example.com: down"}]}"#);
        assert_eq!(url.exceptions[0].ty, None);
        let ruby = ev(r#"{"exception":[{"type":null,"value":"Foo::Bar: x: y"}]}"#);
        assert_eq!(ruby.exceptions[0].ty.as_deref(), Some("Foo::Bar"));
        assert_eq!(ruby.exceptions[0].value.as_deref(), Some("x: y"));
    }

    #[test]
    fn mechanism_and_frames() {
        let e = ev(r#"{"exception":{"values":[{"type":"E","thread_id":69,
            "mechanism":{"type":"generic","handled":"false","synthetic":true,"exception_id":"3","parent_id":1.0,"is_exception_group":1},
            "stacktrace":{"frames":[null,{"filename":"a.py","lineno":"12","colno":3.0,"in_app":"true",
              "pre_context":["a",null],"vars":{"x":1}}, "junk"]}}]}}"#);
        let x = &e.exceptions[0];
        assert_eq!(x.thread_id.as_deref(), Some("69"));
        let m = x.mechanism.as_ref().unwrap();
        assert_eq!(m.handled, Some(false));
        assert!(m.synthetic && m.is_exception_group);
        assert_eq!((m.exception_id, m.parent_id), (Some(3), Some(1)));
        let frames = &x.stacktrace.as_ref().unwrap().frames;
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].lineno, Some(12));
        assert_eq!(frames[0].colno, Some(3));
        assert_eq!(frames[0].in_app, Some(true));
        assert_eq!(frames[0].pre_context, vec!["a".to_owned(), String::new()]);
        assert!(frames[0].vars.is_some());
        let null_frames = ev(r#"{"exception":[{"type":"E","stacktrace":{"frames":null}}]}"#);
        assert_eq!(
            null_frames.exceptions[0].stacktrace,
            Some(Stacktrace::default())
        );
    }

    #[test]
    fn messages() {
        assert_eq!(ev(r#"{"message":"hi"}"#).message(), Some("hi"));
        assert_eq!(ev(r#"{"logentry":"hi"}"#).message(), Some("hi"));
        assert_eq!(
            ev(r#"{"message":{"message":"a %s","params":["b"]}}"#).message(),
            Some("a %s")
        );
        let both = ev(r#"{"logentry":{"formatted":"x"},"message":"y"}"#);
        assert_eq!(both.message(), Some("x"));
        assert!(both.other.is_empty());
        let both_rev = ev(r#"{"message":"y","logentry":{"formatted":"x"}}"#);
        assert_eq!(both_rev.message(), Some("x"));
        let dict = ev(r#"{"logentry":{"message":"%(a)s","params":{"a":1,"b":2}}}"#);
        assert_eq!(
            dict.logentry.unwrap().params,
            vec![Value::from(1), Value::from(2)]
        );
        assert_eq!(ev(r#"{"message":null}"#).logentry, None);
        assert_eq!(
            ev(r#"{"sentry.interfaces.Message":{"message":"m"}}"#).message(),
            Some("m")
        );
    }

    #[test]
    fn scalars_tolerated() {
        let e = ev(
            r#"{"event_id":"nope","timestamp":1739457265.5,"level":"warn","platform":3,
            "release":null,"environment":true,"fingerprint":["a",1,null,true,{"x":1}],
            "tags":{"a":1,"b":null,"c":"d"},"user":{"id":5},"modules":{"x":"1"},"sdk":"bad"}"#,
        );
        assert_eq!(e.event_id, None);
        assert!(e.timestamp.is_some());
        assert_eq!(e.level, Some(Level::Warning));
        assert_eq!(e.platform.as_deref(), Some("3"));
        assert_eq!(e.release, None);
        assert_eq!(e.environment.as_deref(), Some("true"));
        assert_eq!(
            e.fingerprint,
            Some(vec!["a".into(), "1".into(), "true".into()])
        );
        assert_eq!(
            e.tags,
            vec![("a".into(), "1".into()), ("c".into(), "d".into())]
        );
        assert_eq!(e.tag("c"), Some("d"));
        assert!(e.user.is_some());
        assert!(e.other.contains_key("modules"));
        assert_eq!(e.sdk, None);
        let tag_list = ev(r#"{"tags":[["a","b"],["c",2],["bad"],null]}"#);
        assert_eq!(tag_list.tags.len(), 2);
    }

    #[test]
    fn threads_and_breadcrumbs() {
        let e = ev(
            r#"{"threads":{"values":[{"id":1,"crashed":true,"stacktrace":{"frames":[{"function":"f"}]}}]},
            "breadcrumbs":[{"message":"a"},null]}"#,
        );
        assert_eq!(e.threads[0].id.as_deref(), Some("1"));
        assert!(e.threads[0].crashed);
        assert_eq!(e.breadcrumbs.len(), 1);
        let single = ev(r#"{"breadcrumbs":{"message":"a"}}"#);
        assert_eq!(single.breadcrumbs.len(), 1);
        let wrapped = ev(r#"{"breadcrumbs":{"values":[{"message":"a"},{"message":"b"}]}}"#);
        assert_eq!(wrapped.breadcrumbs.len(), 2);
    }

    #[test]
    fn serialize_round_trips() {
        let e = ev(
            r#"{"event_id":"fff1050314a3433a823cfedec50f312f","timestamp":"2025-02-13T14:34:25.718Z",
            "level":"error","message":"m","exception":[{"type":"E","value":"v","mechanism":{"type":"generic"},
            "stacktrace":{"frames":[{"function":"f","lineno":1}]}}],"tags":[["a","b"]],"fingerprint":["x"],
            "sdk":{"name":"s","version":"1","integrations":["a"]},"breadcrumbs":[{"m":1}],"culprit":"c"}"#,
        );
        let text = serde_json::to_vec(&e).unwrap();
        assert_eq!(Event::from_slice(&text).unwrap(), e);
    }
}
