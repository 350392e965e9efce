//! The shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, default
//! `~/.aws/credentials`): `[NAME]` sections (the name as it stands, as the
//! AWS CLI reads this file) with `aws_access_key_id`,
//! `aws_secret_access_key` and, for temporary credentials,
//! `aws_session_token` (older name: `aws_security_token`).
//!
//! It is read with the config reader's line scan (`config::ini_layout`), and
//! values are taken from the text by position, so no parser buffer holds a
//! copy of a secret; the text itself is in a zeroizing buffer. A section
//! that appears twice adds to the first, its keys winning, as in the config.
//!
//! What must stay true for `--scrub`: the new file is the old one without
//! the lines of the removed keys (and their continuation lines), every other
//! byte as it was; it replaces the old file by rename (temp file created
//! exclusively, mode 0600, fsynced; a symlink is followed, not replaced),
//! and no copy is left behind: the temp file is renamed or removed, and
//! temp files of a writer that died are removed by the next one.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::ImportError;
use crate::config::{ini_layout, IniLayout, KeyPosition};

/// Far above any credentials file; refuses to read a mistaken path whole.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
const ACCESS_KEY_ID: &str = "aws_access_key_id";
const SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
const SESSION_TOKENS: [&str; 2] = ["aws_session_token", "aws_security_token"];
/// What `--scrub` removes from an imported section.
const SCRUBBED: [&str; 2] = [ACCESS_KEY_ID, SECRET_ACCESS_KEY];

/// The file's path: `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`.
pub fn default_path() -> Result<PathBuf, ImportError> {
    match std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".aws").join("credentials"))
            .ok_or(ImportError::NoPath {
                what: "the credentials file",
                var: "AWS_SHARED_CREDENTIALS_FILE",
            }),
    }
}

/// One profile's section, merged over its repetitions.
pub struct CredentialsSection {
    /// The name between the brackets.
    pub name: String,
    /// 1-based line of its first header.
    pub line: usize,
    /// `aws_access_key_id`, when set and not empty.
    pub access_key_id: Option<String>,
    /// `aws_secret_access_key`, when set and not empty.
    pub secret_access_key: Option<SecretString>,
    /// Whether it has `aws_session_token` (or `aws_security_token`).
    pub session_token: bool,
    /// Whether the key id or the secret continues on further lines, which
    /// no real key does.
    pub multi_line: bool,
}

impl fmt::Debug for CredentialsSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialsSection")
            .field("name", &self.name)
            .field("line", &self.line)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("session_token", &self.session_token)
            .field("multi_line", &self.multi_line)
            .finish()
    }
}

/// A credentials file as read.
pub struct CredentialsFile {
    path: PathBuf,
    text: Zeroizing<String>,
    keys: Vec<KeyPosition>,
    sections: Vec<CredentialsSection>,
}

impl CredentialsFile {
    /// Reads and parses the file.
    pub fn read(path: &Path) -> Result<CredentialsFile, ImportError> {
        let text = read_text(path)?;
        Self::parse(path, text)
    }

    /// Parses `text`, read from `path` (for messages).
    pub fn parse(path: &Path, text: Zeroizing<String>) -> Result<CredentialsFile, ImportError> {
        let IniLayout { headers, keys } = ini_layout(path, &text)?;
        let mut sections: Vec<CredentialsSection> = Vec::new();
        for (name, line) in headers {
            if !sections.iter().any(|s| s.name == name) {
                sections.push(CredentialsSection {
                    name,
                    line,
                    access_key_id: None,
                    secret_access_key: None,
                    session_token: false,
                    multi_line: false,
                });
            }
        }
        for key in &keys {
            let Some(section) = key
                .section
                .as_deref()
                .and_then(|name| sections.iter_mut().find(|s| s.name == name))
            else {
                continue;
            };
            let value = text.get(key.value.clone()).unwrap_or_default();
            // An empty value is as good as absent, as in the config.
            let present = !value.is_empty();
            match key.key.as_str() {
                ACCESS_KEY_ID => {
                    section.access_key_id = present.then(|| value.to_owned());
                    section.multi_line |= !key.continued.is_empty();
                }
                SECRET_ACCESS_KEY => {
                    section.secret_access_key =
                        present.then(|| SecretString::from(value.to_owned()));
                    section.multi_line |= !key.continued.is_empty();
                }
                k if SESSION_TOKENS.contains(&k) => section.session_token |= present,
                _ => {}
            }
        }
        Ok(CredentialsFile {
            path: path.to_owned(),
            text,
            keys,
            sections,
        })
    }

    /// The file's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sections in file order.
    pub fn sections(&self) -> &[CredentialsSection] {
        &self.sections
    }

    /// The text without the key id and secret lines of the sections named
    /// in `names` (every repetition of those sections), and how many key
    /// lines that removes.
    pub fn scrubbed(&self, names: &BTreeSet<String>) -> (Zeroizing<Vec<u8>>, usize) {
        let mut drop = BTreeSet::new();
        let mut removed = 0;
        for key in &self.keys {
            let ours = key.section.as_ref().is_some_and(|s| names.contains(s));
            if ours && SCRUBBED.contains(&key.key.as_str()) {
                drop.insert(key.line);
                drop.extend(key.continued.iter().copied());
                removed += 1;
            }
        }
        // Never grown past its first allocation, so no copy is left behind.
        let mut out = Zeroizing::new(Vec::with_capacity(self.text.len()));
        for (index, line) in self.text.split_inclusive('\n').enumerate() {
            if !drop.contains(&(index + 1)) {
                out.extend_from_slice(line.as_bytes());
            }
        }
        (out, removed)
    }

    /// Rewrites the file without the keys of the sections named in
    /// `names` (see [`CredentialsFile::scrubbed`]); returns how many key
    /// lines went. Refuses when the file changed since it was read.
    pub fn scrub(&self, names: &BTreeSet<String>) -> Result<usize, ImportError> {
        let (new_text, removed) = self.scrubbed(names);
        if removed == 0 {
            return Ok(0);
        }
        // Through a symlink (dotfile managers): replace the file it points
        // at, and the link stays a link.
        let target = fs::canonicalize(&self.path).map_err(io_error(&self.path, "resolve"))?;
        let now = read_text(&target)?;
        if now.as_bytes() != self.text.as_bytes() {
            return Err(ImportError::ChangedMeanwhile(self.path.clone()));
        }
        replace_file(&target, &new_text)?;
        Ok(removed)
    }
}

fn io_error<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(io::Error) -> ImportError + 'a {
    move |source| ImportError::Io {
        path: path.to_owned(),
        action,
        source,
    }
}

/// Reads the whole file into a zeroizing buffer (allocated once, at its
/// size, so no copy is left behind).
fn read_text(path: &Path) -> Result<Zeroizing<String>, ImportError> {
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ImportError::NoCredentialsFile(path.to_owned()),
        _ => io_error(path, "read")(e),
    })?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ImportError::TooLarge(path.to_owned()));
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(io_error(path, "read"))?);
    match std::str::from_utf8(&bytes) {
        // One copy into a zeroizing buffer of exactly that size.
        Ok(text) => {
            let mut owned = Zeroizing::new(String::with_capacity(text.len()));
            owned.push_str(text);
            Ok(owned)
        }
        Err(_) => Err(ImportError::NotText(path.to_owned())),
    }
}

/// The prefix of our temp files beside `target`.
fn temp_prefix(target: &Path) -> String {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    format!(".{name}.avault-scrub.")
}

/// Replaces `target` with `bytes`, atomically (src/atomic_file.rs).
fn replace_file(target: &Path, bytes: &[u8]) -> Result<(), ImportError> {
    crate::atomic_file::replace(target, &temp_prefix(target), bytes).map_err(|f| ImportError::Io {
        path: f.path,
        action: f.action,
        source: f.source,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use secrecy::ExposeSecret;

    use super::*;

    const TEXT: &str = "# my keys\n[default]\naws_access_key_id = AKIAEXAMPLEDEFAULT01\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzDEFAULTKEY ; old\nregion = eu-west-1\n\n[temp]\naws_access_key_id=ASIAIOSFODNN7TEMPKEY\naws_secret_access_key=x\naws_session_token = FwoGZX\n[other]\r\nregion = us-east-1\r\n[default]\nAWS_Secret_Access_Key = later-wins-secret-value-000000000\n";

    fn parse(text: &str) -> CredentialsFile {
        CredentialsFile::parse(Path::new("/c"), Zeroizing::new(text.to_owned())).expect("parses")
    }

    #[test]
    fn sections_merge_and_values_come_from_their_lines() {
        let file = parse(TEXT);
        let names: Vec<_> = file.sections().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["default", "temp", "other"]);
        let default = &file.sections()[0];
        assert_eq!(
            default.access_key_id.as_deref(),
            Some("AKIAEXAMPLEDEFAULT01")
        );
        assert_eq!(
            default
                .secret_access_key
                .as_ref()
                .map(|s| s.expose_secret()),
            Some("later-wins-secret-value-000000000")
        );
        assert!(!default.session_token);
        assert!(file.sections()[1].session_token);
        assert!(file.sections()[2].access_key_id.is_none());
        assert!(!format!("{default:?}").contains("later-wins"));
    }

    #[test]
    fn scrub_removes_only_the_key_lines_of_the_named_sections() {
        let file = parse(TEXT);
        let (out, removed) = file.scrubbed(&BTreeSet::from(["default".to_owned()]));
        assert_eq!(removed, 3);
        assert_eq!(
            std::str::from_utf8(&out).expect("utf-8"),
            "# my keys\n[default]\nregion = eu-west-1\n\n[temp]\naws_access_key_id=ASIAIOSFODNN7TEMPKEY\naws_secret_access_key=x\naws_session_token = FwoGZX\n[other]\r\nregion = us-east-1\r\n[default]\n"
        );
        let (same, none) = file.scrubbed(&BTreeSet::new());
        assert_eq!((same.as_slice(), none), (TEXT.as_bytes(), 0));
    }

    #[test]
    fn continuation_lines_go_with_their_key_and_comments_stay() {
        let file = parse("[a]\naws_secret_access_key = x\n  y\n# keep\n  z\nregion = r\n");
        assert!(file.sections()[0].multi_line);
        let (out, removed) = file.scrubbed(&BTreeSet::from(["a".to_owned()]));
        assert_eq!(removed, 1);
        assert_eq!(&out[..], b"[a]\n# keep\nregion = r\n");
    }

    #[test]
    fn scrub_replaces_the_file_through_a_symlink_with_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real");
        fs::write(&real, TEXT).expect("write");
        fs::set_permissions(&real, fs::Permissions::from_mode(0o644)).expect("chmod");
        let link = dir.path().join("credentials");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        // A temp file a dead writer left behind.
        fs::write(dir.path().join(".real.avault-scrub.dead"), "secret").expect("write");

        let file = CredentialsFile::read(&link).expect("reads");
        assert_eq!(
            file.scrub(&BTreeSet::from(["default".to_owned()]))
                .expect("scrubs"),
            3
        );
        assert!(fs::symlink_metadata(&link)
            .expect("stat")
            .file_type()
            .is_symlink());
        let mode = fs::metadata(&real).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");

        // Changed since it was read: refused, left as it is.
        let file = CredentialsFile::read(&link).expect("reads");
        fs::write(&real, format!("{TEXT}[new]\n")).expect("write");
        assert!(matches!(
            file.scrub(&BTreeSet::from(["temp".to_owned()])),
            Err(ImportError::ChangedMeanwhile(_))
        ));
        assert_eq!(
            fs::read_to_string(&real).expect("read"),
            format!("{TEXT}[new]\n")
        );
    }
}
