//! Tiny local servers for the integration tests: an HTTP server that records
//! requests and answers from a script, and an SMTP server that records mail.
//! Both listen on 127.0.0.1 only.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use periscope_notify::{Alert, AlertKind};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A sample alert.
pub fn alert() -> Alert {
    Alert {
        kind: AlertKind::NewIssue,
        project_id: 7,
        project_name: "shop".into(),
        issue_id: 42,
        title: "ZeroDivisionError: division by zero".into(),
        culprit: Some("app.views.divide".into()),
        level: "error".into(),
        event_count: 3,
        first_seen: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        last_seen: Utc.with_ymd_and_hms(2026, 3, 1, 12, 5, 0).unwrap(),
        url: "http://periscope.test/issues/42".into(),
        environment: Some("production".into()),
        release: Some("shop@1.2.3".into()),
    }
}

/// How the HTTP server answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, with an optional extra header and body.
    Status(u16, Option<(&'static str, &'static str)>, &'static str),
    /// Record, then wait this long before answering 200.
    Sleep(Duration),
}

/// One recorded HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A recording HTTP/1.1 server; answers 200 once its script is used up.
pub struct HttpServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl HttpServer {
    pub async fn start(script: Vec<Reply>) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let recorded = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let recorded = recorded.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let _ = serve_http(stream, recorded, script).await;
                });
            }
        });
        HttpServer { addr, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve_http(
    stream: TcpStream,
    recorded: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).await?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
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
    reader.read_exact(&mut body).await?;
    recorded.lock().unwrap().push(Request {
        method,
        path,
        headers,
        body,
    });
    let reply = script.lock().unwrap().pop_front();
    let (status, extra, text) = match reply {
        None => (200, None, "ok"),
        Some(Reply::Status(status, extra, text)) => (status, extra, text),
        Some(Reply::Sleep(d)) => {
            tokio::time::sleep(d).await;
            (200, None, "late")
        }
    };
    let mut response = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        text.len()
    );
    if let Some((name, value)) = extra {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(text);
    let mut stream = reader.into_inner();
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// One received mail.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA section, dot-unstuffed, header continuation lines unfolded.
    pub data: String,
    /// The decoded `AUTH PLAIN` response (`\0user\0password`), if the client authenticated.
    pub auth: Option<String>,
}

impl Mail {
    /// The data with quoted-printable soft breaks and escapes decoded (the
    /// whole message, headers included; good enough for assertions).
    pub fn decoded(&self) -> String {
        let raw = self.data.replace("=\r\n", "");
        let bytes = raw.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let escaped = bytes
                .get(i + 1..i + 3)
                .filter(|_| bytes[i] == b'=')
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = escaped {
                out.push(v);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A plain-text SMTP server that accepts everything except one recipient.
pub struct SmtpServer {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpServer {
    pub async fn start(reject_recipient: Option<&'static str>) -> SmtpServer {
        SmtpServer::start_with(reject_recipient, false).await
    }

    /// Like `start`, also advertising and accepting `AUTH PLAIN`.
    pub async fn start_with(reject_recipient: Option<&'static str>, auth: bool) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let recorded = mails.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let _ = serve_smtp(stream, recorded, reject_recipient, auth).await;
                });
            }
        });
        SmtpServer { addr, mails }
    }

    /// An SMTP URL for this server, plain text.
    pub fn url(&self) -> String {
        format!("smtp://{}?tls=none", self.addr)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

fn angle_address(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg.find('>').unwrap_or(arg.len());
    arg[start..end].to_owned()
}

async fn serve_smtp(
    stream: TcpStream,
    mails: Arc<Mutex<Vec<Mail>>>,
    reject: Option<&'static str>,
    auth: bool,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 localhost ESMTP test\r\n").await?;
    let mut mail = Mail::default();
    let mut authenticated = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let answer: &[u8] = if upper.starts_with("EHLO") {
            if auth {
                b"250-localhost\r\n250-AUTH PLAIN\r\n250 HELP\r\n"
            } else {
                b"250-localhost\r\n250 HELP\r\n"
            }
        } else if auth && upper.starts_with("AUTH PLAIN ") {
            authenticated = base64_decode(command["AUTH PLAIN ".len()..].trim());
            b"235 2.7.0 authenticated\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 localhost\r\n"
        } else if upper.starts_with("RSET") {
            mail = Mail::default();
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = angle_address(&command);
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            let to = angle_address(&command);
            if Some(to.as_str()) == reject {
                b"550 mailbox unavailable\r\n"
            } else {
                mail.to.push(to);
                b"250 OK\r\n"
            }
        } else if upper.starts_with("DATA") {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l).await? == 0 {
                    return Ok(());
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            mail.auth = authenticated.clone();
            mail.data = data.replace("\r\n ", " ").replace("\r\n\t", " ");
            mails.lock().unwrap().push(std::mem::take(&mut mail));
            b"250 OK queued\r\n"
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 command not implemented\r\n"
        };
        write.write_all(answer).await?;
    }
}

fn base64_decode(s: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}
