//! Running the commands a user configures (`AVAULT_PASSPHRASE_COMMAND`,
//! `credential_process`, `mfa_process`, `web_identity_token_process`, ykman):
//! stdin and stderr pass through, stdout is captured into a zeroizing
//! buffer, and no unlock secret is passed on.

use std::process::{Command, Stdio};

use zeroize::Zeroizing;

/// `/bin/sh -c CMD` with stdin and stderr passed through.
pub(crate) fn sh(cmd: &str) -> Command {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit());
    command
}

/// Runs `command` and returns its stdout; the error says why in a few
/// words (its exit status, never its output).
pub(crate) fn stdout_of(mut command: Command) -> Result<Zeroizing<Vec<u8>>, String> {
    command.stdout(Stdio::piped());
    for var in crate::unlock::UNLOCK_SECRET_VARS {
        command.env_remove(var);
    }
    let program = command.get_program().to_string_lossy().into_owned();
    let out = command
        .output()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        return Err(format!("it exited with {}", out.status));
    }
    Ok(stdout)
}
