//! The [`Grouper`] and its decision, the [`Grouping`].

use std::borrow::Cow;

use periscope_sentry_envelope::{Event, Frame, Stacktrace};
use serde::{Deserialize, Serialize};

use crate::component::Component;
use crate::config::{GroupingConfig, Strategy};
use crate::fingerprint::{self, Kind, Part, Var};
use crate::hash::KeyHasher;
use crate::normalize::{first_line, package_name};
use crate::strategy::{self, Variant, grouping_exceptions, grouping_thread};

/// The longest title or culprit kept, in characters (longer ones are cut, with `…`).
pub const MAX_TITLE_CHARS: usize = 256;

/// Groups events into issues.
///
/// A `Grouper` holds only its configuration: it is cheap to build, `Send + Sync`,
/// and [`group`](Grouper::group) is pure (no I/O, no clock, no shared mutable
/// state), so one instance can serve every thread.
#[derive(Debug, Clone, Default)]
pub struct Grouper {
    config: GroupingConfig,
}

/// The grouping decision for one event.
///
/// `key` identifies the issue; `title` and `culprit` describe it; `variant` says
/// which way of grouping won; `explanation` is the whole component tree, with
/// the parts that counted and, for the others, why they did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grouping {
    /// The grouping key: 32 lowercase hex characters (128 bits of a SHA-256
    /// over the contributing values).
    pub key: String,
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
    /// [`Grouping::key`].
    pub key: &'a str,
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
            key: &self.key,
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
    /// A grouper with the given configuration (cheap: nothing is compiled here).
    pub fn new(config: GroupingConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &GroupingConfig {
        &self.config
    }

    /// Groups one event. Never fails: an event with nothing usable gets the
    /// fixed fallback key, so all such events share one issue.
    pub fn group(&self, event: &Event) -> Grouping {
        let (built_in, built_in_variant) = self.built_in(event);
        let parts: Vec<Part<'_>> = event
            .fingerprint
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|s| fingerprint::parse_part(s))
            .collect();

        let (variant, children) = match fingerprint::kind(&parts) {
            Kind::BuiltIn => (built_in_variant, built_in),
            Kind::Custom => {
                let fp = Component::parent(
                    "custom-fingerprint",
                    parts.iter().map(|p| fingerprint_part(event, p)).collect(),
                );
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
                let winner = winner
                    .unwrap_or_else(|| Component::ignored("default", "no grouping information"));
                let fp_children = parts
                    .iter()
                    .map(|p| match p {
                        // `{{ default }}` twice adds the built-in values twice: harmless.
                        Part::Default => winner.clone(),
                        _ => fingerprint_part(event, p),
                    })
                    .collect();
                let fp = Component::parent("hybrid-fingerprint", fp_children);
                let mut children = vec![fp];
                for mut c in rest {
                    c.exclude("the hybrid fingerprint takes precedence");
                    children.push(c);
                }
                ("hybrid-fingerprint", children)
            }
        };
        let explanation = Component {
            name: Cow::Borrowed("grouping"),
            contributes: true,
            hint: None,
            values: Vec::new(),
            children,
        };
        let mut hasher = KeyHasher::new();
        hasher.add_component(&explanation);
        Grouping {
            key: hasher.finish(),
            title: title(event),
            culprit: culprit(event),
            variant: variant.to_owned(),
            explanation,
        }
    }

    /// The built-in strategy's components (exactly one of them contributes,
    /// the fallback if need be) and the name of the winning one.
    fn built_in(&self, event: &Event) -> (Vec<Component>, &'static str) {
        let mut children = match self.config.strategy {
            Strategy::Default => {
                let app = if strategy::has_in_app_frames(event) {
                    strategy::default_variant(event, Variant::App)
                } else {
                    Component::ignored("app", "the event has no in-app frames")
                };
                if app.contributes {
                    // The losing variant is only named, not computed.
                    let system = Component::ignored("system", "the app variant takes precedence");
                    return (vec![app, system], "app");
                }
                vec![app, strategy::default_variant(event, Variant::System)]
            }
            Strategy::TypeAndValue => {
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

/// One fingerprint entry as a component, its variable resolved.
fn fingerprint_part(event: &Event, part: &Part<'_>) -> Component {
    match part {
        Part::Literal(s) => Component::leaf("fingerprint", *s),
        Part::Default => Component::ignored("fingerprint", "{{ default }}"),
        Part::Var(var) => match resolve(event, var) {
            Some(value) => Component::leaf("fingerprint", value)
                .with_hint(format!("from {{{{ {} }}}}", var_name(var))),
            None => Component::leaf("fingerprint", var.fallback()).with_hint(format!(
                "the event has no value for {{{{ {} }}}}",
                var_name(var)
            )),
        },
    }
}

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
        Var::Tag(name) => format!("tags.{name}"),
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    crate::normalize::non_empty(s)
}

/// The value of a fingerprint variable, `None` when the event lacks it.
fn resolve(event: &Event, var: &Var<'_>) -> Option<String> {
    let primary = grouping_exceptions(&event.exceptions).last().copied();
    let frame = || crash_frame(event);
    let s = match var {
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
        Var::Tag(name) => event.tag(name),
    };
    s.map(str::to_owned)
}

/// The stack trace that matters most: the primary exception's, else the
/// grouping thread's, else the top-level one.
fn primary_stacktrace(event: &Event) -> Option<&Stacktrace> {
    let from_exception = grouping_exceptions(&event.exceptions)
        .into_iter()
        .rev()
        .find_map(|e| e.stacktrace.as_ref().filter(|s| !s.frames.is_empty()));
    from_exception
        .or_else(|| grouping_thread(&event.threads).and_then(|t| t.stacktrace.as_ref()))
        .or(event.stacktrace.as_ref())
}

/// The crash frame: the last in-app frame of the primary stack trace (frames
/// are listed oldest call first), else its last frame.
fn crash_frame(event: &Event) -> Option<&Frame> {
    let frames = &primary_stacktrace(event)?.frames;
    frames
        .iter()
        .rev()
        .find(|f| f.in_app == Some(true))
        .or(frames.last())
}

/// Cuts `s` to [`MAX_TITLE_CHARS`] characters.
fn bounded(s: &str) -> String {
    match s.char_indices().nth(MAX_TITLE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// `Type: first line of value` for errors, the first line of the message for
/// message events, `<unlabeled event>` otherwise.
pub(crate) fn title(event: &Event) -> String {
    let exceptions = grouping_exceptions(&event.exceptions);
    if let Some(exc) = exceptions.last() {
        let ty = non_empty(exc.ty.as_deref());
        let value = non_empty(exc.value.as_deref())
            .map(first_line)
            .filter(|v| !v.is_empty());
        match (ty, value) {
            (Some(ty), Some(value)) => return bounded(&format!("{ty}: {value}")),
            (Some(ty), None) => return bounded(ty),
            (None, Some(value)) => return bounded(value),
            (None, None) => {}
        }
    }
    if let Some(line) = non_empty(event.message()).map(first_line)
        && !line.is_empty()
    {
        return bounded(line);
    }
    "<unlabeled event>".to_owned()
}

/// The transaction, else `module-or-filename in function` of the crash frame.
pub(crate) fn culprit(event: &Event) -> Option<String> {
    if let Some(t) = non_empty(event.transaction.as_deref()) {
        return Some(bounded(t));
    }
    let frame = crash_frame(event)?;
    let place = non_empty(frame.module.as_deref()).or(non_empty(frame.filename.as_deref()));
    let function =
        non_empty(frame.function.as_deref()).or(non_empty(frame.raw_function.as_deref()));
    match (place, function) {
        (Some(p), Some(f)) => Some(bounded(&format!("{p} in {f}"))),
        (Some(p), None) => Some(bounded(p)),
        (None, Some(f)) => Some(bounded(f)),
        (None, None) => None,
    }
}
