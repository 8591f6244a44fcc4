//! Small text helpers shared by every layer.

/// `s` cut to at most `max` characters.
pub(crate) fn shorten(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
