//! Unlockers that are age recipients: X25519, YubiKey PIV (`piv-p256`,
//! wrapped natively) and any age plugin (`age1<name>1…`, through the
//! plugin binary `age-plugin-<name>` on PATH, as `age` itself does).

use std::str::FromStr;

use age::secrecy::SecretString;

use super::piv_p256::PivRecipient;
use super::UnlockError;
use crate::terminal::Terminal;

/// What kind of recipient a string is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientKind {
    /// `age1…`: an age X25519 public key.
    X25519,
    /// `age1yubikey1…`: a YubiKey PIV P-256 key (age-plugin-yubikey's format).
    PivP256,
    /// `age1<name>1…`: a recipient of the plugin `age-plugin-<name>`.
    Plugin(String),
}

fn shown(text: &str) -> String {
    let head: String = text.chars().take(24).collect();
    if text.chars().count() > 24 {
        format!("{head}…")
    } else {
        head
    }
}

/// Recognises a recipient and returns its kind and canonical form.
pub fn classify_recipient(text: &str) -> Result<(RecipientKind, String), UnlockError> {
    let text = text.trim();
    if text.to_ascii_uppercase().starts_with("AGE-") {
        return Err(UnlockError::Recipient {
            shown: "AGE-…".into(),
            reason: "that is an identity (secret or stub); pass its public recipient (age1…)"
                .into(),
        });
    }
    let (hrp, _) = bech32::decode(text).map_err(|_| UnlockError::Recipient {
        shown: shown(text),
        reason: "not a bech32 age recipient".into(),
    })?;
    match hrp.as_str() {
        "age" => Ok((
            RecipientKind::X25519,
            super::parse_recipient(text)?.to_string(),
        )),
        super::piv_p256::RECIPIENT_HRP => Ok((
            RecipientKind::PivP256,
            PivRecipient::parse(text)?.to_string(),
        )),
        hrp => match hrp.strip_prefix("age1") {
            Some(name) if !name.is_empty() => {
                age::plugin::Recipient::from_str(text).map_err(|e| UnlockError::Recipient {
                    shown: shown(text),
                    reason: e.to_string(),
                })?;
                Ok((RecipientKind::Plugin(name.to_owned()), text.to_owned()))
            }
            _ => Err(UnlockError::Recipient {
                shown: shown(text),
                reason: "not an age recipient".into(),
            }),
        },
    }
}

/// The age recipient that seals file keys for `text`.
pub fn build_recipient(text: &str) -> Result<Box<dyn age::Recipient>, UnlockError> {
    match classify_recipient(text)? {
        (RecipientKind::X25519, _) => Ok(Box::new(super::parse_recipient(text)?)),
        (RecipientKind::PivP256, _) => Ok(Box::new(PivRecipient::parse(text)?)),
        (RecipientKind::Plugin(name), _) => {
            let recipient =
                age::plugin::Recipient::from_str(text).map_err(|e| UnlockError::Recipient {
                    shown: shown(text),
                    reason: e.to_string(),
                })?;
            let plugin =
                age::plugin::RecipientPluginV1::new(&name, &[recipient], &[], TerminalCallbacks)
                    .map_err(|_| UnlockError::PluginMissing { name })?;
            Ok(Box::new(plugin))
        }
    }
}

/// Prompts of age plugins ("insert your key", a PIN), on the terminal.
#[derive(Clone, Copy, Debug)]
pub struct TerminalCallbacks;

impl age::Callbacks for TerminalCallbacks {
    fn display_message(&self, message: &str) {
        match Terminal::open() {
            Some(mut tty) => {
                let _ = tty.say(&format!("{message}\n"));
            }
            None => crate::output::status(message),
        }
    }

    fn confirm(&self, message: &str, yes_string: &str, no_string: Option<&str>) -> Option<bool> {
        let mut tty = Terminal::open()?;
        let choices = match no_string {
            Some(no) => format!("{yes_string}/{no}"),
            None => yes_string.to_owned(),
        };
        let answer = tty.ask_visible(&format!("{message} [{choices}]: ")).ok()?;
        Some(answer.eq_ignore_ascii_case(yes_string) || answer.eq_ignore_ascii_case("y"))
    }

    fn request_public_string(&self, description: &str) -> Option<String> {
        Terminal::open()?
            .ask_visible(&format!("{description} "))
            .ok()
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        Terminal::open()?
            .ask_hidden(&format!("{description} "))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_classified() {
        let (_, x) = super::super::generate_identity();
        assert_eq!(
            classify_recipient(&x).expect("x25519").0,
            RecipientKind::X25519
        );
        let piv = "age1yubikey1qf0l9gks6x65ha077wq3w3u8fy02tpg3cd9w5j0jlgpfgqkcut2lwujzwye";
        assert_eq!(
            classify_recipient(piv).expect("piv").0,
            RecipientKind::PivP256
        );
        assert!(classify_recipient("AGE-SECRET-KEY-1ABC").is_err());
        assert!(classify_recipient("nonsense").is_err());
    }
}
