//! The `avault-argon2id` stanza: the file key sealed under a key derived from
//! a passphrase.
//!
//! ```text
//! -> avault-argon2id <salt> <m KiB> <t> <p> <nonce>
//! <ChaCha20-Poly1305(kek, nonce, aad = the stanza line)(file key)>
//! ```
//!
//! `kek = argon2id(passphrase, salt, m, t, p)`. The salt changes whenever the
//! passphrase is set; the nonce changes on every write. The vault payload
//! keeps the kek (never the passphrase), so a vault opened by any unlocker can
//! re-seal a new file key for the passphrase without asking for it and
//! without a second KDF run. The stanza line is the AEAD's associated data,
//! so its KDF parameters cannot be lowered by someone who edits the file; the
//! age header MAC, keyed by the file key, binds the rest of the header.

use std::cell::RefCell;

use age::{DecryptError, EncryptError};
use age_core::format::{FileKey, Stanza, FILE_KEY_BYTES};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::UnlockError;

/// The stanza tag of a passphrase unlocker.
pub const STANZA_TAG: &str = "avault-argon2id";
/// Salt length in bytes.
pub const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const KEK_LEN: usize = 32;

/// Bounds on parameters, from the user or read from a file: a hostile vault
/// must not make us allocate many gigabytes or spin for minutes before the
/// AEAD can say no. 1 GiB and 16 passes is ~16x the default's cost.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;
const MAX_TIME_COST: u32 = 16;
const MAX_LANES: u32 = 8;

/// Argon2id cost parameters, as stored in the stanza and the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes over memory.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Default for KdfParams {
    /// m = 64 MiB, t = 3, p = 1.
    fn default() -> Self {
        KdfParams {
            m_kib: 64 * 1024,
            t: 3,
            p: 1,
        }
    }
}

impl KdfParams {
    /// Builds parameters from user choices in MiB, checking their bounds.
    pub fn from_user(memory_mib: u32, time: u32) -> Result<Self, UnlockError> {
        let m_kib = memory_mib.saturating_mul(1024);
        let params = KdfParams {
            m_kib,
            t: time,
            p: 1,
        };
        params.check()?;
        Ok(params)
    }

    fn check(&self) -> Result<(), UnlockError> {
        let ok = (8 * self.p..=MAX_MEMORY_KIB).contains(&self.m_kib)
            && (1..=MAX_TIME_COST).contains(&self.t)
            && (1..=MAX_LANES).contains(&self.p);
        if ok {
            Ok(())
        } else {
            Err(UnlockError::KdfParams {
                reason: format!(
                    "memory must be 1..=1024 MiB, time 1..={MAX_TIME_COST}, lanes 1..={MAX_LANES}"
                ),
            })
        }
    }
}

/// The key-encryption key for one salt: the output of argon2id.
pub struct Kek(Zeroizing<[u8; KEK_LEN]>);

impl Kek {
    /// Runs argon2id over the passphrase. This is the deliberate, slow step.
    pub fn derive(
        passphrase: &SecretString,
        salt: &[u8],
        params: KdfParams,
    ) -> Result<Kek, UnlockError> {
        params.check()?;
        let argon_params =
            Params::new(params.m_kib, params.t, params.p, Some(KEK_LEN)).map_err(|e| {
                UnlockError::KdfParams {
                    reason: e.to_string(),
                }
            })?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
        let mut out = Zeroizing::new([0u8; KEK_LEN]);
        argon
            .hash_password_into(passphrase.expose_secret().as_bytes(), salt, out.as_mut())
            .map_err(|e| UnlockError::KdfParams {
                reason: e.to_string(),
            })?;
        Ok(Kek(out))
    }

    /// Rebuilds a kek kept in the vault payload.
    pub fn from_bytes(bytes: &[u8]) -> Option<Kek> {
        let array: [u8; KEK_LEN] = bytes.try_into().ok()?;
        Some(Kek(Zeroizing::new(array)))
    }

    /// The raw key, for storing in the (encrypted) payload.
    pub fn expose(&self) -> &[u8] {
        self.0.as_ref()
    }

    /// Constant-time equality.
    pub fn matches(&self, other: &Kek) -> bool {
        self.0.ct_eq(other.0.as_ref()).into()
    }

    fn duplicate(&self) -> Kek {
        Kek(Zeroizing::new(*self.0))
    }
}

/// A fresh random salt.
pub fn new_salt() -> [u8; SALT_LEN] {
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    salt
}

fn stanza_args(salt: &[u8], params: KdfParams, nonce: &[u8]) -> Vec<String> {
    vec![
        STANDARD_NO_PAD.encode(salt),
        params.m_kib.to_string(),
        params.t.to_string(),
        params.p.to_string(),
        STANDARD_NO_PAD.encode(nonce),
    ]
}

fn associated_data(args: &[String]) -> Vec<u8> {
    let mut aad = STANZA_TAG.as_bytes().to_vec();
    for arg in args {
        aad.push(b' ');
        aad.extend_from_slice(arg.as_bytes());
    }
    aad
}

/// Seals file keys for a passphrase unlocker whose kek is already known.
pub struct PassphraseRecipient {
    salt: Vec<u8>,
    params: KdfParams,
    kek: Kek,
}

impl PassphraseRecipient {
    /// A recipient for the given salt, parameters and kek.
    pub fn new(salt: &[u8], params: KdfParams, kek: &Kek) -> Self {
        PassphraseRecipient {
            salt: salt.to_vec(),
            params,
            kek: kek.duplicate(),
        }
    }
}

impl age::Recipient for PassphraseRecipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, std::collections::HashSet<String>), EncryptError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let args = stanza_args(&self.salt, self.params, &nonce);
        let aad = associated_data(&args);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(self.kek.expose()));
        let body = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: file_key.expose_secret(),
                    aad: &aad,
                },
            )
            .map_err(|_| EncryptError::Io(std::io::Error::other("sealing the file key failed")))?;
        let stanza = Stanza {
            tag: STANZA_TAG.to_owned(),
            args,
            body,
        };
        Ok((vec![stanza], Default::default()))
    }
}

struct ParsedStanza {
    salt: Vec<u8>,
    params: KdfParams,
    nonce: [u8; NONCE_LEN],
}

fn parse_stanza(stanza: &Stanza) -> Option<ParsedStanza> {
    if stanza.args.len() != 5 || stanza.body.len() != FILE_KEY_BYTES + 16 {
        return None;
    }
    let salt = STANDARD_NO_PAD.decode(&stanza.args[0]).ok()?;
    let params = KdfParams {
        m_kib: stanza.args[1].parse().ok()?,
        t: stanza.args[2].parse().ok()?,
        p: stanza.args[3].parse().ok()?,
    };
    let nonce: [u8; NONCE_LEN] = STANDARD_NO_PAD
        .decode(&stanza.args[4])
        .ok()?
        .try_into()
        .ok()?;
    if salt.len() != SALT_LEN || params.check().is_err() {
        return None;
    }
    Some(ParsedStanza {
        salt,
        params,
        nonce,
    })
}

/// Opens `avault-argon2id` stanzas with a passphrase.
///
/// Remembers the kek of the last salt it derived, so re-reading the vault
/// under the write lock costs no second argon2id run.
pub struct PassphraseIdentity {
    passphrase: SecretString,
    derived: RefCell<Option<(Vec<u8>, KdfParams, Kek)>>,
}

impl PassphraseIdentity {
    /// An identity for this passphrase.
    pub fn new(passphrase: SecretString) -> Self {
        PassphraseIdentity {
            passphrase,
            derived: RefCell::new(None),
        }
    }

    /// The passphrase, for checks that need it again (re-keying).
    pub fn passphrase(&self) -> &SecretString {
        &self.passphrase
    }

    fn kek_for(&self, salt: &[u8], params: KdfParams) -> Result<Kek, UnlockError> {
        if let Some((s, p, kek)) = self.derived.borrow().as_ref() {
            if s == salt && *p == params {
                return Ok(kek.duplicate());
            }
        }
        let kek = Kek::derive(&self.passphrase, salt, params)?;
        *self.derived.borrow_mut() = Some((salt.to_vec(), params, kek.duplicate()));
        Ok(kek)
    }
}

impl age::Identity for PassphraseIdentity {
    /// avault writes one passphrase stanza per file. A header with several
    /// could make us run argon2id once per stanza, so it is refused.
    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey, DecryptError>> {
        let mut ours = stanzas.iter().filter(|s| s.tag == STANZA_TAG);
        let first = ours.next()?;
        if ours.next().is_some() {
            return Some(Err(DecryptError::InvalidHeader));
        }
        self.unwrap_stanza(first)
    }

    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        // A malformed stanza of our type means the header was altered.
        let Some(parsed) = parse_stanza(stanza) else {
            return Some(Err(DecryptError::InvalidHeader));
        };
        let kek = match self.kek_for(&parsed.salt, parsed.params) {
            Ok(kek) => kek,
            Err(_) => return Some(Err(DecryptError::InvalidHeader)),
        };
        let aad = associated_data(&stanza.args);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(kek.expose()));
        let plain = cipher.decrypt(
            Nonce::from_slice(&parsed.nonce),
            Payload {
                msg: &stanza.body,
                aad: &aad,
            },
        );
        // A wrong passphrase is "this identity does not match", so that
        // another unlocker in the same header may still be tried.
        let plain = Zeroizing::new(plain.ok()?);
        Some(FileKey::try_init_with_mut(|key| {
            if plain.len() == FILE_KEY_BYTES {
                key.copy_from_slice(&plain);
                Ok(())
            } else {
                Err(DecryptError::InvalidHeader)
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::{Identity, Recipient};

    fn cheap() -> KdfParams {
        KdfParams {
            m_kib: 64,
            t: 1,
            p: 1,
        }
    }

    #[test]
    fn wrap_then_unwrap_returns_the_file_key() {
        let pass = SecretString::from("correct horse".to_owned());
        let salt = new_salt();
        let kek = Kek::derive(&pass, &salt, cheap()).expect("kdf");
        let key = FileKey::new(Box::new([7u8; 16]));
        let (stanzas, labels) = PassphraseRecipient::new(&salt, cheap(), &kek)
            .wrap_file_key(&key)
            .expect("wrap");
        assert!(labels.is_empty());
        let got = PassphraseIdentity::new(pass)
            .unwrap_stanzas(&stanzas)
            .expect("matches")
            .expect("opens");
        assert_eq!(got.expose_secret(), &[7u8; 16]);
    }

    #[test]
    fn wrong_passphrase_does_not_match() {
        let salt = new_salt();
        let kek =
            Kek::derive(&SecretString::from("right".to_owned()), &salt, cheap()).expect("kdf");
        let key = FileKey::new(Box::new([1u8; 16]));
        let (stanzas, _) = PassphraseRecipient::new(&salt, cheap(), &kek)
            .wrap_file_key(&key)
            .expect("wrap");
        let id = PassphraseIdentity::new(SecretString::from("wrong".to_owned()));
        assert!(id.unwrap_stanzas(&stanzas).is_none());
    }

    #[test]
    fn lowered_kdf_parameters_fail_authentication() {
        let pass = SecretString::from("pw".to_owned());
        let salt = new_salt();
        let params = KdfParams {
            m_kib: 128,
            t: 2,
            p: 1,
        };
        let kek = Kek::derive(&pass, &salt, params).expect("kdf");
        let key = FileKey::new(Box::new([2u8; 16]));
        let (mut stanzas, _) = PassphraseRecipient::new(&salt, params, &kek)
            .wrap_file_key(&key)
            .expect("wrap");
        stanzas[0].args[2] = "1".into();
        assert!(PassphraseIdentity::new(pass)
            .unwrap_stanzas(&stanzas)
            .is_none());
    }

    #[test]
    fn hostile_parameters_are_refused_before_the_kdf_runs() {
        let stanza = Stanza {
            tag: STANZA_TAG.into(),
            args: vec![
                STANDARD_NO_PAD.encode([0u8; 16]),
                u32::MAX.to_string(),
                "1".into(),
                "1".into(),
                STANDARD_NO_PAD.encode([0u8; 12]),
            ],
            body: vec![0u8; 32],
        };
        let id = PassphraseIdentity::new(SecretString::from("x".to_owned()));
        assert!(matches!(
            id.unwrap_stanza(&stanza),
            Some(Err(DecryptError::InvalidHeader))
        ));
    }

    #[test]
    fn a_header_with_two_passphrase_stanzas_is_refused() {
        let pass = SecretString::from("pw".to_owned());
        let salt = new_salt();
        let kek = Kek::derive(&pass, &salt, cheap()).expect("kdf");
        let key = FileKey::new(Box::new([3u8; 16]));
        let recipient = PassphraseRecipient::new(&salt, cheap(), &kek);
        let (mut stanzas, _) = recipient.wrap_file_key(&key).expect("wrap");
        stanzas.extend(recipient.wrap_file_key(&key).expect("wrap").0);
        assert!(matches!(
            PassphraseIdentity::new(pass).unwrap_stanzas(&stanzas),
            Some(Err(DecryptError::InvalidHeader))
        ));
    }

    #[test]
    fn user_parameters_are_bounded() {
        assert!(KdfParams::from_user(64, 3).is_ok());
        assert!(KdfParams::from_user(0, 3).is_err());
        assert!(KdfParams::from_user(64, 0).is_err());
        assert!(KdfParams::from_user(1025, 1).is_err());
        assert!(KdfParams::from_user(64, 17).is_err());
    }
}
