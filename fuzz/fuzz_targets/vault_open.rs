//! Arbitrary bytes as a vault file, opened with a fixed X25519 identity and
//! the passphrase "fuzz"; the same bytes as payload JSON. Neither may panic.
#![no_main]

use avault::unlock::{parse_identity, Keys};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

/// The identity the seed vaults in corpus/vault_open were made for (a test
/// key, good for nothing else; its recipient is
/// age1ngdeax8ufqfvcxfe869fsqqqk8f5cxe0fhnf2ach9hlazv5sgg3s5dtqnd).
const IDENTITY: &str = "AGE-SECRET-KEY-19SSD5VZ3209JMRHS2M8U0HX0QSFYH0TNDMA2CHG4UKWXA7XQ0VKSKRFDMW";

/// Largest argon2id cost (KiB × passes) an input may ask for. The library
/// accepts up to 1 GiB × 16 passes from a file, which is a timeout or an
/// out-of-memory report, not a bug; the seeds use 1 MiB × 1.
const MAX_KDF_COST_KIB: u64 = 4 * 1024;

thread_local! {
    // Built once: `Keys` is not `Sync`, and its passphrase identity caches
    // the last derived key, so mutants of a seed do not rerun argon2id.
    static KEYS: Keys = Keys::new(
        parse_identity(IDENTITY).expect("the fixed identity parses"),
        Some(SecretString::from("fuzz")),
    );
}

/// Whether a passphrase stanza asks for more argon2id work than is worth
/// fuzzing (the args after the tag are salt, m KiB, t, p, nonce).
fn kdf_too_costly(data: &[u8]) -> bool {
    data.split(|&b| b == b'\n').any(|line| {
        let Some(rest) = line.strip_prefix(b"-> avault-argon2id ") else {
            return false;
        };
        let mut args = rest.split(|&b| b == b' ').skip(1);
        let mut num = || -> Option<u64> { std::str::from_utf8(args.next()?).ok()?.parse().ok() };
        match (num(), num()) {
            (Some(m), Some(t)) => m.saturating_mul(t) > MAX_KDF_COST_KIB,
            _ => false,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = avault::internal::decode_payload(data);
    if kdf_too_costly(data) {
        return;
    }
    KEYS.with(|keys| {
        let _ = avault::internal::open_bytes(data, keys);
    });
});
