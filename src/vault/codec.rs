//! Between the payload and the bytes on disk: JSON inside an age v1 file.
//!
//! Every buffer that holds plaintext is zeroized, including the ones a
//! growing `Vec` would otherwise leave behind in freed memory.

use std::cell::RefCell;
use std::io::{Read, Write};

use age_core::format::FileKey;
use sha2::{Digest, Sha256};

use zeroize::Zeroizing;

use crate::zbuf::ZeroizingWriter;

use super::model::{Payload, FORMAT_VERSION};
use super::VaultError;
use crate::unlock::{
    CapturingIdentity, CapturingRecipient, HeaderHash, HeldKey, Keys, UnlockError,
};

/// Serializes the payload to JSON in a zeroizing buffer.
pub(crate) fn encode_payload(payload: &Payload) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let estimate = 1024 + 512 * payload.profiles.len();
    let mut writer = ZeroizingWriter::with_capacity(estimate);
    serde_json::to_writer_pretty(&mut writer, payload)
        .map_err(|e| VaultError::Malformed(format!("cannot serialize the vault: {e}")))?;
    Ok(writer.into_inner())
}

/// Encrypts the payload to every unlocker it lists.
pub(crate) fn seal(payload: &Payload) -> Result<Vec<u8>, VaultError> {
    seal_keeping_key(payload).map(|(bytes, _)| bytes)
}

/// Encrypts the payload to every unlocker it lists, and returns the new
/// file key with the bytes (for the agent).
pub(crate) fn seal_keeping_key(payload: &Payload) -> Result<(Vec<u8>, FileKey), VaultError> {
    let plain = encode_payload(payload)?;
    let recipients = payload.recipients()?;
    // Every recipient wraps the same file key: the first one's copy is it.
    let captured = RefCell::new(None);
    let first = recipients
        .first()
        .map(|r| CapturingRecipient::new(r.as_ref(), &captured));
    let all = first
        .iter()
        .map(|r| r as &dyn age::Recipient)
        .chain(recipients.iter().skip(1).map(|r| r.as_ref()));
    // Plugins wrap here: a plugin that refuses its recipient or dies fails
    // the write, and says so (it is not a malformed vault).
    let encryptor = age::Encryptor::with_recipients(all)
        .map_err(|e| VaultError::Seal(std::io::Error::other(crate::unlock::age_error_text(&e))))?;
    let mut out = Vec::with_capacity(plain.len() + 1024);
    let mut writer = encryptor.wrap_output(&mut out).map_err(VaultError::Seal)?;
    writer.write_all(&plain).map_err(VaultError::Seal)?;
    writer.finish().map_err(VaultError::Seal)?;
    let key = captured
        .into_inner()
        .ok_or_else(|| VaultError::Malformed("the vault has no unlocker to seal it to".into()))?;
    Ok((out, key))
}

/// SHA-256 of the age header: everything up to and including the `--- mac`
/// line, so that any rewrite of the file changes it. `None` when there is no
/// such line.
pub fn header_hash(bytes: &[u8]) -> Option<HeaderHash> {
    let mac_line = bytes.windows(4).position(|w| w == b"\n---")? + 1;
    let end = mac_line + bytes[mac_line..].iter().position(|&b| b == b'\n')? + 1;
    Some(Sha256::digest(&bytes[..end]).into())
}

/// Why opening failed, before a path is attached.
#[derive(Debug)]
pub enum OpenFailure {
    /// Not an age file at all.
    NotAge,
    /// An age header that does not parse, or a failed header MAC.
    Header,
    /// No identity matched a stanza.
    NoMatch,
    /// The payload stream is truncated or altered.
    Payload,
    /// The JSON inside is not a vault.
    Json(String),
    /// A newer payload format.
    Newer(u32),
    /// A plugin identity's plugin failed or refused the identity (age's
    /// message, which names the plugin when age knows it).
    Plugin(String),
    /// The unlock material could not be gathered (it was deferred because
    /// the agent held a key, and that key did not fit).
    Unlock(UnlockError),
}

/// Decrypts and decodes a vault held in memory. Exposed for fuzzing.
///
/// A file key the keys already hold for this exact header (from the agent,
/// or from this process's own write) is tried first; when it does not fit,
/// the unlock material is (gathered and) tried, and the key it unwraps is
/// handed back to the keys.
pub fn open_bytes(bytes: &[u8], keys: &Keys) -> Result<Payload, OpenFailure> {
    if !bytes.starts_with(b"age-encryption.org/") {
        return Err(OpenFailure::NotAge);
    }
    let header = header_hash(bytes).ok_or(OpenFailure::Header)?;
    if let Some(key) = keys.held_key(&header) {
        let held = HeldKey(key);
        match decrypt(bytes, std::iter::once(&held as &dyn age::Identity)) {
            // A key that fails the header MAC is not this file's: go on to
            // the material, which also tells a damaged header apart.
            Err(OpenFailure::Header) => {}
            done => return done,
        }
    }
    let identities = keys.identities().map_err(OpenFailure::Unlock)?;
    let captured = RefCell::new(None);
    let capturing: Vec<CapturingIdentity<'_>> = identities
        .map(|id| CapturingIdentity::new(id, &captured))
        .collect();
    let payload = decrypt(bytes, capturing.iter().map(|c| c as &dyn age::Identity))?;
    drop(capturing);
    if let Some(key) = captured.into_inner() {
        keys.opened(&payload.vault_id, &header, &key);
    }
    Ok(payload)
}

fn decrypt<'a>(
    bytes: &[u8],
    identities: impl Iterator<Item = &'a dyn age::Identity>,
) -> Result<Payload, OpenFailure> {
    let decryptor = age::Decryptor::new_buffered(bytes).map_err(|_| OpenFailure::Header)?;
    let mut reader = decryptor.decrypt(identities).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => OpenFailure::NoMatch,
        // Only plugin identities run a process (and so can fail with I/O
        // errors here): the header was parsed above.
        age::DecryptError::Plugin(_)
        | age::DecryptError::PluginResolve(_)
        | age::DecryptError::Io(_) => OpenFailure::Plugin(crate::unlock::age_error_text(&e)),
        _ => OpenFailure::Header,
    })?;
    // The plaintext is shorter than the file; the slack keeps read_to_end
    // from growing (and so copying) the buffer.
    let mut plain = Zeroizing::new(Vec::with_capacity(bytes.len() + 64));
    reader
        .read_to_end(&mut plain)
        .map_err(|_| OpenFailure::Payload)?;
    decode_payload(&plain)
}

/// Decodes payload JSON, refusing newer formats first. Exposed for fuzzing.
pub fn decode_payload(plain: &[u8]) -> Result<Payload, OpenFailure> {
    #[derive(serde::Deserialize)]
    struct VersionProbe {
        version: u32,
    }
    let probe: VersionProbe =
        serde_json::from_slice(plain).map_err(|e| OpenFailure::Json(e.to_string()))?;
    if probe.version > FORMAT_VERSION {
        return Err(OpenFailure::Newer(probe.version));
    }
    let payload: Payload =
        serde_json::from_slice(plain).map_err(|e| OpenFailure::Json(e.to_string()))?;
    payload.validate().map_err(OpenFailure::Json)?;
    Ok(payload)
}
