//! The vault on disk: where it lives, who may read it, and how it is replaced.
//!
//! Writers hold an exclusive `flock` on `<vault>.lock`, write
//! `<vault>.tmp.<random>` (O_EXCL, 0600), fsync it, rename it over the vault
//! and fsync the directory. Readers take no lock: rename is atomic, so a
//! reader sees the old file or the new one, and a crash at any instant
//! leaves one of them whole.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::VaultError;

/// Far above a vault of 10,000 profiles (~5 MiB); refuses to read a
/// mistaken path (a disk image, a log) into memory.
const MAX_VAULT_BYTES: u64 = 64 * 1024 * 1024;

/// The default vault path: `$XDG_DATA_HOME/avault/vault.age`, else
/// `~/.local/share/avault/vault.age`.
pub fn default_path() -> Option<PathBuf> {
    let data = match std::env::var_os("XDG_DATA_HOME") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".local/share"),
    };
    Some(data.join("avault").join("vault.age"))
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn io_error<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> VaultError + 'a {
    move |source| VaultError::Io {
        path: path.to_owned(),
        action,
        source,
    }
}

/// Refuses a vault file that anyone but its owner can read or write.
fn check_mode(path: &Path, mode: u32) -> Result<(), VaultError> {
    let who = match (mode & 0o070 != 0, mode & 0o007 != 0) {
        (false, false) => return Ok(()),
        (true, false) => "group",
        (false, true) => "others",
        (true, true) => "group and others",
    };
    Err(VaultError::InsecurePermissions {
        path: path.to_owned(),
        who,
    })
}

/// Reads the whole vault file after checking its permissions.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, VaultError> {
    let mut file = File::open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            VaultError::NotFound(path.to_owned())
        } else {
            VaultError::Io {
                path: path.to_owned(),
                action: "open",
                source: e,
            }
        }
    })?;
    let meta = file.metadata().map_err(io_error(path, "stat"))?;
    check_mode(path, meta.mode())?;
    if meta.len() > MAX_VAULT_BYTES {
        return Err(VaultError::Malformed(format!(
            "{} is {} bytes, more than any vault ({MAX_VAULT_BYTES})",
            path.display(),
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    io::Read::read_to_end(&mut file, &mut bytes).map_err(io_error(path, "read"))?;
    Ok(bytes)
}

/// The exclusive write lock; released when dropped.
pub(crate) struct WriteLock {
    file: File,
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// Creates the vault's directory (0700) when missing.
fn ensure_dir(path: &Path) -> Result<(), VaultError> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error(dir, "create directory"))?;
    }
    Ok(())
}

/// Takes the exclusive write lock of `path` (on `<path>.lock`), waiting for
/// other writers.
pub(crate) fn lock(path: &Path) -> Result<WriteLock, VaultError> {
    lock_file(&sibling(path, ".lock"))
}

/// Takes an exclusive lock on the file `lock_path` itself, creating it (and
/// its directory, 0700) when missing. Lock files are never deleted: deleting
/// one while another process waits on it would let two holders in.
pub(crate) fn lock_file(lock_path: &Path) -> Result<WriteLock, VaultError> {
    ensure_dir(lock_path)?;
    let lock_path = lock_path.to_owned();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(io_error(&lock_path, "open lock file"))?;
    file.lock().map_err(io_error(&lock_path, "lock"))?;
    Ok(WriteLock { file })
}

/// Replaces the vault (or the session cache) with `bytes`, atomically
/// (src/atomic_file.rs). The caller holds the lock.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], _lock: &WriteLock) -> Result<(), VaultError> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    crate::atomic_file::replace(path, &format!("{name}.tmp."), bytes).map_err(|f| VaultError::Io {
        path: f.path,
        action: f.action,
        source: f.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_readable_by_others_are_refused() {
        assert!(check_mode(Path::new("v"), 0o100600).is_ok());
        let Err(err) = check_mode(Path::new("/x/v"), 0o100640) else {
            panic!("accepted");
        };
        assert!(err.to_string().contains("group"));
        assert!(check_mode(Path::new("v"), 0o100604).is_err());
        assert!(check_mode(Path::new("v"), 0o100620).is_err());
    }

    #[test]
    fn sibling_names() {
        assert_eq!(
            sibling(Path::new("/a/vault.age"), ".lock"),
            Path::new("/a/vault.age.lock")
        );
    }
}
