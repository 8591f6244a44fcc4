//! Peak memory and time of grouping the worst-case event shapes (1 MiB each).
//!
//! ```text
//! cargo run --release -p periscope-grouping --example worst_memory [-- SHAPE...]
//! ```
//!
//! For each shape: the event is parsed first, then the process's peak RSS is
//! reset (Linux: `/proc/self/clear_refs`) and the event grouped once with the
//! default strategy; the line printed gives the event size, the components of
//! the explanation, the time and the growth of the peak RSS during grouping
//! (`VmHWM` after minus `VmRSS` before). Where the peak cannot be reset, the
//! whole-process peak is printed instead (run one shape per process).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/worst.rs"]
mod worst;

use std::time::Instant;

use periscope_grouping::{Component, Grouper, GroupingConfig};
use periscope_sentry_envelope::Event;

fn count(c: &Component) -> usize {
    1 + c.children.iter().map(count).sum::<usize>()
}

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    let grouper = Grouper::new(GroupingConfig::default());
    println!("shape\tbytes\tcomponents\tms\tpeak_rss_growth_kib");
    for (name, bytes) in worst::all() {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == name) {
            continue;
        }
        let event = Event::from_slice(&bytes).unwrap();
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let before = if reset { status_kib("VmRSS:") } else { Some(0) };
        let start = Instant::now();
        let grouping = grouper.group(&event);
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let peak = status_kib("VmHWM:");
        let growth = match (before, peak) {
            (Some(b), Some(p)) => p.saturating_sub(b).to_string(),
            _ => "?".to_owned(),
        };
        println!(
            "{name}\t{}\t{}\t{ms:.2}\t{growth}",
            bytes.len(),
            count(&grouping.explanation)
        );
        drop(grouping);
        drop(event);
    }
}
