//! `avault proxy`: the metadata address (169.254.169.254:80) forwarded to
//! the EC2 server of `exec --ec2-server` on 127.0.0.1, as aws-vault does.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::Sender;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use zeroize::Zeroizing;

use super::http::{Handler, Request, Response};

/// The path that stops the proxy (aws-vault's `proxy --stop` asks it).
pub const STOP_PATH: &str = "/stop";
/// The Host the EC2 server is told it is reached at.
const METADATA_HOST: &str = "169.254.169.254";
/// The largest answer passed back.
const MAX_ANSWER: usize = 1024 * 1024;
/// Request headers passed on; the rest (Host, Connection, …) are the
/// proxy's own.
const FORWARDED: &[&str] = &[
    "x-aws-ec2-metadata-token",
    "x-aws-ec2-metadata-token-ttl-seconds",
    "user-agent",
    "accept",
];

/// Forwards metadata requests to the EC2 server at `target`.
pub struct MetadataProxy {
    target: SocketAddr,
    stop: Mutex<Option<Sender<()>>>,
}

impl MetadataProxy {
    /// A proxy to `target`; a request for [`STOP_PATH`] sends on `stop`.
    pub fn new(target: SocketAddr, stop: Sender<()>) -> MetadataProxy {
        MetadataProxy {
            target,
            stop: Mutex::new(Some(stop)),
        }
    }

    fn forward(&self, request: &Request) -> std::io::Result<Response> {
        let mut upstream = TcpStream::connect_timeout(&self.target, Duration::from_secs(2))?;
        upstream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut head = Zeroizing::new(format!(
            "{} {} HTTP/1.1\r\nHost: {METADATA_HOST}\r\nConnection: close\r\nContent-Length: 0\r\n",
            request.method, request.path
        ));
        for (name, value) in request.headers() {
            if FORWARDED.iter().any(|f| f.eq_ignore_ascii_case(name)) {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        head.push_str("\r\n");
        upstream.write_all(head.as_bytes())?;
        let mut answer = Zeroizing::new(Vec::new());
        (&mut upstream)
            .take(MAX_ANSWER as u64)
            .read_to_end(&mut answer)?;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(len)) = parsed.parse(&answer) else {
            return Ok(Response::text(502, "Bad Gateway"));
        };
        let status = parsed.code.unwrap_or(502);
        let mut json = false;
        let mut ttl = None;
        for h in parsed.headers.iter() {
            let value = String::from_utf8_lossy(h.value);
            if h.name.eq_ignore_ascii_case("content-type") {
                json = value.contains("json");
            } else if h
                .name
                .eq_ignore_ascii_case("x-aws-ec2-metadata-token-ttl-seconds")
            {
                ttl = Some(value.into_owned());
            }
        }
        let body = Zeroizing::new(answer[len..].to_vec());
        let mut response = if json {
            Response::json(status, body)
        } else {
            Response::text(status, &String::from_utf8_lossy(&body))
        };
        if let Some(ttl) = ttl {
            response = response.with_header("X-aws-ec2-metadata-token-ttl-seconds", ttl);
        }
        Ok(response)
    }
}

impl Handler for MetadataProxy {
    fn handle(&self, request: &Request) -> Response {
        if request.path == STOP_PATH {
            if let Some(stop) = self
                .stop
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
            {
                let _ = stop.send(());
            }
            return Response::text(200, "stopping");
        }
        self.forward(request).unwrap_or_else(|_| {
            Response::text(
                502,
                "no EC2 server behind the proxy: run avault exec PROFILE --ec2-server",
            )
        })
    }
}
