//! What can go wrong reading the AWS config and resolving a profile, each
//! error saying where the offending value came from (`FILE:LINE`, the
//! environment variable or the flag) and, through [`ConfigError::hint`],
//! what to do about it.
//!
//! What must stay true: no message carries the value of a `*_process` key
//! (credential_process commands may embed secrets); those errors name the
//! key only.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::duration::{format_duration, DurationError};

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A line of the config file.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File { path, line } => write!(f, "{}:{line}", path.display()),
            Location::Env(var) => f.write_str(var),
            Location::Flag(flag) => f.write_str(flag),
        }
    }
}

/// What can go wrong with the config file or with resolving a profile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file exists but cannot be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file is not valid INI.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// No way to find the file.
    #[error("cannot find the AWS config file: neither AWS_CONFIG_FILE nor HOME is set")]
    NoPath,
    /// The profile is neither in the config file nor stored.
    #[error("profile {name:?} is not in {} and has no stored credentials", path.display())]
    UnknownProfile {
        /// The profile asked for.
        name: String,
        /// The config file.
        path: PathBuf,
    },
    /// A `source_profile` names a profile that is neither in the config
    /// file nor stored.
    #[error("{at}: profile {profile:?} has source_profile = {source_profile}, which is not in the config file and has no stored credentials")]
    UnknownSourceProfile {
        /// The profile with the `source_profile`.
        profile: String,
        /// The name it gives.
        source_profile: String,
        /// Where the `source_profile` is set.
        at: Location,
    },
    /// `source_profile` leads back to a profile already in the chain.
    #[error("{at}: source_profile cycle: {}", cycle.join(" -> "))]
    SourceProfileCycle {
        /// The profiles, first and last the same.
        cycle: Vec<String>,
        /// Where the `source_profile` that closes the cycle is set.
        at: Location,
    },
    /// `include_profile` (or `parent_profile`) leads back to a profile
    /// already included.
    #[error("{at}: include_profile loop: {}", chain.join(" -> "))]
    IncludeLoop {
        /// The profiles, first and last the same.
        chain: Vec<String>,
        /// Where the `include_profile` that closes the loop is set.
        at: Location,
    },
    /// `include_profile` (or `parent_profile`) names no profile of the file.
    #[error("{at}: include_profile = {name}: no such profile in the config file")]
    UnknownIncludeProfile {
        /// The name given.
        name: String,
        /// Where it is set.
        at: Location,
    },
    /// `sso_session` names no `[sso-session NAME]` section.
    #[error("{at}: sso_session = {name}: no [sso-session {name}] section in the config file")]
    UnknownSsoSession {
        /// The name given.
        name: String,
        /// Where it is set.
        at: Location,
    },
    /// An SSO profile without one of the settings SSO needs.
    #[error("{at}: profile {profile:?} uses SSO (sso_start_url) but has no {key}")]
    SsoIncomplete {
        /// The profile.
        profile: String,
        /// The missing key.
        key: &'static str,
        /// The profile's section.
        at: Location,
    },
    /// A `role_arn` that is not an IAM role ARN.
    #[error("{at}: role_arn {value:?} is not an IAM role ARN")]
    InvalidRoleArn {
        /// The value given.
        value: String,
        /// Where it is set.
        at: Location,
    },
    /// A duration outside what the STS call accepts.
    #[error("{at}: {} is out of range for {call} ({} to {})", format_duration(*value), format_duration(*min), format_duration(*max))]
    DurationOutOfRange {
        /// The duration given.
        value: Duration,
        /// The STS call it is for.
        call: &'static str,
        /// Its lower bound.
        min: Duration,
        /// Its upper bound.
        max: Duration,
        /// Where it is set.
        at: Location,
    },
    /// A TTL or duration that does not parse.
    #[error("{at}: invalid duration {value:?}: {source}")]
    InvalidDuration {
        /// The text given.
        value: String,
        /// Where it is set.
        at: Location,
        /// What is wrong with it.
        #[source]
        source: DurationError,
    },
    /// Any other value that does not parse. `reason` never holds the value
    /// of a `*_process` key.
    #[error("{at}: invalid {key}: {reason}")]
    InvalidValue {
        /// The key (or variable) name.
        key: &'static str,
        /// What is wrong.
        reason: String,
        /// Where it is set.
        at: Location,
    },
}

impl ConfigError {
    /// A line that tells the user what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ConfigError::Parse { .. } => {
                "fix that line, or comment it out with a leading #".into()
            }
            ConfigError::NoPath => "set AWS_CONFIG_FILE to the config file's path".into(),
            ConfigError::UnknownProfile { name, path } => format!(
                "store its key with: avault add {name}; or add a [profile {name}] section to {}",
                path.display()
            ),
            ConfigError::UnknownSourceProfile { source_profile, .. } => format!(
                "store its key with: avault add {source_profile}; or add a [profile {source_profile}] section"
            ),
            ConfigError::SourceProfileCycle { .. } => {
                "remove source_profile from one profile of the cycle: that one uses its own stored key"
                    .into()
            }
            ConfigError::IncludeLoop { .. } => {
                "remove include_profile from one profile of the loop".into()
            }
            ConfigError::UnknownIncludeProfile { name, .. } => {
                format!("add a [profile {name}] section, or fix the include_profile name")
            }
            ConfigError::UnknownSsoSession { name, .. } => format!(
                "add a [sso-session {name}] section with sso_start_url and sso_region"
            ),
            ConfigError::SsoIncomplete { key, .. } => format!(
                "add {key} to the profile, or to its [sso-session] section for sso_region"
            ),
            ConfigError::InvalidRoleArn { .. } => {
                "a role ARN looks like arn:aws:iam::123456789012:role/NAME".into()
            }
            ConfigError::DurationOutOfRange { min, max, .. } => format!(
                "use a duration from {} to {}",
                format_duration(*min),
                format_duration(*max)
            ),
            ConfigError::InvalidDuration { .. } => {
                "use Go duration syntax such as 12h, 15m, 1h30m or 90s".into()
            }
            ConfigError::InvalidValue { key, .. } => return value_hint(key).map(str::to_owned),
            ConfigError::Io { .. } => return None,
        })
    }
}

/// What a well-formed value of `key` looks like.
fn value_hint(key: &str) -> Option<&'static str> {
    Some(match key {
        "session_tags" | "AWS_SESSION_TAGS" => "write session tags as key=value,key=value",
        "sts_regional_endpoints" | "AWS_STS_REGIONAL_ENDPOINTS" => "use regional or legacy",
        "duration_seconds" => "use a whole number of seconds from 900 to 43200",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_read_as_file_line_variable_or_flag() {
        let file = Location::File {
            path: PathBuf::from("/h/.aws/config"),
            line: 7,
        };
        assert_eq!(file.to_string(), "/h/.aws/config:7");
        assert_eq!(Location::Env("AWS_MIN_TTL").to_string(), "AWS_MIN_TTL");
        assert_eq!(Location::Flag("--duration").to_string(), "--duration");
    }

    #[test]
    fn range_errors_use_short_durations() {
        let e = ConfigError::DurationOutOfRange {
            value: Duration::from_secs(60),
            call: "AssumeRole",
            min: Duration::from_secs(900),
            max: Duration::from_secs(43_200),
            at: Location::Env("AWS_ASSUME_ROLE_TTL"),
        };
        assert_eq!(
            e.to_string(),
            "AWS_ASSUME_ROLE_TTL: 1m is out of range for AssumeRole (15m to 12h)"
        );
        assert_eq!(e.hint().as_deref(), Some("use a duration from 15m to 12h"));
    }

    #[test]
    fn every_resolution_error_has_a_hint() {
        let at = Location::Flag("--x");
        let errors = [
            ConfigError::UnknownProfile {
                name: "p".into(),
                path: "c".into(),
            },
            ConfigError::UnknownSourceProfile {
                profile: "p".into(),
                source_profile: "s".into(),
                at: at.clone(),
            },
            ConfigError::SourceProfileCycle {
                cycle: vec!["a".into(), "b".into(), "a".into()],
                at: at.clone(),
            },
            ConfigError::IncludeLoop {
                chain: vec!["a".into(), "a".into()],
                at: at.clone(),
            },
            ConfigError::UnknownIncludeProfile {
                name: "x".into(),
                at: at.clone(),
            },
            ConfigError::UnknownSsoSession {
                name: "x".into(),
                at: at.clone(),
            },
            ConfigError::InvalidRoleArn {
                value: "x".into(),
                at,
            },
        ];
        for e in errors {
            assert!(e.hint().is_some(), "{e}");
        }
    }
}
