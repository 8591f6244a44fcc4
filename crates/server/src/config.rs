//! Configuration from environment variables (the names of the Periscope README).
//!
//! Everything is read once at start through [`Config::from_lookup`], which takes a
//! lookup function instead of reading the process environment itself, so tests can
//! feed it any set of variables. Bad values stop the start with one line naming the
//! variable.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// An address range such as `10.0.0.0/8` or a single address (`127.0.0.1`).
pub type IpNet = ipnet::IpNet;

/// A configuration error: names the variable and says what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration: {variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

/// Installation-wide default quotas (events of the `error` category per key/project).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaDefaults {
    /// Errors per minute for the whole installation.
    pub installation_per_minute: Option<u64>,
    /// Errors per minute for each project unless the project overrides it.
    pub project_per_minute: Option<u64>,
    /// Errors per hour for each project unless the project overrides it.
    pub project_per_hour: Option<u64>,
    /// Errors per day for each project unless the project overrides it.
    pub project_per_day: Option<u64>,
}

/// The whole server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Public base URL used in DSNs and alert links (no trailing slash).
    pub base_url: String,
    /// Whether `base_url` was derived from `HOST`/`PORT` (then a server listening
    /// on port 0 puts the port it got into it).
    pub base_url_from_listen: bool,
    /// Database URL: `sqlite://path`, `sqlite::memory:` or `postgres://...`.
    pub database_url: String,
    /// Bearer key for `/api/admin/*`; `None` means the admin API is closed.
    pub admin_key: Option<String>,
    /// Outgoing mail server URL (`smtp://`, `smtps://`), if any.
    pub smtp_url: Option<String>,
    /// Sender address for email alerts.
    pub email_from: Option<String>,
    /// DSN the server reports its own errors to.
    pub sentry_dsn: Option<String>,
    /// Largest request body accepted as received (compressed) and as decoded, for envelopes.
    pub max_envelope_bytes: usize,
    /// Largest decoded store request / single event.
    pub max_event_bytes: usize,
    /// Capacity of the ingest bus (events waiting for the digest writer).
    pub bus_capacity: usize,
    /// SQLite page cache per connection, in KiB.
    pub sqlite_cache_kib: u32,
    /// Payload bytes the ingest bus may hold.
    pub bus_max_bytes: usize,
    /// Largest number of events one digest transaction commits.
    pub batch_size: usize,
    /// Ingest requests handled at once (further requests are answered 503).
    pub max_inflight_requests: usize,
    /// Bytes of request bodies (received and decoded) held by ingest requests at once.
    pub max_body_memory: usize,
    /// Default quotas.
    pub quotas: QuotaDefaults,
    /// Whether webhooks may target loopback / private addresses.
    pub allow_private_webhooks: bool,
    /// The longest a client may take to send a request body (then 408).
    pub body_read_timeout: Duration,
    /// How long the project-key cache keeps an entry.
    pub key_cache_ttl: Duration,
    /// How often the notifier looks for due alert deliveries.
    pub notifier_interval_ms: u64,
    /// The first retry delay of a failed alert delivery (doubled per attempt).
    pub alert_retry_base_ms: u64,
    /// Most items accepted in one envelope.
    pub max_envelope_items: usize,
    /// Longest wait for a complete request head (also between kept-alive requests).
    pub header_timeout: Duration,
    /// Longest time a connection may stay without any byte moving.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest an ingest request waits for its event to be committed (then 503).
    pub commit_timeout: Duration,
    /// Most public keys (known and unknown) the key cache holds.
    pub key_cache_entries: usize,
    /// SQLite `synchronous` setting: `true` for FULL (survives power loss), `false` for NORMAL.
    pub sqlite_synchronous_full: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed (for the client address).
    pub trusted_proxies: Vec<IpNet>,
    /// Wrong admin keys (or passwords) one client address may try before it must wait.
    pub auth_free_failures: u32,
    /// How long after a switch of grouping configuration events are grouped
    /// under both (zero: switch at once).
    pub grouping_transition: Duration,
    /// The wait imposed by the first failure past the free ones (it doubles per
    /// further failure, up to five minutes).
    pub auth_failure_delay: Duration,
    /// Delivered alerts are deleted after this many days (`None`: kept).
    pub alert_max_age_days: Option<u64>,
    /// Issues without an event for this many days are deleted (`None`: kept).
    pub issue_max_idle_days: Option<u64>,
    /// How long a web UI session lasts without signing in again.
    pub session_lifetime: Duration,
    /// Password hashes (Argon2id, tens of milliseconds of CPU each) computed at once;
    /// sign-ins beyond this wait, and beyond four times this are answered 503.
    pub max_password_hashes: usize,
}

/// The shortest admin key accepted.
pub const MIN_ADMIN_KEY_CHARS: usize = 32;

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn get(lookup: Lookup<'_>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn parse_num<T: std::str::FromStr>(
    lookup: Lookup<'_>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match get(lookup, name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|e: T::Err| ConfigError {
            variable: name,
            problem: format!("{v:?} is not a valid number ({e})"),
        }),
    }
}

fn parse_opt_num(lookup: Lookup<'_>, name: &'static str) -> Result<Option<u64>, ConfigError> {
    match get(lookup, name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|e| ConfigError {
            variable: name,
            problem: format!("{v:?} is not a valid count ({e})"),
        }),
    }
}

/// A number of days; `0` means "for ever" (`None`).
fn days_or_forever(
    lookup: Lookup<'_>,
    name: &'static str,
    default: u64,
) -> Result<Option<u64>, ConfigError> {
    let days: u64 = parse_num(lookup, name, default)?;
    if days > 36_500 {
        return Err(ConfigError {
            variable: name,
            problem: format!("{days} days is more than a century (use 0 for for ever)"),
        });
    }
    Ok((days > 0).then_some(days))
}

fn parse_bool(lookup: Lookup<'_>, name: &'static str) -> Result<bool, ConfigError> {
    match get(lookup, name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) => match v.as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ConfigError {
                variable: name,
                problem: format!("{v:?} is not a boolean (use true or false)"),
            }),
        },
    }
}

fn encode_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (a variable name → its value).
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let host = get(lookup, "HOST").unwrap_or_else(|| "127.0.0.1".to_owned());
        let ip: IpAddr = host.parse().map_err(|_| ConfigError {
            variable: "HOST",
            problem: format!("{host:?} is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)"),
        })?;
        let port: u16 = parse_num(lookup, "PORT", 8000)?;
        let listen = SocketAddr::new(ip, port);

        let base_url_from_listen = get(lookup, "PERISCOPE_BASE_URL").is_none();
        let base_url = match get(lookup, "PERISCOPE_BASE_URL") {
            Some(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError {
                        variable: "PERISCOPE_BASE_URL",
                        problem: format!("{url:?} must start with http:// or https://"),
                    });
                }
                url.trim_end_matches('/').to_owned()
            }
            None => {
                let shown = if ip.is_unspecified() {
                    "127.0.0.1".to_owned()
                } else {
                    ip.to_string()
                };
                let shown = if ip.is_ipv6() && !ip.is_unspecified() {
                    format!("[{shown}]")
                } else {
                    shown
                };
                format!("http://{shown}:{port}")
            }
        };

        let database_url = if let Some(url) = get(lookup, "DATABASE_URL") {
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                return Err(ConfigError {
                    variable: "DATABASE_URL",
                    problem: format!(
                        "{:?} must start with sqlite:// or postgres://",
                        crate::redact::url(&url)
                    ),
                });
            }
            url
        } else if parse_bool(lookup, "POSTGRES_ENABLED")? {
            let host = get(lookup, "POSTGRES_HOST").unwrap_or_else(|| "localhost".to_owned());
            let port: u16 = parse_num(lookup, "POSTGRES_PORT", 5432)?;
            let user = get(lookup, "POSTGRES_USER").unwrap_or_else(|| "pguser".to_owned());
            let db = get(lookup, "POSTGRES_DATABASE").unwrap_or_else(|| "periscope".to_owned());
            let auth = match get(lookup, "POSTGRES_PASSWORD") {
                Some(pw) => format!("{}:{}", encode_userinfo(&user), encode_userinfo(&pw)),
                None => encode_userinfo(&user),
            };
            format!("postgres://{auth}@{host}:{port}/{db}")
        } else {
            let path = get(lookup, "SQLITE_PATH").unwrap_or_else(|| "periscope.db".to_owned());
            format!("sqlite://{path}")
        };

        let email_from = get(lookup, "PERISCOPE_EMAIL_FROM");
        let smtp_url = get(lookup, "PERISCOPE_SMTP_URL");
        if let Some(url) = &smtp_url {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err(ConfigError {
                    variable: "PERISCOPE_SMTP_URL",
                    problem: format!(
                        "{:?} must start with smtp:// or smtps://",
                        crate::redact::url(url)
                    ),
                });
            }
            if email_from.is_none() {
                return Err(ConfigError {
                    variable: "PERISCOPE_EMAIL_FROM",
                    problem: "must be set when PERISCOPE_SMTP_URL is set".to_owned(),
                });
            }
        }

        let positive = |name: &'static str, v: usize| {
            if v == 0 {
                Err(ConfigError {
                    variable: name,
                    problem: "must be at least 1".to_owned(),
                })
            } else {
                Ok(v)
            }
        };

        let admin_key = get(lookup, "API_SECRET_KEY_ADMIN");
        if let Some(key) = &admin_key
            && key.chars().count() < MIN_ADMIN_KEY_CHARS
        {
            return Err(ConfigError {
                variable: "API_SECRET_KEY_ADMIN",
                problem: format!(
                    "too short ({} characters): use at least {MIN_ADMIN_KEY_CHARS} random characters, e.g. `openssl rand -hex 32`",
                    key.chars().count()
                ),
            });
        }
        let sqlite_synchronous_full = match get(lookup, "PERISCOPE_SQLITE_SYNCHRONOUS")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("full") => true,
            Some("normal") => false,
            Some(other) => {
                return Err(ConfigError {
                    variable: "PERISCOPE_SQLITE_SYNCHRONOUS",
                    problem: format!("{other:?} is not full or normal"),
                });
            }
        };
        let trusted_proxies = match get(lookup, "PERISCOPE_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<IpNet>()
                        .or_else(|e| s.parse::<IpAddr>().map(Into::into).map_err(|_| e))
                        .map_err(|e| ConfigError {
                            variable: "PERISCOPE_TRUSTED_PROXIES",
                            problem: format!(
                                "{s:?}: {e} (use an address or a range such as 10.0.0.0/8)"
                            ),
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        let secs = |name: &'static str, default: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(
                positive(name, parse_num(lookup, name, default as usize)?)? as u64,
            ))
        };

        Ok(Config {
            header_timeout: secs("PERISCOPE_HEADER_TIMEOUT_SECONDS", 10)?,
            idle_timeout: secs("PERISCOPE_IDLE_TIMEOUT_SECONDS", 60)?,
            commit_timeout: secs("PERISCOPE_COMMIT_TIMEOUT_SECONDS", 10)?,
            max_connections: positive(
                "PERISCOPE_MAX_CONNECTIONS",
                parse_num(lookup, "PERISCOPE_MAX_CONNECTIONS", 4096)?,
            )?,
            key_cache_entries: positive(
                "PERISCOPE_KEY_CACHE_ENTRIES",
                parse_num(lookup, "PERISCOPE_KEY_CACHE_ENTRIES", 10_000)?,
            )?,
            sqlite_synchronous_full,
            trusted_proxies,
            auth_free_failures: parse_num(lookup, "PERISCOPE_AUTH_FREE_FAILURES", 5)?,
            grouping_transition: Duration::from_secs(
                86_400
                    * parse_num::<u64>(lookup, "PERISCOPE_GROUPING_TRANSITION_DAYS", 30)?.min(3650),
            ),
            auth_failure_delay: Duration::from_secs(positive(
                "PERISCOPE_AUTH_FAILURE_DELAY_SECS",
                parse_num(lookup, "PERISCOPE_AUTH_FAILURE_DELAY_SECS", 1)?,
            )? as u64),
            alert_max_age_days: days_or_forever(lookup, "PERISCOPE_ALERT_MAX_AGE_DAYS", 30)?,
            issue_max_idle_days: days_or_forever(lookup, "PERISCOPE_ISSUE_MAX_IDLE_DAYS", 365)?,
            session_lifetime: Duration::from_secs(
                86_400
                    * positive(
                        "PERISCOPE_SESSION_DAYS",
                        parse_num(lookup, "PERISCOPE_SESSION_DAYS", 14usize)?,
                    )?
                    .min(3650) as u64,
            ),
            max_password_hashes: positive(
                "PERISCOPE_MAX_PASSWORD_HASHES",
                parse_num(lookup, "PERISCOPE_MAX_PASSWORD_HASHES", 1)?,
            )?,
            listen,
            base_url,
            base_url_from_listen,
            database_url,
            admin_key,
            smtp_url,
            email_from,
            sentry_dsn: get(lookup, "PERISCOPE_SENTRY_DSN"),
            max_envelope_bytes: positive(
                "PERISCOPE_MAX_ENVELOPE_BYTES",
                parse_num(lookup, "PERISCOPE_MAX_ENVELOPE_BYTES", 20 << 20)?,
            )?,
            max_event_bytes: positive(
                "PERISCOPE_MAX_EVENT_BYTES",
                parse_num(lookup, "PERISCOPE_MAX_EVENT_BYTES", 1 << 20)?,
            )?,
            bus_capacity: positive(
                "PERISCOPE_BUS_CAPACITY",
                parse_num(lookup, "PERISCOPE_BUS_CAPACITY", 4096)?,
            )?,
            sqlite_cache_kib: parse_num(lookup, "PERISCOPE_SQLITE_CACHE_KIB", 8192)?,
            bus_max_bytes: positive(
                "PERISCOPE_BUS_MAX_BYTES",
                parse_num(lookup, "PERISCOPE_BUS_MAX_BYTES", 64 << 20)?,
            )?,
            batch_size: positive(
                "PERISCOPE_BATCH_SIZE",
                parse_num(lookup, "PERISCOPE_BATCH_SIZE", 1000)?,
            )?,
            max_body_memory: positive(
                "PERISCOPE_MAX_BODY_MEMORY",
                parse_num(lookup, "PERISCOPE_MAX_BODY_MEMORY", 256 << 20)?,
            )?,
            max_inflight_requests: positive(
                "PERISCOPE_MAX_INFLIGHT_REQUESTS",
                parse_num(lookup, "PERISCOPE_MAX_INFLIGHT_REQUESTS", 2048)?,
            )?,
            quotas: QuotaDefaults {
                installation_per_minute: parse_opt_num(
                    lookup,
                    "PERISCOPE_QUOTA_INSTALLATION_PER_MINUTE",
                )?,
                project_per_minute: parse_opt_num(lookup, "PERISCOPE_QUOTA_PROJECT_PER_MINUTE")?,
                project_per_hour: parse_opt_num(lookup, "PERISCOPE_QUOTA_PROJECT_PER_HOUR")?,
                project_per_day: parse_opt_num(lookup, "PERISCOPE_QUOTA_PROJECT_PER_DAY")?,
            },
            allow_private_webhooks: parse_bool(lookup, "PERISCOPE_ALLOW_PRIVATE_WEBHOOKS")?,
            body_read_timeout: Duration::from_secs(positive(
                "PERISCOPE_BODY_TIMEOUT_SECONDS",
                parse_num(lookup, "PERISCOPE_BODY_TIMEOUT_SECONDS", 20)?,
            )? as u64),
            key_cache_ttl: Duration::from_secs(parse_num(
                lookup,
                "PERISCOPE_KEY_CACHE_SECONDS",
                30,
            )?),
            notifier_interval_ms: positive(
                "PERISCOPE_NOTIFIER_INTERVAL_MS",
                parse_num(lookup, "PERISCOPE_NOTIFIER_INTERVAL_MS", 1000)?,
            )? as u64,
            alert_retry_base_ms: positive(
                "PERISCOPE_ALERT_RETRY_BASE_MS",
                parse_num(lookup, "PERISCOPE_ALERT_RETRY_BASE_MS", 30_000)?,
            )? as u64,
            max_envelope_items: positive(
                "PERISCOPE_MAX_ENVELOPE_ITEMS",
                parse_num(lookup, "PERISCOPE_MAX_ENVELOPE_ITEMS", 1000)?,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(&move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_sqlite_on_localhost() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(c.base_url, "http://127.0.0.1:8000");
        assert_eq!(c.database_url, "sqlite://periscope.db");
        assert!(c.admin_key.is_none());
    }

    #[test]
    fn postgres_from_parts() {
        let c = cfg(&[
            ("POSTGRES_ENABLED", "true"),
            ("POSTGRES_HOST", "db"),
            ("POSTGRES_PASSWORD", "p@ss word"),
        ])
        .unwrap();
        assert_eq!(
            c.database_url,
            "postgres://pguser:p%40ss%20word@db:5432/periscope"
        );
    }

    #[test]
    fn database_url_wins() {
        let c = cfg(&[
            ("DATABASE_URL", "postgres://x@h/db"),
            ("POSTGRES_ENABLED", "true"),
        ])
        .unwrap();
        assert_eq!(c.database_url, "postgres://x@h/db");
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert_eq!(cfg(&[("PORT", "eighty")]).unwrap_err().variable, "PORT");
        assert_eq!(
            cfg(&[("HOST", "example.com")]).unwrap_err().variable,
            "HOST"
        );
        assert_eq!(
            cfg(&[("POSTGRES_ENABLED", "maybe")]).unwrap_err().variable,
            "POSTGRES_ENABLED"
        );
        assert_eq!(
            cfg(&[("DATABASE_URL", "mysql://x")]).unwrap_err().variable,
            "DATABASE_URL"
        );
        assert_eq!(
            cfg(&[("PERISCOPE_BUS_CAPACITY", "0")])
                .unwrap_err()
                .variable,
            "PERISCOPE_BUS_CAPACITY"
        );
        assert_eq!(
            cfg(&[("PERISCOPE_SMTP_URL", "smtp://localhost:25")])
                .unwrap_err()
                .variable,
            "PERISCOPE_EMAIL_FROM"
        );
        let msg = cfg(&[("PORT", "eighty")]).unwrap_err().to_string();
        assert!(msg.starts_with("configuration: PORT:"), "{msg}");
    }

    #[test]
    fn short_admin_keys_are_refused() {
        let e = cfg(&[("API_SECRET_KEY_ADMIN", "x")]).unwrap_err();
        assert_eq!(e.variable, "API_SECRET_KEY_ADMIN");
        assert!(e.problem.contains("at least 32"), "{}", e.problem);
        assert!(!e.to_string().contains(": x"), "the key is not echoed");
        let long = "k".repeat(32);
        assert!(cfg(&[("API_SECRET_KEY_ADMIN", &long)]).is_ok());
    }

    #[test]
    fn errors_never_show_passwords() {
        let e = cfg(&[("DATABASE_URL", "mysql://root:hunter2@db/x")]).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = cfg(&[
            ("PERISCOPE_SMTP_URL", "imap://u:hunter2@mail"),
            ("PERISCOPE_EMAIL_FROM", "a@b.c"),
        ])
        .unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn connection_and_durability_settings() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.header_timeout, Duration::from_secs(10));
        assert!(c.sqlite_synchronous_full);
        let c = cfg(&[
            ("PERISCOPE_SQLITE_SYNCHRONOUS", "Normal"),
            ("PERISCOPE_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
        ])
        .unwrap();
        assert!(!c.sqlite_synchronous_full);
        assert_eq!(c.trusted_proxies.len(), 2);
        assert_eq!(
            cfg(&[("PERISCOPE_TRUSTED_PROXIES", "nope")])
                .unwrap_err()
                .variable,
            "PERISCOPE_TRUSTED_PROXIES"
        );
    }
}
