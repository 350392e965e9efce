//! The one place that writes to stdout and stderr.
//!
//! Everything a user reads goes through here so that control characters in
//! names taken from input or files are escaped before they reach a terminal,
//! and so that a closed pipe (`avault list | head -1`) ends quietly.

use std::fmt::Write as _;
use std::io::{self, Write};

/// Escapes control characters so that text from files or input cannot move
/// the cursor or rewrite the terminal when printed.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes one line to stdout.
pub fn line(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{}", sanitize(text))?;
    out.flush()
}

/// Writes secret text (credentials for `export`, `exec --json`) to stdout
/// as it is: no copy is made on the way.
pub fn secret(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// Writes rows as a table with columns padded to their widest cell, the way
/// aws-vault's `list` does (two spaces between columns, no trailing blanks).
pub fn table(rows: &[Vec<String>]) -> io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| sanitize(c)).collect())
        .collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = io::stdout().lock();
    for row in &rows {
        let mut text = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                text.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count() + 2;
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    out.flush()
}

/// Writes a warning line to stderr.
pub fn warn(text: &str) {
    let _ = writeln!(io::stderr().lock(), "avault: warning: {}", sanitize(text));
}

/// Writes a status message to stderr (progress and confirmations that must
/// not mix with machine-readable stdout).
pub fn status(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{}", sanitize(text));
}

/// Writes an error, and a recommendation line when there is one, to stderr.
pub fn error(text: &str, hint: Option<&str>) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "avault: error: {}", sanitize(text));
    if let Some(hint) = hint {
        let _ = writeln!(err, "avault: {}", sanitize(hint));
    }
}

/// Writes a debug line to stderr when `--debug` is on. Callers pass text
/// that holds no secret.
pub fn debug(enabled: bool, text: &str) {
    if enabled {
        let _ = writeln!(io::stderr().lock(), "avault: debug: {}", sanitize(text));
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn sanitize_escapes_control_characters() {
        assert_eq!(sanitize("a\x1b[2Jb\n"), "a\\u{1b}[2Jb\\u{a}");
        assert_eq!(sanitize("prod-eu"), "prod-eu");
    }
}
