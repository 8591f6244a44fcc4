//! Configuration: which versioned grouping configuration a
//! [`Grouper`](crate::Grouper) applies.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::rules::{FingerprintRules, StacktraceRules};

/// A versioned grouping configuration: one fixed set of rules.
///
/// A configuration is **frozen** once released: every key it produces stays
/// byte-identical forever (`tests/pinned_keys.rs` and `tests/corpus_keys.rs`
/// pin them), because a project's issues are found by key. A change of rules
/// is a new configuration with a new id; a project moves to it deliberately,
/// knowing that its issues start afresh.
///
/// The ids (`periscope:2026-12` ...) are what a project stores. The names
/// stored before configurations were versioned are still read: `default` and
/// `sentry` mean `periscope:2026-11`, `type-and-value` (or `type_and_value`)
/// means `type-and-value:2026-11`.
///
/// ```
/// use periscope_grouping::ConfigId;
/// assert_eq!("periscope:2026-12".parse::<ConfigId>().unwrap(), ConfigId::NEWEST);
/// assert_eq!("default".parse::<ConfigId>().unwrap(), ConfigId::Periscope2026_11);
/// assert_eq!(ConfigId::TypeAndValue2026_11.to_string(), "type-and-value:2026-11");
/// assert!("newstyle:2023-01-11".parse::<ConfigId>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ConfigId {
    /// `periscope:2026-11`: Sentry-like grouping (after its
    /// `newstyle:2023-01-11`) as first released: SDK fingerprints, then
    /// chained exceptions with their stack traces, threads, the stack trace,
    /// the parameterized formatted message; app and system variants, one key.
    /// Stored by older versions as `default` (or `sentry`).
    Periscope2026_11,
    /// `type-and-value:2026-11`: simple grouping, as Bugsink does: the type
    /// and parameterized value of the primary exception, else the
    /// parameterized message. Stack traces never split or merge issues.
    /// Stored by older versions as `type-and-value`.
    TypeAndValue2026_11,
    /// `periscope:2026-12`: `periscope:2026-11` with more of Sentry's rules:
    /// messages by their template, Java generated names masked in place,
    /// security reports by directive and blocked host, JavaScript frames with
    /// a context line without their function name, malformed exception groups
    /// by their top exception, iOS app bundle frames in-app, and the system
    /// variant's key as a second key when the app variant wins.
    Periscope2026_12,
}

/// The name of a configuration family: which built-in strategy it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// Fingerprints, then chained exception → threads → stack trace → message,
    /// in app and system variants.
    Periscope,
    /// Type and value of the primary exception, else the message.
    TypeAndValue,
}

/// The rules of a configuration beyond its family, each a yes/no switch so
/// that the code says which configuration applies it (see [`ConfigId`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Features {
    /// Messages count by the `logentry.message` template, not the formatted text.
    pub(crate) message_template: bool,
    /// Java generated class names keep their stable prefix (else `<auto>`).
    pub(crate) mask_generated_parts: bool,
    /// CSP, Expect-CT, Expect-Staple and HPKP reports group by what was violated.
    pub(crate) security_reports: bool,
    /// A JavaScript frame with a contributing context line does not count its function.
    pub(crate) js_context_replaces_function: bool,
    /// A malformed exception group counts only its top (last) exception.
    pub(crate) strict_exception_groups: bool,
    /// Frames in iOS app bundles are in-app, whatever the client said.
    pub(crate) ios_bundle_in_app: bool,
    /// When the app variant wins, the system variant's key is a second key.
    pub(crate) system_key: bool,
}

impl Features {
    /// No rule beyond the family's (the configurations released before versioning).
    pub(crate) const NONE: Features = Features {
        message_template: false,
        mask_generated_parts: false,
        security_reports: false,
        js_context_replaces_function: false,
        strict_exception_groups: false,
        ios_bundle_in_app: false,
        system_key: false,
    };
}

impl ConfigId {
    /// The configuration new projects get: `periscope:2026-12`.
    pub const NEWEST: ConfigId = ConfigId::Periscope2026_12;

    /// Every configuration, the newest first (the order in which choices are listed).
    pub const ALL: &'static [ConfigId] = &[
        ConfigId::Periscope2026_12,
        ConfigId::Periscope2026_11,
        ConfigId::TypeAndValue2026_11,
    ];

    /// The stable id (`periscope:2026-12`, `periscope:2026-11`, `type-and-value:2026-11`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigId::Periscope2026_11 => "periscope:2026-11",
            ConfigId::TypeAndValue2026_11 => "type-and-value:2026-11",
            ConfigId::Periscope2026_12 => "periscope:2026-12",
        }
    }

    /// The strategy name this configuration was stored under before
    /// configurations were versioned (`default`, `type-and-value`), if any.
    pub fn legacy_name(self) -> Option<&'static str> {
        match self {
            ConfigId::Periscope2026_11 => Some("default"),
            ConfigId::TypeAndValue2026_11 => Some("type-and-value"),
            ConfigId::Periscope2026_12 => None,
        }
    }

    /// A one-line description, for lists of choices.
    pub fn description(self) -> &'static str {
        match self {
            ConfigId::Periscope2026_11 => {
                "Sentry-like: fingerprint, exception and stack trace, message (first release)"
            }
            ConfigId::TypeAndValue2026_11 => {
                "type and parameterized value of the exception, else the message (as Bugsink)"
            }
            ConfigId::Periscope2026_12 => {
                "Sentry-like, newest: message templates, security reports, app and system keys"
            }
        }
    }

    pub(crate) fn family(self) -> Family {
        match self {
            ConfigId::TypeAndValue2026_11 => Family::TypeAndValue,
            ConfigId::Periscope2026_11 | ConfigId::Periscope2026_12 => Family::Periscope,
        }
    }

    pub(crate) fn features(self) -> Features {
        match self {
            ConfigId::Periscope2026_11 | ConfigId::TypeAndValue2026_11 => Features::NONE,
            ConfigId::Periscope2026_12 => Features {
                message_template: true,
                mask_generated_parts: true,
                security_reports: true,
                js_context_replaces_function: true,
                strict_exception_groups: true,
                ios_bundle_in_app: true,
                system_key: true,
            },
        }
    }

    /// The configuration's built-in stack-trace rules, named `built-in` in
    /// explanations: those of `src/rules/builtin/periscope-2026-12.txt` for
    /// `periscope:2026-12`, none for the configurations released before.
    /// Parsed once per process.
    pub fn builtin_stacktrace_rules(self) -> &'static StacktraceRules {
        match self {
            ConfigId::Periscope2026_12 => crate::rules::builtin::periscope_2026_12(),
            ConfigId::Periscope2026_11 | ConfigId::TypeAndValue2026_11 => {
                crate::rules::builtin::none()
            }
        }
    }

    /// The version tag that starts every hash of this configuration. The
    /// configurations released before versioning keep the tag they had
    /// (`periscope-grouping/1`), so their keys did not move; every later one
    /// names itself, so its keys differ from every other configuration's even
    /// where the rules agree.
    pub(crate) fn key_tag(self) -> &'static [u8] {
        match self {
            ConfigId::Periscope2026_11 | ConfigId::TypeAndValue2026_11 => b"periscope-grouping/1\0",
            ConfigId::Periscope2026_12 => b"periscope-grouping/2 periscope:2026-12\0",
        }
    }
}

/// [`ConfigId::NEWEST`], what a new project gets.
impl Default for ConfigId {
    fn default() -> Self {
        ConfigId::NEWEST
    }
}

impl fmt::Display for ConfigId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ids of [`ConfigId::ALL`], comma-separated (for messages).
fn known_ids() -> String {
    let ids: Vec<&str> = ConfigId::ALL.iter().map(|c| c.as_str()).collect();
    ids.join(", ")
}

/// The error returned when a configuration id is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The id is not one of [`ConfigId::ALL`] nor a legacy strategy name.
    #[error(
        "unknown grouping configuration {0:?}; expected one of: {ids} (or a legacy name: default, sentry, type-and-value)",
        ids = known_ids()
    )]
    UnknownConfig(String),
}

impl FromStr for ConfigId {
    type Err = ConfigError;

    /// Reads an id, or a strategy name stored before configurations were
    /// versioned. Case and surrounding blanks do not matter.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        if let Some(id) = ConfigId::ALL.iter().find(|c| c.as_str() == wanted) {
            return Ok(*id);
        }
        match wanted.replace('_', "-").as_str() {
            "default" | "sentry" => Ok(ConfigId::Periscope2026_11),
            "type-and-value" => Ok(ConfigId::TypeAndValue2026_11),
            _ => Err(ConfigError::UnknownConfig(s.to_owned())),
        }
    }
}

impl Serialize for ConfigId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ConfigId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The configuration of a [`Grouper`](crate::Grouper): the configuration id
/// and the project's own rules ([`rules`](crate::rules)), if any.
///
/// Serialized as `{"id": "periscope:2026-12"}`; `{"strategy": "type-and-value"}`
/// (the form before configurations were versioned) is still read. **The
/// rules are not serialized** (nor read): a server stores the rule *text*
/// next to the id and compiles it with [`FingerprintRules::parse`] and
/// [`StacktraceRules::parse`] when it builds the configuration with
/// [`GroupingConfig::with_rules`]; a configuration read back from JSON has
/// no project rules.
///
/// Project rules apply under every configuration (they are the user's
/// explicit wish); the built-in stack-trace rules of a configuration
/// ([`ConfigId::builtin_stacktrace_rules`], only `periscope:2026-12` has
/// some) run before them, so a project rule overrides a built-in one.
///
/// ```
/// use periscope_grouping::rules::{FingerprintRules, StacktraceRules};
/// use periscope_grouping::{ConfigId, GroupingConfig};
/// let config: GroupingConfig = serde_json::from_str(r#"{"strategy": "type-and-value"}"#).unwrap();
/// assert_eq!(config.id, ConfigId::TypeAndValue2026_11);
/// assert_eq!(GroupingConfig::default().id, ConfigId::NEWEST);
///
/// let fingerprint = FingerprintRules::parse("error.type:DbError -> database").unwrap();
/// let stacktrace = StacktraceRules::parse("stack.module:vendor.* -app").unwrap();
/// let config = GroupingConfig::with_rules(ConfigId::NEWEST, fingerprint, stacktrace);
/// assert_eq!(config.fingerprint_rules().len(), 1);
/// assert!(config.has_project_rules());
/// // The rules are not part of the serialized form.
/// assert_eq!(serde_json::to_string(&config).unwrap(), r#"{"id":"periscope:2026-12"}"#);
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GroupingConfig {
    /// The configuration: which rules build the key (also for `{{ default }}`
    /// in a hybrid fingerprint).
    #[serde(alias = "strategy")]
    pub id: ConfigId,
    /// The project's fingerprint rules (empty: none).
    #[serde(skip)]
    fingerprint_rules: FingerprintRules,
    /// The project's stack-trace rules (empty: none).
    #[serde(skip)]
    stacktrace_rules: StacktraceRules,
}

/// Equal when the ids and the rules are (rules compare by what they say, not
/// by the lines they were written on).
impl PartialEq for GroupingConfig {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.fingerprint_rules == other.fingerprint_rules
            && self.stacktrace_rules == other.stacktrace_rules
    }
}

impl Eq for GroupingConfig {}

impl GroupingConfig {
    /// A configuration with the given id and no project rules.
    pub fn new(id: ConfigId) -> Self {
        Self {
            id,
            fingerprint_rules: FingerprintRules::default(),
            stacktrace_rules: StacktraceRules::default(),
        }
    }

    /// A configuration with the given id and a project's compiled rules.
    ///
    /// The stack-trace rules are named `project` in explanations
    /// ([`StacktraceRules::with_origin`] is applied here); the
    /// [`Grouper`](crate::Grouper) runs them after the configuration's
    /// built-in rules.
    pub fn with_rules(
        id: ConfigId,
        fingerprint: FingerprintRules,
        stacktrace: StacktraceRules,
    ) -> GroupingConfig {
        Self {
            id,
            fingerprint_rules: fingerprint,
            stacktrace_rules: stacktrace.with_origin(PROJECT_ORIGIN),
        }
    }

    /// The project's fingerprint rules (empty when it has none).
    pub fn fingerprint_rules(&self) -> &FingerprintRules {
        &self.fingerprint_rules
    }

    /// The project's stack-trace rules (empty when it has none), named
    /// `project`.
    pub fn stacktrace_rules(&self) -> &StacktraceRules {
        &self.stacktrace_rules
    }

    /// Whether the project has rules of either kind.
    pub fn has_project_rules(&self) -> bool {
        !self.fingerprint_rules.is_empty() || !self.stacktrace_rules.is_empty()
    }
}

/// The origin of a project's stack-trace rules in explanations.
pub(crate) const PROJECT_ORIGIN: &str = "project";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_as_strings() {
        for c in ConfigId::ALL {
            assert_eq!(c.to_string().parse::<ConfigId>().unwrap(), *c);
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{c}\""));
            assert_eq!(serde_json::from_str::<ConfigId>(&json).unwrap(), *c);
            assert!(!c.description().is_empty());
        }
        assert_eq!(
            ConfigId::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            [
                "periscope:2026-12",
                "periscope:2026-11",
                "type-and-value:2026-11"
            ]
        );
        assert_eq!(ConfigId::NEWEST, ConfigId::Periscope2026_12);
        assert_eq!(ConfigId::default(), ConfigId::NEWEST);
    }

    #[test]
    fn legacy_strategy_names_are_read() {
        for (name, id) in [
            ("default", ConfigId::Periscope2026_11),
            ("sentry", ConfigId::Periscope2026_11),
            (" Default ", ConfigId::Periscope2026_11),
            ("type-and-value", ConfigId::TypeAndValue2026_11),
            ("type_and_value", ConfigId::TypeAndValue2026_11),
            ("Type_And_Value", ConfigId::TypeAndValue2026_11),
            ("PERISCOPE:2026-12", ConfigId::Periscope2026_12),
        ] {
            assert_eq!(name.parse::<ConfigId>().unwrap(), id, "{name}");
            let json = format!("\"{name}\"");
            assert_eq!(serde_json::from_str::<ConfigId>(&json).unwrap(), id);
        }
        for c in ConfigId::ALL {
            if let Some(name) = c.legacy_name() {
                assert_eq!(name.parse::<ConfigId>().unwrap(), *c);
            }
        }
        assert_eq!(ConfigId::NEWEST.legacy_name(), None);
        // Only legacy names are read with `_`: ids are exact.
        assert!("periscope:2026_12".parse::<ConfigId>().is_err());
    }

    #[test]
    fn unknown_ids_are_refused_with_the_list() {
        let err = "fancy".parse::<ConfigId>().unwrap_err();
        assert_eq!(err, ConfigError::UnknownConfig("fancy".into()));
        let text = err.to_string();
        for c in ConfigId::ALL {
            assert!(text.contains(c.as_str()), "{text}");
        }
        assert!(text.contains("\"fancy\""), "{text}");
        assert!(serde_json::from_str::<ConfigId>("\"fancy\"").is_err());
        assert!(serde_json::from_str::<ConfigId>("3").is_err());
    }

    #[test]
    fn config_reads_the_legacy_form() {
        let c: GroupingConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, GroupingConfig::default());
        let c: GroupingConfig = serde_json::from_str(r#"{"strategy":"sentry"}"#).unwrap();
        assert_eq!(c.id, ConfigId::Periscope2026_11);
        let c = GroupingConfig::new(ConfigId::TypeAndValue2026_11);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"id":"type-and-value:2026-11"}"#);
        assert_eq!(serde_json::from_str::<GroupingConfig>(&json).unwrap(), c);
    }

    #[test]
    fn only_new_configurations_change_the_key_tag() {
        assert_eq!(
            ConfigId::Periscope2026_11.key_tag(),
            b"periscope-grouping/1\0"
        );
        assert_eq!(
            ConfigId::TypeAndValue2026_11.key_tag(),
            b"periscope-grouping/1\0"
        );
        assert_eq!(
            ConfigId::Periscope2026_12.key_tag(),
            b"periscope-grouping/2 periscope:2026-12\0"
        );
    }

    #[test]
    fn features_per_configuration() {
        assert_eq!(ConfigId::Periscope2026_11.features(), Features::NONE);
        assert_eq!(ConfigId::TypeAndValue2026_11.features(), Features::NONE);
        let new = ConfigId::Periscope2026_12.features();
        assert!(
            new.message_template
                && new.mask_generated_parts
                && new.security_reports
                && new.js_context_replaces_function
                && new.strict_exception_groups
                && new.ios_bundle_in_app
                && new.system_key
        );
        assert_eq!(ConfigId::Periscope2026_11.family(), Family::Periscope);
        assert_eq!(ConfigId::Periscope2026_12.family(), Family::Periscope);
        assert_eq!(ConfigId::TypeAndValue2026_11.family(), Family::TypeAndValue);
    }
}
