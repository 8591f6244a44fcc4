//! Opens an SQLite store, ingests a few events and lists the issues.
//!
//! ```text
//! cargo run -p periscope-store --example ingest [sqlite://periscope-example.db]
//! ```
//! Without an argument it uses an in-memory database.

use chrono::{Duration, Utc};
use periscope_store::{
    IngestStore, IssueAction, IssueFilter, IssueStore, NewEvent, ProjectStore, StatusFilter, Store,
    StoreError,
};

fn event(project_id: periscope_store::ProjectId, n: u32, key: &str, title: &str) -> NewEvent {
    let now = Utc::now();
    let event_id = format!("{:032x}", 0xfeed_0000_u64 + u64::from(n));
    NewEvent {
        project_id,
        payload: format!(r#"{{"event_id":"{event_id}","message":"{title}"}}"#).into_bytes(),
        event_id,
        grouping_keys: vec![periscope_store::GroupingKey::new(key, "default")],
        title: title.to_owned(),
        culprit: Some("app.handlers in checkout".to_owned()),
        level: "error".to_owned(),
        timestamp: now - Duration::seconds(i64::from(10 - n)),
        received_at: now,
        release: Some("shop@2.3.1".to_owned()),
        environment: Some("production".to_owned()),
        tags: vec![("browser".to_owned(), "Firefox 120".to_owned())],
        grouping_explanation: None,
        user: Some(format!("email:user{}@example.com", n % 3)),
    }
}

fn main() -> Result<(), StoreError> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite::memory:".to_owned());
    let store = Store::open_url(&url)?;
    let now = Utc::now();
    let project = store.create_project("shop", &format!("{:032x}", now.timestamp_micros()), now)?;
    println!(
        "project {} ({}), key {}",
        project.id, project.name, project.keys[0].public_key
    );

    let batch = vec![
        event(
            project.id,
            1,
            "key-value-error",
            "ValueError: invalid quantity",
        ),
        event(
            project.id,
            2,
            "key-value-error",
            "ValueError: invalid quantity",
        ),
        event(
            project.id,
            3,
            "key-timeout",
            "TimeoutError: payment gateway",
        ),
    ];
    for (i, o) in store.ingest_batch(&batch, now)?.iter().enumerate() {
        println!(
            "event {i}: issue {} created={} duplicate={}",
            o.issue_id, o.created, o.duplicate
        );
    }

    // Resolve one issue; the next event of it is a regression.
    let first = store
        .list_issues(project.id, &IssueFilter::default())?
        .items;
    if let Some(issue) = first.iter().find(|i| i.grouping_key == "key-timeout") {
        store.update_issue(issue.id, &IssueAction::Resolve, Some("example"), now)?;
        let again = store.ingest_batch(
            &[event(
                project.id,
                4,
                "key-timeout",
                "TimeoutError: payment gateway",
            )],
            now + Duration::seconds(1),
        )?;
        println!("timeout issue regressed: {}", again[0].regressed);
    }

    let filter = IssueFilter {
        status: StatusFilter::All,
        ..Default::default()
    };
    for issue in store.list_issues(project.id, &filter)?.items {
        println!(
            "#{} [{}] {} ×{} (last seen {})",
            issue.id,
            issue.status.as_str(),
            issue.title,
            issue.count,
            issue.last_seen.to_rfc3339()
        );
    }
    Ok(())
}
