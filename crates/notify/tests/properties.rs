//! Properties of the pure policy pieces, over random inputs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use periscope_notify::{
    Admission, Destination, RATE_WINDOW, RateCap, RateCapState, RetryPolicy, format,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn backoff_stays_within_its_envelope(
        base_ms in 1u64..100_000,
        max_ms in 1u64..10_000_000,
        max_attempts in 1u32..50,
        attempts in 0u32..100,
        jitter in proptest::num::f64::ANY,
    ) {
        let policy = RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(base_ms),
            max_delay: Duration::from_millis(max_ms),
            timeout: Duration::from_secs(1),
        };
        match policy.next_attempt_after(attempts, jitter) {
            None => prop_assert!(attempts >= max_attempts),
            Some(delay) => {
                prop_assert!(attempts < max_attempts);
                let exponent = attempts.saturating_sub(1).min(31);
                let ceiling = Duration::from_millis(base_ms)
                    .checked_mul(1 << exponent)
                    .unwrap_or(Duration::MAX)
                    .min(Duration::from_millis(max_ms));
                prop_assert!(delay <= ceiling);
                prop_assert!(delay >= ceiling / 2);
            }
        }
    }

    #[test]
    fn rate_cap_never_exceeds_its_limit_and_loses_no_alert(
        limit in 0u32..6,
        gaps in proptest::collection::vec(0i64..1800, 1..300),
    ) {
        let cap = RateCap::new(limit);
        let mut state = RateCapState::new();
        let mut now: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut delivered: Vec<DateTime<Utc>> = Vec::new();
        let mut summaries: Vec<(DateTime<Utc>, u64)> = Vec::new();
        let mut held_total = 0u64;
        for gap in &gaps {
            now += TimeDelta::seconds(*gap);
            let (summary, was_held) = match state.admit(cap, now) {
                Admission::Deliver { summary } => {
                    delivered.push(now);
                    (summary, false)
                }
                Admission::HoldBack { summary, .. } => (summary, true),
            };
            if let Some(s) = summary {
                summaries.push((now, s.count));
            }
            if was_held {
                held_total += 1;
            }
        }
        // Drain: far in the future every held alert is summarized.
        if let Some(s) = state.flush(cap, now + TimeDelta::days(2)) {
            summaries.push((now + TimeDelta::days(2), s.count));
        }
        prop_assert_eq!(state.held(), 0);
        prop_assert_eq!(delivered.len() as u64 + held_total, gaps.len() as u64);
        prop_assert_eq!(summaries.iter().map(|(_, n)| n).sum::<u64>(), held_total);
        // At most `limit` deliveries in any window of one hour.
        for (i, start) in delivered.iter().enumerate() {
            let in_window = delivered[i..].iter().take_while(|t| **t < *start + RATE_WINDOW).count();
            prop_assert!(in_window <= limit as usize);
        }
        // Summaries at least an hour apart, and never empty.
        for pair in summaries.windows(2) {
            prop_assert!(pair[1].0 - pair[0].0 >= RATE_WINDOW);
        }
        prop_assert!(summaries.iter().all(|(_, n)| *n > 0));
    }

    #[test]
    fn signatures_verify_only_the_signed_body(
        secret in proptest::collection::vec(any::<u8>(), 0..80),
        body in proptest::collection::vec(any::<u8>(), 0..400),
        flip in any::<usize>(),
    ) {
        let signature = format::sign(&secret, &body);
        prop_assert!(format::verify_signature(&secret, &body, &signature));
        if !body.is_empty() {
            let mut tampered = body.clone();
            let i = flip % tampered.len();
            tampered[i] ^= 1;
            prop_assert!(!format::verify_signature(&secret, &tampered, &signature));
        }
    }

    #[test]
    fn destination_parsing_never_panics(json in "\\PC{0,200}") {
        if let Ok(d) = serde_json::from_str::<Destination>(&json) {
            let _ = d.validate();
            let _ = format!("{d:?}");
        }
    }

    #[test]
    fn destination_json_round_trips(url in "https://[a-z]{1,12}\\.example/[a-z0-9/]{0,20}", secret in proptest::option::of("[ -~]{0,20}")) {
        let d = Destination::GenericWebhook { url, headers: Default::default(), secret };
        let back: Destination = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
        prop_assert_eq!(back, d);
    }
}
