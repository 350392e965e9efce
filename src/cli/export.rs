//! `avault export PROFILE`: print credentials.

use super::issue::{self, CredentialArgs};
use super::{CliError, Context};
use crate::deliver::{self, ExportFormat};
use crate::output;

/// Print short-lived credentials for a profile.
#[derive(clap::Args)]
pub(super) struct Args {
    /// The profile
    profile: String,

    #[command(flatten)]
    creds: CredentialArgs,

    /// Output format
    #[arg(long, value_enum, default_value = "env")]
    format: ExportFormat,
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let (credentials, region) = issue::credentials(ctx, &args.profile, &args.creds)?;
    let text = deliver::render(args.format, &args.profile, &credentials, region.as_deref());
    output::secret(text.as_bytes())?;
    Ok(())
}
