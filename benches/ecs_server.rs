//! Load on the ECS credentials endpoint with warm credentials: requests
//! per second and latency percentiles over keep-alive connections on
//! loopback, with a Rust load generator (no wrk needed).
//!
//! `cargo bench --bench ecs_server` measures (8 s, 16 connections);
//! `cargo bench --bench ecs_server -- --test` runs briefly and checks the
//! answers (CI). `-- --seconds N --connections N` change the load.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use avault::creds::Credentials;
use avault::serve::{self, Supply};
use secrecy::{ExposeSecret, SecretString};

struct Load {
    seconds: f64,
    connections: usize,
}

fn parse_args() -> Load {
    let mut load = Load {
        seconds: 8.0,
        connections: 16,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--test" => load.seconds = 0.5,
            "--seconds" => load.seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or(8.0),
            "--connections" => {
                load.connections = args.next().and_then(|v| v.parse().ok()).unwrap_or(16)
            }
            _ => {} // cargo bench passes --bench
        }
    }
    load
}

fn warm_credentials() -> Credentials {
    Credentials {
        access_key_id: "ASIAEXAMPLEBENCHKEY0".into(),
        secret_access_key: SecretString::from(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
        ),
        session_token: Some(SecretString::from("FwoGZXIvYXdzE".repeat(40))),
        expiration: Some(time::OffsetDateTime::now_utc() + time::Duration::hours(1)),
    }
}

/// One keep-alive connection sending requests until `until`; the latency
/// of each, in microseconds.
fn client(addr: SocketAddr, token: &str, until: Instant) -> Vec<u32> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\n\r\n");
    let mut latencies = Vec::with_capacity(100_000);
    let mut buf = vec![0u8; 8192];
    while Instant::now() < until {
        let start = Instant::now();
        stream.write_all(request.as_bytes()).expect("send");
        let mut have = 0;
        // Read one whole answer: the head, then Content-Length bytes.
        loop {
            let n = stream.read(&mut buf[have..]).expect("read");
            assert!(n > 0, "server closed the connection");
            have += n;
            let text = &buf[..have];
            if let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&text[..end]).expect("head");
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .and_then(|v| v.parse().ok())
                    .expect("Content-Length");
                if have >= end + 4 + length {
                    assert!(text[end + 4..].starts_with(b"{\"AccessKeyId\""));
                    break;
                }
            }
        }
        latencies.push(start.elapsed().as_micros() as u32);
    }
    latencies
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let load = parse_args();
    let supply = Arc::new(Supply::new(Duration::from_secs(300), || {
        Ok(warm_credentials())
    }));
    supply.get().expect("warm");
    let assume: Arc<serve::AssumeRole> = Arc::new(|_, _| Ok(warm_credentials()));
    let started = serve::start_ecs(supply, Duration::from_secs(300), assume).expect("start");
    let addr = started.server.local_addr();
    let token = started
        .token
        .as_ref()
        .expect("token")
        .expose_secret()
        .to_owned();
    let until = Instant::now() + Duration::from_secs_f64(load.seconds);
    let began = Instant::now();
    let clients: Vec<_> = (0..load.connections)
        .map(|_| {
            let token = token.clone();
            std::thread::spawn(move || client(addr, &token, until))
        })
        .collect();
    let mut all: Vec<u32> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    let elapsed = began.elapsed().as_secs_f64();
    started.server.stop();
    all.sort_unstable();
    assert!(!all.is_empty(), "no request was answered");
    println!(
        "ecs_server: {} connections, {:.1} s: {:.0} requests/s; latency p50 {} µs, p99 {} µs, max {} µs ({} requests)",
        load.connections,
        elapsed,
        all.len() as f64 / elapsed,
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        all[all.len() - 1],
        all.len()
    );
}
