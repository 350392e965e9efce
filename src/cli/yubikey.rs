//! `--yubikey` for `init` and `unlockers add`: a YubiKey PIV slot as an
//! unlocker, with the key already there or generated.

use super::CliError;
use crate::vault::UnlockerRecord;

/// The management key for generation, as 48 hex digits, when it is not
/// the factory default.
#[cfg(feature = "yubikey")]
const MANAGEMENT_KEY_VAR: &str = "AVAULT_PIV_MANAGEMENT_KEY";

/// A PIN or touch policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum PolicyArg {
    /// Never.
    Never,
    /// Once per session (PIN) or cached for 15 s (touch).
    Once,
    /// Every time.
    Always,
}

/// Flags that choose a YubiKey slot.
#[derive(clap::Args)]
pub(super) struct YubiKeyArgs {
    /// Add a YubiKey PIV slot as an unlocker (build with --features yubikey)
    #[arg(long)]
    pub(super) yubikey: bool,

    /// Which YubiKey, by serial, when several are attached
    #[arg(long, value_name = "SERIAL", requires = "yubikey")]
    serial: Option<u32>,

    /// The retired PIV slot, 1-20 [default: the first with a P-256 key;
    /// with --generate, the first empty one]
    #[arg(long, value_name = "N", requires = "yubikey",
          value_parser = clap::value_parser!(u8).range(1..=20))]
    slot: Option<u8>,

    /// Generate a new P-256 key in the slot (needs the management key: the
    /// default, or AVAULT_PIV_MANAGEMENT_KEY)
    #[arg(long, requires = "yubikey")]
    generate: bool,

    /// PIN policy of a generated key
    #[arg(long, value_enum, default_value = "once", requires = "generate")]
    pin_policy: PolicyArg,

    /// Touch policy of a generated key
    #[arg(long, value_enum, default_value = "always", requires = "generate")]
    touch_policy: PolicyArg,
}

/// The unlocker the flags describe, made on the card.
#[cfg(not(feature = "yubikey"))]
pub(super) fn unlocker(_args: &YubiKeyArgs) -> Result<UnlockerRecord, CliError> {
    Err(CliError::input(
        "this avault was built without YubiKey support",
        "reinstall with: cargo install --path . --features yubikey (needs libpcsclite-dev)",
    ))
}

/// The unlocker the flags describe, made on the card.
#[cfg(feature = "yubikey")]
pub(super) fn unlocker(args: &YubiKeyArgs) -> Result<UnlockerRecord, CliError> {
    use crate::hw::{retired_slot, Policy, YubiKey, DEFAULT_MANAGEMENT_KEY};
    use crate::output;
    use crate::unlock::piv_p256::{IdentityStub, PivRecipient};
    use crate::unlock::UnlockError;

    let policy = |p: PolicyArg| match p {
        PolicyArg::Never => Policy::Never,
        PolicyArg::Once => Policy::Once,
        PolicyArg::Always => Policy::Always,
    };
    let hw = |e| CliError::Unlock(UnlockError::Hardware(e));
    let key = YubiKey::open(args.serial).map_err(hw)?;
    let mut chosen = None;
    for n in args.slot.map_or(1..=20, |n| n..=n) {
        let slot = retired_slot(n).unwrap_or(0x82);
        let held = key.slot_key(slot).map_err(hw)?;
        match (args.generate, held) {
            (false, Some((point, _))) => {
                chosen = Some((n, slot, point));
                break;
            }
            (true, None) => {
                chosen = Some((n, slot, Vec::new()));
                break;
            }
            (true, Some(_)) if args.slot.is_some() => {
                return Err(CliError::input(
                    format!("slot {n} of YubiKey {} already holds a key", key.serial),
                    "use it without --generate, or choose an empty slot with --slot",
                ));
            }
            _ => {}
        }
    }
    let (n, slot, mut point) = chosen.ok_or_else(|| {
        CliError::input(
            format!(
                "no {} slot on YubiKey {}",
                if args.generate { "empty" } else { "P-256" },
                key.serial
            ),
            if args.generate {
                "free a retired slot with ykman piv keys delete"
            } else {
                "generate one with: avault unlockers add --yubikey --generate"
            },
        )
    })?;
    if args.generate {
        let mgmt = match std::env::var(MANAGEMENT_KEY_VAR) {
            Ok(hex) => parse_key(&hex)?,
            Err(_) => DEFAULT_MANAGEMENT_KEY,
        };
        key.authenticate(&mgmt).map_err(hw)?;
        output::status(&format!(
            "Generating a P-256 key in slot {n} of YubiKey {}...",
            key.serial
        ));
        // Generates, then writes the slot's certificate (PIN and touch).
        point = crate::unlock::piv_cert::generate_certified(
            &key,
            slot,
            policy(args.pin_policy),
            policy(args.touch_policy),
        )
        .map_err(hw)?;
    }
    let recipient = PivRecipient::from_compressed(&point).ok_or_else(|| {
        CliError::input(
            "the YubiKey returned a malformed public key",
            "try another slot",
        )
    })?;
    let stub = IdentityStub {
        serial: key.serial,
        slot,
        tag: recipient.tag(),
    };
    output::status(&format!(
        "YubiKey {} slot {n}: recipient {recipient}",
        key.serial
    ));
    output::status(&format!("Identity for age-plugin-yubikey: {stub}"));
    Ok(UnlockerRecord::for_recipient(&recipient.to_string())?)
}

#[cfg(feature = "yubikey")]
fn parse_key(hex: &str) -> Result<[u8; 24], CliError> {
    let bad = || {
        CliError::input(
            "AVAULT_PIV_MANAGEMENT_KEY must be 48 hexadecimal digits",
            "give the 24-byte management key in hex, or unset it for the default",
        )
    };
    let hex = hex.trim();
    if hex.len() != 48 {
        return Err(bad());
    }
    let mut key = [0u8; 24];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(key)
}

/// An unlocker from what the user gave as a recipient: an `age1…`
/// recipient, or an age-plugin-yubikey identity stub
/// (`AGE-PLUGIN-YUBIKEY-1…`), whose YubiKey and slot are looked up so that
/// a key set up with the plugin works unchanged.
pub(super) fn record_for(text: &str) -> Result<UnlockerRecord, CliError> {
    match crate::unlock::piv_p256::IdentityStub::parse(text.trim()) {
        Some(stub) => from_stub(stub),
        None => Ok(UnlockerRecord::for_recipient(text)?),
    }
}

#[cfg(not(feature = "yubikey"))]
fn from_stub(_stub: crate::unlock::piv_p256::IdentityStub) -> Result<UnlockerRecord, CliError> {
    Err(CliError::input(
        "an AGE-PLUGIN-YUBIKEY identity needs the YubiKey, and this avault was built without YubiKey support",
        "give its age1yubikey1… recipient instead (age-plugin-yubikey --list), or reinstall with --features yubikey",
    ))
}

#[cfg(feature = "yubikey")]
fn from_stub(stub: crate::unlock::piv_p256::IdentityStub) -> Result<UnlockerRecord, CliError> {
    use crate::hw::YubiKey;
    use crate::unlock::piv_p256::PivRecipient;
    use crate::unlock::UnlockError;

    let hw = |e| CliError::Unlock(UnlockError::Hardware(e));
    let key = YubiKey::open(Some(stub.serial)).map_err(hw)?;
    let (point, _) = key.slot_key(stub.slot).map_err(hw)?.ok_or_else(|| {
        CliError::input(
            format!(
                "slot {:#04x} of YubiKey {} is empty",
                stub.slot, stub.serial
            ),
            "check the identity, or generate a key: avault unlockers add --yubikey --generate",
        )
    })?;
    let recipient = PivRecipient::from_compressed(&point)
        .filter(|r| r.tag() == stub.tag)
        .ok_or_else(|| {
            CliError::input(
                format!(
                    "slot {:#04x} of YubiKey {} holds another key than this identity's",
                    stub.slot, stub.serial
                ),
                "the slot was regenerated since the identity was made",
            )
        })?;
    Ok(UnlockerRecord::for_recipient(&recipient.to_string())?)
}
