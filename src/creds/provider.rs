//! Which credentials a profile gets, and getting them: the decision logic of
//! aws-vault v7 (shared/COMPAT.md, "Which credentials"), with every STS
//! result cached and every refresh single-flight across processes.
//!
//! One deliberate difference: a role whose profile has `mfa_serial` and
//! whose source is a stored key is assumed from a GetSessionToken session
//! of that key and device, made (or reused) once per session TTL, so ten
//! roles behind one device cost one code.

use std::cell::OnceCell;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::sso::signin::{SsoSettings, SsoSignIn, ROLE_KIND};
use super::sso::SsoError;
use super::sts::{AssumeRoleRequest, MfaCode, Sts, StsEndpoint, StsError};
use super::Credentials;
use crate::config::{CredentialSource, Profile, ProfileChain, StsRegionalEndpoints};
use crate::mfa::{self, MfaError, PromptDriver, TokenSources, TotpSeed};
use crate::vault::{CachedSession, Payload, SessionCache, VaultError};

/// AWS caps a role assumed from another role's credentials at one hour.
pub(super) const ROLE_CHAIN_LIMIT: Duration = Duration::from_secs(3600);

/// What the command line adds to the profile's own settings.
#[derive(Default)]
pub struct Request {
    /// `--no-session`: long-term keys as they are, no GetSessionToken.
    pub no_session: bool,
    /// `--mfa-token`.
    pub mfa_token: Option<SecretString>,
    /// `--prompt` / `AWS_VAULT_PROMPT`.
    pub prompt: PromptDriver,
    /// `--stdout`: an SSO sign-in prints its link and opens no browser.
    pub sso_no_browser: bool,
}

/// Why no credentials could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredsError {
    /// The profile has no way to get credentials.
    #[error("no credentials for profile {profile:?}: no stored key, source_profile, web identity or credential_process")]
    Missing {
        /// The profile.
        profile: String,
    },
    /// An SSO profile without one of the settings SSO needs.
    #[error("profile {profile:?} uses SSO but has no {key}")]
    SsoIncomplete {
        /// The profile.
        profile: String,
        /// The missing setting.
        key: &'static str,
    },
    /// From SSO.
    #[error(transparent)]
    Sso(#[from] SsoError),
    /// Web identity without a role.
    #[error("profile {profile:?} has a web identity token but no role_arn")]
    WebIdentityWithoutRole {
        /// The profile.
        profile: String,
    },
    /// credential_process or web_identity_token_process failed.
    #[error("{what} of profile {profile:?} failed: {reason}")]
    Process {
        /// Which setting.
        what: &'static str,
        /// The profile.
        profile: String,
        /// Why (never its output).
        reason: String,
    },
    /// From STS.
    #[error(transparent)]
    Sts(#[from] StsError),
    /// From MFA.
    #[error(transparent)]
    Mfa(#[from] MfaError),
    /// From the vault or the session cache.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl CredsError {
    /// A line that tells the user what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            CredsError::Missing { profile } => Some(format!(
                "store a key with: avault add {profile}, or give the profile a source_profile"
            )),
            CredsError::SsoIncomplete { key, .. } => Some(format!(
                "add {key} to the profile (or to its [sso-session] section)"
            )),
            CredsError::Sso(e) => e.hint(),
            CredsError::Sts(e) => e.hint(),
            CredsError::Mfa(e) => e.hint(),
            CredsError::Vault(e) => e.hint(),
            _ => None,
        }
    }
}

/// Credentials and where they came from.
struct Obtained {
    credentials: Credentials,
    /// The MFA serial a GetSessionToken below already used.
    mfa_used: Option<String>,
    /// Whether these are role credentials (a role from them is chained).
    is_role: bool,
}

/// Gets credentials for the chain's target profile.
pub struct Provider<'a> {
    chain: &'a ProfileChain,
    payload: &'a Payload,
    cache: &'a SessionCache,
    request: &'a Request,
    endpoint: StsEndpoint,
    sts: OnceCell<Sts>,
}

/// The STS endpoint of a profile: its overrides, else the global endpoint
/// for `sts_regional_endpoints = legacy` in us-east-1, else regional.
pub fn sts_endpoint(profile: &Profile) -> StsEndpoint {
    let region = profile
        .region
        .clone()
        .unwrap_or_else(|| "us-east-1".to_owned());
    let url = profile.sts_endpoint_url.clone().or_else(|| {
        (profile.sts_regional_endpoints == Some(StsRegionalEndpoints::Legacy))
            .then(|| "https://sts.amazonaws.com".to_owned())
    });
    StsEndpoint { region, url }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl<'a> Provider<'a> {
    /// A provider for `chain`, reading keys from `payload` and sessions
    /// from `cache`.
    pub fn new(
        chain: &'a ProfileChain,
        payload: &'a Payload,
        cache: &'a SessionCache,
        request: &'a Request,
    ) -> Provider<'a> {
        Provider {
            chain,
            payload,
            cache,
            request,
            endpoint: sts_endpoint(chain.target()),
            sts: OnceCell::new(),
        }
    }

    /// Credentials for the target profile.
    pub fn credentials(&self) -> Result<Credentials, CredsError> {
        Ok(self.provide(0)?.credentials)
    }

    fn sts(&self) -> Result<&Sts, CredsError> {
        if let Some(sts) = self.sts.get() {
            return Ok(sts);
        }
        let sts = Sts::new(self.endpoint.clone())?;
        Ok(self.sts.get_or_init(|| sts))
    }

    fn min_left(&self) -> i64 {
        self.chain.ttls().min.as_secs() as i64
    }

    fn stored_key(&self, profile: &str) -> Option<Credentials> {
        self.payload.profiles.get(profile).map(|p| Credentials {
            access_key_id: p.access_key_id.clone(),
            secret_access_key: p.secret_access_key.clone(),
            session_token: None,
            expiration: None,
        })
    }

    fn source(&self, p: &Profile) -> CredentialSource {
        p.credential_source(self.payload.profiles.contains_key(&p.name))
    }

    fn provide(&self, index: usize) -> Result<Obtained, CredsError> {
        let profiles = self.chain.profiles();
        let p = &profiles[index];
        let is_target = index == 0;
        match self.source(p) {
            CredentialSource::StoredKey => {
                let key = self
                    .stored_key(&p.name)
                    .ok_or_else(|| CredsError::Missing {
                        profile: p.name.clone(),
                    })?;
                match &p.role_arn {
                    Some(_) => {
                        let base = if self.request.no_session || p.mfa_serial.is_none() {
                            Obtained {
                                credentials: key,
                                mfa_used: None,
                                is_role: false,
                            }
                        } else {
                            self.session_token(p, p, key, p.mfa_serial.as_deref(), true)?
                        };
                        self.assume_role(p, base, is_target)
                    }
                    None if self.request.no_session && is_target => Ok(Obtained {
                        credentials: key,
                        mfa_used: None,
                        is_role: false,
                    }),
                    None => {
                        let chained = self.chain.is_source_of_another(&p.name);
                        self.session_token(p, p, key, p.mfa_serial.as_deref(), chained)
                    }
                }
            }
            CredentialSource::SourceProfile => {
                let source = &profiles[index + 1];
                let Some(_) = &p.role_arn else {
                    // A source_profile without a role: the source's credentials.
                    return self.provide(index + 1);
                };
                // One code per session TTL: a role with an MFA device whose
                // source is a stored key is assumed from a session of that
                // key and device.
                let base = match (&p.mfa_serial, self.source(source)) {
                    (Some(serial), CredentialSource::StoredKey)
                        if !self.request.no_session && source.role_arn.is_none() =>
                    {
                        let key =
                            self.stored_key(&source.name)
                                .ok_or_else(|| CredsError::Missing {
                                    profile: source.name.clone(),
                                })?;
                        // The code comes as the role profile says (its
                        // mfa_process), the session belongs to the key.
                        self.session_token(source, p, key, Some(serial), true)?
                    }
                    _ => self.provide(index + 1)?,
                };
                self.assume_role(p, base, is_target)
            }
            CredentialSource::WebIdentity => self.web_identity(p),
            CredentialSource::CredentialProcess => self.credential_process(p),
            CredentialSource::Sso => self.sso(p),
            CredentialSource::Missing => Err(CredsError::Missing {
                profile: p.name.clone(),
            }),
        }
    }

    /// Looks `key` up in the cache; on a miss, refreshes it single-flight:
    /// under the key's lock, looks again (another process may have just
    /// done it), else calls `fetch` and stores the result.
    fn cached(
        &self,
        key: &str,
        profile: &str,
        kind: &str,
        fetch: impl FnOnce() -> Result<Credentials, CredsError>,
    ) -> Result<Credentials, CredsError> {
        let from_cache = |s: CachedSession| {
            Credentials::from_process_json(s.data.expose_secret().as_bytes()).ok()
        };
        if let Some(c) = self.cache.get(key, self.min_left()).and_then(from_cache) {
            return Ok(c);
        }
        let _lock = self.cache.refresh_lock(key)?;
        if let Some(c) = self.cache.get(key, self.min_left()).and_then(from_cache) {
            return Ok(c);
        }
        let fresh = fetch()?;
        if let Some(expires) = fresh.expiration {
            let json = fresh.to_process_json();
            let data = String::from_utf8_lossy(&json).into_owned();
            self.cache.put(
                key,
                CachedSession {
                    profile: profile.to_owned(),
                    kind: kind.to_owned(),
                    expires: expires.unix_timestamp(),
                    data: SecretString::from(data),
                },
            )?;
        }
        Ok(fresh)
    }

    /// GetSessionToken for the key of `p`, with a code for `serial` got
    /// the way `asks` says (its `mfa_process`).
    fn session_token(
        &self,
        p: &Profile,
        asks: &Profile,
        key: Credentials,
        serial: Option<&str>,
        for_role: bool,
    ) -> Result<Obtained, CredsError> {
        let ttls = self.chain.ttls();
        // A session that roles are assumed from lasts the longer TTL, so
        // `AWS_SESSION_TOKEN_TTL=12h` means one code per 12 hours.
        let duration = if for_role {
            ttls.chained_session_token.max(ttls.session_token)
        } else {
            self.chain.session_token_duration(&p.name)
        };
        let cache_key = format!(
            "sts.GetSessionToken:{}:{}",
            key.access_key_id,
            serial.unwrap_or("-")
        );
        let credentials = self.cached(&cache_key, &p.name, "sts.GetSessionToken", || {
            let mfa = serial.map(|s| self.mfa_code(asks, s)).transpose()?;
            Ok(self
                .sts()?
                .get_session_token(&key, duration, mfa.as_ref())?)
        })?;
        Ok(Obtained {
            credentials,
            mfa_used: serial.map(str::to_owned),
            is_role: false,
        })
    }

    fn assume_role(
        &self,
        p: &Profile,
        base: Obtained,
        is_target: bool,
    ) -> Result<Obtained, CredsError> {
        let role_arn = p
            .role_arn
            .as_ref()
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default();
        // MFA unless a GetSessionToken below already used this device.
        let mfa_serial = p
            .mfa_serial
            .as_deref()
            .filter(|s| base.mfa_used.as_deref() != Some(*s));
        let mut duration = p.assume_role_duration;
        if base.is_role {
            duration = duration.min(ROLE_CHAIN_LIMIT);
        }
        let tags: Vec<(String, String)> = p
            .session_tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let cache_key = format!(
            "sts.AssumeRole:{}:{}",
            p.name,
            digest(&[
                &role_arn,
                p.external_id.as_deref().unwrap_or(""),
                p.role_session_name.as_deref().unwrap_or(""),
                &format!("{tags:?}"),
                &p.transitive_session_tags.join(","),
                p.source_identity.as_deref().unwrap_or(""),
                mfa_serial.unwrap_or(""),
                &duration.as_secs().to_string(),
                &base.credentials.access_key_id,
                if is_target { "t" } else { "s" },
            ])
        );
        let session_name = p
            .role_session_name
            .clone()
            .unwrap_or_else(|| format!("avault-{}", now().unix_timestamp()));
        let credentials = self.cached(&cache_key, &p.name, "sts.AssumeRole", || {
            let mfa = mfa_serial.map(|s| self.mfa_code(p, s)).transpose()?;
            let request = AssumeRoleRequest {
                role_arn: &role_arn,
                session_name: &session_name,
                external_id: p.external_id.as_deref(),
                duration,
                mfa: mfa.as_ref(),
                tags: &tags,
                transitive_tags: &p.transitive_session_tags,
                source_identity: p.source_identity.as_deref(),
            };
            Ok(self.sts()?.assume_role(&base.credentials, &request)?)
        })?;
        Ok(Obtained {
            credentials,
            mfa_used: base.mfa_used.or_else(|| mfa_serial.map(str::to_owned)),
            is_role: true,
        })
    }

    /// SSO role credentials, cached like any session; the sign-in (if
    /// one is needed) happens under this profile's refresh lock.
    fn sso(&self, p: &Profile) -> Result<Obtained, CredsError> {
        let settings = SsoSettings::of(p)?;
        let cache_key = format!(
            "{ROLE_KIND}:{}:{}",
            p.name,
            digest(&[
                &settings.start_url,
                &settings.region,
                &settings.account_id,
                &settings.role_name,
            ])
        );
        let credentials = self.cached(&cache_key, &p.name, ROLE_KIND, || {
            SsoSignIn::new(
                self.cache,
                &p.name,
                settings,
                self.request.sso_no_browser,
                self.min_left(),
            )
            .role_credentials()
        })?;
        // Role credentials: a role assumed from them is chained (1 h cap).
        Ok(Obtained {
            credentials,
            mfa_used: None,
            is_role: true,
        })
    }

    fn web_identity(&self, p: &Profile) -> Result<Obtained, CredsError> {
        let role_arn = p
            .role_arn
            .as_ref()
            .map(|r| r.as_str().to_owned())
            .ok_or_else(|| CredsError::WebIdentityWithoutRole {
                profile: p.name.clone(),
            })?;
        let cache_key = format!(
            "sts.AssumeRoleWithWebIdentity:{}:{}",
            p.name,
            digest(&[&role_arn, p.role_session_name.as_deref().unwrap_or("")])
        );
        let credentials =
            self.cached(&cache_key, &p.name, "sts.AssumeRoleWithWebIdentity", || {
                let token = self.web_identity_token(p)?;
                let session_name = p
                    .role_session_name
                    .clone()
                    .unwrap_or_else(|| format!("avault-{}", now().unix_timestamp()));
                Ok(self.sts()?.assume_role_with_web_identity(
                    &role_arn,
                    &session_name,
                    &token,
                    p.assume_role_duration,
                )?)
            })?;
        Ok(Obtained {
            credentials,
            mfa_used: None,
            is_role: true,
        })
    }

    fn web_identity_token(&self, p: &Profile) -> Result<SecretString, CredsError> {
        let fail = |reason: String| CredsError::Process {
            what: "web identity token",
            profile: p.name.clone(),
            reason,
        };
        let bytes = if let Some(file) = &p.web_identity_token_file {
            Zeroizing::new(
                std::fs::read(file).map_err(|e| fail(format!("cannot read {file}: {e}")))?,
            )
        } else if let Some(cmd) = &p.web_identity_token_process {
            crate::shell::stdout_of(crate::shell::sh(cmd.expose_command())).map_err(fail)?
        } else {
            return Err(fail("no token file or process".into()));
        };
        let text =
            std::str::from_utf8(&bytes).map_err(|_| fail("the token is not UTF-8".into()))?;
        Ok(SecretString::from(text.trim().to_owned()))
    }

    fn credential_process(&self, p: &Profile) -> Result<Obtained, CredsError> {
        let Some(cmd) = &p.credential_process else {
            return Err(CredsError::Missing {
                profile: p.name.clone(),
            });
        };
        let fail = |reason: String| CredsError::Process {
            what: "credential_process",
            profile: p.name.clone(),
            reason,
        };
        let cache_key = format!("process:{}:{}", p.name, digest(&[cmd.expose_command()]));
        let credentials = self.cached(&cache_key, &p.name, "credential_process", || {
            let out =
                crate::shell::stdout_of(crate::shell::sh(cmd.expose_command())).map_err(fail)?;
            Credentials::from_process_json(&out).map_err(fail)
        })?;
        Ok(Obtained {
            credentials,
            mfa_used: None,
            is_role: false,
        })
    }

    /// A code for `serial`, from the sources in their order; the time step
    /// of any code sent is recorded so a stored seed never repeats it.
    fn mfa_code(&self, p: &Profile, serial: &str) -> Result<MfaCode, CredsError> {
        let seed = self
            .payload
            .profiles
            .values()
            .find_map(|stored| stored.totp.get(serial))
            .and_then(|uri| TotpSeed::from_uri(uri.expose_secret()).ok());
        let claim = |serial: &str, step: u64| {
            self.cache
                .claim_totp_step(serial, step)
                .map_err(|e| e.to_string())
        };
        let sources = TokenSources {
            flag: self.request.mfa_token.as_ref(),
            process: p.mfa_process.as_ref().map(|c| c.expose_command()),
            seed: seed.as_ref(),
            prompt: self.request.prompt,
            claim_step: &claim,
        };
        let code = mfa::code_for(serial, &sources)?;
        if seed.is_none() {
            // A typed code is used up too: a seed must not resend it.
            let step = now().unix_timestamp().max(0) as u64 / 30;
            let _ = self.cache.claim_totp_step(serial, step);
        }
        Ok(MfaCode {
            serial: serial.to_owned(),
            code,
        })
    }

    /// A GetSessionToken session of the key stored under `key_profile`,
    /// made now and never cached, for `rotate`: it must act as the key's
    /// user and outlive nothing but the rotation. With MFA when `serial`
    /// is given, the code got the way `asks` says (its `mfa_process`); the
    /// code's time step is claimed like any other.
    pub fn fresh_session_token(
        &self,
        key_profile: &Profile,
        asks: &Profile,
        serial: Option<&str>,
        duration: Duration,
    ) -> Result<Credentials, CredsError> {
        let key = self
            .stored_key(&key_profile.name)
            .ok_or_else(|| CredsError::Missing {
                profile: key_profile.name.clone(),
            })?;
        let mfa = serial.map(|s| self.mfa_code(asks, s)).transpose()?;
        Ok(self
            .sts()?
            .get_session_token(&key, duration, mfa.as_ref())?)
    }
}
