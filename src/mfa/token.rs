//! Where an MFA code comes from, in this order: `--mfa-token`,
//! `mfa_process`, a TOTP seed stored in the vault (hands-free), then the
//! prompt driver (`--prompt` / `AWS_VAULT_PROMPT`: `terminal` or `ykman`).

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};

use super::TotpSeed;
use crate::terminal::Terminal;

/// How to ask a person for a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PromptDriver {
    /// Ask on the terminal.
    #[default]
    Terminal,
    /// Run `ykman oath … code` (YubiKey OATH through Yubico's CLI); with
    /// the `yubikey` feature, the OATH applet is asked directly instead.
    Ykman,
    /// The YubiKey's OATH applet, directly (feature `yubikey`).
    YubiKey,
}

impl std::str::FromStr for PromptDriver {
    type Err = MfaError;

    fn from_str(s: &str) -> Result<Self, MfaError> {
        match s {
            "terminal" | "" => Ok(PromptDriver::Terminal),
            "ykman" => Ok(PromptDriver::Ykman),
            "yubikey" => Ok(PromptDriver::YubiKey),
            other => Err(MfaError::UnknownPrompt(other.to_owned())),
        }
    }
}

/// Why no code could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MfaError {
    /// `--prompt` names a driver avault does not have.
    #[error("unknown prompt driver {0:?}: avault has terminal, ykman and yubikey")]
    UnknownPrompt(String),
    /// The code given is not 6 to 8 digits.
    #[error("the MFA code from {source_name} is not 6 to 8 digits")]
    Malformed {
        /// Where it came from.
        source_name: &'static str,
    },
    /// `mfa_process` or ykman failed.
    #[error("{what} failed: {reason}")]
    Command {
        /// Which command.
        what: &'static str,
        /// Its status (never its output).
        reason: String,
    },
    /// Nobody to ask.
    #[error("an MFA code is needed for {serial}, and there is no terminal to ask on")]
    NoTerminal {
        /// The device.
        serial: String,
    },
    /// The stored seed is unusable.
    #[error("the stored TOTP seed for {serial} is unusable: {reason}")]
    Seed {
        /// The device.
        serial: String,
        /// Why.
        reason: String,
    },
    /// Reading the terminal failed.
    #[error("reading the MFA code failed: {0}")]
    Terminal(#[source] std::io::Error),
    /// Recording the used code failed.
    #[error("{0}")]
    Record(String),
    /// The YubiKey could not give a code.
    #[cfg(feature = "yubikey")]
    #[error(transparent)]
    Hardware(#[from] crate::hw::HwError),
    /// `--prompt yubikey` in a build without the feature.
    #[error("this avault was built without YubiKey support")]
    NoYubiKeySupport,
}

impl MfaError {
    /// A line that tells the user what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            MfaError::NoTerminal { .. } => Some(
                "pass --mfa-token CODE, set mfa_process in the profile, or store the device's seed: avault mfa set PROFILE"
                    .into(),
            ),
            #[cfg(feature = "yubikey")]
            MfaError::Hardware(e) => e.hint(),
            MfaError::NoYubiKeySupport => Some(
                "reinstall with: cargo install --path . --features yubikey, or use --prompt ykman".into(),
            ),
            _ => None,
        }
    }
}

/// Everything that can supply a code for one device.
pub struct TokenSources<'a> {
    /// `--mfa-token`.
    pub flag: Option<&'a SecretString>,
    /// The profile's `mfa_process`.
    pub process: Option<&'a str>,
    /// The seed stored in the vault for this device.
    pub seed: Option<&'a TotpSeed>,
    /// How to ask a person.
    pub prompt: PromptDriver,
    /// Claims a TOTP time step for a serial; false when it was used already.
    pub claim_step: &'a dyn Fn(&str, u64) -> Result<bool, String>,
}

fn check_digits(code: &str, source_name: &'static str) -> Result<(), MfaError> {
    if (6..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(MfaError::Malformed { source_name })
    }
}

fn run_for_code(command: Command, what: &'static str) -> Result<SecretString, MfaError> {
    let stdout =
        crate::shell::stdout_of(command).map_err(|reason| MfaError::Command { what, reason })?;
    let text = String::from_utf8_lossy(&stdout).trim().to_owned();
    check_digits(&text, what)?;
    Ok(SecretString::from(text))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A code from the stored seed, never one already sent: when this time
/// step was used, wait for the next, saying so on the terminal.
fn code_from_seed(
    serial: &str,
    seed: &TotpSeed,
    claim: &dyn Fn(&str, u64) -> Result<bool, String>,
) -> Result<SecretString, MfaError> {
    let seed_error = |e: super::SeedError| MfaError::Seed {
        serial: serial.to_owned(),
        reason: e.to_string(),
    };
    let period = seed.period().map_err(seed_error)?;
    loop {
        let now = unix_now();
        let step = now / period;
        if claim(serial, step).map_err(MfaError::Record)? {
            let code = seed.code_at(now).map_err(seed_error)?;
            return Ok(SecretString::from(code));
        }
        let wait = (step + 1) * period - now;
        let notice = format!(
            "avault: the MFA code for {serial} was just used; waiting {wait}s for the next one\n"
        );
        crate::terminal::notice(&notice);
        std::thread::sleep(Duration::from_secs(wait) + Duration::from_millis(50));
    }
}

/// The OATH credential name for a device: `YKMAN_OATH_CREDENTIAL_NAME`,
/// else its serial (ykman's convention, which aws-vault follows).
fn oath_name(serial: &str) -> String {
    std::env::var("YKMAN_OATH_CREDENTIAL_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| serial.to_owned())
}

/// A code from the YubiKey's OATH applet (`YKMAN_OATH_DEVICE_SERIAL` picks
/// the key); asks for the applet's password (`AVAULT_OATH_PASSWORD`, or
/// the terminal) when it has one, and says "touch" when it wants one.
#[cfg(feature = "yubikey")]
pub fn yubikey_code(serial: &str) -> Result<SecretString, MfaError> {
    let device = std::env::var("YKMAN_OATH_DEVICE_SERIAL")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let mut oath = crate::hw::YubiKey::open(device)?.into_oath()?;
    if oath.needs_password() {
        let password = match std::env::var_os("AVAULT_OATH_PASSWORD") {
            Some(p) => SecretString::from(p.to_string_lossy().into_owned()),
            None => Terminal::open()
                .ok_or(crate::hw::HwError::OathPassword)?
                .ask_hidden("Enter the YubiKey's OATH password: ")
                .map_err(MfaError::Terminal)?,
        };
        oath.validate(password.expose_secret().as_bytes())?;
    }
    let touch = || crate::terminal::notice("Touch your YubiKey...");
    let code = oath.code(&oath_name(serial), unix_now(), &touch)?;
    Ok(SecretString::from(code))
}

/// Without the feature: say how to get it.
#[cfg(not(feature = "yubikey"))]
pub fn yubikey_code(_serial: &str) -> Result<SecretString, MfaError> {
    Err(MfaError::NoYubiKeySupport)
}

fn ykman(serial: &str) -> Result<SecretString, MfaError> {
    if cfg!(feature = "yubikey") {
        return yubikey_code(serial);
    }
    let name = oath_name(serial);
    let version: u32 = std::env::var("AWS_VAULT_YKMAN_VERSION")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let mut command = Command::new("ykman");
    if let Ok(device) = std::env::var("YKMAN_OATH_DEVICE_SERIAL") {
        if !device.is_empty() {
            command.arg("--device").arg(device);
        }
    }
    if version < 4 {
        command.args(["oath", "code", "--single"]);
    } else {
        command.args(["oath", "accounts", "code", "--single"]);
    }
    command.arg(name);
    // "Touch your YubiKey" must reach a person even when our stderr is a
    // pipe (credential_process): send ykman's stderr to the terminal.
    command.stdin(Stdio::inherit());
    match std::fs::OpenOptions::new().write(true).open("/dev/tty") {
        Ok(tty) => command.stderr(Stdio::from(tty)),
        Err(_) => command.stderr(Stdio::inherit()),
    };
    run_for_code(command, "ykman")
}

/// Gets a code for the device `serial`.
pub fn code_for(serial: &str, sources: &TokenSources<'_>) -> Result<SecretString, MfaError> {
    if let Some(code) = sources.flag {
        check_digits(code.expose_secret(), "--mfa-token")?;
        return Ok(code.clone());
    }
    if let Some(cmd) = sources.process {
        return run_for_code(crate::shell::sh(cmd), "mfa_process");
    }
    if let Some(seed) = sources.seed {
        return code_from_seed(serial, seed, sources.claim_step);
    }
    match sources.prompt {
        PromptDriver::Ykman => ykman(serial),
        PromptDriver::YubiKey => yubikey_code(serial),
        PromptDriver::Terminal => {
            let mut tty = Terminal::open().ok_or_else(|| MfaError::NoTerminal {
                serial: serial.to_owned(),
            })?;
            let code = tty
                .ask_visible(&format!("Enter MFA code for {serial}: "))
                .map_err(MfaError::Terminal)?;
            check_digits(&code, "the terminal")?;
            Ok(SecretString::from(code))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never_claimed(_: &str, _: u64) -> Result<bool, String> {
        Ok(true)
    }

    #[test]
    fn flag_then_process_then_seed() {
        let flag = SecretString::from("123456".to_owned());
        let seed = TotpSeed::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "x").expect("seed");
        let mut s = TokenSources {
            flag: Some(&flag),
            process: Some("echo 654321"),
            seed: Some(&seed),
            prompt: PromptDriver::Terminal,
            claim_step: &never_claimed,
        };
        assert_eq!(code_for("x", &s).expect("code").expose_secret(), "123456");
        s.flag = None;
        assert_eq!(code_for("x", &s).expect("code").expose_secret(), "654321");
        s.process = None;
        let code = code_for("x", &s).expect("code");
        assert_eq!(
            code.expose_secret(),
            seed.code_at(unix_now()).expect("code")
        );
        s.process = Some("echo nope");
        assert!(matches!(code_for("x", &s), Err(MfaError::Malformed { .. })));
        s.process = Some("exit 4");
        assert!(matches!(code_for("x", &s), Err(MfaError::Command { .. })));
    }

    #[test]
    fn a_used_step_waits_for_the_next() {
        // A one-second period keeps the wait short.
        let seed =
            TotpSeed::from_uri("otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&period=1")
                .expect("seed");
        let claimed = std::cell::RefCell::new(Vec::new());
        let claim = |_: &str, step: u64| {
            let mut c = claimed.borrow_mut();
            let first = c.is_empty();
            c.push(step);
            Ok(!first)
        };
        code_from_seed("x", &seed, &claim).expect("code");
        let steps = claimed.borrow();
        assert_eq!(steps.len(), 2, "{steps:?}");
        assert!(
            steps[1] > steps[0],
            "did not wait for a new step: {steps:?}"
        );
    }

    #[test]
    fn prompt_drivers_parse() {
        assert_eq!(
            "ykman".parse::<PromptDriver>().ok(),
            Some(PromptDriver::Ykman)
        );
        assert!(matches!(
            "bogus".parse::<PromptDriver>(),
            Err(MfaError::UnknownPrompt(_))
        ));
    }
}
