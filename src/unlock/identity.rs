//! age X25519 identities and recipients from strings and files.

use std::io::BufReader;
use std::str::FromStr;

use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::UnlockError;

/// Parses `AVAULT_IDENTITY`: a literal identity (`AGE-SECRET-KEY-1…`, or a
/// plugin's `AGE-PLUGIN-NAME-1…`), or a path to an identity file (the format
/// `age-keygen` and age plugins write; comments allowed). Plugin identities
/// run `age-plugin-NAME` from PATH when a stanza is theirs.
pub fn parse_identity(value: &str) -> Result<Vec<Box<dyn age::Identity>>, UnlockError> {
    let value = value.trim();
    let (bytes, origin) = if value.to_ascii_uppercase().starts_with("AGE-") {
        (
            Zeroizing::new(value.as_bytes().to_vec()),
            "the literal identity".to_owned(),
        )
    } else {
        let path = std::path::Path::new(value);
        let bytes = std::fs::read(path).map_err(|e| UnlockError::Identity {
            reason: format!("cannot read identity file {}: {e}", path.display()),
        })?;
        (Zeroizing::new(bytes), path.display().to_string())
    };
    let file = age::IdentityFile::from_buffer(BufReader::new(&bytes[..])).map_err(|_| {
        UnlockError::Identity {
            reason: format!("{origin} is not an age identity"),
        }
    })?;
    let ids = file
        .with_callbacks(super::TerminalCallbacks)
        .into_identities()
        .map_err(|e| UnlockError::Identity {
            reason: match e {
                // A plugin identity whose binary is not installed: say which.
                age::DecryptError::PluginResolve(age::plugin::ResolveError::MissingPlugin {
                    binary_name,
                }) => {
                    format!("{origin} is an identity of a plugin, and {binary_name} is not on PATH")
                }
                _ => format!("{origin} holds no usable age identity"),
            },
        })?;
    if ids.is_empty() {
        return Err(UnlockError::Identity {
            reason: format!("{origin} holds no age identity"),
        });
    }
    // The plugin of each identity line, in the order of the identities
    // (IdentityFile keeps one per line that is neither empty nor a comment).
    let plugins: Vec<Option<String>> = std::str::from_utf8(&bytes)
        .map(|text| {
            text.lines()
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(plugin_name)
                .collect()
        })
        .unwrap_or_default();
    let named = plugins.len() == ids.len();
    Ok(ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| -> Box<dyn age::Identity> {
            let id: Box<dyn age::Identity> = id;
            match plugins.get(i) {
                Some(Some(name)) if named => Box::new(super::plugin::NamedPlugin::new(name, id)),
                _ => id,
            }
        })
        .collect())
}

/// The plugin of an `AGE-PLUGIN-NAME-1…` identity line (as age reads it:
/// the Bech32 HRP less its prefix and dashes, lower case), without copying
/// the secret line.
fn plugin_name(line: &str) -> Option<String> {
    const PREFIX: &str = "AGE-PLUGIN-";
    let hrp = &line[..line.rfind('1')?];
    if !hrp.get(..PREFIX.len())?.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let name = hrp[PREFIX.len()..].trim_end_matches('-');
    (!name.is_empty()).then(|| name.to_lowercase())
}

/// Parses an age X25519 recipient (`age1…`).
pub fn parse_recipient(value: &str) -> Result<age::x25519::Recipient, UnlockError> {
    let shown: String = value.chars().take(20).collect();
    let shown = if value.chars().count() > 20 {
        format!("{shown}…")
    } else {
        shown
    };
    if value.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") {
        return Err(UnlockError::Recipient {
            shown: "AGE-SECRET-KEY-…".into(),
            reason: "that is a secret identity; pass its public recipient (age-keygen -y)".into(),
        });
    }
    age::x25519::Recipient::from_str(value).map_err(|e| UnlockError::Recipient {
        shown,
        reason: e.to_string(),
    })
}

/// The public recipient of a literal identity (tests and `init` messages).
fn recipient_of(identity: &age::x25519::Identity) -> String {
    identity.to_public().to_string()
}

/// Returns the identity string of a fresh X25519 identity (tests, benches).
pub fn generate_identity() -> (Zeroizing<String>, String) {
    let id = age::x25519::Identity::generate();
    let secret = Zeroizing::new(id.to_string().expose_secret().to_owned());
    (secret, recipient_of(&id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_identity_and_its_recipient() {
        let (secret, recipient) = generate_identity();
        assert_eq!(parse_identity(&secret).expect("parses").len(), 1);
        assert!(parse_recipient(&recipient).is_ok());
    }

    #[test]
    fn a_secret_key_is_not_accepted_as_recipient() {
        let (secret, _) = generate_identity();
        let Err(err) = parse_recipient(&secret) else {
            panic!("accepted");
        };
        assert!(!err.to_string().contains(&secret[20..]), "secret echoed");
    }

    #[test]
    fn plugin_names_of_identity_lines() {
        assert_eq!(
            plugin_name("AGE-PLUGIN-YUBIKEY-1QSPSYQVZ0DJFDPGWQ2RKZ").as_deref(),
            Some("yubikey")
        );
        assert_eq!(
            plugin_name("AGE-PLUGIN-FOOBAR-1QVHULF").as_deref(),
            Some("foobar")
        );
        let (secret, _) = generate_identity();
        assert_eq!(plugin_name(&secret), None);
        assert_eq!(plugin_name("AGE-PLUGIN--1QQQQ"), None);
        assert_eq!(plugin_name("nonsense"), None);
    }

    #[test]
    fn missing_identity_file_names_the_path() {
        let Err(err) = parse_identity("/nonexistent/key.txt") else {
            panic!("accepted");
        };
        assert!(err.to_string().contains("/nonexistent/key.txt"));
    }
}
