//! Every event of the corpus (`PERISCOPE_CORPUS_DIR`) through the event view and
//! the text of `periscope issue show`: each reads without a problem, shows what it
//! is about, agrees with the protocol crate on the primary exception, and prints
//! nothing a terminal would interpret.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use periscope_sentry_envelope::Event;
use periscope_server::service::event_details;
use periscope_test_support::corpus;

#[test]
fn every_corpus_event_has_a_view_without_problems() {
    let Some(dir) = corpus::dir_or_skip() else {
        return;
    };
    let files = corpus::json_files(&dir);
    assert!(!files.is_empty(), "no .json files under {}", dir.display());
    let mut failures = Vec::new();
    for path in &files {
        let name = path
            .strip_prefix(&dir)
            .unwrap_or(path)
            .display()
            .to_string();
        let bytes = std::fs::read(path).unwrap();
        let d = event_details(&bytes);
        if !d.problems.is_empty() {
            failures.push(format!("{name}: problems {:?}", d.problems));
            continue;
        }
        let event = Event::from_slice(&bytes).unwrap();
        let shown = !d.exceptions.is_empty()
            || d.message.is_some()
            || !d.threads.is_empty()
            || d.stacktrace.is_some();
        let has_something = !event.exceptions.is_empty()
            || event.message().is_some()
            || !event.threads.is_empty()
            || event.stacktrace.is_some();
        if shown != has_something {
            failures.push(format!(
                "{name}: shown {shown}, has something {has_something}"
            ));
        }
        if let Some(primary) = event.primary_exception() {
            let view = d.primary_exception().map(|x| x.ty.clone());
            if view != Some(primary.ty.clone()) {
                failures.push(format!(
                    "{name}: primary exception {view:?}, protocol says {:?}",
                    primary.ty
                ));
            }
            if d.exceptions.len() != event.exceptions.len() {
                failures.push(format!("{name}: exceptions differ in number"));
            }
        }
        let mut text = String::new();
        periscope_server::cli::show::render_event(&mut text, &d);
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
        {
            failures.push(format!("{name}: the text holds control character {c:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} events:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    println!("{} corpus events viewed", files.len());
}
