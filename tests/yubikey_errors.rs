//! What a user is told when the YubiKey is not as expected, and firmware
//! 5.7's AES-192 management key, through the real pcscd and the virtual
//! YubiKey (tests/support/vyubikey.rs).

#![cfg(feature = "yubikey")]

mod support;
#[path = "support/vyubikey.rs"]
mod vyubikey;

use support::{Run, Sandbox};
use vyubikey::{Config, OathCredential, PinPolicy, PivKey, TouchPolicy, VirtualYubiKey};

/// avault in `s`, reaching the private pcscd.
fn run(s: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Run {
    s.run_with(args, env, &vyubikey::rig_env())
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn firmware_5_7_generates_with_the_aes_192_management_key() {
    let s = Sandbox::new();
    let card = VirtualYubiKey::insert(vyubikey::vpcd_port(), Config::new().firmware(5, 7, 1));
    run(&s, &["init", "--yubikey", "--generate"], &[]).success();
    assert_eq!(card.counters().generate, 1);
    assert_eq!(card.counters().management_auth_ok, 1);
    run(&s, &["list"], &[("AVAULT_PIV_PIN", vyubikey::DEFAULT_PIN)]).success();
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn a_non_default_management_key_is_refused_clearly_or_taken_from_the_variable() {
    let s = Sandbox::new();
    let key = vyubikey::ManagementKey::TripleDes([7u8; 24]);
    let _card = VirtualYubiKey::insert(vyubikey::vpcd_port(), Config::new().management_key(key));
    run(&s, &["init", "--yubikey", "--generate"], &[]).fails_with("refused the management key");
    assert!(!s.vault().exists());
    run(
        &s,
        &["init", "--yubikey", "--generate"],
        &[("AVAULT_PIV_MANAGEMENT_KEY", &"07".repeat(24))],
    )
    .success();
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn pcscd_not_running_and_several_yubikeys() {
    let s = Sandbox::new();
    let out = s.run(
        &["init", "--yubikey"],
        &[("PCSCLITE_CSOCK_NAME", "/nonexistent/pcscd.comm")],
    );
    out.fails_with("pcscd is not running");
    assert!(
        out.stderr().contains("systemctl start pcscd"),
        "{}",
        out.stderr()
    );

    let _rig = vyubikey::lock_rig();
    let with_key = |serial| {
        Config::new()
            .serial(serial)
            .piv_key(0x82, PivKey::generate(PinPolicy::Once, TouchPolicy::Never))
    };
    let _a = VirtualYubiKey::insert(vyubikey::vpcd_port(), with_key(11_111_111));
    let _b = VirtualYubiKey::insert(vyubikey::vpcd_port() + 1, with_key(22_222_222));
    assert!(!s.vault().exists(), "made by the failed init");
    let several = run(&s, &["init", "--yubikey"], &[]);
    several.fails_with("several YubiKeys");
    assert!(!s.vault().exists(), "made by the refused init");
    assert!(
        several.stderr().contains("--serial"),
        "{}",
        several.stderr()
    );
    run(&s, &["init", "--yubikey", "--serial", "33333333"], &[])
        .fails_with("no YubiKey with serial");
    run(&s, &["init", "--yubikey", "--serial", "22222222"], &[]).success();
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn an_empty_slot_and_a_yubikey_without_this_vaults_key() {
    let s = Sandbox::new();
    let card = VirtualYubiKey::insert(vyubikey::vpcd_port(), Config::new());
    run(&s, &["init", "--yubikey", "--slot", "3"], &[]).fails_with("no P-256 slot");
    run(&s, &["init", "--yubikey", "--generate"], &[]).success();
    drop(card);
    // Another YubiKey: it holds no key of this vault.
    let _other = VirtualYubiKey::insert(
        vyubikey::vpcd_port(),
        Config::new().piv_key(0x82, PivKey::generate(PinPolicy::Once, TouchPolicy::Never)),
    );
    let out = run(&s, &["list"], &[("AVAULT_PIV_PIN", vyubikey::DEFAULT_PIN)]);
    out.fails_with("holds this vault's key");
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn a_touch_credential_says_touch() {
    let s = Sandbox::new();
    let (identity, _) = s.init_identity();
    let serial = "arn:aws:iam::123456789012:mfa/alice";
    s.write_config(&format!("[profile alice]\nmfa_serial = {serial}\n"));
    s.add("alice", ("AVAULT_IDENTITY", &identity)).success();
    let card = VirtualYubiKey::insert(
        vyubikey::vpcd_port(),
        Config::new()
            .oath_credential(OathCredential::totp(serial, b"12345678901234567890").touch(true)),
    );
    let out = run(
        &s,
        &["mfa", "code", "alice"],
        &[("AVAULT_IDENTITY", &identity)],
    );
    out.success();
    assert!(
        out.stderr().contains("Touch your YubiKey"),
        "{}",
        out.stderr()
    );
    assert_eq!(out.stdout().trim().len(), 6);
    assert!(card.counters().apdus > 0);
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn an_age_plugin_yubikey_identity_is_accepted_as_is() {
    use avault::unlock::piv_p256::{IdentityStub, PivRecipient};
    use p256::elliptic_curve::sec1::ToEncodedPoint;

    let s = Sandbox::new();
    s.init_passphrase();
    let card = VirtualYubiKey::insert(
        vyubikey::vpcd_port(),
        Config::new().piv_key(0x83, PivKey::generate(PinPolicy::Once, TouchPolicy::Never)),
    );
    let point = card
        .piv_public_key(0x83)
        .expect("slot key")
        .to_encoded_point(true);
    let recipient = PivRecipient::from_compressed(point.as_bytes()).expect("point");
    let stub = IdentityStub {
        serial: card.serial(),
        slot: 0x83,
        tag: recipient.tag(),
    };
    let pw = ("AVAULT_PASSPHRASE", support::PASSPHRASE);
    run(&s, &["unlockers", "add", "-r", &stub.to_string()], &[pw]).success();
    let listed = run(&s, &["unlockers"], &[pw]);
    assert!(listed.success().stdout().contains(&recipient.to_string()));
    // The card alone opens it now.
    run(&s, &["list"], &[("AVAULT_PIV_PIN", vyubikey::DEFAULT_PIN)]).success();
    // A stub whose tag is not the slot's key.
    let wrong = IdentityStub {
        tag: [0, 0, 0, 0],
        ..stub
    };
    run(&s, &["unlockers", "add", "-r", &wrong.to_string()], &[pw]).fails_with("holds another key");
}
