//! YubiKey unlocking and OATH codes through the real pcscd, with the
//! virtual YubiKey of tests/support/vyubikey.rs in a vpcd reader.
//! Needs `scripts/pcsc-rig` (scripts/test starts it) and the `yubikey`
//! feature (scripts/test builds with --all-features).

#![cfg(feature = "yubikey")]

#[path = "support/emulator.rs"]
mod emulator;
mod support;
#[path = "support/vyubikey.rs"]
mod vyubikey;
#[path = "support/world.rs"]
mod world;

use support::{Run, Sandbox, PASSPHRASE};
use vyubikey::{Config, OathCredential, RemoveOn, VirtualYubiKey};

const PIN: &str = "123456";

fn run(s: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = s.cmd();
    cmd.args(args);
    for (k, v) in vyubikey::rig_env() {
        cmd.env(k, v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run(cmd.output().expect("run avault"))
}

fn insert(config: Config) -> VirtualYubiKey {
    VirtualYubiKey::insert(vyubikey::vpcd_port(), config)
}

/// A vault whose only unlocker is a key generated on `card`.
fn yubikey_vault(s: &Sandbox) {
    let out = run(s, &["init", "--yubikey", "--generate"], &[]);
    out.success();
    assert!(
        out.stderr().contains("recipient age1yubikey1"),
        "{}",
        out.stderr()
    );
    assert!(
        out.stderr().contains("AGE-PLUGIN-YUBIKEY-1"),
        "{}",
        out.stderr()
    );
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn generate_then_unlock_with_pin_and_touch() {
    let s = Sandbox::new();
    let card = insert(Config::new());
    yubikey_vault(&s);
    assert_eq!(card.counters().generate, 1);
    assert!(String::from_utf8_lossy(&s.vault_bytes()).contains("\n-> piv-p256 "));
    let added = run(
        &s,
        &["add", "prod", "--env"],
        &[
            ("AVAULT_PIV_PIN", PIN),
            ("AWS_ACCESS_KEY_ID", support::KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", support::SECRET),
        ],
    );
    added.success();
    assert!(
        added.stderr().contains("Touch your YubiKey"),
        "{}",
        added.stderr()
    );
    let listed = run(&s, &["list", "--credentials"], &[("AVAULT_PIV_PIN", PIN)]);
    assert_eq!(listed.success().stdout(), "prod\n");
    assert!(card.counters().ecdh >= 2);
    // No PIN and no terminal: a clear error, not a hang.
    run(&s, &["list"], &[]).fails_with("PIN");
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn wrong_pin_then_right_pin_and_blocked_pin() {
    let s = Sandbox::new();
    let card = insert(Config::new());
    yubikey_vault(&s);
    let before = s.vault_bytes();
    let wrong = run(&s, &["list"], &[("AVAULT_PIV_PIN", "000000")]);
    wrong.fails_with("wrong PIN: 2 tries left");
    assert_eq!(s.vault_bytes(), before);
    run(&s, &["list"], &[("AVAULT_PIV_PIN", PIN)]).success();
    assert!(card.counters().verify_pin_wrong >= 1);
    drop(card);

    let t = Sandbox::new();
    let card = insert(Config::new());
    yubikey_vault(&t);
    let state = card.remove();
    let _card = insert(state.pin_tries_left(1));
    let blocked = run(&t, &["list"], &[("AVAULT_PIV_PIN", "000000")]);
    blocked.fails_with("PIN is blocked");
    assert!(blocked.stderr().contains("unblock"), "{}", blocked.stderr());
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn card_removed_mid_unlock_and_no_card() {
    let s = Sandbox::new();
    let card = insert(Config::new());
    yubikey_vault(&s);
    let state = card.remove();
    let before = s.vault_bytes();
    // No card at all: the vault has no other unlocker.
    run(&s, &["list"], &[("AVAULT_PIV_PIN", PIN)]).fails_with("YubiKey");
    let _card = insert(state.remove_on(RemoveOn::KeyOperation));
    run(&s, &["list"], &[("AVAULT_PIV_PIN", PIN)]).fails_with("removed");
    assert_eq!(s.vault_bytes(), before);
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn passphrase_and_yubikey_each_open_it_and_a_card_write_keeps_both() {
    let s = Sandbox::new();
    let card = insert(Config::new());
    let init = run(
        &s,
        &[
            "init",
            "--passphrase",
            "--yubikey",
            "--generate",
            "--kdf-memory",
            "1",
            "--kdf-time",
            "1",
        ],
        &[("AVAULT_PASSPHRASE", PASSPHRASE)],
    );
    init.success();
    // The passphrase alone (the card is not asked).
    let ecdh = card.counters().ecdh;
    run(&s, &["list"], &[("AVAULT_PASSPHRASE", PASSPHRASE)]).success();
    assert_eq!(card.counters().ecdh, ecdh);
    // The card alone, and a write made through it.
    run(
        &s,
        &["add", "prod", "--env"],
        &[
            ("AVAULT_PIV_PIN", PIN),
            ("AWS_ACCESS_KEY_ID", support::KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", support::SECRET),
        ],
    )
    .success();
    let header = String::from_utf8_lossy(&s.vault_bytes()).into_owned();
    assert!(header.contains("\n-> piv-p256 ") && header.contains("\n-> avault-argon2id "));
    let out = run(
        &s,
        &["list", "--credentials"],
        &[("AVAULT_PASSPHRASE", PASSPHRASE)],
    );
    assert_eq!(out.success().stdout(), "prod\n");
    let listed = run(&s, &["unlockers"], &[("AVAULT_PASSPHRASE", PASSPHRASE)]);
    assert!(listed.success().stdout().contains("piv-p256"));
}

/// The RFC 6238 SHA-1 seed.
const RFC_SEED: &[u8] = b"12345678901234567890";

fn rfc_code(step: u64) -> String {
    let totp = totp_rs::Totp::from_url_unchecked(
        "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
    )
    .expect("totp");
    totp.generate(step * 30).to_string()
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn oath_codes_with_and_without_password() {
    let serial = "arn:aws:iam::123456789012:mfa/alice";
    for password in [None, Some("hunter22")] {
        let s = Sandbox::new();
        let (identity, _) = s.init_identity();
        s.write_config(&format!("[profile alice]\nmfa_serial = {serial}\n"));
        run(
            &s,
            &["add", "alice", "--env", "--add-config=false"],
            &[
                ("AVAULT_IDENTITY", &identity),
                ("AWS_ACCESS_KEY_ID", support::KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", support::SECRET),
            ],
        )
        .success();
        let mut config = Config::new().oath_credential(OathCredential::totp(serial, RFC_SEED));
        if let Some(p) = password {
            config = config.oath_password(p);
        }
        let _card = insert(config);
        let mut env = vec![("AVAULT_IDENTITY", identity.as_str())];
        if let Some(p) = password {
            env.push(("AVAULT_OATH_PASSWORD", p));
            run(
                &s,
                &["mfa", "code", "alice"],
                &[
                    ("AVAULT_IDENTITY", &identity),
                    ("AVAULT_OATH_PASSWORD", "wrong"),
                ],
            )
            .fails_with("refused the password");
        }
        let out = run(&s, &["mfa", "code", "alice"], &env);
        let code = out.success().stdout().trim().to_owned();
        let step = emulator::current_step();
        assert!(
            [rfc_code(step), rfc_code(step - 1)].contains(&code),
            "{code} is not the RFC 6238 code"
        );
    }
}

/// `--prompt yubikey`, and `AWS_VAULT_PROMPT=ykman`, which asks the OATH
/// applet directly (no ykman subprocess) when the feature is built in.
#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn mfa_end_to_end_with_prompt_yubikey_and_ykman() {
    for (flag, env) in [(Some("yubikey"), None), (None, Some("ykman"))] {
        let w = world::World::new();
        w.store_alice("alice", false);
        let ops = w.mfa_role("ops");
        w.s.write_config(&format!(
            "[profile ops]\nsource_profile = alice\nrole_arn = {}\nmfa_serial = {}\n",
            ops.arn, w.mfa.serial
        ));
        w.emu.enforce_auth();
        let seed = base32_decode(&w.mfa.seed_base32);
        let card =
            insert(Config::new().oath_credential(OathCredential::totp(&w.mfa.serial, &seed)));
        let mut args = Vec::new();
        if let Some(prompt) = flag {
            args.extend(["--prompt", prompt]);
        }
        args.extend(["exec", "ops", "--json"]);
        let mut cmd = w.avault(&args);
        for (k, v) in vyubikey::rig_env() {
            cmd.env(k, v);
        }
        if let Some(prompt) = env {
            // A PATH without ykman: only the applet can answer.
            cmd.env("AWS_VAULT_PROMPT", prompt)
                .env("PATH", "/usr/bin:/bin");
        }
        let out = Run(cmd.output().expect("run"));
        out.success();
        assert_eq!(w.emu.count("GetSessionToken"), 1, "{:?}", w.emu.counts());
        assert!(card.counters().apdus > 0);
        drop(card);
    }
}

fn base32_decode(text: &str) -> Vec<u8> {
    totp_rs::Secret::try_from_base32(text.trim_end_matches('='))
        .expect("base32")
        .as_bytes()
        .to_vec()
}
