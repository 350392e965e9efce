//! Round trips for each unlocker, wrong keys, unlock order, and the
//! commands that change who can open the vault.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use support::{Sandbox, KEY_ID, PASSPHRASE, SECRET};

const PW: (&str, &str) = ("AVAULT_PASSPHRASE", PASSPHRASE);

#[test]
fn passphrase_round_trip() {
    let s = Sandbox::new();
    s.init_passphrase();
    s.add("prod", PW).success();
    let out = s.run(&["list", "--credentials"], &[PW]);
    assert_eq!(out.success().stdout(), "prod\n");
    // The vault holds no secret in plaintext, and is 0600 in a 0700 directory.
    let bytes = s.vault_bytes();
    for needle in [SECRET, KEY_ID, PASSPHRASE, "prod"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} in plaintext"
        );
    }
    let mode = |p: &std::path::Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&s.vault()), 0o600);
    assert_eq!(mode(s.vault().parent().expect("dir")), 0o700);
}

#[test]
fn aws_vault_passphrase_variable_and_command_unlock() {
    let s = Sandbox::without_agent();
    s.init_passphrase();
    s.add("a", ("AWS_VAULT_FILE_PASSPHRASE", PASSPHRASE))
        .success();
    let cmd = format!("printf '%s\\n' '{PASSPHRASE}'");
    let out = s.run(
        &["list", "--credentials"],
        &[("AVAULT_PASSPHRASE_COMMAND", &cmd)],
    );
    assert_eq!(out.success().stdout(), "a\n");
    s.run(&["list"], &[("AVAULT_PASSPHRASE_COMMAND", "exit 3")])
        .fails_with("AVAULT_PASSPHRASE_COMMAND failed");
}

#[test]
fn set_but_empty_aws_vault_passphrase_is_the_empty_passphrase() {
    let s = Sandbox::new();
    s.init_passphrase();
    // Empty is a passphrase (aws-vault's meaning), and the wrong one here.
    s.run(&["list"], &[("AWS_VAULT_FILE_PASSPHRASE", "")])
        .fails_with("no unlocker matched");
}

#[test]
fn identity_round_trip_literal_and_file() {
    let s = Sandbox::new();
    let (identity, _) = s.init_identity();
    s.add("ci", ("AVAULT_IDENTITY", &identity)).success();
    let file = s.home().join("key.txt");
    fs::write(&file, format!("# created: now\n{identity}\n")).expect("write");
    let out = s.run(
        &["list", "--credentials"],
        &[("AVAULT_IDENTITY", file.to_str().expect("utf8"))],
    );
    assert_eq!(out.success().stdout(), "ci\n");
}

#[test]
fn wrong_passphrase_and_wrong_identity_leave_the_file_alone() {
    let s = Sandbox::without_agent();
    s.init_passphrase();
    s.add("prod", PW).success();
    let before = s.vault_bytes();
    s.add("other", ("AVAULT_PASSPHRASE", "not it"))
        .fails_with("no unlocker matched");
    let (stranger, _) = avault::unlock::generate_identity();
    s.add("other", ("AVAULT_IDENTITY", &stranger))
        .fails_with("no unlocker matched");
    s.run(&["remove", "-f", "prod"], &[("AVAULT_PASSPHRASE", "nope")])
        .fails_with("no unlocker matched");
    assert_eq!(before, s.vault_bytes());
}

#[test]
fn no_source_and_no_terminal_fails_at_once_naming_the_variables() {
    let s = Sandbox::new();
    s.init_passphrase();
    let out = s.run(&["list"], &[]);
    out.fails_with("no way to unlock");
    for var in [
        "AVAULT_IDENTITY",
        "AVAULT_PASSPHRASE",
        "AWS_VAULT_FILE_PASSPHRASE",
        "AVAULT_PASSPHRASE_COMMAND",
    ] {
        assert!(
            out.stderr().contains(var),
            "{var} not named: {}",
            out.stderr()
        );
    }
}

#[test]
fn identity_comes_before_passphrase() {
    let s = Sandbox::new();
    let (identity, _) = s.init_identity();
    // A passphrase command that would fail is never run when the identity is set.
    s.run(
        &["list", "--credentials"],
        &[
            ("AVAULT_IDENTITY", &identity),
            ("AVAULT_PASSPHRASE_COMMAND", "exit 1"),
        ],
    )
    .success();
}

#[test]
fn unlockers_add_list_remove_and_the_last_is_kept() {
    let s = Sandbox::without_agent();
    s.init_passphrase();
    s.add("prod", PW).success();
    let (identity, recipient) = avault::unlock::generate_identity();
    s.run(&["unlockers", "add", "--recipient", &recipient], &[PW])
        .success();
    let listed = s.run(&["unlockers"], &[("AVAULT_IDENTITY", &identity)]);
    let listed = listed.success().stdout();
    assert!(
        listed.contains("passphrase") && listed.contains(&recipient),
        "{listed}"
    );
    // Remove the passphrase using the identity; the identity still opens it.
    let pass_id = listed
        .lines()
        .find(|l| l.contains("passphrase"))
        .and_then(|l| l.split_whitespace().next())
        .expect("passphrase row")
        .to_owned();
    s.run(
        &["unlockers", "remove", &pass_id],
        &[("AVAULT_IDENTITY", &identity)],
    )
    .success();
    s.run(&["list", "--credentials"], &[PW])
        .fails_with("no unlocker matched");
    s.run(
        &["unlockers", "remove", &recipient],
        &[("AVAULT_IDENTITY", &identity)],
    )
    .fails_with("last unlocker");
    let out = s.run(
        &["list", "--credentials"],
        &[("AVAULT_IDENTITY", &identity)],
    );
    assert_eq!(out.success().stdout(), "prod\n");
}

#[test]
fn removing_an_identity_rekeys_the_passphrase() {
    let s = Sandbox::without_agent();
    s.init_passphrase();
    let (identity, recipient) = avault::unlock::generate_identity();
    s.run(&["unlockers", "add", "-r", &recipient], &[PW])
        .success();
    let salt_line = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .find(|l| l.starts_with("-> avault-argon2id "))
            .and_then(|l| l.split(' ').nth(2).map(str::to_owned))
            .expect("passphrase stanza")
    };
    let salt_before = salt_line(&s.vault_bytes());
    // Unlocked by the identity being removed: the passphrase is still needed.
    s.run(
        &["unlockers", "rm", &recipient],
        &[("AVAULT_IDENTITY", &identity)],
    )
    .fails_with("re-key");
    s.run(
        &["unlockers", "rm", &recipient],
        &[
            ("AVAULT_IDENTITY", &identity),
            ("AVAULT_PASSPHRASE", "wrong"),
        ],
    )
    .fails_with("not the vault's passphrase");
    s.run(&["unlockers", "rm", &recipient], &[PW]).success();
    assert_ne!(salt_before, salt_line(&s.vault_bytes()));
    s.run(&["list"], &[("AVAULT_IDENTITY", &identity)])
        .fails_with("no unlocker matched");
    s.run(&["list"], &[PW]).success();
}

#[test]
fn passwd_changes_the_passphrase() {
    let s = Sandbox::without_agent();
    s.init_passphrase();
    s.add("prod", PW).success();
    s.run(&["passwd"], &[PW, ("AVAULT_NEW_PASSPHRASE", "a new one")])
        .success();
    s.run(&["list"], &[PW]).fails_with("no unlocker matched");
    let out = s.run(
        &["list", "--credentials"],
        &[("AVAULT_PASSPHRASE", "a new one")],
    );
    assert_eq!(out.success().stdout(), "prod\n");
    s.run(
        &["passwd"],
        &[
            ("AVAULT_PASSPHRASE", "a new one"),
            ("AVAULT_NEW_PASSPHRASE", ""),
        ],
    )
    .fails_with("empty");
}

#[test]
fn a_second_passphrase_is_refused() {
    let s = Sandbox::new();
    s.init_passphrase();
    s.run(
        &["unlockers", "add", "--passphrase"],
        &[PW, ("AVAULT_NEW_PASSPHRASE", "x")],
    )
    .fails_with("already has a passphrase");
}

#[test]
fn kdf_parameters_are_stored_and_bounded() {
    let s = Sandbox::new();
    s.run(&["init", "--kdf-memory", "2", "--kdf-time", "2"], &[PW])
        .success();
    let header = String::from_utf8_lossy(&s.vault_bytes()).into_owned();
    let stanza = header
        .lines()
        .find(|l| l.starts_with("-> avault-argon2id "))
        .expect("stanza");
    let args: Vec<&str> = stanza.split(' ').collect();
    assert_eq!(&args[3..6], ["2048", "2", "1"], "{stanza}");
    let t = Sandbox::new();
    t.run(&["init", "--kdf-memory", "0"], &[PW])
        .fails_with("argon2id parameters refused");
    assert!(!t.vault().exists());
}

#[test]
fn a_yubikey_recipient_is_sealed_in_software_and_kept_across_writes() {
    let s = Sandbox::new();
    s.init_passphrase();
    // age-plugin-yubikey's recipient format; no card is needed to seal.
    let piv = "age1yubikey1qf0l9gks6x65ha077wq3w3u8fy02tpg3cd9w5j0jlgpfgqkcut2lwujzwye";
    s.run(&["unlockers", "add", "--recipient", piv], &[PW])
        .success();
    s.add("prod", PW).success();
    let header = String::from_utf8_lossy(&s.vault_bytes()).into_owned();
    // The stanza tag is the first 4 bytes of SHA-256 of the point.
    assert!(header.contains("\n-> piv-p256 14yi6A "), "{header}");
    assert!(header.contains("\n-> avault-argon2id "), "{header}");
    let listed = s.run(&["unlockers"], &[PW]);
    let listed = listed.success().stdout();
    assert!(
        listed.contains("piv-p256") && listed.contains(piv),
        "{listed}"
    );
    // Not an identity, and not a recipient at all.
    s.run(
        &[
            "unlockers",
            "add",
            "-r",
            "AGE-PLUGIN-YUBIKEY-1QSPSYQVZ0DJFDPGWQ2RKZ",
        ],
        &[PW],
    )
    .fails_with("identity");
    s.run(&["unlockers", "add", "-r", "age1nonsense"], &[PW])
        .fails_with("recipient");
}

#[test]
fn a_plugin_recipient_needs_its_plugin_on_path() {
    let s = Sandbox::new();
    s.init_passphrase();
    // A well-formed recipient of a plugin that is not installed.
    let hrp = bech32::Hrp::parse("age1example").expect("hrp");
    let recipient = bech32::encode::<bech32::Bech32>(hrp, &[1u8; 32]).expect("bech32");
    let out = s.run(&["unlockers", "add", "-r", &recipient], &[PW]);
    out.fails_with("age-plugin-example is not on PATH");
}
