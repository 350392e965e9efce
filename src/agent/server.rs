//! The agent process: listens on the user's socket and holds file keys in
//! memory until their TTL runs out, `forget`, or `stop`.
//!
//! What must stay true: the process is non-dumpable before it holds
//! anything; it answers only peers of its own uid; keys live only in
//! zeroizing buffers, and are cleared before the process exits; one slow or
//! silent client cannot hold up the others (one thread a connection, each
//! with a read timeout); and the agent goes away on its own when it has held
//! nothing for twice the TTL, or when its socket is removed or replaced.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::protocol::{self, HeaderHash, KeyBytes, Request, Response};
use super::{socket, AgentError, Settings};
use crate::output;

/// How long the agent waits for a client's request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// How often expired keys are dropped and the socket is checked.
const TICK: Duration = Duration::from_millis(250);

/// More connections than this at once are closed unanswered (the clients
/// then unlock the normal way).
const MAX_CONNECTIONS: usize = 512;

struct Held {
    header: HeaderHash,
    key: KeyBytes,
    expires: Instant,
}

struct State {
    /// By vault id: one key a vault, the one for its current header.
    held: HashMap<String, Held>,
    /// Since when nothing has been held.
    empty_since: Instant,
}

impl State {
    fn expire(&mut self, now: Instant) {
        let before = self.held.len();
        self.held.retain(|_, h| h.expires > now);
        if before > 0 && self.held.is_empty() {
            self.empty_since = now;
        }
    }

    fn forget(&mut self, now: Instant) {
        if !self.held.is_empty() {
            self.held.clear();
            self.empty_since = now;
        }
    }

    fn answer(&mut self, request: Request) -> Response {
        let now = Instant::now();
        self.expire(now);
        match request {
            Request::Lookup(header) => match self.held.values().find(|h| h.header == header) {
                Some(held) => Response::Key(held.key.clone()),
                None => Response::None,
            },
            Request::Store {
                vault_id,
                header,
                ttl,
                key,
            } => {
                if !ttl.is_zero() {
                    let expires = now + ttl;
                    self.held.insert(
                        vault_id,
                        Held {
                            header,
                            key,
                            expires,
                        },
                    );
                }
                Response::Ok
            }
            Request::Replace {
                vault_id,
                header,
                key,
            } => {
                // Only a vault already held: a write does not start a TTL.
                if let Some(held) = self.held.get_mut(&vault_id) {
                    held.header = header;
                    held.key = key;
                }
                Response::Ok
            }
            Request::Forget => {
                self.forget(now);
                Response::Ok
            }
            Request::Status => Response::Status {
                held: self.held.len(),
                pid: std::process::id(),
            },
            // Answered by the connection handler, which then exits.
            Request::Stop => Response::Ok,
        }
    }
}

struct Agent {
    state: Mutex<State>,
    socket: PathBuf,
    /// The socket's inode: another agent's socket at the same path is not
    /// ours to remove.
    inode: u64,
    idle_limit: Duration,
    connections: AtomicUsize,
}

impl Agent {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicked handler cannot leave the map half-changed in a way that
        // matters: every change is one insert or removal.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn socket_is_ours(&self) -> bool {
        fs::symlink_metadata(&self.socket).is_ok_and(|m| m.ino() == self.inode)
    }

    /// Clears every key, removes the socket if it is still ours, and exits.
    fn exit(&self) -> ! {
        self.state().held.clear();
        if self.socket_is_ours() {
            let _ = fs::remove_file(&self.socket);
        }
        std::process::exit(0)
    }

    fn watch(&self) -> ! {
        loop {
            std::thread::sleep(TICK);
            if !self.socket_is_ours() {
                self.exit();
            }
            let idle_for = {
                let mut state = self.state();
                let now = Instant::now();
                state.expire(now);
                state
                    .held
                    .is_empty()
                    .then(|| now.duration_since(state.empty_since))
            };
            if idle_for.is_some_and(|d| d >= self.idle_limit) {
                self.exit();
            }
        }
    }

    fn handle(&self, mut stream: UnixStream) {
        let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
        let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));
        let response = match protocol::read_line(&mut stream) {
            Ok(Some(line)) => match Request::decode(&line) {
                Ok(Request::Stop) => {
                    let _ = protocol::write_line(&mut stream, &Response::Ok.encode());
                    self.exit();
                }
                Ok(request) => self.state().answer(request),
                Err(reason) => Response::Err(reason.into()),
            },
            Ok(None) => Response::Err("a request must be one line".into()),
            Err(_) => return,
        };
        let _ = protocol::write_line(&mut stream, &response.encode());
    }
}

/// Runs the agent in this process until it is stopped or idle. With
/// `quiet_if_running`, finding another agent already listening is success
/// (a client started this one, and another client won the race).
pub fn serve(debug: bool, quiet_if_running: bool) -> Result<(), AgentError> {
    let ttl = Settings::agent_ttl()?;
    let hardened = crate::process::harden();
    output::debug(debug, &format!("agent made non-dumpable: {hardened}"));
    let dir = socket::socket_dir();
    socket::ensure_dir(&dir)?;
    let path = socket::socket_path();
    // The lock file says which process owns the socket: held for the
    // agent's life, released by the kernel when it dies.
    let lock_path = dir.join("agent.lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|source| AgentError::Io {
            path: lock_path.clone(),
            action: "open",
            source,
        })?;
    if lock.try_lock().is_err() {
        return if quiet_if_running {
            Ok(())
        } else {
            Err(AgentError::AlreadyRunning(path))
        };
    }
    let listener = bind(&path)?;
    let inode = fs::symlink_metadata(&path)
        .map_err(|source| AgentError::Io {
            path: path.clone(),
            action: "inspect",
            source,
        })?
        .ino();
    let agent = Arc::new(Agent {
        state: Mutex::new(State {
            held: HashMap::new(),
            empty_since: Instant::now(),
        }),
        socket: path.clone(),
        inode,
        idle_limit: ttl.saturating_mul(2),
        connections: AtomicUsize::new(0),
    });
    output::debug(debug, &format!("agent listening on {}", path.display()));
    let watcher = Arc::clone(&agent);
    std::thread::spawn(move || watcher.watch());
    let uid = socket::own_uid();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if !socket::peer_is(&stream, uid) {
            output::debug(debug, "refused a connection from another user");
            continue;
        }
        if agent.connections.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            agent.connections.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let handler = Arc::clone(&agent);
        let spawned = std::thread::Builder::new().spawn(move || {
            handler.handle(stream);
            handler.connections.fetch_sub(1, Ordering::AcqRel);
        });
        if spawned.is_err() {
            agent.connections.fetch_sub(1, Ordering::AcqRel);
        }
    }
    drop(lock);
    Ok(())
}

/// Binds the socket 0600: created under a umask that leaves nothing to
/// group and others, then set explicitly.
fn bind(path: &Path) -> Result<UnixListener, AgentError> {
    let io_error = |action, source| AgentError::Io {
        path: path.to_owned(),
        action,
        source,
    };
    // We hold the lock: a socket left here is a dead agent's.
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("remove the stale socket", e)),
    }
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(path);
    rustix::process::umask(old);
    let listener = bound.map_err(|e| io_error("listen on", e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| io_error("set the mode of", e))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn state() -> State {
        State {
            held: HashMap::new(),
            empty_since: Instant::now(),
        }
    }

    fn store(id: &str, header: u8, ttl: Duration) -> Request {
        Request::Store {
            vault_id: id.into(),
            header: [header; 32],
            ttl,
            key: Zeroizing::new([header; 16]),
        }
    }

    #[test]
    fn a_key_is_given_for_its_header_only_and_a_rewrite_replaces_it() {
        let mut s = state();
        s.answer(store("v1", 1, Duration::from_secs(60)));
        assert!(matches!(s.answer(Request::Lookup([1; 32])), Response::Key(k) if *k == [1; 16]));
        assert!(matches!(s.answer(Request::Lookup([2; 32])), Response::None));
        s.answer(Request::Replace {
            vault_id: "v1".into(),
            header: [2; 32],
            key: Zeroizing::new([2; 16]),
        });
        assert!(matches!(s.answer(Request::Lookup([1; 32])), Response::None));
        assert!(matches!(s.answer(Request::Lookup([2; 32])), Response::Key(k) if *k == [2; 16]));
        // A write to a vault not held does not start holding it.
        s.answer(Request::Replace {
            vault_id: "v2".into(),
            header: [3; 32],
            key: Zeroizing::new([3; 16]),
        });
        assert!(matches!(s.answer(Request::Lookup([3; 32])), Response::None));
    }

    #[test]
    fn keys_expire_and_forget_drops_them() {
        let mut s = state();
        s.answer(store("v1", 1, Duration::from_millis(1)));
        s.answer(store("v2", 2, Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(5));
        assert!(matches!(s.answer(Request::Lookup([1; 32])), Response::None));
        assert!(matches!(
            s.answer(Request::Status),
            Response::Status { held: 1, .. }
        ));
        s.answer(Request::Forget);
        assert!(matches!(s.answer(Request::Lookup([2; 32])), Response::None));
    }
}
