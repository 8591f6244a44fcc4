//! Events grouped per second over the event corpus, on one core.
//!
//! ```text
//! PERISCOPE_CORPUS_DIR=/path/to/event-samples cargo bench -p periscope-grouping
//! ```
//!
//! The events are parsed once, outside the timed loop; one iteration groups
//! every event of the corpus once, and criterion reports the throughput in
//! elements (events) per second.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use periscope_grouping::{ConfigId, Grouper, GroupingConfig};
use periscope_sentry_envelope::Event;

fn corpus_dir() -> Option<PathBuf> {
    let value = std::env::var_os("PERISCOPE_CORPUS_DIR")?;
    let path = PathBuf::from(value);
    Some(if path.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path)
    } else {
        path
    })
}

fn load_events(dir: &Path) -> Vec<Event> {
    let mut events = Vec::new();
    for sub in ["sentry", "bugsink", "glitchtip"] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        for p in paths {
            if let Ok(event) = Event::from_slice(&std::fs::read(&p).unwrap()) {
                events.push(event);
            }
        }
    }
    events
}

fn bench(c: &mut Criterion) {
    let Some(dir) = corpus_dir() else {
        eprintln!("skipped: PERISCOPE_CORPUS_DIR not set");
        return;
    };
    let events = load_events(&dir);
    let mut group = c.benchmark_group("group");
    group.throughput(Throughput::Elements(events.len() as u64));
    for strategy in ConfigId::ALL {
        let grouper = Grouper::new(GroupingConfig::new(*strategy));
        group.bench_function(format!("corpus/{strategy}"), |b| {
            b.iter(|| {
                for event in &events {
                    black_box(grouper.group(black_box(event)));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
