//! `periscope stress`: a load generator that speaks the Sentry protocol.
//!
//! It sends realistic error events (a handful of exception types with stack traces
//! of 8–24 frames, messages with varying numbers and ids, a few KB each, optionally
//! gzip-compressed) to a DSN's store endpoint from `concurrency` parallel workers,
//! and prints events/s, latency percentiles and the count of each status. With
//! `ids_out`, it writes the id of every event answered 200 (one per line, flushed as
//! it goes) so a crash test can check that every acknowledged event was stored.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::SmallRng;

/// What to send.
#[derive(Debug, Clone)]
pub struct StressOptions {
    /// The DSN (`http://key@host:port/project`).
    pub dsn: String,
    /// Parallel workers.
    pub concurrency: usize,
    /// Total requests to send (stop earlier when `duration` runs out).
    pub requests: u64,
    /// Longest run.
    pub duration: Duration,
    /// Gzip the bodies.
    pub gzip: bool,
    /// Distinct error kinds to spread events over.
    pub distinct_errors: usize,
    /// Where to write the ids of acknowledged events.
    pub ids_out: Option<std::path::PathBuf>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// What happened.
#[derive(Debug, Clone, Default)]
pub struct StressReport {
    /// Requests sent.
    pub sent: u64,
    /// Count per HTTP status (0 = transport error).
    pub statuses: BTreeMap<u16, u64>,
    /// Wall time.
    pub elapsed: Duration,
    /// Latencies of all requests, sorted, in microseconds.
    pub latencies_us: Vec<u64>,
    /// Mean body size sent.
    pub mean_body_bytes: u64,
    /// Transport errors (status 0) by kind, e.g. `connect: Connection refused`.
    pub errors: BTreeMap<String, u64>,
}

impl StressReport {
    /// The `p`-th percentile latency (0–100).
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies_us.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        Duration::from_micros(self.latencies_us[idx.min(self.latencies_us.len() - 1)])
    }

    /// Requests answered 200 per second.
    pub fn ok_per_second(&self) -> f64 {
        let ok = self.statuses.get(&200).copied().unwrap_or(0) as f64;
        ok / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A human-readable summary.
    pub fn render(&self) -> String {
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        format!(
            "sent {} requests in {:.2} s ({:.0} requests/s, {:.0} events/s accepted), mean body {} bytes\n\
             latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n\
             statuses: {}",
            self.sent,
            self.elapsed.as_secs_f64(),
            self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9),
            self.ok_per_second(),
            self.mean_body_bytes,
            self.percentile(50.0).as_secs_f64() * 1e3,
            self.percentile(90.0).as_secs_f64() * 1e3,
            self.percentile(99.0).as_secs_f64() * 1e3,
            self.percentile(100.0).as_secs_f64() * 1e3,
            statuses.join(", ")
        ) + &self.render_errors()
    }
}

impl StressReport {
    fn render_errors(&self) -> String {
        let mut out = String::new();
        for (kind, n) in &self.errors {
            out.push_str(&format!("\ntransport error ({n}x): {kind}"));
        }
        out
    }
}

/// A short description of a transport error, with its innermost cause (what
/// `reqwest` says on top is only "error sending request").
fn error_kind(e: &reqwest::Error) -> String {
    let what = if e.is_connect() {
        "connect"
    } else if e.is_timeout() {
        "timeout"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let mut text = format!("{what}: {cause}");
    text.truncate(200);
    text
}

const ERROR_TYPES: [(&str, &str, &str); 8] = [
    (
        "ValueError",
        "python",
        "invalid literal for int() with base 10: '{n}'",
    ),
    ("KeyError", "python", "'user_{n}'"),
    (
        "TypeError",
        "javascript",
        "Cannot read properties of undefined (reading 'id{n}')",
    ),
    ("ZeroDivisionError", "python", "division by zero"),
    (
        "java.lang.NullPointerException",
        "java",
        "Cannot invoke \"Order.total()\" because order {n} is null",
    ),
    (
        "ConnectionError",
        "python",
        "connection to 10.0.{n}.7:5432 refused after 250ms",
    ),
    ("RangeError", "javascript", "Invalid array length {n}"),
    (
        "PermissionDenied",
        "python",
        "user {n}@example.com may not access /reports/{n}",
    ),
];

const MODULES: [&str; 12] = [
    "app.views.orders",
    "app.services.billing",
    "app.models.user",
    "app.tasks.sync",
    "django.core.handlers.base",
    "django.db.models.query",
    "requests.sessions",
    "app.api.serializers",
    "app.utils.cache",
    "celery.app.trace",
    "app.reports.export",
    "app.auth.backends",
];

/// Builds one realistic event (JSON) for error kind `kind`.
pub fn make_event(rng: &mut SmallRng, kind: usize) -> (String, Vec<u8>) {
    let (ty, platform, value_tpl) = ERROR_TYPES[kind % ERROR_TYPES.len()];
    let n: u32 = rng.random_range(1..100_000);
    let value = value_tpl.replace("{n}", &n.to_string());
    let event_id = format!("{:032x}", rng.random::<u128>());
    let depth = 8 + (kind * 7) % 17;
    let mut frames = Vec::with_capacity(depth);
    for i in 0..depth {
        let module = MODULES[(kind * 5 + i * 3) % MODULES.len()];
        let in_app = module.starts_with("app.");
        frames.push(serde_json::json!({
            "filename": format!("{}.py", module.replace('.', "/")),
            "abs_path": format!("/srv/app/{}.py", module.replace('.', "/")),
            "module": module,
            "function": format!("handle_{}_{}", kind % 4 + i % 5, i),
            "lineno": rng.random_range(10..900),
            "context_line": format!("    result = step_{i}(request, payload)"),
            "pre_context": ["    payload = request.json()", "    validate(payload)"],
            "post_context": ["    return result", ""],
            "in_app": in_app,
            "vars": {"request": "<WSGIRequest: GET '/orders/'>", "i": i, "payload": {"id": n}},
        }));
    }
    let event = serde_json::json!({
        "event_id": event_id,
        "timestamp": chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
        "platform": platform,
        "level": "error",
        "logger": "stress",
        "server_name": format!("web-{}", kind % 3),
        "release": "stress@1.0.0",
        "environment": "production",
        "exception": {"values": [{
            "type": ty,
            "value": value,
            "module": MODULES[kind % MODULES.len()],
            "mechanism": {"type": "generic", "handled": false},
            "stacktrace": {"frames": frames},
        }]},
        "tags": {"kind": kind.to_string(), "customer": format!("c{}", n % 50)},
        "user": {"id": n, "email": format!("user{n}@example.com")},
        "request": {"url": format!("https://shop.example.com/orders/{n}"), "method": "GET",
                    "headers": {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}},
        "contexts": {"os": {"name": "Linux", "version": "6.1"}, "runtime": {"name": "CPython", "version": "3.11.7"}},
        "sdk": {"name": "periscope.stress", "version": env!("CARGO_PKG_VERSION")},
    });
    (event_id, serde_json::to_vec(&event).unwrap_or_default())
}

/// Pre-built events: the load generator must cost the machine far less than the
/// server it measures, so bodies are generated once (`VARIANTS` per error kind, each
/// with its own numbers) and each request only copies one and writes a fresh
/// `event_id` into it.
struct Templates {
    /// (body, offset of the 32-hex event id in it) per kind, `VARIANTS` each.
    bodies: Vec<Vec<(Vec<u8>, usize)>>,
}

const VARIANTS: usize = 16;

impl Templates {
    fn new(kinds: usize) -> Self {
        let mut rng = SmallRng::seed_from_u64(0x7e3a);
        let bodies = (0..kinds.max(1))
            .map(|kind| {
                (0..VARIANTS)
                    .filter_map(|_| {
                        let (id, json) = make_event(&mut rng, kind);
                        let pos = json.windows(id.len()).position(|w| w == id.as_bytes())?;
                        Some((json, pos))
                    })
                    .collect()
            })
            .collect();
        Self { bodies }
    }

    /// A body of error kind `kind` with a fresh event id.
    fn body(&self, rng: &mut SmallRng, kind: usize) -> Option<(String, Vec<u8>)> {
        let variants = self.bodies.get(kind)?;
        let (template, pos) = variants.get(rng.random_range(0..variants.len().max(1)))?;
        let id = format!("{:032x}", rng.random::<u128>());
        let mut body = template.clone();
        body.get_mut(*pos..*pos + 32)?
            .copy_from_slice(id.as_bytes());
        Some((id, body))
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// Runs the load and reports.
pub async fn run(opts: StressOptions) -> Result<StressReport, String> {
    let dsn: periscope_sentry_envelope::Dsn = opts
        .dsn
        .parse()
        .map_err(|e| format!("invalid DSN {:?}: {e}", opts.dsn))?;
    let url = dsn.store_url();
    let auth = format!(
        "Sentry sentry_key={}, sentry_version=7, sentry_client=periscope-stress/{}",
        dsn.public_key(),
        env!("CARGO_PKG_VERSION")
    );
    let client = reqwest::Client::builder()
        .timeout(opts.timeout)
        .pool_max_idle_per_host(opts.concurrency.max(1))
        .build()
        .map_err(|e| e.to_string())?;
    let ids_out = match &opts.ids_out {
        Some(path) => Some(Arc::new(std::sync::Mutex::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )))),
        None => None,
    };
    let templates = Arc::new(Templates::new(opts.distinct_errors));
    let next = Arc::new(AtomicU64::new(0));
    let body_bytes = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + opts.duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..opts.concurrency.max(1) {
        let client = client.clone();
        let url = url.clone();
        let auth = auth.clone();
        let next = next.clone();
        let ids_out = ids_out.clone();
        let body_bytes = body_bytes.clone();
        let opts = opts.clone();
        let templates = templates.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = SmallRng::seed_from_u64(0x5eed ^ worker as u64);
            let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= opts.requests || Instant::now() >= deadline {
                    break;
                }
                let kind = rng.random_range(0..opts.distinct_errors.max(1));
                let Some((id, json)) = templates.body(&mut rng, kind) else {
                    break;
                };
                let mut req = client
                    .post(&url)
                    .header("X-Sentry-Auth", &auth)
                    .header("Content-Type", "application/json");
                let body = if opts.gzip {
                    req = req.header("Content-Encoding", "gzip");
                    gzip(&json)
                } else {
                    json
                };
                body_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                let t = Instant::now();
                let status = match req.body(body).send().await {
                    Ok(resp) => {
                        let s = resp.status().as_u16();
                        let _ = resp.bytes().await;
                        s
                    }
                    Err(e) => {
                        *errors.entry(error_kind(&e)).or_default() += 1;
                        0
                    }
                };
                latencies.push(t.elapsed().as_micros() as u64);
                *statuses.entry(status).or_default() += 1;
                if status == 200
                    && let Some(out) = &ids_out
                    && let Ok(mut w) = out.lock()
                {
                    let _ = writeln!(w, "{id}");
                    let _ = w.flush();
                }
            }
            (statuses, latencies, errors)
        }));
    }
    let mut report = StressReport::default();
    for t in tasks {
        let (statuses, latencies, errors) = t.await.map_err(|e| e.to_string())?;
        for (kind, n) in errors {
            *report.errors.entry(kind).or_default() += n;
        }
        for (s, n) in statuses {
            *report.statuses.entry(s).or_default() += n;
        }
        report.latencies_us.extend(latencies);
    }
    report.elapsed = started.elapsed();
    report.sent = report.latencies_us.len() as u64;
    report.latencies_us.sort_unstable();
    report.mean_body_bytes = body_bytes.load(Ordering::Relaxed) / report.sent.max(1);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_get_fresh_ids() {
        let t = Templates::new(3);
        let mut rng = SmallRng::seed_from_u64(2);
        let (id1, body1) = t.body(&mut rng, 1).unwrap();
        let (id2, body2) = t.body(&mut rng, 1).unwrap();
        assert_ne!(id1, id2);
        let e1 = periscope_sentry_envelope::Event::from_slice(&body1).unwrap();
        let e2 = periscope_sentry_envelope::Event::from_slice(&body2).unwrap();
        assert_eq!(e1.event_id.unwrap().to_string(), id1);
        assert_eq!(e2.event_id.unwrap().to_string(), id2);
        assert!(t.body(&mut rng, 3).is_none(), "only 3 kinds");
    }

    #[test]
    fn events_are_realistic_and_parse() {
        let mut rng = SmallRng::seed_from_u64(1);
        for kind in 0..8 {
            let (id, json) = make_event(&mut rng, kind);
            assert_eq!(id.len(), 32);
            assert!(
                json.len() > 2000 && json.len() < 20_000,
                "{} bytes",
                json.len()
            );
            let event = periscope_sentry_envelope::Event::from_slice(&json).unwrap();
            assert_eq!(event.exceptions.len(), 1);
            assert!(
                event.exceptions[0]
                    .stacktrace
                    .as_ref()
                    .unwrap()
                    .frames
                    .len()
                    >= 8
            );
        }
    }
}
