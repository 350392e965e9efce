//! AWS IAM Identity Center (SSO) on the wire: the OIDC device flow
//! (RegisterClient, StartDeviceAuthorization, CreateToken) and the
//! portal's GetRoleCredentials. Both are unsigned REST-JSON APIs, sent as
//! plain requests through [`crate::http_client`].
//!
//! What must stay true: the client secret, device code, access and
//! refresh tokens and the role's keys are `SecretString`s from the moment
//! they are parsed; no error or `Debug` output holds them, nor a request
//! body or header (only endpoints, status codes and AWS's error codes).

mod oidc;
mod portal;
pub(super) mod signin;

use std::time::Duration;

use hyper::Method;
use secrecy::SecretString;
use time::OffsetDateTime;

pub use oidc::{
    device_authorization_body, parse_device_authorization, parse_registration, parse_token,
    refresh_body, register_body, token_body, AccessToken, DeviceAuthorization, Registration,
    TokenPoll,
};
pub use portal::{expiration_from_millis, parse_role_credentials};

use super::Credentials;
use crate::http_client::{self, HttpError};

/// Overrides the SSO OIDC endpoint (`https://oidc.REGION.amazonaws.com`).
pub const OIDC_ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_SSO_OIDC";
/// Overrides the SSO portal endpoint (`https://portal.sso.REGION.amazonaws.com`).
pub const PORTAL_ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_SSO";
/// Overrides both when the specific variables are unset.
pub const ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL";

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
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
