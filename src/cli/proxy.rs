//! `avault proxy [--stop]`: the EC2 metadata address forwarded to the
//! server of `exec --ec2-server`, so that SDKs with no endpoint setting
//! find it. Needs root and the address on the loopback interface.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::{CliError, Context};
use crate::output;
use crate::serve::{self, MetadataProxy, DEFAULT_EC2_PORT, METADATA_ADDR, STOP_PATH};

/// Forward 169.254.169.254:80 to 127.0.0.1:9099, where
/// `avault exec PROFILE --ec2-server` listens. Set up once, as root:
/// `ip addr add 169.254.169.254/32 dev lo` (Linux) or
/// `ifconfig lo0 alias 169.254.169.254` (macOS), then `avault proxy &`.
#[derive(clap::Args)]
pub(super) struct Args {
    /// Stop a running proxy
    #[arg(long)]
    stop: bool,

    /// Where the proxy listens
    #[arg(long, value_name = "ADDR:PORT", default_value_t = SocketAddr::from((METADATA_ADDR, 80)))]
    listen: SocketAddr,

    /// The port of exec --ec2-server on 127.0.0.1
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_EC2_PORT)]
    ec2_port: u16,
}

pub(super) fn run(_ctx: &Context, args: Args) -> Result<(), CliError> {
    if args.stop {
        return stop(args.listen);
    }
    let target = SocketAddr::from((IpAddr::from([127, 0, 0, 1]), args.ec2_port));
    let (tx, rx) = std::sync::mpsc::channel();
    let server = serve::serve(args.listen, Arc::new(MetadataProxy::new(target, tx)))?;
    output::status(&format!(
        "forwarding {} to {target} (stop: avault proxy --stop)",
        server.local_addr()
    ));
    // Until /stop is asked for.
    let _ = rx.recv();
    server.stop();
    Ok(())
}

fn stop(listen: SocketAddr) -> Result<(), CliError> {
    use std::io::{Read, Write};
    let failed = |e: std::io::Error| {
        CliError::input(
            format!("cannot reach a proxy on {listen}: {e}"),
            "is avault proxy running there? (pass the same --listen)",
        )
    };
    let mut stream =
        std::net::TcpStream::connect_timeout(&listen, std::time::Duration::from_secs(2))
            .map_err(failed)?;
    write!(
        stream,
        "GET {STOP_PATH} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        serve::host_names(listen)[0]
    )
    .map_err(failed)?;
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    if !answer.starts_with("HTTP/1.1 200") {
        return Err(CliError::input(
            format!("the server on {listen} did not stop"),
            "is it avault proxy?",
        ));
    }
    output::status(&format!("stopped the proxy on {listen}"));
    Ok(())
}
