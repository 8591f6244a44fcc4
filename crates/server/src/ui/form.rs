//! Form bodies and query strings as name → values, repeated names kept (the bulk
//! form sends one `id` per ticked row).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;

use super::error_page;

/// Most fields one form or query may carry.
const MAX_FIELDS: usize = 2000;

/// The fields of an `application/x-www-form-urlencoded` body or a query string.
#[derive(Debug, Default, Clone)]
pub(crate) struct FormData(Vec<(String, String)>);

impl FormData {
    /// Parses `a=1&b=2`; more than [`MAX_FIELDS`] fields is an error.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, &'static str> {
        let mut fields = Vec::new();
        for (k, v) in form_urlencoded::parse(bytes) {
            if fields.len() == MAX_FIELDS {
                return Err("too many form fields");
            }
            fields.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self(fields))
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, `None` when empty.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Every value of `name`.
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let is_form = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|t| t.trim() == "application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(error_page(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Forms are sent as application/x-www-form-urlencoded.",
            ));
        }
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|e| error_page(e.status(), &e.body_text()))?;
        Self::parse(&bytes).map_err(|m| error_page(StatusCode::BAD_REQUEST, m))
    }
}

/// The query string as [`FormData`].
#[derive(Debug, Default, Clone)]
pub(crate) struct QueryData(pub(crate) FormData);

impl<S: Send + Sync> FromRequestParts<S> for QueryData {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        let q = parts.uri.query().unwrap_or_default();
        FormData::parse(q.as_bytes())
            .map(QueryData)
            .map_err(|m| error_page(StatusCode::BAD_REQUEST, m))
    }
}

/// A path's numeric id, or a 404 page.
pub(crate) fn id(raw: &str) -> Result<i64, Response> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| error_page(StatusCode::NOT_FOUND, "No such page."))
}

/// Two path ids (a project's and one of its records'), or a 404 page.
pub(crate) fn ids(first: &str, second: &str) -> Result<(i64, i64), Response> {
    Ok((id(first)?, id(second)?))
}

/// Percent-encodes a query value.
pub(crate) fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn repeated_fields_are_kept() {
        let f = FormData::parse(b"id=1&id=2&q=a+b%21&empty=").unwrap();
        assert_eq!(f.all("id").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(f.get("q"), Some("a b!"));
        assert_eq!(f.text("empty"), None);
        assert_eq!(f.get("missing"), None);
        let many = "a=1&".repeat(MAX_FIELDS + 1);
        assert!(FormData::parse(many.as_bytes()).is_err());
        assert_eq!(encode("a b&c"), "a+b%26c");
    }
}
