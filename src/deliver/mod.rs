//! Handing credentials to what needs them: a child process's environment
//! (`exec`, with the keys or with a credential server's address), the
//! child itself in server mode, printed formats (`export`, `exec --json`)
//! and the console sign-in URL (`login`).

mod child;
mod console;
mod environment;
mod export;

pub use child::run_child;
pub use console::{
    destination, federated_user_name, login_url, open_url, openers, own_long_term_key,
    query_escape, request_signin_token, session_json, ConsoleError, FederationEndpoint, Opened,
    Partition, SigninToken, ALLOW_ALL_POLICY, DEFAULT_REGION, EXCHANGE_TIMEOUT, FEDERATION_URL_VAR,
    ISSUER,
};
pub use environment::{apply_server_to_child, apply_to_child, ServerVars, REMOVED_VARS};
pub use export::{render, ExportFormat};
