//! aws-vault's file backend: a directory (`AWS_VAULT_FILE_DIR`, default
//! `~/.awsvault/keys`) with one file per keyring item, named by the item's
//! key with `%` and `/` percent-encoded (keyring's `filenameEscape`), and
//! holding a JWE ([`super::jwe`]) of the item's JSON:
//! `{"Key","Data":<base64>,"Label","Description",…}`. For a credentials
//! item, `Data` is `{"AccessKeyID","SecretAccessKey","SessionToken",…}`.
//!
//! Keys that aws-vault's `CredentialKeyring` leaves out are sessions
//! (`sts.…` and the older session key shapes) and SSO tokens (`oidc:…`):
//! [`kind_of`] classifies them the same way, so what we import is what
//! `aws-vault list --credentials` shows.
//!
//! What must stay true: a session or SSO item is never decrypted; every
//! decrypted byte is in a zeroizing buffer or a secrecy type; names from
//! disk are shown only through `output` (which escapes control characters).

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use secrecy::SecretString;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::jwe::{Jwe, JweError};
use super::ImportError;

/// An item is a few hundred bytes; refuse to read a mistaken file whole.
const MAX_ITEM_BYTES: u64 = 1024 * 1024;

/// The directory aws-vault's file backend uses: `AWS_VAULT_FILE_DIR`
/// (with `~/` expanded, as keyring does), else `~/.awsvault/keys`.
pub fn default_dir() -> Option<PathBuf> {
    match std::env::var_os("AWS_VAULT_FILE_DIR") {
        Some(d) if !d.is_empty() => Some(expand_tilde(PathBuf::from(d))),
        _ => Some(PathBuf::from(std::env::var_os("HOME")?).join(".awsvault/keys")),
    }
}

/// `~/x` → `$HOME/x`, as keyring's `ExpandTilde` does; anything else as is.
pub fn expand_tilde(path: PathBuf) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) if path.to_string_lossy().starts_with("~/") => {
            PathBuf::from(home).join(rest)
        }
        _ => path,
    }
}

/// What an item holds, judged by its key alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A profile's long-term credentials.
    Credentials,
    /// A cached STS session (`sts.…`, or an older session key shape).
    Session,
    /// A cached SSO token (`oidc:…`).
    OidcToken,
}

/// Go's `percent.Decode` (mtibben/percent): every `%XX` with two hex digits
/// becomes that byte; anything else stays as it is.
pub(super) fn percent_decode(name: &str) -> Vec<u8> {
    let bytes = name.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Classifies a key as aws-vault does (`IsSessionKey`, `IsOIDCTokenKey`).
pub(super) fn kind_of(key: &str) -> ItemKind {
    if key.starts_with("oidc:") {
        ItemKind::OidcToken
    } else if key.starts_with("sts.") || is_session_key(key) {
        ItemKind::Session
    } else {
        ItemKind::Credentials
    }
}

/// aws-vault's session key shapes: the current
/// `TYPE,b64url(profile),b64url(mfa serial),UNIX` and the three older ones.
fn is_session_key(key: &str) -> bool {
    let lenient_b64url = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    let digits = |s: &str, min: usize| s.len() >= min && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = key.split(',').collect();
    if let [kind, profile, mfa, expiration] = parts[..] {
        // ^[^,]+,[^,]+,[^,]*,[0-9]{1,}$ with both middle fields base64url.
        if !kind.is_empty()
            && !profile.is_empty()
            && digits(expiration, 1)
            && lenient_b64url.decode(profile).is_ok()
            && lenient_b64url.decode(mfa).is_ok()
        {
            return true;
        }
        // ^session,[^,]+,[^,]*,[0-9]{2,}$
        if kind == "session" && !profile.is_empty() && digits(expiration, 2) {
            return true;
        }
    }
    // ^session:([^ ]+):([^ ]*):([^:]+)$
    if let Some(rest) = key.strip_prefix("session:") {
        if let Some((head, expiration)) = rest.rsplit_once(':') {
            if !expiration.is_empty()
                && !head.contains(' ')
                && head.find(':').is_some_and(|i| i > 0)
            {
                return true;
            }
        }
    }
    // ^(.+?) session \((\d+)\)$
    if let Some(rest) = key.strip_suffix(')') {
        if let Some((name, number)) = rest.rsplit_once(" session (") {
            return !name.is_empty() && digits(number, 1);
        }
    }
    false
}

/// One file of the directory.
#[derive(Debug, Clone)]
pub struct Item {
    path: PathBuf,
    file_name: String,
    key: Option<String>,
}

impl Item {
    /// The file name as it stands (lossily, when it is not UTF-8).
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The item's key (the profile name of a credentials item): the file
    /// name percent-decoded; `None` when that is not UTF-8.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What the key says the item holds.
    pub fn kind(&self) -> ItemKind {
        self.key.as_deref().map_or(ItemKind::Credentials, kind_of)
    }

    /// Reads and parses the file (no key derivation yet).
    pub fn read(&self) -> Result<Jwe, ItemError> {
        let file = fs::File::open(&self.path).map_err(ItemError::Read)?;
        let mut bytes = Vec::new();
        file.take(MAX_ITEM_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(ItemError::Read)?;
        if bytes.len() as u64 > MAX_ITEM_BYTES {
            return Err(ItemError::TooLarge);
        }
        Ok(Jwe::parse(&bytes)?)
    }
}

/// Lists the items of `dir`, sorted by file name. Hidden files and
/// anything that is not a file (following symlinks) are left out.
pub fn list(dir: &Path) -> Result<Vec<Item>, ImportError> {
    let io_err = |action: &'static str| {
        move |source: io::Error| ImportError::Io {
            path: dir.to_owned(),
            action,
            source,
        }
    };
    let entries = fs::read_dir(dir).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ImportError::NoKeyringDir(dir.to_owned()),
        _ => io_err("read the directory")(e),
    })?;
    let mut items = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("read the directory"))?;
        let name = entry.file_name();
        let file_name = name.to_string_lossy().into_owned();
        if file_name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        let key = name
            .to_str()
            .and_then(|n| String::from_utf8(percent_decode(n)).ok());
        items.push(Item {
            path: entry.path(),
            file_name,
            key,
        });
    }
    items.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    Ok(items)
}

/// Why one item was not imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ItemError {
    /// The file could not be read.
    #[error("cannot read it: {0}")]
    Read(#[source] io::Error),
    /// Far larger than any item.
    #[error("it is larger than any aws-vault item ({MAX_ITEM_BYTES} bytes)")]
    TooLarge,
    /// Its name does not decode to UTF-8.
    #[error("its name does not decode to a profile name")]
    BadName,
    /// Not a JWE, or one that does not decrypt.
    #[error(transparent)]
    Jwe(#[from] JweError),
    /// Decrypted, but not a credentials item.
    #[error("it decrypts, but {0}")]
    NotCredentials(&'static str),
}

/// A credentials item's contents.
pub struct StoredCredentials {
    /// `AccessKeyID`.
    pub access_key_id: String,
    /// `SecretAccessKey`.
    pub secret_access_key: SecretString,
    /// Whether it has a `SessionToken` (temporary credentials).
    pub temporary: bool,
}

impl fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("temporary", &self.temporary)
            .finish()
    }
}

/// Decrypts a credentials item with `passphrase` and decodes it.
pub fn decrypt_credentials(
    item: &Item,
    passphrase: &secrecy::SecretSlice<u8>,
) -> Result<StoredCredentials, ItemError> {
    if item.key.is_none() {
        return Err(ItemError::BadName);
    }
    let plain = item.read()?.decrypt(passphrase)?;
    decode_item(&plain)
}

/// Decodes a decrypted item: the keyring item, then its `Data`.
pub(super) fn decode_item(plain: &[u8]) -> Result<StoredCredentials, ItemError> {
    let item: KeyringItem = serde_json::from_slice(plain)
        .map_err(|_| ItemError::NotCredentials("it is not a keyring item"))?;
    let data = item
        .data
        .ok_or(ItemError::NotCredentials("it has no Data"))?;
    // Go encodes []byte as padded standard base64.
    let data = Zeroizing::new(
        STANDARD
            .decode(data.as_bytes())
            .map_err(|_| ItemError::NotCredentials("its Data is not base64"))?,
    );
    let creds: CredentialsJson = serde_json::from_slice(&data)
        .map_err(|_| ItemError::NotCredentials("its Data is not aws-vault credentials"))?;
    let access_key_id = creds
        .access_key_id
        .filter(|k| !k.is_empty())
        .ok_or(ItemError::NotCredentials("it has no AccessKeyID"))?;
    let mut secret = creds
        .secret_access_key
        .filter(|k| !k.is_empty())
        .ok_or(ItemError::NotCredentials("it has no SecretAccessKey"))?;
    Ok(StoredCredentials {
        access_key_id,
        // Moved, not copied: serde made it with no spare capacity, so the
        // boxing does not reallocate either.
        secret_access_key: SecretString::from(std::mem::take(&mut *secret)),
        temporary: creds.session_token.is_some_and(|t| !t.is_empty()),
    })
}

/// keyring's `Item`, as far as we need it. Go's encoding/json matches
/// field names case-insensitively, so this does too.
struct KeyringItem {
    data: Option<Zeroizing<String>>,
}

/// aws-sdk-go(-v2)'s credentials, as far as we need them.
struct CredentialsJson {
    access_key_id: Option<String>,
    secret_access_key: Option<Zeroizing<String>>,
    session_token: Option<Zeroizing<String>>,
}

/// Visits a JSON object, handing each value whose name matches (ASCII
/// case-insensitively) one of `names` to `take`; a later duplicate wins,
/// as in Go.
fn visit_fields<'de, A: MapAccess<'de>>(
    mut map: A,
    names: &[&str],
    mut take: impl FnMut(usize, Option<String>),
) -> Result<(), A::Error> {
    while let Some(name) = map.next_key::<String>()? {
        match names.iter().position(|n| n.eq_ignore_ascii_case(&name)) {
            Some(i) => take(i, map.next_value::<Option<String>>()?),
            None => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(())
}

impl<'de> Deserialize<'de> for KeyringItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyringItem;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a keyring item")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<KeyringItem, A::Error> {
                let mut data = None;
                visit_fields(map, &["Data"], |_, v| data = v.map(Zeroizing::new))?;
                Ok(KeyringItem { data })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for CredentialsJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CredentialsJson;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("AWS credentials")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CredentialsJson, A::Error> {
                let mut creds = CredentialsJson {
                    access_key_id: None,
                    secret_access_key: None,
                    session_token: None,
                };
                visit_fields(
                    map,
                    &["AccessKeyID", "SecretAccessKey", "SessionToken"],
                    |i, v| match i {
                        0 => creds.access_key_id = v,
                        1 => creds.secret_access_key = v.map(Zeroizing::new),
                        _ => creds.session_token = v.map(Zeroizing::new),
                    },
                )?;
                Ok(creds)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_decode_as_keyring_encodes_them() {
        assert_eq!(percent_decode("team%2Fops%251"), b"team/ops%1");
        assert_eq!(percent_decode("a%2fb"), b"a/b");
        assert_eq!(percent_decode("50%"), b"50%");
        assert_eq!(percent_decode("x%2"), b"x%2");
        assert_eq!(percent_decode("%zz%41"), b"%zzA");
        assert_eq!(percent_decode("%2F"), b"/");
        assert_eq!(percent_decode("plain-name"), b"plain-name");
    }

    #[test]
    fn keys_are_classified_as_aws_vault_does() {
        for session in [
            "sts.GetSessionToken,YWxpY2U,,1700000000",
            "sts.AssumeRole,cm9sZQ,YXJuOmF3czppYW06OjEyMzQ1Njc4OTAxMjptZmEvYQ,1700000000",
            "sts.anything",
            "session,YWxpY2U,,1500000000",
            "session:alice:arn:aws:iam::1:mfa/a:1500000000",
            "alice session (1500000000)",
        ] {
            assert_eq!(kind_of(session), ItemKind::Session, "{session}");
        }
        assert_eq!(
            kind_of("oidc:https://d-123.awsapps.com/start"),
            ItemKind::OidcToken
        );
        for creds in ["alice", "team/ops%1", "a,b", "my session (x)", "session"] {
            assert_eq!(kind_of(creds), ItemKind::Credentials, "{creds}");
        }
    }

    #[test]
    fn items_decode_with_go_field_matching() {
        let data = STANDARD.encode(
            br#"{"AccessKeyID":"AKIAIOSFODNN7EXAMPLE","secretaccesskey":"s3cret/key+with=signs1234","SessionToken":"","Source":"","CanExpire":false,"Expires":"0001-01-01T00:00:00Z"}"#,
        );
        let item = format!(
            r#"{{"Key":"alice","Data":"{data}","Label":"aws-vault (alice)","Description":"","KeychainNotTrustApplication":true}}"#
        );
        let creds = decode_item(item.as_bytes()).expect("decodes");
        assert_eq!(creds.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert!(!creds.temporary);
        use secrecy::ExposeSecret;
        assert_eq!(
            creds.secret_access_key.expose_secret(),
            "s3cret/key+with=signs1234"
        );
        assert!(!format!("{creds:?}").contains("s3cret"));

        let temporary =
            STANDARD.encode(br#"{"AccessKeyID":"ASIAX","SecretAccessKey":"s","SessionToken":"t"}"#);
        let creds =
            decode_item(format!(r#"{{"data":"{temporary}"}}"#).as_bytes()).expect("decodes");
        assert!(creds.temporary);

        for (bad, why) in [
            ("[]", "it is not a keyring item"),
            ("{}", "it has no Data"),
            (r#"{"Data":null}"#, "it has no Data"),
            (r#"{"Data":"***"}"#, "its Data is not base64"),
            (r#"{"Data":"e30="}"#, "it has no AccessKeyID"),
        ] {
            match decode_item(bad.as_bytes()) {
                Err(ItemError::NotCredentials(reason)) => assert_eq!(reason, why, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn tilde_expands_like_keyring() {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        if let Some(home) = home {
            assert_eq!(expand_tilde("~/keys".into()), home.join("keys"));
        }
        assert_eq!(
            expand_tilde("~user/keys".into()),
            PathBuf::from("~user/keys")
        );
        assert_eq!(expand_tilde("/abs".into()), PathBuf::from("/abs"));
    }
}
