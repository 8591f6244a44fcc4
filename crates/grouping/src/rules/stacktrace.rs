//! Stack-trace rules: `[ caller ] | matchers | [ callee ] actions`.

use std::fmt;
use std::sync::{Arc, OnceLock};

use periscope_sentry_envelope::Frame;

use super::MAX_MATCHERS_PER_RULE;
use super::error::{RuleError, RuleErrorKind};
use super::index::{RuleIndex, Scratch, bit};
use super::matcher::{FrameView, Matcher, MatcherField};
use super::parse::{Cursor, rule_lines};

/// A flag a stack-trace rule sets on frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameFlag {
    /// `app`: whether the frame is in-app.
    App,
    /// `group`: whether the frame contributes to grouping.
    Group,
}

/// Which frames a flag action applies to, relative to a matching frame.
///
/// Frames are in payload order, the crash (innermost) frame last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// No prefix: the matching frame itself.
    Frame,
    /// `^`: the frames above it, towards the crash — the frames it called,
    /// i.e. those *after* it in the payload.
    Up,
    /// `v`: the frames below it, away from the crash — its callers, i.e.
    /// those *before* it in the payload.
    Down,
}

/// One action of a stack-trace rule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// `+app`, `-group`, `^-group`, `v+app` ...
    Flag {
        /// Which flag.
        flag: FrameFlag,
        /// `+` (true) or `-` (false).
        value: bool,
        /// Which frames.
        direction: Direction,
    },
    /// `category=NAME`: sets the matching frame's category.
    Category(String),
    /// `max-frames=N`: only the N frames nearest the crash count (0: all).
    MaxFrames(u32),
    /// `min-frames=N`: a stack trace with fewer contributing frames does not
    /// contribute.
    MinFrames(u32),
}

impl Action {
    fn slot(&self) -> (u8, u8, u8) {
        match self {
            Action::Flag {
                flag, direction, ..
            } => (0, *flag as u8, *direction as u8),
            Action::Category(_) => (1, 0, 0),
            Action::MaxFrames(_) => (2, 0, 0),
            Action::MinFrames(_) => (3, 0, 0),
        }
    }

    fn parse(word: &str) -> Option<Action> {
        let (direction, rest) = match word.as_bytes() {
            [b'^', b'+' | b'-', ..] => (Direction::Up, &word[1..]),
            [b'v', b'+' | b'-', ..] => (Direction::Down, &word[1..]),
            _ => (Direction::Frame, word),
        };
        let flag = |name: &str| match name {
            "app" => Some(FrameFlag::App),
            "group" => Some(FrameFlag::Group),
            _ => None,
        };
        if let Some(name) = rest.strip_prefix('+') {
            return flag(name).map(|flag| Action::Flag {
                flag,
                value: true,
                direction,
            });
        }
        if let Some(name) = rest.strip_prefix('-') {
            return flag(name).map(|flag| Action::Flag {
                flag,
                value: false,
                direction,
            });
        }
        None
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Flag {
                flag,
                value,
                direction,
            } => write!(
                f,
                "{}{}{}",
                match direction {
                    Direction::Frame => "",
                    Direction::Up => "^",
                    Direction::Down => "v",
                },
                if *value { "+" } else { "-" },
                match flag {
                    FrameFlag::App => "app",
                    FrameFlag::Group => "group",
                }
            ),
            Action::Category(c) => write!(f, "category={c}"),
            Action::MaxFrames(n) => write!(f, "max-frames={n}"),
            Action::MinFrames(n) => write!(f, "min-frames={n}"),
        }
    }
}

/// A stack-trace rule, named in a [`FrameDecision`]: its index in the rule
/// set, its line, its canonical text, and the name of the rule set it came
/// from if one was given ([`StacktraceRules::with_origin`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    /// 0-based index in the (possibly concatenated) rule set.
    pub index: usize,
    /// 1-based line in the text it was parsed from.
    pub line: usize,
    /// Canonical text of the rule.
    pub text: Arc<str>,
    /// Name of the rule set it came from (e.g. `built-in`), if given.
    pub origin: Option<Arc<str>>,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(origin) => write!(f, "{origin} rule at line {}: {}", self.line, self.text),
            None => write!(f, "rule at line {}: {}", self.line, self.text),
        }
    }
}

/// One stack-trace rule.
///
/// Equality compares what the rule says, not the line it was written on.
#[derive(Debug, Clone)]
pub struct StacktraceRule {
    line: usize,
    caller: Vec<Matcher>,
    matchers: Vec<Matcher>,
    callee: Vec<Matcher>,
    actions: Vec<Action>,
    text: Arc<str>,
}

impl PartialEq for StacktraceRule {
    fn eq(&self, other: &Self) -> bool {
        self.caller == other.caller
            && self.matchers == other.matchers
            && self.callee == other.callee
            && self.actions == other.actions
    }
}

fn is_action_start(word: &str) -> bool {
    if matches!(
        word.as_bytes(),
        [b'+' | b'-', ..] | [b'^' | b'v', b'+' | b'-', ..]
    ) {
        return true;
    }
    let key_end = word.find([':', '=']).unwrap_or(word.len());
    word[key_end..].starts_with('=')
}

fn matchers_text(ms: &[Matcher]) -> String {
    ms.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

impl StacktraceRule {
    /// The 1-based line of the rule in the text it was parsed from.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The matchers on the frame itself, all of which must hold.
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// The matchers on the caller (the frame before, away from the crash),
    /// empty when the rule has no `[ ... ] |`.
    pub fn caller(&self) -> &[Matcher] {
        &self.caller
    }

    /// The matchers on the callee (the frame after, towards the crash),
    /// empty when the rule has no `| [ ... ]`.
    pub fn callee(&self) -> &[Matcher] {
        &self.callee
    }

    /// The actions, in the order written.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// The canonical text of the rule (what `Display` prints).
    pub fn text(&self) -> &str {
        &self.text
    }

    fn parse_line(line: usize, text: &str) -> Result<StacktraceRule, RuleError> {
        let mut cur = Cursor::new(line, text);
        let mut count = 0;
        let mut caller = Vec::new();
        let mut matchers = Vec::new();
        let mut callee = Vec::new();
        cur.skip_ws();
        if cur.eat("[") {
            caller = parse_group(&mut cur, &mut count)?;
            cur.skip_ws();
            if !cur.eat("|") {
                return Err(cur.error(RuleErrorKind::InvalidSiblingSyntax {
                    expected: "\"|\" after the caller's \"]\"",
                }));
            }
        }
        loop {
            cur.skip_ws();
            if cur.at_end() || is_action_start(cur.word()) {
                break;
            }
            if cur.eat("|") {
                cur.skip_ws();
                if !cur.eat("[") {
                    return Err(cur.error(RuleErrorKind::InvalidSiblingSyntax {
                        expected: "\"[\" after \"|\"",
                    }));
                }
                callee = parse_group(&mut cur, &mut count)?;
                break;
            }
            if cur.peek() == Some('[') {
                return Err(cur.error(RuleErrorKind::InvalidSiblingSyntax {
                    expected: "the caller's \"[ ]\" only at the start of the rule",
                }));
            }
            matchers.push(parse_matcher(&mut cur, false, &mut count)?);
        }
        if matchers.is_empty() {
            return Err(cur.error(RuleErrorKind::MissingMatchers));
        }
        let mut actions: Vec<Action> = Vec::new();
        loop {
            cur.skip_ws();
            if cur.at_end() {
                break;
            }
            let word = cur.word();
            let action = if is_action_start(word) {
                parse_action(&cur, word)?
            } else if word.contains(':') || word.starts_with('[') || word.starts_with('|') {
                return Err(cur.error(RuleErrorKind::MatcherAfterActions));
            } else {
                return Err(cur.error(RuleErrorKind::UnknownAction {
                    action: word.to_owned(),
                }));
            };
            if actions.iter().any(|a| a.slot() == action.slot()) {
                return Err(cur.error(RuleErrorKind::DuplicateAction {
                    action: word.to_owned(),
                }));
            }
            actions.push(action);
            cur.pos += word.len();
        }
        if actions.is_empty() {
            return Err(cur.error(RuleErrorKind::MissingActions));
        }
        Ok(StacktraceRule::build(
            line, caller, matchers, callee, actions,
        ))
    }

    fn build(
        line: usize,
        caller: Vec<Matcher>,
        matchers: Vec<Matcher>,
        callee: Vec<Matcher>,
        actions: Vec<Action>,
    ) -> StacktraceRule {
        let mut text = String::new();
        if !caller.is_empty() {
            text.push_str(&format!("[ {} ] | ", matchers_text(&caller)));
        }
        text.push_str(&matchers_text(&matchers));
        if !callee.is_empty() {
            text.push_str(&format!(" | [ {} ]", matchers_text(&callee)));
        }
        for a in &actions {
            text.push(' ');
            text.push_str(&a.to_string());
        }
        StacktraceRule {
            line,
            caller,
            matchers,
            callee,
            actions,
            text: text.into(),
        }
    }

    fn frame_matches(&self, views: &[FrameView<'_>], j: usize) -> bool {
        all_match(&self.matchers, views.get(j)) && self.neighbours_match(views, j)
    }

    /// Whether the caller and callee matchers hold for the frames around
    /// frame `j` (true when the rule has none).
    fn neighbours_match(&self, views: &[FrameView<'_>], j: usize) -> bool {
        (self.caller.is_empty() || j > 0 && all_match(&self.caller, views.get(j - 1)))
            && (self.callee.is_empty() || all_match(&self.callee, views.get(j + 1)))
    }

    fn context_matches(&self, ctx: &StacktraceContext<'_>) -> bool {
        self.matchers
            .iter()
            .filter(|m| m.field().is_exception_field())
            .all(|m| m.matches_exception(ctx.exception_type, ctx.exception_value))
    }

    fn flag_action(&self, flag: FrameFlag, direction: Direction) -> Option<bool> {
        self.actions.iter().find_map(|a| match a {
            Action::Flag {
                flag: f,
                value,
                direction: d,
            } if *f == flag && *d == direction => Some(*value),
            _ => None,
        })
    }
}

/// Whether the frame matchers of `ms` all hold for a frame (false without a
/// frame).
fn all_match(ms: &[Matcher], view: Option<&FrameView<'_>>) -> bool {
    match view {
        Some(v) => ms
            .iter()
            .filter(|m| !m.field().is_exception_field())
            .all(|m| m.matches_frame(v)),
        None => false,
    }
}

fn parse_matcher(
    cur: &mut Cursor<'_>,
    in_group: bool,
    count: &mut usize,
) -> Result<Matcher, RuleError> {
    if *count == MAX_MATCHERS_PER_RULE {
        return Err(cur.error(RuleErrorKind::TooManyMatchers {
            max: MAX_MATCHERS_PER_RULE,
        }));
    }
    *count += 1;
    let word = cur.word();
    let key = &word[..word.find(':').unwrap_or(word.len())];
    let key = key.strip_prefix('!').unwrap_or(key);
    if !word.contains(':') && MatcherField::from_name(key).is_none() {
        return Err(cur.error(RuleErrorKind::UnknownAction {
            action: word.to_owned(),
        }));
    }
    Matcher::parse(cur, in_group, true, |field| {
        let frame_level = field.is_frame_field() || *field == MatcherField::Family;
        if in_group && !frame_level {
            Err("the middle part of a stack-trace rule, not inside [ ]")
        } else if !frame_level && !field.is_exception_field() {
            Err("fingerprint rules")
        } else {
            Ok(())
        }
    })
}

fn parse_group(cur: &mut Cursor<'_>, count: &mut usize) -> Result<Vec<Matcher>, RuleError> {
    let mut ms = Vec::new();
    loop {
        cur.skip_ws();
        if cur.eat("]") {
            break;
        }
        if cur.at_end() || cur.peek() == Some('|') || is_action_start(cur.word()) {
            return Err(cur.error(RuleErrorKind::InvalidSiblingSyntax {
                expected: "\"]\" to close \"[\"",
            }));
        }
        ms.push(parse_matcher(cur, true, count)?);
    }
    if ms.is_empty() {
        return Err(cur.error(RuleErrorKind::InvalidSiblingSyntax {
            expected: "a matcher inside \"[ ]\"",
        }));
    }
    Ok(ms)
}

fn parse_action(cur: &Cursor<'_>, word: &str) -> Result<Action, RuleError> {
    if let Some(action) = Action::parse(word) {
        return Ok(action);
    }
    let unknown = || {
        cur.error(RuleErrorKind::UnknownAction {
            action: word.to_owned(),
        })
    };
    let (name, value) = word.split_once('=').ok_or_else(unknown)?;
    let invalid = |expected| {
        cur.error_at(
            cur.pos + name.len() + 1,
            RuleErrorKind::InvalidValue {
                name: name.to_owned(),
                value: value.to_owned(),
                expected,
            },
        )
    };
    let number = || {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("a whole number"));
        }
        value.parse::<u32>().map_err(|_| invalid("a whole number"))
    };
    match name {
        "category" => {
            if value.is_empty()
                || !value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            {
                return Err(invalid("a name of letters, digits, _ . or -"));
            }
            Ok(Action::Category(value.to_owned()))
        }
        "max-frames" => Ok(Action::MaxFrames(number()?)),
        "min-frames" => Ok(Action::MinFrames(number()?)),
        _ => Err(unknown()),
    }
}

/// What stack-trace rules may know about the stack trace besides its frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StacktraceContext<'a> {
    /// The event's platform (a frame's own `platform` wins for its family).
    pub platform: Option<&'a str>,
    /// The type of the exception the stack trace belongs to, for `error.type`.
    pub exception_type: Option<&'a str>,
    /// The value of that exception, for `error.value`.
    pub exception_value: Option<&'a str>,
}

impl<'a> StacktraceContext<'a> {
    /// A context with only the event's platform.
    pub fn new(platform: Option<&'a str>) -> StacktraceContext<'a> {
        StacktraceContext {
            platform,
            ..StacktraceContext::default()
        }
    }

    /// With the exception the stack trace belongs to.
    pub fn with_exception(mut self, ty: Option<&'a str>, value: Option<&'a str>) -> Self {
        self.exception_type = ty;
        self.exception_value = value;
        self
    }
}

/// What the rules decided for one frame. `None`: no rule decided, keep the
/// client's (or built-in) value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameDecision {
    /// In-app, as set by `+app`/`-app` (with `^`/`v`).
    pub in_app: Option<bool>,
    /// Whether the frame contributes, as set by `+group`/`-group`.
    pub contributes: Option<bool>,
    /// The category set by `category=NAME`.
    pub category: Option<String>,
    /// The last rule that set `in_app`.
    pub in_app_rule: Option<RuleRef>,
    /// The last rule that set `contributes`.
    pub contributes_rule: Option<RuleRef>,
    /// The last rule that set `category`.
    pub category_rule: Option<RuleRef>,
}

/// A stack-level variable (`max-frames`, `min-frames`) and the rule that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameLimit {
    /// The value.
    pub value: u32,
    /// The last matching rule that set it.
    pub rule: RuleRef,
}

/// Everything the rules decided for one stack trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StacktraceDecision {
    /// One per frame, in the order of the frames given.
    pub frames: Vec<FrameDecision>,
    /// `max-frames=N` of the last matching rule that has it.
    pub max_frames: Option<FrameLimit>,
    /// `min-frames=N` of the last matching rule that has it.
    pub min_frames: Option<FrameLimit>,
}

/// An ordered list of stack-trace rules.
///
/// Cheap to clone and share between threads (behind `Arc`s). Equality
/// compares the rules, not where they were written nor their origin.
#[derive(Clone, Default)]
pub struct StacktraceRules {
    rules: Arc<[StacktraceRule]>,
    origins: Arc<[Option<Arc<str>>]>,
    /// Built on first use, shared by the clones.
    index: Arc<OnceLock<RuleIndex>>,
}

impl fmt::Debug for StacktraceRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StacktraceRules")
            .field("rules", &self.rules)
            .field("origins", &self.origins)
            .finish()
    }
}

impl PartialEq for StacktraceRules {
    fn eq(&self, other: &Self) -> bool {
        self.rules == other.rules
    }
}

#[derive(Clone, Copy, Default)]
struct Set {
    in_app: Option<(bool, usize)>,
    group: Option<(bool, usize)>,
    category: Option<usize>,
}

impl StacktraceRules {
    /// Parses a rule text: one rule per line, `#` comments, blank lines.
    pub fn parse(text: &str) -> Result<StacktraceRules, RuleError> {
        let rules = rule_lines(text)?
            .into_iter()
            .map(|(line, text)| StacktraceRule::parse_line(line, text))
            .collect::<Result<Vec<_>, _>>()?;
        let origins = vec![None; rules.len()].into();
        Ok(StacktraceRules {
            rules: rules.into(),
            origins,
            index: Arc::default(),
        })
    }

    /// Names where these rules come from (e.g. `built-in`), for
    /// [`RuleRef::origin`].
    pub fn with_origin(self, origin: &str) -> StacktraceRules {
        let origin: Arc<str> = origin.into();
        StacktraceRules {
            origins: vec![Some(origin); self.rules.len()].into(),
            rules: self.rules,
            index: self.index,
        }
    }

    /// The rules of `first` (e.g. built-in ones), then those of `second`
    /// (e.g. a project's, which therefore override them).
    pub fn concat(first: &StacktraceRules, second: &StacktraceRules) -> StacktraceRules {
        StacktraceRules {
            rules: first
                .rules
                .iter()
                .chain(second.rules.iter())
                .cloned()
                .collect(),
            origins: first
                .origins
                .iter()
                .chain(second.origins.iter())
                .cloned()
                .collect(),
            index: Arc::default(),
        }
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[StacktraceRule] {
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

    fn rule_ref(&self, index: usize) -> RuleRef {
        let rule = &self.rules[index];
        RuleRef {
            index,
            line: rule.line,
            text: rule.text.clone(),
            origin: self.origins.get(index).cloned().flatten(),
        }
    }

    /// Applies the rules to the frames of one stack trace (payload order,
    /// crash frame last) on a platform; one decision per frame.
    pub fn apply(&self, platform: Option<&str>, frames: &[Frame]) -> Vec<FrameDecision> {
        self.apply_in(&StacktraceContext::new(platform), frames)
            .frames
    }

    /// Applies the rules with the full context (`error.type`/`error.value`
    /// matchers), and returns the stack-level variables too.
    ///
    /// Rules run top to bottom. A rule's matchers are evaluated on every frame
    /// with the state earlier rules left (`app` sees their `+app`/`-app`,
    /// `category` their `category=`), then its actions are written, so a
    /// later rule overrides an earlier one. Within one rule, where a frame
    /// gets a flag both from its own match and from a neighbour's `^`/`v`,
    /// the result is that of applying the matching frames in payload order:
    /// a `v` from a frame after it wins over its own action, which wins over
    /// a `^` from a frame before it. Cost: linear in frames × matchers per
    /// rule.
    pub fn apply_in(&self, ctx: &StacktraceContext<'_>, frames: &[Frame]) -> StacktraceDecision {
        let index = self.index.get_or_init(|| RuleIndex::new(&self.rules));
        let mut views: Vec<FrameView<'_>> = frames
            .iter()
            .map(|f| FrameView::new(f, ctx.platform))
            .collect();
        let mut set = vec![Set::default(); frames.len()];
        let mut matched = vec![false; frames.len()];
        let mut max_frames = None;
        let mut min_frames = None;
        // The rules each frame could match (see the `index` module), and
        // those some frame could match: the others are skipped as a whole,
        // and a rule is evaluated only on its candidate frames.
        let words = index.words();
        let mut candidates = vec![0u64; frames.len() * words];
        let mut any = vec![0u64; words];
        let mut scratch = Scratch::default();
        for (view, bits) in views.iter().zip(candidates.chunks_exact_mut(words.max(1))) {
            index.candidates(view, &mut scratch, bits);
            for (a, b) in any.iter_mut().zip(bits.iter()) {
                *a |= *b;
            }
        }
        let mut any_category = false;
        for (wi, &word) in any.iter().enumerate() {
            let mut rest = word;
            while rest != 0 {
                let ri = wi * 64 + rest.trailing_zeros() as usize;
                rest &= rest - 1;
                let rule = &self.rules[ri];
                if (index.needs_category(ri) && !any_category) || !rule.context_matches(ctx) {
                    continue;
                }
                let decided = index.decided(ri);
                let (mut first, mut last) = (usize::MAX, 0);
                for (j, m) in matched.iter_mut().enumerate() {
                    *m = bit(&candidates[j * words..(j + 1) * words], ri)
                        && if decided {
                            rule.neighbours_match(&views, j)
                        } else {
                            rule.frame_matches(&views, j)
                        };
                    if *m {
                        first = first.min(j);
                        last = j;
                    }
                }
                if first == usize::MAX {
                    continue;
                }
                for flag in [FrameFlag::App, FrameFlag::Group] {
                    let own = rule.flag_action(flag, Direction::Frame);
                    let up = rule.flag_action(flag, Direction::Up);
                    let down = rule.flag_action(flag, Direction::Down);
                    if own.is_none() && up.is_none() && down.is_none() {
                        continue;
                    }
                    for j in 0..frames.len() {
                        let value = match (down, own, up) {
                            (Some(v), _, _) if j < last => v,
                            (_, Some(v), _) if matched[j] => v,
                            (_, _, Some(v)) if j > first => v,
                            _ => continue,
                        };
                        match flag {
                            FrameFlag::App => {
                                set[j].in_app = Some((value, ri));
                                views[j].in_app = value;
                            }
                            FrameFlag::Group => set[j].group = Some((value, ri)),
                        }
                    }
                }
                for action in &rule.actions {
                    match action {
                        Action::Category(name) => {
                            for j in (0..frames.len()).filter(|&j| matched[j]) {
                                set[j].category = Some(ri);
                                views[j].category = Some(name);
                                any_category = true;
                            }
                        }
                        Action::MaxFrames(n) => max_frames = Some((*n, ri)),
                        Action::MinFrames(n) => min_frames = Some((*n, ri)),
                        Action::Flag { .. } => {}
                    }
                }
            }
        }
        self.decision(&set, &views, max_frames, min_frames)
    }

    /// The decision from the state the rules left.
    fn decision(
        &self,
        set: &[Set],
        views: &[FrameView<'_>],
        max_frames: Option<(u32, usize)>,
        min_frames: Option<(u32, usize)>,
    ) -> StacktraceDecision {
        let frames = set
            .iter()
            .zip(views)
            .map(|(s, v)| FrameDecision {
                in_app: s.in_app.map(|(v, _)| v),
                contributes: s.group.map(|(v, _)| v),
                category: s.category.and(v.category.map(str::to_owned)),
                in_app_rule: s.in_app.map(|(_, r)| self.rule_ref(r)),
                contributes_rule: s.group.map(|(_, r)| self.rule_ref(r)),
                category_rule: s.category.map(|r| self.rule_ref(r)),
            })
            .collect();
        let limit = |x: Option<(u32, usize)>| {
            x.map(|(value, r)| FrameLimit {
                value,
                rule: self.rule_ref(r),
            })
        };
        StacktraceDecision {
            frames,
            max_frames: limit(max_frames),
            min_frames: limit(min_frames),
        }
    }

    /// [`apply_in`](Self::apply_in) the obvious way, for the tests: every
    /// rule evaluated on every frame, no index.
    #[cfg(test)]
    fn apply_in_naive(&self, ctx: &StacktraceContext<'_>, frames: &[Frame]) -> StacktraceDecision {
        let mut views: Vec<FrameView<'_>> = frames
            .iter()
            .map(|f| FrameView::new(f, ctx.platform))
            .collect();
        let mut set = vec![Set::default(); frames.len()];
        let mut matched = vec![false; frames.len()];
        let mut max_frames = None;
        let mut min_frames = None;
        for (ri, rule) in self.rules.iter().enumerate() {
            if !rule.context_matches(ctx) {
                continue;
            }
            let (mut first, mut last) = (usize::MAX, 0);
            for (j, m) in matched.iter_mut().enumerate() {
                *m = rule.frame_matches(&views, j);
                if *m {
                    first = first.min(j);
                    last = j;
                }
            }
            if first == usize::MAX {
                continue;
            }
            for flag in [FrameFlag::App, FrameFlag::Group] {
                let own = rule.flag_action(flag, Direction::Frame);
                let up = rule.flag_action(flag, Direction::Up);
                let down = rule.flag_action(flag, Direction::Down);
                for j in 0..frames.len() {
                    let value = match (down, own, up) {
                        (Some(v), _, _) if j < last => v,
                        (_, Some(v), _) if matched[j] => v,
                        (_, _, Some(v)) if j > first => v,
                        _ => continue,
                    };
                    match flag {
                        FrameFlag::App => {
                            set[j].in_app = Some((value, ri));
                            views[j].in_app = value;
                        }
                        FrameFlag::Group => set[j].group = Some((value, ri)),
                    }
                }
            }
            for action in &rule.actions {
                match action {
                    Action::Category(name) => {
                        for j in (0..frames.len()).filter(|&j| matched[j]) {
                            set[j].category = Some(ri);
                            views[j].category = Some(name);
                        }
                    }
                    Action::MaxFrames(n) => max_frames = Some((*n, ri)),
                    Action::MinFrames(n) => min_frames = Some((*n, ri)),
                    Action::Flag { .. } => {}
                }
            }
        }
        self.decision(&set, &views, max_frames, min_frames)
    }
}

impl fmt::Display for StacktraceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for StacktraceRules {
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

    fn frames(names: &[&str]) -> Vec<Frame> {
        names
            .iter()
            .map(|n| Frame {
                function: Some((*n).to_owned()),
                ..Frame::default()
            })
            .collect()
    }

    #[test]
    fn up_means_towards_the_crash_and_down_away_from_it() {
        let rules = StacktraceRules::parse("function:b ^-group v+app").unwrap();
        let d = rules.apply(None, &frames(&["a", "b", "c"]));
        assert_eq!(
            d.iter()
                .map(|d| (d.in_app, d.contributes))
                .collect::<Vec<_>>(),
            vec![(Some(true), None), (None, None), (None, Some(false))]
        );
    }

    #[test]
    fn within_a_rule_v_beats_own_beats_up() {
        let rules = StacktraceRules::parse("function:x ^-group +group").unwrap();
        let d = rules.apply(None, &frames(&["x", "y", "x", "z"]));
        let got: Vec<_> = d.iter().map(|d| d.contributes).collect();
        assert_eq!(got, vec![Some(true), Some(false), Some(true), Some(false)]);
        let rules = StacktraceRules::parse("function:x v-group +group").unwrap();
        let d = rules.apply(None, &frames(&["x", "y", "x", "z"]));
        let got: Vec<_> = d.iter().map(|d| d.contributes).collect();
        assert_eq!(got, vec![Some(false), Some(false), Some(true), None]);
    }

    #[test]
    fn indexed_application_equals_the_naive_one_on_the_builtin_rules() {
        let rules = crate::rules::builtin::periscope_2026_12();
        let functions = [
            "std::rt::lang_start",
            "core::panicking::panic_fmt",
            "abort",
            "raise",
            "malloc",
            "start",
            "__cxa_throw",
            "-[SentryClient capture]",
            "main",
        ];
        let frames: Vec<Frame> = functions
            .iter()
            .enumerate()
            .map(|(i, f)| Frame {
                function: Some((*f).to_owned()),
                package: (i % 3 == 0).then(|| "/usr/lib/system/libdyld.dylib".to_owned()),
                abs_path: [
                    "C:\\App\\node_modules\\x.js",
                    "node_modules/@babel/runtime/helpers.js",
                    "/usr/lib/python3/dist-packages/x.py",
                    "Internal/Timers",
                ]
                .get(i % 5)
                .map(|p| (*p).to_owned()),
                ..Frame::default()
            })
            .collect();
        for platform in [None, Some("native"), Some("javascript"), Some("python")] {
            let ctx = StacktraceContext::new(platform);
            let indexed = rules.apply_in(&ctx, &frames);
            assert_eq!(indexed, rules.apply_in_naive(&ctx, &frames), "{platform:?}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn glob_value() -> impl Strategy<Value = String> {
            "(a|b|B|x|/|:|_|/ab/|\\*|\\*\\*|\\?|\\[a-b\\]|\\[!a\\]|\\\\\\\\){0,5}"
        }

        fn matcher() -> impl Strategy<Value = String> {
            let glob = (
                prop_oneof![
                    Just("function"),
                    Just("module"),
                    Just("path"),
                    Just("package"),
                    Just("category"),
                    Just("error.type"),
                ],
                glob_value(),
            )
                .prop_map(|(field, value)| format!("{field}:\"{value}\""));
            let fixed = prop_oneof![
                Just("family:native".to_owned()),
                Just("family:javascript".to_owned()),
                Just("family:other".to_owned()),
                Just("family:native,javascript".to_owned()),
                Just("family:all".to_owned()),
                Just("app:yes".to_owned()),
                Just("app:no".to_owned()),
                Just("category:c1".to_owned()),
                Just("category:c*".to_owned()),
                Just("error.type:E1".to_owned()),
            ];
            (any::<bool>(), prop_oneof![3 => glob, 2 => fixed])
                .prop_map(|(negated, m)| if negated { format!("!{m}") } else { m })
        }

        fn action() -> impl Strategy<Value = &'static str> {
            prop_oneof![
                Just("+app"),
                Just("-app"),
                Just("^+app"),
                Just("v-app"),
                Just("+group"),
                Just("-group"),
                Just("^-group"),
                Just("v+group"),
                Just("category=c1"),
                Just("category=c2"),
                Just("max-frames=3"),
                Just("min-frames=1"),
            ]
        }

        fn rule() -> impl Strategy<Value = String> {
            (
                proptest::option::weighted(0.15, matcher()),
                proptest::collection::vec(matcher(), 1..4),
                proptest::option::weighted(0.15, matcher()),
                proptest::collection::vec(action(), 1..4),
            )
                .prop_map(|(caller, own, callee, actions)| {
                    let mut text = String::new();
                    if let Some(m) = caller {
                        text.push_str(&format!("[ {m} ] | "));
                    }
                    text.push_str(&own.join(" "));
                    if let Some(m) = callee {
                        text.push_str(&format!(" | [ {m} ]"));
                    }
                    text.push(' ');
                    text.push_str(&actions.join(" "));
                    text
                })
        }

        /// Random rules, those that parse.
        fn rules() -> impl Strategy<Value = StacktraceRules> {
            proptest::collection::vec(rule(), 0..80).prop_map(|lines| {
                let text = lines
                    .into_iter()
                    .filter(|l| StacktraceRules::parse(l).is_ok())
                    .collect::<Vec<_>>()
                    .join("\n");
                StacktraceRules::parse(&text).unwrap()
            })
        }

        fn value() -> impl Strategy<Value = Option<String>> {
            proptest::option::weighted(0.8, "(a|b|B|A|x|/|:|_|Ab/|\\\\|\u{212a}){0,5}")
        }

        fn frame() -> impl Strategy<Value = Frame> {
            (
                (value(), value(), value(), value(), value()),
                proptest::option::of(prop_oneof![
                    Just("native"),
                    Just("c"),
                    Just("javascript"),
                    Just("python"),
                ]),
                proptest::option::of(any::<bool>()),
            )
                .prop_map(
                    |((function, module, abs_path, filename, package), platform, in_app)| Frame {
                        function,
                        module,
                        abs_path,
                        filename,
                        package,
                        platform: platform.map(str::to_owned),
                        in_app,
                        ..Frame::default()
                    },
                )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn indexed_application_equals_the_naive_one(
                rules in rules(),
                frames in proptest::collection::vec(frame(), 0..12),
                platform in proptest::option::of(prop_oneof![Just("native"), Just("javascript"), Just("go")]),
                ty in proptest::option::of(prop_oneof![Just("E1"), Just("E2"), Just("xab")]),
            ) {
                let ctx = StacktraceContext::new(platform).with_exception(ty, None);
                prop_assert_eq!(rules.apply_in(&ctx, &frames), rules.apply_in_naive(&ctx, &frames));
            }

            #[test]
            fn indexed_application_equals_the_naive_one_after_the_builtin_rules(
                rules in rules(),
                frames in proptest::collection::vec(frame(), 0..12),
                platform in proptest::option::of(prop_oneof![Just("native"), Just("javascript")]),
            ) {
                let rules = StacktraceRules::concat(crate::rules::builtin::periscope_2026_12(), &rules);
                let ctx = StacktraceContext::new(platform);
                prop_assert_eq!(rules.apply_in(&ctx, &frames), rules.apply_in_naive(&ctx, &frames));
            }
        }
    }
}
