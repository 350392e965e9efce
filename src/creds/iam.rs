//! Calls to AWS IAM for `rotate`: CreateAccessKey and DeleteAccessKey,
//! through the same HTTP client and runtime as STS. IAM is a global
//! service: requests are signed for the partition's home region whatever
//! the profile's region is.

use aws_sdk_iam::config::{BehaviorVersion, Region, SharedCredentialsProvider};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use secrecy::SecretString;

use super::aws_http::{self, Failure};
use super::Credentials;
use crate::config::Profile;

/// Where IAM is: the signing region and, when overridden, its URL.
#[derive(Clone, Debug)]
pub struct IamEndpoint {
    /// us-east-1, or the home region of the China and GovCloud partitions.
    pub region: String,
    /// `AWS_ENDPOINT_URL_IAM`, else `AWS_ENDPOINT_URL` / `endpoint_url`.
    pub url: Option<String>,
}

/// The IAM endpoint of a profile: its overrides, and the signing region of
/// the partition its region belongs to.
pub fn iam_endpoint(profile: &Profile) -> IamEndpoint {
    let region = profile.region.as_deref().unwrap_or("us-east-1");
    let signing = if region.starts_with("cn-") {
        "cn-north-1"
    } else if region.starts_with("us-gov-") {
        "us-gov-west-1"
    } else {
        "us-east-1"
    };
    IamEndpoint {
        region: signing.to_owned(),
        url: profile.iam_endpoint_url.clone(),
    }
}

/// What went wrong talking to IAM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IamError {
    /// IAM answered with an error.
    #[error("IAM {action} failed: {code}: {message}")]
    Service {
        /// The operation.
        action: &'static str,
        /// AWS's error code.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// No answer from the endpoint.
    #[error("cannot reach IAM ({endpoint}) for {action}: {reason}")]
    Unreachable {
        /// The operation.
        action: &'static str,
        /// Where it was sent.
        endpoint: String,
        /// Why, in a few words.
        reason: String,
    },
    /// Anything else (a malformed answer, a failed build of the request).
    #[error("IAM {action} failed: {reason}")]
    Other {
        /// The operation.
        action: &'static str,
        /// Why.
        reason: String,
    },
    /// The stored key belongs to something other than an IAM user (the
    /// root user, say), whose keys IAM cannot name.
    #[error("rotate needs an IAM user's key; this key belongs to {arn}")]
    NotAUser {
        /// The caller's ARN.
        arn: String,
    },
}

impl IamError {
    /// A line that tells the user what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        let code = match self {
            IamError::Service { code, .. } => code.as_str(),
            IamError::Unreachable { .. } => {
                return Some("check AWS_ENDPOINT_URL_IAM, AWS_ENDPOINT_URL and the network".into())
            }
            IamError::NotAUser { .. } => {
                return Some(
                    "create an access key for an IAM user and store it with avault add".into(),
                )
            }
            IamError::Other { .. } => return None,
        };
        let hint = match code {
            "AccessDenied" => {
                "the user's policy must allow iam:CreateAccessKey and iam:DeleteAccessKey on itself; \
                 if it requires MFA, rotate without -n"
            }
            "InvalidClientTokenId" | "SignatureDoesNotMatch" => {
                "the stored key is not valid: check it in IAM, then avault add PROFILE again"
            }
            "Throttling" | "ThrottlingException" => "AWS is throttling requests: wait and try again",
            _ => return None,
        };
        Some(hint.into())
    }

    /// Whether trying again may help: throttling, a server error, no answer.
    pub fn is_transient(&self) -> bool {
        match self {
            IamError::Unreachable { .. } => true,
            IamError::Service { code, .. } => matches!(
                code.as_str(),
                "Throttling"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "ServiceFailure"
                    | "ServiceUnavailable"
                    | "InternalFailure"
                    | "InternalError"
            ),
            _ => false,
        }
    }

    /// Whether IAM refused a new key because the user has two already.
    pub fn is_key_limit(&self) -> bool {
        matches!(self, IamError::Service { code, .. } if code == "LimitExceeded")
    }
}

/// The user name in an IAM user's ARN
/// (`arn:PARTITION:iam::ACCOUNT:user/PATH/NAME` → `NAME`).
pub fn user_name_from_arn(arn: &str) -> Result<String, IamError> {
    let not_a_user = || IamError::NotAUser {
        arn: arn.to_owned(),
    };
    let fields: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, _partition, service, _region, _account, resource] = fields[..] else {
        return Err(not_a_user());
    };
    if prefix != "arn" || service != "iam" {
        return Err(not_a_user());
    }
    let path = resource.strip_prefix("user/").ok_or_else(not_a_user)?;
    match path.rsplit('/').next() {
        Some(name) if !name.is_empty() => Ok(name.to_owned()),
        _ => Err(not_a_user()),
    }
}

fn one_line<E: ProvideErrorMetadata + std::error::Error, R>(
    action: &'static str,
    endpoint: &str,
    err: SdkError<E, R>,
) -> IamError {
    match aws_http::failure(err) {
        Failure::Service { code, message } => IamError::Service {
            action,
            code,
            message,
        },
        Failure::Unreachable(reason) => IamError::Unreachable {
            action,
            endpoint: endpoint.to_owned(),
            reason,
        },
        Failure::Other(reason) => IamError::Other { action, reason },
    }
}

/// A connection to IAM.
pub struct Iam {
    runtime: tokio::runtime::Runtime,
    http: aws_sdk_iam::config::SharedHttpClient,
    endpoint: IamEndpoint,
}

impl Iam {
    /// Prepares calls to `endpoint`.
    pub fn new(endpoint: IamEndpoint) -> Result<Iam, IamError> {
        let runtime = aws_http::runtime().map_err(|e| IamError::Other {
            action: "setup",
            reason: format!("cannot start the network runtime: {e}"),
        })?;
        Ok(Iam {
            runtime,
            http: aws_http::http_client(),
            endpoint,
        })
    }

    /// Runs one SDK call to its end on this connection's runtime; an
    /// error comes back as one readable line.
    fn send<T, E, R>(
        &self,
        action: &'static str,
        call: impl std::future::Future<Output = Result<T, SdkError<E, R>>>,
    ) -> Result<T, IamError>
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
            .unwrap_or_else(|| "iam.amazonaws.com".to_owned())
    }

    fn client(&self, caller: &Credentials) -> aws_sdk_iam::Client {
        let mut config = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(self.http.clone())
            .region(Region::new(self.endpoint.region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(aws_http::sdk_credentials(
                caller,
            )));
        if let Some(url) = &self.endpoint.url {
            config = config.endpoint_url(url.clone());
        }
        aws_sdk_iam::Client::from_conf(config.build())
    }

    /// CreateAccessKey for `user_name`: the new long-term key.
    pub fn create_access_key(
        &self,
        caller: &Credentials,
        user_name: &str,
    ) -> Result<Credentials, IamError> {
        const ACTION: &str = "CreateAccessKey";
        let call = self.client(caller).create_access_key().user_name(user_name);
        let out = self.send(ACTION, call.send())?;
        let key = out.access_key().ok_or(IamError::Other {
            action: ACTION,
            reason: "the answer holds no key".into(),
        })?;
        Ok(Credentials {
            access_key_id: key.access_key_id().to_owned(),
            secret_access_key: SecretString::from(key.secret_access_key().to_owned()),
            session_token: None,
            expiration: None,
        })
    }

    /// DeleteAccessKey: `access_key_id` of `user_name` stops working.
    pub fn delete_access_key(
        &self,
        caller: &Credentials,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<(), IamError> {
        const ACTION: &str = "DeleteAccessKey";
        let call = self
            .client(caller)
            .delete_access_key()
            .user_name(user_name)
            .access_key_id(access_key_id);
        self.send(ACTION, call.send())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_come_from_user_arns_only() {
        let name = |arn: &str| user_name_from_arn(arn).ok();
        assert_eq!(
            name("arn:aws:iam::123456789012:user/alice").as_deref(),
            Some("alice")
        );
        assert_eq!(
            name("arn:aws-cn:iam::123456789012:user/dev/team/bob").as_deref(),
            Some("bob")
        );
        assert_eq!(name("arn:aws:iam::123456789012:root"), None);
        assert_eq!(
            name("arn:aws:sts::123456789012:assumed-role/r/s"),
            None,
            "a role session has no keys of its own"
        );
        assert_eq!(name("arn:aws:iam::123456789012:user/"), None);
        assert_eq!(name("not an arn"), None);
    }

    #[test]
    fn signing_region_follows_the_partition() {
        let mut p = Profile::new("p");
        assert_eq!(iam_endpoint(&p).region, "us-east-1");
        p.region = Some("eu-west-1".into());
        assert_eq!(iam_endpoint(&p).region, "us-east-1");
        p.region = Some("cn-northwest-1".into());
        assert_eq!(iam_endpoint(&p).region, "cn-north-1");
        p.region = Some("us-gov-east-1".into());
        assert_eq!(iam_endpoint(&p).region, "us-gov-west-1");
        p.iam_endpoint_url = Some("http://127.0.0.1:5000".into());
        assert_eq!(
            iam_endpoint(&p).url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
    }

    #[test]
    fn only_throttling_and_outages_are_retried() {
        let service = |code: &str| IamError::Service {
            action: "DeleteAccessKey",
            code: code.into(),
            message: "m".into(),
        };
        assert!(service("Throttling").is_transient());
        assert!(service("ServiceFailure").is_transient());
        assert!(!service("AccessDenied").is_transient());
        assert!(!service("NoSuchEntity").is_transient());
        assert!(service("LimitExceeded").is_key_limit());
    }
}
