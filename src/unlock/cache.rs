//! A place that holds vault file keys between commands (the agent), as seen
//! from the unlock layer, and the age adapters that take a file key out of an
//! unlock or a seal and put one back in.
//!
//! What must stay true: a held key is only offered for the exact header it
//! was taken from (the caller compares header hashes before using it); every
//! copy of a file key is an `age_core::format::FileKey`, which zeroizes
//! itself.

use std::cell::RefCell;
use std::collections::HashSet;

use age_core::format::{FileKey, Stanza};
use age_core::secrecy::ExposeSecret;

/// SHA-256 of an age header (everything up to and including the `--- mac`
/// line): which exact file a file key opens.
pub type HeaderHash = [u8; 32];

/// Something that holds file keys for a while: the agent.
pub trait KeyCache {
    /// The file key for the vault whose header hashes to `header`, if held.
    fn lookup(&self, header: &HeaderHash) -> Option<FileKey>;
    /// The unlock material opened the vault: hold its key for the TTL.
    fn opened(&self, vault_id: &str, header: &HeaderHash, key: &FileKey);
    /// The vault was rewritten under a new key: hold that one instead, for
    /// what is left of the TTL.
    fn rewritten(&self, vault_id: &str, header: &HeaderHash, key: &FileKey);
}

/// A copy of a file key (age's type is not `Clone`).
pub fn copy_file_key(key: &FileKey) -> FileKey {
    FileKey::init_with_mut(|bytes| bytes.copy_from_slice(key.expose_secret()))
}

/// An identity that opens a file with a key it already holds: it answers
/// every header with that key, and age's header MAC then tells whether the
/// key was the right one.
pub(crate) struct HeldKey(pub(crate) FileKey);

impl age::Identity for HeldKey {
    fn unwrap_stanza(&self, _stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        Some(Ok(copy_file_key(&self.0)))
    }
}

/// Wraps an identity and keeps a copy of the file key it unwraps.
pub(crate) struct CapturingIdentity<'a> {
    inner: &'a dyn age::Identity,
    captured: &'a RefCell<Option<FileKey>>,
}

impl<'a> CapturingIdentity<'a> {
    pub(crate) fn new(
        inner: &'a dyn age::Identity,
        captured: &'a RefCell<Option<FileKey>>,
    ) -> Self {
        CapturingIdentity { inner, captured }
    }

    fn keep(
        &self,
        result: Option<Result<FileKey, age::DecryptError>>,
    ) -> Option<Result<FileKey, age::DecryptError>> {
        if let Some(Ok(key)) = &result {
            *self.captured.borrow_mut() = Some(copy_file_key(key));
        }
        result
    }
}

impl age::Identity for CapturingIdentity<'_> {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        self.keep(self.inner.unwrap_stanza(stanza))
    }

    // Plugin identities answer all stanzas at once: delegate that too.
    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey, age::DecryptError>> {
        self.keep(self.inner.unwrap_stanzas(stanzas))
    }
}

/// Wraps a recipient and keeps a copy of the file key it wraps.
pub(crate) struct CapturingRecipient<'a> {
    inner: &'a dyn age::Recipient,
    captured: &'a RefCell<Option<FileKey>>,
}

impl<'a> CapturingRecipient<'a> {
    pub(crate) fn new(
        inner: &'a dyn age::Recipient,
        captured: &'a RefCell<Option<FileKey>>,
    ) -> Self {
        CapturingRecipient { inner, captured }
    }
}

impl age::Recipient for CapturingRecipient<'_> {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        *self.captured.borrow_mut() = Some(copy_file_key(file_key));
        self.inner.wrap_file_key(file_key)
    }
}
