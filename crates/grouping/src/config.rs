//! Configuration: which strategy a [`Grouper`](crate::Grouper) uses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How events are grouped when they carry no custom SDK fingerprint.
///
/// The names (`default`, `type-and-value`) are stable: they are what a project
/// stores in its settings, so a strategy is never renamed, and a new way of
/// grouping is a new variant (old issues keep their keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Strategy {
    /// Sentry-like grouping (as of its `newstyle:2023-01-11` configuration):
    /// chained exceptions with their stack traces, then threads, then the
    /// stack trace, then the parameterized message; app and system variants.
    /// Also accepted under the name `sentry`.
    #[default]
    #[serde(alias = "sentry")]
    Default,
    /// Simple grouping, as Bugsink does: the type and parameterized value of
    /// each exception, else the parameterized message. Stack traces are ignored,
    /// so a refactoring never splits an issue, at the price of merging different
    /// crashes that share a message.
    TypeAndValue,
}

impl Strategy {
    /// Every strategy, in a stable order.
    pub const ALL: &'static [Strategy] = &[Strategy::Default, Strategy::TypeAndValue];

    /// The stable name of the strategy (`default`, `type-and-value`).
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Default => "default",
            Strategy::TypeAndValue => "type-and-value",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when a strategy name is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The strategy name is not one of [`Strategy::ALL`].
    #[error(
        "unknown grouping strategy {0:?}; expected one of: default (alias sentry), type-and-value"
    )]
    UnknownStrategy(String),
}

impl FromStr for Strategy {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "default" | "sentry" => Ok(Strategy::Default),
            "type-and-value" => Ok(Strategy::TypeAndValue),
            _ => Err(ConfigError::UnknownStrategy(s.to_owned())),
        }
    }
}

/// The configuration of a [`Grouper`](crate::Grouper).
///
/// ```
/// use periscope_grouping::{GroupingConfig, Strategy};
/// let config: GroupingConfig = serde_json::from_str(r#"{"strategy": "type-and-value"}"#).unwrap();
/// assert_eq!(config.strategy, Strategy::TypeAndValue);
/// assert_eq!(GroupingConfig::default().strategy, Strategy::Default);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupingConfig {
    /// The built-in strategy (used when the event has no custom fingerprint,
    /// and for `{{ default }}` in a hybrid one).
    pub strategy: Strategy,
}

impl GroupingConfig {
    /// A configuration with the given strategy.
    pub fn new(strategy: Strategy) -> Self {
        Self { strategy }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Strategy::ALL {
            assert_eq!(s.to_string().parse::<Strategy>().unwrap(), *s);
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<Strategy>(&json).unwrap(), *s);
        }
        assert_eq!("sentry".parse::<Strategy>().unwrap(), Strategy::Default);
        assert_eq!(
            "Type_And_Value".parse::<Strategy>().unwrap(),
            Strategy::TypeAndValue
        );
        let err = "fancy".parse::<Strategy>().unwrap_err();
        assert!(err.to_string().contains("type-and-value"));
    }

    #[test]
    fn config_defaults() {
        let c: GroupingConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, GroupingConfig::default());
        let c: GroupingConfig = serde_json::from_str(r#"{"strategy":"sentry"}"#).unwrap();
        assert_eq!(c.strategy, Strategy::Default);
    }
}
