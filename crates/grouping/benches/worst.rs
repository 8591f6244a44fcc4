//! Time to group each worst-case event shape at the server's event size limit
//! (1 MiB of JSON; see `tests/support/worst.rs`), on one core.
//!
//! ```text
//! cargo bench -p periscope-grouping --bench worst
//! ```
//!
//! The events are parsed once, outside the timed loop; one iteration groups
//! one event with the default strategy. Memory: `examples/worst_memory.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/support/worst.rs"]
mod worst;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use periscope_grouping::{ConfigId, Grouper, GroupingConfig};
use periscope_sentry_envelope::Event;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("worst");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, bytes) in worst::all() {
        let event = Event::from_slice(&bytes).unwrap();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        for strategy in ConfigId::ALL {
            let grouper = Grouper::new(GroupingConfig::new(*strategy));
            group.bench_function(format!("{name}/{strategy}"), |b| {
                b.iter(|| black_box(grouper.group(black_box(&event))))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
