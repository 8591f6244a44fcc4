//! One test per rule that `periscope:2026-12` adds to `periscope:2026-11`,
//! each also showing that the frozen configuration did not change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use periscope_grouping::{ConfigId, Grouper, Grouping, GroupingConfig};
use periscope_sentry_envelope::Event;
use serde_json::{Value, json};

const NEW: ConfigId = ConfigId::Periscope2026_12;
const OLD: ConfigId = ConfigId::Periscope2026_11;

fn group_with(config: ConfigId, event: &Value) -> Grouping {
    let event = Event::from_slice(event.to_string().as_bytes()).unwrap();
    Grouper::new(GroupingConfig::new(config)).group(&event)
}

fn values(config: ConfigId, event: &Value) -> Vec<(String, String)> {
    group_with(config, event)
        .contributing_values()
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

// ------------------------------------------------------------------ messages

#[test]
fn messages_group_by_their_template() {
    let hello = |name: &str| {
        json!({"logentry": {"message": "Hello there %s!", "params": [name],
                            "formatted": format!("Hello there {name}!")}})
    };
    let (bob, alice) = (hello("Bob"), hello("Alice"));
    let g = group_with(NEW, &bob);
    assert_eq!(g.key, group_with(NEW, &alice).key);
    assert_eq!(g.title, "Hello there Bob!", "the title stays formatted");
    assert_eq!(
        g.explanation
            .find("message")
            .and_then(|c| c.hint.as_deref()),
        Some("the message template (logentry.message) counts, not the formatted text")
    );
    assert_eq!(values(NEW, &bob), pairs(&[("message", "Hello there %s!")]));
    // The frozen configuration groups by the formatted text.
    assert_ne!(group_with(OLD, &bob).key, group_with(OLD, &alice).key);
}

#[test]
fn a_template_without_params_or_formatted_text_is_the_message() {
    let only_template = json!({"logentry": {"message": "Cache 7 cold"}});
    assert_eq!(
        values(NEW, &only_template),
        pairs(&[("message", "Cache <int> cold")])
    );
    let g = group_with(NEW, &only_template);
    assert_eq!(
        g.explanation.find("message").unwrap().hint.as_deref(),
        Some("stripped event-specific values")
    );
    let only_formatted = json!({"message": "Cache 7 cold"});
    assert_eq!(group_with(NEW, &only_formatted).key, g.key);
    // Params without a formatted text: the template is still what counts.
    let params = json!({"logentry": {"message": "Cache %s cold", "params": [7]}});
    assert_eq!(values(NEW, &params), pairs(&[("message", "Cache %s cold")]));
    let hint = |e: &Value| {
        group_with(NEW, e)
            .explanation
            .find("message")
            .and_then(|c| c.hint.clone())
    };
    let template_hint = "the message template (logentry.message) counts, not the formatted text";
    assert_eq!(hint(&params).as_deref(), Some(template_hint));
    let formatted = json!({"logentry": {"message": "Cache %s cold", "formatted": "Cache 7 cold"}});
    assert_eq!(hint(&formatted).as_deref(), Some(template_hint));
    // A blank template falls back to the formatted text.
    let blank = json!({"logentry": {"message": "  ", "formatted": "Cache 7 cold"}});
    assert_eq!(group_with(NEW, &blank).key, g.key);
}

// ------------------------------------------------------ Java generated names

fn java(module: &str, function: &str) -> Value {
    json!({"platform": "java", "exception": {"values": [{"type": "java.lang.IllegalStateException",
        "stacktrace": {"frames": [{"module": module, "function": function, "in_app": true}]}}]}})
}

#[test]
fn java_generated_names_keep_their_stable_prefix() {
    for (module, masked) in [
        (
            "com.shop.OrderService$$EnhancerBySpringCGLIB$$8e2f1a3b",
            "com.shop.OrderService$$EnhancerBySpringCGLIB$$<auto>",
        ),
        (
            "com.shop.OrderService$$FastClassBySpringCGLIB$$5a1b_2",
            "com.shop.OrderService$$FastClassBySpringCGLIB$$<auto>",
        ),
        (
            "com.shop.Cart$$EnhancerByCGLIB$$a1b2c3",
            "com.shop.Cart$$EnhancerByCGLIB$$<auto>",
        ),
        (
            "com.shop.Order$HibernateProxy$Yb4ZdFQ7",
            "com.shop.Order$HibernateProxy$<auto>",
        ),
        (
            "com.shop.Order_$$_jvst3c1_12",
            "com.shop.Order_$$_jvst<auto>",
        ),
        (
            "com.shop.Order_$$_javassist_42",
            "com.shop.Order_$$_javassist_<auto>",
        ),
        (
            "sun.reflect.GeneratedMethodAccessor123",
            "sun.reflect.GeneratedMethodAccessor<auto>",
        ),
        (
            "jdk.internal.reflect.GeneratedConstructorAccessor7",
            "jdk.internal.reflect.GeneratedConstructorAccessor<auto>",
        ),
        (
            "sun.reflect.GeneratedSerializationConstructorAccessor9",
            "sun.reflect.GeneratedSerializationConstructorAccessor<auto>",
        ),
        ("com.sun.proxy.$Proxy42", "com.sun.proxy.$Proxy<auto>"),
        ("$Proxy7", "$Proxy<auto>"),
        (
            "com.shop.Cart$$Lambda$42/0x0000000800c02a00",
            "com.shop.Cart$$Lambda<auto>",
        ),
        (
            "com.shop.Cart$$Lambda/0x000001f0",
            "com.shop.Cart$$Lambda<auto>",
        ),
    ] {
        let e = java(module, "run");
        assert_eq!(
            values(NEW, &e)[0],
            ("module".to_owned(), masked.to_owned()),
            "{module}"
        );
        assert_eq!(
            values(OLD, &e)[0],
            ("module".to_owned(), "<auto>".to_owned())
        );
        let g = group_with(NEW, &e);
        assert_eq!(
            g.explanation.find("module").unwrap().hint.as_deref(),
            Some("generated parts of the name masked")
        );
    }
    // Two proxies of different classes are two issues; two builds of one are one.
    let a = group_with(NEW, &java("com.shop.A$$EnhancerBySpringCGLIB$$1", "run")).key;
    let a2 = group_with(NEW, &java("com.shop.A$$EnhancerBySpringCGLIB$$2", "run")).key;
    let b = group_with(NEW, &java("com.shop.B$$EnhancerBySpringCGLIB$$1", "run")).key;
    assert_eq!(a, a2);
    assert_ne!(a, b);
}

#[test]
fn generated_names_without_a_known_part_stay_auto() {
    // `CGLIB$` method names are generated but have no known stable prefix.
    let e = java("com.shop.Cart", "CGLIB$toString$3");
    assert_eq!(
        values(NEW, &e),
        pairs(&[
            ("module", "com.shop.Cart"),
            ("function", "<auto>"),
            ("type", "java.lang.IllegalStateException")
        ])
    );
    // A generated function name with a known part is masked too.
    let e = java("com.shop.Cart", "access$GeneratedMethodAccessor12");
    assert_eq!(
        values(NEW, &e)[1],
        (
            "function".to_owned(),
            "access$GeneratedMethodAccessor<auto>".to_owned()
        )
    );
    assert_eq!(
        values(OLD, &e)[1],
        ("function".to_owned(), "<auto>".to_owned())
    );
}

// ---------------------------------------------------------- security reports

fn csp(report: Value) -> Value {
    json!({"logger": "csp", "platform": "javascript", "message": "Blocked something",
           "csp": report})
}

#[test]
fn csp_reports_group_by_directive_and_blocked_host() {
    let a = csp(
        json!({"effective-directive": "script-src", "violated-directive": "script-src 'self'",
                       "blocked-uri": "https://evil.example/x.js?v=1", "document-uri": "https://shop.example/a"}),
    );
    let b = csp(
        json!({"effectiveDirective": "script-src", "blockedURL": "https://EVIL.example:8443/y.js",
                       "documentURL": "https://shop.example/b"}),
    );
    let g = group_with(NEW, &a);
    assert_eq!(g.variant, "system");
    assert_eq!(
        values(NEW, &a),
        pairs(&[("directive", "script-src"), ("uri", "evil.example")])
    );
    assert_eq!(g.key, group_with(NEW, &b).key);
    assert_eq!(
        g.explanation.find("message").unwrap().hint.as_deref(),
        Some("csp takes precedence")
    );
    // Another directive or another host is another issue.
    let img =
        csp(json!({"effective-directive": "img-src", "blocked-uri": "https://evil.example/x.png"}));
    let other = csp(
        json!({"effective-directive": "script-src", "blocked-uri": "https://cdn.example/x.js"}),
    );
    assert_ne!(group_with(NEW, &img).key, g.key);
    assert_ne!(group_with(NEW, &other).key, g.key);
    // The violated directive stands in for a missing effective one; snake case
    // (as Sentry stores reports) is read too.
    let violated = csp(
        json!({"violated_directive": "script-src 'self' https:", "blocked_uri": "https://evil.example"}),
    );
    assert_eq!(group_with(NEW, &violated).key, g.key);
    // The frozen configuration groups by the message.
    assert_eq!(values(OLD, &a), pairs(&[("message", "Blocked something")]));
}

#[test]
fn csp_keywords_and_schemes_are_named_as_sentry_does() {
    for (blocked, uri) in [
        ("", "'self'"),
        ("self", "'self'"),
        ("inline", "'unsafe-inline'"),
        ("eval", "'unsafe-eval'"),
        ("wasm-eval", "'wasm-unsafe-eval'"),
        ("data", "data:"),
        ("blob", "blob:"),
        ("data:image/png;base64,AAAA", "data:"),
        ("blob:https://shop.example/1f2e", "blob:"),
        ("about:blank", "about:"),
        (
            "chrome-extension://abcdef/inject.js",
            "chrome-extension://abcdef",
        ),
        ("wss://push.example:443/socket", "push.example"),
        ("https://user@[2001:db8::1]:8080/x", "[2001:db8::1]"),
        ("evil.example/path", "evil.example"),
        // Not schemes: a drive letter, a leading digit, a blank.
        ("C:x/y", "c:x"),
        ("1ab://evil.example/x", "1ab:"),
        ("a b://evil.example/x", "a b:"),
    ] {
        let e = csp(json!({"effective-directive": "connect-src", "blocked-uri": blocked}));
        assert_eq!(
            values(NEW, &e),
            pairs(&[("directive", "connect-src"), ("uri", uri)]),
            "{blocked:?}"
        );
    }
    // Without a blocked URI at all: `'self'`.
    let e = csp(json!({"effective-directive": "font-src"}));
    assert_eq!(
        values(NEW, &e),
        pairs(&[("directive", "font-src"), ("uri", "'self'")])
    );
}

#[test]
fn a_csp_report_without_directive_groups_by_message() {
    let e = csp(json!({"blocked-uri": "https://evil.example/x.js"}));
    let g = group_with(NEW, &e);
    assert_eq!(values(NEW, &e), pairs(&[("message", "Blocked something")]));
    let c = g.explanation.find("csp").unwrap();
    assert!(!c.contributes);
    assert_eq!(c.hint.as_deref(), Some("the report names no directive"));
    // A report that is not an object is no report.
    let e = csp(json!("nonsense"));
    assert!(group_with(NEW, &e).explanation.find("csp").is_none());
}

#[test]
fn expect_ct_and_hpkp_reports_group_by_host_name() {
    for interface in ["expectct", "expectstaple", "hpkp"] {
        let mut a = json!({"message": "failure for shop.example on port 443"});
        a[interface] = json!({"hostname": "Shop.Example", "port": 443});
        let mut b = json!({"message": "failure for shop.example on port 8443"});
        b[interface] = json!({"hostname": "shop.example", "port": 8443});
        let name = match interface {
            "expectct" => "expect-ct",
            "expectstaple" => "expect-staple",
            _ => "hpkp",
        };
        assert_eq!(
            values(NEW, &a),
            pairs(&[("report-type", name), ("hostname", "shop.example")]),
            "{interface}"
        );
        assert_eq!(group_with(NEW, &a).key, group_with(NEW, &b).key);
        let mut c = a.clone();
        c[interface] = json!({"hostname": "api.example"});
        assert_ne!(group_with(NEW, &a).key, group_with(NEW, &c).key);
        // No host name: the message decides.
        let mut d = a.clone();
        d[interface] = json!({"port": 1});
        let g = group_with(NEW, &d);
        assert_eq!(g.contributing_values()[0].0, "message");
        let report = g.explanation.find(name).unwrap();
        assert!(!report.contributes);
        assert_eq!(report.hint.as_deref(), Some("the report names no host"));
    }
    let hpkp = json!({"message": "m", "hpkp": {"hostname": "a.example"}});
    let expect_ct = json!({"message": "m", "expectct": {"hostname": "a.example"}});
    assert_ne!(group_with(NEW, &hpkp).key, group_with(NEW, &expect_ct).key);
}

// ------------------------------------------------- JavaScript context lines

fn js(function: &str, context_line: Option<&str>) -> Value {
    let mut frame = json!({"function": function, "abs_path": "https://shop.example/app.min.js",
                           "in_app": true, "lineno": 1, "colno": 4242});
    if let Some(line) = context_line {
        frame["context_line"] = json!(line);
    }
    json!({"platform": "javascript", "exception": {"values": [{"type": "TypeError",
        "value": "x is undefined", "stacktrace": {"frames": [frame]}}]}})
}

#[test]
fn javascript_frames_with_a_context_line_ignore_the_function_name() {
    let chrome = js("r.onClick", Some("  const id = cart.items[0].id;"));
    let firefox = js("t/n.prototype.a", Some("const id = cart.items[0].id;"));
    let g = group_with(NEW, &chrome);
    assert_eq!(g.key, group_with(NEW, &firefox).key);
    assert_eq!(
        values(NEW, &chrome),
        pairs(&[
            ("context-line", "const id = cart.items[0].id;"),
            ("type", "TypeError")
        ])
    );
    let function = g.explanation.find("function").unwrap();
    assert!(!function.contributes);
    assert_eq!(
        function.hint.as_deref(),
        Some("the context line identifies a JavaScript frame")
    );
    assert_ne!(group_with(OLD, &chrome).key, group_with(OLD, &firefox).key);
    // Without a context line, the function counts.
    let a = js("r.onClick", None);
    let b = js("r.onSubmit", None);
    assert_ne!(group_with(NEW, &a).key, group_with(NEW, &b).key);
    // A context line too long to count does not replace the function.
    let long = "x".repeat(121);
    let a = js("r.onClick", Some(&long));
    let b = js("r.onSubmit", Some(&long));
    assert_ne!(group_with(NEW, &a).key, group_with(NEW, &b).key);
    // Other platforms keep the function beside the context line.
    let mut py = js("handler", Some("x = 1"));
    py["platform"] = json!("python");
    assert!(values(NEW, &py).contains(&("function".to_owned(), "handler".to_owned())));
}

// ---------------------------------------------------------- exception groups

fn group_event(links: &[(u64, Option<u64>)]) -> Value {
    let mut values: Vec<Value> = links
        .iter()
        .map(|(id, parent)| {
            let mut mechanism = json!({"type": "chained", "exception_id": id});
            if let Some(p) = parent {
                mechanism["parent_id"] = json!(p);
            }
            json!({"type": format!("E{id}"), "value": "v", "mechanism": mechanism})
        })
        .collect();
    values.push(json!({"type": "ExceptionGroup", "value": "top",
        "mechanism": {"type": "generic", "is_exception_group": true, "exception_id": 0}}));
    json!({"platform": "python", "exception": {"values": values}})
}

#[test]
fn malformed_exception_groups_fall_back_to_the_top_exception() {
    let top = pairs(&[("type", "ExceptionGroup"), ("value", "top")]);
    for (links, reason) in [
        (
            vec![(1, Some(0)), (2, Some(9))],
            "a parent_id names no exception of the event",
        ),
        (
            vec![(1, Some(0)), (1, Some(0))],
            "two exceptions share an exception_id",
        ),
        (
            vec![(1, Some(2)), (2, Some(1))],
            "the parent_id links form a cycle",
        ),
        (vec![(1, Some(1))], "the parent_id links form a cycle"),
    ] {
        let e = group_event(&links);
        assert_eq!(values(NEW, &e), top, "{links:?}");
        let g = group_with(NEW, &e);
        let hint = g
            .explanation
            .find("exception")
            .unwrap()
            .hint
            .as_deref()
            .unwrap();
        assert!(hint.contains(reason), "{hint}");
        assert!(hint.ends_with("only the top exception counts"), "{hint}");
        assert_eq!(g.title, "ExceptionGroup: top");
        // The frozen configuration keeps its leaves.
        assert_ne!(values(OLD, &e), top);
    }
    // The frozen configuration does not look for malformation: a group with
    // one leaf stays a chain with its wrappers dropped.
    let e = group_event(&[(1, Some(9))]);
    let old = group_with(OLD, &e);
    let chain = old.explanation.find("chained-exception").unwrap();
    assert_eq!(
        chain.hint.as_deref(),
        Some("exception-group wrappers dropped")
    );
    assert_eq!(values(OLD, &e), pairs(&[("type", "E1"), ("value", "v")]));
    // A well-formed group keeps its distinct leaves.
    let e = group_event(&[(1, Some(0)), (2, Some(0)), (3, Some(2))]);
    assert_eq!(
        values(NEW, &e),
        pairs(&[
            ("type", "E1"),
            ("value", "v"),
            ("type", "E3"),
            ("value", "v")
        ])
    );
    assert_eq!(values(NEW, &e), values(OLD, &e));
}

// ------------------------------------------------------------ iOS app bundles

#[test]
fn ios_app_bundle_frames_are_in_app_whatever_the_client_said() {
    let frames = |package: &str| {
        json!({"platform": "cocoa", "exception": {"values": [{"type": "NSRangeException", "value": "index 3",
        "stacktrace": {"frames": [
            {"function": "UIApplicationMain", "package": "/System/Library/Frameworks/UIKit.framework/UIKit", "in_app": false},
            {"function": "-[Cart reload]", "package": package, "in_app": false}
        ]}}]}})
    };
    for package in [
        "/private/var/containers/Bundle/Application/6A1B/Shop.app/Shop",
        "/var/containers/Bundle/Application/6A1B/Shop.app/Shop",
        "/Users/me/Library/Developer/CoreSimulator/Devices/1/data/Containers/Bundle/Application/2/Shop.app/Shop",
    ] {
        let e = frames(package);
        let g = group_with(NEW, &e);
        assert_eq!(g.variant, "app", "{package}");
        assert_eq!(g.culprit.as_deref(), Some("-[Cart reload]"));
        assert_eq!(
            values(NEW, &e),
            pairs(&[("function", "-[Cart reload]"), ("type", "NSRangeException")])
        );
        assert_eq!(group_with(OLD, &e).variant, "system");
    }
    // The path may come as abs_path too.
    let mut e = frames("/usr/lib/libobjc.A.dylib");
    e["exception"]["values"][0]["stacktrace"]["frames"][1]["abs_path"] =
        json!("/private/var/containers/Bundle/Application/6A1B/Shop.app/Cart.swift");
    assert_eq!(group_with(NEW, &e).variant, "app");
    // Elsewhere the client's word stands.
    assert_eq!(
        group_with(NEW, &frames("/usr/lib/libobjc.A.dylib")).variant,
        "system"
    );
}

// -------------------------------------------------------------- several keys

#[test]
fn the_system_variant_gives_a_second_key_when_the_app_variant_wins() {
    let frames = |in_app_first: bool| {
        json!({"platform": "python", "exception": {"values": [{"type": "KeyError", "value": "k",
        "stacktrace": {"frames": [
            {"module": "django.core", "function": "get_response", "in_app": in_app_first},
            {"module": "shop.views", "function": "checkout", "in_app": true}
        ]}}]}})
    };
    let e = frames(false);
    let g = group_with(NEW, &e);
    assert_eq!(g.variant, "app");
    assert_eq!(g.config, NEW);
    assert_eq!(g.other_keys.len(), 1);
    assert_eq!(
        g.keys().collect::<Vec<_>>(),
        [g.key.as_str(), g.other_keys[0].as_str()]
    );
    let system = g.explanation.find("system").unwrap();
    assert!(!system.contributes);
    assert!(!system.children.is_empty(), "computed, not only named");
    // The second key is the key of the same event with every frame in-app
    // (where the app and system variants agree, and only one key exists).
    let all_in_app = group_with(NEW, &frames(true));
    assert_eq!(all_in_app.other_keys, Vec::<String>::new());
    assert_eq!(g.other_keys[0], all_in_app.key);
    // The frozen configuration: one key, the system variant only named.
    let old = group_with(OLD, &e);
    assert_eq!(old.config, OLD);
    assert!(old.other_keys.is_empty());
    assert_eq!(old.keys().count(), 1);
    assert!(old.explanation.find("system").unwrap().children.is_empty());
}

#[test]
fn a_hybrid_fingerprint_has_a_system_key_and_a_custom_one_has_none() {
    let base = |fingerprint: Value| {
        json!({"platform": "python", "fingerprint": fingerprint, "tags": {"tenant": "acme"},
        "exception": {"values": [{"type": "KeyError", "value": "k",
        "stacktrace": {"frames": [
            {"module": "django.core", "function": "get_response", "in_app": false},
            {"module": "shop.views", "function": "checkout", "in_app": true}
        ]}}]}})
    };
    let hybrid = group_with(NEW, &base(json!(["{{ default }}", "{{ tags.tenant }}"])));
    assert_eq!(hybrid.variant, "hybrid-fingerprint");
    assert_eq!(hybrid.other_keys.len(), 1);
    let mut all_in_app = base(json!(["{{ default }}", "{{ tags.tenant }}"]));
    all_in_app["exception"]["values"][0]["stacktrace"]["frames"][0]["in_app"] = json!(true);
    assert_eq!(hybrid.other_keys[0], group_with(NEW, &all_in_app).key);
    let custom = group_with(NEW, &base(json!(["checkout"])));
    assert!(custom.other_keys.is_empty());
    let built_in = group_with(NEW, &base(json!(["{{ default }}"])));
    assert_eq!(built_in.key, group_with(NEW, &base(Value::Null)).key);
    assert_eq!(built_in.other_keys.len(), 1);
}

#[test]
fn the_new_configuration_keys_differ_from_the_old_for_the_same_event() {
    for e in [
        json!({"message": "User 42 not found"}),
        json!({}),
        json!({"fingerprint": ["a"]}),
    ] {
        let (new, old) = (group_with(NEW, &e), group_with(OLD, &e));
        assert_eq!(new.contributing_values(), old.contributing_values());
        assert_ne!(new.key, old.key, "{e}");
    }
}

#[test]
fn the_summary_names_the_configuration_and_further_keys() {
    let e = json!({"platform": "python", "exception": {"values": [{"type": "E", "stacktrace": {"frames": [
        {"module": "lib", "function": "f", "in_app": false},
        {"module": "app", "function": "g", "in_app": true}]}}]}});
    let g = group_with(NEW, &e);
    let line: Value = serde_json::from_str(&g.to_json_line()).unwrap();
    assert_eq!(line["config"], "periscope:2026-12");
    assert_eq!(line["other_keys"], json!([g.other_keys[0]]));
    let old: Value = serde_json::from_str(&group_with(OLD, &e).to_json_line()).unwrap();
    assert_eq!(old["config"], "periscope:2026-11");
    assert!(old.get("other_keys").is_none());
    // The whole decision serializes and reads back.
    let json = serde_json::to_string(&g).unwrap();
    assert_eq!(serde_json::from_str::<Grouping>(&json).unwrap(), g);
}
