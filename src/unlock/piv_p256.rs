//! The `piv-p256` stanza of age-plugin-yubikey, byte for byte, so that a
//! vault made for an `age1yubikey1…` recipient opens with stock `age` and
//! the plugin, and identities made by the plugin work here.
//!
//! ```text
//! -> piv-p256 <tag> <ephemeral point>
//! <ChaCha20-Poly1305(key, nonce = 0)(16-byte file key)>
//! ```
//!
//! `tag` is the first 4 bytes of SHA-256 of the recipient's compressed
//! point; the ephemeral point is compressed (33 bytes); `key =
//! HKDF-SHA256(ikm = ECDH x-coordinate, salt = ephemeral ‖ recipient,
//! info = "piv-p256")`. Wrapping is software; unwrapping needs the ECDH of
//! the card's slot key, which the caller supplies (src/hw/ for a YubiKey).

use age::{DecryptError, EncryptError};
use age_core::format::{FileKey, Stanza, FILE_KEY_BYTES};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use bech32::{Bech32, Hrp};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use p256::ecdh::EphemeralSecret;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::{EncodedPoint, PublicKey};
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::UnlockError;

/// The stanza tag.
pub const STANZA_TAG: &str = "piv-p256";
/// The recipient's bech32 prefix.
pub const RECIPIENT_HRP: &str = "age1yubikey";
/// The identity stub's bech32 prefix (upper-cased in the encoding).
pub const IDENTITY_HRP: &str = "age-plugin-yubikey-";
const INFO: &[u8] = b"piv-p256";

/// A YubiKey PIV recipient: a P-256 public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PivRecipient {
    point: PublicKey,
}

/// The 4-byte tag of a compressed point.
fn tag_of(compressed: &[u8]) -> [u8; 4] {
    let digest = Sha256::digest(compressed);
    [digest[0], digest[1], digest[2], digest[3]]
}

impl PivRecipient {
    /// Parses `age1yubikey1…`.
    pub fn parse(text: &str) -> Result<PivRecipient, UnlockError> {
        let bad = |reason: &str| UnlockError::Recipient {
            shown: text.chars().take(24).collect(),
            reason: reason.to_owned(),
        };
        let (hrp, data) = bech32::decode(text).map_err(|_| bad("not bech32"))?;
        if hrp.as_str() != RECIPIENT_HRP {
            return Err(bad("not an age1yubikey1 recipient"));
        }
        PivRecipient::from_compressed(&data).ok_or_else(|| bad("not a compressed P-256 point"))
    }

    /// From a SEC1 point (compressed or not).
    pub fn from_compressed(bytes: &[u8]) -> Option<PivRecipient> {
        let encoded = EncodedPoint::from_bytes(bytes).ok()?;
        Option::from(PublicKey::from_encoded_point(&encoded)).map(|point| PivRecipient { point })
    }

    /// The compressed point (33 bytes).
    pub fn compressed(&self) -> Vec<u8> {
        self.point.to_encoded_point(true).as_bytes().to_vec()
    }

    /// The stanza tag of this recipient.
    pub fn tag(&self) -> [u8; 4] {
        tag_of(&self.compressed())
    }

    /// The public key, for ECDH on a card.
    pub fn public_key(&self) -> &PublicKey {
        &self.point
    }

    /// Wraps with a given ephemeral secret (known-answer tests).
    pub fn wrap_with(&self, ephemeral: &p256::SecretKey, file_key: &FileKey) -> Stanza {
        let epk = ephemeral.public_key().to_encoded_point(true);
        let shared =
            p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), self.point.as_affine());
        let body = seal(
            shared.raw_secret_bytes().as_slice(),
            epk.as_bytes(),
            &self.compressed(),
            file_key,
        );
        Stanza {
            tag: STANZA_TAG.to_owned(),
            args: vec![
                STANDARD_NO_PAD.encode(self.tag()),
                STANDARD_NO_PAD.encode(epk.as_bytes()),
            ],
            body,
        }
    }
}

impl std::fmt::Display for PivRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hrp = Hrp::parse(RECIPIENT_HRP).map_err(|_| std::fmt::Error)?;
        let text =
            bech32::encode::<Bech32>(hrp, &self.compressed()).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

fn wrap_key(shared_x: &[u8], ephemeral: &[u8], recipient: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut salt = Vec::with_capacity(66);
    salt.extend_from_slice(ephemeral);
    salt.extend_from_slice(recipient);
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = Hkdf::<Sha256>::new(Some(&salt), shared_x).expand(INFO, key.as_mut());
    key
}

fn seal(shared_x: &[u8], ephemeral: &[u8], recipient: &[u8], file_key: &FileKey) -> Vec<u8> {
    use secrecy::ExposeSecret;
    let key = wrap_key(shared_x, ephemeral, recipient);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
    cipher
        .encrypt(
            Nonce::from_slice(&[0u8; 12]),
            file_key.expose_secret().as_slice(),
        )
        .unwrap_or_default()
}

impl age::Recipient for PivRecipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, std::collections::HashSet<String>), EncryptError> {
        let ephemeral = EphemeralSecret::random(&mut OsRng);
        let epk = ephemeral.public_key().to_encoded_point(true);
        let shared = ephemeral.diffie_hellman(&self.point);
        let body = seal(
            shared.raw_secret_bytes().as_slice(),
            epk.as_bytes(),
            &self.compressed(),
            file_key,
        );
        let stanza = Stanza {
            tag: STANZA_TAG.to_owned(),
            args: vec![
                STANDARD_NO_PAD.encode(self.tag()),
                STANDARD_NO_PAD.encode(epk.as_bytes()),
            ],
            body,
        };
        Ok((vec![stanza], Default::default()))
    }
}

/// A parsed `piv-p256` stanza addressed to `recipient`, or `None` when it
/// is for another key.
pub struct PivStanza {
    /// The ephemeral public key the card must do ECDH with.
    pub ephemeral: PublicKey,
    ephemeral_bytes: Vec<u8>,
    body: Vec<u8>,
}

impl PivStanza {
    /// Picks the stanza for `recipient` out of a header's stanzas.
    pub fn find(
        stanzas: &[Stanza],
        recipient: &PivRecipient,
    ) -> Option<Result<PivStanza, DecryptError>> {
        let tag = STANDARD_NO_PAD.encode(recipient.tag());
        let stanza = stanzas
            .iter()
            .find(|s| s.tag == STANZA_TAG && s.args.first() == Some(&tag))?;
        Some(PivStanza::parse(stanza))
    }

    fn parse(stanza: &Stanza) -> Result<PivStanza, DecryptError> {
        if stanza.args.len() != 2 || stanza.body.len() != FILE_KEY_BYTES + 16 {
            return Err(DecryptError::InvalidHeader);
        }
        let bytes = STANDARD_NO_PAD
            .decode(&stanza.args[1])
            .map_err(|_| DecryptError::InvalidHeader)?;
        let point = PivRecipient::from_compressed(&bytes)
            .filter(|_| bytes.len() == 33)
            .ok_or(DecryptError::InvalidHeader)?;
        Ok(PivStanza {
            ephemeral: point.point,
            ephemeral_bytes: bytes,
            body: stanza.body.clone(),
        })
    }

    /// The file key, given the x-coordinate of ECDH(slot key, ephemeral).
    pub fn open(&self, shared_x: &[u8], recipient: &PivRecipient) -> Result<FileKey, DecryptError> {
        let key = wrap_key(shared_x, &self.ephemeral_bytes, &recipient.compressed());
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
        let plain = Zeroizing::new(
            cipher
                .decrypt(Nonce::from_slice(&[0u8; 12]), self.body.as_slice())
                .map_err(|_| DecryptError::DecryptionFailed)?,
        );
        FileKey::try_init_with_mut(|k| {
            if plain.len() == FILE_KEY_BYTES {
                k.copy_from_slice(&plain);
                Ok(())
            } else {
                Err(DecryptError::DecryptionFailed)
            }
        })
    }
}

/// An age-plugin-yubikey identity stub: which YubiKey and slot hold the
/// key, and the recipient's tag. Holds no secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentityStub {
    /// The YubiKey's serial.
    pub serial: u32,
    /// The PIV slot (0x82–0x95 for the retired slots).
    pub slot: u8,
    /// The recipient's tag.
    pub tag: [u8; 4],
}

impl IdentityStub {
    /// Parses `AGE-PLUGIN-YUBIKEY-1…`.
    pub fn parse(text: &str) -> Option<IdentityStub> {
        let (hrp, data) = bech32::decode(&text.to_ascii_lowercase()).ok()?;
        if hrp.as_str() != IDENTITY_HRP || data.len() != 9 {
            return None;
        }
        Some(IdentityStub {
            serial: u32::from_le_bytes([data[0], data[1], data[2], data[3]]),
            slot: data[4],
            tag: [data[5], data[6], data[7], data[8]],
        })
    }
}

impl std::fmt::Display for IdentityStub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut data = self.serial.to_le_bytes().to_vec();
        data.push(self.slot);
        data.extend_from_slice(&self.tag);
        let hrp = Hrp::parse(IDENTITY_HRP).map_err(|_| std::fmt::Error)?;
        let text = bech32::encode::<Bech32>(hrp, &data).map_err(|_| std::fmt::Error)?;
        f.write_str(&text.to_ascii_uppercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const RECIPIENT: &str =
        "age1yubikey1qf0l9gks6x65ha077wq3w3u8fy02tpg3cd9w5j0jlgpfgqkcut2lwujzwye";

    #[test]
    fn known_answer_from_the_issue() {
        let recipient = PivRecipient::parse(RECIPIENT).expect("recipient");
        assert_eq!(recipient.to_string(), RECIPIENT);
        let scalar = STANDARD_NO_PAD
            .decode("N2WRutxd1Ed0l4piqArI2gKYSTG7peE8BYBrLLV7YjQ")
            .expect("b64");
        let ephemeral = p256::SecretKey::from_slice(&scalar).expect("scalar");
        let mut key = [0u8; 16];
        key[15] = 1;
        let stanza = recipient.wrap_with(&ephemeral, &FileKey::new(Box::new(key)));
        assert_eq!(stanza.tag, "piv-p256");
        assert_eq!(
            stanza.args,
            ["14yi6A", "Az7IeMpB4oX0CHt/Bc9xzk6x1K262zNxoUtfAikZa5T7"]
        );
        assert_eq!(
            STANDARD_NO_PAD.encode(&stanza.body),
            "SLgnrcnHLaJHCx+fwSEWWoflDgL91oDGCGNwb2YaT+4"
        );
    }

    #[test]
    fn software_card_round_trip() {
        let card = p256::SecretKey::random(&mut OsRng);
        let recipient = PivRecipient {
            point: card.public_key(),
        };
        let key = FileKey::new(Box::new([9u8; 16]));
        let (stanzas, _) = age::Recipient::wrap_file_key(&recipient, &key).expect("wrap");
        let found = PivStanza::find(&stanzas, &recipient)
            .expect("ours")
            .expect("parses");
        let shared =
            p256::ecdh::diffie_hellman(card.to_nonzero_scalar(), found.ephemeral.as_affine());
        let opened = found
            .open(shared.raw_secret_bytes().as_slice(), &recipient)
            .expect("opens");
        assert_eq!(opened.expose_secret(), &[9u8; 16]);
        let other = PivRecipient {
            point: p256::SecretKey::random(&mut OsRng).public_key(),
        };
        assert!(PivStanza::find(&stanzas, &other).is_none());
    }

    #[test]
    fn identity_stub_round_trip() {
        let stub = IdentityStub {
            serial: 16909060,
            slot: 0x82,
            tag: [1, 2, 3, 4],
        };
        let text = stub.to_string();
        assert!(text.starts_with("AGE-PLUGIN-YUBIKEY-1"), "{text}");
        assert_eq!(IdentityStub::parse(&text), Some(stub));
        assert!(IdentityStub::parse("AGE-PLUGIN-YUBIKEY-1QQQ").is_none());
    }
}
