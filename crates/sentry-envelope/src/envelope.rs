//! Envelopes: parsing and writing.

use std::fmt;
use std::io::{self, Write};

use bytes::Bytes;
use serde::de::Deserialize;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::category::DataCategory;
use crate::error::{Error, clip};
use crate::event::{ClientSdk, Event};
use crate::lenient::Obj;
use crate::types::{EventId, Timestamp};

/// Limits applied while parsing an envelope.
///
/// They are parameters, not constants, so each deployment chooses. The
/// defaults suit a small self-hosted server: far below Sentry's 200 MiB per
/// envelope, because Periscope keeps error events and counts the rest, and a
/// body is held in memory while it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Most items in one envelope (default 1000).
    pub max_items: usize,
    /// Largest payload of one item, in bytes (default 50 MiB).
    pub max_item_size: usize,
    /// Longest header line (envelope or item), in bytes (default 64 KiB).
    pub max_header_size: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_items: 1000,
            max_item_size: 50 << 20,
            max_header_size: 64 << 10,
        }
    }
}

/// A parsed envelope: headers and items, payloads sharing the body's memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Envelope {
    /// The first line.
    pub headers: EnvelopeHeaders,
    /// The items, in order.
    pub items: Vec<Item>,
}

/// The envelope header line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvelopeHeaders {
    /// `event_id`; when present it wins over the event payload's.
    pub event_id: Option<EventId>,
    /// `dsn`, as sent (see [`crate::Auth::from_dsn`]).
    pub dsn: Option<String>,
    /// `sdk`.
    pub sdk: Option<ClientSdk>,
    /// `sent_at`: the SDK's clock when sending (for clock-drift correction).
    pub sent_at: Option<Timestamp>,
    /// `trace`: the dynamic sampling context, as sent.
    pub trace: Option<Value>,
    /// Every other field, as sent; also fields of the known names whose type
    /// was unexpected (a `sent_at` that is not a time, say), so nothing is lost.
    pub other: Map<String, Value>,
}

/// One item: its headers and its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The item header line.
    pub headers: ItemHeaders,
    /// The payload. When parsed with [`Envelope::parse`] it is a slice of the
    /// body (no copy).
    pub payload: Bytes,
}

impl Item {
    /// An item of the given type with no other headers.
    pub fn new(ty: ItemType, payload: impl Into<Bytes>) -> Item {
        Item {
            headers: ItemHeaders::new(ty),
            payload: payload.into(),
        }
    }

    /// The item type.
    pub fn ty(&self) -> &ItemType {
        &self.headers.ty
    }
}

/// An item header line. `length` is not kept: it is the payload's length.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemHeaders {
    /// `type`.
    pub ty: ItemType,
    /// `content_type`.
    pub content_type: Option<String>,
    /// `filename` (attachments).
    pub filename: Option<String>,
    /// `attachment_type` (`event.attachment`, `event.minidump`, `event.payload`, ...).
    pub attachment_type: Option<String>,
    /// `item_count` (logs, spans).
    pub item_count: Option<u64>,
    /// Every other field, as sent (and known fields of an unexpected type).
    pub other: Map<String, Value>,
}

impl ItemHeaders {
    /// Headers with only a type.
    pub fn new(ty: ItemType) -> ItemHeaders {
        ItemHeaders {
            ty,
            content_type: None,
            filename: None,
            attachment_type: None,
            item_count: None,
            other: Map::new(),
        }
    }
}

macro_rules! item_types {
    ($($variant:ident => $name:literal, $category:expr;)*) => {
        /// The type of an envelope item.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ItemType {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
            /// Any other type, kept as sent; servers skip these.
            Unknown(String),
        }

        impl ItemType {
            /// Every type this crate knows by name, in the order of the table
            /// below (a bounded set: e.g. one metric label each).
            pub const KNOWN: &'static [ItemType] = &[$(ItemType::$variant,)*];

            /// Reads a type name; unknown names are [`ItemType::Unknown`].
            pub fn parse(s: &str) -> ItemType {
                match s {
                    $($name => ItemType::$variant,)*
                    other => ItemType::Unknown(other.to_owned()),
                }
            }

            /// The wire name: what items are counted by.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ItemType::$variant => $name,)*
                    ItemType::Unknown(s) => s,
                }
            }

            /// The data category the item is rate-limited by (`error`,
            /// `transaction`, `attachment`, `session`, `monitor`, ...), or `None`
            /// for items that are never rate-limited: client reports (Sentry
            /// never rate-limits them), metrics (`statsd`, `metric_buckets`,
            /// which Sentry no longer accepts), form data (part of an event
            /// submission) and unknown types.
            ///
            /// This is the one table from item types to categories. An `event`
            /// is `error`; a server may count a message-only event as `default`
            /// instead, which needs the payload. A legacy `user_report` counts
            /// as `feedback`, like the newer `feedback` item.
            pub fn data_category(&self) -> Option<DataCategory> {
                match self {
                    $(ItemType::$variant => $category,)*
                    ItemType::Unknown(_) => None,
                }
            }
        }
    };
}

item_types! {
    Event => "event", Some(DataCategory::Error);
    Transaction => "transaction", Some(DataCategory::Transaction);
    Attachment => "attachment", Some(DataCategory::Attachment);
    Session => "session", Some(DataCategory::Session);
    Sessions => "sessions", Some(DataCategory::Session);
    ClientReport => "client_report", None;
    UserReport => "user_report", Some(DataCategory::Feedback);
    Feedback => "feedback", Some(DataCategory::Feedback);
    CheckIn => "check_in", Some(DataCategory::Monitor);
    Profile => "profile", Some(DataCategory::Profile);
    ProfileChunk => "profile_chunk", Some(DataCategory::ProfileChunk);
    ReplayEvent => "replay_event", Some(DataCategory::Replay);
    ReplayRecording => "replay_recording", Some(DataCategory::Replay);
    ReplayVideo => "replay_video", Some(DataCategory::Replay);
    Security => "security", Some(DataCategory::Security);
    RawSecurity => "raw_security", Some(DataCategory::Security);
    Nel => "nel", Some(DataCategory::Security);
    FormData => "form_data", None;
    UnrealReport => "unreal_report", Some(DataCategory::Error);
    Statsd => "statsd", None;
    MetricBuckets => "metric_buckets", None;
    Log => "log", Some(DataCategory::LogItem);
    Span => "span", Some(DataCategory::Span);
    OtelSpan => "otel_span", Some(DataCategory::Span);
    OtelLog => "otel_log", Some(DataCategory::LogItem);
    TraceMetric => "trace_metric", Some(DataCategory::TraceMetric);
}

impl ItemType {
    /// Whether this type is `event` or `transaction` (at most one per envelope).
    pub fn is_event_like(&self) -> bool {
        matches!(self, ItemType::Event | ItemType::Transaction)
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ItemType {
    fn from(s: &str) -> Self {
        ItemType::parse(s)
    }
}

// ---- parsing -------------------------------------------------------------------

/// The end of the line starting at `from`: the index of the next `\n`, or the length.
fn line_end(data: &[u8], from: usize) -> usize {
    data[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(data.len(), |i| from + i)
}

impl Envelope {
    /// Parses an envelope; payloads are slices of `body` (no copy).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use periscope_sentry_envelope::{Envelope, ItemType, ParseLimits};
    ///
    /// let body = Bytes::from_static(b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n\
    ///     {\"type\":\"event\",\"length\":2}\n{}\n\
    ///     {\"type\":\"attachment\"}\nhello\n");
    /// let envelope = Envelope::parse(body, &ParseLimits::default()).unwrap();
    /// assert_eq!(envelope.items.len(), 2);
    /// assert_eq!(envelope.items[1].ty(), &ItemType::Attachment);
    /// assert_eq!(&envelope.items[1].payload[..], b"hello");
    /// ```
    pub fn parse(body: Bytes, limits: &ParseLimits) -> Result<Envelope, Error> {
        let data: &[u8] = &body;
        if data.is_empty() {
            return Err(Error::EmptyBody);
        }
        let end = line_end(data, 0);
        if end > limits.max_header_size {
            return Err(Error::HeaderTooLong {
                what: "envelope header".to_owned(),
                max: limits.max_header_size,
            });
        }
        let headers = EnvelopeHeaders::from_json(&data[..end])?;
        let mut pos = (end + 1).min(data.len());
        let mut items = Vec::new();
        let mut event_like: Option<usize> = None;
        loop {
            // Blank lines between items are tolerated (a header starts with `{`).
            while pos < data.len() && data[pos].is_ascii_whitespace() {
                pos += 1;
            }
            if pos >= data.len() {
                break;
            }
            let index = items.len();
            if index >= limits.max_items {
                return Err(Error::TooManyItems {
                    max: limits.max_items,
                });
            }
            let end = line_end(data, pos);
            if end - pos > limits.max_header_size {
                return Err(Error::HeaderTooLong {
                    what: format!("item {index}"),
                    max: limits.max_header_size,
                });
            }
            let (headers, length) = ItemHeaders::from_json(&data[pos..end], index)?;
            pos = (end + 1).min(data.len());
            let payload = match length {
                Some(length) => {
                    let left = data.len() - pos;
                    if length > limits.max_item_size as u64 {
                        return Err(Error::ItemTooLarge {
                            index,
                            size: usize::try_from(length).unwrap_or(usize::MAX),
                            max: limits.max_item_size,
                        });
                    }
                    // Fits in usize: it is at most max_item_size.
                    let len = length as usize;
                    if len > left {
                        return Err(Error::ItemLengthPastEnd {
                            index,
                            length,
                            left,
                        });
                    }
                    let payload = body.slice(pos..pos + len);
                    pos += len;
                    if pos < data.len() {
                        if data[pos] != b'\n' {
                            return Err(Error::MissingNewlineAfterPayload {
                                index,
                                length,
                                found: data[pos],
                            });
                        }
                        pos += 1;
                    }
                    payload
                }
                None => {
                    let end = line_end(data, pos);
                    if end - pos > limits.max_item_size {
                        return Err(Error::ItemTooLarge {
                            index,
                            size: end - pos,
                            max: limits.max_item_size,
                        });
                    }
                    let payload = body.slice(pos..end);
                    pos = (end + 1).min(data.len());
                    payload
                }
            };
            if headers.ty.is_event_like() {
                if let Some(first) = event_like {
                    return Err(Error::DuplicateEventItem {
                        first,
                        second: index,
                    });
                }
                event_like = Some(index);
            }
            items.push(Item { headers, payload });
        }
        Ok(Envelope { headers, items })
    }

    /// Parses an envelope from a borrowed slice (copies the body once).
    pub fn parse_slice(body: &[u8], limits: &ParseLimits) -> Result<Envelope, Error> {
        Envelope::parse(Bytes::copy_from_slice(body), limits)
    }

    /// Writes the envelope: every item gets a `length`, so any payload
    /// (newlines, binary) survives; ends with a newline.
    pub fn write_to<W: Write>(&self, mut w: W) -> io::Result<()> {
        serde_json::to_writer(&mut w, &self.headers)?;
        w.write_all(b"\n")?;
        for item in &self.items {
            serde_json::to_writer(
                &mut w,
                &ItemHeadersOut {
                    headers: &item.headers,
                    length: item.payload.len(),
                },
            )?;
            w.write_all(b"\n")?;
            w.write_all(&item.payload)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    }

    /// The envelope as bytes (see [`Envelope::write_to`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let size = 256
            + self
                .items
                .iter()
                .map(|i| i.payload.len() + 64)
                .sum::<usize>();
        let mut out = Vec::with_capacity(size);
        // Writing to a Vec cannot fail, and serializing these types cannot either.
        let _ = self.write_to(&mut out);
        out
    }

    /// The `event` item, if any (there is at most one).
    ///
    /// Other items that make an error event (`security`, `raw_security`, an
    /// `attachment` of type `event.payload`) need converting by the caller.
    pub fn event_item(&self) -> Option<&Item> {
        self.items.iter().find(|i| i.headers.ty == ItemType::Event)
    }

    /// The `transaction` item, if any.
    pub fn transaction_item(&self) -> Option<&Item> {
        self.items
            .iter()
            .find(|i| i.headers.ty == ItemType::Transaction)
    }

    /// Parses the `event` item into an [`Event`], with the envelope header's
    /// `event_id` winning over the payload's. `None` without an event item.
    pub fn parse_event(&self) -> Option<Result<Event, Error>> {
        let item = self.event_item()?;
        Some(Event::from_slice(&item.payload).map(|mut event| {
            if let Some(id) = self.headers.event_id {
                event.event_id = Some(id);
            }
            event
        }))
    }
}

impl EnvelopeHeaders {
    fn from_json(line: &[u8]) -> Result<EnvelopeHeaders, Error> {
        let mut other: Map<String, Value> =
            serde_json::from_slice(line).map_err(Error::EnvelopeHeader)?;
        let mut h = EnvelopeHeaders::default();
        match other.remove("event_id") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                h.event_id = Some(
                    EventId::parse(s.trim())
                        .ok_or_else(|| Error::EnvelopeEventId { value: clip(&s) })?,
                );
            }
            Some(v) => {
                return Err(Error::EnvelopeEventId {
                    value: clip(&v.to_string()),
                });
            }
        }
        h.dsn = take_if(&mut other, "dsn", |v| match v {
            Value::String(s) => Ok(s),
            v => Err(v),
        });
        h.sdk = take_if(&mut other, "sdk", |v| match v {
            Value::Object(_) => Obj::<ClientSdk>::deserialize(&v)
                .ok()
                .and_then(|o| o.0)
                .ok_or(v),
            v => Err(v),
        });
        h.sent_at = take_if(&mut other, "sent_at", |v| match &v {
            Value::String(s) => Timestamp::parse(s).ok_or(v),
            _ => Err(v),
        });
        h.trace = take_if(&mut other, "trace", |v| match v {
            Value::Null => Err(v),
            v => Ok(v),
        });
        h.other = other;
        Ok(h)
    }
}

/// Removes `key` when `convert` accepts its value; otherwise leaves it in place.
fn take_if<T>(
    map: &mut Map<String, Value>,
    key: &str,
    convert: impl FnOnce(Value) -> Result<T, Value>,
) -> Option<T> {
    let value = map.remove(key)?;
    match convert(value) {
        Ok(t) => Some(t),
        Err(Value::Null) => None,
        Err(v) => {
            map.insert(key.to_owned(), v);
            None
        }
    }
}

impl ItemHeaders {
    fn from_json(line: &[u8], index: usize) -> Result<(ItemHeaders, Option<u64>), Error> {
        let mut other: Map<String, Value> =
            serde_json::from_slice(line).map_err(|source| Error::ItemHeader { index, source })?;
        let ty = match other.remove("type") {
            Some(Value::String(s)) => ItemType::parse(&s),
            _ => return Err(Error::MissingItemType { index }),
        };
        let length = match other.remove("length") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.as_u64().ok_or(Error::InvalidItemLength { index })?),
            Some(_) => return Err(Error::InvalidItemLength { index }),
        };
        let string = |v: Value| match v {
            Value::String(s) => Ok(s),
            v => Err(v),
        };
        let headers = ItemHeaders {
            ty,
            content_type: take_if(&mut other, "content_type", string),
            filename: take_if(&mut other, "filename", string),
            attachment_type: take_if(&mut other, "attachment_type", string),
            item_count: take_if(&mut other, "item_count", |v| v.as_u64().ok_or(v)),
            other,
        };
        Ok((headers, length))
    }
}

// ---- writing -------------------------------------------------------------------

impl Serialize for EnvelopeHeaders {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(id) = &self.event_id {
            m.serialize_entry("event_id", id)?;
        }
        if let Some(dsn) = &self.dsn {
            m.serialize_entry("dsn", dsn)?;
        }
        if let Some(sdk) = &self.sdk {
            m.serialize_entry("sdk", sdk)?;
        }
        if let Some(t) = &self.sent_at {
            m.serialize_entry("sent_at", t)?;
        }
        if let Some(t) = &self.trace {
            m.serialize_entry("trace", t)?;
        }
        for (k, v) in &self.other {
            // A known name in `other` holds a value of an unexpected type;
            // write it unless the typed field supersedes it.
            let superseded = match k.as_str() {
                "event_id" => self.event_id.is_some(),
                "dsn" => self.dsn.is_some(),
                "sdk" => self.sdk.is_some(),
                "sent_at" => self.sent_at.is_some(),
                "trace" => self.trace.is_some(),
                _ => false,
            };
            if !superseded {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

/// Item headers with the `length` to write.
struct ItemHeadersOut<'a> {
    headers: &'a ItemHeaders,
    length: usize,
}

impl Serialize for ItemHeadersOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.headers;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", h.ty.as_str())?;
        m.serialize_entry("length", &self.length)?;
        if let Some(v) = &h.content_type {
            m.serialize_entry("content_type", v)?;
        }
        if let Some(v) = &h.filename {
            m.serialize_entry("filename", v)?;
        }
        if let Some(v) = &h.attachment_type {
            m.serialize_entry("attachment_type", v)?;
        }
        if let Some(v) = &h.item_count {
            m.serialize_entry("item_count", v)?;
        }
        for (k, v) in &h.other {
            let superseded = match k.as_str() {
                "type" | "length" => true,
                "content_type" => h.content_type.is_some(),
                "filename" => h.filename.is_some(),
                "attachment_type" => h.attachment_type.is_some(),
                "item_count" => h.item_count.is_some(),
                _ => false,
            };
            if !superseded {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &[u8]) -> Result<Envelope, Error> {
        Envelope::parse_slice(body, &ParseLimits::default())
    }

    #[test]
    fn with_and_without_length() {
        let e = parse(
            b"{\"event_id\":\"9ec79c33-ec99-42ab-8353-589fcb2e04dc\",\"dsn\":\"https://k@h/1\",\"x\":1}\n\
              {\"type\":\"attachment\",\"length\":10,\"filename\":\"a.txt\"}\n\xef\xbb\xbfHello\r\n\n\
              {\"type\":\"event\",\"length\":41,\"content_type\":\"application/json\",\"filename\":\"application.log\"}\n\
              {\"message\":\"hello world\",\"level\":\"error\"}\n\
              {\"type\":\"attachment\",\"length\":0}\n\n\
              {\"type\":\"session\"}\n{\"started\":1}\r\n\
              {\"type\":\"zzz\",\"custom\":true}\n",
        )
        .unwrap();
        assert_eq!(
            e.headers.event_id.unwrap().to_string(),
            "9ec79c33ec9942ab8353589fcb2e04dc"
        );
        assert_eq!(e.headers.dsn.as_deref(), Some("https://k@h/1"));
        assert_eq!(e.headers.other["x"], 1);
        assert_eq!(e.items.len(), 5);
        assert_eq!(&e.items[0].payload[..], b"\xef\xbb\xbfHello\r\n");
        assert_eq!(e.items[0].headers.filename.as_deref(), Some("a.txt"));
        assert_eq!(e.items[1].ty(), &ItemType::Event);
        assert_eq!(&e.items[2].payload[..], b"");
        assert_eq!(&e.items[3].payload[..], b"{\"started\":1}\r");
        assert_eq!(e.items[4].ty(), &ItemType::Unknown("zzz".into()));
        assert_eq!(&e.items[4].payload[..], b"");
        assert_eq!(e.items[4].headers.other["custom"], true);
        let event = e.parse_event().unwrap().unwrap();
        assert_eq!(event.message(), Some("hello world"));
        assert_eq!(event.event_id, e.headers.event_id);
        // Written and read back, it is the same envelope.
        assert_eq!(parse(&e.to_bytes()).unwrap(), e);
    }

    #[test]
    fn headers_only() {
        let e = parse(b"{}").unwrap();
        assert!(e.items.is_empty());
        assert!(parse(b"{}\n").unwrap().items.is_empty());
        let e = parse(b"{}\n{\"type\":\"attachment\",\"length\":0}").unwrap();
        assert_eq!(e.items.len(), 1);
        let e = parse(b"{}\n{\"type\":\"attachment\"}").unwrap();
        assert_eq!(e.items.len(), 1);
    }

    #[test]
    fn zero_copy() {
        let body = Bytes::from(b"{}\n{\"type\":\"attachment\",\"length\":3}\nabc\n".to_vec());
        let e = Envelope::parse(body.clone(), &ParseLimits::default()).unwrap();
        let p = &e.items[0].payload;
        assert_eq!(p.as_ptr(), body[body.len() - 4..].as_ptr());
    }

    #[test]
    fn malformed() {
        assert!(matches!(parse(b""), Err(Error::EmptyBody)));
        assert!(matches!(parse(b"{\n"), Err(Error::EnvelopeHeader(_))));
        assert!(matches!(parse(b"[]\n"), Err(Error::EnvelopeHeader(_))));
        assert!(matches!(
            parse(b"{\"event_id\":\"xyz\"}\n"),
            Err(Error::EnvelopeEventId { .. })
        ));
        assert!(matches!(
            parse(b"{}\n{\"type\":\n"),
            Err(Error::ItemHeader { index: 0, .. })
        ));
        assert!(matches!(
            parse(b"{}\n{\"length\":1}\nx\n"),
            Err(Error::MissingItemType { index: 0 })
        ));
        assert!(matches!(
            parse(b"{}\n{\"type\":\"event\",\"length\":-1}\nx\n"),
            Err(Error::InvalidItemLength { index: 0 })
        ));
        let err =
            parse(b"{}\n{\"type\":\"session\"}\n{}\n{\"type\":\"event\",\"length\":120}\n{}\n")
                .unwrap_err();
        assert!(matches!(
            err,
            Error::ItemLengthPastEnd {
                index: 1,
                length: 120,
                left: 3
            }
        ));
        assert_eq!(
            err.to_string(),
            "item 1: length 120 runs past the end of the body (3 bytes left)"
        );
        assert!(matches!(
            parse(b"{}\n{\"type\":\"event\",\"length\":2}\n{}}\n"),
            Err(Error::MissingNewlineAfterPayload {
                index: 0,
                length: 2,
                found: b'}'
            })
        ));
        assert!(matches!(
            parse(b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"transaction\"}\n{}\n"),
            Err(Error::DuplicateEventItem {
                first: 0,
                second: 1
            })
        ));
    }

    #[test]
    fn limits() {
        let limits = ParseLimits {
            max_items: 1,
            max_item_size: 4,
            max_header_size: 40,
        };
        let p = |b: &[u8]| Envelope::parse_slice(b, &limits);
        assert!(p(b"{}\n{\"type\":\"a\"}\n1234\n").is_ok());
        assert!(matches!(
            p(b"{}\n{\"type\":\"a\"}\n1\n{\"type\":\"b\"}\n2\n"),
            Err(Error::TooManyItems { max: 1 })
        ));
        assert!(matches!(
            p(b"{}\n{\"type\":\"a\"}\n12345\n"),
            Err(Error::ItemTooLarge {
                index: 0,
                size: 5,
                max: 4
            })
        ));
        assert!(matches!(
            p(b"{}\n{\"type\":\"a\",\"length\":99999999999999}\n12345\n"),
            Err(Error::ItemTooLarge { index: 0, .. })
        ));
        assert!(matches!(
            p(b"{}\n{\"type\":\"a\",\"padding\":\"...............................\"}\n1\n"),
            Err(Error::HeaderTooLong { .. })
        ));
    }

    #[test]
    fn unexpected_header_types_are_kept() {
        let e = parse(
            b"{\"sent_at\":\"noon\",\"sdk\":\"x\",\"dsn\":5,\"trace\":{\"trace_id\":\"a\"}}\n\
              {\"type\":\"attachment\",\"filename\":7,\"item_count\":\"2\"}\nx\n",
        )
        .unwrap();
        assert_eq!(e.headers.sent_at, None);
        assert_eq!(e.headers.other.len(), 3);
        assert!(e.headers.trace.is_some());
        assert_eq!(e.items[0].headers.other.len(), 2);
        assert_eq!(parse(&e.to_bytes()).unwrap(), e);
    }

    #[test]
    fn categories() {
        assert_eq!(ItemType::Event.data_category(), Some(DataCategory::Error));
        assert_eq!(
            ItemType::CheckIn.data_category(),
            Some(DataCategory::Monitor)
        );
        assert_eq!(
            ItemType::Sessions.data_category(),
            Some(DataCategory::Session)
        );
        assert_eq!(ItemType::ClientReport.data_category(), None);
        assert_eq!(ItemType::parse("otel_log"), ItemType::OtelLog);
        assert_eq!(ItemType::parse("otel_log").as_str(), "otel_log");
        assert_eq!(
            ItemType::UnrealReport.data_category(),
            Some(DataCategory::Error)
        );
        assert_eq!(
            ItemType::ProfileChunk.data_category(),
            Some(DataCategory::ProfileChunk)
        );
        assert_eq!(ItemType::Unknown("x".into()).data_category(), None);
    }

    #[test]
    fn the_item_type_table() {
        let mut names = Vec::new();
        for ty in ItemType::KNOWN {
            assert_eq!(&ItemType::parse(ty.as_str()), ty);
            assert!(!matches!(ty, ItemType::Unknown(_)));
            // Every category named by the table is a known one.
            if let Some(c) = ty.data_category() {
                assert!(!c.is_unknown(), "{ty}: {c}");
            }
            names.push(ty.as_str());
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ItemType::KNOWN.len(), "names are unique");
    }
}
