//! What the STS and IAM clients share: the HTTP client (rustls + ring, no
//! other TLS stack), the single-threaded runtime the calls block on, the
//! caller's credentials in the SDK's type, and one readable line for an SDK
//! error. Each service wraps [`Failure`] in its own error type.

use aws_sdk_sts::config::SharedHttpClient;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::Builder as HttpBuilder;
use secrecy::ExposeSecret;

use super::Credentials;

/// A current-thread runtime for blocking on one SDK call at a time.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// The HTTPS client every AWS SDK client of avault uses.
pub(crate) fn http_client() -> SharedHttpClient {
    HttpBuilder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// `c` as the SDK's credentials (the SDK needs owned strings).
pub(crate) fn sdk_credentials(c: &Credentials) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(
        c.access_key_id.clone(),
        c.secret_access_key.expose_secret().to_owned(),
        c.session_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        c.expiration.map(|e| e.into()),
        "avault",
    )
}

/// An SDK error reduced to what a user can act on.
pub(crate) enum Failure {
    /// The service answered with an error code.
    Service { code: String, message: String },
    /// No answer; why, in a few words.
    Unreachable(String),
    /// Anything else; why.
    Other(String),
}

/// Reduces an SDK error to a [`Failure`] (one line, no request dump).
pub(crate) fn failure<E: ProvideErrorMetadata + std::error::Error, R>(
    err: SdkError<E, R>,
) -> Failure {
    match err {
        SdkError::ServiceError(e) => {
            let e = e.into_err();
            Failure::Service {
                code: e.code().unwrap_or("Unknown").to_owned(),
                message: e.message().unwrap_or("no message").replace('\n', " "),
            }
        }
        SdkError::DispatchFailure(e) => Failure::Unreachable(
            if e.is_timeout() {
                "timed out"
            } else if e.is_io() {
                "connection failed"
            } else {
                "the request could not be sent"
            }
            .into(),
        ),
        SdkError::TimeoutError(_) => Failure::Unreachable("timed out".into()),
        SdkError::ResponseError(_) => Failure::Other("the answer could not be read".into()),
        _ => Failure::Other("the request could not be built".into()),
    }
}
