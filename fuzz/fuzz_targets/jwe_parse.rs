//! Arbitrary bytes as an item of aws-vault's file backend (a JWE): what
//! parses must serialize back to itself, and what asks for few PBES2
//! iterations is decrypted with the passphrase "fuzz". Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| avault::internal::fuzz_jwe_parse(data));
