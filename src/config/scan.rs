//! A line scan of the config text that runs before rust-ini: it strips
//! comments, checks the shape of every line, and records on which line each
//! section header and each key stands (rust-ini keeps no positions).
//!
//! What must stay true: the text handed on has exactly the lines of the
//! input, so rust-ini's line numbers stay valid; and the scan classifies each
//! line as rust-ini will (indented lines after a key continue its value, a
//! trailing odd backslash joins the next line), so the positions it records
//! are those of the keys rust-ini returns.

/// Where a section header stands.
#[derive(Debug)]
pub(super) struct HeaderLine {
    /// The name between the brackets, trimmed.
    pub(super) name: String,
    /// 1-based line.
    pub(super) line: usize,
}

/// Where a key stands.
#[derive(Debug)]
pub(super) struct KeyLine {
    /// The section's name, `None` before the first header.
    pub(super) section: Option<String>,
    /// The key, trimmed and in lower case.
    pub(super) key: String,
    /// 1-based line.
    pub(super) line: usize,
    /// Where the value stands on that line: a byte range of the input,
    /// trimmed and without an inline comment.
    pub(super) value: std::ops::Range<usize>,
    /// Later lines that continue the value (indented or after a trailing
    /// backslash), 1-based; comment lines between them are not among them.
    pub(super) continued: Vec<usize>,
}

/// The scanned text.
#[derive(Debug)]
pub(super) struct Scanned {
    /// The text without comments, one output line per input line.
    pub(super) text: String,
    /// Section headers in file order.
    pub(super) headers: Vec<HeaderLine>,
    /// Keys in file order.
    pub(super) keys: Vec<KeyLine>,
}

/// A line the scan refuses: its 1-based number and what is wrong.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ScanError {
    pub(super) line: usize,
    pub(super) message: &'static str,
}

/// Scans config text; see the module comment.
pub(super) fn scan(text: &str) -> Result<Scanned, ScanError> {
    let mut out = Scanned {
        text: String::with_capacity(text.len()),
        headers: Vec::new(),
        keys: Vec::new(),
    };
    let mut section: Option<String> = None;
    // The last line that mattered was a key or part of its value: an
    // indented line continues that value.
    let mut in_value = false;
    // The last line ended with an odd backslash: this one is part of it.
    let mut joined = false;
    // Byte offset of the current line in `text`.
    let mut start = 0;
    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        let line_start = start;
        start += raw.len() + 1;
        if index > 0 {
            out.text.push('\n');
        }
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.contains('\r') {
            return Err(ScanError {
                line,
                message: "stray carriage return in the middle of a line",
            });
        }
        if joined {
            let kept = strip_inline_comment(raw);
            joined = ends_with_odd_backslash(kept);
            out.text.push_str(kept);
            continue_value(&mut out, line);
            continue;
        }
        let content = raw.trim_start();
        if content.is_empty() || content.starts_with(['#', ';']) {
            // Blank or a comment: an empty line, which leaves a value open
            // as rust-ini leaves it open across empty lines.
            continue;
        }
        let kept = strip_inline_comment(raw);
        if in_value && raw.starts_with([' ', '\t']) {
            joined = ends_with_odd_backslash(kept);
            out.text.push_str(kept);
            continue_value(&mut out, line);
            continue;
        }
        let kept_start = line_start + kept.len() - kept.trim_start().len();
        let kept = kept.trim_start();
        if let Some(inner) = kept.strip_prefix('[') {
            // As aws-vault's INI reader: up to the last `]`; the rest of
            // the line is ignored.
            let Some(end) = inner.rfind(']') else {
                return Err(ScanError {
                    line,
                    message: "section header without a closing ]",
                });
            };
            let name = inner[..end].trim();
            if name.contains(['[', ']', '\\']) {
                return Err(ScanError {
                    line,
                    message: "section name with [, ] or \\ in it",
                });
            }
            out.text.push('[');
            out.text.push_str(name);
            out.text.push(']');
            out.headers.push(HeaderLine {
                name: name.to_owned(),
                line,
            });
            section = Some(name.to_owned());
            in_value = false;
            continue;
        }
        let Some(separator) = key_end(kept) else {
            return Err(ScanError {
                line,
                message: "expected key = value, a [section] or a # comment",
            });
        };
        let key = kept[..separator].trim();
        if key.is_empty() {
            return Err(ScanError {
                line,
                message: "missing key name before = or :",
            });
        }
        let rest = &kept[separator + 1..];
        let value_start = kept_start + separator + 1 + rest.len() - rest.trim_start().len();
        out.keys.push(KeyLine {
            section: section.clone(),
            key: key.to_ascii_lowercase(),
            line,
            value: value_start..value_start + rest.trim().len(),
            continued: Vec::new(),
        });
        out.text.push_str(kept);
        in_value = true;
        joined = ends_with_odd_backslash(kept);
    }
    Ok(out)
}

/// Records `line` as a continuation of the last key's value.
fn continue_value(out: &mut Scanned, line: usize) {
    if let Some(key) = out.keys.last_mut() {
        key.continued.push(line);
    }
}

/// The line up to its inline comment: the first `#` or `;` that follows a
/// space or tab (a `#` inside a URL stays), without trailing whitespace.
fn strip_inline_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let cut = (1..bytes.len())
        .find(|&i| matches!(bytes[i], b'#' | b';') && matches!(bytes[i - 1], b' ' | b'\t'))
        .unwrap_or(bytes.len());
    // `cut` is at an ASCII byte or the end: a char boundary.
    line.get(..cut).unwrap_or(line).trim_end()
}

/// Where the key of a `key = value` line ends: the first `=` or `:` not
/// escaped by a backslash, as rust-ini reads keys.
fn key_end(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Whether rust-ini joins the next line onto this one.
fn ends_with_odd_backslash(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(text: &str) -> Vec<(Option<String>, String, usize)> {
        let scanned = scan(text).expect("scans");
        scanned
            .keys
            .into_iter()
            .map(|k| (k.section, k.key, k.line))
            .collect()
    }

    #[test]
    fn records_headers_and_keys_with_their_lines() {
        let text = "# top\n[default]\nRegion = eu-west-1\n\n[profile a]  # note\n  role_arn=x\n";
        let s = scan(text).expect("scans");
        let headers: Vec<_> = s
            .headers
            .iter()
            .map(|h| (h.name.as_str(), h.line))
            .collect();
        assert_eq!(headers, [("default", 2), ("profile a", 5)]);
        assert_eq!(
            lines_of(text),
            [
                (Some("default".into()), "region".into(), 3),
                (Some("profile a".into()), "role_arn".into(), 6),
            ]
        );
        assert_eq!(s.text.lines().count(), text.lines().count());
    }

    #[test]
    fn strips_comments_only_after_whitespace() {
        let s =
            scan("[a]\nurl = https://x/start#/ ; comment\nk = v;w #x\n#c\n ;c\n").expect("scans");
        assert_eq!(s.text, "[a]\nurl = https://x/start#/\nk = v;w\n\n\n");
        assert_eq!(strip_inline_comment("# whole"), "# whole");
        assert_eq!(strip_inline_comment("k = a\t#b"), "k = a");
    }

    #[test]
    fn indented_lines_continue_a_value_even_across_comments() {
        let text = "[a]\ns3 =\n  max = 10\n# c\n  more = 1\nregion = x\n";
        assert_eq!(
            lines_of(text),
            [
                (Some("a".into()), "s3".into(), 2),
                (Some("a".into()), "region".into(), 6),
            ]
        );
    }

    #[test]
    fn an_indented_key_after_a_header_is_a_key() {
        assert_eq!(
            lines_of("[a]\n  region = x\n"),
            [(Some("a".into()), "region".into(), 2)]
        );
    }

    #[test]
    fn backslash_joins_the_next_line() {
        let text = "[a]\nk = one\\\nregion = two\nl = x\\\\\nm = y\n";
        let keys: Vec<_> = lines_of(text).into_iter().map(|k| (k.1, k.2)).collect();
        assert_eq!(keys, [("k".into(), 2), ("l".into(), 4), ("m".into(), 5)]);
    }

    #[test]
    fn crlf_is_a_line_end() {
        let s = scan("[a]\r\nk = v\r\n").expect("scans");
        assert_eq!(s.text, "[a]\nk = v\n");
    }

    #[test]
    fn header_takes_up_to_the_last_bracket() {
        let s = scan("[ profile a ] trailing\n").expect("scans");
        assert_eq!(s.text, "[profile a]\n");
    }

    #[test]
    fn refuses_lines_rust_ini_would_misread() {
        let err = |text: &str| scan(text).err().map(|e| e.line);
        assert_eq!(err("[a]\nregion\nx = 1\n"), Some(2));
        assert_eq!(err("[a]\n= v\n"), Some(2));
        assert_eq!(err("[a\n"), Some(1));
        assert_eq!(err("[a]]\n"), Some(1));
        assert_eq!(err("[a\\]\n"), Some(1));
        assert_eq!(err("[a]\nk = v\rw\n"), Some(2));
        assert_eq!(err("[a]\nk\\=v\n"), Some(2));
    }

    #[test]
    fn keys_know_where_their_values_stand() {
        let text = "[a]\r\n  Key = some value ; c\r\nempty =\nurl: https://x/#y # z\nlong = a\n  b\n# c\n  c\\\nd\n";
        let s = scan(text).expect("scans");
        let got: Vec<_> = s
            .keys
            .iter()
            .map(|k| (k.key.as_str(), &text[k.value.clone()], k.continued.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("key", "some value", vec![]),
                ("empty", "", vec![]),
                ("url", "https://x/#y", vec![]),
                ("long", "a", vec![6, 8, 9]),
            ]
        );
    }

    #[test]
    fn key_end_skips_escapes() {
        assert_eq!(key_end("a = b"), Some(2));
        assert_eq!(key_end("a: b=c"), Some(1));
        assert_eq!(key_end("a\\=b = c"), Some(5));
        assert_eq!(key_end("a\\"), None);
    }
}
