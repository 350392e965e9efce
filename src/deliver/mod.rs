//! Handing credentials to what needs them: a child process's environment
//! (`exec`), printed formats (`export`, `exec --json`) and the console
//! sign-in URL (`login`).

mod console;
mod environment;
mod export;

pub use console::{
    destination, federated_user_name, login_url, open_url, openers, own_long_term_key,
    query_escape, request_signin_token, session_json, ConsoleError, FederationEndpoint, Opened,
    Partition, SigninToken, ALLOW_ALL_POLICY, DEFAULT_REGION, EXCHANGE_TIMEOUT, FEDERATION_URL_VAR,
    ISSUER,
};
pub use environment::{apply_to_child, REMOVED_VARS};
pub use export::{render, ExportFormat};
