//! Per-project grouping rules in Sentry's syntax: fingerprint rules and
//! stack-trace rules.
//!
//! Users who come from Sentry already know how to say "these errors are one
//! issue" (*fingerprint rules*, once called server-side fingerprinting) and
//! "these frames are not my code / do not count" (*stack-trace rules*, once
//! called grouping enhancements). This module reads that syntax, checks it,
//! prints it back in a canonical form, and evaluates it; it decides nothing
//! about keys itself. The grouper consumes its answers:
//!
//! - [`FingerprintRules::first_match`] gives the first rule whose matchers
//!   all hold for an event, with the fingerprint as the strings an SDK would
//!   have sent (`["{{ default }}", "db"]`), so a rule's fingerprint is grouped
//!   exactly like an SDK fingerprint, and names the rule (index, line,
//!   canonical text) for the explanation;
//! - [`StacktraceRules::apply`] gives, per frame, the in-app flag, whether it
//!   contributes, and its category as the rules decided them (`None`: no rule
//!   spoke, keep the client's value), each with the [`RuleRef`] of the rule
//!   that decided, so the explanation can say "not in-app because of line 3".
//!
//! # Syntax
//!
//! The facts come from Sentry's documentation
//! (<https://docs.sentry.io/concepts/data-management/event-grouping/fingerprint-rules/>
//! and `.../stack-trace-rules/`); the code is ours. One rule per line; `#`
//! starts a comment (at the start of a line or of a token); blank lines are
//! ignored.
//!
//! ```text
//! # fingerprint rules: matchers -> parts (comma-separated) [title="..."]
//! error.type:DatabaseUnavailable -> system-down
//! error.value:"connection error: *" -> connection-error, {{ transaction }}
//! logger:my.package.* level:error -> error-logger, {{ logger }} title="Error from {{ logger }}"
//!
//! # stack-trace rules: matchers actions
//! family:native stack.function:std::* -app
//! stack.function:core::panicking::begin_panic ^-app -app ^-group -group
//! [ category:telemetry ] | app:yes -group
//! ```
//!
//! **Matchers** are `name:value`, negated by a leading `!`; several on a line
//! must all hold. Values are globs (`*`, `?`, `**`, `[a-z]`, `[!a]`; `\`
//! makes the next character literal: `\*`, `\[`, `\{`) and may be quoted
//! (`"a value with spaces"`, inside which `\"` is a quote and `\\` a
//! backslash). Per the documentation: `error.type`, `logger`, `tags.NAME`,
//! `stack.function`, `stack.module`, `sdk`, `release`, `category` are
//! case-sensitive and their `*` matches anything; `error.value`, `message`
//! and `level` are case-insensitive; `stack.abs_path` and `stack.package` are
//! paths: case-insensitive, `\` read as `/`, `*` and `?` stop at `/` while
//! `**` crosses it, and a relative path also matches as if it started with
//! `/` (so `**/foo.js` matches `foo.js`); `stack.abs_path` matches if either
//! `abs_path` or `filename` does. `family` takes `native`, `javascript`,
//! `other` or `all`, comma-separated ([`Family`] gives the platforms of
//! each); `app` takes `yes`/`no` (also `true`/`false`/`1`/`0`), a frame
//! without `in_app` counting as not in-app. A value the event lacks does not
//! match (so its negation does).
//!
//! In **fingerprint rules**, as documented, the frame matchers (`stack.*`,
//! `app`) must all hold for *one* frame of the event (any exception's, the
//! top-level stack trace's, or a thread's), `error.type`/`error.value` for one
//! exception, `message` for the message or any exception value; `family`
//! looks at the frame when the rule has frame matchers and at the event's
//! platform otherwise. A negated frame matcher means "a frame for which it
//! does not hold". The first matching rule wins.
//!
//! In **stack-trace rules**, every matcher looks at one frame (`family` at the
//! frame's platform, else the event's), except `error.type`/`error.value`
//! which look at the exception the stack trace belongs to
//! ([`StacktraceContext`]); the event-level matchers (`message`, `logger`,
//! `level`, `tags.*`, `sdk`, `release`) are refused there, and `category` is
//! refused in fingerprint rules. `[ matchers ] |` before the matchers
//! requires the caller (the frame before it in the payload) to match, `|
//! [ matchers ]` after them the callee (the frame after it). Actions:
//! `+app`/`-app` (in-app), `+group`/`-group` (contributes), each optionally
//! prefixed by `^` (the frames *above*: towards the crash, after it in the
//! payload) or `v` (the frames *below*: away from the crash, before it);
//! `category=NAME`; `max-frames=N` and `min-frames=N` (stack-level, reported
//! in [`StacktraceDecision`] for the grouper to apply). Rules run top to
//! bottom, so a later rule overrides an earlier one on the frames it touches.
//!
//! # Bounds
//!
//! Rules are written by users and sent over the network, and events by
//! anyone with a DSN, so both parsing and matching are bounded:
//!
//! - [`MAX_RULE_TEXT_BYTES`] = 64 KiB of text per rule set,
//!   [`MAX_LINE_BYTES`] = 2,048 bytes per line, [`MAX_RULES`] = 200 rules,
//!   [`MAX_MATCHERS_PER_RULE`] = 16, [`MAX_FINGERPRINT_PARTS_PER_RULE`] = 16.
//!   Beyond one, parsing fails with a [`RuleError`] naming the limit and the
//!   place. Parsing is one pass over each line.
//! - Globs are compiled once, at parse time, into a token list matched by a
//!   simulation of all positions at once (no backtracking): time
//!   O(value × pattern), never exponential, one `Vec<bool>` of the pattern's
//!   length. We wrote this small matcher rather than using `regex` (a regex
//!   per pattern costs far more memory per rule and needs size limits to be
//!   safe) or `globset` (a new dependency whose `*`/`**` rules differ from
//!   Sentry's path and non-path semantics).
//! - At most [`MAX_MATCHED_VALUE_BYTES`] = 16 KiB of any value are matched;
//!   fingerprint rules look at the last [`crate::limits::MAX_EXCEPTIONS`]
//!   exceptions and the first [`MAX_MATCHED_FRAMES`] = 1,000 frames; stack-trace
//!   rules cost O(frames × matchers) per rule, `^`/`v` included (the grouper
//!   passes at most [`crate::limits::MAX_FRAMES`] frames). In practice a
//!   rule set is indexed once (on first use) by what each rule requires of
//!   a frame (family; the value, prefix, suffix or path segment its
//!   function, module, path or package glob needs), so a frame is matched
//!   only against the rules it could satisfy, in rule order; the index
//!   never changes a result (a property test compares it with evaluating
//!   every rule on every frame).
//!
//! # Printing
//!
//! `Display` prints a rule and a rule set in canonical form (canonical
//! matcher names, values quoted only when needed, parts separated by `, `);
//! parsing the printed text gives an equal rule set, which is what the
//! server stores and shows back to the user.
//!
//! # Not implemented
//!
//! Sentry's other actions (`+sentinel`, `+prefix`, `invert-stacktrace=`) and
//! matchers (`mechanism`, `stack.filename` as a matcher) are refused as
//! unknown; brace alternatives (`{a,b}`) in globs are not supported (braces
//! are literal characters).

pub(crate) mod builtin;
mod error;
mod fingerprint;
mod glob;
mod index;
mod matcher;
mod parse;
mod stacktrace;

pub use error::{RuleError, RuleErrorKind};
pub use fingerprint::{FingerprintMatch, FingerprintPart, FingerprintRule, FingerprintRules};
pub use matcher::{Family, Matcher, MatcherField};
pub use stacktrace::{
    Action, Direction, FrameDecision, FrameFlag, FrameLimit, RuleRef, StacktraceContext,
    StacktraceDecision, StacktraceRule, StacktraceRules,
};

/// Rules per rule set (per kind, per project).
pub const MAX_RULES: usize = 200;
/// Bytes of rule text per rule set.
pub const MAX_RULE_TEXT_BYTES: usize = 64 * 1024;
/// Bytes per line of rule text.
pub const MAX_LINE_BYTES: usize = 2048;
/// Matchers per rule (caller and callee included).
pub const MAX_MATCHERS_PER_RULE: usize = 16;
/// Parts of the fingerprint a rule assigns.
pub const MAX_FINGERPRINT_PARTS_PER_RULE: usize = 16;
/// Bytes of a value (message, exception value, path ...) that a glob sees;
/// beyond, the value is cut (at a character boundary).
pub const MAX_MATCHED_VALUE_BYTES: usize = 16 * 1024;
/// Frames of an event that fingerprint rules look at.
pub const MAX_MATCHED_FRAMES: usize = 1000;

// The rule sets are compiled once per project and shared between threads.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<FingerprintRules>();
    shareable::<StacktraceRules>();
};
