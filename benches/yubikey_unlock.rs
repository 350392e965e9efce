//! Benchmark: opening a vault through a YubiKey (the PC/SC round trips:
//! SELECT, slot metadata, PIN, ECDH) against the passphrase (argon2id with
//! the default 64 MiB, t=3), each as a whole `avault list --credentials`.
//!
//! Runs against the virtual YubiKey in the private pcscd of
//! `scripts/pcsc-rig`: `scripts/pcsc-rig start && eval "$(scripts/pcsc-rig
//! env | sed 's/^/export /')" && cargo bench --features yubikey --bench
//! yubikey_unlock`. Prints the medians.

#[path = "../tests/support/vyubikey.rs"]
mod vyubikey;

use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 30;

fn avault(home: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Duration {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_avault"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AVAULT_FILE", home.join("vault.age"))
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AVAULT_TTY", "none")
        // Every run must pay the unlock it measures, not ask an agent.
        .env("AVAULT_AGENT", "off")
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .args(args);
    for (k, v) in vyubikey::rig_env() {
        cmd.env(k, v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output().expect("run avault");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    // `cargo test --benches` runs this once as a smoke test.
    let runs = if std::env::args().any(|a| a == "--bench") {
        RUNS
    } else {
        1
    };
    let home = tempfile::tempdir().expect("tempdir");
    let card = vyubikey::VirtualYubiKey::insert(
        vyubikey::vpcd_port(),
        vyubikey::Config::new().touch(vyubikey::Touch::Immediate),
    );
    let pass = ("AVAULT_PASSPHRASE", "bench passphrase");
    avault(
        home.path(),
        &[
            "init",
            "--passphrase",
            "--yubikey",
            "--generate",
            "--touch-policy",
            "never",
        ],
        &[pass],
    );
    let list = ["list", "--credentials"];
    let by_card: Vec<Duration> = (0..runs)
        .map(|_| {
            avault(
                home.path(),
                &list,
                &[("AVAULT_PIV_PIN", vyubikey::DEFAULT_PIN)],
            )
        })
        .collect();
    let by_passphrase: Vec<Duration> = (0..runs)
        .map(|_| avault(home.path(), &list, &[pass]))
        .collect();
    println!("{:<32} {:>10}", "unlock (whole avault list)", "median");
    println!(
        "{:<32} {:>8.1} ms",
        "YubiKey PIV (virtual card)",
        median(by_card).as_secs_f64() * 1e3
    );
    println!(
        "{:<32} {:>8.1} ms",
        "passphrase (argon2id 64 MiB t=3)",
        median(by_passphrase).as_secs_f64() * 1e3
    );
    println!(
        "card APDUs over {runs} card unlocks: {}",
        card.counters().apdus
    );
}
