//! Decisions: which limits apply and for how long, as SDKs read them.

use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::DataCategory;
use crate::config::{QuotaScope, is_token_char};
use crate::error::QuotaError;
use crate::time::duration_to_secs_ceil;

/// One active rate limit: events of `categories` from `scope` should not be sent for
/// `retry_after`.
///
/// Rendered as one item of `X-Sentry-Rate-Limits`:
/// `retry_after_seconds:categories:scope[:reason_code[:namespaces]]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// The limited categories; empty means all.
    pub categories: Vec<DataCategory>,
    /// The scope of the quota that refused.
    pub scope: QuotaScope,
    /// The reason code (the quota id), if any.
    pub reason: Option<String>,
    /// Metric namespaces the limit is restricted to (Sentry's fifth field); empty
    /// means all. Periscope does not produce it; it is kept when parsing.
    pub namespaces: Vec<String>,
    /// How long until an event would be admitted again (exact to the millisecond;
    /// rounded up to whole seconds in headers).
    pub retry_after: Duration,
}

impl RateLimit {
    /// A limit on every category of `scope`, with no reason.
    pub fn new(scope: QuotaScope, retry_after: Duration) -> Self {
        RateLimit {
            categories: Vec::new(),
            scope,
            reason: None,
            namespaces: Vec::new(),
            retry_after,
        }
    }

    /// Whether this limit covers `category` (an empty category list covers all).
    pub fn applies_to(&self, category: &DataCategory) -> bool {
        self.categories.is_empty() || self.categories.contains(category)
    }

    /// The retry-after in whole seconds, rounded up (what the headers carry).
    pub fn retry_after_secs(&self) -> u64 {
        duration_to_secs_ceil(self.retry_after)
    }

    /// Whether `other` limits the same thing (same category set, scope and
    /// namespace set), so that the two merge into one.
    fn same_target(&self, other: &RateLimit) -> bool {
        self.scope == other.scope
            && same_set(&self.categories, &other.categories)
            && same_set(&self.namespaces, &other.namespaces)
    }

    /// Parses one `X-Sentry-Rate-Limits` item.
    fn parse_item(item: &str) -> Result<RateLimit, QuotaError> {
        let mut fields = item.split(':');
        let seconds = fields.next().unwrap_or_default().trim();
        let retry_after = parse_seconds(seconds)?;
        let categories = fields.next().ok_or_else(|| QuotaError::MissingField {
            item: item.to_owned(),
            field: "categories",
        })?;
        let categories = categories
            .split(';')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(DataCategory::from_name)
            .collect();
        let scope = QuotaScope::from_name(fields.next().unwrap_or_default().trim());
        let reason = fields
            .next()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        let namespaces = fields
            .next()
            .unwrap_or_default()
            .split(';')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(RateLimit {
            categories,
            scope,
            reason,
            namespaces,
            retry_after,
        })
    }
}

impl fmt::Display for RateLimit {
    /// The `X-Sentry-Rate-Limits` item, e.g. `60:error;default:project:project_quota`.
    ///
    /// Characters that would break the header (anything but ASCII letters, digits,
    /// `_`, `-`, `.`) in unknown names and reasons are written as `_`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.retry_after_secs())?;
        for (i, c) in self.categories.iter().enumerate() {
            if i > 0 {
                f.write_char(';')?;
            }
            write_token(f, c.as_str())?;
        }
        f.write_char(':')?;
        write_token(f, self.scope.as_str())?;
        if self.reason.is_some() || !self.namespaces.is_empty() {
            f.write_char(':')?;
            write_token(f, self.reason.as_deref().unwrap_or_default())?;
        }
        if !self.namespaces.is_empty() {
            f.write_char(':')?;
            for (i, n) in self.namespaces.iter().enumerate() {
                if i > 0 {
                    f.write_char(';')?;
                }
                write_token(f, n)?;
            }
        }
        Ok(())
    }
}

/// A set of rate limits, merged so that each target (category set, scope,
/// namespaces) appears once, with the longest retry-after seen for it.
///
/// This is what a refused check returns and what the two response headers are made
/// of:
///
/// ```
/// use std::time::Duration;
/// use periscope_quota::{DataCategory, QuotaScope, RateLimit, RateLimits};
///
/// let mut limits = RateLimits::new();
/// limits.add(RateLimit {
///     categories: vec![DataCategory::Error, DataCategory::Default],
///     scope: QuotaScope::Project,
///     reason: Some("project_quota".into()),
///     namespaces: vec![],
///     retry_after: Duration::from_secs(60),
/// });
/// limits.add(RateLimit::new(QuotaScope::Installation, Duration::from_millis(3_599_001)));
/// assert_eq!(
///     limits.to_header_value(),
///     "60:error;default:project:project_quota, 3600::organization"
/// );
/// assert_eq!(limits.retry_after_header().as_deref(), Some("3600"));
/// assert_eq!(RateLimits::parse(&limits.to_header_value()).unwrap().len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    limits: Vec<RateLimit>,
}

impl RateLimits {
    /// The most items [`RateLimits::parse`] accepts (merging is quadratic in the
    /// number of items; real headers hold a handful).
    pub const MAX_PARSED_ITEMS: usize = 256;

    /// An empty set (nothing limited).
    pub const fn new() -> Self {
        RateLimits { limits: Vec::new() }
    }

    /// Adds a limit; if one with the same target is already there, keeps whichever
    /// has the longer retry-after (with its reason).
    pub fn add(&mut self, limit: RateLimit) {
        match self.limits.iter_mut().find(|l| l.same_target(&limit)) {
            Some(existing) => {
                if limit.retry_after > existing.retry_after {
                    *existing = limit;
                }
            }
            None => self.limits.push(limit),
        }
    }

    /// Adds every limit of `other` (see [`RateLimits::add`]).
    pub fn merge(&mut self, other: RateLimits) {
        for limit in other.limits {
            self.add(limit);
        }
    }

    /// Whether nothing is limited.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// How many distinct limits there are.
    pub fn len(&self) -> usize {
        self.limits.len()
    }

    /// The limits, in the order they were first added.
    pub fn iter(&self) -> std::slice::Iter<'_, RateLimit> {
        self.limits.iter()
    }

    /// The longest retry-after, if any limit is present.
    pub fn longest(&self) -> Option<Duration> {
        self.limits.iter().map(|l| l.retry_after).max()
    }

    /// The longest retry-after among the limits covering `category`, if any.
    pub fn retry_after_for(&self, category: &DataCategory) -> Option<Duration> {
        self.limits
            .iter()
            .filter(|l| l.applies_to(category))
            .map(|l| l.retry_after)
            .max()
    }

    /// The `X-Sentry-Rate-Limits` value: the items joined by `", "`, e.g.
    /// `60:error;default:project:project_quota, 3600::organization`. Empty for an
    /// empty set (send no header then).
    pub fn to_header_value(&self) -> String {
        self.to_string()
    }

    /// The longest retry-after in whole seconds, rounded up.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.longest().map(duration_to_secs_ceil)
    }

    /// The `Retry-After` value: the longest retry-after in whole seconds, rounded up
    /// (`None` for an empty set).
    pub fn retry_after_header(&self) -> Option<String> {
        self.retry_after_secs().map(|s| s.to_string())
    }

    /// Parses an `X-Sentry-Rate-Limits` value back into limits (merged as by
    /// [`RateLimits::add`]).
    ///
    /// Tolerant where SDKs are: whitespace around items and fields, empty items and
    /// empty categories are skipped, unknown categories and scopes are kept, fields
    /// after the fifth are ignored, and a retry-after may be fractional. An item
    /// without a numeric retry-after or without a categories field is an error, and
    /// so is a value of more than [`RateLimits::MAX_PARSED_ITEMS`] items.
    pub fn parse(value: &str) -> Result<RateLimits, QuotaError> {
        let mut limits = RateLimits::new();
        let items = value.split(',').map(str::trim).filter(|i| !i.is_empty());
        for (n, item) in items.enumerate() {
            if n == Self::MAX_PARSED_ITEMS {
                return Err(QuotaError::TooManyItems {
                    max: Self::MAX_PARSED_ITEMS,
                });
            }
            limits.add(RateLimit::parse_item(item)?);
        }
        Ok(limits)
    }
}

impl fmt::Display for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, limit) in self.limits.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{limit}")?;
        }
        Ok(())
    }
}

impl From<RateLimit> for RateLimits {
    fn from(limit: RateLimit) -> Self {
        RateLimits {
            limits: vec![limit],
        }
    }
}

impl FromIterator<RateLimit> for RateLimits {
    fn from_iter<I: IntoIterator<Item = RateLimit>>(iter: I) -> Self {
        let mut limits = RateLimits::new();
        limits.extend(iter);
        limits
    }
}

impl Extend<RateLimit> for RateLimits {
    fn extend<I: IntoIterator<Item = RateLimit>>(&mut self, iter: I) {
        for limit in iter {
            self.add(limit);
        }
    }
}

impl IntoIterator for RateLimits {
    type Item = RateLimit;
    type IntoIter = std::vec::IntoIter<RateLimit>;

    fn into_iter(self) -> Self::IntoIter {
        self.limits.into_iter()
    }
}

impl<'a> IntoIterator for &'a RateLimits {
    type Item = &'a RateLimit;
    type IntoIter = std::slice::Iter<'a, RateLimit>;

    fn into_iter(self) -> Self::IntoIter {
        self.limits.iter()
    }
}

/// Parses a `Retry-After` value in seconds (`"60"`; a fraction such as `"1.5"` is
/// accepted too). The HTTP-date form is not supported.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(periscope_quota::parse_retry_after(" 60 "), Ok(Duration::from_secs(60)));
/// assert!(periscope_quota::parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").is_err());
/// ```
pub fn parse_retry_after(value: &str) -> Result<Duration, QuotaError> {
    parse_seconds(value.trim())
}

fn parse_seconds(s: &str) -> Result<Duration, QuotaError> {
    let invalid = || QuotaError::InvalidRetryAfter {
        value: s.to_owned(),
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(invalid());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let secs: f64 = s.parse().map_err(|_| invalid())?;
    Duration::try_from_secs_f64(secs).map_err(|_| invalid())
}

fn write_token(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    if s.chars().all(is_token_char) {
        return f.write_str(s);
    }
    for c in s.chars() {
        f.write_char(if is_token_char(c) { c } else { '_' })?;
    }
    Ok(())
}

fn same_set<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(cats: &[DataCategory], scope: QuotaScope, secs: u64) -> RateLimit {
        RateLimit {
            categories: cats.to_vec(),
            scope,
            reason: None,
            namespaces: vec![],
            retry_after: Duration::from_secs(secs),
        }
    }

    #[test]
    fn protocol_example_parses() {
        let v = "60:error;default:project:project_quota, 3600::organization";
        let limits = RateLimits::parse(v).unwrap();
        let all: Vec<_> = limits.iter().cloned().collect();
        assert_eq!(
            all,
            vec![
                RateLimit {
                    categories: vec![DataCategory::Error, DataCategory::Default],
                    scope: QuotaScope::Project,
                    reason: Some("project_quota".into()),
                    namespaces: vec![],
                    retry_after: Duration::from_secs(60),
                },
                limit(&[], QuotaScope::Installation, 3600),
            ]
        );
        assert_eq!(limits.to_header_value(), v);
        assert_eq!(limits.retry_after_header().as_deref(), Some("3600"));
    }

    #[test]
    fn tolerant_parsing() {
        let limits =
            RateLimits::parse(" 10:error;;foo:key , ,2.5:: , 7:span:global:r:custom;x:extra")
                .unwrap();
        let all: Vec<_> = limits.iter().cloned().collect();
        assert_eq!(all.len(), 3);
        assert_eq!(
            all[0].categories,
            vec![DataCategory::Error, DataCategory::Unknown("foo".into())]
        );
        assert_eq!(all[0].scope, QuotaScope::Key);
        assert_eq!(all[1].retry_after, Duration::from_millis(2500));
        assert_eq!(all[1].scope, QuotaScope::Unknown(String::new()));
        assert_eq!(all[2].scope, QuotaScope::Unknown("global".into()));
        assert_eq!(all[2].namespaces, vec!["custom".to_string(), "x".into()]);
        assert_eq!(all[2].to_string(), "7:span:global:r:custom;x");
        assert_eq!(all[1].to_string(), "3::");
        assert_eq!(RateLimits::parse("").unwrap(), RateLimits::new());
    }

    #[test]
    fn parse_errors() {
        assert!(matches!(
            RateLimits::parse("abc:error:project"),
            Err(QuotaError::InvalidRetryAfter { .. })
        ));
        assert!(matches!(
            RateLimits::parse("-1:error:project"),
            Err(QuotaError::InvalidRetryAfter { .. })
        ));
        assert!(matches!(
            RateLimits::parse("60"),
            Err(QuotaError::MissingField {
                field: "categories",
                ..
            })
        ));
        let many = "1:error:key, ".repeat(RateLimits::MAX_PARSED_ITEMS);
        assert_eq!(RateLimits::parse(&many).map(|l| l.len()), Ok(1));
        assert_eq!(
            RateLimits::parse(&format!("{many}1:error:key")),
            Err(QuotaError::TooManyItems { max: 256 })
        );
        assert!(parse_retry_after("1e999").is_err());
        assert!(parse_retry_after(".").is_err());
        assert!(parse_retry_after("").is_err());
        assert!(parse_retry_after("1.2.3").is_err());
        assert_eq!(parse_retry_after("0"), Ok(Duration::ZERO));
        let e = RateLimits::parse("60").unwrap_err().to_string();
        assert!(e.contains("retry_after_seconds:categories:scope"), "{e}");
    }

    #[test]
    fn merge_keeps_longest() {
        let mut limits = RateLimits::new();
        limits.add(limit(&[DataCategory::Error], QuotaScope::Project, 10));
        let mut longer = limit(&[DataCategory::Error], QuotaScope::Project, 20);
        longer.reason = Some("longer".into());
        limits.add(longer.clone());
        limits.add(limit(&[DataCategory::Error], QuotaScope::Project, 5));
        limits.add(limit(&[DataCategory::Error], QuotaScope::Key, 1));
        assert_eq!(limits.len(), 2);
        assert_eq!(limits.iter().next(), Some(&longer));
        assert_eq!(
            limits.retry_after_for(&DataCategory::Error),
            Some(Duration::from_secs(20))
        );
        assert_eq!(limits.retry_after_for(&DataCategory::Span), None);
        // Category order does not matter.
        limits.add(limit(
            &[DataCategory::Default, DataCategory::Error],
            QuotaScope::Key,
            3,
        ));
        limits.add(limit(
            &[DataCategory::Error, DataCategory::Default],
            QuotaScope::Key,
            4,
        ));
        assert_eq!(limits.len(), 3);
        assert_eq!(limits.longest(), Some(Duration::from_secs(20)));
    }

    #[test]
    fn rendering_rounds_up_and_sanitizes() {
        let l = RateLimit {
            categories: vec![DataCategory::Unknown("we,ird:cat".into())],
            scope: QuotaScope::Key,
            reason: Some("a b".into()),
            namespaces: vec![],
            retry_after: Duration::from_millis(1),
        };
        assert_eq!(l.to_string(), "1:we_ird_cat:key:a_b");
        let l = RateLimit {
            namespaces: vec!["custom".into()],
            ..RateLimit::new(QuotaScope::Project, Duration::from_millis(59_001))
        };
        assert_eq!(l.to_string(), "60::project::custom");
        assert_eq!(RateLimits::new().to_header_value(), "");
        assert_eq!(RateLimits::new().retry_after_header(), None);
    }
}
