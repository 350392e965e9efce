//! `avault rotate PROFILE [-n]`: replace the stored long-term key behind a
//! profile with a new one, as aws-vault does (COMPAT.md).
//!
//! The order is what keeps a working key in the vault whatever happens:
//! a fresh session of the old key (never the session cache; one MFA code
//! for the whole rotation), CreateAccessKey, the new key written to the
//! vault atomically, the sessions of the old key dropped, the new key
//! checked with STS, and only then DeleteAccessKey of the old key. Until
//! the vault write the vault is untouched; after it, the vault holds the
//! new key, and a failure leaves at most a second key in IAM, which the
//! message names.

use std::time::{Duration, Instant};

use super::issue::{self, Opened};
use super::{CliError, Context};
use crate::config::{self, AwsConfig, EnvOverrides, FlagOverrides, Profile, Resolver};
use crate::creds::{self, iam, Credentials, CredsError, Iam, IamError, Provider, Request, Sts};
use crate::output;
use crate::vault::{SessionCache, VaultError};

/// How long the session used for the rotation lasts: the shortest STS
/// grants, plenty for a few calls.
const SESSION_LENGTH: Duration = Duration::from_secs(900);
/// IAM is eventually consistent: a new key may take seconds to work, and
/// throttling or an outage may pass. Calls are tried again this often…
const RETRY_EVERY: Duration = Duration::from_secs(2);
/// …for this long.
const RETRY_FOR: Duration = Duration::from_secs(20);

/// Replace a profile's stored access key with a new one and delete the old.
#[derive(clap::Args)]
pub(super) struct Args {
    /// The profile (a role profile rotates the key its source_profile chain leads to)
    profile: String,

    /// Make the IAM calls with the stored key itself: no GetSessionToken, no MFA
    #[arg(short = 'n', long)]
    no_session: bool,
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let opened = issue::open(ctx, &args.profile, FlagOverrides::default())?;
    let chain = &opened.chain;
    let key_profile = chain
        .profiles()
        .iter()
        .find(|p| opened.payload.profiles.contains_key(&p.name))
        .ok_or_else(|| {
            CliError::input(
                format!("no stored key behind profile {:?}", args.profile),
                format!("store one with: avault add {}", chain.root().name),
            )
        })?;
    let old = stored_key(&opened, &key_profile.name)?;
    let cache = SessionCache::new(&opened.vault, &opened.payload);
    let request = Request {
        no_session: args.no_session,
        mfa_token: None,
        prompt: ctx.prompt()?,
    };

    let session = if args.no_session {
        old.clone()
    } else {
        // The key's own device first: its user is the one being changed.
        let asks = [key_profile, chain.target()]
            .into_iter()
            .find(|p| p.mfa_serial.is_some())
            .unwrap_or(key_profile);
        Provider::new(chain, &opened.payload, &cache, &request).fresh_session_token(
            key_profile,
            asks,
            asks.mfa_serial.as_deref(),
            SESSION_LENGTH,
        )?
    };
    let sts = Sts::new(creds::sts_endpoint(chain.target())).map_err(CredsError::from)?;
    let arn = sts
        .get_caller_identity(&session)
        .map_err(CredsError::from)?;
    let user = iam::user_name_from_arn(&arn)?;
    let iam = Iam::new(iam::iam_endpoint(key_profile))?;

    output::status(&format!(
        "Rotating the key of profile {} (IAM user {user}, key {}); this can take 20 seconds.",
        key_profile.name, old.access_key_id
    ));
    let new = iam
        .create_access_key(&session, &user)
        .map_err(|e| refused_new_key(e, &user))?;
    store(&opened, &key_profile.name, &new, &user)?;
    drop_sessions(&opened, &cache, &key_profile.name, &old.access_key_id);

    let delete_old = format!(
        "aws iam delete-access-key --user-name {user} --access-key-id {}",
        old.access_key_id
    );
    if retry(|_| true, || sts.get_caller_identity(&new)).is_err() {
        return Err(CliError::Incomplete {
            message: format!(
                "the new key {} is stored, but STS did not accept it within {} s; the old key {} was not deleted",
                new.access_key_id,
                RETRY_FOR.as_secs(),
                old.access_key_id
            ),
            hint: format!(
                "both keys are active: once `avault exec {} -- aws sts get-caller-identity` works, run: {delete_old}",
                args.profile
            ),
        });
    }
    if let Err(e) = retry(IamError::is_transient, || {
        iam.delete_access_key(&session, &user, &old.access_key_id)
    }) {
        return Err(CliError::Incomplete {
            message: format!(
                "the new key {} is stored, but deleting the old key {} failed: {e}",
                new.access_key_id, old.access_key_id
            ),
            hint: format!("the old key is still active: delete it with: {delete_old}"),
        });
    }
    output::line(&format!(
        "Rotated the key of profile {}: {} → {} (old key deleted)",
        key_profile.name, old.access_key_id, new.access_key_id
    ))?;
    Ok(())
}

fn stored_key(opened: &Opened, name: &str) -> Result<Credentials, CliError> {
    let stored = opened
        .payload
        .profiles
        .get(name)
        .ok_or_else(|| VaultError::ProfileNotFound(name.to_owned()))?;
    Ok(Credentials {
        access_key_id: stored.access_key_id.clone(),
        secret_access_key: stored.secret_access_key.clone(),
        session_token: None,
        expiration: None,
    })
}

/// CreateAccessKey failed: nothing has changed; say what to do.
fn refused_new_key(e: IamError, user: &str) -> CliError {
    if !e.is_key_limit() {
        return e.into();
    }
    CliError::Incomplete {
        message: format!("{e}; the vault is unchanged"),
        hint: format!(
            "user {user} already has two access keys: delete the unused one \
             (aws iam list-access-keys --user-name {user}; \
             aws iam delete-access-key --user-name {user} --access-key-id ID) \
             and run avault rotate again"
        ),
    }
}

/// Replaces the key of `name` in the vault (atomically, under the lock),
/// keeping its TOTP seeds and creation time.
fn store(opened: &Opened, name: &str, new: &Credentials, user: &str) -> Result<(), CliError> {
    let now = crate::time_fmt::now_rfc3339();
    opened
        .vault
        .update(&opened.keys, |payload| {
            let stored = payload
                .profiles
                .get_mut(name)
                .ok_or_else(|| VaultError::ProfileNotFound(name.to_owned()))?;
            stored.access_key_id = new.access_key_id.clone();
            stored.secret_access_key = new.secret_access_key.clone();
            stored.rotated = Some(now);
            Ok(())
        })
        .map_err(|e| CliError::Incomplete {
            message: format!(
                "the new key {} was created but could not be stored: {e}",
                new.access_key_id
            ),
            hint: format!(
                "the vault still holds the old key, which still works; delete the new one: \
                 aws iam delete-access-key --user-name {user} --access-key-id {}",
                new.access_key_id
            ),
        })
}

/// Drops every cached session made from the old key: the GetSessionToken
/// sessions named after it, and the sessions of every profile whose chain
/// leads to `key_profile`. The cache is disposable: a failure is a warning.
fn drop_sessions(opened: &Opened, cache: &SessionCache, key_profile: &str, old_key_id: &str) {
    let mut profiles = vec![key_profile.to_owned()];
    profiles.extend(profiles_using(opened, key_profile));
    let dropped = cache
        .remove(|key, session| key.contains(old_key_id) || profiles.contains(&session.profile));
    if let Err(e) = dropped {
        output::warn(&format!(
            "cannot drop the sessions of the old key: {e}; run: avault clear"
        ));
    }
}

/// The profiles of the config whose credentials come from the key stored
/// under `key_profile`.
fn profiles_using(opened: &Opened, key_profile: &str) -> Vec<String> {
    let (Ok(path), Ok(env)) = (config::default_path(), EnvOverrides::from_env()) else {
        return Vec::new();
    };
    let Ok(config) = AwsConfig::load(&path) else {
        return Vec::new();
    };
    let stored = |name: &str| opened.payload.profiles.contains_key(name);
    let resolver = Resolver::new(&config, &env).with_stored_keys(&stored);
    config
        .profile_names()
        .filter(|name| {
            resolver.resolve(name).is_ok_and(|chain| {
                chain
                    .profiles()
                    .iter()
                    .map(|p: &Profile| p.name.as_str())
                    .find(|n| stored(n))
                    == Some(key_profile)
            })
        })
        .map(str::to_owned)
        .collect()
}

/// Calls `call` until it succeeds, fails in a way `worth_retrying` rejects,
/// or [`RETRY_FOR`] has passed.
fn retry<T, E>(
    worth_retrying: impl Fn(&E) -> bool,
    mut call: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = Instant::now() + RETRY_FOR;
    loop {
        match call() {
            Ok(v) => return Ok(v),
            Err(e) if !worth_retrying(&e) || Instant::now() + RETRY_EVERY > deadline => {
                return Err(e)
            }
            Err(_) => std::thread::sleep(RETRY_EVERY),
        }
    }
}
