//! Calls to AWS STS through the AWS SDK for Rust, over rustls + ring, on a
//! single-threaded runtime. Errors come back as one readable line.

use std::time::Duration;

use aws_sdk_sts::config::{BehaviorVersion, Region, SharedCredentialsProvider};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use super::aws_http::{self, Failure};
use super::Credentials;

/// Where STS is: the signing region and, when overridden, its URL.
#[derive(Clone, Debug)]
pub struct StsEndpoint {
    /// The signing region (us-east-1 when nothing says otherwise).
    pub region: String,
    /// `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, the profile's
    /// `endpoint_url`, or the global endpoint for `sts_regional_endpoints = legacy`.
    pub url: Option<String>,
}

/// An MFA device and a code from it.
pub struct MfaCode {
    /// The device's serial (ARN).
    pub serial: String,
    /// The one-time code.
    pub code: SecretString,
}

/// What AssumeRole needs besides the caller's credentials.
pub struct AssumeRoleRequest<'a> {
    /// The role.
    pub role_arn: &'a str,
    /// The session name.
    pub session_name: &'a str,
    /// `external_id`, when the trust policy wants one.
    pub external_id: Option<&'a str>,
    /// Session length.
    pub duration: Duration,
    /// MFA, when this hop sends it.
    pub mfa: Option<&'a MfaCode>,
    /// Session tags.
    pub tags: &'a [(String, String)],
    /// Tag keys that pass on to chained roles.
    pub transitive_tags: &'a [String],
    /// Source identity.
    pub source_identity: Option<&'a str>,
}

/// What went wrong talking to STS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StsError {
    /// STS answered with an error.
    #[error("STS {action} failed: {code}: {message}")]
    Service {
        /// The operation.
        action: &'static str,
        /// AWS's error code.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// No answer from the endpoint.
    #[error("cannot reach STS ({endpoint}) for {action}: {reason}")]
    Unreachable {
        /// The operation.
        action: &'static str,
        /// Where it was sent.
        endpoint: String,
        /// Why, in a few words.
        reason: String,
    },
    /// Anything else (a malformed answer, a failed build of the request).
    #[error("STS {action} failed: {reason}")]
    Other {
        /// The operation.
        action: &'static str,
        /// Why.
        reason: String,
    },
}

impl StsError {
    /// A line that tells the user what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        let StsError::Service { code, message, .. } = self else {
            return Some("check AWS_ENDPOINT_URL and the network".into());
        };
        let hint = match code.as_str() {
            "AccessDenied" if message.contains("MultiFactorAuthentication") => {
                "the MFA code was wrong or already used: check the device (and this machine's clock)"
            }
            "AccessDenied" => "check the role's trust policy and the user's permissions",
            "ExpiredToken" | "ExpiredTokenException" => {
                "the cached session expired: run avault clear PROFILE and try again"
            }
            "InvalidClientTokenId" | "SignatureDoesNotMatch" => {
                "the stored key is not valid: check it in IAM, then avault add PROFILE again"
            }
            "Throttling" | "ThrottlingException" => "AWS is throttling requests: wait and try again",
            _ => return None,
        };
        Some(hint.into())
    }
}

fn one_line<E: ProvideErrorMetadata + std::error::Error, R>(
    action: &'static str,
    endpoint: &str,
    err: SdkError<E, R>,
) -> StsError {
    match aws_http::failure(err) {
        Failure::Service { code, message } => StsError::Service {
            action,
            code,
            message,
        },
        Failure::Unreachable(reason) => StsError::Unreachable {
            action,
            endpoint: endpoint.to_owned(),
            reason,
        },
        Failure::Other(reason) => StsError::Other { action, reason },
    }
}

/// A connection to STS.
pub struct Sts {
    runtime: tokio::runtime::Runtime,
    http: aws_sdk_sts::config::SharedHttpClient,
    endpoint: StsEndpoint,
}

fn convert(
    action: &'static str,
    creds: Option<&aws_sdk_sts::types::Credentials>,
) -> Result<Credentials, StsError> {
    let c = creds.ok_or(StsError::Other {
        action,
        reason: "the answer holds no credentials".into(),
    })?;
    let expiration = OffsetDateTime::from_unix_timestamp(c.expiration().secs()).ok();
    Ok(Credentials {
        access_key_id: c.access_key_id().to_owned(),
        secret_access_key: SecretString::from(c.secret_access_key().to_owned()),
        session_token: Some(SecretString::from(c.session_token().to_owned())),
        expiration,
    })
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

impl Sts {
    /// Prepares calls to `endpoint`.
    pub fn new(endpoint: StsEndpoint) -> Result<Sts, StsError> {
        let runtime = aws_http::runtime().map_err(|e| StsError::Other {
            action: "setup",
            reason: format!("cannot start the network runtime: {e}"),
        })?;
        let http = aws_http::http_client();
        Ok(Sts {
            runtime,
            http,
            endpoint,
        })
    }

    /// Runs one SDK call to its end on this connection's runtime; an
    /// error comes back as one readable line.
    fn send<T, E, R>(
        &self,
        action: &'static str,
        call: impl std::future::Future<Output = Result<T, SdkError<E, R>>>,
    ) -> Result<T, StsError>
    where
        E: ProvideErrorMetadata + std::error::Error,
    {
        self.runtime
            .block_on(call)
            .map_err(|e| one_line(action, &self.endpoint_text(), e))
    }

    /// Where calls go, for messages.
    pub fn endpoint_text(&self) -> String {
        self.endpoint
            .url
            .clone()
            .unwrap_or_else(|| format!("sts.{}.amazonaws.com", self.endpoint.region))
    }

    fn client(&self, caller: Option<&Credentials>) -> aws_sdk_sts::Client {
        let mut config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(self.http.clone())
            .region(Region::new(self.endpoint.region.clone()));
        if let Some(url) = &self.endpoint.url {
            config = config.endpoint_url(url.clone());
        }
        if let Some(c) = caller {
            let sdk = aws_http::sdk_credentials(c);
            config = config.credentials_provider(SharedCredentialsProvider::new(sdk));
        }
        aws_sdk_sts::Client::from_conf(config.build())
    }

    /// GetSessionToken: temporary credentials for the caller's own user.
    pub fn get_session_token(
        &self,
        caller: &Credentials,
        duration: Duration,
        mfa: Option<&MfaCode>,
    ) -> Result<Credentials, StsError> {
        const ACTION: &str = "GetSessionToken";
        let mut call = self
            .client(Some(caller))
            .get_session_token()
            .duration_seconds(seconds(duration));
        if let Some(m) = mfa {
            call = call
                .serial_number(&m.serial)
                .token_code(m.code.expose_secret());
        }
        let out = self.send(ACTION, call.send())?;
        convert(ACTION, out.credentials())
    }

    /// AssumeRole from the caller's credentials.
    pub fn assume_role(
        &self,
        caller: &Credentials,
        req: &AssumeRoleRequest<'_>,
    ) -> Result<Credentials, StsError> {
        const ACTION: &str = "AssumeRole";
        let mut call = self
            .client(Some(caller))
            .assume_role()
            .role_arn(req.role_arn)
            .role_session_name(req.session_name)
            .duration_seconds(seconds(req.duration));
        if let Some(id) = req.external_id {
            call = call.external_id(id);
        }
        if let Some(m) = req.mfa {
            call = call
                .serial_number(&m.serial)
                .token_code(m.code.expose_secret());
        }
        for (k, v) in req.tags {
            let tag = aws_sdk_sts::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| StsError::Other {
                    action: ACTION,
                    reason: format!("bad session tag {k:?}: {e}"),
                })?;
            call = call.tags(tag);
        }
        for k in req.transitive_tags {
            call = call.transitive_tag_keys(k);
        }
        if let Some(s) = req.source_identity {
            call = call.source_identity(s);
        }
        let out = self.send(ACTION, call.send())?;
        convert(ACTION, out.credentials())
    }

    /// AssumeRoleWithWebIdentity: no caller credentials, a token instead.
    pub fn assume_role_with_web_identity(
        &self,
        role_arn: &str,
        session_name: &str,
        token: &SecretString,
        duration: Duration,
    ) -> Result<Credentials, StsError> {
        const ACTION: &str = "AssumeRoleWithWebIdentity";
        let call = self
            .client(None)
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name(session_name)
            .web_identity_token(token.expose_secret())
            .duration_seconds(seconds(duration));
        let out = self.send(ACTION, call.send())?;
        convert(ACTION, out.credentials())
    }

    /// GetFederationToken: credentials for a federated user `name` with
    /// `policy`, from a long-term key (AWS refuses session credentials).
    /// For the console sign-in of a plain IAM user.
    pub fn get_federation_token(
        &self,
        caller: &Credentials,
        name: &str,
        policy: &str,
        duration: Duration,
    ) -> Result<Credentials, StsError> {
        const ACTION: &str = "GetFederationToken";
        let call = self
            .client(Some(caller))
            .get_federation_token()
            .name(name)
            .policy(policy)
            .duration_seconds(seconds(duration));
        let out = self.send(ACTION, call.send())?;
        convert(ACTION, out.credentials())
    }

    /// GetCallerIdentity: the ARN of whoever `caller` is.
    pub fn get_caller_identity(&self, caller: &Credentials) -> Result<String, StsError> {
        const ACTION: &str = "GetCallerIdentity";
        let call = self.client(Some(caller)).get_caller_identity();
        let out = self.send(ACTION, call.send())?;
        out.arn().map(str::to_owned).ok_or(StsError::Other {
            action: ACTION,
            reason: "the answer holds no ARN".into(),
        })
    }
}
