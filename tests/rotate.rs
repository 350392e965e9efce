//! `rotate` against the IAM/STS emulator with IAM auth enforcement on: the
//! old key stops working, the new one works and is the one stored, and
//! every way the rotation can stop part-way leaves a vault that opens and
//! holds a working key.

#[path = "support/emulator.rs"]
mod emulator;
mod support;
#[path = "support/world.rs"]
mod world;

use std::process::Stdio;
use std::time::{Duration, Instant};

use emulator::{allow, Keys, Role};
use serde_json::{json, Value};
use support::{Run, Sandbox};
use world::{assumed, World};

/// What alice may do besides STS: manage her own keys.
fn rotation_actions() -> Vec<&'static str> {
    vec![
        "sts:*",
        "iam:GetUser",
        "iam:CreateAccessKey",
        "iam:DeleteAccessKey",
        "iam:ListAccessKeys",
    ]
}

fn set_alice_policy(w: &World, policy: &Value) {
    w.emu.aws_json(&[
        "iam",
        "put-user-policy",
        "--user-name",
        "alice",
        "--policy-name",
        "test",
        "--policy-document",
        &policy.to_string(),
    ]);
}

/// A world where alice may rotate her key, stored as profile alice.
fn world(seed: bool) -> World {
    let w = World::new();
    set_alice_policy(&w, &allow(&rotation_actions()));
    w.store_alice("alice", seed);
    w
}

/// [`world`] with a role ops that alice may assume (profile ops, source
/// profile alice), IAM auth enforced.
fn world_with_role() -> (World, Role) {
    let w = world(false);
    let ops = w.alice_role("ops");
    w.s.write_config(&format!(
        "[profile alice]\n[profile ops]\nsource_profile = alice\nrole_arn = {}\n",
        ops.arn
    ));
    w.emu.enforce_auth();
    (w, ops)
}

/// The long-term key stored under `profile`, through `export -n`.
fn stored_keys(w: &World, profile: &str) -> Keys {
    let out = w.run(&["export", profile, "-n", "--format", "json"], &[]);
    out.success();
    let doc: Value = serde_json::from_str(&out.stdout()).expect("credential_process JSON");
    let field = |f: &str| doc[f].as_str().expect(f).to_owned();
    Keys {
        access_key_id: field("AccessKeyId"),
        secret_access_key: field("SecretAccessKey"),
        session_token: None,
    }
}

/// `aws sts get-caller-identity` with `keys`: the ARN, or the error text.
fn caller_of(w: &World, keys: &Keys) -> Result<String, String> {
    let out = w.emu.aws(keys, &["sts", "get-caller-identity"]);
    if out.status.success() {
        let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        Ok(doc["Arn"].as_str().expect("Arn").to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[track_caller]
fn assert_rejected(w: &World, keys: &Keys) {
    let err = caller_of(w, keys).expect_err("the old key must be rejected");
    assert!(err.contains("InvalidClientTokenId"), "{err}");
}

/// Neither the old nor the new secret appears in what rotate printed.
#[track_caller]
fn assert_no_secrets(out: &Run, secrets: &[&str]) {
    for text in [out.stdout(), out.stderr()] {
        for secret in secrets {
            assert!(!text.contains(secret), "a secret key leaked: {text}");
        }
    }
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn rotate_replaces_the_key_and_drops_the_chains_sessions() {
    let (w, ops) = world_with_role();
    assert_eq!(w.caller_arn("alice", &[]), w.alice.arn);
    assert!(w.caller_arn("ops", &[]).starts_with(&assumed(&ops)));
    let sessions = w.run(&["list", "--sessions"], &[]);
    assert_eq!(sessions.success().stdout(), "alice\nops\n");
    w.emu.reset_counts();

    let out = w.run(&["rotate", "alice"], &[]);
    out.success();
    let new = stored_keys(&w, "alice");
    assert_ne!(new.access_key_id, w.alice.access_key_id);
    assert_eq!(
        out.stdout(),
        format!(
            "Rotated the key of profile alice: {} → {} (old key deleted)\n",
            w.alice.access_key_id, new.access_key_id
        )
    );
    assert_no_secrets(&out, &[&w.alice.secret_access_key, &new.secret_access_key]);
    assert_eq!(w.emu.iam_count("CreateAccessKey"), 1);
    assert_eq!(w.emu.iam_count("DeleteAccessKey"), 1);

    assert_rejected(&w, &w.alice.keys());
    assert_eq!(caller_of(&w, &new), Ok(w.alice.arn.clone()));
    // The sessions of the old key are gone, and new ones come from the new key.
    let sessions = w.run(&["list", "--sessions"], &[]);
    assert_eq!(sessions.success().stdout(), "");
    w.emu.reset_counts();
    assert_eq!(w.caller_arn("alice", &[]), w.alice.arn);
    assert!(w.caller_arn("ops", &[]).starts_with(&assumed(&ops)));
    assert_eq!(w.emu.count("GetSessionToken"), 1, "{:?}", w.emu.counts());
    assert_eq!(w.emu.count("AssumeRole"), 1, "{:?}", w.emu.counts());
    // The vault still lists the one stored key.
    let listed = w.run(&["list", "--credentials"], &[]);
    assert_eq!(listed.success().stdout(), "alice\n");
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn mfa_required_by_policy_takes_one_code_and_no_session_is_refused() {
    let w = world(true);
    set_alice_policy(
        &w,
        &json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": rotation_actions(), "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Action": "iam:*",
                    "Resource": "*",
                    "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
                }
            ]
        }),
    );
    w.s.write_config(&format!("[profile alice]\nmfa_serial = {}\n", w.mfa.serial));
    w.emu.enforce_auth();
    // The policy bites: the key alone may not create keys.
    let denied = w.emu.aws(
        &w.alice.keys(),
        &["iam", "list-access-keys", "--user-name", "alice"],
    );
    assert!(
        !denied.status.success(),
        "the deny-without-MFA policy is in force"
    );

    w.emu.reset_counts();
    let out = w.run(&["rotate", "alice"], &[]);
    out.success();
    assert_eq!(w.emu.count("GetSessionToken"), 1, "{:?}", w.emu.counts());
    assert_eq!(w.emu.iam_count("DeleteAccessKey"), 1);
    assert_rejected(&w, &w.alice.keys());
    let new = stored_keys(&w, "alice");
    assert_eq!(caller_of(&w, &new), Ok(w.alice.arn.clone()));
    assert!(
        out.stdout().contains(&new.access_key_id),
        "{}",
        out.stdout()
    );
    // The seed stays with the new key: exec still gets its code by itself.
    assert_eq!(w.caller_arn("alice", &[]), w.alice.arn);

    let before = w.s.vault_bytes();
    w.emu.reset_counts();
    let refused = w.run(&["rotate", "alice", "-n"], &[]);
    refused.fails_with("IAM CreateAccessKey failed: AccessDenied");
    assert!(
        refused.stderr().contains("rotate without -n"),
        "{}",
        refused.stderr()
    );
    assert_eq!(w.emu.count("GetSessionToken"), 0);
    assert_eq!(
        w.s.vault_bytes(),
        before,
        "a refused rotation writes nothing"
    );
    assert_eq!(caller_of(&w, &new), Ok(w.alice.arn.clone()));
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn a_user_with_two_keys_gets_told_what_to_delete() {
    let w = world(false);
    w.s.write_config("[profile alice]\n");
    w.emu
        .aws_json(&["iam", "create-access-key", "--user-name", "alice"]);
    w.emu.enforce_auth();
    let before = w.s.vault_bytes();
    let out = w.run(&["rotate", "alice"], &[]);
    out.fails_with("LimitExceeded");
    let err = out.stderr();
    assert!(
        err.contains("user alice already has two access keys: delete the unused one"),
        "{err}"
    );
    assert!(
        err.contains("aws iam list-access-keys --user-name alice"),
        "{err}"
    );
    assert!(err.contains("run avault rotate again"), "{err}");
    assert_eq!(w.s.vault_bytes(), before, "the vault is untouched");
    assert_eq!(w.emu.iam_count("DeleteAccessKey"), 0);
    assert_eq!(caller_of(&w, &w.alice.keys()), Ok(w.alice.arn.clone()));
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn a_failed_delete_keeps_the_new_key_and_names_the_old_one() {
    let w = world(false);
    w.s.write_config("[profile alice]\n");
    w.emu.enforce_auth();
    w.emu.fail_iam("DeleteAccessKey", 403, "AccessDenied", None);
    let out = w.run(&["rotate", "alice"], &[]);
    out.fails_with(&format!(
        "deleting the old key {} failed",
        w.alice.access_key_id
    ));
    assert!(
        out.stderr().contains(&format!(
            "the old key is still active: delete it with: aws iam delete-access-key \
             --user-name alice --access-key-id {}",
            w.alice.access_key_id
        )),
        "{}",
        out.stderr()
    );
    let new = stored_keys(&w, "alice");
    assert_ne!(new.access_key_id, w.alice.access_key_id);
    assert_no_secrets(&out, &[&w.alice.secret_access_key, &new.secret_access_key]);
    assert_eq!(caller_of(&w, &new), Ok(w.alice.arn.clone()));
    assert_eq!(w.caller_arn("alice", &[]), w.alice.arn);
    // Both keys are active, as the message says.
    assert_eq!(caller_of(&w, &w.alice.keys()), Ok(w.alice.arn.clone()));
    assert_eq!(
        w.emu.iam_count("DeleteAccessKey"),
        1,
        "AccessDenied is not retried"
    );
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn a_passing_iam_outage_is_retried() {
    let w = world(false);
    w.s.write_config("[profile alice]\n");
    w.emu.enforce_auth();
    w.emu
        .fail_iam("DeleteAccessKey", 500, "ServiceFailure", Some(4));
    let out = w.run(&["rotate", "alice"], &[]);
    out.success();
    assert!(
        out.stdout().contains("(old key deleted)"),
        "{}",
        out.stdout()
    );
    assert_eq!(w.emu.iam_count("DeleteAccessKey"), 5);
    assert_rejected(&w, &w.alice.keys());
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn a_rotation_killed_before_the_delete_leaves_a_working_vault() {
    let w = world(false);
    w.s.write_config("[profile alice]\n");
    w.emu.enforce_auth();
    w.emu.reset_counts();
    w.emu.stall_iam("DeleteAccessKey", 60);
    let mut child = w
        .avault(&["rotate", "alice"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn avault rotate");
    let deadline = Instant::now() + Duration::from_secs(60);
    while w.emu.iam_count("DeleteAccessKey") == 0 {
        assert!(
            Instant::now() < deadline,
            "rotate never reached DeleteAccessKey"
        );
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "rotate ended early"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(w.emu.iam_count("CreateAccessKey"), 1);
    child.kill().expect("SIGKILL avault");
    child.wait().expect("wait");
    w.emu.clear_faults();

    let listed = w.run(&["list", "--credentials"], &[]);
    assert_eq!(listed.success().stdout(), "alice\n");
    let stored = stored_keys(&w, "alice");
    assert_ne!(
        stored.access_key_id, w.alice.access_key_id,
        "the new key was stored"
    );
    assert_eq!(caller_of(&w, &stored), Ok(w.alice.arn.clone()));
    assert_eq!(w.caller_arn("alice", &[]), w.alice.arn);
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn a_role_profile_rotates_its_source_key() {
    let (w, ops) = world_with_role();
    let out = w.run(&["rotate", "ops"], &[]);
    out.success();
    assert!(
        out.stdout().starts_with(&format!(
            "Rotated the key of profile alice: {} → ",
            w.alice.access_key_id
        )),
        "{}",
        out.stdout()
    );
    assert_rejected(&w, &w.alice.keys());
    assert!(w.caller_arn("ops", &[]).starts_with(&assumed(&ops)));
}

#[test]
fn a_profile_without_a_stored_key_is_a_clear_error() {
    let s = Sandbox::new();
    let (identity, _) = s.init_identity();
    s.write_config(
        "[profile bob]\nregion = eu-west-1\n[profile ops]\nsource_profile = bob\n\
         role_arn = arn:aws:iam::123456789012:role/ops\n",
    );
    let before = s.vault_bytes();
    for profile in ["bob", "ops"] {
        let out = s.run(&["rotate", profile], &[("AVAULT_IDENTITY", &identity)]);
        out.fails_with(&format!("no stored key behind profile \"{profile}\""));
        assert!(
            out.stderr().contains("store one with: avault add bob"),
            "{}",
            out.stderr()
        );
    }
    assert_eq!(s.vault_bytes(), before);
}
