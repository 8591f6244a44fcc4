//! Property tests: what must and must not change a grouping key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use periscope_grouping::{ConfigId, Grouper, GroupingConfig};
use periscope_sentry_envelope::Event;
use proptest::prelude::*;
use serde_json::{Value, json};

fn key_of(event: &Value) -> String {
    key_with(ConfigId::NEWEST, event)
}

fn key_with(config: ConfigId, event: &Value) -> String {
    let event = Event::from_slice(event.to_string().as_bytes()).unwrap();
    Grouper::new(GroupingConfig::new(config)).group(&event).key
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z_]{0,7}"
}

#[derive(Debug, Clone)]
struct FrameSpec {
    function: String,
    module: Option<String>,
    filename: Option<String>,
    context_line: Option<String>,
    in_app: Option<bool>,
}

fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    (
        name(),
        proptest::option::of(name()),
        proptest::option::of("[a-z]{1,6}\\.(py|js|rb)"),
        proptest::option::of("[a-z =()]{0,30}"),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(function, module, filename, context_line, in_app)| FrameSpec {
                function,
                module,
                filename,
                context_line,
                in_app,
            },
        )
}

/// Noise that must never matter: line numbers, columns, vars, addresses.
#[derive(Debug, Clone)]
struct FrameNoise {
    lineno: u32,
    colno: u32,
    var: i64,
    addr: u64,
}

fn frame_noise() -> impl Strategy<Value = FrameNoise> {
    (any::<u32>(), any::<u32>(), any::<i64>(), any::<u64>()).prop_map(
        |(lineno, colno, var, addr)| FrameNoise {
            lineno,
            colno,
            var,
            addr,
        },
    )
}

fn frame_json(f: &FrameSpec, noise: Option<&FrameNoise>) -> Value {
    let mut v = json!({ "function": f.function });
    if let Some(m) = &f.module {
        v["module"] = json!(m);
    }
    if let Some(x) = &f.filename {
        v["filename"] = json!(x);
        v["abs_path"] = json!(format!("/srv/app/{x}"));
    }
    if let Some(c) = &f.context_line {
        v["context_line"] = json!(c);
    }
    if let Some(a) = f.in_app {
        v["in_app"] = json!(a);
    }
    if let Some(n) = noise {
        v["lineno"] = json!(n.lineno);
        v["colno"] = json!(n.colno);
        v["vars"] = json!({ "x": n.var, "s": n.var.to_string() });
        v["instruction_addr"] = json!(format!("{:#x}", n.addr));
    }
    v
}

#[derive(Debug, Clone)]
struct EventSpec {
    platform: &'static str,
    ty: String,
    value: String,
    frames: Vec<FrameSpec>,
    message: Option<String>,
}

fn event_spec() -> impl Strategy<Value = EventSpec> {
    (
        prop_oneof![
            Just("python"),
            Just("javascript"),
            Just("java"),
            Just("native")
        ],
        "[A-Z][a-zA-Z]{0,10}",
        "[a-zA-Z0-9 ]{0,30}",
        proptest::collection::vec(frame_spec(), 0..8),
        proptest::option::of("[a-zA-Z0-9 ]{1,30}"),
    )
        .prop_map(|(platform, ty, value, frames, message)| EventSpec {
            platform,
            ty,
            value,
            frames,
            message,
        })
}

fn event_json(e: &EventSpec, noise: &[FrameNoise]) -> Value {
    let frames: Vec<Value> = e
        .frames
        .iter()
        .enumerate()
        .map(|(i, f)| frame_json(f, noise.get(i)))
        .collect();
    let mut v = json!({
        "platform": e.platform,
        "exception": {"values": [{"type": e.ty, "value": e.value, "stacktrace": {"frames": frames}}]},
    });
    if let Some(m) = &e.message {
        v["message"] = json!(m);
    }
    v
}

/// Fields that must never matter at the event level.
#[derive(Debug, Clone)]
struct EventNoise {
    event_id: u128,
    timestamp: u32,
    tag: (String, String),
    user: String,
    url: String,
    extra: i64,
}

fn event_noise() -> impl Strategy<Value = EventNoise> {
    (
        any::<u128>(),
        any::<u32>(),
        (name(), name()),
        name(),
        name(),
        any::<i64>(),
    )
        .prop_map(|(event_id, timestamp, tag, user, url, extra)| EventNoise {
            event_id,
            timestamp,
            tag,
            user,
            url,
            extra,
        })
}

fn add_noise(mut v: Value, n: &EventNoise) -> Value {
    v["event_id"] = json!(format!("{:032x}", n.event_id));
    v["timestamp"] = json!(n.timestamp);
    v["tags"] = json!({ n.tag.0.clone(): n.tag.1 });
    v["user"] = json!({"id": n.user, "ip_address": "10.1.2.3"});
    v["request"] = json!({"url": format!("https://example.com/{}", n.url), "method": "GET"});
    v["extra"] = json!({"n": n.extra});
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn deterministic(e in event_spec()) {
        let v = event_json(&e, &[]);
        prop_assert_eq!(key_of(&v), key_of(&v));
    }

    #[test]
    fn noise_never_changes_the_key(
        e in event_spec(),
        noise_a in proptest::collection::vec(frame_noise(), 8),
        noise_b in proptest::collection::vec(frame_noise(), 8),
        ev_a in event_noise(),
        ev_b in event_noise(),
    ) {
        let a = add_noise(event_json(&e, &noise_a), &ev_a);
        let b = add_noise(event_json(&e, &noise_b), &ev_b);
        let bare = event_json(&e, &[]);
        for strategy in ConfigId::ALL {
            prop_assert_eq!(key_with(*strategy, &a), key_with(*strategy, &b));
            prop_assert_eq!(key_with(*strategy, &a), key_with(*strategy, &bare));
        }
    }

    #[test]
    fn changing_an_in_app_function_changes_the_key(
        e in event_spec(),
        index in any::<prop::sample::Index>(),
        new_name in "changed_[a-z]{1,6}",
    ) {
        prop_assume!(!e.frames.is_empty());
        let mut e = e;
        let i = index.index(e.frames.len());
        e.frames[i].in_app = Some(true);
        let before = event_json(&e, &[]);
        e.frames[i].function = new_name;
        let after = event_json(&e, &[]);
        // From periscope:2026-12 on, a JavaScript frame's context line
        // replaces its function name (minified names differ between builds).
        let context_replaces_function = matches!(e.platform, "javascript" | "node")
            && e.frames[i].context_line.as_deref().is_some_and(|l| !l.trim().is_empty());
        // (type-and-value ignores frames.)
        for config in [ConfigId::Periscope2026_11, ConfigId::Periscope2026_12] {
            if config == ConfigId::Periscope2026_12 && context_replaces_function {
                prop_assert_eq!(key_with(config, &before), key_with(config, &after));
            } else {
                prop_assert_ne!(key_with(config, &before), key_with(config, &after));
            }
        }
    }
}

/// A variable token of a message, with two instances.
fn token() -> impl Strategy<Value = (String, String)> {
    let int = (any::<u32>(), any::<u32>()).prop_map(|(a, b)| (a.to_string(), b.to_string()));
    let float = (0u32..100_000, 0u32..1000, 0u32..100_000, 0u32..1000)
        .prop_map(|(a, b, c, d)| (format!("{a}.{b}"), format!("{c}.{d}")));
    let hex =
        (any::<u32>(), any::<u64>()).prop_map(|(a, b)| (format!("0x{a:x}"), format!("0x{b:X}")));
    let uuid = (any::<u128>(), any::<u128>()).prop_map(|(a, b)| (uuid_text(a), uuid_text(b)));
    let ip = (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(a, b)| {
        (
            format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]),
            format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3]),
        )
    });
    let email = (
        "[a-z][a-z0-9.]{0,8}",
        "[a-z]{1,8}",
        "[a-z][a-z0-9]{0,5}",
        "[a-z]{1,8}",
    )
        .prop_map(|(u1, d1, u2, d2)| (format!("{u1}@{d1}.com"), format!("{u2}@{d2}.org")));
    let url = (
        "[a-z]{1,8}",
        "[a-z0-9/]{0,12}",
        "[a-z]{1,8}",
        "[a-z0-9/=?]{0,12}",
    )
        .prop_map(|(h1, p1, h2, p2)| {
            (
                format!("https://{h1}.com/{p1}"),
                format!("http://{h2}.io/{p2}"),
            )
        });
    let sha1 =
        (any::<[u8; 20]>(), any::<[u8; 20]>()).prop_map(|(a, b)| (hex_text(&a), hex_text(&b)));
    prop_oneof![int, float, hex, uuid, ip, email, url, sha1]
}

fn hex_text(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn uuid_text(n: u128) -> String {
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn variable_tokens_never_split_a_message_group(
        words in proptest::collection::vec("[A-Za-z]{1,8}", 1..6),
        tokens in proptest::collection::vec(token(), 1..4),
        in_exception in any::<bool>(),
    ) {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (i, w) in words.iter().enumerate() {
            a.push(w.clone());
            b.push(w.clone());
            if let Some((ta, tb)) = tokens.get(i) {
                a.push(ta.clone());
                b.push(tb.clone());
            }
        }
        let (a, b) = (a.join(" "), b.join(" "));
        let wrap = |m: &str| if in_exception {
            json!({"exception": {"values": [{"type": "E", "value": m}]}})
        } else {
            json!({"message": m})
        };
        for strategy in ConfigId::ALL {
            prop_assert_eq!(
                key_with(*strategy, &wrap(&a)),
                key_with(*strategy, &wrap(&b)),
                "{:?} vs {:?}", a, b
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary text anywhere (Unicode, blanks, braces, `=`, quotes) never
    /// panics, and the result is well-formed.
    #[test]
    fn arbitrary_text_never_panics(
        texts in proptest::collection::vec("\\PC{0,40}|[ =\"'{}.:/@0-9a-f\\n\\t]{0,40}", 12),
        in_app in any::<bool>(),
    ) {
        let t = |i: usize| texts[i].clone();
        let event = json!({
            "platform": t(0),
            "message": t(1),
            "transaction": t(2),
            "fingerprint": [t(3), "{{ default }}", format!("{{{{ tags.{} }}}}", t(4))],
            "exception": {"values": [{"type": t(5), "value": t(6), "stacktrace": {"frames": [
                {"function": t(7), "module": t(8), "filename": t(9), "abs_path": t(10),
                 "context_line": t(11), "in_app": in_app},
                {"raw_function": t(6), "package": t(5), "platform": t(0), "in_app": !in_app}
            ]}}]},
        });
        for strategy in ConfigId::ALL {
            let event = Event::from_slice(event.to_string().as_bytes()).unwrap();
            let g = Grouper::new(GroupingConfig::new(*strategy)).group(&event);
            prop_assert_eq!(g.key.len(), 32);
            prop_assert!(!g.title.is_empty());
            let line: Value = serde_json::from_str(&g.to_json_line()).unwrap();
            prop_assert_eq!(line["key"].as_str(), Some(g.key.as_str()));
        }
        for text in &texts {
            let _ = periscope_grouping::parameterize(text);
        }
    }
}

/// One fingerprint entry: `{{ default }}`, a variable, or a literal.
fn fingerprint_entry() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("{{ default }}".to_owned()),
        1 => Just("{{default}}".to_owned()),
        1 => Just("{{ transaction }}".to_owned()),
        1 => Just("{{ message }}".to_owned()),
        1 => Just("{{ function }}".to_owned()),
        1 => "[a-c]{1,2}".prop_map(|t| format!("{{{{ tags.{t} }}}}")),
        2 => "[a-z]{0,4}",
        1 => "\\PC{0,12}",
    ]
}

/// The fingerprint with every `{{ default }}` after the first removed.
fn without_repeated_defaults(fp: &[String]) -> Vec<String> {
    let is_default = |e: &str| e.replace(' ', "") == "{{default}}";
    let mut seen = false;
    fp.iter()
        .filter(|e| {
            if !is_default(e) {
                return true;
            }
            let first = !seen;
            seen = true;
            first
        })
        .cloned()
        .collect()
}

fn shaped_event(
    fp: &[String],
    frames: &[FrameSpec],
    chain: usize,
    tags: &[(String, String)],
    message: &str,
) -> Value {
    let frames: Vec<Value> = frames.iter().map(|f| frame_json(f, None)).collect();
    let exceptions: Vec<Value> = (0..chain)
        .map(|i| {
            json!({"type": format!("E{}", i % 3), "value": message,
                        "stacktrace": {"frames": frames}})
        })
        .collect();
    let mut v = json!({
        "platform": "python",
        "fingerprint": fp,
        "tags": tags,
        "message": message,
        "transaction": "/t",
    });
    if chain > 0 {
        v["exception"] = json!({"values": exceptions});
    } else {
        v["stacktrace"] = json!({"frames": frames});
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Grouping never panics on any mix of fingerprint entries, frames,
    /// chains, tags and messages (including more entries than the limit, and
    /// hundreds of repeats), and a repeated `{{ default }}` gives the key of a single one.
    #[test]
    fn repeated_default_is_a_single_default_and_nothing_panics(
        fp in proptest::collection::vec(fingerprint_entry(), 0..80),
        repeats in 0usize..200,
        frames in proptest::collection::vec(frame_spec(), 0..12),
        chain in 0usize..4,
        tags in proptest::collection::vec(("[a-c]{1,2}", "\\PC{0,8}"), 0..6),
        message in "\\PC{0,60}|[0-9a-f:. \\n-]{0,200}",
    ) {
        let mut repeated = fp.clone();
        // Repeats of `{{ default }}` after its first occurrence (or at the end).
        let at = repeated
            .iter()
            .position(|e| e.replace(' ', "") == "{{default}}")
            .map_or(repeated.len(), |i| i + 1);
        for _ in 0..repeats {
            repeated.insert(at, "{{ default }}".to_owned());
        }
        let a = shaped_event(&repeated, &frames, chain, &tags, &message);
        let b = shaped_event(&without_repeated_defaults(&repeated), &frames, chain, &tags, &message);
        for strategy in ConfigId::ALL {
            let ga = Event::from_slice(a.to_string().as_bytes()).unwrap();
            let gb = Event::from_slice(b.to_string().as_bytes()).unwrap();
            let grouper = Grouper::new(GroupingConfig::new(*strategy));
            let (ga, gb) = (grouper.group(&ga), grouper.group(&gb));
            prop_assert_eq!(&ga.key, &gb.key);
            prop_assert_eq!(&ga.variant, &gb.variant);
            prop_assert_eq!(ga.key.len(), 32);
            prop_assert!(ga.title.chars().count() <= periscope_grouping::MAX_TITLE_CHARS + 1);
        }
    }
}
