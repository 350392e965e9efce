//! Credentials: what a profile gets, from the vault's long-term keys through
//! STS, cached in the session cache.

mod credentials;
mod issuer;
mod provider;
pub mod sts;

pub use credentials::{rfc3339, Credentials};
pub use issuer::Issuer;
pub use provider::{sts_endpoint, CredsError, Provider, Request};
pub use sts::{Sts, StsEndpoint, StsError};
