//! `avault list`: profiles, stored credentials and sessions.

use super::{CliError, Context};
use crate::config::{self, AwsConfig};
use crate::creds::{SSO_REFRESH_KIND, SSO_REGISTRATION_KIND};
use crate::output;
use crate::vault::{CachedSession, SessionCache};

/// "59m", "7h58m": the time left, as aws-vault shows it.
fn time_left(seconds: i64) -> String {
    let minutes = seconds.max(0) / 60;
    if minutes >= 60 {
        format!("{}h{}m", minutes / 60, minutes % 60)
    } else {
        format!("{minutes}m")
    }
}

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

    /// Only the names of profiles with cached sessions, one per line
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
    let vault = ctx.vault()?;
    let (stored, sessions): (Vec<String>, Vec<CachedSession>) = if vault.exists() {
        let (vault, keys) = ctx.unlock()?;
        let payload = vault.open(&keys)?;
        // An SSO client registration or refresh token is no session; an
        // SSO token shows as one (sso.CreateToken) of the profile that
        // signed in.
        let sessions = SessionCache::new(&vault, &payload)
            .all()
            .into_iter()
            .map(|(_, s)| s)
            .filter(|s| s.kind != SSO_REGISTRATION_KIND && s.kind != SSO_REFRESH_KIND)
            .collect();
        (payload.profiles.into_keys().collect(), sessions)
    } else if args.credentials || args.sessions {
        return Err(crate::vault::VaultError::NotFound(vault.path().to_owned()).into());
    } else {
        (Vec::new(), Vec::new())
    };
    if args.credentials {
        for name in &stored {
            output::line(name)?;
        }
        return Ok(());
    }
    if args.sessions {
        let mut names: Vec<&str> = sessions.iter().map(|s| s.profile.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            output::line(name)?;
        }
        return Ok(());
    }
    let mut names: Vec<String> = config.profile_names().map(str::to_owned).collect();
    for extra in stored.iter().chain(sessions.iter().map(|s| &s.profile)) {
        if !names.contains(extra) {
            names.push(extra.clone());
        }
    }
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
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let held: Vec<String> = sessions
            .iter()
            .filter(|s| s.profile == name)
            .map(|s| format!("{}:{}", s.kind, time_left(s.expires - now)))
            .collect();
        let held = if held.is_empty() {
            "-".into()
        } else {
            held.join(", ")
        };
        rows.push(vec![name, credentials, held]);
    }
    output::table(&rows)?;
    Ok(())
}
