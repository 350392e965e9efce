//! Arbitrary UTF-8 as an AWS config file; every profile it names (and one
//! it does not) resolved with and without overrides. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        avault::internal::resolve_every_profile(text);
    }
});
