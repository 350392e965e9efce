//! YubiKey unlocking and OATH codes through the real pcscd, with the
//! virtual YubiKey of tests/support/vyubikey.rs in a vpcd reader.
//! Needs `scripts/pcsc-rig` (scripts/test starts it) and the `yubikey`
//! feature (scripts/test builds with --all-features).
//!
//! Every sandbox here but the agent test's runs with AVAULT_AGENT=off: these
//! tests are about the card as an unlock source (PIN prompts, wrong PINs,
//! ECDH and touch counts), which an agent holding the key from an earlier
//! command would answer instead (tests/agent.rs covers the agent).

#![cfg(feature = "yubikey")]

#[path = "support/emulator.rs"]
mod emulator;
mod support;
#[path = "support/vyubikey.rs"]
mod vyubikey;
#[path = "support/world.rs"]
mod world;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use p256::ecdsa::signature::Verifier;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::Digest;
use support::{Run, Sandbox, PASSPHRASE};
use vyubikey::{Config, OathCredential, RemoveOn, VirtualYubiKey};

const PIN: &str = "123456";

/// `avault add PROFILE --env`, unlocked by the card with its PIN.
fn add_by_card(s: &Sandbox, profile: &str) -> Run {
    run(
        s,
        &["add", profile, "--env"],
        &[
            ("AVAULT_PIV_PIN", PIN),
            ("AWS_ACCESS_KEY_ID", support::KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", support::SECRET),
        ],
    )
}

/// avault in `s`, reaching the private pcscd.
fn run(s: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Run {
    s.run_with(args, env, &vyubikey::rig_env())
}

fn insert(config: Config) -> VirtualYubiKey {
    VirtualYubiKey::insert(vyubikey::vpcd_port(), config)
}

/// A vault whose only unlocker is a key generated on `card` (the PIN signs
/// the slot's certificate).
fn yubikey_vault(s: &Sandbox) {
    let out = run(
        s,
        &["init", "--yubikey", "--generate"],
        &[("AVAULT_PIV_PIN", PIN)],
    );
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
    let s = Sandbox::without_agent();
    let card = insert(Config::new());
    yubikey_vault(&s);
    assert_eq!(card.counters().generate, 1);
    assert!(String::from_utf8_lossy(&s.vault_bytes()).contains("\n-> piv-p256 "));
    let added = add_by_card(&s, "prod");
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
fn one_touch_serves_the_next_commands_through_the_agent() {
    let s = Sandbox::new();
    let card = insert(Config::new());
    yubikey_vault(&s);
    add_by_card(&s, "prod").success();
    let (ecdh, touches) = (card.counters().ecdh, card.counters().touches);
    // No PIN, no touch, the card not even asked.
    for _ in 0..3 {
        let listed = run(&s, &["list", "--credentials"], &[]);
        assert_eq!(listed.success().stdout(), "prod\n");
        assert!(!listed.stderr().contains("Touch"), "{}", listed.stderr());
    }
    assert_eq!(
        (card.counters().ecdh, card.counters().touches),
        (ecdh, touches)
    );
    run(&s, &["lock"], &[]).success();
    run(&s, &["list"], &[]).fails_with("PIN");
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn wrong_pin_then_right_pin_and_blocked_pin() {
    let s = Sandbox::without_agent();
    let card = insert(Config::new());
    yubikey_vault(&s);
    let before = s.vault_bytes();
    let wrong = run(&s, &["list"], &[("AVAULT_PIV_PIN", "000000")]);
    wrong.fails_with("wrong PIN: 2 tries left");
    assert_eq!(s.vault_bytes(), before);
    run(&s, &["list"], &[("AVAULT_PIV_PIN", PIN)]).success();
    assert!(card.counters().verify_pin_wrong >= 1);
    drop(card);

    let t = Sandbox::without_agent();
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
    let s = Sandbox::without_agent();
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
    let s = Sandbox::without_agent();
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
    add_by_card(&s, "prod").success();
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
        let s = Sandbox::without_agent();
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

// ---------------------------------------------------------------------------
// The slot's certificate, as age-plugin-yubikey writes and reads it.

/// The PIV object of retired slot 1 (key slot 0x82): its certificate.
const SLOT_1_OBJECT: [u8; 3] = [0x5F, 0xC1, 0x0D];
/// DER of OID 1.3.6.1.4.1.41482.3.8, Yubico's PIN/touch policy extension.
const POLICY_OID: [u8; 12] = [
    0x06, 0x0A, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0xC4, 0x0A, 0x03, 0x08,
];
/// DER of AlgorithmIdentifier ecdsa-with-SHA256.
const ECDSA_SHA256: [u8; 12] = [
    0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02,
];
/// SubjectPublicKeyInfo of a P-256 key, up to the point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A,
    0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Splits one DER/BER-TLV element off `data`: (tag, value, rest).
fn der_take(data: &[u8]) -> (u8, &[u8], &[u8]) {
    let (tag, first) = (data[0], data[1]);
    let (len, head) = match first {
        l if l < 0x80 => (usize::from(l), 2),
        0x81 => (usize::from(data[2]), 3),
        0x82 => (usize::from(u16::from_be_bytes([data[2], data[3]])), 4),
        other => panic!("length form {other:#x}"),
    };
    (tag, &data[head..head + len], &data[head + len..])
}

/// The DER certificate in slot 1's object, checked to be stored as
/// `70 L <DER> 71 01 00 FE 00` (uncompressed, empty LRC).
fn slot_1_certificate(card: &VirtualYubiKey) -> Vec<u8> {
    let state = card.state();
    let value = state
        .piv_objects
        .get(&SLOT_1_OBJECT[..])
        .expect("slot 1 has a certificate object");
    let (tag, cert, rest) = der_take(value);
    assert_eq!(tag, 0x70);
    assert_eq!(rest, [0x71, 0x01, 0x00, 0xFE, 0x00]);
    cert.to_vec()
}

/// The to-be-signed part and the signature of a DER certificate, after
/// checking the signature algorithm is ecdsa-with-SHA256.
fn tbs_and_signature(cert: &[u8]) -> (&[u8], p256::ecdsa::Signature) {
    let (tag, body, rest) = der_take(cert);
    assert_eq!((tag, rest.len()), (0x30, 0));
    let (_, _, after_tbs) = der_take(body);
    let tbs = &body[..body.len() - after_tbs.len()];
    let (_, _, after_alg) = der_take(after_tbs);
    assert_eq!(
        &after_tbs[..after_tbs.len() - after_alg.len()],
        ECDSA_SHA256
    );
    let (tag, bits, rest) = der_take(after_alg);
    assert_eq!((tag, bits[0], rest.len()), (0x03, 0, 0));
    let signature = p256::ecdsa::Signature::from_der(&bits[1..]).expect("DER ECDSA signature");
    (tbs, signature)
}

/// The age-plugin-yubikey tag of a key, in hex (its default CN).
fn tag_hex(key: &p256::PublicKey) -> String {
    let digest = sha2::Sha256::digest(key.to_encoded_point(true).as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

fn openssl(args: &[&str], cert: &Path) -> Option<String> {
    let out = Command::new("openssl")
        .args(args)
        .arg("-in")
        .arg(cert)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn generate_writes_the_certificate_age_plugin_yubikey_expects() {
    let s = Sandbox::without_agent();
    let card = insert(Config::new());
    let out = run(
        &s,
        &["init", "--yubikey", "--generate"],
        &[("AVAULT_PIV_PIN", PIN)],
    );
    out.success();
    // Signed on the card by the new key: PIN (policy once), then a touch
    // (policy always), then PUT DATA.
    assert!(
        out.stderr().contains("Touch your YubiKey"),
        "{}",
        out.stderr()
    );
    let counters = card.counters();
    assert_eq!(
        (counters.sign, counters.put_data, counters.verify_pin_ok),
        (1, 1, 1)
    );
    assert!(counters.touches >= 1);

    let key = card.piv_public_key(0x82).expect("slot 1 holds the key");
    let point = key.to_encoded_point(false);
    let cert = slot_1_certificate(&card);
    let (tbs, signature) = tbs_and_signature(&cert);
    p256::ecdsa::VerifyingKey::from(&key)
        .verify(tbs, &signature)
        .expect("signed by the slot's key");
    let mut spki = P256_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(point.as_bytes());
    assert!(tbs.windows(spki.len()).any(|w| w == spki), "the slot's key");
    // Yubico's policy extension, two bytes: PIN once (2), touch always (2).
    let mut policy = POLICY_OID.to_vec();
    policy.extend_from_slice(&[0x04, 0x02, 0x02, 0x02]);
    assert!(tbs.windows(policy.len()).any(|w| w == policy), "policies");

    // An independent parser: openssl.
    let der = s.home().join("slot1.der");
    std::fs::write(&der, &cert).expect("write cert");
    let Some(text) = openssl(&["x509", "-inform", "DER", "-noout", "-text"], &der) else {
        eprintln!("openssl is not on PATH: skipping its checks");
        return;
    };
    let subject = format!(
        "O = age-plugin-yubikey, OU = avault {}, CN = age identity {}",
        env!("CARGO_PKG_VERSION"),
        tag_hex(&key)
    );
    for needle in [
        "Version: 3 (0x2)".to_owned(),
        format!("Issuer: {subject}"),
        format!("Subject: {subject}"),
        "Not After : Dec 31 23:59:59 9999 GMT".to_owned(),
        "Public Key Algorithm: id-ecPublicKey".to_owned(),
        "NIST CURVE: P-256".to_owned(),
        "1.3.6.1.4.1.41482.3.8:".to_owned(),
        "Signature Algorithm: ecdsa-with-SHA256".to_owned(),
    ] {
        assert!(text.contains(&needle), "no {needle:?} in\n{text}");
    }
    let pem = openssl(&["x509", "-inform", "DER", "-noout", "-pubkey"], &der).expect("openssl");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let from_openssl = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM");
    assert_eq!(from_openssl, spki, "openssl's view of the key");
    let pem_cert = s.home().join("slot1.pem");
    let converted = openssl(&["x509", "-inform", "DER", "-outform", "PEM"], &der).expect("pem");
    std::fs::write(&pem_cert, converted).expect("write pem");
    let verified = Command::new("openssl")
        .args(["verify", "-check_ss_sig", "-CAfile"])
        .arg(&pem_cert)
        .arg(&pem_cert)
        .output()
        .expect("openssl verify");
    assert!(
        verified.status.success(),
        "openssl verify: {}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn firmware_5_2_finds_the_key_through_its_certificate() {
    let s = Sandbox::without_agent();
    let card = insert(Config::new().firmware(5, 2, 7));
    // No GET METADATA before 5.3: without the certificate avault could not
    // find the key again, so no PIN to sign it is an error.
    run(&s, &["init", "--yubikey", "--generate"], &[]).fails_with("PIN");
    assert!(!s.vault().exists());
    assert_eq!(card.counters().generate, 0, "asked before generating");
    run(
        &s,
        &["init", "--yubikey", "--generate"],
        &[("AVAULT_PIV_PIN", PIN)],
    )
    .success();
    slot_1_certificate(&card);
    let added = add_by_card(&s, "prod");
    added.success();
    // The touch policy came from the certificate's extension.
    assert!(
        added.stderr().contains("Touch your YubiKey"),
        "{}",
        added.stderr()
    );
    let listed = run(&s, &["list", "--credentials"], &[("AVAULT_PIV_PIN", PIN)]);
    assert_eq!(listed.success().stdout(), "prod\n");
    let counters = card.counters();
    assert_eq!(counters.get_metadata, 0);
    assert!(counters.get_data >= 2 && counters.ecdh >= 2, "{counters:?}");
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn without_a_pin_the_slot_works_but_has_no_certificate() {
    let s = Sandbox::without_agent();
    let card = insert(Config::new());
    // A wrong PIN is found out before the slot is touched.
    run(
        &s,
        &["init", "--yubikey", "--generate"],
        &[("AVAULT_PIV_PIN", "000000")],
    )
    .fails_with("wrong PIN");
    assert_eq!(card.counters().generate, 0);
    assert!(!s.vault().exists());
    let out = run(&s, &["init", "--yubikey", "--generate"], &[]);
    out.success();
    assert!(
        out.stderr().contains("age-plugin-yubikey will not list it"),
        "{}",
        out.stderr()
    );
    assert_eq!(card.counters().sign, 0);
    assert!(!card.state().piv_objects.contains_key(&SLOT_1_OBJECT[..]));
    run(&s, &["list"], &[("AVAULT_PIV_PIN", PIN)]).success();
    drop(card);

    // A key that never wants the PIN is certified without one.
    let t = Sandbox::without_agent();
    let card = insert(Config::new());
    run(
        &t,
        &[
            "init",
            "--yubikey",
            "--generate",
            "--pin-policy",
            "never",
            "--touch-policy",
            "never",
        ],
        &[],
    )
    .success();
    assert_eq!(card.counters().sign, 1);
    let cert = slot_1_certificate(&card);
    let mut policy = POLICY_OID.to_vec();
    policy.extend_from_slice(&[0x04, 0x02, 0x01, 0x01]);
    assert!(cert.windows(policy.len()).any(|w| w == policy), "policies");
    drop(card);

    // PIN policy always: the PIN is verified again for the signature.
    let u = Sandbox::without_agent();
    let card = insert(Config::new());
    run(
        &u,
        &["init", "--yubikey", "--generate", "--pin-policy", "always"],
        &[("AVAULT_PIV_PIN", PIN)],
    )
    .success();
    let counters = card.counters();
    assert_eq!((counters.sign, counters.verify_pin_ok), (1, 2));
    let cert = slot_1_certificate(&card);
    let mut policy = POLICY_OID.to_vec();
    policy.extend_from_slice(&[0x04, 0x02, 0x03, 0x02]);
    assert!(cert.windows(policy.len()).any(|w| w == policy), "policies");
}

/// The directory of age-plugin-yubikey: on PATH, else where scripts/test
/// installs it (`cargo install --root ~/.cache/avault/tools`).
fn age_plugin_yubikey_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|c| c.join("avault/tools/bin"));
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(cache)
        .find(|dir| dir.join("age-plugin-yubikey").is_file())
        .expect(
            "age-plugin-yubikey is not installed: scripts/test installs it with \
             cargo install age-plugin-yubikey --locked --root ~/.cache/avault/tools",
        )
}

/// The first word of `text` that starts with `prefix` (words end at
/// spaces, parentheses, and the `\` of an escaped control character).
fn word<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.split(|c: char| c.is_whitespace() || "()\\".contains(c))
        .find(|w| w.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}… in {text}"))
}

/// age-plugin-yubikey itself lists the slot avault generated as one of its
/// identities, and the age CLI with the plugin opens the vault with the
/// identity stub avault printed, through the same pcscd and virtual card.
#[test]
#[ignore = "needs pcscd, vpcd, age and age-plugin-yubikey: run scripts/test"]
fn age_plugin_yubikey_opens_a_vault_avault_generated_the_key_of() {
    let plugin_dir = age_plugin_yubikey_dir();
    let path = std::env::join_paths(std::iter::once(plugin_dir.clone()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    let s = Sandbox::without_agent();
    let card = insert(Config::new());
    // PIN policy never: the age CLI would ask for a PIN on a terminal,
    // which a test does not have. The touch (policy always) is given by
    // the virtual card.
    let out = run(
        &s,
        &["init", "--yubikey", "--generate", "--pin-policy", "never"],
        &[],
    );
    out.success();
    let stderr = out.stderr();
    let recipient = word(&stderr, "age1yubikey1").to_owned();
    let stub = word(&stderr, "AGE-PLUGIN-YUBIKEY-1").to_owned();
    let key = card.piv_public_key(0x82).expect("slot 1");
    add_by_card(&s, "prod").success();

    let plugin = |args: &[&str]| {
        let mut cmd = Command::new(plugin_dir.join("age-plugin-yubikey"));
        cmd.args(args)
            .env("PATH", &path)
            .stdin(std::process::Stdio::null());
        for (k, v) in vyubikey::rig_env() {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("age-plugin-yubikey runs");
        assert!(
            out.status.success(),
            "age-plugin-yubikey {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // --list shows only the plugin's own slots (O=age-plugin-yubikey).
    let listed = plugin(&["--list"]);
    assert!(listed.contains(&recipient), "{listed}");
    let name = format!("age identity {}", tag_hex(&key));
    assert!(listed.contains(&name), "{listed}");
    assert!(listed.contains("Slot: 1"), "{listed}");
    let identities = plugin(&["--identity"]);
    assert!(identities.contains(&stub), "{identities}");

    let identity = s.home().join("yubikey-identity.txt");
    std::fs::write(&identity, format!("{stub}\n")).expect("write identity");
    let mut age = Command::new("age");
    age.arg("--decrypt")
        .arg("--identity")
        .arg(&identity)
        .arg(s.vault())
        .env("PATH", &path)
        .stdin(std::process::Stdio::null());
    for (k, v) in vyubikey::rig_env() {
        age.env(k, v);
    }
    let ecdh = card.counters().ecdh;
    let out = age.output().expect("age runs (install the age package)");
    assert!(
        out.status.success(),
        "age: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(card.counters().ecdh, ecdh + 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("payload is JSON");
    assert_eq!(doc["format"], "avault");
    assert_eq!(doc["profiles"]["prod"]["access_key_id"], support::KEY_ID);
}
