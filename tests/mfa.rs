//! MFA sources against the STS emulator: stored seeds (`mfa set`, `mfa
//! code`), never reusing a time step, `mfa_process`, and the ykman prompt.

#[path = "support/emulator.rs"]
mod emulator;
mod support;
#[path = "support/world.rs"]
mod world;

use std::os::unix::fs::PermissionsExt;

use world::{assumed, World};

/// alice's key stored without a seed; `ops` is a role behind her device.
fn with_role(w: &World, extra: &str) -> emulator::Role {
    w.store_alice("alice", false);
    let ops = w.mfa_role("ops");
    w.s.write_config(&format!(
        "[profile alice]\nmfa_serial = {serial}\n\
         [profile ops]\nsource_profile = alice\nrole_arn = {arn}\nmfa_serial = {serial}\n{extra}",
        serial = w.mfa.serial,
        arn = ops.arn
    ));
    w.emu.enforce_auth();
    ops
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn mfa_set_and_code_and_a_used_step_is_never_resent() {
    let w = World::new();
    let ops = with_role(&w, "");
    // The seed goes to alice's key, found through ops's source_profile.
    let cmd = w.avault(&["mfa", "set", "ops", "--totp-secret", "-"]);
    let set = support::run_with_stdin(cmd, w.mfa.seed_base32.as_bytes());

    assert!(set
        .success()
        .stderr()
        .contains("with the key of profile \"alice\""));

    // Start early in a time step, so that both calls below fall in it.
    let left = emulator::STEP - emulator::unix_now() % emulator::STEP;
    if left < 10 {
        std::thread::sleep(std::time::Duration::from_secs(left + 1));
    }
    let step = emulator::current_step();
    assert!(w.caller_arn("ops", &[]).starts_with(&assumed(&ops)));
    assert_eq!(w.emu.count("GetSessionToken"), 1);

    // The session is dropped; a new one needs a new code. The current step
    // was just used, so avault waits for the next one instead of sending a
    // code AWS would reject.
    w.run(&["clear"], &[]).success();
    let again = w.run(&["exec", "ops", "--json"], &[]);
    again.success();
    assert_eq!(
        emulator::current_step(),
        step + 1,
        "the test ran too slowly"
    );
    assert!(again.stderr().contains("waiting"), "{}", again.stderr());
    assert_eq!(w.emu.count("GetSessionToken"), 2, "{:?}", w.emu.counts());

    // `mfa code` prints the device's current code.
    let code = w.run(&["mfa", "code", "alice"], &[]);
    let code = code.success().stdout();
    let step = emulator::current_step();
    let expected = [
        emulator::totp(&w.mfa.seed_base32, step),
        emulator::totp(&w.mfa.seed_base32, step - 1),
    ];
    assert!(expected.contains(&code.trim().to_owned()), "{code}");
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn mfa_process_supplies_the_code() {
    let w = World::new();
    let code = w.mfa.code_now();
    let ops = with_role(&w, &format!("mfa_process = echo {code}\n"));
    assert!(w.caller_arn("ops", &[]).starts_with(&assumed(&ops)));
    let failing = World::new();
    with_role(&failing, "mfa_process = exit 3\n");
    failing
        .run(&["exec", "ops", "--json"], &[])
        .fails_with("mfa_process failed");
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn ykman_prompt_runs_ykman_with_aws_vaults_arguments() {
    let w = World::new();
    let ops = with_role(&w, "");
    let bin = w.s.home().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let args_file = w.s.home().join("ykman-args");
    let fake = bin.join("ykman");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\necho 'Touch your YubiKey...' >&2\necho {}\n",
            args_file.display(),
            w.mfa.code_now()
        ),
    )
    .expect("fake ykman");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = w.run(
        &["--prompt", "ykman", "exec", "ops", "--json"],
        &[("PATH", &path), ("YKMAN_OATH_DEVICE_SERIAL", "12345678")],
    );
    out.success();
    let args = std::fs::read_to_string(&args_file).expect("ykman ran");
    assert_eq!(
        args,
        format!(
            "--device 12345678 oath accounts code --single {}\n",
            w.mfa.serial
        )
    );
    assert!(w.caller_arn("ops", &[]).starts_with(&assumed(&ops)));
    // ykman 3 and an OATH account name of its own (AWS_VAULT_PROMPT form).
    w.run(&["clear"], &[]).success();
    let _ = w.run(
        &["exec", "ops", "--json"],
        &[
            ("PATH", &path),
            ("AWS_VAULT_PROMPT", "ykman"),
            ("AWS_VAULT_YKMAN_VERSION", "3"),
            ("YKMAN_OATH_CREDENTIAL_NAME", "aws-alice"),
        ],
    );
    let args = std::fs::read_to_string(&args_file).expect("ykman ran");
    assert_eq!(args.lines().nth(1), Some("oath code --single aws-alice"));
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn no_terminal_and_no_source_for_a_code_is_a_clear_error() {
    let w = World::new();
    with_role(&w, "");
    let out = w.run(&["exec", "ops", "--json"], &[]);
    out.fails_with("an MFA code is needed");
    assert!(out.stderr().contains("avault mfa set"), "{}", out.stderr());
}
