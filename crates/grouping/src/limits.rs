//! The limits of the work done per event.
//!
//! Event DSNs are public: anyone can send an event, and the largest one the
//! server accepts is 1 MiB of JSON (`PERISCOPE_MAX_EVENT_BYTES`). Grouping must
//! therefore cost time and memory linear in the event's size, and small in
//! absolute terms, whatever the event's shape. Each limit below caps one thing
//! a hostile event could repeat; each lies well beyond what a real SDK sends,
//! so it never changes the key of a real event (the crate's corpus test pins
//! the key of every corpus event).
//!
//! What the corpus (`shared/corpus/event-samples`, 190 events from Sentry's,
//! GlitchTip's and Bugsink's test suites) holds at most, for comparison:
//! 250 frames in one stack trace (`sentry/mobile1-xnf.json`, a trace already
//! cut by Sentry's ingestion), 6 exceptions in one event (an exception group,
//! `bugsink/exception-group.json`), 3 fingerprint entries of at most 32
//! characters, a single `{{ default }}`, messages of 231 and exception values
//! of 386 characters, 5 tags and no threads.
//!
//! Beyond a limit, grouping goes on with what is within it and says so in the
//! explanation (a non-contributing component with a hint); it never fails.

/// The most entries of an SDK `fingerprint` that are considered: 64.
///
/// Later entries are ignored (a non-contributing `fingerprint` component says
/// how many); whether the fingerprint is custom or hybrid is decided on the
/// considered entries. SDK fingerprints are written by hand and have a few
/// entries (the corpus: 3 at most); 64 leaves room for generated ones while
/// bounding the per-entry work (each entry is at most
/// [`MAX_FINGERPRINT_PART_CHARS`] long, each variable is resolved once).
///
/// Independently of this limit, `{{ default }}` contributes the built-in
/// values once, at its first occurrence: later repeats are dropped (one
/// non-contributing note says how many) and do not count against the limit,
/// so a repeated `{{ default }}` gives the key of a single one and the
/// built-in component tree is never copied. Every other variable is resolved
/// once per event however often it is used.
pub const MAX_FINGERPRINT_PARTS: usize = 64;

/// The longest fingerprint value, in characters: 1,024.
///
/// A longer literal entry, or a longer value of a variable
/// (`{{ message }}`, `{{ tags.NAME }}` ...), is cut to its first 1,024
/// characters before it is hashed (its hint says so): events that differ only
/// beyond them share a key. Fingerprint entries are identifiers (the corpus:
/// 32 characters at most); a message long enough to be cut is still
/// identified by its first thousand characters.
pub const MAX_FINGERPRINT_PART_CHARS: usize = 1024;

/// The most frames of one stack trace that grouping considers: 250, the
/// innermost ones.
///
/// Frames are listed oldest call first; a longer stack trace counts by its
/// last 250 frames (the crash side, where the crash frame, the culprit and
/// the `{{ function }}`-like variables are taken from), and the explanation
/// names the omitted outer frames in one non-contributing component. 250 is
/// the cap Sentry's ingestion (Relay) puts on a stack trace: the corpus's
/// largest trace has exactly 250 frames. Deeper traces only come from deep
/// recursion, whose innermost frames are the repeated recursive ones anyway.
pub const MAX_FRAMES: usize = 250;

/// The most exceptions of one event (after exception-group wrappers are
/// dropped) that grouping considers: 32, the first 16 and the last 16.
///
/// Exceptions are listed root cause first, the primary (caught) exception
/// last; both ends are kept, the middle of a longer chain is dropped (one
/// non-contributing component says how many). The JavaScript SDK follows 5
/// causes by default (6 exceptions), Java and Python chains rarely exceed a
/// dozen, and the corpus's largest event has 6; 32 bounds the frames grouping
/// may visit to 32 × [`MAX_FRAMES`] per event.
pub const MAX_EXCEPTIONS: usize = 32;

/// The longest text that message parameterization reads, in characters: 8,192.
///
/// Messages and exception values keep their first two non-empty lines; when
/// those are longer, they are cut to 8,192 characters (and marked with `...`,
/// like dropped lines) before the regular expressions see them, so
/// parameterization costs at most a fixed amount per text however long the
/// event's message is. Sentry's ingestion cuts messages to 8,192 characters as
/// well; the corpus's longest message has 231 characters, its longest
/// exception value 386. A value that does not count (because the stack trace
/// does) is shown in the explanation cut to the same length.
pub const MAX_MESSAGE_CHARS: usize = 8192;

/// The longest title or culprit kept, in characters: 256 (longer ones are cut,
/// with `…`).
///
/// The work to build them is bounded as well: a title reads at most
/// [`TITLE_SCAN_BYTES`] of an exception value or message to find its first
/// line, and every piece is cut before it is joined.
pub const MAX_TITLE_CHARS: usize = 256;

/// How far into a value or message the title looks for the end of the first
/// line, in bytes: 4,096.
///
/// A first line that does not end within them is cut there (and the title then
/// ends with `…`): 4,096 bytes hold at least 1,024 characters, four times
/// [`MAX_TITLE_CHARS`], so only text preceded by thousands of blanks is
/// affected.
pub const TITLE_SCAN_BYTES: usize = 4096;

/// The largest prefix of `s` of at most `max_chars` characters, and whether
/// `s` was longer. Costs O(`max_chars`), whatever the length of `s`.
pub(crate) fn prefix_chars(s: &str, max_chars: usize) -> (&str, bool) {
    // At most 4 bytes per character: a string this short cannot be too long.
    if s.len() <= max_chars {
        return (s, false);
    }
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => (&s[..i], true),
        None => (s, false),
    }
}

/// The largest prefix of `s` of at most `max_bytes` bytes that ends on a
/// character boundary.
pub(crate) fn prefix_bytes(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A string of at most [`MAX_TITLE_CHARS`] characters built from pieces, each
/// cut before it is copied; `…` is appended when anything was cut. The work is
/// O([`MAX_TITLE_CHARS`]) whatever the pieces' lengths.
#[derive(Default)]
pub(crate) struct BoundedTitle {
    text: String,
    chars: usize,
    cut: bool,
}

impl BoundedTitle {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends `s`, or as much of it as fits.
    pub(crate) fn push(mut self, s: &str) -> Self {
        if self.cut {
            return self;
        }
        let room = MAX_TITLE_CHARS - self.chars;
        let (head, cut) = prefix_chars(s, room);
        self.text.push_str(head);
        self.chars += if cut { room } else { head.chars().count() };
        self.cut = cut;
        self
    }

    /// Marks the text as cut when `cut` (its last piece went on beyond what
    /// was read).
    pub(crate) fn cut_if(mut self, cut: bool) -> Self {
        self.cut |= cut;
        self
    }

    pub(crate) fn finish(mut self) -> String {
        if self.cut {
            self.text.push('…');
        }
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(prefix_chars("abc", 2), ("ab", true));
        assert_eq!(prefix_chars("abc", 3), ("abc", false));
        assert_eq!(prefix_chars("éé", 1), ("é", true));
        assert_eq!(prefix_chars("éé", 2), ("éé", false));
        assert_eq!(prefix_bytes("éé", 3), "é");
        assert_eq!(prefix_bytes("éé", 1), "");
        assert_eq!(prefix_bytes("ab", 9), "ab");
    }

    /// The same text as cutting the joined string, without building it.
    #[test]
    fn bounded_title_equals_cutting_the_joined_string() {
        fn reference(s: &str) -> String {
            match s.char_indices().nth(MAX_TITLE_CHARS) {
                Some((i, _)) => format!("{}…", &s[..i]),
                None => s.to_owned(),
            }
        }
        for (a, b) in [
            ("x".repeat(10), "y".repeat(10)),
            ("x".repeat(254), String::new()),
            ("x".repeat(254), "y".to_owned()),
            ("é".repeat(300), "y".to_owned()),
            ("x".repeat(100), "ü".repeat(154)),
            ("x".repeat(100), "ü".repeat(155)),
            ("x".repeat(256), String::new()),
            ("x".repeat(257), String::new()),
        ] {
            let joined = format!("{a}: {b}");
            let built = BoundedTitle::new().push(&a).push(": ").push(&b).finish();
            assert_eq!(built, reference(&joined), "{} + {}", a.len(), b.len());
        }
    }
}
