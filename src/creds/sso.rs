//! AWS IAM Identity Center (SSO) on the wire: the OIDC device flow
//! (RegisterClient, StartDeviceAuthorization, CreateToken) and the
//! portal's GetRoleCredentials. Both are unsigned REST-JSON APIs, sent as
//! plain requests through [`crate::http_client`].
//!
//! What must stay true: the client secret, device code, access and
//! refresh tokens and the role's keys are `SecretString`s from the moment
//! they are parsed; no error or `Debug` output holds them, nor a request
//! body or header (only endpoints, status codes and AWS's error codes).

use std::fmt;
use std::io::Write as _;
use std::time::Duration;

use hyper::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::Credentials;
use crate::http_client::{self, HttpError};
use crate::zbuf::ZeroizingWriter;

/// Overrides the SSO OIDC endpoint (`https://oidc.REGION.amazonaws.com`).
pub const OIDC_ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_SSO_OIDC";
/// Overrides the SSO portal endpoint (`https://portal.sso.REGION.amazonaws.com`).
pub const PORTAL_ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_SSO";
/// Overrides both when the specific variables are unset.
pub const ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL";

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The `clientName` avault registers as.
const CLIENT_NAME: &str = "avault";
/// The OAuth grant type of the device flow.
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The OAuth grant type that trades a refresh token for a new access token.
const REFRESH_GRANT: &str = "refresh_token";
/// How much of an error body is shown (AWS's error JSON; no secret).
const BODY_SHOWN: usize = 200;

/// Where the OIDC and portal APIs of one region are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoEndpoints {
    /// The OIDC endpoint (no trailing slash).
    pub oidc: String,
    /// The portal endpoint (no trailing slash).
    pub portal: String,
}

impl SsoEndpoints {
    /// The endpoints of `region`, with the environment's overrides.
    pub fn for_region(region: &str) -> SsoEndpoints {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        SsoEndpoints::with_overrides(
            region,
            var(OIDC_ENDPOINT_VAR),
            var(PORTAL_ENDPOINT_VAR),
            var(ENDPOINT_VAR),
        )
    }

    /// The endpoints of `region`: each specific override, else the general
    /// one, else AWS's.
    pub fn with_overrides(
        region: &str,
        oidc: Option<String>,
        portal: Option<String>,
        any: Option<String>,
    ) -> SsoEndpoints {
        let trim = |s: String| s.trim_end_matches('/').to_owned();
        SsoEndpoints {
            oidc: oidc
                .or_else(|| any.clone())
                .map(trim)
                .unwrap_or_else(|| format!("https://oidc.{region}.amazonaws.com")),
            portal: portal
                .or(any)
                .map(trim)
                .unwrap_or_else(|| format!("https://portal.sso.{region}.amazonaws.com")),
        }
    }
}

/// Why SSO gave no credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SsoError {
    /// No answer.
    #[error("cannot reach the SSO endpoint {endpoint}: {reason}")]
    Unreachable {
        /// The endpoint (no path, query or header).
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// An answer other than the expected one.
    #[error("SSO {call} at {endpoint} failed: HTTP {status}: {body}")]
    Refused {
        /// The API call.
        call: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The start of AWS's error body.
        body: String,
    },
    /// A 200 answer that is not what the API documents.
    #[error("SSO {call} answered something unexpected: {reason}")]
    BadAnswer {
        /// The API call.
        call: &'static str,
        /// Why (never the body).
        reason: &'static str,
    },
    /// The user refused the sign-in.
    #[error("the SSO sign-in was denied")]
    Denied,
    /// The user code expired before the sign-in was confirmed.
    #[error("the SSO sign-in was not confirmed in time (the code expired)")]
    Expired,
    /// The portal refused the access token (401): it is no good any more.
    #[error("the SSO access token was refused (HTTP 401)")]
    Unauthorized,
}

impl SsoError {
    /// A line that tells the user what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            SsoError::Unreachable { .. } => {
                "check the network, the profile's sso_region, and AWS_ENDPOINT_URL_SSO_OIDC / \
                 AWS_ENDPOINT_URL_SSO if they are set"
            }
            SsoError::Denied | SsoError::Expired => {
                "run the command again and confirm the code in the browser"
            }
            SsoError::Refused { status: 403, .. } => {
                "check sso_account_id and sso_role_name: you may not be assigned that role"
            }
            SsoError::Unauthorized => "run avault clear, then sign in again",
            _ => return None,
        };
        Some(hint.into())
    }
}

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

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The two APIs of one region.
pub struct SsoClient {
    endpoints: SsoEndpoints,
}

impl SsoClient {
    /// A client for `endpoints`.
    pub fn new(endpoints: SsoEndpoints) -> SsoClient {
        SsoClient { endpoints }
    }

    fn post(&self, path: &str, body: &[u8]) -> Result<http_client::Answer, SsoError> {
        let url = format!("{}{path}", self.endpoints.oidc);
        send(&self.endpoints.oidc, Method::POST, &url, &[], Some(body))
    }

    /// RegisterClient with `scopes`.
    pub fn register_client(&self, scopes: &[String]) -> Result<Registration, SsoError> {
        let answer = self.post("/client/register", &register_body(scopes))?;
        expect_ok("RegisterClient", &self.endpoints.oidc, &answer)?;
        parse_registration(&answer.body)
    }

    /// StartDeviceAuthorization for `start_url`.
    pub fn start_device_authorization(
        &self,
        registration: &Registration,
        start_url: &str,
    ) -> Result<DeviceAuthorization, SsoError> {
        let answer = self.post(
            "/device_authorization",
            &device_authorization_body(registration, start_url),
        )?;
        expect_ok("StartDeviceAuthorization", &self.endpoints.oidc, &answer)?;
        parse_device_authorization(&answer.body)
    }

    /// One CreateToken poll.
    pub fn create_token(
        &self,
        registration: &Registration,
        device_code: &SecretString,
    ) -> Result<TokenPoll, SsoError> {
        self.token_call(&token_body(registration, device_code))
    }

    /// CreateToken with the refresh grant: a new access token (and maybe
    /// a new refresh token) without a sign-in. Any answer but a token is
    /// an error: a refresh has no pending state.
    pub fn refresh_token(
        &self,
        registration: &Registration,
        refresh_token: &SecretString,
    ) -> Result<AccessToken, SsoError> {
        match self.token_call(&refresh_body(registration, refresh_token))? {
            TokenPoll::Token(token) => Ok(token),
            TokenPoll::Pending | TokenPoll::SlowDown => Err(SsoError::BadAnswer {
                call: "CreateToken",
                reason: "a refresh answered as a pending sign-in",
            }),
        }
    }

    fn token_call(&self, body: &[u8]) -> Result<TokenPoll, SsoError> {
        let answer = self.post("/token", body)?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        parse_token(answer.status, &answer.body, now).map_err(|e| match e {
            SsoError::Refused {
                call, status, body, ..
            } => SsoError::Refused {
                call,
                endpoint: self.endpoints.oidc.clone(),
                status,
                body,
            },
            other => other,
        })
    }

    /// GetRoleCredentials of `role_name` in `account_id` with `token`;
    /// [`SsoError::Unauthorized`] when the token is refused.
    pub fn get_role_credentials(
        &self,
        token: &SecretString,
        account_id: &str,
        role_name: &str,
    ) -> Result<Credentials, SsoError> {
        let url = format!(
            "{}/federation/credentials?account_id={}&role_name={}",
            self.endpoints.portal,
            query_value(account_id),
            query_value(role_name)
        );
        let answer = send(
            &self.endpoints.portal,
            Method::GET,
            &url,
            &[("x-amz-sso_bearer_token", token)],
            None,
        )?;
        if answer.status == 401 {
            return Err(SsoError::Unauthorized);
        }
        expect_ok("GetRoleCredentials", &self.endpoints.portal, &answer)?;
        parse_role_credentials(&answer.body)
    }
}

fn send(
    endpoint: &str,
    method: Method,
    url: &str,
    headers: &[(&'static str, &SecretString)],
    body: Option<&[u8]>,
) -> Result<http_client::Answer, SsoError> {
    http_client::send(method, url, headers, body, REQUEST_TIMEOUT).map_err(|e| {
        let reason = match e {
            HttpError::BadUrl(why) => format!("the endpoint is not usable: {why}"),
            other => other.to_string(),
        };
        SsoError::Unreachable {
            endpoint: endpoint.to_owned(),
            reason,
        }
    })
}

fn expect_ok(
    call: &'static str,
    endpoint: &str,
    answer: &http_client::Answer,
) -> Result<(), SsoError> {
    if answer.status == 200 {
        return Ok(());
    }
    Err(SsoError::Refused {
        call,
        endpoint: endpoint.to_owned(),
        status: answer.status,
        body: http_client::shown_body(&answer.body, BODY_SHOWN),
    })
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

    #[test]
    fn endpoints_and_their_overrides() {
        let aws = SsoEndpoints::with_overrides("eu-west-1", None, None, None);
        assert_eq!(aws.oidc, "https://oidc.eu-west-1.amazonaws.com");
        assert_eq!(aws.portal, "https://portal.sso.eu-west-1.amazonaws.com");
        let any = SsoEndpoints::with_overrides("x", None, None, Some("http://127.0.0.1:5/".into()));
        assert_eq!(
            (any.oidc.as_str(), any.portal.as_str()),
            ("http://127.0.0.1:5", "http://127.0.0.1:5")
        );
        let each = SsoEndpoints::with_overrides(
            "x",
            Some("https://o".into()),
            Some("https://p".into()),
            Some("https://a".into()),
        );
        assert_eq!(
            (each.oidc.as_str(), each.portal.as_str()),
            ("https://o", "https://p")
        );
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_value("Admin Role/x&y"), "Admin%20Role%2Fx%26y");
        assert_eq!(query_value("123456789012"), "123456789012");
    }
}
