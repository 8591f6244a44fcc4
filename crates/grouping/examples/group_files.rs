//! Groups Sentry event JSON files and prints one JSON line per file:
//! `{"source", "key", "title", "culprit", "variant", "values"}` — the output of
//! `periscope group`.
//!
//! ```text
//! cargo run -p periscope-grouping --example group_files -- [--strategy type-and-value] [--explain] FILE...
//! ```
//!
//! `--explain` prints the whole explanation tree instead of the contributing
//! values. A file that cannot be read or parsed prints `{"source", "error"}`
//! and makes the exit status 1.

use std::process::ExitCode;

use periscope_grouping::{Grouper, GroupingConfig, Strategy};
use periscope_sentry_envelope::Event;

fn main() -> ExitCode {
    let mut strategy = Strategy::Default;
    let mut explain = false;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--strategy" => match args.next().map(|s| s.parse::<Strategy>()) {
                Some(Ok(s)) => strategy = s,
                Some(Err(e)) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
                None => {
                    eprintln!("--strategy needs a value: default or type-and-value");
                    return ExitCode::from(2);
                }
            },
            "--explain" => explain = true,
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        eprintln!("usage: group_files [--strategy NAME] [--explain] FILE...");
        return ExitCode::from(2);
    }

    let grouper = Grouper::new(GroupingConfig::new(strategy));
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
