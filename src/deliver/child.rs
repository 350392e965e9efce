//! The command of a server-mode `exec`, run as a child (the server must
//! outlive it): SIGINT, SIGTERM and SIGHUP sent to avault are passed on,
//! and its exit status becomes avault's.

use std::io;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Command;

use rustix::process::{kill_process, Pid, Signal};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use signal_hook::low_level::siginfo::Cause;

/// Runs `command` to its end and returns the exit code a shell would
/// report: its own, or 128 + the signal that ended it.
///
/// A signal the kernel raised (Ctrl-C at the terminal, which reaches the
/// whole foreground process group) is not sent again: the child already
/// has it, and a second SIGINT makes tools such as terraform abort hard.
/// Signals sent by a process (`kill`, a CI runner's timeout) are passed on.
pub fn run_child(command: &mut Command) -> io::Result<u8> {
    // Installed before the child starts, so that no signal slips between.
    let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP])?;
    let handle = signals.handle();
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            handle.close();
            return Err(e);
        }
    };
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::other("the child has no valid process id"))?;
    let forwarder = std::thread::Builder::new()
        .name("avault-signals".into())
        .spawn(move || {
            for origin in signals.forever() {
                if origin.cause == Cause::Kernel {
                    continue;
                }
                if let Some(signal) = Signal::from_named_raw(origin.signal) {
                    let _ = kill_process(pid, signal);
                }
            }
        })?;
    let status = child.wait();
    handle.close();
    let _ = forwarder.join();
    let status = status?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(signal)) => 128u8.wrapping_add(signal as u8),
        (None, None) => 1,
    })
}
