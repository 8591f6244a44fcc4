//! Globs, compiled once at parse time and matched by a small NFA simulation.
//!
//! Syntax: `*` any run of characters, `?` one character, `**` any run
//! including `/`, `[abc]` / `[a-z]` / `[!abc]` one character of (or not of) a
//! class, `\c` the character `c` itself. Braces are plain characters. In
//! [`GlobMode::Path`], `*`, `?` and classes do not match `/` (only `**` does);
//! in [`GlobMode::Plain`], `*` and `**` are the same and match anything.
//!
//! Matching runs the pattern as a set of positions over the value, one
//! character at a time: O(value length × pattern length) in the worst case,
//! never exponential, with no allocation beyond one bit per position.

use std::fmt;

/// How a glob treats `/` and letter case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GlobMode {
    /// `*` matches anything, case-sensitive.
    Plain,
    /// `*` matches anything, case-insensitive.
    PlainNoCase,
    /// `*`, `?` and classes stop at `/`, `**` crosses it; case-insensitive.
    Path,
}

impl GlobMode {
    fn path(self) -> bool {
        self == GlobMode::Path
    }
    fn no_case(self) -> bool {
        self != GlobMode::Plain
    }
}

/// Why a pattern is not a glob (the byte offset within the pattern text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GlobError {
    pub(crate) offset: usize,
    pub(crate) message: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Lit(char),
    /// `?`
    One,
    /// `[...]`: `(negated, ranges)`.
    Class(bool, Vec<(char, char)>),
    /// `*` (false) or `**` (true).
    Star(bool),
}

/// A necessary condition for a glob to match a value, read from the
/// pattern's literal characters (see [`Glob::key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GlobKey {
    /// The pattern has no wildcard: the value must equal this.
    Exact(String),
    /// The value must start with this.
    Prefix(String),
    /// The value must end with this.
    Suffix(String),
    /// The value must contain this.
    Contains(String),
    /// The pattern matches any value (`*`; `**` in a path).
    Any,
    /// Nothing cheap to require.
    None,
}

/// A compiled glob. Equality is by canonical source and mode.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    source: String,
    mode: GlobMode,
    tokens: Vec<Token>,
    /// The pattern is a plain string (no wildcard): matched by comparison.
    literal: Option<String>,
    /// The literal characters the pattern starts with (lowercased when the
    /// mode ignores case): a value must start with them.
    prefix: Vec<char>,
    /// The literal characters the pattern ends with: a value must end with them.
    suffix: Vec<char>,
    /// The longest run of literal characters (as `prefix`): a value must
    /// contain it.
    needle: String,
    /// The pattern is stars that match anything (`*`; `**` in a path).
    any: bool,
    /// `prefix` and `suffix` as strings.
    prefix_str: String,
    suffix_str: String,
    /// The pattern is its key and stars that match anything: matched by
    /// checking the key alone.
    shape: Shape,
}

/// Patterns matched by their key alone (see [`Glob::key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `abc*`
    Prefix,
    /// `*abc`
    Suffix,
    /// `*abc*`
    Contains,
    /// Anything else: the simulation decides.
    General,
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.mode == other.mode
    }
}

/// How a glob that ignores case folds one character of a value (the first
/// character of its lowercase form).
pub(crate) fn fold_char(c: char) -> char {
    lower(c)
}

fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

fn upper(c: char) -> char {
    c.to_uppercase().next().unwrap_or(c)
}

impl Glob {
    /// Compiles `pattern` (with backslash escapes, as written in a rule).
    pub(crate) fn new(pattern: &str, mode: GlobMode) -> Result<Glob, GlobError> {
        let mut tokens = Vec::new();
        let mut chars = pattern.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            let token = match c {
                '\\' => match chars.next() {
                    Some((_, e)) => Token::Lit(e),
                    None => {
                        return Err(GlobError {
                            offset: at,
                            message: "dangling \\ at the end of a pattern",
                        });
                    }
                },
                '*' => {
                    let mut double = false;
                    while chars.peek().is_some_and(|&(_, n)| n == '*') {
                        chars.next();
                        double = true;
                    }
                    Token::Star(double)
                }
                '?' => Token::One,
                '[' => {
                    let negated = chars.next_if(|&(_, n)| n == '!' || n == '^').is_some();
                    let mut ranges = Vec::new();
                    loop {
                        let Some((_, n)) = chars.next() else {
                            return Err(GlobError {
                                offset: at,
                                message: "unterminated [ in pattern (write \\[ for a literal [)",
                            });
                        };
                        let start = match n {
                            ']' => break,
                            '\\' => match chars.next() {
                                Some((_, e)) => e,
                                None => {
                                    return Err(GlobError {
                                        offset: at,
                                        message: "unterminated [ in pattern (write \\[ for a literal [)",
                                    });
                                }
                            },
                            other => other,
                        };
                        let mut end = start;
                        let mut look = chars.clone();
                        if let (Some((_, '-')), Some((_, after))) = (look.next(), look.next())
                            && after != ']'
                        {
                            chars.next();
                            end = match chars.next() {
                                Some((_, '\\')) => match chars.next() {
                                    Some((_, e)) => e,
                                    None => start,
                                },
                                Some((_, e)) => e,
                                None => start,
                            };
                            if end < start {
                                return Err(GlobError {
                                    offset: at,
                                    message: "reversed range in [ ] (write [a-z], not [z-a])",
                                });
                            }
                        }
                        ranges.push((start, end));
                    }
                    if ranges.is_empty() {
                        return Err(GlobError {
                            offset: at,
                            message: "empty character class [] (write \\[\\] for literal brackets)",
                        });
                    }
                    Token::Class(negated, ranges)
                }
                ']' => {
                    return Err(GlobError {
                        offset: at,
                        message: "unmatched ] in pattern (write \\] for a literal ])",
                    });
                }
                other => Token::Lit(other),
            };
            tokens.push(token);
        }
        let mut source = String::with_capacity(pattern.len());
        for t in &tokens {
            write_token(&mut source, t);
        }
        let literal = tokens
            .iter()
            .map(|t| match t {
                Token::Lit(c) if mode.no_case() => Some(lower(*c)),
                Token::Lit(c) => Some(*c),
                _ => None,
            })
            .collect::<Option<String>>();
        let tokens = if mode.no_case() {
            tokens
                .into_iter()
                .map(|t| match t {
                    Token::Lit(c) => Token::Lit(lower(c)),
                    other => other,
                })
                .collect()
        } else {
            tokens
        };
        let lit = |t: &Token| match t {
            Token::Lit(c) => Some(*c),
            _ => None,
        };
        let prefix: Vec<char> = tokens.iter().map_while(lit).collect();
        let mut suffix: Vec<char> = tokens.iter().rev().map_while(lit).collect();
        suffix.reverse();
        let needle = tokens
            .split(|t| lit(t).is_none())
            .max_by_key(|run| run.len())
            .map(|run| run.iter().filter_map(lit).collect::<String>())
            .unwrap_or_default();
        let any = !tokens.is_empty()
            && tokens
                .iter()
                .all(|t| matches!(t, Token::Star(double) if *double || !mode.path()));
        let mut glob = Glob {
            source,
            mode,
            tokens,
            literal,
            prefix_str: prefix.iter().collect(),
            suffix_str: suffix.iter().collect(),
            prefix,
            suffix,
            needle,
            any,
            shape: Shape::General,
        };
        glob.shape = match glob.key() {
            (GlobKey::Prefix(_), true) => Shape::Prefix,
            (GlobKey::Suffix(_), true) => Shape::Suffix,
            (GlobKey::Contains(_), true) => Shape::Contains,
            _ => Shape::General,
        };
        Ok(glob)
    }

    /// What a value must be, start with, end with or contain for the glob to
    /// match it, as one [`GlobKey`]: the most selective of the pattern's
    /// literal parts. Under a mode that ignores case the key is folded
    /// character by character with [`fold_char`] (as
    /// [`is_match`](Self::is_match) folds the value), so it is to be compared
    /// with a value folded the same way.
    ///
    /// The second value says whether the key is also sufficient: the pattern
    /// is literal, or literal characters and stars that match anything
    /// (`abc*`, `*abc`, `*abc*`; `**` in a path), so a value matches exactly
    /// when it satisfies the key.
    pub(crate) fn key(&self) -> (GlobKey, bool) {
        let any = |t: Option<&Token>| match t {
            Some(Token::Star(double)) => *double || !self.mode.path(),
            _ => false,
        };
        let (first, last) = (self.tokens.first(), self.tokens.last());
        let m = self.tokens.len();
        if let Some(literal) = &self.literal {
            (GlobKey::Exact(literal.clone()), true)
        } else if self.any {
            (GlobKey::Any, true)
        } else if self.prefix.len() >= self.suffix.len() && !self.prefix.is_empty() {
            let exact = self.prefix.len() + 1 == m && any(last);
            (GlobKey::Prefix(self.prefix_str.clone()), exact)
        } else if !self.suffix.is_empty() {
            let exact = self.suffix.len() + 1 == m && any(first);
            (GlobKey::Suffix(self.suffix_str.clone()), exact)
        } else if !self.needle.is_empty() {
            let exact = self.needle.chars().count() + 2 == m && any(first) && any(last);
            (GlobKey::Contains(self.needle.clone()), exact)
        } else {
            (GlobKey::None, false)
        }
    }

    /// The canonical pattern text: wildcards as written, literal special
    /// characters (`* ? [ ] \ "`) escaped with `\`.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    fn accepts(&self, token: &Token, c: char) -> bool {
        let path = self.mode.path();
        match token {
            Token::Lit(l) => *l == if self.mode.no_case() { lower(c) } else { c },
            Token::One => !(path && c == '/'),
            Token::Star(double) => *double || !(path && c == '/'),
            Token::Class(negated, ranges) => {
                if path && c == '/' {
                    return false;
                }
                let within = |x: char| ranges.iter().any(|&(a, b)| a <= x && x <= b);
                let hit = if self.mode.no_case() {
                    within(c) || within(lower(c)) || within(upper(c))
                } else {
                    within(c)
                };
                hit != *negated
            }
        }
    }

    /// Whether `value` matches the whole pattern.
    pub(crate) fn is_match(&self, value: &str) -> bool {
        if self.any {
            return true;
        }
        let no_case = self.mode.no_case();
        // An ASCII value folds byte by byte (`lower` agrees on ASCII, and
        // turns no other character into one).
        let ascii = no_case && value.is_ascii();
        if let Some(literal) = &self.literal {
            return if !no_case {
                value == literal
            } else if ascii {
                value.eq_ignore_ascii_case(literal)
            } else {
                value.chars().map(lower).eq(literal.chars())
            };
        }
        // Cheap rejections first: most values a rule sees do not match, and
        // most patterns start or end with literal characters.
        let fold = |c: char| if no_case { lower(c) } else { c };
        if !self.prefix.is_empty() {
            let hit = if !no_case {
                value.starts_with(self.prefix_str.as_str())
            } else if ascii {
                let p = self.prefix_str.as_bytes();
                value.len() >= p.len() && value.as_bytes()[..p.len()].eq_ignore_ascii_case(p)
            } else {
                value
                    .chars()
                    .map(fold)
                    .take(self.prefix.len())
                    .eq(self.prefix.iter().copied())
            };
            if !hit {
                return false;
            }
            if self.shape == Shape::Prefix {
                return true;
            }
        }
        if !self.suffix.is_empty() {
            let hit = if !no_case {
                value.ends_with(self.suffix_str.as_str())
            } else if ascii {
                let x = self.suffix_str.as_bytes();
                value.len() >= x.len()
                    && value.as_bytes()[value.len() - x.len()..].eq_ignore_ascii_case(x)
            } else {
                value
                    .chars()
                    .rev()
                    .map(fold)
                    .take(self.suffix.len())
                    .eq(self.suffix.iter().rev().copied())
            };
            if !hit {
                return false;
            }
            if self.shape == Shape::Suffix {
                return true;
            }
        }
        if self.shape == Shape::Contains {
            if !no_case {
                return value.contains(self.needle.as_str());
            }
            if ascii {
                // An ASCII value cannot hold a needle that is not ASCII.
                return self.needle.is_ascii() && self.contains_needle(value);
            }
        }
        if self.needle.len() > 1 && !self.contains_needle(value) {
            return false;
        }
        self.simulate(value)
    }

    /// [`is_match`](Self::is_match) for a value that is ASCII and already
    /// lowercase, under a mode that ignores case (the same answer, with
    /// plain comparisons). Other globs or values go to `is_match`.
    pub(crate) fn is_match_lower_ascii(&self, value: &str) -> bool {
        if !self.mode.no_case() || !value.is_ascii() {
            return self.is_match(value);
        }
        if self.any {
            return true;
        }
        // The key is folded; an ASCII value matches a character class
        // the same lowercased or not (classes try both cases).
        if let Some(literal) = &self.literal {
            return value == literal;
        }
        if !self.prefix.is_empty() {
            if !value.starts_with(self.prefix_str.as_str()) {
                return false;
            }
            if self.shape == Shape::Prefix {
                return true;
            }
        }
        if !self.suffix.is_empty() {
            if !value.ends_with(self.suffix_str.as_str()) {
                return false;
            }
            if self.shape == Shape::Suffix {
                return true;
            }
        }
        if !self.needle.is_empty() && !value.contains(self.needle.as_str()) {
            return false;
        }
        if self.shape == Shape::Contains {
            return true;
        }
        self.simulate(value)
    }

    /// Whether a path matches, read both as itself and, when relative, as
    /// if it started with `/`: `slashed` is `/` then the path, ASCII and
    /// already lowercase under a mode that ignores case (as
    /// [`is_match_lower_ascii`](Self::is_match_lower_ascii)).
    pub(crate) fn is_path_match_lower_ascii(&self, slashed: &str) -> bool {
        let value = slashed.get(1..).unwrap_or_default();
        let relative = !value.starts_with('/');
        if self.shape == Shape::Contains && self.mode.no_case() && slashed.is_ascii() {
            // `slashed` holds the needle where `value` does, or at its start.
            let needle = self.needle.as_str();
            return value.contains(needle) || (relative && slashed.starts_with(needle));
        }
        self.is_match_lower_ascii(value) || (relative && self.is_match_lower_ascii(slashed))
    }

    /// The simulation of all positions at once.
    fn simulate(&self, value: &str) -> bool {
        let m = self.tokens.len();
        if m < 64 {
            return self.is_match_bits(value);
        }
        // `active[i]`: the first `i` tokens match the value read so far.
        let mut active = vec![false; m + 1];
        let mut next = vec![false; m + 1];
        active[0] = true;
        self.close(&mut active);
        for c in value.chars() {
            next.iter_mut().for_each(|b| *b = false);
            let mut any = false;
            for (i, token) in self.tokens.iter().enumerate() {
                if !active[i] {
                    continue;
                }
                if self.accepts(token, c) {
                    let to = if matches!(token, Token::Star(_)) {
                        i
                    } else {
                        i + 1
                    };
                    next[to] = true;
                    any = true;
                }
            }
            if !any {
                return false;
            }
            std::mem::swap(&mut active, &mut next);
            self.close(&mut active);
        }
        active[m]
    }

    /// Whether `value` contains [`needle`](Glob::needle) (`true` when that
    /// cannot be told cheaply: a value that is not ASCII under a mode that
    /// ignores case).
    fn contains_needle(&self, value: &str) -> bool {
        if !self.mode.no_case() {
            return value.contains(self.needle.as_str());
        }
        if !value.is_ascii() || !self.needle.is_ascii() {
            return true;
        }
        let v = value.as_bytes();
        let Some((&first, rest)) = self.needle.as_bytes().split_first() else {
            return true;
        };
        // The needle is folded: its first byte is lowercase.
        v.len() > rest.len()
            && (0..v.len() - rest.len()).any(|i| {
                v[i].to_ascii_lowercase() == first
                    && v[i + 1..i + 1 + rest.len()].eq_ignore_ascii_case(rest)
            })
    }

    /// [`is_match`](Self::is_match) for patterns of fewer than 64 tokens:
    /// the positions as bits of one word, no allocation.
    fn is_match_bits(&self, value: &str) -> bool {
        let m = self.tokens.len();
        let close = |mut active: u64| {
            for (i, token) in self.tokens.iter().enumerate() {
                if active & (1 << i) != 0 && matches!(token, Token::Star(_)) {
                    active |= 1 << (i + 1);
                }
            }
            active
        };
        let mut active = close(1);
        for c in value.chars() {
            let mut next = 0u64;
            let mut rest = active & ((1u64 << m) - 1);
            while rest != 0 {
                let i = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                let token = &self.tokens[i];
                if self.accepts(token, c) {
                    next |= if matches!(token, Token::Star(_)) {
                        1 << i
                    } else {
                        1 << (i + 1)
                    };
                }
            }
            if next == 0 {
                return false;
            }
            active = close(next);
        }
        active & (1 << m) != 0
    }

    /// A star may match nothing: whoever reaches it also reaches past it.
    fn close(&self, active: &mut [bool]) {
        for (i, token) in self.tokens.iter().enumerate() {
            if active[i] && matches!(token, Token::Star(_)) {
                active[i + 1] = true;
            }
        }
    }
}

fn write_escaped(out: &mut String, c: char) {
    if matches!(c, '*' | '?' | '[' | ']' | '\\' | '"') {
        out.push('\\');
    }
    out.push(c);
}

fn write_class_char(out: &mut String, c: char) {
    if matches!(c, ']' | '[' | '\\' | '-' | '!' | '^' | '"') {
        out.push('\\');
    }
    out.push(c);
}

fn write_token(out: &mut String, token: &Token) {
    match token {
        Token::Lit(c) => write_escaped(out, *c),
        Token::One => out.push('?'),
        Token::Star(false) => out.push('*'),
        Token::Star(true) => out.push_str("**"),
        Token::Class(negated, ranges) => {
            out.push('[');
            if *negated {
                out.push('!');
            }
            for &(a, b) in ranges {
                write_class_char(out, a);
                if a != b {
                    out.push('-');
                    write_class_char(out, b);
                }
            }
            out.push(']');
        }
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn glob(p: &str, mode: GlobMode) -> Glob {
        Glob::new(p, mode).unwrap()
    }

    #[test]
    fn plain_star_crosses_slashes() {
        let g = glob("*/my-utils/*", GlobMode::Plain);
        assert!(g.is_match("a/b/my-utils/c/d"));
        assert!(!g.is_match("a/b/My-Utils/c"));
    }

    #[test]
    fn path_star_stops_at_slash_and_double_star_crosses() {
        let g = glob("**/vendor/foo/*.c", GlobMode::Path);
        assert!(g.is_match("/src/vendor/foo/x.c"));
        assert!(g.is_match("/SRC/Vendor/FOO/X.C"));
        assert!(!g.is_match("/src/vendor/foo/sub/x.c"));
        let g = glob("**/project/**.c", GlobMode::Path);
        assert!(g.is_match("/home/project/a/b/c.c"));
        assert!(!glob("a?b", GlobMode::Path).is_match("a/b"));
        assert!(glob("a?b", GlobMode::Plain).is_match("a/b"));
    }

    #[test]
    fn classes_and_escapes() {
        let g = glob("err[0-9][!a]", GlobMode::Plain);
        assert!(g.is_match("err1b"));
        assert!(!g.is_match("err1a"));
        assert!(!g.is_match("errxb"));
        let g = glob(r"a\*b\[c\]", GlobMode::Plain);
        assert!(g.is_match("a*b[c]"));
        assert!(!g.is_match("axb[c]"));
        assert_eq!(g.source(), r"a\*b\[c\]");
        assert!(glob("[A-C]", GlobMode::PlainNoCase).is_match("b"));
        assert!(!glob("[A-C]", GlobMode::Plain).is_match("b"));
    }

    #[test]
    fn literal_fast_path_respects_case() {
        assert!(glob("Error", GlobMode::PlainNoCase).is_match("ERROR"));
        assert!(!glob("Error", GlobMode::Plain).is_match("ERROR"));
        assert!(glob("", GlobMode::Plain).is_match(""));
        assert!(!glob("", GlobMode::Plain).is_match("a"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        assert_eq!(Glob::new("ab[cd", GlobMode::Plain).unwrap_err().offset, 2);
        assert!(Glob::new("a]", GlobMode::Plain).is_err());
        assert!(Glob::new("a\\", GlobMode::Plain).is_err());
        assert!(Glob::new("[]", GlobMode::Plain).is_err());
        assert!(Glob::new("[z-a]", GlobMode::Plain).is_err());
    }

    #[test]
    fn many_stars_on_a_long_value_stay_fast() {
        let pattern = "*a".repeat(50) + "*b";
        let g = glob(&pattern, GlobMode::Plain);
        let value = "a".repeat(20_000);
        let started = std::time::Instant::now();
        assert!(!g.is_match(&value));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    /// The obvious backtracking matcher, exponential but fine on tiny inputs.
    fn reference(tokens: &[Token], value: &[char], g: &Glob) -> bool {
        match tokens.split_first() {
            None => value.is_empty(),
            Some((Token::Star(_), rest)) => (0..=value.len())
                .take_while(|&k| k == 0 || g.accepts(&tokens[0], value[k - 1]))
                .any(|k| reference(rest, &value[k..], g)),
            Some((t, rest)) => {
                !value.is_empty() && g.accepts(t, value[0]) && reference(rest, &value[1..], g)
            }
        }
    }

    fn mode() -> impl Strategy<Value = GlobMode> {
        prop_oneof![
            Just(GlobMode::Plain),
            Just(GlobMode::PlainNoCase),
            Just(GlobMode::Path)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn agrees_with_the_reference(
            pattern in "(a|B|/|k|é|\\*|\\*\\*|\\?|\\[a-b\\]|\\[!a\\]){0,6}",
            value in "[aAbB/ckKéÉ\u{212a}]{0,8}",
            mode in mode(),
        ) {
            let g = glob(&pattern, mode);
            let chars: Vec<char> = value.chars().collect();
            prop_assert_eq!(g.is_match(&value), reference(&g.tokens, &chars, &g));
        }

        #[test]
        fn lowercased_ascii_values_match_alike(
            pattern in "(a|B|/|k|é|\\*|\\*\\*|\\?|\\[a-b\\]|\\[!A\\]|\\[B\\]){0,6}",
            value in "[aAbB/ckK]{0,8}",
            mode in mode(),
        ) {
            let g = glob(&pattern, mode);
            let lowered = value.to_ascii_lowercase();
            // Under `Plain` the value keeps its case (the glob is
            // case-sensitive); otherwise lowering it changes nothing.
            let expected = g.is_match(if mode == GlobMode::Plain { &lowered } else { &value });
            prop_assert_eq!(g.is_match_lower_ascii(&lowered), expected);
            prop_assert_eq!(g.is_match(&lowered), expected);
        }

        #[test]
        fn source_is_canonical(pattern in "(a|\\\\\\*|\\*|\\[a-c\\]|\\\\\"|x){0,8}", mode in mode()) {
            let g = glob(&pattern, mode);
            let again = glob(g.source(), mode);
            prop_assert_eq!(again.source(), g.source());
            prop_assert_eq!(&again.tokens, &g.tokens);
        }

        #[test]
        fn arbitrary_patterns_never_panic(pattern in ".{0,24}", value in ".{0,24}") {
            if let Ok(g) = Glob::new(&pattern, GlobMode::Path) {
                let _ = g.is_match(&value);
            }
        }
    }
}
