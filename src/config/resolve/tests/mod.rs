//! Resolution rules, each pinned by config text in memory: how layers
//! merge and chains form (`merge`), and how values are checked and typed
//! (`values`).

mod merge;
mod values;

use std::path::Path;
use std::time::Duration;

use super::*;

const ARN: &str = "arn:aws:iam::123456789012:role/r";

fn config(text: &str) -> AwsConfig {
    AwsConfig::parse(Path::new("/cfg"), text).expect("parses")
}

fn env(vars: &[(&str, &str)]) -> EnvOverrides {
    EnvOverrides::from_vars(vars.iter().copied()).expect("env")
}

fn resolve(text: &str, name: &str) -> Result<ProfileChain, ConfigError> {
    let c = config(text);
    Resolver::new(&c, &EnvOverrides::default()).resolve(name)
}

fn resolve_env(text: &str, name: &str, vars: &[(&str, &str)]) -> ProfileChain {
    let c = config(text);
    let e = env(vars);
    Resolver::new(&c, &e).resolve(name).expect("resolves")
}

fn target(text: &str, name: &str) -> Profile {
    resolve(text, name).expect("resolves").target().clone()
}

fn error(text: &str, name: &str) -> String {
    match resolve(text, name) {
        Ok(chain) => panic!("resolved: {chain:?}"),
        Err(e) => e.to_string(),
    }
}

fn names(chain: &ProfileChain) -> Vec<&str> {
    chain.profiles().iter().map(|p| p.name.as_str()).collect()
}
