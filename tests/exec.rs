//! `exec`, `export` and credential_process against the STS emulator (moto,
//! patched to check MFA codes) and the real AWS CLI: the main job.

#[path = "support/emulator.rs"]
mod emulator;
mod support;
#[path = "support/world.rs"]
mod world;

use emulator::{allow, RoleSpec};
use serde_json::Value;
use support::Run;
use world::{assumed, aws_command, seconds_left, World};

#[test]
#[ignore = "needs moto: run scripts/test"]
fn user_key_without_mfa_gets_a_session_as_the_user() {
    let w = World::new();
    w.store_alice("alice", false);
    assert_eq!(w.caller_arn("alice", &[]), w.alice.arn);
    assert_eq!(w.emu.count("GetSessionToken"), 1);
    // The session is cached: no second call.
    assert_eq!(w.caller_arn("alice", &[]), w.alice.arn);
    assert_eq!(w.emu.count("GetSessionToken"), 1);
    let json = w.json("alice", &[], &[]);
    assert_eq!(json["Version"], 1);
    assert!(
        json["AccessKeyId"]
            .as_str()
            .expect("id")
            .starts_with("ASIA")
            || json["SessionToken"].is_string()
    );
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn stored_seed_gives_hands_free_mfa_and_one_code_for_many_roles() {
    let w = World::new();
    w.store_alice("alice", true);
    let ops = w.mfa_role("ops");
    let audit = w.mfa_role("audit");
    let serial = w.mfa.serial.clone();
    w.s.write_config(&format!(
        "[profile alice]\nmfa_serial = {serial}\n\
         [profile ops]\nsource_profile = alice\nrole_arn = {}\nmfa_serial = {serial}\n\
         [profile audit]\nsource_profile = alice\nrole_arn = {}\nmfa_serial = {serial}\n",
        ops.arn, audit.arn
    ));
    w.emu.enforce_auth();
    assert!(w.caller_arn("ops", &[]).starts_with(&assumed(&ops)));
    assert!(w.caller_arn("audit", &[]).starts_with(&assumed(&audit)));
    assert_eq!(w.caller_arn("alice", &[]), w.alice.arn);
    // One MFA code (one GetSessionToken) served all three.
    assert_eq!(w.emu.count("GetSessionToken"), 1, "{:?}", w.emu.counts());
    assert_eq!(w.emu.count("AssumeRole"), 2);
    let sessions = w.run(&["list", "--sessions"], &[]);
    assert_eq!(sessions.success().stdout(), "alice\naudit\nops\n");
    let table = w.run(&["list"], &[]);
    assert!(
        table.success().stdout().contains("sts.AssumeRole:"),
        "{}",
        table.stdout()
    );
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn role_chain_include_profile_and_default_inheritance() {
    let w = World::new();
    w.store_alice("alice", true);
    let first = w.mfa_role("first");
    let second = w.role(
        "second",
        RoleSpec::trusting(&first.arn).policy(allow(&["sts:*"])),
    );
    let serial = w.mfa.serial.clone();
    w.s.write_config(&format!(
        "[default]\nregion = eu-west-1\n\
         [profile base]\nmfa_serial = {serial}\n\
         [profile first]\ninclude_profile = base\nsource_profile = alice\nrole_arn = {}\n\
         [profile second]\nsource_profile = first\nrole_arn = {}\n",
        first.arn, second.arn
    ));
    w.emu.enforce_auth();
    assert!(w.caller_arn("second", &[]).starts_with(&assumed(&second)));
    // [default]'s region reaches the child when the environment sets none.
    let mut cmd = w.avault(&[
        "exec",
        "second",
        "--",
        "sh",
        "-c",
        "echo $AWS_REGION $AWS_DEFAULT_REGION",
    ]);
    cmd.env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    let out = Run(cmd.output().expect("run"));
    assert_eq!(out.success().stdout(), "eu-west-1 eu-west-1\n");
    // AWS_REGION wins over the config.
    let out = w.run(
        &["exec", "second", "--", "sh", "-c", "echo $AWS_REGION"],
        &[],
    );
    assert_eq!(out.success().stdout(), "us-east-1\n");
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn external_id_is_sent() {
    let w = World::new();
    w.store_alice("alice", false);
    let vendor = w.role(
        "vendor",
        RoleSpec::trusting(&w.alice.arn)
            .external_id("s3cr3t-ext")
            .policy(allow(&["sts:*"])),
    );
    w.s.write_config(&format!(
        "[profile vendor]\nsource_profile = alice\nrole_arn = {}\nexternal_id = s3cr3t-ext\n\
         [profile wrong]\nsource_profile = alice\nrole_arn = {}\nexternal_id = nope\n",
        vendor.arn, vendor.arn
    ));
    w.emu.enforce_auth();
    assert!(w.caller_arn("vendor", &[]).starts_with(&assumed(&vendor)));
    let out = w.run(&["exec", "wrong", "--json"], &[]);
    out.fails_with("AccessDenied");
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn wrong_mfa_code_is_a_clear_error_and_nothing_is_cached() {
    let w = World::new();
    w.store_alice("alice", false);
    let ops = w.mfa_role("ops");
    w.s.write_config(&format!(
        "[profile ops]\nsource_profile = alice\nrole_arn = {}\nmfa_serial = {}\n",
        ops.arn, w.mfa.serial
    ));
    w.emu.enforce_auth();
    let before = w.s.vault_bytes();
    let wrong = w.mfa.wrong_code();
    let out = w.run(&["exec", "ops", "--json", "--mfa-token", &wrong], &[]);
    out.fails_with("MultiFactorAuthentication failed");
    assert!(
        out.stderr().contains("MFA code was wrong"),
        "{}",
        out.stderr()
    );
    assert_eq!(
        out.stderr().lines().count(),
        2,
        "one error line and one hint: {}",
        out.stderr()
    );
    assert_eq!(w.s.vault_bytes(), before);
    assert_eq!(w.run(&["list", "--sessions"], &[]).success().stdout(), "");
    // The right code works.
    let code = w.mfa.code_now();
    let json = w.json("ops", &["--mfa-token", &code], &[]);
    assert!(json["SessionToken"].is_string());
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn refresh_near_expiry_no_session_and_duration() {
    let w = World::new();
    w.store_alice("alice", false);
    let short = w.json("alice", &["--duration", "15m"], &[]);
    let exp = short["Expiration"].as_str().expect("Expiration").to_owned();
    let left = seconds_left(&exp);
    assert!((880..=900).contains(&left), "{left}");
    assert_eq!(w.emu.count("GetSessionToken"), 1);
    // Less than AWS_MIN_TTL left: refreshed.
    w.json("alice", &["--duration", "15m"], &[("AWS_MIN_TTL", "20m")]);
    assert_eq!(w.emu.count("GetSessionToken"), 2);
    let long = w.json(
        "alice",
        &[],
        &[("AWS_SESSION_TOKEN_TTL", "2h"), ("AWS_MIN_TTL", "16m")],
    );
    let left = seconds_left(long["Expiration"].as_str().expect("Expiration"));
    assert!((7180..=7200).contains(&left), "{left}");
    // --no-session: the stored key itself.
    let raw = w.json("alice", &["--no-session"], &[]);
    assert_eq!(raw["AccessKeyId"], w.alice.access_key_id);
    assert!(raw.get("SessionToken").is_none() && raw.get("Expiration").is_none());
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn web_identity_and_credential_process_sources() {
    let w = World::new();
    let web = w.alice_role("web");
    let token = w.s.home().join("token");
    std::fs::write(&token, "eyJhbGciOi.fake.jwt\n").expect("token");
    let creds = format!(
        r#"{{"Version":1,"AccessKeyId":"{}","SecretAccessKey":"{}"}}"#,
        w.alice.access_key_id, w.alice.secret_access_key
    );
    let script = w.s.home().join("creds.sh");
    std::fs::write(&script, format!("#!/bin/sh\ncat <<'EOF'\n{creds}\nEOF\n")).expect("script");
    w.s.write_config(&format!(
        "[profile web]\nrole_arn = {}\nweb_identity_token_file = {}\n\
         [profile proc]\ncredential_process = sh {}\n",
        web.arn,
        token.display(),
        script.display()
    ));
    assert!(w.caller_arn("web", &[]).starts_with(&assumed(&web)));
    assert_eq!(w.emu.count("AssumeRoleWithWebIdentity"), 1);
    assert_eq!(w.caller_arn("proc", &[]), w.alice.arn);
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn nesting_guard_clear_and_export_formats() {
    let w = World::new();
    w.store_alice("alice", false);
    let out = w.run(&["exec", "alice", "--json"], &[("AWS_VAULT", "prod")]);
    out.fails_with("AWS_VAULT");
    assert!(out.stderr().contains("exit") && out.stderr().contains("unset AWS_VAULT"));
    w.run(&["export", "alice"], &[("AWS_VAULT", "prod")])
        .fails_with("AWS_VAULT");

    let env = w.run(&["export", "alice", "--format", "env"], &[]);
    let env = env.success().stdout();
    let get = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| {
                l.trim_start_matches("export ")
                    .strip_prefix(&format!("{key}="))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| panic!("{key} missing: {text}"))
    };
    let id = get(&env, "AWS_ACCESS_KEY_ID");
    assert_eq!(get(&env, "AWS_REGION"), emulator::REGION);
    let exported = w.run(&["export", "alice", "--format", "export-env"], &[]);
    assert_eq!(get(&exported.success().stdout(), "AWS_ACCESS_KEY_ID"), id);
    let ini = w.run(&["export", "alice", "--format", "ini"], &[]);
    let ini = ini.success().stdout();
    assert!(ini.starts_with("[alice]\n"), "{ini}");
    assert!(
        ini.contains(&format!("aws_access_key_id = {id}\n")),
        "{ini}"
    );
    let json = w.run(&["export", "alice", "--format", "json"], &[]);
    let json: Value = serde_json::from_str(&json.success().stdout()).expect("json");
    assert_eq!(json["AccessKeyId"], id.as_str());
    // The exported keys work.
    let keys = emulator::Keys {
        access_key_id: id,
        secret_access_key: get(&env, "AWS_SECRET_ACCESS_KEY"),
        session_token: Some(get(&env, "AWS_SESSION_TOKEN")),
    };
    let who = emulator::json_of(&w.emu.aws(&keys, &["sts", "get-caller-identity"]));
    assert_eq!(who["Arn"], w.alice.arn.as_str());

    let cleared = w.run(&["clear"], &[]);
    assert_eq!(cleared.success().stdout(), "Cleared 1 sessions.\n");
    assert_eq!(w.run(&["list", "--sessions"], &[]).success().stdout(), "");
    // rm -s drops the sessions and keeps the key.
    w.json("alice", &[], &[]);
    let dropped = w.run(&["rm", "-s", "alice"], &[]);
    assert_eq!(dropped.success().stdout(), "Deleted 1 sessions.\n");
    assert_eq!(
        w.run(&["list", "--credentials"], &[]).success().stdout(),
        "alice\n"
    );
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn child_environment_is_exactly_as_aws_vault_builds_it() {
    let w = World::new();
    w.store_alice("alice", false);
    let out = w.run(
        &["exec", "alice", "--", "env"],
        &[
            ("AWS_PROFILE", "x"),
            ("AWS_SECURITY_TOKEN", "x"),
            ("AWS_SDK_LOAD_CONFIG", "1"),
            ("AVAULT_PASSPHRASE_COMMAND", "echo hunter2"),
            ("AVAULT_PIV_PIN", "123456"),
            ("AVAULT_OATH_PASSWORD", "hunter2"),
        ],
    );
    let env = out.success().stdout();
    for gone in [
        "AWS_PROFILE=",
        "AWS_SECURITY_TOKEN=",
        "AWS_SDK_LOAD_CONFIG=",
        "AVAULT_IDENTITY=",
        "AVAULT_PASSPHRASE_COMMAND=",
        "AVAULT_PIV_PIN=",
        "AVAULT_OATH_PASSWORD=",
    ] {
        assert!(
            !env.lines().any(|l| l.starts_with(gone)),
            "{gone} leaked: {env}"
        );
    }
    for set in [
        "AWS_VAULT=alice",
        "AWS_ACCESS_KEY_ID=",
        "AWS_SECRET_ACCESS_KEY=",
        "AWS_SESSION_TOKEN=",
        "AWS_CREDENTIAL_EXPIRATION=",
        "AWS_REGION=us-east-1",
    ] {
        assert!(
            env.lines().any(|l| l.starts_with(set)),
            "{set} missing: {env}"
        );
    }
    // The child's exit code is ours (execve).
    let code = w.run(&["exec", "alice", "--", "sh", "-c", "exit 7"], &[]);
    assert_eq!(code.code(), Some(7));
    let missing = w.run(&["exec", "alice", "--", "no-such-command-here"], &[]);
    assert_eq!(missing.code(), Some(127), "{}", missing.stderr());
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn thirty_two_parallel_credential_process_calls_cost_one_code() {
    let w = World::new();
    w.store_alice("alice", true);
    let ops = w.mfa_role("ops");
    let avault = env!("CARGO_BIN_EXE_avault");
    w.s.write_config(&format!(
        "[profile ops]\nsource_profile = alice\nrole_arn = {}\nmfa_serial = {}\n\
         [profile via-avault]\ncredential_process = {avault} exec ops --json\n",
        ops.arn, w.mfa.serial
    ));
    w.emu.enforce_auth();
    w.emu.reset_counts();
    let children: Vec<_> = (0..32)
        .map(|_| aws_command(&w, "via-avault").spawn().expect("spawn aws"))
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert!(doc["Arn"]
            .as_str()
            .expect("Arn")
            .starts_with(&assumed(&ops)));
    }
    let counts = w.emu.counts();
    assert_eq!(w.emu.count("GetSessionToken"), 1, "{counts:?}");
    assert_eq!(w.emu.count("AssumeRole"), 1, "{counts:?}");
}
