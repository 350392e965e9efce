//! Credentials: what a profile gets, from the vault's long-term keys through
//! STS, cached in the session cache.

mod aws_http;
mod credentials;
pub mod iam;
mod issuer;
mod provider;
pub mod rotation;
pub mod sso;
pub mod sts;

pub use credentials::{rfc3339, Credentials};
pub use iam::{iam_endpoint, Iam, IamEndpoint, IamError};
pub use issuer::Issuer;
pub use provider::{sts_endpoint, CredsError, Provider, Request};
pub use rotation::{KeyRotation, Rotated, RotationError, RotationInput};
pub use sso::signin::{
    is_sso_token_key, REFRESH_KIND as SSO_REFRESH_KIND, REGISTRATION_KIND as SSO_REGISTRATION_KIND,
    ROLE_KIND as SSO_ROLE_KIND, TOKEN_KIND as SSO_TOKEN_KIND,
};
pub use sso::SsoError;
pub use sts::{Sts, StsEndpoint, StsError};
