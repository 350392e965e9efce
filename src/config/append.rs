//! Appending a `[profile NAME]` section to the config file (`avault add`).
//!
//! What must stay true: what is in the file stays byte for byte, and a
//! config that is a symlink (dotfile managers) stays one.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use super::error::ConfigError;
use super::file::AwsConfig;

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
