//! SSO role credentials for one profile: the access token from the session
//! cache, else refreshed with the cached refresh token, else from a
//! device-flow sign-in; then GetRoleCredentials. A token the portal
//! refuses (401) is dropped and replaced once (by a refresh when one
//! works, else by a sign-in).
//!
//! Cached beside the STS sessions: the client registration under
//! `oidc-client:<start_url>` (until `clientSecretExpiresAt`), the access
//! token under `oidc:<start_url>` (aws-vault's name) until it expires, and
//! the refresh token, when AWS gave one, under `oidc-refresh:<start_url>`:
//! a separate entry because it must outlive the access token (the cache
//! drops entries once expired); it lives as long as the registration it
//! belongs to, since a refresh needs that registration. Refreshes and
//! sign-ins happen under the token's refresh lock, so parallel callers
//! wait for one instead of each starting their own.

use std::io::Write as _;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{AccessToken, Registration, SsoClient, SsoEndpoints, SsoError, TokenPoll};
use crate::browser::{self, Opened};
use crate::config::Profile;
use crate::creds::{Credentials, CredsError};
use crate::output;
use crate::vault::{CachedSession, SessionCache};
use crate::zbuf::ZeroizingWriter;

/// The cache kind of SSO role credentials.
pub const ROLE_KIND: &str = "sso.GetRoleCredentials";
/// The cache kind of an SSO access token.
pub const TOKEN_KIND: &str = "sso.CreateToken";
/// The cache kind of an OIDC client registration.
pub const REGISTRATION_KIND: &str = "sso.RegisterClient";
/// The cache kind of an SSO refresh token.
pub const REFRESH_KIND: &str = "sso.RefreshToken";

/// Whether a session cache key holds an SSO token, refresh token or client
/// registration rather than credentials.
pub fn is_sso_token_key(key: &str) -> bool {
    key.starts_with("oidc:") || key.starts_with("oidc-client:") || key.starts_with("oidc-refresh:")
}

/// A token with less than this left is not used.
const TOKEN_MIN_LEFT: i64 = 60;
/// A registration with less than this left is not used: it must outlive
/// a sign-in.
const REGISTRATION_MIN_LEFT: i64 = 3600;

/// The SSO settings of a profile, all present.
pub(in crate::creds) struct SsoSettings {
    pub(in crate::creds) start_url: String,
    pub(in crate::creds) region: String,
    pub(in crate::creds) account_id: String,
    pub(in crate::creds) role_name: String,
    pub(in crate::creds) scopes: Vec<String>,
}

impl SsoSettings {
    /// The settings of `p`, or which one is missing.
    pub(in crate::creds) fn of(p: &Profile) -> Result<SsoSettings, CredsError> {
        let need = |value: &Option<String>, key: &'static str| {
            value.clone().ok_or_else(|| CredsError::SsoIncomplete {
                profile: p.name.clone(),
                key,
            })
        };
        let scopes = p
            .sso_registration_scopes
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(SsoSettings {
            start_url: need(&p.sso_start_url, "sso_start_url")?,
            region: need(&p.sso_region, "sso_region")?,
            account_id: need(&p.sso_account_id, "sso_account_id")?,
            role_name: need(&p.sso_role_name, "sso_role_name")?,
            scopes,
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredRegistration {
    client_id: String,
    client_secret: String,
    region: String,
    scopes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredToken {
    access_token: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredRefresh {
    refresh_token: String,
}

impl Drop for StoredRegistration {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.client_secret);
    }
}

impl Drop for StoredToken {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.access_token);
    }
}

impl Drop for StoredRefresh {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.refresh_token);
    }
}

fn to_secret_json(value: &impl Serialize) -> SecretString {
    let mut w = ZeroizingWriter::with_capacity(1024);
    let _ = serde_json::to_writer(&mut w, value);
    let _ = w.flush();
    SecretString::from(String::from_utf8_lossy(&w.into_inner()).into_owned())
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Signs one profile in to SSO and gets its role credentials.
pub(in crate::creds) struct SsoSignIn<'a> {
    cache: &'a SessionCache,
    profile: &'a str,
    settings: SsoSettings,
    client: SsoClient,
    no_browser: bool,
    /// `AWS_MIN_TTL` in seconds: a token that a refresh can replace is
    /// refreshed once it has less than this left.
    min_left: i64,
}

impl<'a> SsoSignIn<'a> {
    pub(in crate::creds) fn new(
        cache: &'a SessionCache,
        profile: &'a str,
        settings: SsoSettings,
        no_browser: bool,
        min_left: i64,
    ) -> SsoSignIn<'a> {
        let client = SsoClient::new(SsoEndpoints::for_region(&settings.region));
        SsoSignIn {
            cache,
            profile,
            settings,
            client,
            no_browser,
            min_left,
        }
    }

    fn token_key(&self) -> String {
        format!("oidc:{}", self.settings.start_url)
    }

    fn registration_key(&self) -> String {
        format!("oidc-client:{}", self.settings.start_url)
    }

    fn refresh_key(&self) -> String {
        format!("oidc-refresh:{}", self.settings.start_url)
    }

    /// GetRoleCredentials with the cached token, else after a refresh or a
    /// sign-in; a cached token the portal refuses is dropped and replaced
    /// once (by a refresh when the refresh token still works).
    pub(in crate::creds) fn role_credentials(&self) -> Result<Credentials, CredsError> {
        let s = &self.settings;
        let (token, from_cache) = self.token()?;
        match self
            .client
            .get_role_credentials(&token.token, &s.account_id, &s.role_name)
        {
            Err(SsoError::Unauthorized) if from_cache => {
                let key = self.token_key();
                self.cache.remove(|k, _| k == key)?;
                let (token, _) = self.token()?;
                Ok(self
                    .client
                    .get_role_credentials(&token.token, &s.account_id, &s.role_name)?)
            }
            other => Ok(other?),
        }
    }

    /// The cached access token if it has more than `min_left` seconds left.
    fn cached_token(&self, min_left: i64) -> Option<AccessToken> {
        let session = self.cache.get(&self.token_key(), min_left)?;
        let stored: StoredToken = serde_json::from_str(session.data.expose_secret()).ok()?;
        Some(AccessToken {
            token: SecretString::from(stored.access_token.clone()),
            expires_at: session.expires,
            refresh_token: None,
        })
    }

    /// The cached refresh token, if any.
    fn cached_refresh_token(&self) -> Option<SecretString> {
        let session = self.cache.get(&self.refresh_key(), 0)?;
        let stored: StoredRefresh = serde_json::from_str(session.data.expose_secret()).ok()?;
        Some(SecretString::from(stored.refresh_token.clone()))
    }

    /// The access token, and whether it came from the cache.
    ///
    /// A token is used while it has more than `AWS_MIN_TTL` left; below
    /// that, under the lock, a refresh replaces it when there is a refresh
    /// token; without one it is still used down to [`TOKEN_MIN_LEFT`]
    /// (a sign-in needs the user, so it waits until it must happen).
    fn token(&self) -> Result<(AccessToken, bool), CredsError> {
        let refresh_margin = self.min_left.max(TOKEN_MIN_LEFT);
        if let Some(token) = self.cached_token(refresh_margin) {
            return Ok((token, true));
        }
        let key = self.token_key();
        let _lock = self.cache.refresh_lock(&key)?;
        // Another process may have refreshed or signed in meanwhile.
        if let Some(token) = self.cached_token(refresh_margin) {
            return Ok((token, true));
        }
        if let Some(token) = self.refreshed()? {
            self.store_token(&token)?;
            return Ok((token, false));
        }
        if let Some(token) = self.cached_token(TOKEN_MIN_LEFT) {
            return Ok((token, true));
        }
        let token = self.sign_in()?;
        self.store_token(&token)?;
        Ok((token, false))
    }

    /// A new access token from the cached refresh token and client
    /// registration (the caller holds the token's refresh lock); `None`
    /// when there is none to refresh with or AWS refused the refresh (the
    /// refresh token is then dropped: the caller signs in instead).
    fn refreshed(&self) -> Result<Option<AccessToken>, CredsError> {
        let Some(refresh_token) = self.cached_refresh_token() else {
            return Ok(None);
        };
        // Only a still-valid registration can refresh: the refresh token
        // belongs to that client.
        let Some(registration) = self.cached_registration(TOKEN_MIN_LEFT) else {
            return Ok(None);
        };
        match self.client.refresh_token(&registration, &refresh_token) {
            Ok(mut token) => {
                // AWS may rotate it; when it sends none, the old one stays good.
                if token.refresh_token.is_none() {
                    token.refresh_token = Some(refresh_token);
                }
                crate::terminal::notice(&format!(
                    "SSO token refreshed for profile {:?}",
                    self.profile
                ));
                Ok(Some(token))
            }
            // No network: a sign-in could not happen either; the refresh
            // token stays for the next try.
            Err(e @ SsoError::Unreachable { .. }) => Err(e.into()),
            // Refused (invalid_grant, expired, 400/401, …): the refresh
            // token is no good any more.
            Err(_) => {
                let key = self.refresh_key();
                self.cache.remove(|k, _| k == key)?;
                Ok(None)
            }
        }
    }

    /// Caches `token`, and its refresh token (until the registration
    /// expires) when it has one. Both entries are written with this
    /// profile, so `clear PROFILE` drops them together.
    fn store_token(&self, token: &AccessToken) -> Result<(), CredsError> {
        let stored = StoredToken {
            access_token: token.token.expose_secret().to_owned(),
        };
        self.cache.put(
            &self.token_key(),
            CachedSession {
                profile: self.profile.to_owned(),
                kind: TOKEN_KIND.to_owned(),
                expires: token.expires_at,
                data: to_secret_json(&stored),
            },
        )?;
        let Some(refresh_token) = &token.refresh_token else {
            // A sign-in without one (a client without scopes): an older
            // refresh token of this start URL belongs to another client.
            let key = self.refresh_key();
            self.cache.remove(|k, _| k == key)?;
            return Ok(());
        };
        // Useless without the registration: it lives as long as that does.
        let Some(registration) = self.cached_registration(TOKEN_MIN_LEFT) else {
            return Ok(());
        };
        let stored = StoredRefresh {
            refresh_token: refresh_token.expose_secret().to_owned(),
        };
        self.cache.put(
            &self.refresh_key(),
            CachedSession {
                profile: self.profile.to_owned(),
                kind: REFRESH_KIND.to_owned(),
                expires: registration.expires_at,
                data: to_secret_json(&stored),
            },
        )?;
        Ok(())
    }

    /// The cached client registration of this start URL, region and
    /// scopes, if it has more than `min_left` seconds left.
    fn cached_registration(&self, min_left: i64) -> Option<Registration> {
        let session = self.cache.get(&self.registration_key(), min_left)?;
        let stored: StoredRegistration = serde_json::from_str(session.data.expose_secret()).ok()?;
        (stored.region == self.settings.region && stored.scopes == self.settings.scopes).then(
            || Registration {
                client_id: stored.client_id.clone(),
                client_secret: SecretString::from(stored.client_secret.clone()),
                expires_at: session.expires,
            },
        )
    }

    /// The client registration: cached, else registered now (the caller
    /// holds the token's refresh lock).
    fn registration(&self) -> Result<Registration, CredsError> {
        let key = self.registration_key();
        if let Some(registration) = self.cached_registration(REGISTRATION_MIN_LEFT) {
            return Ok(registration);
        }
        let registration = self.client.register_client(&self.settings.scopes)?;
        if registration.expires_at > now() {
            let stored = StoredRegistration {
                client_id: registration.client_id.clone(),
                client_secret: registration.client_secret.expose_secret().to_owned(),
                region: self.settings.region.clone(),
                scopes: self.settings.scopes.clone(),
            };
            self.cache.put(
                &key,
                CachedSession {
                    profile: self.profile.to_owned(),
                    kind: REGISTRATION_KIND.to_owned(),
                    expires: registration.expires_at,
                    data: to_secret_json(&stored),
                },
            )?;
        }
        Ok(registration)
    }

    /// The device flow: start it, show the user the code (and open the
    /// browser), poll CreateToken until the user confirms, refuses, or
    /// the code expires.
    fn sign_in(&self) -> Result<AccessToken, CredsError> {
        let registration = self.registration()?;
        let device = self
            .client
            .start_device_authorization(&registration, &self.settings.start_url)?;
        let url = device
            .verification_uri_complete
            .clone()
            .unwrap_or_else(|| device.verification_uri.clone());
        // The URL and code come from the network: escaped before they
        // reach a terminal.
        crate::terminal::notice(&format!(
            "To sign in to SSO for profile {:?}, open {} and confirm code {}",
            self.profile,
            output::sanitize(&url),
            output::sanitize(&device.user_code)
        ));
        // Only a web address goes to the browser: never an option or a
        // local file, whatever the answer held.
        let is_web = url.starts_with("https://") || url.starts_with("http://");
        if !self.no_browser && is_web {
            let browser_var = std::env::var("BROWSER").ok();
            let url = SecretString::from(url.clone());
            if let Opened::Not(why) =
                browser::open_url(&url, &browser::openers(browser_var.as_deref()))
            {
                crate::terminal::notice(&format!(
                    "cannot open a browser ({}): open the URL above",
                    why.join("; ")
                ));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(device.expires_in);
        let mut interval = Duration::from_secs(device.interval);
        loop {
            std::thread::sleep(interval);
            if Instant::now() >= deadline {
                return Err(SsoError::Expired.into());
            }
            match self
                .client
                .create_token(&registration, &device.device_code)?
            {
                TokenPoll::Token(token) => return Ok(token),
                TokenPoll::Pending => {}
                TokenPoll::SlowDown => interval += Duration::from_secs(5),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_need_every_key_and_split_scopes() {
        let mut p = Profile::new("p");
        p.sso_start_url = Some("https://x/start".into());
        p.sso_region = Some("eu-west-1".into());
        p.sso_account_id = Some("123456789012".into());
        let e = SsoSettings::of(&p).err().expect("no role name");
        assert!(e.to_string().contains("sso_role_name"), "{e}");
        p.sso_role_name = Some("Admin".into());
        // None named: none sent (as aws-vault), a token without refresh.
        assert!(SsoSettings::of(&p).expect("complete").scopes.is_empty());
        p.sso_registration_scopes = Some("a, b,".into());
        assert_eq!(
            SsoSettings::of(&p).expect("complete").scopes,
            vec!["a".to_owned(), "b".to_owned()]
        );
    }

    #[test]
    fn token_and_registration_keys_are_recognised() {
        assert!(is_sso_token_key("oidc:https://x/start"));
        assert!(is_sso_token_key("oidc-client:https://x/start"));
        assert!(is_sso_token_key("oidc-refresh:https://x/start"));
        assert!(!is_sso_token_key("sso.GetRoleCredentials:p:1"));
    }
}
