//! Ways to open the vault: age X25519 identities and passphrases.
//!
//! This layer knows how to turn what the user has (an identity, a
//! passphrase) into age identities and recipients; it knows nothing of the
//! vault's contents.

mod identity;
pub mod passphrase;
#[cfg(feature = "yubikey")]
pub mod piv_card;
#[cfg(feature = "yubikey")]
pub mod piv_cert;
pub mod piv_p256;
mod plugin;
mod source;

use secrecy::SecretString;

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
pub struct Keys {
    identities: Vec<Box<dyn age::Identity>>,
    passphrase: Option<PassphraseIdentity>,
    #[cfg(feature = "yubikey")]
    card: Option<piv_card::CardIdentity>,
    sources: Vec<&'static str>,
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
        Keys {
            identities,
            passphrase: passphrase.map(PassphraseIdentity::new),
            #[cfg(feature = "yubikey")]
            card: None,
            sources,
        }
    }

    /// Every identity: identities, then the passphrase, then a YubiKey.
    pub fn iter(&self) -> impl Iterator<Item = &dyn age::Identity> {
        let ids = self
            .identities
            .iter()
            .map(|i| i.as_ref())
            .chain(self.passphrase.iter().map(|p| p as &dyn age::Identity));
        #[cfg(feature = "yubikey")]
        let ids = ids.chain(self.card.iter().map(|c| c as &dyn age::Identity));
        ids
    }

    /// Why the YubiKey could not open the vault, when it was tried.
    pub fn hardware_failure(&self) -> Option<UnlockError> {
        #[cfg(feature = "yubikey")]
        if let Some(e) = self.card.as_ref().and_then(|c| c.take_failure()) {
            return Some(UnlockError::Hardware(e));
        }
        None
    }

    /// The passphrase, when one was given.
    pub fn passphrase(&self) -> Option<&SecretString> {
        self.passphrase.as_ref().map(PassphraseIdentity::passphrase)
    }

    /// Where the keys came from, for "no unlocker matched" messages.
    pub fn sources(&self) -> String {
        self.sources.join(", ")
    }
}
