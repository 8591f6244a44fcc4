//! One test per limit of `periscope_grouping::limits`: below it nothing
//! changes, beyond it the rule documented on the constant applies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use periscope_grouping::limits::{
    MAX_EXCEPTIONS, MAX_FINGERPRINT_PART_CHARS, MAX_FINGERPRINT_PARTS, MAX_FRAMES,
    MAX_MESSAGE_CHARS, TITLE_SCAN_BYTES,
};
use periscope_grouping::{Grouper, Grouping, GroupingConfig, MAX_TITLE_CHARS, parameterize};
use periscope_sentry_envelope::Event;
use serde_json::{Value, json};

fn group(event: &Value) -> Grouping {
    let event = Event::from_slice(event.to_string().as_bytes()).unwrap();
    Grouper::new(GroupingConfig::default()).group(&event)
}

fn key(event: &Value) -> String {
    group(event).key
}

fn frames(names: impl IntoIterator<Item = String>) -> Value {
    let frames: Vec<Value> = names
        .into_iter()
        .map(|f| json!({"function": f, "in_app": true}))
        .collect();
    json!(frames)
}

fn exc(frames: Value) -> Value {
    json!({"exception": {"values": [{"type": "E", "value": "v", "stacktrace": {"frames": frames}}]}})
}

fn with_fp(mut event: Value, fp: Vec<String>) -> Value {
    event["fingerprint"] = json!(fp);
    event
}

fn s(x: &str) -> String {
    x.to_owned()
}

#[test]
fn repeated_default_counts_once() {
    let base = exc(frames([s("a"), s("b")]));
    let d = || s("{{ default }}");
    let once = key(&with_fp(base.clone(), vec![d(), s("x")]));
    for fp in [
        vec![d(), d(), s("x")],
        vec![d(), s("x"), d()],
        [vec![d(); 5000], vec![s("x")]].concat(),
    ] {
        let g = group(&with_fp(base.clone(), fp));
        assert_eq!(g.key, once);
        assert_eq!(g.variant, "hybrid-fingerprint");
        // The built-in tree is there once.
        let fp = &g.explanation.children[0];
        assert_eq!(fp.children.iter().filter(|c| c.name == "app").count(), 1);
    }
    // Only defaults: built-in grouping, as with one.
    assert_eq!(key(&with_fp(base.clone(), vec![d(); 3])), key(&base));
    // A repeated variable is resolved once but counts each time (as Sentry).
    let t = || s("{{ transaction }}");
    assert_ne!(
        key(&with_fp(base.clone(), vec![t(), t()])),
        key(&with_fp(base, vec![t()]))
    );
}

#[test]
fn fingerprint_entries_beyond_the_limit_are_not_considered() {
    let base = json!({"message": "m"});
    let fp = |n: usize, last: &str| {
        let mut fp: Vec<String> = (0..n - 1).map(|i| format!("p{i}")).collect();
        fp.push(last.to_owned());
        fp
    };
    let n = MAX_FINGERPRINT_PARTS;
    // The last considered entry counts; the first one beyond does not.
    assert_ne!(
        key(&with_fp(base.clone(), fp(n, "a"))),
        key(&with_fp(base.clone(), fp(n, "b")))
    );
    assert_eq!(
        key(&with_fp(base.clone(), fp(n + 1, "a"))),
        key(&with_fp(base.clone(), fp(n + 1, "b")))
    );
    let g = group(&with_fp(base, fp(n + 10, "a")));
    let note = g.explanation.children[0].children.last().unwrap();
    assert!(!note.contributes);
    assert_eq!(
        note.hint.as_deref(),
        Some("10 more fingerprint entries not considered (at most 64)")
    );
}

#[test]
fn fingerprint_values_are_cut() {
    let base = json!({"message": "m"});
    let long = |tail: &str| format!("{}{tail}", "x".repeat(MAX_FINGERPRINT_PART_CHARS));
    let fp = |v: String| with_fp(base.clone(), vec![v]);
    assert_eq!(key(&fp(long("a"))), key(&fp(long("b"))));
    let short = |tail: &str| format!("{}{tail}", "x".repeat(MAX_FINGERPRINT_PART_CHARS - 1));
    assert_ne!(key(&fp(short("a"))), key(&fp(short("b"))));
    let g = group(&fp(long("a")));
    assert_eq!(
        g.contributing_values()[0].1.len(),
        MAX_FINGERPRINT_PART_CHARS
    );
    // Variables too: a message used as fingerprint.
    let m = |tail: &str| json!({"message": long(tail), "fingerprint": ["{{ message }}"]});
    assert_eq!(key(&m("a")), key(&m("b")));
    let hint = group(&m("a")).explanation.children[0].children[0]
        .hint
        .clone();
    assert_eq!(
        hint.as_deref(),
        Some("from {{ message }}; cut to its first 1024 characters")
    );
}

#[test]
fn tags_in_fingerprints_resolve_to_the_first_tag_of_the_name() {
    let e = json!({"message": "m", "tags": [["a", "1"], ["b", "2"], ["a", "3"]],
                   "fingerprint": ["{{ tags.a }}", "{{ tags.b }}", "{{ tags.a }}", "{{ tags.c }}"]});
    let values: Vec<String> = group(&e)
        .contributing_values()
        .iter()
        .map(|(_, v)| (*v).to_owned())
        .collect();
    assert_eq!(values, ["1", "2", "1", "<no-value-for-tag-c>"]);
}

#[test]
fn only_the_innermost_frames_are_considered() {
    let n = MAX_FRAMES;
    let trace = |outer: &str, inner: &str, len: usize| {
        let mut names: Vec<String> = (0..len).map(|i| format!("f{i}")).collect();
        names[0] = outer.to_owned();
        names[len - 1] = inner.to_owned();
        exc(frames(names))
    };
    // At the limit, every frame counts.
    assert_ne!(key(&trace("a", "z", n)), key(&trace("b", "z", n)));
    assert!(
        group(&trace("a", "z", n))
            .explanation
            .find("frames")
            .is_none()
    );
    // Beyond it, the outermost frames do not; the innermost do.
    assert_eq!(key(&trace("a", "z", n + 1)), key(&trace("b", "z", n + 1)));
    assert_ne!(key(&trace("a", "y", n + 1)), key(&trace("a", "z", n + 1)));
    let g = group(&trace("a", "z", n + 7));
    let note = g.explanation.find("frames").unwrap();
    assert!(!note.contributes);
    assert_eq!(
        note.hint.as_deref(),
        Some("7 outer frames not considered (at most the innermost 250)")
    );
    // The culprit is the crash-side frame.
    assert_eq!(g.culprit.as_deref(), Some("z"));
}

#[test]
fn only_both_ends_of_a_long_chain_are_considered() {
    let chain = |first: &str, middle: &str, last: &str, len: usize| {
        let values: Vec<Value> = (0..len)
            .map(|i| {
                let ty = match i {
                    0 => first.to_owned(),
                    i if i == len / 2 => middle.to_owned(),
                    i if i == len - 1 => last.to_owned(),
                    i => format!("E{i}"),
                };
                json!({"type": ty, "value": "v"})
            })
            .collect();
        json!({"exception": {"values": values}})
    };
    let n = MAX_EXCEPTIONS;
    assert_ne!(key(&chain("A", "M", "Z", n)), key(&chain("A", "N", "Z", n)));
    let long = 3 * n;
    assert_eq!(
        key(&chain("A", "M", "Z", long)),
        key(&chain("A", "N", "Z", long))
    );
    assert_ne!(
        key(&chain("A", "M", "Z", long)),
        key(&chain("B", "M", "Z", long))
    );
    assert_ne!(
        key(&chain("A", "M", "Z", long)),
        key(&chain("A", "M", "Y", long))
    );
    let g = group(&chain("A", "M", "Z", long));
    assert_eq!(g.title, "Z: v");
    let types = g
        .contributing_values()
        .iter()
        .filter(|(n, _)| *n == "type")
        .count();
    assert_eq!(types, n);
    let note = g.explanation.children[1].children[0].children[n / 2].clone();
    assert_eq!(
        note.hint.as_deref(),
        Some(
            "64 exceptions in the middle of the chain not considered (at most 32: the first and the last 16)"
        )
    );
    // One note, between the two runs: n exceptions and the note.
    let chain_tree = &g.explanation.children[1].children[0];
    assert_eq!(chain_tree.children.len(), n + 1);
    let notes = chain_tree
        .children
        .iter()
        .filter(|c| {
            c.hint
                .as_deref()
                .is_some_and(|h| h.contains("not considered"))
        })
        .count();
    assert_eq!(notes, 1);
}

#[test]
fn parameterization_reads_a_bounded_text() {
    let line = |tail: &str| format!("{}{tail}", "ab ".repeat(MAX_MESSAGE_CHARS));
    // Beyond the limit, the text is cut and marked.
    let p = parameterize(&line("1"));
    assert_eq!(p.chars().count(), MAX_MESSAGE_CHARS + 3);
    assert!(p.ends_with("..."));
    assert_eq!(
        key(&json!({"message": line("1")})),
        key(&json!({"message": line("x")}))
    );
    // Below it, nothing changes.
    let short = |tail: &str| format!("{}{tail}", "ab ".repeat(MAX_MESSAGE_CHARS / 3 - 1));
    assert_ne!(
        key(&json!({"message": short("x")})),
        key(&json!({"message": short("y")}))
    );
    assert_eq!(
        parameterize(&short("7")),
        format!("{}<int>", "ab ".repeat(MAX_MESSAGE_CHARS / 3 - 1))
    );
    // Two long lines: the cut applies to both together.
    let two = format!("{}\n{}\nthird", "a".repeat(5000), "b".repeat(5000));
    let p = parameterize(&two);
    assert_eq!(p.chars().count(), MAX_MESSAGE_CHARS + 3);
    // A value that does not count is shown cut.
    let e = json!({"exception": {"values": [{"type": "E", "value": "v".repeat(100_000),
        "stacktrace": {"frames": [{"function": "f"}]}}]}});
    let g = group(&e);
    let value = g.explanation.find("value").unwrap();
    assert!(!value.contributes);
    assert_eq!(value.values[0].len(), MAX_MESSAGE_CHARS);
}

#[test]
fn titles_and_culprits_of_huge_values_are_bounded() {
    let huge = "v".repeat(1 << 20);
    let g = group(
        &json!({"exception": {"values": [{"type": "T".repeat(1 << 20), "value": huge,
        "stacktrace": {"frames": [{"module": "m".repeat(1 << 20), "function": "f".repeat(1 << 20)}]}}]}}),
    );
    assert_eq!(g.title.chars().count(), MAX_TITLE_CHARS + 1);
    assert!(g.title.ends_with('…'));
    let culprit = g.culprit.unwrap();
    assert_eq!(culprit.chars().count(), MAX_TITLE_CHARS + 1);
    // Short titles are unchanged, and a first line is found within the scan.
    let g = group(
        &json!({"exception": {"values": [{"type": "E", "value": format!("first\n{huge}")}]}}),
    );
    assert_eq!(g.title, "E: first");
    // A first line that does not end within the scanned bytes is cut there
    // (multi-byte characters: the scan stops on a character boundary).
    let wide = "é".repeat(TITLE_SCAN_BYTES);
    let g = group(&json!({"message": format!("{wide}\nsecond")}));
    assert_eq!(g.title, format!("{}…", "é".repeat(MAX_TITLE_CHARS)));
}
