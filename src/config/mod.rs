//! The AWS config file (`AWS_CONFIG_FILE`, default `~/.aws/config`) and
//! everything needed to decide how to get credentials for a profile: the
//! profile's merged settings, its `source_profile` chain, and the session
//! lifetimes. This module knows nothing of the vault and does no I/O but
//! reading the config file and the environment, each in one place.
//!
//! The public interface is:
//! - [`AwsConfig`] (with [`Section`], [`Entry`]): the file, each key with
//!   its line; [`default_path`], [`append_profile`];
//! - [`EnvOverrides`] (with [`Ttls`]) and [`FlagOverrides`]: what the
//!   environment and the command line say;
//! - [`Resolver`] → [`ProfileChain`] of [`Profile`]s;
//! - [`ConfigError`] with [`Location`] and `hint()`;
//! - [`parse_duration`] (Go syntax), [`RoleArn`], the STS duration limits.

mod append;
mod arn;
mod duration;
mod error;
mod file;
mod fuzz;
mod layout;
mod overrides;
mod profile;
mod resolve;
mod scan;
mod tags;
mod ttl;

use std::path::PathBuf;

pub use append::append_profile;
pub use arn::{NotARoleArn, RoleArn};
pub use duration::{format_duration, parse_duration, DurationError};
pub use error::{ConfigError, Location};
pub use file::{AwsConfig, Entry, Section};
#[doc(hidden)]
pub use fuzz::resolve_every_profile;
pub(crate) use layout::{ini_layout, IniLayout, KeyPosition};
pub use overrides::{EnvOverrides, FlagOverrides};
pub use profile::{CredentialSource, ProcessCommand, Profile, ProfileChain, StsRegionalEndpoints};
pub use resolve::Resolver;
pub use ttl::{
    StsLimit, Ttls, ASSUME_ROLE, DEFAULT_ASSUME_ROLE, GET_FEDERATION_TOKEN, GET_SESSION_TOKEN,
    ROLE_CHAINING_MAX,
};

/// The config file's path: `AWS_CONFIG_FILE`, else `~/.aws/config`.
pub fn default_path() -> Result<PathBuf, ConfigError> {
    match std::env::var_os("AWS_CONFIG_FILE") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".aws").join("config"))
            .ok_or(ConfigError::NoPath),
    }
}
