//! The STS/IAM emulator: moto, patched by `tests/support/moto_server.py`
//! (real MFA codes, GetSessionToken credentials that act as the user, call
//! counts), run on 127.0.0.1 with the Python from `scripts/peers`
//! (`$AVAULT_TEST_PYTHON`), plus setup helpers that drive it with the real
//! AWS CLI from the same virtualenv.
//!
//! Every client started here gets `AWS_ENDPOINT_URL` = the emulator and
//! `AWS_EC2_METADATA_DISABLED=true`, a private config and credentials file,
//! and no inherited `AWS_*` variable: nothing can reach a real AWS host.
//!
//! Setup runs as the launcher's `avault-admin` user (allowed everything), so
//! the helpers work before and after [`Emulator::enforce_auth`].
//!
//! Use it from a test binary as `#[path = "support/emulator.rs"] mod emulator;`
//! (or through `support` once its mod.rs declares it).

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// The account moto puts everything in.
pub const ACCOUNT: &str = "123456789012";
/// The region every client is given.
pub const REGION: &str = "us-east-1";
/// TOTP step, seconds.
pub const STEP: u64 = 30;

/// How long the launcher may take to print its port.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// The Python of the peers' virtualenv; panics with a way out when unset.
pub fn python() -> PathBuf {
    match std::env::var_os("AVAULT_TEST_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "AVAULT_TEST_PYTHON is not set. The emulator tests need the Python peers \
             (moto, awscli, boto3) that scripts/peers installs: run scripts/test, or \
             `export AVAULT_TEST_PYTHON=\"$(scripts/peers | tail -n1)/python\"`"
        ),
    }
}

/// The AWS CLI (v1) next to that Python.
pub fn aws_cli() -> PathBuf {
    let python = python();
    let aws = python.parent().map(|d| d.join("aws")).unwrap_or_default();
    assert!(
        aws.is_file(),
        "no AWS CLI at {} (next to AVAULT_TEST_PYTHON): rerun scripts/peers",
        aws.display()
    );
    aws
}

/// The launcher script.
pub fn launcher() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_server.py")
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The current TOTP time step.
pub fn current_step() -> u64 {
    unix_now() / STEP
}

/// The RFC 6238 code (SHA1, 6 digits, 30 s) of a base32 seed at a time step.
pub fn totp(seed_base32: &str, step: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(seed_base32.trim()).expect("base32 TOTP seed");
    totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .expect("TOTP parameters")
        .generate(step * STEP)
        .to_string()
}

/// Credentials for a client.
#[derive(Clone, Debug)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Keys {
    /// From the `Credentials` object of an STS answer (`aws sts ...`, boto3).
    pub fn from_sts(credentials: &Value) -> Keys {
        let field = |name: &str| {
            credentials[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {credentials}"))
                .to_owned()
        };
        Keys {
            access_key_id: field("AccessKeyId"),
            secret_access_key: field("SecretAccessKey"),
            session_token: Some(field("SessionToken")),
        }
    }
}

/// An IAM user with one access key.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl User {
    pub fn keys(&self) -> Keys {
        Keys {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: None,
        }
    }
}

/// A virtual MFA device, enabled for a user.
#[derive(Clone, Debug)]
pub struct Mfa {
    pub serial: String,
    pub seed_base32: String,
}

impl Mfa {
    pub fn code_at(&self, step: u64) -> String {
        totp(&self.seed_base32, step)
    }

    /// The code of the current step. The emulator accepts a step once: a
    /// second call in the same step gets the same, now spent, code.
    pub fn code_now(&self) -> String {
        self.code_at(current_step())
    }

    /// Sleeps until the step after `step` starts; returns its code.
    pub fn code_after(&self, step: u64) -> String {
        while current_step() <= step {
            std::thread::sleep(Duration::from_millis(200));
        }
        self.code_now()
    }

    /// A well-formed code that no step near now accepts.
    pub fn wrong_code(&self) -> String {
        let now = current_step();
        let near: Vec<String> = (now.saturating_sub(3)..=now + 3)
            .map(|s| self.code_at(s))
            .collect();
        (0..1_000_000u32)
            .map(|n| format!("{n:06}"))
            .find(|c| !near.contains(c))
            .expect("a code outside the window")
    }
}

/// An IAM role.
#[derive(Clone, Debug)]
pub struct Role {
    pub name: String,
    pub arn: String,
}

/// What a role trusts and allows.
#[derive(Clone, Debug)]
pub struct RoleSpec {
    /// The principal ARN the trust policy names (a user, a role, or
    /// `arn:aws:iam::ACCOUNT:root`).
    pub trusted: String,
    /// `Bool aws:MultiFactorAuthPresent = true` in the trust policy.
    pub require_mfa: bool,
    /// `StringEquals sts:ExternalId = ...` in the trust policy.
    pub external_id: Option<String>,
    /// The role's MaxSessionDuration, seconds (AWS default 3600).
    pub max_session_duration: Option<u32>,
    /// The role's inline policy (default: allow sts:GetCallerIdentity).
    pub policy: Option<Value>,
}

impl RoleSpec {
    pub fn trusting(principal_arn: &str) -> RoleSpec {
        RoleSpec {
            trusted: principal_arn.to_owned(),
            require_mfa: false,
            external_id: None,
            max_session_duration: None,
            policy: None,
        }
    }

    pub fn require_mfa(mut self) -> RoleSpec {
        self.require_mfa = true;
        self
    }

    pub fn external_id(mut self, id: &str) -> RoleSpec {
        self.external_id = Some(id.to_owned());
        self
    }

    pub fn max_session_duration(mut self, seconds: u32) -> RoleSpec {
        self.max_session_duration = Some(seconds);
        self
    }

    pub fn policy(mut self, policy: Value) -> RoleSpec {
        self.policy = Some(policy);
        self
    }

    /// The trust policy document.
    pub fn trust_policy(&self) -> Value {
        let mut condition = serde_json::Map::new();
        if self.require_mfa {
            condition.insert(
                "Bool".into(),
                json!({ "aws:MultiFactorAuthPresent": "true" }),
            );
        }
        if let Some(id) = &self.external_id {
            condition.insert("StringEquals".into(), json!({ "sts:ExternalId": id }));
        }
        let mut statement = json!({
            "Effect": "Allow",
            "Principal": { "AWS": self.trusted },
            "Action": "sts:AssumeRole",
        });
        if !condition.is_empty() {
            statement["Condition"] = Value::Object(condition);
        }
        json!({ "Version": "2012-10-17", "Statement": [statement] })
    }
}

/// An identity policy that allows `actions` on every resource.
pub fn allow(actions: &[&str]) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": actions, "Resource": "*" }],
    })
}

/// stdout parsed as JSON; panics with the whole output when the command
/// failed or printed something else.
#[track_caller]
pub fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "command failed: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A running emulator; killed on drop.
pub struct Emulator {
    child: Child,
    /// Closing it makes the launcher exit even if kill() is never reached.
    stdin: Option<ChildStdin>,
    port: u16,
    admin: Keys,
    dir: tempfile::TempDir,
}

impl Emulator {
    /// Starts moto on 127.0.0.1 at a free port and waits until it listens.
    pub fn start() -> Emulator {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("home")).expect("mkdir home");
        fs::write(dir.path().join("config"), "").expect("write config");
        fs::write(dir.path().join("credentials"), "").expect("write credentials");
        let log = fs::File::create(dir.path().join("moto.log")).expect("create moto.log");
        let mut child = Command::new(python())
            .arg(launcher())
            .arg("0")
            .arg("--exit-on-stdin-eof")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path().join("home"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python().display()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("launcher stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut values = BTreeMap::new();
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        while !values.contains_key("PORT") {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some((k, v)) = line.split_once('=') {
                        values.insert(k.to_owned(), v.to_owned());
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "the moto launcher did not print its port ({e:?}); its log:\n{}",
                        fs::read_to_string(dir.path().join("moto.log")).unwrap_or_default()
                    );
                }
            }
        }
        let port = values["PORT"].parse().expect("PORT=<number>");
        let admin = Keys {
            access_key_id: values
                .get("ADMIN_ACCESS_KEY_ID")
                .cloned()
                .unwrap_or_default(),
            secret_access_key: values
                .get("ADMIN_SECRET_ACCESS_KEY")
                .cloned()
                .unwrap_or_default(),
            session_token: None,
        };
        Emulator {
            child,
            stdin,
            port,
            admin,
            dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, for AWS_ENDPOINT_URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The launcher's all-powerful IAM user.
    pub fn admin(&self) -> &Keys {
        &self.admin
    }

    /// The server's stderr so far (request log, MFA refusals).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }

    /// One HTTP request to the emulator itself: (status, body).
    pub fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read response");
        let text = String::from_utf8_lossy(&raw);
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {text}"));
        let chunked = head.lines().any(|l| {
            l.to_ascii_lowercase()
                .starts_with("transfer-encoding: chunked")
        });
        let body = if chunked {
            dechunk(rest)
        } else {
            rest.to_owned()
        };
        (status, body)
    }

    /// STS requests received per action since the start or the last reset
    /// (refused ones included).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let (status, body) = self.http("GET", "/avault/counts", "");
        assert_eq!(status, 200, "GET /avault/counts: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("counts {body:?}: {e}"))
    }

    /// One action's count.
    pub fn count(&self, action: &str) -> u64 {
        self.counts().get(action).copied().unwrap_or(0)
    }

    pub fn reset_counts(&self) {
        let (status, body) = self.http("POST", "/avault/counts/reset", "");
        assert_eq!(status, 200, "POST /avault/counts/reset: {body}");
    }

    /// Turns on moto's IAM auth enforcement: from now on every request must
    /// be signed by a known key and allowed by its policies.
    pub fn enforce_auth(&self) {
        let (status, body) = self.http("POST", "/moto-api/reset-auth", "0");
        assert_eq!(status, 200, "POST /moto-api/reset-auth: {body}");
    }

    /// Credentials issued from now on expire `seconds` after issue
    /// (`None`: as asked). For tests of refresh before expiry.
    pub fn set_lifetime(&self, seconds: Option<u64>) {
        let body = match seconds {
            Some(s) => format!("{{\"seconds\": {s}}}"),
            None => "{\"seconds\": null}".to_owned(),
        };
        let (status, answer) = self.http("POST", "/avault/lifetime", &body);
        assert_eq!(status, 200, "POST /avault/lifetime: {answer}");
    }

    /// What points a process (avault itself, say) at the emulator and
    /// nowhere else: AWS_ENDPOINT_URL, AWS_EC2_METADATA_DISABLED=true and the
    /// region.
    pub fn endpoint_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".to_owned(), self.endpoint()),
            ("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()),
            ("AWS_DEFAULT_REGION".to_owned(), REGION.to_owned()),
            ("AWS_REGION".to_owned(), REGION.to_owned()),
        ]
    }

    /// The environment of any AWS client (CLI, boto3, avault's children)
    /// pointed at the emulator with `keys`: endpoint, region, no metadata
    /// lookup, private config files, one attempt per call.
    pub fn client_env(&self, keys: &Keys) -> Vec<(String, String)> {
        let path = |name: &str| self.dir.path().join(name).display().to_string();
        let mut env = self.endpoint_env();
        env.extend([
            ("HOME".to_owned(), path("home")),
            ("AWS_CONFIG_FILE".to_owned(), path("config")),
            (
                "AWS_SHARED_CREDENTIALS_FILE".to_owned(),
                path("credentials"),
            ),
            ("AWS_MAX_ATTEMPTS".to_owned(), "1".to_owned()),
            ("AWS_RETRY_MODE".to_owned(), "standard".to_owned()),
            ("AWS_PAGER".to_owned(), String::new()),
            ("AWS_ACCESS_KEY_ID".to_owned(), keys.access_key_id.clone()),
            (
                "AWS_SECRET_ACCESS_KEY".to_owned(),
                keys.secret_access_key.clone(),
            ),
        ]);
        if let Some(token) = &keys.session_token {
            env.push(("AWS_SESSION_TOKEN".to_owned(), token.clone()));
        }
        env
    }

    fn client(&self, program: &Path, keys: &Keys) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LANG", "C.UTF-8")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .envs(self.client_env(keys))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the AWS CLI with `keys` (JSON output).
    pub fn aws(&self, keys: &Keys, args: &[&str]) -> Output {
        self.client(&aws_cli(), keys)
            .args(["--output", "json"])
            .args(args)
            .output()
            .expect("run aws")
    }

    /// Runs the AWS CLI as the admin and parses its JSON answer; panics
    /// when it fails.
    #[track_caller]
    pub fn aws_json(&self, args: &[&str]) -> Value {
        let out = self.aws(&self.admin, args);
        if out.stdout.iter().all(u8::is_ascii_whitespace) && out.status.success() {
            return Value::Null;
        }
        json_of(&out)
    }

    /// Runs `$AVAULT_TEST_PYTHON -c script args...` as a client with `keys`
    /// (boto3 is importable; it finds the keys in the environment).
    pub fn python(&self, keys: &Keys, script: &str, args: &[&str]) -> Output {
        self.client(&python(), keys)
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
            .expect("run python")
    }

    /// An IAM user with an inline policy and one access key.
    pub fn create_user(&self, name: &str, policy: &Value) -> User {
        let created = self.aws_json(&["iam", "create-user", "--user-name", name]);
        let arn = created["User"]["Arn"]
            .as_str()
            .expect("User.Arn")
            .to_owned();
        self.aws_json(&[
            "iam",
            "put-user-policy",
            "--user-name",
            name,
            "--policy-name",
            "test",
            "--policy-document",
            &policy.to_string(),
        ]);
        let key = self.aws_json(&["iam", "create-access-key", "--user-name", name]);
        let field = |f: &str| {
            key["AccessKey"][f]
                .as_str()
                .unwrap_or_else(|| panic!("AccessKey.{f} in {key}"))
                .to_owned()
        };
        User {
            name: name.to_owned(),
            arn,
            access_key_id: field("AccessKeyId"),
            secret_access_key: field("SecretAccessKey"),
        }
    }

    /// A virtual MFA device named after the user, enabled for them with two
    /// consecutive codes of the two steps before the current one (which
    /// leaves the current step's code unspent).
    pub fn create_virtual_mfa(&self, user: &User) -> Mfa {
        let seed_file = self.dir.path().join(format!("{}.seed", user.name));
        let created = self.aws_json(&[
            "iam",
            "create-virtual-mfa-device",
            "--virtual-mfa-device-name",
            &user.name,
            "--bootstrap-method",
            "Base32StringSeed",
            "--outfile",
            &seed_file.display().to_string(),
        ]);
        let serial = created["VirtualMFADevice"]["SerialNumber"]
            .as_str()
            .unwrap_or_else(|| panic!("SerialNumber in {created}"))
            .to_owned();
        let seed_base32 = fs::read_to_string(&seed_file)
            .expect("read the seed --outfile")
            .trim()
            .to_owned();
        let mfa = Mfa {
            serial,
            seed_base32,
        };
        let now = current_step();
        self.aws_json(&[
            "iam",
            "enable-mfa-device",
            "--user-name",
            &user.name,
            "--serial-number",
            &mfa.serial,
            "--authentication-code1",
            &mfa.code_at(now - 2),
            "--authentication-code2",
            &mfa.code_at(now - 1),
        ]);
        mfa
    }

    /// A role as described by `spec`.
    pub fn create_role(&self, name: &str, spec: &RoleSpec) -> Role {
        let max = spec.max_session_duration.unwrap_or(3600).to_string();
        let created = self.aws_json(&[
            "iam",
            "create-role",
            "--role-name",
            name,
            "--assume-role-policy-document",
            &spec.trust_policy().to_string(),
            "--max-session-duration",
            &max,
        ]);
        let arn = created["Role"]["Arn"]
            .as_str()
            .unwrap_or_else(|| panic!("Role.Arn in {created}"))
            .to_owned();
        let policy = spec
            .policy
            .clone()
            .unwrap_or_else(|| allow(&["sts:GetCallerIdentity"]));
        self.aws_json(&[
            "iam",
            "put-role-policy",
            "--role-name",
            name,
            "--policy-name",
            "test",
            "--policy-document",
            &policy.to_string(),
        ]);
        Role {
            name: name.to_owned(),
            arn,
        }
    }

    /// IAM requests received per action since the start or the last reset
    /// (the setup's included; kept apart from [`Emulator::counts`]).
    pub fn iam_counts(&self) -> BTreeMap<String, u64> {
        let (status, body) = self.http("GET", "/avault/iam-counts", "");
        assert_eq!(status, 200, "GET /avault/iam-counts: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("iam counts {body:?}: {e}"))
    }

    /// One IAM action's count.
    pub fn iam_count(&self, action: &str) -> u64 {
        self.iam_counts().get(action).copied().unwrap_or(0)
    }

    /// Makes every request of the IAM `action` wait `seconds` before it is
    /// handled.
    pub fn stall_iam(&self, action: &str, seconds: u32) {
        self.set_fault(&serde_json::json!({"action": action, "mode": "stall", "seconds": seconds}));
    }

    /// Makes requests of the IAM `action` fail with `status` and `code`;
    /// only the next `times` when given.
    pub fn fail_iam(&self, action: &str, status: u16, code: &str, times: Option<u32>) {
        let mut spec =
            serde_json::json!({"action": action, "mode": "fail", "status": status, "code": code});
        if let Some(n) = times {
            spec["times"] = n.into();
        }
        self.set_fault(&spec);
    }

    /// Lets IAM behave again.
    pub fn clear_faults(&self) {
        self.set_fault(&serde_json::json!({}));
    }

    fn set_fault(&self, spec: &Value) {
        let (status, body) = self.http("POST", "/avault/faults", &spec.to_string());
        assert_eq!(status, 200, "POST /avault/faults {spec}: {body}");
    }

    /// SSO requests received per call (RegisterClient,
    /// StartDeviceAuthorization, CreateToken, GetRoleCredentials, and
    /// CreateToken by grant: `CreateToken:device_code`,
    /// `CreateToken:refresh_token`) since the start or the last reset.
    pub fn sso_counts(&self) -> BTreeMap<String, u64> {
        let (status, body) = self.http("GET", "/avault/sso/counts", "");
        assert_eq!(status, 200, "GET /avault/sso/counts: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("sso counts {body:?}: {e}"))
    }

    /// One SSO call's count.
    pub fn sso_count(&self, call: &str) -> u64 {
        self.sso_counts().get(call).copied().unwrap_or(0)
    }

    /// The user codes of SSO sign-ins waiting for confirmation.
    pub fn sso_pending(&self) -> Vec<String> {
        let (status, body) = self.http("GET", "/avault/sso/pending", "");
        assert_eq!(status, 200, "GET /avault/sso/pending: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("pending {body:?}: {e}"))
    }

    /// Settles the pending sign-in with `user_code` (every pending one
    /// when `None`): "approve", "deny" or "expire".
    pub fn sso_settle(&self, user_code: Option<&str>, how: &str) {
        let mut body = serde_json::json!({});
        if let Some(code) = user_code {
            body["userCode"] = code.into();
        }
        match how {
            "approve" => {}
            "deny" => body["deny"] = true.into(),
            "expire" => body["expire"] = true.into(),
            other => panic!("sso_settle: {other}?"),
        }
        let (status, answer) = self.http("POST", "/avault/sso/approve", &body.to_string());
        assert_eq!(status, 200, "POST /avault/sso/approve {body}: {answer}");
    }

    /// Waits (up to 60 s) for a sign-in to be pending, then settles it
    /// `how`; returns its user code. For a thread beside a running avault.
    pub fn sso_settle_next(&self, how: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(code) = self.sso_pending().into_iter().next() {
                self.sso_settle(Some(&code), how);
                return code;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no SSO sign-in started within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Revokes every SSO access and refresh token issued so far (a
    /// sign-out): the portal answers 401 to the access tokens and
    /// CreateToken `invalid_grant` to the refresh tokens from now on.
    pub fn sso_revoke(&self) {
        let (status, body) = self.http("POST", "/avault/sso/revoke", "{}");
        assert_eq!(status, 200, "POST /avault/sso/revoke: {body}");
    }

    /// Revokes only one kind of SSO token issued so far: `"access"` or
    /// `"refresh"`.
    pub fn sso_revoke_only(&self, kind: &str) {
        let spec = serde_json::json!({ "only": kind }).to_string();
        let (status, body) = self.http("POST", "/avault/sso/revoke", &spec);
        assert_eq!(status, 200, "POST /avault/sso/revoke {spec}: {body}");
    }

    /// SSO access tokens issued from now on expire `seconds` after issue
    /// (`None`: 8 h, as AWS's default).
    pub fn sso_set_token_lifetime(&self, seconds: Option<u64>) {
        let spec = serde_json::json!({ "seconds": seconds }).to_string();
        let (status, body) = self.http("POST", "/avault/sso/token-lifetime", &spec);
        assert_eq!(
            status, 200,
            "POST /avault/sso/token-lifetime {spec}: {body}"
        );
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        let (Some(chunk), Some(after)) = (tail.get(..n), tail.get(n..)) else {
            break;
        };
        if n == 0 {
            break;
        }
        out.push_str(chunk);
        rest = after.trim_start_matches("\r\n");
    }
    out
}
