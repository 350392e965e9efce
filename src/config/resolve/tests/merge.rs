//! Layers, include chains, `[default]`, the environment and source chains.

use super::*;

#[test]
fn profile_over_include_over_default() {
    let text = "[default]\nregion = d\nmfa_serial = d-mfa\nexternal_id = d-ext\n\
                [profile base]\nregion = base\nmfa_serial = base-mfa\n\
                [profile t]\ninclude_profile = base\nregion = t\n";
    let t = target(text, "t");
    assert_eq!(t.region.as_deref(), Some("t"));
    assert_eq!(t.mfa_serial.as_deref(), Some("base-mfa"));
    // aws-vault reads [default] at the end of the include chain.
    assert_eq!(t.external_id.as_deref(), Some("d-ext"));
}

#[test]
fn default_fills_what_a_profile_leaves_unset() {
    let text = "[default]\nregion = d\nmfa_serial = m\n[profile a]\nregion = a\nmfa_serial =\n";
    let a = target(text, "a");
    assert_eq!(a.region.as_deref(), Some("a"));
    assert_eq!(
        a.mfa_serial.as_deref(),
        Some("m"),
        "an empty value is unset"
    );
    assert_eq!(target(text, "default").region.as_deref(), Some("d"));
}

#[test]
fn include_profile_is_recursive_and_parent_profile_is_its_old_name() {
    let text = "[profile a]\ninclude_profile = b\n[profile b]\nparent_profile = c\n\
                [profile c]\nregion = c\nexternal_id = c\n[profile d]\nregion = d\n\
                [profile e]\ninclude_profile = c\nparent_profile = d\n";
    assert_eq!(target(text, "a").region.as_deref(), Some("c"));
    assert_eq!(
        target(text, "e").region.as_deref(),
        Some("c"),
        "include_profile wins"
    );
}

#[test]
fn include_loops_are_errors_with_the_closing_line() {
    let text = "[profile a]\ninclude_profile = b\n[profile b]\nregion = x\ninclude_profile = a\n";
    assert_eq!(
        error(text, "a"),
        "/cfg:5: include_profile loop: a -> b -> a"
    );
    assert_eq!(
        error("[profile a]\ninclude_profile = a\n", "a"),
        "/cfg:2: include_profile loop: a -> a"
    );
}

#[test]
fn default_with_include_profile_loops_as_in_aws_vault() {
    let text = "[default]\ninclude_profile = base\n[profile base]\nregion = x\n";
    assert_eq!(
        error(text, "base"),
        "/cfg:2: include_profile loop: base -> default -> base"
    );
}

#[test]
fn unknown_include_profile_is_an_error() {
    let text = "[profile a]\n\ninclude_profile = nope\n";
    assert_eq!(
        error(text, "a"),
        "/cfg:3: include_profile = nope: no such profile in the config file"
    );
}

#[test]
fn keys_are_case_insensitive_and_comments_stripped() {
    let text = "[profile a]\nREGION = eu-west-1 # Ireland\nRole_ARN = arn:aws:iam::123456789012:role/r ; admin\n\
                Source_Profile = b\n[profile b]\n";
    let a = target(text, "a");
    assert_eq!(a.region.as_deref(), Some("eu-west-1"));
    assert_eq!(a.role_arn.as_ref().map(RoleArn::as_str), Some(ARN));
    assert_eq!(a.source_profile.as_deref(), Some("b"));
}

#[test]
fn source_profile_naming_itself_means_its_own_key() {
    let chain =
        resolve("[profile a]\nsource_profile = a\nmfa_serial = m\n", "a").expect("resolves");
    assert_eq!(names(&chain), ["a"]);
    assert_eq!(chain.target().source_profile, None);
    // Also when the self link comes from [default].
    let chain = resolve(
        "[default]\nsource_profile = base\n[profile base]\n[profile r]\n",
        "r",
    )
    .expect("resolves");
    assert_eq!(names(&chain), ["r", "base"]);
}

#[test]
fn source_chain_runs_to_the_root() {
    let text =
        "[profile role]\nsource_profile = mid\nrole_arn = arn:aws:iam::123456789012:role/r\n\
                [profile mid]\nsource_profile = base\n[profile base]\nmfa_serial = m\n";
    let chain = resolve(text, "role").expect("resolves");
    assert_eq!(names(&chain), ["role", "mid", "base"]);
    assert_eq!(chain.root().name, "base");
    assert!(chain.is_source_of_another("base"));
    assert!(chain.is_source_of_another("mid"));
    assert!(!chain.is_source_of_another("role"));
    assert_eq!(
        chain.session_token_duration("base"),
        Duration::from_secs(8 * 3600)
    );
    assert_eq!(
        chain.session_token_duration("role"),
        Duration::from_secs(3600)
    );
    assert!(chain.profiles().iter().all(|p| p.in_config));
}

#[test]
fn source_profile_cycles_are_listed() {
    let text = "[profile a]\nsource_profile = b\n[profile b]\nsource_profile = c\n\
                [profile c]\n\nsource_profile = a\n";
    assert_eq!(
        error(text, "a"),
        "/cfg:7: source_profile cycle: a -> b -> c -> a"
    );
    assert_eq!(
        error(text, "b"),
        "/cfg:2: source_profile cycle: b -> c -> a -> b"
    );
    let tail = "[profile a]\nsource_profile = b\n[profile b]\nsource_profile = c\n[profile c]\nsource_profile = b\n";
    assert_eq!(
        error(tail, "a"),
        "/cfg:6: source_profile cycle: b -> c -> b"
    );
}

#[test]
fn unknown_source_profile_unless_stored() {
    let text = "[profile a]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = base\n";
    assert_eq!(
        error(text, "a"),
        "/cfg:3: profile \"a\" has source_profile = base, which is not in the config file and has no stored credentials"
    );
    let c = config(text);
    let e = EnvOverrides::default();
    let stored = |name: &str| name == "base";
    let chain = Resolver::new(&c, &e)
        .with_stored_keys(&stored)
        .resolve("a")
        .expect("resolves");
    assert_eq!(names(&chain), ["a", "base"]);
    assert!(!chain.root().in_config);
}

#[test]
fn unknown_profile_unless_stored_and_stored_only_takes_default() {
    let text = "[default]\nregion = d\n";
    let Err(e) = resolve(text, "nope") else {
        panic!("resolved");
    };
    assert_eq!(
        e.to_string(),
        "profile \"nope\" is not in /cfg and has no stored credentials"
    );
    assert!(e.hint().is_some_and(|h| h.contains("avault add nope")));
    let c = config(text);
    let env = EnvOverrides::default();
    let stored = |name: &str| name == "keyonly";
    let chain = Resolver::new(&c, &env)
        .with_stored_keys(&stored)
        .resolve("keyonly")
        .expect("resolves");
    assert_eq!(chain.target().region.as_deref(), Some("d"));
    assert!(!chain.target().in_config);
    assert!(resolve("", "default").is_err());
}

#[test]
fn environment_over_profile_and_flags_over_environment() {
    let text =
        "[profile a]\nregion = file\nmfa_serial = file-mfa\nsts_regional_endpoints = regional\n";
    let a = resolve_env(text, "a", &[]).target().clone();
    assert_eq!(a.region.as_deref(), Some("file"));
    let vars = [
        ("AWS_REGION", "env"),
        ("AWS_DEFAULT_REGION", "env-default"),
        ("AWS_MFA_SERIAL", "env-mfa"),
        ("AWS_STS_REGIONAL_ENDPOINTS", "legacy"),
    ];
    let a = resolve_env(text, "a", &vars).target().clone();
    assert_eq!(a.region.as_deref(), Some("env"));
    assert_eq!(a.mfa_serial.as_deref(), Some("env-mfa"));
    assert_eq!(a.sts_regional_endpoints, Some(StsRegionalEndpoints::Legacy));
    let a = resolve_env(text, "a", &[("AWS_DEFAULT_REGION", "env-default")])
        .target()
        .clone();
    assert_eq!(a.region.as_deref(), Some("env-default"));
    let c = config(text);
    let e = env(&vars);
    let flags = FlagOverrides {
        region: Some("flag".into()),
        duration: None,
    };
    let chain = Resolver::new(&c, &e)
        .with_flags(flags)
        .resolve("a")
        .expect("resolves");
    assert_eq!(chain.target().region.as_deref(), Some("flag"));
}

#[test]
fn role_variables_apply_to_the_target_only() {
    let text = "[profile t]\nsource_profile = s\n[profile s]\n";
    let vars = [
        ("AWS_ROLE_ARN", ARN),
        ("AWS_ROLE_SESSION_NAME", "me"),
        ("AWS_SESSION_TAGS", "team=core"),
        ("AWS_TRANSITIVE_TAGS", "team"),
        ("AWS_SOURCE_IDENTITY", "me@example.com"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_MFA_SERIAL", "arn:aws:iam::123456789012:mfa/me"),
        ("AWS_STS_REGIONAL_ENDPOINTS", "regional"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
    ];
    let chain = resolve_env(text, "t", &vars);
    let (t, s) = (chain.target(), chain.root());
    assert_eq!(t.role_arn.as_ref().map(RoleArn::as_str), Some(ARN));
    assert_eq!(t.role_session_name.as_deref(), Some("me"));
    assert_eq!(t.session_tags.get("team").map(String::as_str), Some("core"));
    assert_eq!(t.transitive_session_tags, ["team"]);
    assert_eq!(t.source_identity.as_deref(), Some("me@example.com"));
    assert_eq!(s.role_arn, None);
    assert_eq!(s.role_session_name, None);
    assert!(s.session_tags.is_empty() && s.transitive_session_tags.is_empty());
    assert_eq!(s.source_identity, None);
    // These apply to every profile, as in aws-vault's populateFromEnv.
    for p in [t, s] {
        assert_eq!(p.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            p.mfa_serial.as_deref(),
            Some("arn:aws:iam::123456789012:mfa/me")
        );
        assert_eq!(
            p.sts_regional_endpoints,
            Some(StsRegionalEndpoints::Regional)
        );
        assert_eq!(p.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
    }
}

#[test]
fn environment_role_settings_beat_the_file() {
    let text =
        "[profile t]\nrole_arn = arn:aws:iam::123456789012:role/file\nsession_tags = a=file\n\
                transitive_session_tags = a\nsource_identity = file\nrole_session_name = file\n";
    let t = resolve_env(text, "t", &[]).target().clone();
    assert_eq!(t.session_tags.get("a").map(String::as_str), Some("file"));
    assert_eq!(t.role_session_name.as_deref(), Some("file"));
    let vars = [
        ("AWS_ROLE_ARN", ARN),
        ("AWS_SESSION_TAGS", "a=env"),
        ("AWS_TRANSITIVE_TAGS", "b"),
        ("AWS_SOURCE_IDENTITY", "env"),
        ("AWS_ROLE_SESSION_NAME", "env"),
    ];
    let t = resolve_env(text, "t", &vars).target().clone();
    assert_eq!(t.role_arn.as_ref().map(RoleArn::as_str), Some(ARN));
    assert_eq!(t.session_tags.get("a").map(String::as_str), Some("env"));
    assert_eq!(t.transitive_session_tags, ["b"]);
    assert_eq!(t.source_identity.as_deref(), Some("env"));
    assert_eq!(t.role_session_name.as_deref(), Some("env"));
}

#[test]
fn sts_endpoint_variable_wins_for_sts() {
    let text = "[profile a]\nendpoint_url = http://file\n";
    let a = resolve_env(text, "a", &[]).target().clone();
    assert_eq!(a.endpoint_url.as_deref(), Some("http://file"));
    assert_eq!(a.sts_endpoint_url.as_deref(), Some("http://file"));
    let a = resolve_env(text, "a", &[("AWS_ENDPOINT_URL", "http://env")])
        .target()
        .clone();
    assert_eq!(a.endpoint_url.as_deref(), Some("http://env"));
    assert_eq!(a.sts_endpoint_url.as_deref(), Some("http://env"));
    let a = resolve_env(text, "a", &[("AWS_ENDPOINT_URL_STS", "http://sts")])
        .target()
        .clone();
    assert_eq!(a.endpoint_url.as_deref(), Some("http://file"));
    assert_eq!(a.sts_endpoint_url.as_deref(), Some("http://sts"));
}

#[test]
fn iam_endpoint_variable_wins_for_iam() {
    let text = "[profile a]\nendpoint_url = http://file\n";
    let a = resolve_env(text, "a", &[]).target().clone();
    assert_eq!(a.iam_endpoint_url.as_deref(), Some("http://file"));
    let a = resolve_env(
        text,
        "a",
        &[
            ("AWS_ENDPOINT_URL_IAM", "http://iam"),
            ("AWS_ENDPOINT_URL_STS", "http://sts"),
        ],
    )
    .target()
    .clone();
    assert_eq!(a.endpoint_url.as_deref(), Some("http://file"));
    assert_eq!(a.iam_endpoint_url.as_deref(), Some("http://iam"));
    assert_eq!(a.sts_endpoint_url.as_deref(), Some("http://sts"));
}
