//! SSO (IAM Identity Center) profiles against the emulator's fake OIDC
//! device flow and portal: sign-in, caching, 401 recovery, parallel
//! callers, `clear`, roles from SSO credentials, refresh tokens, and no
//! secret in output.

#[path = "support/emulator.rs"]
mod emulator;
mod support;
#[path = "support/world.rs"]
mod world;

use std::process::Stdio;

use emulator::{allow, Role, RoleSpec, ACCOUNT};
use serde_json::Value;
use support::Run;
use world::{assumed, World};

/// Prefixes of every secret the fake hands out (client secret, device
/// code, access token, refresh token): none may reach avault's output.
const FAKE_SECRET_PREFIXES: [&str; 4] = [
    "sso-client-secret-",
    "sso-device-",
    "sso-access-token-",
    "sso-refresh-token-",
];

/// Above the fake's 1 h role credentials: every exec calls
/// GetRoleCredentials again, so it needs an access token each time.
const NO_ROLE_CACHE: (&str, &str) = ("AWS_MIN_TTL", "2h");

/// An SSO access token lifetime the tests outlive with [`outlive_tokens`].
const SHORT_TOKEN_SECONDS: u64 = 2;

/// Sleeps until the tokens issued with [`SHORT_TOKEN_SECONDS`] have
/// truly expired: the portal refuses them and the cache has dropped them.
fn outlive_tokens() {
    std::thread::sleep(std::time::Duration::from_secs(SHORT_TOKEN_SECONDS + 1));
}

/// A world with two SSO roles and a config: `dev` (via `[sso-session
/// corp]`), `ops` (same session, other role), `legacy` (start URL and
/// region on the profile itself).
fn sso_world() -> (World, Role, Role) {
    let w = World::new();
    let dev = w.role(
        "SsoDev",
        RoleSpec::trusting(&w.alice.arn).policy(allow(&["sts:*"])),
    );
    let ops = w.role(
        "SsoOps",
        RoleSpec::trusting(&w.alice.arn).policy(allow(&["sts:*"])),
    );
    w.s.write_config(&format!(
        "[profile dev]\nsso_session = corp\nsso_account_id = {ACCOUNT}\nsso_role_name = SsoDev\n\
         region = us-east-1\n\
         [profile ops]\nsso_session = corp\nsso_account_id = {ACCOUNT}\nsso_role_name = SsoOps\n\
         [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n\
         sso_registration_scopes = sso:account:access\n\
         [profile legacy]\nsso_start_url = https://legacy.awsapps.com/start#/\nsso_region = us-east-1\n\
         sso_account_id = {ACCOUNT}\nsso_role_name = SsoOps\n"
    ));
    w.emu.enforce_auth();
    (w, dev, ops)
}

/// `avault ARGS` while a thread settles the sign-in it starts (`how`:
/// approve, deny, expire); the run and the user code.
fn run_signing_in(w: &World, args: &[&str], how: &str) -> (Run, String) {
    run_signing_in_with(w, args, &[], how)
}

/// [`run_signing_in`] with extra environment variables.
fn run_signing_in_with(w: &World, args: &[&str], env: &[(&str, &str)], how: &str) -> (Run, String) {
    std::thread::scope(|scope| {
        let settler = scope.spawn(|| w.emu.sso_settle_next(how));
        let run = w.run(args, env);
        (run, settler.join().expect("settler"))
    })
}

/// `exec PROFILE --stdout -- aws sts get-caller-identity`.
fn caller_args(profile: &str) -> Vec<String> {
    let aws = emulator::aws_cli();
    vec![
        "exec".into(),
        profile.into(),
        "--stdout".into(),
        "--".into(),
        aws.to_str().expect("utf8").into(),
        "sts".into(),
        "get-caller-identity".into(),
        "--output".into(),
        "json".into(),
    ]
}

fn arn_of(run: &Run) -> String {
    run.success();
    let doc: Value = serde_json::from_str(&run.stdout()).expect("caller identity JSON");
    doc["Arn"].as_str().expect("Arn").to_owned()
}

#[track_caller]
fn no_sso_secret(run: &Run) {
    run.no_secret();
    for text in [run.stdout(), run.stderr()] {
        for prefix in FAKE_SECRET_PREFIXES {
            assert!(!text.contains(prefix), "{prefix}… leaked: {text}");
        }
    }
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn exec_stdout_signs_in_once_then_uses_the_cache() {
    let (w, dev, _) = sso_world();
    let args = caller_args("dev");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (run, code) = run_signing_in(&w, &args, "approve");
    assert!(arn_of(&run).starts_with(&assumed(&dev)), "{}", run.stdout());
    let err = run.stderr();
    assert!(err.contains("To sign in"), "{err}");
    assert!(err.contains(&format!("confirm code {code}")), "{err}");
    assert!(
        err.contains(&format!("/avault/sso/verify?user_code={code}")),
        "{err}"
    );
    no_sso_secret(&run);
    let counts = w.emu.sso_counts();
    assert_eq!(counts["RegisterClient"], 1, "{counts:?}");
    assert_eq!(counts["StartDeviceAuthorization"], 1, "{counts:?}");
    assert_eq!(counts["GetRoleCredentials"], 1, "{counts:?}");
    // Cached: no sign-in, no GetRoleCredentials.
    let again = w.run(&args, &[]);
    assert!(arn_of(&again).starts_with(&assumed(&dev)));
    assert!(!again.stderr().contains("To sign in"), "{}", again.stderr());
    assert_eq!(w.emu.sso_counts(), counts);
    // Another role of the same start URL reuses the token: no sign-in.
    let ops = w.json("ops", &[], &[]);
    assert!(ops["AccessKeyId"].is_string());
    assert_eq!(w.emu.sso_count("StartDeviceAuthorization"), 1);
    assert_eq!(w.emu.sso_count("GetRoleCredentials"), 2);
    // list shows the SSO sessions by profile; the registration is no session.
    let table = w.run(&["list"], &[]);
    let table = table.success().stdout();
    let dev_row = table
        .lines()
        .find(|l| l.starts_with("dev "))
        .expect("dev row");
    assert!(dev_row.contains("sso.GetRoleCredentials:"), "{table}");
    assert!(dev_row.contains("sso.CreateToken:"), "{table}");
    assert!(!table.contains("RegisterClient"), "{table}");
    let sessions = w.run(&["list", "--sessions"], &[]);
    assert_eq!(sessions.success().stdout(), "dev\nops\n");
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn a_legacy_profile_with_its_own_start_url_works() {
    let (w, _, ops) = sso_world();
    let args = caller_args("legacy");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (run, code) = run_signing_in(&w, &args, "approve");
    assert!(arn_of(&run).starts_with(&assumed(&ops)));
    assert!(run.stderr().contains(&code));
    no_sso_secret(&run);
    // The legacy start URL's registration has no scopes; one of each call.
    assert_eq!(w.emu.sso_count("StartDeviceAuthorization"), 1);
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn a_revoked_token_gets_one_new_sign_in() {
    let (w, _, ops) = sso_world();
    let (run, _) = run_signing_in(&w, &["exec", "dev", "--json", "--stdout"], "approve");
    run.success();
    w.emu.sso_revoke();
    // ops has no cached credentials: GetRoleCredentials with the cached,
    // revoked token → 401 → the token is dropped, one new sign-in.
    let args = caller_args("ops");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (run, code) = run_signing_in(&w, &args, "approve");
    assert!(arn_of(&run).starts_with(&assumed(&ops)), "{}", run.stderr());
    assert!(run.stderr().contains(&code));
    no_sso_secret(&run);
    let counts = w.emu.sso_counts();
    assert_eq!(counts["StartDeviceAuthorization"], 2, "{counts:?}");
    assert_eq!(counts["GetRoleCredentials"], 3, "{counts:?}");
    // The registration was reused.
    assert_eq!(counts["RegisterClient"], 1, "{counts:?}");
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn a_denied_or_expired_sign_in_fails_clearly_and_caches_nothing() {
    let (w, _, _) = sso_world();
    for (how, needle) in [("deny", "denied"), ("expire", "expired")] {
        let (run, _) = run_signing_in(&w, &["exec", "dev", "--json", "--stdout"], how);
        run.fails_with(needle);
        assert!(run.stdout().is_empty(), "{}", run.stdout());
        no_sso_secret(&run);
        let sessions = w.run(&["list", "--sessions"], &[]);
        assert_eq!(sessions.success().stdout(), "", "{how}");
    }
    assert_eq!(w.emu.sso_count("StartDeviceAuthorization"), 2);
    assert_eq!(w.emu.sso_count("GetRoleCredentials"), 0);
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn sixteen_parallel_credential_processes_sign_in_once() {
    let (w, _, _) = sso_world();
    std::thread::scope(|scope| {
        let settler = scope.spawn(|| w.emu.sso_settle_next("approve"));
        let children: Vec<_> = (0..16)
            .map(|_| {
                // Without --stdout, as credential_process runs it: the
                // "browser" is `true`, which takes the URL and exits 0.
                let mut cmd = w.avault(&["exec", "dev", "--json"]);
                cmd.env("BROWSER", "true")
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                cmd.spawn().expect("spawn")
            })
            .collect();
        let runs: Vec<Run> = children
            .into_iter()
            .map(|c| Run(c.wait_with_output().expect("wait")))
            .collect();
        settler.join().expect("settler");
        let mut ids: Vec<String> = runs
            .iter()
            .map(|r| {
                r.success();
                no_sso_secret(r);
                let doc: Value = serde_json::from_str(&r.stdout()).expect("JSON");
                doc["AccessKeyId"].as_str().expect("id").to_owned()
            })
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 1, "one set of credentials for all: {ids:?}");
        let signing_in = runs
            .iter()
            .filter(|r| r.stderr().contains("To sign in"))
            .count();
        assert_eq!(signing_in, 1, "one sign-in shown");
    });
    let counts = w.emu.sso_counts();
    assert_eq!(counts["StartDeviceAuthorization"], 1, "{counts:?}");
    assert_eq!(counts["GetRoleCredentials"], 1, "{counts:?}");
    assert_eq!(counts["RegisterClient"], 1, "{counts:?}");
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn clear_drops_the_token_too() {
    let (w, _, _) = sso_world();
    let (run, _) = run_signing_in(&w, &["exec", "dev", "--json", "--stdout"], "approve");
    run.success();
    let cleared = w.run(&["clear"], &[]);
    assert_eq!(cleared.success().stdout(), "Cleared 1 sessions.\n");
    assert_eq!(w.run(&["list", "--sessions"], &[]).stdout(), "");
    let (run, _) = run_signing_in(&w, &["exec", "dev", "--json", "--stdout"], "approve");
    run.success();
    assert_eq!(w.emu.sso_count("StartDeviceAuthorization"), 2);
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn a_role_from_an_sso_profile() {
    let w = World::new();
    let sso_role = w.role(
        "SsoBase",
        RoleSpec::trusting(&w.alice.arn).policy(allow(&["sts:*"])),
    );
    let target = w.role(
        "Deploy",
        RoleSpec::trusting(&sso_role.arn).policy(allow(&["sts:*"])),
    );
    w.s.write_config(&format!(
        "[profile base]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n\
         sso_account_id = {ACCOUNT}\nsso_role_name = SsoBase\n\
         [profile deploy]\nsource_profile = base\nrole_arn = {}\n",
        target.arn
    ));
    w.emu.enforce_auth();
    let args = caller_args("deploy");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (run, _) = run_signing_in(&w, &args, "approve");
    assert!(
        arn_of(&run).starts_with(&assumed(&target)),
        "{}",
        run.stdout()
    );
    no_sso_secret(&run);
    assert_eq!(w.emu.count("AssumeRole"), 1);
    assert_eq!(w.emu.sso_count("GetRoleCredentials"), 1);
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn no_secret_in_any_output_or_on_disk() {
    let (w, _, _) = sso_world();
    // Short tokens: a later run refreshes, so the refresh token is used.
    w.emu.sso_set_token_lifetime(Some(SHORT_TOKEN_SECONDS));
    let (run, _) = run_signing_in(
        &w,
        &["--debug", "exec", "dev", "--stdout", "--", "true"],
        "approve",
    );
    run.success();
    no_sso_secret(&run);
    let json = w.json("dev", &[], &[]);
    let secret = json["SecretAccessKey"].as_str().expect("secret").to_owned();
    let token = json["SessionToken"].as_str().expect("token").to_owned();
    outlive_tokens();
    let refreshed = w.run(&["--debug", "exec", "dev", "--", "true"], &[NO_ROLE_CACHE]);
    assert!(
        refreshed.stderr().contains("SSO token refreshed"),
        "{}",
        refreshed.stderr()
    );
    let cache_path = w.s.vault().with_extension("age.sessions");
    let check_cache = || {
        // The session cache is encrypted: no token, secret or key in it.
        let cache = std::fs::read(&cache_path).expect("cache");
        let cache = String::from_utf8_lossy(&cache);
        for needle in FAKE_SECRET_PREFIXES
            .iter()
            .copied()
            .chain([secret.as_str()])
        {
            assert!(!cache.contains(needle), "{needle} in the session cache");
        }
    };
    for run in [
        refreshed,
        w.run(&["--debug", "exec", "dev", "--", "true"], &[]),
        w.run(&["list"], &[]),
    ] {
        run.success();
        no_sso_secret(&run);
        for text in [run.stdout(), run.stderr()] {
            assert!(!text.contains(&secret) && !text.contains(&token), "{text}");
        }
    }
    // While the tokens (access and refresh) are cached, then after clear.
    check_cache();
    let cleared = w.run(&["clear", "dev"], &[]);
    cleared.success();
    no_sso_secret(&cleared);
    check_cache();
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn missing_account_or_role_is_a_config_error_with_its_line() {
    let w = World::new();
    w.s.write_config(
        "[profile a]\nsso_start_url = https://x/start\nsso_region = us-east-1\nsso_role_name = R\n\
         [profile b]\nsso_start_url = https://x/start\nsso_region = us-east-1\nsso_account_id = 1\n",
    );
    let config = w.s.config();
    let run = w.run(&["exec", "a", "--json"], &[]);
    run.fails_with(&format!(
        "{}:1: profile \"a\" uses SSO (sso_start_url) but has no sso_account_id",
        config.display()
    ));
    assert!(
        run.stderr().contains("add sso_account_id"),
        "{}",
        run.stderr()
    );
    let run = w.run(&["exec", "b", "--json"], &[]);
    run.fails_with(&format!(
        "{}:5: profile \"b\" uses SSO (sso_start_url) but has no sso_role_name",
        config.display()
    ));
    assert_eq!(w.emu.sso_count("RegisterClient"), 0);
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn an_expired_token_is_refreshed_without_a_sign_in() {
    let (w, dev, _) = sso_world();
    w.emu.sso_set_token_lifetime(Some(SHORT_TOKEN_SECONDS));
    let args = caller_args("dev");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (run, _) = run_signing_in(&w, &args, "approve");
    assert!(arn_of(&run).starts_with(&assumed(&dev)), "{}", run.stderr());
    assert!(!run.stderr().contains("SSO token refreshed"));
    outlive_tokens();
    // The access token is gone, the refresh token is not: a refresh, no
    // browser, and GetRoleCredentials with the new token.
    let debug: Vec<&str> = ["--debug"].iter().chain(&args).copied().collect();
    let again = w.run(&debug, &[NO_ROLE_CACHE]);
    assert!(
        arn_of(&again).starts_with(&assumed(&dev)),
        "{}",
        again.stderr()
    );
    let err = again.stderr();
    assert!(!err.contains("To sign in"), "{err}");
    assert!(err.contains("SSO token refreshed"), "{err}");
    no_sso_secret(&again);
    let counts = w.emu.sso_counts();
    assert_eq!(counts["StartDeviceAuthorization"], 1, "{counts:?}");
    assert_eq!(counts["CreateToken:device_code"], 1, "{counts:?}");
    assert_eq!(counts["CreateToken:refresh_token"], 1, "{counts:?}");
    assert_eq!(counts["GetRoleCredentials"], 2, "{counts:?}");
    assert_eq!(counts["RegisterClient"], 1, "{counts:?}");
    // The fake rotates refresh tokens: the one that came back was kept.
    outlive_tokens();
    let third = w.run(&args, &[NO_ROLE_CACHE]);
    assert!(arn_of(&third).starts_with(&assumed(&dev)));
    assert!(!third.stderr().contains("To sign in"), "{}", third.stderr());
    assert_eq!(w.emu.sso_count("CreateToken:refresh_token"), 2);
    assert_eq!(w.emu.sso_count("StartDeviceAuthorization"), 1);
    // The refresh token is no session.
    let table = w.run(&["list"], &[]);
    assert!(!table.success().stdout().contains("RefreshToken"));
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn a_refused_access_token_is_replaced_by_a_refresh() {
    let (w, _, ops) = sso_world();
    let (run, _) = run_signing_in(&w, &["exec", "dev", "--json", "--stdout"], "approve");
    run.success();
    // The cached token is unexpired but the portal refuses it (401); the
    // refresh token still works.
    w.emu.sso_revoke_only("access");
    let args = caller_args("ops");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = w.run(&args, &[]);
    assert!(arn_of(&run).starts_with(&assumed(&ops)), "{}", run.stderr());
    assert!(!run.stderr().contains("To sign in"), "{}", run.stderr());
    no_sso_secret(&run);
    let counts = w.emu.sso_counts();
    assert_eq!(counts["StartDeviceAuthorization"], 1, "{counts:?}");
    assert_eq!(counts["CreateToken:refresh_token"], 1, "{counts:?}");
    // The refused call, then the one with the refreshed token.
    assert_eq!(counts["GetRoleCredentials"], 3, "{counts:?}");
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn a_legacy_profile_has_no_refresh_token_and_signs_in_again() {
    let (w, _, ops) = sso_world();
    w.emu.sso_set_token_lifetime(Some(SHORT_TOKEN_SECONDS));
    let args = caller_args("legacy");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (run, _) = run_signing_in(&w, &args, "approve");
    assert!(arn_of(&run).starts_with(&assumed(&ops)));
    outlive_tokens();
    let (run, code) = run_signing_in_with(&w, &args, &[NO_ROLE_CACHE], "approve");
    assert!(arn_of(&run).starts_with(&assumed(&ops)), "{}", run.stderr());
    assert!(run.stderr().contains(&code), "{}", run.stderr());
    assert!(!run.stderr().contains("SSO token refreshed"));
    no_sso_secret(&run);
    let counts = w.emu.sso_counts();
    assert_eq!(counts["StartDeviceAuthorization"], 2, "{counts:?}");
    assert_eq!(counts["CreateToken:refresh_token"], 0, "{counts:?}");
    assert_eq!(counts["RegisterClient"], 1, "{counts:?}");
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn a_revoked_refresh_token_falls_back_to_a_sign_in() {
    let (w, dev, _) = sso_world();
    w.emu.sso_set_token_lifetime(Some(SHORT_TOKEN_SECONDS));
    let args = caller_args("dev");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (run, _) = run_signing_in(&w, &args, "approve");
    run.success();
    w.emu.sso_revoke_only("refresh");
    outlive_tokens();
    // The refresh is refused (invalid_grant): dropped, and a sign-in.
    let (run, code) = run_signing_in_with(&w, &args, &[NO_ROLE_CACHE], "approve");
    assert!(arn_of(&run).starts_with(&assumed(&dev)), "{}", run.stderr());
    let err = run.stderr();
    assert!(err.contains(&format!("confirm code {code}")), "{err}");
    assert!(!err.contains("SSO token refreshed"), "{err}");
    no_sso_secret(&run);
    let counts = w.emu.sso_counts();
    assert_eq!(counts["CreateToken:refresh_token"], 1, "{counts:?}");
    assert_eq!(counts["StartDeviceAuthorization"], 2, "{counts:?}");
    // The new sign-in's refresh token works.
    outlive_tokens();
    let run = w.run(&args, &[NO_ROLE_CACHE]);
    assert!(arn_of(&run).starts_with(&assumed(&dev)), "{}", run.stderr());
    assert!(run.stderr().contains("SSO token refreshed"));
    assert_eq!(w.emu.sso_count("CreateToken:refresh_token"), 2);
    assert_eq!(w.emu.sso_count("StartDeviceAuthorization"), 2);
}
