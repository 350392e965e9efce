//! Ways to open the vault: age X25519 identities and passphrases.
//!
//! This layer knows how to turn what the user has (an identity, a
//! passphrase) into age identities and recipients; it knows nothing of the
//! vault's contents.

mod cache;
mod identity;
pub mod passphrase;
#[cfg(feature = "yubikey")]
pub mod piv_card;
#[cfg(feature = "yubikey")]
pub mod piv_cert;
pub mod piv_p256;
mod plugin;
mod source;

use std::cell::{Cell, OnceCell, RefCell};

use age_core::format::FileKey;
use secrecy::SecretString;

pub use cache::{copy_file_key, HeaderHash, KeyCache};
pub(crate) use cache::{CapturingIdentity, CapturingRecipient, HeldKey};

pub use identity::{generate_identity, parse_identity, parse_recipient};
pub use passphrase::{KdfParams, Kek, PassphraseIdentity, PassphraseRecipient};
pub use plugin::{
    age_error_text, build_recipient, classify_recipient, RecipientKind, TerminalCallbacks,
};
pub use source::{
    existing_passphrase, keys_from_environment, new_passphrase, NewPassphraseSource,
    UNLOCK_SECRET_VARS,
};

/// What can go wrong while gathering or using unlock material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnlockError {
    /// Nothing to unlock with and no terminal to ask on.
    #[error("no way to unlock the vault: {detail}")]
    NoSource {
        /// Why nothing was found.
        detail: String,
    },
    /// `AVAULT_IDENTITY` could not be used.
    #[error("AVAULT_IDENTITY: {reason}")]
    Identity {
        /// Why (never the identity itself).
        reason: String,
    },
    /// A recipient string is not an age X25519 recipient.
    #[error("not an age recipient: {shown} ({reason})")]
    Recipient {
        /// The recipient, shortened for display.
        shown: String,
        /// Why it was refused.
        reason: String,
    },
    /// A plugin recipient's binary is not installed.
    #[error("age-plugin-{name} is not on PATH: it is needed to seal the vault for its unlocker")]
    PluginMissing {
        /// The plugin's name.
        name: String,
    },
    /// `AVAULT_PASSPHRASE_COMMAND` failed.
    #[error("AVAULT_PASSPHRASE_COMMAND failed: {reason}")]
    PassphraseCommand {
        /// Why (its exit status, never its output).
        reason: String,
    },
    /// A new passphrase was refused.
    #[error("{0}")]
    NewPassphrase(String),
    /// The passphrase given for re-keying is not the vault's.
    #[error("that is not the vault's passphrase")]
    WrongPassphrase,
    /// KDF parameters out of bounds.
    #[error("argon2id parameters refused: {reason}")]
    KdfParams {
        /// Which bound was crossed.
        reason: String,
    },
    /// Reading from the terminal failed.
    #[error("reading from the terminal failed: {0}")]
    Terminal(#[source] std::io::Error),
    /// The YubiKey could not open the vault.
    #[cfg(feature = "yubikey")]
    #[error(transparent)]
    Hardware(#[from] crate::hw::HwError),
}

impl UnlockError {
    /// A line that tells the user what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            UnlockError::NoSource { .. } => Some(
                "set AVAULT_IDENTITY (an age identity or a path to one), AVAULT_PASSPHRASE, \
                 AWS_VAULT_FILE_PASSPHRASE or AVAULT_PASSPHRASE_COMMAND, or run on a terminal"
                    .into(),
            ),
            #[cfg(feature = "yubikey")]
            UnlockError::Hardware(e) => e.hint(),
            UnlockError::NewPassphrase(_) => Some(
                "give it in AVAULT_NEW_PASSPHRASE (passwd, unlockers add) or AVAULT_PASSPHRASE (init), \
                 or type it on the terminal"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// The identities gathered from the environment, in the order they are tried.
struct Material {
    identities: Vec<Box<dyn age::Identity>>,
    passphrase: Option<PassphraseIdentity>,
    #[cfg(feature = "yubikey")]
    card: Option<piv_card::CardIdentity>,
    sources: Vec<&'static str>,
}

impl Material {
    fn iter(&self) -> impl Iterator<Item = &dyn age::Identity> {
        let ids = self
            .identities
            .iter()
            .map(|i| i.as_ref())
            .chain(self.passphrase.iter().map(|p| p as &dyn age::Identity));
        #[cfg(feature = "yubikey")]
        let ids = ids.chain(self.card.iter().map(|c| c as &dyn age::Identity));
        ids
    }
}

/// A file key this process already holds, and the header it opens.
struct KnownKey {
    header: HeaderHash,
    key: FileKey,
}

/// What opens the vault: the unlock material (identities, passphrase,
/// YubiKey, in the order they are tried) and, with an agent, the file key it
/// holds. When the agent had the key, the material is gathered only if that
/// key turns out not to fit (the vault changed).
pub struct Keys {
    material: OnceCell<Material>,
    /// Vault label and stanza tags, to gather the material when needed.
    deferred: Option<(String, Vec<String>)>,
    cache: Option<Box<dyn KeyCache>>,
    /// The last file key opened or written here (kept only with a cache, so
    /// that without an agent every open goes through the material).
    known: RefCell<Option<KnownKey>>,
    /// The last header the cache did not hold a key for.
    missed: Cell<Option<HeaderHash>>,
}

impl Keys {
    /// Keys from explicit parts (used by tests and benchmarks).
    pub fn new(identities: Vec<Box<dyn age::Identity>>, passphrase: Option<SecretString>) -> Self {
        let mut sources = Vec::new();
        if !identities.is_empty() {
            sources.push("identity");
        }
        if passphrase.is_some() {
            sources.push("passphrase");
        }
        Keys::from_material(Material {
            identities,
            passphrase: passphrase.map(PassphraseIdentity::new),
            #[cfg(feature = "yubikey")]
            card: None,
            sources,
        })
    }

    fn from_material(material: Material) -> Self {
        Keys {
            material: OnceCell::from(material),
            deferred: None,
            cache: None,
            known: RefCell::new(None),
            missed: Cell::new(None),
        }
    }

    /// Keys that start from a file key the cache held for `header`; the
    /// material for the vault `label` with these stanza tags is gathered
    /// only if that key does not open it.
    pub fn from_cached(
        cache: Box<dyn KeyCache>,
        header: HeaderHash,
        key: FileKey,
        label: &str,
        stanzas: &[String],
    ) -> Self {
        Keys {
            material: OnceCell::new(),
            deferred: Some((label.to_owned(), stanzas.to_vec())),
            cache: Some(cache),
            known: RefCell::new(Some(KnownKey { header, key })),
            missed: Cell::new(None),
        }
    }

    /// These keys, handing every file key they open or write to `cache`.
    /// `asked` is a header the cache was just asked about and did not hold:
    /// it is not asked again.
    pub fn with_cache(mut self, cache: Box<dyn KeyCache>, asked: Option<HeaderHash>) -> Self {
        self.cache = Some(cache);
        self.missed = Cell::new(asked);
        self
    }

    /// The identities of the unlock material, gathering it first when it
    /// was deferred (which may prompt).
    pub fn identities(&self) -> Result<impl Iterator<Item = &dyn age::Identity>, UnlockError> {
        if let Some(material) = self.material.get() {
            return Ok(material.iter());
        }
        let (label, stanzas) = self
            .deferred
            .as_ref()
            .ok_or_else(|| UnlockError::NoSource {
                detail: "no unlock material".into(),
            })?;
        let gathered = keys_from_environment(label, stanzas)?;
        let material = gathered
            .material
            .into_inner()
            .ok_or_else(|| UnlockError::NoSource {
                detail: "no unlock material".into(),
            })?;
        Ok(self.material.get_or_init(|| material).iter())
    }

    /// Every identity of the material gathered so far: identities, then the
    /// passphrase, then a YubiKey.
    pub fn iter(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.material.get().into_iter().flat_map(Material::iter)
    }

    /// A file key already at hand for the vault whose header hashes to
    /// `header`: one this process opened or wrote, or one the cache holds.
    pub fn held_key(&self, header: &HeaderHash) -> Option<FileKey> {
        if let Some(known) = self.known.borrow().as_ref() {
            if known.header == *header {
                return Some(copy_file_key(&known.key));
            }
        }
        if self.missed.get() == Some(*header) {
            return None;
        }
        let Some(key) = self.cache.as_ref()?.lookup(header) else {
            self.missed.set(Some(*header));
            return None;
        };
        self.remember(header, &key);
        Some(key)
    }

    /// The unlock material opened the vault with `key`: keep it, and hand it
    /// to the cache.
    pub fn opened(&self, vault_id: &str, header: &HeaderHash, key: &FileKey) {
        if let Some(cache) = &self.cache {
            cache.opened(vault_id, header, key);
            self.remember(header, key);
        }
    }

    /// The vault was rewritten under `key`: keep it, and hand it to the
    /// cache.
    pub fn rewritten(&self, vault_id: &str, header: &HeaderHash, key: &FileKey) {
        if let Some(cache) = &self.cache {
            cache.rewritten(vault_id, header, key);
            self.remember(header, key);
        }
    }

    fn remember(&self, header: &HeaderHash, key: &FileKey) {
        *self.known.borrow_mut() = Some(KnownKey {
            header: *header,
            key: copy_file_key(key),
        });
    }

    /// The last file key opened or written through these keys, with its
    /// header (with a cache attached).
    pub fn known(&self) -> Option<(HeaderHash, FileKey)> {
        self.known
            .borrow()
            .as_ref()
            .map(|k| (k.header, copy_file_key(&k.key)))
    }

    /// Why the YubiKey could not open the vault, when it was tried.
    pub fn hardware_failure(&self) -> Option<UnlockError> {
        #[cfg(feature = "yubikey")]
        if let Some(e) = self
            .material
            .get()
            .and_then(|m| m.card.as_ref())
            .and_then(|c| c.take_failure())
        {
            return Some(UnlockError::Hardware(e));
        }
        None
    }

    /// The passphrase, when one was given.
    pub fn passphrase(&self) -> Option<&SecretString> {
        self.material
            .get()?
            .passphrase
            .as_ref()
            .map(PassphraseIdentity::passphrase)
    }

    /// Where the keys came from, for "no unlocker matched" messages.
    pub fn sources(&self) -> String {
        let mut sources: Vec<&str> = Vec::new();
        if self.deferred.is_some() {
            sources.push("the agent");
        }
        if let Some(m) = self.material.get() {
            sources.extend(m.sources.iter().copied());
        }
        sources.join(", ")
    }
}
