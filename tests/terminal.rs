//! Prompts on the terminal: a real pseudo-terminal stands in for /dev/tty
//! (through AVAULT_TTY), and the test types the answers.

mod support;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
use support::{Sandbox, KEY_ID, PASSPHRASE, SECRET};

struct Pty {
    master: File,
    _slave: File,
    path: String,
    seen: mpsc::Receiver<Vec<u8>>,
    text: String,
}

impl Pty {
    fn open() -> Pty {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let path = ptsname(&master, Vec::new())
            .expect("ptsname")
            .into_string()
            .expect("utf8");
        // Held open so the master never reads EIO between children.
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open slave");
        let master = File::from(master);
        let mut reader = master.try_clone().expect("clone");
        let (tx, seen) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            master,
            _slave: slave,
            path,
            seen,
            text: String::new(),
        }
    }

    /// Waits for `prompt` on the terminal, then types `answer` and Enter.
    fn answer(&mut self, prompt: &str, answer: &str) {
        self.answer_raw(prompt, format!("{answer}\n").as_bytes());
    }

    /// Waits for `prompt`, then sends `keys` as they are.
    fn answer_raw(&mut self, prompt: &str, keys: &[u8]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.text.contains(prompt) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.seen.recv_timeout(left) {
                Ok(chunk) => self.text.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!("no prompt {prompt:?}; terminal showed {:?}", self.text),
            }
        }
        self.text = self
            .text
            .split_once(prompt)
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_default();
        self.master.write_all(keys).expect("type");
    }

    /// Everything shown since the last answer, after the child ended.
    fn rest(&mut self) -> String {
        std::thread::sleep(Duration::from_millis(100));
        while let Ok(chunk) = self.seen.try_recv() {
            self.text.push_str(&String::from_utf8_lossy(&chunk));
        }
        self.text.clone()
    }
}

fn spawn(s: &Sandbox, pty: &Pty, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = s.cmd();
    cmd.args(args)
        .env("AVAULT_TTY", &pty.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn")
}

#[track_caller]
fn finish(child: Child) -> support::Run {
    let run = support::Run(child.wait_with_output().expect("wait"));
    run.success();
    run
}

#[test]
fn init_add_list_remove_on_a_terminal() {
    let s = Sandbox::new();
    let mut pty = Pty::open();

    let child = spawn(
        &s,
        &pty,
        &["init", "--kdf-memory", "1", "--kdf-time", "1"],
        &[],
    );
    pty.answer("New passphrase: ", PASSPHRASE);
    pty.answer("Repeat the new passphrase: ", PASSPHRASE);
    finish(child);

    let child = spawn(&s, &pty, &["add", "prod"], &[]);
    pty.answer("Passphrase for ", PASSPHRASE);
    pty.answer("Enter Access Key ID: ", KEY_ID);
    pty.answer("Enter Secret Access Key: ", SECRET);
    finish(child);
    // Echo was off for the secret: the terminal never showed it.
    assert!(!pty.rest().contains(SECRET));

    // Unlocked once: the agent that `add` started holds the key, so the
    // next command does not ask again.
    let child = spawn(&s, &pty, &["list", "--credentials"], &[]);
    assert_eq!(finish(child).stdout(), "prod\n");
    assert!(!pty.rest().contains("Passphrase for "));
    s.run(&["lock"], &[]).success();
    let child = spawn(&s, &pty, &["list", "--credentials"], &[]);
    pty.answer("Passphrase for ", PASSPHRASE);
    assert_eq!(finish(child).stdout(), "prod\n");

    let child = spawn(
        &s,
        &pty,
        &["remove", "prod"],
        &[("AVAULT_PASSPHRASE", PASSPHRASE)],
    );
    pty.answer("Delete credentials for profile \"prod\"? (y/N) ", "n");
    finish(child);
    let child = spawn(
        &s,
        &pty,
        &["remove", "prod"],
        &[("AVAULT_PASSPHRASE", PASSPHRASE)],
    );
    pty.answer("(y/N) ", "y");
    finish(child);
    let out = s.run(
        &["list", "--credentials"],
        &[("AVAULT_PASSPHRASE", PASSPHRASE)],
    );
    assert_eq!(out.success().stdout(), "");
}

#[test]
fn ctrl_c_at_a_hidden_prompt_exits_130_and_restores_echo() {
    let s = Sandbox::new();
    s.init_passphrase();
    let mut pty = Pty::open();
    let child = spawn(&s, &pty, &["list"], &[]);
    pty.answer_raw("Passphrase for ", b"sec\x7fret\x03");
    let out = support::Run(child.wait_with_output().expect("wait"));
    assert_eq!(out.code(), Some(130), "{}", out.stderr());
    let modes = rustix::termios::tcgetattr(&pty._slave).expect("tcgetattr");
    assert!(modes
        .local_modes
        .contains(rustix::termios::LocalModes::ECHO | rustix::termios::LocalModes::ICANON));
    assert!(!pty.rest().contains("sec"), "typed keys were echoed");
}

#[test]
fn mismatched_new_passphrases_are_refused() {
    let s = Sandbox::new();
    let mut pty = Pty::open();
    let child = spawn(&s, &pty, &["init"], &[]);
    pty.answer("New passphrase: ", "one");
    pty.answer("Repeat the new passphrase: ", "two");
    let out = support::Run(child.wait_with_output().expect("wait"));
    out.fails_with("differ");
    assert!(!s.vault().exists());
}
