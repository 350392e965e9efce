//! Benchmarks of what a user waits for: the passphrase KDF, opening the
//! vault, listing it, and adding a profile (a full locked, fsync'd write).
//!
//! `cargo bench --bench vault` measures; `cargo bench --bench vault -- --test`
//! runs each once (CI).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use avault::unlock::{self, KdfParams, Kek, Keys};
use avault::vault::{Payload, StoredProfile, UnlockerRecord, Vault};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode};
use secrecy::SecretString;

/// Vault sizes for `open`.
const SIZES: [usize; 3] = [1, 100, 1000];
/// The vault size for `open_and_list` and `add`.
const LARGE: usize = 1000;

/// A profile shaped like a real one: an MFA device, and a TOTP seed on every
/// other profile.
fn profile(i: usize) -> StoredProfile {
    let serial = format!("arn:aws:iam::123456789012:mfa/user-{i}");
    let mut totp = BTreeMap::new();
    if i.is_multiple_of(2) {
        totp.insert(
            serial.clone(),
            SecretString::from(format!(
                "otpauth://totp/avault:user-{i}?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
                 &issuer=avault&algorithm=SHA1&digits=6&period=30"
            )),
        );
    }
    StoredProfile {
        access_key_id: format!("AKIA{i:016}"),
        secret_access_key: SecretString::from(format!("{i:08}/K7MDENG/bPxRfiCYEXAMPLEKEY1234")),
        mfa_serial: Some(serial),
        totp,
        created: "2026-01-01T00:00:00Z".into(),
        rotated: None,
    }
}

/// X25519 keys and a vault at `path` sealed to them holding `n` profiles.
fn x25519_vault(path: &Path, n: usize) -> (Vault, Keys) {
    let (secret, recipient) = unlock::generate_identity();
    let keys = Keys::new(
        unlock::parse_identity(&secret).expect("generated identity parses"),
        None,
    );
    let vault = Vault::at(path);
    let record = UnlockerRecord::x25519(&recipient).expect("generated recipient parses");
    vault
        .create(&Payload::new(vec![record]))
        .expect("create vault");
    vault
        .update(&keys, |p| {
            for i in 0..n {
                p.profiles.insert(format!("profile-{i:05}"), profile(i));
            }
            Ok(())
        })
        .expect("fill vault");
    (vault, keys)
}

fn unlock_kdf(c: &mut Criterion) {
    let mut group = c.benchmark_group("unlock");
    // One derivation takes a large fraction of a second: a flat sampling of
    // 10 samples keeps the run short.
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    let passphrase = SecretString::from("correct horse battery staple");
    let salt = unlock::passphrase::new_salt();
    group.bench_function("argon2id_default", |b| {
        b.iter(|| {
            Kek::derive(&passphrase, black_box(&salt), KdfParams::default()).expect("derive")
        });
    });
    group.finish();
}

fn open(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("open");
    group.measurement_time(Duration::from_secs(8));
    for n in SIZES {
        let (vault, keys) = x25519_vault(&dir.path().join(format!("open-{n}.age")), n);
        group.bench_with_input(BenchmarkId::new("x25519", n), &n, |b, _| {
            b.iter(|| vault.open(&keys).expect("open"));
        });
    }
    group.finish();
}

fn open_and_list(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (vault, keys) = x25519_vault(&dir.path().join("list.age"), LARGE);
    let mut group = c.benchmark_group("open_and_list");
    group.measurement_time(Duration::from_secs(8));
    // What `avault list --credentials` does once it has the keys.
    group.bench_with_input(BenchmarkId::new("x25519", LARGE), &LARGE, |b, _| {
        b.iter(|| {
            let names: Vec<String> = vault
                .open(&keys)
                .expect("open")
                .profiles
                .into_keys()
                .collect();
            names
        });
    });
    group.finish();
}

fn add(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (vault, keys) = x25519_vault(&dir.path().join("add.age"), LARGE);
    let original = std::fs::read(vault.path()).expect("read vault");
    let mut group = c.benchmark_group("add");
    // Every iteration also rewrites the file in an untimed setup: fewer
    // samples keep the run near 10 s.
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(10));
    // Each iteration adds one profile to the same 1000-profile vault: the
    // setup (not timed) puts the original file back.
    group.bench_with_input(BenchmarkId::new("x25519", LARGE), &LARGE, |b, _| {
        b.iter_batched(
            || std::fs::write(vault.path(), &original).expect("reset vault"),
            |()| {
                vault
                    .update(&keys, |p| {
                        p.profiles.insert("profile-new".into(), profile(LARGE));
                        Ok(())
                    })
                    .expect("add profile");
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, unlock_kdf, open, open_and_list, add);
criterion_main!(benches);
