//! The vault is a plain age v1 file: the real `age` CLI opens it with the
//! matching identity, and what it finds is the documented JSON payload.

mod support;

use std::process::Command;

use support::{Sandbox, KEY_ID, PASSPHRASE, SECRET};

#[test]
#[ignore = "needs the age CLI (Debian package age): run scripts/test"]
fn the_age_cli_opens_a_vault_made_with_recipient() {
    let s = Sandbox::new();
    let key = s.home().join("key.txt");
    let status = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("age-keygen runs (install the age package)");
    assert!(status.success());
    let recipient = Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .expect("age-keygen -y");
    let recipient = String::from_utf8(recipient.stdout).expect("utf8");
    let recipient = recipient.trim();
    // A passphrase too: age must skip the stanza it does not know.
    s.run(
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
        &[("AVAULT_PASSPHRASE", PASSPHRASE)],
    )
    .success();
    s.add("prod", ("AVAULT_PASSPHRASE", PASSPHRASE)).success();

    let out = Command::new("age")
        .arg("--decrypt")
        .arg("--identity")
        .arg(&key)
        .arg(s.vault())
        .output()
        .expect("age runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("payload is JSON");
    assert_eq!(doc["format"], "avault");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["vault_id"].as_str().map(str::len), Some(32));
    assert!(doc["session_cache_key"].is_string());
    let unlockers = doc["unlockers"].as_array().expect("unlockers");
    assert_eq!(unlockers.len(), 2);
    assert_eq!(unlockers[0]["type"], "passphrase");
    assert_eq!(unlockers[0]["argon2id"]["m_kib"], 1024);
    assert_eq!(unlockers[1]["type"], "x25519");
    assert_eq!(unlockers[1]["recipient"], recipient);
    let prod = &doc["profiles"]["prod"];
    assert_eq!(prod["access_key_id"], KEY_ID);
    assert_eq!(prod["secret_access_key"], SECRET);
    assert!(prod["created"].is_string());

    // And a file the age CLI writes to our recipient is read by avault's
    // decryptor: the same container both ways.
    let reencrypted = s.home().join("again.age");
    let mut age = Command::new("age")
        .args(["--encrypt", "--recipient", recipient, "--output"])
        .arg(&reencrypted)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("age runs");
    use std::io::Write;
    age.stdin
        .take()
        .expect("stdin")
        .write_all(&out.stdout)
        .expect("write");
    assert!(age.wait().expect("wait").success());
    std::fs::copy(&reencrypted, s.vault()).expect("copy");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(s.vault(), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let listed = s.run(
        &["list", "--credentials"],
        &[("AVAULT_IDENTITY", key.to_str().expect("utf8"))],
    );
    assert_eq!(listed.success().stdout(), "prod\n");
}
