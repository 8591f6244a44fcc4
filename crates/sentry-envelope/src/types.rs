//! Small value types: event ids, timestamps, levels.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

use crate::lenient::absent_otherwise;

/// A 16-byte event id.
///
/// Parsed from 32 hex digits or a dashed UUID, in any case; shown as 32
/// lowercase hex digits (the form Sentry answers with). The crate never makes
/// one up: a caller that needs an id for an event without one creates it with
/// [`EventId::from_bytes`] from its own randomness source.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EventId([u8; 16]);

impl EventId {
    /// Wraps 16 bytes (for example a random UUID v4 made by the caller).
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        EventId(bytes)
    }

    /// The 16 bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Whether all bytes are zero (some SDKs send the nil UUID).
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }

    /// Parses 32 hex digits or an 8-4-4-4-12 dashed UUID; `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let mut hex = [0u8; 32];
        match b.len() {
            32 => hex.copy_from_slice(b),
            36 => {
                if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
                    return None;
                }
                let mut n = 0;
                for (i, &c) in b.iter().enumerate() {
                    if !matches!(i, 8 | 13 | 18 | 23) {
                        hex[n] = c;
                        n += 1;
                    }
                }
            }
            _ => return None,
        }
        let mut out = [0u8; 16];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            out[i] = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
        }
        Some(EventId(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 32];
        for (i, b) in self.0.iter().enumerate() {
            buf[2 * i] = HEX[usize::from(b >> 4)];
            buf[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
        // Only ASCII hex digits were written.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

/// The error of [`EventId::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an event id (expected 32 hex digits or a dashed UUID)")]
pub struct ParseEventIdError;

impl FromStr for EventId {
    type Err = ParseEventIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventId::parse(s).ok_or(ParseEventIdError)
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Strict: a string of 32 hex digits or a dashed UUID, else an error.
impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let LEventIdStrict(id) = LEventIdStrict::deserialize(d)?;
        Ok(id)
    }
}

struct LEventIdStrict(EventId);

impl<'de> Deserialize<'de> for LEventIdStrict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LEventIdStrict;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("32 hex digits or a dashed UUID")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LEventIdStrict, E> {
                EventId::parse(v.trim())
                    .map(LEventIdStrict)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_str(V)
    }
}

/// Lenient: an invalid id is `None`.
#[derive(Default)]
pub(crate) struct LEventId(pub(crate) Option<EventId>);

impl<'de> Deserialize<'de> for LEventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LEventId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LEventId, E> {
                Ok(LEventId(EventId::parse(v.trim())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LEventId, E> {
                Ok(LEventId(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<LEventId, E> {
                Ok(LEventId(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<LEventId, E> {
                Ok(LEventId(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LEventId, E> {
                Ok(LEventId(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LEventId, D::Error> {
                d.deserialize_any(self)
            }
            absent_otherwise!(null);
            absent_otherwise!(seq);
            absent_otherwise!(map);
        }
        d.deserialize_any(V)
    }
}

/// A point in time, UTC.
///
/// Read from RFC 3339 strings (a missing offset means UTC), Unix seconds as
/// integer or float, or Unix seconds as a numeric string. Serialized as an
/// RFC 3339 string with microseconds when there are any.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Wraps a chrono time.
    pub const fn from_datetime(dt: DateTime<Utc>) -> Self {
        Timestamp(dt)
    }

    /// The chrono time.
    pub const fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// From Unix seconds; `None` for NaN, infinities and years past 262143.
    pub fn from_unix_f64(secs: f64) -> Option<Self> {
        if !secs.is_finite() || secs.abs() > 8.0e15 {
            return None;
        }
        let whole = secs.floor();
        let nanos = (((secs - whole) * 1e9).round() as u32).min(999_999_999);
        DateTime::from_timestamp(whole as i64, nanos).map(Timestamp)
    }

    /// Unix seconds with the fraction (microsecond precision survives).
    pub fn as_unix_f64(&self) -> f64 {
        self.0.timestamp() as f64 + f64::from(self.0.timestamp_subsec_nanos()) / 1e9
    }

    /// RFC 3339 with a `Z` offset and as many fraction digits as needed (0, 3, 6 or 9).
    pub fn to_rfc3339(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// Parses RFC 3339 (offset optional, `T` or space), or Unix seconds in a string.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let first = *s.as_bytes().first()?;
        if (first.is_ascii_digit() || first == b'-' || first == b'.')
            && let Ok(n) = s.parse::<f64>()
        {
            return Timestamp::from_unix_f64(n);
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            return Some(Timestamp(dt.with_timezone(&Utc)));
        }
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
                return Some(Timestamp(naive.and_utc()));
            }
        }
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
            if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
                return Some(Timestamp(dt.with_timezone(&Utc)));
            }
        }
        None
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(dt: DateTime<Utc>) -> Self {
        Timestamp(dt)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// Strict: an RFC 3339 string or Unix seconds, else an error.
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        LTimestamp::deserialize(d)?
            .0
            .ok_or_else(|| de::Error::custom("expected an RFC 3339 time or Unix seconds"))
    }
}

/// Lenient: an unreadable time is `None`.
#[derive(Default)]
pub(crate) struct LTimestamp(pub(crate) Option<Timestamp>);

impl<'de> Deserialize<'de> for LTimestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LTimestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LTimestamp, E> {
                Ok(LTimestamp(Timestamp::parse(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LTimestamp, E> {
                Ok(LTimestamp(Timestamp::from_unix_f64(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LTimestamp, E> {
                Ok(LTimestamp(Timestamp::from_unix_f64(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LTimestamp, E> {
                Ok(LTimestamp(Timestamp::from_unix_f64(v)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LTimestamp, E> {
                Ok(LTimestamp(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LTimestamp, D::Error> {
                d.deserialize_any(self)
            }
            absent_otherwise!(null);
            absent_otherwise!(seq);
            absent_otherwise!(map);
        }
        d.deserialize_any(V)
    }
}

/// The severity of an event.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Level {
    /// `debug`.
    Debug,
    /// `info` (also `log`).
    Info,
    /// `warning` (also `warn`).
    Warning,
    /// `error`.
    Error,
    /// `fatal` (also `critical`).
    Fatal,
    /// Anything else, kept as sent (lowercased).
    Unknown(String),
}

impl Level {
    /// Reads a level name, case-insensitively, with Sentry's aliases.
    pub fn parse(s: &str) -> Level {
        let s = s.trim();
        let lower;
        let s = if s.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = s.to_ascii_lowercase();
            lower.as_str()
        } else {
            s
        };
        match s {
            "debug" | "trace" => Level::Debug,
            "info" | "log" => Level::Info,
            "warning" | "warn" => Level::Warning,
            "error" => Level::Error,
            "fatal" | "critical" => Level::Fatal,
            other => Level::Unknown(other.to_owned()),
        }
    }

    /// From a Python `logging` number (10 debug … 50 critical).
    pub fn from_number(n: u64) -> Level {
        match n {
            0..=10 => Level::Debug,
            11..=20 => Level::Info,
            21..=30 => Level::Warning,
            31..=40 => Level::Error,
            _ => Level::Fatal,
        }
    }

    /// The canonical name (`debug`, `info`, `warning`, `error`, `fatal`, or the unknown text).
    pub fn as_str(&self) -> &str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
            Level::Unknown(s) => s,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Level::parse(s))
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Strict: a level name or a Python logging number, else an error.
impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        LLevel::deserialize(d)?
            .0
            .ok_or_else(|| de::Error::custom("expected a level name such as \"error\""))
    }
}

/// Lenient: names, Python logging numbers; empty or other types are `None`.
#[derive(Default)]
pub(crate) struct LLevel(pub(crate) Option<Level>);

impl<'de> Deserialize<'de> for LLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LLevel;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LLevel, E> {
                let v = v.trim();
                if v.is_empty() {
                    return Ok(LLevel(None));
                }
                match v.parse::<u64>() {
                    Ok(n) => Ok(LLevel(Some(Level::from_number(n)))),
                    Err(_) => Ok(LLevel(Some(Level::parse(v)))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LLevel, E> {
                Ok(LLevel(Some(Level::from_number(v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LLevel, E> {
                Ok(LLevel(u64::try_from(v).ok().map(Level::from_number)))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LLevel, E> {
                Ok(LLevel(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LLevel, E> {
                Ok(LLevel(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LLevel, D::Error> {
                d.deserialize_any(self)
            }
            absent_otherwise!(null);
            absent_otherwise!(seq);
            absent_otherwise!(map);
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_forms() {
        let a = EventId::parse("fff1050314a3433a823cfedec50f312f").unwrap();
        let b = EventId::parse("FFF10503-14A3-433A-823C-FEDEC50F312F").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "fff1050314a3433a823cfedec50f312f");
        assert!(EventId::parse("fff1050314a3433a823cfedec50f312").is_none());
        assert!(EventId::parse("fff10503-14a3433a-823c-fedec50f312f").is_none());
        assert!(EventId::parse("gff1050314a3433a823cfedec50f312f").is_none());
        assert!("x".parse::<EventId>().is_err());
    }

    #[test]
    fn timestamps() {
        let t = Timestamp::parse("2025-02-13T14:34:25.718Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-02-13T14:34:25.718Z");
        let naive = Timestamp::parse("2025-02-13T14:34:25.718").unwrap();
        assert_eq!(t, naive);
        let offset = Timestamp::parse("2025-02-13T15:34:25.718+01:00").unwrap();
        assert_eq!(t, offset);
        let unix = Timestamp::parse("1739457265.718").unwrap();
        assert!((unix.as_unix_f64() - t.as_unix_f64()).abs() < 1e-6);
        assert_eq!(
            Timestamp::from_unix_f64(0.0).unwrap().to_rfc3339(),
            "1970-01-01T00:00:00Z"
        );
        assert!(Timestamp::from_unix_f64(f64::NAN).is_none());
        assert!(Timestamp::from_unix_f64(1e300).is_none());
        assert!(Timestamp::parse("yesterday").is_none());
        assert!(Timestamp::parse("").is_none());
    }

    #[test]
    fn strict_deserialize() {
        let id: EventId = serde_json::from_str("\"fff1050314a3433a823cfedec50f312f\"").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"fff1050314a3433a823cfedec50f312f\""
        );
        assert!(serde_json::from_str::<EventId>("\"nope\"").is_err());
        assert!(serde_json::from_str::<EventId>("5").is_err());
        let t: Timestamp = serde_json::from_str("1739457265").unwrap();
        let back: Timestamp = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(t, back);
        assert!(serde_json::from_str::<Timestamp>("null").is_err());
        let l: Level = serde_json::from_str("\"critical\"").unwrap();
        assert_eq!(l, Level::Fatal);
        assert!(serde_json::from_str::<Level>("[]").is_err());
    }

    #[test]
    fn levels() {
        assert_eq!(Level::parse("log"), Level::Info);
        assert_eq!(Level::parse("critical"), Level::Fatal);
        assert_eq!(Level::parse("warn"), Level::Warning);
        assert_eq!(Level::parse("ERROR"), Level::Error);
        assert_eq!(Level::parse("odd").as_str(), "odd");
        assert_eq!(Level::from_number(40), Level::Error);
    }
}
