//! `avault passwd`: change the passphrase.

use super::init::KdfArgs;
use super::{CliError, Context};
use crate::output;
use crate::unlock::{self, NewPassphraseSource};

/// Change the vault's passphrase. The new one is read from
/// AVAULT_NEW_PASSPHRASE or asked twice on the terminal.
#[derive(clap::Args)]
pub(super) struct Args {
    #[command(flatten)]
    kdf: KdfArgs,
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let params = args.kdf.params()?;
    let (vault, keys) = ctx.unlock_fresh()?;
    // Open first, so a wrong current passphrase fails before the new one is asked.
    let current = vault.open(&keys)?;
    if !current.has_passphrase() {
        return Err(crate::vault::VaultError::NoPassphrase.into());
    }
    drop(current);
    let new = unlock::new_passphrase(NewPassphraseSource::NewVariable)?;
    vault.update(&keys, |payload| payload.change_passphrase(&new, params))?;
    output::status("Changed the vault passphrase.");
    Ok(())
}
