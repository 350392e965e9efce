//! Prompts on the controlling terminal, never on stdout or stdin, so that
//! they work under `credential_process` and inside `$(...)`.
//!
//! The device is /dev/tty unless `AVAULT_TTY` names another (a pty in tests);
//! `AVAULT_TTY=none` forbids prompting, for scripts that must never hang.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;

use rustix::termios::{self, LocalModes, OptionalActions};
use secrecy::SecretString;
use zeroize::Zeroizing;

/// The environment variable that names the terminal device.
pub const TTY_ENV: &str = "AVAULT_TTY";

/// An open terminal for prompting.
pub struct Terminal {
    file: File,
}

impl Terminal {
    /// Opens the terminal, or returns `None` when there is none (no
    /// controlling terminal, or `AVAULT_TTY=none`).
    pub fn open() -> Option<Terminal> {
        let path = match std::env::var_os(TTY_ENV) {
            Some(p) if p == "none" => return None,
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from("/dev/tty"),
        };
        let file = OpenOptions::new().read(true).write(true).open(path).ok()?;
        Some(Terminal { file })
    }

    /// Writes a message to the terminal (for "touch your key" style notices).
    pub fn say(&mut self, text: &str) -> io::Result<()> {
        self.file.write_all(text.as_bytes())?;
        self.file.flush()
    }

    /// Asks for a line that is echoed as typed (an access key id).
    pub fn ask_visible(&mut self, prompt: &str) -> io::Result<String> {
        self.say(prompt)?;
        let line = self.read_line()?;
        Ok(line.trim().to_owned())
    }

    /// Asks for a secret with echo off; the answer never sits in an
    /// unzeroized buffer of ours.
    pub fn ask_hidden(&mut self, prompt: &str) -> io::Result<SecretString> {
        // Echo goes off before the prompt appears, so nothing typed after it
        // is shown, and nothing already typed is thrown away.
        let saved = termios::tcgetattr(&self.file).ok();
        if let Some(saved) = &saved {
            let mut quiet = saved.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            quiet.local_modes.insert(LocalModes::ECHONL);
            let _ = termios::tcsetattr(&self.file, OptionalActions::Now, &quiet);
        }
        let answer = self.say(prompt).and_then(|()| self.read_line());
        if let Some(saved) = &saved {
            let _ = termios::tcsetattr(&self.file, OptionalActions::Now, saved);
        }
        let answer = answer?;
        Ok(SecretString::from(
            answer.trim_end_matches(['\r', '\n']).to_owned(),
        ))
    }

    /// Asks a yes/no question; only `y` or `yes` count as yes.
    pub fn confirm(&mut self, prompt: &str) -> io::Result<bool> {
        let answer = self.ask_visible(prompt)?;
        Ok(matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes"))
    }

    fn read_line(&mut self) -> io::Result<Zeroizing<String>> {
        // A fresh reader per line: nothing is buffered past the newline that
        // a later prompt would miss, because terminals deliver line by line.
        let mut reader = BufReader::with_capacity(1024, &self.file);
        let mut line = Zeroizing::new(String::with_capacity(1024));
        let n = reader.read_line(&mut line)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the terminal closed before an answer was given",
            ));
        }
        Ok(line)
    }
}
