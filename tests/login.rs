//! `avault login`: the console sign-in URL. A small federation server on
//! 127.0.0.1 (`AVAULT_FEDERATION_URL`) stands in for signin.aws.amazon.com:
//! it checks the Session JSON of the getSigninToken exchange and hands back
//! a SigninToken; the printed URL is then checked field by field. Where
//! credentials come from STS, the emulator says what it issued.

#[path = "support/emulator.rs"]
mod emulator;
mod support;
#[path = "support/world.rs"]
mod world;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use emulator::{allow, RoleSpec};
use serde_json::Value;
use support::{Run, Sandbox};
use world::{assumed, seconds_left, World};

const TOKEN: &str = "tok123";
const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// Fake temporary credentials for the environment cases.
const ENV_KEY: &str = "ASIAENVEXAMPLE0001";
const ENV_SECRET: &str = "envSecretKeyDoNotLeak/abc+def";
const ENV_TOKEN: &str = "envSessionTokenDoNotLeak//+==";

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
                out.push(u8::from_str_radix(hex, 16).expect("hex"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("utf8")
}

/// `base?k=v&k=v` → base and the decoded fields in order.
fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let (base, query) = url.split_once('?').expect("a query");
    let fields = query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("k=v");
            (k.to_owned(), form_decode(v))
        })
        .collect();
    (base.to_owned(), fields)
}

/// One getSigninToken request as the server saw it.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    fields: Vec<(String, String)>,
}

impl Received {
    fn field(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.fields))
    }

    /// The Session JSON, checked to have exactly the three keys.
    fn session(&self) -> Value {
        let session: Value = serde_json::from_str(self.field("Session")).expect("Session JSON");
        let mut keys: Vec<&str> = session
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["sessionId", "sessionKey", "sessionToken"]);
        for k in keys {
            assert!(
                !session[k].as_str().expect("string").is_empty(),
                "{k} empty"
            );
        }
        session
    }
}

/// A federation endpoint on 127.0.0.1 answering every request with
/// `status` and `body`, recording what it got.
struct Federation {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Federation {
    fn start(status: u16, body: &str) -> Federation {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://127.0.0.1:{}/federation",
            listener.local_addr().expect("addr").port()
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let body = body.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                // Skip the headers: a GET has no body.
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line == "\r\n" => break,
                        Ok(_) => {}
                    }
                }
                let target = request_line.split(' ').nth(1).unwrap_or("").to_owned();
                let (path, fields) = match target.split_once('?') {
                    Some(_) => split_url(&target),
                    None => (target.clone(), Vec::new()),
                };
                log.lock().expect("lock").push(Received { path, fields });
                let reason = if status == 200 { "OK" } else { "Error" };
                let answer = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes());
                let _ = stream.flush();
                // Drain what the client may still send, then close.
                let _ = stream.shutdown(std::net::Shutdown::Write);
                let _ = reader.read_to_end(&mut Vec::new());
            }
        });
        Federation { url, received }
    }

    fn ok() -> Federation {
        Federation::start(200, &format!(r#"{{"SigninToken":"{TOKEN}"}}"#))
    }

    /// The one request received.
    fn only(&self) -> Received {
        let got = self.received.lock().expect("lock").clone();
        assert_eq!(got.len(), 1, "requests: {got:?}");
        let r = got.into_iter().next().expect("one");
        assert_eq!(r.path, "/federation");
        assert_eq!(r.field("Action"), "getSigninToken");
        r
    }

    fn count(&self) -> usize {
        self.received.lock().expect("lock").len()
    }
}

/// Checks the printed login URL field by field against the partition's
/// sign-in endpoint and the console destination.
#[track_caller]
fn assert_login_url(stdout: &str, federation: &str, destination: &str) {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout: {stdout}");
    let (base, fields) = split_url(lines[0]);
    assert_eq!(base, federation);
    let expected: Vec<(String, String)> = [
        ("Action", "login"),
        ("Issuer", "avault"),
        ("Destination", destination),
        ("SigninToken", TOKEN),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(fields, expected);
}

/// What GetFederationToken calls the emulator saw.
fn federation_tokens(w: &World) -> Vec<Value> {
    let (status, body) = w.emu.http("GET", "/avault/federation-tokens", "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("JSON list")
}

/// A sandbox run with the environment's credentials (no vault needed).
fn env_login(s: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all: Vec<(&str, &str)> = vec![
        ("AWS_ACCESS_KEY_ID", ENV_KEY),
        ("AWS_SECRET_ACCESS_KEY", ENV_SECRET),
        ("AWS_SESSION_TOKEN", ENV_TOKEN),
    ];
    all.extend_from_slice(env);
    let mut full = vec!["login"];
    full.extend_from_slice(args);
    s.run(&full, &all)
}

#[track_caller]
fn no_env_secret(run: &Run) {
    for text in [run.stdout(), run.stderr()] {
        assert!(!text.contains(ENV_SECRET), "secret leaked: {text}");
        assert!(!text.contains("envSessionToken"), "token leaked: {text}");
        assert!(!text.contains("envSecretKey"), "secret leaked: {text}");
        assert!(!text.contains("Session="), "request leaked: {text}");
    }
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn user_key_is_federated_once_named_after_the_os_user() {
    let w = World::new();
    w.store_alice("alice", false);
    let fed = Federation::ok();
    let long_user = "jo doe\\with-a.very_long+name@corp,and=more!";
    let out = w.run(
        &["login", "alice", "--stdout"],
        &[("AVAULT_FEDERATION_URL", &fed.url), ("USER", long_user)],
    );
    out.success();
    assert_login_url(
        &out.stdout(),
        "https://signin.aws.amazon.com/federation",
        "https://us-east-1.console.aws.amazon.com/console/home?region=us-east-1",
    );
    // One GetFederationToken with the raw key; no session in between.
    assert_eq!(w.emu.count("GetFederationToken"), 1, "{:?}", w.emu.counts());
    assert_eq!(w.emu.count("GetSessionToken"), 0);
    let issued = federation_tokens(&w);
    assert_eq!(issued.len(), 1, "{issued:?}");
    let issued = &issued[0];
    assert_eq!(issued["Caller"], w.alice.arn.as_str());
    // Blanks, backslash and "!" dropped; cut to 32 characters.
    assert_eq!(issued["Name"], "jodoewith-a.very_long+name@corp,");
    assert_eq!(issued["Policy"], ALLOW_ALL);
    assert_eq!(issued["DurationSeconds"], 3600);
    // What reached the sign-in endpoint is what GetFederationToken issued.
    let session = fed.only().session();
    assert_eq!(session["sessionId"], issued["AccessKeyId"]);
    assert_ne!(session["sessionId"], w.alice.access_key_id.as_str());
    out.no_secret();
    assert!(!out
        .stderr()
        .contains(session["sessionKey"].as_str().expect("key")));

    // No USER: LOGNAME; a name too short for STS: "avault".
    let again = w.run(
        &["login", "alice", "-s"],
        &[("AVAULT_FEDERATION_URL", &fed.url), ("LOGNAME", "x")],
    );
    again.success();
    assert_eq!(federation_tokens(&w)[1]["Name"], "avault");
    assert_eq!(w.emu.count("GetFederationToken"), 2);
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn federation_token_ttl_and_duration_flag_are_respected() {
    let w = World::new();
    w.store_alice("alice", false);
    let fed = Federation::ok();
    let url = fed.url.as_str();
    w.run(
        &["login", "alice", "--stdout"],
        &[
            ("AVAULT_FEDERATION_URL", url),
            ("AWS_FEDERATION_TOKEN_TTL", "2h"),
        ],
    )
    .success();
    w.run(
        &["login", "alice", "--stdout", "-d", "30m"],
        &[
            ("AVAULT_FEDERATION_URL", url),
            ("AWS_FEDERATION_TOKEN_TTL", "2h"),
        ],
    )
    .success();
    let issued = federation_tokens(&w);
    assert_eq!(issued.len(), 2, "{issued:?}");
    assert_eq!(issued[0]["DurationSeconds"], 7200);
    let left = seconds_left(issued[0]["Expiration"].as_str().expect("time"));
    assert!((7100..=7200).contains(&left), "{left}");
    assert_eq!(issued[1]["DurationSeconds"], 1800);
    let left = seconds_left(issued[1]["Expiration"].as_str().expect("time"));
    assert!((1700..=1800).contains(&left), "{left}");

    // A TTL STS would refuse is an error naming the variable; nothing is sent.
    let bad = w.run(
        &["login", "alice", "--stdout"],
        &[
            ("AVAULT_FEDERATION_URL", url),
            ("AWS_FEDERATION_TOKEN_TTL", "48h"),
        ],
    );
    bad.fails_with("AWS_FEDERATION_TOKEN_TTL");
    assert_eq!(w.emu.count("GetFederationToken"), 2);
    assert_eq!(fed.count(), 2);
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn role_credentials_are_used_as_they_are_with_path_and_profile_region() {
    let w = World::new();
    w.store_alice("alice", false);
    let ops = w.alice_role("ops");
    w.s.write_config(&format!(
        "[profile ops]\nsource_profile = alice\nrole_arn = {}\nregion = eu-west-1\n",
        ops.arn
    ));
    let fed = Federation::ok();
    // The emulator's AWS_REGION would win over the profile's region.
    let env = [
        ("AVAULT_FEDERATION_URL", fed.url.as_str()),
        ("AWS_REGION", ""),
        ("AWS_DEFAULT_REGION", ""),
    ];
    let out = w.run(&["login", "ops", "--stdout", "--path", "s3"], &env);
    out.success();
    assert_login_url(
        &out.stdout(),
        "https://signin.aws.amazon.com/federation",
        "https://eu-west-1.console.aws.amazon.com/s3?region=eu-west-1",
    );
    assert_eq!(w.emu.count("AssumeRole"), 1, "{:?}", w.emu.counts());
    assert_eq!(w.emu.count("GetFederationToken"), 0);
    // The role session itself went to the sign-in endpoint: the same
    // (cached) credentials that exec hands out, acting as the role.
    let session = fed.only().session();
    let json = w.json("ops", &[], &env[1..]);
    assert_eq!(session["sessionId"], json["AccessKeyId"]);
    assert_eq!(session["sessionKey"], json["SecretAccessKey"]);
    assert_eq!(session["sessionToken"], json["SessionToken"]);
    assert_eq!(w.emu.count("AssumeRole"), 1);
    assert!(w.caller_arn("ops", &[]).starts_with(&assumed(&ops)));
    out.no_secret();
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn no_profile_long_term_key_from_the_environment_is_federated() {
    let w = World::new();
    let fed = Federation::ok();
    let out = w.run(
        &["login", "--stdout"],
        &[
            ("AVAULT_FEDERATION_URL", &fed.url),
            ("AWS_ACCESS_KEY_ID", &w.alice.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &w.alice.secret_access_key),
            ("AWS_REGION", ""),
            // The emulator's users live in the aws partition.
            ("AWS_DEFAULT_REGION", "eu-west-2"),
            ("USER", "alice"),
        ],
    );
    out.success();
    assert_login_url(
        &out.stdout(),
        "https://signin.aws.amazon.com/federation",
        "https://eu-west-2.console.aws.amazon.com/console/home?region=eu-west-2",
    );
    assert_eq!(w.emu.count("GetFederationToken"), 1, "{:?}", w.emu.counts());
    let issued = federation_tokens(&w);
    assert_eq!(issued[0]["Caller"], w.alice.arn.as_str());
    assert_eq!(issued[0]["Name"], "alice");
    assert_eq!(fed.only().session()["sessionId"], issued[0]["AccessKeyId"]);
    assert!(!out.stdout().contains(&w.alice.secret_access_key));
    assert!(!out.stderr().contains(&w.alice.secret_access_key));
}

#[test]
fn no_profile_session_from_the_environment_is_used_as_it_is() {
    let s = Sandbox::new();
    let fed = Federation::ok();
    let out = env_login(
        &s,
        &["--stdout", "--path", "/ec2/home"],
        &[
            ("AVAULT_FEDERATION_URL", &fed.url),
            ("AWS_REGION", "cn-north-1"),
        ],
    );
    out.success();
    assert_login_url(
        &out.stdout(),
        "https://signin.amazonaws.cn/federation",
        "https://cn-north-1.console.amazonaws.cn/ec2/home?region=cn-north-1",
    );
    let session = fed.only().session();
    assert_eq!(session["sessionId"], ENV_KEY);
    assert_eq!(session["sessionKey"], ENV_SECRET);
    assert_eq!(session["sessionToken"], ENV_TOKEN);
    no_env_secret(&out);

    // --region wins over the environment's; the default is us-east-1.
    let flag = env_login(
        &s,
        &["-s", "--region", "eu-north-1"],
        &[
            ("AVAULT_FEDERATION_URL", &fed.url),
            ("AWS_REGION", "cn-north-1"),
        ],
    );
    assert_login_url(
        &flag.success().stdout(),
        "https://signin.aws.amazon.com/federation",
        "https://eu-north-1.console.aws.amazon.com/console/home?region=eu-north-1",
    );
    let plain = env_login(&s, &["-s"], &[("AVAULT_FEDERATION_URL", &fed.url)]);
    assert_login_url(
        &plain.success().stdout(),
        "https://signin.aws.amazon.com/federation",
        "https://us-east-1.console.aws.amazon.com/console/home?region=us-east-1",
    );
    // AWS_VAULT_STDOUT does what --stdout does, as in aws-vault.
    let env_flag = env_login(
        &s,
        &[],
        &[
            ("AVAULT_FEDERATION_URL", &fed.url),
            ("AWS_VAULT_STDOUT", "true"),
            ("PATH", "/nonexistent"),
        ],
    );
    env_flag.success();
    assert!(env_flag.stderr().is_empty(), "{}", env_flag.stderr());
    assert_eq!(env_flag.stdout().lines().count(), 1);
}

#[test]
fn no_profile_and_no_credentials_is_a_clear_error() {
    let s = Sandbox::new();
    let fed = Federation::ok();
    let out = s.run(
        &["login", "--stdout"],
        &[("AVAULT_FEDERATION_URL", &fed.url)],
    );
    out.fails_with("no profile given and no credentials in the environment");
    assert!(out.stderr().contains("avault login PROFILE"));
    assert_eq!(fed.count(), 0);
}

#[test]
fn without_an_opener_the_url_is_printed_with_a_note() {
    let s = Sandbox::new();
    let fed = Federation::ok();
    let empty = s.home().join("empty-bin");
    std::fs::create_dir(&empty).expect("mkdir");
    let path = empty.display().to_string();
    let out = env_login(
        &s,
        &[],
        &[("AVAULT_FEDERATION_URL", &fed.url), ("PATH", &path)],
    );
    out.success();
    assert_login_url(
        &out.stdout(),
        "https://signin.aws.amazon.com/federation",
        "https://us-east-1.console.aws.amazon.com/console/home?region=us-east-1",
    );
    let err = out.stderr();
    assert!(err.contains("cannot open a browser"), "{err}");
    assert!(err.contains("not found"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
    no_env_secret(&out);
}

#[test]
fn the_browser_gets_the_url_as_its_argument() {
    let s = Sandbox::new();
    let fed = Federation::ok();
    let seen = s.home().join("seen-url");
    let browser = s.home().join("browser");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", seen.display()),
    )
    .expect("write");
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = env_login(
        &s,
        &["--region", "us-gov-east-1"],
        &[
            ("AVAULT_FEDERATION_URL", &fed.url),
            ("BROWSER", &browser.display().to_string()),
        ],
    );
    out.success();
    assert_eq!(out.stdout(), "", "nothing printed when a browser took it");
    let url = std::fs::read_to_string(&seen).expect("the browser ran");
    assert_login_url(
        &url,
        "https://signin.amazonaws-us-gov.com/federation",
        "https://us-gov-east-1.console.amazonaws-us-gov.com/console/home?region=us-gov-east-1",
    );

    // A browser that fails: the next opener, then the URL on stdout.
    let failing = env_login(
        &s,
        &[],
        &[
            ("AVAULT_FEDERATION_URL", &fed.url),
            ("BROWSER", "/bin/false"),
            ("PATH", "/nonexistent"),
        ],
    );
    failing.success();
    assert_eq!(failing.stdout().lines().count(), 1);
    let err = failing.stderr();
    assert!(err.contains("/bin/false: exit status: 1"), "{err}");
    assert!(err.contains("xdg-open: not found"), "{err}");
}

#[test]
fn a_failing_federation_endpoint_is_a_clear_error_without_secrets() {
    let s = Sandbox::new();
    let fed = Federation::start(500, "<html>internal failure of the sign-in service</html>");
    let out = env_login(&s, &["--stdout"], &[("AVAULT_FEDERATION_URL", &fed.url)]);
    out.fails_with("HTTP 500");
    let err = out.stderr();
    assert!(
        err.contains("internal failure of the sign-in service"),
        "{err}"
    );
    assert!(err.contains(&fed.url), "names the endpoint: {err}");
    assert!(err.contains("wait and try again"), "a hint line: {err}");
    assert_eq!(out.stdout(), "");
    no_env_secret(&out);
    assert_eq!(fed.count(), 1);

    // A 200 answer without a token.
    let odd = Federation::start(200, r#"{"NotAToken":"x"}"#);
    let out = env_login(&s, &["--stdout"], &[("AVAULT_FEDERATION_URL", &odd.url)]);
    out.fails_with("without a SigninToken");
    no_env_secret(&out);

    // Nobody listening.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        format!(
            "http://127.0.0.1:{}/federation",
            l.local_addr().expect("addr").port()
        )
    };
    let out = env_login(&s, &["--stdout"], &[("AVAULT_FEDERATION_URL", &closed)]);
    out.fails_with("cannot reach the sign-in endpoint");
    no_env_secret(&out);
}

#[test]
fn a_plain_http_federation_url_off_loopback_is_refused() {
    let s = Sandbox::new();
    let out = env_login(
        &s,
        &["--stdout"],
        &[("AVAULT_FEDERATION_URL", "http://example.com/federation")],
    );
    out.fails_with("AVAULT_FEDERATION_URL");
    assert!(out.stderr().contains("loopback"), "{}", out.stderr());
    no_env_secret(&out);
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn an_sso_profile_signs_in_without_a_browser_and_is_not_federated() {
    let w = World::new();
    let role = w.role(
        "SsoAdmin",
        RoleSpec::trusting(&w.alice.arn).policy(allow(&["sts:*"])),
    );
    w.s.write_config(&format!(
        "[profile corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n\
         sso_account_id = {}\nsso_role_name = SsoAdmin\n",
        emulator::ACCOUNT
    ));
    w.emu.enforce_auth();
    let fed = Federation::ok();
    let env = [("AVAULT_FEDERATION_URL", fed.url.as_str())];
    // --stdout: the SSO link and code on stderr (no terminal), no browser;
    // the console URL alone on stdout.
    let (out, code) = std::thread::scope(|scope| {
        let settler = scope.spawn(|| w.emu.sso_settle_next("approve"));
        let out = w.run(&["login", "corp", "--stdout"], &env);
        (out, settler.join().expect("settler"))
    });
    out.success();
    assert!(
        out.stderr().contains(&format!("confirm code {code}")),
        "{}",
        out.stderr()
    );
    assert_eq!(out.stdout().lines().count(), 1, "{}", out.stdout());
    // The SSO role's credentials as they are: no GetFederationToken.
    assert_eq!(w.emu.count("GetFederationToken"), 0, "{:?}", w.emu.counts());
    let session = fed.only().session();
    let json = w.json("corp", &[], &[]);
    assert_eq!(session["sessionId"], json["AccessKeyId"]);
    assert!(w.caller_arn("corp", &[]).starts_with(&assumed(&role)));
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn an_mfa_role_takes_the_code_from_t_and_is_not_federated() {
    let w = World::new();
    w.store_alice("alice", false);
    let ops = w.mfa_role("ops");
    w.s.write_config(&format!(
        "[profile ops]\nsource_profile = alice\nrole_arn = {}\nmfa_serial = {}\n",
        ops.arn, w.mfa.serial
    ));
    w.emu.enforce_auth();
    let fed = Federation::ok();
    let env = [("AVAULT_FEDERATION_URL", fed.url.as_str())];
    // No code and no terminal: refused before anything reaches the sign-in endpoint.
    let without = w.run(&["login", "ops", "--stdout"], &env);
    assert_eq!(without.code(), Some(1), "{}", without.stderr());
    assert_eq!(fed.count(), 0);
    let code = w.mfa.code_now();
    let out = w.run(&["login", "ops", "--stdout", "-t", &code], &env);
    out.success();
    assert_eq!(w.emu.count("GetFederationToken"), 0, "{:?}", w.emu.counts());
    let session = fed.only().session();
    // The session is the role's: exec reuses it from the cache.
    let json = w.json("ops", &[], &[]);
    assert_eq!(session["sessionId"], json["AccessKeyId"]);
    assert!(w.caller_arn("ops", &[]).starts_with(&assumed(&ops)));
    assert!(!out.stderr().contains(&code));
}
