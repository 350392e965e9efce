//! A damaged, foreign, forged or too-new vault gives a clear error and is
//! left byte for byte as it was.

mod support;

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use age_core::format::{FileKey, Stanza};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use support::{Sandbox, PASSPHRASE};

const PW: (&str, &str) = ("AVAULT_PASSPHRASE", PASSPHRASE);

/// Writes `bytes` as the vault, runs a read and a write command, and checks
/// both fail with `needle` and leave the file untouched.
#[track_caller]
fn refused_untouched(s: &Sandbox, bytes: &[u8], unlock: (&str, &str), needle: &str) {
    fs::write(s.vault(), bytes).expect("write");
    fs::set_permissions(s.vault(), fs::Permissions::from_mode(0o600)).expect("chmod");
    s.run(&["list", "--credentials"], &[unlock])
        .fails_with(needle);
    s.add("new", unlock).fails_with(needle);
    assert_eq!(s.vault_bytes(), bytes, "the vault changed");
}

fn header_len(bytes: &[u8]) -> usize {
    let at = bytes
        .windows(4)
        .position(|w| w == b"\n---")
        .expect("header end");
    at + bytes[at + 1..]
        .iter()
        .position(|b| *b == b'\n')
        .expect("mac line")
        + 2
}

#[test]
fn truncated_vaults_are_refused() {
    let s = Sandbox::new();
    let (identity, _) = s.init_identity();
    let id = ("AVAULT_IDENTITY", identity.as_str());
    s.add("prod", id).success();
    let good = s.vault_bytes();
    let header = header_len(&good);
    for cut in [
        1,
        10,
        22,
        40,
        header - 5,
        header,
        header + 10,
        good.len() - 17,
        good.len() - 1,
    ] {
        let needle = if cut < 21 {
            "not an avault vault"
        } else if cut < header + 16 {
            "damaged"
        } else {
            "truncated"
        };
        refused_untouched(&s, &good[..cut], id, needle);
    }
}

#[test]
fn flipped_bits_are_refused() {
    let s = Sandbox::new();
    s.init_passphrase();
    s.add("prod", PW).success();
    let good = s.vault_bytes();
    let header = header_len(&good);
    // The MAC line of the header.
    let mut mac = good.clone();
    mac[header - 10] ^= 0x01;
    refused_untouched(&s, &mac, PW, "damaged");
    // The stanza's KDF parameters: authenticated, so no unlocker matches.
    let text = String::from_utf8_lossy(&good[..header]).into_owned();
    // "-> avault-argon2id " (19), salt (22), " ", then "1024": make it 1025.
    let at = text.find("-> avault-argon2id ").expect("stanza") + 19 + 22 + 1 + 3;
    assert_eq!(good[at], b'4');
    let mut stanza = good.clone();
    stanza[at] ^= 0x01;
    refused_untouched(&s, &stanza, PW, "no unlocker matched");
    // The payload.
    for offset in [header + 3, header + 20, good.len() - 5] {
        let mut payload = good.clone();
        payload[offset] ^= 0x40;
        refused_untouched(&s, &payload, PW, "altered");
    }
}

#[test]
fn empty_and_foreign_files_are_refused() {
    let s = Sandbox::new();
    s.init_passphrase();
    refused_untouched(&s, b"", PW, "not an avault vault");
    refused_untouched(
        &s,
        b"[default]\nregion = eu-west-1\n",
        PW,
        "not an avault vault",
    );
    refused_untouched(&s, &[0u8; 4096], PW, "not an avault vault");
    refused_untouched(&s, b"age-encryption.org/v1\n-> X25519\n", PW, "damaged");
}

fn encrypt_to(recipient: &str, plain: &[u8]) -> Vec<u8> {
    let r: age::x25519::Recipient = recipient.parse().expect("recipient");
    let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
        .expect("encryptor");
    let mut out = Vec::new();
    let mut w = enc.wrap_output(&mut out).expect("wrap");
    w.write_all(plain).expect("write");
    w.finish().expect("finish");
    out
}

#[test]
fn a_newer_format_is_refused_untouched() {
    let s = Sandbox::new();
    let (identity, recipient) = s.init_identity();
    let newer = format!(
        r#"{{"format":"avault","version":2,"vault_id":"x","unlockers":[{{"id":"a","type":"x25519","recipient":"{recipient}"}}],"future":true}}"#
    );
    let bytes = encrypt_to(&recipient, newer.as_bytes());
    refused_untouched(
        &s,
        &bytes,
        ("AVAULT_IDENTITY", &identity),
        "format version 2",
    );
    refused_untouched(
        &s,
        &encrypt_to(&recipient, b"{\"not\":\"a vault\"}"),
        ("AVAULT_IDENTITY", &identity),
        "no valid vault document",
    );
}

#[test]
fn insecure_permissions_are_refused_with_the_chmod_to_run() {
    let s = Sandbox::new();
    s.init_passphrase();
    for mode in [0o640, 0o604, 0o660] {
        fs::set_permissions(s.vault(), fs::Permissions::from_mode(mode)).expect("chmod");
        let out = s.run(&["list"], &[PW]);
        out.fails_with("accessible by");
        assert!(
            out.stderr()
                .contains(&format!("chmod 600 {}", s.vault().display())),
            "{}",
            out.stderr()
        );
    }
}

#[test]
fn init_refuses_to_overwrite() {
    let s = Sandbox::new();
    s.init_passphrase();
    let before = s.vault_bytes();
    s.run(&["init"], &[PW]).fails_with("already exists");
    assert_eq!(before, s.vault_bytes());
}

/// Re-emits an X25519 stanza for a file key the forger chose, plus the
/// victim's passphrase stanza copied verbatim.
struct Forger {
    recipient: age::x25519::Recipient,
    copied: Stanza,
}

impl age::Recipient for Forger {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let (mut stanzas, labels) = self.recipient.wrap_file_key(file_key)?;
        stanzas.push(Stanza {
            tag: self.copied.tag.clone(),
            args: self.copied.args.clone(),
            body: self.copied.body.clone(),
        });
        Ok((stanzas, labels))
    }
}

#[test]
fn a_file_forged_with_a_public_recipient_fails_the_passphrase() {
    let s = Sandbox::new();
    s.init_passphrase();
    let (identity, recipient) = avault::unlock::generate_identity();
    s.run(&["unlockers", "add", "-r", &recipient], &[PW])
        .success();
    // The forger knows only the public recipient and can read the file.
    let text = String::from_utf8_lossy(&s.vault_bytes()).into_owned();
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with("-> avault-argon2id "));
    let line = lines.next().expect("stanza line");
    let body = lines.next().expect("stanza body");
    let copied = Stanza {
        tag: "avault-argon2id".into(),
        args: line.split(' ').skip(2).map(str::to_owned).collect(),
        body: STANDARD_NO_PAD.decode(body).expect("base64 body"),
    };
    let forger = Forger {
        recipient: recipient.parse().expect("recipient"),
        copied,
    };
    let forged_payload = format!(
        r#"{{"format":"avault","version":1,"vault_id":"forged","created":"now","session_cache_key":"{}","unlockers":[{{"id":"f","type":"x25519","added":"now","recipient":"{recipient}"}}],"profiles":{{}}}}"#,
        base64::engine::general_purpose::STANDARD.encode([0u8; 32])
    );
    let enc = age::Encryptor::with_recipients(std::iter::once(&forger as &dyn age::Recipient))
        .expect("encryptor");
    let mut forged = Vec::new();
    let mut w = enc.wrap_output(&mut forged).expect("wrap");
    w.write_all(forged_payload.as_bytes()).expect("write");
    w.finish().expect("finish");
    // The passphrase holder is not fooled: the copied stanza yields the old
    // file key, under which the forged header's MAC does not verify.
    refused_untouched(&s, &forged, PW, "damaged or was altered");
    // The identity holder is (the age caveat the README documents).
    s.run(&["list"], &[("AVAULT_IDENTITY", &identity)])
        .success();
}
