//! Credentials: what a profile gets, from the vault's long-term keys through
//! STS, cached in the session cache.

mod credentials;
pub mod sts;

pub use credentials::{rfc3339, Credentials};
pub use sts::{Sts, StsEndpoint, StsError};
