//! The OIDC device flow: RegisterClient, StartDeviceAuthorization and
//! CreateToken (including the refresh grant), their request bodies and
//! the parsing of their answers.

use std::fmt;
use std::io::Write as _;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{SsoError, BODY_SHOWN};
use crate::http_client;
use crate::zbuf::ZeroizingWriter;

/// The `clientName` avault registers as.
const CLIENT_NAME: &str = "avault";
/// The OAuth grant type of the device flow.
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The OAuth grant type that trades a refresh token for a new access token.
const REFRESH_GRANT: &str = "refresh_token";

/// A registered OIDC client.
pub struct Registration {
    /// `clientId`.
    pub client_id: String,
    /// `clientSecret`.
    pub client_secret: SecretString,
    /// Unix time the registration expires at (`clientSecretExpiresAt`).
    pub expires_at: i64,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("client_id", &self.client_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A started device authorization: what the user must confirm.
pub struct DeviceAuthorization {
    /// `deviceCode`: what the token is asked for with.
    pub device_code: SecretString,
    /// `userCode`: what the user confirms in the browser.
    pub user_code: String,
    /// `verificationUri`.
    pub verification_uri: String,
    /// `verificationUriComplete`: the URI with the user code in it.
    pub verification_uri_complete: Option<String>,
    /// `expiresIn`, seconds.
    pub expires_in: u64,
    /// `interval`: seconds between polls.
    pub interval: u64,
}

/// An SSO access token.
pub struct AccessToken {
    /// `accessToken`.
    pub token: SecretString,
    /// Unix time it expires at.
    pub expires_at: i64,
    /// `refreshToken`, when given.
    pub refresh_token: Option<SecretString>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One CreateToken poll's outcome.
#[derive(Debug)]
pub enum TokenPoll {
    /// Signed in.
    Token(AccessToken),
    /// Not confirmed yet: poll again after the interval.
    Pending,
    /// Polling too fast: add 5 s to the interval.
    SlowDown,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RegisterBody<'a> {
    client_name: &'a str,
    client_type: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    scopes: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceAuthorizationBody<'a> {
    client_id: &'a str,
    client_secret: &'a str,
    start_url: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenBody<'a> {
    client_id: &'a str,
    client_secret: &'a str,
    device_code: &'a str,
    grant_type: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefreshBody<'a> {
    client_id: &'a str,
    client_secret: &'a str,
    grant_type: &'a str,
    refresh_token: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterAnswer {
    client_id: String,
    client_secret: String,
    #[serde(default)]
    client_secret_expires_at: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceAnswer {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer {
    access_token: String,
    expires_in: i64,
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct OAuthError {
    #[serde(default)]
    error: String,
}

fn json_body(value: &impl Serialize) -> Zeroizing<Vec<u8>> {
    let mut w = ZeroizingWriter::with_capacity(1024);
    // Writing to memory cannot fail.
    let _ = serde_json::to_writer(&mut w, value);
    let _ = w.flush();
    w.into_inner()
}

/// The RegisterClient body.
pub fn register_body(scopes: &[String]) -> Zeroizing<Vec<u8>> {
    json_body(&RegisterBody {
        client_name: CLIENT_NAME,
        client_type: "public",
        scopes,
    })
}

/// The StartDeviceAuthorization body.
pub fn device_authorization_body(
    registration: &Registration,
    start_url: &str,
) -> Zeroizing<Vec<u8>> {
    json_body(&DeviceAuthorizationBody {
        client_id: &registration.client_id,
        client_secret: registration.client_secret.expose_secret(),
        start_url,
    })
}

/// The CreateToken body.
pub fn token_body(registration: &Registration, device_code: &SecretString) -> Zeroizing<Vec<u8>> {
    json_body(&TokenBody {
        client_id: &registration.client_id,
        client_secret: registration.client_secret.expose_secret(),
        device_code: device_code.expose_secret(),
        grant_type: DEVICE_GRANT,
    })
}

/// The CreateToken body of a refresh (`grantType: refresh_token`).
pub fn refresh_body(
    registration: &Registration,
    refresh_token: &SecretString,
) -> Zeroizing<Vec<u8>> {
    json_body(&RefreshBody {
        client_id: &registration.client_id,
        client_secret: registration.client_secret.expose_secret(),
        grant_type: REFRESH_GRANT,
        refresh_token: refresh_token.expose_secret(),
    })
}

/// Parses a RegisterClient answer.
pub fn parse_registration(body: &[u8]) -> Result<Registration, SsoError> {
    let a: RegisterAnswer = serde_json::from_slice(body).map_err(|_| SsoError::BadAnswer {
        call: "RegisterClient",
        reason: "not JSON with clientId and clientSecret",
    })?;
    Ok(Registration {
        client_id: a.client_id,
        client_secret: SecretString::from(a.client_secret),
        expires_at: a.client_secret_expires_at,
    })
}

/// Parses a StartDeviceAuthorization answer.
pub fn parse_device_authorization(body: &[u8]) -> Result<DeviceAuthorization, SsoError> {
    let a: DeviceAnswer = serde_json::from_slice(body).map_err(|_| SsoError::BadAnswer {
        call: "StartDeviceAuthorization",
        reason: "not JSON with deviceCode, userCode, verificationUri and expiresIn",
    })?;
    Ok(DeviceAuthorization {
        device_code: SecretString::from(a.device_code),
        user_code: a.user_code,
        verification_uri: a.verification_uri,
        verification_uri_complete: a.verification_uri_complete,
        expires_in: a.expires_in,
        // AWS's default when it names none.
        interval: a.interval.unwrap_or(5).max(1),
    })
}

/// Parses a CreateToken answer: a token on 200, a poll state or a final
/// error on 400.
pub fn parse_token(status: u16, body: &[u8], now: i64) -> Result<TokenPoll, SsoError> {
    if status == 200 {
        let a: TokenAnswer = serde_json::from_slice(body).map_err(|_| SsoError::BadAnswer {
            call: "CreateToken",
            reason: "not JSON with accessToken and expiresIn",
        })?;
        return Ok(TokenPoll::Token(AccessToken {
            token: SecretString::from(a.access_token),
            expires_at: now + a.expires_in,
            refresh_token: a.refresh_token.map(SecretString::from),
        }));
    }
    let error = serde_json::from_slice::<OAuthError>(body)
        .map(|e| e.error)
        .unwrap_or_default();
    match (status, error.as_str()) {
        (400, "authorization_pending") => Ok(TokenPoll::Pending),
        (400, "slow_down") => Ok(TokenPoll::SlowDown),
        (400, "expired_token") => Err(SsoError::Expired),
        (400, "access_denied") => Err(SsoError::Denied),
        _ => Err(SsoError::Refused {
            call: "CreateToken",
            endpoint: String::new(),
            status,
            body: http_client::shown_body(body, BODY_SHOWN),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration() -> Registration {
        Registration {
            client_id: "cid".into(),
            client_secret: SecretString::from("csecret".to_owned()),
            expires_at: 0,
        }
    }

    fn text(bytes: Zeroizing<Vec<u8>>) -> String {
        String::from_utf8(bytes.to_vec()).expect("utf8")
    }

    #[test]
    fn request_bodies() {
        assert_eq!(
            text(register_body(&["sso:account:access".into()])),
            r#"{"clientName":"avault","clientType":"public","scopes":["sso:account:access"]}"#
        );
        assert_eq!(
            text(register_body(&[])),
            r#"{"clientName":"avault","clientType":"public"}"#
        );
        assert_eq!(
            text(device_authorization_body(
                &registration(),
                "https://x/start"
            )),
            r#"{"clientId":"cid","clientSecret":"csecret","startUrl":"https://x/start"}"#
        );
        assert_eq!(
            text(token_body(
                &registration(),
                &SecretString::from("dc".to_owned())
            )),
            r#"{"clientId":"cid","clientSecret":"csecret","deviceCode":"dc","grantType":"urn:ietf:params:oauth:grant-type:device_code"}"#
        );
        assert_eq!(
            text(refresh_body(
                &registration(),
                &SecretString::from("rt".to_owned())
            )),
            r#"{"clientId":"cid","clientSecret":"csecret","grantType":"refresh_token","refreshToken":"rt"}"#
        );
    }

    #[test]
    fn answers_parse_and_secrets_stay_out_of_debug() {
        let r = parse_registration(
            br#"{"clientId":"c","clientSecret":"s3cr3t","clientIdIssuedAt":1,"clientSecretExpiresAt":2000000000}"#,
        )
        .expect("registration");
        assert_eq!((r.client_id.as_str(), r.expires_at), ("c", 2_000_000_000));
        assert!(!format!("{r:?}").contains("s3cr3t"));
        let d = parse_device_authorization(
            br#"{"deviceCode":"d","userCode":"ABCD-EFGH","verificationUri":"https://v","verificationUriComplete":"https://v?user_code=ABCD-EFGH","expiresIn":600}"#,
        )
        .expect("device");
        assert_eq!(
            (d.user_code.as_str(), d.interval, d.expires_in),
            ("ABCD-EFGH", 5, 600)
        );
        match parse_token(
            200,
            br#"{"accessToken":"t0k","expiresIn":3600,"tokenType":"Bearer"}"#,
            100,
        )
        .expect("token")
        {
            TokenPoll::Token(t) => {
                assert_eq!(t.expires_at, 3700);
                assert_eq!(t.token.expose_secret(), "t0k");
                assert!(t.refresh_token.is_none());
                assert!(!format!("{t:?}").contains("t0k"));
            }
            other => panic!("{other:?}"),
        }
        match parse_token(
            200,
            br#"{"accessToken":"t0k","expiresIn":60,"refreshToken":"r3fr3sh"}"#,
            0,
        )
        .expect("token")
        {
            TokenPoll::Token(t) => {
                let refresh = t.refresh_token.as_ref().expect("refresh token");
                assert_eq!(refresh.expose_secret(), "r3fr3sh");
                assert!(!format!("{t:?}").contains("r3fr3sh"));
            }
            other => panic!("{other:?}"),
        }
        // A refused refresh is an error (the caller signs in instead);
        // its body is AWS's error code, never the refresh token.
        assert!(matches!(
            parse_token(400, br#"{"error":"invalid_grant"}"#, 0),
            Err(SsoError::Refused { status: 400, .. })
        ));
        assert!(matches!(
            parse_token(400, br#"{"error":"authorization_pending"}"#, 0),
            Ok(TokenPoll::Pending)
        ));
        assert!(matches!(
            parse_token(400, br#"{"error":"slow_down"}"#, 0),
            Ok(TokenPoll::SlowDown)
        ));
        assert!(matches!(
            parse_token(400, br#"{"error":"access_denied"}"#, 0),
            Err(SsoError::Denied)
        ));
        assert!(matches!(
            parse_token(400, br#"{"error":"expired_token"}"#, 0),
            Err(SsoError::Expired)
        ));
        assert!(matches!(
            parse_token(500, b"oops", 0),
            Err(SsoError::Refused { status: 500, .. })
        ));
    }
}
