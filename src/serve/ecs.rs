//! The ECS container credentials endpoint (what AWS SDKs read through
//! AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::http::{Handler, Request, Response};
use super::supply::Supply;
use super::{json_body, percent_decode};
use crate::creds::{rfc3339, Credentials, CredsError};

/// Assumes a role (by ARN) from the base credentials.
pub type AssumeRole = dyn Fn(&Credentials, &str) -> Result<Credentials, CredsError> + Send + Sync;

/// Roles remembered for `/role-arn/…`; more are assumed afresh each time.
const MAX_ROLES: usize = 64;

/// A new authorization token: 30 random bytes, base64url.
pub fn new_token() -> SecretString {
    let mut bytes = Zeroizing::new([0u8; 30]);
    rand::rngs::OsRng.fill_bytes(&mut bytes[..]);
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..]))
}

/// Answers with the profile's credentials, or a role's under `/role-arn/`.
pub struct EcsEndpoint {
    token: SecretString,
    base: Arc<Supply>,
    assume: Arc<AssumeRole>,
    roles: Mutex<HashMap<String, Arc<Supply>>>,
    min_left: std::time::Duration,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerCredentials<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    expiration: String,
}

/// Credentials in the container endpoint's shape. Long-term keys get an
/// expiry an hour away: SDKs need one, and ask again then.
pub fn container_json(c: &Credentials) -> Zeroizing<Vec<u8>> {
    let expiration = c
        .expiration
        .unwrap_or_else(|| OffsetDateTime::now_utc() + time::Duration::hours(1));
    json_body(&ContainerCredentials {
        access_key_id: &c.access_key_id,
        secret_access_key: c.secret_access_key.expose_secret(),
        token: c.session_token.as_ref().map(|t| t.expose_secret()),
        expiration: rfc3339(expiration),
    })
}

impl EcsEndpoint {
    /// An endpoint that wants `token` and hands out `base`'s credentials.
    pub fn new(
        token: SecretString,
        base: Arc<Supply>,
        min_left: std::time::Duration,
        assume: Arc<AssumeRole>,
    ) -> EcsEndpoint {
        EcsEndpoint {
            token,
            base,
            assume,
            roles: Mutex::new(HashMap::new()),
            min_left,
        }
    }

    fn authorized(&self, request: &Request) -> bool {
        let Some(sent) = request.header("authorization") else {
            return false;
        };
        let sent = sent.trim();
        let sent = sent.strip_prefix("Bearer ").unwrap_or(sent).trim();
        bool::from(sent.as_bytes().ct_eq(self.token.expose_secret().as_bytes()))
    }

    fn role(&self, arn: &str) -> Arc<Supply> {
        let mut roles = self.roles.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = roles.get(arn) {
            return Arc::clone(s);
        }
        let base = Arc::clone(&self.base);
        let assume = Arc::clone(&self.assume);
        let role_arn = arn.to_owned();
        let supply = Arc::new(Supply::new(self.min_left, move || {
            assume(&base.get()?, &role_arn)
        }));
        if roles.len() < MAX_ROLES {
            roles.insert(arn.to_owned(), Arc::clone(&supply));
        }
        supply
    }
}

fn error(e: &CredsError) -> Response {
    let message = match e.hint() {
        Some(hint) => format!("{e} ({hint})"),
        None => e.to_string(),
    };
    Response::message(500, &message)
}

impl Handler for EcsEndpoint {
    fn handle(&self, request: &Request) -> Response {
        if !self.authorized(request) {
            return Response::message(403, "invalid Authorization token");
        }
        if request.method != "GET" {
            return Response::message(405, "only GET is served");
        }
        let path = request.path.split('?').next().unwrap_or("");
        let supply = match path.strip_prefix("/role-arn/") {
            Some(encoded) => {
                let arn = percent_decode(encoded);
                if !(arn.starts_with("arn:") && arn.contains(":role/")) {
                    return Response::message(400, &format!("not a role ARN: {arn:?}"));
                }
                self.role(&arn)
            }
            None => Arc::clone(&self.base),
        };
        match supply.get() {
            Ok(c) => Response::json(200, container_json(&c)),
            Err(e) => error(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_40_url_safe_characters_and_differ() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.expose_secret().len(), 40);
        assert!(a
            .expose_secret()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn container_shape() {
        let c = Credentials {
            access_key_id: "AKIAX".into(),
            secret_access_key: SecretString::from("sec".to_owned()),
            session_token: None,
            expiration: None,
        };
        let v: serde_json::Value = serde_json::from_slice(&container_json(&c)).expect("json");
        assert_eq!(v["AccessKeyId"], "AKIAX");
        assert_eq!(v["SecretAccessKey"], "sec");
        assert!(v.get("Token").is_none());
        assert!(v["Expiration"].as_str().expect("exp").ends_with('Z'));
    }
}
