//! `exec --ecs-server`, `exec --ec2-server` and `proxy` against the STS
//! emulator, with the AWS CLI and boto3 inside the child as the clients.

#[path = "support/emulator.rs"]
mod emulator;
mod support;
#[path = "support/world.rs"]
mod world;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use emulator::{allow, RoleSpec};
use serde_json::Value;
use support::Run;
use world::{assumed, World};

fn probe() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/serve_probe.py")
}

fn python() -> String {
    emulator::python().display().to_string()
}

fn aws() -> String {
    emulator::aws_cli().display().to_string()
}

/// alice's key under `alice` (no MFA) and a role `ops` she may assume.
fn world_with_role() -> (World, emulator::Role) {
    let w = World::new();
    w.store_alice("alice", false);
    let ops = w.alice_role("ops");
    w.s.write_config(&format!(
        "[profile alice]\n[profile ops]\nsource_profile = alice\nrole_arn = {}\n",
        ops.arn
    ));
    (w, ops)
}

/// Runs avault with `args`; the probe's JSON answer.
fn probe_json(w: &World, args: &[&str], env: &[(&str, &str)]) -> Value {
    let out = w.run(args, env);
    out.success();
    serde_json::from_str(out.stdout().trim()).unwrap_or_else(|e| {
        panic!(
            "probe output is not JSON ({e}): {}\n{}",
            out.stdout(),
            out.stderr()
        )
    })
}

/// `avault exec ARGS… aws sts get-caller-identity`: the ARN the AWS CLI in
/// the child was given (ARGS end with `--` and any command prefix).
fn caller_in_child(w: &World, args: &[&str], env: &[(&str, &str)]) -> String {
    let aws = aws();
    let mut all = args.to_vec();
    all.extend([
        aws.as_str(),
        "sts",
        "get-caller-identity",
        "--output",
        "json",
    ]);
    let out = w.run(&all, env);
    out.success();
    let doc: Value = serde_json::from_str(&out.stdout()).expect("caller JSON");
    doc["Arn"].as_str().expect("Arn").to_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn ecs_server_serves_the_aws_cli_and_boto3_and_checks_its_token() {
    let (w, ops) = world_with_role();
    let audit = w.role(
        "audit",
        RoleSpec::trusting(&ops.arn).policy(allow(&["sts:*"])),
    );
    w.emu.enforce_auth();
    let probe = probe();
    let v = probe_json(
        &w,
        &[
            "exec",
            "ops",
            "--ecs-server",
            "--",
            &python(),
            probe.to_str().expect("utf8"),
            "ecs",
            &audit.arn,
        ],
        &[],
    );
    assert!(v["url"]
        .as_str()
        .expect("url")
        .starts_with("http://127.0.0.1:"));
    assert_eq!(v["token_length"], 40);
    assert_eq!(v["keys_in_env"], serde_json::json!([]));
    assert_eq!(
        v["plain"],
        serde_json::json!([
            200,
            ["AccessKeyId", "Expiration", "SecretAccessKey", "Token"]
        ])
    );
    assert_eq!(v["bearer"], 200);
    assert_eq!(
        v["none"],
        serde_json::json!([403, "{\"Message\":\"invalid Authorization token\"}"])
    );
    assert_eq!(v["wrong"][0], 403);
    assert_eq!(v["foreign_host"], 403);
    assert_eq!(v["get_credentials_path"], 200);
    assert_eq!(v["role_status"], 200);
    assert!(
        v["role_arn_caller"]
            .as_str()
            .expect("role caller")
            .starts_with(&assumed(&audit)),
        "{v}"
    );
    assert_eq!(v["bad_role"], 400);
    assert!(v["boto3_caller"]
        .as_str()
        .expect("boto3 caller")
        .starts_with(&assumed(&ops)));

    // The AWS CLI as the command.
    assert!(caller_in_child(&w, &["exec", "ops", "-s", "--"], &[]).starts_with(&assumed(&ops)));
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn a_burst_across_expiry_costs_one_assume_role() {
    let (w, _ops) = world_with_role();
    w.emu.enforce_auth();
    // Credentials live 16 s and are refreshed 10 s before they expire:
    // the probe waits past that point, then sends 200 requests at once.
    w.emu.set_lifetime(Some(16));
    w.emu.reset_counts();
    let probe = probe();
    let v = probe_json(
        &w,
        &[
            "exec",
            "ops",
            "--ecs-server",
            "--",
            &python(),
            probe.to_str().expect("utf8"),
            "burst",
            "200",
            "10",
        ],
        &[("AWS_MIN_TTL", "10s")],
    );
    w.emu.set_lifetime(None);
    assert_eq!(v["errors"], serde_json::json!([]), "{v}");
    assert_eq!(v["answers"], 200);
    let ids = v["ids"].as_array().expect("ids");
    assert_eq!(
        ids.len(),
        1,
        "every request got the same new credentials: {v}"
    );
    assert_ne!(ids[0], v["first"], "the credentials were refreshed: {v}");
    assert_eq!(w.emu.count("AssumeRole"), 2, "{:?}", w.emu.counts());
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn ec2_server_serves_imds_v1_and_v2_to_boto3_and_the_aws_cli() {
    let (w, ops) = world_with_role();
    w.emu.enforce_auth();
    let probe = probe();
    let port = free_port().to_string();
    let v = probe_json(
        &w,
        &[
            "exec",
            "ops",
            "--ec2-server",
            "--ec2-port",
            &port,
            "--",
            &python(),
            probe.to_str().expect("utf8"),
            "ec2",
        ],
        &[],
    );
    assert_eq!(v["endpoint"], format!("http://127.0.0.1:{port}"));
    assert_eq!(
        v["disabled"],
        Value::Null,
        "AWS_EC2_METADATA_DISABLED is removed"
    );
    assert_eq!(v["v1_list"], serde_json::json!([200, "local-credentials"]));
    assert_eq!(v["foreign_host"], 403);
    assert_eq!(v["identity"]["region"], emulator::REGION);
    assert_eq!(v["token_no_ttl"], 400);
    assert_eq!(v["token_forwarded"], 403);
    assert_eq!(v["token"][0], 200);
    assert_eq!(v["token"][2], "60");
    assert_eq!(v["v2_creds"][0], 200);
    assert_eq!(v["v2_creds"][1], "Success");
    assert_eq!(v["v2_creds"][2], "AWS-HMAC");
    assert_eq!(
        v["v2_creds"][3],
        serde_json::json!([
            "AccessKeyId",
            "Code",
            "Expiration",
            "LastUpdated",
            "SecretAccessKey",
            "Token",
            "Type"
        ])
    );
    assert_eq!(
        v["v1_after_v2"], 401,
        "a token is required once one was used"
    );
    assert_eq!(v["wrong_token"], 401);
    assert!(v["boto3_caller"]
        .as_str()
        .expect("boto3 caller")
        .starts_with(&assumed(&ops)));

    let port = free_port().to_string();
    assert!(caller_in_child(
        &w,
        &["exec", "ops", "--ec2-server", "--ec2-port", &port, "--"],
        &[]
    )
    .starts_with(&assumed(&ops)));
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn the_child_gets_no_keys_and_no_unlock_secret_in_server_mode() {
    let (w, _ops) = world_with_role();
    let probe = probe();
    let probe = probe.to_str().expect("utf8");
    let v = probe_json(
        &w,
        &["exec", "ops", "-s", "--", &python(), probe, "env"],
        &[],
    );
    assert_eq!(v["AWS_ACCESS_KEY_ID"], false);
    assert_eq!(v["AWS_SESSION_TOKEN"], false);
    assert_eq!(v["AWS_CONTAINER_CREDENTIALS_FULL_URI"], true);
    assert_eq!(v["AWS_CONTAINER_AUTHORIZATION_TOKEN"], true);
    assert_eq!(v["AWS_VAULT"], true);
    assert_eq!(v["AVAULT_IDENTITY"], false);
    let port = free_port().to_string();
    let v = probe_json(
        &w,
        &[
            "exec",
            "ops",
            "--ec2-server",
            "--ec2-port",
            &port,
            "--",
            &python(),
            probe,
            "env",
        ],
        &[],
    );
    assert_eq!(v["AWS_ACCESS_KEY_ID"], false);
    assert_eq!(v["AWS_EC2_METADATA_SERVICE_ENDPOINT"], true);
    assert_eq!(v["AWS_EC2_METADATA_DISABLED"], false);
    assert_eq!(v["AVAULT_IDENTITY"], false);
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn exit_codes_and_signals_pass_through() {
    let (w, _ops) = world_with_role();
    let out = w.run(&["exec", "alice", "-s", "--", "sh", "-c", "exit 7"], &[]);
    assert_eq!(out.code(), Some(7), "{}", out.stderr());
    let out = w.run(
        &[
            "exec",
            "alice",
            "--ec2-server",
            "--ec2-port",
            "0",
            "--",
            "sh",
            "-c",
            "kill -TERM $$",
        ],
        &[],
    );
    assert_eq!(out.code(), Some(128 + 15), "{}", out.stderr());
    let out = w.run(
        &["exec", "alice", "-s", "--", "no-such-command-avault"],
        &[],
    );
    assert_eq!(out.code(), Some(127), "{}", out.stderr());

    // SIGTERM sent to avault reaches the child, whose handler decides the
    // exit code.
    let ready = w.s.home().join("ready");
    let script = format!(
        "trap 'exit 42' TERM; touch {}; while :; do sleep 0.1; done",
        ready.display()
    );
    let child = w
        .avault(&["exec", "alice", "-s", "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start avault");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the child never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let out = Run(child.wait_with_output().expect("wait"));
    assert_eq!(out.code(), Some(42), "{}", out.stderr());
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn server_flags_exclude_each_other_and_json() {
    let (w, _ops) = world_with_role();
    for args in [
        &["exec", "ops", "--ecs-server", "--ec2-server", "--", "true"][..],
        &["exec", "ops", "--ecs-server", "--json"],
        &["exec", "ops", "--ec2-server", "--no-session", "--", "true"],
        &["exec", "ops", "--lazy", "--", "true"],
        &["exec", "ops", "--ec2-port", "9", "--", "true"],
    ] {
        let out = w.run(args, &[]);
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr());
    }
    // --lazy: no STS call until the first request.
    w.emu.reset_counts();
    let out = w.run(&["exec", "ops", "-s", "--lazy", "--", "true"], &[]);
    out.success();
    assert_eq!(w.emu.count("AssumeRole"), 0);
    let out = w.run(&["exec", "ops", "-s", "--", "true"], &[]);
    out.success();
    assert_eq!(w.emu.count("AssumeRole"), 1);
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn proxy_forwards_to_the_ec2_server_and_stops() {
    let (w, ops) = world_with_role();
    let listen = format!("127.0.0.1:{}", free_port());
    let ec2_port = free_port().to_string();
    let mut proxy = w
        .avault(&["proxy", "--listen", &listen, "--ec2-port", &ec2_port])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start proxy");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(Instant::now() < deadline, "the proxy never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The child's SDK is pointed at the proxy instead of the server.
    assert!(caller_in_child(
        &w,
        &[
            "exec",
            "ops",
            "--ec2-server",
            "--ec2-port",
            &ec2_port,
            "--",
            "env",
            &format!("AWS_EC2_METADATA_SERVICE_ENDPOINT=http://{listen}/")
        ],
        &[]
    )
    .starts_with(&assumed(&ops)));
    w.run(&["proxy", "--stop", "--listen", &listen], &[])
        .success();
    let status = proxy.wait().expect("proxy exits");
    assert!(status.success());
    // Nothing listens any more.
    let out = w.run(&["proxy", "--stop", "--listen", &listen], &[]);
    out.fails_with("cannot reach a proxy");
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn a_role_behind_mfa_is_served_with_the_stored_seed() {
    let w = World::new();
    w.store_alice("alice", true);
    let ops = w.mfa_role("ops");
    w.s.write_config(&format!(
        "[profile alice]\nmfa_serial = {serial}\n\
         [profile ops]\nsource_profile = alice\nrole_arn = {}\nmfa_serial = {serial}\n",
        ops.arn,
        serial = w.mfa.serial
    ));
    w.emu.enforce_auth();
    assert!(caller_in_child(
        &w,
        &["exec", "ops", "--ecs-server", "--lazy", "--"],
        &[("AVAULT_TTY", "none")]
    )
    .starts_with(&assumed(&ops)));
    assert_eq!(w.emu.count("GetSessionToken"), 1);
    assert_eq!(w.emu.count("AssumeRole"), 1);
}
