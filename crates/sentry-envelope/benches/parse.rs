//! Parsing throughput over the event corpus.
//!
//! Reads the corpus from `PERISCOPE_CORPUS_DIR` (relative to the workspace
//! root when relative), defaulting to `../shared/corpus/event-samples`.
//! Each benchmark reports bytes/s and elements/s (events or envelopes).
//!
//! Time is the benchmark thread's *CPU time* (from
//! `/proc/thread-self/schedstat` on Linux, wall-clock time elsewhere), so the
//! figures mean "on one core" even on a busy machine. That counter advances
//! in scheduler ticks (about 4 ms), so every group uses flat sampling with
//! samples of about 50 ms: the tick error is unbiased and averages out.
//!
//! Groups: `event_from_slice` (all 190 corpus events), `event_typical` (the
//! middle half of the corpus by size, 25th to 75th percentile),
//! `envelope_parse` (each event wrapped in an envelope with an attachment and
//! a client report), `envelope_and_event` (both), and two baselines over the
//! same bytes (`serde_json::Value`, and validation only with `IgnoredAny`).
//!
//! Run: `PERISCOPE_CORPUS_DIR=/work/shared/corpus/event-samples cargo bench -p periscope-sentry-envelope`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{
    Bencher, BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
    measurement::WallTime,
};
use periscope_sentry_envelope::{
    Envelope, EnvelopeHeaders, Event, EventId, Item, ItemType, ParseLimits,
};

/// This thread's CPU time in nanoseconds, if the OS tells.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Runs `f` `iters` times and returns the CPU time it took (wall time as a fallback).
fn cpu_timed(b: &mut Bencher<'_>, mut f: impl FnMut()) {
    b.iter_custom(|iters| {
        let (cpu, wall) = (thread_cpu_ns(), Instant::now());
        for _ in 0..iters {
            f();
        }
        match (cpu, thread_cpu_ns()) {
            (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
            _ => wall.elapsed(),
        }
    })
}

fn corpus() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::var_os("PERISCOPE_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/corpus/event-samples"));
    let dir = if dir.is_absolute() {
        dir
    } else {
        root.join(dir)
    };
    let mut out = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "json") {
                out.push(std::fs::read(&path).unwrap());
            }
        }
    }
    assert!(!out.is_empty(), "no corpus files in {}", dir.display());
    out
}

/// Each corpus event as an envelope: event item, a small attachment, a client report.
fn envelopes(events: &[Vec<u8>]) -> Vec<Bytes> {
    events
        .iter()
        .enumerate()
        .map(|(i, json)| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            let envelope = Envelope {
                headers: EnvelopeHeaders {
                    event_id: Some(EventId::from_bytes(id)),
                    dsn: Some(
                        "https://0123456789abcdef0123456789abcdef@errors.example.com/1".into(),
                    ),
                    ..EnvelopeHeaders::default()
                },
                items: vec![
                    Item::new(ItemType::Event, json.clone()),
                    Item::new(ItemType::Attachment, b"log line 1\nlog line 2\n".to_vec()),
                    Item::new(
                        ItemType::ClientReport,
                        br#"{"timestamp":1700000000,"discarded_events":[]}"#.to_vec(),
                    ),
                ],
            };
            Bytes::from(envelope.to_bytes())
        })
        .collect()
}

/// A benchmark group with flat sampling (see the module docs).
fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
    throughput: Throughput,
) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(throughput);
    g
}

fn bench(c: &mut Criterion) {
    let events = corpus();
    let event_bytes: u64 = events.iter().map(|e| e.len() as u64).sum();
    let envs = envelopes(&events);
    let env_bytes: u64 = envs.iter().map(|e| e.len() as u64).sum();
    let limits = ParseLimits::default();
    let mut by_size: Vec<&Vec<u8>> = events.iter().collect();
    by_size.sort_by_key(|e| e.len());
    let typical: Vec<Vec<u8>> = by_size[by_size.len() / 4..by_size.len() * 3 / 4]
        .iter()
        .map(|e| (*e).clone())
        .collect();
    let typical_bytes: u64 = typical.iter().map(|e| e.len() as u64).sum();
    println!(
        "corpus: {} events, {} bytes (mean {}); typical half: {} events, mean {} bytes",
        events.len(),
        event_bytes,
        event_bytes / events.len() as u64,
        typical.len(),
        typical_bytes / typical.len() as u64
    );

    for (name, throughput) in [
        ("bytes", Throughput::Bytes(event_bytes)),
        ("events", Throughput::Elements(events.len() as u64)),
    ] {
        let mut g = group(c, &format!("event_from_slice/{name}"), throughput);
        g.bench_function("corpus", |b| {
            cpu_timed(b, || {
                for e in &events {
                    black_box(Event::from_slice(black_box(e)).unwrap());
                }
            })
        });
        g.finish();
    }

    for (name, throughput) in [
        ("bytes", Throughput::Bytes(typical_bytes)),
        ("events", Throughput::Elements(typical.len() as u64)),
    ] {
        let mut g = group(c, &format!("event_typical/{name}"), throughput);
        g.bench_function("corpus", |b| {
            cpu_timed(b, || {
                for e in &typical {
                    black_box(Event::from_slice(black_box(e)).unwrap());
                }
            })
        });
        g.finish();
    }

    // Baselines: the same bytes into serde_json::Value, and only validated.
    let mut g = group(c, "baseline/bytes", Throughput::Bytes(event_bytes));
    g.bench_function("serde_json_value", |b| {
        cpu_timed(b, || {
            for e in &events {
                black_box(serde_json::from_slice::<serde_json::Value>(black_box(e)).unwrap());
            }
        })
    });
    g.bench_function("serde_ignored_any", |b| {
        cpu_timed(b, || {
            for e in &events {
                black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(e)).unwrap());
            }
        })
    });
    g.finish();

    for (name, throughput) in [
        ("bytes", Throughput::Bytes(env_bytes)),
        ("envelopes", Throughput::Elements(envs.len() as u64)),
    ] {
        let mut g = group(c, &format!("envelope_parse/{name}"), throughput);
        g.bench_function("corpus", |b| {
            cpu_timed(b, || {
                for e in &envs {
                    black_box(Envelope::parse(e.clone(), &limits).unwrap());
                }
            })
        });
        g.finish();

        let throughput = match name {
            "bytes" => Throughput::Bytes(env_bytes),
            _ => Throughput::Elements(envs.len() as u64),
        };
        let mut g = group(c, &format!("envelope_and_event/{name}"), throughput);
        g.bench_function("corpus", |b| {
            cpu_timed(b, || {
                for e in &envs {
                    let envelope = Envelope::parse(e.clone(), &limits).unwrap();
                    black_box(envelope.parse_event().unwrap().unwrap());
                }
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
