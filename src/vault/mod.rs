//! The vault: one age-encrypted file holding long-term credentials, TOTP
//! seeds, the session-cache key and the list of its own unlockers.

pub mod codec;
mod model;
mod session_cache;
mod store;

use std::path::{Path, PathBuf};

pub use model::{
    PassphraseSeal, Payload, StoredProfile, UnlockerRecord, UnlockerType, FORMAT_VERSION,
};
pub use session_cache::{CachedSession, RefreshLock, SessionCache};
pub use store::default_path;

use crate::unlock::{HeaderHash, Keys, UnlockError};
use codec::OpenFailure;

/// What can go wrong with the vault file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// There is no vault at the path.
    #[error("no vault at {}", .0.display())]
    NotFound(PathBuf),
    /// `init` found a vault already there.
    #[error("a vault already exists at {}", .0.display())]
    AlreadyExists(PathBuf),
    /// The vault can be read or written by other users.
    #[error("vault {} is accessible by {who}", path.display())]
    InsecurePermissions {
        /// The vault.
        path: PathBuf,
        /// "group", "others" or both.
        who: &'static str,
    },
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an age file.
    #[error("{} is not an avault vault (it has no age header)", .0.display())]
    NotAVault(PathBuf),
    /// The age header does not parse or fails its MAC.
    #[error("the header of vault {} is damaged or was altered", .0.display())]
    HeaderDamaged(PathBuf),
    /// No identity or passphrase opened the vault.
    #[error("no unlocker matched vault {} (tried {tried})", path.display())]
    NoUnlockerMatched {
        /// The vault.
        path: PathBuf,
        /// The sources that were tried.
        tried: String,
    },
    /// The encrypted payload is truncated or altered.
    #[error("the contents of vault {} are truncated or were altered", .0.display())]
    PayloadDamaged(PathBuf),
    /// The payload is not a vault document.
    #[error("vault {} holds no valid vault document: {reason}", path.display())]
    Invalid {
        /// The vault.
        path: PathBuf,
        /// What is wrong (never a secret value).
        reason: String,
    },
    /// Written by a newer avault.
    #[error("vault {} has format version {found}; this avault reads up to {}", path.display(), FORMAT_VERSION)]
    NewerFormat {
        /// The vault.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// Sealing the vault failed.
    #[error("cannot encrypt the vault: {0}")]
    Seal(#[source] std::io::Error),
    /// A malformed record in an otherwise readable vault.
    #[error("the vault is malformed: {0}")]
    Malformed(String),
    /// Removing the only unlocker would lock everyone out.
    #[error("refusing to remove the last unlocker: nobody could open the vault")]
    LastUnlocker,
    /// `unlockers remove` named nothing known.
    #[error("no unlocker {0:?}")]
    UnlockerNotFound(String),
    /// The recipient is already an unlocker.
    #[error("{0} is already an unlocker")]
    UnlockerExists(String),
    /// A second passphrase unlocker was asked for.
    #[error("the vault already has a passphrase")]
    PassphraseExists,
    /// `passwd` on a vault without a passphrase.
    #[error("the vault has no passphrase unlocker")]
    NoPassphrase,
    /// No stored credentials for the profile.
    #[error("no credentials stored for profile {0:?}")]
    ProfileNotFound(String),
    /// Unlocking failed.
    #[error(transparent)]
    Unlock(#[from] UnlockError),
}

impl VaultError {
    /// A line that tells the user what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            VaultError::NotFound(_) => "create one with: avault init".into(),
            VaultError::AlreadyExists(_) => {
                "choose another path with --vault, or remove the old vault first".into()
            }
            VaultError::InsecurePermissions { path, .. } => {
                format!("run: chmod 600 {}", path.display())
            }
            VaultError::NoUnlockerMatched { .. } => {
                "check the passphrase or AVAULT_IDENTITY; `avault unlockers` lists who can open it"
                    .into()
            }
            VaultError::NewerFormat { .. } => "upgrade avault".into(),
            VaultError::HeaderDamaged(_) | VaultError::PayloadDamaged(_) => {
                "restore the vault from a backup; the file was left as it is".into()
            }
            VaultError::PassphraseExists => "change it with: avault passwd".into(),
            VaultError::NoPassphrase => "add one with: avault unlockers add --passphrase".into(),
            VaultError::UnlockerNotFound(_) => "list them with: avault unlockers".into(),
            VaultError::Unlock(e) => return e.hint(),
            _ => return None,
        })
    }
}

/// A vault file at a path.
#[derive(Clone, Debug)]
pub struct Vault {
    path: PathBuf,
}

impl Vault {
    /// The vault at `path` (which need not exist yet).
    pub fn at(path: impl Into<PathBuf>) -> Vault {
        Vault { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether something is at the path.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// The stanza tags of the header (`avault-argon2id`, `X25519`,
    /// `piv-p256`, …): which unlockers can open it, read without decrypting,
    /// so that prompts are only made when they can help.
    pub fn stanza_tags(&self) -> Result<Vec<String>, VaultError> {
        Ok(self.header()?.0)
    }

    /// The stanza tags (see [`Vault::stanza_tags`]) and the SHA-256 of the
    /// header (which exact file this is), read without decrypting.
    pub fn header(&self) -> Result<(Vec<String>, Option<HeaderHash>), VaultError> {
        let bytes = store::read(&self.path)?;
        let hash = codec::header_hash(&bytes);
        let header_end = bytes
            .windows(4)
            .position(|w| w == b"\n---")
            .unwrap_or(bytes.len());
        let mut tags: Vec<String> = String::from_utf8_lossy(&bytes[..header_end])
            .lines()
            .filter_map(|l| l.strip_prefix("-> "))
            .filter_map(|l| l.split(' ').next())
            .map(str::to_owned)
            .collect();
        tags.sort();
        tags.dedup();
        Ok((tags, hash))
    }

    /// Creates a new vault; refuses to replace one.
    pub fn create(&self, payload: &Payload) -> Result<(), VaultError> {
        let lock = store::lock(&self.path)?;
        if self.path.exists() {
            return Err(VaultError::AlreadyExists(self.path.clone()));
        }
        let bytes = codec::seal(payload)?;
        store::write_atomic(&self.path, &bytes, &lock)
    }

    /// Opens and decrypts the vault.
    pub fn open(&self, keys: &Keys) -> Result<Payload, VaultError> {
        let bytes = store::read(&self.path)?;
        codec::open_bytes(&bytes, keys).map_err(|f| self.failure(f, keys))
    }

    /// Changes the vault: under the write lock, re-reads it, applies `change`
    /// and writes the result atomically. Nothing is written if `change`
    /// fails.
    pub fn update<T>(
        &self,
        keys: &Keys,
        change: impl FnOnce(&mut Payload) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let lock = store::lock(&self.path)?;
        let mut payload = self.open(keys)?;
        let out = change(&mut payload)?;
        let (bytes, key) = codec::seal_keeping_key(&payload)?;
        store::write_atomic(&self.path, &bytes, &lock)?;
        // Still under the lock, so that the agent learns of writes in the
        // order they were made.
        if let Some(header) = codec::header_hash(&bytes) {
            keys.rewritten(&payload.vault_id, &header, &key);
        }
        Ok(out)
    }

    fn failure(&self, failure: OpenFailure, keys: &Keys) -> VaultError {
        let path = self.path.clone();
        match failure {
            OpenFailure::NotAge => VaultError::NotAVault(path),
            OpenFailure::Header => VaultError::HeaderDamaged(path),
            OpenFailure::NoMatch => match keys.hardware_failure() {
                Some(e) => VaultError::Unlock(e),
                None => VaultError::NoUnlockerMatched {
                    path,
                    tried: keys.sources(),
                },
            },
            OpenFailure::Payload => VaultError::PayloadDamaged(path),
            OpenFailure::Json(reason) => VaultError::Invalid { path, reason },
            OpenFailure::Newer(found) => VaultError::NewerFormat { path, found },
            OpenFailure::Plugin(message) => VaultError::Unlock(UnlockError::Identity {
                reason: format!("its plugin failed: {message}"),
            }),
            OpenFailure::Unlock(e) => VaultError::Unlock(e),
        }
    }
}
