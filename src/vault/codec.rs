//! Between the payload and the bytes on disk: JSON inside an age v1 file.
//!
//! Every buffer that holds plaintext is zeroized, including the ones a
//! growing `Vec` would otherwise leave behind in freed memory.

use std::io::{Read, Write};

use zeroize::Zeroizing;

use crate::zbuf::ZeroizingWriter;

use super::model::{Payload, FORMAT_VERSION};
use super::VaultError;
use crate::unlock::Keys;

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
    let plain = encode_payload(payload)?;
    let recipients = payload.recipients()?;
    // Plugins wrap here: a plugin that refuses its recipient or dies fails
    // the write, and says so (it is not a malformed vault).
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref()))
        .map_err(|e| VaultError::Seal(std::io::Error::other(crate::unlock::age_error_text(&e))))?;
    let mut out = Vec::with_capacity(plain.len() + 1024);
    let mut writer = encryptor.wrap_output(&mut out).map_err(VaultError::Seal)?;
    writer.write_all(&plain).map_err(VaultError::Seal)?;
    writer.finish().map_err(VaultError::Seal)?;
    Ok(out)
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
}

/// Decrypts and decodes a vault held in memory. Exposed for fuzzing.
pub fn open_bytes(bytes: &[u8], keys: &Keys) -> Result<Payload, OpenFailure> {
    if !bytes.starts_with(b"age-encryption.org/") {
        return Err(OpenFailure::NotAge);
    }
    let decryptor = age::Decryptor::new_buffered(bytes).map_err(|_| OpenFailure::Header)?;
    let mut reader = decryptor.decrypt(keys.iter()).map_err(|e| match e {
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
