//! `avault add PROFILE`: store a long-term access key.

use clap::ArgAction;
use secrecy::{ExposeSecret, SecretString};

use super::{CliError, Context};
use crate::config::{self, AwsConfig};
use crate::mfa::TotpSeed;
use crate::output;
use crate::terminal::Terminal;
use crate::vault::{SessionCache, StoredProfile};

/// Store a profile's long-term AWS access key in the vault.
#[derive(clap::Args)]
pub(super) struct Args {
    /// The profile name
    profile: String,

    /// Read the key from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead
    /// of asking on the terminal
    #[arg(long)]
    env: bool,

    /// Append [profile PROFILE] to the AWS config file when it is missing
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    add_config: bool,

    /// Same as --add-config=false (aws-vault's spelling)
    #[arg(long, conflicts_with = "add_config")]
    no_add_config: bool,

    /// The ARN (or hardware serial) of this key's MFA device
    /// [default: the profile's mfa_serial in the AWS config]
    #[arg(long, value_name = "ARN")]
    mfa_serial: Option<String>,

    /// Store the MFA device's TOTP seed as an otpauth:// URI. Give `-` to read
    /// it from stdin, or no value to type it hidden on the terminal; a value
    /// here is visible to other users in the process list
    #[arg(long, value_name = "URI", num_args = 0..=1, default_missing_value = "",
          conflicts_with = "totp_secret")]
    totp_uri: Option<String>,

    /// Store the MFA device's TOTP seed as its base32 secret. Give `-` to read
    /// it from stdin, or no value to type it hidden on the terminal; a value
    /// here is visible to other users in the process list
    #[arg(long, value_name = "BASE32", num_args = 0..=1, default_missing_value = "")]
    totp_secret: Option<String>,
}

/// Checks a profile name: it must fit in an INI section header.
pub(super) fn check_profile_name(name: &str) -> Result<(), CliError> {
    let bad = name.is_empty()
        || name.trim() != name
        || name
            .chars()
            .any(|c| c.is_control() || c == '[' || c == ']' || c == ';' || c == '#');
    if bad {
        return Err(CliError::usage(
            format!("{name:?} is not a usable profile name"),
            "use letters, digits and - _ . / @ +, without spaces at either end",
        ));
    }
    Ok(())
}

/// Checks the shape of an access key id: 16-128 upper-case letters and
/// digits; `ASIA…` keys are temporary and cannot be stored alone.
pub(super) fn check_access_key_id(id: &str) -> Result<(), CliError> {
    let hint = "copy the access key id (it starts with AKIA) from the IAM console or `aws iam create-access-key`";
    if !(16..=128).contains(&id.len())
        || !id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Err(CliError::input(
            format!(
                "the access key id must be 16 to 128 upper-case letters and digits (got {} characters)",
                id.chars().count()
            ),
            hint,
        ));
    }
    if id.starts_with("ASIA") {
        return Err(CliError::input(
            "that access key id (ASIA…) belongs to temporary credentials, which expire",
            "store a long-term IAM user key (AKIA…)",
        ));
    }
    Ok(())
}

pub(super) fn check_secret_key(secret: &SecretString) -> Result<(), CliError> {
    let s = secret.expose_secret();
    if !(16..=128).contains(&s.len()) || !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(CliError::input(
            "the secret access key must be 16 to 128 printable characters without spaces",
            "paste the secret exactly as AWS showed it (usually 40 characters)",
        ));
    }
    Ok(())
}

pub(super) fn check_mfa_serial(serial: &str) -> Result<(), CliError> {
    let arn_ok = serial
        .strip_prefix("arn:")
        .and_then(|rest| {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            (parts.len() == 5
                && parts[0].starts_with("aws")
                && parts[1] == "iam"
                && parts[3].len() == 12
                && parts[3].chars().all(|c| c.is_ascii_digit())
                && parts[4].starts_with("mfa/")
                && parts[4].len() > 4)
                .then_some(())
        })
        .is_some();
    let hardware_ok = !serial.starts_with("arn:")
        && (9..=256).contains(&serial.len())
        && serial.chars().all(|c| c.is_ascii_alphanumeric());
    if arn_ok || hardware_ok {
        Ok(())
    } else {
        Err(CliError::input(
            format!("{serial:?} is not an MFA device serial"),
            "use the device ARN, arn:aws:iam::ACCOUNT:mfa/NAME, or a hardware token's serial",
        ))
    }
}

fn read_key(args: &Args) -> Result<(String, SecretString), CliError> {
    if args.env {
        let id = std::env::var("AWS_ACCESS_KEY_ID")
            .ok()
            .filter(|v| !v.is_empty());
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
            .ok()
            .filter(|v| !v.is_empty());
        return match (id, secret) {
            (Some(id), Some(secret)) => Ok((id.trim().to_owned(), SecretString::from(secret))),
            _ => Err(CliError::input(
                "--env needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                "set both, or leave out --env to type them",
            )),
        };
    }
    let mut tty = Terminal::open().ok_or_else(|| {
        CliError::input(
            "no terminal to ask for the key on",
            "pass --env with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set",
        )
    })?;
    let id = tty
        .ask_visible("Enter Access Key ID: ")
        .map_err(crate::unlock::UnlockError::Terminal)?;
    check_access_key_id(&id)?;
    let secret = tty
        .ask_hidden("Enter Secret Access Key: ")
        .map_err(crate::unlock::UnlockError::Terminal)?;
    Ok((id, secret))
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    check_profile_name(&args.profile)?;
    let config_path = config::default_path()?;
    let config = AwsConfig::load(&config_path)?;
    let section = config.profile(&args.profile);
    if let Some(source) = section.and_then(|s| s.get("source_profile")) {
        if source != args.profile {
            return Err(CliError::input(
                format!(
                    "profile {:?} has source_profile = {source}: its credentials come from there",
                    args.profile
                ),
                format!("store the key for {source} instead: avault add {source}"),
            ));
        }
    }
    let mfa_serial = args
        .mfa_serial
        .clone()
        .or_else(|| section.and_then(|s| s.get("mfa_serial")).map(str::to_owned));
    if let Some(serial) = &mfa_serial {
        check_mfa_serial(serial)?;
    }
    // Everything that can be checked is checked before anything is asked.
    let (unlock_vault, keys) = ctx.unlock()?;
    let seed = match (&args.totp_uri, &args.totp_secret) {
        (None, None) => None,
        (uri, secret) => {
            let serial = mfa_serial.as_deref().ok_or_else(|| {
                CliError::input(
                    "a TOTP seed belongs to an MFA device, and none is known for this profile",
                    "pass --mfa-serial ARN, or set mfa_serial in the profile's config",
                )
            })?;
            Some(match (uri, secret) {
                (Some(uri), _) => TotpSeed::from_uri(
                    super::seed_input::read_seed_text(uri, "totp-uri")?.expose_secret(),
                )?,
                (_, Some(b32)) => TotpSeed::from_base32(
                    super::seed_input::read_seed_text(b32, "totp-secret")?.expose_secret(),
                    serial,
                )?,
                (None, None) => unreachable!("handled above"),
            })
        }
    };
    // Open before asking for the key: a wrong passphrase should not cost typing.
    drop(unlock_vault.open(&keys)?);
    let (access_key_id, secret) = read_key(&args)?;
    check_access_key_id(&access_key_id)?;
    check_secret_key(&secret)?;

    let now = crate::time_fmt::now_rfc3339();
    let profile = args.profile.clone();
    let replaced = unlock_vault.update(&keys, |payload| {
        let previous = payload.profiles.remove(&profile);
        let mut totp = kept_seeds(previous.as_ref());
        if let (Some(seed), Some(serial)) = (seed, mfa_serial.clone()) {
            totp.insert(serial, seed.uri().clone());
        }
        let created = previous
            .as_ref()
            .map(|p| p.created.clone())
            .unwrap_or_else(|| now.clone());
        payload.profiles.insert(
            profile.clone(),
            StoredProfile {
                access_key_id,
                secret_access_key: secret,
                mfa_serial: mfa_serial.clone(),
                totp,
                created,
                rotated: previous.as_ref().map(|_| now.clone()),
            },
        );
        // A new key makes its old sessions stale (aws-vault drops them too).
        SessionCache::new(&unlock_vault, payload).remove(|_, s| s.profile == profile)?;
        Ok(previous.is_some())
    })?;
    let add_config = args.add_config && !args.no_add_config;
    if add_config && config::append_profile(&config_path, &args.profile, mfa_serial.as_deref())? {
        output::status(&format!(
            "Added [profile {}] to {}.",
            args.profile,
            config_path.display()
        ));
    }
    output::status(&format!(
        "{} credentials of profile \"{}\" in vault.",
        if replaced { "Replaced the" } else { "Added" },
        args.profile
    ));
    Ok(())
}

/// Seeds of a replaced key stay: a new key for the same profile is almost
/// always the same IAM user with the same MFA device.
fn kept_seeds(
    previous: Option<&StoredProfile>,
) -> std::collections::BTreeMap<String, SecretString> {
    previous
        .map(|p| p.totp.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_id_shapes() {
        assert!(check_access_key_id("AKIAIOSFODNN7EXAMPLE").is_ok());
        assert!(check_access_key_id("akiaiosfodnn7example").is_err());
        assert!(check_access_key_id("AKIA123").is_err());
        assert!(check_access_key_id("ASIAIOSFODNN7EXAMPLE").is_err());
    }

    #[test]
    fn mfa_serial_shapes() {
        assert!(check_mfa_serial("arn:aws:iam::123456789012:mfa/alice").is_ok());
        assert!(check_mfa_serial("arn:aws-us-gov:iam::123456789012:mfa/a").is_ok());
        assert!(check_mfa_serial("GAHT12345678").is_ok());
        assert!(check_mfa_serial("arn:aws:iam::1234:mfa/alice").is_err());
        assert!(check_mfa_serial("arn:aws:iam::123456789012:user/alice").is_err());
    }

    #[test]
    fn profile_names() {
        assert!(check_profile_name("team/ops%1").is_ok());
        assert!(check_profile_name("a]b").is_err());
        assert!(check_profile_name(" a").is_err());
        assert!(check_profile_name("").is_err());
    }
}
