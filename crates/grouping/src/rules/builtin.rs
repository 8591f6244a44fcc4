//! The built-in stack-trace rules of the configurations that have some
//! (`periscope:2026-12`), as data: a rule text in Sentry's syntax, compiled
//! into the binary and parsed once per process.

use std::sync::OnceLock;

use super::StacktraceRules;

/// The origin of built-in rules in explanations.
pub(crate) const BUILTIN_ORIGIN: &str = "built-in";

/// The text of `periscope:2026-12`'s built-in rules.
pub(crate) const PERISCOPE_2026_12: &str = include_str!("builtin/periscope-2026-12.txt");

/// `periscope:2026-12`'s built-in rules, parsed on first use. A text that
/// failed to parse would give no rules (a unit test guarantees it parses).
pub(crate) fn periscope_2026_12() -> &'static StacktraceRules {
    static RULES: OnceLock<StacktraceRules> = OnceLock::new();
    RULES.get_or_init(|| {
        StacktraceRules::parse(PERISCOPE_2026_12)
            .map(|r| r.with_origin(BUILTIN_ORIGIN))
            .unwrap_or_default()
    })
}

/// No rules (the configurations released before built-in rules).
pub(crate) fn none() -> &'static StacktraceRules {
    static NONE: OnceLock<StacktraceRules> = OnceLock::new();
    NONE.get_or_init(StacktraceRules::default)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_builtin_rules_parse() {
        let parsed = StacktraceRules::parse(PERISCOPE_2026_12)
            .unwrap_or_else(|e| panic!("periscope-2026-12.txt: {e}"));
        assert!(parsed.len() > 50, "{} rules", parsed.len());
        assert_eq!(periscope_2026_12().len(), parsed.len());
        assert!(
            periscope_2026_12()
                .rules()
                .iter()
                .all(|r| !r.text().is_empty())
        );
        assert!(none().is_empty());
    }
}
