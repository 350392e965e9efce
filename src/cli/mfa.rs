//! `avault mfa set|code PROFILE`: TOTP seeds for hands-free MFA.

use clap::Subcommand;
use secrecy::ExposeSecret;

use super::issue;
use super::{CliError, Context};
use crate::config::{FlagOverrides, ProfileChain};
use crate::mfa::TotpSeed;
use crate::output;
use crate::vault::{SessionCache, VaultError};

/// Store an MFA device's TOTP seed, or print its current code.
#[derive(clap::Args)]
pub(super) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Store the TOTP seed of PROFILE's MFA device with the key it belongs to
    Set(SetArgs),
    /// Print the current code of PROFILE's MFA device (for entering it elsewhere)
    Code {
        /// The profile
        profile: String,
    },
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("seed").required(true).args(["totp_uri", "totp_secret"])))]
struct SetArgs {
    /// The profile (its source_profile chain leads to the stored key)
    profile: String,

    /// The MFA device [default: the mfa_serial of the profile's config]
    #[arg(long, value_name = "ARN")]
    mfa_serial: Option<String>,

    /// The seed as an otpauth:// URI: `-` reads stdin, no value asks on the terminal
    #[arg(long, value_name = "URI", num_args = 0..=1, default_missing_value = "")]
    totp_uri: Option<String>,

    /// The seed as base32: `-` reads stdin, no value asks on the terminal
    #[arg(long, value_name = "BASE32", num_args = 0..=1, default_missing_value = "")]
    totp_secret: Option<String>,
}

/// The stored key and the MFA serial that belong to `profile`: the first
/// profile of its source chain with a stored key, and the first
/// `mfa_serial` on the way there.
fn key_and_serial(
    chain: &ProfileChain,
    stored: &dyn Fn(&str) -> bool,
    flag: Option<&str>,
) -> Result<(String, String), CliError> {
    let target = chain.target().name.clone();
    let key = chain
        .profiles()
        .iter()
        .find(|p| stored(&p.name))
        .map(|p| p.name.clone())
        .ok_or_else(|| VaultError::ProfileNotFound(target.clone()))?;
    let serial = flag
        .map(str::to_owned)
        .or_else(|| chain.profiles().iter().find_map(|p| p.mfa_serial.clone()))
        .ok_or_else(|| {
            CliError::input(
                format!("no MFA device is known for profile {target:?}"),
                "pass --mfa-serial ARN, or set mfa_serial in the profile's config",
            )
        })?;
    Ok((key, serial))
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    match args.action {
        Action::Set(set) => run_set(ctx, set),
        Action::Code { profile } => run_code(ctx, &profile),
    }
}

fn run_set(ctx: &Context, args: SetArgs) -> Result<(), CliError> {
    let opened = issue::open(ctx, &args.profile, FlagOverrides::default())?;
    let stored = |n: &str| opened.payload.profiles.contains_key(n);
    let (key, serial) = key_and_serial(&opened.chain, &stored, args.mfa_serial.as_deref())?;
    let seed = match (&args.totp_uri, &args.totp_secret) {
        (Some(uri), _) => {
            TotpSeed::from_uri(super::seed_input::read_seed_text(uri, "totp-uri")?.expose_secret())?
        }
        (_, Some(b32)) => TotpSeed::from_base32(
            super::seed_input::read_seed_text(b32, "totp-secret")?.expose_secret(),
            &serial,
        )?,
        (None, None) => unreachable!("clap requires one"),
    };
    let (_, keys) = ctx.unlock()?;
    opened.vault.update(&keys, |payload| {
        let stored = payload
            .profiles
            .get_mut(&key)
            .ok_or_else(|| VaultError::ProfileNotFound(key.clone()))?;
        stored.totp.insert(serial.clone(), seed.uri().clone());
        stored.mfa_serial.get_or_insert_with(|| serial.clone());
        Ok(())
    })?;
    output::status(&format!(
        "Stored the TOTP seed of {serial} with the key of profile \"{key}\"."
    ));
    Ok(())
}

fn run_code(ctx: &Context, profile: &str) -> Result<(), CliError> {
    let opened = issue::open(ctx, profile, FlagOverrides::default())?;
    let stored = |n: &str| opened.payload.profiles.contains_key(n);
    let (key, serial) = key_and_serial(&opened.chain, &stored, None)?;
    let cache = SessionCache::new(&opened.vault, &opened.payload);
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let uri = opened
        .payload
        .profiles
        .get(&key)
        .and_then(|p| p.totp.get(&serial));
    let code = match uri {
        Some(uri) => {
            let seed = TotpSeed::from_uri(uri.expose_secret())?;
            let code = seed.code_at(now)?;
            // Used up once entered elsewhere: avault must not resend it.
            let _ = cache.claim_totp_step(&serial, now / seed.period()?);
            code
        }
        // No seed stored: the YubiKey's OATH applet, when built in.
        None if cfg!(feature = "yubikey") => {
            let code = crate::mfa::yubikey_code(&serial)?;
            let _ = cache.claim_totp_step(&serial, now / 30);
            code.expose_secret().to_owned()
        }
        None => {
            return Err(CliError::input(
                format!("no TOTP seed is stored for {serial}"),
                format!("store one with: avault mfa set {profile} --totp-secret"),
            ))
        }
    };
    output::line(&code)?;
    Ok(())
}
