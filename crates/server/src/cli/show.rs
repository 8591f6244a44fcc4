//! The text of `periscope issue show`: pure functions from the service's views to
//! what a terminal prints.
//!
//! What is shown (which exceptions in which order, the sentence between chained
//! ones, line numbers, which breadcrumbs, cookie names without values) was decided
//! by [`crate::service::event`]; this module decides only how it reads in a
//! terminal. Everything that came from an event is escaped first ([`esc`]): a
//! control character (an ANSI escape sequence, a carriage return that would
//! overwrite the line) or a bidirectional override prints as a visible escape, so
//! event data can neither drive the terminal nor forge lines of this output.

use std::borrow::Cow;
use std::fmt::Write as _;

use periscope_grouping::Component;

use crate::service::event::is_bidi_control;
use crate::service::views::IssueDetailView;
use crate::service::{
    BreadcrumbView, EventDetails, ExceptionView, FrameView, Relation, RequestView,
};

/// How many breadcrumbs are printed: the last ones.
pub const SHOWN_BREADCRUMBS: usize = 20;
/// Most lines the grouping explanation takes.
const MAX_EXPLANATION_LINES: usize = 300;

/// The whole text of `periscope issue show`: the issue, its latest event
/// (exceptions with source and variables, breadcrumbs, tags, request, user,
/// contexts, SDK) and how the event groups.
pub fn render_issue(detail: &IssueDetailView, event: Option<&EventDetails>) -> String {
    let mut out = String::new();
    render_header(&mut out, detail);
    match (detail.latest_event.as_ref(), event) {
        (Some(summary), Some(event)) => {
            let _ = writeln!(
                out,
                "\nLatest event {} at {}",
                esc(&summary.event_id),
                esc(&summary.timestamp)
            );
            render_event(&mut out, event);
        }
        _ => out.push_str("\n(no stored event)\n"),
    }
    render_grouping(&mut out, detail);
    out
}

fn render_header(out: &mut String, detail: &IssueDetailView) {
    let i = &detail.issue;
    let _ = writeln!(out, "Issue {}: {}", i.id, esc(&i.title));
    if let Some(c) = &i.culprit {
        let _ = writeln!(out, "Culprit:    {}", esc(c));
    }
    let _ = writeln!(out, "Level:      {}", esc(&i.level));
    let status = match (&i.resolved_in_release, &i.muted_until, i.unmute_at_count) {
        (Some(r), _, _) => format!("{} (in release {})", i.status, esc(r)),
        (_, Some(t), _) => format!("{} (until {t})", i.status),
        (_, _, Some(n)) => format!("{} (until {n} events)", i.status),
        _ => i.status.clone(),
    };
    let _ = writeln!(out, "Status:     {status}");
    let _ = writeln!(out, "Events:     {}", i.count);
    let _ = writeln!(out, "First seen: {}", i.first_seen);
    let _ = writeln!(out, "Last seen:  {}", i.last_seen);
    let _ = writeln!(out, "Key:        {}", esc(&i.grouping_key));
}

/// The latest event's sections.
pub fn render_event(out: &mut String, e: &EventDetails) {
    // The level is the issue's (its latest event's), shown above.
    let facts = [
        ("Release", &e.release),
        ("Environment", &e.environment),
        ("Platform", &e.platform),
        ("Server", &e.server_name),
        ("Transaction", &e.transaction),
        ("Logger", &e.logger),
    ];
    for (label, value) in facts {
        if let Some(v) = value {
            let _ = writeln!(out, "{:<13}{}", format!("{label}:"), esc(v));
        }
    }
    if let Some(m) = &e.message {
        out.push_str("Message:     ");
        lines(out, "             ", m);
    }
    for p in &e.problems {
        let _ = writeln!(out, "Note:        {}", esc(p));
    }
    render_exceptions(out, &e.exceptions);
    for t in &e.threads {
        let mut title = String::from("\nThread");
        if let Some(id) = &t.id {
            let _ = write!(title, " {}", esc(id));
        }
        if let Some(name) = &t.name {
            let _ = write!(title, " \"{}\"", esc(name));
        }
        if t.crashed {
            title.push_str(" (crashed)");
        } else if t.current {
            title.push_str(" (current)");
        }
        let _ = writeln!(out, "{title}");
        render_frames(out, "  ", t.frames_newest_first(), t.omitted_frames);
    }
    if let Some(st) = &e.stacktrace {
        out.push_str("\nStack trace:\n");
        render_frames(out, "  ", st.frames_newest_first(), st.omitted_frames);
    }
    render_breadcrumbs(out, &e.breadcrumbs, e.breadcrumbs_total);
    pairs_section(out, "Tags", &e.tags);
    if let Some(r) = &e.request {
        render_request(out, r);
    }
    pairs_section(out, "User", &e.user);
    if !e.contexts.is_empty() {
        out.push_str("\nContexts:\n");
        for c in &e.contexts {
            if c.key == c.kind {
                let _ = writeln!(out, "  {}:", esc(&c.key));
            } else {
                let _ = writeln!(out, "  {} ({}):", esc(&c.key), esc(&c.kind));
            }
            for (k, v) in &c.fields {
                let _ = writeln!(out, "    {}: {}", esc(k), esc(v));
            }
        }
    }
    if let Some((name, version)) = &e.sdk {
        let _ = writeln!(out, "\nSDK: {} {}", esc(name), esc(version));
    }
    if !e.fingerprint.is_empty() {
        let parts: Vec<Cow<'_, str>> = e.fingerprint.iter().map(|f| esc(f)).collect();
        let _ = writeln!(out, "Fingerprint: {}", parts.join(", "));
    }
}

fn render_exceptions(out: &mut String, exceptions: &[ExceptionView]) {
    for (n, x) in exceptions.iter().enumerate() {
        let indent = "    ".repeat(x.depth);
        out.push('\n');
        if n > 0 {
            let _ = writeln!(
                out,
                "{indent}{}",
                Relation::sentence_for(x.relation_to_previous)
            );
            if x.relation_to_previous != Some(Relation::GroupMember) {
                out.push('\n');
            }
        }
        let _ = write!(out, "{indent}");
        lines(out, &format!("{indent}  "), &x.title());
        let mut notes = Vec::new();
        if x.is_group {
            notes.push("exception group".to_owned());
        }
        if let Some(m) = &x.mechanism {
            if let Some(t) = &m.ty {
                notes.push(format!("mechanism {}", esc(t)));
            }
            match m.handled {
                Some(true) => notes.push("handled".to_owned()),
                Some(false) => notes.push("unhandled".to_owned()),
                None => {}
            }
            if m.synthetic {
                notes.push("synthetic".to_owned());
            }
        }
        if let Some(module) = &x.module {
            notes.push(format!("module {}", esc(module)));
        }
        if !notes.is_empty() {
            let _ = writeln!(out, "{indent}  ({})", notes.join(", "));
        }
        if !x.frames.is_empty() || x.omitted_frames > 0 {
            let _ = writeln!(out, "{indent}  Traceback (most recent call first):");
            render_frames(
                out,
                &format!("{indent}    "),
                x.frames_newest_first(),
                x.omitted_frames,
            );
        }
    }
}

/// Frames, innermost first. The innermost frame and the application's frames
/// (`in_app` not `false`) show their source lines and variables; library frames
/// show only their current line.
fn render_frames<'a>(
    out: &mut String,
    indent: &str,
    frames: impl Iterator<Item = &'a FrameView>,
    omitted: usize,
) {
    for (n, f) in frames.enumerate() {
        let library = f.in_app == Some(false);
        let _ = writeln!(
            out,
            "{indent}{}{}",
            esc(&f.location()),
            if library { "  [library]" } else { "" }
        );
        let full = n == 0 || !library;
        render_source(out, &format!("{indent}  "), f, full);
        if full && !f.vars.is_empty() {
            let _ = writeln!(out, "{indent}    Locals:");
            for (k, v) in &f.vars {
                let _ = writeln!(out, "{indent}      {} = {}", esc(k), esc(v));
            }
        }
    }
    if omitted > 0 {
        let _ = writeln!(out, "{indent}… {omitted} older frame(s) not shown");
    }
}

fn render_source(out: &mut String, indent: &str, f: &FrameView, full: bool) {
    let shown: Vec<_> = f.source.iter().filter(|l| full || l.current).collect();
    let width = shown
        .iter()
        .filter_map(|l| l.number)
        .max()
        .map_or(1, |n| n.to_string().len());
    for l in shown {
        let number = l.number.map(|n| n.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{indent}{} {number:>width$} | {}",
            if l.current { '>' } else { ' ' },
            esc_keep_tabs(&l.text)
        );
    }
}

fn render_breadcrumbs(out: &mut String, crumbs: &[BreadcrumbView], total: usize) {
    if crumbs.is_empty() {
        return;
    }
    let shown = &crumbs[crumbs.len().saturating_sub(SHOWN_BREADCRUMBS)..];
    let _ = writeln!(out, "\nBreadcrumbs (last {} of {total}):", shown.len());
    for c in shown {
        let when = match (c.offset_ms, c.timestamp) {
            (Some(ms), _) => offset(ms),
            (None, Some(t)) => t.format("%H:%M:%S%.3f").to_string(),
            (None, None) => "?".to_owned(),
        };
        let what = c
            .category
            .as_deref()
            .or(c.ty.as_deref())
            .unwrap_or("default");
        let mut text = c.message.clone().unwrap_or_default();
        if text.is_empty() {
            let data: Vec<String> = c.data.iter().map(|(k, v)| format!("{k}={v}")).collect();
            text = data.join(" ");
        }
        let _ = writeln!(
            out,
            "  {when:>11}  {:<16} {:<8} {}",
            esc(what),
            esc(c.level.as_deref().unwrap_or("")),
            esc(&text)
        );
    }
}

/// `-1.234s`, `+0.010s`: seconds from the event, with milliseconds.
fn offset(ms: i64) -> String {
    let sign = if ms < 0 { '-' } else { '+' };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}s", abs / 1000, abs % 1000)
}

fn render_request(out: &mut String, r: &RequestView) {
    out.push_str("\nRequest:\n");
    let line = [r.method.as_deref(), r.url.as_deref()]
        .into_iter()
        .flatten()
        .map(esc)
        .collect::<Vec<_>>()
        .join(" ");
    if !line.is_empty() {
        let _ = writeln!(out, "  {line}");
    }
    let groups = [("Query", &r.query), ("Headers", &r.headers)];
    for (label, pairs) in groups {
        if !pairs.is_empty() {
            let _ = writeln!(out, "  {label}:");
            for (k, v) in pairs {
                let _ = writeln!(out, "    {}: {}", esc(k), esc(v));
            }
        }
    }
    if !r.cookie_names.is_empty() {
        let names: Vec<Cow<'_, str>> = r.cookie_names.iter().map(|n| esc(n)).collect();
        let _ = writeln!(out, "  Cookies: {} (values not shown)", names.join(", "));
    }
    if let Some(body) = &r.body {
        out.push_str("  Body: ");
        lines(out, "        ", body);
    }
    if !r.env.is_empty() {
        out.push_str("  Environment:\n");
        for (k, v) in &r.env {
            let _ = writeln!(out, "    {}: {}", esc(k), esc(v));
        }
    }
}

fn pairs_section(out: &mut String, title: &str, pairs: &[(String, String)]) {
    if pairs.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}:");
    for (k, v) in pairs {
        let _ = writeln!(out, "  {}: {}", esc(k), esc(v));
    }
}

/// How the latest event groups: the winning variant, then the component tree,
/// `+` for what counts toward the key, `-` for what does not, with the reason.
fn render_grouping(out: &mut String, detail: &IssueDetailView) {
    let g = &detail.grouping;
    let Some(variant) = &g.variant else {
        return;
    };
    let _ = writeln!(
        out,
        "\nGrouping ({} variant, strategy {}):",
        esc(variant),
        esc(&g.strategy)
    );
    if let Some(key) = &g.key {
        let _ = writeln!(out, "  key {}", esc(key));
    }
    let tree = g
        .explanation
        .as_ref()
        .and_then(|v| serde_json::from_value::<Component>(v.clone()).ok());
    let Some(tree) = tree else {
        return;
    };
    out.push_str("  (+ counts toward the key, - does not)\n");
    let mut budget = MAX_EXPLANATION_LINES;
    // The root only names the strategy: its children are the ways considered.
    for c in &tree.children {
        component(out, c, 1, &mut budget);
    }
    if budget == 0 {
        let _ = writeln!(
            out,
            "  … (explanation cut at {MAX_EXPLANATION_LINES} lines)"
        );
    }
}

/// One component and, when they explain something, its children. A component
/// that does not count and says why is shown without its children (they do not
/// count either).
fn component(out: &mut String, c: &Component, depth: usize, budget: &mut usize) {
    if *budget == 0 || depth > 32 {
        return;
    }
    *budget -= 1;
    let mut line = format!(
        "{}{} {}",
        "  ".repeat(depth),
        if c.contributes { '+' } else { '-' },
        esc(&c.name)
    );
    if !c.values.is_empty() {
        let values: Vec<String> = c.values.iter().map(|v| format!("\"{}\"", esc(v))).collect();
        let _ = write!(line, " {}", values.join(", "));
    }
    if let Some(h) = &c.hint {
        let _ = write!(line, "  ({})", esc(h));
    }
    let _ = writeln!(out, "{line}");
    if c.contributes || c.hint.is_none() {
        for child in &c.children {
            component(out, child, depth + 1, budget);
        }
    }
}

/// Prints `s` on this line and its further lines indented by `indent`, each
/// escaped.
fn lines(out: &mut String, indent: &str, s: &str) {
    for (n, line) in s.split('\n').enumerate() {
        if n > 0 {
            out.push_str(indent);
        }
        let _ = writeln!(out, "{}", esc(line.strip_suffix('\r').unwrap_or(line)));
    }
}

/// `s` safe to print on a terminal: control characters (ESC, CR, LF, TAB …) and
/// bidirectional overrides become visible escapes (`\n`, `\u{1b}`).
pub fn esc(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// As [`esc`], but tabs stay (source code is indented with them).
fn esc_keep_tabs(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, keep_tabs: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| (c.is_control() && !(keep_tabs && c == '\t')) || is_bidi_control(c);
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::event_details;
    use crate::service::views::{EventView, GroupingView, IssueView};
    use periscope_grouping::{Grouper, GroupingConfig};
    use periscope_sentry_envelope::Event;
    use serde_json::{Value, json};

    fn detail_view(event: &Value) -> IssueDetailView {
        let parsed = Event::from_slice(&serde_json::to_vec(event).unwrap()).unwrap();
        let g = Grouper::new(GroupingConfig::default()).group(&parsed);
        IssueDetailView {
            issue: IssueView {
                id: 7,
                project_id: 1,
                title: g.title.clone(),
                culprit: g.culprit.clone(),
                level: "error".into(),
                status: "unresolved".into(),
                count: 3,
                first_seen: "2026-03-01T11:00:00.000Z".into(),
                last_seen: "2026-03-01T12:00:10.000Z".into(),
                grouping_key: g.key.clone(),
                created_at: "2026-03-01T11:00:00.000Z".into(),
                status_changed_at: None,
                resolved_in_release: None,
                muted_until: None,
                unmute_at_count: None,
                merged_into: None,
            },
            grouping: GroupingView {
                strategy: "default".into(),
                key: Some(g.key.clone()),
                variant: Some(g.variant.clone()),
                explanation: serde_json::to_value(&g.explanation).ok(),
                stored_explanation: None,
            },
            latest_event: Some(EventView {
                event_id: "0123456789abcdef0123456789abcdef".into(),
                project_id: 1,
                issue_id: 7,
                timestamp: "2026-03-01T12:00:10.000Z".into(),
                received_at: "2026-03-01T12:00:10.100Z".into(),
                level: "error".into(),
                title: g.title,
                culprit: g.culprit,
                release: None,
                environment: None,
                tags: serde_json::Map::new(),
                payload_size: 1,
            }),
        }
    }

    fn render(event: &Value) -> String {
        let details = event_details(&serde_json::to_vec(event).unwrap());
        render_issue(&detail_view(event), Some(&details))
    }

    fn python_event() -> Value {
        let crumbs: Vec<Value> = (0..30)
            .map(|i| json!({"timestamp": 1772366381 + i, "category": "query", "level": "info", "message": format!("SELECT {i}")}))
            .collect();
        json!({
            "timestamp": "2026-03-01T12:00:10Z", "level": "error", "platform": "python",
            "release": "shop@1.2", "environment": "prod",
            "exception": {"values": [
                {"type": "KeyError", "value": "'price'", "mechanism": {"source": "__cause__", "exception_id": 1, "parent_id": 0},
                 "stacktrace": {"frames": [{"filename": "shop/cart.py", "function": "price_of", "module": "shop.cart", "lineno": 12,
                    "context_line": "    return PRICES[item]", "in_app": true}]}},
                {"type": "CheckoutError", "value": "cannot price cart", "module": "shop.errors",
                 "mechanism": {"type": "django", "handled": false, "exception_id": 0},
                 "stacktrace": {"frames": [
                    {"filename": "django/core/handlers.py", "function": "inner", "lineno": 55, "in_app": false,
                     "pre_context": ["try:"], "context_line": "    response = get_response(request)", "post_context": ["except:"],
                     "vars": {"request": "<WSGIRequest>"}},
                    {"filename": "shop/checkout.py", "function": "pay", "module": "shop.checkout", "lineno": 42, "in_app": true,
                     "pre_context": ["def pay(cart):", "\tcount = len(cart)"], "context_line": "    total = amount / count",
                     "post_context": ["    return total"], "vars": {"cart": ["apple"], "count": 0}}
                 ]}}
            ]},
            "breadcrumbs": crumbs,
            "tags": {"browser": "Firefox", "evil": "\u{1b}]8;;http://x\u{7}link\u{1b}[0m"},
            "request": {"method": "POST", "url": "https://shop.example/pay", "cookies": "session=TOPSECRET",
                        "headers": {"Cookie": "csrftoken=ALSOSECRET", "User-Agent": "Firefox"}},
            "user": {"id": 42, "email": "bob@example.com"},
            "contexts": {"os": {"name": "Linux"}, "server-runtime": {"type": "runtime", "name": "CPython"}},
            "sdk": {"name": "sentry.python.django", "version": "2.20.0"}
        })
    }

    #[test]
    fn issue_show_reads_like_a_traceback() {
        let text = render(&python_event());
        println!("{text}");
        for expected in [
            "Issue 7: CheckoutError: cannot price cart",
            "Status:     unresolved",
            "Events:     3",
            "First seen: 2026-03-01T11:00:00.000Z",
            "Latest event 0123456789abcdef0123456789abcdef at 2026-03-01T12:00:10.000Z",
            "Release:     shop@1.2",
            // The cause first, then the sentence, then the exception raised.
            "KeyError: 'price'\n",
            "\nThe above exception was the direct cause of the following exception:\n\nCheckoutError: cannot price cart\n",
            "  (mechanism django, unhandled, module shop.errors)\n",
            "  Traceback (most recent call first):\n    shop/checkout.py:42 in pay\n",
            "        40 | def pay(cart):\n",
            "        41 | \tcount = len(cart)\n",
            "      > 42 |     total = amount / count\n",
            "        43 |     return total\n",
            "        Locals:\n          cart = [\"apple\"]\n          count = 0\n",
            // A library frame: its line only, no variables.
            "    django/core/handlers.py:55 in inner  [library]\n      > 55 |     response = get_response(request)\n",
            "Breadcrumbs (last 20 of 30):\n",
            "    -19.000s  query            info     SELECT 10\n",
            "     +0.000s  query            info     SELECT 29\n",
            "Tags:\n  browser: Firefox\n",
            "Request:\n  POST https://shop.example/pay\n",
            "  Headers:\n    User-Agent: Firefox\n",
            "  Cookies: session, csrftoken (values not shown)\n",
            "User:\n  id: 42\n  email: bob@example.com\n",
            "Contexts:\n  os:\n    name: Linux\n  server-runtime (runtime):\n    name: CPython\n",
            "SDK: sentry.python.django 2.20.0",
            "Grouping (app variant, strategy default):",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(
            !text.contains("<WSGIRequest>"),
            "library frame variables shown"
        );
        assert!(!text.contains("SELECT 9\n"), "more than 20 breadcrumbs");
        assert!(!text.contains("SECRET"), "a cookie value was printed");
        let event = &text[text.find("Latest event").unwrap()..];
        assert!(event.find("KeyError").unwrap() < event.find("CheckoutError").unwrap());
    }

    #[test]
    fn the_grouping_explanation_is_a_tree_not_json() {
        let text = render(&python_event());
        let grouping = &text[text.find("Grouping (").unwrap()..];
        assert!(!grouping.contains('{'), "{grouping}");
        assert!(grouping.contains("\n  + app\n"), "{grouping}");
        // What counted, with its value, and what did not, with the reason.
        assert!(grouping.contains("+ function \"pay\""), "{grouping}");
        assert!(
            grouping
                .lines()
                .any(|l| l.trim_start().starts_with("- ") && l.contains("  (")),
            "{grouping}"
        );
        let nested = grouping
            .lines()
            .filter(|l| l.starts_with("        "))
            .count();
        assert!(nested > 0, "{grouping}");
    }

    #[test]
    fn control_characters_from_events_are_escaped() {
        let event = json!({
            "exception": [{"type": "Evil\u{1b}[2J", "value": "line one\nline two\r\u{202e}txt.exe",
                "stacktrace": {"frames": [{"filename": "a\u{7}.py", "function": "f\u{1b}", "lineno": 1,
                    "context_line": "\tx = '\u{1b}[31m'", "vars": {"k\u{1b}": "v\u{9b}1m"}}]}}],
            "tags": {"t": "\u{1b}]0;title\u{7}"},
            "breadcrumbs": [{"message": "\u{8}\u{8}\u{8}ok"}],
            "request": {"url": "https://x.example/\u{1b}", "headers": {"X\u{1b}": "\u{0}"}},
            "contexts": {"os": {"name": "\u{1b}c"}}
        });
        let text = render(&event);
        let bad: Vec<char> = text
            .chars()
            .filter(|c| (c.is_control() && !matches!(c, '\n' | '\t')) || is_bidi_control(*c))
            .collect();
        assert!(bad.is_empty(), "{bad:?} in\n{text}");
        assert!(
            text.contains("Evil\\u{1b}[2J: line one\n  line two\\r\\u{202e}txt.exe\n"),
            "{text}"
        );
        assert!(text.contains("> 1 | \tx = '\\u{1b}[31m'"), "{text}");
        assert!(text.contains("k\\u{1b} = v\\u{9b}1m"), "{text}");
    }

    #[test]
    fn groups_threads_and_messages() {
        let text = render(&json!({"exception": {"values": [
            {"type": "ValueError", "value": "1", "mechanism": {"exception_id": 1, "parent_id": 0, "source": "exceptions[0]"}},
            {"type": "ExceptionGroup", "value": "g", "mechanism": {"exception_id": 0, "is_exception_group": true}}
        ]}}));
        assert!(
            text.contains("ExceptionGroup: g\n  (exception group)\n\n    A member of the exception group above:\n    ValueError: 1\n"),
            "{text}"
        );
        let text = render(&json!({"message": "disk full\nsecond line",
            "threads": [{"id": 1, "name": "main", "stacktrace": {"frames": [{"function": "idle"}]}},
                        {"id": 2, "crashed": true, "stacktrace": {"frames": [{"function": "write", "package": "libc.so"}]}}]}));
        assert!(
            text.contains("Message:     disk full\n             second line\n"),
            "{text}"
        );
        let crashed = text
            .find("Thread 2 (crashed)\n  libc.so in write\n")
            .unwrap();
        let main = text.find("Thread 1 \"main\"\n  idle\n").unwrap();
        assert!(crashed < main, "{text}");
    }

    #[test]
    fn an_issue_without_a_stored_event() {
        let mut view = detail_view(&json!({"message": "m"}));
        view.latest_event = None;
        view.grouping.variant = None;
        let text = render_issue(&view, None);
        assert!(text.starts_with("Issue 7: m\n"), "{text}");
        assert!(text.contains("\n(no stored event)\n"), "{text}");
        assert!(!text.contains("Grouping"), "{text}");
    }

    #[test]
    fn offsets_read_as_signed_seconds() {
        assert_eq!(offset(-1234), "-1.234s");
        assert_eq!(offset(10), "+0.010s");
        assert_eq!(offset(-125_000), "-125.000s");
    }
}
