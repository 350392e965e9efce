//! A resolved profile (every layer merged, every value checked) and the
//! chain of profiles a target takes its credentials through.
//!
//! What must stay true: a [`ProfileChain`] is never empty, holds each name
//! once, and runs from the target (first) down its `source_profile` links to
//! the root (last); commands (`*_process`) never show in `Debug`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::arn::RoleArn;
use super::ttl::{Ttls, DEFAULT_ASSUME_ROLE};

/// A shell command from the config (`credential_process`, `mfa_process`,
/// `web_identity_token_process`). It may embed a secret, so `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProcessCommand(String);

impl ProcessCommand {
    /// Wraps a command line.
    pub fn new(command: impl Into<String>) -> ProcessCommand {
        ProcessCommand(command.into())
    }

    /// The command line, to run with `/bin/sh -c`. Never print it.
    pub fn expose_command(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ProcessCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProcessCommand(<redacted>)")
    }
}

/// `sts_regional_endpoints`: which STS endpoint to call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StsRegionalEndpoints {
    /// `sts.REGION.amazonaws.com`.
    Regional,
    /// `sts.amazonaws.com` for the regions that had only the global endpoint
    /// before 2019 (aws-vault's `getSTSEndpointResolver` lists them).
    Legacy,
}

impl StsRegionalEndpoints {
    /// `regional` or `legacy`.
    pub fn parse(text: &str) -> Option<StsRegionalEndpoints> {
        match text {
            "regional" => Some(StsRegionalEndpoints::Regional),
            "legacy" => Some(StsRegionalEndpoints::Legacy),
            _ => None,
        }
    }
}

/// Where a profile's credentials come from, in the order aws-vault decides
/// it (`TempCredentialsCreator.GetProviderForProfile`, vault/vault.go).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// Its own stored key (wins over everything else).
    StoredKey,
    /// Its `source_profile`'s credentials (then AssumeRole when `role_arn`
    /// is set, else GetSessionToken).
    SourceProfile,
    /// SSO (`sso_start_url`, directly or through `sso_session`).
    Sso,
    /// AssumeRoleWithWebIdentity (token file or token process).
    WebIdentity,
    /// `credential_process`.
    CredentialProcess,
    /// None of these: "no credentials for profile X".
    Missing,
}

/// One profile with every layer merged (flag > environment > profile >
/// include_profile > `[default]`) and every value checked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Profile {
    /// Its name (`default` for `[default]`).
    pub name: String,
    /// Whether the config file has a section for it (else it exists as a
    /// stored key only).
    pub in_config: bool,
    /// `region`.
    pub region: Option<String>,
    /// `mfa_serial`.
    pub mfa_serial: Option<String>,
    /// `role_arn`.
    pub role_arn: Option<RoleArn>,
    /// `external_id`.
    pub external_id: Option<String>,
    /// `role_session_name`.
    pub role_session_name: Option<String>,
    /// `duration_seconds` as written in the config (15m to 12h).
    pub duration_seconds: Option<Duration>,
    /// The AssumeRole duration to ask for: `--duration` >
    /// `AWS_ASSUME_ROLE_TTL` > `duration_seconds` > 1h.
    pub assume_role_duration: Duration,
    /// `source_profile`; `None` when it named the profile itself (which
    /// means: this profile's stored key).
    pub source_profile: Option<String>,
    /// `sso_session`.
    pub sso_session: Option<String>,
    /// `sso_start_url` (from `[sso-session]` when `sso_session` is set).
    pub sso_start_url: Option<String>,
    /// `sso_region` (from `[sso-session]` when `sso_session` is set).
    pub sso_region: Option<String>,
    /// `sso_account_id`.
    pub sso_account_id: Option<String>,
    /// `sso_role_name`.
    pub sso_role_name: Option<String>,
    /// `sso_registration_scopes` (from `[sso-session]` only).
    pub sso_registration_scopes: Option<String>,
    /// `web_identity_token_file`.
    pub web_identity_token_file: Option<String>,
    /// `web_identity_token_process`.
    pub web_identity_token_process: Option<ProcessCommand>,
    /// `sts_regional_endpoints`.
    pub sts_regional_endpoints: Option<StsRegionalEndpoints>,
    /// `session_tags`.
    pub session_tags: BTreeMap<String, String>,
    /// `transitive_session_tags`.
    pub transitive_session_tags: Vec<String>,
    /// `source_identity`.
    pub source_identity: Option<String>,
    /// `credential_process`.
    pub credential_process: Option<ProcessCommand>,
    /// `mfa_process` (inherited from the source profile when unset, as
    /// the aws-vault fork does).
    pub mfa_process: Option<ProcessCommand>,
    /// `endpoint_url` / `AWS_ENDPOINT_URL`: for every AWS call.
    pub endpoint_url: Option<String>,
    /// The endpoint for STS calls: `AWS_ENDPOINT_URL_STS`, else
    /// [`endpoint_url`](Self::endpoint_url).
    pub sts_endpoint_url: Option<String>,
    /// The endpoint for IAM calls (`rotate`): `AWS_ENDPOINT_URL_IAM`, else
    /// [`endpoint_url`](Self::endpoint_url).
    pub iam_endpoint_url: Option<String>,
}

impl Profile {
    /// A profile with nothing set.
    pub fn new(name: impl Into<String>) -> Profile {
        Profile {
            name: name.into(),
            in_config: false,
            region: None,
            mfa_serial: None,
            role_arn: None,
            external_id: None,
            role_session_name: None,
            duration_seconds: None,
            assume_role_duration: DEFAULT_ASSUME_ROLE,
            source_profile: None,
            sso_session: None,
            sso_start_url: None,
            sso_region: None,
            sso_account_id: None,
            sso_role_name: None,
            sso_registration_scopes: None,
            web_identity_token_file: None,
            web_identity_token_process: None,
            sts_regional_endpoints: None,
            session_tags: BTreeMap::new(),
            transitive_session_tags: Vec::new(),
            source_identity: None,
            credential_process: None,
            mfa_process: None,
            endpoint_url: None,
            sts_endpoint_url: None,
            iam_endpoint_url: None,
        }
    }

    /// Whether it uses web identity (token file or token process).
    pub fn has_web_identity(&self) -> bool {
        self.web_identity_token_file.is_some() || self.web_identity_token_process.is_some()
    }

    /// Where its credentials come from, given whether a key is stored
    /// under its name. A profile with both `credential_process` and
    /// `role_arn` but no `source_profile` uses the process and ignores the
    /// role, as aws-vault does.
    pub fn credential_source(&self, has_stored_key: bool) -> CredentialSource {
        if has_stored_key {
            CredentialSource::StoredKey
        } else if self.source_profile.is_some() {
            CredentialSource::SourceProfile
        } else if self.sso_start_url.is_some() {
            CredentialSource::Sso
        } else if self.has_web_identity() {
            CredentialSource::WebIdentity
        } else if self.credential_process.is_some() {
            CredentialSource::CredentialProcess
        } else {
            CredentialSource::Missing
        }
    }
}

/// A target profile and its `source_profile` chain down to the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileChain {
    profiles: Vec<Profile>,
    ttls: Ttls,
}

impl ProfileChain {
    /// A chain: the target, then its source, its source's source, … down
    /// to the root; and the TTLs in effect.
    pub fn new(target: Profile, sources: Vec<Profile>, ttls: Ttls) -> ProfileChain {
        let mut profiles = Vec::with_capacity(1 + sources.len());
        profiles.push(target);
        profiles.extend(sources);
        ProfileChain { profiles, ttls }
    }

    /// The profile asked for.
    pub fn target(&self) -> &Profile {
        // Never empty: `new` takes the target apart.
        &self.profiles[0]
    }

    /// The last profile: the one without a `source_profile`.
    pub fn root(&self) -> &Profile {
        &self.profiles[self.profiles.len() - 1]
    }

    /// All profiles, target first, root last.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// A profile of the chain by name.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// The profile `name` takes its credentials from (its `source_profile`).
    pub fn source_of(&self, name: &str) -> Option<&Profile> {
        let i = self.position(name)?;
        self.profiles.get(i + 1)
    }

    /// The profile that has `name` as its `source_profile`.
    pub fn chained_from(&self, name: &str) -> Option<&Profile> {
        let i = self.position(name)?;
        i.checked_sub(1).and_then(|j| self.profiles.get(j))
    }

    /// Whether `name` is the source of another profile of the chain:
    /// its GetSessionToken then lasts the chained TTL.
    pub fn is_source_of_another(&self, name: &str) -> bool {
        self.chained_from(name).is_some()
    }

    /// The GetSessionToken duration for `name`: the chained TTL when it is
    /// the source of another profile, else the session TTL (aws-vault's
    /// `ProfileConfig.GetSessionTokenDuration`).
    pub fn session_token_duration(&self, name: &str) -> Duration {
        if self.is_source_of_another(name) {
            self.ttls.chained_session_token
        } else {
            self.ttls.session_token
        }
    }

    /// The TTLs in effect (the environment's, with `--duration` applied).
    pub fn ttls(&self) -> &Ttls {
        &self.ttls
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.profiles.iter().position(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(names: &[&str]) -> ProfileChain {
        let sources = names[1..].iter().map(|n| Profile::new(*n)).collect();
        ProfileChain::new(Profile::new(names[0]), sources, Ttls::default())
    }

    #[test]
    fn chain_links_run_target_to_root() {
        let c = chain(&["role", "mid", "base"]);
        assert_eq!(c.target().name, "role");
        assert_eq!(c.root().name, "base");
        assert_eq!(c.source_of("role").map(|p| p.name.as_str()), Some("mid"));
        assert_eq!(c.source_of("base"), None);
        assert_eq!(c.chained_from("base").map(|p| p.name.as_str()), Some("mid"));
        assert_eq!(c.chained_from("role"), None);
        assert!(c.is_source_of_another("mid"));
        assert!(!c.is_source_of_another("role"));
        assert!(!c.is_source_of_another("elsewhere"));
    }

    #[test]
    fn sources_get_the_chained_session_ttl() {
        let c = chain(&["role", "base"]);
        assert_eq!(
            c.session_token_duration("base"),
            Duration::from_secs(8 * 3600)
        );
        assert_eq!(c.session_token_duration("role"), Duration::from_secs(3600));
        let alone = chain(&["base"]);
        assert_eq!(
            alone.session_token_duration("base"),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn credential_source_follows_aws_vault_order() {
        let mut p = Profile::new("p");
        assert_eq!(p.credential_source(false), CredentialSource::Missing);
        p.credential_process = Some(ProcessCommand::new("x"));
        p.role_arn = RoleArn::parse("arn:aws:iam::123456789012:role/r").ok();
        assert_eq!(
            p.credential_source(false),
            CredentialSource::CredentialProcess
        );
        p.web_identity_token_file = Some("/t".into());
        assert_eq!(p.credential_source(false), CredentialSource::WebIdentity);
        p.sso_start_url = Some("https://x".into());
        assert_eq!(p.credential_source(false), CredentialSource::Sso);
        p.source_profile = Some("base".into());
        assert_eq!(p.credential_source(false), CredentialSource::SourceProfile);
        assert_eq!(p.credential_source(true), CredentialSource::StoredKey);
    }

    #[test]
    fn commands_are_hidden_from_debug() {
        let mut p = Profile::new("p");
        p.credential_process = Some(ProcessCommand::new("get --secret hunter2"));
        assert!(!format!("{p:?}").contains("hunter2"));
        assert_eq!(
            p.credential_process
                .as_ref()
                .map(ProcessCommand::expose_command),
            Some("get --secret hunter2")
        );
    }
}
