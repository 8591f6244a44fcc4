//! Data categories: the kinds of data Sentry rate-limits.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

macro_rules! data_categories {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A kind of data an SDK sends, as named in Sentry's rate limits
        /// (`X-Sentry-Rate-Limits`), quotas and client reports.
        ///
        /// Categories are not item types: several item types count against one
        /// category (`session` and `sessions` items are both `session`), an
        /// `event` item is `error` (or `default`, which needs its payload), and
        /// some items have no category at all because Sentry never rate-limits
        /// them (`client_report`). [`ItemType::data_category`] is the one table
        /// from item types to categories; count items by
        /// [`ItemType::as_str`] and rate-limit them by category.
        ///
        /// Forward compatible: a name this crate does not know is kept in
        /// [`DataCategory::Unknown`], so parsing a name and printing it gives
        /// the name back, whatever it is (a header from a newer server survives
        /// a round trip, and a quota can name a category this crate has not
        /// heard of yet). Serialized as the plain name (`"error"`, or the
        /// unknown name), never as a map.
        ///
        /// New names may be added in later versions (a name parsed as
        /// `Unknown` today may parse as a known variant then), hence
        /// `#[non_exhaustive]`.
        ///
        /// ```
        /// use periscope_sentry_envelope::{DataCategory, ItemType};
        ///
        /// assert_eq!("log_item".parse(), Ok(DataCategory::LogItem));
        /// assert_eq!(DataCategory::from_name("metric_bucket").to_string(), "metric_bucket");
        /// assert_eq!(ItemType::CheckIn.data_category(), Some(DataCategory::Monitor));
        /// assert_eq!(ItemType::ClientReport.data_category(), None);
        /// ```
        ///
        /// [`ItemType::data_category`]: crate::ItemType::data_category
        /// [`ItemType::as_str`]: crate::ItemType::as_str
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum DataCategory {
            $(
                $(#[$doc])*
                $variant,
            )*
            /// Any other name, kept as received.
            Unknown(String),
        }

        impl DataCategory {
            /// Every category this crate knows by name.
            pub const KNOWN: &'static [DataCategory] = &[$(DataCategory::$variant,)*];

            /// The protocol name (`"error"`, `"log_item"`, …; an unknown name as
            /// received).
            pub fn as_str(&self) -> &str {
                match self {
                    $(DataCategory::$variant => $name,)*
                    DataCategory::Unknown(name) => name,
                }
            }

            /// The category of a protocol name; never fails (unknown names are
            /// kept). Names are case-sensitive, as on the wire.
            pub fn from_name(name: &str) -> Self {
                match name {
                    $($name => DataCategory::$variant,)*
                    other => DataCategory::Unknown(other.to_owned()),
                }
            }
        }
    };
}

data_categories! {
    /// `default`: events without a more specific category (e.g. plain messages).
    Default => "default",
    /// `error`: error events.
    Error => "error",
    /// `transaction`: performance transactions.
    Transaction => "transaction",
    /// `security`: CSP and other security reports.
    Security => "security",
    /// `attachment`: attachments (counted in bytes by Sentry).
    Attachment => "attachment",
    /// `session`: release-health sessions.
    Session => "session",
    /// `profile`: profiles.
    Profile => "profile",
    /// `replay`: session replays.
    Replay => "replay",
    /// `feedback`: user feedback.
    Feedback => "feedback",
    /// `monitor`: cron monitor check-ins.
    Monitor => "monitor",
    /// `span`: spans.
    Span => "span",
    /// `log_item`: log records.
    LogItem => "log_item",
    /// `log_byte`: log volume in bytes.
    LogByte => "log_byte",
    /// `profile_chunk`: continuous-profiling chunks.
    ProfileChunk => "profile_chunk",
    /// `trace_metric`: trace metrics.
    TraceMetric => "trace_metric",
    /// `internal`: Sentry's own internal items. It exists so that such items
    /// can name a category, but Sentry promises never to announce a rate limit
    /// for it; no item type maps to it here ([`crate::ItemType::ClientReport`]
    /// has no category).
    Internal => "internal",
}

impl DataCategory {
    /// Whether this is an [`Unknown`](DataCategory::Unknown) category.
    pub fn is_unknown(&self) -> bool {
        matches!(self, DataCategory::Unknown(_))
    }
}

impl fmt::Display for DataCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataCategory {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DataCategory::from_name(s))
    }
}

impl From<&str> for DataCategory {
    fn from(s: &str) -> Self {
        DataCategory::from_name(s)
    }
}

impl Serialize for DataCategory {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A string (any name; unknown ones are kept), else an error.
impl<'de> Deserialize<'de> for DataCategory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DataCategory;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a data category name such as \"error\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DataCategory, E> {
                Ok(DataCategory::from_name(v))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_names_round_trip() {
        for c in DataCategory::KNOWN {
            assert!(!c.is_unknown(), "{c:?}");
            assert_eq!(&DataCategory::from_name(c.as_str()), c);
            assert_eq!(c.to_string().parse::<DataCategory>().as_ref(), Ok(c));
        }
        let mut names: Vec<&str> = DataCategory::KNOWN.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DataCategory::KNOWN.len(), "names are unique");
    }

    #[test]
    fn sentry_names() {
        for (name, category) in [
            ("default", DataCategory::Default),
            ("error", DataCategory::Error),
            ("transaction", DataCategory::Transaction),
            ("security", DataCategory::Security),
            ("attachment", DataCategory::Attachment),
            ("session", DataCategory::Session),
            ("profile", DataCategory::Profile),
            ("profile_chunk", DataCategory::ProfileChunk),
            ("replay", DataCategory::Replay),
            ("feedback", DataCategory::Feedback),
            ("monitor", DataCategory::Monitor),
            ("span", DataCategory::Span),
            ("log_item", DataCategory::LogItem),
            ("log_byte", DataCategory::LogByte),
            ("trace_metric", DataCategory::TraceMetric),
            ("internal", DataCategory::Internal),
        ] {
            assert_eq!(DataCategory::from_name(name), category);
            assert_eq!(category.as_str(), name);
        }
    }

    #[test]
    fn unknown_names_are_kept() {
        let u = DataCategory::from_name("metric_bucket");
        assert_eq!(u, DataCategory::Unknown("metric_bucket".into()));
        assert!(u.is_unknown());
        assert_eq!(u.to_string(), "metric_bucket");
        // Case-sensitive, as on the wire.
        assert!(DataCategory::from_name("Error").is_unknown());
        assert_eq!(
            DataCategory::from_name(""),
            DataCategory::Unknown(String::new())
        );
    }

    #[test]
    fn serialized_as_a_plain_string() {
        let json = serde_json::to_string(&[
            DataCategory::Error,
            DataCategory::LogItem,
            DataCategory::Unknown("x".into()),
        ])
        .unwrap();
        assert_eq!(json, r#"["error","log_item","x"]"#);
        let back: Vec<DataCategory> = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back,
            [
                DataCategory::Error,
                DataCategory::LogItem,
                DataCategory::Unknown("x".into())
            ]
        );
        assert!(serde_json::from_str::<DataCategory>(r#"{"unknown":"x"}"#).is_err());
        assert!(serde_json::from_str::<DataCategory>("1").is_err());
    }

    proptest! {
        #[test]
        fn any_name_round_trips(name in "\\PC*") {
            let c: DataCategory = name.parse().unwrap_or(DataCategory::Default);
            prop_assert_eq!(c.to_string(), name.clone());
            prop_assert_eq!(DataCategory::from_name(c.as_str()), c.clone());
            let json = serde_json::to_string(&c).unwrap();
            prop_assert_eq!(serde_json::from_str::<DataCategory>(&json).unwrap(), c);
        }

        #[test]
        fn known_and_lookalike_names_round_trip(
            i in 0..DataCategory::KNOWN.len(),
            suffix in "[a-z_]{0,3}",
        ) {
            let name = format!("{}{suffix}", DataCategory::KNOWN[i].as_str());
            let c = DataCategory::from_name(&name);
            prop_assert_eq!(c.as_str(), name.as_str());
            prop_assert_eq!(c.is_unknown(), !DataCategory::KNOWN.contains(&c));
        }
    }
}
