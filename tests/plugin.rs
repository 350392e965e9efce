//! Plugin unlockers end to end, through the test plugin
//! `tests/support/age-plugin-avaulttest` (Python 3, standard library only):
//! avault seals for it by running the plugin's recipient-v1 state machine,
//! and opens with an `AGE-PLUGIN-AVAULTTEST-1…` identity through identity-v1.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use support::{Run, Sandbox, KEY_ID, PASSPHRASE, SECRET};

const PW: (&str, &str) = ("AVAULT_PASSPHRASE", PASSPHRASE);
const PLUGIN: &str = "age-plugin-avaulttest";

fn support_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support")
}

/// PATH with the test plugin first.
fn path_with_plugin() -> String {
    let plugin = support_dir().join(PLUGIN);
    let mode = fs::metadata(&plugin)
        .expect("the test plugin")
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "{} is not executable", plugin.display());
    let inherited = std::env::var("PATH").unwrap_or_default();
    format!("{}:{inherited}", support_dir().display())
}

/// A fresh plugin identity (`AGE-PLUGIN-AVAULTTEST-1…`) and its recipient.
fn generate() -> (String, String) {
    let out = Command::new(support_dir().join(PLUGIN))
        .arg("--generate")
        .output()
        .expect("run the test plugin (needs python3)");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf8");
    let mut lines = text.lines();
    let identity = lines.next().expect("identity line").to_owned();
    let recipient = lines.next().expect("recipient line").to_owned();
    assert!(
        identity.starts_with("AGE-PLUGIN-AVAULTTEST-1"),
        "{identity}"
    );
    assert!(recipient.starts_with("age1avaulttest1"), "{recipient}");
    (identity, recipient)
}

/// A sandbox that runs avault with the test plugin on PATH.
struct Env {
    s: Sandbox,
    path: String,
}

impl Env {
    fn new() -> Env {
        Env {
            s: Sandbox::new(),
            path: path_with_plugin(),
        }
    }

    /// For tests of which identity opens the vault: see
    /// `Sandbox::without_agent`.
    fn without_agent() -> Env {
        Env {
            s: Sandbox::without_agent(),
            path: path_with_plugin(),
        }
    }

    /// Runs avault with the plugin on PATH, and checks that no plugin
    /// identity (a secret) reaches its output.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut env = env.to_vec();
        env.push(("PATH", &self.path));
        let out = self.s.run(args, &env);
        for text in [out.stdout(), out.stderr()] {
            assert!(
                !text.contains("AGE-PLUGIN-AVAULTTEST-"),
                "plugin identity leaked: {text}"
            );
        }
        out
    }

    fn add(&self, profile: &str, unlock: (&str, &str)) -> Run {
        self.run(
            &["add", profile, "--env"],
            &[
                unlock,
                ("AWS_ACCESS_KEY_ID", KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", SECRET),
            ],
        )
    }

    /// `init --passphrase --recipient RECIPIENT` with a cheap KDF.
    fn init_with(&self, recipient: &str) {
        self.run(
            &[
                "init",
                "--passphrase",
                "--recipient",
                recipient,
                "--kdf-memory",
                "1",
                "--kdf-time",
                "1",
            ],
            &[PW],
        )
        .success();
    }

    /// The vault's header stanza lines of the test plugin.
    fn plugin_stanzas(&self) -> Vec<String> {
        let bytes = self.s.vault_bytes();
        let text = String::from_utf8_lossy(&bytes);
        let header = text.split("\n--- ").next().expect("header").to_owned();
        header
            .lines()
            .filter(|l| l.starts_with("-> avaulttest "))
            .map(str::to_owned)
            .collect()
    }
}

#[test]
fn plugin_identity_opens_the_vault_literal_and_from_a_file() {
    let e = Env::new();
    let (identity, recipient) = generate();
    e.init_with(&recipient);
    // The header holds one stanza of the plugin's, with its 12-byte nonce.
    let stanzas = e.plugin_stanzas();
    assert_eq!(stanzas.len(), 1, "{stanzas:?}");
    let args: Vec<&str> = stanzas[0].split(' ').collect();
    assert_eq!(args.len(), 3, "{stanzas:?}");
    assert_eq!(args[2].len(), 16, "nonce: {stanzas:?}");

    // A write unlocked by the literal identity only.
    e.add("ci", ("AVAULT_IDENTITY", &identity)).success();
    let file = e.s.home().join("avaulttest.txt");
    fs::write(
        &file,
        format!("# created: now\n# public key: {recipient}\n{identity}\n"),
    )
    .expect("write identity file");
    let out = e.run(
        &["list", "--credentials"],
        &[("AVAULT_IDENTITY", file.to_str().expect("utf8"))],
    );
    assert_eq!(out.success().stdout(), "ci\n");
    let out = e.run(&["list", "--credentials"], &[PW]);
    assert_eq!(out.success().stdout(), "ci\n");
}

#[test]
fn unlockers_lists_the_plugin_recipient_as_type_plugin() {
    let e = Env::new();
    let (identity, recipient) = generate();
    e.init_with(&recipient);
    let listed = e.run(&["unlockers"], &[("AVAULT_IDENTITY", &identity)]);
    let listed = listed.success().stdout();
    let row = listed
        .lines()
        .find(|l| l.contains(&recipient))
        .unwrap_or_else(|| panic!("no row for the recipient: {listed}"));
    assert_eq!(row.split_whitespace().nth(1), Some("plugin"), "{listed}");
    assert!(listed.lines().any(|l| l.contains("passphrase")), "{listed}");
}

#[test]
fn a_passphrase_write_reseals_for_the_plugin() {
    let e = Env::new();
    let (identity, recipient) = generate();
    e.init_with(&recipient);
    let before = e.plugin_stanzas();
    // The passphrase opens; sealing the new file key runs the plugin.
    e.add("prod", PW).success();
    let after = e.plugin_stanzas();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(before, after, "the plugin stanza was not made anew");
    let out = e.run(
        &["list", "--credentials"],
        &[("AVAULT_IDENTITY", &identity)],
    );
    assert_eq!(out.success().stdout(), "prod\n");
}

#[test]
fn a_plugin_recipient_added_later_works() {
    let e = Env::new();
    e.s.init_passphrase();
    e.add("prod", PW).success();
    let (identity, recipient) = generate();
    e.run(&["unlockers", "add", "--recipient", &recipient], &[PW])
        .success();
    assert_eq!(e.plugin_stanzas().len(), 1);
    let out = e.run(
        &["list", "--credentials"],
        &[("AVAULT_IDENTITY", &identity)],
    );
    assert_eq!(out.success().stdout(), "prod\n");
    // The same recipient twice is refused.
    let out = e.run(&["unlockers", "add", "--recipient", &recipient], &[PW]);
    assert_eq!(out.code(), Some(1), "{}", out.stderr());
}

#[test]
fn a_wrong_plugin_identity_matches_nothing_and_changes_nothing() {
    let e = Env::without_agent();
    let (_, recipient) = generate();
    e.init_with(&recipient);
    e.add("prod", PW).success();
    let before = e.s.vault_bytes();
    let (stranger, _) = generate();
    e.run(&["list"], &[("AVAULT_IDENTITY", &stranger)])
        .fails_with("no unlocker matched");
    e.add("other", ("AVAULT_IDENTITY", &stranger))
        .fails_with("no unlocker matched");
    e.run(
        &["unlockers", "remove", &recipient],
        &[("AVAULT_IDENTITY", &stranger)],
    )
    .fails_with("no unlocker matched");
    assert_eq!(before, e.s.vault_bytes());
}

#[test]
fn without_the_plugin_on_path_a_write_fails_naming_it() {
    let e = Env::without_agent();
    let (identity, recipient) = generate();
    e.init_with(&recipient);
    e.add("prod", PW).success();
    let before = e.s.vault_bytes();
    // The inherited PATH (python3 is still there), without tests/support.
    let bare = std::env::var("PATH").unwrap_or_default();
    let out = e.s.run(
        &["add", "other", "--env"],
        &[
            PW,
            ("PATH", &bare),
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    );
    out.fails_with(&format!("{PLUGIN} is not on PATH"));
    assert_eq!(before, e.s.vault_bytes());
    // Reading needs no sealing: the passphrase still lists the vault.
    let out = e.s.run(&["list", "--credentials"], &[PW, ("PATH", &bare)]);
    assert_eq!(out.success().stdout(), "prod\n");
    // The identity cannot be used without its plugin, and says which one.
    let out = e.s.run(
        &["list"],
        &[("AVAULT_IDENTITY", &identity), ("PATH", &bare)],
    );
    out.fails_with(PLUGIN);
    assert!(!out.stderr().contains(&identity), "{}", out.stderr());
    assert_eq!(before, e.s.vault_bytes());
}

#[test]
fn unlockers_remove_of_the_plugin_recipient() {
    let e = Env::without_agent();
    let (identity, recipient) = generate();
    e.init_with(&recipient);
    e.add("prod", PW).success();
    // Unlocked by the plugin itself: re-keying the passphrase needs it too.
    e.run(
        &["unlockers", "remove", &recipient],
        &[("AVAULT_IDENTITY", &identity)],
    )
    .fails_with("re-key");
    e.run(&["unlockers", "rm", &recipient], &[PW]).success();
    assert!(e.plugin_stanzas().is_empty());
    let listed = e.run(&["unlockers"], &[PW]);
    assert!(!listed.success().stdout().contains(&recipient));
    e.run(&["list"], &[("AVAULT_IDENTITY", &identity)])
        .fails_with("no unlocker matched");
    let out = e.run(&["list", "--credentials"], &[PW]);
    assert_eq!(out.success().stdout(), "prod\n");
}

#[test]
fn a_vault_for_the_plugin_alone() {
    let e = Env::new();
    let (identity, recipient) = generate();
    e.run(&["init", "--recipient", &recipient], &[]).success();
    let id = ("AVAULT_IDENTITY", identity.as_str());
    e.add("a", id).success();
    e.add("b", id).success();
    let out = e.run(&["list", "--credentials"], &[id]);
    assert_eq!(out.success().stdout(), "a\nb\n");
    e.run(&["unlockers", "remove", &recipient], &[id])
        .fails_with("last unlocker");
}

/// Well-formed Bech32 of the plugin's HRPs, over a key of the wrong length:
/// age hands them to the plugin, which refuses them.
fn refused_by_the_plugin() -> (String, String) {
    let identity_hrp = bech32::Hrp::parse("age-plugin-avaulttest-").expect("hrp");
    let identity = bech32::encode::<bech32::Bech32>(identity_hrp, &[7u8; 31])
        .expect("bech32")
        .to_uppercase();
    let recipient_hrp = bech32::Hrp::parse("age1avaulttest").expect("hrp");
    let recipient = bech32::encode::<bech32::Bech32>(recipient_hrp, &[7u8; 31]).expect("bech32");
    (identity, recipient)
}

#[test]
fn an_identity_the_plugin_refuses_is_its_error_not_a_damaged_vault() {
    let e = Env::new();
    let (_, recipient) = generate();
    e.init_with(&recipient);
    let before = e.s.vault_bytes();
    let (refused, _) = refused_by_the_plugin();
    let out = e.run(&["list"], &[("AVAULT_IDENTITY", &refused)]);
    out.fails_with("not an avaulttest identity");
    assert!(!out.stderr().contains("damaged"), "{}", out.stderr());
    assert_eq!(before, e.s.vault_bytes());
}

#[test]
fn a_recipient_the_plugin_refuses_fails_the_write_and_changes_nothing() {
    let e = Env::new();
    let (_, recipient) = generate();
    e.init_with(&recipient);
    let before = e.s.vault_bytes();
    let (_, refused) = refused_by_the_plugin();
    let out = e.run(&["unlockers", "add", "-r", &refused], &[PW]);
    out.fails_with("cannot encrypt the vault");
    // age's message names the plugin and the recipient, then the plugin's.
    for needle in [PLUGIN, refused.as_str(), "not an avaulttest recipient"] {
        assert!(out.stderr().contains(needle), "{needle}: {}", out.stderr());
    }
    assert!(!out.stderr().contains("malformed"), "{}", out.stderr());
    // Without the bidi isolates of age's localized messages.
    assert!(
        !out.stderr().contains(['\u{2068}', '\u{2069}']),
        "{:?}",
        out.stderr()
    );
    assert_eq!(before, e.s.vault_bytes());
}

#[test]
fn a_plugin_that_dies_is_reported_and_changes_nothing() {
    let e = Env::without_agent();
    let (identity, recipient) = generate();
    e.init_with(&recipient);
    e.add("prod", PW).success();
    let before = e.s.vault_bytes();
    // An age-plugin-avaulttest that exits at once, first on PATH.
    let bin = e.s.home().join("bin");
    fs::create_dir(&bin).expect("mkdir");
    let broken = bin.join(PLUGIN);
    fs::write(&broken, "#!/bin/sh\nexit 1\n").expect("write");
    fs::set_permissions(&broken, fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:{}", bin.display(), e.path);
    let out = e.s.run(
        &["list"],
        &[("AVAULT_IDENTITY", &identity), ("PATH", &path)],
    );
    out.fails_with(PLUGIN);
    assert!(!out.stderr().contains("damaged"), "{}", out.stderr());
    let out = e.s.run(
        &["add", "other", "--env"],
        &[
            PW,
            ("PATH", &path),
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    );
    out.fails_with("cannot encrypt the vault");
    assert!(out.stderr().contains(PLUGIN), "{}", out.stderr());
    assert_eq!(before, e.s.vault_bytes());
}

/// The reference client drives the test plugin too: the age CLI (Go) wraps
/// and unwraps through it, and opens a vault avault sealed for it.
#[test]
#[ignore = "needs the age CLI (Debian package age): run scripts/test"]
fn the_age_cli_uses_the_test_plugin_and_opens_the_vault() {
    let e = Env::new();
    let (identity, recipient) = generate();
    let key = e.s.home().join("avaulttest.txt");
    fs::write(&key, format!("{identity}\n")).expect("write identity file");
    let age = |args: &[&str], input: &[u8]| {
        let mut cmd = Command::new("age");
        cmd.args(args).env("PATH", &e.path);
        let out = support::run_with_stdin(cmd, input);
        assert!(out.0.status.success(), "age {args:?}: {}", out.stderr());
        out.0.stdout
    };
    let key_arg = key.to_str().expect("utf8");
    let sealed = age(
        &["--encrypt", "--recipient", &recipient],
        b"through the plugin",
    );
    let opened = age(&["--decrypt", "--identity", key_arg], &sealed);
    assert_eq!(opened, b"through the plugin");

    e.init_with(&recipient);
    e.add("prod", PW).success();
    let vault = e.s.vault();
    let plain = age(
        &[
            "--decrypt",
            "--identity",
            key_arg,
            vault.to_str().expect("utf8"),
        ],
        b"",
    );
    let doc: serde_json::Value = serde_json::from_slice(&plain).expect("payload is JSON");
    assert_eq!(doc["unlockers"][1]["type"], "plugin");
    assert_eq!(doc["unlockers"][1]["recipient"], recipient.as_str());
    assert_eq!(doc["profiles"]["prod"]["access_key_id"], KEY_ID);
}
