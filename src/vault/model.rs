//! The vault payload: the JSON document inside the age file.
//!
//! ```json
//! { "format": "avault", "version": 1, "vault_id": "…", "created": "…",
//!   "session_cache_key": "<base64, 32 bytes>",
//!   "unlockers": [ { "id": "…", "type": "x25519", "added": "…", "recipient": "age1…" },
//!                  { "id": "…", "type": "passphrase", "added": "…",
//!                    "argon2id": { "salt": "…", "m_kib": 65536, "t": 3, "p": 1, "kek": "…" } } ],
//!   "profiles": { "NAME": { "access_key_id": "AKIA…", "secret_access_key": "…",
//!                           "mfa_serial": "arn:…", "totp": { "<mfa serial>": "otpauth://…" },
//!                           "created": "…", "rotated": "…" } } }
//! ```
//!
//! Secrets are `secrecy` types from the moment serde hands them over. The
//! structs avoid serde's internally tagged enums and `flatten`, which buffer
//! values (secrets included) in copies that are never zeroized.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::{Deserialize, Serialize};

use super::VaultError;
use crate::unlock::{self, KdfParams, Kek, UnlockError};

/// The payload format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// The `format` marker of a vault payload.
pub(crate) const FORMAT_NAME: &str = "avault";

/// A 32-byte secret key.
pub(crate) type Key32 = SecretBox<[u8; 32]>;

/// The decrypted vault.
#[derive(Serialize, Deserialize)]
pub struct Payload {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Payload format version.
    pub version: u32,
    /// Random id of this vault, stable for its life (binds the session cache).
    pub vault_id: String,
    /// When the vault was made.
    pub created: String,
    /// Key of the sibling session cache file.
    #[serde(with = "secret_key32")]
    pub session_cache_key: Key32,
    /// Who can open the vault. Every write seals the file key to each.
    pub unlockers: Vec<UnlockerRecord>,
    /// Long-term credentials by profile name.
    pub profiles: BTreeMap<String, StoredProfile>,
}

/// The kind of an unlocker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnlockerType {
    /// A passphrase through argon2id.
    Passphrase,
    /// An age X25519 identity.
    X25519,
    /// A YubiKey PIV slot (age-plugin-yubikey's `piv-p256`).
    #[serde(rename = "piv-p256")]
    PivP256,
    /// Any age plugin.
    Plugin,
}

impl UnlockerType {
    /// Its name, as the payload and `avault unlockers` spell it.
    pub fn name(self) -> &'static str {
        match self {
            UnlockerType::Passphrase => "passphrase",
            UnlockerType::X25519 => "x25519",
            UnlockerType::PivP256 => "piv-p256",
            UnlockerType::Plugin => "plugin",
        }
    }
}

/// One way to open the vault.
#[derive(Serialize, Deserialize)]
pub struct UnlockerRecord {
    /// Short random id, used by `unlockers remove`.
    pub id: String,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: UnlockerType,
    /// When it was added.
    pub added: String,
    /// For X25519, PIV and plugins: the public recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// For a passphrase: salt, cost and the derived key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argon2id: Option<PassphraseSeal>,
}

/// What re-seals the file key for a passphrase without the passphrase.
#[derive(Serialize, Deserialize)]
pub struct PassphraseSeal {
    /// Argon2id salt, base64.
    pub salt: String,
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
    /// argon2id(passphrase, salt), base64.
    #[serde(with = "secret_bytes")]
    pub kek: SecretBox<Vec<u8>>,
}

/// A stored long-term AWS key and what belongs with it.
#[derive(Serialize, Deserialize)]
pub struct StoredProfile {
    /// The access key id (`AKIA…`); an identifier, not a secret.
    pub access_key_id: String,
    /// The secret access key.
    #[serde(with = "secret_string")]
    pub secret_access_key: SecretString,
    /// The MFA device of this key's user, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_serial: Option<String>,
    /// TOTP seeds as otpauth URIs, keyed by MFA device serial.
    #[serde(
        default,
        with = "secret_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub totp: BTreeMap<String, SecretString>,
    /// When the key was first stored.
    pub created: String,
    /// When the key was last replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated: Option<String>,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_key32() -> Key32 {
    let mut key = Box::new([0u8; 32]);
    OsRng.fill_bytes(key.as_mut());
    SecretBox::new(key)
}

impl Payload {
    /// A new, empty vault with these unlockers.
    pub fn new(unlockers: Vec<UnlockerRecord>) -> Payload {
        Payload {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            vault_id: random_hex(16),
            created: crate::time_fmt::now_rfc3339(),
            session_cache_key: random_key32(),
            unlockers,
            profiles: BTreeMap::new(),
        }
    }

    /// Checks what serde cannot: the structure a vault must have.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.format != FORMAT_NAME {
            return Err(format!("format is {:?}, not {FORMAT_NAME:?}", self.format));
        }
        if self.vault_id.is_empty() {
            return Err("vault_id is empty".into());
        }
        if self.unlockers.is_empty() {
            return Err("it lists no unlockers".into());
        }
        for u in &self.unlockers {
            let ok = match u.kind {
                UnlockerType::X25519 | UnlockerType::PivP256 | UnlockerType::Plugin => {
                    u.recipient.is_some() && u.argon2id.is_none()
                }
                UnlockerType::Passphrase => u.argon2id.is_some() && u.recipient.is_none(),
            };
            if !ok {
                return Err(format!("unlocker {} is malformed", u.id));
            }
            if let Some(seal) = &u.argon2id {
                // Caught here, not at the next write.
                seal.salt_bytes().map_err(|e| e.to_string())?;
                seal.kek().map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// The age recipients every write seals the file key to.
    pub(crate) fn recipients(&self) -> Result<Vec<Box<dyn age::Recipient>>, VaultError> {
        self.unlockers
            .iter()
            .map(UnlockerRecord::recipient)
            .collect()
    }

    /// Whether a passphrase can open the vault.
    pub fn has_passphrase(&self) -> bool {
        self.unlockers
            .iter()
            .any(|u| u.kind == UnlockerType::Passphrase)
    }

    /// Adds an unlocker; a second passphrase is refused (use `passwd`).
    pub fn add_unlocker(&mut self, record: UnlockerRecord) -> Result<(), VaultError> {
        if record.kind == UnlockerType::Passphrase && self.has_passphrase() {
            return Err(VaultError::PassphraseExists);
        }
        if let Some(r) = &record.recipient {
            if self
                .unlockers
                .iter()
                .any(|u| u.recipient.as_ref() == Some(r))
            {
                return Err(VaultError::UnlockerExists(r.clone()));
            }
        }
        self.unlockers.push(record);
        Ok(())
    }

    /// Finds an unlocker by id, or by recipient.
    pub fn find_unlocker(&self, id_or_recipient: &str) -> Option<usize> {
        self.unlockers.iter().position(|u| {
            u.id == id_or_recipient || u.recipient.as_deref() == Some(id_or_recipient)
        })
    }

    /// Removes an unlocker. Whoever held it may have kept a copy of this
    /// payload, so what it revealed is replaced: every remaining passphrase
    /// gets a new salt and key (hence `passphrase`, which must be the vault's),
    /// and the session cache gets a new key.
    pub fn remove_unlocker(
        &mut self,
        index: usize,
        passphrase: Option<&SecretString>,
    ) -> Result<UnlockerRecord, VaultError> {
        if self.unlockers.len() <= 1 {
            return Err(VaultError::LastUnlocker);
        }
        let removed = self.unlockers.remove(index);
        for u in &mut self.unlockers {
            if let Some(seal) = &mut u.argon2id {
                let passphrase =
                    passphrase.ok_or(VaultError::Unlock(UnlockError::WrongPassphrase))?;
                seal.check(passphrase)?;
                *seal = PassphraseSeal::new(passphrase, seal.params())?;
            }
        }
        self.session_cache_key = random_key32();
        Ok(removed)
    }

    /// Sets a new passphrase on the existing passphrase unlocker.
    pub fn change_passphrase(
        &mut self,
        new: &SecretString,
        params: Option<KdfParams>,
    ) -> Result<(), VaultError> {
        let seal = self
            .unlockers
            .iter_mut()
            .find_map(|u| u.argon2id.as_mut())
            .ok_or(VaultError::NoPassphrase)?;
        *seal = PassphraseSeal::new(new, params.unwrap_or(seal.params()))?;
        Ok(())
    }
}

impl UnlockerRecord {
    /// A passphrase unlocker: runs argon2id once with a fresh salt.
    pub fn passphrase(passphrase: &SecretString, params: KdfParams) -> Result<Self, VaultError> {
        Ok(UnlockerRecord {
            id: random_hex(4),
            kind: UnlockerType::Passphrase,
            added: crate::time_fmt::now_rfc3339(),
            recipient: None,
            argon2id: Some(PassphraseSeal::new(passphrase, params)?),
        })
    }

    /// An unlocker for an age recipient: X25519 (`age1…`), a YubiKey PIV
    /// key (`age1yubikey1…`) or any plugin's (`age1<name>1…`).
    pub fn for_recipient(recipient: &str) -> Result<Self, VaultError> {
        let (kind, canonical) = unlock::classify_recipient(recipient)?;
        Ok(UnlockerRecord {
            id: random_hex(4),
            kind: match kind {
                unlock::RecipientKind::X25519 => UnlockerType::X25519,
                unlock::RecipientKind::PivP256 => UnlockerType::PivP256,
                unlock::RecipientKind::Plugin(_) => UnlockerType::Plugin,
            },
            added: crate::time_fmt::now_rfc3339(),
            recipient: Some(canonical),
            argon2id: None,
        })
    }

    /// An X25519 unlocker for an `age1…` recipient.
    pub fn x25519(recipient: &str) -> Result<Self, VaultError> {
        let record = Self::for_recipient(recipient)?;
        if record.kind != UnlockerType::X25519 {
            return Err(VaultError::Unlock(UnlockError::Recipient {
                shown: recipient.chars().take(24).collect(),
                reason: "not an X25519 recipient".into(),
            }));
        }
        Ok(record)
    }

    /// One line describing it, with no secret (`unlockers` listing).
    pub fn describe(&self) -> String {
        match (&self.recipient, &self.argon2id) {
            (Some(r), _) => r.clone(),
            (None, Some(seal)) => format!(
                "argon2id m={}MiB t={} p={}",
                seal.m_kib / 1024,
                seal.t,
                seal.p
            ),
            (None, None) => String::new(),
        }
    }

    fn recipient(&self) -> Result<Box<dyn age::Recipient>, VaultError> {
        match (&self.recipient, &self.argon2id) {
            (Some(r), None) => Ok(unlock::build_recipient(r)?),
            (None, Some(seal)) => {
                let salt = seal.salt_bytes()?;
                let kek = seal.kek()?;
                Ok(Box::new(unlock::PassphraseRecipient::new(
                    &salt,
                    seal.params(),
                    &kek,
                )))
            }
            _ => Err(VaultError::Malformed(format!(
                "unlocker {} is malformed",
                self.id
            ))),
        }
    }
}

impl PassphraseSeal {
    fn new(passphrase: &SecretString, params: KdfParams) -> Result<Self, VaultError> {
        let salt = unlock::passphrase::new_salt();
        let kek = Kek::derive(passphrase, &salt, params)?;
        Ok(PassphraseSeal {
            salt: STANDARD.encode(salt),
            m_kib: params.m_kib,
            t: params.t,
            p: params.p,
            kek: SecretBox::new(Box::new(kek.expose().to_vec())),
        })
    }

    /// The cost parameters.
    pub fn params(&self) -> KdfParams {
        KdfParams {
            m_kib: self.m_kib,
            t: self.t,
            p: self.p,
        }
    }

    fn salt_bytes(&self) -> Result<Vec<u8>, VaultError> {
        STANDARD
            .decode(&self.salt)
            .map_err(|_| VaultError::Malformed("a passphrase salt is not base64".into()))
    }

    fn kek(&self) -> Result<Kek, VaultError> {
        Kek::from_bytes(self.kek.expose_secret())
            .ok_or_else(|| VaultError::Malformed("a passphrase key has the wrong length".into()))
    }

    /// Checks that `passphrase` is the one this seal was made from.
    fn check(&self, passphrase: &SecretString) -> Result<(), VaultError> {
        let derived = Kek::derive(passphrase, &self.salt_bytes()?, self.params())?;
        if derived.matches(&self.kek()?) {
            Ok(())
        } else {
            Err(VaultError::Unlock(UnlockError::WrongPassphrase))
        }
    }
}

/// A `SecretString` as a plain JSON string.
pub(crate) mod secret_string {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.expose_secret())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        String::deserialize(d).map(SecretString::from)
    }
}

mod secret_map {
    use std::collections::BTreeMap;

    use secrecy::{ExposeSecret, SecretString};
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        v: &BTreeMap<String, SecretString>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(v.len()))?;
        for (k, secret) in v {
            map.serialize_entry(k, secret.expose_secret())?;
        }
        map.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, SecretString>, D::Error> {
        let plain = BTreeMap::<String, String>::deserialize(d)?;
        Ok(plain
            .into_iter()
            .map(|(k, v)| (k, SecretString::from(v)))
            .collect())
    }
}

/// Secret bytes as base64 strings; the text forms are zeroized too.
mod secret_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use secrecy::{ExposeSecret, SecretBox};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use zeroize::{Zeroize, Zeroizing};

    pub(super) fn serialize<T, S>(v: &SecretBox<T>, s: S) -> Result<S::Ok, S::Error>
    where
        T: AsRef<[u8]> + Zeroize,
        S: Serializer,
    {
        let text = Zeroizing::new(STANDARD.encode(v.expose_secret()));
        s.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<SecretBox<Vec<u8>>, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let bytes = STANDARD
            .decode(text.as_bytes())
            .map_err(|_| D::Error::custom("a key is not base64"))?;
        Ok(SecretBox::new(Box::new(bytes)))
    }
}

/// A 32-byte key as base64.
mod secret_key32 {
    use secrecy::{ExposeSecret, SecretBox};
    use serde::{de::Error, Deserializer};

    pub(super) use super::secret_bytes::serialize;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<SecretBox<[u8; 32]>, D::Error> {
        let bytes = super::secret_bytes::deserialize(d)?;
        let mut key = Box::new([0u8; 32]);
        if bytes.expose_secret().len() != 32 {
            return Err(D::Error::custom("session_cache_key is not 32 bytes"));
        }
        key.copy_from_slice(bytes.expose_secret());
        Ok(SecretBox::new(key))
    }
}
