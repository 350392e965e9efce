//! `avault import aws-vault|aws-credentials`: move long-term keys into the
//! vault from aws-vault's file backend or from the shared credentials file.
//!
//! What must stay true: the vault is unlocked (and so checked) before the
//! aws-vault passphrase is asked for; all key derivation happens before
//! the vault's write lock is taken; the vault is written once, at the end,
//! and only when something changes; a wrong aws-vault passphrase writes
//! nothing; the credentials file is scrubbed only of keys now in the
//! vault, and only after the vault write. Nothing printed holds a secret.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretSlice};

use super::add::{check_access_key_id, check_mfa_serial, check_profile_name, check_secret_key};
use super::{CliError, Context};
use crate::config::{self, AwsConfig};
use crate::import::{
    self, Action, CredentialsFile, FoundKey, ImportError, Item, ItemError, ItemKind, JweError,
};
use crate::output;
use crate::terminal::Terminal;
use crate::unlock::{Keys, UnlockError};
use crate::vault::{Payload, Vault};

/// aws-vault's variable for its file backend's passphrase.
const PASSPHRASE_VAR: &str = "AWS_VAULT_FILE_PASSPHRASE";

/// Import long-term keys from aws-vault or the shared credentials file.
#[derive(clap::Args)]
pub(super) struct Args {
    #[command(subcommand)]
    source: Source,
}

#[derive(clap::Subcommand)]
enum Source {
    /// Import the keys in aws-vault's file backend (its passphrase from
    /// AWS_VAULT_FILE_PASSPHRASE, else asked on the terminal)
    #[command(name = "aws-vault")]
    AwsVault(AwsVaultArgs),
    /// Import the keys in the shared credentials file, and add their
    /// [profile NAME] sections to the AWS config when missing
    #[command(name = "aws-credentials")]
    AwsCredentials(CredentialsArgs),
}

#[derive(clap::Args)]
struct Common {
    /// Print what would happen; write nothing
    #[arg(long)]
    dry_run: bool,

    /// Replace keys already stored under the same profile names
    /// [default: keep them]
    #[arg(long)]
    overwrite: bool,

    /// Import only these profiles [default: all]
    #[arg(value_name = "PROFILE")]
    profiles: Vec<String>,
}

#[derive(clap::Args)]
struct AwsVaultArgs {
    /// aws-vault's key directory [default: AWS_VAULT_FILE_DIR, else ~/.awsvault/keys]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
struct CredentialsArgs {
    /// The credentials file [default: AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials]
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,

    /// Afterwards, remove the imported keys from the credentials file
    /// (everything else in it stays as it is)
    #[arg(long)]
    scrub: bool,

    #[command(flatten)]
    common: Common,
}

pub(super) fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    match args.source {
        Source::AwsVault(args) => aws_vault(ctx, args),
        Source::AwsCredentials(args) => aws_credentials(ctx, args),
    }
}

/// What the user reads at the end: a row per profile in the order of the
/// source, then one line.
#[derive(Default)]
struct Report {
    /// Each name's place in the source, as first seen.
    positions: std::collections::HashMap<String, usize>,
    rows: Vec<(usize, Vec<String>)>,
    counts: [usize; 6],
    sessions: usize,
    sso_tokens: usize,
}

const IMPORTED: usize = 0;
const REPLACED: usize = 1;
const KEPT: usize = 2;
const UNCHANGED: usize = 3;
const SKIPPED: usize = 4;
const FAILED: usize = 5;

impl Report {
    /// Notes that `name` comes next in the source.
    fn seen(&mut self, name: &str) {
        let next = self.positions.len();
        self.positions.entry(name.to_owned()).or_insert(next);
    }

    fn row(&mut self, count: usize, name: &str, what: String) {
        self.counts[count] += 1;
        let position = self.positions.get(name).copied().unwrap_or(usize::MAX);
        self.rows.push((position, vec![name.to_owned(), what]));
    }

    fn skipped(&mut self, name: &str, why: &str) {
        self.row(SKIPPED, name, format!("skipped: {why}"));
    }

    fn failed(&mut self, name: &str, why: &str) {
        self.row(FAILED, name, format!("failed: {why}"));
    }

    fn action(&mut self, name: &str, action: Action, dry_run: bool) {
        let (count, done, would) = match action {
            Action::Add => (IMPORTED, "imported", "would import"),
            Action::Replace => (
                REPLACED,
                "imported, replacing the stored key",
                "would replace the stored key",
            ),
            Action::Keep => (
                KEPT,
                "kept the stored key, which differs (--overwrite replaces it)",
                "would keep the stored key, which differs (--overwrite replaces it)",
            ),
            Action::Unchanged => (UNCHANGED, "already in the vault", "already in the vault"),
        };
        self.row(count, name, (if dry_run { would } else { done }).to_owned());
    }

    /// Prints the rows and the summary line; the error when some failed.
    fn finish(mut self, source: &Path, dry_run: bool) -> Result<(), CliError> {
        self.rows.sort_by_key(|(position, _)| *position);
        let rows: Vec<Vec<String>> = self.rows.into_iter().map(|(_, row)| row).collect();
        output::table(&rows)?;
        let labels = if dry_run {
            [
                "to import",
                "to replace",
                "to keep",
                "already there",
                "to skip",
                "failing",
            ]
        } else {
            [
                "imported",
                "replaced",
                "kept",
                "already there",
                "skipped",
                "failed",
            ]
        };
        let counts: Vec<String> = self
            .counts
            .iter()
            .zip(labels)
            .filter(|(n, _)| **n > 0)
            .map(|(n, label)| format!("{n} {label}"))
            .collect();
        let mut summary = format!(
            "{}{} (from {})",
            if dry_run {
                "Dry run, nothing was written: "
            } else {
                ""
            },
            if counts.is_empty() {
                "no keys found".to_owned()
            } else {
                counts.join(", ")
            },
            source.display()
        );
        if self.sessions + self.sso_tokens > 0 {
            summary.push_str(&format!(
                "; left out {} and {} (not long-term keys)",
                plural(self.sessions, "aws-vault session"),
                plural(self.sso_tokens, "SSO token"),
            ));
        }
        output::line(&format!("{summary}."))?;
        let failed = self.counts[FAILED];
        if failed > 0 {
            return Err(ImportError::Incomplete { failed, dry_run }.into());
        }
        Ok(())
    }
}

fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// The vault, unlocked and opened; `None` for a dry run with no vault yet.
fn open_vault(ctx: &Context, dry_run: bool) -> Result<Option<(Vault, Keys, Payload)>, CliError> {
    if dry_run && !ctx.vault()?.exists() {
        output::status("There is no vault yet: every key counts as new.");
        return Ok(None);
    }
    let (vault, keys) = ctx.unlock()?;
    let payload = vault.open(&keys)?;
    Ok(Some((vault, keys, payload)))
}

/// Stores `found` (or, for a dry run, says what would happen) and reports
/// each. Returns the profiles whose key is in the vault afterwards.
fn store(
    opened: Option<(Vault, Keys, Payload)>,
    found: Vec<FoundKey>,
    common: &Common,
    report: &mut Report,
) -> Result<BTreeSet<String>, CliError> {
    let outcome: Vec<(String, Action)> = match opened {
        None => found
            .into_iter()
            .map(|k| (k.profile, Action::Add))
            .collect(),
        Some((_, _, payload)) if common.dry_run => {
            let actions = import::plan(&payload, &found, common.overwrite);
            found.into_iter().map(|k| k.profile).zip(actions).collect()
        }
        Some((vault, keys, payload)) => {
            let actions = import::plan(&payload, &found, common.overwrite);
            drop(payload);
            if actions.iter().any(|a| a.writes()) {
                // One write; `apply` plans again against the vault as it is
                // under the lock.
                vault.update(&keys, |payload| {
                    import::apply(&vault, payload, found, common.overwrite)
                })?
            } else {
                found.into_iter().map(|k| k.profile).zip(actions).collect()
            }
        }
    };
    let mut imported = BTreeSet::new();
    for (profile, action) in outcome {
        report.action(&profile, action, common.dry_run);
        if action.imported() {
            imported.insert(profile);
        }
    }
    Ok(imported)
}

/// Checks a key found at a source; `Err` is the reason to report.
fn check_key(
    profile: &str,
    access_key_id: &str,
    secret: &secrecy::SecretString,
) -> Result<(), String> {
    check_profile_name(profile).map_err(|e| e.to_string())?;
    check_access_key_id(access_key_id).map_err(|e| e.to_string())?;
    check_secret_key(secret).map_err(|e| e.to_string())
}

/// The profile's `mfa_serial` from the config, when it is a usable one.
fn mfa_serial_of(config: &AwsConfig, profile: &str) -> Option<String> {
    config
        .profile(profile)
        .and_then(|s| s.get("mfa_serial"))
        .filter(|serial| check_mfa_serial(serial).is_ok())
        .map(str::to_owned)
}

fn check_names(profiles: &[String]) -> Result<(), CliError> {
    profiles.iter().try_for_each(|p| check_profile_name(p))
}

/// The aws-vault passphrase: `AWS_VAULT_FILE_PASSPHRASE` (set but empty is
/// the empty passphrase, as in aws-vault), else typed on the terminal.
fn aws_vault_passphrase(dir: &Path) -> Result<(SecretSlice<u8>, &'static str), CliError> {
    if let Some(value) = std::env::var_os(PASSPHRASE_VAR) {
        // The bytes as they are, as aws-vault hands them to PBKDF2.
        return Ok((SecretSlice::from(value.into_vec()), PASSPHRASE_VAR));
    }
    let mut tty = Terminal::open().ok_or_else(|| ImportError::NoPassphrase(dir.to_owned()))?;
    let typed = tty
        .ask_hidden(&format!(
            "Passphrase of aws-vault's file backend {}: ",
            output::sanitize(&dir.display().to_string())
        ))
        .map_err(UnlockError::Terminal)?;
    Ok((
        SecretSlice::from(typed.expose_secret().as_bytes().to_vec()),
        "the passphrase typed on the terminal",
    ))
}

fn aws_vault(ctx: &Context, args: AwsVaultArgs) -> Result<(), CliError> {
    let common = &args.common;
    check_names(&common.profiles)?;
    let dir = match args.dir {
        Some(dir) => import::expand_tilde(dir),
        None => import::keyring_dir().ok_or(ImportError::NoPath {
            what: "aws-vault's file backend",
            var: "AWS_VAULT_FILE_DIR",
        })?,
    };
    let config = AwsConfig::load(&config::default_path()?)?;
    let mut report = Report::default();

    // Which items, by name alone: sessions and SSO tokens are never opened.
    let mut wanted: Vec<Item> = Vec::new();
    let mut named: BTreeSet<&str> = common.profiles.iter().map(String::as_str).collect();
    for item in import::list_keyring(&dir)? {
        let selected = match item.key() {
            Some(key) if !common.profiles.is_empty() => named.remove(key),
            _ => common.profiles.is_empty(),
        };
        let name = item.key().unwrap_or(item.file_name()).to_owned();
        match item.kind() {
            ItemKind::Credentials if selected => {
                report.seen(&name);
                wanted.push(item);
            }
            ItemKind::Session if common.profiles.is_empty() => report.sessions += 1,
            ItemKind::OidcToken if common.profiles.is_empty() => report.sso_tokens += 1,
            // Named on the command line, but not a profile's key.
            ItemKind::Session if selected => {
                report.skipped(&name, "an aws-vault session, not a long-term key")
            }
            ItemKind::OidcToken if selected => {
                report.skipped(&name, "an SSO token, not a long-term key")
            }
            _ => {}
        }
    }
    for missing in named {
        report.failed(missing, &format!("no such item in {}", dir.display()));
    }

    // Parse every item before asking for anything.
    let mut parsed = Vec::new();
    for item in wanted {
        let name = item.key().unwrap_or(item.file_name()).to_owned();
        if item.key().is_none() {
            report.failed(
                &name,
                &format!("file {}: {}", item.file_name(), ItemError::BadName),
            );
            continue;
        }
        match item.read() {
            Ok(_) => parsed.push(item),
            Err(e) => report.failed(&name, &format!("file {}: {e}", item.file_name())),
        }
    }
    if parsed.is_empty() {
        return report.finish(&dir, common.dry_run);
    }

    // The vault first: a wrong vault passphrase should cost no typing.
    let opened = open_vault(ctx, common.dry_run)?;
    let (passphrase, from) = aws_vault_passphrase(&dir)?;
    let mut found: Vec<FoundKey> = Vec::new();
    let mut unwrap_failures = 0;
    let tried = parsed.len();
    for item in &parsed {
        let profile = item.key().unwrap_or_default();
        let file = item.file_name();
        let creds = match import::decrypt_credentials(item, &passphrase) {
            Ok(creds) => creds,
            Err(e) => {
                if matches!(e, ItemError::Jwe(JweError::KeyUnwrap)) {
                    unwrap_failures += 1;
                }
                report.failed(profile, &format!("file {file}: {e}"));
                continue;
            }
        };
        if creds.temporary || creds.access_key_id.starts_with("ASIA") {
            report.skipped(profile, "temporary credentials (it has a session token)");
            continue;
        }
        if let Err(why) = check_key(profile, &creds.access_key_id, &creds.secret_access_key) {
            report.failed(profile, &format!("file {file}: {why}"));
            continue;
        }
        if found.iter().any(|k| k.profile == profile) {
            report.failed(
                profile,
                &format!("file {file}: another file holds this profile too"),
            );
            continue;
        }
        found.push(FoundKey {
            profile: profile.to_owned(),
            access_key_id: creds.access_key_id,
            secret_access_key: creds.secret_access_key,
            mfa_serial: mfa_serial_of(&config, profile),
        });
    }
    drop(passphrase);
    if unwrap_failures == tried {
        // Not one item opened: the passphrase is wrong; write nothing.
        return Err(ImportError::WrongPassphrase {
            dir,
            items: tried,
            from,
        }
        .into());
    }
    store(opened, found, common, &mut report)?;
    report.finish(&dir, common.dry_run)
}

fn aws_credentials(ctx: &Context, args: CredentialsArgs) -> Result<(), CliError> {
    let common = &args.common;
    check_names(&common.profiles)?;
    let path = match args.file {
        Some(path) => path,
        None => import::credentials_path()?,
    };
    let file = CredentialsFile::read(&path)?;
    let config_path = config::default_path()?;
    let config = AwsConfig::load(&config_path)?;
    let mut report = Report::default();

    let mut named: BTreeSet<&str> = common.profiles.iter().map(String::as_str).collect();
    let mut found = Vec::new();
    for section in file.sections() {
        let name = section.name.as_str();
        if !common.profiles.is_empty() && !named.remove(name) {
            continue;
        }
        report.seen(name);
        let at = format!("{}:{}", path.display(), section.line);
        let (id, secret) = match (&section.access_key_id, &section.secret_access_key) {
            _ if section.session_token => {
                report.skipped(name, "temporary credentials (it has aws_session_token)");
                continue;
            }
            (None, None) => {
                report.skipped(name, "no aws_access_key_id or aws_secret_access_key");
                continue;
            }
            (Some(_), None) | (None, Some(_)) => {
                report.failed(
                    name,
                    &format!("{at}: it needs both aws_access_key_id and aws_secret_access_key"),
                );
                continue;
            }
            _ if section.multi_line => {
                report.failed(name, &format!("{at}: a key spans several lines"));
                continue;
            }
            (Some(id), Some(secret)) => (id, secret),
        };
        if id.starts_with("ASIA") {
            report.skipped(name, "temporary credentials (an ASIA… key id)");
            continue;
        }
        if let Err(why) = check_key(name, id, secret) {
            report.failed(name, &format!("{at}: {why}"));
            continue;
        }
        let source = config
            .profile(name)
            .and_then(|s| s.get("source_profile"))
            .filter(|source| *source != name);
        if let Some(source) = source {
            report.skipped(
                name,
                &format!("its config has source_profile = {source}, so its keys would not be used"),
            );
            continue;
        }
        found.push(FoundKey {
            profile: name.to_owned(),
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            mfa_serial: mfa_serial_of(&config, name),
        });
    }
    for missing in named {
        report.failed(
            missing,
            &format!("no [{missing}] section in {}", path.display()),
        );
    }

    let imported = if found.is_empty() {
        BTreeSet::new()
    } else {
        let opened = open_vault(ctx, common.dry_run)?;
        store(opened, found, common, &mut report)?
    };
    if !common.dry_run {
        for profile in &imported {
            if config::append_profile(&config_path, profile, None)? {
                let section = if profile == "default" {
                    "[default]".to_owned()
                } else {
                    format!("[profile {profile}]")
                };
                output::status(&format!("Added {section} to {}.", config_path.display()));
            }
        }
    }
    if args.scrub && !imported.is_empty() {
        if common.dry_run {
            let (_, keys) = file.scrubbed(&imported);
            output::status(&format!(
                "--scrub would remove {keys} key lines from {}.",
                path.display()
            ));
        } else {
            let keys = file.scrub(&imported)?;
            output::status(&format!(
                "Removed {keys} key lines from {}.",
                path.display()
            ));
        }
    }
    report.finish(&path, common.dry_run)
}
