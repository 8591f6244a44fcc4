//! Matchers, shared by fingerprint rules and stack-trace rules.

use std::borrow::Cow;
use std::fmt;

use periscope_sentry_envelope::{Event, Frame};

use super::MAX_MATCHED_VALUE_BYTES;
use super::error::{RuleError, RuleErrorKind};
use super::glob::{Glob, GlobMode};
use super::parse::{Cursor, unescape};

/// What a [`Matcher`] looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MatcherField {
    /// `error.type` (alias `type`): an exception's type, case-sensitive.
    ErrorType,
    /// `error.value` (alias `value`): an exception's value, case-insensitive.
    ErrorValue,
    /// `message`: the log message or any exception value, case-insensitive.
    Message,
    /// `logger`: the logger name, case-sensitive.
    Logger,
    /// `level`: the level name, case-insensitive.
    Level,
    /// `tags.NAME`: the value of tag `NAME`, case-sensitive.
    Tag(String),
    /// `stack.module` (alias `module`): a frame's module, case-sensitive.
    Module,
    /// `stack.function` (alias `function`): a frame's function, case-sensitive.
    Function,
    /// `stack.abs_path` (alias `path`): a frame's `abs_path` or `filename`,
    /// as a path (case-insensitive; `*` stops at `/`).
    AbsPath,
    /// `stack.package` (alias `package`): a frame's package, as a path.
    Package,
    /// `family`: the platform family of the frame (or event).
    Family,
    /// `app`: whether the frame is in-app.
    App,
    /// `sdk`: the SDK name, case-sensitive.
    Sdk,
    /// `release`: the release, case-sensitive.
    Release,
    /// `category`: the category a previous stack-trace rule gave the frame.
    Category,
}

impl MatcherField {
    /// Reads a matcher name, with its aliases.
    pub fn from_name(name: &str) -> Option<MatcherField> {
        Some(match name {
            "error.type" | "type" => MatcherField::ErrorType,
            "error.value" | "value" => MatcherField::ErrorValue,
            "message" => MatcherField::Message,
            "logger" => MatcherField::Logger,
            "level" => MatcherField::Level,
            "stack.module" | "module" => MatcherField::Module,
            "stack.function" | "function" => MatcherField::Function,
            "stack.abs_path" | "path" => MatcherField::AbsPath,
            "stack.package" | "package" => MatcherField::Package,
            "family" => MatcherField::Family,
            "app" => MatcherField::App,
            "sdk" => MatcherField::Sdk,
            "release" => MatcherField::Release,
            "category" => MatcherField::Category,
            _ => match name.strip_prefix("tags.") {
                Some(tag) if !tag.is_empty() => MatcherField::Tag(tag.to_owned()),
                _ => return None,
            },
        })
    }

    /// The canonical name (`error.type`, `stack.function`, `tags.NAME` ...).
    pub fn name(&self) -> Cow<'_, str> {
        Cow::Borrowed(match self {
            MatcherField::ErrorType => "error.type",
            MatcherField::ErrorValue => "error.value",
            MatcherField::Message => "message",
            MatcherField::Logger => "logger",
            MatcherField::Level => "level",
            MatcherField::Tag(name) => return Cow::Owned(format!("tags.{name}")),
            MatcherField::Module => "stack.module",
            MatcherField::Function => "stack.function",
            MatcherField::AbsPath => "stack.abs_path",
            MatcherField::Package => "stack.package",
            MatcherField::Family => "family",
            MatcherField::App => "app",
            MatcherField::Sdk => "sdk",
            MatcherField::Release => "release",
            MatcherField::Category => "category",
        })
    }

    /// Whether it looks at one frame (`stack.*`, `app`, `category`).
    pub fn is_frame_field(&self) -> bool {
        matches!(
            self,
            MatcherField::Module
                | MatcherField::Function
                | MatcherField::AbsPath
                | MatcherField::Package
                | MatcherField::App
                | MatcherField::Category
        )
    }

    /// Whether it looks at one exception (`error.type`, `error.value`).
    pub fn is_exception_field(&self) -> bool {
        matches!(self, MatcherField::ErrorType | MatcherField::ErrorValue)
    }

    fn glob_mode(&self) -> GlobMode {
        match self {
            MatcherField::AbsPath | MatcherField::Package => GlobMode::Path,
            MatcherField::ErrorValue | MatcherField::Message | MatcherField::Level => {
                GlobMode::PlainNoCase
            }
            _ => GlobMode::Plain,
        }
    }
}

/// A platform family, as the `family` matcher names it.
///
/// `native` is the platforms `c`, `cocoa`, `native`, `objc` and `swift`;
/// `javascript` is `javascript` and `node`; everything else (including `rust`,
/// `go`, `java`, `python`, and no platform at all) is `other`. `all` matches
/// any family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// C, C++, Objective-C, Swift ...
    Native,
    /// Browser JavaScript and Node.
    JavaScript,
    /// Any other platform.
    Other,
    /// Any family (only as a matcher value).
    All,
}

impl Family {
    /// The family of a platform name (as sent in `platform`).
    pub fn of_platform(platform: Option<&str>) -> Family {
        match platform {
            Some("c" | "cocoa" | "native" | "objc" | "swift") => Family::Native,
            Some("javascript" | "node") => Family::JavaScript,
            _ => Family::Other,
        }
    }

    /// The name used in rules.
    pub fn name(self) -> &'static str {
        match self {
            Family::Native => "native",
            Family::JavaScript => "javascript",
            Family::Other => "other",
            Family::All => "all",
        }
    }

    fn from_name(name: &str) -> Option<Family> {
        Some(match name {
            "native" => Family::Native,
            "javascript" => Family::JavaScript,
            "other" => Family::Other,
            "all" => Family::All,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum MatchValue {
    Glob(Glob),
    Families(Vec<Family>),
    App(bool),
}

/// One `[!]name:value` condition of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    negated: bool,
    field: MatcherField,
    value: MatchValue,
}

/// The frame as stack-trace rules see it at one point: the client's fields
/// and the state earlier rules gave it.
pub(crate) struct FrameView<'a> {
    pub(crate) frame: &'a Frame,
    pub(crate) family: Family,
    pub(crate) in_app: bool,
    pub(crate) category: Option<&'a str>,
}

impl<'a> FrameView<'a> {
    pub(crate) fn new(frame: &'a Frame, event_platform: Option<&str>) -> FrameView<'a> {
        FrameView {
            frame,
            family: Family::of_platform(frame.platform.as_deref().or(event_platform)),
            in_app: frame.in_app == Some(true),
            category: None,
        }
    }
}

/// At most [`MAX_MATCHED_VALUE_BYTES`] of a value are matched.
pub(crate) fn capped(s: &str) -> &str {
    if s.len() <= MAX_MATCHED_VALUE_BYTES {
        return s;
    }
    let mut at = MAX_MATCHED_VALUE_BYTES;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    &s[..at]
}

fn path_matches(glob: &Glob, value: &str) -> bool {
    /// Paths shorter than this are rewritten on the stack.
    const ON_STACK: usize = 256;
    let value = capped(value);
    // The path with `\` read as `/`, after a `/`: a relative path also
    // matches as if it started with `/` (Sentry: it still matches a pattern
    // starting with `**/`). An ASCII path is lowercased too (path globs
    // ignore case), for plain comparisons.
    let ascii = value.is_ascii();
    let mut stack = [0u8; ON_STACK];
    let mut heap = Vec::new();
    let bytes: &mut [u8] = if value.len() < ON_STACK {
        &mut stack[..=value.len()]
    } else {
        heap.resize(value.len() + 1, 0);
        &mut heap
    };
    bytes[0] = b'/';
    for (to, &from) in bytes[1..].iter_mut().zip(value.as_bytes()) {
        *to = match from {
            b'\\' => b'/',
            b if ascii => b.to_ascii_lowercase(),
            b => b,
        };
    }
    // ASCII bytes replaced by others: still UTF-8.
    let Ok(slashed) = std::str::from_utf8(bytes) else {
        return false;
    };
    if ascii {
        return glob.is_path_match_lower_ascii(slashed);
    }
    let value = &slashed[1..];
    glob.is_match(value) || (!value.starts_with('/') && glob.is_match(slashed))
}

impl Matcher {
    /// What it looks at.
    pub fn field(&self) -> &MatcherField {
        &self.field
    }

    /// Whether it is written with a leading `!`.
    pub fn is_negated(&self) -> bool {
        self.negated
    }

    /// The glob pattern (canonical), for the matchers that take one.
    pub fn pattern(&self) -> Option<&str> {
        match &self.value {
            MatchValue::Glob(g) => Some(g.source()),
            _ => None,
        }
    }

    /// The compiled glob, for the matchers that take one.
    pub(crate) fn glob(&self) -> Option<&Glob> {
        match &self.value {
            MatchValue::Glob(g) => Some(g),
            _ => None,
        }
    }

    fn glob_matches(&self, value: Option<&str>) -> bool {
        match (&self.value, value) {
            (MatchValue::Glob(g), Some(v)) => g.is_match(capped(v)),
            _ => false,
        }
    }

    /// Whether the matcher holds for a frame (negation applied).
    pub(crate) fn matches_frame(&self, view: &FrameView<'_>) -> bool {
        let f = view.frame;
        let hit = match (&self.field, &self.value) {
            (MatcherField::Function, _) => self.glob_matches(f.function.as_deref()),
            (MatcherField::Module, _) => self.glob_matches(f.module.as_deref()),
            (MatcherField::AbsPath, MatchValue::Glob(g)) => [&f.abs_path, &f.filename]
                .into_iter()
                .flatten()
                .any(|p| path_matches(g, p)),
            (MatcherField::Package, MatchValue::Glob(g)) => {
                f.package.as_deref().is_some_and(|p| path_matches(g, p))
            }
            (MatcherField::Category, _) => self.glob_matches(view.category),
            (MatcherField::App, MatchValue::App(yes)) => view.in_app == *yes,
            (MatcherField::Family, _) => self.family_matches(view.family),
            _ => false,
        };
        hit != self.negated
    }

    pub(crate) fn family_matches(&self, family: Family) -> bool {
        match &self.value {
            MatchValue::Families(list) => list.iter().any(|&f| f == Family::All || f == family),
            _ => false,
        }
    }

    /// Whether the matcher holds for one exception (negation applied).
    pub(crate) fn matches_exception(&self, ty: Option<&str>, value: Option<&str>) -> bool {
        let hit = match self.field {
            MatcherField::ErrorType => self.glob_matches(ty),
            MatcherField::ErrorValue => self.glob_matches(value),
            _ => false,
        };
        hit != self.negated
    }

    /// Whether an event-level matcher holds for the event (negation applied).
    pub(crate) fn matches_event(&self, event: &Event, family: Family) -> bool {
        let hit = match &self.field {
            MatcherField::Message => {
                self.glob_matches(event.message())
                    || event
                        .exceptions
                        .iter()
                        .any(|e| self.glob_matches(e.value.as_deref()))
            }
            MatcherField::Logger => self.glob_matches(event.logger.as_deref()),
            MatcherField::Level => self.glob_matches(event.level.as_ref().map(|l| l.as_str())),
            MatcherField::Tag(name) => self.glob_matches(event.tag(name)),
            MatcherField::Sdk => {
                self.glob_matches(event.sdk.as_ref().and_then(|s| s.name.as_deref()))
            }
            MatcherField::Release => self.glob_matches(event.release.as_deref()),
            MatcherField::Family => self.family_matches(family),
            _ => false,
        };
        hit != self.negated
    }

    /// Parses one matcher at the cursor: `[!]name:value`. The caller has
    /// checked the field is allowed with `allowed`.
    pub(crate) fn parse(
        cur: &mut Cursor<'_>,
        in_group: bool,
        stacktrace: bool,
        allowed: impl Fn(&MatcherField) -> Result<(), &'static str>,
    ) -> Result<Matcher, RuleError> {
        let negated = cur.eat("!");
        let key_start = cur.pos;
        let rest = cur.rest();
        let key_len = rest
            .find(|c: char| c == ':' || c.is_whitespace() || (in_group && c == ']'))
            .unwrap_or(rest.len());
        let key = &rest[..key_len];
        let field = MatcherField::from_name(key).ok_or_else(|| {
            cur.error(RuleErrorKind::UnknownMatcher {
                name: key.to_owned(),
                stacktrace,
            })
        })?;
        if let Err(allowed_in) = allowed(&field) {
            return Err(cur.error(RuleErrorKind::MatcherNotAllowed {
                name: key.to_owned(),
                allowed_in,
            }));
        }
        cur.pos += key_len;
        if !cur.eat(":") {
            return Err(cur.error_at(
                key_start,
                RuleErrorKind::MissingColon {
                    name: key.to_owned(),
                },
            ));
        }
        let value_start = cur.pos;
        let (raw, quoted) = cur.value(in_group, false)?;
        if raw.is_empty() && !quoted {
            return Err(cur.error_at(
                key_start,
                RuleErrorKind::MissingValue {
                    name: key.to_owned(),
                },
            ));
        }
        let invalid = |expected| {
            cur.error_at(
                value_start,
                RuleErrorKind::InvalidValue {
                    name: key.to_owned(),
                    value: unescape(raw),
                    expected,
                },
            )
        };
        let value = match field {
            MatcherField::App => match unescape(raw).to_ascii_lowercase().as_str() {
                "yes" | "true" | "1" => MatchValue::App(true),
                "no" | "false" | "0" => MatchValue::App(false),
                _ => return Err(invalid("yes, no, true, false, 1 or 0")),
            },
            MatcherField::Family => {
                let text = unescape(raw);
                let families = text
                    .split(',')
                    .map(|f| Family::from_name(f.trim()))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        invalid("native, javascript, other or all, separated by commas")
                    })?;
                MatchValue::Families(families)
            }
            _ => MatchValue::Glob(Glob::new(raw, field.glob_mode()).map_err(|e| {
                cur.error_at(
                    value_start + usize::from(quoted) + e.offset,
                    RuleErrorKind::InvalidPattern { reason: e.message },
                )
            })?),
        };
        Ok(Matcher {
            negated,
            field,
            value,
        })
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negated {
            f.write_str("!")?;
        }
        write!(f, "{}:", self.field.name())?;
        match &self.value {
            MatchValue::App(yes) => f.write_str(if *yes { "yes" } else { "no" }),
            MatchValue::Families(list) => {
                for (i, fam) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(fam.name())?;
                }
                Ok(())
            }
            MatchValue::Glob(g) => {
                let s = g.source();
                if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '[') {
                    // The source escapes `"` and `\` already.
                    write!(f, "\"{s}\"")
                } else {
                    f.write_str(s)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    /// `path_matches` as first written: a new string per rewrite.
    fn path_matches_reference(glob: &Glob, value: &str) -> bool {
        let value = capped(value);
        let value: Cow<'_, str> = if value.contains('\\') {
            Cow::Owned(value.replace('\\', "/"))
        } else {
            Cow::Borrowed(value)
        };
        glob.is_match(&value) || (!value.starts_with('/') && glob.is_match(&format!("/{value}")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn path_matching_agrees_with_the_reference(
            pattern in "(a|B|/|k|é|ab/|\\*|\\*\\*|\\?|\\[a-b\\]|\\[!A\\]|\\[K\\]){0,6}",
            value in "(a|A|b|B|/|\\\\|k|K|é|É|\u{212a}|ab/){0,8}",
        ) {
            let g = Glob::new(&pattern, GlobMode::Path).unwrap();
            prop_assert_eq!(path_matches(&g, &value), path_matches_reference(&g, &value));
        }
    }

    #[test]
    fn long_paths_match_as_short_ones() {
        let g = Glob::new("**/vendor/**", GlobMode::Path).unwrap();
        let long = format!("{}/Vendor/x.c", "a".repeat(300));
        assert!(path_matches(&g, &long));
        assert!(path_matches(&g, "vendor/x.c"));
        assert!(!path_matches(&g, &"a".repeat(MAX_MATCHED_VALUE_BYTES + 10)));
    }
}
