//! `avault remove PROFILE`: delete stored credentials.

use super::{CliError, Context};
use crate::output;
use crate::terminal::Terminal;
use crate::vault::{SessionCache, VaultError};

/// Delete a profile's stored credentials (with its TOTP seeds and sessions).
#[derive(clap::Args)]
pub(super) struct Args {
    /// The profile name
    profile: String,

    /// Do not ask for confirmation
    #[arg(short, long)]
    force: bool,

    /// Drop only the profile's cached sessions; keep its key
    #[arg(short, long)]
    sessions_only: bool,
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let (vault, keys) = ctx.unlock()?;
    let payload = vault.open(&keys)?;
    if args.sessions_only {
        let n = SessionCache::new(&vault, &payload).remove(|_, s| s.profile == args.profile)?;
        output::line(&format!("Deleted {n} sessions."))?;
        return Ok(());
    }
    if !payload.profiles.contains_key(&args.profile) {
        return Err(VaultError::ProfileNotFound(args.profile).into());
    }
    if !args.force {
        let mut tty = Terminal::open().ok_or_else(|| {
            CliError::input(
                "no terminal to confirm the deletion on",
                "pass --force to delete without asking",
            )
        })?;
        let question = format!(
            "Delete credentials for profile \"{}\"? (y/N) ",
            output::sanitize(&args.profile)
        );
        let yes = tty
            .confirm(&question)
            .map_err(crate::unlock::UnlockError::Terminal)?;
        if !yes {
            output::status("Cancelled.");
            return Ok(());
        }
    }
    vault.update(&keys, |payload| {
        payload
            .profiles
            .remove(&args.profile)
            .map(drop)
            .ok_or_else(|| VaultError::ProfileNotFound(args.profile.clone()))
    })?;
    // Its sessions were made from the deleted key: drop them too.
    SessionCache::new(&vault, &payload).remove(|_, s| s.profile == args.profile)?;
    output::status(&format!(
        "Deleted credentials of profile \"{}\".",
        args.profile
    ));
    Ok(())
}
