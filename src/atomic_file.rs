//! Replacing a file so that a crash at any instant leaves the old content
//! or the new, never a mix: write `<dir>/<prefix><random>` (created
//! exclusively, mode 0600), fsync it, rename it over the target, fsync the
//! directory. Used for the vault, the session cache and `import --scrub`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand::rngs::OsRng;
use rand::RngCore;

/// Which step failed, on which file.
pub(crate) struct Failed {
    pub(crate) path: PathBuf,
    pub(crate) action: &'static str,
    pub(crate) source: io::Error,
}

fn at<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> Failed + 'a {
    move |source| Failed {
        path: path.to_owned(),
        action,
        source,
    }
}

/// Replaces `target` with `bytes`. Temp files named `temp_prefix…` in the
/// target's directory are left by writers that died; the caller holds the
/// lock that makes them stale, so they are removed first (they may hold
/// secrets). The temp file never outlives a failure.
pub(crate) fn replace(target: &Path, temp_prefix: &str, bytes: &[u8]) -> Result<(), Failed> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(temp_prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    let mut random = [0u8; 8];
    OsRng.fill_bytes(&mut random);
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!("{temp_prefix}{suffix}"));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(at(&tmp, "create"))?;
        file.write_all(bytes).map_err(at(&tmp, "write"))?;
        file.sync_all().map_err(at(&tmp, "fsync"))?;
        fs::rename(&tmp, target).map_err(at(target, "replace"))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(at(dir, "fsync the directory of"))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
