//! Rotating the stored long-term key behind a profile, as aws-vault does
//! (COMPAT.md): `avault rotate`.
//!
//! The order is what keeps a working key in the vault whatever happens:
//! a fresh session of the old key (never the session cache; one MFA code
//! for the whole rotation), CreateAccessKey, the new key written to the
//! vault atomically, the sessions of the old key dropped, the new key
//! checked with STS, and only then DeleteAccessKey of the old key. Until
//! the vault write the vault is untouched; after it, the vault holds the
//! new key, and a failure leaves at most a second key in IAM, which the
//! error names.
//!
//! A rotation has two steps: [`KeyRotation::start`] finds the key, its IAM
//! user and a session to act with, and changes nothing;
//! [`KeyRotation::finish`] makes the changes. The caller can say what is
//! about to happen in between.

use std::time::{Duration, Instant};

use super::{iam, sts_endpoint, Credentials, CredsError, Iam, IamError, Provider, Request, Sts};
use crate::config::{self, AwsConfig, EnvOverrides, Profile, ProfileChain, Resolver};
use crate::output;
use crate::unlock::Keys;
use crate::vault::{Payload, SessionCache, Vault, VaultError};

/// How long the session used for the rotation lasts: the shortest STS
/// grants, plenty for a few calls.
const SESSION_LENGTH: Duration = Duration::from_secs(900);
/// IAM is eventually consistent: a new key may take seconds to work, and
/// throttling or an outage may pass. Calls are tried again this often…
const RETRY_EVERY: Duration = Duration::from_secs(2);
/// …for this long: about the longest a rotation waits.
pub const RETRY_FOR: Duration = Duration::from_secs(20);

/// What a rotation works on: the opened vault and the resolved profile.
pub struct RotationInput<'a> {
    /// The vault, to write the new key into.
    pub vault: &'a Vault,
    /// What opened the vault, to write it without asking again.
    pub keys: &'a Keys,
    /// The vault's contents, as opened.
    pub payload: &'a Payload,
    /// The profile asked for; the key rotated is the first stored one of
    /// its chain (a role profile rotates its source key).
    pub chain: &'a ProfileChain,
    /// The session cache, whose sessions of the old key are dropped.
    pub cache: &'a SessionCache,
    /// `no_session` makes the IAM calls with the stored key itself; the
    /// MFA code and prompt are for the session otherwise.
    pub request: &'a Request,
}

/// A rotation that has found what to rotate and changed nothing yet.
pub struct KeyRotation<'a> {
    input: RotationInput<'a>,
    /// The profile the key is stored under.
    key_profile: &'a Profile,
    old: Credentials,
    /// What the IAM calls are made with.
    session: Credentials,
    user: String,
    sts: Sts,
    iam: Iam,
}

/// A rotation that went through: the old key is deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotated {
    /// The profile the key is stored under.
    pub profile: String,
    /// The IAM user the key belongs to.
    pub user: String,
    /// The key deleted.
    pub old_key_id: String,
    /// The key now stored.
    pub new_key_id: String,
}

/// Why a rotation failed, and what state it left.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RotationError {
    /// No profile of the chain has a stored key.
    #[error("no stored key behind profile {profile:?}")]
    NoStoredKey {
        /// The profile asked for.
        profile: String,
        /// The last profile of its chain, where a key would go.
        root: String,
    },
    /// CreateAccessKey refused: the user has two keys already. Nothing
    /// has changed.
    #[error("{source}; the vault is unchanged")]
    KeyLimit {
        /// The IAM user.
        user: String,
        /// IAM's refusal.
        source: IamError,
    },
    /// CreateAccessKey failed otherwise. Nothing has changed.
    #[error("{source}")]
    CreateRefused {
        /// The IAM user.
        user: String,
        /// IAM's answer.
        source: IamError,
    },
    /// The new key exists in IAM but the vault still holds the old one.
    #[error("the new key {new_key_id} was created but could not be stored: {source}")]
    NotStored {
        /// The IAM user.
        user: String,
        /// The key created, which nothing holds.
        new_key_id: String,
        /// Why the vault write failed.
        source: VaultError,
    },
    /// The new key is stored but STS never accepted it; the old key is
    /// still active.
    #[error(
        "the new key {new_key_id} is stored, but STS did not accept it within {} s; \
         the old key {old_key_id} was not deleted",
        RETRY_FOR.as_secs()
    )]
    NotVerified {
        /// The profile asked for.
        profile: String,
        /// The IAM user.
        user: String,
        /// The key still active besides the new one.
        old_key_id: String,
        /// The key stored.
        new_key_id: String,
    },
    /// The new key is stored and works, but the old key is still active.
    #[error(
        "the new key {new_key_id} is stored, but deleting the old key {old_key_id} failed: {source}"
    )]
    DeleteFailed {
        /// The IAM user.
        user: String,
        /// The key still active besides the new one.
        old_key_id: String,
        /// The key stored.
        new_key_id: String,
        /// IAM's last answer (boxed: it is the largest variant).
        source: Box<IamError>,
    },
    /// Getting the session or the caller identity failed. Nothing has
    /// changed.
    #[error(transparent)]
    Creds(#[from] CredsError),
    /// From IAM before any change (the caller is not a user, say).
    #[error(transparent)]
    Iam(#[from] IamError),
    /// From the vault before any change.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl RotationError {
    /// A line that tells the user what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            RotationError::NoStoredKey { root, .. } => {
                Some(format!("store one with: avault add {root}"))
            }
            RotationError::KeyLimit { user, .. } => Some(format!(
                "user {user} already has two access keys: delete the unused one \
                 (aws iam list-access-keys --user-name {user}; \
                 aws iam delete-access-key --user-name {user} --access-key-id ID) \
                 and run avault rotate again"
            )),
            RotationError::CreateRefused { source, .. } => source.hint(),
            RotationError::NotStored {
                user, new_key_id, ..
            } => Some(format!(
                "the vault still holds the old key, which still works; delete the new one: {}",
                delete_command(user, new_key_id)
            )),
            RotationError::NotVerified {
                profile,
                user,
                old_key_id,
                ..
            } => Some(format!(
                "both keys are active: once `avault exec {profile} -- aws sts get-caller-identity` works, run: {}",
                delete_command(user, old_key_id)
            )),
            RotationError::DeleteFailed {
                user, old_key_id, ..
            } => Some(format!(
                "the old key is still active: delete it with: {}",
                delete_command(user, old_key_id)
            )),
            RotationError::Creds(e) => e.hint(),
            RotationError::Iam(e) => e.hint(),
            RotationError::Vault(e) => e.hint(),
        }
    }
}

/// The command that deletes `key_id` of `user`.
fn delete_command(user: &str, key_id: &str) -> String {
    format!("aws iam delete-access-key --user-name {user} --access-key-id {key_id}")
}

impl<'a> KeyRotation<'a> {
    /// Finds the key to rotate, gets a session of it (asking for an MFA
    /// code if a profile of the chain has a device, unless
    /// `request.no_session`) and its IAM user. Changes nothing.
    pub fn start(input: RotationInput<'a>) -> Result<KeyRotation<'a>, RotationError> {
        let chain = input.chain;
        let key_profile = chain
            .profiles()
            .iter()
            .find(|p| input.payload.profiles.contains_key(&p.name))
            .ok_or_else(|| RotationError::NoStoredKey {
                profile: chain.target().name.clone(),
                root: chain.root().name.clone(),
            })?;
        let old = stored_key(input.payload, &key_profile.name)?;
        let session = if input.request.no_session {
            old.clone()
        } else {
            // The key's own device first: its user is the one being changed.
            let asks = [key_profile, chain.target()]
                .into_iter()
                .find(|p| p.mfa_serial.is_some())
                .unwrap_or(key_profile);
            Provider::new(chain, input.payload, input.cache, input.request).fresh_session_token(
                key_profile,
                asks,
                asks.mfa_serial.as_deref(),
                SESSION_LENGTH,
            )?
        };
        let sts = Sts::new(sts_endpoint(chain.target())).map_err(CredsError::from)?;
        let arn = sts
            .get_caller_identity(&session)
            .map_err(CredsError::from)?;
        let user = iam::user_name_from_arn(&arn)?;
        let iam = Iam::new(iam::iam_endpoint(key_profile))?;
        Ok(KeyRotation {
            input,
            key_profile,
            old,
            session,
            user,
            sts,
            iam,
        })
    }

    /// The profile the key is stored under.
    pub fn profile(&self) -> &str {
        &self.key_profile.name
    }

    /// The IAM user the key belongs to.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The key being replaced.
    pub fn old_key_id(&self) -> &str {
        &self.old.access_key_id
    }

    /// Creates the new key, stores it, drops the sessions of the old one,
    /// waits for STS to accept the new key and deletes the old one.
    pub fn finish(self) -> Result<Rotated, RotationError> {
        let user = &self.user;
        let old_key_id = &self.old.access_key_id;
        let new = self
            .iam
            .create_access_key(&self.session, user)
            .map_err(|source| {
                let user = user.clone();
                if source.is_key_limit() {
                    RotationError::KeyLimit { user, source }
                } else {
                    RotationError::CreateRefused { user, source }
                }
            })?;
        self.store(&new)?;
        self.drop_sessions();

        if retry(|_| true, || self.sts.get_caller_identity(&new)).is_err() {
            return Err(RotationError::NotVerified {
                profile: self.input.chain.target().name.clone(),
                user: user.clone(),
                old_key_id: old_key_id.clone(),
                new_key_id: new.access_key_id.clone(),
            });
        }
        if let Err(source) = retry(IamError::is_transient, || {
            self.iam.delete_access_key(&self.session, user, old_key_id)
        }) {
            return Err(RotationError::DeleteFailed {
                user: user.clone(),
                old_key_id: old_key_id.clone(),
                new_key_id: new.access_key_id.clone(),
                source: Box::new(source),
            });
        }
        Ok(Rotated {
            profile: self.key_profile.name.clone(),
            user: user.clone(),
            old_key_id: old_key_id.clone(),
            new_key_id: new.access_key_id.clone(),
        })
    }

    /// Replaces the stored key in the vault (atomically, under the lock),
    /// keeping its TOTP seeds and creation time.
    fn store(&self, new: &Credentials) -> Result<(), RotationError> {
        let name = &self.key_profile.name;
        let now = crate::time_fmt::now_rfc3339();
        self.input
            .vault
            .update(self.input.keys, |payload| {
                let stored = payload
                    .profiles
                    .get_mut(name)
                    .ok_or_else(|| VaultError::ProfileNotFound(name.to_owned()))?;
                stored.access_key_id = new.access_key_id.clone();
                stored.secret_access_key = new.secret_access_key.clone();
                stored.rotated = Some(now);
                Ok(())
            })
            .map_err(|source| RotationError::NotStored {
                user: self.user.clone(),
                new_key_id: new.access_key_id.clone(),
                source,
            })
    }

    /// Drops every cached session made from the old key: the
    /// GetSessionToken sessions named after it, and the sessions of every
    /// profile whose chain leads to the key's profile. The cache is
    /// disposable: a failure is a warning.
    fn drop_sessions(&self) {
        let key_profile = &self.key_profile.name;
        let old_key_id = &self.old.access_key_id;
        let mut profiles = vec![key_profile.to_owned()];
        profiles.extend(profiles_using(self.input.payload, key_profile));
        let dropped = self.input.cache.remove(|key, session| {
            key.contains(old_key_id.as_str()) || profiles.contains(&session.profile)
        });
        if let Err(e) = dropped {
            output::warn(&format!(
                "cannot drop the sessions of the old key: {e}; run: avault clear"
            ));
        }
    }
}

/// The key stored under `name`, as credentials.
fn stored_key(payload: &Payload, name: &str) -> Result<Credentials, VaultError> {
    let stored = payload
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

/// The profiles of the config whose credentials come from the key stored
/// under `key_profile`.
fn profiles_using(payload: &Payload, key_profile: &str) -> Vec<String> {
    let (Ok(path), Ok(env)) = (config::default_path(), EnvOverrides::from_env()) else {
        return Vec::new();
    };
    let Ok(config) = AwsConfig::load(&path) else {
        return Vec::new();
    };
    let stored = |name: &str| payload.profiles.contains_key(name);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(action: &'static str, code: &str) -> IamError {
        IamError::Service {
            action,
            code: code.into(),
            message: "no".into(),
        }
    }

    #[test]
    fn messages_and_hints_name_the_keys_left_active() {
        let e = RotationError::NotVerified {
            profile: "ops".into(),
            user: "alice".into(),
            old_key_id: "AKIAOLD".into(),
            new_key_id: "AKIANEW".into(),
        };
        assert_eq!(
            e.to_string(),
            "the new key AKIANEW is stored, but STS did not accept it within 20 s; \
             the old key AKIAOLD was not deleted"
        );
        assert_eq!(
            e.hint().as_deref(),
            Some(
                "both keys are active: once `avault exec ops -- aws sts get-caller-identity` \
                 works, run: aws iam delete-access-key --user-name alice --access-key-id AKIAOLD"
            )
        );
        let e = RotationError::DeleteFailed {
            user: "alice".into(),
            old_key_id: "AKIAOLD".into(),
            new_key_id: "AKIANEW".into(),
            source: Box::new(denied("DeleteAccessKey", "AccessDenied")),
        };
        assert_eq!(
            e.to_string(),
            "the new key AKIANEW is stored, but deleting the old key AKIAOLD failed: \
             IAM DeleteAccessKey failed: AccessDenied: no"
        );
        assert_eq!(
            e.hint().as_deref(),
            Some(
                "the old key is still active: delete it with: \
                 aws iam delete-access-key --user-name alice --access-key-id AKIAOLD"
            )
        );
    }

    #[test]
    fn a_refused_create_says_the_vault_is_unchanged_only_at_the_key_limit() {
        let limit = RotationError::KeyLimit {
            user: "alice".into(),
            source: denied("CreateAccessKey", "LimitExceeded"),
        };
        assert_eq!(
            limit.to_string(),
            "IAM CreateAccessKey failed: LimitExceeded: no; the vault is unchanged"
        );
        assert!(limit
            .hint()
            .is_some_and(|h| h.starts_with("user alice already has two access keys")));
        let refused = RotationError::CreateRefused {
            user: "alice".into(),
            source: denied("CreateAccessKey", "AccessDenied"),
        };
        assert_eq!(
            refused.to_string(),
            "IAM CreateAccessKey failed: AccessDenied: no"
        );
        assert!(refused
            .hint()
            .is_some_and(|h| h.ends_with("rotate without -n")));
    }

    #[test]
    fn retry_stops_at_an_error_not_worth_retrying() {
        let mut calls = 0;
        let result: Result<(), u32> = retry(
            |_| false,
            || {
                calls += 1;
                Err(calls)
            },
        );
        assert_eq!(result, Err(1));
    }
}
