//! A recording HTTP/1.1 server (webhook receiver): records every request and
//! answers from a script, then 200 once the script is used up.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How the server answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, with an optional extra header, and this body.
    Status(u16, Option<(&'static str, &'static str)>, &'static str),
    /// Record, then wait this long before answering 200.
    Sleep(Duration),
    /// Record, then never answer (the connection stays open until the server is
    /// dropped).
    Hang,
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, ...
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (by `Content-Length`).
    pub body: Vec<u8>,
    /// When it was received.
    pub at: Instant,
}

impl Request {
    /// A header's value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Request>>,
    arrived: Condvar,
    script: Mutex<VecDeque<Reply>>,
    held: Mutex<Vec<TcpStream>>,
    stop: AtomicBool,
}

/// A recording HTTP server on 127.0.0.1 (its own threads; usable from sync and
/// async tests alike).
pub struct HttpRecorder {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl HttpRecorder {
    /// Starts a server answering from `script`, then 200 `ok`.
    pub fn start(script: Vec<Reply>) -> HttpRecorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        *shared.script.lock().unwrap() = script.into();
        let accept = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let shared = accept.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        HttpRecorder { addr, shared }
    }

    /// A server that answers every request 200.
    pub fn ok() -> HttpRecorder {
        HttpRecorder::start(Vec::new())
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// How many requests were received so far.
    pub fn count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    /// Waits until at least `n` requests were received (panics after `timeout`);
    /// returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        let mut got = self.shared.requests.lock().unwrap();
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out after {timeout:?} waiting for {n} requests, got {}",
                got.len()
            );
            got = self.shared.arrived.wait_timeout(got, left).unwrap().0;
        }
        got.clone()
    }
}

impl Drop for HttpRecorder {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        for s in self.shared.held.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Serves requests on one connection (keep-alive) until the client closes it.
fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let reply = shared.script.lock().unwrap().pop_front();
        {
            let mut requests = shared.requests.lock().unwrap();
            requests.push(Request {
                method,
                path,
                headers,
                body,
                at: Instant::now(),
            });
            shared.arrived.notify_all();
        }
        let (status, extra, text) = match reply {
            None => (200, None, "ok"),
            Some(Reply::Status(status, extra, text)) => (status, extra, text),
            Some(Reply::Sleep(d)) => {
                std::thread::sleep(d);
                (200, None, "late")
            }
            Some(Reply::Hang) => {
                shared.held.lock().unwrap().push(writer);
                return Ok(());
            }
        };
        let mut response = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n",
            text.len()
        );
        if let Some((name, value)) = extra {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(text);
        writer.write_all(response.as_bytes())?;
    }
}
