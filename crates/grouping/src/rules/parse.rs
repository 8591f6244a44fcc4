//! The lexer shared by both rule kinds: lines, positions, values, quoting.

use super::error::{RuleError, RuleErrorKind};
use super::{MAX_LINE_BYTES, MAX_RULE_TEXT_BYTES, MAX_RULES};

/// A position in one line of a rule text.
pub(crate) struct Cursor<'a> {
    /// 1-based line number.
    pub(crate) line: usize,
    pub(crate) text: &'a str,
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(line: usize, text: &'a str) -> Cursor<'a> {
        Cursor { line, text, pos: 0 }
    }

    /// An error at byte offset `at` of the line.
    pub(crate) fn error_at(&self, at: usize, kind: RuleErrorKind) -> RuleError {
        let at = at.min(self.text.len());
        let column = self.text.get(..at).map_or(at, |s| s.chars().count()) + 1;
        RuleError::new(self.line, column, kind)
    }

    /// An error at the current position.
    pub(crate) fn error(&self, kind: RuleErrorKind) -> RuleError {
        self.error_at(self.pos, kind)
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn skip_ws(&mut self) -> bool {
        let before = self.pos;
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
        self.pos > before
    }

    /// After [`Cursor::skip_ws`]: nothing but a comment is left.
    pub(crate) fn at_end(&self) -> bool {
        matches!(self.peek(), None | Some('#'))
    }

    pub(crate) fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// The text up to the next white space.
    pub(crate) fn word(&self) -> &'a str {
        let rest = self.rest();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        &rest[..end]
    }

    /// Reads a value: `"quoted"` (where `\` escapes the next character) or
    /// bare up to white space (or, inside `[ ]`, up to a `]` that closes no
    /// character class). Returns the text as written (escapes kept, quotes
    /// removed) and whether it was quoted. A closing quote must be followed
    /// by white space, the end, `]` in a group, or `,` when `comma`.
    pub(crate) fn value(
        &mut self,
        in_group: bool,
        comma: bool,
    ) -> Result<(&'a str, bool), RuleError> {
        let start = self.pos;
        let rest = self.rest();
        if let Some(inner) = rest.strip_prefix('"') {
            let mut chars = inner.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' if chars.next().is_none() => break,
                    '"' => {
                        self.pos = start + 1 + i + 1;
                        let next = self.peek();
                        let fine = match next {
                            None => true,
                            Some(']') => in_group,
                            Some(',') => comma,
                            Some(c) => c.is_whitespace(),
                        };
                        if !fine {
                            return Err(self.error(RuleErrorKind::TextAfterQuote));
                        }
                        return Ok((&inner[..i], true));
                    }
                    _ => {}
                }
            }
            return Err(self.error_at(start, RuleErrorKind::UnterminatedQuote));
        }
        let mut chars = rest.char_indices();
        let mut in_class = false;
        let mut end = rest.len();
        while let Some((i, c)) = chars.next() {
            match c {
                c if c.is_whitespace() => {
                    end = i;
                    break;
                }
                '\\' => {
                    chars.next();
                }
                '[' => in_class = true,
                ']' if in_class => in_class = false,
                ']' if in_group => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        self.pos = start + end;
        Ok((&rest[..end], false))
    }
}

/// Removes the escapes of a quoted text: `\"` is `"`, `\\` is `\`; any other
/// backslash stays.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if let (true, Some(&n)) = (c == '\\', chars.peek())
            && (n == '"' || n == '\\')
        {
            out.push(n);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// Writes `s` in quotes, escaping `"` and `\`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Splits a rule text into its rule lines (number, text), after checking the
/// size limits; blank lines and comments are skipped.
pub(crate) fn rule_lines(text: &str) -> Result<Vec<(usize, &str)>, RuleError> {
    if text.len() > MAX_RULE_TEXT_BYTES {
        let mut at = MAX_RULE_TEXT_BYTES;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let before = &text[..at];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        return Err(RuleError::new(
            line,
            column,
            RuleErrorKind::TextTooLong {
                max: MAX_RULE_TEXT_BYTES,
            },
        ));
    }
    let mut lines = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.len() > MAX_LINE_BYTES {
            let cursor = Cursor::new(i + 1, line);
            let mut at = MAX_LINE_BYTES;
            while !line.is_char_boundary(at) {
                at -= 1;
            }
            return Err(cursor.error_at(
                at,
                RuleErrorKind::LineTooLong {
                    max: MAX_LINE_BYTES,
                },
            ));
        }
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if lines.len() == MAX_RULES {
            let cursor = Cursor::new(i + 1, line);
            return Err(cursor.error_at(
                line.len() - trimmed.len(),
                RuleErrorKind::TooManyRules { max: MAX_RULES },
            ));
        }
        lines.push((i + 1, line));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn values_bare_and_quoted() {
        let mut c = Cursor::new(1, r#"abc\ d "x \" y" z"#);
        assert_eq!(c.value(false, false).unwrap(), (r"abc\ d", false));
        c.skip_ws();
        assert_eq!(c.value(false, false).unwrap(), (r#"x \" y"#, true));
        let mut c = Cursor::new(1, r#""abc"#);
        assert_eq!(
            c.value(false, false).unwrap_err(),
            RuleError::new(1, 1, RuleErrorKind::UnterminatedQuote)
        );
        let mut c = Cursor::new(1, r#""a"b"#);
        assert_eq!(c.value(false, false).unwrap_err().column, 4);
        let mut c = Cursor::new(1, "a[bc]] x");
        assert_eq!(c.value(true, false).unwrap(), ("a[bc]", false));
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(r#"a\"b\\c\d"#), r#"a"b\c\d"#);
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        for s in [r#"\"\\x"#, "", r#"\"#, r#"a\"#] {
            let q = quote(s);
            assert_eq!(unescape(&q[1..q.len() - 1]), s);
        }
    }
}
