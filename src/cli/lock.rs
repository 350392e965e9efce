//! `avault lock`: make the agent forget every vault key now.

use super::{CliError, Context};
use crate::agent::Client;
use crate::output;

/// Make the agent forget every unlocked vault key now (the next command
/// unlocks again)
#[derive(clap::Args)]
pub(super) struct Args {}

pub(super) fn run(ctx: &Context, _args: Args) -> Result<(), CliError> {
    if Client::control(ctx.debug).forget()? {
        output::status("Locked: the agent forgot every vault key.");
    } else {
        output::status("No agent is running: nothing was unlocked.");
    }
    Ok(())
}
