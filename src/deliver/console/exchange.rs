//! The getSigninToken exchange: the checked federation endpoint, the
//! `Session` JSON and one GET over the shared rustls+ring client.

use std::fmt;
use std::io::Write as _;
use std::time::Duration;

use hyper::{Method, Uri};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{query_escape, ConsoleError, SigninToken};
use crate::creds::Credentials;
use crate::http_client::{self, HttpError};
use crate::zbuf::ZeroizingWriter;

/// The most of an error answer's body that is shown.
const BODY_SHOWN: usize = 200;

/// A checked federation endpoint: `https://…`, or `http://` on loopback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederationEndpoint {
    uri: Uri,
}

impl FederationEndpoint {
    /// Checks a federation URL: absolute, http(s), no query or fragment,
    /// plain http only for loopback hosts.
    pub fn parse(url: &str) -> Result<FederationEndpoint, ConsoleError> {
        let bad = |reason| ConsoleError::BadFederationUrl {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url.parse().map_err(|_| bad("it does not parse as a URL"))?;
        let host = uri.host().ok_or_else(|| bad("it has no host"))?;
        if uri.query().is_some() || url.contains('#') {
            return Err(bad("it must have no query or fragment"));
        }
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if matches!(host, "127.0.0.1" | "localhost" | "[::1]") => {}
            Some("http") => {
                return Err(bad(
                    "plain http would send the credentials unencrypted; it is allowed for loopback only",
                ))
            }
            _ => return Err(bad("it must start with https://")),
        }
        Ok(FederationEndpoint { uri })
    }

    /// The endpoint as text (no query: nothing secret).
    pub fn as_str(&self) -> String {
        self.uri.to_string()
    }
}

impl fmt::Display for FederationEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.uri)
    }
}

#[derive(Serialize)]
struct SessionJson<'a> {
    #[serde(rename = "sessionId")]
    session_id: &'a str,
    #[serde(rename = "sessionKey")]
    session_key: &'a str,
    #[serde(rename = "sessionToken")]
    session_token: &'a str,
}

/// The `Session` parameter: `{"sessionId","sessionKey","sessionToken"}`.
pub fn session_json(credentials: &Credentials) -> Result<Zeroizing<Vec<u8>>, ConsoleError> {
    let token = credentials
        .session_token
        .as_ref()
        .ok_or(ConsoleError::NotTemporary)?;
    let session = SessionJson {
        session_id: &credentials.access_key_id,
        session_key: credentials.secret_access_key.expose_secret(),
        session_token: token.expose_secret(),
    };
    let mut w = ZeroizingWriter::with_capacity(2048);
    // Writing to memory cannot fail.
    let _ = serde_json::to_writer(&mut w, &session);
    let _ = w.write_all(b"");
    Ok(w.into_inner())
}

#[derive(Deserialize)]
struct SigninAnswer {
    #[serde(rename = "SigninToken")]
    signin_token: String,
}

/// Exchanges temporary credentials for a sign-in token at `endpoint`,
/// giving up after `timeout`.
pub fn request_signin_token(
    endpoint: &FederationEndpoint,
    credentials: &Credentials,
    timeout: Duration,
) -> Result<SigninToken, ConsoleError> {
    let session = session_json(credentials)?;
    let session = std::str::from_utf8(&session).map_err(|_| ConsoleError::NotTemporary)?;
    let url = Zeroizing::new(format!(
        "{endpoint}?Action=getSigninToken&Session={}",
        query_escape(session)
    ));
    let name = endpoint.as_str();
    let answer = http_client::send(Method::GET, &url, &[], None, timeout).map_err(|e| match e {
        HttpError::TimedOut(_) => ConsoleError::TimedOut {
            endpoint: name.clone(),
            timeout,
        },
        HttpError::Runtime(e) => ConsoleError::Runtime(e),
        // The URL was checked without the query, the query is escaped:
        // what is left names no secret.
        other => ConsoleError::Unreachable {
            endpoint: name.clone(),
            reason: other.to_string(),
        },
    })?;
    let body = answer.body;
    if answer.status != 200 {
        return Err(ConsoleError::Refused {
            endpoint: name,
            status: answer.status,
            body: http_client::shown_body(&body, BODY_SHOWN),
        });
    }
    let parsed: SigninAnswer =
        serde_json::from_slice(&body).map_err(|_| ConsoleError::BadAnswer {
            endpoint: name.clone(),
            reason: "the answer is not JSON with a SigninToken",
        })?;
    if parsed.signin_token.is_empty() {
        return Err(ConsoleError::BadAnswer {
            endpoint: name,
            reason: "the SigninToken is empty",
        });
    }
    Ok(SigninToken::new(parsed.signin_token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    use secrecy::SecretString;

    use crate::deliver::console::FEDERATION_URL_VAR;

    #[test]
    fn session_json_shape_and_long_term_keys_refused() {
        let mut c = Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: SecretString::from("s3cr3t".to_owned()),
            session_token: Some(SecretString::from("tok".to_owned())),
            expiration: None,
        };
        let json = session_json(&c).expect("json");
        assert_eq!(
            std::str::from_utf8(&json).expect("utf8"),
            r#"{"sessionId":"ASIAEXAMPLE","sessionKey":"s3cr3t","sessionToken":"tok"}"#
        );
        c.session_token = None;
        assert!(matches!(session_json(&c), Err(ConsoleError::NotTemporary)));
    }

    #[test]
    fn federation_endpoints_are_checked() {
        for good in [
            "https://signin.aws.amazon.com/federation",
            "http://127.0.0.1:8080/federation",
            "http://localhost:1/federation",
        ] {
            assert!(FederationEndpoint::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "http://example.com/federation",
            "ftp://127.0.0.1/federation",
            "https://signin.aws.amazon.com/federation?x=1",
            "signin.aws.amazon.com/federation",
            "not a url",
            "",
        ] {
            let e = FederationEndpoint::parse(bad).expect_err(bad);
            assert!(e.to_string().contains(FEDERATION_URL_VAR), "{e}");
            assert!(e.hint().is_some());
        }
    }

    #[test]
    fn a_silent_endpoint_times_out() {
        // Accepts the connection (the backlog does) and never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let endpoint =
            FederationEndpoint::parse(&format!("http://127.0.0.1:{port}/federation")).expect("ok");
        let c = Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: SecretString::from("s3cr3t".to_owned()),
            session_token: Some(SecretString::from("tok".to_owned())),
            expiration: None,
        };
        let started = Instant::now();
        let e = request_signin_token(&endpoint, &c, Duration::from_millis(300)).expect_err("late");
        assert!(matches!(e, ConsoleError::TimedOut { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let text = e.to_string();
        assert!(text.contains("did not answer"), "{text}");
        assert!(
            !text.contains("s3cr3t") && !text.contains("Session"),
            "{text}"
        );
        drop(listener);
    }
}
