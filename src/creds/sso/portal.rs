//! The portal's GetRoleCredentials: the role's keys from an access token.

use secrecy::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;

use super::SsoError;
use crate::creds::Credentials;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleAnswer {
    role_credentials: RoleCredentials,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    /// Epoch milliseconds.
    expiration: i64,
}

/// Parses a GetRoleCredentials answer.
pub fn parse_role_credentials(body: &[u8]) -> Result<Credentials, SsoError> {
    let bad = |reason| SsoError::BadAnswer {
        call: "GetRoleCredentials",
        reason,
    };
    let a: RoleAnswer =
        serde_json::from_slice(body).map_err(|_| bad("not JSON with roleCredentials"))?;
    let c = a.role_credentials;
    Ok(Credentials {
        access_key_id: c.access_key_id,
        secret_access_key: SecretString::from(c.secret_access_key),
        session_token: Some(SecretString::from(c.session_token)),
        expiration: Some(
            expiration_from_millis(c.expiration)
                .ok_or_else(|| bad("the expiration is not a time in epoch milliseconds"))?,
        ),
    })
}

/// GetRoleCredentials' `expiration` (epoch milliseconds) as a time, to
/// the second.
pub fn expiration_from_millis(millis: i64) -> Option<OffsetDateTime> {
    if millis <= 0 {
        return None;
    }
    OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_credentials_and_millisecond_expiration() {
        let c = parse_role_credentials(
            br#"{"roleCredentials":{"accessKeyId":"ASIA1","secretAccessKey":"sk","sessionToken":"st","expiration":1700000000123}}"#,
        )
        .expect("credentials");
        assert_eq!(c.access_key_id, "ASIA1");
        assert_eq!(
            c.expiration.map(|t| t.unix_timestamp()),
            Some(1_700_000_000)
        );
        assert!(expiration_from_millis(0).is_none());
        assert!(parse_role_credentials(br#"{"roleCredentials":{}}"#).is_err());
    }
}
