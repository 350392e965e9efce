//! Arbitrary text as an otpauth URI and as a base32 TOTP secret.
//!
//! A URI that parses must re-parse from the stored form to the same URI, and
//! a seed built from base32 must give 6-digit codes.
#![no_main]

use avault::mfa::TotpSeed;
use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret;

const SERIAL: &str = "arn:aws:iam::123456789012:mfa/x";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(seed) = TotpSeed::from_uri(text) {
        let uri = seed.uri().expose_secret();
        let again = TotpSeed::from_uri(uri).expect("a stored URI parses again");
        assert_eq!(again.uri().expose_secret(), uri, "the URI round-trips");
    }
    if let Ok(seed) = TotpSeed::from_base32(text, SERIAL) {
        let code = seed.code_at(0).expect("a base32 seed gives codes");
        assert!(
            code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
            "a base32 seed gives 6-digit codes"
        );
    }
});
