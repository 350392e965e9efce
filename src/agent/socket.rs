//! Where the agent listens, and who may talk to it.
//!
//! The socket lives in `$XDG_RUNTIME_DIR/avault/` or, without that
//! variable, in `/tmp/avault-<uid>/`. What must stay true: both sides refuse
//! a directory that is not this user's or that others can enter, so that
//! nobody can put a listener where the client looks; the agent answers only
//! peers of its own uid, and the client hands keys only to a listener of its
//! own uid (SO_PEERCRED, checked on both ends).

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::AgentError;

/// The socket's file name inside the directory.
const SOCKET_NAME: &str = "agent.sock";

/// The agent's directory for this user (not created).
pub fn socket_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(runtime) => PathBuf::from(runtime).join("avault"),
        // Not TMPDIR: every shell of the user must find the same agent.
        None => PathBuf::from("/tmp").join(format!("avault-{}", own_uid())),
    }
}

/// The agent's socket for this user.
pub fn socket_path() -> PathBuf {
    socket_dir().join(SOCKET_NAME)
}

/// This process's real uid.
pub(super) fn own_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Creates the directory 0700 when missing, and refuses one that another
/// user owns or that others can enter.
pub(super) fn ensure_dir(dir: &Path) -> Result<(), AgentError> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(AgentError::Io {
                path: dir.to_owned(),
                action: "create",
                source,
            })
        }
    }
    check_dir(dir)
}

/// Refuses a directory that is not ours alone (or is not a directory).
pub(super) fn check_dir(dir: &Path) -> Result<(), AgentError> {
    let meta = fs::symlink_metadata(dir).map_err(|source| AgentError::Io {
        path: dir.to_owned(),
        action: "inspect",
        source,
    })?;
    if !meta.is_dir() || meta.uid() != own_uid() || meta.mode() & 0o077 != 0 {
        return Err(AgentError::UnsafeDir(dir.to_owned()));
    }
    Ok(())
}

/// The uid of the process at the other end of a Unix socket.
pub(super) fn peer_uid(stream: &impl AsFd) -> io::Result<u32> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        Ok(rustix::net::sockopt::socket_peercred(stream)?.uid.as_raw())
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // getpeereid is not in rustix: without a way to check, refuse.
        let _ = stream;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "cannot check the peer's uid on this platform",
        ))
    }
}

/// Whether the peer runs as `uid`; an error to ask counts as no.
pub(super) fn peer_is(stream: &impl AsFd, uid: u32) -> bool {
    matches!(peer_uid(stream), Ok(peer) if peer == uid)
}

/// Connects without ever blocking on a full backlog (a hung agent), with
/// read and write timeouts, and only to a listener of our own uid.
pub(super) fn connect(path: &Path, timeout: Duration) -> io::Result<UnixStream> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    // A Unix-socket connect completes at once or fails (EAGAIN when the
    // agent's backlog is full: it is not answering).
    rustix::net::connect(&fd, &SocketAddrUnix::new(path)?)?;
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    if !peer_is(&stream, own_uid()) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the agent socket belongs to another user",
        ));
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_socketpair_peer_is_this_user_and_no_other() {
        let (a, _b) = UnixStream::pair().expect("socketpair");
        assert_eq!(peer_uid(&a).expect("peer uid"), own_uid());
        assert!(peer_is(&a, own_uid()));
        assert!(!peer_is(&a, own_uid().wrapping_add(1)));
    }

    #[test]
    fn the_directory_is_made_0700_and_an_open_one_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("avault");
        ensure_dir(&dir).expect("create");
        let mode = fs::metadata(&dir).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(matches!(ensure_dir(&dir), Err(AgentError::UnsafeDir(_))));
    }
}
