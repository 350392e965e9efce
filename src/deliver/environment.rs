//! The child environment of `exec`, exactly as aws-vault builds it
//! (shared/COMPAT.md, "What exec puts in the child's environment").

use std::process::Command;

use secrecy::ExposeSecret;

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

/// Sets up `command`'s environment: the variables above and every unlock
/// secret removed; `AWS_VAULT`, the region and the credentials set.
pub fn apply_to_child(
    command: &mut Command,
    profile: &str,
    credentials: &Credentials,
    region: Option<&str>,
) {
    for var in REMOVED_VARS.iter().chain(crate::unlock::UNLOCK_SECRET_VARS) {
        command.env_remove(var);
    }
    command.env("AWS_VAULT", profile);
    if let Some(region) = region {
        command.env("AWS_REGION", region);
        command.env("AWS_DEFAULT_REGION", region);
    }
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
