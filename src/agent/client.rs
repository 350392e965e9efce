//! The client side: ask the agent for a key, hand it keys, tell it to
//! forget or stop; start it on first need.
//!
//! What must stay true: nothing here can make a command fail or wait long.
//! Every exchange has a short timeout; after one failure the client stops
//! asking for the rest of the process; failures show only as `--debug`
//! lines, except in the commands that exist to talk to the agent.

use std::cell::Cell;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use age_core::format::FileKey;
use age_core::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::protocol::{self, HeaderHash, KeyBytes, Request, Response};
use super::{socket, AgentError, Settings};
use crate::output;
use crate::unlock::KeyCache;

/// How long one exchange with the agent may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_millis(500);

/// How long a freshly started agent has to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection point to this user's agent.
pub struct Client {
    path: PathBuf,
    settings: Option<Settings>,
    debug: bool,
    /// Set after a failed exchange: a dead or hung agent costs one timeout
    /// per process, not one per open.
    given_up: Cell<bool>,
}

impl Client {
    /// The agent of the environment's settings, or `None` when it is off.
    pub fn from_environment(debug: bool) -> Result<Option<Client>, AgentError> {
        Ok(Settings::from_environment()?.map(|settings| Client {
            path: socket::socket_path(),
            settings: Some(settings),
            debug,
            given_up: Cell::new(false),
        }))
    }

    /// A client for `lock`, `agent --stop` and `agent --status`, which talk
    /// to a running agent whatever the settings say, and never start one.
    pub fn control(debug: bool) -> Client {
        Client {
            path: socket::socket_path(),
            settings: None,
            debug,
            given_up: Cell::new(false),
        }
    }

    /// The socket it talks to.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// How long keys are held (with the agent on).
    pub fn ttl(&self) -> Option<Duration> {
        self.settings.map(|s| s.ttl)
    }

    fn exchange(&self, request: &Request) -> io::Result<Response> {
        // Only our own directory: a socket elsewhere could be anyone's.
        if let Some(dir) = self.path.parent() {
            match socket::check_dir(dir) {
                Ok(()) => {}
                // No directory yet: no agent yet.
                Err(AgentError::Io { source, .. }) => return Err(source),
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        e.to_string(),
                    ))
                }
            }
        }
        let mut stream = socket::connect(&self.path, EXCHANGE_TIMEOUT)?;
        protocol::write_line(&mut stream, &request.encode())?;
        let line = protocol::read_line(&mut stream)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no answer"))?;
        Response::decode(&line)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "an answer it cannot read"))
    }

    /// One exchange, unless an earlier one failed; a failure is a debug line.
    fn try_exchange(&self, request: &Request, what: &str) -> Option<Response> {
        if self.given_up.get() {
            return None;
        }
        match self.exchange(request) {
            Ok(response) => Some(response),
            Err(e) => {
                // No agent (no socket, or a dead one's) is the normal state
                // before the first unlock: asking again costs nothing.
                if !not_running(&e) {
                    self.given_up.set(true);
                }
                output::debug(self.debug, &format!("agent {what}: {e}"));
                None
            }
        }
    }

    /// The key held for this header, if any.
    pub fn lookup_key(&self, header: &HeaderHash) -> Option<KeyBytes> {
        match self.try_exchange(&Request::Lookup(*header), "lookup")? {
            Response::Key(key) => Some(key),
            _ => None,
        }
    }

    /// Hands a key to the agent for the TTL, starting the agent if none
    /// runs.
    pub fn store(
        &self,
        vault_id: &str,
        header: &HeaderHash,
        key: KeyBytes,
    ) -> Result<(), AgentError> {
        let settings = self.settings.ok_or(AgentError::Off("AVAULT_AGENT=off"))?;
        let request = Request::Store {
            vault_id: vault_id.to_owned(),
            header: *header,
            ttl: settings.ttl,
            key,
        };
        let answer = match self.exchange(&request) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                self.start()?;
                self.exchange_when_up(&request)
            }
            other => other,
        };
        match answer {
            Ok(Response::Ok) => Ok(()),
            Ok(Response::Err(reason)) => Err(AgentError::Unreachable(reason)),
            Ok(_) => Err(AgentError::Unreachable("an unexpected answer".into())),
            Err(e) => Err(AgentError::Unreachable(e.to_string())),
        }
    }

    /// Starts `avault agent` in the background, in its own process group,
    /// without the unlock secrets of our environment. It is not waited for:
    /// it outlives this process.
    fn start(&self) -> Result<(), AgentError> {
        let exe = std::env::current_exe().map_err(|source| AgentError::Io {
            path: PathBuf::from("avault"),
            action: "find the executable of",
            source,
        })?;
        let mut command = Command::new(&exe);
        command
            .args(["agent", "--on-demand"])
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        for name in crate::unlock::UNLOCK_SECRET_VARS {
            command.env_remove(name);
        }
        output::debug(self.debug, "starting the agent");
        // Not waited for: the agent is a daemon that outlives this process
        // (init reaps it once this process has exited; a long-lived avault
        // keeps at most this one zombie if the agent exits first).
        command.spawn().map_err(|source| AgentError::Io {
            path: exe,
            action: "start the agent",
            source,
        })?;
        Ok(())
    }

    fn exchange_when_up(&self, request: &Request) -> io::Result<Response> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.exchange(request) {
                Err(e)
                    if Instant::now() < deadline
                        && matches!(
                            e.kind(),
                            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                        ) =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                other => return other,
            }
        }
    }

    /// Drops every key. `false` when no agent runs.
    pub fn forget(&self) -> Result<bool, AgentError> {
        self.control_request(&Request::Forget)
    }

    /// Stops the agent. `false` when none runs.
    pub fn stop(&self) -> Result<bool, AgentError> {
        self.control_request(&Request::Stop)
    }

    /// How many vaults the agent holds keys for, and its pid; `None` when
    /// none runs.
    pub fn status(&self) -> Result<Option<(usize, u32)>, AgentError> {
        match self.exchange(&Request::Status) {
            Ok(Response::Status { held, pid }) => Ok(Some((held, pid))),
            Ok(_) => Err(AgentError::Unreachable("an unexpected answer".into())),
            Err(e) if not_running(&e) => Ok(None),
            Err(e) => Err(AgentError::Unreachable(e.to_string())),
        }
    }

    fn control_request(&self, request: &Request) -> Result<bool, AgentError> {
        match self.exchange(request) {
            Ok(Response::Ok) => Ok(true),
            Ok(_) => Err(AgentError::Unreachable("an unexpected answer".into())),
            Err(e) if not_running(&e) => Ok(false),
            Err(e) => Err(AgentError::Unreachable(e.to_string())),
        }
    }
}

fn not_running(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

fn key_bytes(key: &FileKey) -> KeyBytes {
    let mut bytes = Zeroizing::new([0u8; super::FILE_KEY_LEN]);
    bytes.copy_from_slice(key.expose_secret());
    bytes
}

impl KeyCache for Client {
    fn lookup(&self, header: &HeaderHash) -> Option<FileKey> {
        let key = self.lookup_key(header)?;
        output::debug(self.debug, "the agent holds the vault key");
        Some(FileKey::init_with_mut(|bytes| {
            bytes.copy_from_slice(&key[..])
        }))
    }

    fn opened(&self, vault_id: &str, header: &HeaderHash, key: &FileKey) {
        if self.given_up.get() {
            return;
        }
        if let Err(e) = self.store(vault_id, header, key_bytes(key)) {
            self.given_up.set(true);
            output::debug(self.debug, &format!("agent store: {e}"));
        }
    }

    fn rewritten(&self, vault_id: &str, header: &HeaderHash, key: &FileKey) {
        let request = Request::Replace {
            vault_id: vault_id.to_owned(),
            header: *header,
            key: key_bytes(key),
        };
        let _ = self.try_exchange(&request, "replace");
    }
}
