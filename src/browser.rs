//! Opening a URL in a browser (the console sign-in of `login`, the SSO
//! device sign-in): `BROWSER`, then the platform's opener.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

/// The programs to try to open a URL with: each entry of `BROWSER`
/// (colon-separated; words split on blanks; `%s` stands for the URL, else
/// it is added at the end), then the platform's opener.
pub fn openers(browser_var: Option<&str>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = browser_var
        .unwrap_or("")
        .split(':')
        .map(|entry| entry.split_whitespace().map(str::to_owned).collect())
        .filter(|words: &Vec<String>| !words.is_empty())
        .collect();
    let platform = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    out.push(vec![platform.to_owned()]);
    out
}

/// What came of trying to open a URL.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// This program took it.
    With(String),
    /// None did; why, per program tried.
    Not(Vec<String>),
}

/// How long an opener may run before it is taken to be the browser itself
/// (left running) rather than a launcher that will report failure.
const OPENER_WAIT: Duration = Duration::from_secs(10);

/// Hands `url` to the first opener of `openers` that takes it: started
/// without a shell, the URL as an argument, no terminal I/O. A launcher
/// that exits non-zero (xdg-open with no browser) counts as not taken.
pub fn open_url(url: &SecretString, openers: &[Vec<String>]) -> Opened {
    let mut failures = Vec::new();
    for words in openers {
        let Some((program, rest)) = words.split_first() else {
            continue;
        };
        let mut command = Command::new(program);
        let mut placed = false;
        for word in rest {
            if word.contains("%s") {
                command.arg(word.replace("%s", url.expose_secret()));
                placed = true;
            } else {
                command.arg(word);
            }
        }
        if !placed {
            command.arg(url.expose_secret());
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                failures.push(format!("{program}: not found"));
                continue;
            }
            Err(e) => {
                failures.push(format!("{program}: {e}"));
                continue;
            }
        };
        let started = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Opened::With(program.clone()),
                Ok(Some(status)) => {
                    failures.push(format!("{program}: {status}"));
                    break;
                }
                Ok(None) if started.elapsed() >= OPENER_WAIT => {
                    return Opened::With(program.clone())
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => {
                    failures.push(format!("{program}: {e}"));
                    break;
                }
            }
        }
    }
    Opened::Not(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openers_from_browser_then_platform() {
        let platform = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        assert_eq!(openers(None), vec![vec![platform.to_owned()]]);
        assert_eq!(
            openers(Some("firefox --new-window:: w3m %s")),
            vec![
                vec!["firefox".to_owned(), "--new-window".to_owned()],
                vec!["w3m".to_owned(), "%s".to_owned()],
                vec![platform.to_owned()],
            ]
        );
    }

    #[test]
    fn open_url_tries_each_opener_and_reports() {
        let url = SecretString::from("https://example.invalid/?a=1".to_owned());
        let missing = vec!["/nonexistent/avault-opener".to_owned()];
        let failing = vec!["false".to_owned()];
        let working = vec!["true".to_owned()];
        assert_eq!(
            open_url(&url, &[missing.clone(), failing.clone(), working]),
            Opened::With("true".to_owned())
        );
        match open_url(&url, &[missing, failing]) {
            Opened::Not(why) => {
                assert_eq!(why.len(), 2, "{why:?}");
                assert!(why[0].contains("not found"), "{why:?}");
                assert!(!why.iter().any(|w| w.contains("example.invalid")));
            }
            other => panic!("{other:?}"),
        }
    }
}
