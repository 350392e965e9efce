//! The HTTP/1.1 server under the credential endpoints: one thread per
//! connection, keep-alive, requests without bodies to speak of. It answers
//! only loopback callers and only the Host names it is really reached at,
//! so that a web page that rebinds its DNS name to 127.0.0.1 gets nothing.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use zeroize::Zeroizing;

/// The longest request head accepted (request line and headers).
const MAX_HEAD: usize = 16 * 1024;
/// The largest request body accepted (and thrown away).
const MAX_BODY: usize = 64 * 1024;
/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 1024;
/// How long an idle keep-alive connection stays open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Server::stop`] waits for answers being written.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Headers parsed per request.
const MAX_HEADERS: usize = 48;

/// One request, as a handler sees it. Header values may hold tokens, so
/// they are wiped when the request is dropped.
pub struct Request {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The path and query, as sent.
    pub path: String,
    headers: Vec<(String, Zeroizing<String>)>,
}

impl Request {
    /// The value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All headers, for forwarding.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// An answer. The body may hold credentials: it is wiped after sending.
pub struct Response {
    status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Zeroizing<Vec<u8>>,
}

impl Response {
    /// A JSON body.
    pub fn json(status: u16, body: Zeroizing<Vec<u8>>) -> Response {
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    /// A plain-text body.
    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain",
            headers: Vec::new(),
            body: Zeroizing::new(body.as_bytes().to_vec()),
        }
    }

    /// `{"Message": message}`, the error shape of the ECS endpoint.
    pub fn message(status: u16, message: &str) -> Response {
        let body = serde_json::json!({ "Message": message }).to_string();
        Response::json(status, Zeroizing::new(body.into_bytes()))
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    fn write_to(&self, out: &mut impl Write, close: bool) -> io::Result<()> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(256 + self.body.len()));
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        bytes.extend_from_slice(head.as_bytes());
        for (name, value) in &self.headers {
            bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if close {
            bytes.extend_from_slice(b"Connection: close\r\n");
        }
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(&self.body);
        out.write_all(&bytes)?;
        out.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// What answers requests.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request that passed the caller and Host checks.
    fn handle(&self, request: &Request) -> Response;
}

/// Who may talk to a server: loopback callers (or callers from the
/// listening address itself, for the 169.254.169.254 alias on lo), naming
/// one of `hosts` in the Host header.
#[derive(Clone)]
struct Gate {
    hosts: Arc<[String]>,
    local: IpAddr,
}

impl Gate {
    fn refuse(&self, peer: IpAddr, host: Option<&str>) -> Option<Response> {
        if !(peer.is_loopback() || peer == self.local) {
            return Some(Response::message(403, "only local callers are answered"));
        }
        let Some(host) = host else {
            return Some(Response::message(400, "the request has no Host header"));
        };
        if !self
            .hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host.trim()))
        {
            return Some(Response::message(
                403,
                "this Host is not served here (DNS rebinding protection)",
            ));
        }
        None
    }
}

/// The names a server on `addr` is reached at: the address itself and,
/// for loopback, localhost; the bare address when the port is 80.
pub fn host_names(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let ip = match addr.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let mut names = vec![format!("{ip}:{port}")];
    if addr.ip().is_loopback() {
        names.push(format!("localhost:{port}"));
    }
    if port == 80 {
        names.push(ip);
        if addr.ip().is_loopback() {
            names.push("localhost".to_owned());
        }
    }
    names
}

/// A running server; [`stop`](Server::stop) ends it.
pub struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    /// Requests being answered right now.
    busy: Arc<AtomicUsize>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `listener` with `handler`, answering requests whose Host is
    /// one of `hosts`.
    pub fn start(
        listener: TcpListener,
        handler: Arc<dyn Handler>,
        hosts: Vec<String>,
    ) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let gate = Gate {
            hosts: hosts.into(),
            local: addr.ip(),
        };
        let stopping = Arc::new(AtomicBool::new(false));
        let busy = Arc::new(AtomicUsize::new(0));
        let flag = Arc::clone(&stopping);
        let requests = Arc::clone(&busy);
        let accept = std::thread::Builder::new()
            .name("avault-accept".into())
            .spawn(move || accept_loop(&listener, &handler, &gate, &flag, &requests))?;
        Ok(Server {
            addr,
            stopping,
            busy,
            accept: Some(accept),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, and waits (a few seconds at most) for
    /// the answers being written, such as the one to the request that
    /// asked for the stop. Idle keep-alive connections are not waited for.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.accept.take() {
            let _ = thread.join();
        }
        let deadline = std::time::Instant::now() + DRAIN_TIMEOUT;
        while self.busy.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.shutdown();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    handler: &Arc<dyn Handler>,
    gate: &Gate,
    stopping: &AtomicBool,
    busy: &Arc<AtomicUsize>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // EMFILE and friends: back off instead of spinning.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        let handler = Arc::clone(handler);
        let gate = gate.clone();
        let count = Arc::clone(&open);
        let busy = Arc::clone(busy);
        let spawned = std::thread::Builder::new()
            .name("avault-conn".into())
            .spawn(move || {
                let _ = serve_connection(stream, handler.as_ref(), &gate, &busy);
                count.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A parsed request head: the request, how long the head was, how long
/// the body is, and whether the connection ends after the answer.
struct Head {
    request: Request,
    head_len: usize,
    body_len: usize,
    close: bool,
}

enum Parsed {
    Complete(Head),
    Partial,
    Invalid(Response),
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Invalid(Response::message(400, "malformed request")),
    };
    let version = req.version.unwrap_or(1);
    let mut close = version == 0;
    let mut body_len = 0;
    let mut fields = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let value = Zeroizing::new(String::from_utf8_lossy(h.value).into_owned());
        if h.name.eq_ignore_ascii_case("content-length") {
            match value.trim().parse::<usize>() {
                Ok(n) if n <= MAX_BODY => body_len = n,
                Ok(_) => return Parsed::Invalid(Response::message(413, "request body too large")),
                Err(_) => return Parsed::Invalid(Response::message(400, "bad Content-Length")),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Invalid(Response::message(411, "chunked bodies are not accepted"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                close = true;
            } else if v.contains("keep-alive") {
                close = false;
            }
        }
        fields.push((h.name.to_owned(), value));
    }
    Parsed::Complete(Head {
        request: Request {
            method: req.method.unwrap_or("").to_owned(),
            path: req.path.unwrap_or("/").to_owned(),
            headers: fields,
        },
        head_len,
        body_len,
        close,
    })
}

fn serve_connection(
    mut stream: TcpStream,
    handler: &dyn Handler,
    gate: &Gate,
    busy: &AtomicUsize,
) -> io::Result<()> {
    let peer = stream.peer_addr()?.ip();
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    // Requests carry tokens: wipe what was read.
    let mut buf = Zeroizing::new(Vec::with_capacity(4096));
    let mut chunk = Zeroizing::new([0u8; 4096]);
    loop {
        let head = loop {
            match parse(&buf) {
                Parsed::Complete(head) => break head,
                Parsed::Invalid(response) => return response.write_to(&mut stream, true),
                Parsed::Partial if buf.len() >= MAX_HEAD => {
                    return Response::message(431, "request head too large")
                        .write_to(&mut stream, true)
                }
                Parsed::Partial => {
                    let n = stream.read(&mut chunk[..])?;
                    if n == 0 {
                        return Ok(());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
            }
        };
        // Read and drop the body.
        while buf.len() < head.head_len + head.body_len {
            let n = stream.read(&mut chunk[..])?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..head.head_len + head.body_len);
        busy.fetch_add(1, Ordering::SeqCst);
        let response = gate
            .refuse(peer, head.request.header("host"))
            .unwrap_or_else(|| handler.handle(&head.request));
        let written = response.write_to(&mut stream, head.close);
        busy.fetch_sub(1, Ordering::SeqCst);
        written?;
        if head.close {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keep_alive_and_close() {
        let Parsed::Complete(h) = parse(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n") else {
            panic!("complete")
        };
        assert_eq!(h.request.path, "/x");
        assert_eq!(h.request.header("HOST"), Some("a"));
        assert!(!h.close);
        let Parsed::Complete(h) = parse(b"GET / HTTP/1.0\r\n\r\n") else {
            panic!("complete")
        };
        assert!(h.close);
        let Parsed::Complete(h) =
            parse(b"PUT / HTTP/1.1\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc")
        else {
            panic!("complete")
        };
        assert!(h.close);
        assert_eq!(h.body_len, 3);
        assert!(matches!(parse(b"GET / HTTP/1.1\r\nHost"), Parsed::Partial));
        assert!(matches!(
            parse(b"\x01\x02 nonsense\r\n\r\n"),
            Parsed::Invalid(_)
        ));
        let Parsed::Invalid(r) = parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        else {
            panic!("invalid")
        };
        assert_eq!(r.status(), 411);
    }

    #[test]
    fn gate_checks_peer_and_host() {
        let addr: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let gate = Gate {
            hosts: host_names(addr).into(),
            local: addr.ip(),
        };
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        assert!(gate.refuse(lo, Some("127.0.0.1:4000")).is_none());
        assert!(gate.refuse(lo, Some("LOCALHOST:4000")).is_none());
        assert_eq!(
            gate.refuse(lo, Some("evil.example:4000"))
                .map(|r| r.status()),
            Some(403)
        );
        assert_eq!(gate.refuse(lo, None).map(|r| r.status()), Some(400));
        let far: IpAddr = "10.0.0.1".parse().expect("ip");
        assert_eq!(
            gate.refuse(far, Some("127.0.0.1:4000")).map(|r| r.status()),
            Some(403)
        );
    }

    #[test]
    fn host_names_of_the_metadata_address() {
        let addr: SocketAddr = "169.254.169.254:80".parse().expect("addr");
        assert_eq!(
            host_names(addr),
            vec![
                "169.254.169.254:80".to_owned(),
                "169.254.169.254".to_owned()
            ]
        );
    }
}
