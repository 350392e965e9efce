//! Where unlock material comes from, in this order:
//! 1. `AVAULT_IDENTITY` (a literal age identity or a path to an identity file);
//! 2. `AVAULT_PASSPHRASE`, then `AWS_VAULT_FILE_PASSPHRASE` (set-but-empty
//!    means the empty passphrase, as in aws-vault);
//! 3. `AVAULT_PASSPHRASE_COMMAND`, run through `sh -c`, its stdout the passphrase;
//! 4. a prompt on the terminal.
//!
//! With nothing set and no terminal, fail at once rather than hang.

use std::ffi::OsString;

use secrecy::{ExposeSecret, SecretString};

use super::{Keys, PassphraseIdentity, UnlockError};
use crate::terminal::Terminal;

const IDENTITY_VAR: &str = "AVAULT_IDENTITY";
const PASSPHRASE_VAR: &str = "AVAULT_PASSPHRASE";
const AWS_VAULT_PASSPHRASE_VAR: &str = "AWS_VAULT_FILE_PASSPHRASE";
const PASSPHRASE_COMMAND_VAR: &str = "AVAULT_PASSPHRASE_COMMAND";
const NEW_PASSPHRASE_VAR: &str = "AVAULT_NEW_PASSPHRASE";

/// Environment variables that carry unlock secrets: never passed on to a
/// child process.
pub const UNLOCK_SECRET_VARS: &[&str] = &[
    IDENTITY_VAR,
    PASSPHRASE_VAR,
    AWS_VAULT_PASSPHRASE_VAR,
    PASSPHRASE_COMMAND_VAR,
    NEW_PASSPHRASE_VAR,
    // The YubiKey's secrets (feature `yubikey`): stripped in every build.
    "AVAULT_PIV_PIN",
    "AVAULT_PIV_MANAGEMENT_KEY",
    "AVAULT_OATH_PASSWORD",
];

fn env_secret(name: &str) -> Option<SecretString> {
    // var_os keeps "set but empty" apart from "unset".
    std::env::var_os(name).map(|v| SecretString::from(os_to_string(v)))
}

fn os_to_string(v: OsString) -> String {
    v.into_string()
        .unwrap_or_else(|v| v.to_string_lossy().into_owned())
}

/// Passphrase from the environment or the command, without prompting.
fn passphrase_without_prompt() -> Result<Option<(SecretString, &'static str)>, UnlockError> {
    if let Some(p) = env_secret(PASSPHRASE_VAR) {
        return Ok(Some((p, PASSPHRASE_VAR)));
    }
    if let Some(p) = env_secret(AWS_VAULT_PASSPHRASE_VAR) {
        return Ok(Some((p, AWS_VAULT_PASSPHRASE_VAR)));
    }
    match std::env::var(PASSPHRASE_COMMAND_VAR) {
        Ok(cmd) if !cmd.trim().is_empty() => Ok(Some((
            run_passphrase_command(&cmd)?,
            PASSPHRASE_COMMAND_VAR,
        ))),
        _ => Ok(None),
    }
}

fn run_passphrase_command(cmd: &str) -> Result<SecretString, UnlockError> {
    let stdout = crate::shell::stdout_of(crate::shell::sh(cmd))
        .map_err(|reason| UnlockError::PassphraseCommand { reason })?;
    let text = std::str::from_utf8(&stdout).map_err(|_| UnlockError::PassphraseCommand {
        reason: "its output is not UTF-8".into(),
    })?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    Ok(SecretString::from(text.to_owned()))
}

fn no_terminal(detail: &str) -> UnlockError {
    UnlockError::NoSource {
        detail: detail.to_owned(),
    }
}

/// Gathers unlock keys from the environment, prompting on the terminal only
/// when nothing is set. `label` names the vault in the prompt; `stanzas`
/// are the stanza tags of its header (which unlockers it has).
pub fn keys_from_environment(label: &str, stanzas: &[String]) -> Result<Keys, UnlockError> {
    let has_passphrase = stanzas.iter().any(|t| t == super::passphrase::STANZA_TAG);
    // A YubiKey is tried after what the environment gives, and instead of
    // a passphrase prompt when one is attached.
    #[cfg(feature = "yubikey")]
    let card = stanzas
        .iter()
        .any(|t| t == super::piv_p256::STANZA_TAG)
        .then(super::piv_card::CardIdentity::new);
    #[cfg(feature = "yubikey")]
    let has_card_unlocker = card.is_some();
    #[cfg(not(feature = "yubikey"))]
    let has_card_unlocker = false;
    // Asked only when it decides something: PC/SC round trips cost time.
    let card_attached = || {
        #[cfg(feature = "yubikey")]
        return has_card_unlocker && super::piv_card::CardIdentity::present();
        #[cfg(not(feature = "yubikey"))]
        false
    };
    let mut identities = Vec::new();
    let mut sources = Vec::new();
    if let Ok(value) = std::env::var(IDENTITY_VAR) {
        if !value.trim().is_empty() {
            identities = super::parse_identity(&value)?;
            sources.push(IDENTITY_VAR);
        }
    }
    let mut passphrase = None;
    // The passphrase command may be slow (a secrets store); run it only when
    // no identity was given.
    let from_env = if identities.is_empty() {
        passphrase_without_prompt()?
    } else {
        env_secret(PASSPHRASE_VAR)
            .map(|p| (p, PASSPHRASE_VAR))
            .or_else(|| env_secret(AWS_VAULT_PASSPHRASE_VAR).map(|p| (p, AWS_VAULT_PASSPHRASE_VAR)))
    };
    if let Some((p, source)) = from_env {
        passphrase = Some(p);
        sources.push(source);
    } else if identities.is_empty() && !card_attached() {
        // With a YubiKey unlocker and nothing else to go on, the card
        // identity itself says what is missing (no pcscd, no YubiKey).
        let tty = if has_passphrase {
            Terminal::open()
        } else {
            None
        };
        match tty {
            Some(mut tty) => {
                let p = tty
                    .ask_hidden(&format!("Passphrase for {label}: "))
                    .map_err(UnlockError::Terminal)?;
                passphrase = Some(p);
                sources.push("the passphrase typed on the terminal");
            }
            None if has_card_unlocker => {}
            None if has_passphrase => {
                return Err(no_terminal(
                    "no terminal to ask on, and no unlock variable is set",
                ))
            }
            None => {
                return Err(no_terminal(
                    "this vault has no passphrase unlocker and AVAULT_IDENTITY is not set",
                ))
            }
        }
    }
    #[cfg(feature = "yubikey")]
    if card.is_some() {
        sources.push("the YubiKey");
    }
    Ok(Keys::from_material(super::Material {
        identities,
        passphrase: passphrase.map(PassphraseIdentity::new),
        #[cfg(feature = "yubikey")]
        card,
        sources,
    }))
}

/// Where a new passphrase may come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewPassphraseSource {
    /// `init`: the unlock variables, then the terminal.
    UnlockVariables,
    /// `passwd`, `unlockers add`: `AVAULT_NEW_PASSPHRASE`, then the terminal
    /// (the unlock variables hold the current one).
    NewVariable,
}

/// Reads a new passphrase: from the environment, or typed twice.
pub fn new_passphrase(from: NewPassphraseSource) -> Result<SecretString, UnlockError> {
    let given = match from {
        NewPassphraseSource::UnlockVariables => passphrase_without_prompt()?.map(|(p, _)| p),
        NewPassphraseSource::NewVariable => env_secret(NEW_PASSPHRASE_VAR),
    };
    let passphrase = match given {
        Some(p) => p,
        None => {
            let mut tty = Terminal::open().ok_or_else(|| {
                UnlockError::NewPassphrase(
                    "no new passphrase given and no terminal to ask on".into(),
                )
            })?;
            let first = tty
                .ask_hidden("New passphrase: ")
                .map_err(UnlockError::Terminal)?;
            let second = tty
                .ask_hidden("Repeat the new passphrase: ")
                .map_err(UnlockError::Terminal)?;
            if first.expose_secret() != second.expose_secret() {
                return Err(UnlockError::NewPassphrase(
                    "the two passphrases differ".into(),
                ));
            }
            first
        }
    };
    if passphrase.expose_secret().is_empty() {
        return Err(UnlockError::NewPassphrase(
            "the new passphrase is empty".into(),
        ));
    }
    Ok(passphrase)
}

/// The vault's current passphrase, for operations that must re-key it: the
/// one that unlocked, else the unlock variables, else the terminal.
pub fn existing_passphrase(keys: &Keys) -> Result<SecretString, UnlockError> {
    if let Some(p) = keys.passphrase() {
        return Ok(p.clone());
    }
    if let Some((p, _)) = passphrase_without_prompt()? {
        return Ok(p);
    }
    let mut tty = Terminal::open().ok_or_else(|| {
        no_terminal("the passphrase is needed to re-key it, and no terminal is there to ask on")
    })?;
    tty.ask_hidden("Current vault passphrase (needed to re-key it): ")
        .map_err(UnlockError::Terminal)
}
