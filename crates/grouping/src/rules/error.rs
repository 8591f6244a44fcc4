//! Parse errors of rule texts, with the line and column where they were found.

use std::fmt;

/// A rule text that could not be read: where, and what was wrong.
///
/// Displayed as `what at LINE:COLUMN; what to do`, e.g.
/// `unknown matcher "stack.fnction" at 3:1; expected one of error.type, ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at {line}:{column}{}", hint_suffix(.kind))]
#[non_exhaustive]
pub struct RuleError {
    /// 1-based line of the rule text.
    pub line: usize,
    /// 1-based column, in characters (not bytes), within the line.
    pub column: usize,
    /// What was wrong.
    pub kind: RuleErrorKind,
}

fn hint_suffix(kind: &RuleErrorKind) -> String {
    match kind.hint() {
        Some(h) => format!("; {h}"),
        None => String::new(),
    }
}

impl RuleError {
    pub(crate) fn new(line: usize, column: usize, kind: RuleErrorKind) -> RuleError {
        RuleError { line, column, kind }
    }

    /// Whether the text was refused for its size (a limit of
    /// [`crate::rules`]) rather than its syntax.
    pub fn is_limit(&self) -> bool {
        matches!(
            self.kind,
            RuleErrorKind::TooManyRules { .. }
                | RuleErrorKind::TextTooLong { .. }
                | RuleErrorKind::LineTooLong { .. }
                | RuleErrorKind::TooManyMatchers { .. }
                | RuleErrorKind::TooManyParts { .. }
        )
    }
}

/// The kinds of [`RuleError`]. `Display` gives the message without the
/// position or the hint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleErrorKind {
    /// A matcher name that does not exist.
    UnknownMatcher {
        /// The name as written.
        name: String,
        /// Whether it was read in a stack-trace rule (the hint differs).
        stacktrace: bool,
    },
    /// A matcher name without `:` and a value.
    MissingColon {
        /// The matcher name.
        name: String,
    },
    /// `name:` with nothing after it.
    MissingValue {
        /// The matcher name.
        name: String,
    },
    /// A matcher that exists but not in this kind of rule.
    MatcherNotAllowed {
        /// The matcher name.
        name: String,
        /// Where it can be used instead.
        allowed_in: &'static str,
    },
    /// A value a matcher does not accept (`app:maybe`, `family:web`).
    InvalidValue {
        /// The matcher or action.
        name: String,
        /// The value as written.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// A malformed glob pattern.
    InvalidPattern {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `"` without its closing `"`.
    UnterminatedQuote,
    /// A `{{` without its closing `}}`.
    UnterminatedVariable,
    /// Text right after a closing quote.
    TextAfterQuote,
    /// A rule without matchers.
    MissingMatchers,
    /// A fingerprint rule without `->`.
    MissingArrow,
    /// A fingerprint rule with nothing after `->` (or after a `,`).
    MissingFingerprint,
    /// Two fingerprint parts not separated by `,`.
    ExpectedComma,
    /// An attribute other than `title`.
    UnknownAttribute {
        /// The name as written.
        name: String,
    },
    /// The same attribute twice.
    DuplicateAttribute {
        /// The attribute.
        name: String,
    },
    /// A stack-trace rule without actions.
    MissingActions,
    /// An action that does not exist.
    UnknownAction {
        /// The action as written.
        action: String,
    },
    /// Two actions on the same flag and direction, or the same variable twice.
    DuplicateAction {
        /// The second action, as written.
        action: String,
    },
    /// A matcher after the first action.
    MatcherAfterActions,
    /// Caller/callee brackets that are not well formed.
    InvalidSiblingSyntax {
        /// What was expected.
        expected: &'static str,
    },
    /// Caller/callee brackets in a fingerprint rule.
    SiblingsNotAllowed,
    /// More than [`crate::rules::MAX_RULES`] rules.
    TooManyRules {
        /// The limit.
        max: usize,
    },
    /// More than [`crate::rules::MAX_RULE_TEXT_BYTES`] bytes of text.
    TextTooLong {
        /// The limit.
        max: usize,
    },
    /// A line longer than [`crate::rules::MAX_LINE_BYTES`].
    LineTooLong {
        /// The limit.
        max: usize,
    },
    /// More than [`crate::rules::MAX_MATCHERS_PER_RULE`] matchers in a rule.
    TooManyMatchers {
        /// The limit.
        max: usize,
    },
    /// More than [`crate::rules::MAX_FINGERPRINT_PARTS_PER_RULE`] parts.
    TooManyParts {
        /// The limit.
        max: usize,
    },
}

/// The matcher names, for the hint of an unknown one.
const FINGERPRINT_MATCHERS: &str = "error.type (type), error.value (value), message, logger, \
     level, tags.NAME, stack.abs_path (path), stack.module (module), stack.function (function), \
     stack.package (package), family, app, sdk, release";
const STACKTRACE_MATCHERS: &str = "stack.abs_path (path), stack.module (module), \
     stack.function (function), stack.package (package), family, app, category, \
     error.type (type), error.value (value)";
const ACTIONS: &str = "+app, -app, +group, -group (each also with ^ for the frames \
     towards the crash or v for the frames away from it), category=NAME, max-frames=N, \
     min-frames=N";

impl RuleErrorKind {
    fn hint(&self) -> Option<String> {
        Some(match self {
            RuleErrorKind::UnknownMatcher { stacktrace, .. } => format!(
                "expected one of {}",
                if *stacktrace {
                    STACKTRACE_MATCHERS
                } else {
                    FINGERPRINT_MATCHERS
                }
            ),
            RuleErrorKind::MissingColon { name } => format!("write {name}:VALUE"),
            RuleErrorKind::MissingValue { .. } => {
                "quote an empty or spaced value: \"like this\"".to_owned()
            }
            RuleErrorKind::MatcherNotAllowed { allowed_in, .. } => {
                format!("it is only available in {allowed_in}")
            }
            RuleErrorKind::InvalidValue { expected, .. } => format!("expected {expected}"),
            RuleErrorKind::UnterminatedQuote => {
                "close it with \" (write \\\" for a quote inside)".to_owned()
            }
            RuleErrorKind::UnterminatedVariable => "close it with }}".to_owned(),
            RuleErrorKind::TextAfterQuote => "put a space after the closing quote".to_owned(),
            RuleErrorKind::MissingMatchers => {
                "a rule starts with at least one matcher such as error.type:ValueError".to_owned()
            }
            RuleErrorKind::MissingArrow => {
                "a fingerprint rule is: matchers -> part, part ... [title=\"...\"]".to_owned()
            }
            RuleErrorKind::MissingFingerprint => {
                "give at least one part, e.g. -> my-group or -> {{ default }}, {{ transaction }}"
                    .to_owned()
            }
            RuleErrorKind::ExpectedComma => {
                "separate parts with \",\", quote parts containing spaces, or add title=\"...\""
                    .to_owned()
            }
            RuleErrorKind::UnknownAttribute { .. } => "expected title=\"...\"".to_owned(),
            RuleErrorKind::MissingActions | RuleErrorKind::UnknownAction { .. } => {
                format!("expected one of {ACTIONS}")
            }
            RuleErrorKind::DuplicateAction { .. } => {
                "a rule sets each flag once per direction, and each variable once".to_owned()
            }
            RuleErrorKind::MatcherAfterActions => "matchers come before actions".to_owned(),
            RuleErrorKind::InvalidSiblingSyntax { .. } => {
                "write [ caller matchers ] | matchers | [ callee matchers ] actions".to_owned()
            }
            RuleErrorKind::SiblingsNotAllowed => {
                "caller/callee matching is only available in stack-trace rules".to_owned()
            }
            RuleErrorKind::TooManyRules { .. }
            | RuleErrorKind::TextTooLong { .. }
            | RuleErrorKind::LineTooLong { .. }
            | RuleErrorKind::TooManyMatchers { .. }
            | RuleErrorKind::TooManyParts { .. } => return None,
            RuleErrorKind::InvalidPattern { .. } | RuleErrorKind::DuplicateAttribute { .. } => {
                return None;
            }
        })
    }
}

impl fmt::Display for RuleErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleErrorKind::UnknownMatcher { name, .. } => write!(f, "unknown matcher {name:?}"),
            RuleErrorKind::MissingColon { name } => {
                write!(f, "expected \":\" after matcher {name:?}")
            }
            RuleErrorKind::MissingValue { name } => write!(f, "missing value for {name:?}"),
            RuleErrorKind::MatcherNotAllowed { name, .. } => {
                write!(f, "matcher {name:?} is not available here")
            }
            RuleErrorKind::InvalidValue { name, value, .. } => {
                write!(f, "invalid value {value:?} for {name:?}")
            }
            RuleErrorKind::InvalidPattern { reason } => write!(f, "{reason}"),
            RuleErrorKind::UnterminatedQuote => f.write_str("unterminated quote"),
            RuleErrorKind::UnterminatedVariable => f.write_str("unterminated {{"),
            RuleErrorKind::TextAfterQuote => f.write_str("unexpected text after closing quote"),
            RuleErrorKind::MissingMatchers => f.write_str("missing matchers"),
            RuleErrorKind::MissingArrow => f.write_str("missing \"->\""),
            RuleErrorKind::MissingFingerprint => f.write_str("missing fingerprint part"),
            RuleErrorKind::ExpectedComma => f.write_str("expected \",\" between fingerprint parts"),
            RuleErrorKind::UnknownAttribute { name } => write!(f, "unknown attribute {name:?}"),
            RuleErrorKind::DuplicateAttribute { name } => {
                write!(f, "attribute {name:?} given twice")
            }
            RuleErrorKind::MissingActions => f.write_str("missing actions"),
            RuleErrorKind::UnknownAction { action } => write!(f, "unknown action {action:?}"),
            RuleErrorKind::DuplicateAction { action } => {
                write!(f, "action {action:?} conflicts with an earlier action")
            }
            RuleErrorKind::MatcherAfterActions => f.write_str("matcher after actions"),
            RuleErrorKind::InvalidSiblingSyntax { expected } => write!(f, "expected {expected}"),
            RuleErrorKind::SiblingsNotAllowed => f.write_str("unexpected \"[\""),
            RuleErrorKind::TooManyRules { max } => write!(f, "more than {max} rules"),
            RuleErrorKind::TextTooLong { max } => write!(f, "rule text longer than {max} bytes"),
            RuleErrorKind::LineTooLong { max } => write!(f, "line longer than {max} bytes"),
            RuleErrorKind::TooManyMatchers { max } => {
                write!(f, "more than {max} matchers in one rule")
            }
            RuleErrorKind::TooManyParts { max } => {
                write!(f, "more than {max} fingerprint parts in one rule")
            }
        }
    }
}
