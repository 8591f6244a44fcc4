//! A per-destination cap: at most N alerts in any sliding hour, then one
//! summary saying how many were held back. Pure: time is an argument.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, AlertKind};

/// The length of the cap's sliding window.
pub const RATE_WINDOW: TimeDelta = TimeDelta::hours(1);

/// The largest cap honoured; larger values are treated as this (the state
/// keeps one timestamp per admitted alert of the last hour, so this bounds its memory).
pub const MAX_RATE_CAP: u32 = 10_000;

/// Configuration: at most `max_per_hour` alerts are delivered to one
/// destination in any sliding hour. `0` delivers none and sends only the
/// hourly summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateCap {
    /// Alerts allowed in any one-hour window (clamped to [`MAX_RATE_CAP`]).
    pub max_per_hour: u32,
}

impl RateCap {
    /// A cap of `max_per_hour` alerts per sliding hour.
    pub fn new(max_per_hour: u32) -> RateCap {
        RateCap { max_per_hour }
    }

    fn limit(self) -> usize {
        self.max_per_hour.min(MAX_RATE_CAP) as usize
    }
}

/// The decision for one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Deliver the alert. When `summary` is set, deliver it first: alerts were
    /// held back since the last summary and the window has reopened.
    Deliver {
        /// A summary of held-back alerts to send before this one, once.
        summary: Option<HeldBack>,
    },
    /// Do not deliver; the alert is counted for the next summary.
    HoldBack {
        /// Alerts held back so far, this one included.
        held: u64,
        /// A summary that became due at the same moment (only with a cap of 0).
        summary: Option<HeldBack>,
    },
}

/// How many alerts were held back, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBack {
    /// Number of alerts not delivered.
    pub count: u64,
    /// When the first of them was held back.
    pub first_held_at: DateTime<Utc>,
    /// When the last of them was held back.
    pub last_held_at: DateTime<Utc>,
}

impl HeldBack {
    /// The summary as an [`Alert`] of kind [`AlertKind::HeldBack`], ready for
    /// any channel: title "N alerts were held back", `event_count = N`,
    /// `first_seen`/`last_seen` = first/last held, no subject (`issue_id` 0 in
    /// the webhook body), level `info`;
    /// `url` should point at the project's issue list.
    pub fn to_alert(&self, project_id: crate::ProjectId, project_name: &str, url: &str) -> Alert {
        let title = if self.count == 1 {
            "1 alert was held back".to_owned()
        } else {
            format!("{} alerts were held back", self.count)
        };
        Alert {
            kind: AlertKind::HeldBack,
            project_id,
            project_name: project_name.to_owned(),
            subject: None,
            title,
            culprit: Some("this destination's hourly alert cap was reached".to_owned()),
            level: "info".to_owned(),
            event_count: i64::try_from(self.count).unwrap_or(i64::MAX),
            first_seen: self.first_held_at,
            last_seen: self.last_held_at,
            url: url.to_owned(),
            environment: None,
            release: None,
        }
    }
}

/// The state of one destination's cap. Serializable, so a server can keep it
/// in its database and share it between replicas.
///
/// Rules: an alert is delivered when fewer than `max_per_hour` alerts were
/// delivered in the hour before it; otherwise it is held back and counted. A
/// summary of the held-back alerts is due as soon as a slot is free again, but
/// at most one summary per hour, and at the latest one hour after the first
/// held-back alert. Summaries do not count against the cap, so a destination
/// receives at most `max_per_hour + 1` messages in any hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateCapState {
    sent: VecDeque<DateTime<Utc>>,
    held: u64,
    first_held_at: Option<DateTime<Utc>>,
    last_held_at: Option<DateTime<Utc>>,
    last_summary_at: Option<DateTime<Utc>>,
}

impl RateCapState {
    /// A fresh state: nothing sent, nothing held.
    pub fn new() -> RateCapState {
        RateCapState::default()
    }

    /// Alerts currently held back (not yet summarized).
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Decides for one alert arriving at `now`.
    pub fn admit(&mut self, cap: RateCap, now: DateTime<Utc>) -> Admission {
        let summary = self.flush(cap, now);
        if self.sent.len() < cap.limit() {
            self.sent.push_back(now);
            Admission::Deliver { summary }
        } else {
            self.held = self.held.saturating_add(1);
            self.first_held_at.get_or_insert(now);
            self.last_held_at = Some(now);
            Admission::HoldBack {
                held: self.held,
                summary,
            }
        }
    }

    /// Takes the summary if one is due at `now` (call it from a timer at
    /// [`RateCapState::summary_due_at`], so a summary goes out even when no
    /// new alert arrives). Returns each held-back alert in exactly one summary.
    pub fn flush(&mut self, cap: RateCap, now: DateTime<Utc>) -> Option<HeldBack> {
        self.prune(now);
        let due = self.summary_due_at(cap)?;
        if now < due {
            return None;
        }
        let summary = HeldBack {
            count: self.held,
            first_held_at: self.first_held_at?,
            last_held_at: self.last_held_at?,
        };
        self.held = 0;
        self.first_held_at = None;
        self.last_held_at = None;
        self.last_summary_at = Some(now);
        Some(summary)
    }

    /// When the next summary becomes due, or `None` when nothing is held back.
    pub fn summary_due_at(&self, cap: RateCap) -> Option<DateTime<Utc>> {
        if self.held == 0 {
            return None;
        }
        let first_held = self.first_held_at?;
        let latest = first_held + RATE_WINDOW;
        let limit = cap.limit();
        if limit == 0 {
            return Some(latest);
        }
        let slot_free = match self.sent.front() {
            Some(oldest) if self.sent.len() >= limit => *oldest + RATE_WINDOW,
            _ => first_held,
        };
        let spacing = self.last_summary_at.map_or(first_held, |t| t + RATE_WINDOW);
        Some(latest.min(slot_free.max(spacing)))
    }

    fn prune(&mut self, now: DateTime<Utc>) {
        while let Some(oldest) = self.sent.front() {
            if *oldest + RATE_WINDOW <= now {
                self.sent.pop_front();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    #[test]
    fn admits_up_to_the_cap_then_holds_and_summarizes_once() {
        let cap = RateCap::new(2);
        let mut s = RateCapState::new();
        assert_eq!(s.admit(cap, t(0)), Admission::Deliver { summary: None });
        assert_eq!(s.admit(cap, t(1)), Admission::Deliver { summary: None });
        assert_eq!(
            s.admit(cap, t(2)),
            Admission::HoldBack {
                held: 1,
                summary: None
            }
        );
        assert_eq!(
            s.admit(cap, t(3)),
            Admission::HoldBack {
                held: 2,
                summary: None
            }
        );
        assert_eq!(
            s.admit(cap, t(59)),
            Admission::HoldBack {
                held: 3,
                summary: None
            }
        );
        assert_eq!(s.summary_due_at(cap), Some(t(60)));
        assert_eq!(s.flush(cap, t(59)), None);
        let summary = s.flush(cap, t(60)).unwrap();
        assert_eq!(
            summary,
            HeldBack {
                count: 3,
                first_held_at: t(2),
                last_held_at: t(59)
            }
        );
        assert_eq!(s.flush(cap, t(60)), None, "a summary is sent once");
        assert_eq!(s.held(), 0);
        // The window reopened: t(0) expired, t(1) still counts.
        assert_eq!(s.admit(cap, t(60)), Admission::Deliver { summary: None });
        assert_eq!(
            s.admit(cap, t(60)),
            Admission::HoldBack {
                held: 1,
                summary: None
            }
        );
    }

    #[test]
    fn summary_rides_along_with_the_next_admitted_alert() {
        let cap = RateCap::new(1);
        let mut s = RateCapState::new();
        assert!(matches!(
            s.admit(cap, t(0)),
            Admission::Deliver { summary: None }
        ));
        assert!(matches!(
            s.admit(cap, t(10)),
            Admission::HoldBack { held: 1, .. }
        ));
        match s.admit(cap, t(70)) {
            Admission::Deliver { summary: Some(h) } => assert_eq!(h.count, 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn at_most_one_summary_per_hour_under_a_flood() {
        let cap = RateCap::new(3);
        let mut s = RateCapState::new();
        let mut summaries = Vec::new();
        for minute in 0..(5 * 60) {
            match s.admit(cap, t(minute)) {
                Admission::Deliver { summary: Some(_) }
                | Admission::HoldBack {
                    summary: Some(_), ..
                } => summaries.push(minute),
                _ => {}
            }
        }
        assert!(summaries.len() >= 4, "{summaries:?}");
        for pair in summaries.windows(2) {
            assert!(pair[1] - pair[0] >= 60, "{summaries:?}");
        }
    }

    #[test]
    fn zero_cap_sends_only_hourly_summaries() {
        let cap = RateCap::new(0);
        let mut s = RateCapState::new();
        assert!(matches!(
            s.admit(cap, t(0)),
            Admission::HoldBack {
                held: 1,
                summary: None
            }
        ));
        assert!(matches!(
            s.admit(cap, t(30)),
            Admission::HoldBack {
                held: 2,
                summary: None
            }
        ));
        match s.admit(cap, t(60)) {
            Admission::HoldBack {
                held: 1,
                summary: Some(h),
            } => assert_eq!(h.count, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn summary_alert_reads_well() {
        let h = HeldBack {
            count: 3,
            first_held_at: t(2),
            last_held_at: t(59),
        };
        let a = h.to_alert(
            crate::ProjectId(1),
            "shop",
            "https://p.example/projects/1/issues",
        );
        assert_eq!(a.kind, AlertKind::HeldBack);
        assert_eq!(a.headline(), "3 alerts were held back in shop");
        assert_eq!(a.event_count, 3);
    }

    #[test]
    fn state_round_trips_through_json() {
        let cap = RateCap::new(1);
        let mut s = RateCapState::new();
        s.admit(cap, t(0));
        s.admit(cap, t(1));
        let json = serde_json::to_string(&s).unwrap();
        let back: RateCapState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
