//! TOTP seeds: parsed from an `otpauth://totp/…` URI or a bare base32
//! secret, and kept as an otpauth URI inside the vault.
//!
//! Nothing here ever puts the secret into an error message.

use secrecy::{ExposeSecret, SecretString};
use totp_rs::{Secret, Totp, TotpError};
use zeroize::Zeroizing;

/// The fewest seed bits accepted. RFC 4226 asks for 128 and recommends
/// 160 (AWS virtual MFA devices use 320); some older providers issue 80.
const MIN_SECRET_BITS: usize = 80;

/// Why a seed was refused. Never carries the secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// Not an `otpauth://totp/` URI.
    #[error("not an otpauth://totp/ URI")]
    NotOtpauth,
    /// A URI that does not parse.
    #[error("the otpauth URI is malformed: {0}")]
    Malformed(&'static str),
    /// The secret is not base32.
    #[error("the TOTP secret is not base32 (letters A-Z and digits 2-7)")]
    Base32,
    /// The secret is too short to be safe.
    #[error("the TOTP secret has {bits} bits; at least {MIN_SECRET_BITS} are needed")]
    TooShort {
        /// Its length.
        bits: usize,
    },
}

/// A TOTP seed, held as an otpauth URI: as given when parsed from one
/// (validated, otherwise untouched), built in one fixed form from base32.
pub struct TotpSeed {
    uri: SecretString,
}

fn map_totp_error(e: &TotpError) -> SeedError {
    match e {
        TotpError::InvalidScheme { .. } | TotpError::InvalidHost { .. } => SeedError::NotOtpauth,
        TotpError::InvalidSecret => SeedError::Base32,
        TotpError::SecretNotSet => SeedError::Malformed("it has no secret parameter"),
        TotpError::InvalidDigits { .. } | TotpError::DigitsParse { .. } => {
            SeedError::Malformed("digits must be 6, 7 or 8")
        }
        TotpError::InvalidStepZero | TotpError::StepParse { .. } => {
            SeedError::Malformed("period must be a positive number of seconds")
        }
        TotpError::InvalidAlgorithm { .. } => {
            SeedError::Malformed("algorithm must be SHA1, SHA256 or SHA512")
        }
        TotpError::SecretTooShort { bits } => SeedError::TooShort { bits: *bits },
        _ => SeedError::Malformed("it does not parse"),
    }
}

impl TotpSeed {
    /// Parses an `otpauth://totp/LABEL?secret=…` URI.
    pub fn from_uri(uri: &str) -> Result<TotpSeed, SeedError> {
        let uri = uri.trim();
        if !uri
            .get(..15)
            .is_some_and(|p| p.eq_ignore_ascii_case("otpauth://totp/"))
        {
            return Err(SeedError::NotOtpauth);
        }
        match Totp::from_url(uri) {
            Ok(_) => {}
            Err(TotpError::SecretTooShort { bits }) if bits >= MIN_SECRET_BITS => {
                Totp::from_url_unchecked(uri).map_err(|e| map_totp_error(&e))?;
            }
            Err(e) => return Err(map_totp_error(&e)),
        }
        Ok(TotpSeed {
            uri: SecretString::from(uri.to_owned()),
        })
    }

    /// Builds a seed from a bare base32 secret (spaces, dashes, padding and
    /// lower case are tolerated) for the MFA device `serial`.
    pub fn from_base32(secret: &str, serial: &str) -> Result<TotpSeed, SeedError> {
        let normalized: Zeroizing<String> = Zeroizing::new(
            secret
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '-' && *c != '=')
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        if normalized.is_empty()
            || !normalized
                .chars()
                .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
        {
            return Err(SeedError::Base32);
        }
        let bytes = Secret::try_from_base32(normalized.as_str()).map_err(|_| SeedError::Base32)?;
        let bits = bytes.as_bytes().len() * 8;
        if bits < MIN_SECRET_BITS {
            return Err(SeedError::TooShort { bits });
        }
        let uri = Zeroizing::new(format!(
            "otpauth://totp/avault:{}?secret={}&issuer=avault&algorithm=SHA1&digits=6&period=30",
            percent_encode(account_label(serial)),
            normalized.as_str()
        ));
        TotpSeed::from_uri(&uri)
    }

    /// The otpauth URI.
    pub fn uri(&self) -> &SecretString {
        &self.uri
    }

    /// The seed's period in seconds (30 unless the URI says otherwise).
    pub fn period(&self) -> Result<u64, SeedError> {
        let totp =
            Totp::from_url_unchecked(self.uri.expose_secret()).map_err(|e| map_totp_error(&e))?;
        Ok(totp.step().max(1))
    }

    /// The code for a Unix time (seconds).
    pub fn code_at(&self, unix_time: u64) -> Result<String, SeedError> {
        let totp =
            Totp::from_url_unchecked(self.uri.expose_secret()).map_err(|e| map_totp_error(&e))?;
        Ok(totp.generate(unix_time).to_string())
    }
}

/// The otpauth account label for a device: the name after `mfa/` in an ARN
/// (labels cannot hold a colon), or the hardware serial itself.
fn account_label(serial: &str) -> &str {
    serial.rsplit_once("mfa/").map_or(serial, |(_, name)| name)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 test seed "12345678901234567890" (SHA1).
    const RFC_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn rfc6238_vector_through_base32() {
        let seed =
            TotpSeed::from_base32(RFC_B32, "arn:aws:iam::123456789012:mfa/alice").expect("seed");
        // RFC 6238 appendix B: T = 59 gives 94287082 with 8 digits; 6 digits: 287082.
        assert_eq!(seed.code_at(59).expect("code"), "287082");
        assert!(seed
            .uri()
            .expose_secret()
            .starts_with("otpauth://totp/avault:alice?secret="));
    }

    #[test]
    fn base32_is_normalized() {
        let spaced = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq";
        assert!(TotpSeed::from_base32(spaced, "x").is_ok());
    }

    #[test]
    fn bad_seeds_are_refused_without_echoing_them() {
        let Err(err) = TotpSeed::from_base32("NOT*BASE32!", "x") else {
            panic!("accepted");
        };
        assert!(!err.to_string().contains("NOT*BASE32"));
        assert!(matches!(
            TotpSeed::from_base32("GEZDGNBV", "x"),
            Err(SeedError::TooShort { bits: 40 })
        ));
        assert!(matches!(
            TotpSeed::from_uri("https://example.com"),
            Err(SeedError::NotOtpauth)
        ));
        assert!(TotpSeed::from_uri("otpauth://totp/x?digits=6").is_err());
    }

    #[test]
    fn uri_round_trips() {
        let uri = format!("otpauth://totp/Amazon:alice?secret={RFC_B32}&issuer=Amazon");
        let seed = TotpSeed::from_uri(&uri).expect("parses");
        assert_eq!(seed.uri().expose_secret(), uri);
    }
}
