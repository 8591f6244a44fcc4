//! Awaiting a condition instead of sleeping for a fixed time.

use std::time::{Duration, Instant};

/// Polls `f` every 20 ms until it returns `Some`, for at most `timeout`; panics
/// naming `what` when it never does.
pub fn until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`until`] for a condition that is simply true or false.
pub fn until_true(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    until(what, timeout, || f().then_some(()));
}
