//! The grouping key of every corpus event, under every configuration, is
//! pinned in `tests/data/corpus_keys.tsv` (relative path, configuration id,
//! key). Any change of the rules that moves a key of a real event fails here:
//! such a change must become a new configuration (old issues keep their keys),
//! not an edit. (The keys of `periscope:2026-11` and `type-and-value:2026-11`
//! were recorded when they were the strategies `default` and `type-and-value`.)
//!
//! Reads the folder from `PERISCOPE_CORPUS_DIR` (relative paths are resolved
//! against the workspace root), walked recursively, and skips when it is not
//! set. `PERISCOPE_BLESS_CORPUS_KEYS=1` rewrites the snapshot instead of
//! comparing (for a deliberate new configuration only; review the diff: only
//! its rows may appear).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use periscope_grouping::{ConfigId, Grouper, GroupingConfig};
use periscope_sentry_envelope::Event;
use periscope_test_support::corpus;

const SNAPSHOT: &str = "tests/data/corpus_keys.tsv";

/// `(relative path, configuration id) → key` for the whole corpus, as grouped now.
fn current_keys(dir: &Path) -> BTreeMap<(String, String), String> {
    let mut files = corpus::json_files(dir);
    files.sort();
    let mut keys = BTreeMap::new();
    for path in files {
        let relative = path
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = std::fs::read(&path).unwrap();
        let event =
            Event::from_slice(&bytes).unwrap_or_else(|e| panic!("{relative} does not parse: {e}"));
        for config in ConfigId::ALL {
            let g = Grouper::new(GroupingConfig::new(*config)).group(&event);
            keys.insert((relative.clone(), config.to_string()), g.key);
        }
    }
    keys
}

fn parse_snapshot(text: &str) -> BTreeMap<(String, String), String> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut cols = l.split('\t');
            let (path, config, key) = (cols.next(), cols.next(), cols.next());
            match (path, config, key, cols.next()) {
                (Some(p), Some(s), Some(k), None) => ((p.to_owned(), s.to_owned()), k.to_owned()),
                _ => panic!("{SNAPSHOT}: malformed line {l:?}"),
            }
        })
        .collect()
}

fn render_snapshot(keys: &BTreeMap<(String, String), String>) -> String {
    let mut out = String::from(
        "# Grouping keys of every event of shared/corpus/event-samples, per configuration.\n\
         # Derived data only (no event content). Checked by tests/corpus_keys.rs.\n\
         # path\tconfig\tkey\n",
    );
    for ((path, config), key) in keys {
        writeln!(out, "{path}\t{config}\t{key}").unwrap();
    }
    out
}

#[test]
fn corpus_keys_match_the_snapshot() {
    let Some(dir) = corpus::dir() else {
        println!("skipped: PERISCOPE_CORPUS_DIR unset");
        return;
    };
    let snapshot_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SNAPSHOT);
    let current = current_keys(&dir);
    if std::env::var_os("PERISCOPE_BLESS_CORPUS_KEYS").is_some() {
        std::fs::write(&snapshot_path, render_snapshot(&current)).unwrap();
        println!("wrote {} ({} keys)", snapshot_path.display(), current.len());
        return;
    }
    let text = std::fs::read_to_string(&snapshot_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", snapshot_path.display()));
    let expected = parse_snapshot(&text);
    assert_eq!(
        expected.len(),
        190 * ConfigId::ALL.len(),
        "the snapshot holds every corpus event under every configuration"
    );
    let mut differences = Vec::new();
    for (id, key) in &expected {
        match current.get(id) {
            Some(k) if k == key => {}
            Some(k) => differences.push(format!("{} {}: {key} → {k}", id.0, id.1)),
            None => differences.push(format!("{} {}: missing from the corpus", id.0, id.1)),
        }
    }
    for id in current.keys().filter(|id| !expected.contains_key(*id)) {
        differences.push(format!("{} {}: not in the snapshot", id.0, id.1));
    }
    assert!(
        differences.is_empty(),
        "{} corpus keys differ from {SNAPSHOT}:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
