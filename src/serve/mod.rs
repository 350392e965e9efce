//! Credential servers for the life of a command: the ECS container
//! endpoint and the EC2 instance metadata endpoints (`exec --ecs-server`,
//! `exec --ec2-server`), and the metadata-address proxy (`avault proxy`).
//!
//! Both servers listen on 127.0.0.1 only, answer only loopback callers
//! naming the address they are reached at (DNS rebinding), and hand out
//! credentials from a [`Supply`] that refreshes them before they expire.

mod ec2;
mod ecs;
mod http;
mod proxy;
mod supply;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;

use secrecy::SecretString;
use serde::Serialize;
use zeroize::Zeroizing;

pub use ec2::{instance_json, Ec2Endpoint, ROLE_NAME};
pub use ecs::{container_json, new_token, AssumeRole, EcsEndpoint};
pub use http::{host_names, Handler, Request, Response, Server};
pub use proxy::{MetadataProxy, STOP_PATH};
pub use supply::Supply;

/// The metadata address that SDKs ask by default.
pub const METADATA_ADDR: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// The port `exec --ec2-server` listens on unless told otherwise, and
/// that `avault proxy` forwards to (aws-vault's).
pub const DEFAULT_EC2_PORT: u16 = 9099;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address is taken or not ours.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Where.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Starting its threads failed.
    #[error("cannot start the credential server: {0}")]
    Start(#[source] io::Error),
}

impl ServeError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ServeError::Bind { addr, source } => Some(match source.kind() {
                io::ErrorKind::AddrInUse => format!(
                    "another program listens on port {}: pick another with --ec2-port, or stop it",
                    addr.port()
                ),
                io::ErrorKind::PermissionDenied => {
                    "ports below 1024 need root (run avault proxy with sudo)".to_owned()
                }
                io::ErrorKind::AddrNotAvailable if addr.ip() == METADATA_ADDR => {
                    "the metadata address is not on this machine: sudo ip addr add 169.254.169.254/32 dev lo"
                        .to_owned()
                }
                _ => return None,
            }),
            ServeError::Start(_) => None,
        }
    }
}

/// A server started for a command, and what the command is told.
pub struct Started {
    /// The server; stop it when the command ends.
    pub server: Server,
    /// The URL the command reaches it at.
    pub url: String,
    /// The ECS endpoint's authorization token.
    pub token: Option<SecretString>,
}

fn listen(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })
}

/// Starts a server for `handler` on `addr`, answering the names it is
/// reached at.
pub fn serve(addr: SocketAddr, handler: Arc<dyn Handler>) -> Result<Server, ServeError> {
    let listener = listen(addr)?;
    let bound = listener.local_addr().map_err(ServeError::Start)?;
    let mut hosts = host_names(bound);
    if bound.ip() == METADATA_ADDR && bound.port() != 80 {
        hosts.push(METADATA_ADDR.to_string());
    }
    Server::start(listener, handler, hosts).map_err(ServeError::Start)
}

/// Starts the ECS endpoint on 127.0.0.1 at a random port.
pub fn start_ecs(
    supply: Arc<Supply>,
    min_left: std::time::Duration,
    assume: Arc<AssumeRole>,
) -> Result<Started, ServeError> {
    let token = new_token();
    let endpoint = EcsEndpoint::new(token.clone(), supply, min_left, assume);
    let server = serve(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Arc::new(endpoint),
    )?;
    let url = format!("http://{}/", server.local_addr());
    Ok(Started {
        server,
        url,
        token: Some(token),
    })
}

/// Starts the EC2 metadata endpoints on 127.0.0.1:`port` (0: any). They
/// also answer to the metadata address's name, for `avault proxy`.
pub fn start_ec2(
    supply: Arc<Supply>,
    region: Option<String>,
    port: u16,
) -> Result<Started, ServeError> {
    let listener = listen(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    let bound = listener.local_addr().map_err(ServeError::Start)?;
    let mut hosts = host_names(bound);
    hosts.push(METADATA_ADDR.to_string());
    hosts.push(format!("{METADATA_ADDR}:80"));
    let server = Server::start(listener, Arc::new(Ec2Endpoint::new(supply, region)), hosts)
        .map_err(ServeError::Start)?;
    Ok(Started {
        url: format!("http://{bound}/"),
        server,
        token: None,
    })
}

/// Serializes a body that holds secrets into a buffer that is wiped.
fn json_body(value: &impl Serialize) -> Zeroizing<Vec<u8>> {
    let mut w = crate::zbuf::ZeroizingWriter::with_capacity(2048);
    // Writing to memory cannot fail.
    let _ = serde_json::to_writer(&mut w, value);
    w.into_inner()
}

/// `%XX` decoding of a path segment; invalid escapes stay as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn decodes_role_arns() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa"),
            "arn:aws:iam::1:role/a"
        );
        assert_eq!(
            percent_decode("arn:aws:iam::1:role/a"),
            "arn:aws:iam::1:role/a"
        );
        assert_eq!(percent_decode("bad%zz%4"), "bad%zz%4");
        assert_eq!(percent_decode("%41"), "A");
        assert_eq!(percent_decode("%é1"), "%é1");
    }
}
