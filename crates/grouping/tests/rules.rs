//! One test (or more) per rule of GROUPING.md, on events written as JSON.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use periscope_grouping::{ConfigId, Grouper, Grouping, GroupingConfig};
use periscope_sentry_envelope::Event;
use serde_json::{Value, json};

fn group_with(config: ConfigId, event: &Value) -> Grouping {
    let event = Event::from_slice(event.to_string().as_bytes()).unwrap();
    Grouper::new(GroupingConfig::new(config)).group(&event)
}

fn group(event: &Value) -> Grouping {
    group_with(ConfigId::Periscope2026_11, event)
}

fn key(event: &Value) -> String {
    group(event).key
}

fn values(event: &Value) -> Vec<(String, String)> {
    group(event)
        .contributing_values()
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

fn frame(function: &str, in_app: bool) -> Value {
    json!({"function": function, "module": "app.mod", "in_app": in_app, "lineno": 10})
}

fn exc_event(ty: &str, value: &str, frames: Vec<Value>) -> Value {
    json!({"platform": "python", "exception": {"values": [
        {"type": ty, "value": value, "stacktrace": {"frames": frames}}
    ]}})
}

fn with_fingerprint(mut event: Value, fp: Value) -> Value {
    event["fingerprint"] = fp;
    event
}

// ---------------------------------------------------------------- fingerprints

#[test]
fn default_fingerprint_is_built_in_grouping() {
    let e = exc_event("E", "v", vec![frame("f", true)]);
    let g = group(&with_fingerprint(e.clone(), json!(["{{ default }}"])));
    assert_eq!(g.key, key(&e));
    assert_eq!(g.variant, "app");
    assert_eq!(
        key(&with_fingerprint(e.clone(), json!(["{{default}}"]))),
        key(&e)
    );
    assert_eq!(key(&with_fingerprint(e.clone(), json!([]))), key(&e));
}

#[test]
fn custom_fingerprint_alone_is_the_key() {
    let a = with_fingerprint(
        exc_event("A", "x", vec![frame("f", true)]),
        json!(["db", "timeout"]),
    );
    let b = with_fingerprint(
        exc_event("B", "y", vec![frame("g", true)]),
        json!(["db", "timeout"]),
    );
    let g = group(&a);
    assert_eq!(g.variant, "custom-fingerprint");
    assert_eq!(g.key, key(&b));
    assert_eq!(
        values(&a),
        vec![pair("fingerprint", "db"), pair("fingerprint", "timeout")]
    );
    // Unambiguous: ["db", "timeout"] is not ["dbtimeout"] nor ["db timeout"].
    assert_ne!(
        g.key,
        key(&with_fingerprint(a.clone(), json!(["dbtimeout"])))
    );
    assert_ne!(
        g.key,
        key(&with_fingerprint(a.clone(), json!(["db timeout"])))
    );
}

#[test]
fn hybrid_fingerprint_mixes_in_the_built_in_values() {
    let a = exc_event("A", "x", vec![frame("f", true)]);
    let b = exc_event("A", "x", vec![frame("g", true)]);
    let fa = with_fingerprint(a.clone(), json!(["{{ default }}", "tenant-1"]));
    let fb = with_fingerprint(b.clone(), json!(["{{ default }}", "tenant-1"]));
    let g = group(&fa);
    assert_eq!(g.variant, "hybrid-fingerprint");
    assert_ne!(g.key, key(&fb), "different stacks stay apart");
    assert_ne!(g.key, key(&a), "the extra entry splits");
    assert_ne!(
        g.key,
        key(&with_fingerprint(a, json!(["{{ default }}", "tenant-2"])))
    );
    let vals = values(&fa);
    assert!(vals.contains(&pair("function", "f")));
    assert_eq!(vals.last(), Some(&pair("fingerprint", "tenant-1")));
}

fn resolved(event: Value, variable: &str) -> String {
    let e = with_fingerprint(event, json!([variable]));
    let vals = values(&e);
    assert_eq!(vals.len(), 1, "{vals:?}");
    vals[0].1.clone()
}

fn rich_event() -> Value {
    json!({
        "platform": "python",
        "transaction": "/api/users",
        "level": "warning",
        "logger": "app.db",
        "logentry": {"message": "Template %s", "formatted": "Formatted 42"},
        "tags": {"server": "web-1"},
        "exception": {"values": [
            {"type": "Cause", "value": "first"},
            {"type": "KeyError", "value": "'id'", "stacktrace": {"frames": [
                {"function": "main", "module": "app.main", "filename": "main.py",
                 "abs_path": "/srv/app/main.py", "package": "/srv/app", "in_app": true},
                {"function": "lookup", "module": "app.db", "filename": "db.py",
                 "abs_path": "/srv/app/db.py", "package": "/usr/lib/python3/site.zip", "in_app": true},
                {"function": "get", "module": "dict", "in_app": false}
            ]}}
        ]}
    })
}

#[test]
fn fingerprint_variables() {
    let e = rich_event();
    assert_eq!(resolved(e.clone(), "{{ transaction }}"), "/api/users");
    assert_eq!(resolved(e.clone(), "{{ message }}"), "Formatted 42");
    assert_eq!(resolved(e.clone(), "{{ type }}"), "KeyError");
    assert_eq!(resolved(e.clone(), "{{ error.type }}"), "KeyError");
    assert_eq!(resolved(e.clone(), "{{ value }}"), "'id'");
    assert_eq!(resolved(e.clone(), "{{ error.value }}"), "'id'");
    // The crash frame: the last in-app frame.
    assert_eq!(resolved(e.clone(), "{{ function }}"), "lookup");
    assert_eq!(resolved(e.clone(), "{{ stack.function }}"), "lookup");
    assert_eq!(resolved(e.clone(), "{{ path }}"), "/srv/app/db.py");
    assert_eq!(
        resolved(e.clone(), "{{ stack.abs_path }}"),
        "/srv/app/db.py"
    );
    assert_eq!(resolved(e.clone(), "{{ stack.filename }}"), "db.py");
    assert_eq!(resolved(e.clone(), "{{ module }}"), "app.db");
    assert_eq!(resolved(e.clone(), "{{ stack.module }}"), "app.db");
    assert_eq!(resolved(e.clone(), "{{ package }}"), "site.zip");
    assert_eq!(resolved(e.clone(), "{{ stack.package }}"), "site.zip");
    assert_eq!(resolved(e.clone(), "{{ level }}"), "warning");
    assert_eq!(resolved(e.clone(), "{{ logger }}"), "app.db");
    assert_eq!(resolved(e.clone(), "{{ tags.server }}"), "web-1");
    assert_eq!(resolved(e, "{{  tags.server  }}"), "web-1");
}

#[test]
fn fingerprint_variable_fallbacks() {
    let e = json!({"message": "hello"});
    assert_eq!(resolved(e.clone(), "{{ transaction }}"), "<no-transaction>");
    assert_eq!(resolved(e.clone(), "{{ type }}"), "<no-type>");
    assert_eq!(resolved(e.clone(), "{{ value }}"), "<no-value>");
    assert_eq!(resolved(e.clone(), "{{ function }}"), "<no-function>");
    assert_eq!(resolved(e.clone(), "{{ path }}"), "<no-abs-path>");
    assert_eq!(resolved(e.clone(), "{{ stack.filename }}"), "<no-filename>");
    assert_eq!(resolved(e.clone(), "{{ module }}"), "<no-module>");
    assert_eq!(resolved(e.clone(), "{{ package }}"), "<no-package>");
    assert_eq!(resolved(e.clone(), "{{ level }}"), "<no-level>");
    assert_eq!(resolved(e.clone(), "{{ logger }}"), "<no-logger>");
    assert_eq!(
        resolved(e.clone(), "{{ tags.server }}"),
        "<no-value-for-tag-server>"
    );
    assert_eq!(resolved(json!({}), "{{ message }}"), "<no-message>");
    // {{ message }}: the template when nothing is formatted, else the exception value.
    assert_eq!(
        resolved(json!({"logentry": {"message": "T %s"}}), "{{ message }}"),
        "T %s"
    );
    assert_eq!(
        resolved(
            json!({"exception": {"values": [{"type": "E", "value": "boom"}]}}),
            "{{ message }}"
        ),
        "boom"
    );
    // Without in-app frames, the crash frame is the last frame.
    let e = json!({"exception": {"values": [{"type": "E", "stacktrace": {"frames": [
        {"function": "a"}, {"function": "b"}
    ]}}]}});
    assert_eq!(resolved(e, "{{ function }}"), "b");
}

#[test]
fn unknown_fingerprint_variables_stay_literal() {
    assert_eq!(resolved(json!({}), "{{ nonsense }}"), "{{ nonsense }}");
}

// ---------------------------------------------------------------- order of strategies

#[test]
fn exception_beats_threads_beats_stacktrace_beats_message() {
    let st = json!({"frames": [{"function": "from_stacktrace", "in_app": true}]});
    let threads = json!({"values": [{"crashed": true, "stacktrace":
        {"frames": [{"function": "from_thread", "in_app": true}]}}]});
    let exc = json!({"values": [{"type": "E", "stacktrace":
        {"frames": [{"function": "from_exception", "in_app": true}]}}]});
    let all = json!({"message": "m", "stacktrace": st, "threads": threads, "exception": exc});
    let has = |e: &Value, f: &str| values(e).contains(&pair("function", f));
    assert!(has(&all, "from_exception"));
    let mut e = all.clone();
    e.as_object_mut().unwrap().remove("exception");
    assert!(has(&e, "from_thread"));
    e.as_object_mut().unwrap().remove("threads");
    assert!(has(&e, "from_stacktrace"));
    e.as_object_mut().unwrap().remove("stacktrace");
    assert_eq!(values(&e), vec![pair("message", "m")]);
    // The explanation says why the others did not count.
    let g = group(&all);
    let app = &g.explanation.children[0];
    assert_eq!(app.children[1].name, "threads");
    assert!(!app.children[1].contributes);
    assert_eq!(
        app.children[1].hint.as_deref(),
        Some("exception takes precedence")
    );
}

#[test]
fn nothing_contributes_gives_the_fixed_fallback() {
    let a = group(&json!({}));
    let b = group(&json!({"event_id": "0123456789abcdef0123456789abcdef", "tags": {"a": "b"}}));
    assert_eq!(a.variant, "fallback");
    assert_eq!(a.key, b.key);
    assert_eq!(a.title, "<unlabeled event>");
    assert_eq!(a.culprit, None);
    // A message event is not a fallback.
    assert_ne!(a.key, key(&json!({"message": "x"})));
}

// ---------------------------------------------------------------- variants

#[test]
fn app_variant_wins_with_in_app_frames() {
    let a = exc_event("E", "v", vec![frame("lib", false), frame("mine", true)]);
    let b = exc_event(
        "E",
        "v",
        vec![frame("other_lib", false), frame("mine", true)],
    );
    let g = group(&a);
    assert_eq!(g.variant, "app");
    assert_eq!(
        g.key,
        key(&b),
        "system frames do not count in the app variant"
    );
    assert_eq!(
        values(&a),
        vec![
            pair("module", "app.mod"),
            pair("function", "mine"),
            pair("type", "E")
        ]
    );
    let system = &g.explanation.children[1];
    assert_eq!(system.name, "system");
    assert!(!system.contributes);
}

#[test]
fn in_app_frames_of_a_top_level_stack_trace_make_the_app_variant() {
    // A message with a stack trace, no exception and no threads.
    let e = json!({"platform": "python", "message": "m", "stacktrace": {"frames": [
        frame("lib", false), frame("mine", true)
    ]}});
    let g = group(&e);
    assert_eq!(g.variant, "app");
    assert_eq!(
        values(&e),
        vec![pair("module", "app.mod"), pair("function", "mine")]
    );
}

#[test]
fn an_app_variant_without_a_contributing_in_app_frame_does_not_win() {
    // The in-app frame has nothing that counts: the app variant would win
    // by the exception type alone, which is not an app-specific grouping.
    let e = json!({"exception": {"values": [{"type": "E", "stacktrace": {"frames": [
        {"function": "lib"}, {"in_app": true, "lineno": 3}
    ]}}]}});
    for config in [ConfigId::Periscope2026_11, ConfigId::Periscope2026_12] {
        let g = group_with(config, &e);
        assert_eq!(g.variant, "system", "{config}");
        let app = &g.explanation.children[0];
        assert_eq!(app.name, "app");
        assert!(!app.contributes);
        assert_eq!(app.hint.as_deref(), Some("no in-app frame contributes"));
    }
}

#[test]
fn explanations_say_why_parts_do_not_count() {
    let e = json!({"platform": "python", "exception": {"values": [
        {"type": "A", "value": "user 42", "stacktrace": {"frames": [{"function": "lib", "in_app": false}]}},
        {"type": "B", "value": "plain", "stacktrace": {"frames": [
            {"in_app": true, "lineno": 1},
            {"module": "app", "function": "f", "in_app": true}
        ]}}
    ]}});
    let g = group(&e);
    assert_eq!(g.variant, "app");
    let chain = &g.explanation.children[0].children[0];
    let (a, b) = (&chain.children[0], &chain.children[1]);
    assert_eq!(
        a.children[0].hint.as_deref(),
        Some("the stack trace has no in-app frames")
    );
    assert_eq!(
        a.find("value").unwrap().hint.as_deref(),
        Some("stripped event-specific values")
    );
    let b_stack = &b.children[0];
    assert!(b_stack.contributes);
    assert_eq!(b_stack.hint, None);
    assert_eq!(
        b_stack.children[0].hint.as_deref(),
        Some("no part of the frame contributes")
    );
    assert_eq!(b_stack.children[1].hint, None);
    // In-app frames that contribute nothing.
    let e = json!({"exception": {"values": [{"type": "C", "value": "plain", "stacktrace": {"frames": [
        {"in_app": true, "lineno": 1}
    ]}}]}});
    let g = group(&e);
    let app_stack = g.explanation.children[0].find("stacktrace").unwrap();
    assert_eq!(app_stack.hint.as_deref(), Some("no frame contributes"));
    let system_stack = g.explanation.children[1].find("stacktrace").unwrap();
    assert_eq!(system_stack.hint.as_deref(), Some("no frame contributes"));
    assert_eq!(g.explanation.children[1].find("value").unwrap().hint, None);
}

#[test]
fn a_chain_repeating_one_exception_counts_each() {
    // Only leaves of an exception group are deduplicated, not a plain chain.
    let exc = json!({"type": "E", "value": "v", "stacktrace": {"frames": [frame("f", true)]}});
    let e = json!({"platform": "python", "exception": {"values": [exc.clone(), exc]}});
    for config in [ConfigId::Periscope2026_11, ConfigId::Periscope2026_12] {
        let g = group_with(config, &e);
        let types = g
            .contributing_values()
            .iter()
            .filter(|(n, _)| *n == "type")
            .count();
        assert_eq!(types, 2, "{config}");
    }
}

#[test]
fn native_normalization_is_for_native_frames_only() {
    let e = |platform: &str| {
        json!({"platform": platform, "exception": {"values": [{"type": "E", "stacktrace": {"frames": [
            {"function": "task.cold", "in_app": true}
        ]}}]}})
    };
    assert_eq!(values(&e("native"))[0], pair("function", "task"));
    assert_eq!(values(&e("python"))[0], pair("function", "task.cold"));
}

#[test]
fn context_lines_are_measured_in_characters() {
    // 100 two-byte characters: 200 bytes, still within 120 characters.
    let line = "é".repeat(100);
    let e = json!({"platform": "python", "exception": {"values": [{"type": "E", "stacktrace": {"frames": [
        {"function": "f", "in_app": true, "context_line": line}
    ]}}]}});
    assert!(values(&e).contains(&pair("context-line", &line)));
}

#[test]
fn system_variant_without_in_app_frames() {
    // `in_app` absent counts as not in-app.
    let a = json!({"exception": {"values": [{"type": "E", "stacktrace": {"frames": [
        {"function": "lib"}, {"function": "other", "in_app": false}
    ]}}]}});
    let g = group(&a);
    assert_eq!(g.variant, "system");
    assert_eq!(
        values(&a),
        vec![
            pair("function", "lib"),
            pair("function", "other"),
            pair("type", "E")
        ]
    );
    let app = &g.explanation.children[0];
    assert!(!app.contributes);
}

// ---------------------------------------------------------------- exceptions

#[test]
fn value_counts_only_without_a_contributing_stack() {
    let with_stack = exc_event("E", "id 1", vec![frame("f", true)]);
    let with_stack2 = exc_event("E", "completely different", vec![frame("f", true)]);
    assert_eq!(key(&with_stack), key(&with_stack2));
    let without = json!({"exception": {"values": [{"type": "E", "value": "User 42 gone"}]}});
    assert_eq!(
        values(&without),
        vec![pair("type", "E"), pair("value", "User <int> gone")]
    );
    let other = json!({"exception": {"values": [{"type": "E", "value": "Disk full"}]}});
    assert_ne!(key(&without), key(&other));
}

#[test]
fn synthetic_type_does_not_count() {
    let e = |ty: &str| {
        json!({"exception": {"values": [{"type": ty, "value": "Fatal",
            "mechanism": {"type": "signalhandler", "synthetic": true}}]}})
    };
    assert_eq!(key(&e("SIGSEGV")), key(&e("SIGBUS")));
    assert_eq!(values(&e("SIGSEGV")), vec![pair("value", "Fatal")]);
}

#[test]
fn chained_exceptions_all_count_in_order() {
    let chain = |a: &str, b: &str| json!({"exception": {"values": [{"type": a, "value": "x"}, {"type": b, "value": "y"}]}});
    assert_eq!(
        values(&chain("Cause", "Effect")),
        vec![
            pair("type", "Cause"),
            pair("value", "x"),
            pair("type", "Effect"),
            pair("value", "y")
        ]
    );
    assert_ne!(
        key(&chain("Cause", "Effect")),
        key(&chain("Effect", "Cause"))
    );
    assert_ne!(
        key(&chain("Cause", "Effect")),
        key(&chain("Other", "Effect"))
    );
}

#[test]
fn exception_groups_use_the_distinct_leaves() {
    let group_of = |leaves: Vec<Value>| {
        let mut values = vec![json!({"type": "ExceptionGroup", "value": "many errors",
            "mechanism": {"type": "chained", "exception_id": 0, "is_exception_group": true}})];
        values.extend(leaves);
        json!({"exception": {"values": values}})
    };
    let leaf = |ty: &str, id: u64| {
        json!({"type": ty, "value": "v",
            "mechanism": {"type": "chained", "exception_id": id, "parent_id": 0}})
    };
    let g = group_of(vec![leaf("A", 1), leaf("B", 2)]);
    let vals = values(&g);
    assert!(
        !vals
            .iter()
            .any(|(_, v)| v == "ExceptionGroup" || v == "many errors")
    );
    assert_eq!(vals.iter().filter(|(n, _)| n == "type").count(), 2);
    // A duplicate leaf counts once.
    let dup = group_of(vec![leaf("A", 1), leaf("B", 2), leaf("A", 3)]);
    assert_eq!(key(&g), key(&dup));
    // The wrapper's message does not matter.
    let mut renamed = g.clone();
    renamed["exception"]["values"][0]["value"] = json!("other text");
    assert_eq!(key(&g), key(&renamed));
    // The title is a leaf's.
    assert_eq!(group(&g).title, "B: v");
}

// ---------------------------------------------------------------- threads

fn threads_event(threads: Value) -> Value {
    json!({"message": "fallback message", "threads": {"values": threads}})
}

fn thread(name: &str, crashed: bool, current: bool) -> Value {
    json!({"crashed": crashed, "current": current, "stacktrace":
        {"frames": [{"function": name, "in_app": true}]}})
}

#[test]
fn threads_crashed_then_single_current_then_only() {
    let crashed = threads_event(json!([thread("a", false, true), thread("b", true, false)]));
    assert_eq!(values(&crashed), vec![pair("function", "b")]);
    let current = threads_event(json!([thread("a", false, false), thread("b", false, true)]));
    assert_eq!(values(&current), vec![pair("function", "b")]);
    let only = threads_event(json!([thread("a", false, false)]));
    assert_eq!(values(&only), vec![pair("function", "a")]);
    // Two threads, none crashed, none or two current: threads do not count.
    let none = threads_event(json!([
        thread("a", false, false),
        thread("b", false, false)
    ]));
    assert_eq!(values(&none), vec![pair("message", "fallback message")]);
    let two = threads_event(json!([thread("a", false, true), thread("b", false, true)]));
    assert_eq!(values(&two), vec![pair("message", "fallback message")]);
}

// ---------------------------------------------------------------- frames

fn frame_values(platform: &str, f: Value) -> Vec<(String, String)> {
    let mut f = f;
    f["in_app"] = json!(true);
    values(&json!({"platform": platform, "exception": {"values": [
        {"type": "E", "stacktrace": {"frames": [f]}}
    ]}}))
    .into_iter()
    .filter(|(n, _)| n != "type")
    .collect()
}

#[test]
fn module_takes_precedence_over_filename() {
    assert_eq!(
        frame_values(
            "python",
            json!({"module": "app.views", "filename": "app/views.py", "function": "index"})
        ),
        vec![pair("module", "app.views"), pair("function", "index")]
    );
}

#[test]
fn filename_is_the_lowercased_base_name() {
    assert_eq!(
        frame_values(
            "csharp",
            json!({"filename": "C:\\Src\\App\\Program.CS", "function": "Main"})
        ),
        vec![pair("filename", "program.cs"), pair("function", "Main")]
    );
    assert_eq!(
        frame_values(
            "python",
            json!({"abs_path": "/srv/a/Views.py", "function": "f"})
        ),
        vec![pair("filename", "views.py"), pair("function", "f")]
    );
}

#[test]
fn filename_ignored_for_urls_and_pseudo_paths() {
    for abs_path in [
        "https://cdn.example.com/static/app.js",
        "http://localhost/app.js",
        "file:///home/me/app.js",
    ] {
        assert_eq!(
            frame_values(
                "javascript",
                json!({"abs_path": abs_path, "filename": "/static/app.js", "function": "f"})
            ),
            vec![pair("function", "f")],
            "{abs_path}"
        );
    }
}

#[test]
fn function_names_are_normalized() {
    let f = |platform: &str, name: &str| {
        frame_values(platform, json!({"filename": "a.x", "function": name}))
    };
    assert_eq!(
        f("python", "  handler "),
        vec![pair("filename", "a.x"), pair("function", "handler")]
    );
    for anon in [
        "?",
        "<anonymous>",
        "<anonymous function>",
        "Anonymous function",
        "foo/<",
    ] {
        assert_eq!(
            f("javascript", anon),
            vec![pair("filename", "a.x")],
            "{anon}"
        );
    }
    assert_eq!(f("java", "lambda$run$0"), vec![pair("filename", "a.x")]);
    assert_eq!(
        f("ruby", "block in process"),
        vec![pair("filename", "a.x"), pair("function", "block")]
    );
    assert_eq!(
        f("ruby", "block (3 levels) in process"),
        vec![pair("filename", "a.x"), pair("function", "block")]
    );
    for generated in [
        "Service$$EnhancerByCGLIB$$1a2b3c",
        "Service$$EnhancerBySpringCGLIB$$99",
        "Foo_$$_javassist_7",
        "Foo$$Lambda$12/0x000000080012",
        "GeneratedMethodAccessor42",
        "User$HibernateProxy$x1",
    ] {
        assert_eq!(
            f("java", generated),
            vec![pair("filename", "a.x"), pair("function", "<auto>")]
        );
    }
    // raw_function when function is missing.
    assert_eq!(
        frame_values("native", json!({"raw_function": "do_thing(int)"})),
        vec![pair("function", "do_thing(int)")]
    );
}

#[test]
fn generated_modules_are_normalized() {
    let a = frame_values(
        "java",
        json!({"module": "com.x.Svc$$EnhancerBySpringCGLIB$$ab12", "function": "run"}),
    );
    let b = frame_values(
        "java",
        json!({"module": "com.x.Svc$$EnhancerBySpringCGLIB$$cd34", "function": "run"}),
    );
    assert_eq!(a, b);
    assert_eq!(a[0], pair("module", "<auto>"));
}

#[test]
fn context_line_only_for_script_platforms() {
    let f =
        json!({"filename": "a.py", "function": "f", "context_line": "    x  =   compute( 1 )  "});
    for platform in ["javascript", "node", "python", "php", "ruby"] {
        assert!(
            frame_values(platform, f.clone()).contains(&pair("context-line", "x = compute( 1 )")),
            "{platform}"
        );
    }
    for platform in ["java", "native", "csharp", "go"] {
        assert!(
            !frame_values(platform, f.clone())
                .iter()
                .any(|(n, _)| n == "context-line")
        );
    }
    let long = json!({"filename": "a.py", "function": "f", "context_line": "x".repeat(121)});
    assert_eq!(
        frame_values("python", long),
        vec![pair("filename", "a.py"), pair("function", "f")]
    );
}

#[test]
fn line_numbers_addresses_and_vars_never_count() {
    let a = json!({"filename": "a.py", "function": "f", "lineno": 1, "colno": 2,
        "vars": {"x": 1}, "instruction_addr": "0x1000", "pre_context": ["a"]});
    let b = json!({"filename": "a.py", "function": "f", "lineno": 999, "colno": 7,
        "vars": {"x": 2}, "instruction_addr": "0x2000", "pre_context": ["b"]});
    assert_eq!(frame_values("python", a), frame_values("python", b));
}

#[test]
fn direct_recursion_counts_once() {
    let rec = exc_event(
        "E",
        "v",
        vec![
            frame("a", true),
            frame("f", true),
            frame("f", true),
            frame("f", true),
        ],
    );
    let once = exc_event("E", "v", vec![frame("a", true), frame("f", true)]);
    assert_eq!(key(&rec), key(&once));
    let indirect = exc_event(
        "E",
        "v",
        vec![frame("f", true), frame("a", true), frame("f", true)],
    );
    assert_ne!(key(&indirect), key(&once));
}

#[test]
fn javascript_eval_and_native_code_frames_are_ignored() {
    let js = |frames: Vec<Value>| {
        json!({"platform": "javascript", "exception": {"values": [
            {"type": "TypeError", "stacktrace": {"frames": frames}}
        ]}})
    };
    let base = js(vec![
        json!({"function": "main", "filename": "a.js", "in_app": true}),
    ]);
    let with_eval = js(vec![
        json!({"function": "eval", "filename": "a.js", "in_app": true}),
        json!({"function": "main", "filename": "a.js", "in_app": true}),
    ]);
    let with_native = js(vec![
        json!({"function": "forEach", "abs_path": "[native code]", "in_app": true}),
        json!({"function": "main", "filename": "a.js", "in_app": true}),
    ]);
    let with_anonymous = js(vec![
        json!({"function": "run", "abs_path": "<anonymous>", "in_app": true}),
        json!({"function": "main", "filename": "a.js", "in_app": true}),
    ]);
    assert_eq!(key(&base), key(&with_eval));
    assert_eq!(key(&base), key(&with_native));
    assert_eq!(key(&base), key(&with_anonymous));
}

#[test]
fn javascript_functions_keep_their_last_segment() {
    for name in ["Foo.prototype.testMethod", "Foo.testMethod", "testMethod"] {
        assert_eq!(
            frame_values(
                "javascript",
                json!({"function": name, "abs_path": "https://x.io/a.js"})
            ),
            vec![pair("function", "testMethod")],
            "{name}"
        );
    }
    // Not for other platforms.
    assert_eq!(
        frame_values("python", json!({"function": "Foo.bar", "filename": "a.py"})),
        vec![pair("filename", "a.py"), pair("function", "Foo.bar")]
    );
}

#[test]
fn an_ignored_frame_does_not_make_the_next_a_recursion() {
    let js = |frames: Vec<Value>| {
        json!({"platform": "javascript", "exception": {"values": [
            {"type": "TypeError", "stacktrace": {"frames": frames}}
        ]}})
    };
    let plain = js(vec![
        json!({"function": "main", "filename": "a.js"}),
        json!({"function": "aha", "filename": "a.js"}),
    ]);
    let with_native = js(vec![
        json!({"function": "main", "filename": "a.js"}),
        json!({"function": "aha", "abs_path": "[native code]"}),
        json!({"function": "aha", "filename": "a.js"}),
    ]);
    assert_eq!(key(&plain), key(&with_native));
}

#[test]
fn javascript_single_url_frame_without_function_is_ignored() {
    let e = |path: &str| {
        json!({"platform": "javascript", "exception": {"values": [
            {"type": "Error", "value": "Script error.", "stacktrace": {"frames": [
                {"abs_path": path, "filename": "x.js", "lineno": 1, "in_app": true}
            ]}}
        ]}})
    };
    assert_eq!(
        values(&e("https://a.example.com/x.js")),
        vec![pair("type", "Error"), pair("value", "Script error.")]
    );
    assert_eq!(
        key(&e("https://a.example.com/x.js")),
        key(&e("https://b.example.com/x.js"))
    );
}

#[test]
fn native_build_specific_names_are_normalized() {
    let f = |name: &str| frame_values("native", json!({"function": name}));
    assert_eq!(f("?A0xc3a0617d::crash"), f("?A0x0badf00d::crash"));
    assert_eq!(
        f("?A0xc3a0617d::crash"),
        vec![pair("function", "(anonymous namespace)::crash")]
    );
    assert_eq!(
        f("`anonymous namespace'::start"),
        vec![pair("function", "(anonymous namespace)::start")]
    );
    assert_eq!(f("render.cold.1"), vec![pair("function", "render")]);
}

#[test]
fn native_filename_yields_to_the_function() {
    assert_eq!(
        frame_values(
            "native",
            json!({"filename": "src/a.cpp", "function": "do_it"})
        ),
        vec![pair("function", "do_it")]
    );
}

// ---------------------------------------------------------------- messages, title, culprit

#[test]
fn messages_are_parameterized() {
    let m = |s: &str| key(&json!({"message": s}));
    assert_eq!(m("User 42 not found"), m("User 97 not found"));
    assert_eq!(
        m("GET https://a.example.com/x failed"),
        m("GET http://b.example.org/y?z=1 failed")
    );
    assert_ne!(m("User 42 not found"), m("Order 42 not found"));
    // Formatted text counts over the template.
    let e = json!({"logentry": {"message": "User %s", "formatted": "User 7"}});
    assert_eq!(values(&e), vec![pair("message", "User <int>")]);
}

#[test]
fn titles() {
    assert_eq!(
        group(&exc_event("KeyError", "'id'\nmore", vec![])).title,
        "KeyError: 'id'"
    );
    assert_eq!(
        group(&json!({"exception": {"values": [{"type": "E"}]}})).title,
        "E"
    );
    assert_eq!(
        group(&json!({"message": "\n first line \nsecond"})).title,
        "first line"
    );
    assert_eq!(group(&json!({})).title, "<unlabeled event>");
    let long = "x".repeat(1000);
    assert_eq!(group(&json!({"message": long})).title.chars().count(), 257);
}

#[test]
fn culprits() {
    let e = rich_event();
    assert_eq!(group(&e).culprit.as_deref(), Some("/api/users"));
    let mut e = e;
    e.as_object_mut().unwrap().remove("transaction");
    assert_eq!(group(&e).culprit.as_deref(), Some("app.db in lookup"));
    let e = json!({"exception": {"values": [{"type": "E", "stacktrace": {"frames": [
        {"filename": "lib.js", "function": "inner"}
    ]}}]}});
    assert_eq!(group(&e).culprit.as_deref(), Some("lib.js in inner"));
    assert_eq!(group(&json!({"message": "m"})).culprit, None);
}

// ---------------------------------------------------------------- type-and-value

#[test]
fn type_and_value_strategy() {
    let tv = |e: &Value| group_with(ConfigId::TypeAndValue2026_11, e);
    let a = exc_event("KeyError", "id 42", vec![frame("f", true)]);
    let b = exc_event("KeyError", "id 97", vec![frame("g", true)]);
    let c = exc_event("KeyError", "name", vec![frame("f", true)]);
    assert_eq!(tv(&a).key, tv(&b).key, "stacks are ignored");
    assert_ne!(tv(&a).key, tv(&c).key);
    assert_eq!(tv(&a).variant, "type-and-value");
    assert_eq!(
        tv(&a).contributing_values(),
        vec![("type", "KeyError"), ("value", "id <int>")]
    );
    // Messages fall back, and key like the default strategy's message grouping.
    let m = json!({"message": "Disk 3 full"});
    assert_eq!(tv(&m).key, key(&m));
    assert_eq!(tv(&json!({})).variant, "fallback");
    assert_eq!(tv(&json!({})).key, key(&json!({})));
    // Custom fingerprints win here too.
    let f = with_fingerprint(a, json!(["x"]));
    assert_eq!(tv(&f).key, key(&f));
}

#[test]
fn explanation_serializes() {
    let g = group(&rich_event());
    let json = serde_json::to_value(&g).unwrap();
    assert_eq!(json["variant"], "app");
    assert_eq!(json["explanation"]["name"], "grouping");
    let back: Grouping = serde_json::from_value(json).unwrap();
    assert_eq!(back, g);
    let line: Value = serde_json::from_str(&g.to_json_line()).unwrap();
    assert_eq!(line["key"], g.key.as_str());
    assert_eq!(line["values"][0], json!(["type", "Cause"]));
}

#[test]
fn grouper_is_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Grouper>();
    check::<Grouping>();
}

#[test]
fn large_inputs_are_handled() {
    // Many exception-group leaves, many frames, a long multi-line message.
    let mut values = vec![json!({"type": "ExceptionGroup", "value": "g",
        "mechanism": {"exception_id": 0, "is_exception_group": true}})];
    for i in 1..3000u64 {
        values.push(json!({"type": format!("E{}", i % 7), "value": "v",
            "mechanism": {"exception_id": i, "parent_id": 0}}));
    }
    let g = group(&json!({"exception": {"values": values}}));
    // Seven distinct leaves.
    assert_eq!(
        g.contributing_values()
            .iter()
            .filter(|(n, _)| *n == "type")
            .count(),
        7
    );

    let frames: Vec<Value> = (0..20_000)
        .map(|i| frame(&format!("f{}", i % 3), true))
        .collect();
    let g = group(&exc_event("E", "v", frames));
    // Only the innermost MAX_FRAMES frames are considered (function and
    // module each), plus the type.
    assert_eq!(
        g.contributing_values().len(),
        periscope_grouping::limits::MAX_FRAMES * 2 + 1
    );

    let message = "line 1 with id 42\n".repeat(10_000);
    let g = group(&json!({"message": message}));
    assert_eq!(
        g.contributing_values(),
        vec![(
            "message",
            "line <int> with id <int>\nline <int> with id <int>..."
        )]
    );
    assert!(g.title.chars().count() <= 257);
}
