//! The 190 corpus events through the real binary: posted to `/store/` plain and
//! gzip-compressed, and as envelopes. Every one is answered 200, stored under the id
//! the server answered, and filed under the issue whose key the grouping crate
//! computes for it (so the server groups exactly as the grouping crate defines,
//! including Sentry's own `group_N_event_M` assignments that crate checks).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use periscope_grouping::{Grouper, GroupingConfig};
use periscope_sentry_envelope::Event;
use periscope_store::IssueStore;

use crate::common::{
    Server, auth_header, corpus_dir, corpus_files, event_envelope, gzip, http, new_event_id, post,
};

#[derive(Clone, Copy, Debug)]
enum Mode {
    Plain,
    Gzip,
    Envelope,
}

/// One event as sent: (file, the id we expect, the event JSON sent).
type Sent = (PathBuf, String, Vec<u8>);

/// The file's JSON with a fresh `event_id` (the corpus repeats some ids; each post
/// must be a distinct event to be counted).
fn with_fresh_id(bytes: &[u8]) -> (String, Vec<u8>) {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let id = new_event_id();
    v["event_id"] = serde_json::Value::String(id.clone());
    (id, serde_json::to_vec(&v).unwrap())
}

fn send_all(server: &Server, project: i64, key: &str, files: &[PathBuf], mode: Mode) -> Vec<Sent> {
    let auth = auth_header(key);
    let chunks: Vec<&[PathBuf]> = files.chunks(files.len().div_ceil(4)).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let auth = auth.clone();
                s.spawn(move || {
                    let client = http();
                    let mut sent = Vec::new();
                    for path in chunk {
                        let raw = std::fs::read(path).unwrap();
                        let (id, event, answer) = match mode {
                            Mode::Plain => {
                                let (id, body) = with_fresh_id(&raw);
                                let a = post(
                                    &client,
                                    &server.store_url(project),
                                    &[
                                        ("x-sentry-auth", &auth),
                                        ("content-type", "application/json"),
                                    ],
                                    body.clone(),
                                );
                                (id, body, a)
                            }
                            Mode::Gzip => {
                                let (id, body) = with_fresh_id(&raw);
                                let a = post(
                                    &client,
                                    &server.store_url(project),
                                    &[("x-sentry-auth", &auth), ("content-encoding", "gzip")],
                                    gzip(&body),
                                );
                                (id, body, a)
                            }
                            Mode::Envelope => {
                                // The file's bytes as they are; the header's id wins.
                                let id = new_event_id();
                                let a = post(
                                    &client,
                                    &server.envelope_url(project),
                                    &[
                                        ("x-sentry-auth", &auth),
                                        ("content-type", "application/x-sentry-envelope"),
                                    ],
                                    event_envelope(&id, &raw),
                                );
                                (id, raw, a)
                            }
                        };
                        assert_eq!(
                            answer.status,
                            200,
                            "{mode:?} {}: {}",
                            path.display(),
                            answer.body
                        );
                        assert_eq!(
                            answer.id().as_deref(),
                            Some(id.as_str()),
                            "{mode:?} {}",
                            path.display()
                        );
                        sent.push((path.clone(), id, event));
                    }
                    sent
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

#[test]
fn corpus_is_stored_and_grouped() {
    let Some(dir) = corpus_dir() else {
        println!("skipped: PERISCOPE_CORPUS_DIR not set");
        return;
    };
    let files = corpus_files(&dir);
    assert_eq!(files.len(), 190, "the corpus holds 190 events");

    let mut server = Server::sqlite();
    let projects: Vec<(Mode, i64, String)> = [Mode::Plain, Mode::Gzip, Mode::Envelope]
        .into_iter()
        .map(|mode| {
            let (id, _, key) = server.create_project(&format!("corpus-{mode:?}"));
            (mode, id, key)
        })
        .collect();
    server.start();
    let grouper = Grouper::new(GroupingConfig::default());
    let store = server.store();

    for (mode, project, key) in &projects {
        let sent = send_all(&server, *project, key, &files, *mode);
        assert_eq!(sent.len(), 190);
        let issues: BTreeMap<periscope_store::IssueId, periscope_store::Issue> = server
            .issues(*project)
            .into_iter()
            .map(|i| (i.id, i))
            .collect();
        let mut expected_count: BTreeMap<String, u64> = BTreeMap::new();
        let mut sentry_groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (path, id, event) in &sent {
            let stored = store
                .get_event(periscope_store::ProjectId(*project), id)
                .unwrap()
                .unwrap_or_else(|| {
                    panic!("{mode:?} {}: answered 200 but not stored", path.display())
                });
            assert_eq!(
                &stored.payload,
                event,
                "{mode:?} {}: payload changed",
                path.display()
            );
            let issue = &issues[&stored.summary.issue_id];
            let parsed = Event::from_slice(event).unwrap();
            let grouping = grouper.group(&parsed);
            assert_eq!(
                issue.grouping_key,
                grouping.key,
                "{mode:?} {}: filed under another issue",
                path.display()
            );
            *expected_count.entry(grouping.key.clone()).or_default() += 1;
            let name = path.file_name().unwrap().to_str().unwrap();
            if let Some(rest) = name.strip_prefix("group_") {
                let n = rest.split('_').next().unwrap().to_owned();
                sentry_groups.entry(n).or_default().insert(grouping.key);
            }
        }
        // One issue per distinct key, each counting exactly its events.
        assert_eq!(issues.len(), expected_count.len(), "{mode:?}: issue count");
        for issue in issues.values() {
            assert_eq!(
                Some(&issue.count),
                expected_count.get(&issue.grouping_key),
                "{mode:?}: count of {}",
                issue.title
            );
        }
        // Sentry's own issues of the corpus: the grouping crate documents which of the
        // 13 it can reproduce; here it is enough that no two of them share an issue.
        assert_eq!(sentry_groups.len(), 13);
        let mut owner: BTreeMap<&String, &String> = BTreeMap::new();
        for (n, keys) in &sentry_groups {
            for k in keys {
                if let Some(other) = owner.insert(k, n) {
                    panic!("{mode:?}: Sentry issues {other} and {n} merged");
                }
            }
        }
    }
    // The same events through the three paths make the same issues.
    let keys = |p: i64| -> BTreeSet<String> {
        server
            .issues(p)
            .into_iter()
            .map(|i| i.grouping_key)
            .collect()
    };
    assert_eq!(keys(projects[0].1), keys(projects[1].1));
    assert_eq!(keys(projects[0].1), keys(projects[2].1));
    server.stop();
}
