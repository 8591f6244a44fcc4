//! Worst-case event shapes, each at most [`EVENT_BYTES`] of JSON: what a
//! hostile sender can do within the server's event size limit. Shared by
//! `tests/worst.rs`, `benches/worst.rs` and `examples/worst_memory.rs`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

/// The largest event the server accepts by default (`PERISCOPE_MAX_EVENT_BYTES`).
pub(crate) const EVENT_BYTES: usize = 1 << 20;

/// A line full of values that parameterization replaces.
const TOKENS: &str = "user 12345 at 10.0.12.7 id 550e8400-e29b-41d4-a716-446655440000 \
    mail bob@example.com on 2024-01-31T12:00:00Z took 250ms ptr 0xdeadbeef ratio 3.14 \
    url https://a.example.com/x?y=1 host db-1.prod.example.com peer fe80::1 name='x' ";

/// `text` repeated to `bytes` bytes (cut on a character boundary).
fn repeat_to(text: &str, bytes: usize) -> String {
    let mut s = text.repeat(bytes / text.len() + 1);
    let mut end = bytes.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

/// `build(n)` for the largest `n` whose JSON fits in [`EVENT_BYTES`].
fn fill(build: impl Fn(usize) -> Value) -> Vec<u8> {
    let size = |n: usize| serde_json::to_vec(&build(n)).unwrap().len();
    let (s1, s2) = (size(1), size(2));
    let per_item = (s2 - s1).max(1);
    let mut n = (EVENT_BYTES.saturating_sub(s1) / per_item).max(1);
    loop {
        let bytes = serde_json::to_vec(&build(n)).unwrap();
        if bytes.len() <= EVENT_BYTES || n == 1 {
            return bytes;
        }
        n = (n as u128 * EVENT_BYTES as u128 / bytes.len() as u128) as usize - 1;
    }
}

fn py_frame(i: usize) -> Value {
    json!({"function": format!("f{i}"), "module": "app.m", "in_app": i.is_multiple_of(2)})
}

/// `n` times `{{ default }}`, then a literal.
fn defaults(n: usize) -> Vec<Value> {
    let mut fp: Vec<Value> = (0..n).map(|_| json!("{{ default }}")).collect();
    fp.push(json!("tenant-a"));
    fp
}

/// The event of issue 12: 1,000 `{{ default }}` over a 3,000-frame stack
/// trace (about 170 KB).
pub(crate) fn issue_12() -> Vec<u8> {
    let frames: Vec<Value> = (0..3000).map(py_frame).collect();
    serde_json::to_vec(&json!({
        "platform": "python",
        "fingerprint": defaults(1000),
        "exception": {"values": [{"type": "E", "value": "v", "stacktrace": {"frames": frames}}]},
    }))
    .unwrap()
}

/// Issue 12's shape at 1 MiB: 1,000 `{{ default }}`, as many frames as fit.
pub(crate) fn repeated_default() -> Vec<u8> {
    fill(|n| {
        let frames: Vec<Value> = (0..n).map(py_frame).collect();
        json!({
            "platform": "python",
            "fingerprint": defaults(1000),
            "exception": {"values": [{"type": "E", "value": "v", "stacktrace": {"frames": frames}}]},
        })
    })
}

/// 100,000 tiny frames (`{}` or `{"in_app":true}`: nothing contributes), then
/// as many frames named by one digit as fit.
pub(crate) fn tiny_frames() -> Vec<u8> {
    fill(|n| {
        let mut frames: Vec<Value> = (0..100_000usize)
            .map(|i| {
                if i.is_multiple_of(3) {
                    json!({"in_app": true})
                } else {
                    json!({})
                }
            })
            .collect();
        frames.extend((0..n).map(|i| json!({"function": format!("{}", i % 10)})));
        json!({"exception": {"values": [{"type": "E", "stacktrace": {"frames": frames}}]}})
    })
}

/// One stack trace of as many empty frames as fit (about 350,000).
pub(crate) fn empty_frames() -> Vec<u8> {
    fill(|n| {
        let frames: Vec<Value> = (0..n).map(|_| json!({})).collect();
        json!({"stacktrace": {"frames": frames}, "message": "m"})
    })
}

/// A chain of as many exceptions as fit, each with a numbered value and
/// five in-app frames.
pub(crate) fn deep_chain() -> Vec<u8> {
    fill(|n| {
        let values: Vec<Value> = (0..n)
            .map(|i| {
                let frames: Vec<Value> = (0..5)
                    .map(|j| json!({"function": format!("g{j}"), "in_app": true}))
                    .collect();
                json!({"type": format!("E{i}"), "value": format!("failed {i}"),
                       "stacktrace": {"frames": frames}})
            })
            .collect();
        json!({"exception": {"values": values}})
    })
}

/// An exception group with as many distinct leaves as fit.
pub(crate) fn exception_group() -> Vec<u8> {
    fill(|n| {
        let mut values = vec![json!({"type": "ExceptionGroup", "value": "g",
            "mechanism": {"exception_id": 0, "is_exception_group": true}})];
        values.extend((1..=n).map(|i| {
            json!({"type": format!("E{i}"), "value": "v",
                   "mechanism": {"exception_id": i, "parent_id": 0}})
        }));
        json!({"exception": {"values": values}})
    })
}

/// A 1 MiB single-line message full of numbers, UUIDs, IPs, emails, dates ...
pub(crate) fn huge_message() -> Vec<u8> {
    fill(|n| json!({"message": repeat_to(TOKENS, n * 1000)}))
}

/// A 1 MiB message of short lines, and an exception value of the same (the
/// value counts: there is no stack trace).
pub(crate) fn huge_value() -> Vec<u8> {
    fill(|n| {
        let text = repeat_to(&TOKENS.replace(' ', "\n"), n * 500);
        json!({"message": text.clone(), "exception": {"values": [{"type": "E", "value": text}]}})
    })
}

/// A chain of exceptions without stack traces (so their values count), each
/// value a 8 KiB line of numbers: as many as fit.
pub(crate) fn chain_of_values() -> Vec<u8> {
    let value = repeat_to("1 22 333 ", 8192);
    fill(|n| {
        let values: Vec<Value> = (0..n)
            .map(|i| json!({"type": format!("E{i}"), "value": value}))
            .collect();
        json!({"exception": {"values": values}})
    })
}

/// As many threads as fit, each with ten frames; the last one crashed.
pub(crate) fn many_threads() -> Vec<u8> {
    fill(|n| {
        let threads: Vec<Value> = (0..n)
            .map(|i| {
                let frames: Vec<Value> = (0..10usize)
                    .map(|j| json!({"function": format!("t{j}"), "in_app": j.is_multiple_of(2)}))
                    .collect();
                json!({"id": i, "crashed": i + 1 == n, "stacktrace": {"frames": frames}})
            })
            .collect();
        json!({"threads": {"values": threads}})
    })
}

/// As many tags as fit, 64 distinct `{{ tags.NAME }}` (the last tags) and
/// 1,000 repeats of one, over a 64 KiB message referenced by `{{ message }}`.
pub(crate) fn huge_tags() -> Vec<u8> {
    fill(|n| {
        let tags: serde_json::Map<String, Value> = (0..n)
            .map(|i| (format!("t{i}"), json!(format!("value-{i}"))))
            .collect();
        let mut fp: Vec<Value> = (0..64)
            .map(|i| json!(format!("{{{{ tags.t{} }}}}", n.saturating_sub(i + 1))))
            .collect();
        fp.extend((0..1000).map(|_| json!("{{ tags.t0 }}")));
        fp.push(json!("{{ message }}"));
        json!({"tags": tags, "fingerprint": fp, "message": repeat_to(TOKENS, 64 * 1024)})
    })
}

/// Type, value, module and function names of about 250 KB each, on one line
/// (title and culprit are built from them).
pub(crate) fn long_names() -> Vec<u8> {
    let big = |c: &str| repeat_to(c, 250_000);
    serde_json::to_vec(&json!({
        "exception": {"values": [{"type": big("T"), "value": big("v 1 "),
            "stacktrace": {"frames": [{"function": big("f"), "module": big("m"), "in_app": true}]}}]},
    }))
    .unwrap()
}

/// Every shape, by name.
pub(crate) fn all() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("issue-12", issue_12()),
        ("repeated-default", repeated_default()),
        ("tiny-frames", tiny_frames()),
        ("empty-frames", empty_frames()),
        ("deep-chain", deep_chain()),
        ("exception-group", exception_group()),
        ("huge-message", huge_message()),
        ("huge-value", huge_value()),
        ("chain-of-values", chain_of_values()),
        ("many-threads", many_threads()),
        ("huge-tags", huge_tags()),
        ("long-names", long_names()),
    ]
}
