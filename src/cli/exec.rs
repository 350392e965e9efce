//! `avault exec PROFILE [-- COMMAND ARGS…]`: run a command with credentials,
//! in its environment or from a credential server that lives as long as it.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;

use super::issue::{self, CredentialArgs};
use super::{CliError, Context, ExitStatus};
use crate::creds::Issuer;
use crate::deliver::{self, ServerVars};
use crate::output;
use crate::serve::{self, AssumeRole, Supply, DEFAULT_EC2_PORT};
use crate::vault::SessionCache;

/// Run a command (default: your shell) with short-lived credentials for a
/// profile in its environment, or print them for credential_process.
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("server").args(["ecs_server", "ec2_server"]))]
pub(super) struct Args {
    /// The profile
    profile: String,

    #[command(flatten)]
    creds: CredentialArgs,

    /// Print credential_process JSON (Version 1) instead of running a command:
    /// credential_process = avault exec PROFILE --json
    #[arg(short = 'j', long, conflicts_with_all = ["command", "server"])]
    json: bool,

    /// Serve credentials to the command from a local ECS credentials endpoint
    /// (AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN)
    /// instead of putting keys in its environment; refreshed before they expire
    #[arg(
        short = 's',
        long = "ecs-server",
        visible_alias = "server",
        conflicts_with = "no_session"
    )]
    ecs_server: bool,

    /// Serve credentials to the command from local EC2 instance metadata
    /// endpoints (IMDSv1 and v2) on 127.0.0.1; the command gets
    /// AWS_EC2_METADATA_SERVICE_ENDPOINT
    #[arg(long, conflicts_with = "no_session")]
    ec2_server: bool,

    /// With a server: get credentials at the first request, not before the
    /// command starts
    #[arg(long, requires = "server")]
    lazy: bool,

    /// The port of --ec2-server on 127.0.0.1 (0: any free port) [default: 9099,
    /// where avault proxy forwards the metadata address]
    #[arg(long, value_name = "PORT", requires = "ec2_server")]
    ec2_port: Option<u16>,

    /// Print the SSO sign-in link instead of opening a browser (SSO profiles
    /// only; the link and code go to the terminal, else stderr)
    #[arg(long)]
    stdout: bool,

    /// The command and its arguments [default: $SHELL, else /bin/sh]
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<OsString>,
}

/// The command to run, and its name for messages.
fn child_command(words: Vec<OsString>) -> (Command, String) {
    let mut words = words.into_iter();
    let program = words.next().unwrap_or_else(|| {
        std::env::var_os("SHELL")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| OsString::from("/bin/sh"))
    });
    let mut command = Command::new(&program);
    command.args(words);
    (command, program.to_string_lossy().into_owned())
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<ExitStatus, CliError> {
    if args.ecs_server || args.ec2_server {
        return serve(ctx, args);
    }
    let (credentials, region) =
        issue::credentials_with(ctx, &args.profile, &args.creds, args.stdout)?;
    if args.json {
        output::secret(&credentials.to_process_json())?;
        return Ok(ExitStatus::Success);
    }
    let (mut command, program) = child_command(args.command);
    deliver::apply_to_child(&mut command, &args.profile, &credentials, region.as_deref());
    // Replace this process: signals, exit codes and the terminal go
    // straight to the command. exec only returns on failure.
    let source = command.exec();
    Err(CliError::Exec { program, source })
}

/// Server mode: credentials from a local endpoint for as long as the
/// command runs; its exit code is ours.
fn serve(ctx: &Context, args: Args) -> Result<ExitStatus, CliError> {
    issue::refuse_nesting()?;
    let opened = issue::open(ctx, &args.profile, args.creds.flags())?;
    let cache = SessionCache::new(&opened.vault, &opened.payload);
    let mut request = args.creds.request(ctx)?;
    request.sso_no_browser = args.stdout;
    let issuer = Arc::new(Issuer::new(opened.chain, opened.payload, cache, request));
    let region = issuer.region().map(str::to_owned);
    let min_left = issuer.min_left();
    let source = Arc::clone(&issuer);
    let supply = Arc::new(Supply::new(min_left, move || source.credentials()));
    if !args.lazy {
        // MFA now, before the command starts, rather than at its first call.
        supply.get()?;
    }
    let started = if args.ecs_server {
        let assume: Arc<AssumeRole> = Arc::new(move |base, arn| issuer.assume_role(base, arn));
        serve::start_ecs(supply, min_left, assume)?
    } else {
        serve::start_ec2(
            supply,
            region.clone(),
            args.ec2_port.unwrap_or(DEFAULT_EC2_PORT),
        )?
    };
    output::debug(ctx.debug, &format!("credential server on {}", started.url));
    let vars = match &started.token {
        Some(token) => ServerVars::Ecs {
            url: &started.url,
            token,
        },
        None => ServerVars::Ec2 { url: &started.url },
    };
    let (mut command, program) = child_command(args.command);
    deliver::apply_server_to_child(&mut command, &args.profile, region.as_deref(), &vars);
    let code =
        deliver::run_child(&mut command).map_err(|source| CliError::Exec { program, source });
    started.server.stop();
    Ok(ExitStatus::Child(code?))
}
