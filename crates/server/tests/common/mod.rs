//! Shared helpers of the end-to-end tests: run the real `periscope` binary.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_periscope");

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The event corpus folder, or `None` (the caller prints "skipped").
pub fn corpus_dir() -> Option<PathBuf> {
    let value = std::env::var_os("PERISCOPE_CORPUS_DIR")?;
    let p = PathBuf::from(value);
    Some(if p.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
    } else {
        p
    })
}

/// Every `.json` file under `dir`, sorted.
pub fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A `periscope serve` process with its own folder and database.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub env: Vec<(String, String)>,
    pub child: Option<Child>,
}

impl Server {
    /// A server on SQLite in a fresh temporary folder (not started yet).
    pub fn sqlite() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("periscope.db");
        let mut s = Server {
            dir,
            port: free_port(),
            env: Vec::new(),
            child: None,
        };
        s.set("SQLITE_PATH", db.to_str().unwrap());
        s
    }

    /// A server on the given database URL.
    pub fn with_database(url: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Server {
            dir,
            port: free_port(),
            env: Vec::new(),
            child: None,
        };
        s.set("DATABASE_URL", url);
        s
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Self {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(self.dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("POSTGRES_ENABLED")
            .env("HOST", "127.0.0.1")
            .env("PORT", self.port.to_string())
            .env("PERISCOPE_LOG", "warn");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs a CLI command against the same database; panics on failure, returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "periscope {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a CLI command, returning (success, stdout, stderr).
    pub fn cli_raw(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.command().args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Creates a project; returns (id, dsn, public key).
    pub fn create_project(&self, name: &str) -> (i64, String, String) {
        let out = self.cli(&["project", "create", name, "--json"]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let key = v["keys"][0]["public_key"].as_str().unwrap().to_owned();
        (
            v["id"].as_i64().unwrap(),
            v["dsn"].as_str().unwrap().to_owned(),
            key,
        )
    }

    /// Starts `periscope serve` and waits until `/health` answers.
    pub fn start(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let child = self
            .command()
            .arg("serve")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if ureq_get(&format!("{}/health", self.base())) == Ok(200) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("server exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "server did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `periscope serve`, which must exit with a failure within 20 s;
    /// returns what it printed.
    pub fn run_serve_expecting_failure(&self) -> String {
        let mut child = self
            .command()
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(!status.success(), "serve should have failed");
                let out = child.wait_with_output().unwrap();
                return format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("serve did not fail");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if c.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A blocking GET returning the status (used for readiness only).
fn ureq_get(url: &str) -> Result<u16, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    client
        .get(url)
        .send()
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

/// A blocking HTTP client for tests.
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The `X-Sentry-Auth` header for a key.
pub fn auth_header(key: &str) -> String {
    format!("Sentry sentry_key={key}, sentry_version=7, sentry_client=periscope-tests/1.0")
}

/// The PostgreSQL URL for tests, or `None` (the caller prints "skipped").
pub fn postgres_url() -> Option<String> {
    std::env::var("PERISCOPE_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Creates a fresh PostgreSQL database for one test and returns its URL.
pub fn fresh_postgres_database(base_url: &str, name_hint: &str) -> String {
    let name = format!("periscope_e2e_{}_{}", name_hint, std::process::id());
    let admin = base_url.to_owned();
    let status = Command::new("psql")
        .env("PGOPTIONS", "--client-min-messages=warning")
        .arg(&admin)
        .arg("-q")
        .arg("-c")
        .arg(format!("DROP DATABASE IF EXISTS {name}"))
        .arg("-c")
        .arg(format!("CREATE DATABASE {name}"))
        .status()
        .unwrap();
    assert!(status.success(), "could not create database {name}");
    let (prefix, _) = admin.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

// ---------------------------------------------------------------------------
// Helpers of the e2e_* tests (ingest end to end).

/// The answer to one request: status, headers, body text.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }

    /// The `id` of a 200 answer.
    pub fn id(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        v["id"].as_str().map(str::to_owned)
    }
}

impl Server {
    /// The database URL the server and the CLI use.
    pub fn database_url(&self) -> String {
        for (k, v) in &self.env {
            if k == "DATABASE_URL" {
                return v.clone();
            }
        }
        for (k, v) in &self.env {
            if k == "SQLITE_PATH" {
                return format!("sqlite://{v}");
            }
        }
        panic!("no database configured")
    }

    /// The store crate opened on the server's database (while it runs, or after).
    pub fn store(&self) -> periscope_store::Store {
        periscope_store::Store::open_url(&self.database_url()).unwrap()
    }

    /// The server process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// `/api/{project}/store/`.
    pub fn store_url(&self, project: i64) -> String {
        format!("{}/api/{project}/store/", self.base())
    }

    /// `/api/{project}/envelope/`.
    pub fn envelope_url(&self, project: i64) -> String {
        format!("{}/api/{project}/envelope/", self.base())
    }

    /// `/health` answers 200.
    pub fn healthy(&self) -> bool {
        ureq_get(&format!("{}/health", self.base())) == Ok(200)
    }

    /// The `/metrics` text.
    pub fn metrics(&self) -> String {
        http()
            .get(format!("{}/metrics", self.base()))
            .send()
            .unwrap()
            .text()
            .unwrap()
    }

    /// The issues of a project (all statuses), from the store.
    pub fn issues(&self, project: i64) -> Vec<periscope_store::Issue> {
        issues_in(&self.store(), project)
    }
}

/// Every issue of a project (all statuses).
pub fn issues_in(store: &periscope_store::Store, project: i64) -> Vec<periscope_store::Issue> {
    use periscope_store::{IssueFilter, IssueStore, StatusFilter};
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let filter = IssueFilter {
            status: StatusFilter::All,
            query: String::new(),
            cursor: cursor.clone(),
            limit: 1000,
        };
        let page = store.list_issues(project, &filter).unwrap();
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

/// POSTs `body` with the headers; never panics on an HTTP error status.
pub fn post(
    client: &reqwest::blocking::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    let mut req = client.post(url).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// Gzip-compresses `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A random event id (32 lowercase hex).
pub fn new_event_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// An envelope with one `event` item (with `length`), `event_id` in the header.
pub fn event_envelope(event_id: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{{\"event_id\":\"{event_id}\"}}\n").into_bytes();
    out.extend_from_slice(
        format!("{{\"type\":\"event\",\"length\":{}}}\n", payload.len()).as_bytes(),
    );
    out.extend_from_slice(payload);
    out.push(b'\n');
    out
}

/// A small event with its own id and a message that groups by `group`.
pub fn small_event(group: &str) -> (String, Vec<u8>) {
    let id = new_event_id();
    let body = serde_json::json!({
        "event_id": id,
        "level": "error",
        "platform": "python",
        "exception": {"values": [{
            "type": "E2EError",
            "value": format!("failure in {group}"),
            "stacktrace": {"frames": [
                {"module": "app.main", "function": "run", "in_app": true, "lineno": 10},
                {"module": format!("app.{group}"), "function": format!("handle_{group}"), "in_app": true, "lineno": 20}
            ]}
        }]}
    });
    (id, serde_json::to_vec(&body).unwrap())
}

/// The stored event `event_id` of `project`, if any.
pub fn stored_event(
    store: &periscope_store::Store,
    project: i64,
    event_id: &str,
) -> Option<periscope_store::StoredEvent> {
    use periscope_store::IssueStore;
    store.get_event(project, event_id).unwrap()
}

/// The value of one sample line of a Prometheus text (`name` with its labels, e.g.
/// `periscope_events_rejected_total{reason="rate_limited"}`).
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The issues of a project as the CLI prints them (`issue list --json`).
pub fn cli_issues(server: &Server, project: i64) -> Vec<serde_json::Value> {
    let pid = project.to_string();
    server
        .cli(&[
            "issue",
            "list",
            "--project",
            &pid,
            "--status",
            "all",
            "--limit",
            "1000",
            "--json",
        ])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The stored payload of an event, as JSON.
pub fn stored_json(server: &Server, project: i64, event_id: &str) -> serde_json::Value {
    let e = stored_event(&server.store(), project, event_id)
        .unwrap_or_else(|| panic!("event {event_id} is not stored"));
    serde_json::from_slice(&e.payload).unwrap()
}

/// Drops a database made by [`fresh_postgres_database`] (best effort).
pub fn drop_postgres_database(base_url: &str, url: &str) {
    let Some((_, name)) = url.rsplit_once('/') else {
        return;
    };
    let _ = Command::new("psql")
        .env("PGOPTIONS", "--client-min-messages=warning")
        .arg(base_url)
        .arg("-q")
        .arg("-c")
        .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .status();
}

// ---------------------------------------------------------------------------
// Load: `periscope stress` in the background.

/// Starts `periscope stress` against `dsn`, writing acknowledged ids to `ids_file`.
pub fn spawn_stress(
    dsn: &str,
    ids_file: &std::path::Path,
    concurrency: u32,
    extra: &[&str],
) -> std::process::Child {
    Command::new(BIN)
        .args([
            "stress",
            "--dsn",
            dsn,
            "--concurrency",
            &concurrency.to_string(),
        ])
        .args([
            "--requests",
            "1000000",
            "--seconds",
            "60",
            "--distinct",
            "20",
        ])
        .args(extra)
        .arg("--ids-out")
        .arg(ids_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The event ids the stress run was answered 200 for so far (complete lines only).
pub fn acknowledged(ids_file: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(ids_file)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.len() == 32)
        .map(str::to_owned)
        .collect()
}
