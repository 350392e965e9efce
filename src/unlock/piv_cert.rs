//! After `--yubikey --generate`: the self-signed certificate that
//! age-plugin-yubikey keeps next to each of its keys (src/hw/cert.rs), so
//! that the slot is one the plugin lists and decrypts with, and one avault
//! finds on firmware before 5.3. The card signs it with the new key, so the
//! PIN is asked for (AVAULT_PIV_PIN, else the terminal) when the key's PIN
//! policy wants it, and "touch your YubiKey" said when its touch policy does.

use secrecy::ExposeSecret;

use super::piv_card::PIN_VAR;
use super::piv_p256::PivRecipient;
use crate::hw::{CertificateRequest, HwError, Policy, YubiKey};
use crate::output;

/// The OU of avault's certificates (age-plugin-yubikey writes its version).
const UNIT: &str = concat!("avault ", env!("CARGO_PKG_VERSION"));

/// Generates a P-256 key in `slot` with these policies and writes its
/// certificate; returns the public key (SEC1, as GENERATE gives it). The
/// management key must be authenticated.
///
/// The PIN is asked for and verified before GENERATE, so that a wrong or
/// missing PIN leaves the slot as it was. Without a way to get it (no
/// AVAULT_PIV_PIN, no terminal) the key is still generated on firmware 5.3+,
/// where avault reads a slot through its metadata, and the user is warned
/// that age-plugin-yubikey will not see it; before 5.3 the certificate is
/// how avault finds the key again, so that is an error.
pub fn generate_certified(
    key: &YubiKey,
    slot: u8,
    pin: Policy,
    touch: Policy,
) -> Result<Vec<u8>, HwError> {
    let n = slot.wrapping_sub(0x81);
    let secret = match pin {
        Policy::Never => None,
        _ => match super::piv_card::pin_if_available(key.serial)? {
            Some(secret) => {
                key.verify_pin(secret.expose_secret().as_bytes())?;
                Some(secret)
            }
            None if key.version >= (5, 3, 0) => None,
            None => return Err(HwError::PinRequired),
        },
    };
    let point = key.generate(slot, pin, touch)?;
    if pin != Policy::Never && secret.is_none() {
        output::warn(&format!(
            "no PIN to sign the certificate of slot {n} (set {PIN_VAR} or run in a terminal): \
             avault can use the slot, but age-plugin-yubikey will not list it"
        ));
        return Ok(point);
    }
    if let (Policy::Always, Some(secret)) = (pin, &secret) {
        // Policy always: each use of the key wants the PIN verified anew.
        key.verify_pin(secret.expose_secret().as_bytes())?;
    }
    let recipient = PivRecipient::from_compressed(&point).ok_or(HwError::Status {
        what: "GENERATE",
        sw: 0x9000,
    })?;
    let tag = recipient.tag();
    let name = format!(
        "age identity {:02x}{:02x}{:02x}{:02x}",
        tag[0], tag[1], tag[2], tag[3]
    );
    output::status(&format!(
        "Writing a self-signed certificate for slot {n} (as age-plugin-yubikey does)..."
    ));
    if touch != Policy::Never {
        crate::terminal::notice("Touch your YubiKey...");
    }
    let request = CertificateRequest {
        name: &name,
        unit: UNIT,
        pin,
        touch,
    };
    match key.write_certificate(slot, &point, &request) {
        Ok(_) => Ok(point),
        // The PIN is verified: what is missing is the touch.
        Err(HwError::PinRequired) if touch != Policy::Never => Err(HwError::TouchTimeout),
        Err(e) => Err(e),
    }
}
