//! `avault rotate PROFILE [-n]`: replace the stored long-term key behind a
//! profile with a new one, as aws-vault does (COMPAT.md). The algorithm,
//! and the order that keeps a working key in the vault, is in
//! [`crate::creds::rotation`].

use super::{issue, CliError, Context};
use crate::config::FlagOverrides;
use crate::creds::rotation::{self, KeyRotation, RotationInput};
use crate::creds::Request;
use crate::output;
use crate::vault::SessionCache;

/// Replace a profile's stored access key with a new one and delete the old.
#[derive(clap::Args)]
pub(super) struct Args {
    /// The profile (a role profile rotates the key its source_profile chain leads to)
    profile: String,

    /// Make the IAM calls with the stored key itself: no GetSessionToken, no MFA
    #[arg(short = 'n', long)]
    no_session: bool,
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let opened = issue::open(ctx, &args.profile, FlagOverrides::default())?;
    let cache = SessionCache::new(&opened.vault, &opened.payload);
    let request = Request {
        no_session: args.no_session,
        mfa_token: None,
        prompt: ctx.prompt()?,
        ..Request::default()
    };
    let rotation = KeyRotation::start(RotationInput {
        vault: &opened.vault,
        keys: &opened.keys,
        payload: &opened.payload,
        chain: &opened.chain,
        cache: &cache,
        request: &request,
    })?;
    output::status(&format!(
        "Rotating the key of profile {} (IAM user {}, key {}); this can take {} seconds.",
        rotation.profile(),
        rotation.user(),
        rotation.old_key_id(),
        rotation::RETRY_FOR.as_secs()
    ));
    let rotated = rotation.finish()?;
    output::line(&format!(
        "Rotated the key of profile {}: {} → {} (old key deleted)",
        rotated.profile, rotated.old_key_id, rotated.new_key_id
    ))?;
    Ok(())
}
