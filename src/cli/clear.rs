//! `avault clear [PROFILE]`: drop cached sessions.

use super::{CliError, Context};
use crate::output;
use crate::vault::SessionCache;

/// Drop all cached sessions, or one profile's.
#[derive(clap::Args)]
pub(super) struct Args {
    /// Only this profile's sessions
    profile: Option<String>,
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let (vault, keys) = ctx.unlock()?;
    let payload = vault.open(&keys)?;
    let cache = SessionCache::new(&vault, &payload);
    let n = cache.remove(|_, s| args.profile.as_deref().is_none_or(|p| s.profile == p))?;
    output::line(&format!("Cleared {n} sessions."))?;
    Ok(())
}
