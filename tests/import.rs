//! `avault import aws-vault` against a real aws-vault v7.2 file backend
//! (../shared/fixtures/aws-vault-file-backend, copied per test), and
//! `avault import aws-credentials` against credentials files written here.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use secrecy::ExposeSecret;
use support::{Run, Sandbox, KEY_ID, SECRET};

/// The fixture's passphrase and items (its README).
const AWS_VAULT_PASSPHRASE: &str = "correct horse battery staple";
const ITEMS: [(&str, &str, &str); 3] = [
    (
        "alice",
        "AKIAIOSFODNN7ALICE01",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzALICEKEY1",
    ),
    (
        "bob-prod",
        "AKIAIOSFODNN7BOBPRD1",
        "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbBOBPRODKEY",
    ),
    (
        "team/ops%1",
        "AKIAIOSFODNN7TEAMOPS",
        "k3yW1thSl@sh+Plus/Equals=TEAMOPSKEY12",
    ),
];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/aws-vault-file-backend")
}

/// A sandbox with an identity vault and a copy of the fixture in
/// `HOME/keys` (the originals are read-only).
struct World {
    s: Sandbox,
    identity: String,
}

impl World {
    fn new() -> World {
        let s = Sandbox::new();
        let (identity, _) = s.init_identity();
        let keys = s.home().join("keys");
        fs::create_dir(&keys).expect("mkdir keys");
        for entry in fs::read_dir(fixture_dir()).expect("the fixture (../shared beside the clone)")
        {
            let entry = entry.expect("entry");
            let to = keys.join(entry.file_name());
            fs::copy(entry.path(), &to).expect("copy");
            fs::set_permissions(&to, fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        World { s, identity }
    }

    fn keys(&self) -> PathBuf {
        self.s.home().join("keys")
    }

    /// `avault import ARGS` with the vault's identity and `env`.
    fn import(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut all = vec!["import"];
        all.extend_from_slice(args);
        let mut env = env.to_vec();
        env.push(("AVAULT_IDENTITY", &self.identity));
        let out = self.s.run(&all, &env);
        for text in [out.stdout(), out.stderr()] {
            for (_, _, secret) in ITEMS {
                assert!(!text.contains(secret), "a secret key leaked: {text}");
            }
        }
        out
    }

    /// `avault import aws-vault --dir HOME/keys ARGS` with the fixture's passphrase.
    fn import_aws_vault(&self, args: &[&str]) -> Run {
        let keys = self.keys();
        let mut all = vec!["aws-vault", "--dir", keys.to_str().expect("utf-8")];
        all.extend_from_slice(args);
        self.import(&all, &[("AWS_VAULT_FILE_PASSPHRASE", AWS_VAULT_PASSPHRASE)])
    }

    /// Profile → (key id, secret) as stored.
    fn stored(&self) -> Vec<(String, String, String)> {
        let keys = avault::unlock::Keys::new(
            avault::unlock::parse_identity(&self.identity).expect("identity"),
            None,
        );
        let payload = avault::vault::Vault::at(self.s.vault())
            .open(&keys)
            .expect("open the vault");
        payload
            .profiles
            .iter()
            .map(|(name, p)| {
                (
                    name.clone(),
                    p.access_key_id.clone(),
                    p.secret_access_key.expose_secret().to_owned(),
                )
            })
            .collect()
    }
}

fn owned(items: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect()
}

/// Rewrites segment `index` of the JWE in `path` with `change`.
fn edit_segment(path: &Path, index: usize, change: impl FnOnce(&mut Vec<u8>)) {
    let text = fs::read_to_string(path).expect("read item");
    let mut parts: Vec<String> = text.trim().split('.').map(str::to_owned).collect();
    let mut bytes = URL_SAFE_NO_PAD.decode(&parts[index]).expect("base64url");
    change(&mut bytes);
    parts[index] = URL_SAFE_NO_PAD.encode(bytes);
    fs::write(path, parts.join(".")).expect("write item");
}

#[test]
fn imports_exactly_the_items_aws_vault_wrote() {
    let w = World::new();
    let out = w.import_aws_vault(&[]);
    out.success();
    assert_eq!(
        out.stdout(),
        "alice       imported\n\
         bob-prod    imported\n\
         team/ops%1  imported\n\
         3 imported (from "
            .to_owned()
            + &w.keys().display().to_string()
            + ").\n"
    );
    assert_eq!(w.stored(), owned(&ITEMS));
    // aws-vault's own config is untouched by this import: none is written.
    assert!(!w.s.config().exists());
    assert_eq!(
        w.s.run(
            &["list", "--credentials"],
            &[("AVAULT_IDENTITY", &w.identity)]
        )
        .success()
        .stdout(),
        "alice\nbob-prod\nteam/ops%1\n"
    );
}

#[test]
fn the_directory_comes_from_aws_vault_file_dir_or_home() {
    let w = World::new();
    let keys = w.keys();
    let pass = ("AWS_VAULT_FILE_PASSPHRASE", AWS_VAULT_PASSPHRASE);
    w.import(
        &["aws-vault", "alice"],
        &[pass, ("AWS_VAULT_FILE_DIR", keys.to_str().expect("utf-8"))],
    )
    .success();
    // Default: ~/.awsvault/keys.
    w.import(&["aws-vault", "bob-prod"], &[pass])
        .fails_with("no aws-vault file backend at");
    let default = w.s.home().join(".awsvault");
    fs::create_dir(&default).expect("mkdir");
    fs::rename(&keys, default.join("keys")).expect("move");
    w.import(&["aws-vault", "bob-prod"], &[pass]).success();
    assert_eq!(w.stored(), owned(&ITEMS[..2]));
}

#[test]
fn a_wrong_passphrase_is_a_clear_error_and_leaves_the_vault_byte_identical() {
    let w = World::new();
    let before = w.s.vault_bytes();
    let keys = w.keys();
    let dir = ["aws-vault", "--dir", keys.to_str().expect("utf-8")];
    let out = w.import(
        &dir,
        &[("AWS_VAULT_FILE_PASSPHRASE", "correct horse battery")],
    );
    out.fails_with(
        "the aws-vault passphrase (AWS_VAULT_FILE_PASSPHRASE) opens none of the 3 items",
    );
    assert!(
        out.stderr().contains("the vault was not changed"),
        "{}",
        out.stderr()
    );
    assert_eq!(out.stdout(), "");
    // No passphrase at all, and no terminal: said at once.
    w.import(&dir, &[])
        .fails_with("AWS_VAULT_FILE_PASSPHRASE is not set and there is no terminal");
    assert_eq!(before, w.s.vault_bytes(), "the vault changed");
}

#[test]
fn a_tampered_item_is_reported_by_file_name_and_the_others_are_imported() {
    let w = World::new();
    // One bit of bob-prod's ciphertext.
    edit_segment(&w.keys().join("bob-prod"), 3, |b| b[10] ^= 0x20);
    let out = w.import_aws_vault(&[]);
    out.fails_with("1 of the profiles could not be imported");
    assert!(
        out.stdout().contains(
            "bob-prod    failed: file bob-prod: its contents fail authentication (damaged or altered)"
        ),
        "{}",
        out.stdout()
    );
    assert!(
        out.stdout().contains("2 imported, 1 failed"),
        "{}",
        out.stdout()
    );
    assert_eq!(w.stored(), owned(&[ITEMS[0], ITEMS[2]]));

    // An item written with another passphrase (aws-vault never checks it)
    // is reported the same way; the percent-encoded file name is shown.
    let other = w.s.home().join("other");
    fs::create_dir(&other).expect("mkdir");
    fs::copy(
        w.keys().join("team%2Fops%251"),
        other.join("team%2Fops%251"),
    )
    .expect("copy");
    fs::copy(w.keys().join("alice"), other.join("alice")).expect("copy");
    edit_segment(&other.join("team%2Fops%251"), 1, |b| b[0] ^= 1);
    let out = w.import(
        &[
            "aws-vault",
            "--dir",
            other.to_str().expect("utf-8"),
            "--overwrite",
        ],
        &[("AWS_VAULT_FILE_PASSPHRASE", AWS_VAULT_PASSPHRASE)],
    );
    out.fails_with("could not be imported");
    assert!(
        out.stdout()
            .contains("team/ops%1  failed: file team%2Fops%251: the passphrase does not open it"),
        "{}",
        out.stdout()
    );
}

#[test]
fn an_iteration_count_of_ten_million_is_refused_before_any_key_derivation() {
    let w = World::new();
    let item = w.keys().join("alice");
    edit_segment(&item, 0, |header| {
        let text = String::from_utf8(header.clone()).expect("utf-8");
        assert!(text.contains(r#""p2c":8192"#), "{text}");
        *header = text
            .replace(r#""p2c":8192"#, r#""p2c":10000000"#)
            .into_bytes();
    });
    let refusal =
        "failed: file alice: its PBES2 iteration count 10000000 is above the limit of 1300000";

    // With no passphrase and no terminal: the item is refused from its
    // header alone, so the passphrase is never even asked for.
    let lone = w.s.home().join("lone");
    fs::create_dir(&lone).expect("mkdir");
    fs::copy(&item, lone.join("alice")).expect("copy");
    let started = Instant::now();
    let out = w.import(&["aws-vault", "--dir", lone.to_str().expect("utf-8")], &[]);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    out.fails_with("1 of the profiles could not be imported");
    assert!(out.stdout().contains(refusal), "{}", out.stdout());
    assert!(!out.stderr().contains("passphrase"), "{}", out.stderr());

    // Beside good items: refused fast, the others imported.
    let started = Instant::now();
    let out = w.import_aws_vault(&[]);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    out.fails_with("could not be imported");
    assert!(out.stdout().contains(refusal), "{}", out.stdout());
    assert_eq!(w.stored(), owned(&ITEMS[1..]));
}

#[test]
fn sessions_and_sso_tokens_are_left_out_and_counted_without_being_opened() {
    let w = World::new();
    // Not even JWEs: they must never be read as items.
    for name in [
        "sts.GetSessionToken,YWxpY2U,,1700000000",
        "sts.AssumeRole,Ym9iLXByb2Q,YXJuOmF3czppYW06OjEyMzQ1Njc4OTAxMjptZmEvYm9i,1700000000",
        "oidc:https:%2F%2Fexample.awsapps.com%2Fstart",
        ".DS_Store",
    ] {
        fs::write(w.keys().join(name), "not a jwe").expect("write");
    }
    fs::create_dir(w.keys().join("subdir")).expect("mkdir");
    let session = "sts.GetSessionToken,YWxpY2U,,1700000000";
    let named = w.import_aws_vault(&["--dry-run", session]);
    assert!(
        named.success().stdout().starts_with(&format!(
            "{session}  skipped: an aws-vault session, not a long-term key\n"
        )),
        "{}",
        named.stdout()
    );
    let out = w.import_aws_vault(&[]);
    out.success();
    assert!(
        out.stdout().ends_with(&format!(
            "3 imported (from {}); left out 2 aws-vault sessions and 1 SSO token (not long-term keys).\n",
            w.keys().display()
        )),
        "{}",
        out.stdout()
    );
    assert_eq!(w.stored(), owned(&ITEMS));
}

#[test]
fn dry_run_writes_nothing() {
    let w = World::new();
    let before = w.s.vault_bytes();
    let out = w.import_aws_vault(&["--dry-run"]);
    out.success();
    assert!(
        out.stdout().contains("team/ops%1  would import\n"),
        "{}",
        out.stdout()
    );
    assert!(
        out.stdout()
            .contains("Dry run, nothing was written: 3 to import"),
        "{}",
        out.stdout()
    );
    assert_eq!(before, w.s.vault_bytes());
    assert!(w.stored().is_empty());

    // With no vault yet, a dry run still shows what is there.
    let fresh = Sandbox::new();
    let out = fresh.run(
        &[
            "import",
            "aws-vault",
            "--dry-run",
            "--dir",
            w.keys().to_str().expect("utf-8"),
        ],
        &[("AWS_VAULT_FILE_PASSPHRASE", AWS_VAULT_PASSPHRASE)],
    );
    out.success();
    assert!(
        out.stdout().contains("alice       would import"),
        "{}",
        out.stdout()
    );
    assert!(!fresh.vault().exists());
}

#[test]
fn a_name_clash_keeps_the_stored_key_unless_overwrite() {
    let w = World::new();
    w.s.add("alice", ("AVAULT_IDENTITY", &w.identity)).success();
    let out = w.import_aws_vault(&[]);
    out.success();
    assert!(
        out.stdout()
            .contains("alice       kept the stored key, which differs (--overwrite replaces it)\n"),
        "{}",
        out.stdout()
    );
    let mut expected = owned(&ITEMS);
    expected[0] = ("alice".into(), KEY_ID.into(), SECRET.into());
    assert_eq!(w.stored(), expected);

    // A dry run with --overwrite says what it would do, and does nothing.
    let before = w.s.vault_bytes();
    let out = w.import_aws_vault(&["--dry-run", "--overwrite", "alice"]);
    assert_eq!(
        out.success().stdout().lines().next(),
        Some("alice  would replace the stored key")
    );
    assert_eq!(before, w.s.vault_bytes());

    let out = w.import_aws_vault(&["--overwrite", "alice", "nobody"]);
    out.fails_with("1 of the profiles could not be imported");
    assert!(
        out.stdout()
            .contains("alice   imported, replacing the stored key\n"),
        "{}",
        out.stdout()
    );
    assert!(
        out.stdout().contains("nobody  failed: no such item in"),
        "{}",
        out.stdout()
    );
    assert_eq!(w.stored(), owned(&ITEMS));

    // Everything already there: nothing to write.
    let before = w.s.vault_bytes();
    let out = w.import_aws_vault(&[]);
    assert!(
        out.success().stdout().contains("3 already there"),
        "{}",
        out.stdout()
    );
    assert_eq!(before, w.s.vault_bytes());
}

const CREDENTIALS: &str = "# written by aws configure\n\
[default]\n\
aws_access_key_id = AKIAIOSFODNN7DEFAULT\n\
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzDEFAULTKEY\n\
region = eu-west-1\n\
\n\
[temp]\n\
aws_access_key_id = ASIAIOSFODNN7TEMPKEY\n\
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzTEMPORARY1\n\
aws_session_token = FwoGZXIvYXdzEXAMPLETOKEN\n\
\n\
; settings only\r\n\
[tools]\r\n\
output = json\r\n\
\n\
[prod]\n\
# the CI user\n\
aws_access_key_id=AKIAIOSFODNN7PRODKEY\n\
aws_secret_access_key=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\n\
mfa_serial = arn:aws:iam::123456789012:mfa/ci\n";

#[test]
fn credentials_file_sections_with_a_session_token_are_skipped() {
    let w = World::new();
    let path = w.s.home().join(".aws/credentials");
    fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    fs::write(&path, CREDENTIALS).expect("write");
    w.s.write_config("[profile prod]\nregion = us-east-1\n");
    let out = w.import(&["aws-credentials"], &[]);
    out.success();
    assert_eq!(
        out.stdout(),
        format!(
            "default  imported\n\
             temp     skipped: temporary credentials (it has aws_session_token)\n\
             tools    skipped: no aws_access_key_id or aws_secret_access_key\n\
             prod     imported\n\
             2 imported, 2 skipped (from {}).\n",
            path.display()
        )
    );
    assert_eq!(
        w.stored(),
        owned(&[
            (
                "default",
                "AKIAIOSFODNN7DEFAULT",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzDEFAULTKEY"
            ),
            (
                "prod",
                "AKIAIOSFODNN7PRODKEY",
                "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbPRODKEY000"
            ),
        ])
    );
    // [default] was missing from the config and is added; prod was there.
    assert_eq!(
        fs::read_to_string(w.s.config()).expect("config"),
        "[profile prod]\nregion = us-east-1\n\n[default]\n"
    );
    assert!(
        out.stderr().contains("Added [default] to"),
        "{}",
        out.stderr()
    );
    // Without --scrub the file is left alone.
    assert_eq!(fs::read_to_string(&path).expect("read"), CREDENTIALS);
}

#[test]
fn scrub_removes_the_imported_keys_and_keeps_every_other_byte() {
    let w = World::new();
    let dir = w.s.home().join("creds");
    fs::create_dir(&dir).expect("mkdir");
    let path = dir.join("credentials");
    fs::write(&path, CREDENTIALS).expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let file = path.to_str().expect("utf-8");

    // A dry run says what it would remove and removes nothing.
    let out = w.import(
        &["aws-credentials", "--file", file, "--scrub", "--dry-run"],
        &[],
    );
    assert!(
        out.success()
            .stderr()
            .contains("--scrub would remove 4 key lines"),
        "{}",
        out.stderr()
    );
    assert_eq!(fs::read_to_string(&path).expect("read"), CREDENTIALS);

    let out = w.import(
        &["aws-credentials", "--scrub", "prod", "default"],
        &[("AWS_SHARED_CREDENTIALS_FILE", file)],
    );
    assert!(
        out.success().stderr().contains("Removed 4 key lines from"),
        "{}",
        out.stderr()
    );
    let expected = "# written by aws configure\n\
[default]\n\
region = eu-west-1\n\
\n\
[temp]\n\
aws_access_key_id = ASIAIOSFODNN7TEMPKEY\n\
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzTEMPORARY1\n\
aws_session_token = FwoGZXIvYXdzEXAMPLETOKEN\n\
\n\
; settings only\r\n\
[tools]\r\n\
output = json\r\n\
\n\
[prod]\n\
# the CI user\n\
mfa_serial = arn:aws:iam::123456789012:mfa/ci\n";
    assert_eq!(fs::read_to_string(&path).expect("read"), expected);
    let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // No backup, no temp file: the directory holds the one file.
    let names: Vec<_> = fs::read_dir(&dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["credentials"]);
    assert_eq!(w.stored().len(), 2);
    // The mfa_serial of the section does not come along (it is config's).
    assert!(fs::read_to_string(w.s.config())
        .expect("config")
        .contains("[profile prod]\n"));

    // Nothing left to import or scrub: the file stays as it is.
    let out = w.import(&["aws-credentials", "--file", file, "--scrub"], &[]);
    out.success();
    assert_eq!(fs::read_to_string(&path).expect("read"), expected);
}

#[test]
fn scrub_leaves_a_kept_clashing_key_in_the_file() {
    let w = World::new();
    w.s.add("prod", ("AVAULT_IDENTITY", &w.identity)).success();
    let path = w.s.home().join("credentials");
    fs::write(&path, CREDENTIALS).expect("write");
    let out = w.import(
        &[
            "aws-credentials",
            "--file",
            path.to_str().expect("utf-8"),
            "--scrub",
            "prod",
        ],
        &[],
    );
    out.success();
    assert!(
        out.stdout().contains("prod  kept the stored key"),
        "{}",
        out.stdout()
    );
    // prod's key was not imported, so it stays in the file.
    assert_eq!(fs::read_to_string(&path).expect("read"), CREDENTIALS);
}

#[test]
fn import_needs_a_source_and_checks_names() {
    let s = Sandbox::new();
    assert_eq!(s.run(&["import"], &[]).code(), Some(2));
    assert_eq!(s.run(&["import", "aws-vault", "a]b"], &[]).code(), Some(2));
    s.run(&["import", "aws-credentials"], &[])
        .fails_with("no credentials file at");
}

/// A vault whose passphrase differs from aws-vault's.
const VAULT_PASSPHRASE: &str = "the avault passphrase";

fn passphrase_vault(s: &Sandbox) {
    s.run(
        &["init", "--kdf-memory", "1", "--kdf-time", "1"],
        &[("AVAULT_PASSPHRASE", VAULT_PASSPHRASE)],
    )
    .success();
}

#[test]
fn aws_vault_file_passphrase_is_aws_vaults_and_unlocks_avault_only_as_its_usual_fallback() {
    let w = World::new();
    let keys = w.keys();
    let dir = [
        "import",
        "aws-vault",
        "--dir",
        keys.to_str().expect("utf-8"),
    ];
    let s = Sandbox::new();
    passphrase_vault(&s);
    let before = s.vault_bytes();
    // Only AWS_VAULT_FILE_PASSPHRASE: it is aws-vault's passphrase, and, as
    // for every command, avault's own fallback; here it does not open the
    // vault, which is said before anything is decrypted.
    s.run(&dir, &[("AWS_VAULT_FILE_PASSPHRASE", AWS_VAULT_PASSPHRASE)])
        .fails_with("no unlocker matched");
    assert_eq!(before, s.vault_bytes());
    // AVAULT_PASSPHRASE opens the vault; AWS_VAULT_FILE_PASSPHRASE stays
    // aws-vault's.
    s.run(
        &dir,
        &[
            ("AVAULT_PASSPHRASE", VAULT_PASSPHRASE),
            ("AWS_VAULT_FILE_PASSPHRASE", AWS_VAULT_PASSPHRASE),
        ],
    )
    .success();

    // One passphrase for both (what `avault init` makes when only
    // AWS_VAULT_FILE_PASSPHRASE is set): the variable alone does it all.
    let same = Sandbox::new();
    same.init_passphrase(); // support::PASSPHRASE, which is the fixture's
    assert_eq!(support::PASSPHRASE, AWS_VAULT_PASSPHRASE);
    let out = same.run(&dir, &[("AWS_VAULT_FILE_PASSPHRASE", AWS_VAULT_PASSPHRASE)]);
    assert!(
        out.success().stdout().contains("3 imported"),
        "{}",
        out.stdout()
    );
}

/// Both passphrases typed on a terminal (a pty standing in for /dev/tty):
/// the vault's first, then aws-vault's, each under its own prompt.
#[test]
fn both_passphrases_are_asked_on_the_terminal_each_by_name() {
    use std::io::{Read, Write};
    use std::sync::mpsc;

    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};

    let w = World::new();
    let s = Sandbox::new();
    passphrase_vault(&s);
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let tty = ptsname(&master, Vec::new())
        .expect("ptsname")
        .into_string()
        .expect("utf-8");
    // Held open so the master never reads EIO between opens.
    let _slave = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&tty)
        .expect("open slave");
    let mut master = fs::File::from(master);
    let mut reader = master.try_clone().expect("clone");
    let (tx, seen) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });

    let mut cmd = s.cmd();
    cmd.args(["import", "aws-vault", "--dir"])
        .arg(w.keys())
        .env("AVAULT_TTY", &tty)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    let mut shown = String::new();
    let vault_prompt = format!("Passphrase for {}: ", s.vault().display());
    let aws_vault_prompt = format!(
        "Passphrase of aws-vault's file backend {}: ",
        w.keys().display()
    );
    for (prompt, answer) in [
        (vault_prompt.as_str(), VAULT_PASSPHRASE),
        (aws_vault_prompt.as_str(), AWS_VAULT_PASSPHRASE),
    ] {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !shown.contains(prompt) {
            let left = deadline.saturating_duration_since(Instant::now());
            match seen.recv_timeout(left) {
                Ok(chunk) => shown.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!("no prompt {prompt:?}; the terminal showed {shown:?}"),
            }
        }
        shown = shown
            .split_once(prompt)
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_default();
        master
            .write_all(format!("{answer}\n").as_bytes())
            .expect("type");
    }
    let out = Run(child.wait_with_output().expect("wait"));
    assert!(
        out.success().stdout().contains("3 imported"),
        "{}",
        out.stdout()
    );
    assert!(!shown.contains(AWS_VAULT_PASSPHRASE), "echoed: {shown:?}");
}
