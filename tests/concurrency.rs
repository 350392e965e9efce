//! Parallel writers lose nothing, and a writer killed at any instant leaves
//! the old vault or the new one, never a mix.

mod support;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rand::Rng;
use support::{Sandbox, KEY_ID, SECRET};

fn stored(identity: &str, s: &Sandbox) -> BTreeSet<String> {
    let keys = avault::unlock::Keys::new(
        avault::unlock::parse_identity(identity).expect("identity"),
        None,
    );
    avault::vault::Vault::at(s.vault())
        .open(&keys)
        .expect("the vault opens")
        .profiles
        .into_keys()
        .collect()
}

#[test]
fn sixteen_parallel_adds_are_all_kept() {
    let s = Sandbox::new();
    let (identity, _) = s.init_identity();
    let children: Vec<_> = (0..16)
        .map(|i| {
            let mut cmd = s.cmd();
            cmd.args(["add", &format!("p{i:02}"), "--env"])
                .env("AVAULT_IDENTITY", &identity)
                .env("AWS_ACCESS_KEY_ID", KEY_ID)
                .env("AWS_SECRET_ACCESS_KEY", SECRET)
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            cmd.spawn().expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let want: BTreeSet<String> = (0..16).map(|i| format!("p{i:02}")).collect();
    assert_eq!(stored(&identity, &s), want);
    // Sixteen appends to the config, none lost or interleaved.
    let config = std::fs::read_to_string(s.config()).expect("config");
    for name in &want {
        assert_eq!(
            config.matches(&format!("[profile {name}]\n")).count(),
            1,
            "{config}"
        );
    }
}

/// How many kill trials: AVAULT_CRASH_TRIALS (the stress script raises it).
fn trials() -> usize {
    std::env::var("AVAULT_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

#[test]
fn a_writer_killed_at_any_instant_leaves_old_or_new() {
    let s = Sandbox::new();
    let (identity, _) = s.init_identity();
    for i in 0..20 {
        s.add(&format!("base{i}"), ("AVAULT_IDENTITY", &identity))
            .success();
    }
    let add = |name: &str| {
        let mut cmd = s.cmd();
        cmd.args(["add", name, "--env", "--add-config=false"])
            .env("AVAULT_IDENTITY", &identity)
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    // Calibrate: how long a whole add takes here, so kill times span it.
    let started = Instant::now();
    for i in 0..5 {
        assert!(add(&format!("warm{i}")).status().expect("run").success());
    }
    let span = started.elapsed() / 5;
    let mut rng = rand::thread_rng();
    let mut current = stored(&identity, &s);
    let (mut kept_old, mut got_new) = (0, 0);
    for trial in 0..trials() {
        let name = format!("t{trial}");
        let mut child = add(&name).spawn().expect("spawn");
        let delay = rng.gen_range(0..=span.as_micros() as u64 * 13 / 10);
        std::thread::sleep(Duration::from_micros(delay));
        let _ = child.kill();
        let _ = child.wait();
        let after = stored(&identity, &s);
        let mut with_new = current.clone();
        with_new.insert(name.clone());
        if after == current {
            kept_old += 1;
        } else if after == with_new {
            got_new += 1;
        } else {
            panic!("trial {trial}: neither old nor new: {after:?}");
        }
        current = after;
    }
    // Both outcomes happened, so the kills really landed inside writes.
    assert!(kept_old > 0 && got_new > 0, "old {kept_old}, new {got_new}");
    eprintln!(
        "{} trials: {kept_old} kept the old vault, {got_new} the new one",
        trials()
    );
}
