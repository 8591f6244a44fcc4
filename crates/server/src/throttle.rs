//! Slowing down guessing: failed attempts per client address, and who the client is.
//!
//! [`Throttle`] counts failures (a wrong admin key today, a wrong password on the
//! coming sign-in page) per client address. The first few are free; after that each
//! further failure doubles the time the address must wait before it may try again,
//! up to a ceiling, and attempts made while it waits are refused without being
//! checked. A success forgets the address. Memory is bounded: the table holds at
//! most a fixed number of addresses and evicts the least recently seen.
//!
//! [`client_ip`] finds the address to key by: the peer of the TCP connection, or —
//! when that peer is one of the configured trusted reverse proxies — the address the
//! proxy reports in `X-Forwarded-For` (the right-most entry that is not itself a
//! trusted proxy, so a client cannot forge its way past the proxy).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

pub(crate) use crate::config::IpNet;

/// How many failures are free, and how the wait grows after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ThrottleConfig {
    /// Failures allowed before any wait.
    pub(crate) free_failures: u32,
    /// The wait after the first failure past the free ones (doubles per failure).
    pub(crate) base_delay: Duration,
    /// The longest wait.
    pub(crate) max_delay: Duration,
    /// A failure older than this is forgotten.
    pub(crate) forget_after: Duration,
    /// Addresses tracked at most.
    pub(crate) max_entries: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            free_failures: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            forget_after: Duration::from_secs(900),
            max_entries: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
}

/// Failures per key — a client address, or an account (see the module docs).
pub(crate) struct Throttle<K = IpAddr> {
    config: ThrottleConfig,
    entries: quick_cache::sync::Cache<K, Entry>,
}

impl<K> std::fmt::Debug for Throttle<K>
where
    K: Eq + std::hash::Hash + Clone,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("config", &self.config)
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl<K> Throttle<K>
where
    K: Eq + std::hash::Hash + Clone,
{
    /// An empty table.
    pub(crate) fn new(config: ThrottleConfig) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(config.max_entries.max(1)),
            config,
        }
    }

    /// `Err(wait)` when `ip` must wait before trying again (do not check its
    /// attempt), `Ok(())` when it may try now.
    pub(crate) fn check(&self, ip: &K, now: Instant) -> Result<(), Duration> {
        match self.entries.get(ip) {
            Some(Entry {
                blocked_until: Some(until),
                ..
            }) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt from `ip`; returns the wait now imposed, if any.
    pub(crate) fn failure(&self, ip: &K, now: Instant) -> Option<Duration> {
        let previous = self
            .entries
            .get(ip)
            .filter(|e| now.saturating_duration_since(e.last_failure) < self.config.forget_after);
        let failures = previous.map_or(0, |e| e.failures).saturating_add(1);
        let wait = failures
            .checked_sub(self.config.free_failures)
            .filter(|n| *n > 0)
            .map(|n| {
                let factor = 1u32.checked_shl(n - 1).unwrap_or(u32::MAX);
                self.config
                    .base_delay
                    .saturating_mul(factor)
                    .min(self.config.max_delay)
            });
        self.entries.insert(
            ip.clone(),
            Entry {
                failures,
                last_failure: now,
                blocked_until: wait.map(|w| now + w),
            },
        );
        wait
    }

    /// Records a successful attempt: the address starts afresh.
    pub(crate) fn success(&self, ip: &K) {
        self.entries.remove(ip);
    }
}

/// The client's address: the TCP peer, or what a trusted proxy says it is.
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(text) = value.to_str() else {
            return client;
        };
        for part in text.rsplit(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) if is_trusted(&ip) => client = ip,
                Ok(ip) => return ip,
                Err(_) => return client,
            }
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn failures_past_the_free_ones_wait_longer_and_longer() {
        let t = Throttle::new(ThrottleConfig::default());
        let a = ip("192.0.2.1");
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(t.failure(&a, now), None);
            assert!(t.check(&a, now).is_ok());
        }
        assert_eq!(t.failure(&a, now), Some(Duration::from_secs(1)));
        assert!(t.check(&a, now).is_err());
        assert!(t.check(&a, now + Duration::from_secs(2)).is_ok());
        assert_eq!(t.failure(&a, now), Some(Duration::from_secs(2)));
        assert_eq!(t.failure(&a, now), Some(Duration::from_secs(4)));
        for _ in 0..40 {
            t.failure(&a, now);
        }
        assert_eq!(t.failure(&a, now), Some(Duration::from_secs(300)));
        // Another address is not affected; a success forgets.
        assert!(t.check(&ip("192.0.2.2"), now).is_ok());
        t.success(&a);
        assert!(t.check(&a, now).is_ok());
    }

    #[test]
    fn old_failures_are_forgotten() {
        let t = Throttle::new(ThrottleConfig::default());
        let a = ip("192.0.2.1");
        let now = Instant::now();
        for _ in 0..5 {
            t.failure(&a, now);
        }
        assert_eq!(t.failure(&a, now + Duration::from_secs(3600)), None);
    }

    #[test]
    fn the_table_is_bounded() {
        let t = Throttle::new(ThrottleConfig {
            max_entries: 100,
            ..ThrottleConfig::default()
        });
        let now = Instant::now();
        for i in 0..10_000u32 {
            t.failure(&IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(t.entries.len() <= 200, "{}", t.entries.len());
    }

    #[test]
    fn forwarded_addresses_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.9, 10.1.1.1"),
        );
        // From a trusted proxy: the right-most untrusted entry.
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("203.0.113.9"));
        // From anyone else: the peer, whatever the header says.
        assert_eq!(
            client_ip(ip("198.51.100.7"), &h, &trusted),
            ip("198.51.100.7")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
        h.insert("x-forwarded-for", HeaderValue::from_static("junk"));
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("10.0.0.2"));
    }
}
