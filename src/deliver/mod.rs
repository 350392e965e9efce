//! Handing credentials to what needs them: a child process's environment
//! (`exec`, with the keys or with a credential server's address), the
//! child itself in server mode, and printed formats (`export`, `exec --json`).

mod child;
mod environment;
mod export;

pub use child::run_child;
pub use environment::{apply_server_to_child, apply_to_child, ServerVars, REMOVED_VARS};
pub use export::{render, ExportFormat};
