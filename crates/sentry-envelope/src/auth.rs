//! DSNs and request credentials.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, clip};

/// A Sentry DSN: `{scheme}://{public_key}[:{secret}]@{host}[:{port}]{path}/{project_id}`.
///
/// The secret (deprecated) is kept so the DSN prints as it was given, but
/// nothing uses it. The path is the prefix before the project id (`""` or
/// `/sentry`, say).
///
/// ```
/// use periscope_sentry_envelope::Dsn;
/// let dsn: Dsn = "https://abc@errors.example.com/sentry/42".parse().unwrap();
/// assert_eq!(dsn.project_id(), 42);
/// assert_eq!(dsn.envelope_url(), "https://errors.example.com/sentry/api/42/envelope/");
/// assert_eq!(dsn.to_string(), "https://abc@errors.example.com/sentry/42");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dsn {
    scheme: String,
    public_key: String,
    secret: Option<String>,
    host: String,
    port: Option<u16>,
    path: String,
    project_id: u64,
}

fn dsn_err(reason: &'static str) -> Error {
    Error::InvalidDsn { reason }
}

impl Dsn {
    /// Parses a DSN (same as [`str::parse`]).
    pub fn parse(s: &str) -> Result<Dsn, Error> {
        let s = s.trim();
        let (scheme, rest) = s
            .split_once("://")
            .ok_or(dsn_err("no scheme (expected https://key@host/project_id)"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(dsn_err("the scheme must be http or https"));
        }
        // Drop a query string or fragment.
        let rest = rest.split(['?', '#']).next().unwrap_or(rest);
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let (userinfo, hostport) = authority
            .rsplit_once('@')
            .ok_or(dsn_err("no public key (expected key@host)"))?;
        let (public_key, secret) = match userinfo.split_once(':') {
            Some((k, s)) => (k, Some(s.to_owned())),
            None => (userinfo, None),
        };
        if public_key.is_empty() {
            return Err(dsn_err("the public key is empty"));
        }
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(dsn_err("the host is empty"));
        }
        let path = path.strip_suffix('/').unwrap_or(path);
        let (prefix, project) = path.rsplit_once('/').ok_or(dsn_err(
            "no project id (expected .../project_id at the end)",
        ))?;
        if project.is_empty() {
            return Err(dsn_err(
                "no project id (expected .../project_id at the end)",
            ));
        }
        let project_id = project
            .parse::<u64>()
            .map_err(|_| dsn_err("the project id is not a number"))?;
        Ok(Dsn {
            scheme,
            public_key: public_key.to_owned(),
            secret,
            host: host.to_owned(),
            port,
            path: prefix.to_owned(),
            project_id,
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The public key (`sentry_key`).
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The deprecated secret, if the DSN had one (never used for auth).
    pub fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }

    /// The host (IPv6 addresses keep their brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, if given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The path before the project id, without a trailing slash (often `""`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The project id.
    pub fn project_id(&self) -> u64 {
        self.project_id
    }

    /// `{scheme}://{host}[:{port}]{path}/api/{project_id}/`.
    pub fn api_base_url(&self) -> String {
        let mut out = format!("{}://{}", self.scheme, self.host);
        if let Some(port) = self.port {
            out.push_str(&format!(":{port}"));
        }
        out.push_str(&format!("{}/api/{}/", self.path, self.project_id));
        out
    }

    /// The legacy store endpoint: `.../api/{project_id}/store/`.
    pub fn store_url(&self) -> String {
        self.api_base_url() + "store/"
    }

    /// The envelope endpoint: `.../api/{project_id}/envelope/`.
    pub fn envelope_url(&self) -> String {
        self.api_base_url() + "envelope/"
    }
}

fn split_host_port(s: &str) -> Result<(&str, Option<u16>), Error> {
    let port_sep = if s.starts_with('[') {
        let close = s.find(']').ok_or(dsn_err("unclosed '[' in the host"))?;
        match &s[close + 1..] {
            "" => None,
            rest if rest.starts_with(':') => Some(close + 1),
            _ => return Err(dsn_err("unexpected characters after ']' in the host")),
        }
    } else {
        s.rfind(':')
    };
    match port_sep {
        None => Ok((s, None)),
        Some(i) => {
            let port = s[i + 1..]
                .parse::<u16>()
                .map_err(|_| dsn_err("the port is not a number from 0 to 65535"))?;
            Ok((&s[..i], Some(port)))
        }
    }
}

impl FromStr for Dsn {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dsn::parse(s)
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.public_key)?;
        if let Some(secret) = &self.secret {
            write!(f, ":{secret}")?;
        }
        write!(f, "@{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}/{}", self.path, self.project_id)
    }
}

/// Credentials of one ingest request.
///
/// From an `X-Sentry-Auth` or `Authorization: Sentry` header
/// ([`Auth::from_header`]), a query string ([`Auth::from_query`]), or an
/// envelope header's DSN ([`Auth::from_dsn`]); [`Auth::from_request`] and
/// [`Auth::resolve`] apply the protocol's rules for choosing among them.
///
/// ```
/// use periscope_sentry_envelope::Auth;
/// let auth = Auth::from_header(
///     "Sentry sentry_version=7, sentry_client=sentry.python/2.0.0, sentry_key=0123456789abcdef0123456789abcdef",
/// ).unwrap();
/// assert_eq!(auth.public_key, "0123456789abcdef0123456789abcdef");
/// assert_eq!(auth.version, Some(7));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Auth {
    /// `sentry_key`: the project's public key (never empty; its shape is not
    /// checked, look it up).
    pub public_key: String,
    /// `sentry_version`, at most 7; `None` when not sent (and for DSNs).
    pub version: Option<u32>,
    /// `sentry_client` (`sentry.python/2.0.0`), if sent.
    pub client: Option<String>,
    /// The project id, known only when the credentials came from a DSN.
    pub project_id: Option<u64>,
}

/// The highest protocol version accepted.
pub const MAX_PROTOCOL_VERSION: u32 = 7;

impl Auth {
    /// Credentials with only a key.
    pub fn new(public_key: impl Into<String>) -> Auth {
        Auth {
            public_key: public_key.into(),
            version: None,
            client: None,
            project_id: None,
        }
    }

    /// Reads an `X-Sentry-Auth` or `Authorization` header value:
    /// `Sentry sentry_key=..., sentry_version=7, sentry_client=...`.
    ///
    /// Pairs come in any order; unknown keys (`sentry_timestamp`,
    /// `sentry_secret`) are ignored.
    pub fn from_header(value: &str) -> Result<Auth, Error> {
        let value = value.trim_start();
        let rest = match value.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("sentry ") => &value[7..],
            _ => return Err(Error::AuthNotSentry),
        };
        let mut builder = Builder::default();
        for pair in rest.split(',') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| Error::AuthMalformedPair { pair: clip(pair) })?;
            builder.set(k.trim(), v.trim().to_owned());
        }
        builder.finish()
    }

    /// Reads a query string (`sentry_key=...&sentry_version=7`, with or
    /// without the leading `?`); values are percent-decoded, other
    /// parameters ignored.
    pub fn from_query(query: &str) -> Result<Auth, Error> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut builder = Builder::default();
        for pair in query.split('&') {
            if let Some((k, v)) = pair.split_once('=') {
                builder.set(&percent_decode(k), percent_decode(v));
            }
        }
        builder.finish()
    }

    /// Credentials from a DSN (the envelope header's `dsn`): its key and project.
    pub fn from_dsn(dsn: &str) -> Result<Auth, Error> {
        let dsn = Dsn::parse(dsn)?;
        Ok(Auth {
            public_key: dsn.public_key,
            version: None,
            client: None,
            project_id: Some(dsn.project_id),
        })
    }

    /// The credentials a request carries in its headers and query string.
    ///
    /// `x_sentry_auth` always counts (malformed is an error); `authorization`
    /// counts only when it starts with `Sentry ` (other schemes are left
    /// alone); the query string counts only when it has a `sentry_key`.
    /// Several sources must agree on the key, else [`Error::AuthConflict`].
    /// `Ok(None)` when there are none: then look at the envelope's `dsn`
    /// with [`Auth::resolve`].
    pub fn from_request(
        x_sentry_auth: Option<&str>,
        authorization: Option<&str>,
        query: Option<&str>,
    ) -> Result<Option<Auth>, Error> {
        let mut found: Option<(Auth, &'static str)> = None;
        let mut add = |auth: Auth, source: &'static str| -> Result<(), Error> {
            match &found {
                Some((first, first_source)) if first.public_key != auth.public_key => {
                    Err(Error::AuthConflict {
                        first: first_source,
                        second: source,
                    })
                }
                Some(_) => Ok(()),
                None => {
                    found = Some((auth, source));
                    Ok(())
                }
            }
        };
        if let Some(h) = x_sentry_auth {
            add(Auth::from_header(h)?, "X-Sentry-Auth header")?;
        }
        if let Some(h) = authorization
            && h.trim_start()
                .get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("sentry "))
        {
            add(Auth::from_header(h)?, "Authorization header")?;
        }
        if let Some(q) = query
            && query_has_key(q)
        {
            add(Auth::from_query(q)?, "query string")?;
        }
        Ok(found.map(|(auth, _)| auth))
    }

    /// Combines the request's credentials with the envelope header's `dsn`
    /// and checks them against the project id in the URL.
    ///
    /// The request's credentials win; the DSN is used only without them. When
    /// both are present, a DSN that parses must carry the same key, and any
    /// DSN project must equal `url_project_id` ([`Error::AuthDsnMismatch`]).
    /// Without any credentials: [`Error::AuthMissingKey`].
    pub fn resolve(
        request: Option<Auth>,
        envelope_dsn: Option<&str>,
        url_project_id: u64,
    ) -> Result<Auth, Error> {
        let from_dsn = match (&request, envelope_dsn) {
            (_, None) => None,
            (None, Some(dsn)) => Some(Auth::from_dsn(dsn)?),
            // With request credentials, a broken DSN is not worth a refusal.
            (Some(_), Some(dsn)) => Auth::from_dsn(dsn).ok(),
        };
        if let Some(d) = &from_dsn {
            if let Some(r) = &request
                && r.public_key != d.public_key
            {
                return Err(Error::AuthDsnMismatch { what: "key" });
            }
            if d.project_id != Some(url_project_id) {
                return Err(Error::AuthDsnMismatch { what: "project" });
            }
        }
        request.or(from_dsn).ok_or(Error::AuthMissingKey)
    }

    /// The header form: `Sentry sentry_key=..., sentry_version=7, sentry_client=...`.
    pub fn to_header(&self) -> String {
        let mut out = format!("Sentry sentry_key={}", self.public_key);
        if let Some(v) = self.version {
            out.push_str(&format!(", sentry_version={v}"));
        }
        if let Some(c) = &self.client {
            out.push_str(&format!(", sentry_client={c}"));
        }
        out
    }

    /// The query-string form (percent-encoded, without `?`).
    pub fn to_query(&self) -> String {
        let mut out = format!("sentry_key={}", percent_encode(&self.public_key));
        if let Some(v) = self.version {
            out.push_str(&format!("&sentry_version={v}"));
        }
        if let Some(c) = &self.client {
            out.push_str(&format!("&sentry_client={}", percent_encode(c)));
        }
        out
    }
}

impl fmt::Display for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_header())
    }
}

#[derive(Default)]
struct Builder {
    key: Option<String>,
    version: Option<String>,
    client: Option<String>,
}

impl Builder {
    fn set(&mut self, key: &str, value: String) {
        match key {
            "sentry_key" => self.key = Some(value),
            "sentry_version" => self.version = Some(value),
            "sentry_client" => self.client = Some(value),
            _ => {}
        }
    }

    fn finish(self) -> Result<Auth, Error> {
        let public_key = self
            .key
            .filter(|k| !k.is_empty())
            .ok_or(Error::AuthMissingKey)?;
        let version = match self.version {
            None => None,
            Some(v) if v.is_empty() => None,
            Some(v) => {
                let n = v
                    .parse::<u32>()
                    .ok()
                    .or_else(|| {
                        // Old SDKs send "2.0".
                        v.parse::<f64>()
                            .ok()
                            .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1e9)
                            .map(|f| f as u32)
                    })
                    .ok_or_else(|| Error::AuthInvalidVersion { value: clip(&v) })?;
                if n > MAX_PROTOCOL_VERSION {
                    return Err(Error::AuthUnsupportedVersion { version: n });
                }
                Some(n)
            }
        };
        Ok(Auth {
            public_key,
            version,
            client: self.client.filter(|c| !c.is_empty()),
            project_id: None,
        })
    }
}

fn query_has_key(query: &str) -> bool {
    let query = query.strip_prefix('?').unwrap_or(query);
    query
        .split('&')
        .any(|p| p.split_once('=').is_some_and(|(k, _)| k == "sentry_key"))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn dsn_forms() {
        let d = Dsn::parse("https://key:secret@[::1]:9000/sentry/7/").unwrap();
        assert_eq!(d.public_key(), "key");
        assert_eq!(d.secret(), Some("secret"));
        assert_eq!(d.host(), "[::1]");
        assert_eq!(d.port(), Some(9000));
        assert_eq!(d.path(), "/sentry");
        assert_eq!(d.store_url(), "https://[::1]:9000/sentry/api/7/store/");
        let plain = Dsn::parse("HTTP://k@localhost/1").unwrap();
        assert_eq!(plain.to_string(), "http://k@localhost/1");
        assert_eq!(plain.envelope_url(), "http://localhost/api/1/envelope/");
        for bad in [
            "k@host/1",
            "ftp://k@host/1",
            "https://host/1",
            "https://@host/1",
            "https://k@/1",
            "https://k@host",
            "https://k@host/",
            "https://k@host/abc",
            "https://k@host:99999/1",
            "https://k@[::1/1",
        ] {
            assert!(
                matches!(Dsn::parse(bad), Err(Error::InvalidDsn { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn header_forms() {
        let a = Auth::from_header(&format!(
            "Sentry sentry_client=raven-js/3.0, sentry_version=7,sentry_timestamp=1,  sentry_key={KEY} ,"
        ))
        .unwrap();
        assert_eq!(a.public_key, KEY);
        assert_eq!(a.version, Some(7));
        assert_eq!(a.client.as_deref(), Some("raven-js/3.0"));
        assert_eq!(Auth::from_header(&a.to_header()).unwrap(), a);
        let old = Auth::from_header("sentry sentry_key=k, sentry_version=2.0").unwrap();
        assert_eq!(old.version, Some(2));
    }

    #[test]
    fn malformed_auth() {
        assert!(matches!(
            Auth::from_header("Bearer abc"),
            Err(Error::AuthNotSentry)
        ));
        assert!(matches!(
            Auth::from_header("Sentry"),
            Err(Error::AuthNotSentry)
        ));
        assert!(matches!(
            Auth::from_header("Sentry sentry_key"),
            Err(Error::AuthMalformedPair { .. })
        ));
        assert!(matches!(
            Auth::from_header("Sentry sentry_version=7"),
            Err(Error::AuthMissingKey)
        ));
        assert!(matches!(
            Auth::from_header("Sentry sentry_key=, sentry_version=7"),
            Err(Error::AuthMissingKey)
        ));
        assert!(matches!(
            Auth::from_header("Sentry sentry_key=k, sentry_version=seven"),
            Err(Error::AuthInvalidVersion { .. })
        ));
        let err = Auth::from_header("Sentry sentry_key=k, sentry_version=8").unwrap_err();
        assert!(matches!(err, Error::AuthUnsupportedVersion { version: 8 }));
        assert_eq!(
            err.to_string(),
            "auth: sentry_version 8 is not supported (at most 7)"
        );
        assert!(matches!(
            Auth::from_query("sentry_version=7"),
            Err(Error::AuthMissingKey)
        ));
        assert!(matches!(
            Auth::from_dsn("not a dsn"),
            Err(Error::InvalidDsn { .. })
        ));
    }

    #[test]
    fn query_forms() {
        let a = Auth::from_query(&format!(
            "?foo&sentry_version=7&sentry_client=sentry.javascript.browser%2F7.0.0&sentry_key={KEY}"
        ))
        .unwrap();
        assert_eq!(a.client.as_deref(), Some("sentry.javascript.browser/7.0.0"));
        assert_eq!(Auth::from_query(&a.to_query()).unwrap(), a);
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%zz+b"), "a%zz b");
    }

    #[test]
    fn sources() {
        let header = format!("Sentry sentry_key={KEY}, sentry_version=7");
        let query = format!("sentry_key={KEY}");
        let a = Auth::from_request(Some(&header), Some("Bearer x"), Some(&query))
            .unwrap()
            .unwrap();
        assert_eq!(a.public_key, KEY);
        assert_eq!(Auth::from_request(None, None, Some("a=b")).unwrap(), None);
        assert!(matches!(
            Auth::from_request(Some(&header), None, Some("sentry_key=other")),
            Err(Error::AuthConflict { .. })
        ));
        assert!(matches!(
            Auth::from_request(None, Some("Sentry sentry_key=a"), Some("sentry_key=b")),
            Err(Error::AuthConflict { .. })
        ));
        let dsn = format!("https://{KEY}@example.com/5");
        let from_dsn = Auth::resolve(None, Some(&dsn), 5).unwrap();
        assert_eq!(from_dsn.project_id, Some(5));
        assert_eq!(Auth::resolve(Some(a.clone()), Some(&dsn), 5).unwrap(), a);
        assert!(matches!(
            Auth::resolve(Some(a.clone()), Some(&dsn), 6),
            Err(Error::AuthDsnMismatch { what: "project" })
        ));
        assert!(matches!(
            Auth::resolve(Some(Auth::new("other")), Some(&dsn), 5),
            Err(Error::AuthDsnMismatch { what: "key" })
        ));
        assert_eq!(Auth::resolve(Some(a.clone()), Some("junk"), 5).unwrap(), a);
        assert!(matches!(
            Auth::resolve(None, None, 5),
            Err(Error::AuthMissingKey)
        ));
        assert!(matches!(
            Auth::resolve(None, Some("junk"), 5),
            Err(Error::InvalidDsn { .. })
        ));
    }
}
