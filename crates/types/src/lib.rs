//! The words Periscope's crates share, defined once.
//!
//! An alert is raised by the store, in the transaction that commits the event
//! that caused it, and delivered by the notifier. Both crates need to name *why*
//! it was raised ([`AlertKind`]) and *what* it is about ([`AlertSubject`]);
//! defining these in either crate would make the other depend on a database
//! layer or on HTTP and SMTP clients, so they live here, in a crate with no
//! dependency but serde.
//!
//! Records are named by numeric ids that cross crate boundaries too: the store
//! hands out a project's id, the notifier puts it in a webhook body, the server
//! turns it into a link. Each kind of id has a type of its own —
//! [`ProjectId`], [`IssueId`], [`DestinationId`], [`AlertId`], [`DeliveryId`],
//! [`UserId`] — so that a destination id cannot be passed where a project id
//! is expected. Each is a transparent wrapper of the database's `i64`: it
//! serializes as the plain number and displays as it, so no wire format
//! changes.
//!
//! Forward compatibility is the rule: every enum has an `Unknown(String)` case
//! that keeps a value written by a newer version, and serializes as a plain
//! string (`"new_issue"`, or the unknown text), so old readers neither fail nor
//! lose it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Defines a transparent `i64` id newtype: `Display` (the number), `get`,
/// `From<i64>` and `From<Self> for i64`, serde as the plain number.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// A transparent wrapper of the database's `i64`: serialized and displayed
        /// as the plain number.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The number.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                $name(id)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }
    };
}

id_type!(
    /// A project's id.
    ProjectId
);
id_type!(
    /// An issue's id (unique across projects).
    IssueId
);
id_type!(
    /// An alert destination's id (unique across projects).
    DestinationId
);
id_type!(
    /// An alert's id.
    AlertId
);
id_type!(
    /// The id of one delivery of an alert to one destination.
    DeliveryId
);
id_type!(
    /// A web UI user's id.
    UserId
);

/// Why an alert was raised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// A new issue.
    NewIssue,
    /// A resolved issue received an event.
    Regression,
    /// A muted issue's mute ended.
    Unmute,
    /// A destination's hourly cap was reached: the held-back alerts in one summary.
    HeldBack,
    /// A value written by a newer version.
    Unknown(String),
}

impl AlertKind {
    /// Every kind this version knows.
    pub const KNOWN: [AlertKind; 4] = [
        AlertKind::NewIssue,
        AlertKind::Regression,
        AlertKind::Unmute,
        AlertKind::HeldBack,
    ];

    /// The wire and stored text: `new_issue`, `regression`, `unmute`, `held_back`.
    pub fn as_str(&self) -> &str {
        match self {
            AlertKind::NewIssue => "new_issue",
            AlertKind::Regression => "regression",
            AlertKind::Unmute => "unmute",
            AlertKind::HeldBack => "held_back",
            AlertKind::Unknown(s) => s,
        }
    }

    /// Parses the text (never fails: unknown text is [`AlertKind::Unknown`]).
    pub fn parse(s: &str) -> AlertKind {
        match s {
            "new_issue" => AlertKind::NewIssue,
            "regression" => AlertKind::Regression,
            "unmute" => AlertKind::Unmute,
            "held_back" => AlertKind::HeldBack,
            other => AlertKind::Unknown(other.to_owned()),
        }
    }

    /// A short headline for messages: `New issue`, `Regression`, ...
    pub fn headline(&self) -> &str {
        match self {
            AlertKind::NewIssue => "New issue",
            AlertKind::Regression => "Regression",
            AlertKind::Unmute => "Unmuted issue",
            AlertKind::HeldBack => "Alerts held back",
            AlertKind::Unknown(_) => "Alert",
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertKind {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(AlertKind::parse(s))
    }
}

impl Serialize for AlertKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AlertKind {
    /// Reads the plain string, and the `{"unknown": "x"}` form older versions of
    /// the store wrote.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Text(String),
            Old { unknown: String },
        }
        Ok(match Wire::deserialize(deserializer)? {
            Wire::Text(s) => AlertKind::parse(&s),
            Wire::Old { unknown } => AlertKind::Unknown(unknown),
        })
    }
}

/// What an alert is about. Today always an issue; cron monitors and user
/// feedback will be subjects of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertSubject {
    /// An issue, by its id.
    Issue(IssueId),
}

impl AlertSubject {
    /// The issue this alert is about, if it is about one.
    pub fn issue_id(&self) -> Option<IssueId> {
        match self {
            AlertSubject::Issue(id) => Some(*id),
        }
    }
}

impl fmt::Display for AlertSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertSubject::Issue(id) => write!(f, "issue {id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_kinds_round_trip() {
        for kind in AlertKind::KNOWN {
            assert_eq!(AlertKind::parse(kind.as_str()), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(serde_json::from_str::<AlertKind>(&json).unwrap(), kind);
        }
    }

    #[test]
    fn the_old_unknown_form_is_read() {
        let old: AlertKind = serde_json::from_str(r#"{"unknown":"escalation"}"#).unwrap();
        assert_eq!(old, AlertKind::Unknown("escalation".into()));
        assert_eq!(serde_json::to_string(&old).unwrap(), "\"escalation\"");
    }

    #[test]
    fn subjects_serialize_with_their_type() {
        let s = AlertSubject::Issue(IssueId(7));
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            serde_json::json!({"type": "issue", "id": 7})
        );
        assert_eq!(s.issue_id(), Some(IssueId(7)));
        assert_eq!(
            serde_json::from_value::<AlertSubject>(serde_json::json!({"type": "issue", "id": 7}))
                .unwrap(),
            s
        );
    }

    #[test]
    fn ids_are_plain_numbers() {
        let id = ProjectId(42);
        assert_eq!(serde_json::to_string(&id).unwrap(), "42");
        assert_eq!(serde_json::from_str::<ProjectId>("42").unwrap(), id);
        assert_eq!(id.to_string(), "42");
        assert_eq!(id.get(), 42);
        assert_eq!(ProjectId::from(42), id);
        assert_eq!(i64::from(id), 42);
        assert!(IssueId(1) < IssueId(2));
    }

    proptest! {
        #[test]
        fn any_text_round_trips(text in ".{0,40}") {
            let kind = AlertKind::parse(&text);
            prop_assert_eq!(kind.as_str(), text.as_str());
            let json = serde_json::to_string(&kind).unwrap();
            prop_assert_eq!(serde_json::from_str::<AlertKind>(&json).unwrap(), kind);
        }
    }
}
