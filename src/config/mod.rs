//! The AWS config file (`AWS_CONFIG_FILE`, default `~/.aws/config`): which
//! profiles exist and what they say. This module knows nothing of the vault.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

/// What can go wrong with the config file.
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
        /// What the parser said.
        message: String,
    },
    /// No way to find the file.
    #[error("cannot find the AWS config file: neither AWS_CONFIG_FILE nor HOME is set")]
    NoPath,
}

/// One `[profile NAME]` (or `[default]`) section, keys lower-cased.
#[derive(Clone, Debug, Default)]
pub struct ProfileSection {
    /// The profile name.
    pub name: String,
    /// Its keys (lower case) and values.
    pub keys: BTreeMap<String, String>,
}

impl ProfileSection {
    /// A key's value, when set and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.keys
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// The profiles of an AWS config file, in file order.
#[derive(Clone, Debug, Default)]
pub struct AwsConfig {
    path: PathBuf,
    profiles: Vec<ProfileSection>,
}

/// The config file's path: `AWS_CONFIG_FILE`, else `~/.aws/config`.
pub fn default_path() -> Result<PathBuf, ConfigError> {
    match std::env::var_os("AWS_CONFIG_FILE") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".aws").join("config"))
            .ok_or(ConfigError::NoPath),
    }
}

/// The profile name a section header stands for, if it is a profile.
fn profile_name(section: &str) -> Option<&str> {
    let section = section.trim();
    if section == "default" {
        return Some("default");
    }
    section
        .strip_prefix("profile")
        .filter(|rest| rest.starts_with([' ', '\t']))
        .map(str::trim)
        .filter(|name| !name.is_empty())
}

impl AwsConfig {
    /// Reads the file; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<AwsConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(AwsConfig {
                    path: path.to_owned(),
                    profiles: Vec::new(),
                })
            }
            Err(source) => {
                return Err(ConfigError::Io {
                    path: path.to_owned(),
                    action: "read",
                    source,
                })
            }
        };
        Self::parse(path, &text)
    }

    /// Parses config text read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<AwsConfig, ConfigError> {
        let options = ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            enabled_indented_mutiline_value: true,
            enabled_preserve_key_leading_whitespace: false,
        };
        let ini = Ini::load_from_str_opt(text, options).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            line: e.line,
            message: e.msg.into_owned(),
        })?;
        let mut profiles: Vec<ProfileSection> = Vec::new();
        for (section, props) in ini.iter() {
            let Some(name) = section.and_then(profile_name) else {
                continue;
            };
            let keys = props
                .iter()
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            match profiles.iter_mut().find(|p| p.name == name) {
                // A repeated section adds to the first, as the AWS CLI does.
                Some(existing) => existing.keys.extend(keys),
                None => profiles.push(ProfileSection {
                    name: name.to_owned(),
                    keys,
                }),
            }
        }
        Ok(AwsConfig {
            path: path.to_owned(),
            profiles,
        })
    }

    /// The file this came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Profile names in file order.
    pub fn profile_names(&self) -> impl Iterator<Item = &str> {
        self.profiles.iter().map(|p| p.name.as_str())
    }

    /// One profile's section.
    pub fn profile(&self, name: &str) -> Option<&ProfileSection> {
        self.profiles.iter().find(|p| p.name == name)
    }
}

/// Appends a `[profile NAME]` section (with `mfa_serial` when given) unless
/// the profile is already there. Returns whether it wrote anything.
///
/// Appends in place rather than rewriting the file: what is there stays
/// byte for byte, and a config that is a symlink (dotfile managers) stays one.
pub fn append_profile(
    path: &Path,
    name: &str,
    mfa_serial: Option<&str>,
) -> Result<bool, ConfigError> {
    let config = AwsConfig::load(path)?;
    if config.profile(name).is_some() {
        return Ok(false);
    }
    let existing = std::fs::read(path).unwrap_or_default();
    let mut text = String::new();
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        text.push('\n');
    }
    if !existing.is_empty() {
        text.push('\n');
    }
    if name == "default" {
        text.push_str("[default]\n");
    } else {
        text.push_str(&format!("[profile {name}]\n"));
    }
    if let Some(serial) = mfa_serial {
        text.push_str(&format!("mfa_serial = {serial}\n"));
    }
    let io_err = |action| {
        move |source| ConfigError::Io {
            path: path.to_owned(),
            action,
            source,
        }
    };
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err("create the directory of"))?;
    }
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err("open"))?;
    file.write_all(text.as_bytes())
        .map_err(io_err("append to"))?;
    file.sync_all().map_err(io_err("fsync"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_in_file_order_with_lowercase_keys() {
        let text = "[default]\nregion = eu-west-1\n\n[profile prod]\nMFA_Serial = arn:aws:iam::1:mfa/a\n[sso-session x]\nsso_region = us-east-1\n[profile  spaced ]\n";
        let c = AwsConfig::parse(Path::new("c"), text).expect("parses");
        let names: Vec<_> = c.profile_names().collect();
        assert_eq!(names, ["default", "prod", "spaced"]);
        assert_eq!(
            c.profile("prod").and_then(|p| p.get("mfa_serial")),
            Some("arn:aws:iam::1:mfa/a")
        );
    }

    #[test]
    fn parse_errors_carry_the_line() {
        let Err(err) = AwsConfig::parse(Path::new("/c"), "[default]\nregion = x\n[broken") else {
            panic!("parsed");
        };
        assert!(err.to_string().starts_with("/c:3"), "{err}");
    }

    #[test]
    fn append_keeps_existing_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config");
        std::fs::write(&path, "[profile a]\nregion = x").expect("write");
        assert!(
            append_profile(&path, "b", Some("arn:aws:iam::123456789012:mfa/b")).expect("append")
        );
        assert!(!append_profile(&path, "a", None).expect("append"));
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "[profile a]\nregion = x\n\n[profile b]\nmfa_serial = arn:aws:iam::123456789012:mfa/b\n");
    }
}
