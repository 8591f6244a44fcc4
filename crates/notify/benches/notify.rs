//! Benchmarks of the pure parts: message formatting, signing, the rate cap.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use periscope_notify::{
    Alert, AlertKind, AlertSubject, IssueId, ProjectId, RateCap, RateCapState, RetryPolicy, format,
};

fn alert() -> Alert {
    Alert {
        kind: AlertKind::NewIssue,
        project_id: ProjectId(7),
        project_name: "shop".into(),
        subject: Some(AlertSubject::Issue(IssueId(42))),
        title: "ZeroDivisionError: division by zero".into(),
        culprit: Some("app.views.divide".into()),
        level: "error".into(),
        event_count: 3,
        first_seen: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        last_seen: Utc.with_ymd_and_hms(2026, 3, 1, 12, 5, 0).unwrap(),
        url: "https://periscope.example/issues/42".into(),
        environment: Some("production".into()),
        release: Some("shop@1.2.3".into()),
    }
}

fn formatting(c: &mut Criterion) {
    let a = alert();
    let sent = Utc.with_ymd_and_hms(2026, 3, 1, 12, 6, 0).unwrap();
    c.bench_function("webhook_body+serialize+sign", |b| {
        b.iter(|| {
            let body = serde_json::to_vec(&format::webhook_body(black_box(&a), sent)).unwrap();
            format::sign(b"secret", &body)
        })
    });
    c.bench_function("slack_body", |b| {
        b.iter(|| format::slack_body(black_box(&a)))
    });
    c.bench_function("discord_body", |b| {
        b.iter(|| format::discord_body(black_box(&a)))
    });
    c.bench_function("email_subject+text+html", |b| {
        b.iter(|| {
            let a = black_box(&a);
            (
                format::email_subject(a),
                format::email_text(a),
                format::email_html(a),
            )
        })
    });
}

fn policy(c: &mut Criterion) {
    let cap = RateCap::new(100);
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    c.bench_function("ratecap_admit_1000_under_flood", |b| {
        b.iter(|| {
            let mut state = RateCapState::new();
            for i in 0..1000 {
                black_box(state.admit(cap, t0 + TimeDelta::seconds(i * 10)));
            }
        })
    });
    let retry = RetryPolicy::default();
    c.bench_function("retry_next_attempt_after", |b| {
        b.iter(|| retry.next_attempt_after(black_box(5), black_box(0.3)))
    });
}

criterion_group!(benches, formatting, policy);
criterion_main!(benches);
