//! One plain HTTP request (GET or POST) over hyper with rustls+ring: what
//! `login`'s getSigninToken exchange and the SSO OIDC and portal calls
//! share. The AWS SDK is not needed for these unsigned REST-JSON calls.
//!
//! What must stay true: an error never holds the request's query, headers
//! or body (they carry tokens and secrets), only the kind of failure and
//! its innermost cause; `https://` always, `http://` only to a loopback
//! host (tests); answer bodies are read up to a limit and zeroized.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// The most of an answer's body that is read.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum HttpError {
    /// The URL is not `https://` (or `http://` on loopback).
    #[error("{0}")]
    BadUrl(&'static str),
    /// The network runtime could not start.
    #[error("cannot start the network runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// No connection or no readable answer.
    #[error("{0}")]
    Unreachable(String),
    /// No answer within the time given.
    #[error("no answer within {} s", .0.as_secs())]
    TimedOut(Duration),
}

/// An answer: its status and (up to [`BODY_LIMIT`] bytes of) its body,
/// zeroized when dropped since a 200 answer may hold a token.
pub(crate) struct Answer {
    /// The HTTP status.
    pub(crate) status: u16,
    /// The body.
    pub(crate) body: Zeroizing<Vec<u8>>,
}

/// Checks that `url` is absolute `https://`, or `http://` to a loopback
/// host; the reason when not.
pub(crate) fn check_url(url: &str) -> Result<Uri, &'static str> {
    let uri: Uri = url.parse().map_err(|_| "it does not parse as a URL")?;
    let host = uri.host().ok_or("it has no host")?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(host) => Ok(uri),
        Some("http") => Err(
            "plain http would send the credentials unencrypted; it is allowed for loopback only",
        ),
        _ => Err("it must start with https://"),
    }
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1")
}

/// Sends one request: `method` to `url` with `headers` (values secret)
/// and, for POST, a JSON `body`; gives up after `timeout`.
pub(crate) fn send(
    method: Method,
    url: &str,
    headers: &[(&'static str, &SecretString)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<Answer, HttpError> {
    let uri = check_url(url).map_err(HttpError::BadUrl)?;
    let https = uri.scheme_str() == Some("https");
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, value.expose_secret());
    }
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    // The body is copied into hyper's buffer, which is not zeroized: only
    // short-lived request bodies go through here.
    let request = builder
        .body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))
        .map_err(|_| HttpError::Unreachable("the request could not be built".into()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(HttpError::Runtime)?;
    runtime.block_on(async {
        let exchange = async {
            if https {
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
                    .map_err(|e| {
                        HttpError::Unreachable(format!("no trusted root certificates: {e}"))
                    })?
                    .https_only()
                    .enable_http1()
                    .build();
                exchange(connector, request).await
            } else {
                exchange(HttpConnector::new(), request).await
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| HttpError::TimedOut(timeout))?
    })
}

/// The innermost cause of an error: it names the connection or TLS
/// failure and never the request URL.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

async fn exchange<C>(connector: C, request: Request<Full<Bytes>>) -> Result<Answer, HttpError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let client: Client<C, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let response = client
        .request(request)
        .await
        .map_err(|e| HttpError::Unreachable(describe(&e)))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), BODY_LIMIT)
        .collect()
        .await
        .map_err(|e| {
            HttpError::Unreachable(format!(
                "the answer could not be read: {}",
                describe(e.as_ref())
            ))
        })?;
    Ok(Answer {
        status,
        body: Zeroizing::new(body.to_bytes().to_vec()),
    })
}

/// The start of an error answer's body on one line, for messages (AWS's
/// error text; callers use it only for answers that hold no secret).
pub(crate) fn shown_body(body: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut shown: String = text.chars().take(max_chars).collect();
    if text.chars().count() > max_chars {
        shown.push('…');
    }
    shown.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_https_or_loopback_http() {
        for good in [
            "https://oidc.us-east-1.amazonaws.com/token",
            "http://127.0.0.1:9/x",
            "http://localhost:1/",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in ["http://example.com/", "ftp://127.0.0.1/", "nope", ""] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_refused_connection_names_no_query() {
        // Bind then drop: nothing listens on that port now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let url = format!("http://127.0.0.1:{port}/x?secret=s3cr3t");
        let token = SecretString::from("tok3n".to_owned());
        let e = send(
            Method::GET,
            &url,
            &[("x-test", &token)],
            None,
            Duration::from_secs(5),
        )
        .err()
        .expect("refused");
        let text = e.to_string();
        assert!(
            !text.contains("s3cr3t") && !text.contains("tok3n"),
            "{text}"
        );
    }

    #[test]
    fn bodies_are_shown_short_on_one_line() {
        assert_eq!(shown_body(b"a\n  b", 10), "a b");
        assert_eq!(shown_body(b"abcdef", 3), "abc…");
    }
}
