//! `avault list`: profiles, stored credentials and sessions.

use super::{CliError, Context};
use crate::config::{self, AwsConfig};
use crate::output;

/// List profiles (from the AWS config), stored credentials and sessions.
#[derive(clap::Args)]
#[group(multiple = false)]
pub(super) struct Args {
    /// Only the profile names of the AWS config, one per line (no unlock needed)
    #[arg(long)]
    profiles: bool,

    /// Only the names of profiles with stored credentials, one per line
    #[arg(long)]
    credentials: bool,

    /// Only the names of cached sessions, one per line
    #[arg(long)]
    sessions: bool,
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let config = AwsConfig::load(&config::default_path()?)?;
    if args.profiles {
        for name in config.profile_names() {
            output::line(name)?;
        }
        return Ok(());
    }
    if args.sessions {
        // Sessions are kept in the session cache, which holds none yet:
        // nothing to print.
        return Ok(());
    }
    let vault = ctx.vault()?;
    let stored: Vec<String> = if vault.exists() {
        let (vault, keys) = ctx.unlock()?;
        vault.open(&keys)?.profiles.into_keys().collect()
    } else if args.credentials {
        return Err(crate::vault::VaultError::NotFound(vault.path().to_owned()).into());
    } else {
        Vec::new()
    };
    if args.credentials {
        for name in &stored {
            output::line(name)?;
        }
        return Ok(());
    }
    let mut names: Vec<String> = config.profile_names().map(str::to_owned).collect();
    names.extend(
        stored
            .iter()
            .filter(|s| !names.contains(s))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let mut rows = vec![
        vec!["Profile".into(), "Credentials".into(), "Sessions".into()],
        vec!["=======".into(), "===========".into(), "========".into()],
    ];
    for name in names {
        let credentials = if stored.contains(&name) {
            name.clone()
        } else {
            "-".into()
        };
        rows.push(vec![name, credentials, "-".into()]);
    }
    output::table(&rows)?;
    Ok(())
}
