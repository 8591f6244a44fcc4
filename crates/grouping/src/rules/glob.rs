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
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.mode == other.mode
    }
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
        Ok(Glob {
            source,
            mode,
            tokens,
            literal,
            prefix,
            suffix,
            needle,
        })
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
        if let Some(literal) = &self.literal {
            return if self.mode.no_case() {
                value.chars().map(lower).eq(literal.chars())
            } else {
                value == literal
            };
        }
        // Cheap rejections first: most values a rule sees do not match, and
        // most patterns start or end with literal characters.
        let fold = |c: char| if self.mode.no_case() { lower(c) } else { c };
        if !self.prefix.is_empty()
            && !value
                .chars()
                .map(fold)
                .take(self.prefix.len())
                .eq(self.prefix.iter().copied())
        {
            return false;
        }
        if !self.suffix.is_empty()
            && !value
                .chars()
                .rev()
                .map(fold)
                .take(self.suffix.len())
                .eq(self.suffix.iter().rev().copied())
        {
            return false;
        }
        if self.needle.len() > 1 && !self.contains_needle(value) {
            return false;
        }
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
        let needle = self.needle.as_bytes();
        value
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
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
        #[test]
        fn agrees_with_the_reference(
            pattern in "(a|B|/|\\*|\\*\\*|\\?|\\[a-b\\]|\\[!a\\]){0,6}",
            value in "[aAbB/c]{0,8}",
            mode in mode(),
        ) {
            let g = glob(&pattern, mode);
            let chars: Vec<char> = value.chars().collect();
            prop_assert_eq!(g.is_match(&value), reference(&g.tokens, &chars, &g));
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
