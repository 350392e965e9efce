//! MFA: where one-time codes come from (flag, mfa_process, stored TOTP
//! seeds, terminal or ykman).

mod seed;
mod token;

pub use seed::{SeedError, TotpSeed};
pub use token::{code_for, yubikey_code, MfaError, PromptDriver, TokenSources};
