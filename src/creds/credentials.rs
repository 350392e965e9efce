//! AWS credentials as avault hands them out, and their JSON form
//! (credential_process Version 1, also the session cache's form).

use std::fmt;
use std::io::Write as _;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::zbuf::ZeroizingWriter;

/// A key pair, with a session token and expiry when temporary.
#[derive(Clone)]
pub struct Credentials {
    /// `AKIA…` (long-term) or `ASIA…` (temporary).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: SecretString,
    /// The session token of temporary credentials.
    pub session_token: Option<SecretString>,
    /// When temporary credentials expire.
    pub expiration: Option<OffsetDateTime>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expiration", &self.expiration)
            .finish()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessJsonOut<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessJsonIn {
    version: u8,
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
    #[serde(default)]
    expiration: Option<String>,
}

/// Formats a time as RFC 3339 UTC with whole seconds.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

impl Credentials {
    /// Time left before expiry; `None` for long-term keys.
    pub fn remaining(&self, now: OffsetDateTime) -> Option<time::Duration> {
        self.expiration.map(|e| e - now)
    }

    /// The credential_process JSON (Version 1); SessionToken and Expiration
    /// are left out for long-term keys, as the AWS CLI expects.
    pub fn to_process_json(&self) -> Zeroizing<Vec<u8>> {
        let out = ProcessJsonOut {
            version: 1,
            access_key_id: &self.access_key_id,
            secret_access_key: self.secret_access_key.expose_secret(),
            session_token: self.session_token.as_ref().map(|t| t.expose_secret()),
            expiration: self.expiration.map(rfc3339),
        };
        let mut w = ZeroizingWriter::with_capacity(2048);
        // Writing to memory cannot fail.
        let _ = serde_json::to_writer(&mut w, &out);
        let _ = w.write_all(b"");
        w.into_inner()
    }

    /// Parses credential_process JSON (Version 1).
    pub fn from_process_json(bytes: &[u8]) -> Result<Credentials, String> {
        let parsed: ProcessJsonIn =
            serde_json::from_slice(bytes).map_err(|e| format!("not credential JSON: {e}"))?;
        if parsed.version != 1 {
            return Err(format!(
                "Version is {}, only 1 is supported",
                parsed.version
            ));
        }
        let expiration = match parsed.expiration {
            Some(text) if !text.is_empty() => Some(
                OffsetDateTime::parse(&text, &Rfc3339)
                    .map_err(|_| format!("Expiration {text:?} is not RFC 3339"))?,
            ),
            _ => None,
        };
        if parsed.access_key_id.is_empty() || parsed.secret_access_key.is_empty() {
            return Err("AccessKeyId or SecretAccessKey is empty".into());
        }
        Ok(Credentials {
            access_key_id: parsed.access_key_id,
            secret_access_key: SecretString::from(parsed.secret_access_key),
            session_token: parsed
                .session_token
                .filter(|t| !t.is_empty())
                .map(SecretString::from),
            expiration,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_json_round_trip_and_shape() {
        let c = Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: SecretString::from("s3cr3t".to_owned()),
            session_token: Some(SecretString::from("tok".to_owned())),
            expiration: Some(OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time")),
        };
        let json = c.to_process_json();
        assert_eq!(
            std::str::from_utf8(&json).expect("utf8"),
            r#"{"Version":1,"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"s3cr3t","SessionToken":"tok","Expiration":"2027-01-15T08:00:00Z"}"#
        );
        let back = Credentials::from_process_json(&json).expect("parses");
        assert_eq!(back.expiration, c.expiration);
        assert!(!format!("{back:?}").contains("s3cr3t"));
    }

    #[test]
    fn long_term_keys_omit_token_and_expiration() {
        let c = Credentials {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: SecretString::from("x".to_owned()),
            session_token: None,
            expiration: None,
        };
        let json = c.to_process_json();
        let text = std::str::from_utf8(&json).expect("utf8");
        assert!(
            !text.contains("SessionToken") && !text.contains("Expiration"),
            "{text}"
        );
    }
}
