//! The AWS console sign-in URL (`avault login`), the way AWS documents it in
//! "Enable custom identity broker access to the AWS console" and aws-vault's
//! `cli/login.go` does it:
//!
//! 1. temporary credentials (a long-term key is first turned into a
//!    federated user's session with GetFederationToken);
//! 2. `GET <federation>?Action=getSigninToken&Session=<JSON>` → `SigninToken`;
//! 3. `<federation>?Action=login&Issuer=avault&Destination=<console URL>&SigninToken=…`.
//!
//! What must stay true: the exchange request carries the session token in
//! its query, and the login URL is itself a bearer credential for the
//! console, so neither ever appears in an error, a log line or `Debug`
//! output; only the endpoint (scheme, host, path) is named. An `http://`
//! endpoint is accepted for loopback hosts only (tests), never elsewhere.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::config::{CredentialSource, ProfileChain};
use crate::creds::Credentials;
use crate::vault::Payload;

mod exchange;

pub use exchange::{request_signin_token, session_json, FederationEndpoint};
// Opening a URL moved to `crate::browser` (SSO sign-in uses it too);
// re-exported so `login` keeps its paths.
pub use crate::browser::{open_url, openers, Opened};

/// The variable that points the getSigninToken exchange somewhere else
/// (a full URL, e.g. `http://127.0.0.1:8080/federation` for tests). The
/// printed login URL keeps the partition's real sign-in host.
pub const FEDERATION_URL_VAR: &str = "AVAULT_FEDERATION_URL";

/// The `Issuer` of the login URL: the console links back to it on logout.
pub const ISSUER: &str = "avault";

/// The session policy of GetFederationToken: the federated user gets what
/// the IAM user has (the effective permissions are the intersection).
pub const ALLOW_ALL_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// How long the whole getSigninToken exchange may take.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// The region when nothing names one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// GetFederationToken's `Name`: 2 to 32 characters of `[\w+=,.@-]`.
const NAME_MAX: usize = 32;
const NAME_MIN: usize = 2;
const NAME_FALLBACK: &str = "avault";

/// An AWS partition, as far as the console cares: its sign-in and console
/// hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partition {
    /// `aws`: everything that is not one of the others.
    Aws,
    /// `aws-cn`: regions `cn-*`.
    China,
    /// `aws-us-gov`: regions `us-gov-*`.
    GovCloud,
}

impl Partition {
    /// The partition a region belongs to.
    pub fn of_region(region: &str) -> Partition {
        if region.starts_with("cn-") {
            Partition::China
        } else if region.starts_with("us-gov-") {
            Partition::GovCloud
        } else {
            Partition::Aws
        }
    }

    /// The sign-in federation endpoint.
    pub fn federation_url(self) -> &'static str {
        match self {
            Partition::Aws => "https://signin.aws.amazon.com/federation",
            Partition::China => "https://signin.amazonaws.cn/federation",
            Partition::GovCloud => "https://signin.amazonaws-us-gov.com/federation",
        }
    }

    /// The console's domain; a region's console is `<region>.<domain>`.
    pub fn console_domain(self) -> &'static str {
        match self {
            Partition::Aws => "console.aws.amazon.com",
            Partition::China => "console.amazonaws.cn",
            Partition::GovCloud => "console.amazonaws-us-gov.com",
        }
    }
}

/// The console page to land on: the region's home page, or `path` (a
/// service such as `s3` or `ec2/home`) with the region as a parameter, as
/// aws-vault's `--path` does. Leading slashes of `path` are dropped (aws-vault
/// would make `//`); a path that has a query already gets `&region=`.
pub fn destination(region: &str, path: Option<&str>) -> String {
    let domain = Partition::of_region(region).console_domain();
    let path = path.map(|p| p.trim_start_matches('/')).unwrap_or("");
    if path.is_empty() {
        return format!("https://{region}.{domain}/console/home?region={region}");
    }
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("https://{region}.{domain}/{path}{separator}region={region}")
}

/// The federated user's name: `user` (the OS user name) reduced to the
/// characters GetFederationToken accepts and to 32 of them; "avault" when
/// fewer than 2 are left.
pub fn federated_user_name(user: Option<&str>) -> String {
    let name: String = user
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c))
        .take(NAME_MAX)
        .collect();
    if name.len() < NAME_MIN {
        NAME_FALLBACK.to_owned()
    } else {
        name
    }
}

/// Escapes `text` for a URL query as Go's `url.QueryEscape` does (and so
/// as aws-vault sends it): unreserved characters as they are, space as
/// `+`, every other byte as `%XX`.
pub fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
    out
}

/// The token the federation endpoint hands out: with the login URL it
/// opens the console, so it is kept as a secret.
pub struct SigninToken(SecretString);

impl SigninToken {
    /// A token (tests, and the parsed answer).
    pub fn new(token: String) -> SigninToken {
        SigninToken(SecretString::from(token))
    }

    /// The token itself.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SigninToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigninToken(<redacted>)")
    }
}

/// The login URL: `federation_url` with `Action=login`, the issuer, the
/// destination and the token. It opens the console for whoever has it.
pub fn login_url(federation_url: &str, destination: &str, token: &SigninToken) -> SecretString {
    SecretString::from(format!(
        "{federation_url}?Action=login&Issuer={}&Destination={}&SigninToken={}",
        query_escape(ISSUER),
        query_escape(destination),
        query_escape(token.expose_secret())
    ))
}

/// Why there is no sign-in token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// `AVAULT_FEDERATION_URL` is not a usable URL.
    #[error("{FEDERATION_URL_VAR} {url:?} is not usable: {reason}")]
    BadFederationUrl {
        /// The value.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// Credentials without a session token cannot sign in.
    #[error("the console sign-in needs temporary credentials; these have no session token")]
    NotTemporary,
    /// No answer from the federation endpoint.
    #[error("cannot reach the sign-in endpoint {endpoint}: {reason}")]
    Unreachable {
        /// The endpoint (no query).
        endpoint: String,
        /// Why, in a few words.
        reason: String,
    },
    /// No answer in time.
    #[error("the sign-in endpoint {endpoint} did not answer within {} s", timeout.as_secs())]
    TimedOut {
        /// The endpoint (no query).
        endpoint: String,
        /// How long it was given.
        timeout: Duration,
    },
    /// An answer other than 200.
    #[error("the sign-in endpoint {endpoint} refused getSigninToken: HTTP {status}: {body}")]
    Refused {
        /// The endpoint (no query).
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body (AWS's error text; no secret).
        body: String,
    },
    /// A 200 answer without a token.
    #[error("the sign-in endpoint {endpoint} answered without a SigninToken: {reason}")]
    BadAnswer {
        /// The endpoint (no query).
        endpoint: String,
        /// Why (never the body: it may hold a token).
        reason: &'static str,
    },
    /// The network runtime could not start.
    #[error("cannot start the network runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl ConsoleError {
    /// A line that tells the user what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            ConsoleError::BadFederationUrl { .. } => {
                "unset it, or give a URL like https://signin.aws.amazon.com/federation \
                 (http:// only for 127.0.0.1 or localhost)"
            }
            ConsoleError::Unreachable { .. } | ConsoleError::TimedOut { .. } => {
                "check the network, and AVAULT_FEDERATION_URL if it is set"
            }
            ConsoleError::Refused { status, .. } if *status == 400 || *status == 403 => {
                "the credentials were refused: run avault clear PROFILE and try again, \
                 and check that the role or user may use the console"
            }
            ConsoleError::Refused { .. } => "the sign-in service failed: wait and try again",
            _ => return None,
        };
        Some(hint.into())
    }
}

/// The stored long-term key the console session must be federated from,
/// and its profile: the chain's target, following `source_profile` links
/// that assume no role, when it ends at a stored key with no `role_arn`.
/// `None`: the provider's credentials (a role, web identity,
/// credential_process) are used as they are.
pub fn own_long_term_key(chain: &ProfileChain, payload: &Payload) -> Option<(String, Credentials)> {
    for p in chain.profiles() {
        let stored = payload.profiles.get(&p.name);
        match p.credential_source(stored.is_some()) {
            CredentialSource::SourceProfile if p.role_arn.is_none() => continue,
            CredentialSource::StoredKey if p.role_arn.is_none() => {
                let key = stored?;
                return Some((
                    p.name.clone(),
                    Credentials {
                        access_key_id: key.access_key_id.clone(),
                        secret_access_key: key.secret_access_key.clone(),
                        session_token: None,
                        expiration: None,
                    },
                ));
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
                    out.push(u8::from_str_radix(hex, 16).expect("hex"));
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn partitions_by_region() {
        assert_eq!(Partition::of_region("eu-west-1"), Partition::Aws);
        assert_eq!(Partition::of_region("us-east-1"), Partition::Aws);
        assert_eq!(Partition::of_region("cn-north-1"), Partition::China);
        assert_eq!(Partition::of_region("cn-northwest-1"), Partition::China);
        assert_eq!(Partition::of_region("us-gov-west-1"), Partition::GovCloud);
        assert_eq!(
            Partition::China.federation_url(),
            "https://signin.amazonaws.cn/federation"
        );
        assert_eq!(
            Partition::GovCloud.federation_url(),
            "https://signin.amazonaws-us-gov.com/federation"
        );
        assert_eq!(
            Partition::Aws.federation_url(),
            "https://signin.aws.amazon.com/federation"
        );
    }

    #[test]
    fn destinations_per_partition_and_path() {
        assert_eq!(
            destination("eu-west-1", None),
            "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1"
        );
        assert_eq!(
            destination("cn-north-1", None),
            "https://cn-north-1.console.amazonaws.cn/console/home?region=cn-north-1"
        );
        assert_eq!(
            destination("us-gov-east-1", Some("s3")),
            "https://us-gov-east-1.console.amazonaws-us-gov.com/s3?region=us-gov-east-1"
        );
        // aws-vault's form for a plain path; no `//` for a leading slash.
        assert_eq!(
            destination("us-east-1", Some("/ec2/home")),
            "https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1"
        );
        assert_eq!(
            destination("us-east-1", Some("s3/buckets?tab=objects")),
            "https://us-east-1.console.aws.amazon.com/s3/buckets?tab=objects&region=us-east-1"
        );
        assert_eq!(
            destination("us-east-1", Some("")),
            destination("us-east-1", None)
        );
    }

    #[test]
    fn federated_user_names_follow_sts_rules() {
        assert_eq!(federated_user_name(Some("alice")), "alice");
        assert_eq!(federated_user_name(Some("jo.doe_1@corp")), "jo.doe_1@corp");
        assert_eq!(
            federated_user_name(Some("DOMAIN\\bob smith")),
            "DOMAINbobsmith"
        );
        assert_eq!(federated_user_name(Some("élodie")), "lodie");
        let long = "a".repeat(40);
        assert_eq!(federated_user_name(Some(&long)), "a".repeat(32));
        assert_eq!(federated_user_name(Some("x")), "avault");
        assert_eq!(federated_user_name(Some("!!")), "avault");
        assert_eq!(federated_user_name(None), "avault");
    }

    #[test]
    fn query_escape_as_go() {
        assert_eq!(query_escape("a b/c?d=e&f"), "a+b%2Fc%3Fd%3De%26f");
        assert_eq!(query_escape("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(query_escape("é"), "%C3%A9");
        let text = r#"{"sessionId":"ASIA","sessionKey":"k/+=","sessionToken":"t t"}"#;
        assert_eq!(decode(&query_escape(text)), text);
    }

    #[test]
    fn login_url_fields() {
        let token = SigninToken::new("tok+/=123".into());
        let dest = destination("eu-central-1", Some("s3"));
        let url = login_url(Partition::Aws.federation_url(), &dest, &token);
        let url = url.expose_secret();
        let (base, query) = url.split_once('?').expect("query");
        assert_eq!(base, "https://signin.aws.amazon.com/federation");
        let fields: Vec<(&str, String)> = query
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("k=v");
                (k, decode(v))
            })
            .collect();
        assert_eq!(
            fields,
            vec![
                ("Action", "login".to_owned()),
                ("Issuer", "avault".to_owned()),
                ("Destination", dest),
                ("SigninToken", "tok+/=123".to_owned()),
            ]
        );
        assert_eq!(format!("{token:?}"), "SigninToken(<redacted>)");
    }

    #[test]
    fn only_a_users_own_key_is_federated() {
        use crate::config::{Profile, RoleArn, Ttls};
        use crate::vault::StoredProfile;

        let mut payload = Payload::new(Vec::new());
        payload.profiles.insert(
            "alice".into(),
            StoredProfile {
                access_key_id: "AKIAALICE0000001".into(),
                secret_access_key: SecretString::from("s".to_owned()),
                mfa_serial: None,
                totp: Default::default(),
                created: String::new(),
                rotated: None,
            },
        );
        let alice = Profile::new("alice");
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/ops").expect("arn");
        let chain = |target: Profile, sources: Vec<Profile>| {
            ProfileChain::new(target, sources, Ttls::default())
        };

        let (owner, key) =
            own_long_term_key(&chain(alice.clone(), vec![]), &payload).expect("own key");
        assert_eq!(owner, "alice");
        assert_eq!(key.access_key_id, "AKIAALICE0000001");
        assert!(key.session_token.is_none());

        // A profile that only names alice as its source: still alice's key.
        let mut dev = Profile::new("dev");
        dev.source_profile = Some("alice".into());
        let (owner, _) =
            own_long_term_key(&chain(dev.clone(), vec![alice.clone()]), &payload).expect("key");
        assert_eq!(owner, "alice");

        // A role anywhere on the way: the role's credentials instead.
        let mut ops = dev;
        ops.role_arn = Some(role.clone());
        assert!(own_long_term_key(&chain(ops, vec![alice.clone()]), &payload).is_none());
        let mut alice_role = alice;
        alice_role.role_arn = Some(role);
        assert!(own_long_term_key(&chain(alice_role, vec![]), &payload).is_none());

        // credential_process, or no stored key: as the provider gives them.
        let mut process = Profile::new("proc");
        process.credential_process = Some(crate::config::ProcessCommand::new("true"));
        assert!(own_long_term_key(&chain(process, vec![]), &payload).is_none());
        assert!(own_long_term_key(&chain(Profile::new("bob"), vec![]), &payload).is_none());
    }

    #[test]
    fn refused_error_shows_status_and_body_start_only() {
        let e = ConsoleError::Refused {
            endpoint: "https://signin.aws.amazon.com/federation".into(),
            status: 400,
            body: "bad".into(),
        };
        assert!(e.to_string().contains("HTTP 400: bad"));
        assert!(e.hint().is_some());
    }
}
