//! A recording SMTP server: records each mail, and each session's commands and what
//! the client did about TLS (STARTTLS asked for, a TLS ClientHello sent at once or
//! after STARTTLS). It cannot complete a TLS handshake (no certificate a client
//! would trust), so a session that turns to TLS ends there: what is observable is
//! that the client used TLS, and that nothing went over plain text before it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the server behaves.
#[derive(Debug, Clone, Default)]
pub struct SmtpOptions {
    /// A recipient answered `550` at `RCPT TO`.
    pub reject_recipient: Option<String>,
    /// Advertise and accept `AUTH PLAIN`.
    pub auth: bool,
    /// Advertise `STARTTLS` (and answer `220` to it, then watch for a ClientHello).
    pub offer_starttls: bool,
    /// Before greeting, wait this long for the client to speak first: a client of
    /// implicit TLS (`smtps://`) sends its ClientHello at once, a plain SMTP client
    /// waits for the greeting.
    pub detect_implicit_tls: Option<Duration>,
}

/// One received mail.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// The `MAIL FROM` address.
    pub from: String,
    /// The `RCPT TO` addresses, in order.
    pub to: Vec<String>,
    /// The DATA section, dot-unstuffed, header continuation lines unfolded.
    pub data: String,
    /// The decoded `AUTH PLAIN` response (`\0user\0password`), if the client authenticated.
    pub auth: Option<String>,
}

impl Mail {
    /// The data with quoted-printable soft breaks and escapes decoded (the whole
    /// message, headers included; good enough for assertions).
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

    /// The `Subject:` header (unfolded), or "".
    pub fn subject(&self) -> String {
        self.data
            .lines()
            .take_while(|l| !l.is_empty())
            .find_map(|l| {
                l.get(..8)
                    .filter(|p| p.eq_ignore_ascii_case("subject:"))
                    .map(|_| l[8..].trim().to_owned())
            })
            .unwrap_or_default()
    }
}

/// What happened on one connection.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// The command verbs in order (`EHLO`, `STARTTLS`, `MAIL`, ...).
    pub commands: Vec<String>,
    /// The client sent a TLS ClientHello before any SMTP (implicit TLS).
    pub implicit_tls: bool,
    /// The client sent a TLS ClientHello after `STARTTLS`.
    pub tls_after_starttls: bool,
}

#[derive(Default)]
struct Shared {
    mails: Mutex<Vec<Mail>>,
    sessions: Mutex<Vec<Session>>,
    stop: AtomicBool,
}

/// A recording SMTP server on 127.0.0.1, on threads of its own.
pub struct SmtpRecorder {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl SmtpRecorder {
    /// A plain SMTP server that accepts every mail.
    pub fn start() -> SmtpRecorder {
        SmtpRecorder::with(SmtpOptions::default())
    }

    /// A server behaving as `options` say.
    pub fn with(options: SmtpOptions) -> SmtpRecorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let accept = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (shared, options) = (accept.clone(), options.clone());
                std::thread::spawn(move || {
                    let mut session = Session::default();
                    let _ = serve(stream, &shared, &options, &mut session);
                    shared.sessions.lock().unwrap().push(session);
                });
            }
        });
        SmtpRecorder { addr, shared }
    }

    /// `smtp://ADDR?tls=none` (plain text).
    pub fn url(&self) -> String {
        format!("smtp://{}?tls=none", self.addr)
    }

    /// The mails received so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.shared.mails.lock().unwrap().clone()
    }

    /// The sessions that ended so far.
    pub fn sessions(&self) -> Vec<Session> {
        self.shared.sessions.lock().unwrap().clone()
    }
}

impl Drop for SmtpRecorder {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// A TLS record of type handshake (0x16), version 3.x: the start of a ClientHello.
fn is_tls_hello(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x16 && bytes[1] == 0x03
}

fn angle_address(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg.find('>').unwrap_or(arg.len());
    arg[start..end].to_owned()
}

fn serve(
    stream: TcpStream,
    shared: &Shared,
    options: &SmtpOptions,
    session: &mut Session,
) -> std::io::Result<()> {
    if let Some(wait) = options.detect_implicit_tls {
        stream.set_read_timeout(Some(wait))?;
        let mut first = [0u8; 2];
        if let Ok(n) = stream.peek(&mut first)
            && is_tls_hello(&first[..n])
        {
            session.implicit_tls = true;
            return Ok(());
        }
    }
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    w.write_all(b"220 localhost ESMTP test\r\n")?;
    let mut mail = Mail::default();
    let mut authenticated = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("").to_owned();
        session.commands.push(verb.clone());
        match verb.as_str() {
            "EHLO" => {
                let mut answer = String::from("250-localhost\r\n250-8BITMIME\r\n");
                if options.auth {
                    answer.push_str("250-AUTH PLAIN\r\n");
                }
                if options.offer_starttls {
                    answer.push_str("250-STARTTLS\r\n");
                }
                answer.push_str("250 HELP\r\n");
                w.write_all(answer.as_bytes())?;
            }
            "STARTTLS" if options.offer_starttls => {
                w.write_all(b"220 2.0.0 ready to start TLS\r\n")?;
                let mut first = [0u8; 2];
                let n = reader.read(&mut first)?;
                session.tls_after_starttls = is_tls_hello(&first[..n]);
                // No certificate to answer with: the session ends here.
                return Ok(());
            }
            "AUTH" if options.auth && upper.starts_with("AUTH PLAIN ") => {
                authenticated = base64_decode(command["AUTH PLAIN ".len()..].trim());
                w.write_all(b"235 2.7.0 authenticated\r\n")?;
            }
            "HELO" | "NOOP" => w.write_all(b"250 localhost\r\n")?,
            "RSET" => {
                mail = Mail::default();
                w.write_all(b"250 OK\r\n")?;
            }
            "MAIL" => {
                mail.from = angle_address(&command);
                w.write_all(b"250 OK\r\n")?;
            }
            "RCPT" => {
                let to = angle_address(&command);
                if options.reject_recipient.as_deref() == Some(to.as_str()) {
                    w.write_all(b"550 mailbox unavailable\r\n")?;
                } else {
                    mail.to.push(to);
                    w.write_all(b"250 OK\r\n")?;
                }
            }
            "DATA" => {
                w.write_all(b"354 go ahead\r\n")?;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l)? == 0 {
                        return Ok(());
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                mail.auth = authenticated.clone();
                mail.data = data.replace("\r\n ", " ").replace("\r\n\t", " ");
                shared.mails.lock().unwrap().push(std::mem::take(&mut mail));
                w.write_all(b"250 OK queued\r\n")?;
            }
            "QUIT" => {
                w.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => w.write_all(b"502 command not implemented\r\n")?,
        }
    }
}

fn base64_decode(s: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = u32::try_from(ALPHABET.iter().position(|a| *a == c)?).ok()?;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push(u8::try_from(bits >> n).ok()?);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}
