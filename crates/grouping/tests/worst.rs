//! Worst-case events at the server's size limit (1 MiB of JSON): grouping
//! never panics, and the explanation it builds is bounded by the limits
//! (counted in components), whatever the event's shape. No timing here: see
//! `benches/worst.rs` for the time, `examples/worst_memory.rs` for the memory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/worst.rs"]
mod worst;

use periscope_grouping::limits::{
    MAX_EXCEPTIONS, MAX_FINGERPRINT_PART_CHARS, MAX_FINGERPRINT_PARTS, MAX_FRAMES,
};
use periscope_grouping::{Component, ConfigId, Grouper, GroupingConfig, MAX_TITLE_CHARS};
use periscope_sentry_envelope::Event;

fn count(c: &Component) -> usize {
    1 + c.children.iter().map(count).sum::<usize>()
}

/// The most components an explanation can have, from the limits: a frame has
/// at most 4 parts; a stack trace at most MAX_FRAMES frames and one "omitted"
/// note; an exception a stack trace, a type and a value; a chain at most
/// MAX_EXCEPTIONS exceptions and one note; a variant a chain, a thread's
/// stack trace, the top-level stack trace and a message; two variants, the
/// fallback, the fingerprint entries and one note, and the root.
fn component_bound() -> usize {
    let stacktrace = 2 + MAX_FRAMES * 5;
    let exception = 3 + stacktrace;
    let chain = 2 + MAX_EXCEPTIONS * exception;
    let variant = 1 + chain + (1 + stacktrace) + stacktrace + 1;
    1 + (2 + MAX_FINGERPRINT_PARTS) + 2 * variant + 1
}

#[test]
fn the_component_bound_is_small() {
    // About 85,000 components (a few MB) at most, whatever the event.
    assert!(component_bound() < 90_000, "{}", component_bound());
}

#[test]
fn worst_shapes_are_bounded() {
    for (name, bytes) in worst::all() {
        assert!(
            bytes.len() <= worst::EVENT_BYTES,
            "{name}: {} bytes",
            bytes.len()
        );
        let event = Event::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        for strategy in ConfigId::ALL {
            let g = Grouper::new(GroupingConfig::new(*strategy)).group(&event);
            let components = count(&g.explanation);
            assert!(
                components <= component_bound(),
                "{name} ({strategy}): {components} components"
            );
            // Text in the explanation: at most every string of the event
            // once per variant, plus bounded pieces (fingerprint values,
            // parameterized messages, hints).
            let explanation = serde_json::to_vec(&g.explanation).unwrap();
            assert!(
                explanation.len() <= 2 * bytes.len() + (512 << 10),
                "{name} ({strategy}): explanation of {} bytes",
                explanation.len()
            );
            assert_eq!(g.key.len(), 32);
            assert!(g.title.chars().count() <= MAX_TITLE_CHARS + 1, "{name}");
            assert!(
                g.culprit
                    .as_deref()
                    .is_none_or(|c| c.chars().count() <= MAX_TITLE_CHARS + 1),
                "{name}"
            );
            // Deterministic.
            assert_eq!(
                g.key,
                Grouper::new(GroupingConfig::new(*strategy))
                    .group(&event)
                    .key
            );
        }
    }
}

/// Issue 12: 1,000 `{{ default }}` over 3,000 frames built 3 million frame
/// components (1.2 GB); now the built-in tree is there once.
#[test]
fn issue_12_builds_one_tree() {
    let event = Event::from_slice(&worst::issue_12()).unwrap();
    let old = Grouper::new(GroupingConfig::new(ConfigId::Periscope2026_11)).group(&event);
    // The app variant's 250 frames with two parts each, the system variant
    // named, 64 fingerprint entries and the notes.
    let components = count(&old.explanation);
    assert!(components < 1_000, "{components} components");
    let g = Grouper::new(GroupingConfig::default()).group(&event);
    assert_eq!(g.variant, "hybrid-fingerprint");
    // The same, with the system variant computed (for the second key).
    let components = count(&g.explanation);
    assert!(components < 2_000, "{components} components");
    assert_eq!(g.other_keys.len(), 1);
    let fp = &g.explanation.children[0];
    assert_eq!(fp.name, "hybrid-fingerprint");
    // The built-in tree, the note on the 999 repeats, the literal.
    let names: Vec<&str> = fp.children.iter().map(|c| c.name.as_ref()).collect();
    assert_eq!(names, ["app", "fingerprint", "fingerprint"]);
    assert!(!fp.children[1].contributes);
    assert_eq!(
        fp.children[1].hint.as_deref(),
        Some(
            "{{ default }} repeated 999 more times: the built-in values count once, at its first occurrence"
        )
    );
    assert_eq!(fp.children[2].values, ["tenant-a"]);
}

#[test]
fn huge_message_is_cut_before_parameterization() {
    let event = Event::from_slice(&worst::huge_message()).unwrap();
    let g = Grouper::new(GroupingConfig::default()).group(&event);
    let values = g.contributing_values();
    assert_eq!(values.len(), 1);
    assert_eq!(values[0].0, "message");
    assert!(
        values[0]
            .1
            .starts_with("user <int> at <ip> id <uuid> mail <email> on <date>")
    );
    assert!(values[0].1.ends_with("..."));
    assert!(values[0].1.len() < 8192 + 3);
}

#[test]
fn huge_tags_resolve_each_variable_once_and_cut_values() {
    let event = Event::from_slice(&worst::huge_tags()).unwrap();
    let g = Grouper::new(GroupingConfig::default()).group(&event);
    assert_eq!(g.variant, "custom-fingerprint");
    let values = g.contributing_values();
    // The first 64 entries: the 64 distinct tags.
    assert_eq!(values.len(), MAX_FINGERPRINT_PARTS);
    assert!(values.iter().all(|(_, v)| v.starts_with("value-")));
    assert!(
        values
            .iter()
            .all(|(_, v)| v.chars().count() <= MAX_FINGERPRINT_PART_CHARS)
    );
}
