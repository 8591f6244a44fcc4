//! Project rules (fingerprint and stack-trace rules) and the built-in rules of
//! `periscope:2026-12` applied during grouping: their effect on keys, titles
//! and variants, and the explanation naming the rule that decided.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use periscope_grouping::rules::{FingerprintRules, StacktraceRules};
use periscope_grouping::{Component, ConfigId, Grouper, Grouping, GroupingConfig};
use periscope_sentry_envelope::Event;
use serde_json::{Value, json};

const OLD: ConfigId = ConfigId::Periscope2026_11;
const NEW: ConfigId = ConfigId::Periscope2026_12;

fn event(v: &Value) -> Event {
    Event::from_slice(v.to_string().as_bytes()).unwrap()
}

fn grouper(id: ConfigId, fingerprint: &str, stacktrace: &str) -> Grouper {
    Grouper::new(GroupingConfig::with_rules(
        id,
        FingerprintRules::parse(fingerprint).unwrap(),
        StacktraceRules::parse(stacktrace).unwrap(),
    ))
}

fn plain(id: ConfigId) -> Grouper {
    Grouper::new(GroupingConfig::new(id))
}

fn values(g: &Grouping) -> Vec<(String, String)> {
    g.contributing_values()
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

fn functions(g: &Grouping) -> Vec<String> {
    g.contributing_values()
        .into_iter()
        .filter(|(n, _)| *n == "function")
        .map(|(_, v)| v.to_owned())
        .collect()
}

/// Every component named `name` in the tree.
fn all<'a>(c: &'a Component, name: &str, out: &mut Vec<&'a Component>) {
    if c.name == name {
        out.push(c);
    }
    for child in &c.children {
        all(child, name, out);
    }
}

fn hints(g: &Grouping, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    all(&g.explanation, name, &mut found);
    found
        .iter()
        .filter_map(|c| c.hint.as_deref().map(str::to_owned))
        .collect()
}

/// A Python error through three frames, the last two in-app.
fn python(in_app: [bool; 3]) -> Value {
    json!({"platform": "python", "exception": {"values": [{"type": "KeyError", "value": "'user_id'",
    "stacktrace": {"frames": [
        {"module": "django.core.handlers", "function": "get_response", "in_app": in_app[0]},
        {"module": "shop.views", "function": "checkout", "in_app": in_app[1]},
        {"module": "shop.util", "function": "helper", "in_app": in_app[2]}
    ]}}]}})
}

/// A native crash: application frames, then abort and what it calls.
fn native(app: &[&str]) -> Value {
    let mut frames: Vec<Value> =
        vec![json!({"function": "start", "package": "/usr/lib/system/libdyld.dylib"})];
    frames.extend(
        app.iter().map(
            |f| json!({"function": f, "package": "/Applications/Shop.app/Contents/MacOS/Shop"}),
        ),
    );
    frames.extend([
        json!({"function": "abort", "package": "/usr/lib/system/libsystem_c.dylib"}),
        json!({"function": "__pthread_kill", "package": "/usr/lib/system/libsystem_kernel.dylib"}),
    ]);
    json!({"platform": "native", "exception": {"values": [{"type": "EXC_CRASH", "value": "SIGABRT",
        "mechanism": {"type": "minidump", "synthetic": true},
        "stacktrace": {"frames": frames}}]}})
}

// ------------------------------------------------------------ stack-trace rules

#[test]
fn a_group_rule_removes_a_frame_and_the_explanation_names_it() {
    let e = event(&python([false, true, true]));
    for id in [OLD, NEW] {
        let before = plain(id).group(&e);
        assert_eq!(functions(&before), ["checkout", "helper"]);
        let g = grouper(id, "", "# ours\nstack.function:helper -group").group(&e);
        assert_eq!(functions(&g), ["checkout"], "{id}");
        assert_ne!(g.key, before.key);
        assert!(
            hints(&g, "frame").contains(
                &"-group by project rule 1 (line 2): stack.function:helper -group".to_owned()
            ),
            "{:?}",
            hints(&g, "frame")
        );
    }
}

#[test]
fn plus_app_and_minus_app_switch_the_variant() {
    // No in-app frame: the system variant, until a rule makes shop.* in-app.
    let e = event(&python([false, false, false]));
    assert_eq!(plain(OLD).group(&e).variant, "system");
    let g = grouper(OLD, "", "stack.module:shop.* +app").group(&e);
    assert_eq!(g.variant, "app");
    assert_eq!(functions(&g), ["checkout", "helper"]);
    assert!(
        hints(&g, "frame")
            .iter()
            .any(|h| h == "+app by project rule 1 (line 1): stack.module:shop.* +app"),
        "{:?}",
        hints(&g, "frame")
    );
    // The other way: the client's in-app frames are not in-app for the project.
    let e = event(&python([false, true, true]));
    assert_eq!(plain(OLD).group(&e).variant, "app");
    let g = grouper(OLD, "", "stack.module:shop.util -app").group(&e);
    assert_eq!(g.variant, "app");
    assert_eq!(functions(&g), ["checkout"]);
    assert!(
        hints(&g, "frame").iter().any(|h| h
            == "not an in-app frame (-app by project rule 1 (line 1): stack.module:shop.util -app)"),
        "{:?}",
        hints(&g, "frame")
    );
    let g = grouper(OLD, "", "app:yes -app").group(&e);
    assert_eq!(g.variant, "system");
    // The culprit follows the rules' in-app frames too.
    let g = grouper(OLD, "", "stack.function:checkout -app").group(&e);
    assert_eq!(g.culprit.as_deref(), Some("shop.util in helper"));
}

#[test]
fn max_frames_and_min_frames() {
    let e = event(&python([true, true, true]));
    let g = grouper(OLD, "", "app:yes max-frames=2").group(&e);
    assert_eq!(functions(&g), ["checkout", "helper"]);
    assert!(
        hints(&g, "frame")
            .iter()
            .any(|h| h.starts_with("beyond max-frames=2 of project rule 1")),
        "{:?}",
        hints(&g, "frame")
    );
    // Fewer contributing frames than min-frames: the stack trace does not
    // count, the exception's value does.
    let g = grouper(OLD, "", "app:yes min-frames=4").group(&e);
    assert!(functions(&g).is_empty(), "{:?}", values(&g));
    assert!(values(&g).contains(&("value".into(), "'user_id'".into())));
    assert!(
        hints(&g, "stacktrace")
            .iter()
            .any(|h| h.contains("fewer than min-frames=4 of project rule 1")),
        "{:?}",
        hints(&g, "stacktrace")
    );
}

#[test]
fn a_category_is_recorded_and_usable_by_later_rules() {
    let e = event(&python([true, true, true]));
    let g = grouper(
        OLD,
        "",
        "stack.module:shop.util category=helpers\ncategory:helpers -group",
    )
    .group(&e);
    assert_eq!(functions(&g), ["get_response", "checkout"]);
    let mut cats = Vec::new();
    all(&g.explanation, "category", &mut cats);
    let helper = cats
        .iter()
        .find(|c| c.values == ["helpers"])
        .expect("a category part");
    assert!(!helper.contributes);
    assert_eq!(
        helper.hint.as_deref(),
        Some("by project rule 1 (line 1): stack.module:shop.util category=helpers")
    );
}

// ------------------------------------------------------------ built-in rules

#[test]
fn built_in_rules_apply_only_under_periscope_2026_12() {
    let a = event(&native(&["main", "Shop::checkout"]));
    // The frozen configuration counts abort and what it called.
    assert_eq!(
        functions(&plain(OLD).group(&a)),
        ["start", "main", "Shop::checkout", "abort", "__pthread_kill"]
    );
    // The new one: the thread base and what abort called do not count
    // (__pthread_kill, a throw frame called by a throw frame, is internals).
    let g = plain(NEW).group(&a);
    assert_eq!(functions(&g), ["main", "Shop::checkout", "abort"]);
    let frame_hints = hints(&g, "frame");
    assert!(
        frame_hints
            .iter()
            .any(|h| h.starts_with("-group by built-in rule ")
                && h.ends_with("category:internals -group")),
        "{frame_hints:?}"
    );
    assert!(
        frame_hints
            .iter()
            .any(|h| h.starts_with("-group by built-in rule ") && h.contains("category:threadbase")),
        "{frame_hints:?}"
    );
    // A project rule overrides a built-in one.
    let g = grouper(NEW, "", "family:native function:__pthread_kill +group").group(&a);
    assert_eq!(
        functions(&g),
        ["main", "Shop::checkout", "abort", "__pthread_kill"]
    );
    assert!(
        hints(&g, "frame").iter().any(|h| h
            == "+group by project rule 1 (line 1): family:native stack.function:__pthread_kill +group"),
        "{:?}",
        hints(&g, "frame")
    );
}

#[test]
fn built_in_rules_keep_javascript_helpers_out() {
    let e = event(
        &json!({"platform": "node", "exception": {"values": [{"type": "TypeError", "value": "x is undefined",
        "stacktrace": {"frames": [
            {"function": "processTicksAndRejections", "abs_path": "node:internal/process/task_queues", "in_app": false},
            {"function": "handler", "module": "app.routes", "abs_path": "/srv/app/routes.js", "in_app": true},
            {"function": "__awaiter", "module": "tslib/tslib", "abs_path": "/srv/app/node_modules/tslib/tslib.js", "in_app": true}
        ]}}]}}),
    );
    let old = plain(OLD).group(&e);
    assert_eq!(functions(&old), ["handler", "__awaiter"]);
    let new = plain(NEW).group(&e);
    assert_eq!(functions(&new), ["handler"]);
    assert_eq!(new.variant, "app");
}

// ------------------------------------------------------------ fingerprint rules

#[test]
fn a_fingerprint_rule_sets_the_key_and_the_title() {
    let rules = "# outages\nerror.type:DatabaseUnavailable -> system-down title=\"DB down: {{ error.value }} on {{ tags.server }}\"";
    let db = |function: &str, value: &str| {
        event(
            &json!({"platform": "python", "tags": {"server": "db-1"}, "exception": {"values": [{
            "type": "DatabaseUnavailable", "value": value,
            "stacktrace": {"frames": [{"module": "shop", "function": function, "in_app": true}]}}]}}),
        )
    };
    for id in ConfigId::ALL {
        let g = grouper(*id, rules, "");
        let (a, b) = (
            g.group(&db("checkout", "primary gone")),
            g.group(&db("refund", "replica gone")),
        );
        assert_eq!(a.key, b.key, "{id}");
        assert_eq!(a.variant, "custom-fingerprint");
        assert_eq!(
            values(&a),
            [("fingerprint".to_owned(), "system-down".to_owned())]
        );
        assert_eq!(a.title, "DB down: primary gone on db-1");
        let fp = a.explanation.find("custom-fingerprint").unwrap();
        assert_eq!(
            fp.hint.as_deref(),
            Some(
                "fingerprint rule 1 (line 2): error.type:DatabaseUnavailable -> system-down title=\"DB down: {{ error.value }} on {{ tags.server }}\""
            )
        );
        // Other events are grouped as without the rule.
        let other = event(&python([false, true, true]));
        assert_eq!(g.group(&other), plain(*id).group(&other));
    }
}

#[test]
fn a_hybrid_rule_refines_the_built_in_grouping() {
    let rules = "error.type:KeyError -> {{ default }}, {{ tags.tenant }}";
    let mut v = python([false, true, true]);
    v["tags"] = json!({"tenant": "acme"});
    let g = grouper(OLD, rules, "").group(&event(&v));
    assert_eq!(g.variant, "hybrid-fingerprint");
    assert_eq!(
        values(&g).last(),
        Some(&("fingerprint".to_owned(), "acme".to_owned()))
    );
    assert_eq!(
        g.explanation
            .find("hybrid-fingerprint")
            .unwrap()
            .hint
            .as_deref(),
        Some(
            "fingerprint rule 1 (line 1): error.type:KeyError -> {{ default }}, {{ tags.tenant }}"
        )
    );
    // A missing variable in a title gives its fallback; an unknown one stays.
    let g = grouper(
        OLD,
        "error.type:KeyError -> k title=\"{{ transaction }} {{ nope }}\"",
        "",
    )
    .group(&event(&python([true, true, true])));
    assert_eq!(g.title, "<no-transaction> {{ nope }}");
}

#[test]
fn a_fingerprint_rule_takes_precedence_over_the_sdk_fingerprint() {
    let mut v = python([false, true, true]);
    v["fingerprint"] = json!(["sdk-key"]);
    let e = event(&v);
    let sdk = plain(OLD).group(&e);
    assert_eq!(
        values(&sdk),
        [("fingerprint".to_owned(), "sdk-key".to_owned())]
    );
    // A matching rule replaces the SDK's fingerprint, which is shown, not counted.
    let g = grouper(OLD, "error.type:KeyError -> from-rule", "").group(&e);
    assert_eq!(
        values(&g),
        [("fingerprint".to_owned(), "from-rule".to_owned())]
    );
    let client = g.explanation.find("client-fingerprint").unwrap();
    assert!(!client.contributes);
    assert_eq!(client.values, ["sdk-key"]);
    assert_eq!(
        client.hint.as_deref(),
        Some(
            "the SDK's fingerprint, replaced by fingerprint rule 1 (line 1): error.type:KeyError -> from-rule"
        )
    );
    // A rule that does not match leaves the SDK's fingerprint alone.
    let g = grouper(OLD, "error.type:ValueError -> from-rule", "").group(&e);
    assert_eq!(g, sdk);
    // A rule whose fingerprint is {{ default }} gives the built-in grouping.
    let g = grouper(OLD, "error.type:KeyError -> {{ default }}", "").group(&e);
    assert_eq!(
        g.key,
        plain(OLD).group(&event(&python([false, true, true]))).key
    );
}

// ------------------------------------------------------------ frozen keys

#[test]
fn without_project_rules_the_keys_do_not_change() {
    let events = [
        python([false, true, true]),
        python([false, false, false]),
        native(&["main", "Shop::checkout"]),
        json!({"message": "User 42 not found"}),
        json!({}),
    ];
    for id in ConfigId::ALL {
        let empty = grouper(*id, "", "# nothing\n");
        for v in &events {
            let e = event(v);
            assert_eq!(empty.group(&e), plain(*id).group(&e), "{id} {v}");
        }
    }
    // Rules that match nothing do not change a key either.
    let unrelated = grouper(
        OLD,
        "error.type:Nope -> x",
        "stack.module:nope.* -group +app",
    );
    for v in &events {
        let e = event(v);
        assert_eq!(unrelated.group(&e).key, plain(OLD).group(&e).key);
    }
}

#[test]
fn the_configuration_carries_the_rules_but_serializes_only_its_id() {
    let config = GroupingConfig::with_rules(
        NEW,
        FingerprintRules::parse("error.type:X -> x").unwrap(),
        StacktraceRules::parse("stack.module:a.* -app").unwrap(),
    );
    assert!(config.has_project_rules());
    assert_eq!(config.fingerprint_rules().len(), 1);
    assert_eq!(config.stacktrace_rules().len(), 1);
    assert_eq!(config.stacktrace_rules().rules().len(), 1,);
    assert_eq!(
        serde_json::to_string(&config).unwrap(),
        r#"{"id":"periscope:2026-12"}"#
    );
    let back: GroupingConfig = serde_json::from_str(r#"{"id":"periscope:2026-12"}"#).unwrap();
    assert!(!back.has_project_rules());
    assert_ne!(back, config);
    assert_eq!(back, GroupingConfig::new(NEW));
    // The grouper runs the built-in rules first, then the project's.
    let g = Grouper::new(config);
    let builtin = NEW.builtin_stacktrace_rules().len();
    assert!(builtin > 50);
    assert_eq!(g.stacktrace_rules().len(), builtin + 1);
    assert!(OLD.builtin_stacktrace_rules().is_empty());
    assert!(
        ConfigId::TypeAndValue2026_11
            .builtin_stacktrace_rules()
            .is_empty()
    );
}
