//! Session tags for AssumeRole: `session_tags` / `AWS_SESSION_TAGS`
//! (`key=value,key=value`) and `transitive_session_tags` /
//! `AWS_TRANSITIVE_TAGS` (`key,key`), read as aws-vault reads them
//! (`ProfileConfig.SetSessionTags`, `SetTransitiveSessionTags` in
//! vault/config.go).
//!
//! What must stay true: keys and values are trimmed; a later duplicate key
//! wins; transitive keys skip empty items.

use std::collections::BTreeMap;

/// Parses `key=value,key=value`. aws-vault refuses an item without `=`; we
/// also refuse an empty key, which STS would refuse later.
pub(super) fn parse_session_tags(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut tags = BTreeMap::new();
    for (index, item) in text.split(',').enumerate() {
        let Some((key, value)) = item.split_once('=') else {
            return Err(format!(
                "item {} has no '=': session tags are key=value,key=value",
                index + 1
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("item {} has an empty key", index + 1));
        }
        tags.insert(key.to_owned(), value.trim().to_owned());
    }
    Ok(tags)
}

/// Parses `key,key`, skipping empty items.
pub(super) fn parse_transitive_tags(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tags_are_trimmed_pairs() {
        let tags = parse_session_tags(" team = core ,env=prod,empty=,eq=a=b").expect("parses");
        let pairs: Vec<_> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("empty", ""),
                ("env", "prod"),
                ("eq", "a=b"),
                ("team", "core")
            ]
        );
        assert_eq!(
            parse_session_tags("a=1,a=2")
                .expect("parses")
                .get("a")
                .map(String::as_str),
            Some("2")
        );
    }

    #[test]
    fn session_tags_refuse_items_without_a_pair() {
        assert_eq!(
            parse_session_tags("a=1,b"),
            Err("item 2 has no '=': session tags are key=value,key=value".into())
        );
        assert!(parse_session_tags("a=1,").is_err());
        assert_eq!(
            parse_session_tags(" =x"),
            Err("item 1 has an empty key".into())
        );
    }

    #[test]
    fn transitive_tags_skip_empty_items() {
        assert_eq!(parse_transitive_tags(" team, ,env,"), ["team", "env"]);
    }
}
