//! What exec and export share: the flags that shape credentials, and the
//! path from a profile name to credentials.

use std::time::Duration;

use secrecy::SecretString;

use super::{CliError, Context};
use crate::config::{self, AwsConfig, EnvOverrides, FlagOverrides, ProfileChain, Resolver};
use crate::creds::{Credentials, Provider, Request};
use crate::unlock::Keys;
use crate::vault::{Payload, SessionCache, Vault};

/// Flags that shape the credentials handed out.
#[derive(clap::Args)]
pub(super) struct CredentialArgs {
    /// Duration of the temporary or assume-role session (Go syntax: 1h, 15m, 1h30m)
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub(super) duration: Option<Duration>,

    /// Hand out the stored long-term key itself: no GetSessionToken
    #[arg(short = 'n', long)]
    pub(super) no_session: bool,

    /// The region [default: the profile's region, AWS_REGION, AWS_DEFAULT_REGION]
    #[arg(long, value_name = "REGION")]
    pub(super) region: Option<String>,

    /// The MFA code to use (visible to other users in the process list;
    /// a stored TOTP seed or the prompt avoids that)
    #[arg(short = 't', long, value_name = "CODE")]
    pub(super) mfa_token: Option<String>,
}

fn parse_duration_arg(text: &str) -> Result<Duration, String> {
    config::parse_duration(text).map_err(|e| e.to_string())
}

/// The nesting guard of aws-vault: no credentials inside a shell that
/// already has some.
pub(super) fn refuse_nesting() -> Result<(), CliError> {
    match std::env::var("AWS_VAULT") {
        Ok(profile) if !profile.is_empty() => Err(CliError::input(
            format!("this shell already runs with the credentials of profile {profile:?} (AWS_VAULT is set)"),
            "leave that subshell (exit) first, or run: unset AWS_VAULT",
        )),
        _ => Ok(()),
    }
}

/// Everything opened to issue credentials for one profile.
pub(super) struct Opened {
    pub(super) vault: Vault,
    pub(super) payload: Payload,
    pub(super) chain: ProfileChain,
    /// What opened the vault, to write it again without asking twice.
    pub(super) keys: Keys,
}

/// Loads the config, opens the vault and resolves `profile`.
pub(super) fn open(ctx: &Context, profile: &str, flags: FlagOverrides) -> Result<Opened, CliError> {
    let config = AwsConfig::load(&config::default_path()?)?;
    let env = EnvOverrides::from_env()?;
    let (vault, keys) = ctx.unlock()?;
    let payload = vault.open(&keys)?;
    let stored = |name: &str| payload.profiles.contains_key(name);
    let chain = Resolver::new(&config, &env)
        .with_flags(flags)
        .with_stored_keys(&stored)
        .resolve(profile)?;
    Ok(Opened {
        vault,
        payload,
        chain,
        keys,
    })
}

/// Credentials for `profile`, and its region.
pub(super) fn credentials(
    ctx: &Context,
    profile: &str,
    args: &CredentialArgs,
) -> Result<(Credentials, Option<String>), CliError> {
    credentials_with(ctx, profile, args, false)
}

/// [`credentials`], with `sso_no_browser` (`--stdout`): an SSO sign-in
/// prints its link and opens no browser.
pub(super) fn credentials_with(
    ctx: &Context,
    profile: &str,
    args: &CredentialArgs,
    sso_no_browser: bool,
) -> Result<(Credentials, Option<String>), CliError> {
    refuse_nesting()?;
    let opened = open(ctx, profile, args.flags())?;
    let cache = SessionCache::new(&opened.vault, &opened.payload);
    let mut request = args.request(ctx)?;
    request.sso_no_browser = sso_no_browser;
    let credentials =
        Provider::new(&opened.chain, &opened.payload, &cache, &request).credentials()?;
    Ok((credentials, opened.chain.target().region.clone()))
}

impl CredentialArgs {
    /// What the flags override in the profile's settings.
    pub(super) fn flags(&self) -> FlagOverrides {
        FlagOverrides {
            region: self.region.clone(),
            duration: self.duration,
        }
    }

    /// What the flags ask of the provider.
    pub(super) fn request(&self, ctx: &Context) -> Result<Request, CliError> {
        Ok(Request {
            no_session: self.no_session,
            mfa_token: self.mfa_token.clone().map(SecretString::from),
            prompt: ctx.prompt()?,
            sso_no_browser: false,
        })
    }
}
