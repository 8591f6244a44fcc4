//! The built-in strategies: they turn an event into component trees.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use periscope_sentry_envelope::{Event, Exception, Frame, Stacktrace, Thread};
use serde_json::Value;

use crate::component::Component;
use crate::config::{ConfigId, Features};
use crate::hash::KeyHasher;
use crate::limits::{MAX_EXCEPTIONS, MAX_FRAMES, MAX_MESSAGE_CHARS, prefix_chars};
use crate::normalize::{
    AUTO, FunctionName, GENERATED_HINT, MAX_CONTEXT_LINE, collapse_whitespace,
    context_line_platform, is_generated_name, is_ios_app_bundle_path, is_native_code_path,
    is_url_or_pseudo_path, mask_generated_parts, normalize_filename, normalize_function,
    normalize_native_function, parameterize,
};
use crate::rules::{
    FrameDecision, RuleRef, StacktraceContext, StacktraceDecision, StacktraceRules,
};

/// Which frames count: only in-app ones, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    /// Only frames with `in_app: true`.
    App,
    /// Every frame.
    System,
}

impl Variant {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Variant::App => "app",
            Variant::System => "system",
        }
    }
}

/// The exceptions that count: exception-group wrappers dropped, leaves kept.
///
/// When the payload marks exception groups (`mechanism.is_exception_group`) or
/// links exceptions (`exception_id` / `parent_id`), the wrappers and every
/// exception that is the parent of another are dropped, leaving the leaf
/// exceptions in payload order. Otherwise all exceptions count (a plain chain).
///
/// With [`Features::strict_exception_groups`], a malformed group (see
/// [`malformed_group`]) counts only its top exception, the last one.
pub(crate) fn grouping_exceptions(exceptions: &[Exception], features: Features) -> Vec<&Exception> {
    if !exceptions.iter().any(is_group) {
        return exceptions.iter().collect();
    }
    if features.strict_exception_groups && malformed_group(exceptions).is_some() {
        return exceptions.last().into_iter().collect();
    }
    let parents: HashSet<u64> = exceptions
        .iter()
        .filter_map(|e| e.mechanism.as_ref().and_then(|m| m.parent_id))
        .collect();
    let is_parent = |e: &Exception| {
        e.mechanism
            .as_ref()
            .and_then(|m| m.exception_id)
            .is_some_and(|id| parents.contains(&id))
    };
    let leaves: Vec<&Exception> = exceptions
        .iter()
        .filter(|e| !is_group(e) && !is_parent(e))
        .collect();
    if leaves.is_empty() {
        exceptions.iter().collect()
    } else {
        leaves
    }
}

fn is_group(e: &Exception) -> bool {
    e.mechanism.as_ref().is_some_and(|m| m.is_exception_group)
}

/// Why the links of an exception group cannot be trusted, if they cannot:
/// two exceptions share an `exception_id`, a `parent_id` names no exception,
/// or following parents leads round in a cycle. Linear in the number of
/// exceptions.
pub(crate) fn malformed_group(exceptions: &[Exception]) -> Option<&'static str> {
    let ids = |e: &Exception| e.mechanism.as_ref().map(|m| (m.exception_id, m.parent_id));
    let mut parent_of: HashMap<u64, Option<u64>> = HashMap::with_capacity(exceptions.len());
    for (id, parent) in exceptions.iter().filter_map(ids) {
        if let Some(id) = id
            && parent_of.insert(id, parent).is_some()
        {
            return Some("two exceptions share an exception_id");
        }
    }
    let missing = exceptions
        .iter()
        .filter_map(ids)
        .filter_map(|(_, parent)| parent)
        .any(|p| !parent_of.contains_key(&p));
    if missing {
        return Some("a parent_id names no exception of the event");
    }
    // Walk up from every exception; a walk that meets itself is a cycle. Each
    // exception is settled once (`done`), so the walks are linear in all.
    let mut done: HashSet<u64> = HashSet::with_capacity(parent_of.len());
    let mut path: HashSet<u64> = HashSet::new();
    for &start in parent_of.keys() {
        let mut at = Some(start);
        while let Some(id) = at {
            if done.contains(&id) {
                break;
            }
            if !path.insert(id) {
                return Some("the parent_id links form a cycle");
            }
            at = parent_of.get(&id).copied().flatten();
        }
        done.extend(path.drain());
    }
    None
}

/// The exceptions that grouping considers, as two runs: the first and the last
/// `MAX_EXCEPTIONS / 2` of a longer list (the root cause and the primary
/// exception are both kept), and how many were left out between them.
pub(crate) fn exception_runs<'a, 'e>(
    exceptions: &'a [&'e Exception],
) -> (&'a [&'e Exception], &'a [&'e Exception], usize) {
    if exceptions.len() <= MAX_EXCEPTIONS {
        return (exceptions, &[], 0);
    }
    let half = MAX_EXCEPTIONS / 2;
    let tail_start = exceptions.len() - (MAX_EXCEPTIONS - half);
    (
        &exceptions[..half],
        &exceptions[tail_start..],
        tail_start - half,
    )
}

/// The exceptions that grouping considers (see [`exception_runs`]), in order.
pub(crate) fn considered_exceptions<'a, 'e>(
    exceptions: &'a [&'e Exception],
) -> impl DoubleEndedIterator<Item = &'e Exception> + 'a {
    let (head, tail, _) = exception_runs(exceptions);
    head.iter().chain(tail).copied()
}

/// The frames of a stack trace that grouping considers: the innermost
/// [`MAX_FRAMES`] (frames are listed oldest call first).
pub(crate) fn considered_frames(frames: &[Frame]) -> &[Frame] {
    &frames[frames.len().saturating_sub(MAX_FRAMES)..]
}

/// The thread whose stack trace counts: the crashed one, else the single
/// current one, else the only one.
pub(crate) fn grouping_thread(threads: &[Thread]) -> Option<&Thread> {
    if let Some(t) = threads.iter().find(|t| t.crashed) {
        return Some(t);
    }
    let mut current = threads.iter().filter(|t| t.current);
    if let (Some(t), None) = (current.next(), current.next()) {
        return Some(t);
    }
    match threads {
        [only] => Some(only),
        _ => None,
    }
}

/// What the stack-trace rules (built-in and the project's) decided for the
/// stack traces of one event, computed once per event and shared by both
/// variants and the crash frame: one [`StacktraceDecision`] per stack trace
/// that grouping considers (those of the considered exceptions, of the
/// grouping thread and the top-level one), over its considered frames.
#[derive(Debug, Default)]
pub(crate) struct RuleDecisions<'e> {
    /// The stack trace (by identity) and what the rules decided for it.
    entries: Vec<(&'e Stacktrace, StacktraceDecision)>,
    /// How many of the rules are built-in (to number the project's own).
    builtin_len: usize,
}

impl<'e> RuleDecisions<'e> {
    /// Applies `rules` (the built-in ones first, `builtin_len` of them) to
    /// every stack trace of the event that grouping considers. Nothing is
    /// computed without rules. Cost: O(frames × matchers) per rule.
    pub(crate) fn compute(
        event: &'e Event,
        rules: &StacktraceRules,
        builtin_len: usize,
        features: Features,
    ) -> Self {
        let mut entries: Vec<(&'e Stacktrace, StacktraceDecision)> = Vec::new();
        if !rules.is_empty() {
            let platform = event.platform.as_deref();
            let mut add = |st: &'e Stacktrace, ctx: StacktraceContext<'_>| {
                if !st.frames.is_empty() && !entries.iter().any(|(s, _)| std::ptr::eq(*s, st)) {
                    let decision = rules.apply_in(&ctx, considered_frames(&st.frames));
                    entries.push((st, decision));
                }
            };
            let exceptions = grouping_exceptions(&event.exceptions, features);
            for exc in considered_exceptions(&exceptions) {
                if let Some(st) = &exc.stacktrace {
                    let ctx = StacktraceContext::new(platform)
                        .with_exception(exc.ty.as_deref(), exc.value.as_deref());
                    add(st, ctx);
                }
            }
            if let Some(st) = grouping_thread(&event.threads).and_then(|t| t.stacktrace.as_ref()) {
                add(st, StacktraceContext::new(platform));
            }
            if let Some(st) = &event.stacktrace {
                add(st, StacktraceContext::new(platform));
            }
        }
        Self {
            entries,
            builtin_len,
        }
    }

    /// What the rules decided for a stack trace, if they were applied to it.
    pub(crate) fn get(&self, st: &Stacktrace) -> Option<&StacktraceDecision> {
        self.entries
            .iter()
            .find(|(s, _)| std::ptr::eq(*s, st))
            .map(|(_, d)| d)
    }

    /// Whether frame `i` of the considered frames of `st` is in-app: as a
    /// rule decided, else as the client said (see [`is_in_app`]).
    pub(crate) fn in_app(&self, st: &Stacktrace, i: usize, f: &Frame, features: Features) -> bool {
        ruled_in_app(f, self.get(st).and_then(|d| d.frames.get(i)), features).0
    }

    /// A rule as explanations name it: `built-in rule 12 (line 40): TEXT`,
    /// `project rule 2 (line 3): TEXT` (numbered from 1 within its origin).
    pub(crate) fn rule_name(&self, rule: &RuleRef) -> String {
        match rule.origin.as_deref() {
            Some(crate::config::PROJECT_ORIGIN) => format!(
                "project rule {} (line {}): {}",
                rule.index.saturating_sub(self.builtin_len) + 1,
                rule.line,
                rule.text
            ),
            Some(origin) => format!(
                "{origin} rule {} (line {}): {}",
                rule.index + 1,
                rule.line,
                rule.text
            ),
            None => format!(
                "rule {} (line {}): {}",
                rule.index + 1,
                rule.line,
                rule.text
            ),
        }
    }
}

/// What every part of the built-in strategy needs to know.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'p> {
    /// App or system.
    pub(crate) variant: Variant,
    /// The event's platform (a frame may name its own).
    pub(crate) platform: &'p str,
    /// The configuration's rules.
    pub(crate) features: Features,
    /// The configuration (for the hash of identical exceptions).
    pub(crate) config: ConfigId,
    /// What the stack-trace rules decided (empty without rules).
    pub(crate) decisions: &'p RuleDecisions<'p>,
}

/// Whether a frame counts as in-app: as the client said, and with
/// [`Features::ios_bundle_in_app`] also every frame of an iOS app bundle.
pub(crate) fn is_in_app(f: &Frame, features: Features) -> bool {
    f.in_app == Some(true) || in_ios_app_bundle(f, features)
}

/// Whether [`Features::ios_bundle_in_app`] makes the frame in-app.
fn in_ios_app_bundle(f: &Frame, features: Features) -> bool {
    features.ios_bundle_in_app
        && [&f.package, &f.abs_path]
            .into_iter()
            .any(|p| p.as_deref().is_some_and(is_ios_app_bundle_path))
}

/// Whether a frame is in-app, and the rule that decided if one did. In
/// order: a project rule's `+app`/`-app`; else an iOS app bundle path
/// ([`Features::ios_bundle_in_app`]); else a built-in rule; else the client.
pub(crate) fn ruled_in_app<'d>(
    f: &Frame,
    d: Option<&'d FrameDecision>,
    features: Features,
) -> (bool, Option<&'d RuleRef>) {
    match d.and_then(|d| Some((d.in_app?, d.in_app_rule.as_ref()?))) {
        Some((_, rule))
            if rule.origin.as_deref() != Some(crate::config::PROJECT_ORIGIN)
                && in_ios_app_bundle(f, features) =>
        {
            (true, None)
        }
        Some((v, rule)) => (v, Some(rule)),
        None => (is_in_app(f, features), None),
    }
}

/// The built-in Sentry-like strategy for one variant: chained exception →
/// threads → stack trace → (security report) → message, the first that
/// contributes wins.
pub(crate) fn default_variant<'p>(
    event: &'p Event,
    variant: Variant,
    config: ConfigId,
    decisions: &'p RuleDecisions<'p>,
) -> Component {
    let features = config.features();
    let platform = event.platform.as_deref().unwrap_or("");
    let ctx = Ctx {
        variant,
        platform,
        features,
        config,
        decisions,
    };
    let mut candidates: Vec<Component> = Vec::with_capacity(4);
    // The first candidate that contributes wins; the later ones are only named
    // (building their trees would cost time and explain nothing more).
    let mut winner: Option<&'static str> = None;
    let mut consider = |name: &'static str, build: &mut dyn FnMut() -> Component| {
        let c = match winner {
            Some(w) => Component::ignored(name, format!("{w} takes precedence")),
            None => {
                let c = build();
                if c.contributes {
                    winner = Some(name);
                }
                c
            }
        };
        candidates.push(c);
    };
    if !event.exceptions.is_empty() {
        let name = if event.exceptions.len() == 1 {
            "exception"
        } else {
            "chained-exception"
        };
        consider(name, &mut || chained_exception(event, ctx));
    }
    if !event.threads.is_empty() {
        consider("threads", &mut || match grouping_thread(&event.threads) {
            Some(thread) => Component::parent(
                "threads",
                vec![match &thread.stacktrace {
                    Some(st) => stacktrace(st, ctx),
                    None => Component::ignored("stacktrace", "the thread has no stack trace"),
                }],
            ),
            None => Component::ignored(
                "threads",
                "no crashed thread, no single current thread and more than one thread",
            ),
        });
    }
    if let Some(st) = &event.stacktrace {
        consider("stacktrace", &mut || stacktrace(st, ctx));
    }
    if features.security_reports
        && let Some((name, report)) = security_report(event)
    {
        consider(name, &mut || security_component(name, report));
    }
    if features.message_template {
        if let Some((message, template)) = grouping_message(event) {
            consider("message", &mut || {
                let c = message_component(message);
                if template && c.contributes {
                    c.with_hint(TEMPLATE_HINT)
                } else {
                    c
                }
            });
        }
    } else if let Some(message) = event.message() {
        consider("message", &mut || message_component(message));
    }
    if candidates.is_empty() {
        candidates.push(Component::ignored(
            "message",
            "the event has no exception, threads, stack trace or message",
        ));
    }
    let mut root = Component::parent(variant.name(), candidates);
    if variant == Variant::App && root.contributes && !has_contributing_frame(&root) {
        root.exclude("no in-app frame contributes");
    }
    root
}

/// Whether any frame of the event is marked in-app (else the app variant
/// cannot contribute and is not computed).
///
/// Only the frames the app variant would look at are scanned: those considered
/// (see [`considered_frames`]) of the exceptions considered, of the grouping
/// thread and of the top-level stack trace. (Whether this is true never
/// changes a key: the app variant only wins with a contributing in-app frame.)
pub(crate) fn has_in_app_frames(
    event: &Event,
    features: Features,
    decisions: &RuleDecisions<'_>,
) -> bool {
    let in_app = |st: Option<&Stacktrace>| {
        st.is_some_and(|st| {
            considered_frames(&st.frames)
                .iter()
                .enumerate()
                .any(|(i, f)| decisions.in_app(st, i, f, features))
        })
    };
    let exceptions = grouping_exceptions(&event.exceptions, features);
    considered_exceptions(&exceptions).any(|e| in_app(e.stacktrace.as_ref()))
        || grouping_thread(&event.threads).is_some_and(|t| in_app(t.stacktrace.as_ref()))
        || in_app(event.stacktrace.as_ref())
}

/// The simple strategy: type and parameterized value of the primary exception,
/// else the parameterized message.
pub(crate) fn type_and_value(event: &Event) -> Component {
    let exceptions = grouping_exceptions(&event.exceptions, Features::NONE);
    let mut children = Vec::with_capacity(1);
    if let Some(exc) = exceptions.last() {
        let ty = match non_empty(exc.ty.as_deref()) {
            Some(ty) => Component::leaf("type", ty),
            None => Component::ignored("type", "the exception has no type"),
        };
        let parts = vec![ty, value_component(exc.value.as_deref())];
        children.push(Component::parent("exception", parts));
    }
    if let Some(message) = event.message() {
        let mut m = message_component(message);
        if children.iter().any(|c| c.contributes) {
            m.exclude("exception takes precedence");
        }
        children.push(m);
    }
    if children.is_empty() {
        children.push(Component::ignored(
            "message",
            "the event has no exception and no message",
        ));
    }
    Component::parent("type-and-value", children)
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    crate::normalize::non_empty(s)
}

fn has_contributing_frame(c: &Component) -> bool {
    c.contributes && (c.name == "frame" || c.children.iter().any(has_contributing_frame))
}

/// The hint of a message that counts by its template.
const TEMPLATE_HINT: &str =
    "the message template (logentry.message) counts, not the formatted text";

/// The message that counts with [`Features::message_template`]: the template
/// (`logentry.message`) when the event has one, else the formatted text; and
/// whether it is the template.
fn grouping_message(event: &Event) -> Option<(&str, bool)> {
    let entry = event.logentry.as_ref()?;
    match non_empty(entry.message.as_deref()) {
        Some(template) => Some((
            template,
            entry.formatted.is_some() || !entry.params.is_empty(),
        )),
        None => entry.formatted.as_deref().map(|f| (f, false)),
    }
}

/// The security report of the event, if it carries one: the interface's
/// name in the explanation and its object.
fn security_report(event: &Event) -> Option<(&'static str, &serde_json::Map<String, Value>)> {
    [
        ("csp", "csp"),
        ("expectct", "expect-ct"),
        ("expectstaple", "expect-staple"),
        ("hpkp", "hpkp"),
    ]
    .into_iter()
    .find_map(|(key, name)| Some((name, event.other.get(key)?.as_object()?)))
}

/// The first non-empty string among the given fields of a report (reports
/// spell their fields in kebab case, camel case or, once stored by Sentry,
/// snake case).
fn report_field<'r>(report: &'r serde_json::Map<String, Value>, names: &[&str]) -> Option<&'r str> {
    names
        .iter()
        .find_map(|n| non_empty(report.get(*n).and_then(Value::as_str)))
}

/// A security report's component: a CSP violation by its directive and its
/// blocked URI (see [`normalize_blocked_uri`]); Expect-CT, Expect-Staple and
/// HPKP failures by the host name.
fn security_component(name: &'static str, report: &serde_json::Map<String, Value>) -> Component {
    if name == "csp" {
        csp_component(report)
    } else {
        host_report_component(name, report)
    }
}

/// A CSP violation: its directive (the effective one, else the first word of
/// the violated one) and its blocked URI. Without a directive the report says
/// too little, and the message decides.
fn csp_component(report: &serde_json::Map<String, Value>) -> Component {
    let effective = &[
        "effective_directive",
        "effective-directive",
        "effectiveDirective",
    ];
    let violated = &[
        "violated_directive",
        "violated-directive",
        "violatedDirective",
    ];
    let directive = report_field(report, effective)
        .or_else(|| report_field(report, violated).and_then(|d| d.split_whitespace().next()));
    let Some(directive) = directive else {
        return Component::ignored("csp", "the report names no directive");
    };
    let blocked = report_field(
        report,
        &[
            "blocked_uri",
            "blocked-uri",
            "blockedURL",
            "blockedURI",
            "blocked-url",
        ],
    );
    Component::parent(
        "csp",
        vec![
            Component::leaf("directive", directive.to_ascii_lowercase()),
            Component::leaf("uri", normalize_blocked_uri(blocked.unwrap_or(""))),
        ],
    )
}

/// An Expect-CT, Expect-Staple or HPKP failure: the mechanism and the host
/// name. Without a host name, the message decides.
fn host_report_component(name: &'static str, report: &serde_json::Map<String, Value>) -> Component {
    let Some(host) = report_field(report, &["hostname", "host"]) else {
        return Component::ignored(name, "the report names no host");
    };
    Component::parent(
        name,
        vec![
            // One host failing different mechanisms is different issues.
            Component::leaf("report-type", name),
            Component::leaf("hostname", host.to_ascii_lowercase()),
        ],
    )
}

/// What a blocked URI of a CSP report counts as: `'self'` when empty or
/// `self`; `'unsafe-inline'`, `'unsafe-eval'`, `'wasm-unsafe-eval'` for the
/// keywords browsers send; `scheme:` for URIs without a host (`data:`,
/// `blob:`, `about:`); the host for web URLs (`https://cdn.example:8443/a.js`
/// → `cdn.example`); `scheme://host` for other URLs (browser extensions).
pub(crate) fn normalize_blocked_uri(uri: &str) -> String {
    let uri = uri.trim().trim_matches('\'');
    match uri.to_ascii_lowercase().as_str() {
        "" | "self" => return "'self'".to_owned(),
        "inline" | "unsafe-inline" => return "'unsafe-inline'".to_owned(),
        "eval" | "unsafe-eval" => return "'unsafe-eval'".to_owned(),
        "wasm-eval" | "wasm-unsafe-eval" => return "'wasm-unsafe-eval'".to_owned(),
        // Browsers name some schemes alone.
        scheme @ ("data" | "blob" | "about" | "filesystem" | "mediastream") => {
            return format!("{scheme}:");
        }
        _ => {}
    }
    let is_scheme = |s: &str| {
        s.len() > 1
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    };
    match uri.split_once(':') {
        Some((scheme, rest)) if is_scheme(scheme) => {
            let scheme = scheme.to_ascii_lowercase();
            let Some(rest) = rest.strip_prefix("//") else {
                return format!("{scheme}:");
            };
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            let host_port = authority.rsplit('@').next().unwrap_or(authority);
            let host = match host_port.strip_prefix('[') {
                // An IPv6 literal keeps its brackets.
                Some(v6) => v6
                    .split(']')
                    .next()
                    .map_or(host_port.to_owned(), |h| format!("[{h}]")),
                None => host_port.split(':').next().unwrap_or(host_port).to_owned(),
            }
            .to_ascii_lowercase();
            if matches!(scheme.as_str(), "http" | "https" | "ws" | "wss") {
                host
            } else {
                format!("{scheme}://{host}")
            }
        }
        // A bare host (`evil.example`), as some browsers send it.
        _ => uri
            .split(['/', '?', '#'])
            .next()
            .unwrap_or(uri)
            .to_ascii_lowercase(),
    }
}

fn message_component(message: &str) -> Component {
    let normalized = parameterize(message);
    if normalized.is_empty() {
        return Component::ignored("message", "the message is empty");
    }
    let changed = normalized != message.trim();
    let c = Component::leaf("message", normalized);
    if changed {
        c.with_hint("stripped event-specific values")
    } else {
        c
    }
}

fn value_component(value: Option<&str>) -> Component {
    let Some(raw) = value else {
        return Component::ignored("value", "the exception has no value");
    };
    let normalized = parameterize(raw);
    if normalized.is_empty() {
        return Component::ignored("value", "the exception value is empty");
    }
    let changed = normalized != raw.trim();
    let c = Component::leaf("value", normalized);
    if changed {
        c.with_hint("stripped event-specific values")
    } else {
        c
    }
}

fn chained_exception(event: &Event, ctx: Ctx<'_>) -> Component {
    let exceptions = grouping_exceptions(&event.exceptions, ctx.features);
    let dropped_groups = exceptions.len() != event.exceptions.len();
    let (head, tail, omitted) = exception_runs(&exceptions);
    let mut children: Vec<Component> = Vec::with_capacity(head.len() + tail.len() + 1);
    // Inside an exception group, identical leaves count once.
    let mut seen: HashSet<String> = HashSet::new();
    for (i, exc) in head.iter().chain(tail).enumerate() {
        if omitted > 0 && i == head.len() {
            children.push(Component::ignored(
                "exception",
                format!(
                    "{omitted} exceptions in the middle of the chain not considered \
                     (at most {MAX_EXCEPTIONS}: the first and the last {})",
                    MAX_EXCEPTIONS / 2
                ),
            ));
        }
        let mut c = exception(exc, ctx);
        if dropped_groups && c.contributes {
            let mut hasher = KeyHasher::new(ctx.config);
            hasher.add_component(&c);
            if !seen.insert(hasher.finish()) {
                c.exclude("same as an earlier exception of the group");
            }
        }
        children.push(c);
    }
    if children.len() == 1 && !dropped_groups {
        return children
            .pop()
            .unwrap_or_else(|| Component::parent("exception", Vec::new()));
    }
    let malformed = if ctx.features.strict_exception_groups && event.exceptions.iter().any(is_group)
    {
        malformed_group(&event.exceptions)
    } else {
        None
    };
    if let Some(reason) = malformed
        && children.len() == 1
        && let Some(mut only) = children.pop()
    {
        only.hint = Some(Cow::Owned(format!(
            "malformed exception group ({reason}): only the top exception counts"
        )));
        return only;
    }
    let mut c = Component::parent("chained-exception", children);
    if dropped_groups {
        c.hint = Some(Cow::Borrowed("exception-group wrappers dropped"));
    }
    c
}

fn exception(exc: &Exception, ctx: Ctx<'_>) -> Component {
    let st = match &exc.stacktrace {
        Some(st) => stacktrace(st, ctx),
        None => Component::ignored("stacktrace", "the exception has no stack trace"),
    };
    let ty = match non_empty(exc.ty.as_deref()) {
        Some(ty) => {
            let c = Component::leaf("type", ty);
            if exc.mechanism.as_ref().is_some_and(|m| m.synthetic) {
                c.exclude_because("the exception is synthetic (its type is a signal or error code)")
            } else {
                c
            }
        }
        None => Component::ignored("type", "the exception has no type"),
    };
    let value = match non_empty(exc.value.as_deref()) {
        // Not normalized: it does not count anyway (and only shown in part).
        Some(raw) if st.contributes => {
            let (shown, _) = prefix_chars(raw, MAX_MESSAGE_CHARS);
            Component::leaf("value", shown).exclude_because("the stack trace takes precedence")
        }
        _ => value_component(exc.value.as_deref()),
    };
    Component::parent("exception", vec![st, ty, value])
}

/// The platform family a frame belongs to (for its special rules).
fn is_javascript(platform: &str) -> bool {
    matches!(platform, "javascript" | "node")
}

fn is_native(platform: &str) -> bool {
    matches!(platform, "native" | "c" | "cocoa" | "objc" | "swift")
}

pub(crate) fn stacktrace(st: &Stacktrace, ctx: Ctx<'_>) -> Component {
    let (variant, event_platform) = (ctx.variant, ctx.platform);
    if st.frames.is_empty() {
        return Component::ignored("stacktrace", "the stack trace has no frames");
    }
    let considered = considered_frames(&st.frames);
    let omitted = st.frames.len() - considered.len();
    if let [only] = considered {
        let platform = only.platform.as_deref().unwrap_or(event_platform);
        if is_javascript(platform)
            && non_empty(only.function.as_deref()).is_none()
            && only.abs_path.as_deref().is_some_and(is_url_or_pseudo_path)
        {
            return Component::ignored(
                "stacktrace",
                "a single JavaScript frame with no function and a URL path",
            );
        }
    }
    let mut frames: Vec<Component> = Vec::with_capacity(considered.len() + 1);
    if omitted > 0 {
        frames.push(Component::ignored(
            "frames",
            format!("{omitted} outer frames not considered (at most the innermost {MAX_FRAMES})"),
        ));
    }
    let mut any_in_app = false;
    let decision = ctx.decisions.get(st);
    // The previous frame for the recursion check: frames ignored as a whole
    // (JavaScript eval and native-code frames) are skipped.
    let mut previous: Option<usize> = None;
    for (i, f) in considered.iter().enumerate() {
        let client_in_app = is_in_app(f, ctx.features);
        let d = decision.and_then(|d| d.frames.get(i));
        // A rule's in-app decision overrides the client's.
        let (in_app, rule) = ruled_in_app(f, d, ctx.features);
        let app_note = rule.filter(|_| in_app != client_in_app).map(|rule| {
            let v = in_app;
            format!(
                "{} by {}",
                if v { "+app" } else { "-app" },
                ctx.decisions.rule_name(rule)
            )
        });
        any_in_app |= in_app;
        if variant == Variant::App && !in_app {
            // Not expanded: its parts could not count in this variant.
            previous = Some(frames.len());
            frames.push(match app_note {
                Some(note) => Component::ignored("frame", format!("not an in-app frame ({note})")),
                None => Component::ignored("frame", "not an in-app frame"),
            });
            continue;
        }
        let mut c = frame(f, event_platform, ctx.features);
        if let Some(d) = d {
            apply_frame_decision(&mut c, d, ctx.decisions);
        }
        if let Some(note) = app_note {
            add_note(&mut c, note);
        }
        if c.hint.as_deref() != Some(LOW_QUALITY_JS) {
            let recursion = previous
                .and_then(|i| frames.get(i))
                .is_some_and(|prev| same_frame(prev, &c));
            if recursion && c.contributes {
                c.exclude("same as the previous frame (recursion)");
            }
            previous = Some(frames.len());
        }
        frames.push(c);
    }
    if let Some(limit) = decision.and_then(|d| d.max_frames.as_ref())
        && limit.value > 0
    {
        // Only the N contributing frames nearest the crash count.
        let max = limit.value as usize;
        let mut seen = 0;
        for c in frames
            .iter_mut()
            .rev()
            .filter(|c| c.name == "frame" && c.contributes)
        {
            seen += 1;
            if seen > max {
                c.exclude(format!(
                    "beyond max-frames={max} of {}: only the {max} contributing frames nearest the crash count",
                    ctx.decisions.rule_name(&limit.rule)
                ));
            }
        }
    }
    let mut c = Component::parent("stacktrace", frames);
    if let Some(limit) = decision.and_then(|d| d.min_frames.as_ref())
        && c.contributes
    {
        let count = c
            .children
            .iter()
            .filter(|f| f.name == "frame" && f.contributes)
            .count();
        if count < limit.value as usize {
            c.exclude(format!(
                "{count} contributing frames, fewer than min-frames={} of {}",
                limit.value,
                ctx.decisions.rule_name(&limit.rule)
            ));
            return c;
        }
    }
    if !c.contributes {
        c.hint = Some(Cow::Borrowed(if variant == Variant::App && !any_in_app {
            "the stack trace has no in-app frames"
        } else {
            "no frame contributes"
        }));
    }
    c
}

/// Applies what the rules decided for one frame to its component: `-group`
/// excludes it, `+group` makes it contribute again where the strategy had
/// excluded it (when it has a part that contributes) and is noted on a frame
/// that counts anyway (it may undo a built-in `-group`), a category is
/// recorded as a non-contributing `category` part. Each names its rule.
fn apply_frame_decision(c: &mut Component, d: &FrameDecision, decisions: &RuleDecisions<'_>) {
    match (d.contributes, d.contributes_rule.as_ref()) {
        (Some(false), Some(rule)) => c.exclude(format!("-group by {}", decisions.rule_name(rule))),
        (Some(true), Some(rule)) if !c.contributes && c.children.iter().any(|p| p.contributes) => {
            c.contributes = true;
            c.hint = Some(Cow::Owned(format!(
                "+group by {}",
                decisions.rule_name(rule)
            )));
        }
        (Some(true), Some(rule)) if c.contributes => {
            add_note(c, format!("+group by {}", decisions.rule_name(rule)));
        }
        _ => {}
    }
    if let (Some(category), Some(rule)) = (&d.category, &d.category_rule) {
        c.children.push(Component {
            name: Cow::Borrowed("category"),
            contributes: false,
            hint: Some(Cow::Owned(format!("by {}", decisions.rule_name(rule)))),
            values: vec![category.clone()],
            children: Vec::new(),
        });
    }
}

/// Adds a note to a component's hint (after its reason, if it has one).
fn add_note(c: &mut Component, note: String) {
    c.hint = Some(Cow::Owned(match c.hint.take() {
        Some(hint) => format!("{hint}; {note}"),
        None => note,
    }));
}

/// Whether two frames give the same grouping values (ignoring whether the
/// frames themselves were excluded).
fn same_frame(a: &Component, b: &Component) -> bool {
    fn values(c: &Component) -> impl Iterator<Item = &str> {
        c.children
            .iter()
            .filter(|p| p.contributes)
            .flat_map(|p| p.values.iter())
            .map(String::as_str)
    }
    values(a).next().is_some() && values(a).eq(values(b))
}

/// The hint of a part the frame does not have (such parts are dropped).
const ABSENT: &str = "absent";

const LOW_QUALITY_JS: &str = "a JavaScript eval or native-code frame";

/// The component of a generated name: with
/// [`Features::mask_generated_parts`] only its generated parts are masked
/// when they are known, else the whole name becomes `<auto>`.
fn generated(name: &'static str, value: &str, features: Features) -> Component {
    match features
        .mask_generated_parts
        .then(|| mask_generated_parts(value))
        .flatten()
    {
        Some(masked) => Component::leaf(name, masked).with_hint(MASKED_HINT),
        None => Component::leaf(name, AUTO).with_hint(GENERATED_HINT),
    }
}

/// The hint of a generated name whose generated parts were masked.
const MASKED_HINT: &str = "generated parts of the name masked";

fn frame(f: &Frame, event_platform: &str, features: Features) -> Component {
    let platform = f.platform.as_deref().unwrap_or(event_platform);
    let mut parts: Vec<Component> = Vec::with_capacity(4);

    let module = match non_empty(f.module.as_deref()) {
        Some(m) if is_generated_name(m) => generated("module", m, features),
        Some(m) => Component::leaf("module", m),
        None => Component::ignored("module", ABSENT),
    };

    let abs_path = non_empty(f.abs_path.as_deref());
    let mut filename = match non_empty(f.filename.as_deref()).or(abs_path) {
        // Not normalized: it does not count anyway.
        Some(_) if module.contributes => {
            Component::ignored("filename", "the module takes precedence")
        }
        Some(name) => {
            let c = Component::leaf("filename", normalize_filename(name));
            if abs_path.is_some_and(is_url_or_pseudo_path) || is_url_or_pseudo_path(name) {
                c.exclude_because("the frame points to a URL or a pseudo path")
            } else {
                c
            }
        }
        None => Component::ignored("filename", ABSENT),
    };

    let raw_name = non_empty(f.function.as_deref()).or(non_empty(f.raw_function.as_deref()));
    let function = match raw_name.map(normalize_function) {
        // JavaScript engines name the same function differently
        // (`Foo.prototype.bar`, `Foo.bar`, `bar`): only the last segment counts.
        Some(FunctionName::Keep(name)) if is_javascript(platform) && name.contains('.') => {
            let last = name.rsplit('.').next().unwrap_or(&name);
            if last.is_empty() {
                Component::leaf("function", name)
            } else {
                Component::leaf("function", last)
                    .with_hint("isolated the last segment of a JavaScript name")
            }
        }
        Some(FunctionName::Keep(name)) if is_native(platform) => {
            match normalize_native_function(&name) {
                Some(normalized) => Component::leaf("function", normalized)
                    .with_hint("anonymous namespace or .cold suffix normalized"),
                None => Component::leaf("function", name),
            }
        }
        Some(FunctionName::Keep(name)) => Component::leaf("function", name),
        Some(FunctionName::Normalized(_, GENERATED_HINT)) => {
            generated("function", raw_name.unwrap_or_default(), features)
        }
        Some(FunctionName::Normalized(name, hint)) => {
            Component::leaf("function", name).with_hint(hint)
        }
        Some(FunctionName::Ignored(hint)) => Component::ignored("function", hint),
        None => Component::ignored("function", ABSENT),
    };
    if is_native(platform) && function.contributes && filename.contributes {
        filename.exclude("native file names are unstable; the function takes precedence");
    }

    let context_line = if context_line_platform(platform) {
        non_empty(f.context_line.as_deref()).map(|line| {
            if line.len() > MAX_CONTEXT_LINE && line.chars().nth(MAX_CONTEXT_LINE).is_some() {
                Component::ignored("context-line", "the line is longer than 120 characters")
            } else {
                Component::leaf("context-line", collapse_whitespace(line))
            }
        })
    } else {
        None
    };
    let mut function = function;
    if features.js_context_replaces_function
        && is_javascript(platform)
        && context_line.as_ref().is_some_and(|c| c.contributes)
    {
        // Minifiers and browsers name one function differently; the source
        // line identifies it.
        function.exclude("the context line identifies a JavaScript frame");
    }

    // Parts the frame does not have are left out of the tree.
    let present = |c: &Component| c.hint.as_deref() != Some(ABSENT);
    parts.extend([module, filename, function].into_iter().filter(present));
    parts.extend(context_line);
    let mut c = Component::parent("frame", parts);
    if is_javascript(platform)
        && (raw_name.is_some_and(|n| n == "eval" || n.ends_with(".eval"))
            || abs_path.is_some_and(is_native_code_path))
    {
        c.exclude(LOW_QUALITY_JS);
    }
    if !c.contributes && c.hint.is_none() {
        c.hint = Some(Cow::Borrowed("no part of the frame contributes"));
    }
    c
}
