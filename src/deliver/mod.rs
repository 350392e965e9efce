//! Handing credentials to what needs them: a child process's environment
//! (`exec`) and printed formats (`export`, `exec --json`).

mod environment;
mod export;

pub use environment::{apply_to_child, REMOVED_VARS};
pub use export::{render, ExportFormat};
