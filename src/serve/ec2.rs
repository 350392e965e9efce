//! The EC2 instance metadata endpoints that AWS SDKs read credentials and
//! the region from, IMDSv1 and IMDSv2.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngCore as _;
use secrecy::ExposeSecret;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::http::{Handler, Request, Response};
use super::json_body;
use super::supply::Supply;
use crate::creds::{rfc3339, Credentials};

/// The role name the credentials are listed under (aws-vault's).
pub const ROLE_NAME: &str = "local-credentials";
/// The instance id reported (aws-vault's).
const INSTANCE_ID: &str = "aws-vault";
/// IMDSv2 token lifetimes AWS accepts, seconds.
const TOKEN_TTL: std::ops::RangeInclusive<u64> = 1..=21600;
/// Tokens remembered at once; the oldest go first.
const MAX_TOKENS: usize = 4096;
const TOKEN_TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";

/// Answers the metadata paths with a profile's credentials.
pub struct Ec2Endpoint {
    supply: Arc<Supply>,
    region: Option<String>,
    /// SHA-256 of each live IMDSv2 token → when it expires.
    tokens: Mutex<HashMap<[u8; 32], Instant>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InstanceCredentials<'a> {
    code: &'static str,
    last_updated: String,
    #[serde(rename = "Type")]
    kind: &'static str,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    expiration: String,
}

/// Credentials in the instance metadata shape.
pub fn instance_json(c: &Credentials) -> Zeroizing<Vec<u8>> {
    let now = OffsetDateTime::now_utc();
    json_body(&InstanceCredentials {
        code: "Success",
        last_updated: rfc3339(now),
        kind: "AWS-HMAC",
        access_key_id: &c.access_key_id,
        secret_access_key: c.secret_access_key.expose_secret(),
        token: c.session_token.as_ref().map(|t| t.expose_secret()),
        expiration: rfc3339(c.expiration.unwrap_or(now + time::Duration::hours(1))),
    })
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Ec2Endpoint {
    /// An endpoint for `supply`'s credentials, reporting `region`.
    pub fn new(supply: Arc<Supply>, region: Option<String>) -> Ec2Endpoint {
        Ec2Endpoint {
            supply,
            region,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn issue_token(&self, request: &Request) -> Response {
        // As AWS does: a PUT that came through a proxy is refused, so that
        // a server-side request forgery cannot get a token.
        if request.header("x-forwarded-for").is_some() {
            return Response::text(403, "Forbidden");
        }
        let ttl = request
            .header(TOKEN_TTL_HEADER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|s| TOKEN_TTL.contains(s));
        let Some(ttl) = ttl else {
            return Response::text(400, "Bad Request");
        };
        let mut raw = Zeroizing::new([0u8; 40]);
        rand::rngs::OsRng.fill_bytes(&mut raw[..]);
        let token =
            Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw[..]));
        let now = Instant::now();
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens.retain(|_, expires| *expires > now);
        if tokens.len() >= MAX_TOKENS {
            if let Some(oldest) = tokens.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k) {
                tokens.remove(&oldest);
            }
        }
        tokens.insert(digest(&token), now + Duration::from_secs(ttl));
        Response::text(200, &token).with_header(TOKEN_TTL_HEADER, ttl.to_string())
    }

    /// IMDSv2: a request with a token needs a live one; once any token
    /// has been issued, requests without one are refused too.
    fn token_refused(&self, request: &Request) -> bool {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        match request.header("x-aws-ec2-metadata-token") {
            Some(t) => !matches!(tokens.get(&digest(t.trim())), Some(e) if *e > Instant::now()),
            None => !tokens.is_empty(),
        }
    }

    fn credentials(&self) -> Response {
        match self.supply.get() {
            Ok(c) => Response::json(200, instance_json(&c)),
            Err(e) => {
                let body = serde_json::json!({
                    "Code": "Failure",
                    "Message": e.to_string(),
                })
                .to_string();
                Response::json(500, Zeroizing::new(body.into_bytes()))
            }
        }
    }
}

impl Handler for Ec2Endpoint {
    fn handle(&self, request: &Request) -> Response {
        let path = request.path.split('?').next().unwrap_or("");
        if path == "/latest/api/token" {
            return match request.method.as_str() {
                "PUT" => self.issue_token(request),
                _ => Response::text(405, "Method Not Allowed"),
            };
        }
        if request.method != "GET" {
            return Response::text(405, "Method Not Allowed");
        }
        if self.token_refused(request) {
            return Response::text(401, "Unauthorized");
        }
        let region = self.region.as_deref().unwrap_or("us-east-1");
        let now = rfc3339(OffsetDateTime::now_utc());
        match path.trim_end_matches('/') {
            "/latest/meta-data/iam/security-credentials" => Response::text(200, ROLE_NAME),
            p if p == format!("/latest/meta-data/iam/security-credentials/{ROLE_NAME}") => {
                self.credentials()
            }
            "/latest/meta-data/iam/info" => {
                let body = serde_json::json!({
                    "Code": "Success",
                    "LastUpdated": now,
                    "InstanceProfileArn": format!("arn:aws:iam::000000000000:instance-profile/{ROLE_NAME}"),
                    "InstanceProfileId": "AIPAAVAULTLOCAL",
                })
                .to_string();
                Response::json(200, Zeroizing::new(body.into_bytes()))
            }
            "/latest/meta-data/instance-id" => Response::text(200, INSTANCE_ID),
            "/latest/meta-data/placement/region" => Response::text(200, region),
            "/latest/dynamic/instance-identity/document" => {
                let body = serde_json::json!({
                    "region": region,
                    "instanceId": INSTANCE_ID,
                })
                .to_string();
                Response::json(200, Zeroizing::new(body.into_bytes()))
            }
            _ => Response::text(404, "Not Found"),
        }
    }
}
