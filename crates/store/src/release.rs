//! Comparing release names for "resolved in release R".

use std::cmp::Ordering;

/// Whether `candidate` is a newer release than `resolved_in`.
///
/// Releases are compared "naturally": split into runs of digits and runs of other
/// characters; digit runs compare as numbers (`1.10` is after `1.9`), other runs
/// as text. Build metadata after `+` is ignored. A part starting with `-` right
/// where the other release ends is a semver pre-release and sorts *before* it
/// (`1.0.0-rc.1` is older than `1.0.0`). Equal releases are not newer, so an
/// event from release R itself never re-opens an issue resolved in R; neither
/// does an event without a release.
///
/// ```
/// use periscope_store::release_is_newer;
/// assert!(release_is_newer("app@1.10.0", "app@1.9.3"));
/// assert!(!release_is_newer("1.0.0-rc.1", "1.0.0"));
/// assert!(release_is_newer("1.0.0", "1.0.0-rc.1"));
/// assert!(!release_is_newer("1.2.0+build.7", "1.2.0+build.3"));
/// ```
pub fn release_is_newer(candidate: &str, resolved_in: &str) -> bool {
    compare_releases(candidate, resolved_in) == Ordering::Greater
}

/// Total order on release names used by [`release_is_newer`].
pub fn compare_releases(a: &str, b: &str) -> Ordering {
    let a = strip_build(a);
    let b = strip_build(b);
    let ta = tokens(a);
    let tb = tokens(b);
    let mut i = 0;
    loop {
        match (ta.get(i), tb.get(i)) {
            (None, None) => return Ordering::Equal,
            (Some(x), None) => {
                return if x.starts_with('-') {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            (None, Some(y)) => {
                return if y.starts_with('-') {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
            }
            (Some(x), Some(y)) => {
                let ord = compare_token(x, y);
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
        i += 1;
    }
}

fn strip_build(s: &str) -> &str {
    match s.find('+') {
        Some(i) => &s[..i],
        None => s,
    }
}

fn tokens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev_digit: Option<bool> = None;
    for (i, ch) in s.char_indices() {
        let d = ch.is_ascii_digit();
        if prev_digit.is_some_and(|p| p != d) {
            out.push(&s[start..i]);
            start = i;
        }
        prev_digit = Some(d);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

fn compare_token(x: &str, y: &str) -> Ordering {
    let xd = x.bytes().all(|b| b.is_ascii_digit());
    let yd = y.bytes().all(|b| b.is_ascii_digit());
    match (xd, yd) {
        (true, true) => {
            let xs = x.trim_start_matches('0');
            let ys = y.trim_start_matches('0');
            xs.len().cmp(&ys.len()).then_with(|| xs.cmp(ys))
        }
        // A pre-release marker sorts before anything else at the same position.
        _ if x.starts_with('-') && !y.starts_with('-') => Ordering::Less,
        _ if y.starts_with('-') && !x.starts_with('-') => Ordering::Greater,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => x.cmp(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        assert!(release_is_newer("1.10", "1.9"));
        assert!(release_is_newer("2", "1.99.99"));
        assert!(!release_is_newer("1.9", "1.10"));
        assert!(!release_is_newer("1.2.3", "1.2.3"));
        assert!(release_is_newer("1.2.3.1", "1.2.3"));
        assert!(release_is_newer("1.0.0", "1.0.0-beta"));
        assert!(!release_is_newer("1.0.0-beta", "1.0.0"));
        assert!(release_is_newer("1.0.0-rc.2", "1.0.0-rc.1"));
        assert!(release_is_newer("1.0.1-rc.1", "1.0.0"));
        assert!(release_is_newer("app@2.0.0", "app@1.5.0"));
        assert!(!release_is_newer("1.0+b2", "1.0+b1"));
        assert!(release_is_newer("010", "9"));
        assert!(release_is_newer("abd", "abc"));
    }

    #[test]
    fn antisymmetric_on_samples() {
        let s = [
            "1",
            "1.0",
            "1.0.0",
            "1.0.0-rc.1",
            "1.0.0-beta",
            "1.10",
            "1.9",
            "a",
            "a1",
            "2-x",
            "",
            "-",
        ];
        for a in s {
            for b in s {
                assert_eq!(
                    compare_releases(a, b),
                    compare_releases(b, a).reverse(),
                    "{a} {b}"
                );
            }
        }
    }
}
