//! Session lifetimes from the environment (`AWS_SESSION_TOKEN_TTL`,
//! `AWS_CHAINED_SESSION_TOKEN_TTL`, `AWS_ASSUME_ROLE_TTL`,
//! `AWS_FEDERATION_TOKEN_TTL`, `AWS_MIN_TTL`) and the ranges STS accepts.
//!
//! What must stay true: a variable that is set but empty counts as unset
//! (aws-vault reads them that way); one that does not parse, or that STS
//! would refuse, is an error naming the variable; aws-vault silently
//! ignores both.

use std::time::Duration;

use super::duration::parse_duration;
use super::error::{ConfigError, Location};

const MINUTE: u64 = 60;
const HOUR: u64 = 3600;

/// The durations one STS call accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StsLimit {
    /// The call, for messages.
    pub call: &'static str,
    /// Shortest.
    pub min: Duration,
    /// Longest.
    pub max: Duration,
}

impl StsLimit {
    /// `value` when in range, else an error saying where it came from.
    pub fn check(&self, value: Duration, at: Location) -> Result<Duration, ConfigError> {
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::DurationOutOfRange {
                value,
                call: self.call,
                min: self.min,
                max: self.max,
                at,
            })
        }
    }
}

/// GetSessionToken: 15m to 36h.
pub const GET_SESSION_TOKEN: StsLimit = StsLimit {
    call: "GetSessionToken",
    min: Duration::from_secs(15 * MINUTE),
    max: Duration::from_secs(36 * HOUR),
};

/// AssumeRole (and AssumeRoleWithWebIdentity): 15m to 12h.
pub const ASSUME_ROLE: StsLimit = StsLimit {
    call: "AssumeRole",
    min: Duration::from_secs(15 * MINUTE),
    max: Duration::from_secs(12 * HOUR),
};

/// GetFederationToken: 15m to 36h.
pub const GET_FEDERATION_TOKEN: StsLimit = StsLimit {
    call: "GetFederationToken",
    min: Duration::from_secs(15 * MINUTE),
    max: Duration::from_secs(36 * HOUR),
};

/// AWS caps a role assumed from temporary credentials (role chaining) at 1h.
pub const ROLE_CHAINING_MAX: Duration = Duration::from_secs(HOUR);

/// The lifetimes to ask STS for, and the refresh margin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ttls {
    /// GetSessionToken when the profile is the target
    /// (`AWS_SESSION_TOKEN_TTL`, or the older `AWS_SESSION_TTL`; 1h).
    pub session_token: Duration,
    /// GetSessionToken when the profile is the source of another
    /// (`AWS_CHAINED_SESSION_TOKEN_TTL`; 8h).
    pub chained_session_token: Duration,
    /// AssumeRole when set (`AWS_ASSUME_ROLE_TTL`); unset, a profile's
    /// `duration_seconds` applies, else 1h.
    pub assume_role: Option<Duration>,
    /// GetFederationToken (`AWS_FEDERATION_TOKEN_TTL`; 1h).
    pub federation_token: Duration,
    /// Cached credentials with less than this left are refreshed
    /// (`AWS_MIN_TTL`; 5m).
    pub min: Duration,
}

impl Default for Ttls {
    fn default() -> Self {
        Ttls {
            session_token: Duration::from_secs(HOUR),
            chained_session_token: Duration::from_secs(8 * HOUR),
            assume_role: None,
            federation_token: Duration::from_secs(HOUR),
            min: Duration::from_secs(5 * MINUTE),
        }
    }
}

/// The default AssumeRole duration when nothing sets one.
pub const DEFAULT_ASSUME_ROLE: Duration = Duration::from_secs(HOUR);

impl Ttls {
    /// Reads the variables through `lookup` (name → value).
    pub(crate) fn from_lookup(
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Ttls, ConfigError> {
        let get = |var: &'static str| -> Result<Option<(Duration, &'static str)>, ConfigError> {
            let Some(text) = lookup(var).filter(|v| !v.is_empty()) else {
                return Ok(None);
            };
            parse_duration(&text)
                .map(|d| Some((d, var)))
                .map_err(|source| ConfigError::InvalidDuration {
                    value: text,
                    at: Location::Env(var),
                    source,
                })
        };
        let checked = |found: Option<(Duration, &'static str)>, limit: &StsLimit| {
            found
                .map(|(d, var)| limit.check(d, Location::Env(var)))
                .transpose()
        };
        let defaults = Ttls::default();
        let session = match get("AWS_SESSION_TOKEN_TTL")? {
            Some(found) => Some(found),
            None => get("AWS_SESSION_TTL")?,
        };
        Ok(Ttls {
            session_token: checked(session, &GET_SESSION_TOKEN)?.unwrap_or(defaults.session_token),
            chained_session_token: checked(
                get("AWS_CHAINED_SESSION_TOKEN_TTL")?,
                &GET_SESSION_TOKEN,
            )?
            .unwrap_or(defaults.chained_session_token),
            assume_role: checked(get("AWS_ASSUME_ROLE_TTL")?, &ASSUME_ROLE)?,
            federation_token: checked(get("AWS_FEDERATION_TOKEN_TTL")?, &GET_FEDERATION_TOKEN)?
                .unwrap_or(defaults.federation_token),
            min: get("AWS_MIN_TTL")?.map_or(defaults.min, |(d, _)| d),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn ttls(vars: &[(&str, &str)]) -> Result<Ttls, ConfigError> {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Ttls::from_lookup(&|name| map.get(name).cloned())
    }

    fn hours(h: u64) -> Duration {
        Duration::from_secs(h * HOUR)
    }

    #[test]
    fn defaults_as_aws_vault() {
        let t = ttls(&[]).expect("defaults");
        assert_eq!(t.session_token, hours(1));
        assert_eq!(t.chained_session_token, hours(8));
        assert_eq!(t.assume_role, None);
        assert_eq!(t.federation_token, hours(1));
        assert_eq!(t.min, Duration::from_secs(300));
        assert_eq!(ttls(&[("AWS_SESSION_TOKEN_TTL", "")]).expect("empty"), t);
    }

    #[test]
    fn every_variable_is_read() {
        let t = ttls(&[
            ("AWS_SESSION_TOKEN_TTL", "12h"),
            ("AWS_CHAINED_SESSION_TOKEN_TTL", "36h"),
            ("AWS_ASSUME_ROLE_TTL", "15m"),
            ("AWS_FEDERATION_TOKEN_TTL", "1h30m"),
            ("AWS_MIN_TTL", "90s"),
        ])
        .expect("parses");
        assert_eq!(t.session_token, hours(12));
        assert_eq!(t.chained_session_token, hours(36));
        assert_eq!(t.assume_role, Some(Duration::from_secs(900)));
        assert_eq!(t.federation_token, Duration::from_secs(5400));
        assert_eq!(t.min, Duration::from_secs(90));
    }

    #[test]
    fn session_ttl_is_the_older_name() {
        let old = ttls(&[("AWS_SESSION_TTL", "2h")]).expect("alias");
        assert_eq!(old.session_token, hours(2));
        let both =
            ttls(&[("AWS_SESSION_TTL", "2h"), ("AWS_SESSION_TOKEN_TTL", "3h")]).expect("both");
        assert_eq!(both.session_token, hours(3));
        let new_empty =
            ttls(&[("AWS_SESSION_TTL", "2h"), ("AWS_SESSION_TOKEN_TTL", "")]).expect("empty");
        assert_eq!(new_empty.session_token, hours(2));
        let Err(e) = ttls(&[("AWS_SESSION_TTL", "2x")]) else {
            panic!("parsed");
        };
        assert!(
            e.to_string()
                .starts_with("AWS_SESSION_TTL: invalid duration \"2x\""),
            "{e}"
        );
    }

    #[test]
    fn unparsable_names_the_variable() {
        let Err(e) = ttls(&[("AWS_MIN_TTL", "5 minutes")]) else {
            panic!("parsed");
        };
        assert_eq!(
            e.to_string(),
            "AWS_MIN_TTL: invalid duration \"5 minutes\": unknown unit \" minutes\" (units: h, m, s, ms, us, ns)"
        );
        assert!(e.hint().is_some_and(|h| h.contains("12h")));
    }

    #[test]
    fn ranges_as_sts_enforces_them() {
        let msg = |var: &str, value: &str| ttls(&[(var, value)]).err().map(|e| e.to_string());
        assert_eq!(
            msg("AWS_SESSION_TOKEN_TTL", "37h").as_deref(),
            Some("AWS_SESSION_TOKEN_TTL: 37h is out of range for GetSessionToken (15m to 36h)")
        );
        assert!(msg("AWS_SESSION_TOKEN_TTL", "36h").is_none());
        assert!(msg("AWS_CHAINED_SESSION_TOKEN_TTL", "14m59s").is_some());
        assert_eq!(
            msg("AWS_ASSUME_ROLE_TTL", "13h").as_deref(),
            Some("AWS_ASSUME_ROLE_TTL: 13h is out of range for AssumeRole (15m to 12h)")
        );
        assert!(msg("AWS_ASSUME_ROLE_TTL", "12h").is_none());
        assert!(msg("AWS_FEDERATION_TOKEN_TTL", "36h1s").is_some());
        assert!(msg("AWS_FEDERATION_TOKEN_TTL", "10m").is_some());
        assert!(msg("AWS_MIN_TTL", "0s").is_none());
    }
}
