//! The settings of one profile while its layers are merged, each with where
//! it came from.
//!
//! What must stay true: `fill` never replaces a setting (the first layer to
//! set a key wins, as aws-vault's `if config.X == "" { config.X = … }`);
//! empty values never count as set.

use std::collections::BTreeMap;

use crate::config::error::Location;
use crate::config::file::{AwsConfig, Entry};

/// Where a setting came from, before it is turned into a [`Location`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    /// A line of the config file.
    File(usize),
    /// An environment variable.
    Env(&'static str),
    /// A flag.
    Flag(&'static str),
}

impl Origin {
    pub(super) fn locate(self, config: &AwsConfig) -> Location {
        match self {
            Origin::File(line) => config.at(line),
            Origin::Env(var) => Location::Env(var),
            Origin::Flag(flag) => Location::Flag(flag),
        }
    }
}

/// A merged value.
#[derive(Clone, Debug)]
pub(super) struct Setting {
    pub(super) value: String,
    pub(super) origin: Origin,
}

/// A profile's settings by key.
#[derive(Debug, Default)]
pub(super) struct Layers {
    settings: BTreeMap<&'static str, Setting>,
}

impl Layers {
    /// Sets `key` unless a higher layer did.
    pub(super) fn fill(&mut self, key: &'static str, value: Option<&str>, origin: Origin) {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.settings.entry(key).or_insert_with(|| Setting {
                value: value.to_owned(),
                origin,
            });
        }
    }

    /// Sets `key` from a config entry unless a higher layer did.
    pub(super) fn fill_entry(&mut self, key: &'static str, entry: Option<&Entry>) {
        if let Some(entry) = entry {
            self.fill(key, Some(&entry.value), Origin::File(entry.line));
        }
    }

    /// Sets `key` from a config entry over any higher layer; no entry
    /// clears it (aws-vault's `[sso-session]` values overwrite).
    pub(super) fn overwrite_entry(&mut self, key: &'static str, entry: Option<&Entry>) {
        self.settings.remove(key);
        self.fill_entry(key, entry);
    }

    pub(super) fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.get(key)
    }

    pub(super) fn text(&self, key: &str) -> Option<String> {
        self.get(key).map(|s| s.value.clone())
    }

    pub(super) fn remove(&mut self, key: &str) {
        self.settings.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_layer_wins_and_empty_is_unset() {
        let mut l = Layers::default();
        l.fill("region", Some(""), Origin::Flag("--region"));
        l.fill("region", Some("a"), Origin::Env("AWS_REGION"));
        l.fill("region", Some("b"), Origin::File(3));
        let s = l.get("region").expect("set");
        assert_eq!(
            (s.value.as_str(), s.origin),
            ("a", Origin::Env("AWS_REGION"))
        );
    }

    #[test]
    fn overwrite_replaces_or_clears() {
        let mut l = Layers::default();
        l.fill("sso_region", Some("a"), Origin::File(1));
        let entry = Entry {
            value: "b".into(),
            line: 9,
        };
        l.overwrite_entry("sso_region", Some(&entry));
        assert_eq!(l.text("sso_region").as_deref(), Some("b"));
        l.overwrite_entry("sso_region", None);
        assert!(l.get("sso_region").is_none());
    }
}
