// Shared by several test binaries; each uses a different part.
#![allow(dead_code, unreachable_pub)]

//! A world for tests of the main job: the STS emulator with a user alice
//! (key, virtual MFA device), a sandboxed vault opened by an age identity,
//! and helpers to run avault and the AWS CLI against them.

use std::process::{Command, Stdio};

use crate::emulator::{self, allow, Emulator, Mfa, Role, RoleSpec, User};
use crate::support::{Run, Sandbox};
use serde_json::Value;

/// A vault (X25519 identity) with alice's key, an emulator, and a config.
pub struct World {
    pub s: Sandbox,
    pub emu: Emulator,
    pub identity: String,
    pub alice: User,
    pub mfa: Mfa,
}

impl World {
    pub fn new() -> World {
        let emu = Emulator::start();
        let alice = emu.create_user("alice", &allow(&["sts:*", "iam:GetUser"]));
        let mfa = emu.create_virtual_mfa(&alice);
        let s = Sandbox::new();
        let (identity, _) = s.init_identity();
        World {
            s,
            emu,
            identity,
            alice,
            mfa,
        }
    }

    pub fn role(&self, name: &str, spec: RoleSpec) -> Role {
        self.emu.create_role(name, &spec)
    }

    /// A role alice may assume without MFA, allowed sts:*.
    pub fn alice_role(&self, name: &str) -> Role {
        self.role(
            name,
            RoleSpec::trusting(&self.alice.arn).policy(allow(&["sts:*"])),
        )
    }

    pub fn mfa_role(&self, name: &str) -> Role {
        self.role(
            name,
            RoleSpec::trusting(&self.alice.arn)
                .require_mfa()
                .policy(allow(&["sts:*"])),
        )
    }

    /// Stores alice's key under `profile`; with the TOTP seed when `seed`.
    pub fn store_alice(&self, profile: &str, seed: bool) {
        let mut args = vec!["add", profile, "--env", "--add-config=false"];
        if seed {
            args.extend(["--mfa-serial", &self.mfa.serial, "--totp-secret", "-"]);
        }
        let mut cmd = self.avault(&args);
        cmd.env("AWS_ACCESS_KEY_ID", &self.alice.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.alice.secret_access_key);
        let seed = if seed {
            self.mfa.seed_base32.as_bytes()
        } else {
            b""
        };
        crate::support::run_with_stdin(cmd, seed).success();
    }

    /// avault with the emulator's endpoint and the identity.
    pub fn avault(&self, args: &[&str]) -> Command {
        let mut cmd = self.s.cmd();
        cmd.args(args).env("AVAULT_IDENTITY", &self.identity);
        for (k, v) in self.emu.endpoint_env() {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.avault(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run(cmd.stdin(Stdio::null()).output().expect("run avault"))
    }

    /// `avault exec PROFILE -- aws sts get-caller-identity`: the ARN.
    pub fn caller_arn(&self, profile: &str, extra: &[&str]) -> String {
        let aws = emulator::aws_cli();
        let aws = aws.to_str().expect("utf8");
        let mut args = vec!["exec", profile];
        args.extend_from_slice(extra);
        args.extend(["--", aws, "sts", "get-caller-identity", "--output", "json"]);
        let out = self.run(&args, &[]);
        out.success();
        let doc: Value = serde_json::from_str(&out.stdout()).expect("caller identity JSON");
        doc["Arn"].as_str().expect("Arn").to_owned()
    }

    pub fn json(&self, profile: &str, extra: &[&str], env: &[(&str, &str)]) -> Value {
        let mut args = vec!["exec", profile, "--json"];
        args.extend_from_slice(extra);
        let out = self.run(&args, env);
        out.success();
        serde_json::from_str(&out.stdout()).expect("credential_process JSON")
    }
}

/// The ARN prefix of a session of `role`.
pub fn assumed(role: &Role) -> String {
    format!(
        "arn:aws:sts::{}:assumed-role/{}/",
        emulator::ACCOUNT,
        role.name
    )
}

/// Seconds from now until an RFC 3339 time.
pub fn seconds_left(expiration: &str) -> i64 {
    let at =
        time::OffsetDateTime::parse(expiration, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339");
    (at - time::OffsetDateTime::now_utc()).whole_seconds()
}

/// The AWS CLI with `profile`, whose credentials come from
/// `credential_process = avault exec … --json`.
pub fn aws_command(w: &World, profile: &str) -> Command {
    let mut cmd = Command::new(emulator::aws_cli());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", w.s.home())
        .env("XDG_DATA_HOME", w.s.home().join("data"))
        .env("XDG_RUNTIME_DIR", w.s.runtime_dir())
        .env("AWS_CONFIG_FILE", w.s.config())
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            w.s.home().join("no-credentials"),
        )
        .env("AVAULT_IDENTITY", &w.identity)
        .env("AVAULT_TTY", "none")
        .env("AWS_PROFILE", profile)
        .args(["sts", "get-caller-identity", "--output", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in w.emu.endpoint_env() {
        cmd.env(k, v);
    }
    cmd
}
