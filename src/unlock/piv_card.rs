//! Opening `piv-p256` stanzas with a YubiKey attached here: find the slot
//! whose key matches a stanza's tag, verify the PIN, say "touch your
//! YubiKey" when the slot wants a touch, and let the card do the ECDH.

use std::cell::RefCell;

use age::DecryptError;
use age_core::format::{FileKey, Stanza};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use secrecy::{ExposeSecret, SecretString};

use super::piv_p256::{PivRecipient, PivStanza, STANZA_TAG};
use crate::hw::{retired_slot, HwError, YubiKey};
use crate::terminal::Terminal;

/// The PIN for unattended machines.
pub const PIN_VAR: &str = "AVAULT_PIV_PIN";

/// Every YubiKey attached, as an age identity.
pub struct CardIdentity {
    /// Why the card could not open the vault, for the error message.
    failure: RefCell<Option<HwError>>,
}

impl CardIdentity {
    /// An identity that looks for YubiKeys when a stanza is theirs.
    pub fn new() -> CardIdentity {
        CardIdentity {
            failure: RefCell::new(None),
        }
    }

    /// Whether any YubiKey is attached (and pcscd answers).
    pub fn present() -> bool {
        YubiKey::all().is_ok_and(|keys| !keys.is_empty())
    }

    /// What went wrong, when the card was tried and failed.
    pub fn take_failure(&self) -> Option<HwError> {
        self.failure.borrow_mut().take()
    }

    fn open(&self, stanzas: &[Stanza]) -> Result<Option<FileKey>, HwError> {
        let keys = YubiKey::all()?;
        if keys.is_empty() {
            return Err(HwError::NoYubiKey);
        }
        let first_serial = keys[0].serial;
        let mut last = None;
        for key in keys {
            for n in 1..=20 {
                let Some(slot) = retired_slot(n) else {
                    continue;
                };
                let Some((point, touch)) = key.slot_key(slot)? else {
                    continue;
                };
                let Some(recipient) = PivRecipient::from_compressed(&point) else {
                    continue;
                };
                let Some(found) = PivStanza::find(stanzas, &recipient) else {
                    continue;
                };
                let Ok(stanza) = found else { continue };
                if key.pin_retries()?.is_some() {
                    let pin = pin_for(key.serial)?;
                    key.verify_pin(pin.expose_secret().as_bytes())?;
                }
                if touch {
                    crate::terminal::notice("Touch your YubiKey...");
                }
                let peer = stanza.ephemeral.to_encoded_point(false);
                let shared = key.ecdh(slot, peer.as_bytes())?;
                match stanza.open(&shared, &recipient) {
                    Ok(file_key) => return Ok(Some(file_key)),
                    Err(_) => last = Some(HwError::OtherKey { serial: key.serial }),
                }
            }
        }
        // YubiKeys are attached, but none holds a key of this vault.
        Err(last.unwrap_or(HwError::OtherKey {
            serial: first_serial,
        }))
    }
}

impl Default for CardIdentity {
    fn default() -> Self {
        Self::new()
    }
}

/// The PIN from `AVAULT_PIV_PIN`, else asked on the terminal; `None` when
/// there is neither.
pub(super) fn pin_if_available(serial: u32) -> Result<Option<SecretString>, HwError> {
    if let Some(pin) = std::env::var_os(PIN_VAR) {
        return Ok(Some(SecretString::from(pin.to_string_lossy().into_owned())));
    }
    let Some(mut tty) = Terminal::open() else {
        return Ok(None);
    };
    tty.ask_hidden(&format!("Enter PIN for YubiKey with serial {serial}: "))
        .map(Some)
        .map_err(|e| HwError::Pcsc(e.to_string()))
}

fn pin_for(serial: u32) -> Result<SecretString, HwError> {
    pin_if_available(serial)?.ok_or(HwError::PinRequired)
}

impl age::Identity for CardIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        self.unwrap_stanzas(std::slice::from_ref(stanza))
    }

    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey, DecryptError>> {
        if !stanzas.iter().any(|s| s.tag == STANZA_TAG) {
            return None;
        }
        match self.open(stanzas) {
            Ok(Some(key)) => Some(Ok(key)),
            Ok(None) => None,
            Err(e) => {
                // age has no room for our reason: keep it for the message.
                *self.failure.borrow_mut() = Some(e);
                None
            }
        }
    }
}
