//! The session cache: short-lived STS results in a sibling file
//! `<vault>.sessions`, never in the vault itself, so session churn cannot
//! put long-term keys at risk.
//!
//! ```text
//! "avault-sessions\x01" (16 bytes) ‖ nonce (24) ‖ XChaCha20-Poly1305(key, nonce, aad = magic ‖ vault id)(JSON)
//! ```
//!
//! The key is the vault's `session_cache_key`; the vault id in the AAD binds
//! the cache to its vault. A cache that does not open (damaged, or another
//! vault's) is disposable: it is dropped with a warning and rebuilt.
//! Writers lock `<vault>.sessions.lock`; refreshes of one session are
//! single-flight through a lock file per session key in `<vault>.locks/`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::model::secret_string;
use super::{store, Payload, Vault, VaultError};
use crate::output;

const MAGIC: &[u8; 16] = b"avault-sessions\x01";
const NONCE_LEN: usize = 24;

/// One cached session.
#[derive(Clone, Serialize, Deserialize)]
pub struct CachedSession {
    /// The profile it was made for (what `list` and `clear` show and match).
    pub profile: String,
    /// What made it, e.g. `sts.GetSessionToken` or `sts.AssumeRole`.
    pub kind: String,
    /// Unix time it expires at.
    pub expires: i64,
    /// The credentials, as credential_process JSON.
    #[serde(with = "secret_string")]
    pub data: SecretString,
}

#[derive(Default, Serialize, Deserialize)]
struct CacheDoc {
    #[serde(default)]
    sessions: BTreeMap<String, CachedSession>,
    /// Last TOTP time step used per MFA serial (AWS rejects a reused code).
    #[serde(default)]
    totp_steps: BTreeMap<String, u64>,
}

/// The session cache of one vault.
pub struct SessionCache {
    path: PathBuf,
    locks: PathBuf,
    key: Zeroizing<[u8; 32]>,
    vault_id: String,
}

/// Held while a session is being refreshed; others wait for it.
pub struct RefreshLock {
    _lock: store::WriteLock,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl SessionCache {
    /// The cache beside `vault`, keyed by the opened payload.
    pub fn new(vault: &Vault, payload: &Payload) -> SessionCache {
        SessionCache {
            path: store::sibling(vault.path(), ".sessions"),
            locks: store::sibling(vault.path(), ".locks"),
            key: Zeroizing::new(*payload.session_cache_key.expose_secret()),
            vault_id: payload.vault_id.clone(),
        }
    }

    fn aad(&self) -> Vec<u8> {
        let mut aad = MAGIC.to_vec();
        aad.extend_from_slice(self.vault_id.as_bytes());
        aad
    }

    fn load(&self) -> CacheDoc {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(_) => return CacheDoc::default(),
        };
        match self.decrypt(&bytes) {
            Some(doc) => doc,
            None => {
                output::warn(&format!(
                    "session cache {} is damaged or belongs to another vault: starting a new one",
                    self.path.display()
                ));
                CacheDoc::default()
            }
        }
    }

    fn decrypt(&self, bytes: &[u8]) -> Option<CacheDoc> {
        let rest = bytes.strip_prefix(MAGIC.as_slice())?;
        if rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&self.key[..]));
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(nonce),
                    AeadPayload {
                        msg: sealed,
                        aad: &self.aad(),
                    },
                )
                .ok()?,
        );
        serde_json::from_slice(&plain).ok()
    }

    fn save(&self, doc: &CacheDoc, lock: &store::WriteLock) -> Result<(), VaultError> {
        let mut plain = crate::zbuf::ZeroizingWriter::with_capacity(4096);
        serde_json::to_writer(&mut plain, doc).map_err(|e| {
            VaultError::Malformed(format!("cannot serialize the session cache: {e}"))
        })?;
        let plain = plain.into_inner();
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&self.key[..]));
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                AeadPayload {
                    msg: &plain,
                    aad: &self.aad(),
                },
            )
            .map_err(|_| VaultError::Malformed("cannot encrypt the session cache".into()))?;
        let mut bytes = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        store::write_atomic(&self.path, &bytes, lock)
    }

    /// Changes the cache under its lock: re-read, change, drop expired
    /// entries, write.
    fn change<T>(&self, f: impl FnOnce(&mut CacheDoc) -> T) -> Result<T, VaultError> {
        let lock = store::lock(&self.path)?;
        let mut doc = self.load();
        let out = f(&mut doc);
        let now = now();
        doc.sessions.retain(|_, s| s.expires > now);
        self.save(&doc, &lock)?;
        Ok(out)
    }

    /// The session under `key` if it has more than `min_left` seconds left.
    pub fn get(&self, key: &str, min_left: i64) -> Option<CachedSession> {
        let now = now();
        self.load()
            .sessions
            .remove(key)
            .filter(|s| s.expires - now > min_left)
    }

    /// Every unexpired session, by key.
    pub fn all(&self) -> Vec<(String, CachedSession)> {
        let now = now();
        self.load()
            .sessions
            .into_iter()
            .filter(|(_, s)| s.expires > now)
            .collect()
    }

    /// Stores a session.
    pub fn put(&self, key: &str, session: CachedSession) -> Result<(), VaultError> {
        self.change(|doc| {
            doc.sessions.insert(key.to_owned(), session);
        })
    }

    /// Drops the sessions `matches` picks; returns how many.
    pub fn remove(
        &self,
        matches: impl Fn(&str, &CachedSession) -> bool,
    ) -> Result<usize, VaultError> {
        if !self.path.exists() {
            return Ok(0);
        }
        self.change(|doc| {
            let before = doc.sessions.len();
            doc.sessions.retain(|k, s| !matches(k, s));
            before - doc.sessions.len()
        })
    }

    /// Waits until no other process is refreshing `key`, then holds that
    /// right until the returned lock drops.
    pub fn refresh_lock(&self, key: &str) -> Result<RefreshLock, VaultError> {
        let digest = Sha256::digest(key.as_bytes());
        let name: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        let lock = store::lock_file(&self.locks.join(format!("{name}.lock")))?;
        Ok(RefreshLock { _lock: lock })
    }

    /// Claims TOTP time step `step` for `serial`: returns false when that
    /// step (or a later one) was already used, so the caller waits for the
    /// next code instead of sending one AWS will reject.
    pub fn claim_totp_step(&self, serial: &str, step: u64) -> Result<bool, VaultError> {
        self.change(|doc| {
            let last = doc.totp_steps.get(serial).copied().unwrap_or(0);
            if step <= last {
                false
            } else {
                doc.totp_steps.insert(serial.to_owned(), step);
                true
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::UnlockerRecord;

    fn cache(dir: &std::path::Path) -> (SessionCache, Payload) {
        let (_, recipient) = crate::unlock::generate_identity();
        let payload = Payload::new(vec![UnlockerRecord::x25519(&recipient).expect("recipient")]);
        let vault = Vault::at(dir.join("vault.age"));
        (SessionCache::new(&vault, &payload), payload)
    }

    fn session(profile: &str, expires: i64) -> CachedSession {
        CachedSession {
            profile: profile.into(),
            kind: "sts.GetSessionToken".into(),
            expires,
            data: SecretString::from("{}".to_owned()),
        }
    }

    #[test]
    fn put_get_expiry_and_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (c, _) = cache(dir.path());
        c.put("a", session("a", now() + 3600)).expect("put");
        c.put("b", session("b", now() + 100)).expect("put");
        assert!(c.get("a", 300).is_some());
        assert!(c.get("b", 300).is_none(), "inside the refresh margin");
        assert!(c.get("b", 0).is_some());
        assert_eq!(c.remove(|_, s| s.profile == "a").expect("remove"), 1);
        assert!(c.get("a", 0).is_none());
        let bytes = std::fs::read(dir.path().join("vault.age.sessions")).expect("file");
        assert!(bytes.starts_with(MAGIC));
        assert!(!bytes.windows(20).any(|w| w == b"sts.GetSessionToken\""));
    }

    #[test]
    fn a_foreign_cache_is_discarded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (c, _) = cache(dir.path());
        c.put("a", session("a", now() + 3600)).expect("put");
        let (other, _) = cache(dir.path());
        assert!(other.get("a", 0).is_none());
        other.put("b", session("b", now() + 3600)).expect("put");
        assert!(other.get("b", 0).is_some());
    }

    #[test]
    fn totp_steps_are_claimed_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (c, _) = cache(dir.path());
        assert!(c.claim_totp_step("arn:mfa", 100).expect("claim"));
        assert!(!c.claim_totp_step("arn:mfa", 100).expect("claim"));
        assert!(!c.claim_totp_step("arn:mfa", 99).expect("claim"));
        assert!(c.claim_totp_step("arn:mfa", 101).expect("claim"));
        assert!(c.claim_totp_step("arn:other", 100).expect("claim"));
    }
}
