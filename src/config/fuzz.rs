//! The body of the `config_resolve` fuzz target: arbitrary text as a config
//! file, every profile in it resolved (and one that is not), every error
//! formatted. Nothing may panic.
//!
//! What must stay true: this stays a test driver, reachable only through
//! `avault::internal`.

use std::path::Path;

use super::duration::{format_duration, parse_duration};
use super::file::AwsConfig;
use super::overrides::{EnvOverrides, FlagOverrides};
use super::resolve::Resolver;

/// Parses `text` as a config file and resolves every profile it names plus
/// one it does not, with and without environment overrides and flags.
/// Panics only on a broken invariant.
pub fn resolve_every_profile(text: &str) {
    let Ok(config) = AwsConfig::parse(Path::new("fuzz/config"), text) else {
        return;
    };
    let plain = EnvOverrides::default();
    let busy = EnvOverrides::from_vars([
        ("AWS_REGION", "eu-west-1"),
        ("AWS_MFA_SERIAL", "arn:aws:iam::123456789012:mfa/fuzz"),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/fuzz"),
        ("AWS_SESSION_TAGS", "a=1,b=2"),
        ("AWS_TRANSITIVE_TAGS", "a"),
        ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9"),
        ("AWS_ASSUME_ROLE_TTL", "2h"),
    ])
    .unwrap_or_default();
    // Odd-length names count as stored, so stored-only sources are reached.
    let stored = |name: &str| name.len() % 2 == 1;
    let flags = FlagOverrides {
        region: Some("us-east-1".into()),
        duration: Some(std::time::Duration::from_secs(3600)),
    };
    let resolvers = [
        Resolver::new(&config, &plain),
        Resolver::new(&config, &busy).with_stored_keys(&stored),
        Resolver::new(&config, &plain).with_flags(flags),
    ];
    let mut names: Vec<&str> = config.profile_names().collect();
    names.push("no such profile");
    for resolver in &resolvers {
        for name in &names {
            match resolver.resolve(name) {
                Ok(chain) => {
                    assert_eq!(chain.target().name, *name, "the chain starts at its target");
                    for (i, profile) in chain.profiles().iter().enumerate() {
                        assert_eq!(chain.is_source_of_another(&profile.name), i > 0);
                        let _ = chain.session_token_duration(&profile.name);
                        let _ = profile.credential_source(stored(&profile.name));
                    }
                    assert!(
                        chain.root().source_profile.is_none(),
                        "the root has no source"
                    );
                }
                Err(e) => {
                    let _ = (e.to_string(), e.hint());
                }
            }
        }
    }
    for section in config.profile_names().filter_map(|n| config.profile(n)) {
        for key in section.keys() {
            if let Some(Ok(d)) = section.get(key).map(parse_duration) {
                if d.subsec_nanos() == 0 {
                    assert_eq!(parse_duration(&format_duration(d)), Ok(d), "round trip");
                }
            }
        }
    }
}
