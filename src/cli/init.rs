//! `avault init`: create a vault.

use super::{CliError, Context};
use crate::output;
use crate::unlock::{self, KdfParams, NewPassphraseSource};
use crate::vault::{Payload, UnlockerRecord, VaultError};

/// Create a new vault. With no option, it is protected by a passphrase.
#[derive(clap::Args)]
pub(super) struct Args {
    /// Protect the vault with a passphrase, read from AVAULT_PASSPHRASE,
    /// AWS_VAULT_FILE_PASSPHRASE or AVAULT_PASSPHRASE_COMMAND, or asked twice
    /// on the terminal (the default when no --recipient is given)
    #[arg(long)]
    passphrase: bool,

    /// An age recipient whose identity may open the vault: X25519 (age1…),
    /// YubiKey PIV (age1yubikey1…) or any plugin's (age1NAME1…);
    /// repeat for several
    #[arg(long = "recipient", short = 'r', value_name = "AGE_RECIPIENT")]
    recipients: Vec<String>,

    #[command(flatten)]
    kdf: KdfArgs,

    #[command(flatten)]
    yubikey: super::yubikey::YubiKeyArgs,
}

/// Argon2id cost, shared by the commands that set a passphrase.
#[derive(clap::Args)]
pub(super) struct KdfArgs {
    /// Argon2id memory for the passphrase, in MiB (1-1024) [default: 64]
    #[arg(long, value_name = "MIB")]
    pub(super) kdf_memory: Option<u32>,

    /// Argon2id passes for the passphrase (1-16) [default: 3]
    #[arg(long, value_name = "N")]
    pub(super) kdf_time: Option<u32>,
}

impl KdfArgs {
    /// The chosen parameters, or `None` when neither flag was given.
    pub(super) fn params(&self) -> Result<Option<KdfParams>, CliError> {
        if self.kdf_memory.is_none() && self.kdf_time.is_none() {
            return Ok(None);
        }
        let d = KdfParams::default();
        let memory = self.kdf_memory.unwrap_or(d.m_kib / 1024);
        let time = self.kdf_time.unwrap_or(d.t);
        Ok(Some(KdfParams::from_user(memory, time)?))
    }
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let vault = ctx.vault()?;
    if vault.exists() {
        return Err(VaultError::AlreadyExists(vault.path().to_owned()).into());
    }
    let params = args.kdf.params()?;
    let use_passphrase = args.passphrase || (args.recipients.is_empty() && !args.yubikey.yubikey);
    if params.is_some() && !use_passphrase {
        return Err(CliError::usage(
            "--kdf-memory and --kdf-time set the passphrase's cost",
            "add --passphrase, or leave them out",
        ));
    }
    let mut unlockers = Vec::new();
    for recipient in &args.recipients {
        unlockers.push(super::yubikey::record_for(recipient)?);
    }
    if args.yubikey.yubikey {
        unlockers.push(super::yubikey::unlocker(&args.yubikey)?);
    }
    if use_passphrase {
        let passphrase = unlock::new_passphrase(NewPassphraseSource::UnlockVariables)?;
        unlockers.insert(
            0,
            UnlockerRecord::passphrase(&passphrase, params.unwrap_or_default())?,
        );
    }
    let kinds: Vec<String> = unlockers.iter().map(|u| u.kind.name().to_owned()).collect();
    vault.create(&Payload::new(unlockers))?;
    output::status(&format!(
        "Created vault {} (unlockers: {}).",
        vault.path().display(),
        kinds.join(", ")
    ));
    Ok(())
}
