//! Moving long-term keys into the vault from where aws-vault users keep
//! them: aws-vault's file backend (`file_backend.rs`, its items decoded by
//! `jwe.rs`) and the shared credentials file (`credentials_file.rs`).
//!
//! The public interface is:
//! - [`Jwe`], [`JweError`], [`MAX_P2C`]: one item of the file backend;
//! - [`list_keyring`], [`Item`], [`ItemKind`], [`decrypt_credentials`],
//!   [`StoredCredentials`], [`ItemError`], [`keyring_dir`]: the directory;
//! - [`CredentialsFile`], [`CredentialsSection`], [`credentials_path`]: the
//!   credentials file, and its `--scrub` rewrite;
//! - [`FoundKey`], [`Action`], [`plan`], [`apply`]: how found keys meet the
//!   profiles already stored;
//! - [`ImportError`] with `hint()`.
//!
//! What must stay true: nothing here prints or prompts; every secret read
//! is a secrecy type or in a zeroizing buffer from the moment it is
//! decoded; the vault is changed only by [`apply`], inside one
//! `Vault::update`, so a failure midway leaves it as it was.

mod credentials_file;
mod file_backend;
mod jwe;

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

pub use credentials_file::{default_path as credentials_path, CredentialsFile, CredentialsSection};
pub use file_backend::{
    decrypt_credentials, default_dir as keyring_dir, expand_tilde, list as list_keyring, Item,
    ItemError, ItemKind, StoredCredentials,
};
#[doc(hidden)]
pub use jwe::fuzz_jwe_parse;
pub use jwe::{Jwe, JweError, MAX_P2C};

use crate::config::ConfigError;
use crate::vault::{Payload, SessionCache, StoredProfile, Vault, VaultError};

/// What can stop an import as a whole (one item's trouble is an
/// [`ItemError`], reported with the rest).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Neither the variable nor HOME says where to look.
    #[error("cannot find {what}: neither {var} nor HOME is set")]
    NoPath {
        /// What was looked for.
        what: &'static str,
        /// The variable that would have said.
        var: &'static str,
    },
    /// No aws-vault key directory there.
    #[error("no aws-vault file backend at {}", .0.display())]
    NoKeyringDir(PathBuf),
    /// No credentials file there.
    #[error("no credentials file at {}", .0.display())]
    NoCredentialsFile(PathBuf),
    /// The credentials file is not UTF-8 text.
    #[error("{} is not a text file", .0.display())]
    NotText(PathBuf),
    /// Far larger than any credentials file.
    #[error("{} is too large to be a credentials file", .0.display())]
    TooLarge(PathBuf),
    /// The credentials file does not parse.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No aws-vault passphrase in the environment and no terminal.
    #[error("no passphrase for aws-vault's file backend at {}: AWS_VAULT_FILE_PASSPHRASE is not set and there is no terminal to ask on", .0.display())]
    NoPassphrase(PathBuf),
    /// The passphrase opened none of the items.
    #[error("the aws-vault passphrase ({from}) opens none of the {items} items in {}", dir.display())]
    WrongPassphrase {
        /// The directory.
        dir: PathBuf,
        /// How many items were tried.
        items: usize,
        /// Where the passphrase came from.
        from: &'static str,
    },
    /// The credentials file changed between reading and scrubbing.
    #[error("{} changed while it was being imported, so it was not scrubbed", .0.display())]
    ChangedMeanwhile(PathBuf),
    /// Some profiles were not imported (each was reported).
    #[error("{failed} of the profiles could not be imported (see above)")]
    Incomplete {
        /// How many.
        failed: usize,
        /// Whether this was a dry run.
        dry_run: bool,
    },
}

impl ImportError {
    /// A line that tells the user what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ImportError::NoPath { var, .. } => format!("pass the path as an option, or set {var}"),
            ImportError::NoKeyringDir(_) => {
                "pass --dir DIR, or set AWS_VAULT_FILE_DIR to where aws-vault keeps its keys".into()
            }
            ImportError::NoCredentialsFile(_) => {
                "pass --file PATH, or set AWS_SHARED_CREDENTIALS_FILE".into()
            }
            ImportError::NoPassphrase(_) => {
                "set AWS_VAULT_FILE_PASSPHRASE, or run on a terminal to type it".into()
            }
            ImportError::WrongPassphrase { .. } => {
                "check aws-vault's passphrase (AWS_VAULT_FILE_PASSPHRASE, or type it); the vault was not changed"
                    .into()
            }
            ImportError::ChangedMeanwhile(_) => {
                "the keys are in the vault; run the same import with --scrub again to remove them from the file"
                    .into()
            }
            ImportError::Incomplete { dry_run: true, .. } => "this was a dry run: nothing was written".into(),
            ImportError::Incomplete { dry_run: false, .. } => {
                "the others were imported; fix the ones listed, or name the profiles to import".into()
            }
            ImportError::Config(e) => return e.hint(),
            _ => return None,
        })
    }
}

/// A long-term key found at a source, checked and ready to store.
pub struct FoundKey {
    /// The profile it belongs to.
    pub profile: String,
    /// Its access key id.
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: SecretString,
    /// The profile's MFA device, from the AWS config, when known.
    pub mfa_serial: Option<String>,
}

impl fmt::Debug for FoundKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FoundKey")
            .field("profile", &self.profile)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("mfa_serial", &self.mfa_serial)
            .finish()
    }
}

impl FoundKey {
    /// Whether `stored` holds this very key.
    fn same_as(&self, stored: &StoredProfile) -> bool {
        stored.access_key_id == self.access_key_id
            && bool::from(
                stored
                    .secret_access_key
                    .expose_secret()
                    .as_bytes()
                    .ct_eq(self.secret_access_key.expose_secret().as_bytes()),
            )
    }
}

/// What happens to one found key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new profile.
    Add,
    /// Replaces a different stored key (`--overwrite`).
    Replace,
    /// A different key is stored and stays (no `--overwrite`).
    Keep,
    /// This very key is already stored.
    Unchanged,
}

impl Action {
    /// Whether the key is in the vault afterwards.
    pub fn imported(self) -> bool {
        self != Action::Keep
    }

    /// Whether it changes the vault.
    pub fn writes(self) -> bool {
        matches!(self, Action::Add | Action::Replace)
    }
}

/// What would happen to each of `found` against `payload`.
pub fn plan(payload: &Payload, found: &[FoundKey], overwrite: bool) -> Vec<Action> {
    found
        .iter()
        .map(|key| match payload.profiles.get(&key.profile) {
            None => Action::Add,
            Some(stored) if key.same_as(stored) => Action::Unchanged,
            Some(_) if overwrite => Action::Replace,
            Some(_) => Action::Keep,
        })
        .collect()
}

/// Stores `found` in `payload` as [`plan`] says, and drops the cached
/// sessions of every replaced key. Call inside `Vault::update`. A replaced
/// profile keeps its TOTP seeds and creation time, as `avault add` does.
pub fn apply(
    vault: &Vault,
    payload: &mut Payload,
    found: Vec<FoundKey>,
    overwrite: bool,
) -> Result<Vec<(String, Action)>, VaultError> {
    let actions = plan(payload, &found, overwrite);
    let now = crate::time_fmt::now_rfc3339();
    let mut replaced = BTreeSet::new();
    let mut outcome = Vec::with_capacity(found.len());
    for (key, action) in found.into_iter().zip(actions) {
        outcome.push((key.profile.clone(), action));
        if !action.writes() {
            continue;
        }
        let previous = payload.profiles.remove(&key.profile);
        let stored = match previous {
            None => StoredProfile {
                access_key_id: key.access_key_id,
                secret_access_key: key.secret_access_key,
                mfa_serial: key.mfa_serial,
                totp: Default::default(),
                created: now.clone(),
                rotated: None,
            },
            Some(previous) => {
                replaced.insert(key.profile.clone());
                StoredProfile {
                    access_key_id: key.access_key_id,
                    secret_access_key: key.secret_access_key,
                    mfa_serial: key.mfa_serial.or(previous.mfa_serial),
                    totp: previous.totp,
                    created: previous.created,
                    rotated: Some(now.clone()),
                }
            }
        };
        payload.profiles.insert(key.profile, stored);
    }
    if !replaced.is_empty() {
        SessionCache::new(vault, payload).remove(|_, s| replaced.contains(&s.profile))?;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::UnlockerRecord;

    fn found(profile: &str, id: &str, secret: &str) -> FoundKey {
        FoundKey {
            profile: profile.into(),
            access_key_id: id.into(),
            secret_access_key: SecretString::from(secret.to_owned()),
            mfa_serial: None,
        }
    }

    fn payload_with(profile: &str, id: &str, secret: &str) -> Payload {
        let (_, recipient) = crate::unlock::generate_identity();
        let unlocker = UnlockerRecord::x25519(&recipient).expect("recipient");
        let mut payload = Payload::new(vec![unlocker]);
        let mut totp = std::collections::BTreeMap::new();
        totp.insert(
            "serial".to_owned(),
            SecretString::from("otpauth://x".to_owned()),
        );
        payload.profiles.insert(
            profile.into(),
            StoredProfile {
                access_key_id: id.into(),
                secret_access_key: SecretString::from(secret.to_owned()),
                mfa_serial: Some("serial".into()),
                totp,
                created: "then".into(),
                rotated: None,
            },
        );
        payload
    }

    #[test]
    fn plans_against_what_is_stored() {
        let payload = payload_with("a", "AKIA1", "s1");
        let keys = [
            found("a", "AKIA1", "s1"),
            found("a", "AKIA1", "s2"),
            found("b", "AKIA2", "s"),
        ];
        assert_eq!(
            plan(&payload, &keys, false),
            [Action::Unchanged, Action::Keep, Action::Add]
        );
        assert_eq!(
            plan(&payload, &keys, true),
            [Action::Unchanged, Action::Replace, Action::Add]
        );
        assert!(!format!("{:?}", keys[0]).contains("s1"));
    }

    #[test]
    fn replacing_keeps_seeds_and_creation_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vault = Vault::at(dir.path().join("v.age"));
        let mut payload = payload_with("a", "AKIA1", "s1");
        let outcome = apply(
            &vault,
            &mut payload,
            vec![found("a", "AKIA9", "s9"), found("b", "AKIA2", "s")],
            true,
        )
        .expect("applies");
        assert_eq!(
            outcome,
            [
                ("a".to_owned(), Action::Replace),
                ("b".to_owned(), Action::Add)
            ]
        );
        let a = &payload.profiles["a"];
        assert_eq!(a.access_key_id, "AKIA9");
        assert_eq!(a.secret_access_key.expose_secret(), "s9");
        assert_eq!(a.created, "then");
        assert!(a.rotated.is_some());
        assert_eq!(a.mfa_serial.as_deref(), Some("serial"));
        assert!(a.totp.contains_key("serial"));
        assert!(payload.profiles["b"].rotated.is_none());
    }
}
