//! MFA: where one-time codes come from. For now, the stored TOTP seeds.

mod seed;

pub use seed::{SeedError, TotpSeed};
