//! Credentials for one profile, again and again: what a credential server
//! needs to refresh what it hands out for as long as its command runs.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

use super::provider::ROLE_CHAIN_LIMIT;
use super::sts::{AssumeRoleRequest, Sts};
use super::{sts_endpoint, Credentials, CredsError, Provider, Request};
use crate::config::ProfileChain;
use crate::vault::{Payload, SessionCache};

/// An opened vault and a resolved profile, owned.
pub struct Issuer {
    chain: ProfileChain,
    payload: Payload,
    cache: SessionCache,
    /// Behind a lock only to forget `--mfa-token` once it has been used.
    request: Mutex<Request>,
}

impl Issuer {
    /// Issues credentials for `chain` from `payload`'s keys, through `cache`.
    ///
    /// A server keeps the issuer for the life of its command, so it keeps
    /// only what refreshes need: the keys of the chain's own profiles, and
    /// none of the unlockers' material.
    pub fn new(
        chain: ProfileChain,
        mut payload: Payload,
        cache: SessionCache,
        request: Request,
    ) -> Issuer {
        payload
            .profiles
            .retain(|name, _| chain.profiles().iter().any(|p| &p.name == name));
        payload.unlockers.clear();
        Issuer {
            chain,
            payload,
            cache,
            request: Mutex::new(request),
        }
    }

    /// The target profile's credentials, from the session cache when they
    /// have more than `AWS_MIN_TTL` left. A code given with `--mfa-token`
    /// serves the first call only: AWS refuses it a second time, so a later
    /// refresh asks as `--prompt` says.
    pub fn credentials(&self) -> Result<Credentials, CredsError> {
        let mut request = self.request.lock().unwrap_or_else(PoisonError::into_inner);
        let credentials =
            Provider::new(&self.chain, &self.payload, &self.cache, &request).credentials();
        if credentials.is_ok() {
            request.mfa_token = None;
        }
        credentials
    }

    /// The refresh margin (`AWS_MIN_TTL`).
    pub fn min_left(&self) -> Duration {
        self.chain.ttls().min
    }

    /// The target profile's region.
    pub fn region(&self) -> Option<&str> {
        self.chain.target().region.as_deref()
    }

    /// AssumeRole of `role_arn` from `base` (the ECS endpoint's
    /// `/role-arn/…`): no MFA, at most an hour, as a role chain allows.
    pub fn assume_role(
        &self,
        base: &Credentials,
        role_arn: &str,
    ) -> Result<Credentials, CredsError> {
        let duration = self
            .chain
            .ttls()
            .assume_role
            .unwrap_or(ROLE_CHAIN_LIMIT)
            .min(ROLE_CHAIN_LIMIT);
        let session_name = format!("avault-{}", OffsetDateTime::now_utc().unix_timestamp());
        let sts = Sts::new(sts_endpoint(self.chain.target()))?;
        Ok(sts.assume_role(
            base,
            &AssumeRoleRequest {
                role_arn,
                session_name: &session_name,
                external_id: None,
                duration,
                mfa: None,
                tags: &[],
                transitive_tags: &[],
                source_identity: None,
            },
        )?)
    }
}
