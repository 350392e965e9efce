//! Profile resolution as aws-vault v7 does it (`ConfigLoader` in
//! vault/config.go of 99designs/aws-vault and of the ByteNess fork):
//!
//! - each profile of a chain starts from the flags, then takes from the
//!   environment what is still unset (`populateFromEnv`), then from its
//!   section, then from its `include_profile` (recursively) and, at the end
//!   of the include chain, from `[default]` (`populateFromConfigFile`);
//!   the first layer to set a key wins;
//! - a profile that sets `sso_session` takes `sso_start_url`, `sso_region`
//!   and `sso_registration_scopes` from that `[sso-session]`, over anything
//!   a higher layer set;
//! - a `source_profile` naming the profile itself is dropped: the profile
//!   uses its own stored key;
//! - the source profile is resolved the same way (with a fresh include
//!   loop check), and so on down to the root (`hydrateSourceConfig`); a
//!   profile without `mfa_process` inherits its source's (the fork).
//!
//! Where we are stricter than aws-vault, to give a precise error instead of
//! a silent fallback: unknown profiles (the fork checks this too), unknown
//! `source_profile`, `include_profile` and `sso_session` names,
//! `source_profile` cycles (aws-vault recurses until the stack overflows),
//! values that do not parse (aws-vault ignores them) and durations STS would
//! refuse.
//!
//! What must stay true: resolution is pure (no I/O, no environment: both
//! come in through [`AwsConfig`] and [`EnvOverrides`]), iterative (no
//! recursion an input can deepen), and terminates on every input.

mod layers;
#[cfg(test)]
mod tests;

use std::time::Duration;

use self::layers::{Layers, Origin};
use super::arn::RoleArn;
use super::error::{ConfigError, Location};
use super::file::{AwsConfig, Section};
use super::overrides::{EnvOverrides, FlagOverrides};
use super::profile::{
    CredentialSource, ProcessCommand, Profile, ProfileChain, StsRegionalEndpoints,
};
use super::tags::{parse_session_tags, parse_transitive_tags};
use super::ttl::{Ttls, ASSUME_ROLE, DEFAULT_ASSUME_ROLE, GET_SESSION_TOKEN};

/// Keys taken from a profile section before `sso_session`, in aws-vault's
/// order (the order matters only around `sso_session`).
const BEFORE_SSO_SESSION: [&str; 7] = [
    "mfa_serial",
    "role_arn",
    "external_id",
    "region",
    "role_session_name",
    "duration_seconds",
    "source_profile",
];

/// Keys taken from a profile section after `sso_session`.
const AFTER_SSO_SESSION: [&str; 13] = [
    "sso_start_url",
    "sso_region",
    "sso_account_id",
    "sso_role_name",
    "web_identity_token_file",
    "web_identity_token_process",
    "sts_regional_endpoints",
    "source_identity",
    "credential_process",
    "mfa_process",
    "session_tags",
    "transitive_session_tags",
    "endpoint_url",
];

/// Keys an `[sso-session]` section gives the profile that names it.
const FROM_SSO_SESSION: [&str; 3] = ["sso_start_url", "sso_region", "sso_registration_scopes"];

fn no_stored_keys(_: &str) -> bool {
    false
}

/// Resolves profiles of one config against one environment and set of
/// flags.
pub struct Resolver<'a> {
    config: &'a AwsConfig,
    env: &'a EnvOverrides,
    flags: FlagOverrides,
    stored: &'a dyn Fn(&str) -> bool,
}

impl<'a> Resolver<'a> {
    /// A resolver with no flags, knowing of no stored keys.
    pub fn new(config: &'a AwsConfig, env: &'a EnvOverrides) -> Resolver<'a> {
        Resolver {
            config,
            env,
            flags: FlagOverrides::default(),
            stored: &no_stored_keys,
        }
    }

    /// Applies command-line flags to every profile resolved.
    pub fn with_flags(mut self, flags: FlagOverrides) -> Resolver<'a> {
        self.flags = flags;
        self
    }

    /// Tells which profile names have a stored key: such a profile exists
    /// even without a config section.
    pub fn with_stored_keys(mut self, stored: &'a dyn Fn(&str) -> bool) -> Resolver<'a> {
        self.stored = stored;
        self
    }

    /// Whether `name` is a profile: a config section or a stored key.
    pub fn exists(&self, name: &str) -> bool {
        self.config.profile(name).is_some() || (self.stored)(name)
    }

    /// Resolves `name` and its `source_profile` chain.
    pub fn resolve(&self, name: &str) -> Result<ProfileChain, ConfigError> {
        let ttls = self.ttls()?;
        if !self.exists(name) {
            return Err(ConfigError::UnknownProfile {
                name: name.to_owned(),
                path: self.config.path().to_owned(),
            });
        }
        let (target, mut link) = self.resolve_one(name, true)?;
        let mut sources: Vec<Profile> = Vec::new();
        while let Some((next, at)) = link {
            let from = sources.last().unwrap_or(&target);
            let names = || {
                std::iter::once(&target)
                    .chain(&sources)
                    .map(|p| p.name.clone())
            };
            if let Some(start) = names().position(|n| n == next) {
                let mut cycle: Vec<String> = names().skip(start).collect();
                cycle.push(next);
                return Err(ConfigError::SourceProfileCycle { cycle, at });
            }
            if !self.exists(&next) {
                return Err(ConfigError::UnknownSourceProfile {
                    profile: from.name.clone(),
                    source_profile: next,
                    at,
                });
            }
            let (profile, further) = self.resolve_one(&next, false)?;
            sources.push(profile);
            link = further;
        }
        // The fork: a profile without mfa_process takes its source's,
        // which has already taken its own source's.
        let mut inherited: Option<ProcessCommand> = None;
        for profile in sources.iter_mut().rev() {
            if profile.mfa_process.is_none() {
                profile.mfa_process = inherited.clone();
            }
            inherited = profile.mfa_process.clone();
        }
        let mut target = target;
        if target.mfa_process.is_none() {
            target.mfa_process = inherited;
        }
        Ok(ProfileChain::new(target, sources, ttls))
    }

    /// The environment's TTLs with `--duration` applied, as aws-vault's
    /// exec sets every session duration from it.
    fn ttls(&self) -> Result<Ttls, ConfigError> {
        let mut ttls = self.env.ttls;
        if let Some(d) = self.flags.duration {
            GET_SESSION_TOKEN.check(d, Origin::Flag("--duration").locate(self.config))?;
            ttls.session_token = d;
            ttls.chained_session_token = d;
            ttls.assume_role = Some(d);
        }
        Ok(ttls)
    }

    /// One profile with every layer merged; with its `source_profile` and
    /// where that is set.
    fn resolve_one(
        &self,
        name: &str,
        is_target: bool,
    ) -> Result<(Profile, Option<(String, Location)>), ConfigError> {
        let mut layers = Layers::default();
        let env = self.env;
        layers.fill(
            "region",
            self.flags.region.as_deref(),
            Origin::Flag("--region"),
        );
        // The environment, first set wins: for every profile of the chain…
        let chain_wide = [
            ("region", &env.aws_region, "AWS_REGION"),
            ("region", &env.aws_default_region, "AWS_DEFAULT_REGION"),
            (
                "sts_regional_endpoints",
                &env.sts_regional_endpoints,
                "AWS_STS_REGIONAL_ENDPOINTS",
            ),
            ("mfa_serial", &env.mfa_serial, "AWS_MFA_SERIAL"),
            ("endpoint_url", &env.endpoint_url, "AWS_ENDPOINT_URL"),
        ];
        // …and for the target profile only (COMPAT.md).
        let target_only = [
            ("role_arn", &env.role_arn, "AWS_ROLE_ARN"),
            (
                "role_session_name",
                &env.role_session_name,
                "AWS_ROLE_SESSION_NAME",
            ),
            ("session_tags", &env.session_tags, "AWS_SESSION_TAGS"),
            (
                "transitive_session_tags",
                &env.transitive_tags,
                "AWS_TRANSITIVE_TAGS",
            ),
            (
                "source_identity",
                &env.source_identity,
                "AWS_SOURCE_IDENTITY",
            ),
        ];
        let applied = chain_wide
            .iter()
            .chain(target_only.iter().filter(|_| is_target));
        for (key, value, var) in applied {
            layers.fill(key, value.as_deref(), Origin::Env(var));
        }
        self.merge_file(name, &mut layers)?;
        if layers
            .get("source_profile")
            .is_some_and(|s| s.value == name)
        {
            layers.remove("source_profile");
        }
        let link = layers
            .get("source_profile")
            .map(|s| (s.value.clone(), s.origin.locate(self.config)));
        Ok((self.build(name, &layers)?, link))
    }

    /// The config file's layers: the profile's section, its include chain,
    /// then `[default]` at the end of that chain.
    fn merge_file(&self, name: &str, layers: &mut Layers) -> Result<(), ConfigError> {
        let mut visited: Vec<String> = Vec::new();
        let mut current = name.to_owned();
        // Where the link to `current` is set (none for the profile itself).
        let mut via: Option<Origin> = None;
        loop {
            if visited.contains(&current) {
                let mut chain = visited;
                chain.push(current);
                let at = via.unwrap_or(Origin::File(0)).locate(self.config);
                return Err(ConfigError::IncludeLoop { chain, at });
            }
            let section = self.config.profile(&current);
            if let Some(section) = section {
                self.merge_section(section, layers)?;
            }
            let include = section.and_then(|s| {
                s.entry("include_profile")
                    .or_else(|| s.entry("parent_profile"))
            });
            let next = match include {
                Some(entry) => {
                    if self.config.profile(&entry.value).is_none() {
                        return Err(ConfigError::UnknownIncludeProfile {
                            name: entry.value.clone(),
                            at: self.config.at(entry.line),
                        });
                    }
                    via = Some(Origin::File(entry.line));
                    entry.value.clone()
                }
                // aws-vault reads [default] last; a missing one adds nothing.
                None if current != "default" && self.config.profile("default").is_some() => {
                    via = Some(Origin::File(section.map_or(0, Section::line)));
                    "default".to_owned()
                }
                None => return Ok(()),
            };
            visited.push(std::mem::replace(&mut current, next));
        }
    }

    /// One section's keys, under what higher layers set.
    fn merge_section(&self, section: &Section, layers: &mut Layers) -> Result<(), ConfigError> {
        for key in BEFORE_SSO_SESSION {
            layers.fill_entry(key, section.entry(key));
        }
        if layers.get("sso_session").is_none() {
            if let Some(entry) = section.entry("sso_session") {
                let Some(sso) = self.config.sso_session(&entry.value) else {
                    return Err(ConfigError::UnknownSsoSession {
                        name: entry.value.clone(),
                        at: self.config.at(entry.line),
                    });
                };
                layers.fill_entry("sso_session", Some(entry));
                for key in FROM_SSO_SESSION {
                    layers.overwrite_entry(key, sso.entry(key));
                }
            }
        }
        for key in AFTER_SSO_SESSION {
            layers.fill_entry(key, section.entry(key));
        }
        Ok(())
    }

    /// The typed profile, every value checked.
    fn build(&self, name: &str, layers: &Layers) -> Result<Profile, ConfigError> {
        let at = |key: &str| {
            layers
                .get(key)
                .map_or(Origin::File(0), |s| s.origin)
                .locate(self.config)
        };
        let command = |key: &str| layers.text(key).map(ProcessCommand::new);
        let mut p = Profile::new(name);
        p.in_config = self.config.profile(name).is_some();
        p.region = layers.text("region");
        p.mfa_serial = layers.text("mfa_serial");
        p.role_arn = match layers.get("role_arn") {
            Some(s) => Some(
                RoleArn::parse(&s.value).map_err(|_| ConfigError::InvalidRoleArn {
                    value: s.value.clone(),
                    at: at("role_arn"),
                })?,
            ),
            None => None,
        };
        p.external_id = layers.text("external_id");
        p.role_session_name = layers.text("role_session_name");
        p.duration_seconds = match layers.get("duration_seconds") {
            Some(s) => Some(duration_seconds(&s.value).map_or_else(
                || {
                    Err(ConfigError::InvalidValue {
                        key: "duration_seconds",
                        reason: format!("{:?} is not a whole number of seconds", s.value),
                        at: at("duration_seconds"),
                    })
                },
                |d| ASSUME_ROLE.check(d, at("duration_seconds")),
            )?),
            None => None,
        };
        p.source_profile = layers.text("source_profile");
        p.sso_session = layers.text("sso_session");
        p.sso_start_url = layers.text("sso_start_url");
        p.sso_region = layers.text("sso_region");
        p.sso_account_id = layers.text("sso_account_id");
        p.sso_role_name = layers.text("sso_role_name");
        p.sso_registration_scopes = layers.text("sso_registration_scopes");
        if p.credential_source((self.stored)(name)) == CredentialSource::Sso {
            let section = self.config.profile(name).map(Section::line);
            for (key, value) in [
                ("sso_region", &p.sso_region),
                ("sso_account_id", &p.sso_account_id),
                ("sso_role_name", &p.sso_role_name),
            ] {
                if value.is_none() {
                    return Err(ConfigError::SsoIncomplete {
                        profile: name.to_owned(),
                        key,
                        at: section.map_or_else(|| at("sso_start_url"), |l| self.config.at(l)),
                    });
                }
            }
        }
        p.web_identity_token_file = layers.text("web_identity_token_file");
        p.web_identity_token_process = command("web_identity_token_process");
        p.sts_regional_endpoints = match layers.get("sts_regional_endpoints") {
            Some(s) => Some(
                StsRegionalEndpoints::parse(&s.value.to_ascii_lowercase()).ok_or_else(|| {
                    ConfigError::InvalidValue {
                        key: "sts_regional_endpoints",
                        reason: format!("{:?} is neither regional nor legacy", s.value),
                        at: at("sts_regional_endpoints"),
                    }
                })?,
            ),
            None => None,
        };
        if let Some(s) = layers.get("session_tags") {
            p.session_tags =
                parse_session_tags(&s.value).map_err(|reason| ConfigError::InvalidValue {
                    key: "session_tags",
                    reason,
                    at: at("session_tags"),
                })?;
        }
        if let Some(s) = layers.get("transitive_session_tags") {
            p.transitive_session_tags = parse_transitive_tags(&s.value);
        }
        p.source_identity = layers.text("source_identity");
        p.credential_process = command("credential_process");
        p.mfa_process = command("mfa_process");
        p.endpoint_url = layers.text("endpoint_url");
        p.sts_endpoint_url = self
            .env
            .sts_endpoint_url
            .clone()
            .or_else(|| p.endpoint_url.clone());
        p.iam_endpoint_url = self
            .env
            .iam_endpoint_url
            .clone()
            .or_else(|| p.endpoint_url.clone());
        p.assume_role_duration = self.assume_role_duration(&p)?;
        Ok(p)
    }

    /// `--duration` > `AWS_ASSUME_ROLE_TTL` > `duration_seconds` > 1h. The
    /// flag also sets GetSessionToken durations, so it is held to the
    /// AssumeRole range only for a profile that assumes a role.
    fn assume_role_duration(&self, p: &Profile) -> Result<Duration, ConfigError> {
        if let Some(d) = self.flags.duration {
            if p.role_arn.is_some() || p.has_web_identity() {
                ASSUME_ROLE.check(d, Origin::Flag("--duration").locate(self.config))?;
            }
            return Ok(d);
        }
        Ok(self
            .env
            .ttls
            .assume_role
            .or(p.duration_seconds)
            .unwrap_or(DEFAULT_ASSUME_ROLE))
    }
}

/// `duration_seconds` as aws-vault reads it: a whole number of seconds.
fn duration_seconds(text: &str) -> Option<Duration> {
    text.parse::<u64>().ok().map(Duration::from_secs)
}
