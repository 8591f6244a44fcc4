//! The [`Grouper`] and its decision, the [`Grouping`].

use std::borrow::Cow;
use std::collections::HashMap;

use periscope_sentry_envelope::{Event, Exception, Frame, Stacktrace};
use serde::{Deserialize, Serialize};

use crate::component::Component;
use crate::config::{ConfigId, Family, Features, GroupingConfig};
use crate::fingerprint::{self, Kind, Part, Var};
use crate::hash::KeyHasher;
use crate::limits::{
    BoundedTitle, MAX_FINGERPRINT_PART_CHARS, MAX_FINGERPRINT_PARTS, prefix_chars,
};
use crate::normalize::{first_line, package_name};
use crate::rules::{FingerprintMatch, StacktraceRules};
use crate::strategy::{
    self, RuleDecisions, Variant, considered_exceptions, considered_frames, grouping_exceptions,
    grouping_thread,
};

/// Groups events into issues.
///
/// A `Grouper` holds its configuration and the effective stack-trace rules
/// (the configuration's built-in rules, then the project's), compiled once
/// when it is built: it is `Send + Sync`, and [`group`](Grouper::group) is
/// pure (no I/O, no clock, no shared mutable state), so one instance can
/// serve every thread.
#[derive(Debug, Clone)]
pub struct Grouper {
    config: GroupingConfig,
    /// The built-in stack-trace rules, then the project's.
    stacktrace_rules: StacktraceRules,
    /// How many of `stacktrace_rules` are built-in.
    builtin_len: usize,
}

/// A grouper for [`GroupingConfig::default`].
impl Default for Grouper {
    fn default() -> Self {
        Grouper::new(GroupingConfig::default())
    }
}

/// The grouping decision for one event.
///
/// `key` identifies the issue; `other_keys` are further keys under which an
/// existing issue of the event may be found; `title` and `culprit` describe
/// it; `variant` says which way of grouping won; `explanation` is the whole
/// component tree, with the parts that counted and, for the others, why they
/// did not; `config` says which configuration decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grouping {
    /// The configuration that produced the keys.
    pub config: ConfigId,
    /// The grouping key: 32 lowercase hex characters (128 bits of a SHA-256
    /// over the contributing values).
    pub key: String,
    /// Further keys of the event under the same configuration, in lookup
    /// order after `key`, never equal to it nor to each other. Under
    /// `periscope:2026-12`, when the app variant wins, the key the system
    /// variant gives (as Sentry's app and system hashes: an event joins the
    /// issue of either). Empty under the configurations released before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_keys: Vec<String>,
    /// The issue title: `Type: first line of value`, the first line of the
    /// message, or `<unlabeled event>`.
    pub title: String,
    /// Where it happened: the transaction, else `module in function` of the
    /// most relevant frame.
    pub culprit: Option<String>,
    /// What decided the key: `app`, `system`, `type-and-value`,
    /// `custom-fingerprint`, `hybrid-fingerprint` or `fallback`.
    pub variant: String,
    /// The component tree. Its root, `grouping`, has one child per way of
    /// grouping that was considered; exactly one of them contributes.
    pub explanation: Component,
}

/// A one-line summary of a [`Grouping`], as `periscope group` prints it.
///
/// Serialized as `{"source": .., "key": .., "title": .., "culprit": ..,
/// "variant": .., "values": [[component, value], ...]}` (`source` only when set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupingSummary<'a> {
    /// Where the event came from (a file name), when the caller sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'a str>,
    /// [`Grouping::config`]'s id.
    pub config: &'a str,
    /// [`Grouping::key`].
    pub key: &'a str,
    /// [`Grouping::other_keys`], left out when empty.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub other_keys: &'a [String],
    /// [`Grouping::title`].
    pub title: &'a str,
    /// [`Grouping::culprit`].
    pub culprit: Option<&'a str>,
    /// [`Grouping::variant`].
    pub variant: &'a str,
    /// The contributing values, as (component name, value) pairs, in hashing order.
    pub values: Vec<(&'a str, &'a str)>,
}

impl GroupingSummary<'_> {
    /// The summary as one line of JSON (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // Serializing plain strings into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Grouping {
    /// Every key of the event, in lookup order: [`key`](Grouping::key), then
    /// [`other_keys`](Grouping::other_keys). A store looks each up and joins
    /// the first issue found; a new issue is stored under all of them.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.key.as_str()).chain(self.other_keys.iter().map(String::as_str))
    }

    /// The values that made the key, as (component name, value) pairs.
    pub fn contributing_values(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        self.explanation
            .visit_contributing(&mut |name, value| out.push((name, value)));
        out
    }

    /// A compact, serializable summary (everything but the full tree).
    pub fn summary(&self) -> GroupingSummary<'_> {
        GroupingSummary {
            source: None,
            config: self.config.as_str(),
            key: &self.key,
            other_keys: &self.other_keys,
            title: &self.title,
            culprit: self.culprit.as_deref(),
            variant: &self.variant,
            values: self.contributing_values(),
        }
    }

    /// The [`summary`](Grouping::summary) as one line of JSON: what
    /// `periscope group` and `examples/group_files.rs` print per event.
    pub fn to_json_line(&self) -> String {
        self.summary().to_json_line()
    }
}

impl Grouper {
    /// A grouper with the given configuration. The effective stack-trace
    /// rules are put together here, once: the configuration's built-in rules
    /// ([`ConfigId::builtin_stacktrace_rules`], parsed once per process)
    /// followed by the project's ([`GroupingConfig::stacktrace_rules`]), so
    /// that a project rule overrides a built-in one.
    pub fn new(config: GroupingConfig) -> Self {
        let builtin = config.id.builtin_stacktrace_rules();
        let project = config.stacktrace_rules();
        let stacktrace_rules = match (builtin.is_empty(), project.is_empty()) {
            (_, true) => builtin.clone(),
            (true, false) => project.clone(),
            (false, false) => StacktraceRules::concat(builtin, project),
        };
        Self {
            builtin_len: builtin.len(),
            stacktrace_rules,
            config,
        }
    }

    /// The effective stack-trace rules: the built-in ones, then the project's.
    pub fn stacktrace_rules(&self) -> &StacktraceRules {
        &self.stacktrace_rules
    }

    /// The configuration.
    pub fn config(&self) -> &GroupingConfig {
        &self.config
    }

    /// Groups one event. Never fails: an event with nothing usable gets the
    /// fixed fallback key, so all such events share one issue.
    ///
    /// Time and memory are linear in the event's size and bounded in absolute
    /// terms by the [`limits`](crate::limits).
    pub fn group(&self, event: &Event) -> Grouping {
        let config = self.config.id;
        let features = config.features();
        // Stack-trace rules: once per event, for both variants and the crash frame.
        let decisions =
            RuleDecisions::compute(event, &self.stacktrace_rules, self.builtin_len, features);
        let facts = Facts::of(event, features, &decisions);
        let (built_in, built_in_variant) = self.built_in(event, &decisions);
        // A project's fingerprint rule replaces the SDK's fingerprint, as
        // Sentry's server-side fingerprinting does.
        let rule = self.config.fingerprint_rules().first_match(event);
        let client_entries = event.fingerprint.as_deref().unwrap_or_default();
        let entries = rule.as_ref().map_or(client_entries, |m| m.fingerprint);
        let Considered {
            parts,
            repeated_defaults,
            omitted,
        } = considered_parts(entries);
        let repeated = (repeated_defaults > 0).then(|| {
            Component::ignored(
                "fingerprint",
                format!(
                    "{{{{ default }}}} repeated {repeated_defaults} more times: {REPEATED_DEFAULT}"
                ),
            )
        });
        let omitted = (omitted > 0).then(|| {
            Component::ignored(
                "fingerprint",
                format!(
                    "{omitted} more fingerprint entries not considered (at most {MAX_FINGERPRINT_PARTS})"
                ),
            )
        });
        let title_parts: Vec<Part<'_>> = rule
            .as_ref()
            .and_then(|m| m.title)
            .map(title_variables)
            .unwrap_or_default();
        let mut resolver = Resolver::new(event, &facts, &parts, &title_parts);

        let kind = fingerprint::kind(&parts);
        let (variant, mut children) = match kind {
            Kind::BuiltIn => (built_in_variant, built_in),
            Kind::Custom => {
                let mut fp_children: Vec<Component> =
                    parts.iter().map(|p| resolver.component(p)).collect();
                fp_children.extend(omitted.clone());
                let fp =
                    with_rule_hint(Component::parent("custom-fingerprint", fp_children), &rule);
                let mut children = vec![fp];
                children.extend(built_in.into_iter().map(|mut c| {
                    c.exclude("the custom fingerprint takes precedence");
                    c
                }));
                ("custom-fingerprint", children)
            }
            Kind::Hybrid => {
                let mut winner = None;
                let mut rest = Vec::new();
                for c in built_in {
                    if c.contributes && winner.is_none() {
                        winner = Some(c);
                    } else {
                        rest.push(c);
                    }
                }
                let mut winner =
                    Some(winner.unwrap_or_else(|| {
                        Component::ignored("default", "no grouping information")
                    }));
                let mut repeated = repeated.clone();
                let mut fp_children: Vec<Component> = Vec::with_capacity(parts.len() + 2);
                for p in &parts {
                    match p {
                        // The built-in values count once: the only `{{ default }}`
                        // left takes the tree (moved, never copied); the repeats
                        // are named in one note after it.
                        Part::Default => {
                            fp_children.extend(winner.take());
                            fp_children.extend(repeated.take());
                        }
                        _ => fp_children.push(resolver.component(p)),
                    }
                }
                fp_children.extend(omitted.clone());
                let fp =
                    with_rule_hint(Component::parent("hybrid-fingerprint", fp_children), &rule);
                let mut children = vec![fp];
                for mut c in rest {
                    c.exclude("the hybrid fingerprint takes precedence");
                    children.push(c);
                }
                ("hybrid-fingerprint", children)
            }
        };
        if kind == Kind::BuiltIn {
            // Only `{{ default }}` among the considered entries: the notes (if
            // any) go to the root.
            children.extend(repeated);
            children.extend(omitted);
            if let Some(m) = &rule {
                children.push(Component::ignored(
                    "fingerprint",
                    format!("{}: the built-in grouping", rule_name(m)),
                ));
            }
        }
        if let Some(m) = &rule
            && !client_entries.is_empty()
        {
            children.push(replaced_client_fingerprint(client_entries, m));
        }
        let explanation = Component {
            name: Cow::Borrowed("grouping"),
            contributes: true,
            hint: None,
            values: Vec::new(),
            children,
        };
        let mut hasher = KeyHasher::new(config);
        hasher.add_component(&explanation);
        let key = hasher.finish();
        let other_keys = match system_key(config, &explanation) {
            Some(k) if k != key => vec![k],
            _ => Vec::new(),
        };
        Grouping {
            config,
            key,
            other_keys,
            title: match rule.as_ref().and_then(|m| m.title) {
                Some(template) => resolver.title(template),
                None => title(event, &facts),
            },
            culprit: culprit(event, &facts),
            variant: variant.to_owned(),
            explanation,
        }
    }

    /// The built-in strategy's components (exactly one of them contributes,
    /// the fallback if need be) and the name of the winning one.
    fn built_in<'e>(
        &self,
        event: &'e Event,
        decisions: &'e RuleDecisions<'e>,
    ) -> (Vec<Component>, &'static str) {
        let config = self.config.id;
        let mut children = match config.family() {
            Family::Periscope => {
                let features = config.features();
                let app = if strategy::has_in_app_frames(event, features, decisions) {
                    strategy::default_variant(event, Variant::App, config, decisions)
                } else {
                    Component::ignored("app", "the event has no in-app frames")
                };
                if app.contributes {
                    let system = if features.system_key {
                        // Computed for the second key (see `system_key`).
                        strategy::default_variant(event, Variant::System, config, decisions)
                            .exclude_because(SYSTEM_KEY_HINT)
                    } else {
                        // The losing variant is only named, not computed.
                        Component::ignored("system", "the app variant takes precedence")
                    };
                    return (vec![app, system], "app");
                }
                vec![
                    app,
                    strategy::default_variant(event, Variant::System, config, decisions),
                ]
            }
            Family::TypeAndValue => {
                let c = strategy::type_and_value(event);
                if c.contributes {
                    return (vec![c], "type-and-value");
                }
                vec![c]
            }
        };
        if let Some(system) = children.iter().find(|c| c.contributes) {
            let name = if system.name == "system" {
                "system"
            } else {
                "type-and-value"
            };
            return (children, name);
        }
        children.push(
            Component::leaf("fallback", "<no grouping information>")
                .with_hint("nothing in the event could be used: all such events share one issue"),
        );
        (children, "fallback")
    }
}

/// The hint of a system variant computed for the second key.
const SYSTEM_KEY_HINT: &str =
    "the app variant takes precedence; the system variant gives a second key";

/// The key the system variant gives when the app variant won (with
/// [`Features::system_key`]): the same values in the same places, the
/// system variant's standing for the app variant's (also inside a hybrid
/// fingerprint). `None` otherwise, or when the system variant has no values.
fn system_key(config: ConfigId, explanation: &Component) -> Option<String> {
    if !config.features().system_key {
        return None;
    }
    let app = explanation.find("app").filter(|c| c.contributes)?;
    let system = explanation
        .find("system")
        .filter(|c| c.hint.as_deref() == Some(SYSTEM_KEY_HINT))?;
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    explanation.visit_contributing_replacing(app, system, &mut |n, v| pairs.push((n, v)));
    if system
        .children
        .iter()
        .all(|c| c.contributing_values().is_empty())
    {
        return None;
    }
    let mut hasher = KeyHasher::new(config);
    for (n, v) in pairs {
        hasher.add(n, v);
    }
    Some(hasher.finish())
}

/// The hint of a repeated `{{ default }}`.
const REPEATED_DEFAULT: &str = "the built-in values count once, at its first occurrence";

/// The fingerprint entries that grouping considers.
struct Considered<'a> {
    /// The entries, parsed: a repeated `{{ default }}` only at its first
    /// occurrence, at most [`MAX_FINGERPRINT_PARTS`] entries.
    parts: Vec<Part<'a>>,
    /// How many later `{{ default }}` were dropped.
    repeated_defaults: usize,
    /// How many entries beyond the limit were dropped.
    omitted: usize,
}

/// Parses the fingerprint entries (linear in their length). A repeated
/// `{{ default }}` is a no-op: it is dropped and does not count against the
/// limit, so `["{{ default }}", "{{ default }}", "x"]` is `["{{ default }}", "x"]`
/// however many repeats come first.
fn considered_parts(entries: &[String]) -> Considered<'_> {
    let mut c = Considered {
        parts: Vec::with_capacity(entries.len().min(MAX_FINGERPRINT_PARTS)),
        repeated_defaults: 0,
        omitted: 0,
    };
    let mut has_default = false;
    for entry in entries {
        let part = fingerprint::parse_part(entry);
        if part == Part::Default && has_default {
            c.repeated_defaults += 1;
        } else if c.parts.len() == MAX_FINGERPRINT_PARTS {
            c.omitted += 1;
        } else {
            has_default |= part == Part::Default;
            c.parts.push(part);
        }
    }
    c
}

/// What several parts of the decision need, computed once per event.
struct Facts<'e> {
    /// The exceptions that count (exception-group wrappers dropped), the
    /// primary one last.
    exceptions: Vec<&'e Exception>,
    /// The crash frame (see [`crash_frame`]).
    crash_frame: Option<&'e Frame>,
}

impl<'e> Facts<'e> {
    fn of(event: &'e Event, features: Features, decisions: &RuleDecisions<'_>) -> Self {
        let exceptions = grouping_exceptions(&event.exceptions, features);
        let crash_frame = crash_frame(event, &exceptions, features, decisions);
        Self {
            exceptions,
            crash_frame,
        }
    }
}

/// Resolves fingerprint variables, each once however often it is used.
struct Resolver<'e, 'f> {
    event: &'e Event,
    facts: &'f Facts<'e>,
    /// The value of every `{{ tags.NAME }}` used, found in one pass over the tags.
    tags: HashMap<&'f str, &'e str>,
    /// Variables already resolved (their value cut to
    /// [`MAX_FINGERPRINT_PART_CHARS`], and whether it was cut).
    resolved: HashMap<Var<'f>, Option<(String, bool)>>,
}

impl<'e, 'f> Resolver<'e, 'f> {
    fn new(
        event: &'e Event,
        facts: &'f Facts<'e>,
        parts: &'f [Part<'f>],
        title_parts: &'f [Part<'f>],
    ) -> Self {
        let mut wanted: HashMap<&'f str, Option<&'e str>> = HashMap::new();
        for part in parts.iter().chain(title_parts) {
            if let Part::Var(Var::Tag(name)) = part {
                wanted.insert(name, None);
            }
        }
        if !wanted.is_empty() {
            // The first tag of a name wins, as in `Event::tag`.
            for (k, v) in &event.tags {
                if let Some(slot @ None) = wanted.get_mut(k.as_str()) {
                    *slot = Some(v.as_str());
                }
            }
        }
        let tags = wanted
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
        Self {
            event,
            facts,
            tags,
            resolved: HashMap::new(),
        }
    }

    /// One fingerprint entry as a component, its variable resolved.
    fn component(&mut self, part: &Part<'f>) -> Component {
        match part {
            Part::Literal(s) => match prefix_chars(s, MAX_FINGERPRINT_PART_CHARS) {
                (s, false) => Component::leaf("fingerprint", s),
                (head, true) => Component::leaf("fingerprint", head).with_hint(CUT_PART),
            },
            Part::Default => Component::ignored("fingerprint", "{{ default }}"),
            Part::Var(var) => {
                let (event, facts) = (self.event, self.facts);
                let tags = &self.tags;
                let value = self.resolved.entry(*var).or_insert_with(|| {
                    resolve(event, facts, tags, var)
                        .map(|v| prefix_chars(v, MAX_FINGERPRINT_PART_CHARS))
                        .map(|(v, cut)| (v.to_owned(), cut))
                });
                match value {
                    Some((value, false)) => Component::leaf("fingerprint", value.as_str())
                        .with_hint(format!("from {{{{ {} }}}}", var_name(var))),
                    Some((value, true)) => Component::leaf("fingerprint", value.as_str())
                        .with_hint(format!("from {{{{ {} }}}}; {CUT_PART}", var_name(var))),
                    None => {
                        let fallback = var.fallback();
                        let (fallback, _) = prefix_chars(&fallback, MAX_FINGERPRINT_PART_CHARS);
                        Component::leaf("fingerprint", fallback).with_hint(format!(
                            "the event has no value for {{{{ {} }}}}",
                            var_name(var)
                        ))
                    }
                }
            }
        }
    }
}

impl<'f> Resolver<'_, 'f> {
    /// A fingerprint rule's `title="..."` with its variables resolved as in a
    /// fingerprint (a missing value gives its fallback, `<no-transaction>`
    /// ...; an unknown variable stays as written), cut to
    /// [`MAX_TITLE_CHARS`](crate::limits::MAX_TITLE_CHARS).
    fn title(&mut self, template: &'f str) -> String {
        let mut title = BoundedTitle::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start..].find("}}").map(|end| end + 2) else {
                break;
            };
            title = title.push(&rest[..start]);
            let entry = &rest[start..start + len];
            match fingerprint::parse_part(entry) {
                Part::Var(var) => {
                    let c = self.component(&Part::Var(var));
                    title = title.push(c.values.first().map_or("", String::as_str));
                }
                _ => title = title.push(entry),
            }
            rest = &rest[start + len..];
        }
        let title = title.push(rest).finish();
        if title.trim().is_empty() {
            "<unlabeled event>".to_owned()
        } else {
            title
        }
    }
}

/// The variables of a title template (to resolve tags in one pass).
fn title_variables(template: &str) -> Vec<Part<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}").map(|end| end + 2) else {
            break;
        };
        if let part @ Part::Var(_) = fingerprint::parse_part(&rest[start..start + len]) {
            out.push(part);
        }
        rest = &rest[start + len..];
    }
    out
}

/// A fingerprint rule as explanations name it:
/// `fingerprint rule 1 (line 2): error.type:DatabaseUnavailable -> system-down`.
fn rule_name(m: &FingerprintMatch<'_>) -> String {
    format!(
        "fingerprint rule {} (line {}): {}",
        m.index + 1,
        m.line,
        m.text
    )
}

/// The fingerprint component, its hint naming the rule that gave it, if any.
fn with_rule_hint(c: Component, rule: &Option<FingerprintMatch<'_>>) -> Component {
    match rule {
        Some(m) => c.with_hint(rule_name(m)),
        None => c,
    }
}

/// The SDK's fingerprint that a rule replaced: shown, never counted (at most
/// [`MAX_FINGERPRINT_PARTS`] entries, each cut to
/// [`MAX_FINGERPRINT_PART_CHARS`]).
fn replaced_client_fingerprint(entries: &[String], m: &FingerprintMatch<'_>) -> Component {
    let values = entries
        .iter()
        .take(MAX_FINGERPRINT_PARTS)
        .map(|e| prefix_chars(e, MAX_FINGERPRINT_PART_CHARS).0.to_owned())
        .collect();
    Component {
        name: Cow::Borrowed("client-fingerprint"),
        contributes: false,
        hint: Some(Cow::Owned(format!(
            "the SDK's fingerprint, replaced by {}",
            rule_name(m)
        ))),
        values,
        children: Vec::new(),
    }
}

/// The hint of a fingerprint value that was cut.
const CUT_PART: &str = "cut to its first 1024 characters";

/// A variable's name as written in a fingerprint, for hints (a tag name is cut
/// to 64 characters).
fn var_name(var: &Var<'_>) -> String {
    match var {
        Var::Transaction => "transaction".into(),
        Var::Message => "message".into(),
        Var::Type => "type".into(),
        Var::Value => "value".into(),
        Var::Function => "function".into(),
        Var::AbsPath => "path".into(),
        Var::Filename => "stack.filename".into(),
        Var::Module => "module".into(),
        Var::Package => "package".into(),
        Var::Level => "level".into(),
        Var::Logger => "logger".into(),
        Var::Tag(name) => match prefix_chars(name, 64) {
            (name, false) => format!("tags.{name}"),
            (head, true) => format!("tags.{head}…"),
        },
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    crate::normalize::non_empty(s)
}

/// The value of a fingerprint variable, `None` when the event lacks it
/// (borrowed from the event: the caller copies what it keeps).
fn resolve<'e>(
    event: &'e Event,
    facts: &Facts<'e>,
    tags: &HashMap<&str, &'e str>,
    var: &Var<'_>,
) -> Option<&'e str> {
    let primary = facts.exceptions.last().copied();
    let frame = || facts.crash_frame;
    match var {
        Var::Transaction => non_empty(event.transaction.as_deref()),
        Var::Message => non_empty(event.message())
            .or_else(|| non_empty(event.exceptions.last().and_then(|e| e.value.as_deref()))),
        Var::Type => non_empty(primary.and_then(|e| e.ty.as_deref())),
        Var::Value => non_empty(primary.and_then(|e| e.value.as_deref())),
        Var::Function => frame().and_then(|f| {
            non_empty(f.function.as_deref()).or(non_empty(f.raw_function.as_deref()))
        }),
        Var::AbsPath => frame().and_then(|f| non_empty(f.abs_path.as_deref())),
        Var::Filename => frame().and_then(|f| non_empty(f.filename.as_deref())),
        Var::Module => frame().and_then(|f| non_empty(f.module.as_deref())),
        Var::Package => frame()
            .and_then(|f| non_empty(f.package.as_deref()))
            .map(package_name),
        Var::Level => event.level.as_ref().map(|l| l.as_str()),
        Var::Logger => non_empty(event.logger.as_deref()),
        Var::Tag(name) => tags.get(name).copied(),
    }
}

/// The stack trace that matters most: the primary exception's, else the
/// grouping thread's, else the top-level one.
fn primary_stacktrace<'e>(
    event: &'e Event,
    exceptions: &[&'e Exception],
) -> Option<&'e Stacktrace> {
    let from_exception = considered_exceptions(exceptions)
        .rev()
        .find_map(|e| e.stacktrace.as_ref().filter(|s| !s.frames.is_empty()));
    from_exception
        .or_else(|| grouping_thread(&event.threads).and_then(|t| t.stacktrace.as_ref()))
        .or(event.stacktrace.as_ref())
}

/// The crash frame: the last in-app frame of the primary stack trace (frames
/// are listed oldest call first), else its last frame. Only the frames that
/// grouping considers ([`MAX_FRAMES`](crate::limits::MAX_FRAMES)) are searched.
fn crash_frame<'e>(
    event: &'e Event,
    exceptions: &[&'e Exception],
    features: Features,
    decisions: &RuleDecisions<'_>,
) -> Option<&'e Frame> {
    let st = primary_stacktrace(event, exceptions)?;
    let frames = considered_frames(&st.frames);
    frames
        .iter()
        .enumerate()
        .rev()
        .find(|(i, f)| decisions.in_app(st, *i, f, features))
        .map(|(_, f)| f)
        .or(frames.last())
}

/// `Type: first line of value` for errors, the first line of the message for
/// message events, `<unlabeled event>` otherwise. Cut to
/// [`MAX_TITLE_CHARS`](crate::limits::MAX_TITLE_CHARS);
/// the work is bounded too (see [`TITLE_SCAN_BYTES`](crate::limits::TITLE_SCAN_BYTES)).
fn title(event: &Event, facts: &Facts<'_>) -> String {
    if let Some(exc) = facts.exceptions.last() {
        let ty = non_empty(exc.ty.as_deref());
        let value = non_empty(exc.value.as_deref())
            .map(first_line)
            .filter(|(v, _)| !v.is_empty());
        let title = BoundedTitle::new();
        match (ty, value) {
            (Some(ty), Some((value, cut))) => {
                return title.push(ty).push(": ").push(value).cut_if(cut).finish();
            }
            (Some(ty), None) => return title.push(ty).finish(),
            (None, Some((value, cut))) => return title.push(value).cut_if(cut).finish(),
            (None, None) => {}
        }
    }
    if let Some((line, cut)) = non_empty(event.message()).map(first_line)
        && !line.is_empty()
    {
        return BoundedTitle::new().push(line).cut_if(cut).finish();
    }
    "<unlabeled event>".to_owned()
}

/// The transaction, else `module-or-filename in function` of the crash frame.
fn culprit(event: &Event, facts: &Facts<'_>) -> Option<String> {
    if let Some(t) = non_empty(event.transaction.as_deref()) {
        return Some(BoundedTitle::new().push(t).finish());
    }
    let frame = facts.crash_frame?;
    let place = non_empty(frame.module.as_deref()).or(non_empty(frame.filename.as_deref()));
    let function =
        non_empty(frame.function.as_deref()).or(non_empty(frame.raw_function.as_deref()));
    let c = BoundedTitle::new();
    match (place, function) {
        (Some(p), Some(f)) => Some(c.push(p).push(" in ").push(f).finish()),
        (Some(p), None) => Some(c.push(p).finish()),
        (None, Some(f)) => Some(c.push(f).finish()),
        (None, None) => None,
    }
}
