//! Normalisations applied before anything is hashed: message parameterization,
//! function names, file names and context lines.
//!
//! Every function here is pure; the regular expressions are compiled once, on
//! first use, and shared by all threads.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex, RegexSet};

use crate::limits::{MAX_MESSAGE_CHARS, TITLE_SCAN_BYTES, prefix_bytes, prefix_chars};

/// The placeholder names, in the order they are tried (first match wins).
///
/// Each pattern is one alternative of a single regular expression, so a message
/// is scanned once, left to right; at a given position the earliest alternative
/// in this list that matches wins.
const PATTERNS: &[(&str, &str)] = &[
    (
        "email",
        r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*\.[a-zA-Z]{2,}",
    ),
    ("url", r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s<>\x22'`]+"),
    (
        "hostname",
        r"\b(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+(?:com|net|org|io|dev|app|edu|gov|mil|int|info|biz|co|us|uk|de|fr|nl|eu|ru|cn|jp|in|br|au|ca|ch|se|it|es|pl|local|localdomain|internal|lan|cloud|svc|cluster)\b",
    ),
    (
        "ip",
        r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\b|\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b|(?:\b[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){0,6})?::(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){0,6}\b)?",
    ),
    (
        "uuid",
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
    ),
    ("sha1", r"\b[0-9a-fA-F]{40}\b"),
    ("md5", r"\b[0-9a-fA-F]{32}\b"),
    (
        "date",
        concat!(
            // ISO 8601 / RFC 3339: 2024-01-31, 2024-01-31T12:00:00.123Z, 2024-01-31 12:00:00+02:00
            r"\b[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2}\b)?)?",
            // RFC 2822: Tue, 31 Jan 2024 12:00:00 +0000
            r"|\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}(?: (?:[+-][0-9]{4}|GMT|UTC))?",
            // ctime: Wed Apr 17 22:31:45 2019
            r"|\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-9]?[0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}(?: [0-9]{4})?\b",
            // Jan 31, 2024 / January 31 2024 (optionally with a time)
            r"|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* [0-9]{1,2},? [0-9]{4}(?: [0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?\b",
            // 31/01/2024, 01/31/24, 31.01.2024
            r"|\b[0-9]{1,2}[/.][0-9]{1,2}[/.][0-9]{4}\b|\b[0-9]{1,2}/[0-9]{1,2}/[0-9]{2}\b",
            // times of day: 12:00, 12:00:00.123, 3:04 PM
            r"|\b[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:\s?[AaPp][Mm]\b)?",
        ),
    ),
    (
        "duration",
        r"\b[0-9]+(?:\.[0-9]+)?(?:ns|us|µs|ms|s|m|h|d)\b|\b[0-9]+(?:\.[0-9]+)? ?(?:secs?|seconds?|mins?|minutes?|hrs?|hours?|days?)\b",
    ),
    ("hex", r"\b0[xX][0-9a-fA-F]+\b"),
    ("float", r"\b[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?\b"),
    ("int", r"\b[0-9]+\b"),
    ("quoted_str", r#"=\s*(?:'[^']*'|"[^"]*")"#),
    ("bool", r"=\s*(?:true|false|True|False|TRUE|FALSE)\b"),
];

/// The parameterization expressions, compiled once.
pub(crate) struct Matchers {
    /// Every pattern as a named group of one expression: it finds the matches
    /// (leftmost first, in one left-to-right scan).
    combined: Regex,
    /// Every pattern anchored at the start of the text: which of them match
    /// where a match of `combined` starts at the start of the text.
    at_start: RegexSet,
    /// The same, after any one character (the character before the match, so
    /// that word boundaries see their real context).
    after_char: RegexSet,
}

static PARAMETERIZE: LazyLock<Option<Matchers>> = LazyLock::new(|| {
    // ASCII word boundaries keep the expressions on the fast DFA engines.
    let ascii = |pattern: &str| pattern.replace(r"\b", r"(?-u:\b)");
    let mut source = String::new();
    for (i, (name, pattern)) in PATTERNS.iter().enumerate() {
        if i > 0 {
            source.push('|');
        }
        source.push_str(&format!("(?P<{name}>{})", ascii(pattern)));
    }
    // The patterns are constants covered by tests; `None` only if one is broken,
    // in which case messages are hashed verbatim rather than panicking.
    Some(Matchers {
        combined: Regex::new(&source).ok()?,
        at_start: RegexSet::new(PATTERNS.iter().map(|(_, p)| format!("^(?:{})", ascii(p)))).ok()?,
        after_char: RegexSet::new(
            PATTERNS
                .iter()
                .map(|(_, p)| format!("^(?s:.)(?:{})", ascii(p))),
        )
        .ok()?,
    })
});

/// The maximum number of lines of a message that count for grouping.
const MAX_LINES: usize = 2;

/// Normalizes a message (or an exception value) for grouping.
///
/// Keeps the first two non-empty lines (appending `...` when lines were dropped),
/// then replaces variable parts — emails, URLs, host names, IP addresses, UUIDs,
/// SHA-1 and MD5 digests, dates and times, durations, hex numbers, floats,
/// integers, and quoted strings or booleans after `=` — by `<name>` placeholders,
/// so that `User 42 not found` and `User 97 not found` group together.
///
/// ```
/// use periscope_grouping::parameterize;
/// assert_eq!(parameterize("User 42 not found"), "User <int> not found");
/// assert_eq!(
///     parameterize("mail to bob@example.com failed after 250ms"),
///     "mail to <email> failed after <duration>"
/// );
/// ```
///
/// The text the regular expressions read is bounded: lines longer than
/// [`MAX_MESSAGE_CHARS`](crate::limits::MAX_MESSAGE_CHARS) characters in all
/// are cut there (and marked with `...`), so the cost per message is bounded
/// whatever its length.
pub fn parameterize(message: &str) -> String {
    let trimmed = first_lines(message);
    match PARAMETERIZE.as_ref() {
        Some(m) => replace_all(m, &trimmed),
        None => trimmed.into_owned(),
    }
}

/// Replaces every match of the combined expression by its placeholder.
///
/// The same result as `combined.replace_all` with capture groups, faster:
/// capture groups of a large expression cost about a microsecond per match
/// (a message full of numbers has one match every few bytes), so the matches
/// are found without them, and the pattern that produced one is the first
/// pattern that matches at its start (leftmost-first semantics: at a given
/// start, the earliest alternative that can match wins), which one anchored
/// search of a [`RegexSet`] tells.
fn replace_all(m: &Matchers, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for found in m.combined.find_iter(text) {
        let start = found.start();
        out.push_str(&text[last..start]);
        let name = match text[..start].char_indices().next_back() {
            None => m.at_start.matches(text).iter().next(),
            Some((before, _)) => m.after_char.matches(&text[before..]).iter().next(),
        }
        .and_then(|i| PATTERNS.get(i))
        .map(|(name, _)| *name);
        match name {
            Some(name) => out.push_str(&replacement(name, found.as_str())),
            // Not expected; the capture groups decide then.
            None => match m.combined.captures_at(text, start) {
                Some(caps) => out.push_str(&replace_match(&caps)),
                None => out.push_str(found.as_str()),
            },
        }
        last = found.end();
    }
    out.push_str(&text[last..]);
    out
}

/// The replacement for one match of the pattern `name`.
fn replacement<'t>(name: &str, text: &'t str) -> Cow<'t, str> {
    match name {
        // An IPv6-looking token without any digit is a `Foo::bar` path.
        "ip" if !text.bytes().any(|b| b.is_ascii_digit()) => Cow::Borrowed(text),
        "quoted_str" | "bool" => {
            // Keep the `=` and the blanks that follow it.
            let value_start = text[1..]
                .find(|c: char| !c.is_whitespace())
                .map_or(text.len(), |i| i + 1);
            Cow::Owned(format!("{}<{name}>", &text[..value_start]))
        }
        _ => Cow::Owned(format!("<{name}>")),
    }
}

/// The replacement for one match of the combined expression, by its groups.
fn replace_match(caps: &Captures<'_>) -> String {
    for (name, _) in PATTERNS {
        if let Some(m) = caps.name(name) {
            return replacement(name, m.as_str()).into_owned();
        }
    }
    String::new()
}

/// The first [`MAX_LINES`] non-empty lines of `message`, each trimmed at its end,
/// followed by `...` when more non-empty lines followed; cut to
/// [`MAX_MESSAGE_CHARS`] characters (then followed by `...`).
///
/// Linear in the length of `message` (one scan for line ends), and copies at
/// most about `2 × MAX_MESSAGE_CHARS` characters.
fn first_lines(message: &str) -> Cow<'_, str> {
    let trimmed = message.trim();
    if !trimmed.contains(['\n', '\r']) {
        return match prefix_chars(trimmed, MAX_MESSAGE_CHARS) {
            (head, false) => Cow::Borrowed(head),
            (head, true) => Cow::Owned(format!("{head}...")),
        };
    }
    let mut lines = trimmed
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty());
    let mut out = String::with_capacity(trimmed.len().min(512));
    for (i, line) in lines.by_ref().take(MAX_LINES).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        // Each line is cut first, so a huge line is never copied whole.
        let (line, _) = prefix_chars(line, MAX_MESSAGE_CHARS + 1);
        out.push_str(line);
    }
    if lines.next().is_some() {
        out.push_str("...");
    }
    match prefix_chars(&out, MAX_MESSAGE_CHARS) {
        (_, false) => Cow::Owned(out),
        (head, true) => Cow::Owned(format!("{head}...")),
    }
}

/// `s` trimmed, `None` when absent or blank. Trims only when needed (the
/// common case has no surrounding white space).
pub(crate) fn non_empty(s: Option<&str>) -> Option<&str> {
    let s = s?;
    let (first, last) = (*s.as_bytes().first()?, *s.as_bytes().last()?);
    let s = if first.is_ascii_graphic() && last.is_ascii_graphic() {
        s
    } else {
        s.trim()
    };
    (!s.is_empty()).then_some(s)
}

/// The first line of `text`, trimmed (used for titles), and whether it was
/// cut: only the first [`TITLE_SCAN_BYTES`] bytes are read, so a first line
/// that does not end within them is cut there.
pub(crate) fn first_line(text: &str) -> (&str, bool) {
    let window = prefix_bytes(text, TITLE_SCAN_BYTES);
    if window.len() == text.len() {
        return (text.trim().lines().next().unwrap_or("").trim(), false);
    }
    let window = window.trim_start();
    match window.split_once('\n') {
        Some((line, _)) => (line.trim(), false),
        None => (window.trim_end(), true),
    }
}

/// Why a function name does not count, or what it was normalized to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FunctionName {
    /// The name counts, as given (already trimmed).
    Keep(String),
    /// The name counts after a normalisation (the hint says which).
    Normalized(String, &'static str),
    /// The name is ignored, with the reason.
    Ignored(&'static str),
}

/// Generated classes and proxies whose names change from build to build:
/// CGLIB and Spring enhancers, javassist, Java lambdas, Hibernate proxies,
/// reflection accessors, JDK dynamic proxies.
static GENERATED: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\$\$(?:EnhancerBy|FastClassBy|Lambda|_javassist|_jvst)",
        r"|EnhancerBy|HibernateProxy|CGLIB\$|_javassist",
        r"|Generated(?:Serialization)?(?:Method|Constructor)Accessor",
        r"|(?:^|[.$])\$Proxy[0-9]",
    ))
    .ok()
});

/// Whether a class, module or function name is generated.
pub(crate) fn is_generated_name(name: &str) -> bool {
    // Cheap pre-check: every pattern contains `$` or one of these words.
    // (One pass over the bytes is much cheaper than several substring
    // searches on the short strings found in frames.)
    let bytes = name.as_bytes();
    let candidate = bytes.iter().enumerate().any(|(i, &b)| match b {
        b'$' => true,
        b'E' => bytes[i..].starts_with(b"EnhancerBy"),
        b'H' => bytes[i..].starts_with(b"HibernateProxy"),
        b'G' => bytes[i..].starts_with(b"Generated"),
        _ => false,
    });
    candidate && GENERATED.as_ref().is_some_and(|re| re.is_match(name))
}

/// The generated parts of generated class names, each after the stable
/// prefix it follows (captured as group 1): Spring and plain CGLIB enhancers
/// and fast classes (`$$EnhancerBySpringCGLIB$$1a2b3c`), Hibernate proxies
/// (`$HibernateProxy$Yb4ZdFQ7`), javassist (`_$$_jvst1a2_3`,
/// `_$$_javassist_12`), reflection accessors (`GeneratedMethodAccessor123`),
/// JDK dynamic proxies (`$Proxy42`) and lambda classes
/// (`$$Lambda$42/0x0000000800c02a00`).
static GENERATED_PARTS: LazyLock<Option<Vec<Regex>>> = LazyLock::new(|| {
    [
        r"(\$\$[A-Za-z]*CGLIB\$\$)[0-9a-fA-F]+(?:_[0-9]+)?",
        r"(\$HibernateProxy\$)[A-Za-z0-9_]+",
        r"(_\$\$_jvst)[0-9a-fA-F]+(?:_[0-9]+)?",
        r"(_\$\$_javassist(?:_seam)?_)[0-9]+",
        r"(Generated(?:Serialization)?(?:Method|Constructor)Accessor)[0-9]+",
        r"((?:^|[.$])\$Proxy)[0-9]+",
        r"(\$\$Lambda)(?:\$[0-9]+(?:/0x[0-9a-fA-F]+)?|/0x[0-9a-fA-F]+)",
    ]
    .iter()
    .map(|p| Regex::new(p).ok())
    .collect()
});

/// The placeholder of a generated name or part.
pub(crate) const AUTO: &str = "<auto>";

/// The hint of a generated name replaced by [`AUTO`] as a whole.
pub(crate) const GENERATED_HINT: &str = "generated name normalized";

/// A generated name with only its generated parts replaced by `<auto>`
/// (`com.shop.Foo$$EnhancerBySpringCGLIB$$8e2f1a3b` →
/// `com.shop.Foo$$EnhancerBySpringCGLIB$$<auto>`), so that proxies of
/// different classes stay apart. `None` when no known part is found (the
/// caller then replaces the whole name).
pub(crate) fn mask_generated_parts(name: &str) -> Option<String> {
    let mut out = Cow::Borrowed(name);
    for re in GENERATED_PARTS.as_ref()? {
        if let Cow::Owned(s) = re.replace_all(&out, "${1}<auto>") {
            out = Cow::Owned(s);
        }
    }
    match out {
        Cow::Owned(s) => Some(s),
        Cow::Borrowed(_) => None,
    }
}

/// Normalizes a function name for grouping.
///
/// - anonymous functions (`?`, `<anonymous>`, `<anonymous function>`,
///   `Anonymous function`, names ending in `/<`) are ignored;
/// - Java lambdas (`lambda$...`) are ignored;
/// - Ruby blocks (`block in foo`, `block (2 levels) in foo`) become `block`;
/// - generated class and proxy names become `<auto>`.
pub(crate) fn normalize_function(name: &str) -> FunctionName {
    if name.is_empty() {
        return FunctionName::Ignored("empty function name");
    }
    // The last dotted segment decides (JavaScript `Foo.<anonymous>`, `Object.?`).
    let last = name.rsplit('.').next().unwrap_or(name);
    if matches!(
        last,
        "?" | "<anonymous>" | "<anonymous function>" | "Anonymous function"
    ) || matches!(name, "Anonymous function" | "<anonymous function>")
        || name.ends_with("/<")
    {
        return FunctionName::Ignored("ignored anonymous function");
    }
    if name.starts_with("lambda$") || last.starts_with("lambda$") {
        return FunctionName::Ignored("ignored Java lambda");
    }
    if name.starts_with("block in ") || name.starts_with("block (") && name.contains(" in ") {
        return FunctionName::Normalized("block".to_owned(), "Ruby block name normalized");
    }
    if is_generated_name(name) {
        return FunctionName::Normalized(AUTO.to_owned(), GENERATED_HINT);
    }
    FunctionName::Keep(name.to_owned())
}

/// Build-specific parts of native function names: MSVC's anonymous-namespace
/// hashes (`?A0x1234abcd`), `` `anonymous namespace' `` spellings, and the
/// `.cold` / `.cold.N` suffixes of hot/cold-split functions.
static NATIVE_NOISE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"\?A0x[0-9a-fA-F]{8}|`anonymous namespace'|\.cold(?:\.[0-9]+)?$").ok()
});

/// Normalizes a native (C, C++, Objective-C, Swift) function name: anonymous
/// namespaces become `(anonymous namespace)`, `.cold.N` suffixes are dropped.
/// `None` when nothing changes.
pub(crate) fn normalize_native_function(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let candidate = bytes.iter().enumerate().any(|(i, &b)| match b {
        b'?' => bytes[i..].starts_with(b"?A0x"),
        b'`' => bytes[i..].starts_with(b"`anonymous namespace'"),
        b'.' => bytes[i..].starts_with(b".cold"),
        _ => false,
    });
    if !candidate {
        return None;
    }
    let re = NATIVE_NOISE.as_ref()?;
    let out = re.replace_all(name, |caps: &Captures<'_>| {
        if caps[0].starts_with(".cold") {
            ""
        } else {
            "(anonymous namespace)"
        }
    });
    match out {
        Cow::Owned(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// Whether `abs_path` points to a URL (`http:`, `https:`, `file:`, `webpack:`,
/// `blob:`, `app:` ... any `scheme:` followed by `//`), or to `<anonymous>`,
/// `[native code]` or similar pseudo-paths, for which the file name is not a
/// stable identity.
pub(crate) fn is_url_or_pseudo_path(abs_path: &str) -> bool {
    let p = abs_path.trim();
    if matches!(
        p,
        "<anonymous>" | "[native code]" | "native code" | "eval code" | "<unknown>"
    ) {
        return true;
    }
    let Some((scheme, rest)) = p.split_once(':') else {
        return false;
    };
    let scheme_ok = !scheme.is_empty()
        && scheme.len() > 1 // `C:\...` is a Windows drive, not a scheme
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    scheme_ok && (rest.starts_with("//") || matches!(scheme, "http" | "https" | "file" | "blob"))
}

/// Whether a path is a JavaScript pseudo-path for which the whole frame is ignored.
pub(crate) fn is_native_code_path(path: &str) -> bool {
    matches!(
        path.trim(),
        "[native code]" | "native code" | "eval code" | "<anonymous>"
    )
}

/// The base name of a path (after the last `/` or `\`), lowercased.
pub(crate) fn normalize_filename(filename: &str) -> String {
    let f = filename.trim();
    let f = f.split(['?', '#']).next().unwrap_or(f);
    let base = f.rsplit(['/', '\\']).next().unwrap_or(f);
    if base
        .bytes()
        .any(|b| !b.is_ascii() || b.is_ascii_uppercase())
    {
        base.to_lowercase()
    } else {
        base.to_owned()
    }
}

/// Whether a frame's path lies in an iOS app bundle (on a device,
/// `/private/var/containers/Bundle/Application/...`; in the simulator,
/// `.../Containers/Bundle/Application/...`), compared without case.
pub(crate) fn is_ios_app_bundle_path(path: &str) -> bool {
    const NEEDLE: &[u8] = b"/containers/bundle/application/";
    path.as_bytes()
        .windows(NEEDLE.len())
        .any(|w| w.eq_ignore_ascii_case(NEEDLE))
}

/// The maximum length of a context line that still counts.
pub(crate) const MAX_CONTEXT_LINE: usize = 120;

/// The platforms whose context lines count for grouping.
pub(crate) fn context_line_platform(platform: &str) -> bool {
    matches!(platform, "javascript" | "node" | "python" | "php" | "ruby")
}

/// A context line with all runs of white space collapsed to one space, trimmed.
pub(crate) fn collapse_whitespace(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for word in line.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The last segment of a package path (`/usr/lib/libc.so` → `libc.so`,
/// `C:\Windows\ntdll.dll` → `ntdll.dll`).
pub(crate) fn package_name(package: &str) -> &str {
    let p = package.trim();
    p.rsplit(['/', '\\']).find(|s| !s.is_empty()).unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expressions_compile() {
        assert!(PARAMETERIZE.is_some());
        assert!(GENERATED.is_some());
        assert!(NATIVE_NOISE.is_some());
        assert!(GENERATED_PARTS.as_ref().is_some_and(|v| v.len() == 7));
    }

    /// The fast replacement equals the one by capture groups.
    fn by_captures(text: &str) -> String {
        let m = PARAMETERIZE.as_ref().unwrap();
        m.combined.replace_all(text, replace_match).into_owned()
    }

    #[test]
    fn fast_replacement_equals_capture_groups() {
        let m = PARAMETERIZE.as_ref().unwrap();
        for text in [
            "user_42 and v2 stay, 42 goes; a@b.co x_a@b.co _1.2.3.4 a1.2.3.4 x::1 Foo::bar ::1",
            "é42 42é 0x1f_0x2 =true x= 'q' key = \"v\" 2024-01-31T12:00:00Z 12:30 3:04 PM",
            "https://a.b/c?d=1 db-1.prod.example.com fe80::1 550e8400-e29b-41d4-a716-446655440000",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709 d41d8cd98f00b204e9800998ecf8427e 250ms 1.5s",
        ] {
            assert_eq!(replace_all(m, text), by_captures(text), "{text}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn fast_replacement_equals_capture_groups_on_token_soup(
            text in "([0-9a-fA-F:.@/=_ xé'\"-]|com|://|0x|ms| s|true|Jan |Mon, ){0,40}"
        ) {
            let m = PARAMETERIZE.as_ref().unwrap();
            proptest::prop_assert_eq!(replace_all(m, &text), by_captures(&text));
        }
    }

    #[test]
    fn native_names() {
        assert_eq!(
            normalize_native_function("?A0xc3a0617d::crash").as_deref(),
            Some("(anonymous namespace)::crash")
        );
        assert_eq!(
            normalize_native_function("crashpad::`anonymous namespace'::HandleAbortSignal")
                .as_deref(),
            Some("crashpad::(anonymous namespace)::HandleAbortSignal")
        );
        assert_eq!(
            normalize_native_function("gpusGenerateCrashLog.cold.1").as_deref(),
            Some("gpusGenerateCrashLog")
        );
        assert_eq!(
            normalize_native_function("foo.cold").as_deref(),
            Some("foo")
        );
        assert_eq!(normalize_native_function("std::vector<T>::push_back"), None);
        assert_eq!(normalize_native_function("x.colder"), None);
    }

    #[test]
    fn generated_names() {
        for name in [
            "com.sun.proxy.$Proxy12",
            "jdk.proxy2.$Proxy47",
            "Foo$$FastClassBySpringCGLIB$$1",
            "Foo$$_jvst1a2_3",
        ] {
            assert!(is_generated_name(name), "{name}");
        }
        for name in [
            "com.example.Foo$1",
            "Foo$Inner",
            "scala.Foo$$anonfun$bar",
            "ProxyFactory",
        ] {
            assert!(!is_generated_name(name), "{name}");
        }
    }

    #[test]
    fn generated_parts_are_masked_after_their_stable_prefix() {
        for (name, masked) in [
            (
                "a.Foo$$EnhancerBySpringCGLIB$$8e2f1a3b",
                "a.Foo$$EnhancerBySpringCGLIB$$<auto>",
            ),
            (
                "a.Foo$$FastClassByCGLIB$$1a_2",
                "a.Foo$$FastClassByCGLIB$$<auto>",
            ),
            ("a.Foo$HibernateProxy$Yb4Z_7", "a.Foo$HibernateProxy$<auto>"),
            ("a.Foo_$$_jvst3c1_12", "a.Foo_$$_jvst<auto>"),
            (
                "a.Foo_$$_javassist_seam_4",
                "a.Foo_$$_javassist_seam_<auto>",
            ),
            ("GeneratedMethodAccessor12", "GeneratedMethodAccessor<auto>"),
            ("com.sun.proxy.$Proxy42", "com.sun.proxy.$Proxy<auto>"),
            ("a.B$$Lambda$42/0x0000000800c02a00", "a.B$$Lambda<auto>"),
        ] {
            assert_eq!(
                mask_generated_parts(name).as_deref(),
                Some(masked),
                "{name}"
            );
            assert!(is_generated_name(name), "{name}");
        }
        // Generated, but without a known generated part: nothing to mask.
        assert_eq!(mask_generated_parts("CGLIB$toString$3"), None);
        assert_eq!(mask_generated_parts("a.Foo$$Lambda"), None);
        assert_eq!(mask_generated_parts("com.example.Foo"), None);
        // `$Proxy` only as a class name of its own.
        assert_eq!(mask_generated_parts("My$ProxyFactory1"), None);
        assert_eq!(mask_generated_parts("a.$Proxy"), None);
    }

    #[test]
    fn ios_app_bundle_paths() {
        assert!(is_ios_app_bundle_path(
            "/private/var/containers/Bundle/Application/6A1B/Shop.app/Shop"
        ));
        assert!(is_ios_app_bundle_path(
            "/Users/me/Library/Developer/CoreSimulator/Devices/1/data/Containers/Bundle/Application/2/Shop.app/Shop"
        ));
        assert!(!is_ios_app_bundle_path("/usr/lib/libobjc.A.dylib"));
        assert!(!is_ios_app_bundle_path("/containers/bundle/application"));
        assert!(!is_ios_app_bundle_path(""));
    }

    #[track_caller]
    fn p(input: &str, expected: &str) {
        assert_eq!(parameterize(input), expected, "input: {input:?}");
    }

    #[test]
    fn email() {
        p(
            "no user bob.smith+x@mail.example.org here",
            "no user <email> here",
        );
    }

    #[test]
    fn url() {
        p(
            "GET https://api.example.com/v1/users/42?x=1 failed",
            "GET <url> failed",
        );
        p("see file:///tmp/x.txt", "see <url>");
    }

    #[test]
    fn hostname() {
        p(
            "could not resolve db-1.prod.example.com",
            "could not resolve <hostname>",
        );
        p("module os.path failed", "module os.path failed");
    }

    #[test]
    fn ip_v4_and_v6() {
        p("connect to 10.0.12.7 refused", "connect to <ip> refused");
        p(
            "peer 2001:db8:85a3:0:0:8a2e:370:7334 gone",
            "peer <ip> gone",
        );
        p("peer fe80::1 gone", "peer <ip> gone");
        p("listening on ::1", "listening on <ip>");
        p("in Foo::bar::baz", "in Foo::bar::baz");
    }

    #[test]
    fn uuid_sha1_md5() {
        p(
            "order 550e8400-e29b-41d4-a716-446655440000 missing",
            "order <uuid> missing",
        );
        p(
            "commit da39a3ee5e6b4b0d3255bfef95601890afd80709 bad",
            "commit <sha1> bad",
        );
        p(
            "etag d41d8cd98f00b204e9800998ecf8427e stale",
            "etag <md5> stale",
        );
    }

    #[test]
    fn dates_and_times() {
        p("at 2024-01-31T12:00:00.123Z", "at <date>");
        p("at 2024-01-31 12:00:00+02:00 x", "at <date> x");
        p("on 2024-01-31", "on <date>");
        p("on Tue, 31 Jan 2024 12:00:00 +0000 x", "on <date> x");
        p("on Jan 31, 2024 ok", "on <date> ok");
        p("Wed Apr 17 22:31:45 2019: up", "<date>: up");
        p("at Wed Apr  7 02:31:45 x", "at <date> x");
        p("on 31/01/2024 and 01/31/24", "on <date> and <date>");
        p("at 12:30:45.5 and 3:04 PM", "at <date> and <date>");
    }

    #[test]
    fn durations() {
        p("timeout after 250ms", "timeout after <duration>");
        p("took 1.5s", "took <duration>");
        p("waited 30 seconds", "waited <duration>");
    }

    #[test]
    fn hex_float_int() {
        p("bad pointer 0xdeadBEEF", "bad pointer <hex>");
        p("ratio 0.75 too high", "ratio <float> too high");
        p("User 42 not found", "User <int> not found");
        p("row 7 of 1000", "row <int> of <int>");
        p("user_42 and v2 stay", "user_42 and v2 stay");
    }

    #[test]
    fn quoted_and_bool_after_equals() {
        p(
            "lookup name='bob' failed",
            "lookup name=<quoted_str> failed",
        );
        p(r#"where key = "abc" done"#, "where key = <quoted_str> done");
        p("flag=true and other=False", "flag=<bool> and other=<bool>");
        p("'not after equals'", "'not after equals'");
    }

    #[test]
    fn first_match_wins() {
        // An email contains a host name; a URL contains an IP; the earlier pattern wins.
        p("x bob@example.com", "x <email>");
        p("x http://10.0.0.1:80/a", "x <url>");
        // A UUID contains numbers.
        p("550e8400-e29b-41d4-a716-446655440000", "<uuid>");
    }

    #[test]
    fn first_two_lines() {
        p("one\n\n two \nthree\nfour", "one\n two...");
        p("one\ntwo", "one\ntwo");
        p("  single  ", "single");
    }

    #[test]
    fn functions() {
        use FunctionName::*;
        assert_eq!(normalize_function("foo"), Keep("foo".into()));
        assert_eq!(non_empty(Some(" foo ")), Some("foo"));
        assert_eq!(non_empty(Some(" \t")), None);
        assert_eq!(non_empty(Some("")), None);
        assert_eq!(non_empty(Some("é ")), Some("é"));
        for anon in [
            "?",
            "<anonymous>",
            "<anonymous function>",
            "Anonymous function",
            "foo/<",
            "Object.<anonymous>",
        ] {
            assert!(matches!(normalize_function(anon), Ignored(_)), "{anon}");
        }
        assert!(matches!(normalize_function("lambda$main$0"), Ignored(_)));
        assert_eq!(
            normalize_function("block in process_request"),
            Normalized("block".into(), "Ruby block name normalized")
        );
        assert_eq!(
            normalize_function("block (2 levels) in run"),
            Normalized("block".into(), "Ruby block name normalized")
        );
        for generated in [
            "Foo$$EnhancerByCGLIB$$a1b2c3",
            "Foo$$Lambda$42/0x0000000800c02a00",
            "Foo_$$_javassist_12",
            "GeneratedMethodAccessor123",
            "User$HibernateProxy$abc",
        ] {
            assert_eq!(
                normalize_function(generated),
                Normalized("<auto>".into(), "generated name normalized"),
                "{generated}"
            );
        }
    }

    #[test]
    fn paths() {
        assert!(is_url_or_pseudo_path("https://cdn.example.com/app.js"));
        assert!(is_url_or_pseudo_path("http://localhost:3000/a.js"));
        assert!(is_url_or_pseudo_path("file:///home/a.js"));
        assert!(is_url_or_pseudo_path("webpack://app/src/a.js"));
        assert!(is_url_or_pseudo_path("<anonymous>"));
        assert!(is_url_or_pseudo_path("[native code]"));
        assert!(!is_url_or_pseudo_path("/srv/app/main.py"));
        assert!(!is_url_or_pseudo_path(r"C:\app\main.cs"));
        assert_eq!(normalize_filename("/srv/App/Main.py"), "main.py");
        assert_eq!(normalize_filename(r"C:\app\Program.CS"), "program.cs");
        assert_eq!(normalize_filename("app.js?v=123"), "app.js");
        assert_eq!(
            package_name("/usr/lib/system/libdyld.dylib"),
            "libdyld.dylib"
        );
        assert_eq!(package_name(r"C:\WINDOWS\SYSTEM32\ntdll.dll"), "ntdll.dll");
    }

    #[test]
    fn context_lines() {
        assert_eq!(
            collapse_whitespace("  if  (x)\t{ y( ) }  "),
            "if (x) { y( ) }"
        );
        assert!(context_line_platform("python"));
        assert!(!context_line_platform("java"));
    }

    // The tests below pin conditions that `cargo mutants` found unpinned.

    #[test]
    fn a_single_overlong_line_of_a_multi_line_message_is_cut_with_a_mark() {
        let long = "x".repeat(MAX_MESSAGE_CHARS + 10);
        let one = format!("{long}\n\n");
        let cut = first_lines(&one);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 3);
        assert!(cut.ends_with("..."));
        let text = format!("{long}\nsecond");
        let two = first_lines(&text);
        // The first line's first characters, not a shorter line and its break.
        assert_eq!(two, format!("{}...", "x".repeat(MAX_MESSAGE_CHARS)));
    }

    #[test]
    fn blank_edges_are_trimmed_on_either_side() {
        assert_eq!(non_empty(Some(" abc")), Some("abc"));
        assert_eq!(non_empty(Some("abc ")), Some("abc"));
        assert_eq!(non_empty(Some("abc")), Some("abc"));
        assert_eq!(non_empty(Some("  ")), None);
        assert_eq!(non_empty(None), None);
    }

    #[test]
    fn generated_names_without_a_dollar_sign() {
        assert!(is_generated_name("UserServiceEnhancerByCGLIB"));
        assert!(is_generated_name("OrderHibernateProxy"));
        assert!(is_generated_name("GeneratedMethodAccessor12"));
        assert!(!is_generated_name("Enhancer"));
        assert!(!is_generated_name("Hibernate"));
    }

    #[test]
    fn lambdas_and_ruby_blocks() {
        assert_eq!(
            normalize_function("com.example.Foo.lambda$run$0"),
            FunctionName::Ignored("ignored Java lambda")
        );
        assert_eq!(
            normalize_function("lambda$run$0"),
            FunctionName::Ignored("ignored Java lambda")
        );
        assert_eq!(
            normalize_function("block (2 levels) in render"),
            FunctionName::Normalized("block".to_owned(), "Ruby block name normalized")
        );
        // `block (` without ` in `, and ` in ` without `block`: kept.
        assert_eq!(
            normalize_function("block (2 levels)"),
            FunctionName::Keep("block (2 levels)".to_owned())
        );
        assert_eq!(
            normalize_function("render in template"),
            FunctionName::Keep("render in template".to_owned())
        );
    }

    #[test]
    fn a_native_name_that_is_only_noise_is_not_normalized_to_nothing() {
        assert_eq!(normalize_native_function(".cold.1"), None);
        assert_eq!(normalize_native_function(".cold"), None);
        assert_eq!(
            normalize_native_function("compute.cold.1"),
            Some("compute".to_owned())
        );
    }

    #[test]
    fn schemes_are_two_characters_or_more_of_scheme_characters() {
        // A one-letter "scheme" is a Windows drive, even before `//`.
        assert!(!is_url_or_pseudo_path("c://x"));
        assert!(!is_url_or_pseudo_path("C://x"));
        // Characters a scheme cannot hold.
        assert!(!is_url_or_pseudo_path("my app://x"));
        assert!(!is_url_or_pseudo_path(":/x"));
        // A scheme without `//` counts only for http, https, file and blob.
        assert!(!is_url_or_pseudo_path("module:function"));
        assert!(is_url_or_pseudo_path("blob:abc"));
        assert!(is_url_or_pseudo_path("app://bundle/main.js"));
    }

    #[test]
    fn file_names_without_ascii_letters_are_lowercased_too() {
        assert_eq!(normalize_filename("ÄÖ"), "äö");
        assert_eq!(normalize_filename("/x/ÜBER.py"), "über.py");
        assert_eq!(normalize_filename("main.py"), "main.py");
    }
}
