//! add, list and remove as a user runs them.

mod support;

use std::fs;

use support::{Sandbox, KEY_ID, PASSPHRASE, SECRET};

const PW: (&str, &str) = ("AVAULT_PASSPHRASE", PASSPHRASE);
const SERIAL: &str = "arn:aws:iam::123456789012:mfa/alice";
const SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn add_with(s: &Sandbox, args: &[&str], id: &str, secret: &str) -> support::Run {
    let mut all = vec!["add"];
    all.extend_from_slice(args);
    s.run(
        &all,
        &[
            PW,
            ("AWS_ACCESS_KEY_ID", id),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ],
    )
}

#[test]
fn add_appends_the_config_section_without_disturbing_it() {
    let s = Sandbox::new();
    s.init_passphrase();
    let original = "# my settings\n[default]\nregion = eu-west-1 ; inline\n\n[profile other]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = default";
    s.write_config(original);
    add_with(&s, &["prod", "--env"], KEY_ID, SECRET).success();
    let after = fs::read_to_string(s.config()).expect("read");
    assert!(after.starts_with(original), "{after}");
    assert!(after.ends_with("\n\n[profile prod]\n"), "{after}");
    // Adding again (or to an existing profile) does not repeat the section.
    add_with(&s, &["default", "--env"], KEY_ID, SECRET).success();
    let again = add_with(&s, &["prod", "--env"], KEY_ID, SECRET);
    assert!(
        again.success().stderr().contains("Replaced"),
        "{}",
        again.stderr()
    );
    assert_eq!(fs::read_to_string(s.config()).expect("read"), after);
    add_with(&s, &["ci", "--env", "--add-config=false"], KEY_ID, SECRET).success();
    add_with(&s, &["ci2", "--env", "--no-add-config"], KEY_ID, SECRET).success();
    assert_eq!(fs::read_to_string(s.config()).expect("read"), after);
}

#[test]
fn add_refuses_bad_input_with_clear_errors() {
    let s = Sandbox::new();
    s.init_passphrase();
    let before = s.vault_bytes();
    add_with(&s, &["p", "--env"], "AKIA123", SECRET).fails_with("access key id");
    add_with(&s, &["p", "--env"], "ASIAIOSFODNN7EXAMPLE", SECRET).fails_with("temporary");
    add_with(&s, &["p", "--env"], KEY_ID, "short").fails_with("secret access key");
    add_with(&s, &["p", "--env"], KEY_ID, "has a space in it here!!")
        .fails_with("secret access key");
    s.run(&["add", "p", "--env"], &[PW])
        .fails_with("--env needs");
    s.run(&["add", "p"], &[PW]).fails_with("no terminal");
    add_with(
        &s,
        &["p", "--env", "--mfa-serial", "arn:aws:iam::1:mfa/x"],
        KEY_ID,
        SECRET,
    )
    .fails_with("not an MFA device serial");
    add_with(&s, &["p", "--env", "--totp-secret", SEED], KEY_ID, SECRET).fails_with("--mfa-serial");
    add_with(
        &s,
        &[
            "p",
            "--env",
            "--mfa-serial",
            SERIAL,
            "--totp-secret",
            "NOT*B32",
        ],
        KEY_ID,
        SECRET,
    )
    .fails_with("not base32");
    add_with(
        &s,
        &[
            "p",
            "--env",
            "--mfa-serial",
            SERIAL,
            "--totp-uri",
            "https://x",
        ],
        KEY_ID,
        SECRET,
    )
    .fails_with("otpauth");
    let bad_name = add_with(&s, &["a]b", "--env"], KEY_ID, SECRET);
    assert_eq!(bad_name.code(), Some(2), "{}", bad_name.stderr());
    assert_eq!(before, s.vault_bytes(), "a refused add wrote the vault");
}

#[test]
fn add_refuses_a_profile_with_source_profile() {
    let s = Sandbox::new();
    s.init_passphrase();
    s.write_config("[profile role]\nsource_profile = base\nrole_arn = arn:aws:iam::123456789012:role/r\n[profile self]\nsource_profile = self\n");
    add_with(&s, &["role", "--env"], KEY_ID, SECRET).fails_with("source_profile = base");
    add_with(&s, &["self", "--env"], KEY_ID, SECRET).success();
}

#[test]
fn totp_seed_is_stored_under_its_device() {
    let s = Sandbox::new();
    let (identity, _) = s.init_identity();
    s.write_config(&format!("[profile prod]\nmfa_serial = {SERIAL}\n"));
    let mut cmd = s.cmd();
    cmd.args(["add", "prod", "--env", "--totp-secret", "-"])
        .env("AVAULT_IDENTITY", &identity)
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    let out = support::run_with_stdin(cmd, format!("{}\n", SEED.to_lowercase()).as_bytes());
    out.success();
    assert!(!out.stderr().contains(SEED));

    let keys =
        avault::unlock::Keys::new(avault::unlock::parse_identity(&identity).expect("id"), None);
    let payload = avault::vault::Vault::at(s.vault())
        .open(&keys)
        .expect("open");
    let profile = &payload.profiles["prod"];
    assert_eq!(profile.mfa_serial.as_deref(), Some(SERIAL));
    use secrecy::ExposeSecret;
    let uri = profile.totp[SERIAL].expose_secret();
    let seed = avault::mfa::TotpSeed::from_uri(uri).expect("stored seed parses");
    assert_eq!(seed.code_at(59).expect("code"), "287082"); // RFC 6238 vector
}

#[test]
fn list_shows_profiles_credentials_and_sessions() {
    let s = Sandbox::new();
    s.init_passphrase();
    s.write_config("[default]\n[profile dev]\n[sso-session corp]\nsso_region = eu-west-1\n");
    add_with(&s, &["dev", "--env"], KEY_ID, SECRET).success();
    add_with(
        &s,
        &["orphan", "--env", "--add-config=false"],
        KEY_ID,
        SECRET,
    )
    .success();
    let table = s.run(&["list"], &[PW]);
    assert_eq!(
        table.success().stdout(),
        "Profile  Credentials  Sessions\n\
         =======  ===========  ========\n\
         default  -            -\n\
         dev      dev          -\n\
         orphan   orphan       -\n"
    );
    // --profiles reads only the config: no unlock needed.
    assert_eq!(
        s.run(&["ls", "--profiles"], &[]).success().stdout(),
        "default\ndev\n"
    );
    assert_eq!(
        s.run(&["list", "--credentials"], &[PW]).success().stdout(),
        "dev\norphan\n"
    );
    assert_eq!(s.run(&["list", "--sessions"], &[PW]).success().stdout(), "");
    let both = s.run(&["list", "--profiles", "--credentials"], &[PW]);
    assert_eq!(both.code(), Some(2));
}

#[test]
fn list_without_a_vault_shows_the_config() {
    let s = Sandbox::new();
    s.write_config("[profile a]\n");
    assert_eq!(
        s.run(&["list"], &[]).success().stdout(),
        "Profile  Credentials  Sessions\n=======  ===========  ========\na        -            -\n"
    );
    s.run(&["list", "--credentials"], &[])
        .fails_with("avault init");
}

#[test]
fn remove_needs_force_without_a_terminal() {
    let s = Sandbox::new();
    s.init_passphrase();
    add_with(&s, &["prod", "--env"], KEY_ID, SECRET).success();
    s.run(&["remove", "prod"], &[PW]).fails_with("--force");
    s.run(&["rm", "nope", "-f"], &[PW])
        .fails_with("no credentials stored");
    s.run(&["rm", "prod", "-f"], &[PW]).success();
    assert_eq!(
        s.run(&["list", "--credentials"], &[PW]).success().stdout(),
        ""
    );
}

#[test]
fn backend_file_is_accepted_and_others_refused() {
    let s = Sandbox::new();
    s.run(&["--backend", "file", "list", "--profiles"], &[])
        .success();
    let out = s.run(
        &["list", "--profiles"],
        &[("AWS_VAULT_BACKEND", "keychain")],
    );
    assert_eq!(out.code(), Some(2), "{}", out.stderr());
}

#[test]
fn secrets_never_reach_output_even_with_debug() {
    let s = Sandbox::new();
    s.init_passphrase();
    for args in [
        &["--debug", "add", "prod", "--env"][..],
        &["--debug", "list"],
        &["--debug", "unlockers"],
        &["--debug", "list", "--credentials"],
    ] {
        let out = s.run(
            args,
            &[
                PW,
                ("AWS_ACCESS_KEY_ID", KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", SECRET),
            ],
        );
        out.success();
    }
}

#[test]
fn config_mistakes_are_reported_with_file_and_line() {
    let s = Sandbox::new();
    let (identity, _) = s.init_identity();
    s.write_config(
        "[profile a]\nsource_profile = b\nrole_arn = arn:aws:iam::123456789012:role/x\n\
         [profile b]\nsource_profile = a\nrole_arn = arn:aws:iam::123456789012:role/y\n\
         [profile bad-arn]\nrole_arn = not-an-arn\nsource_profile = a\n\
         [profile ghost]\nsource_profile = nobody\n",
    );
    let id = ("AVAULT_IDENTITY", identity.as_str());
    let config = s.config().display().to_string();
    let cycle = s.run(&["exec", "a", "--json"], &[id]);
    cycle.fails_with("cycle");
    assert!(
        cycle.stderr().contains(&format!("{config}:")),
        "{}",
        cycle.stderr()
    );
    s.run(&["exec", "bad-arn", "--json"], &[id])
        .fails_with(&format!("{config}:8"));
    s.run(&["exec", "ghost", "--json"], &[id])
        .fails_with("nobody");
    s.run(&["exec", "missing", "--json"], &[id])
        .fails_with("missing");
    s.run(
        &["exec", "a", "--json"],
        &[id, ("AWS_SESSION_TOKEN_TTL", "soon")],
    )
    .fails_with("AWS_SESSION_TOKEN_TTL");
}
