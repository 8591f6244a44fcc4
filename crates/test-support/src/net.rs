//! Network stand-ins: a listener that accepts and never answers, a port that refuses
//! connections, and a TCP proxy that keeps one address across server restarts.
//!
//! Each holds its socket for as long as it lives, so no other process can take the
//! port in between (unlike "bind, read the port, release, hope").

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Binds 127.0.0.1 on a port the system picks.
fn listen() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// Runs `on_accept` for every connection `listener` accepts, on a thread of its own,
/// until `stop` is set (the owner then connects once to wake the accept).
fn accept_loop(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    mut on_accept: impl FnMut(TcpStream) + Send + 'static,
) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            if let Ok(stream) = stream {
                on_accept(stream);
            }
        }
    });
}

fn wake(addr: SocketAddr) {
    let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
}

/// A server that accepts every connection and never sends a byte (nor closes):
/// a destination that hangs, unlike a refused port, which fails at once.
pub struct SilentServer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl SilentServer {
    /// Starts listening.
    pub fn start() -> SilentServer {
        let listener = listen();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let held = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, keep) = (accepted.clone(), held.clone());
        accept_loop(listener, stop.clone(), move |stream| {
            count.fetch_add(1, Ordering::SeqCst);
            keep.lock().unwrap().push(stream);
        });
        SilentServer {
            addr,
            accepted,
            held,
            stop,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        wake(self.addr);
        for s in self.held.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// A port on 127.0.0.1 where connections are refused at once: a TCP socket bound
/// to it that never listens (the kernel answers a SYN with a reset). The port stays
/// reserved while this value lives.
pub struct RefusingPort {
    _socket: socket2::Socket,
    addr: SocketAddr,
}

impl RefusingPort {
    /// Binds a socket and does not listen.
    pub fn new() -> RefusingPort {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        socket.bind(&any.into()).expect("bind 127.0.0.1:0");
        let addr = socket
            .local_addr()
            .unwrap()
            .as_socket()
            .expect("an IP address");
        RefusingPort {
            _socket: socket,
            addr,
        }
    }

    /// The address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Default for RefusingPort {
    fn default() -> Self {
        RefusingPort::new()
    }
}

/// A TCP proxy owned by the test: it holds one address for the whole test and
/// forwards each connection to whatever target is set now. A test that kills a
/// server and starts it again (the new process binds a new port 0) points the proxy
/// at the new address, and clients that keep the proxy's address (an SDK's DSN, a
/// stress run) reach the new server. While no target is set, or the target refuses,
/// connections are closed at once, as a dead server's would be.
pub struct TcpProxy {
    addr: SocketAddr,
    target: Arc<Mutex<Option<SocketAddr>>>,
    live: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl TcpProxy {
    /// Starts listening, with no target yet.
    pub fn start() -> TcpProxy {
        let listener = listen();
        let addr = listener.local_addr().unwrap();
        let target: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let live = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (to, conns) = (target.clone(), live.clone());
        accept_loop(listener, stop.clone(), move |client| {
            let Some(target) = *to.lock().unwrap() else {
                return; // dropped: closed at once
            };
            let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            {
                let mut conns = conns.lock().unwrap();
                conns.retain(|s: &TcpStream| s.peer_addr().is_ok());
                conns.push(client.try_clone().unwrap());
                conns.push(server.try_clone().unwrap());
            }
            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(server, client);
        });
        TcpProxy {
            addr,
            target,
            live,
            stop,
        }
    }

    /// The address clients use.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients use.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Forwards new connections to `target` from now on.
    pub fn set_target(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = Some(target);
    }

    /// Refuses new connections, and closes the open ones.
    pub fn clear_target(&self) {
        *self.target.lock().unwrap() = None;
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.clear_target();
        wake(self.addr);
    }
}

/// Copies `from` → `to` on a thread until `from` ends, then ends `to`'s writing half
/// (a half-close travels through the proxy).
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusing_port_refuses() {
        let port = RefusingPort::new();
        let err = TcpStream::connect(port.addr()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn a_silent_server_accepts_and_says_nothing() {
        let silent = SilentServer::start();
        let mut c = TcpStream::connect(silent.addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 1];
        let err = c.read(&mut buf).unwrap_err();
        assert!(matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ));
        crate::wait::until_true("the accept", Duration::from_secs(5), || {
            silent.accepted() == 1
        });
    }

    #[test]
    fn the_proxy_follows_its_target() {
        let echo = |reply: &'static [u8]| {
            let l = listen();
            let addr = l.local_addr().unwrap();
            std::thread::spawn(move || {
                for s in l.incoming() {
                    let mut s = s.unwrap();
                    let mut buf = [0u8; 4];
                    s.read_exact(&mut buf).unwrap();
                    s.write_all(reply).unwrap();
                }
            });
            addr
        };
        let proxy = TcpProxy::start();
        let ask = || -> Option<Vec<u8>> {
            let mut c = TcpStream::connect(proxy.addr()).ok()?;
            c.write_all(b"ping").ok()?;
            c.shutdown(Shutdown::Write).ok()?;
            let mut out = Vec::new();
            c.read_to_end(&mut out).ok()?;
            Some(out)
        };
        assert_eq!(ask().unwrap_or_default(), b"");
        proxy.set_target(echo(b"one"));
        assert_eq!(ask().unwrap(), b"one");
        proxy.set_target(echo(b"two"));
        assert_eq!(ask().unwrap(), b"two");
    }
}
