//! Shared helpers of the end-to-end tests: run the real `periscope` binary.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

#[allow(dead_code)]
pub mod ui;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use periscope_test_support::net::TcpProxy;
pub use periscope_test_support::postgres::TestDatabase;

pub const BIN: &str = env!("CARGO_BIN_EXE_periscope");

/// The event corpus folder, or `None` (the caller prints "skipped").
pub fn corpus_dir() -> Option<PathBuf> {
    periscope_test_support::corpus::dir()
}

/// Every `.json` file under `dir`, sorted.
pub fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    periscope_test_support::corpus::json_files(dir)
}

/// A `periscope serve` process with its own folder and database.
///
/// The server binds port 0 and writes the address it got to
/// `PERISCOPE_ADDRESS_FILE`, which [`Server::start`] reads: no port is ever picked
/// by binding and releasing it. A restarted server gets a new port; a test that
/// needs one address across restarts (clients that keep a DSN, a server that
/// reports to itself) puts the server [`behind_proxy`](Server::behind_proxy): a
/// test-owned TCP proxy holds its port for the whole test and forwards to whichever
/// process runs now.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    pub child: Option<Child>,
    /// The address the running (or last) process bound.
    bound: Option<SocketAddr>,
    proxy: Option<TcpProxy>,
    /// A PostgreSQL database made for this server, dropped after the process is
    /// killed (fields drop after `Drop::drop`), also when the test panics.
    _database: Option<TestDatabase>,
}

impl Server {
    fn in_fresh_dir() -> Server {
        Server {
            dir: tempfile::tempdir().unwrap(),
            env: Vec::new(),
            child: None,
            bound: None,
            proxy: None,
            _database: None,
        }
    }

    /// A server on SQLite in a fresh temporary folder (not started yet).
    pub fn sqlite() -> Server {
        let mut s = Server::in_fresh_dir();
        let db = s.dir.path().join("periscope.db");
        s.set("SQLITE_PATH", db.to_str().unwrap());
        s
    }

    /// A server on the given database URL.
    pub fn with_database(url: &str) -> Server {
        let mut s = Server::in_fresh_dir();
        s.set("DATABASE_URL", url);
        s
    }

    /// A server on a fresh PostgreSQL database (dropped with the server), or `None`
    /// after printing "skipped: PERISCOPE_TEST_POSTGRES_URL not set".
    pub fn postgres(hint: &str) -> Option<Server> {
        let db = TestDatabase::create(hint)?;
        let mut s = Server::with_database(db.url());
        s._database = Some(db);
        Some(s)
    }

    /// Keeps the database of `db` alive as long as this server (several servers on
    /// one database: give the guard to the last one dropped).
    pub fn keep_database(&mut self, db: TestDatabase) {
        self._database = Some(db);
    }

    /// Puts the server behind a test-owned TCP proxy: [`base`](Server::base), the
    /// DSNs the CLI prints and the server's `PERISCOPE_BASE_URL` name the proxy's
    /// address, which stays the same when the server is restarted.
    pub fn behind_proxy(mut self) -> Server {
        let proxy = TcpProxy::start();
        self.set("PERISCOPE_BASE_URL", &format!("http://{}", proxy.addr()));
        self.proxy = Some(proxy);
        self
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Self {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    /// The address clients use: the proxy's, or the running server's.
    pub fn addr(&self) -> SocketAddr {
        match &self.proxy {
            Some(p) => p.addr(),
            None => self
                .bound
                .expect("the server has not been started: no address yet"),
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The DSN of `public_key` for `project` at this server's address (the server's
    /// own `PERISCOPE_BASE_URL` is unknown before it binds port 0, so DSNs the
    /// admin API returns name port 0 unless the server is behind a proxy).
    pub fn dsn(&self, public_key: &str, project: i64) -> String {
        format!("http://{public_key}@{}/{project}", self.addr())
    }

    fn address_file(&self) -> PathBuf {
        self.dir.path().join("address")
    }

    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(self.dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("POSTGRES_ENABLED")
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("PERISCOPE_ADDRESS_FILE", self.address_file())
            .env("PERISCOPE_LOG", "warn");
        // CLI commands print DSNs from PERISCOPE_BASE_URL: once the address is
        // known, name it (a test's own setting wins, e.g. the proxy's).
        if let Some(addr) = self.bound {
            c.env("PERISCOPE_BASE_URL", format!("http://{addr}"));
        }
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

    /// Starts `periscope serve` on port 0, reads the address it bound from
    /// `PERISCOPE_ADDRESS_FILE` (written once listening, atomically) and waits until
    /// `/health` answers 200.
    pub fn start(&mut self) {
        let _ = std::fs::remove_file(self.address_file());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let child = self
            .command()
            .arg("serve")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let bound = loop {
            if let Ok(text) = std::fs::read_to_string(self.address_file())
                && let Ok(addr) = text.trim().parse::<SocketAddr>()
            {
                break addr;
            }
            self.assert_still_starting(deadline);
            std::thread::sleep(Duration::from_millis(20));
        };
        self.bound = Some(bound);
        if let Some(proxy) = &self.proxy {
            proxy.set_target(bound);
        }
        loop {
            if ureq_get(&format!("http://{bound}/health")) == Ok(200) {
                return;
            }
            self.assert_still_starting(deadline);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn assert_still_starting(&mut self, deadline: Instant) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!("server exited with {status}: {}", self.log());
        }
        assert!(
            Instant::now() < deadline,
            "server did not start: {}",
            self.log()
        );
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

    /// kill -9 (a proxy in front then refuses connections, as a dead server would).
    pub fn kill(&mut self) {
        if let Some(proxy) = &self.proxy {
            proxy.clear_target();
        }
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

// ---------------------------------------------------------------------------
// Helpers of the e2e_* tests (ingest end to end).

/// POSTs a store body to `project` with `key`'s credentials.
pub fn store_post(server: &Server, project: i64, key: &str, body: Vec<u8>) -> Answer {
    post(
        &http(),
        &server.store_url(project),
        &[("x-sentry-auth", &auth_header(key))],
        body,
    )
}

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
            ..Default::default()
        };
        let page = store
            .list_issues(periscope_store::ProjectId(project), &filter)
            .unwrap();
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
    store
        .get_event(periscope_store::ProjectId(project), event_id)
        .unwrap()
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

/// Checks that every acknowledged event id is stored.
pub fn assert_all_stored(s: &Server, project: i64, ids: &[String]) {
    let store = s.store();
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| stored_event(&store, project, id).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events lost, e.g. {:?}",
        missing.len(),
        ids.len(),
        &missing[..missing.len().min(5)]
    );
}
