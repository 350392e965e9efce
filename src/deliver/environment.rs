//! The child environment of `exec`, exactly as aws-vault builds it
//! (shared/COMPAT.md, "What exec puts in the child's environment").

use std::process::Command;

use secrecy::{ExposeSecret, SecretString};

use crate::creds::{rfc3339, Credentials};

/// Variables removed from the child's environment before avault's are set.
pub const REMOVED_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_FILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_PROFILE",
    "AWS_SDK_LOAD_CONFIG",
];

/// Variables that would steer SDKs away from avault's credential server.
const SERVER_REMOVED_VARS: &[&str] = &[
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
];

/// Where a server-mode child finds its credentials.
pub enum ServerVars<'a> {
    /// The ECS endpoint: its URL and authorization token.
    Ecs {
        /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
        url: &'a str,
        /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
        token: &'a SecretString,
    },
    /// The EC2 metadata endpoints (`AWS_EC2_METADATA_SERVICE_ENDPOINT`).
    Ec2 {
        /// Their base URL.
        url: &'a str,
    },
}

fn prepare(command: &mut Command, profile: &str, region: Option<&str>) {
    for var in REMOVED_VARS.iter().chain(crate::unlock::UNLOCK_SECRET_VARS) {
        command.env_remove(var);
    }
    command.env("AWS_VAULT", profile);
    if let Some(region) = region {
        command.env("AWS_REGION", region);
        command.env("AWS_DEFAULT_REGION", region);
    }
}

/// Sets up a server-mode child's environment: as [`apply_to_child`] but
/// with the server's address (and token) instead of keys. Settings that
/// would hide the server (`AWS_EC2_METADATA_DISABLED`, other container
/// URIs) are removed.
pub fn apply_server_to_child(
    command: &mut Command,
    profile: &str,
    region: Option<&str>,
    server: &ServerVars<'_>,
) {
    prepare(command, profile, region);
    for var in SERVER_REMOVED_VARS {
        command.env_remove(var);
    }
    match server {
        ServerVars::Ecs { url, token } => {
            command.env("AWS_CONTAINER_CREDENTIALS_FULL_URI", url);
            command.env("AWS_CONTAINER_AUTHORIZATION_TOKEN", token.expose_secret());
        }
        ServerVars::Ec2 { url } => {
            command.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", url);
        }
    }
}

/// Sets up `command`'s environment: the variables above and every unlock
/// secret removed; `AWS_VAULT`, the region and the credentials set.
pub fn apply_to_child(
    command: &mut Command,
    profile: &str,
    credentials: &Credentials,
    region: Option<&str>,
) {
    prepare(command, profile, region);
    command.env("AWS_ACCESS_KEY_ID", &credentials.access_key_id);
    command.env(
        "AWS_SECRET_ACCESS_KEY",
        credentials.secret_access_key.expose_secret(),
    );
    if let Some(token) = &credentials.session_token {
        command.env("AWS_SESSION_TOKEN", token.expose_secret());
    }
    if let Some(expiration) = credentials.expiration {
        command.env("AWS_CREDENTIAL_EXPIRATION", rfc3339(expiration));
    }
}
