//! `avault unlockers`: list, add and remove the ways to open the vault.

use clap::Subcommand;

use super::init::KdfArgs;
use super::{CliError, Context};
use crate::output;
use crate::unlock::{self, NewPassphraseSource};
use crate::vault::{UnlockerRecord, VaultError};

/// List who can open the vault, or change it.
#[derive(clap::Args)]
pub(super) struct Args {
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Subcommand)]
enum Action {
    /// List the unlockers (the default)
    List,
    /// Add a passphrase or age recipients
    Add(AddArgs),
    /// Remove an unlocker by its ID (or its recipient)
    #[command(visible_alias = "rm")]
    Remove {
        /// The ID shown by `avault unlockers`, or the age1… recipient
        id: String,
    },
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["passphrase", "recipients", "yubikey"])))]
struct AddArgs {
    /// Add a passphrase, read from AVAULT_NEW_PASSPHRASE or asked twice on the terminal
    #[arg(long)]
    passphrase: bool,

    /// Add an age recipient: X25519 (age1…), YubiKey PIV (age1yubikey1…) or
    /// any plugin's (age1NAME1…); repeat for several
    #[arg(
        long = "recipient",
        short = 'r',
        value_name = "AGE_RECIPIENT",
        group = "what"
    )]
    recipients: Vec<String>,

    #[command(flatten)]
    kdf: KdfArgs,

    #[command(flatten)]
    yubikey: super::yubikey::YubiKeyArgs,
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    match args.action.unwrap_or(Action::List) {
        Action::List => list(ctx),
        Action::Add(add_args) => add(ctx, add_args),
        Action::Remove { id } => remove(ctx, &id),
    }
}

fn list(ctx: &Context) -> Result<(), CliError> {
    let (vault, keys) = ctx.unlock()?;
    let payload = vault.open(&keys)?;
    let mut rows = vec![vec![
        "ID".to_owned(),
        "Type".to_owned(),
        "Details".to_owned(),
        "Added".to_owned(),
    ]];
    for u in &payload.unlockers {
        rows.push(vec![
            u.id.clone(),
            u.kind.name().to_owned(),
            u.describe(),
            u.added.clone(),
        ]);
    }
    output::table(&rows)?;
    Ok(())
}

fn add(ctx: &Context, args: AddArgs) -> Result<(), CliError> {
    let params = args.kdf.params()?;
    let (vault, keys) = ctx.unlock_fresh()?;
    let mut records = Vec::new();
    for r in &args.recipients {
        records.push(super::yubikey::record_for(r)?);
    }
    if args.yubikey.yubikey {
        // Open first: a wrong unlock fails before the card is touched.
        drop(vault.open(&keys)?);
        records.push(super::yubikey::unlocker(&args.yubikey)?);
    }
    if args.passphrase {
        // Fail on a wrong unlock before asking for the new passphrase.
        if vault.open(&keys)?.has_passphrase() {
            return Err(VaultError::PassphraseExists.into());
        }
        let passphrase = unlock::new_passphrase(NewPassphraseSource::NewVariable)?;
        records.push(UnlockerRecord::passphrase(
            &passphrase,
            params.unwrap_or_default(),
        )?);
    }
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    vault.update(&keys, |payload| {
        for record in records {
            payload.add_unlocker(record)?;
        }
        Ok(())
    })?;
    output::status(&format!("Added unlocker(s) {}.", ids.join(", ")));
    Ok(())
}

fn remove(ctx: &Context, id: &str) -> Result<(), CliError> {
    let (vault, keys) = ctx.unlock_fresh()?;
    let payload = vault.open(&keys)?;
    let index = payload
        .find_unlocker(id)
        .ok_or_else(|| VaultError::UnlockerNotFound(id.to_owned()))?;
    if payload.unlockers.len() <= 1 {
        return Err(VaultError::LastUnlocker.into());
    }
    // Whoever held the removed unlocker may have kept the passphrase's key:
    // re-keying the passphrase needs the passphrase.
    let remaining_passphrase = payload
        .unlockers
        .iter()
        .enumerate()
        .any(|(i, u)| i != index && u.argon2id.is_some());
    drop(payload);
    let passphrase = if remaining_passphrase {
        Some(unlock::existing_passphrase(&keys)?)
    } else {
        None
    };
    let removed = vault.update(&keys, |payload| {
        let index = payload
            .find_unlocker(id)
            .ok_or_else(|| VaultError::UnlockerNotFound(id.to_owned()))?;
        payload.remove_unlocker(index, passphrase.as_ref())
    })?;
    output::status(&format!(
        "Removed unlocker {} ({}).",
        removed.id,
        removed.describe()
    ));
    Ok(())
}
