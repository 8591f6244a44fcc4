//! Stability under hostile traffic (issue 12): bursts from the real Node SDK,
//! chunked uploads that stall, a grouping bomb at the maximum event size, sockets
//! that never finish their headers, floods of junk keys. Each test runs the real
//! binary and measures the server process itself (RSS from /proc).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{Server, auth_header, http};

/// (current RSS, peak RSS) of a process in KiB, from /proc.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn stored_events(s: &Server, project: i64) -> u64 {
    use periscope_store::ProjectStore;
    s.store()
        .get_project(periscope_store::ProjectId(project))
        .unwrap()
        .map_or(0, |p| p.stored_events)
}

/// Waits until the server handles `n` ingest requests at once.
fn wait_in_flight(s: &Server, n: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while crate::common::metric(&s.metrics(), "periscope_ingest_requests_in_flight")
        != Some(f64::from(n))
    {
        assert!(Instant::now() < deadline, "{n} requests never in flight");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Opens `n` chunked envelope uploads that send a first chunk and then stall.
fn stalled_chunked_uploads(s: &Server, project: i64, key: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr()).unwrap();
            let head = format!(
                "POST /api/{project}/envelope/?sentry_key={key}&sentry_version=7 HTTP/1.1\r\n\
                 Host: 127.0.0.1\r\nContent-Type: application/x-sentry-envelope\r\n\
                 Transfer-Encoding: chunked\r\n\r\n"
            );
            c.write_all(head.as_bytes()).unwrap();
            let chunk = "{}\n";
            c.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes())
                .unwrap();
            c
        })
        .collect()
}

/// A chunked envelope (no Content-Length) of about `size` bytes, as Node and .NET
/// send them.
fn chunked_envelope(base: &str, project: i64, key: &str, size: usize) -> u16 {
    let event_id = crate::common::new_event_id();
    let event = serde_json::json!({
        "event_id": event_id,
        "message": "chunked",
        "extra": {"pad": "x".repeat(size.saturating_sub(200))},
    })
    .to_string();
    let envelope = format!(
        "{{\"event_id\":\"{event_id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = envelope
        .into_bytes()
        .chunks(16 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let body = reqwest::blocking::Body::new(ChunkReader {
        chunks: chunks.into_iter(),
        current: Vec::new(),
    });
    http()
        .post(format!(
            "{base}/api/{project}/envelope/?sentry_key={key}&sentry_version=7"
        ))
        .body(body)
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// A reader over chunks (a body of unknown length: sent chunked).
struct ChunkReader {
    chunks: std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>,
    current: Vec<u8>,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.current.is_empty() {
            match self.chunks.next() {
                Some(Ok(c)) => self.current = c,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.drain(..n);
        Ok(n)
    }
}

#[test]
fn chunked_envelopes_are_charged_by_what_arrives() {
    let mut s = Server::sqlite();
    let (project, _dsn, key) = s.create_project("chunked");
    s.start();
    // 24 uploads that stall after their first chunk hold almost nothing...
    let stalled = stalled_chunked_uploads(&s, project, &key, 24);
    wait_in_flight(&s, 24);
    // ...so 64 concurrent chunked envelopes of ~100 KB from valid clients all pass.
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let base = s.base();
            let key = key.clone();
            std::thread::spawn(move || chunked_envelope(&base, project, &key, 100_000))
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every chunked envelope is accepted: {statuses:?}"
    );
    assert_eq!(stored_events(&s, project), 64);
    drop(stalled);
}

#[test]
fn node_sdk_burst_is_stored_whole() {
    let Some(modules) = std::env::var_os("PERISCOPE_TEST_NODE_MODULES") else {
        println!("skipped: PERISCOPE_TEST_NODE_MODULES not set (a folder with @sentry/node)");
        return;
    };
    let mut s = Server::sqlite();
    s.start();
    // Created once the server runs, so that the CLI's DSN names its address.
    let (project, dsn, key) = s.create_project("node");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/burst.js");
    let run = |label: &str| {
        let out = std::process::Command::new("node")
            .arg(script)
            .arg(&dsn)
            .arg("300")
            .env("NODE_PATH", &modules)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{label}: node failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["dropped"], 0, "{label}: {line}");
    };
    run("burst");
    assert_eq!(stored_events(&s, project), 300, "{}", s.log());

    // The same while 24 slow chunked uploads are held open.
    let stalled = stalled_chunked_uploads(&s, project, &key, 24);
    wait_in_flight(&s, 24);
    run("burst beside stalled uploads");
    assert_eq!(stored_events(&s, project), 600, "{}", s.log());
    assert_eq!(chunked_envelope(&s.base(), project, &key, 50_000), 200);
    drop(stalled);
}

/// An event of about `target` bytes whose fingerprint repeats `{{ default }}`
/// over a stack trace as long as fits.
fn fingerprint_bomb(target: usize) -> String {
    let parts = 1000;
    let frame = serde_json::json!({
        "function": "handler_with_a_long_name",
        "module": "app.views.some_module",
        "filename": "app/views/some_module.py",
        "lineno": 42,
        "in_app": true,
        "context_line": "    raise ValueError(value)",
    })
    .to_string();
    let fixed = parts * 16 + 300;
    let frames = (target - fixed) / (frame.len() + 1);
    let frames_json = vec![frame; frames].join(",");
    let fingerprint = vec!["\"{{ default }}\""; parts].join(",");
    format!(
        r#"{{"platform":"python","fingerprint":[{fingerprint}],"exception":{{"values":[{{"type":"ValueError","value":"boom","stacktrace":{{"frames":[{frames_json}]}}}}]}}}}"#
    )
}

#[test]
fn a_grouping_bomb_at_the_maximum_size_costs_little_memory() {
    let mut s = Server::sqlite();
    let (project, _dsn, key) = s.create_project("bomb");
    s.start();
    // Warm up (allocator arenas, statement caches), then measure the peak.
    for _ in 0..3 {
        let r = http()
            .post(s.store_url(project))
            .header("X-Sentry-Auth", auth_header(&key))
            .body(fingerprint_bomb(50_000))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    let pid = s.pid().unwrap();
    let (_, peak_before) = rss_kib(pid);
    let bomb = fingerprint_bomb(1_000_000);
    assert!(bomb.len() <= 1 << 20, "{}", bomb.len());
    for _ in 0..3 {
        let r = http()
            .post(s.store_url(project))
            .header("X-Sentry-Auth", auth_header(&key))
            .body(bomb.clone())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    }
    let (_, peak_after) = rss_kib(pid);
    let growth_mb = (peak_after.saturating_sub(peak_before)) / 1024;
    println!("peak RSS {peak_before} KiB -> {peak_after} KiB (+{growth_mb} MB)");
    assert!(growth_mb < 100, "peak RSS grew by {growth_mb} MB");
    assert!(s.is_running());
    let r = http().get(format!("{}/health", s.base())).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[test]
fn unfinished_headers_are_cut_off_while_events_flow() {
    let mut s = Server::sqlite();
    let (project, _dsn, key) = s.create_project("slow-headers");
    s.set("PERISCOPE_HEADER_TIMEOUT_SECONDS", "2");
    s.start();
    let pid = s.pid().unwrap();
    let (rss_before, _) = rss_kib(pid);
    let opened = Instant::now();
    let mut sockets: Vec<TcpStream> = (0..400)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr()).unwrap();
            c.write_all(b"POST /api/1/store/ HTTP/1.1\r\nHost: x\r\nX-Sentry-Au")
                .unwrap();
            c
        })
        .collect();
    // Normal events are answered meanwhile.
    for i in 0..20 {
        let r = http()
            .post(s.store_url(project))
            .header("X-Sentry-Auth", auth_header(&key))
            .body(format!(r#"{{"message": "during {i}"}}"#))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    // Every stalled socket is closed by the server within the timeout (plus margin).
    for c in &mut sockets {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 1024];
        loop {
            match c.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue, // a 408 answer, then the close
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("socket still open after {:?}: {e}", opened.elapsed()),
            }
        }
    }
    let took = opened.elapsed();
    println!("400 stalled connections closed within {took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    let (rss_after, _) = rss_kib(pid);
    println!("RSS {rss_before} KiB -> {rss_after} KiB");
    assert!(
        rss_after < rss_before + 50 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
}

#[test]
fn junk_keys_cost_no_memory_and_are_never_echoed() {
    let mut s = Server::sqlite();
    let (project, _dsn, key) = s.create_project("keys");
    s.start();
    let pid = s.pid().unwrap();
    let client = http();
    let send = |k: &str| {
        client
            .post(s.store_url(project))
            .header("X-Sentry-Auth", auth_header(k))
            .body(r#"{"message": "x"}"#)
            .send()
            .unwrap()
    };
    // Warm up the paths that answer 403.
    for i in 0..50 {
        assert_eq!(send(&format!("{i:032x}")).status().as_u16(), 403);
    }
    let (rss_before, _) = rss_kib(pid);
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..3000 {
        // Alternately huge random keys and well-shaped unknown ones.
        let k = if i % 2 == 0 {
            let n = 4000 + (next() % 4000) as usize;
            (0..n)
                .map(|_| char::from(b'a' + (next() % 26) as u8))
                .collect::<String>()
        } else {
            format!("{:016x}{:016x}", next(), next())
        };
        let r = send(&k);
        let status = r.status().as_u16();
        let body = r.text().unwrap();
        assert!(status == 403 || status == 401, "{status}: {body}");
        assert!(!body.contains(&k[..32]), "the key is echoed: {body}");
    }
    // The valid key still works after the flood.
    assert_eq!(send(&key).status().as_u16(), 200);
    let (rss_after, _) = rss_kib(pid);
    println!("RSS {rss_before} KiB -> {rss_after} KiB");
    assert!(
        rss_after < rss_before + 20 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
}

/// A project deleted by another process (the CLI here; another replica in
/// production) stops ingest on a running server within 5 s, though the server
/// had the key cached.
fn deletion_reaches_a_running_server(mut s: Server) {
    let (project, _dsn, key) = s.create_project("revoked");
    s.start();
    let send = || {
        http()
            .post(s.store_url(project))
            .header("X-Sentry-Auth", auth_header(&key))
            .body(r#"{"message": "x"}"#)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(send(), 200, "cached now");
    s.cli(&["project", "delete", &project.to_string(), "--yes"]);
    let deleted_at = Instant::now();
    loop {
        let status = send();
        if status == 403 {
            break;
        }
        assert!(
            deleted_at.elapsed() < Duration::from_secs(5),
            "still {status} after {:?}",
            deleted_at.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("refused {:?} after the deletion", deleted_at.elapsed());
}

#[test]
fn deletion_reaches_a_running_server_sqlite() {
    deletion_reaches_a_running_server(Server::sqlite());
}

#[test]
fn deletion_reaches_a_running_server_postgres() {
    if let Some(server) = Server::postgres("revoke") {
        deletion_reaches_a_running_server(server);
    }
}

/// An envelope authenticated only by the `dsn` of its header is judged by its
/// first line: an unknown key is refused before the rest of the body is sent.
#[test]
fn an_envelope_dsn_is_checked_before_the_body_arrives() {
    let mut s = Server::sqlite();
    let (project, _dsn, key) = s.create_project("dsn-only");
    s.start();
    let answer_to_first_line = |public_key: &str| -> String {
        let mut c = TcpStream::connect(s.addr()).unwrap();
        let head = format!(
            "POST /api/{project}/envelope/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
        );
        c.write_all(head.as_bytes()).unwrap();
        let line = format!(
            "{{\"dsn\":\"http://{public_key}@{}/{project}\"}}\n",
            s.addr()
        );
        c.write_all(format!("{:x}\r\n{line}\r\n", line.len()).as_bytes())
            .unwrap();
        // The rest of a large body never comes.
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 512];
        match c.read(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(_) => String::new(),
        }
    };
    let refused = answer_to_first_line("0123456789abcdef0123456789abcdef");
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused:?}");
    assert!(!refused.contains("0123456789abcdef"), "no key echoed");
    // A valid key waits for the rest of the body instead.
    assert_eq!(answer_to_first_line(&key), "");
}
