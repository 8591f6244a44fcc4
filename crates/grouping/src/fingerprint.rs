//! SDK fingerprints: `["{{ default }}", "{{ transaction }}", "my-literal"]`.

/// One entry of an SDK fingerprint, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part<'a> {
    /// A literal string, hashed as given.
    Literal(&'a str),
    /// `{{ default }}`: the built-in grouping.
    Default,
    /// A variable resolved from the event.
    Var(Var<'a>),
}

/// A fingerprint variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Var<'a> {
    /// `{{ transaction }}`
    Transaction,
    /// `{{ message }}`
    Message,
    /// `{{ type }}`, `{{ error.type }}`
    Type,
    /// `{{ value }}`, `{{ error.value }}`
    Value,
    /// `{{ function }}`, `{{ stack.function }}`
    Function,
    /// `{{ path }}`, `{{ stack.abs_path }}`
    AbsPath,
    /// `{{ stack.filename }}`
    Filename,
    /// `{{ module }}`, `{{ stack.module }}`
    Module,
    /// `{{ package }}`, `{{ stack.package }}`
    Package,
    /// `{{ level }}`
    Level,
    /// `{{ logger }}`
    Logger,
    /// `{{ tags.NAME }}`
    Tag(&'a str),
}

impl Var<'_> {
    /// The value used when the event lacks the variable.
    pub(crate) fn fallback(&self) -> String {
        match self {
            Var::Transaction => "<no-transaction>".to_owned(),
            Var::Message => "<no-message>".to_owned(),
            Var::Type => "<no-type>".to_owned(),
            Var::Value => "<no-value>".to_owned(),
            Var::Function => "<no-function>".to_owned(),
            Var::AbsPath => "<no-abs-path>".to_owned(),
            Var::Filename => "<no-filename>".to_owned(),
            Var::Module => "<no-module>".to_owned(),
            Var::Package => "<no-package>".to_owned(),
            Var::Level => "<no-level>".to_owned(),
            Var::Logger => "<no-logger>".to_owned(),
            Var::Tag(name) => format!("<no-value-for-tag-{name}>"),
        }
    }
}

/// Parses one fingerprint entry. Whitespace inside `{{ }}` is free; an unknown
/// variable stays a literal (the whole entry, as given).
pub(crate) fn parse_part(entry: &str) -> Part<'_> {
    let Some(inner) = entry
        .trim()
        .strip_prefix("{{")
        .and_then(|rest| rest.strip_suffix("}}"))
    else {
        return Part::Literal(entry);
    };
    let name = inner.trim();
    let var = match name {
        "default" => return Part::Default,
        "transaction" => Var::Transaction,
        "message" => Var::Message,
        "type" | "error.type" => Var::Type,
        "value" | "error.value" => Var::Value,
        "function" | "stack.function" => Var::Function,
        "path" | "stack.abs_path" => Var::AbsPath,
        "stack.filename" => Var::Filename,
        "module" | "stack.module" => Var::Module,
        "package" | "stack.package" => Var::Package,
        "level" => Var::Level,
        "logger" => Var::Logger,
        _ => match name.strip_prefix("tags.") {
            Some(tag) if !tag.trim().is_empty() => Var::Tag(tag.trim()),
            _ => return Part::Literal(entry),
        },
    };
    Part::Var(var)
}

/// What kind of fingerprint the event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// No fingerprint, an empty one, or only `{{ default }}`.
    BuiltIn,
    /// `{{ default }}` among other entries.
    Hybrid,
    /// No `{{ default }}`: the fingerprint alone is the key.
    Custom,
}

/// Classifies a parsed fingerprint.
pub(crate) fn kind(parts: &[Part<'_>]) -> Kind {
    if parts.iter().all(|p| *p == Part::Default) {
        Kind::BuiltIn
    } else if parts.contains(&Part::Default) {
        Kind::Hybrid
    } else {
        Kind::Custom
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_variables_with_free_whitespace() {
        assert_eq!(parse_part("{{default}}"), Part::Default);
        assert_eq!(parse_part("  {{   default  }} "), Part::Default);
        assert_eq!(parse_part("{{ transaction }}"), Part::Var(Var::Transaction));
        assert_eq!(parse_part("{{ error.type }}"), Part::Var(Var::Type));
        assert_eq!(parse_part("{{ type }}"), Part::Var(Var::Type));
        assert_eq!(parse_part("{{ error.value }}"), Part::Var(Var::Value));
        assert_eq!(parse_part("{{ stack.function }}"), Part::Var(Var::Function));
        assert_eq!(parse_part("{{ path }}"), Part::Var(Var::AbsPath));
        assert_eq!(parse_part("{{ stack.abs_path }}"), Part::Var(Var::AbsPath));
        assert_eq!(parse_part("{{ stack.filename }}"), Part::Var(Var::Filename));
        assert_eq!(parse_part("{{ stack.module }}"), Part::Var(Var::Module));
        assert_eq!(parse_part("{{ stack.package }}"), Part::Var(Var::Package));
        assert_eq!(parse_part("{{ level }}"), Part::Var(Var::Level));
        assert_eq!(parse_part("{{ logger }}"), Part::Var(Var::Logger));
        assert_eq!(
            parse_part("{{ tags.server }}"),
            Part::Var(Var::Tag("server"))
        );
    }

    #[test]
    fn unknown_variables_stay_literal() {
        assert_eq!(
            parse_part("{{ nonsense }}"),
            Part::Literal("{{ nonsense }}")
        );
        assert_eq!(parse_part("{{ tags. }}"), Part::Literal("{{ tags. }}"));
        assert_eq!(parse_part("{ default }"), Part::Literal("{ default }"));
        assert_eq!(parse_part("my-key"), Part::Literal("my-key"));
    }

    #[test]
    fn kinds() {
        assert_eq!(kind(&[]), Kind::BuiltIn);
        assert_eq!(kind(&[Part::Default]), Kind::BuiltIn);
        assert_eq!(kind(&[Part::Default, Part::Literal("x")]), Kind::Hybrid);
        assert_eq!(kind(&[Part::Literal("x")]), Kind::Custom);
    }

    #[test]
    fn fallbacks() {
        assert_eq!(Var::Transaction.fallback(), "<no-transaction>");
        assert_eq!(Var::Tag("env").fallback(), "<no-value-for-tag-env>");
    }
}
