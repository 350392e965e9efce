//! The AWS config file as sections of keys, each key with the line it
//! stands on: `[default]` and `[profile NAME]` are profiles, `[sso-session
//! NAME]` are SSO sessions, anything else is kept out.
//!
//! What must stay true: keys are lower case; an empty value is as good as
//! absent (aws-vault treats "" as unset); a section repeated later adds to
//! the first, its keys winning, as the AWS CLI and aws-vault's INI reader do.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

use super::error::{ConfigError, Location};
use super::scan::{scan, Scanned};

/// Keys whose values are commands, which may embed secrets: never printed.
const COMMAND_KEYS: [&str; 3] = [
    "credential_process",
    "mfa_process",
    "web_identity_token_process",
];

/// One key's value and where it stands.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The value, trimmed.
    pub value: String,
    /// 1-based line of the key.
    pub line: usize,
}

/// One section: a profile (`[default]`, `[profile NAME]`) or an SSO session
/// (`[sso-session NAME]`).
#[derive(Clone, Default)]
pub struct Section {
    name: String,
    line: usize,
    entries: BTreeMap<String, Entry>,
}

impl Section {
    /// The profile or session name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// 1-based line of its (first) header.
    pub fn line(&self) -> usize {
        self.line
    }

    /// A key's value, when set and not empty. `key` is lower case.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.value.as_str())
    }

    /// A key's value and line, when set and not empty. `key` is lower case.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key).filter(|e| !e.value.is_empty())
    }

    /// Its keys, in lower case and sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

impl fmt::Debug for Entry {
    // The key is not known here, and it may be a command: no value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("line", &self.line)
            .finish()
    }
}

impl fmt::Debug for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Value<'a>(&'a str, &'a Entry);
        impl fmt::Debug for Value<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if COMMAND_KEYS.contains(&self.0) {
                    write!(f, "<command> (line {})", self.1.line)
                } else {
                    write!(f, "{:?} (line {})", self.1.value, self.1.line)
                }
            }
        }
        struct Entries<'a>(&'a BTreeMap<String, Entry>);
        impl fmt::Debug for Entries<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.iter().map(|(k, e)| (k, Value(k, e))))
                    .finish()
            }
        }
        f.debug_struct("Section")
            .field("name", &self.name)
            .field("line", &self.line)
            .field("entries", &Entries(&self.entries))
            .finish()
    }
}

/// The profiles and SSO sessions of an AWS config file, in file order.
#[derive(Clone, Debug, Default)]
pub struct AwsConfig {
    path: PathBuf,
    profiles: Vec<Section>,
    sso_sessions: Vec<Section>,
    /// Name → index, for `profile` and `sso_session`.
    profile_index: HashMap<String, usize>,
    sso_session_index: HashMap<String, usize>,
}

/// What a section header stands for.
enum Kind<'a> {
    Profile(&'a str),
    SsoSession(&'a str),
}

/// The kind and name of a section header, when it is one we read.
fn section_kind(header: &str) -> Option<Kind<'_>> {
    let header = header.trim();
    if header == "default" {
        return Some(Kind::Profile("default"));
    }
    let named = |prefix: &str| {
        header
            .strip_prefix(prefix)
            .filter(|rest| rest.starts_with([' ', '\t']))
            .map(str::trim)
            .filter(|name| !name.is_empty())
    };
    named("profile")
        .map(Kind::Profile)
        .or_else(|| named("sso-session").map(Kind::SsoSession))
}

impl AwsConfig {
    /// Reads the file; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<AwsConfig, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(AwsConfig {
                path: path.to_owned(),
                ..AwsConfig::default()
            }),
            Err(source) => Err(ConfigError::Io {
                path: path.to_owned(),
                action: "read",
                source,
            }),
        }
    }

    /// Parses config text read from `path` (used in messages only).
    pub fn parse(path: &Path, text: &str) -> Result<AwsConfig, ConfigError> {
        let parse_error = |line, message: String| ConfigError::Parse {
            path: path.to_owned(),
            line,
            message,
        };
        let scanned = scan(text).map_err(|e| parse_error(e.line, e.message.into()))?;
        let options = ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            enabled_indented_mutiline_value: true,
            enabled_preserve_key_leading_whitespace: false,
        };
        let ini = Ini::load_from_str_opt(&scanned.text, options)
            .map_err(|e| parse_error(e.line, e.msg.into_owned()))?;
        let lines = Lines::new(&scanned);
        let mut config = AwsConfig {
            path: path.to_owned(),
            ..AwsConfig::default()
        };
        for (header, props) in ini.iter() {
            let Some(header) = header else { continue };
            let (list, index, name) = match section_kind(header) {
                Some(Kind::Profile(name)) => {
                    (&mut config.profiles, &mut config.profile_index, name)
                }
                Some(Kind::SsoSession(name)) => (
                    &mut config.sso_sessions,
                    &mut config.sso_session_index,
                    name,
                ),
                None => continue,
            };
            let at = *index.entry(name.to_owned()).or_insert_with(|| {
                list.push(Section {
                    name: name.to_owned(),
                    line: lines.header(header),
                    entries: BTreeMap::new(),
                });
                list.len() - 1
            });
            let Some(section) = list.get_mut(at) else {
                continue;
            };
            for (key, value) in props.iter() {
                let key = key.trim().to_ascii_lowercase();
                let found = lines.key(header, &key);
                debug_assert!(found.is_some(), "the scan saw key {key:?} of [{header}]");
                let entry = Entry {
                    value: value.trim().to_owned(),
                    line: found.unwrap_or(section.line),
                };
                section.entries.insert(key, entry);
            }
        }
        Ok(config)
    }

    /// The file this came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Profile names in file order.
    pub fn profile_names(&self) -> impl Iterator<Item = &str> {
        self.profiles.iter().map(|p| p.name.as_str())
    }

    /// One profile's section (`default` for `[default]`).
    pub fn profile(&self, name: &str) -> Option<&Section> {
        self.profile_index
            .get(name)
            .and_then(|&i| self.profiles.get(i))
    }

    /// One `[sso-session NAME]` section.
    pub fn sso_session(&self, name: &str) -> Option<&Section> {
        self.sso_session_index
            .get(name)
            .and_then(|&i| self.sso_sessions.get(i))
    }

    /// Where line `line` of this file is, for messages.
    pub fn at(&self, line: usize) -> Location {
        Location::File {
            path: self.path.clone(),
            line,
        }
    }
}

/// The scan's positions, by name.
struct Lines<'a> {
    /// Header name → line of its first occurrence.
    headers: HashMap<&'a str, usize>,
    /// (header name, key) → line of its last occurrence: the value that wins.
    keys: HashMap<(&'a str, &'a str), usize>,
}

impl<'a> Lines<'a> {
    fn new(scanned: &'a Scanned) -> Lines<'a> {
        let mut headers = HashMap::new();
        for h in &scanned.headers {
            headers.entry(h.name.as_str()).or_insert(h.line);
        }
        let keys = scanned
            .keys
            .iter()
            .filter_map(|k| Some(((k.section.as_deref()?, k.key.as_str()), k.line)))
            .collect();
        Lines { headers, keys }
    }

    /// The line of the first header named `header` (1 when not found,
    /// which the scan makes impossible).
    fn header(&self, header: &str) -> usize {
        self.headers.get(header).copied().unwrap_or(1)
    }

    fn key(&self, header: &str, key: &str) -> Option<usize> {
        self.keys.get(&(header, key)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> AwsConfig {
        AwsConfig::parse(Path::new("/c"), text).expect("parses")
    }

    #[test]
    fn profiles_in_file_order_with_lowercase_keys() {
        let text = "[default]\nregion = eu-west-1\n\n[profile prod]\nMFA_Serial = arn:aws:iam::1:mfa/a\n[sso-session x]\nsso_region = us-east-1\n[profile  spaced ]\n";
        let c = parse(text);
        let names: Vec<_> = c.profile_names().collect();
        assert_eq!(names, ["default", "prod", "spaced"]);
        assert_eq!(
            c.profile("prod").and_then(|p| p.get("mfa_serial")),
            Some("arn:aws:iam::1:mfa/a")
        );
        assert_eq!(
            c.sso_session("x").and_then(|s| s.get("sso_region")),
            Some("us-east-1")
        );
        assert!(c.profile("x").is_none());
    }

    #[test]
    fn keys_and_headers_keep_their_lines() {
        let c = parse("# c\n[profile a]\n\nREGION = x # why\nrole_arn = y\n[profile b]\n");
        let a = c.profile("a").expect("a");
        assert_eq!(a.line(), 2);
        assert_eq!(
            a.entry("region"),
            Some(&Entry {
                value: "x".into(),
                line: 4
            })
        );
        assert_eq!(a.entry("role_arn").map(|e| e.line), Some(5));
        assert_eq!(c.profile("b").map(Section::line), Some(6));
    }

    #[test]
    fn repeated_sections_merge_and_later_keys_win() {
        let c = parse(
            "[profile a]\nregion = x\nmfa_serial = m\n[profile b]\n[profile a]\nregion = y\n",
        );
        let a = c.profile("a").expect("a");
        assert_eq!(a.line(), 1);
        assert_eq!(
            a.entry("region").map(|e| (e.value.as_str(), e.line)),
            Some(("y", 6))
        );
        assert_eq!(a.get("mfa_serial"), Some("m"));
        assert_eq!(c.profile_names().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn empty_values_are_absent() {
        let c = parse("[profile a]\nregion =\n");
        assert_eq!(c.profile("a").and_then(|a| a.get("region")), None);
    }

    #[test]
    fn values_may_hold_hash_and_semicolon() {
        let c = parse("[profile a]\nsso_start_url = https://d.awsapps.com/start#/;x ; comment\n");
        assert_eq!(
            c.profile("a").and_then(|a| a.get("sso_start_url")),
            Some("https://d.awsapps.com/start#/;x")
        );
    }

    #[test]
    fn nested_values_do_not_leak_keys() {
        let c = parse("[profile a]\ns3 =\n  region = nested\nregion = top\n");
        let a = c.profile("a").expect("a");
        assert_eq!(a.get("region"), Some("top"));
        assert_eq!(a.get("s3"), Some("region = nested"));
    }

    #[test]
    fn scan_and_rust_ini_agree_on_awkward_lines() {
        // `parse` debug-asserts that every key rust-ini returns has a line.
        let text = "k0 = before any section\n[profile a]\n  indented = 1\nk\\=x = 2\njoined = a\\\nstill = value\n\
                    nested =\n\n  sub = 3\n\t# comment\n  [not a header]\n\u{a0}after = 4\n[profile a]\nk\\=x = 5\n";
        let c = parse(text);
        let a = c.profile("a").expect("a");
        let lines: Vec<_> = a.keys().map(|k| (k, a.entry(k).map(|e| e.line))).collect();
        assert_eq!(
            lines,
            [
                ("after", Some(12)),
                ("indented", Some(3)),
                ("joined", Some(5)),
                ("k\\=x", Some(14)),
                ("nested", Some(7)),
            ]
        );
        assert_eq!(a.get("joined"), Some("astill = value"));
        assert_eq!(a.get("nested"), Some("sub = 3\n\n[not a header]"));
    }

    #[test]
    fn parse_errors_carry_the_line() {
        let Err(err) = AwsConfig::parse(Path::new("/c"), "[default]\nregion = x\n[broken") else {
            panic!("parsed");
        };
        assert!(err.to_string().starts_with("/c:3: "), "{err}");
        let Err(err) = AwsConfig::parse(Path::new("/c"), "[default]\n\nregion\n") else {
            panic!("parsed");
        };
        assert_eq!(
            err.to_string(),
            "/c:3: expected key = value, a [section] or a # comment"
        );
    }

    #[test]
    fn debug_never_shows_commands() {
        let c = parse("[profile a]\ncredential_process = fetch --token hunter2\nregion = x\n");
        let shown = format!("{:?}", c.profile("a").expect("a"));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("\"x\""), "{shown}");
    }

    #[test]
    fn load_reads_a_file_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config");
        assert_eq!(
            AwsConfig::load(&path)
                .expect("missing")
                .profile_names()
                .count(),
            0
        );
        std::fs::write(&path, "[profile a]\nregion = x\n").expect("write");
        let c = AwsConfig::load(&path).expect("loads");
        assert_eq!(c.path(), path);
        assert_eq!(c.profile("a").and_then(|a| a.get("region")), Some("x"));
    }
}
