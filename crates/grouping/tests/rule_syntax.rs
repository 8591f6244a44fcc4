//! The rule syntax (fingerprint rules and stack-trace rules): what parses to
//! what, what is refused and where, and what each matcher and action does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use periscope_grouping::rules::{
    Action, Direction, FingerprintPart, FingerprintRules, FrameFlag, MAX_LINE_BYTES,
    MAX_MATCHERS_PER_RULE, MAX_RULE_TEXT_BYTES, MAX_RULES, RuleError, StacktraceContext,
    StacktraceRules,
};
use periscope_sentry_envelope::{Event, Frame};
use proptest::prelude::*;
use serde_json::{Value, json};

fn event(v: Value) -> Event {
    Event::from_slice(v.to_string().as_bytes()).unwrap()
}

/// The fingerprint the first matching rule assigns, if any.
fn fp(rules: &str, e: &Event) -> Option<Vec<String>> {
    FingerprintRules::parse(rules)
        .unwrap()
        .first_match(e)
        .map(|m| m.fingerprint.to_vec())
}

fn matches(rules: &str, e: &Event) -> bool {
    fp(rules, e).is_some()
}

fn frame(v: Value) -> Frame {
    let e = event(json!({"stacktrace": {"frames": [v]}}));
    e.stacktrace.unwrap().frames.remove(0)
}

fn named(functions: &[&str]) -> Vec<Frame> {
    functions
        .iter()
        .map(|f| frame(json!({"function": f})))
        .collect()
}

// ------------------------------------------------------------ canonical forms

#[test]
fn fingerprint_rules_print_canonically() {
    let table = [
        (
            "error.type:DatabaseUnavailable -> system-down",
            "error.type:DatabaseUnavailable -> system-down",
        ),
        (
            r#"type:"ConnectionError"   ->   system-down"#,
            "error.type:ConnectionError -> system-down",
        ),
        (
            r#"error.value:"connection error: *" -> connection-error, {{ transaction }}"#,
            r#"error.value:"connection error: *" -> connection-error, {{ transaction }}"#,
        ),
        (
            "value:x* -> {{default}},{{  error.type }}",
            "error.value:x* -> {{ default }}, {{ error.type }}",
        ),
        (
            r#"logger:my.package.* level:error -> error-logger, {{ logger }} title="Error from Logger {{ logger }}""#,
            r#"logger:my.package.* level:error -> error-logger, {{ logger }} title="Error from Logger {{ logger }}""#,
        ),
        (
            "!path:**/vendor/** module:app.* function:run package:**/lib.so -> x",
            "!stack.abs_path:**/vendor/** stack.module:app.* stack.function:run stack.package:**/lib.so -> x",
        ),
        (
            "tags.server_name:canary-* family:native,javascript app:1 -> canary",
            "tags.server_name:canary-* family:native,javascript app:yes -> canary",
        ),
        (
            r#"message:"a \"quoted\" word" sdk:sentry.python release:1.* -> "two words", "a,b""#,
            r#"message:"a \"quoted\" word" sdk:sentry.python release:1.* -> "two words", "a,b""#,
        ),
        (r"function:a\*b -> x # comment", r"stack.function:a\*b -> x"),
        (r#"function:"[ab]c" -> x"#, r#"stack.function:"[ab]c" -> x"#),
        ("type:\"\" -> empty", "error.type:\"\" -> empty"),
    ];
    for (input, canonical) in table {
        let rules = FingerprintRules::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(rules.rules()[0].text(), canonical, "{input}");
        assert_eq!(rules.to_string(), format!("{canonical}\n"));
        assert_eq!(
            FingerprintRules::parse(canonical).unwrap(),
            rules,
            "{input}"
        );
    }
}

#[test]
fn stacktrace_rules_print_canonically() {
    let table = [
        (
            "family:native stack.function:std::*       -app",
            "family:native stack.function:std::* -app",
        ),
        (
            "path:**/node_modules/** -app -group",
            "stack.abs_path:**/node_modules/** -app -group",
        ),
        (
            "function:begin_panic ^-app -app ^-group -group",
            "stack.function:begin_panic ^-app -app ^-group -group",
        ),
        (
            "function:main v-group   v+app",
            "stack.function:main v-group v+app",
        ),
        (
            "module:sentry_sdk.* category=telemetry",
            "stack.module:sentry_sdk.* category=telemetry",
        ),
        (
            "family:native max-frames=3 min-frames=1",
            "family:native max-frames=3 min-frames=1",
        ),
        (
            "[ category:telemetry ] | app:yes -group",
            "[ category:telemetry ] | app:yes -group",
        ),
        (
            "category:system | [app:true] -group",
            "category:system | [ app:yes ] -group",
        ),
        (
            "error.type:Panic !app:no +app",
            "error.type:Panic !app:no +app",
        ),
    ];
    for (input, canonical) in table {
        let rules = StacktraceRules::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(rules.rules()[0].text(), canonical, "{input}");
        assert_eq!(StacktraceRules::parse(canonical).unwrap(), rules, "{input}");
    }
    let rules = StacktraceRules::parse("function:f ^-group v+app category=x").unwrap();
    assert_eq!(
        rules.rules()[0].actions(),
        &[
            Action::Flag {
                flag: FrameFlag::Group,
                value: false,
                direction: Direction::Up
            },
            Action::Flag {
                flag: FrameFlag::App,
                value: true,
                direction: Direction::Down
            },
            Action::Category("x".into()),
        ]
    );
}

#[test]
fn comments_and_blank_lines_are_skipped_and_lines_counted() {
    let text = "# a comment\n\n   # indented comment\r\ntype:A -> a\n\ntype:B -> b # trailing\n";
    let rules = FingerprintRules::parse(text).unwrap();
    let lines: Vec<usize> = rules.rules().iter().map(|r| r.line()).collect();
    assert_eq!(lines, vec![4, 6]);
    assert!(FingerprintRules::parse("").unwrap().is_empty());
    assert!(StacktraceRules::parse("# nothing\n").unwrap().is_empty());
}

// --------------------------------------------------------------- bad syntax

fn fp_err(text: &str) -> String {
    FingerprintRules::parse(text).unwrap_err().to_string()
}

fn st_err(text: &str) -> String {
    StacktraceRules::parse(text).unwrap_err().to_string()
}

#[test]
fn malformed_fingerprint_rules_are_refused_with_their_place() {
    let table = [
        (
            "type:A -> a\n\nstack.fnction:foo -> x",
            "unknown matcher \"stack.fnction\" at 3:1; expected one of error.type (type), \
             error.value (value), message, logger, level, tags.NAME, stack.abs_path (path), \
             stack.module (module), stack.function (function), stack.package (package), \
             family, app, sdk, release",
        ),
        (
            "type:A -> a\nmessage:\"oops -> x",
            "unterminated quote at 2:9; close it with \" (write \\\" for a quote inside)",
        ),
        (
            "type:A",
            "missing \"->\" at 1:7; a fingerprint rule is: matchers -> part, part ... [title=\"...\"]",
        ),
        (
            "type:A->x",
            "missing \"->\" at 1:10; a fingerprint rule is: matchers -> part, part ... [title=\"...\"]",
        ),
        (
            "-> x",
            "missing matchers at 1:1; a rule starts with at least one matcher such as error.type:ValueError",
        ),
        (
            "type:A ->   ",
            "missing fingerprint part at 1:13; give at least one part, e.g. -> my-group or -> {{ default }}, {{ transaction }}",
        ),
        (
            "type:A -> a,",
            "missing fingerprint part at 1:13; give at least one part, e.g. -> my-group or -> {{ default }}, {{ transaction }}",
        ),
        (
            "type:A -> connection error",
            "expected \",\" between fingerprint parts at 1:22; separate parts with \",\", quote parts containing spaces, or add title=\"...\"",
        ),
        (
            "type:A -> a colour=\"red\"",
            "unknown attribute \"colour\" at 1:13; expected title=\"...\"",
        ),
        (
            "type:A -> a title=x title=y",
            "attribute \"title\" given twice at 1:21",
        ),
        (
            "type:A -> {{ default",
            "unterminated {{ at 1:11; close it with }}",
        ),
        (
            "type -> a",
            "expected \":\" after matcher \"type\" at 1:1; write type:VALUE",
        ),
        (
            "type: -> a",
            "missing value for \"type\" at 1:1; quote an empty or spaced value: \"like this\"",
        ),
        (
            "app:maybe -> a",
            "invalid value \"maybe\" for \"app\" at 1:5; expected yes, no, true, false, 1 or 0",
        ),
        (
            "family:web -> a",
            "invalid value \"web\" for \"family\" at 1:8; expected native, javascript, other or all, separated by commas",
        ),
        (
            "function:ab[cd -> a",
            "unterminated [ in pattern (write \\[ for a literal [) at 1:12",
        ),
        (
            "function:\"x]\" -> a",
            "unmatched ] in pattern (write \\] for a literal ]) at 1:12",
        ),
        (
            "category:ui -> a",
            "matcher \"category\" is not available here at 1:1; it is only available in stack-trace rules",
        ),
        (
            "[ app:yes ] | function:f -> a",
            "unexpected \"[\" at 1:1; caller/callee matching is only available in stack-trace rules",
        ),
        (
            "type:\"A\"B -> a",
            "unexpected text after closing quote at 1:9; put a space after the closing quote",
        ),
    ];
    for (text, message) in table {
        assert_eq!(fp_err(text), message, "{text}");
    }
}

#[test]
fn malformed_stacktrace_rules_are_refused_with_their_place() {
    let table = [
        (
            "function:foo",
            "missing actions at 1:13; expected one of +app, -app, +group, -group (each also with ^ \
             for the frames towards the crash or v for the frames away from it), category=NAME, \
             max-frames=N, min-frames=N",
        ),
        (
            "function:foo +ap",
            "unknown action \"+ap\" at 1:14; expected one of +app, -app, +group, -group (each also \
             with ^ for the frames towards the crash or v for the frames away from it), \
             category=NAME, max-frames=N, min-frames=N",
        ),
        (
            "function:foo app",
            "expected \":\" after matcher \"app\" at 1:14; write app:VALUE",
        ),
        (
            "function:foo frobnicate",
            "unknown action \"frobnicate\" at 1:14; expected one of +app, -app, +group, -group (each also \
             with ^ for the frames towards the crash or v for the frames away from it), \
             category=NAME, max-frames=N, min-frames=N",
        ),
        (
            "-app",
            "missing matchers at 1:1; a rule starts with at least one matcher such as error.type:ValueError",
        ),
        (
            "function:foo -app module:x",
            "matcher after actions at 1:19; matchers come before actions",
        ),
        (
            "function:foo +app -app",
            "action \"-app\" conflicts with an earlier action at 1:19; a rule sets each flag once per direction, and each variable once",
        ),
        (
            "function:foo max-frames=lots",
            "invalid value \"lots\" for \"max-frames\" at 1:25; expected a whole number",
        ),
        (
            "function:foo category=\"my cat\"",
            "invalid value \"\\\"my\" for \"category\" at 1:23; expected a name of letters, digits, _ . or -",
        ),
        (
            "message:oops -group",
            "matcher \"message\" is not available here at 1:1; it is only available in fingerprint rules",
        ),
        (
            "[ app:yes function:f -group",
            "expected \"]\" to close \"[\" at 1:22; write [ caller matchers ] | matchers | [ callee matchers ] actions",
        ),
        (
            "[ app:yes ] function:f -group",
            "expected \"|\" after the caller's \"]\" at 1:13; write [ caller matchers ] | matchers | [ callee matchers ] actions",
        ),
        (
            "[ ] | function:f -group",
            "expected a matcher inside \"[ ]\" at 1:4; write [ caller matchers ] | matchers | [ callee matchers ] actions",
        ),
        (
            "function:f | app:yes -group",
            "expected \"[\" after \"|\" at 1:14; write [ caller matchers ] | matchers | [ callee matchers ] actions",
        ),
        (
            "function:f | [ error.type:X ] -group",
            "matcher \"error.type\" is not available here at 1:16; it is only available in the middle part of a stack-trace rule, not inside [ ]",
        ),
        (
            "stack.fnction:x -app",
            "unknown matcher \"stack.fnction\" at 1:1; expected one of stack.abs_path (path), \
             stack.module (module), stack.function (function), stack.package (package), family, \
             app, category, error.type (type), error.value (value)",
        ),
    ];
    for (text, message) in table {
        assert_eq!(st_err(text), message, "{text}");
    }
}

#[test]
fn errors_carry_line_and_column_as_fields() {
    let e: RuleError = StacktraceRules::parse("function:a -app\n  function:ü[ -app").unwrap_err();
    assert_eq!((e.line, e.column), (2, 13));
    assert!(!e.is_limit());
}

#[test]
fn limits_are_enforced_with_their_place() {
    let many = "type:A -> a\n".repeat(MAX_RULES + 1);
    let e = FingerprintRules::parse(&many).unwrap_err();
    assert_eq!(e.to_string(), "more than 200 rules at 201:1");
    assert!(e.is_limit());
    assert_eq!(
        FingerprintRules::parse(&"type:A -> a\n".repeat(MAX_RULES))
            .unwrap()
            .len(),
        MAX_RULES
    );

    let long = format!("type:{} -> a", "x".repeat(MAX_LINE_BYTES));
    assert_eq!(
        fp_err(&long),
        format!("line longer than 2048 bytes at 1:{}", MAX_LINE_BYTES + 1)
    );

    let huge = format!("{}\n", "# padding\n".repeat(MAX_RULE_TEXT_BYTES / 10 + 1));
    let e = StacktraceRules::parse(&huge).unwrap_err();
    assert_eq!(e.to_string(), "rule text longer than 65536 bytes at 6554:7");

    let matchers = "type:A ".repeat(MAX_MATCHERS_PER_RULE + 1);
    assert_eq!(
        fp_err(&format!("{matchers}-> a")),
        "more than 16 matchers in one rule at 1:113"
    );
    let parts = vec!["p"; 17].join(", ");
    assert_eq!(
        fp_err(&format!("type:A -> {parts}")),
        "more than 16 fingerprint parts in one rule at 1:59"
    );
    let st = "app:yes ".repeat(MAX_MATCHERS_PER_RULE + 1);
    assert_eq!(
        st_err(&format!("{st}-app")),
        "more than 16 matchers in one rule at 1:129"
    );
}

// --------------------------------------------------- fingerprint: matchers

fn exc(ty: &str, value: &str) -> Event {
    event(json!({"platform": "python", "exception": {"values": [{"type": ty, "value": value}]}}))
}

#[test]
fn error_type_is_a_case_sensitive_glob_over_any_exception() {
    let e = event(json!({"exception": {"values": [
        {"type": "KeyError", "value": "k"}, {"type": "ValueError", "value": "v"}]}}));
    assert!(matches("error.type:KeyError -> a", &e));
    assert!(matches("type:Value* -> a", &e));
    assert!(!matches("type:valueerror -> a", &e));
    assert!(!matches("type:IOError -> a", &e));
    assert!(
        matches("!type:KeyError -> a", &e),
        "ValueError is not KeyError"
    );
    assert!(!matches("!type:*Error -> a", &e));
    assert!(!matches("!type:X -> a", &event(json!({"message": "m"}))));
}

#[test]
fn type_and_value_must_hold_for_the_same_exception() {
    let e = event(json!({"exception": {"values": [
        {"type": "KeyError", "value": "a"}, {"type": "ValueError", "value": "b"}]}}));
    assert!(matches("type:KeyError value:a -> x", &e));
    assert!(!matches("type:KeyError value:b -> x", &e));
}

#[test]
fn error_value_is_case_insensitive_with_quoting() {
    let e = exc("E", "Connection error (code: 42)");
    assert!(matches(
        r#"error.value:"connection error (code: *)" -> a"#,
        &e
    ));
    assert!(matches(r#"value:"CONNECTION ERROR*" -> a"#, &e));
    assert!(!matches(r#"value:"connection refused*" -> a"#, &e));
    assert!(matches(r#"!value:"connection refused*" -> a"#, &e));
    let q = exc("E", r#"say "hi" \ bye"#);
    assert!(matches(r#"value:"say \"hi\" \\ bye" -> a"#, &q));
    assert!(matches(r#"value:say\ \"hi\"* -> a"#, &q));
}

#[test]
fn message_matches_the_log_message_or_an_exception_value() {
    let m = event(json!({"logentry": {"formatted": "System encountered a fatal problem: disk"}}));
    assert!(matches(
        r#"message:"system encountered a fatal problem: *" -> fatal"#,
        &m
    ));
    assert!(!matches("message:other -> a", &m));
    assert!(matches("!message:other -> a", &m));
    assert!(matches("message:oops* -> a", &exc("E", "Oops, again")));
}

#[test]
fn logger_level_sdk_release_and_tags() {
    let e = event(json!({
        "logger": "com.myapp.mypackage.Foo", "level": "warning", "release": "app@1.2.3",
        "sdk": {"name": "sentry.python", "version": "1.0"},
        "tags": {"server_name": "canary-3.mycompany.internal", "env": "prod"}
    }));
    assert!(matches("logger:com.myapp.mypackage.* -> a", &e));
    assert!(!matches("logger:COM.myapp.* -> a", &e));
    assert!(matches("level:WARNING -> a", &e));
    assert!(!matches("level:error -> a", &e));
    assert!(matches("!level:error -> a", &e));
    assert!(matches("sdk:sentry.* -> a", &e));
    assert!(!matches("sdk:sentry.java -> a", &e));
    assert!(matches("release:app@1.* -> a", &e));
    assert!(!matches("release:app@2.* -> a", &e));
    assert!(matches(
        r#"tags.server_name:"canary-*.mycompany.internal" -> canary"#,
        &e
    ));
    assert!(!matches("tags.env:staging -> a", &e));
    assert!(!matches("tags.missing:* -> a", &e));
    assert!(matches("!tags.missing:* -> a", &e));
    assert!(matches("logger:com.* level:warning tags.env:prod -> a", &e));
    assert!(!matches("logger:com.* level:error tags.env:prod -> a", &e));
}

fn stack_event(platform: &str, frames: Value) -> Event {
    event(json!({"platform": platform, "exception": {"values": [
        {"type": "E", "value": "v", "stacktrace": {"frames": frames}}]}}))
}

#[test]
fn frame_matchers_must_hold_for_one_frame() {
    let e = stack_event(
        "python",
        json!([
            {"function": "connect", "module": "db.pool", "in_app": false},
            {"function": "handler", "module": "bot", "in_app": true}
        ]),
    );
    assert!(matches("function:connect -> a", &e));
    assert!(!matches("function:Connect -> a", &e), "case-sensitive");
    assert!(matches("module:db.* -> a", &e));
    assert!(matches("function:connect module:db.pool -> a", &e));
    assert!(!matches("function:connect module:bot -> a", &e));
    assert!(matches("app:yes function:handler -> a", &e));
    assert!(!matches("app:yes function:connect -> a", &e));
    assert!(matches("app:no function:connect -> a", &e));
    assert!(
        matches("!function:connect -> a", &e),
        "handler is not connect"
    );
    assert!(!matches("!function:* -> a", &e));
}

#[test]
fn module_star_crosses_slashes_but_path_star_does_not() {
    let e = stack_event(
        "javascript",
        json!([{"module": "app/my-utils/sub/x", "abs_path": "/srv/app/My-Utils/sub/x.js"}]),
    );
    assert!(matches("module:*/my-utils/* -> a", &e));
    assert!(!matches("module:*/My-Utils/* -> a", &e));
    assert!(
        matches("path:**/my-utils/**.js -> a", &e),
        "case-insensitive"
    );
    assert!(!matches("path:**/my-utils/*.js -> a", &e), "* stops at /");
    assert!(matches("path:**/my-utils/*/*.js -> a", &e));
    assert!(matches("path:/srv/** -> a", &e));
    assert!(
        !matches("path:srv/** -> a", &e),
        "the whole path must match"
    );
}

#[test]
fn path_matches_abs_path_or_filename_and_relative_paths_match_double_star() {
    let rel = stack_event("python", json!([{"filename": "foo.py"}]));
    assert!(matches("stack.abs_path:**/foo.py -> a", &rel));
    assert!(matches("path:foo.py -> a", &rel));
    let both = stack_event(
        "python",
        json!([{"filename": "app/views.py", "abs_path": "/opt/x/app/views.py"}]),
    );
    assert!(matches("path:app/views.py -> a", &both), "filename");
    assert!(matches("path:/opt/** -> a", &both), "abs_path");
    let windows = stack_event("native", json!([{"abs_path": "C:\\src\\Game\\main.cpp"}]));
    assert!(matches("path:**/game/*.cpp -> a", &windows));
}

#[test]
fn package_is_a_path() {
    let e = stack_event("cocoa", json!([{"package": "/usr/lib/libcurl.dylib"}]));
    assert!(matches("stack.package:**/libcurl.dylib -> libcurl", &e));
    assert!(matches("package:**/LIBCURL.dylib -> libcurl", &e));
    assert!(!matches("package:**/libcurl.so -> libcurl", &e));
}

#[test]
fn family_reads_the_frame_platform_else_the_event_platform() {
    let native = stack_event("cocoa", json!([{"function": "main"}]));
    assert!(matches("family:native -> a", &native));
    assert!(matches("family:javascript,native -> a", &native));
    assert!(!matches("family:javascript -> a", &native));
    assert!(matches("!family:javascript -> a", &native));
    assert!(matches("family:all -> a", &native));
    let mixed = stack_event(
        "javascript",
        json!([{"function": "a", "platform": "native"}, {"function": "b"}]),
    );
    assert!(matches("family:native function:a -> x", &mixed));
    assert!(!matches("family:native function:b -> x", &mixed));
    assert!(!matches("family:native -> x", &mixed), "event platform");
    for (platform, family) in [
        ("c", "native"),
        ("objc", "native"),
        ("swift", "native"),
        ("node", "javascript"),
        ("rust", "other"),
        ("go", "other"),
        ("python", "other"),
    ] {
        let e = event(json!({"platform": platform, "message": "m"}));
        assert!(matches(&format!("family:{family} -> a"), &e), "{platform}");
    }
}

#[test]
fn frames_of_threads_and_the_top_level_stacktrace_count() {
    let e = event(json!({
        "stacktrace": {"frames": [{"function": "top"}]},
        "threads": {"values": [{"id": 1, "stacktrace": {"frames": [{"function": "threaded"}]}}]}
    }));
    assert!(matches("function:top -> a", &e));
    assert!(matches("function:threaded -> a", &e));
}

#[test]
fn first_match_gives_the_rule_the_fingerprint_and_the_title() {
    let rules = FingerprintRules::parse(
        "# db errors\n\
         error.type:DatabaseUnavailable -> system-down\n\
         logger:my.* level:error -> error-logger, {{ logger }} title=\"Error from {{ logger }}\"\n\
         stack.function:query_database -> {{ default }}, {{ transaction }}\n",
    )
    .unwrap();
    let e = event(json!({"logger": "my.app", "level": "error", "message": "m"}));
    let m = rules.first_match(&e).unwrap();
    assert_eq!((m.index, m.line), (1, 3));
    assert_eq!(m.fingerprint, ["error-logger", "{{ logger }}"]);
    assert_eq!(m.title, Some("Error from {{ logger }}"));
    assert_eq!(
        m.text,
        "logger:my.* level:error -> error-logger, {{ logger }} title=\"Error from {{ logger }}\""
    );
    let d = stack_event("python", json!([{"function": "query_database"}]));
    let m = rules.first_match(&d).unwrap();
    assert_eq!(m.fingerprint, ["{{ default }}", "{{ transaction }}"]);
    assert_eq!(
        m.rule.parts(),
        &[
            FingerprintPart::Default,
            FingerprintPart::Variable("transaction".into())
        ]
    );
    assert!(rules.first_match(&exc("Other", "x")).is_none());
    let both = event(json!({"logger": "my.app", "level": "error",
        "exception": {"values": [{"type": "DatabaseUnavailable"}]}}));
    assert_eq!(rules.first_match(&both).unwrap().index, 0, "first wins");
}

#[test]
fn escaped_glob_characters_are_literal() {
    let e = exc("E", "a*b [x] {y}");
    assert!(matches(r#"value:"a\*b \[x\] \{y\}" -> a"#, &e));
    assert!(matches(
        r#"value:"a\*b [x] {y}" -> a"#,
        &exc("E", "a*b x {y}")
    ));
    assert!(!matches(r#"value:"a\*b*" -> a"#, &exc("E", "aXb")));
}

// ------------------------------------------------- stack-trace rules: actions

fn decisions(rules: &str, frames: &[Frame]) -> Vec<(Option<bool>, Option<bool>)> {
    StacktraceRules::parse(rules)
        .unwrap()
        .apply(Some("python"), frames)
        .into_iter()
        .map(|d| (d.in_app, d.contributes))
        .collect()
}

#[test]
fn plus_and_minus_app_set_in_app() {
    let f = named(&["std::a", "myapp::b", "std::c"]);
    assert_eq!(
        decisions("function:std::* -app", &f),
        vec![(Some(false), None), (None, None), (Some(false), None)]
    );
    assert_eq!(
        decisions("function:myapp::* +app", &f),
        vec![(None, None), (Some(true), None), (None, None)]
    );
}

#[test]
fn plus_and_minus_group_set_contribution() {
    let f = named(&["malloc", "main"]);
    assert_eq!(
        decisions("function:malloc -group", &f),
        vec![(None, Some(false)), (None, None)]
    );
    assert_eq!(
        decisions("function:main +group", &f),
        vec![(None, None), (None, Some(true))]
    );
}

#[test]
fn caret_applies_towards_the_crash_and_v_away_from_it() {
    // Payload order: outermost caller first, crash frame last.
    let f = named(&["main", "run", "begin_panic", "panic_fmt", "abort"]);
    assert_eq!(
        decisions("function:begin_panic ^-group -group", &f),
        vec![
            (None, None),
            (None, None),
            (None, Some(false)),
            (None, Some(false)),
            (None, Some(false))
        ]
    );
    assert_eq!(
        decisions("function:run v-group", &f),
        vec![
            (None, Some(false)),
            (None, None),
            (None, None),
            (None, None),
            (None, None)
        ]
    );
    assert_eq!(
        decisions("function:run v-app ^+app", &f),
        vec![
            (Some(false), None),
            (None, None),
            (Some(true), None),
            (Some(true), None),
            (Some(true), None)
        ]
    );
}

#[test]
fn later_rules_override_earlier_ones_and_name_themselves() {
    let rules = StacktraceRules::parse(
        "app:no +app\nstack.function:std::* -app\n\nfunction:std::keep +app -group",
    )
    .unwrap();
    let f = named(&["std::x", "mine", "std::keep"]);
    let d = rules.apply(None, &f);
    assert_eq!(d[0].in_app, Some(false));
    assert_eq!(d[0].in_app_rule.as_ref().unwrap().line, 2);
    assert_eq!(d[1].in_app, Some(true));
    assert_eq!(d[1].in_app_rule.as_ref().unwrap().index, 0);
    assert_eq!(&*d[1].in_app_rule.as_ref().unwrap().text, "app:no +app");
    assert_eq!(d[2].in_app, Some(true));
    assert_eq!(d[2].in_app_rule.as_ref().unwrap().line, 4);
    assert_eq!(d[2].contributes, Some(false));
    assert_eq!(d[2].contributes_rule.as_ref().unwrap().index, 2);
    assert_eq!(d[0].contributes_rule, None);
}

#[test]
fn app_matcher_sees_earlier_rules_and_the_client_flag() {
    let client = vec![
        frame(json!({"function": "a", "in_app": true})),
        frame(json!({"function": "b", "in_app": false})),
        frame(json!({"function": "c"})),
    ];
    assert_eq!(
        decisions("app:yes -group", &client),
        vec![(None, Some(false)), (None, None), (None, None)]
    );
    assert_eq!(
        decisions("function:b +app\napp:yes -group", &client),
        vec![(None, Some(false)), (Some(true), Some(false)), (None, None)]
    );
}

#[test]
fn category_is_set_then_matched() {
    let rules = StacktraceRules::parse(
        "module:sentry_sdk.* category=telemetry\ncategory:telemetry -group\n[ category:telemetry ] | app:yes -group",
    )
    .unwrap();
    let f = vec![
        frame(json!({"module": "app.main", "in_app": true})),
        frame(json!({"module": "sentry_sdk.hub"})),
        frame(json!({"module": "app.callback", "in_app": true})),
    ];
    let d = rules.apply(None, &f);
    assert_eq!(d[1].category.as_deref(), Some("telemetry"));
    assert_eq!(d[1].category_rule.as_ref().unwrap().line, 1);
    assert_eq!(d[1].contributes, Some(false));
    assert_eq!(d[0].contributes, None, "its caller is not telemetry");
    assert_eq!(d[2].contributes, Some(false), "called by telemetry");
    assert_eq!(d[2].contributes_rule.as_ref().unwrap().line, 3);
}

#[test]
fn callee_matching_looks_at_the_next_frame() {
    let f = vec![
        frame(json!({"function": "sys_a"})),
        frame(json!({"function": "app_b", "in_app": true})),
        frame(json!({"function": "sys_c"})),
    ];
    assert_eq!(
        decisions("function:sys_* | [ app:yes ] -group", &f),
        vec![(None, Some(false)), (None, None), (None, None)]
    );
}

#[test]
fn family_in_stacktrace_rules_and_error_context() {
    let rules = StacktraceRules::parse("family:native function:f -app").unwrap();
    let f = vec![
        frame(json!({"function": "f"})),
        frame(json!({"function": "f", "platform": "c"})),
    ];
    let d = rules.apply(Some("python"), &f);
    assert_eq!((d[0].in_app, d[1].in_app), (None, Some(false)));
    let d = rules.apply(Some("cocoa"), &f);
    assert_eq!((d[0].in_app, d[1].in_app), (Some(false), Some(false)));

    let rules = StacktraceRules::parse("error.type:Panic function:f -group").unwrap();
    assert_eq!(rules.apply(None, &f)[0].contributes, None);
    let ctx = StacktraceContext::new(None).with_exception(Some("Panic"), None);
    assert_eq!(rules.apply_in(&ctx, &f).frames[0].contributes, Some(false));
}

#[test]
fn max_and_min_frames_are_reported_with_their_rule() {
    let rules = StacktraceRules::parse(
        "family:native max-frames=3\nfamily:native stack.function:Known* max-frames=5 min-frames=2",
    )
    .unwrap();
    let f = vec![frame(json!({"function": "KnownBad", "platform": "c"}))];
    let d = rules.apply_in(&StacktraceContext::new(Some("c")), &f);
    let max = d.max_frames.unwrap();
    assert_eq!((max.value, max.rule.line), (5, 2));
    assert_eq!(d.min_frames.unwrap().value, 2);
    let other = rules.apply_in(&StacktraceContext::new(Some("python")), &named(&["x"]));
    assert_eq!(other.max_frames, None);
}

#[test]
fn built_in_rules_can_be_prepended_and_are_named() {
    let built_in = StacktraceRules::parse("function:std::* -app")
        .unwrap()
        .with_origin("built-in");
    let project = StacktraceRules::parse("function:std::mine +app").unwrap();
    let all = StacktraceRules::concat(&built_in, &project);
    assert_eq!(all.len(), 2);
    let d = all.apply(None, &named(&["std::x", "std::mine"]));
    let r0 = d[0].in_app_rule.as_ref().unwrap();
    assert_eq!(r0.origin.as_deref(), Some("built-in"));
    assert_eq!(
        r0.to_string(),
        "built-in rule at line 1: stack.function:std::* -app"
    );
    let r1 = d[1].in_app_rule.as_ref().unwrap();
    assert_eq!((r1.index, r1.line, r1.origin.as_deref()), (1, 1, None));
    assert_eq!(d[1].in_app, Some(true));
    assert_eq!(
        all.to_string(),
        "stack.function:std::* -app\nstack.function:std::mine +app\n"
    );
}

#[test]
fn no_rule_leaves_every_decision_open() {
    let rules = StacktraceRules::parse("function:nothing -app").unwrap();
    let d = rules.apply(None, &named(&["a", "b"]));
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|d| *d == Default::default()));
}

#[test]
fn many_frames_and_ranges_stay_linear() {
    let rules =
        StacktraceRules::parse(&"function:f* ^-group v+app +group\n".repeat(MAX_RULES)).unwrap();
    let f = named(&vec!["f"; 250]);
    let started = std::time::Instant::now();
    let d = rules.apply(None, &f);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(d[0].in_app, Some(true));
    assert_eq!(d[249].contributes, Some(true));
}

// ------------------------------------------------------------------ properties

fn literal() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.:/*?\\[\\]\"\\\\,{}#!=-]{0,12}"
}

/// A pattern for a glob value: escaped literal text with some wildcards.
fn pattern() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            literal().prop_map(|s| {
                s.chars()
                    .map(|c| {
                        if "*?[]\\\"".contains(c) {
                            format!("\\{c}")
                        } else {
                            c.to_string()
                        }
                    })
                    .collect::<String>()
            }),
            Just("*".to_owned()),
            Just("**".to_owned()),
            Just("?".to_owned()),
            Just("[a-c]".to_owned()),
            Just("[!x]".to_owned()),
        ],
        0..4,
    )
    .prop_map(|v| v.concat())
}

/// A matcher of a fingerprint rule (`None`), of a stack-trace rule's middle
/// (`Some(false)`) or of its caller/callee brackets (`Some(true)`).
fn matcher(stacktrace: Option<bool>) -> impl Strategy<Value = String> {
    let glob_names: Vec<&'static str> = if let Some(group) = stacktrace {
        let mut names = vec![
            "stack.function",
            "function",
            "module",
            "path",
            "package",
            "category",
        ];
        if !group {
            names.extend(["error.type", "value"]);
        }
        names
    } else {
        vec![
            "error.type",
            "value",
            "message",
            "logger",
            "level",
            "tags.server",
            "module",
            "function",
            "path",
            "package",
            "sdk",
            "release",
        ]
    };
    prop_oneof![
        (any::<bool>(), prop::sample::select(glob_names), pattern()).prop_map(|(neg, name, p)| {
            format!("{}{name}:\"{}\"", if neg { "!" } else { "" }, p)
        }),
        prop::sample::select(vec!["app:yes", "app:0", "!app:true"]).prop_map(str::to_owned),
        prop::sample::select(vec![
            "family:native",
            "family:javascript,other",
            "family:all"
        ])
        .prop_map(str::to_owned),
    ]
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn fingerprint_rule() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(matcher(None), 1..4),
        prop::collection::vec(
            prop_oneof![
                literal().prop_map(|s| quoted(&s)),
                Just("{{ default }}".to_owned()),
                Just("{{transaction}}".to_owned()),
                Just("{{ tags.a b }}".to_owned()),
                "[a-z0-9_.-]{1,6}",
            ],
            1..4,
        ),
        prop::option::of(literal()),
    )
        .prop_map(|(ms, parts, title)| {
            let mut s = format!("{} -> {}", ms.join(" "), parts.join(", "));
            if let Some(t) = title {
                s.push_str(&format!(" title={}", quoted(&t)));
            }
            s
        })
}

fn stacktrace_rule() -> impl Strategy<Value = String> {
    (
        prop::option::of(prop::collection::vec(matcher(Some(true)), 1..2)),
        prop::collection::vec(matcher(Some(false)), 1..3),
        prop::option::of(prop::collection::vec(matcher(Some(true)), 1..2)),
        prop::sample::subsequence(
            vec![
                "+app",
                "^-app",
                "v+app",
                "-group",
                "^+group",
                "v-group",
                "category=ui",
                "max-frames=3",
                "min-frames=0",
            ],
            1..5,
        ),
    )
        .prop_map(|(caller, ms, callee, actions)| {
            let mut s = String::new();
            if let Some(c) = caller {
                s.push_str(&format!("[ {} ] | ", c.join(" ")));
            }
            s.push_str(&ms.join(" "));
            if let Some(c) = callee {
                s.push_str(&format!(" | [ {} ]", c.join(" ")));
            }
            s.push(' ');
            s.push_str(&actions.join(" "));
            s
        })
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "(.|\n){0,200}") {
        let _ = FingerprintRules::parse(&text);
        let _ = StacktraceRules::parse(&text);
    }

    #[test]
    fn rule_like_text_never_panics(
        text in "([a-z.!:\" \\[\\]|*?{}\\\\,#=^v+-]|->|app|group|type|function|\\{\\{){0,40}"
    ) {
        if let Ok(rules) = FingerprintRules::parse(&text) {
            prop_assert_eq!(FingerprintRules::parse(&rules.to_string()).unwrap(), rules);
        }
        if let Ok(rules) = StacktraceRules::parse(&text) {
            prop_assert_eq!(StacktraceRules::parse(&rules.to_string()).unwrap(), rules);
        }
    }

    #[test]
    fn fingerprint_rules_round_trip(rules in prop::collection::vec(fingerprint_rule(), 0..5)) {
        let text = rules.join("\n");
        let parsed = FingerprintRules::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let printed = parsed.to_string();
        let again = FingerprintRules::parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(&again, &parsed);
        prop_assert_eq!(again.to_string(), printed);
    }

    #[test]
    fn stacktrace_rules_round_trip(rules in prop::collection::vec(stacktrace_rule(), 0..5)) {
        let text = rules.join("\n");
        let parsed = StacktraceRules::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let printed = parsed.to_string();
        let again = StacktraceRules::parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(&again, &parsed);
        prop_assert_eq!(again.to_string(), printed);
    }

    #[test]
    fn a_quoted_literal_value_matches_itself(value in "[a-zA-Z0-9 *?\\[\\]\"\\\\{}]{0,16}") {
        let escaped: String = value
            .chars()
            .map(|c| if "*?[]\\\"".contains(c) { format!("\\{c}") } else { c.to_string() })
            .collect();
        let rule = format!("error.type:\"{escaped}\" -> x");
        let e = exc(&value, "v");
        prop_assert!(matches(&rule, &e), "{}", rule);
    }
}
