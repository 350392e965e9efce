//! What the command line and the environment say over the config file.
//!
//! Flags apply to every profile of a chain, as aws-vault's `BaseConfig`
//! does. Of the environment, aws-vault's `populateFromEnv` (vault/config.go)
//! applies `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_STS_REGIONAL_ENDPOINTS`,
//! `AWS_MFA_SERIAL`, `AWS_ENDPOINT_URL` and the TTLs to every profile it
//! loads, and `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`, `AWS_SESSION_TAGS`,
//! `AWS_TRANSITIVE_TAGS` and `AWS_SOURCE_IDENTITY` to the target only.
//!
//! What must stay true: the environment is read here and nowhere else in
//! this module tree (but for the config path); a variable set to "" counts
//! as unset.

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::ConfigError;
use super::ttl::Ttls;

/// Command-line flags that feed profile resolution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlagOverrides {
    /// `--region`.
    pub region: Option<String>,
    /// `--duration`: the lifetime of GetSessionToken and AssumeRole sessions
    /// (aws-vault sets both from it).
    pub duration: Option<Duration>,
}

/// The environment variables that feed profile resolution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvOverrides {
    /// `AWS_REGION`.
    pub aws_region: Option<String>,
    /// `AWS_DEFAULT_REGION`, used when `AWS_REGION` is unset.
    pub aws_default_region: Option<String>,
    /// `AWS_STS_REGIONAL_ENDPOINTS`.
    pub sts_regional_endpoints: Option<String>,
    /// `AWS_MFA_SERIAL`.
    pub mfa_serial: Option<String>,
    /// `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// `AWS_ENDPOINT_URL_STS`: wins over every other endpoint for STS.
    pub sts_endpoint_url: Option<String>,
    /// `AWS_ENDPOINT_URL_IAM`: wins over every other endpoint for IAM.
    pub iam_endpoint_url: Option<String>,
    /// `AWS_ROLE_ARN` (target profile only).
    pub role_arn: Option<String>,
    /// `AWS_ROLE_SESSION_NAME` (target profile only).
    pub role_session_name: Option<String>,
    /// `AWS_SESSION_TAGS`, `k=v,k=v` (target profile only).
    pub session_tags: Option<String>,
    /// `AWS_TRANSITIVE_TAGS`, `k,k` (target profile only).
    pub transitive_tags: Option<String>,
    /// `AWS_SOURCE_IDENTITY` (target profile only).
    pub source_identity: Option<String>,
    /// The TTL variables.
    pub ttls: Ttls,
}

impl EnvOverrides {
    /// Reads the process environment. A value that is not UTF-8 is read
    /// lossily (and then fails to parse where parsing is needed).
    pub fn from_env() -> Result<EnvOverrides, ConfigError> {
        Self::from_lookup(&|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Reads the variables from `vars` instead of the environment (tests,
    /// and callers that scrubbed the environment first).
    pub fn from_vars<I, K, V>(vars: I) -> Result<EnvOverrides, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: BTreeMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::from_lookup(&|name| map.get(name).cloned())
    }

    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<EnvOverrides, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        Ok(EnvOverrides {
            aws_region: get("AWS_REGION"),
            aws_default_region: get("AWS_DEFAULT_REGION"),
            sts_regional_endpoints: get("AWS_STS_REGIONAL_ENDPOINTS"),
            mfa_serial: get("AWS_MFA_SERIAL"),
            endpoint_url: get("AWS_ENDPOINT_URL"),
            sts_endpoint_url: get("AWS_ENDPOINT_URL_STS"),
            iam_endpoint_url: get("AWS_ENDPOINT_URL_IAM"),
            role_arn: get("AWS_ROLE_ARN"),
            role_session_name: get("AWS_ROLE_SESSION_NAME"),
            session_tags: get("AWS_SESSION_TAGS"),
            transitive_tags: get("AWS_TRANSITIVE_TAGS"),
            source_identity: get("AWS_SOURCE_IDENTITY"),
            ttls: Ttls::from_lookup(lookup)?,
        })
    }

    /// The region the environment asks for: `AWS_REGION`, else
    /// `AWS_DEFAULT_REGION`.
    pub fn region(&self) -> Option<&str> {
        self.aws_region
            .as_deref()
            .or(self.aws_default_region.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_variable() {
        let env = EnvOverrides::from_vars([
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_STS_REGIONAL_ENDPOINTS", "legacy"),
            ("AWS_MFA_SERIAL", "arn:aws:iam::123456789012:mfa/me"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:5001"),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
            ("AWS_ROLE_SESSION_NAME", "me"),
            ("AWS_SESSION_TAGS", "a=1"),
            ("AWS_TRANSITIVE_TAGS", "a"),
            ("AWS_SOURCE_IDENTITY", "me@example.com"),
            ("AWS_ASSUME_ROLE_TTL", "2h"),
        ])
        .expect("reads");
        assert_eq!(env.region(), Some("eu-west-1"));
        assert_eq!(env.sts_regional_endpoints.as_deref(), Some("legacy"));
        assert_eq!(
            env.mfa_serial.as_deref(),
            Some("arn:aws:iam::123456789012:mfa/me")
        );
        assert_eq!(env.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(
            env.sts_endpoint_url.as_deref(),
            Some("http://127.0.0.1:5001")
        );
        assert_eq!(
            env.role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/r")
        );
        assert_eq!(env.role_session_name.as_deref(), Some("me"));
        assert_eq!(env.session_tags.as_deref(), Some("a=1"));
        assert_eq!(env.transitive_tags.as_deref(), Some("a"));
        assert_eq!(env.source_identity.as_deref(), Some("me@example.com"));
        assert_eq!(env.ttls.assume_role, Some(Duration::from_secs(7200)));
    }

    #[test]
    fn default_region_when_aws_region_is_unset_or_empty() {
        let env = EnvOverrides::from_vars([("AWS_DEFAULT_REGION", "us-east-1")]).expect("reads");
        assert_eq!(env.region(), Some("us-east-1"));
        let env =
            EnvOverrides::from_vars([("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "us-east-1")])
                .expect("reads");
        assert_eq!(env.region(), Some("us-east-1"));
    }

    #[test]
    fn empty_is_unset() {
        let env =
            EnvOverrides::from_vars([("AWS_ROLE_ARN", ""), ("AWS_MFA_SERIAL", "")]).expect("reads");
        assert_eq!(env, EnvOverrides::default());
    }

    #[test]
    fn a_bad_ttl_fails_the_whole_read() {
        let Err(e) = EnvOverrides::from_vars([("AWS_CHAINED_SESSION_TOKEN_TTL", "8 hours")]) else {
            panic!("read");
        };
        assert!(
            e.to_string().starts_with("AWS_CHAINED_SESSION_TOKEN_TTL: "),
            "{e}"
        );
    }
}
