//! The binary's error: every library error, plus bad input, each with the
//! line the user reads, an optional recommendation and an exit code.

use std::io;

use super::ExitStatus;
use crate::config::ConfigError;
use crate::mfa::SeedError;
use crate::output;
use crate::unlock::UnlockError;
use crate::vault::VaultError;

/// Any error a command can end with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// From the vault.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// From unlocking.
    #[error(transparent)]
    Unlock(#[from] UnlockError),
    /// From the AWS config file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A TOTP seed was refused.
    #[error("{0}")]
    Seed(#[from] SeedError),
    /// Bad input from the user.
    #[error("{message}")]
    Input {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: Option<String>,
        /// Usage errors exit 2, the rest 1.
        usage: bool,
    },
    /// From getting credentials.
    #[error(transparent)]
    Creds(#[from] crate::creds::CredsError),
    /// From MFA.
    #[error(transparent)]
    Mfa(#[from] crate::mfa::MfaError),
    /// From `import`.
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    /// A credential server could not start.
    #[error(transparent)]
    Serve(#[from] crate::serve::ServeError),
    /// From the console sign-in (`login`).
    #[error(transparent)]
    Console(#[from] crate::deliver::ConsoleError),
    /// From the unlock agent.
    #[error(transparent)]
    Agent(#[from] crate::agent::AgentError),
    /// `exec` could not start the command.
    #[error("cannot run {program}: {source}")]
    Exec {
        /// The command.
        program: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// From `rotate`, including a rotation that stopped part-way.
    #[error(transparent)]
    Rotation(#[from] crate::creds::RotationError),
    /// Writing output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
}

impl CliError {
    /// Bad input, with a recommendation.
    pub(crate) fn input(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError::Input {
            message: message.into(),
            hint: Some(hint.into()),
            usage: false,
        }
    }

    /// A wrong command line, with a recommendation (exit 2).
    pub(crate) fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError::Input {
            message: message.into(),
            hint: Some(hint.into()),
            usage: true,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            CliError::Vault(e) => e.hint(),
            CliError::Unlock(e) => e.hint(),
            CliError::Input { hint, .. } => hint.clone(),
            CliError::Config(e) => e.hint(),
            CliError::Creds(e) => e.hint(),
            CliError::Mfa(e) => e.hint(),
            CliError::Import(e) => e.hint(),
            CliError::Serve(e) => e.hint(),
            CliError::Console(e) => e.hint(),
            CliError::Rotation(e) => e.hint(),
            CliError::Agent(e) => e.hint(),
            _ => None,
        }
    }

    /// Prints the error and returns the exit status for it.
    pub fn report(&self) -> ExitStatus {
        if let CliError::Output(e) = self {
            // `avault list | head -1`: the reader left; that is not an error.
            if e.kind() == io::ErrorKind::BrokenPipe {
                return ExitStatus::Success;
            }
        }
        let interrupted = matches!(
            self,
            CliError::Unlock(UnlockError::Terminal(e)) if e.kind() == io::ErrorKind::Interrupted
        );
        output::error(&self.to_string(), self.hint().as_deref());
        match self {
            _ if interrupted => ExitStatus::Interrupted,
            CliError::Input { usage: true, .. } => ExitStatus::Usage,
            CliError::Exec { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                ExitStatus::CommandNotFound
            }
            CliError::Exec { .. } => ExitStatus::CommandNotExecutable,
            _ => ExitStatus::Failure,
        }
    }
}
