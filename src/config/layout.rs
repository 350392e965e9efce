//! Where each section and key of an INI file stands, with no copy of any
//! value: what `import aws-credentials` needs to read secrets out of the
//! shared credentials file and to rewrite it line by line (`--scrub`).
//!
//! What must stay true: this is the config reader's own scan, so a line is
//! a key, a comment or a continuation here exactly when it is one for the
//! config; and the scan's copy of the text (values and all) is zeroized
//! before this returns.

use std::ops::Range;
use std::path::Path;

use zeroize::Zeroize;

use super::error::ConfigError;
use super::scan::scan;

/// One `key = value` line.
#[derive(Debug)]
pub(crate) struct KeyPosition {
    /// The section's name as it stands between the brackets (trimmed);
    /// `None` before the first header.
    pub(crate) section: Option<String>,
    /// The key, in lower case.
    pub(crate) key: String,
    /// 1-based line of the key.
    pub(crate) line: usize,
    /// The value on that line: a byte range of the text, trimmed, without
    /// an inline comment.
    pub(crate) value: Range<usize>,
    /// Later lines that continue the value (1-based).
    pub(crate) continued: Vec<usize>,
}

/// The section headers and keys of a file, in file order.
#[derive(Debug)]
pub(crate) struct IniLayout {
    /// Each header's name (trimmed) and 1-based line.
    pub(crate) headers: Vec<(String, usize)>,
    /// Each key.
    pub(crate) keys: Vec<KeyPosition>,
}

/// Where the headers and keys of `text` stand. `path` is for messages only.
pub(crate) fn ini_layout(path: &Path, text: &str) -> Result<IniLayout, ConfigError> {
    let mut scanned = scan(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        line: e.line,
        message: e.message.into(),
    })?;
    scanned.text.zeroize();
    let headers = scanned
        .headers
        .into_iter()
        .map(|h| (h.name, h.line))
        .collect();
    let keys = scanned
        .keys
        .into_iter()
        .map(|k| KeyPosition {
            section: k.section,
            key: k.key,
            line: k.line,
            value: k.value,
            continued: k.continued,
        })
        .collect();
    Ok(IniLayout { headers, keys })
}
