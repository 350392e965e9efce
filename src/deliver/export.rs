//! `avault export --format env|export-env|json|ini`.

use std::fmt::Write as _;

use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::creds::{rfc3339, Credentials};

/// An output format of `export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// `NAME=value` lines.
    Env,
    /// `export NAME=value` lines, for `eval "$(avault export …)"`.
    ExportEnv,
    /// credential_process JSON (Version 1).
    Json,
    /// A `[PROFILE]` section for a shared credentials file.
    Ini,
}

/// The credentials of `profile` in `format`, newline-terminated.
pub fn render(
    format: ExportFormat,
    profile: &str,
    credentials: &Credentials,
    region: Option<&str>,
) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(4096));
    let expiration = credentials.expiration.map(rfc3339);
    match format {
        ExportFormat::Json => {
            let json = credentials.to_process_json();
            out.push_str(&String::from_utf8_lossy(&json));
            out.push('\n');
        }
        ExportFormat::Ini => {
            let _ = writeln!(out, "[{profile}]");
            let _ = writeln!(out, "aws_access_key_id = {}", credentials.access_key_id);
            let _ = writeln!(
                out,
                "aws_secret_access_key = {}",
                credentials.secret_access_key.expose_secret()
            );
            if let Some(token) = &credentials.session_token {
                let _ = writeln!(out, "aws_session_token = {}", token.expose_secret());
            }
            if let Some(e) = &expiration {
                let _ = writeln!(out, "aws_credential_expiration = {e}");
            }
            if let Some(r) = region {
                let _ = writeln!(out, "region = {r}");
            }
        }
        ExportFormat::Env | ExportFormat::ExportEnv => {
            let prefix = if format == ExportFormat::ExportEnv {
                "export "
            } else {
                ""
            };
            let mut line = |name: &str, value: &str| {
                let _ = writeln!(out, "{prefix}{name}={value}");
            };
            if let Some(r) = region {
                line("AWS_REGION", r);
                line("AWS_DEFAULT_REGION", r);
            }
            line("AWS_ACCESS_KEY_ID", &credentials.access_key_id);
            line(
                "AWS_SECRET_ACCESS_KEY",
                credentials.secret_access_key.expose_secret(),
            );
            if let Some(token) = &credentials.session_token {
                line("AWS_SESSION_TOKEN", token.expose_secret());
            }
            if let Some(e) = &expiration {
                line("AWS_CREDENTIAL_EXPIRATION", e);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use time::OffsetDateTime;

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: SecretString::from("sec/ret+=".to_owned()),
            session_token: Some(SecretString::from("tok".to_owned())),
            expiration: Some(OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time")),
        }
    }

    #[test]
    fn env_and_export_env() {
        let text = render(ExportFormat::ExportEnv, "p", &creds(), Some("eu-west-1"));
        assert_eq!(
            text.as_str(),
            "export AWS_REGION=eu-west-1\nexport AWS_DEFAULT_REGION=eu-west-1\n\
             export AWS_ACCESS_KEY_ID=ASIAEXAMPLE\nexport AWS_SECRET_ACCESS_KEY=sec/ret+=\n\
             export AWS_SESSION_TOKEN=tok\nexport AWS_CREDENTIAL_EXPIRATION=2027-01-15T08:00:00Z\n"
        );
        let env = render(ExportFormat::Env, "p", &creds(), None);
        assert!(env.starts_with("AWS_ACCESS_KEY_ID=ASIAEXAMPLE\n"));
    }

    #[test]
    fn ini_section() {
        let text = render(ExportFormat::Ini, "prod", &creds(), Some("eu-west-1"));
        assert_eq!(
            text.as_str(),
            "[prod]\naws_access_key_id = ASIAEXAMPLE\naws_secret_access_key = sec/ret+=\n\
             aws_session_token = tok\naws_credential_expiration = 2027-01-15T08:00:00Z\nregion = eu-west-1\n"
        );
    }
}
