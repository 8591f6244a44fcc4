//! Delivery policy as pure decisions: how long one attempt may take, when to
//! try again, when to give up. The caller owns the clock and the randomness.

use std::time::Duration;

use crate::error::DeliveryError;

/// Timeouts, exponential back-off with jitter and a maximum number of attempts.
///
/// The back-off before attempt `n + 1` (after `n` failed attempts) is drawn
/// from `[c/2, c]` where `c = min(max_delay, base_delay × 2^(n-1))` ("equal
/// jitter": never zero, never above the cap, spread so that many destinations
/// failing together do not retry in lock-step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (at least 1).
    pub max_attempts: u32,
    /// Back-off ceiling after the first failure.
    pub base_delay: Duration,
    /// Largest back-off ever returned (also caps a server's `Retry-After`).
    pub max_delay: Duration,
    /// How long one attempt may take, connection and answer included.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts, 30 s base, 1 h cap, 15 s per attempt: retries spread over
    /// roughly one to two hours.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(3600),
            timeout: Duration::from_secs(15),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after this delay.
    RetryAfter(Duration),
    /// Stop: the failure is permanent.
    GiveUpPermanent,
    /// Stop: `max_attempts` attempts were made.
    GiveUpExhausted,
}

impl RetryPolicy {
    /// The back-off after `attempts` failed attempts (1 after the first
    /// failure), or `None` when no attempt is left.
    ///
    /// `jitter` is a number in `[0, 1]` (values outside are clamped, NaN counts
    /// as 1): pass [`random_jitter`] in production, a fixed value in tests.
    pub fn next_attempt_after(&self, attempts: u32, jitter: f64) -> Option<Duration> {
        if attempts >= self.max_attempts.max(1) {
            return None;
        }
        Some(self.backoff(attempts, jitter))
    }

    fn backoff(&self, attempts: u32, jitter: f64) -> Duration {
        let exponent = attempts.saturating_sub(1).min(31);
        let ceiling = self
            .base_delay
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let jitter = if jitter.is_nan() {
            1.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        let half = ceiling / 2;
        half + half.mul_f64(jitter)
    }

    /// Combines the error's classification with the attempt count: permanent
    /// failures stop at once, others wait the back-off (at least the
    /// server's `Retry-After`, at most `max_delay`) until attempts run out.
    pub fn decide(&self, attempts: u32, error: &DeliveryError, jitter: f64) -> RetryDecision {
        if error.is_permanent() {
            return RetryDecision::GiveUpPermanent;
        }
        match self.next_attempt_after(attempts, jitter) {
            None => RetryDecision::GiveUpExhausted,
            Some(delay) => {
                let asked = error.retry_after().unwrap_or_default();
                RetryDecision::RetryAfter(delay.max(asked).min(self.max_delay))
            }
        }
    }
}

/// A uniformly random jitter value in `[0, 1)` from the thread-local generator.
pub fn random_jitter() -> f64 {
    rand::random::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Channel;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn backoff_doubles_until_the_cap_then_stops() {
        let p = policy();
        let top: Vec<_> = (1..=5).map(|n| p.next_attempt_after(n, 1.0)).collect();
        assert_eq!(
            top,
            vec![
                Some(Duration::from_secs(10)),
                Some(Duration::from_secs(20)),
                Some(Duration::from_secs(40)),
                Some(Duration::from_secs(60)),
                None
            ]
        );
        assert_eq!(p.next_attempt_after(1, 0.0), Some(Duration::from_secs(5)));
        assert_eq!(p.next_attempt_after(3, 0.5), Some(Duration::from_secs(30)));
        assert_eq!(
            p.next_attempt_after(1, f64::NAN),
            Some(Duration::from_secs(10))
        );
        assert_eq!(p.next_attempt_after(1, 7.0), Some(Duration::from_secs(10)));
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let p = RetryPolicy {
            max_attempts: u32::MAX,
            ..policy()
        };
        assert_eq!(
            p.next_attempt_after(1000, 1.0),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn decide_respects_classification_and_retry_after() {
        let p = policy();
        let http = |status, retry_after| DeliveryError::HttpStatus {
            channel: Channel::Webhook,
            status,
            target: "https://x".into(),
            body: String::new(),
            retry_after,
        };
        assert_eq!(
            p.decide(1, &http(400, None), 1.0),
            RetryDecision::GiveUpPermanent
        );
        assert_eq!(
            p.decide(1, &http(404, None), 1.0),
            RetryDecision::GiveUpPermanent
        );
        assert_eq!(
            p.decide(1, &http(503, None), 1.0),
            RetryDecision::RetryAfter(Duration::from_secs(10))
        );
        assert_eq!(
            p.decide(1, &http(429, Some(Duration::from_secs(45))), 1.0),
            RetryDecision::RetryAfter(Duration::from_secs(45))
        );
        assert_eq!(
            p.decide(1, &http(429, Some(Duration::from_secs(4000))), 1.0),
            RetryDecision::RetryAfter(Duration::from_secs(60))
        );
        assert_eq!(
            p.decide(5, &http(500, None), 1.0),
            RetryDecision::GiveUpExhausted
        );
        assert!(!http(408, None).is_permanent());
    }
}
