//! The unlock agent: a per-user daemon that holds vault file keys in memory
//! for `AVAULT_UNLOCK_TTL`, so that one unlock (an argon2id passphrase, a
//! YubiKey touch) serves a burst of commands, as ssh-agent and gpg-agent do.
//!
//! What must stay true: the agent holds nothing on disk and is
//! non-dumpable; it answers only its own uid over a socket in a 0700
//! directory; a key is handed out only for the exact header it opens (the
//! SHA-256 of the age header), so a rewritten vault is never opened with a
//! stale key; and a client never waits on the agent longer than a short
//! timeout: without an agent, every command works as before.

mod client;
mod protocol;
mod server;
mod socket;

use std::path::PathBuf;
use std::time::Duration;

pub use client::Client;
pub use protocol::{HeaderHash, KeyBytes, FILE_KEY_LEN};
pub use server::serve;
pub use socket::{socket_dir, socket_path};

/// How long a key is held when `AVAULT_UNLOCK_TTL` is not set.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

const TTL_VAR: &str = "AVAULT_UNLOCK_TTL";
const AGENT_VAR: &str = "AVAULT_AGENT";

/// What can go wrong with the agent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// `AVAULT_UNLOCK_TTL` or `AVAULT_AGENT` has a value that means nothing.
    #[error("{name}={value:?}: {reason}")]
    BadSetting {
        /// The variable.
        name: &'static str,
        /// Its value (not a secret).
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The agent is turned off, and the command needs it.
    #[error("the agent is turned off ({0})")]
    Off(&'static str),
    /// The socket directory is not this user's alone.
    #[error("{} is not a directory that only you can enter", .0.display())]
    UnsafeDir(PathBuf),
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another agent already listens for this user.
    #[error("an agent is already running on {}", .0.display())]
    AlreadyRunning(PathBuf),
    /// The agent did not take the key.
    #[error("the agent could not be reached: {0}")]
    Unreachable(String),
}

impl AgentError {
    /// A line that tells the user what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            AgentError::BadSetting { name, .. } if *name == TTL_VAR => {
                "give a Go duration such as 15m, 1h or 90s; 0 turns the agent off".into()
            }
            AgentError::BadSetting { .. } => "set it to on or off".into(),
            AgentError::Off(_) => {
                "unset AVAULT_AGENT=off, and set AVAULT_UNLOCK_TTL to a duration above 0".into()
            }
            AgentError::UnsafeDir(dir) => format!(
                "remove it, or run: chmod 700 {} (it must be yours)",
                dir.display()
            ),
            AgentError::AlreadyRunning(_) => "stop it with: avault agent --stop".into(),
            AgentError::Unreachable(_) => {
                "run it in the foreground to see why: avault agent".into()
            }
            AgentError::Io { .. } => return None,
        })
    }
}

/// The agent settings of the environment: present when the agent is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How long a key is held after an unlock.
    pub ttl: Duration,
}

impl Settings {
    /// Reads `AVAULT_UNLOCK_TTL` (Go duration, default 15m, `0` = off) and
    /// `AVAULT_AGENT` (`on`, the default, or `off`). `None` when the agent
    /// is off.
    pub fn from_environment() -> Result<Option<Settings>, AgentError> {
        let agent = std::env::var(AGENT_VAR).ok();
        let ttl = std::env::var(TTL_VAR).ok();
        Settings::parse(agent.as_deref(), ttl.as_deref())
    }

    /// The settings for these variable values.
    pub fn parse(agent: Option<&str>, ttl: Option<&str>) -> Result<Option<Settings>, AgentError> {
        let on = match agent.map(str::trim) {
            None | Some("") | Some("on") => true,
            Some("off") => false,
            Some(other) => {
                return Err(AgentError::BadSetting {
                    name: AGENT_VAR,
                    value: other.to_owned(),
                    reason: "expected on or off".into(),
                })
            }
        };
        let ttl = match ttl.filter(|t| !t.trim().is_empty()) {
            None => DEFAULT_TTL,
            Some(text) => {
                crate::config::parse_duration(text).map_err(|e| AgentError::BadSetting {
                    name: TTL_VAR,
                    value: text.to_owned(),
                    reason: e.to_string(),
                })?
            }
        };
        Ok((on && !ttl.is_zero()).then_some(Settings { ttl }))
    }

    /// The TTL alone, for the agent process itself (which `AVAULT_AGENT`
    /// does not concern).
    pub fn agent_ttl() -> Result<Duration, AgentError> {
        match Settings::parse(None, std::env::var(TTL_VAR).ok().as_deref())? {
            Some(s) => Ok(s.ttl),
            None => Err(AgentError::Off("AVAULT_UNLOCK_TTL=0")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_on_for_fifteen_minutes_and_zero_or_off_turns_it_off() {
        assert_eq!(
            Settings::parse(None, None).expect("parse"),
            Some(Settings { ttl: DEFAULT_TTL })
        );
        assert_eq!(
            Settings::parse(Some("on"), Some("1h30m")).expect("parse"),
            Some(Settings {
                ttl: Duration::from_secs(5400)
            })
        );
        assert_eq!(Settings::parse(None, Some("0")).expect("parse"), None);
        assert_eq!(
            Settings::parse(Some("off"), Some("1h")).expect("parse"),
            None
        );
        assert!(matches!(
            Settings::parse(Some("yes"), None),
            Err(AgentError::BadSetting { .. })
        ));
        assert!(matches!(
            Settings::parse(None, Some("15 minutes")),
            Err(AgentError::BadSetting { .. })
        ));
    }
}
