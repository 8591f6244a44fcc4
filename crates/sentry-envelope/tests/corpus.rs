//! Every file of the event corpus parses as a store body into an `Event`.
//!
//! Reads the folder named by `PERISCOPE_CORPUS_DIR` (relative paths are taken
//! from the workspace root); skipped when the variable is unset.

#![allow(clippy::unwrap_used)]

use periscope_sentry_envelope::{Event, decode_store_body};
use periscope_test_support::corpus;

#[test]
fn every_corpus_file_parses() {
    let Some(dir) = corpus::dir() else {
        println!("skipped: PERISCOPE_CORPUS_DIR not set");
        return;
    };
    let files = corpus::json_files(&dir);
    assert_eq!(files.len(), 190, "corpus size changed");

    let mut failures = Vec::new();
    let (mut with_exception, mut with_frames, mut with_message, mut with_timestamp) = (0, 0, 0, 0);
    let (mut with_event_id, mut with_fingerprint, mut with_tags, mut chained) = (0, 0, 0, 0);
    for path in &files {
        let body = std::fs::read(path).unwrap();
        let event = decode_store_body(&body, 10 << 20).and_then(|json| Event::from_slice(&json));
        match event {
            Ok(e) => {
                with_exception += usize::from(!e.exceptions.is_empty());
                with_frames += usize::from(
                    e.exceptions
                        .iter()
                        .any(|x| x.stacktrace.as_ref().is_some_and(|s| !s.frames.is_empty())),
                );
                with_message += usize::from(e.message().is_some());
                with_timestamp += usize::from(e.timestamp.is_some());
                with_event_id += usize::from(e.event_id.is_some());
                with_fingerprint += usize::from(e.fingerprint.is_some());
                with_tags += usize::from(!e.tags.is_empty());
                chained += usize::from(e.exceptions.len() > 1);
                // Every exception kept has a type or a value.
                for x in &e.exceptions {
                    assert!(x.ty.is_some() || x.value.is_some(), "{}", path.display());
                }
                // Writing and reading again gives the same event.
                let again = Event::from_slice(&serde_json::to_vec(&e).unwrap()).unwrap();
                assert_eq!(again, e, "{} does not round-trip", path.display());
            }
            Err(err) => failures.push(format!("{}: {err}", path.display())),
        }
    }
    println!(
        "{} files: exception {with_exception}, frames {with_frames}, chained {chained}, \
         message {with_message}, timestamp {with_timestamp}, event_id {with_event_id}, \
         fingerprint {with_fingerprint}, tags {with_tags}",
        files.len()
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    // Facts about the corpus (counted independently with a JSON tool).
    assert_eq!(with_event_id, 189);
    assert_eq!(with_fingerprint, 20);
    assert_eq!(with_exception, 179);
    assert_eq!(with_frames, 174);
    assert_eq!(with_message, 22);
    assert_eq!(with_tags, 7);
    assert_eq!(with_timestamp, 190);
    assert_eq!(chained, 17);
}
