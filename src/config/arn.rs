//! IAM role ARNs: `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`.
//!
//! What must stay true: a [`RoleArn`] always holds a partition that is `aws`
//! or starts `aws-` with lower-case letters and dashes after it, an empty
//! region, a 12-digit account and a `role/` resource with a name.

use std::fmt;

/// A checked IAM role ARN.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RoleArn(String);

/// Why a string is not a role ARN (the caller adds where it came from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotARoleArn;

impl RoleArn {
    /// Checks `arn:aws[-a-z]*:iam::<12 digits>:role/<name>`.
    pub fn parse(text: &str) -> Result<RoleArn, NotARoleArn> {
        let mut parts = text.splitn(6, ':');
        let ok = parts.next() == Some("arn")
            && parts.next().is_some_and(is_partition)
            && parts.next() == Some("iam")
            && parts.next() == Some("")
            && parts.next().is_some_and(is_account)
            && parts
                .next()
                .and_then(|r| r.strip_prefix("role/"))
                .is_some_and(|name| !name.is_empty() && !name.ends_with('/'));
        if ok && !text.chars().any(char::is_whitespace) {
            Ok(RoleArn(text.to_owned()))
        } else {
            Err(NotARoleArn)
        }
    }

    /// The ARN.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its partition: `aws`, `aws-cn`, `aws-us-gov`, …
    pub fn partition(&self) -> &str {
        self.0.split(':').nth(1).unwrap_or_default()
    }

    /// Its 12-digit account ID.
    pub fn account_id(&self) -> &str {
        self.0.split(':').nth(4).unwrap_or_default()
    }

    /// The role's name (the part after the last `/`).
    pub fn role_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_partition(p: &str) -> bool {
    p.strip_prefix("aws")
        .is_some_and(|rest| rest.bytes().all(|b| b == b'-' || b.is_ascii_lowercase()))
}

fn is_account(a: &str) -> bool {
    a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_role_arns_of_every_partition() {
        for arn in [
            "arn:aws:iam::123456789012:role/admin",
            "arn:aws:iam::123456789012:role/path/to/admin",
            "arn:aws-cn:iam::123456789012:role/r",
            "arn:aws-us-gov:iam::123456789012:role/r",
            "arn:aws-iso-b:iam::123456789012:role/r+=,.@-_",
        ] {
            assert!(RoleArn::parse(arn).is_ok(), "{arn}");
        }
        let arn = RoleArn::parse("arn:aws-cn:iam::123456789012:role/team/deploy").expect("arn");
        assert_eq!(arn.partition(), "aws-cn");
        assert_eq!(arn.account_id(), "123456789012");
        assert_eq!(arn.role_name(), "deploy");
        assert_eq!(
            arn.to_string(),
            "arn:aws-cn:iam::123456789012:role/team/deploy"
        );
    }

    #[test]
    fn refuses_anything_else() {
        for arn in [
            "",
            "admin",
            "arn:aws:iam::123456789012:user/admin",
            "arn:aws:iam::12345678901:role/admin",
            "arn:aws:iam::1234567890123:role/admin",
            "arn:aws:iam::12345678901x:role/admin",
            "arn:aws:iam:us-east-1:123456789012:role/admin",
            "arn:aws:sts::123456789012:role/admin",
            "arn:AWS:iam::123456789012:role/admin",
            "arn:azure:iam::123456789012:role/admin",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/path/",
            "arn:aws:iam::123456789012:role/ad min",
            "arn:aws:iam::123456789012",
        ] {
            assert_eq!(RoleArn::parse(arn), Err(NotARoleArn), "{arn}");
        }
    }
}
