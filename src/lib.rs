//! avault keeps AWS credentials in one portable encrypted vault file and hands
//! short-lived credentials to commands.
//!
//! The layers, each importing only from those below it:
//! `cli` → `serve`, `deliver`, `agent` → `creds` → `config`, `vault` → `unlock`; `mfa` holds TOTP seed parsing;
//! `browser` (opening a URL) and `http_client` (one plain HTTPS request)
//! are leaves any layer may use;
//! `output` is the only place that writes to stdout or stderr, and
//! `terminal` the only place that talks to /dev/tty.

#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod agent;
pub mod browser;
pub mod cli;
pub mod config;
pub mod creds;
pub mod deliver;
#[cfg(feature = "yubikey")]
pub mod hw;
pub mod import;
pub mod mfa;
pub mod output;
pub mod process;
pub mod serve;
pub mod terminal;
pub mod unlock;
pub mod vault;

mod atomic_file;
mod http_client;
mod shell;
mod time_fmt;
mod zbuf;

/// Internals exposed for fuzz targets and benchmarks only; not a stable API.
#[doc(hidden)]
pub mod internal {
    pub use crate::config::resolve_every_profile;
    pub use crate::import::fuzz_jwe_parse;
    pub use crate::vault::codec::{decode_payload, open_bytes};
}
