//! `avault clear [PROFILE]`: drop cached sessions (and SSO tokens).

use super::{CliError, Context};
use crate::creds::is_sso_token_key;
use crate::output;
use crate::vault::SessionCache;

/// Drop all cached sessions and SSO tokens, or one profile's (an SSO token
/// goes with the profile that signed in).
#[derive(clap::Args)]
pub(super) struct Args {
    /// Only this profile's sessions
    profile: Option<String>,
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let (vault, keys) = ctx.unlock()?;
    let payload = vault.open(&keys)?;
    let cache = SessionCache::new(&vault, &payload);
    let picked =
        |s: &crate::vault::CachedSession| args.profile.as_deref().is_none_or(|p| s.profile == p);
    // SSO tokens go too but are not sessions: the count is aws-vault's.
    cache.remove(|k, s| is_sso_token_key(k) && picked(s))?;
    let n = cache.remove(|_, s| picked(s))?;
    output::line(&format!("Cleared {n} sessions."))?;
    Ok(())
}
