//! The web UI of grouping over HTTP: merging and unmerging through the issue
//! page's forms (and the list's bulk form), a merged issue redirecting, the
//! project's grouping tab saving rules and showing a rule's error at its field
//! with its line and column, trying draft rules on an event, members kept to
//! reading, the CSRF and origin checks on the new forms, and hostile text shown
//! escaped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::ui::{Page, Ui, create_user};
use crate::common::{Server, small_event};

fn started() -> Server {
    let mut server = Server::sqlite();
    server.start();
    server
}

fn admin(server: &Server) -> Ui {
    let password = create_user(server, "ada@example.com", true);
    Ui::sign_in(server, "ada@example.com", &password)
}

fn member(server: &Server) -> Ui {
    let password = create_user(server, "max@example.com", false);
    Ui::sign_in(server, "max@example.com", &password)
}

/// Sends an event and waits until it is stored; returns its issue.
fn send_json(server: &Server, project: i64, key: &str, body: Vec<u8>, event_id: &str) -> i64 {
    let r = crate::common::store_post(server, project, key, body);
    assert_eq!(r.status, 200, "{}", r.body);
    let id = event_id.replace('-', "");
    let store = server.store();
    periscope_test_support::wait::until(
        "the event to be stored",
        std::time::Duration::from_secs(20),
        || crate::common::stored_event(&store, project, &id),
    )
    .summary
    .issue_id
    .get()
}

/// Sends `n` events of group `group`; returns their issue.
fn send_group(server: &Server, project: i64, key: &str, group: &str, n: usize) -> i64 {
    let mut issue = 0;
    for _ in 0..n {
        let (id, body) = small_event(group);
        issue = send_json(server, project, key, body, &id);
    }
    issue
}

/// The event count the issue page shows.
fn count_on(page: &Page) -> u64 {
    let marker = "<dd id=\"count\">";
    let at = page.body.find(marker).expect("the count") + marker.len();
    let end = page.body[at..].find('<').unwrap() + at;
    page.body[at..end].replace(',', "").parse().unwrap()
}

/// The grouping keys the issue page lists (its `data-key` rows).
fn keys_on(page: &Page) -> Vec<String> {
    page.body
        .split("data-key=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

/// The text of the grouping notice of an issue page.
fn notice_of(page: &Page) -> String {
    let at = page
        .body
        .find("id=\"grouping-notice\"")
        .unwrap_or_else(|| panic!("no notice: {}", page.body));
    let end = page.body[at..].find("</p>").unwrap() + at;
    page.body[at..end].to_owned()
}

/// A form refused: its fields, the action (`merge`, `unmerge`), the status
/// and a piece of the notice.
type Refusal<'a> = (Vec<(&'a str, String)>, &'a str, u16, &'a str);

#[test]
fn merging_and_unmerging_through_the_issue_page() {
    let server = started();
    let (project, _dsn, key) = server.create_project("shop");
    let (other_project, _dsn2, other_key) = server.create_project("other");
    let a = send_group(&server, project, &key, "alpha", 2);
    let b = send_group(&server, project, &key, "beta", 3);
    let c = send_group(&server, project, &key, "gamma", 1);
    let elsewhere = send_group(&server, other_project, &other_key, "alpha", 1);
    assert!(a != b && b != c && a != c);
    let mut ui = admin(&server);

    let page = ui.get(&format!("/issues/{a}"));
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("id=\"grouping\""),
        "the grouping section"
    );
    assert_eq!(keys_on(&page).len(), 1);
    assert!(
        !page.body.contains("Move to a new issue"),
        "one key: nothing to move"
    );
    assert!(page.body.contains(&format!("action=\"/issues/{a}/merge\"")));
    let csrf = page.csrf();

    // Merge b and c into a ("#" and spaces allowed).
    let merged = ui.post(
        &format!("/issues/{a}/merge"),
        &[("_csrf", &csrf), ("issues", &format!("{b}, #{c}"))],
    );
    assert_eq!(merged.status, 303, "{}", merged.body);
    let to = merged.header("location");
    assert!(to.starts_with(&format!("/issues/{a}?merged=")), "{to}");
    let page = ui.get(&to);
    assert_eq!(page.status, 200);
    let notice = notice_of(&page);
    assert!(notice.contains("Merged"), "{notice}");
    assert!(
        notice.contains(&format!("href=\"/issues/{b}\"")),
        "{notice}"
    );
    assert!(notice.contains("4 stored events moved"), "{notice}");
    assert_eq!(count_on(&page), 6);
    let keys = keys_on(&page);
    assert_eq!(keys.len(), 3);
    assert!(page.body.contains("Move to a new issue"));
    // The activity names the merged issues, as links.
    assert!(
        page.body.contains("<strong>merged</strong>"),
        "{}",
        page.body
    );

    // A tombstone redirects to the issue it went to, with its query.
    let gone = ui.get(&format!("/issues/{b}"));
    assert_eq!(gone.status, 303);
    assert_eq!(gone.header("location"), format!("/issues/{a}"));
    let gone = ui.get(&format!("/issues/{c}?frames=all"));
    assert_eq!(gone.header("location"), format!("/issues/{a}?frames=all"));
    // A status form left open on it changes nothing.
    let stale = ui.post(
        &format!("/issues/{b}/status"),
        &[("_csrf", &csrf), ("action", "resolve")],
    );
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert!(stale.body.contains(&format!("href=\"/issues/{a}\"")));

    // Refusals are notices on the page, not error pages.
    let refusals: Vec<Refusal<'_>> = vec![
        (
            vec![("issues", b.to_string())],
            "merge",
            409,
            "was merged into",
        ),
        (
            vec![("issues", elsewhere.to_string())],
            "merge",
            404,
            "belongs to project",
        ),
        (
            vec![("issues", "12 twelve".to_owned())],
            "merge",
            400,
            "is not an issue number",
        ),
        (
            vec![("issues", a.to_string())],
            "merge",
            409,
            "cannot be merged into itself",
        ),
        (
            vec![("issues", "999999".to_owned())],
            "merge",
            404,
            "does not exist",
        ),
        (
            keys.iter().map(|k| ("key", k.clone())).collect(),
            "unmerge",
            409,
            "would keep no grouping key",
        ),
        (
            vec![("key", "<script>alert(1)</script>".to_owned())],
            "unmerge",
            404,
            "&lt;script&gt;alert(1)&lt;/script&gt;",
        ),
        (vec![], "unmerge", 400, "Check at least one grouping key"),
    ];
    for (fields, action, status, message) in refusals {
        let mut form: Vec<(&str, &str)> = vec![("_csrf", &csrf)];
        form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
        let p = ui.post(&format!("/issues/{a}/{action}"), &form);
        assert_eq!(p.status, status, "{action} {fields:?}: {}", p.body);
        let notice = notice_of(&p);
        assert!(notice.contains(message), "{action} {fields:?}: {notice}");
        assert!(!p.body.contains("<script>alert(1)"));
        assert_eq!(count_on(&p), 6, "the issue page is shown as it was");
    }

    // Move b's key (3 events) back out to a new issue.
    let b_key = {
        let page = ui.get(&format!("/issues/{a}"));
        let keys = keys_on(&page);
        // The key with three events is b's.
        let row = |k: &str| {
            let at = page.body.find(&format!("data-key=\"{k}\"")).unwrap();
            let end = page.body[at..].find("</tr>").unwrap() + at;
            page.body[at..end].to_owned()
        };
        keys.iter()
            .find(|k| row(k).contains("<td class=\"num\">3</td>"))
            .cloned()
            .expect("a key with three events")
    };
    let moved = ui.post(
        &format!("/issues/{a}/unmerge"),
        &[("_csrf", &csrf), ("key", &b_key)],
    );
    assert_eq!(moved.status, 303, "{}", moved.body);
    let to = moved.header("location");
    let new: i64 = to
        .strip_prefix("/issues/")
        .and_then(|r| r.split('?').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(new != a && new != b, "{to}");
    let page = ui.get(&to);
    assert_eq!(page.status, 200);
    assert_eq!(count_on(&page), 3);
    assert_eq!(keys_on(&page), vec![b_key.clone()]);
    let notice = notice_of(&page);
    assert!(
        notice.contains(&format!("href=\"/issues/{a}\"")),
        "{notice}"
    );
    assert!(page.body.contains("<strong>unmerged</strong>"));
    let page = ui.get(&format!("/issues/{a}"));
    assert_eq!(count_on(&page), 3);
    assert_eq!(keys_on(&page).len(), 2);
    assert!(
        page.body.contains(&format!("href=\"/issues/{new}\"")),
        "the activity links the new issue"
    );
}

#[test]
fn the_issue_list_merges_the_ticked_issues_into_the_oldest() {
    let server = started();
    let (project, _dsn, key) = server.create_project("shop");
    let a = send_group(&server, project, &key, "one", 1);
    let b = send_group(&server, project, &key, "two", 2);
    let mut ui = admin(&server);
    let list = ui.get(&format!("/projects/{project}/issues"));
    assert!(list.body.contains("Merge into the oldest"));
    let csrf = list.csrf();
    let (a_s, b_s) = (a.to_string(), b.to_string());
    let p = ui.post(
        &format!("/projects/{project}/issues/bulk"),
        &[
            ("_csrf", &csrf),
            ("action", "merge"),
            ("id", &b_s),
            ("id", &a_s),
        ],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    let oldest = a.min(b);
    let other = a.max(b);
    let moved = if other == b { 2 } else { 1 };
    assert_eq!(
        p.header("location"),
        format!("/issues/{oldest}?merged={other}&moved={moved}")
    );
    let page = ui.get(&p.header("location"));
    assert_eq!(count_on(&page), 3);
    let list = ui.get(&format!("/projects/{project}/issues"));
    assert!(!list.body.contains(&format!("data-issue=\"{other}\"")));
    // One ticked issue is not a merge.
    let p = ui.post(
        &format!("/projects/{project}/issues/bulk"),
        &[("_csrf", &csrf), ("action", "merge"), ("id", &a_s)],
    );
    assert_eq!(p.status, 400);
}

fn project_settings(server: &Server, id: i64) -> serde_json::Value {
    let out = server.cli(&["project", "list", "--json"]);
    let all: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .map(|p| p["settings"].clone())
        .unwrap()
}

/// The `<label>` holding field `name`.
fn label_of<'a>(page: &'a Page, name: &str) -> &'a str {
    let at = page
        .body
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no field {name}"));
    let start = page.body[..at].rfind("<label").unwrap();
    let end = page.body[at..].find("</label>").unwrap() + at;
    &page.body[start..end]
}

#[test]
fn the_grouping_tab_saves_rules_and_shows_errors_at_their_field() {
    let server = started();
    let (project, _dsn, _key) = server.create_project("shop");
    let mut ui = admin(&server);
    let path = format!("/projects/{project}/grouping");
    let page = ui.get(&path);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(">Grouping</a>"), "the tab");
    assert!(page.body.contains("periscope:2026-12"));
    assert!(page.body.contains("PERISCOPE_GROUPING_TRANSITION_DAYS"));
    let csrf = page.csrf();

    // A bad line: its line and column at the field, the text kept.
    let bad = "error.type:Timeout -> timeouts\nnope:1 -> b";
    let p = ui.post(
        &path,
        &[
            ("_csrf", &csrf),
            ("config", "periscope:2026-12"),
            ("fingerprint_rules", bad),
            ("stacktrace_rules", "stack.function:foo -ap"),
        ],
    );
    assert_eq!(p.status, 400, "{}", p.body);
    let label = label_of(&p, "fingerprint_rules");
    assert!(
        label.contains("field-error") && label.contains("2:1"),
        "{label}"
    );
    assert!(
        label.contains("error.type:Timeout -&gt; timeouts\nnope:1 -&gt; b"),
        "{label}"
    );
    let label = label_of(&p, "stacktrace_rules");
    assert!(
        label.contains("field-error") && label.contains("1:"),
        "{label}"
    );
    assert_eq!(project_settings(&server, project)["fingerprint_rules"], "");

    // Good rules save, a rule with markup in it is shown escaped.
    let rules =
        "error.type:\"<script>alert(1)</script>\" -> injected\nerror.type:Timeout -> timeouts";
    let p = ui.post(
        &path,
        &[
            ("_csrf", &csrf),
            ("config", "periscope:2026-11"),
            ("fingerprint_rules", rules),
            ("stacktrace_rules", "stack.module:vendor.* -app"),
        ],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.header("location"), format!("{path}?saved=1"));
    let s = project_settings(&server, project);
    assert_eq!(s["fingerprint_rules"], rules);
    assert_eq!(s["stacktrace_rules"], "stack.module:vendor.* -app");
    assert_eq!(s["grouping_strategy"], "periscope:2026-11");
    let page = ui.get(&format!("{path}?saved=1"));
    assert!(page.body.contains("id=\"saved\""));
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.body.contains("<script>alert(1)"));
    // The switch started a transition, shown with its end.
    assert!(page.body.contains("id=\"transition\""), "{}", page.body);
    // The settings page leads here.
    let settings = ui.get(&format!("/projects/{project}/settings"));
    assert!(settings.body.contains(&format!("href=\"{path}\"")));
}

#[test]
fn trying_rules_names_the_rule_and_the_issue_an_event_would_join() {
    let server = started();
    let (project, _dsn, key) = server.create_project("shop");
    let (event_id, body) = small_event("billing");
    let issue = send_json(&server, project, &key, body.clone(), &event_id);
    let mut ui = admin(&server);
    let path = format!("/projects/{project}/grouping/test");
    let csrf = ui.get(&format!("/projects/{project}/grouping")).csrf();
    let event = String::from_utf8(body).unwrap();

    // The saved rules (none): the stored event's issue.
    let p = ui.post(
        &path,
        &[
            ("_csrf", &csrf),
            ("config", "periscope:2026-12"),
            ("fingerprint_rules", ""),
            ("stacktrace_rules", ""),
            ("event", &event_id),
        ],
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains(&format!(
            "would join <a href=\"/issues/{issue}\">issue #{issue}</a>"
        )),
        "{}",
        p.body
    );

    // A draft stack-trace rule: the explanation names it; a new issue.
    let p = ui.post(
        &path,
        &[
            ("_csrf", &csrf),
            ("config", "periscope:2026-12"),
            ("fingerprint_rules", ""),
            ("stacktrace_rules", "stack.function:handle_billing -group"),
            ("event", &event),
        ],
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body
            .contains("project rule 1 (line 1): stack.function:handle_billing -group"),
        "{}",
        p.body
    );
    assert!(p.body.contains("would open a new issue"));
    assert!(p.body.contains("(not saved)"));
    // The draft is kept in its field.
    assert!(label_of(&p, "stacktrace_rules").contains("stack.function:handle_billing -group"));

    // A draft fingerprint rule; a hostile event field is shown escaped.
    let hostile = serde_json::json!({
        "exception": {"values": [{"type": "DatabaseUnavailable", "value": "<img src=x onerror=alert(1)>"}]}
    })
    .to_string();
    let p = ui.post(
        &path,
        &[
            ("_csrf", &csrf),
            ("config", "periscope:2026-12"),
            (
                "fingerprint_rules",
                "error.type:DatabaseUnavailable -> system-down",
            ),
            ("stacktrace_rules", ""),
            ("event", &hostile),
        ],
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("custom-fingerprint"));
    assert!(
        p.body.contains(
            "fingerprint rule 1 (line 1): error.type:DatabaseUnavailable -&gt; system-down"
        ),
        "{}",
        p.body
    );
    assert!(!p.body.contains("<img src=x"), "escaped");
    assert!(p.body.contains("&lt;img src=x onerror=alert(1)&gt;"));
    // Nothing was saved.
    assert_eq!(project_settings(&server, project)["fingerprint_rules"], "");

    // Errors: at the event field, and at a draft rule's field.
    for (event, rules, field, message) in [
        ("{not json", "", "event", "not valid JSON"),
        ("hello", "", "event", "neither"),
        ("0123456789abcdef0123456789abcdef", "", "event", "no event"),
        (event.as_str(), "nope:1 -> b", "fingerprint_rules", "1:1"),
    ] {
        let p = ui.post(
            &path,
            &[
                ("_csrf", &csrf),
                ("config", "periscope:2026-12"),
                ("fingerprint_rules", rules),
                ("stacktrace_rules", ""),
                ("event", event),
            ],
        );
        assert_eq!(p.status, 400, "{event}: {}", p.body);
        let label = label_of(&p, field);
        assert!(
            label.contains("field-error") && label.contains(message),
            "{event}: {label}"
        );
    }
}

#[test]
fn members_read_and_try_but_do_not_change() {
    let server = started();
    let (project, _dsn, key) = server.create_project("shop");
    let a = send_group(&server, project, &key, "one", 1);
    let b = send_group(&server, project, &key, "two", 1);
    let mut ui = member(&server);
    let page = ui.get(&format!("/projects/{project}/grouping"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"read-only\""));
    assert!(page.body.contains("readonly"));
    assert!(!page.body.contains(">Save</button>"));
    let csrf = page.csrf();
    let p = ui.post(
        &format!("/projects/{project}/grouping"),
        &[
            ("_csrf", &csrf),
            ("config", "periscope:2026-12"),
            ("fingerprint_rules", "error.type:X -> x"),
            ("stacktrace_rules", ""),
        ],
    );
    assert_eq!(p.status, 403);
    assert_eq!(project_settings(&server, project)["fingerprint_rules"], "");
    let p = ui.post(
        &format!("/projects/{project}/grouping/test"),
        &[
            ("_csrf", &csrf),
            ("config", "periscope:2026-12"),
            ("event", "{\"message\": \"hello\"}"),
        ],
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("id=\"outcome\""));

    let page = ui.get(&format!("/issues/{a}"));
    assert!(page.body.contains("id=\"grouping\""));
    assert!(!page.body.contains("/merge\""), "no merge form");
    let list = ui.get(&format!("/projects/{project}/issues"));
    assert!(!list.body.contains("Merge into the oldest"));
    let b_s = b.to_string();
    for (path, form) in [
        (format!("/issues/{a}/merge"), vec![("issues", b_s.as_str())]),
        (format!("/issues/{a}/unmerge"), vec![("key", "x")]),
        (
            format!("/projects/{project}/issues/bulk"),
            vec![("action", "merge"), ("id", b_s.as_str())],
        ),
    ] {
        let mut f = vec![("_csrf", csrf.as_str())];
        f.extend(form);
        let p = ui.post(&path, &f);
        assert_eq!(p.status, 403, "{path}");
    }
    assert_eq!(server.issues(project).len(), 2, "nothing merged");
}

#[test]
fn the_new_forms_need_the_token_and_this_site_as_origin() {
    let server = started();
    let (project, _dsn, key) = server.create_project("shop");
    let a = send_group(&server, project, &key, "one", 1);
    let b = send_group(&server, project, &key, "two", 1);
    let mut ui = admin(&server);
    let csrf = ui.get(&format!("/issues/{a}")).csrf();
    let b_s = b.to_string();
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("/issues/{a}/merge"), vec![("issues", b_s.as_str())]),
        (format!("/issues/{a}/unmerge"), vec![("key", "x")]),
        (
            format!("/projects/{project}/grouping"),
            vec![
                ("config", "periscope:2026-11"),
                ("fingerprint_rules", "error.type:X -> x"),
            ],
        ),
        (
            format!("/projects/{project}/grouping/test"),
            vec![("event", "{\"message\": \"x\"}")],
        ),
    ];
    for (path, fields) in &posts {
        let mut stale = vec![("_csrf", "0".repeat(64))];
        stale.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let stale: Vec<(&str, &str)> = stale.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let p = ui.post(path, &stale);
        assert_eq!(p.status, 403, "{path} without the token");
        let mut good = vec![("_csrf", csrf.as_str())];
        good.extend(fields.iter().cloned());
        let p = ui.post_from(path, &good, Some("https://evil.example"));
        assert_eq!(p.status, 403, "{path} from another origin");
        assert!(p.body.contains("Origin"), "{path}");
    }
    assert_eq!(server.issues(project).len(), 2, "nothing merged");
    assert_eq!(project_settings(&server, project)["fingerprint_rules"], "");
}
