//! The command line: clap definitions, one file per command, and the map
//! from errors to what the user reads and the exit code.

mod add;
mod agent;
mod clear;
mod error;
mod exec;
mod exit;
mod export;
mod import;
mod init;
mod issue;
mod list;
mod lock;
mod login;
mod mfa;
mod passwd;
mod proxy;
mod remove;
mod rotate;
mod seed_input;
mod unlock;
mod unlockers;
mod yubikey;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::unlock::{keys_from_environment, KeyCache, Keys};
use crate::vault::{self, Vault};
pub use error::CliError;
pub use exit::ExitStatus;

/// avault: AWS credentials in one encrypted vault file, short-lived
/// credentials for your commands. A drop-in for aws-vault.
#[derive(Parser)]
#[command(
    name = "avault",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The vault file [default: $XDG_DATA_HOME/avault/vault.age]
    #[arg(long, global = true, env = "AVAULT_FILE", value_name = "PATH")]
    vault: Option<PathBuf>,

    /// Print debug messages (never secrets) to stderr
    #[arg(long, global = true)]
    debug: bool,

    /// Accepted for aws-vault compatibility; avault has one backend, "file"
    #[arg(long, global = true, value_name = "BACKEND", env = "AWS_VAULT_BACKEND")]
    backend: Option<String>,

    /// How to ask for MFA codes: terminal, ykman or yubikey (the YubiKey's OATH applet)
    #[arg(long, global = true, value_name = "DRIVER", env = "AWS_VAULT_PROMPT")]
    prompt: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new vault
    Init(init::Args),
    /// Store a profile's long-term AWS access key in the vault
    Add(add::Args),
    /// List profiles, stored credentials and sessions
    #[command(visible_alias = "ls")]
    List(list::Args),
    /// Delete a profile's stored credentials
    #[command(visible_alias = "rm")]
    Remove(remove::Args),
    /// List or change who can open the vault
    Unlockers(unlockers::Args),
    /// Change the vault's passphrase
    Passwd(passwd::Args),
    /// Run a command with short-lived credentials for a profile
    Exec(exec::Args),
    /// Print short-lived credentials for a profile
    Export(export::Args),
    /// Drop cached sessions (and SSO tokens)
    Clear(clear::Args),
    /// Store an MFA device's TOTP seed, or print its current code
    Mfa(mfa::Args),
    /// Import long-term keys from aws-vault's file backend or ~/.aws/credentials
    Import(import::Args),
    /// Forward the EC2 metadata address to exec --ec2-server (needs root)
    #[command(visible_alias = "server")]
    Proxy(proxy::Args),
    /// Open the AWS console in a browser, signed in with a profile's credentials
    Login(login::Args),
    /// Replace a profile's stored access key with a new one and delete the old
    Rotate(rotate::Args),
    /// Unlock the vault now and keep its key in the agent for AVAULT_UNLOCK_TTL
    Unlock(unlock::Args),
    /// Make the agent forget every unlocked vault key now
    Lock(lock::Args),
    /// Run the agent that keeps unlocked vault keys in memory, or stop it
    Agent(agent::Args),
}

/// What every command needs: where the vault is, and how loud to be.
struct Context {
    vault_path: Option<PathBuf>,
    debug: bool,
    prompt: Option<String>,
}

impl Context {
    fn vault(&self) -> Result<Vault, CliError> {
        let path = match &self.vault_path {
            Some(p) => p.clone(),
            None => vault::default_path().ok_or_else(|| {
                CliError::input(
                    "cannot find the vault: HOME is not set",
                    "pass --vault PATH or set AVAULT_FILE",
                )
            })?,
        };
        Ok(Vault::at(path))
    }

    /// The MFA prompt driver of `--prompt` / `AWS_VAULT_PROMPT`.
    fn prompt(&self) -> Result<crate::mfa::PromptDriver, CliError> {
        Ok(self.prompt.as_deref().unwrap_or("terminal").parse()?)
    }

    /// The vault, which must exist, and keys that are meant to open it:
    /// the agent's key for it when the agent holds one, else the unlock
    /// material of the environment.
    fn unlock(&self) -> Result<(Vault, Keys), CliError> {
        self.unlock_with(true)
    }

    /// Like [`Context::unlock`], but always with the unlock material: for
    /// changing who can open the vault (which must prove it can be opened),
    /// and for `unlock` (which starts a fresh TTL). The agent still learns
    /// the key.
    fn unlock_fresh(&self) -> Result<(Vault, Keys), CliError> {
        self.unlock_with(false)
    }

    fn unlock_with(&self, ask_agent: bool) -> Result<(Vault, Keys), CliError> {
        let vault = self.vault()?;
        let (stanzas, header) = vault.header()?;
        let label = vault.path().display().to_string();
        let agent = crate::agent::Client::from_environment(self.debug)?;
        let held = match (&agent, header) {
            (Some(client), Some(header)) if ask_agent => {
                KeyCache::lookup(client, &header).map(|key| (header, key))
            }
            _ => None,
        };
        let keys = match (agent, held) {
            (Some(client), Some((header, key))) => {
                Keys::from_cached(Box::new(client), header, key, &label, &stanzas)
            }
            (Some(client), None) => {
                let asked = header.filter(|_| ask_agent);
                keys_from_environment(&label, &stanzas)?.with_cache(Box::new(client), asked)
            }
            (None, _) => keys_from_environment(&label, &stanzas)?,
        };
        crate::output::debug(
            self.debug,
            &format!("unlocking {label} with {}", keys.sources()),
        );
        Ok((vault, keys))
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> std::process::ExitCode {
    // Before any secret is read: no core dumps, no ptrace by the same user.
    let hardened = crate::process::harden();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Usage.into()
            } else {
                ExitStatus::Success.into()
            };
        }
    };
    crate::output::debug(cli.debug, &format!("process made non-dumpable: {hardened}"));
    match run(cli) {
        Ok(status) => status.into(),
        Err(e) => e.report().into(),
    }
}

fn run(cli: Cli) -> Result<ExitStatus, CliError> {
    if let Some(backend) = &cli.backend {
        if backend != "file" {
            return Err(CliError::usage(
                format!("unknown backend {backend:?}"),
                "avault has one backend, the vault file: use --backend file or leave it out",
            ));
        }
    }
    let ctx = Context {
        vault_path: cli.vault,
        debug: cli.debug,
        prompt: cli.prompt,
    };
    let done = match cli.command {
        Command::Init(args) => init::run(&ctx, args),
        Command::Add(args) => add::run(&ctx, args),
        Command::List(args) => list::run(&ctx, args),
        Command::Remove(args) => remove::run(&ctx, args),
        Command::Unlockers(args) => unlockers::run(&ctx, args),
        Command::Passwd(args) => passwd::run(&ctx, args),
        Command::Exec(args) => return exec::run(&ctx, args),
        Command::Export(args) => export::run(&ctx, args),
        Command::Clear(args) => clear::run(&ctx, args),
        Command::Mfa(args) => mfa::run(&ctx, args),
        Command::Import(args) => import::run(&ctx, args),
        Command::Login(args) => login::run(&ctx, args),
        Command::Proxy(args) => proxy::run(&ctx, args),
        Command::Rotate(args) => rotate::run(&ctx, args),
        Command::Unlock(args) => unlock::run(&ctx, args),
        Command::Lock(args) => lock::run(&ctx, args),
        Command::Agent(args) => agent::run(&ctx, args),
    };
    done.map(|()| ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }
}
