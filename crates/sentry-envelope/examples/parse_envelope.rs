//! Reads an envelope from stdin and prints what it holds.
//!
//! ```sh
//! printf '{}\n{"type":"event"}\n{"message":"hi","level":"warning"}\n' \
//!     | cargo run -p periscope-sentry-envelope --example parse_envelope
//! ```

use std::io::Read;
use std::process::ExitCode;

use periscope_sentry_envelope::{Envelope, ParseLimits, bytes::Bytes};

fn main() -> ExitCode {
    let mut body = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut body) {
        eprintln!("error: reading stdin: {e}");
        return ExitCode::FAILURE;
    }
    let envelope = match Envelope::parse(Bytes::from(body), &ParseLimits::default()) {
        Ok(envelope) => envelope,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let h = &envelope.headers;
    println!(
        "envelope: event_id={} sdk={} sent_at={} dsn={}",
        h.event_id.map_or("-".into(), |id| id.to_string()),
        h.sdk.as_ref().map_or("-".into(), |s| format!(
            "{}/{}",
            s.name.as_deref().unwrap_or("?"),
            s.version.as_deref().unwrap_or("?")
        )),
        h.sent_at.map_or("-".into(), |t| t.to_rfc3339()),
        h.dsn.as_deref().unwrap_or("-"),
    );
    for (i, item) in envelope.items.iter().enumerate() {
        println!(
            "item {i}: type={} category={} bytes={} content_type={}",
            item.ty(),
            item.ty()
                .data_category()
                .map_or_else(|| "-".to_owned(), |c| c.to_string()),
            item.payload.len(),
            item.headers.content_type.as_deref().unwrap_or("-"),
        );
    }
    match envelope.parse_event() {
        None => println!("no event item"),
        Some(Err(e)) => {
            eprintln!("error: event item: {e}");
            return ExitCode::FAILURE;
        }
        Some(Ok(event)) => {
            println!(
                "event: level={} platform={} message={:?}",
                event.level.as_ref().map_or("-", |l| l.as_str()),
                event.platform.as_deref().unwrap_or("-"),
                event.message().unwrap_or("")
            );
            for x in &event.exceptions {
                println!(
                    "  exception {}: {} ({} frames)",
                    x.ty.as_deref().unwrap_or("?"),
                    x.value.as_deref().unwrap_or(""),
                    x.stacktrace.as_ref().map_or(0, |s| s.frames.len())
                );
            }
        }
    }
    ExitCode::SUCCESS
}
