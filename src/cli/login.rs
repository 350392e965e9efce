//! `avault login [PROFILE]`: open the AWS console signed in with a
//! profile's credentials (or the environment's), or print the sign-in URL.
//!
//! Role, web-identity and credential_process credentials are used as they
//! are; a user's own long-term key goes through GetFederationToken first
//! (with the raw key: AWS refuses session credentials there).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::issue::{self, CredentialArgs};
use super::{CliError, Context};
use crate::config::{EnvOverrides, Location, Profile, StsRegionalEndpoints, GET_FEDERATION_TOKEN};
use crate::creds::{sts_endpoint, Credentials, CredsError, Provider, Sts, StsEndpoint};
use crate::deliver::{self, FederationEndpoint, Opened, Partition};
use crate::output;
use crate::vault::SessionCache;

/// Open the AWS console in a browser, signed in with a profile's
/// credentials, or print the sign-in URL.
#[derive(clap::Args)]
#[command(after_help = "\
Environment:
  AWS_FEDERATION_TOKEN_TTL  lifetime of a user key's federated session [1h]
  BROWSER                   the browser to start (a colon-separated list), tried
                            before xdg-open (Linux) or open (macOS)
  AVAULT_FEDERATION_URL     send the getSigninToken exchange to this URL instead of
                            the partition's sign-in endpoint (for tests: http://
                            only to 127.0.0.1 or localhost); the printed URL keeps
                            the real sign-in host

The browser gets the URL as an argument, which other users of this machine can
see in the process list for a moment: on a shared host, use --stdout.")]
pub(super) struct Args {
    /// The profile [default: AWS_PROFILE; with neither, the credentials in
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN]
    #[arg(env = "AWS_PROFILE", hide_env = true)]
    profile: Option<String>,

    #[command(flatten)]
    creds: CredentialArgs,

    /// The console page to open instead of the home page, e.g. s3 or ec2/home
    #[arg(long, value_name = "PATH")]
    path: Option<String>,

    /// Print the sign-in URL on stdout instead of opening a browser (and an
    /// SSO profile's sign-in link, on the terminal)
    #[arg(
        short = 's',
        long,
        env = "AWS_VAULT_STDOUT",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    stdout: bool,
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let (credentials, region) = match args.profile.as_deref().filter(|p| !p.is_empty()) {
        Some(profile) => from_profile(ctx, profile, &args.creds, args.stdout)?,
        None => from_environment(ctx, &args.creds)?,
    };
    let region = region.unwrap_or_else(|| deliver::DEFAULT_REGION.to_owned());
    let partition = Partition::of_region(&region);
    let exchange = match std::env::var_os(deliver::FEDERATION_URL_VAR) {
        Some(url) if !url.is_empty() => FederationEndpoint::parse(&url.to_string_lossy())?,
        _ => FederationEndpoint::parse(partition.federation_url())?,
    };
    output::debug(
        ctx.debug,
        &format!("requesting a sign-in token from {exchange} for {region}"),
    );
    let token = deliver::request_signin_token(&exchange, &credentials, deliver::EXCHANGE_TIMEOUT)?;
    let destination = deliver::destination(&region, args.path.as_deref());
    let url = deliver::login_url(partition.federation_url(), &destination, &token);
    if args.stdout {
        return print_url(&url);
    }
    let browser = std::env::var("BROWSER").ok();
    match deliver::open_url(&url, &deliver::openers(browser.as_deref())) {
        Opened::With(program) => {
            output::debug(ctx.debug, &format!("the sign-in URL went to {program}"));
            Ok(())
        }
        Opened::Not(why) => {
            print_url(&url)?;
            output::warn(&format!(
                "cannot open a browser ({}): open the sign-in URL printed above",
                why.join("; ")
            ));
            Ok(())
        }
    }
}

fn print_url(url: &SecretString) -> Result<(), CliError> {
    let line = Zeroizing::new(format!("{}\n", url.expose_secret()));
    output::secret(line.as_bytes())?;
    Ok(())
}

/// Credentials for `profile` and its region: a user's own key federated,
/// anything else as the provider gives it.
fn from_profile(
    ctx: &Context,
    profile: &str,
    args: &CredentialArgs,
    sso_no_browser: bool,
) -> Result<(Credentials, Option<String>), CliError> {
    let opened = issue::open(ctx, profile, args.flags())?;
    let target = opened.chain.target();
    let region = target.region.clone();
    let endpoint = sts_endpoint(target);
    // The resolver has held --duration to 15m..36h, GetFederationToken's range.
    let duration = args
        .duration
        .unwrap_or(opened.chain.ttls().federation_token);
    if let Some((owner, key)) = deliver::own_long_term_key(&opened.chain, &opened.payload) {
        output::debug(
            ctx.debug,
            &format!("profile {owner:?} is a user's own key: a federated session for the console"),
        );
        return Ok((federate(ctx, &key, endpoint, duration)?, region));
    }
    let cache = SessionCache::new(&opened.vault, &opened.payload);
    let mut request = args.request(ctx)?;
    request.sso_no_browser = sso_no_browser;
    let credentials =
        Provider::new(&opened.chain, &opened.payload, &cache, &request).credentials()?;
    if credentials.session_token.is_none() {
        // credential_process may hand out a long-term key.
        return Ok((federate(ctx, &credentials, endpoint, duration)?, region));
    }
    Ok((credentials, region))
}

/// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
/// AWS_SESSION_TOKEN (federated when there is no session token), and the
/// region from --region, AWS_REGION or AWS_DEFAULT_REGION.
fn from_environment(
    ctx: &Context,
    args: &CredentialArgs,
) -> Result<(Credentials, Option<String>), CliError> {
    let env = EnvOverrides::from_env()?;
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(access_key_id), Some(secret)) =
        (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
    else {
        return Err(CliError::input(
            "no profile given and no credentials in the environment \
             (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
            "name a profile: avault login PROFILE",
        ));
    };
    let credentials = Credentials {
        access_key_id,
        secret_access_key: SecretString::from(secret),
        session_token: var("AWS_SESSION_TOKEN").map(SecretString::from),
        expiration: None,
    };
    let region = args.region.clone().or(env.region().map(str::to_owned));
    if credentials.session_token.is_some() {
        return Ok((credentials, region));
    }
    let duration = match args.duration {
        Some(d) => GET_FEDERATION_TOKEN.check(d, Location::Flag("--duration"))?,
        None => env.ttls.federation_token,
    };
    let mut profile = Profile::new("environment");
    profile.region = region.clone();
    profile.sts_endpoint_url = env.sts_endpoint_url.clone().or(env.endpoint_url.clone());
    profile.sts_regional_endpoints = env
        .sts_regional_endpoints
        .as_deref()
        .and_then(StsRegionalEndpoints::parse);
    let federated = federate(ctx, &credentials, sts_endpoint(&profile), duration)?;
    Ok((federated, region))
}

/// GetFederationToken with a long-term key, named after the OS user.
fn federate(
    ctx: &Context,
    key: &Credentials,
    endpoint: StsEndpoint,
    duration: Duration,
) -> Result<Credentials, CliError> {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()));
    let name = deliver::federated_user_name(user.as_deref());
    output::debug(
        ctx.debug,
        &format!(
            "GetFederationToken as {name:?} for {}",
            crate::config::format_duration(duration)
        ),
    );
    let sts = Sts::new(endpoint).map_err(CredsError::from)?;
    let credentials = sts
        .get_federation_token(key, &name, deliver::ALLOW_ALL_POLICY, duration)
        .map_err(CredsError::from)?;
    Ok(credentials)
}
