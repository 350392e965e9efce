//! `avault exec PROFILE [-- COMMAND ARGS…]`: run a command with credentials.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

use super::issue::{self, CredentialArgs};
use super::{CliError, Context};
use crate::deliver;
use crate::output;

/// Run a command (default: your shell) with short-lived credentials for a
/// profile in its environment, or print them for credential_process.
#[derive(clap::Args)]
pub(super) struct Args {
    /// The profile
    profile: String,

    #[command(flatten)]
    creds: CredentialArgs,

    /// Print credential_process JSON (Version 1) instead of running a command:
    /// credential_process = avault exec PROFILE --json
    #[arg(short = 'j', long, conflicts_with = "command")]
    json: bool,

    /// Accepted for aws-vault compatibility (it concerns SSO's sign-in link)
    #[arg(long, hide = true)]
    stdout: bool,

    /// The command and its arguments [default: $SHELL, else /bin/sh]
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<OsString>,
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let (credentials, region) = issue::credentials(ctx, &args.profile, &args.creds)?;
    if args.json {
        output::secret(&credentials.to_process_json())?;
        return Ok(());
    }
    let mut words = args.command.into_iter();
    let program = words.next().unwrap_or_else(|| {
        std::env::var_os("SHELL")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| OsString::from("/bin/sh"))
    });
    let mut command = Command::new(&program);
    command.args(words);
    deliver::apply_to_child(&mut command, &args.profile, &credentials, region.as_deref());
    // Replace this process: signals, exit codes and the terminal go
    // straight to the command. exec only returns on failure.
    let error = command.exec();
    Err(CliError::Exec {
        program: program.to_string_lossy().into_owned(),
        source: error,
    })
}
