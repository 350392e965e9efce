//! YubiKeys over PC/SC (cargo feature `yubikey`): the PIV applet for
//! unlocking and the OATH applet for MFA codes. The only module that talks
//! to pcscd; everything above it sees `YubiKey` and `Oath`.

mod card;
pub mod cert;
mod mgmt;
pub mod oath;
pub mod piv;

pub use cert::{CertificateRequest, SlotCertificate};
pub use oath::Oath;
pub use piv::{retired_slot, Policy, YubiKey, DEFAULT_MANAGEMENT_KEY};

/// What can go wrong with a YubiKey. Never carries a PIN or a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HwError {
    /// No PC/SC daemon.
    #[error("pcscd is not running")]
    NoPcscd,
    /// No YubiKey attached.
    #[error("no YubiKey found")]
    NoYubiKey,
    /// Several and no serial given.
    #[error("several YubiKeys are attached (serials {serials:?})")]
    Several {
        /// Their serials.
        serials: Vec<u32>,
    },
    /// The asked-for serial is absent.
    #[error("no YubiKey with serial {serial} is attached")]
    NotFound {
        /// The serial.
        serial: u32,
    },
    /// The card went away.
    #[error("the YubiKey was removed (or stopped answering)")]
    Removed,
    /// Wrong PIN.
    #[error("wrong PIN: {retries} tries left before the PIN is blocked")]
    WrongPin {
        /// Tries left.
        retries: u8,
    },
    /// PIN blocked.
    #[error("the YubiKey's PIN is blocked")]
    PinBlocked,
    /// A PIN of the wrong length.
    #[error("a PIV PIN has 6 to 8 characters")]
    PinFormat,
    /// The card wants the PIN first.
    #[error("the YubiKey wants its PIN for this slot")]
    PinRequired,
    /// Nothing in the slot.
    #[error("PIV slot {slot:#04x} of the YubiKey holds no P-256 key")]
    SlotEmpty {
        /// The slot.
        slot: u8,
    },
    /// The slot holds another key than the unlocker's.
    #[error("no slot of YubiKey {serial} holds this vault's key")]
    OtherKey {
        /// The YubiKey.
        serial: u32,
    },
    /// The management key was refused.
    #[error("the YubiKey refused the management key")]
    ManagementKey,
    /// A management key algorithm we do not speak.
    #[error(
        "the YubiKey's management key uses algorithm {alg:#04x}, which avault does not support"
    )]
    UnsupportedManagementKey {
        /// The PIV algorithm id.
        alg: u8,
    },
    /// OATH password wrong or missing.
    #[error("the YubiKey's OATH applet refused the password")]
    OathPassword,
    /// No such OATH credential.
    #[error("the YubiKey has no OATH credential named {name:?}")]
    OathCredential {
        /// The name looked for.
        name: String,
    },
    /// Touch was not given in time.
    #[error("the YubiKey was not touched in time")]
    TouchTimeout,
    /// An unexpected status word.
    #[error("the YubiKey answered {what} with status {sw:04x}")]
    Status {
        /// The command.
        what: &'static str,
        /// Its status word.
        sw: u16,
    },
    /// Another PC/SC error.
    #[error("PC/SC: {0}")]
    Pcsc(String),
}

impl HwError {
    /// A line that tells the user what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            HwError::NoPcscd => "start it: sudo systemctl start pcscd (Debian: apt install pcscd)".into(),
            HwError::NoYubiKey => "insert the YubiKey".into(),
            HwError::Several { .. } => "choose one with --serial (or YKMAN_OATH_DEVICE_SERIAL for codes)".into(),
            HwError::WrongPin { .. } => "check the PIN (AVAULT_PIV_PIN, or type it)".into(),
            HwError::PinBlocked => "unblock it with the PUK: ykman piv access unblock-pin".into(),
            HwError::OathPassword => "set AVAULT_OATH_PASSWORD or type the password".into(),
            HwError::ManagementKey => "the key's management key is not the default: set it up with ykman, or use a slot that already holds a key".into(),
            _ => return None,
        })
    }
}

impl YubiKey {
    /// Switches this card to its OATH applet.
    pub fn into_oath(self) -> Result<Oath, HwError> {
        Oath::select(self.into_card())
    }
}
