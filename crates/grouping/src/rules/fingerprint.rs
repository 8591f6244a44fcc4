//! Fingerprint rules: `matchers -> part, part ... [title="..."]`.

use std::fmt;
use std::sync::Arc;

use periscope_sentry_envelope::Event;

use super::error::{RuleError, RuleErrorKind};
use super::matcher::{Family, FrameView, Matcher, MatcherField};
use super::parse::{Cursor, quote, rule_lines, unescape};
use super::{MAX_FINGERPRINT_PARTS_PER_RULE, MAX_MATCHED_FRAMES, MAX_MATCHERS_PER_RULE};
use crate::fingerprint::{Part, parse_part};
use crate::limits::MAX_EXCEPTIONS;

/// One entry of the fingerprint a rule assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerprintPart {
    /// `{{ default }}`: the built-in grouping.
    Default,
    /// `{{ NAME }}`: a variable the grouper resolves (`transaction`,
    /// `error.type`, `tags.server` ...), with its name as written.
    Variable(String),
    /// A literal string.
    Literal(String),
}

impl FingerprintPart {
    /// Classifies one entry the way an SDK fingerprint entry is read.
    fn from_entry(entry: String) -> FingerprintPart {
        match parse_part(&entry) {
            Part::Default => FingerprintPart::Default,
            Part::Var(_) => {
                let name = entry
                    .trim()
                    .trim_start_matches("{{")
                    .trim_end_matches("}}")
                    .trim()
                    .to_owned();
                FingerprintPart::Variable(name)
            }
            Part::Literal(_) => FingerprintPart::Literal(entry),
        }
    }

    /// The string an SDK would send in `event.fingerprint` for this entry.
    pub fn to_sdk_string(&self) -> String {
        match self {
            FingerprintPart::Default => "{{ default }}".to_owned(),
            FingerprintPart::Variable(name) => format!("{{{{ {name} }}}}"),
            FingerprintPart::Literal(s) => s.clone(),
        }
    }
}

fn is_bare_part(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || "_.:/@<>+-*?!()$%&~^;'|".contains(c))
}

impl fmt::Display for FingerprintPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FingerprintPart::Default => f.write_str("{{ default }}"),
            FingerprintPart::Variable(name) if !name.contains('}') => {
                write!(f, "{{{{ {name} }}}}")
            }
            FingerprintPart::Variable(_) => f.write_str(&quote(&self.to_sdk_string())),
            FingerprintPart::Literal(s) if is_bare_part(s) => f.write_str(s),
            FingerprintPart::Literal(s) => f.write_str(&quote(s)),
        }
    }
}

/// One fingerprint rule.
///
/// Equality compares what the rule says (matchers, parts, title), not the
/// line it was written on.
#[derive(Debug, Clone)]
pub struct FingerprintRule {
    line: usize,
    matchers: Vec<Matcher>,
    parts: Vec<FingerprintPart>,
    fingerprint: Vec<String>,
    title: Option<String>,
    text: String,
    /// `family` looks at frames (the rule has other frame matchers) rather
    /// than at the event's platform.
    family_per_frame: bool,
}

impl PartialEq for FingerprintRule {
    fn eq(&self, other: &Self) -> bool {
        self.matchers == other.matchers && self.parts == other.parts && self.title == other.title
    }
}

impl FingerprintRule {
    /// The 1-based line of the rule in the text it was parsed from.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The matchers, all of which must hold.
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// The parts of the fingerprint, typed.
    pub fn parts(&self) -> &[FingerprintPart] {
        &self.parts
    }

    /// The parts as an SDK would send them in `event.fingerprint`.
    pub fn fingerprint(&self) -> &[String] {
        &self.fingerprint
    }

    /// The `title="..."` template, if any (variables unresolved).
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// The canonical text of the rule (what `Display` prints).
    pub fn text(&self) -> &str {
        &self.text
    }

    fn parse_line(line: usize, text: &str) -> Result<FingerprintRule, RuleError> {
        let mut cur = Cursor::new(line, text);
        let mut matchers = Vec::new();
        loop {
            cur.skip_ws();
            if cur.at_end() {
                return Err(cur.error(RuleErrorKind::MissingArrow));
            }
            if cur.rest().starts_with("->") {
                break;
            }
            if cur.peek() == Some('[') {
                return Err(cur.error(RuleErrorKind::SiblingsNotAllowed));
            }
            if matchers.len() == MAX_MATCHERS_PER_RULE {
                return Err(cur.error(RuleErrorKind::TooManyMatchers {
                    max: MAX_MATCHERS_PER_RULE,
                }));
            }
            matchers.push(Matcher::parse(&mut cur, false, false, |field| {
                if *field == MatcherField::Category {
                    Err("stack-trace rules")
                } else {
                    Ok(())
                }
            })?);
        }
        if matchers.is_empty() {
            return Err(cur.error(RuleErrorKind::MissingMatchers));
        }
        cur.eat("->");
        let mut parts = Vec::new();
        let mut title = None;
        'parts: loop {
            cur.skip_ws();
            if cur.at_end() {
                return Err(cur.error(RuleErrorKind::MissingFingerprint));
            }
            if parts.len() == MAX_FINGERPRINT_PARTS_PER_RULE {
                return Err(cur.error(RuleErrorKind::TooManyParts {
                    max: MAX_FINGERPRINT_PARTS_PER_RULE,
                }));
            }
            parts.push(FingerprintPart::from_entry(read_part(&mut cur)?));
            let spaced = cur.skip_ws();
            if cur.at_end() {
                break;
            }
            if cur.eat(",") {
                continue;
            }
            if !spaced {
                return Err(cur.error(RuleErrorKind::ExpectedComma));
            }
            // Attributes: name=value ...
            loop {
                let word = cur.word();
                let Some((name, _)) = word.split_once('=') else {
                    return Err(cur.error(RuleErrorKind::ExpectedComma));
                };
                if name != "title" {
                    return Err(cur.error(RuleErrorKind::UnknownAttribute {
                        name: name.to_owned(),
                    }));
                }
                if title.is_some() {
                    return Err(cur.error(RuleErrorKind::DuplicateAttribute {
                        name: name.to_owned(),
                    }));
                }
                cur.pos += name.len() + 1;
                let (raw, _) = cur.value(false, false)?;
                title = Some(unescape(raw));
                cur.skip_ws();
                if cur.at_end() {
                    break 'parts;
                }
            }
        }
        let family_per_frame = matchers.iter().any(|m| m.field().is_frame_field());
        Ok(FingerprintRule::build(
            line,
            matchers,
            parts,
            title,
            family_per_frame,
        ))
    }

    fn build(
        line: usize,
        matchers: Vec<Matcher>,
        parts: Vec<FingerprintPart>,
        title: Option<String>,
        family_per_frame: bool,
    ) -> FingerprintRule {
        let mut text = matchers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        text.push_str(" -> ");
        text.push_str(
            &parts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        );
        if let Some(t) = &title {
            text.push_str(" title=");
            text.push_str(&quote(t));
        }
        FingerprintRule {
            line,
            fingerprint: parts.iter().map(FingerprintPart::to_sdk_string).collect(),
            matchers,
            parts,
            title,
            text,
            family_per_frame,
        }
    }

    fn matches<'e>(&self, event: &'e Event, frames: &mut Option<Vec<FrameView<'e>>>) -> bool {
        let event_family = Family::of_platform(event.platform.as_deref());
        let on_frame = |m: &Matcher| {
            m.field().is_frame_field()
                || (self.family_per_frame && *m.field() == MatcherField::Family)
        };
        // Cheap event-level matchers first.
        for m in &self.matchers {
            if !on_frame(m)
                && !m.field().is_exception_field()
                && !m.matches_event(event, event_family)
            {
                return false;
            }
        }
        // All exception matchers must hold for one exception.
        if self.matchers.iter().any(|m| m.field().is_exception_field()) {
            let skip = event.exceptions.len().saturating_sub(MAX_EXCEPTIONS);
            let hit = event.exceptions.iter().skip(skip).any(|e| {
                self.matchers
                    .iter()
                    .filter(|m| m.field().is_exception_field())
                    .all(|m| m.matches_exception(e.ty.as_deref(), e.value.as_deref()))
            });
            if !hit {
                return false;
            }
        }
        // All frame matchers must hold for one frame.
        if self.matchers.iter().any(&on_frame) {
            let frames = frames.get_or_insert_with(|| event_frames(event));
            let hit = frames.iter().any(|f| {
                self.matchers
                    .iter()
                    .filter(|m| on_frame(m))
                    .all(|m| m.matches_frame(f))
            });
            if !hit {
                return false;
            }
        }
        true
    }
}

/// The frames fingerprint rules look at: those of the exceptions, the
/// top-level stack trace and the threads, at most [`MAX_MATCHED_FRAMES`].
fn event_frames(event: &Event) -> Vec<FrameView<'_>> {
    let platform = event.platform.as_deref();
    event
        .exceptions
        .iter()
        .filter_map(|e| e.stacktrace.as_ref())
        .chain(event.stacktrace.as_ref())
        .chain(event.threads.iter().filter_map(|t| t.stacktrace.as_ref()))
        .flat_map(|s| s.frames.iter())
        .take(MAX_MATCHED_FRAMES)
        .map(|f| FrameView::new(f, platform))
        .collect()
}

fn read_part(cur: &mut Cursor<'_>) -> Result<String, RuleError> {
    if cur.peek() == Some('"') {
        let (raw, _) = cur.value(false, true)?;
        return Ok(unescape(raw));
    }
    let start = cur.pos;
    let rest = cur.rest();
    let mut end = 0;
    while end < rest.len() {
        let tail = &rest[end..];
        if let Some(inner) = tail.strip_prefix("{{") {
            match inner.find("}}") {
                Some(close) => end += 2 + close + 2,
                None => return Err(cur.error_at(start + end, RuleErrorKind::UnterminatedVariable)),
            }
            continue;
        }
        let Some(c) = tail.chars().next() else { break };
        if c.is_whitespace() || c == ',' {
            break;
        }
        end += c.len_utf8();
    }
    if end == 0 {
        return Err(cur.error(RuleErrorKind::MissingFingerprint));
    }
    cur.pos += end;
    Ok(rest[..end].to_owned())
}

/// An ordered list of fingerprint rules; the first that matches an event wins.
///
/// Cheap to clone and share between threads (the rules are behind an `Arc`).
/// Equality compares the rules, not where they were written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FingerprintRules {
    rules: Arc<[FingerprintRule]>,
}

/// The rule that matched an event, from [`FingerprintRules::first_match`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FingerprintMatch<'a> {
    /// The rule's 0-based index in its rule set.
    pub index: usize,
    /// The rule's 1-based line in the text it was parsed from.
    pub line: usize,
    /// The rule's canonical text.
    pub text: &'a str,
    /// The fingerprint, as the strings an SDK would send (e.g.
    /// `["{{ default }}", "db"]`), to be grouped exactly like an SDK
    /// fingerprint.
    pub fingerprint: &'a [String],
    /// The title template, if the rule has one.
    pub title: Option<&'a str>,
    /// The rule itself.
    pub rule: &'a FingerprintRule,
}

impl FingerprintRules {
    /// Parses a rule text: one rule per line, `#` comments, blank lines.
    pub fn parse(text: &str) -> Result<FingerprintRules, RuleError> {
        let rules = rule_lines(text)?
            .into_iter()
            .map(|(line, text)| FingerprintRule::parse_line(line, text))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FingerprintRules {
            rules: rules.into(),
        })
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[FingerprintRule] {
        &self.rules
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules of `first`, then those of `second` (indices renumbered, lines
    /// kept).
    pub fn concat(first: &FingerprintRules, second: &FingerprintRules) -> FingerprintRules {
        FingerprintRules {
            rules: first
                .rules
                .iter()
                .chain(second.rules.iter())
                .cloned()
                .collect(),
        }
    }

    /// The first rule whose matchers all hold for the event.
    ///
    /// Frame matchers (`stack.*`, `app`, and `family` when the rule has other
    /// frame matchers) must all hold for one frame of the event (exceptions,
    /// stack trace, threads; in-app as sent); `error.type` and `error.value`
    /// for one exception; `family` alone looks at the event's platform.
    pub fn first_match(&self, event: &Event) -> Option<FingerprintMatch<'_>> {
        let mut frames = None;
        self.rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.matches(event, &mut frames))
            .map(|(index, rule)| FingerprintMatch {
                index,
                line: rule.line,
                text: &rule.text,
                fingerprint: &rule.fingerprint,
                title: rule.title.as_deref(),
                rule,
            })
    }
}

impl fmt::Display for FingerprintRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for FingerprintRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for rule in self.rules.iter() {
            writeln!(f, "{rule}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn event(json: &str) -> Event {
        Event::from_slice(json.as_bytes()).unwrap()
    }

    #[test]
    fn parts_are_typed_and_kept_as_sdk_strings() {
        let rules = FingerprintRules::parse(
            r#"type:Db* -> {{default}}, db, "with space", {{ tags.server }}, {{ nope }}"#,
        )
        .unwrap();
        let rule = &rules.rules()[0];
        assert_eq!(
            rule.parts(),
            &[
                FingerprintPart::Default,
                FingerprintPart::Literal("db".into()),
                FingerprintPart::Literal("with space".into()),
                FingerprintPart::Variable("tags.server".into()),
                FingerprintPart::Literal("{{ nope }}".into()),
            ]
        );
        assert_eq!(
            rule.fingerprint(),
            &[
                "{{ default }}",
                "db",
                "with space",
                "{{ tags.server }}",
                "{{ nope }}"
            ]
        );
        assert_eq!(
            rule.text(),
            r#"error.type:Db* -> {{ default }}, db, "with space", {{ tags.server }}, "{{ nope }}""#
        );
    }

    #[test]
    fn first_matching_rule_wins_and_frames_match_together() {
        let rules = FingerprintRules::parse(
            "function:connect module:bot -> bot\nfunction:connect -> connect\n",
        )
        .unwrap();
        let e = event(
            r#"{"exception":{"values":[{"type":"E","stacktrace":{"frames":[
                {"function":"connect","module":"other"},{"function":"run","module":"bot"}]}}]}}"#,
        );
        let m = rules.first_match(&e).unwrap();
        assert_eq!(
            (m.index, m.line, m.fingerprint),
            (1, 2, &["connect".to_owned()][..])
        );
    }
}
