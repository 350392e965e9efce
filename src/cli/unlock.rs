//! `avault unlock`: unlock the vault now and hand its key to the agent, ahead
//! of a burst of commands.

use super::{CliError, Context};
use crate::agent::Client;
use crate::config::format_duration;
use crate::output;

/// Unlock the vault and keep its key in the agent for AVAULT_UNLOCK_TTL, so
/// that the commands that follow do not ask again
#[derive(clap::Args)]
pub(super) struct Args {}

pub(super) fn run(ctx: &Context, _args: Args) -> Result<(), CliError> {
    let Some(client) = Client::from_environment(ctx.debug)? else {
        return Err(
            crate::agent::AgentError::Off("AVAULT_AGENT=off or AVAULT_UNLOCK_TTL=0").into(),
        );
    };
    let ttl = client.ttl().unwrap_or_default();
    // Always the unlock material, never the agent's key: this starts a
    // fresh TTL. Opening hands the key to the agent (starting it).
    let (vault, keys) = ctx.unlock_fresh()?;
    drop(vault.open(&keys)?);
    let held = keys
        .known()
        .and_then(|(header, _)| client.lookup_key(&header))
        .is_some();
    if !held {
        return Err(crate::agent::AgentError::Unreachable(
            "it did not take the vault key (run with --debug to see why)".into(),
        )
        .into());
    }
    output::status(&format!(
        "Unlocked {} for {}.",
        vault.path().display(),
        format_duration(ttl)
    ));
    Ok(())
}
