//! The literal keys (and contributing values) of a dozen events of different
//! shapes, under every grouping configuration.
//!
//! A configuration is frozen once released: every key it produces must stay
//! byte-identical, or every issue of every project using it is orphaned. The
//! keys below are literal strings, so any change of hashing, component names,
//! normalization or truncation fails here. The keys of `periscope:2026-11` and
//! `type-and-value:2026-11` were recorded before configurations were versioned
//! (when they were the strategies `default` and `type-and-value`) and have not
//! changed since. A failure for a frozen configuration is a bug; a deliberate
//! change of rules is a new configuration with its own rows.
//!
//! `PERISCOPE_PRINT_PINNED=1 cargo test -p periscope-grouping --test pinned_keys
//! -- --nocapture` prints the current rows (for a new configuration only).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use periscope_grouping::{Grouper, Grouping, GroupingConfig};
use periscope_sentry_envelope::Event;

/// The events, by name.
const EVENTS: &[(&str, &str)] = &[
    ("message", r#"{"message": "User 42 not found"}"#),
    (
        "logentry",
        r#"{"logentry": {"message": "Hello there %s!", "params": ["Bob"], "formatted": "Hello there Bob!"}}"#,
    ),
    (
        "in-app-frames",
        r#"{"platform": "python", "exception": {"values": [{"type": "KeyError", "value": "'user_id'",
            "stacktrace": {"frames": [
                {"module": "django.core.handlers", "function": "get_response", "in_app": false, "context_line": "response = handler(request)"},
                {"module": "shop.views", "function": "checkout", "in_app": true, "lineno": 42, "context_line": "  uid = request.session['user_id']"}
            ]}}]}}"#,
    ),
    (
        "system-frames",
        r#"{"platform": "java", "exception": {"values": [{"type": "java.lang.IllegalStateException", "value": "closed after 3 retries",
            "stacktrace": {"frames": [
                {"module": "java.lang.Thread", "function": "run", "in_app": false},
                {"module": "org.apache.Pool", "function": "borrow", "in_app": false}
            ]}}]}}"#,
    ),
    (
        "chained",
        r#"{"platform": "python", "exception": {"values": [
            {"type": "OSError", "value": "disk full", "stacktrace": {"frames": [{"module": "app.io", "function": "write", "in_app": true}]}},
            {"type": "RuntimeError", "value": "save failed", "stacktrace": {"frames": [{"module": "app.store", "function": "save", "in_app": true}]}}
        ]}}"#,
    ),
    (
        "exception-group",
        r#"{"platform": "python", "exception": {"values": [
            {"type": "ValueError", "value": "a", "mechanism": {"type": "chained", "exception_id": 2, "parent_id": 0}},
            {"type": "TypeError", "value": "b", "mechanism": {"type": "chained", "exception_id": 1, "parent_id": 0}},
            {"type": "ExceptionGroup", "value": "2 errors", "mechanism": {"type": "generic", "is_exception_group": true, "exception_id": 0}}
        ]}}"#,
    ),
    (
        "exception-group-malformed",
        r#"{"platform": "python", "exception": {"values": [
            {"type": "ValueError", "value": "a", "mechanism": {"type": "chained", "exception_id": 2, "parent_id": 7}},
            {"type": "TypeError", "value": "b", "mechanism": {"type": "chained", "exception_id": 1, "parent_id": 0}},
            {"type": "ExceptionGroup", "value": "2 errors", "mechanism": {"type": "generic", "is_exception_group": true, "exception_id": 0}}
        ]}}"#,
    ),
    (
        "threads",
        r#"{"platform": "native", "threads": {"values": [
            {"id": 1, "current": false, "stacktrace": {"frames": [{"function": "idle", "in_app": false}]}},
            {"id": 2, "crashed": true, "stacktrace": {"frames": [{"function": "main", "in_app": true}, {"function": "worker_loop", "in_app": true}]}}
        ]}}"#,
    ),
    (
        "custom-fingerprint",
        r#"{"message": "ignored", "transaction": "/api/orders", "fingerprint": ["rpc", "{{ transaction }}", "{{ tags.missing }}"]}"#,
    ),
    (
        "hybrid-fingerprint",
        r#"{"platform": "python", "transaction": "/api/orders", "tags": {"tenant": "acme"}, "fingerprint": ["{{ default }}", "{{ tags.tenant }}"],
            "exception": {"values": [{"type": "TimeoutError", "value": "read timed out",
            "stacktrace": {"frames": [
                {"module": "urllib3.pool", "function": "urlopen", "in_app": false},
                {"module": "app.db", "function": "query", "in_app": true}
            ]}}]}}"#,
    ),
    (
        "native-noise",
        r#"{"platform": "native", "exception": {"values": [{"type": "EXC_BAD_ACCESS", "value": "Fatal Error: EXC_BAD_ACCESS",
            "mechanism": {"type": "mach", "synthetic": true},
            "stacktrace": {"frames": [
                {"function": "main", "filename": "main.cpp", "instruction_addr": "0x1000"},
                {"function": "?A0x1f2e3d4c::render", "filename": "render.cpp"},
                {"function": "memcpy.cold.1", "package": "/usr/lib/libc.so"}
            ]}}]}}"#,
    ),
    (
        "javascript-context",
        r#"{"platform": "javascript", "exception": {"values": [{"type": "TypeError", "value": "Cannot read properties of undefined (reading 'id')",
            "stacktrace": {"frames": [
                {"function": "r.onClick", "abs_path": "https://shop.example/static/app.min.js", "filename": "/static/app.min.js", "in_app": true, "context_line": "  const id = cart.items[0].id;", "colno": 1234},
                {"function": "Cart.prototype.total", "abs_path": "https://shop.example/static/app.min.js", "in_app": true}
            ]}}]}}"#,
    ),
    (
        "java-generated",
        r#"{"platform": "java", "exception": {"values": [{"type": "java.lang.NullPointerException",
            "stacktrace": {"frames": [
                {"module": "sun.reflect.GeneratedMethodAccessor123", "function": "invoke", "in_app": false},
                {"module": "com.shop.OrderService$$EnhancerBySpringCGLIB$$8e2f1a3b", "function": "place", "in_app": true},
                {"module": "com.shop.OrderService$$FastClassBySpringCGLIB$$5a1b", "function": "invoke", "in_app": true},
                {"module": "com.shop.Order$HibernateProxy$Yb4ZdFQ7", "function": "getTotal", "in_app": true},
                {"module": "com.sun.proxy.$Proxy42", "function": "apply", "in_app": true}
            ]}}]}}"#,
    ),
    (
        "csp",
        r#"{"level": "error", "logger": "csp", "platform": "javascript", "message": "Blocked 'script' from 'evil.example'",
            "transaction": "script-src", "tags": {"effective-directive": "script-src", "blocked-uri": "https://evil.example/x.js?v=1"},
            "csp": {"document-uri": "https://shop.example/cart", "violated-directive": "script-src 'self'", "effective-directive": "script-src", "blocked-uri": "https://evil.example/x.js?v=1"}}"#,
    ),
    (
        "ios-bundle",
        r#"{"platform": "cocoa", "exception": {"values": [{"type": "NSRangeException", "value": "index 3 beyond bounds",
            "stacktrace": {"frames": [
                {"function": "UIApplicationMain", "package": "/System/Library/Frameworks/UIKit.framework/UIKit", "in_app": false},
                {"function": "-[CartController reload]", "package": "/private/var/containers/Bundle/Application/6A1B-22/Shop.app/Shop", "in_app": false},
                {"function": "objc_exception_throw", "package": "/usr/lib/libobjc.A.dylib", "in_app": false}
            ]}}]}}"#,
    ),
    ("empty", r#"{}"#),
];

/// One pinned grouping: event, configuration, key, further keys, values.
struct Pin {
    event: &'static str,
    config: &'static str,
    key: &'static str,
    other_keys: &'static [&'static str],
    values: &'static str,
}

const fn pin(
    event: &'static str,
    config: &'static str,
    key: &'static str,
    other_keys: &'static [&'static str],
    values: &'static str,
) -> Pin {
    Pin {
        event,
        config,
        key,
        other_keys,
        values,
    }
}

#[rustfmt::skip]
const PINS: &[Pin] = &[
    // periscope:2026-11 (frozen; recorded when it was the strategy `default`).
    pin("message", "periscope:2026-11", "441c8218099058c1f6a594df58b17312", &[], "message=User <int> not found"),
    pin("logentry", "periscope:2026-11", "ea8152844faf27fc73964b5c20859b03", &[], "message=Hello there Bob!"),
    pin("in-app-frames", "periscope:2026-11", "7ff623b3c36e442bc3b8261c705a8e8b", &[], "module=shop.views | function=checkout | context-line=uid = request.session['user_id'] | type=KeyError"),
    pin("system-frames", "periscope:2026-11", "1d63345b565683918eb468ed9d1cbe87", &[], "module=java.lang.Thread | function=run | module=org.apache.Pool | function=borrow | type=java.lang.IllegalStateException"),
    pin("chained", "periscope:2026-11", "1c170b258c3d38de2edc497b9af88356", &[], "module=app.io | function=write | type=OSError | module=app.store | function=save | type=RuntimeError"),
    pin("exception-group", "periscope:2026-11", "094e2bf2cdf4c6999b7576cc0fb731a2", &[], "type=ValueError | value=a | type=TypeError | value=b"),
    pin("exception-group-malformed", "periscope:2026-11", "094e2bf2cdf4c6999b7576cc0fb731a2", &[], "type=ValueError | value=a | type=TypeError | value=b"),
    pin("threads", "periscope:2026-11", "6fe7c7d45ba9684c66f4f47550ee78f9", &[], "function=main | function=worker_loop"),
    pin("custom-fingerprint", "periscope:2026-11", "c5877c8629a1d37a6e213c865d1173dd", &[], "fingerprint=rpc | fingerprint=/api/orders | fingerprint=<no-value-for-tag-missing>"),
    pin("hybrid-fingerprint", "periscope:2026-11", "8e3b94e735320ad7af602e90f1a8ec06", &[], "module=app.db | function=query | type=TimeoutError | fingerprint=acme"),
    pin("native-noise", "periscope:2026-11", "dbd31333d30a5fab321cc67ab2bcece7", &[], "function=main | function=(anonymous namespace)::render | function=memcpy"),
    pin("javascript-context", "periscope:2026-11", "39543ec8f7945e0d43289629883bd3d6", &[], "function=onClick | context-line=const id = cart.items[0].id; | function=total | type=TypeError"),
    pin("java-generated", "periscope:2026-11", "2d1c0bb43fc65c08711770c1c1db2455", &[], "module=<auto> | function=place | module=<auto> | function=invoke | module=<auto> | function=getTotal | module=<auto> | function=apply | type=java.lang.NullPointerException"),
    pin("csp", "periscope:2026-11", "5cf7a32b3dd82e27d86c66090b2c4910", &[], "message=Blocked 'script' from 'evil.example'"),
    pin("ios-bundle", "periscope:2026-11", "c7e3fa6a48d2d3c6fd24245a345c9fd4", &[], "function=UIApplicationMain | function=-[CartController reload] | function=objc_exception_throw | type=NSRangeException"),
    pin("empty", "periscope:2026-11", "678f87c775d1897676421de49297fde2", &[], "fallback=<no grouping information>"),
    // type-and-value:2026-11 (frozen; recorded when it was the strategy `type-and-value`).
    pin("message", "type-and-value:2026-11", "441c8218099058c1f6a594df58b17312", &[], "message=User <int> not found"),
    pin("logentry", "type-and-value:2026-11", "ea8152844faf27fc73964b5c20859b03", &[], "message=Hello there Bob!"),
    pin("in-app-frames", "type-and-value:2026-11", "c69d7c097ecb761e72e7ea5659b70a8b", &[], "type=KeyError | value='user_id'"),
    pin("system-frames", "type-and-value:2026-11", "2615e8387f6eb4f8e74f140b1779e217", &[], "type=java.lang.IllegalStateException | value=closed after <int> retries"),
    pin("chained", "type-and-value:2026-11", "0484cb9a57cc0eed507a722b410265ef", &[], "type=RuntimeError | value=save failed"),
    pin("exception-group", "type-and-value:2026-11", "dc9231931674dc34f3cb937b62ce04c5", &[], "type=TypeError | value=b"),
    pin("exception-group-malformed", "type-and-value:2026-11", "dc9231931674dc34f3cb937b62ce04c5", &[], "type=TypeError | value=b"),
    pin("threads", "type-and-value:2026-11", "678f87c775d1897676421de49297fde2", &[], "fallback=<no grouping information>"),
    pin("custom-fingerprint", "type-and-value:2026-11", "c5877c8629a1d37a6e213c865d1173dd", &[], "fingerprint=rpc | fingerprint=/api/orders | fingerprint=<no-value-for-tag-missing>"),
    pin("hybrid-fingerprint", "type-and-value:2026-11", "f0ad4951510227c83867deb2ce072958", &[], "type=TimeoutError | value=read timed out | fingerprint=acme"),
    pin("native-noise", "type-and-value:2026-11", "72a2e67c696111d12ef014f790222a0e", &[], "type=EXC_BAD_ACCESS | value=Fatal Error: EXC_BAD_ACCESS"),
    pin("javascript-context", "type-and-value:2026-11", "6e807f82a2a199502333de00e076e5ac", &[], "type=TypeError | value=Cannot read properties of undefined (reading 'id')"),
    pin("java-generated", "type-and-value:2026-11", "82c02a1ad069556f318b5d674be66750", &[], "type=java.lang.NullPointerException"),
    pin("csp", "type-and-value:2026-11", "5cf7a32b3dd82e27d86c66090b2c4910", &[], "message=Blocked 'script' from 'evil.example'"),
    pin("ios-bundle", "type-and-value:2026-11", "ca07bffa1b2b45a1c3a65e582332be82", &[], "type=NSRangeException | value=index <int> beyond bounds"),
    pin("empty", "type-and-value:2026-11", "678f87c775d1897676421de49297fde2", &[], "fallback=<no grouping information>"),
    // periscope:2026-12 (frozen since its release).
    pin("message", "periscope:2026-12", "ad4eb866802b94ca9463672c5ad2c3fc", &[], "message=User <int> not found"),
    pin("logentry", "periscope:2026-12", "4d14363a6b8d64bc6018024257801254", &[], "message=Hello there %s!"),
    pin("in-app-frames", "periscope:2026-12", "9a340fd4700bff9387331466ca0b030d", &["a8ad6f7a654a408fb5a70befdf8e5f32"], "module=shop.views | function=checkout | context-line=uid = request.session['user_id'] | type=KeyError"),
    pin("system-frames", "periscope:2026-12", "158fb405e7d2eef5f156d20aa675dbcd", &[], "module=java.lang.Thread | function=run | module=org.apache.Pool | function=borrow | type=java.lang.IllegalStateException"),
    pin("chained", "periscope:2026-12", "8d984b54a94b5c2e9029430f3a7160de", &[], "module=app.io | function=write | type=OSError | module=app.store | function=save | type=RuntimeError"),
    pin("exception-group", "periscope:2026-12", "dbd24ce1da5600d7a16a36b49f11fca7", &[], "type=ValueError | value=a | type=TypeError | value=b"),
    pin("exception-group-malformed", "periscope:2026-12", "0964ecc29de5a6a78926ce8af785984f", &[], "type=ExceptionGroup | value=<int> errors"),
    pin("threads", "periscope:2026-12", "fe2d020d7c8a3c9a8c67cf3672839226", &[], "function=main | function=worker_loop"),
    pin("custom-fingerprint", "periscope:2026-12", "1c17e3cf9237586ea76a5a1ebd1bacb7", &[], "fingerprint=rpc | fingerprint=/api/orders | fingerprint=<no-value-for-tag-missing>"),
    pin("hybrid-fingerprint", "periscope:2026-12", "a59c5a12e9f58d85e358dad2d6cf01d5", &["57abd88422e21acfbdffdc9651300882"], "module=app.db | function=query | type=TimeoutError | fingerprint=acme"),
    pin("native-noise", "periscope:2026-12", "13b08fc8d124aa409ef20334a1e200a2", &[], "function=main | function=(anonymous namespace)::render | function=memcpy"),
    pin("javascript-context", "periscope:2026-12", "325d5e8c3689f5f02f023588d714e7ba", &[], "context-line=const id = cart.items[0].id; | function=total | type=TypeError"),
    pin("java-generated", "periscope:2026-12", "5d782f570ac56594385ea4f8c803c41a", &["7e9a194bc0f4f44c251a746126bae12b"], "module=com.shop.OrderService$$EnhancerBySpringCGLIB$$<auto> | function=place | module=com.shop.OrderService$$FastClassBySpringCGLIB$$<auto> | function=invoke | module=com.shop.Order$HibernateProxy$<auto> | function=getTotal | module=com.sun.proxy.$Proxy<auto> | function=apply | type=java.lang.NullPointerException"),
    pin("csp", "periscope:2026-12", "ba944f692849ebb5847ef5ebd96bf67d", &[], "directive=script-src | uri=evil.example"),
    pin("ios-bundle", "periscope:2026-12", "a50db008462ef594d1406b181a1a663c", &["7adb61f9a346a0935bde54dfeacf6d77"], "function=-[CartController reload] | type=NSRangeException"),
    pin("empty", "periscope:2026-12", "c42bd120806da10d20fb2e338926adff", &[], "fallback=<no grouping information>"),
];

fn group(config: &str, json: &str) -> Grouping {
    let event = Event::from_slice(json.as_bytes()).unwrap();
    Grouper::new(GroupingConfig::new(config.parse().unwrap())).group(&event)
}

/// The contributing values as `name=value` separated by ` | `.
fn render_values(g: &Grouping) -> String {
    g.contributing_values()
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(" | ")
}

fn other_keys(g: &Grouping) -> Vec<String> {
    g.keys().skip(1).map(str::to_owned).collect()
}

#[test]
fn print_current_rows_when_asked() {
    if std::env::var_os("PERISCOPE_PRINT_PINNED").is_none() {
        return;
    }
    for config in CONFIGS {
        for (name, json) in EVENTS {
            let g = group(config, json);
            println!(
                "    pin({name:?}, {config:?}, {:?}, &{:?}, {:?}),",
                g.key,
                other_keys(&g),
                render_values(&g)
            );
        }
    }
}

const CONFIGS: &[&str] = &[
    "periscope:2026-11",
    "type-and-value:2026-11",
    "periscope:2026-12",
];

#[test]
fn every_event_is_pinned_under_every_configuration() {
    for config in CONFIGS {
        for (name, _) in EVENTS {
            assert!(
                PINS.iter().any(|p| p.event == *name && p.config == *config),
                "no pinned row for {name} under {config}"
            );
        }
    }
}

#[test]
fn keys_and_values_are_pinned() {
    let mut failures = Vec::new();
    for p in PINS {
        let json = EVENTS
            .iter()
            .find(|(n, _)| *n == p.event)
            .map(|(_, j)| *j)
            .unwrap_or_else(|| panic!("no event {}", p.event));
        let g = group(p.config, json);
        let got = (g.key.as_str(), other_keys(&g), render_values(&g));
        let want = (
            p.key,
            p.other_keys
                .iter()
                .map(|k| (*k).to_owned())
                .collect::<Vec<_>>(),
            p.values.to_owned(),
        );
        if got.0 != want.0 || got.1 != want.1 || got.2 != want.2 {
            failures.push(format!(
                "{} under {}:\n  want {want:?}\n  got  {got:?}",
                p.event, p.config
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
