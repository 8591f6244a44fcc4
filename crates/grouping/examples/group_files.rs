//! Groups Sentry event JSON files and prints one JSON line per file:
//! `{"source", "config", "key", "other_keys", "title", "culprit", "variant",
//! "values"}` — the output of `periscope group`.
//!
//! ```text
//! cargo run -p periscope-grouping --example group_files -- [--config periscope:2026-11] [--explain] FILE...
//! ```
//!
//! Without `--config`, the newest configuration groups.
//!
//! `--explain` prints the whole explanation tree instead of the contributing
//! values. A file that cannot be read or parsed prints `{"source", "error"}`
//! and makes the exit status 1.

use std::process::ExitCode;

use periscope_grouping::{ConfigId, Grouper, GroupingConfig};
use periscope_sentry_envelope::Event;

fn main() -> ExitCode {
    let mut config = ConfigId::NEWEST;
    let mut explain = false;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "--strategy" => match args.next().map(|s| s.parse::<ConfigId>()) {
                Some(Ok(c)) => config = c,
                Some(Err(e)) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
                None => {
                    let ids: Vec<&str> = ConfigId::ALL.iter().map(|c| c.as_str()).collect();
                    eprintln!("--config needs a value: one of {}", ids.join(", "));
                    return ExitCode::from(2);
                }
            },
            "--explain" => explain = true,
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        eprintln!("usage: group_files [--config ID] [--explain] FILE...");
        return ExitCode::from(2);
    }

    let grouper = Grouper::new(GroupingConfig::new(config));
    let mut status = ExitCode::SUCCESS;
    for file in &files {
        let event = std::fs::read(file)
            .map_err(|e| e.to_string())
            .and_then(|bytes| Event::from_slice(&bytes).map_err(|e| e.to_string()));
        match event {
            Ok(event) => {
                let grouping = grouper.group(&event);
                if explain {
                    let tree = serde_json::to_string_pretty(&grouping).unwrap_or_default();
                    println!("{tree}");
                } else {
                    let mut summary = grouping.summary();
                    summary.source = Some(file);
                    println!("{}", summary.to_json_line());
                }
            }
            Err(error) => {
                let line = serde_json::json!({ "source": file, "error": error });
                println!("{line}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
