//! Prompts on the controlling terminal, never on stdout or stdin, so that
//! they work under `credential_process` and inside `$(...)`.
//!
//! The device is /dev/tty unless `AVAULT_TTY` names another (a pty in tests);
//! `AVAULT_TTY=none` forbids prompting, for scripts that must never hang.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;

use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex};
use secrecy::SecretString;
use zeroize::Zeroizing;

/// The environment variable that names the terminal device.
pub const TTY_ENV: &str = "AVAULT_TTY";

/// Tells the person at the terminal something ("touch your YubiKey",
/// "waiting for the next code"); on stderr when there is no terminal.
pub fn notice(text: &str) {
    match Terminal::open() {
        Some(mut tty) => {
            let _ = tty.say(&format!("{}\n", text.trim_end()));
        }
        None => crate::output::status(text.trim_end()),
    }
}

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
    /// unzeroized buffer of ours. The terminal is read key by key (not line
    /// by line) so that Ctrl-C ends the prompt as `Interrupted` after the
    /// terminal is restored, instead of killing us with echo still off.
    pub fn ask_hidden(&mut self, prompt: &str) -> io::Result<SecretString> {
        let Ok(saved) = termios::tcgetattr(&self.file) else {
            // Not a terminal (AVAULT_TTY names a file or pipe): read a line.
            self.say(prompt)?;
            let line = self.read_line()?;
            return Ok(SecretString::from(
                line.trim_end_matches(['\r', '\n']).to_owned(),
            ));
        };
        let mut keys = saved.clone();
        keys.local_modes
            .remove(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG);
        keys.special_codes[SpecialCodeIndex::VMIN] = 1;
        keys.special_codes[SpecialCodeIndex::VTIME] = 0;
        // Echo goes off before the prompt appears, so nothing typed after it
        // is shown, and nothing already typed is thrown away.
        termios::tcsetattr(&self.file, OptionalActions::Now, &keys)?;
        let answer = self.say(prompt).and_then(|()| self.read_keys());
        let restored = termios::tcsetattr(&self.file, OptionalActions::Now, &saved);
        let _ = self.say("\n");
        restored?;
        answer
    }

    /// Reads keys up to Enter, with backspace, Ctrl-U (erase all), Ctrl-C
    /// (interrupt) and Ctrl-D on an empty answer (end of input).
    fn read_keys(&mut self) -> io::Result<SecretString> {
        const MAX: usize = 4096;
        // Never grown past its first allocation, so no copy is left behind.
        let mut typed = Zeroizing::new(Vec::with_capacity(MAX));
        let mut key = Zeroizing::new([0u8; 1]);
        loop {
            if self.file.read(key.as_mut())? == 0 {
                break;
            }
            match key[0] {
                b'\r' | b'\n' => break,
                0x03 => {
                    return Err(io::Error::new(
                        io::ErrorKind::Interrupted,
                        "interrupted at the prompt",
                    ))
                }
                0x04 if typed.is_empty() => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the terminal closed before an answer was given",
                    ))
                }
                0x7f | 0x08 => {
                    // Drop one whole UTF-8 character.
                    while let Some(b) = typed.pop() {
                        if b & 0xc0 != 0x80 {
                            break;
                        }
                    }
                }
                0x15 => typed.clear(),
                b if typed.len() < MAX => typed.push(b),
                _ => {}
            }
        }
        let text = std::str::from_utf8(&typed)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the answer is not UTF-8"))?;
        Ok(SecretString::from(text.to_owned()))
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
