//! Test harness: runs the real `avault` binary in a sandbox with a scrubbed
//! environment (no inherited AWS_*, AVAULT_*, HOME), a temp home, no
//! terminal (AVAULT_TTY=none) and the loopback emulator endpoint, so nothing
//! can reach a real AWS host or block on a prompt.

// Each test binary uses a different part of it, as a private module.
#![allow(dead_code, unreachable_pub)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fake but well-formed long-term key; tests check it never leaks.
pub const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
pub const PASSPHRASE: &str = "correct horse battery staple";

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    /// AVAULT_AGENT=off for every command (tests of the unlock sources).
    agent_off: bool,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
        let s = Sandbox {
            dir,
            agent_off: false,
        };
        fs::create_dir(s.runtime_dir()).expect("mkdir run");
        fs::set_permissions(s.runtime_dir(), fs::Permissions::from_mode(0o700)).expect("chmod");
        s
    }

    /// A sandbox whose commands run with AVAULT_AGENT=off: for tests of the
    /// unlock sources themselves (a wrong passphrase must fail), which an
    /// agent holding the key from an earlier command would answer instead.
    pub fn without_agent() -> Sandbox {
        let mut s = Sandbox::new();
        s.agent_off = true;
        s
    }

    /// Its own XDG_RUNTIME_DIR: each sandbox's agent apart from the others
    /// and from the user's.
    pub fn runtime_dir(&self) -> PathBuf {
        self.home().join("run")
    }

    /// The agent's socket in this sandbox.
    pub fn agent_socket(&self) -> PathBuf {
        self.runtime_dir().join("avault/agent.sock")
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn vault(&self) -> PathBuf {
        self.home().join("data/avault/vault.age")
    }

    pub fn config(&self) -> PathBuf {
        self.home().join(".aws/config")
    }

    /// The binary with a clean environment.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_avault"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_DATA_HOME", self.home().join("data"))
            .env("XDG_RUNTIME_DIR", self.runtime_dir())
            .env("AWS_CONFIG_FILE", self.config())
            .env("AVAULT_TTY", "none")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .stdin(std::process::Stdio::null());
        if self.agent_off {
            cmd.env("AVAULT_AGENT", "off");
        }
        cmd
    }

    /// Runs with args and extra environment.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.run_with(args, env, &[])
    }

    /// Runs with args, extra environment, and more environment made at run
    /// time (the PC/SC rig's socket: `vyubikey::rig_env()`).
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)], more: &[(&str, String)]) -> Run {
        let mut cmd = self.cmd();
        cmd.args(args);
        for (k, v) in more {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run(cmd.output().expect("run avault"))
    }

    /// A vault protected by PASSPHRASE with cheap KDF parameters.
    pub fn init_passphrase(&self) {
        self.run(
            &["init", "--kdf-memory", "1", "--kdf-time", "1"],
            &[("AVAULT_PASSPHRASE", PASSPHRASE)],
        )
        .success();
    }

    /// A vault for a fresh X25519 identity; returns (identity, recipient).
    pub fn init_identity(&self) -> (String, String) {
        let (secret, recipient) = avault::unlock::generate_identity();
        self.run(&["init", "--recipient", &recipient], &[])
            .success();
        (secret.to_string(), recipient)
    }

    pub fn add(&self, profile: &str, unlock: (&str, &str)) -> Run {
        self.run(
            &["add", profile, "--env"],
            &[
                unlock,
                ("AWS_ACCESS_KEY_ID", KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", SECRET),
            ],
        )
    }

    /// Writes the AWS config file.
    pub fn write_config(&self, text: &str) {
        fs::create_dir_all(self.config().parent().expect("dir")).expect("mkdir");
        fs::write(self.config(), text).expect("write config");
    }

    pub fn vault_bytes(&self) -> Vec<u8> {
        fs::read(self.vault()).expect("read vault")
    }
}

impl Drop for Sandbox {
    /// Stops the sandbox's agent, if a command started one (it would also
    /// exit by itself once its socket is gone with the temp dir).
    fn drop(&mut self) {
        if self.agent_socket().exists() {
            let _ = self.cmd().args(["agent", "--stop"]).output();
        }
    }
}

/// Runs `cmd` with `input` on its stdin (a seed given as `--totp-secret -`).
pub fn run_with_stdin(mut cmd: Command, input: &[u8]) -> Run {
    use std::io::Write;
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write stdin");
    drop(stdin);
    Run(child.wait_with_output().expect("wait"))
}

pub struct Run(pub Output);

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        assert!(
            self.0.status.success(),
            "expected success, got {:?}\nstdout: {}\nstderr: {}",
            self.0.status,
            self.stdout(),
            self.stderr()
        );
        self.no_secret();
        self
    }

    /// Fails with exit 1 and an error line containing `needle`.
    #[track_caller]
    pub fn fails_with(&self, needle: &str) -> &Self {
        assert_eq!(
            self.code(),
            Some(1),
            "expected exit 1\nstdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        assert!(
            self.stderr().contains(needle),
            "stderr lacks {needle:?}: {}",
            self.stderr()
        );
        self.no_secret();
        self
    }

    /// No secret reaches stdout or stderr.
    #[track_caller]
    pub fn no_secret(&self) -> &Self {
        for text in [self.stdout(), self.stderr()] {
            assert!(!text.contains(SECRET), "secret key leaked: {text}");
            assert!(!text.contains(PASSPHRASE), "passphrase leaked: {text}");
            assert!(!text.contains("AGE-SECRET-KEY-"), "identity leaked: {text}");
        }
        self
    }
}
