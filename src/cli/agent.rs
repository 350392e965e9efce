//! `avault agent`: run the unlock agent, or stop it, or say whether it runs.

use super::{CliError, Context};
use crate::agent::{self, Client};
use crate::output;

/// Run the agent that holds unlocked vault keys for AVAULT_UNLOCK_TTL (it
/// starts by itself on first need; this runs it in the foreground)
#[derive(clap::Args)]
pub(super) struct Args {
    /// Stop the running agent (it forgets every key)
    #[arg(long, conflicts_with = "status")]
    stop: bool,

    /// Say whether an agent runs, its socket, pid and how many vaults it holds
    #[arg(long)]
    status: bool,

    /// Started by another avault: exit quietly if an agent already runs
    #[arg(long, hide = true, conflicts_with_all = ["stop", "status"])]
    on_demand: bool,
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let client = Client::control(ctx.debug);
    let socket = client.path().display().to_string();
    if args.stop {
        if client.stop()? {
            output::status("Stopped the agent; it forgot every key.");
        } else {
            output::status("No agent is running.");
        }
        return Ok(());
    }
    if args.status {
        match client.status()? {
            Some((held, pid)) => output::line(&format!(
                "agent running: pid {pid}, socket {socket}, {held} vault(s) unlocked"
            ))?,
            None => output::line(&format!("no agent running (socket {socket})"))?,
        }
        return Ok(());
    }
    if !args.on_demand {
        output::status(&format!("avault agent listening on {socket}"));
    }
    agent::serve(ctx.debug, args.on_demand)?;
    Ok(())
}
