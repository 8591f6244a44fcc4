//! Secrets out of sight: what a URL may show in logs, errors and API answers.
//!
//! A database or SMTP URL carries a password; a Slack, Discord or generic webhook
//! URL carries its secret in the path or query. Everything the server prints shows
//! only the scheme and host (and port) of such a URL: enough to tell which server is
//! meant, nothing that grants access.

/// `scheme://host[:port]/…` of `url`, without user, password, path, query or
/// fragment (`…` marks that something was left out). A value that is not a URL is
/// shown as `<hidden>`.
pub(crate) fn url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return if url.starts_with("sqlite:") {
            // sqlite:path holds no secret.
            url.to_owned()
        } else {
            "<hidden>".to_owned()
        };
    };
    if scheme.eq_ignore_ascii_case("sqlite") {
        return url.to_owned();
    }
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return "<hidden>".to_owned();
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let more = authority.contains('@') || authority_end < rest.len();
    format!("{scheme}://{host}{}", if more { "/…" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scheme_and_host_remain() {
        assert_eq!(url("postgres://u:secret@h:5432/db"), "postgres://h:5432/…");
        assert_eq!(url("postgres://h/db"), "postgres://h/…");
        assert_eq!(
            url("https://hooks.slack.com/services/T000/B000/XXXX"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            url("smtps://user:pw@mail.example:465"),
            "smtps://mail.example:465/…"
        );
        assert_eq!(url("https://example.com"), "https://example.com");
        assert_eq!(url("sqlite://periscope.db"), "sqlite://periscope.db");
        assert_eq!(url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(url("no url at all: pw"), "<hidden>");
        assert_eq!(url("a b://x"), "<hidden>");
    }
}
