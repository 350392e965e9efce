//! Unlockers that are age recipients: X25519, YubiKey PIV (`piv-p256`,
//! wrapped natively) and any age plugin (`age1<name>1…`, through the
//! plugin binary `age-plugin-<name>` on PATH, as `age` itself does).

use std::collections::HashSet;
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
                    .map_err(|_| UnlockError::PluginMissing { name: name.clone() })?;
            Ok(Box::new(NamedPlugin::new(&name, plugin)))
        }
    }
}

/// An age error as plain text on one line. age's localized messages wrap
/// each value (a plugin's name, a recipient, the plugin's own message) in the
/// Unicode bidi isolates U+2068 and U+2069, which terminals and logs show as
/// stray characters, and some run over several lines.
pub fn age_error_text(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string().replace(['\u{2068}', '\u{2069}'], "");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A plugin recipient or identity whose I/O errors name its plugin. age
/// names a plugin that exits before answering, but not one whose exit is
/// first seen as a broken pipe while age writes to it (which of the two
/// happens is a race), and a bare "Broken pipe" says nothing of which
/// program failed.
pub(crate) struct NamedPlugin<T> {
    binary: String,
    inner: T,
}

impl<T> NamedPlugin<T> {
    /// Wraps the recipient or identity of the plugin `name`.
    pub(crate) fn new(name: &str, inner: T) -> Self {
        NamedPlugin {
            binary: format!("age-plugin-{name}"),
            inner,
        }
    }

    fn named(&self, error: std::io::Error) -> std::io::Error {
        let text = age_error_text(&error);
        if text.contains(&self.binary) {
            error
        } else {
            std::io::Error::new(error.kind(), format!("{}: {text}", self.binary))
        }
    }

    fn named_decrypt(&self, error: age::DecryptError) -> age::DecryptError {
        match error {
            age::DecryptError::Io(e) => age::DecryptError::Io(self.named(e)),
            e => e,
        }
    }
}

impl<T: age::Recipient> age::Recipient for NamedPlugin<T> {
    fn wrap_file_key(
        &self,
        file_key: &age_core::format::FileKey,
    ) -> Result<(Vec<age_core::format::Stanza>, HashSet<String>), age::EncryptError> {
        self.inner.wrap_file_key(file_key).map_err(|e| match e {
            age::EncryptError::Io(e) => age::EncryptError::Io(self.named(e)),
            e => e,
        })
    }
}

impl age::Identity for NamedPlugin<Box<dyn age::Identity>> {
    fn unwrap_stanza(
        &self,
        stanza: &age_core::format::Stanza,
    ) -> Option<Result<age_core::format::FileKey, age::DecryptError>> {
        self.inner
            .unwrap_stanza(stanza)
            .map(|r| r.map_err(|e| self.named_decrypt(e)))
    }

    // Forwarded, not left to the default: the plugin sees every stanza of
    // the header in one run, instead of being started once per stanza.
    fn unwrap_stanzas(
        &self,
        stanzas: &[age_core::format::Stanza],
    ) -> Option<Result<age_core::format::FileKey, age::DecryptError>> {
        self.inner
            .unwrap_stanzas(stanzas)
            .map(|r| r.map_err(|e| self.named_decrypt(e)))
    }
}

/// Prompts of age plugins ("insert your key", a PIN), on the terminal.
#[derive(Clone, Copy, Debug)]
pub struct TerminalCallbacks;

impl age::Callbacks for TerminalCallbacks {
    fn display_message(&self, message: &str) {
        crate::terminal::notice(message);
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

    #[test]
    fn age_error_text_drops_bidi_isolates() {
        let error = age::DecryptError::PluginResolve(age::plugin::ResolveError::MissingPlugin {
            binary_name: "age-plugin-example".into(),
        });
        let text = age_error_text(&error);
        assert!(text.contains("age-plugin-example"), "{text}");
        assert!(!text.contains(['\u{2068}', '\u{2069}']), "{text:?}");
    }
}
