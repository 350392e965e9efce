//! Reading a TOTP seed given to `add` or `mfa set` without putting it in argv.

use std::io::Read;

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::CliError;
use crate::output;
use crate::terminal::Terminal;

/// Reads a seed given as a flag value, from stdin (`-`), or from the terminal (empty).
pub(super) fn read_seed_text(value: &str, what: &str) -> Result<SecretString, CliError> {
    match value {
        "-" => {
            let mut text = Zeroizing::new(String::new());
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(CliError::Output)?;
            Ok(SecretString::from(text.trim().to_owned()))
        }
        "" => {
            let mut tty = Terminal::open().ok_or_else(|| {
                CliError::input(
                    format!("no terminal to ask for the {what} on"),
                    format!("pipe it in with --{what} -"),
                )
            })?;
            tty.ask_hidden(&format!(
                "Enter the TOTP {}: ",
                what.trim_start_matches("totp-")
            ))
            .map_err(|e| crate::unlock::UnlockError::Terminal(e).into())
        }
        literal => {
            output::warn(&format!(
                "the --{what} value was given on the command line, where other users can see it; prefer --{what} - (stdin)"
            ));
            Ok(SecretString::from(literal.to_owned()))
        }
    }
}
