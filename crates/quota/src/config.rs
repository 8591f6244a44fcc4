//! Configuration: what is counted, where, and how much is allowed.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use periscope_sentry_envelope::DataCategory;

use crate::error::QuotaError;

/// Who shares a quota: the whole installation, one project, or one client key.
///
/// On the wire (`X-Sentry-Rate-Limits`), the installation scope is announced as
/// Sentry's `organization` scope: a Periscope installation is one organization as far
/// as an SDK can tell, and `organization` is the name every SDK and Sentry relay know.
/// Other names are kept in [`QuotaScope::Unknown`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaScope {
    /// The whole installation (wire name `organization`).
    Installation,
    /// One project (wire name `project`).
    Project,
    /// One client key / DSN (wire name `key`).
    Key,
    /// Any other scope name, kept as received (e.g. `global`).
    Unknown(String),
}

impl QuotaScope {
    /// The wire name (`"organization"`, `"project"`, `"key"`, or as received).
    pub fn as_str(&self) -> &str {
        match self {
            QuotaScope::Installation => "organization",
            QuotaScope::Project => "project",
            QuotaScope::Key => "key",
            QuotaScope::Unknown(name) => name,
        }
    }

    /// The scope for a wire name; never fails (unknown names are kept).
    pub fn from_name(name: &str) -> Self {
        match name {
            "organization" => QuotaScope::Installation,
            "project" => QuotaScope::Project,
            "key" => QuotaScope::Key,
            other => QuotaScope::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for QuotaScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for QuotaScope {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(QuotaScope::from_name(s))
    }
}

/// One quota: at most `limit` units of the given categories per sliding `window`,
/// shared by everything in one scope.
///
/// This is configuration only; the counts live in a [`Counter`](crate::Counter) and a
/// refusal is a [`RateLimit`](crate::RateLimit).
///
/// ```
/// use std::time::Duration;
/// use periscope_quota::{DataCategory, Quota, QuotaScope};
///
/// let quota = Quota::new("project_quota", QuotaScope::Project, Some(1000), Duration::from_secs(3600))
///     .with_categories([DataCategory::Error, DataCategory::Default]);
/// assert!(quota.applies_to(&DataCategory::Error));
/// assert!(!quota.applies_to(&DataCategory::Transaction));
/// assert!(quota.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Identifies the quota's counters and is sent to SDKs as the reason code
    /// (e.g. `project_quota`). Use ASCII letters, digits, `_`, `-`, `.`; other
    /// characters are replaced by `_` in headers. An empty id sends no reason.
    pub id: String,
    /// Who shares the quota.
    pub scope: QuotaScope,
    /// The categories it counts; empty means every category.
    pub categories: Vec<DataCategory>,
    /// Units allowed per window: `None` only counts (never refuses), `Some(0)`
    /// refuses everything.
    pub limit: Option<u64>,
    /// The sliding window, any length (a minute, a day, 30 days …), rounded up to
    /// whole milliseconds; a zero window acts as one millisecond.
    pub window: Duration,
}

impl Quota {
    /// A quota over every category (add categories with [`Quota::with_categories`]).
    pub fn new(
        id: impl Into<String>,
        scope: QuotaScope,
        limit: Option<u64>,
        window: Duration,
    ) -> Self {
        Quota {
            id: id.into(),
            scope,
            categories: Vec::new(),
            limit,
            window,
        }
    }

    /// Restricts the quota to these categories (replacing any set before).
    pub fn with_categories(mut self, categories: impl IntoIterator<Item = DataCategory>) -> Self {
        self.categories = categories.into_iter().collect();
        self
    }

    /// Whether events of `category` count against this quota.
    pub fn applies_to(&self, category: &DataCategory) -> bool {
        self.categories.is_empty() || self.categories.contains(category)
    }

    /// This quota applied to one concrete scope (a project id, a key id, or any fixed
    /// string for the installation).
    pub fn scoped<'a>(&'a self, scope_key: &'a str) -> ScopedQuota<'a> {
        ScopedQuota {
            quota: self,
            scope_key,
        }
    }

    /// Checks what can be checked when the quota is configured: a non-zero window and
    /// an id that is a valid reason code. Accounting works without calling this.
    pub fn validate(&self) -> Result<(), QuotaError> {
        if self.window.is_zero() {
            return Err(QuotaError::ZeroWindow {
                id: self.id.clone(),
            });
        }
        if self.id.is_empty() || self.id.len() > 64 || !self.id.chars().all(is_token_char) {
            return Err(QuotaError::InvalidQuotaId {
                id: self.id.clone(),
            });
        }
        Ok(())
    }
}

/// A [`Quota`] applied to one concrete scope: the counters of `quota` for
/// `scope_key` (e.g. the project id for a project quota).
///
/// Borrowed, so building the list for each request costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScopedQuota<'a> {
    /// The quota.
    pub quota: &'a Quota,
    /// Which instance of the scope (project id, key id, `""` for the installation …).
    pub scope_key: &'a str,
}

/// Characters allowed in header tokens (categories, scopes, reasons, namespaces).
pub(crate) fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_round_trip() {
        // The protocol crate's type, re-exported: the quota side relies on the
        // names it parses and renders in headers.
        for c in DataCategory::KNOWN {
            assert_eq!(&DataCategory::from_name(c.as_str()), c);
            assert_eq!(c.to_string().parse::<DataCategory>().as_ref(), Ok(c));
            assert!(!c.is_unknown());
        }
        let u: DataCategory = "metric_bucket".parse().unwrap_or(DataCategory::Default);
        assert_eq!(u, DataCategory::Unknown("metric_bucket".into()));
        assert_eq!(u.to_string(), "metric_bucket");
    }

    #[test]
    fn scope_names() {
        assert_eq!(QuotaScope::Installation.as_str(), "organization");
        assert_eq!(
            QuotaScope::from_name("organization"),
            QuotaScope::Installation
        );
        assert_eq!(QuotaScope::from_name("key"), QuotaScope::Key);
        assert_eq!(
            QuotaScope::from_name("global"),
            QuotaScope::Unknown("global".into())
        );
    }

    #[test]
    fn validation() {
        let ok = Quota::new("p_q-1.x", QuotaScope::Key, None, Duration::from_secs(1));
        assert_eq!(ok.validate(), Ok(()));
        let zero = Quota::new("z", QuotaScope::Key, None, Duration::ZERO);
        assert!(matches!(
            zero.validate(),
            Err(QuotaError::ZeroWindow { .. })
        ));
        let bad = Quota::new("a:b", QuotaScope::Key, None, Duration::from_secs(1));
        assert!(matches!(
            bad.validate(),
            Err(QuotaError::InvalidQuotaId { .. })
        ));
        assert!(
            Quota::new("", QuotaScope::Key, None, Duration::from_secs(1))
                .validate()
                .is_err()
        );
    }

    #[test]
    fn applies_to() {
        let all = Quota::new("a", QuotaScope::Project, Some(1), Duration::from_secs(1));
        assert!(all.applies_to(&DataCategory::Unknown("x".into())));
        let some = all.clone().with_categories([DataCategory::Error]);
        assert!(some.applies_to(&DataCategory::Error));
        assert!(!some.applies_to(&DataCategory::Default));
    }
}
