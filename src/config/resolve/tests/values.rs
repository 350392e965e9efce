//! Values: checked, typed, located in errors, never echoing commands.

use std::time::Duration;

use super::*;
use crate::config::CredentialSource;

#[test]
fn bad_values_name_their_place() {
    assert_eq!(
        error("[profile a]\n\nrole_arn = arn:aws:iam::123:role/r\n", "a"),
        "/cfg:3: role_arn \"arn:aws:iam::123:role/r\" is not an IAM role ARN"
    );
    assert_eq!(
        error("[profile a]\nsts_regional_endpoints = global\n", "a"),
        "/cfg:2: invalid sts_regional_endpoints: \"global\" is neither regional nor legacy"
    );
    assert_eq!(
        error("[profile a]\nsession_tags = a=1,b\n", "a"),
        "/cfg:2: invalid session_tags: item 2 has no '=': session tags are key=value,key=value"
    );
    let c = config("[profile a]\n");
    let e = env(&[("AWS_ROLE_ARN", "nope")]);
    let Err(err) = Resolver::new(&c, &e).resolve("a") else {
        panic!("resolved");
    };
    assert_eq!(
        err.to_string(),
        "AWS_ROLE_ARN: role_arn \"nope\" is not an IAM role ARN"
    );
    let e = env(&[("AWS_SESSION_TAGS", "x")]);
    let Err(err) = Resolver::new(&c, &e).resolve("a") else {
        panic!("resolved");
    };
    assert!(
        err.to_string()
            .starts_with("AWS_SESSION_TAGS: invalid session_tags"),
        "{err}"
    );
    assert!(err.hint().is_some());
}

#[test]
fn errors_never_show_commands() {
    let text =
        "[profile a]\ncredential_process = fetch --token hunter2\nmfa_process = otp hunter2\n\
                web_identity_token_process = tok hunter2\nsession_tags = broken\n";
    let message = error(text, "a");
    assert!(!message.contains("hunter2"), "{message}");
    let ok = "[profile a]\ncredential_process = fetch --token hunter2\n";
    let shown = format!("{:?}", resolve(ok, "a").expect("resolves"));
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn credential_process_with_role_and_no_source_uses_the_process() {
    let text =
        "[profile a]\ncredential_process = fetch\nrole_arn = arn:aws:iam::123456789012:role/r\n";
    let a = target(text, "a");
    assert_eq!(
        a.credential_process
            .as_ref()
            .map(ProcessCommand::expose_command),
        Some("fetch")
    );
    assert_eq!(
        a.credential_source(false),
        CredentialSource::CredentialProcess
    );
}

#[test]
fn sso_session_supplies_start_url_region_and_scopes() {
    let text = "[profile a]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Admin\n\
                sso_start_url = https://own\nsso_region = us-east-1\n\
                [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n\
                sso_registration_scopes = sso:account:access\n[profile b]\nsso_session = corp\nsso_region = eu-west-1\n\
                sso_account_id = 1\nsso_role_name = r\n[profile c]\nsso_session = missing\n";
    let a = target(text, "a");
    assert_eq!(a.sso_session.as_deref(), Some("corp"));
    // As aws-vault: the [sso-session] value overwrites the profile's own.
    assert_eq!(
        a.sso_start_url.as_deref(),
        Some("https://corp.awsapps.com/start")
    );
    assert_eq!(
        a.sso_registration_scopes.as_deref(),
        Some("sso:account:access")
    );
    assert_eq!(a.sso_account_id.as_deref(), Some("123456789012"));
    assert_eq!(a.sso_role_name.as_deref(), Some("Admin"));
    assert_eq!(a.credential_source(false), CredentialSource::Sso);
    // The session has no sso_region: the profile's fills it.
    assert_eq!(target(text, "b").sso_region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        error(text, "c"),
        "/cfg:16: sso_session = missing: no [sso-session missing] section in the config file"
    );
}

#[test]
fn legacy_sso_keys_work_without_a_session() {
    let a = target(
        "[profile a]\nsso_start_url = https://x/start#/\nsso_region = us-east-1\n\
         sso_account_id = 1\nsso_role_name = r\n",
        "a",
    );
    assert_eq!(a.sso_start_url.as_deref(), Some("https://x/start#/"));
    assert_eq!(a.sso_region.as_deref(), Some("us-east-1"));
    assert_eq!(a.sso_session, None);
}

#[test]
fn an_sso_profile_needs_region_account_and_role() {
    let text = "[profile a]\nsso_start_url = https://x\nsso_region = r\nsso_role_name = n\n\
                [profile b]\nsso_session = s\nsso_account_id = 1\n\
                [sso-session s]\nsso_start_url = https://x\nsso_region = r\n\
                [profile c]\nsso_start_url = https://x\nsource_profile = a\n";
    assert_eq!(
        error(text, "a"),
        "/cfg:1: profile \"a\" uses SSO (sso_start_url) but has no sso_account_id"
    );
    assert_eq!(
        error(text, "b"),
        "/cfg:5: profile \"b\" uses SSO (sso_start_url) but has no sso_role_name"
    );
}

#[test]
fn assume_role_duration_precedence() {
    let text = "[profile a]\nrole_arn = arn:aws:iam::123456789012:role/r\nduration_seconds = 7200\n[profile b]\nrole_arn = arn:aws:iam::123456789012:role/r\n";
    let a = target(text, "a");
    assert_eq!(a.duration_seconds, Some(Duration::from_secs(7200)));
    assert_eq!(a.assume_role_duration, Duration::from_secs(7200));
    assert_eq!(
        target(text, "b").assume_role_duration,
        Duration::from_secs(3600)
    );
    let a = resolve_env(text, "a", &[("AWS_ASSUME_ROLE_TTL", "3h")])
        .target()
        .clone();
    assert_eq!(a.assume_role_duration, Duration::from_secs(3 * 3600));
    let c = config(text);
    let e = env(&[("AWS_ASSUME_ROLE_TTL", "3h")]);
    let flags = FlagOverrides {
        region: None,
        duration: Some(Duration::from_secs(4 * 3600)),
    };
    let chain = Resolver::new(&c, &e)
        .with_flags(flags)
        .resolve("a")
        .expect("resolves");
    assert_eq!(
        chain.target().assume_role_duration,
        Duration::from_secs(4 * 3600)
    );
    assert_eq!(chain.ttls().session_token, Duration::from_secs(4 * 3600));
    assert_eq!(
        chain.ttls().chained_session_token,
        Duration::from_secs(4 * 3600)
    );
}

#[test]
fn duration_seconds_is_checked() {
    assert_eq!(
        error("[profile a]\nduration_seconds = 60\n", "a"),
        "/cfg:2: 1m is out of range for AssumeRole (15m to 12h)"
    );
    assert_eq!(
        error("[profile a]\nduration_seconds = 1h\n", "a"),
        "/cfg:2: invalid duration_seconds: \"1h\" is not a whole number of seconds"
    );
    assert!(resolve("[profile a]\nduration_seconds = 43200\n", "a").is_ok());
}

#[test]
fn duration_flag_is_held_to_the_call_it_feeds() {
    let text = "[profile role]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = base\n\
                [profile base]\n[profile web]\nweb_identity_token_file = /t\nrole_arn = arn:aws:iam::123456789012:role/r\n";
    let c = config(text);
    let e = EnvOverrides::default();
    let with = |hours: u64| {
        Resolver::new(&c, &e).with_flags(FlagOverrides {
            region: None,
            duration: Some(Duration::from_secs(hours * 3600)),
        })
    };
    assert!(
        with(24).resolve("base").is_ok(),
        "GetSessionToken takes 24h"
    );
    let Err(err) = with(24).resolve("role") else {
        panic!("resolved");
    };
    assert_eq!(
        err.to_string(),
        "--duration: 24h is out of range for AssumeRole (15m to 12h)"
    );
    assert!(with(24).resolve("web").is_err());
    assert!(with(37).resolve("base").is_err());
    let short = Resolver::new(&c, &e).with_flags(FlagOverrides {
        region: None,
        duration: Some(Duration::from_secs(60)),
    });
    let Err(err) = short.resolve("base") else {
        panic!("resolved");
    };
    assert_eq!(
        err.to_string(),
        "--duration: 1m is out of range for GetSessionToken (15m to 36h)"
    );
}

#[test]
fn mfa_process_is_inherited_from_the_source() {
    let text = "[profile role]\nsource_profile = mid\n[profile mid]\nsource_profile = base\n\
                [profile base]\nmfa_process = ykman oath code\n[profile own]\nsource_profile = base\nmfa_process = other\n";
    let chain = resolve(text, "role").expect("resolves");
    for p in chain.profiles() {
        assert_eq!(
            p.mfa_process.as_ref().map(ProcessCommand::expose_command),
            Some("ykman oath code"),
            "{}",
            p.name
        );
    }
    let own = target(text, "own");
    assert_eq!(
        own.mfa_process.as_ref().map(ProcessCommand::expose_command),
        Some("other")
    );
}

#[test]
fn every_key_reaches_the_profile() {
    let text = "[profile a]\nmfa_serial = m\nrole_arn = arn:aws:iam::123456789012:role/r\nexternal_id = x\n\
                region = r\nrole_session_name = n\nduration_seconds = 900\nsource_profile = b\n\
                web_identity_token_file = /f\nweb_identity_token_process = p\nsts_regional_endpoints = Legacy\n\
                session_tags = k=v\ntransitive_session_tags = k\nsource_identity = i\ncredential_process = c\n\
                mfa_process = mp\nendpoint_url = http://e\nsso_account_id = 1\nsso_role_name = rn\n\
                sso_start_url = https://s\nsso_region = sr\n[profile b]\n";
    let a = target(text, "a");
    assert_eq!(a.mfa_serial.as_deref(), Some("m"));
    assert_eq!(a.external_id.as_deref(), Some("x"));
    assert_eq!(a.region.as_deref(), Some("r"));
    assert_eq!(a.role_session_name.as_deref(), Some("n"));
    assert_eq!(a.duration_seconds, Some(Duration::from_secs(900)));
    assert_eq!(a.source_profile.as_deref(), Some("b"));
    assert_eq!(a.web_identity_token_file.as_deref(), Some("/f"));
    assert!(a.web_identity_token_process.is_some());
    assert_eq!(a.sts_regional_endpoints, Some(StsRegionalEndpoints::Legacy));
    assert_eq!(a.session_tags.get("k").map(String::as_str), Some("v"));
    assert_eq!(a.transitive_session_tags, ["k"]);
    assert_eq!(a.source_identity.as_deref(), Some("i"));
    assert!(a.credential_process.is_some());
    assert!(a.mfa_process.is_some());
    assert_eq!(a.endpoint_url.as_deref(), Some("http://e"));
    assert_eq!(a.sso_account_id.as_deref(), Some("1"));
    assert_eq!(a.sso_role_name.as_deref(), Some("rn"));
    assert_eq!(a.sso_start_url.as_deref(), Some("https://s"));
    assert_eq!(a.sso_region.as_deref(), Some("sr"));
}

#[test]
fn fuzz_driver_runs_on_awkward_input() {
    crate::config::resolve_every_profile(
        "[default]\ninclude_profile = a\n[profile a]\nsource_profile = b\n[profile b]\nsource_profile = a\n\
         [profile c]\nsso_session = s\n[sso-session s]\n[profile d]\nduration_seconds = 5h\n",
    );
    crate::config::resolve_every_profile("[broken");
}
