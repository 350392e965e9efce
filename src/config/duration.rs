//! Go's duration syntax (`time.ParseDuration`), which aws-vault users write
//! in `AWS_*_TTL` variables and `--duration`: `12h`, `15m`, `1h30m`, `1.5h`,
//! `300ms`, `0`.
//!
//! What must stay true: every input Go accepts with a non-negative result
//! parses to the same value here (up to Go's own float rounding of
//! fractions); a sign of `-` is refused, since no TTL can be negative; and no
//! input panics or overflows.

use std::fmt;
use std::time::Duration;

/// Why a duration did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Nothing to parse.
    #[error("empty duration")]
    Empty,
    /// A leading `-`.
    #[error("negative durations are not allowed")]
    Negative,
    /// A number with no unit after it (only `0` may go without).
    #[error("missing unit after {0:?} (units: h, m, s, ms, us, ns)")]
    MissingUnit(String),
    /// A unit that is none of Go's.
    #[error("unknown unit {0:?} (units: h, m, s, ms, us, ns)")]
    UnknownUnit(String),
    /// Something other than a number where one must be.
    #[error("expected a number at {0:?}")]
    ExpectedNumber(String),
    /// More than Go allows (about 292 years).
    #[error("too large")]
    Overflow,
}

/// Go's limit: durations are an i64 count of nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Digits of a fraction beyond this are ignored (they cannot change the
/// result by a nanosecond at any unit up to hours).
const MAX_FRACTION_DIGITS: u32 = 18;

/// Parses Go duration syntax: a sequence of decimal numbers, each with an
/// optional fraction and a unit (`h`, `m`, `s`, `ms`, `us`/`µs`, `ns`), with
/// an optional leading `+`. Surrounding whitespace is ignored.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let mut rest = match text.as_bytes().first() {
        None => return Err(DurationError::Empty),
        Some(b'-') => return Err(DurationError::Negative),
        Some(b'+') => &text[1..],
        Some(_) => text,
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(DurationError::ExpectedNumber(String::new()));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (whole, after_whole) = split_digits(rest);
        let (fraction, after_fraction) = match after_whole.strip_prefix('.') {
            Some(f) => split_digits(f),
            None => ("", after_whole),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(DurationError::ExpectedNumber(rest.to_owned()));
        }
        let unit_len = after_fraction
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after_fraction.len());
        let (unit, next) = after_fraction.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(text.to_owned()));
        }
        let nanos_per_unit =
            unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit(unit.into()))?;
        total = total
            .checked_add(component(whole, fraction, nanos_per_unit)?)
            .filter(|t| *t <= MAX_NANOS)
            .ok_or(DurationError::Overflow)?;
        rest = next;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| DurationError::Overflow)?;
    // The remainder is below 10^9 and fits.
    let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| DurationError::Overflow)?;
    Ok(Duration::new(secs, nanos))
}

/// The leading ASCII digits of `s`, and the rest.
fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// Nanoseconds in one of Go's units.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        // Go accepts U+00B5 (micro sign) and U+03BC (Greek mu).
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

/// `whole.fraction` units in nanoseconds, truncated as Go truncates.
fn component(whole: &str, fraction: &str, nanos_per_unit: u128) -> Result<u128, DurationError> {
    let mut value: u128 = 0;
    for d in whole.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(d - b'0')))
            .filter(|v| *v <= MAX_NANOS)
            .ok_or(DurationError::Overflow)?;
    }
    let mut nanos = value
        .checked_mul(nanos_per_unit)
        .filter(|v| *v <= MAX_NANOS)
        .ok_or(DurationError::Overflow)?;
    let mut numerator: u128 = 0;
    let mut scale: u128 = 1;
    for d in fraction.bytes().take(MAX_FRACTION_DIGITS as usize) {
        numerator = numerator * 10 + u128::from(d - b'0');
        scale *= 10;
    }
    // numerator < 10^18 and nanos_per_unit <= 3.6 * 10^12: no overflow.
    nanos += numerator * nanos_per_unit / scale;
    Ok(nanos)
}

/// A duration written the short way users write them: `12h`, `1h30m`,
/// `15m`, `90s` as `1m30s`, `300ms`, `0s`.
pub fn format_duration(d: Duration) -> String {
    struct Short(Duration);
    impl fmt::Display for Short {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let secs = self.0.as_secs();
            let millis = self.0.subsec_millis();
            let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
            if secs == 0 {
                return match (millis, self.0.subsec_nanos()) {
                    (0, 0) => f.write_str("0s"),
                    (0, n) => write!(f, "{n}ns"),
                    (ms, _) => write!(f, "{ms}ms"),
                };
            }
            if h > 0 {
                write!(f, "{h}h")?;
            }
            if m > 0 {
                write!(f, "{m}m")?;
            }
            match (s, millis) {
                (0, 0) => Ok(()),
                (s, 0) => write!(f, "{s}s"),
                (s, ms) => write!(f, "{s}.{ms:03}s"),
            }
        }
    }
    Short(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn accepts_what_aws_vault_users_write() {
        assert_eq!(parse_duration("12h"), Ok(secs(12 * 3600)));
        assert_eq!(parse_duration("15m"), Ok(secs(15 * 60)));
        assert_eq!(parse_duration("1h30m"), Ok(secs(5400)));
        assert_eq!(parse_duration("90s"), Ok(secs(90)));
        assert_eq!(parse_duration("1.5h"), Ok(secs(5400)));
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("+5m"), Ok(secs(300)));
        assert_eq!(parse_duration(" 8h\n"), Ok(secs(8 * 3600)));
    }

    #[test]
    fn go_corner_cases() {
        assert_eq!(parse_duration(".5h"), Ok(secs(1800)));
        assert_eq!(parse_duration("1.h"), Ok(secs(3600)));
        assert_eq!(parse_duration("2h0m0s"), Ok(secs(7200)));
        assert_eq!(parse_duration("1µs"), Ok(Duration::from_micros(1)));
        assert_eq!(parse_duration("1μs"), Ok(Duration::from_micros(1)));
        assert_eq!(parse_duration("1us1ns"), Ok(Duration::from_nanos(1001)));
        assert_eq!(parse_duration("0.0000000001s"), Ok(Duration::ZERO));
        assert_eq!(
            parse_duration("1.0000000009s"),
            Ok(Duration::from_nanos(1_000_000_000))
        );
        assert_eq!(
            parse_duration("2562047h47m16.854775807s"),
            Ok(Duration::from_nanos(i64::MAX as u64))
        );
    }

    #[test]
    fn refuses_with_a_reason() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("  "), Err(DurationError::Empty));
        assert_eq!(parse_duration("-1h"), Err(DurationError::Negative));
        assert_eq!(parse_duration("-0"), Err(DurationError::Negative));
        assert_eq!(
            parse_duration("12"),
            Err(DurationError::MissingUnit("12".into()))
        );
        assert_eq!(
            parse_duration("1h30"),
            Err(DurationError::MissingUnit("1h30".into()))
        );
        assert_eq!(
            parse_duration("3d"),
            Err(DurationError::UnknownUnit("d".into()))
        );
        assert_eq!(
            parse_duration("1H"),
            Err(DurationError::UnknownUnit("H".into()))
        );
        assert_eq!(
            parse_duration("1h 30m"),
            Err(DurationError::UnknownUnit("h ".into()))
        );
        assert_eq!(
            parse_duration("h"),
            Err(DurationError::ExpectedNumber("h".into()))
        );
        assert_eq!(
            parse_duration("+"),
            Err(DurationError::ExpectedNumber(String::new()))
        );
        assert_eq!(
            parse_duration(".h"),
            Err(DurationError::ExpectedNumber(".h".into()))
        );
        assert_eq!(parse_duration("2562048h"), Err(DurationError::Overflow));
        assert_eq!(
            parse_duration("99999999999999999999999999999999999h"),
            Err(DurationError::Overflow)
        );
        let message = parse_duration("12").err().map(|e| e.to_string());
        assert_eq!(
            message.as_deref(),
            Some("missing unit after \"12\" (units: h, m, s, ms, us, ns)")
        );
    }

    #[test]
    fn formats_the_short_way() {
        assert_eq!(format_duration(secs(12 * 3600)), "12h");
        assert_eq!(format_duration(secs(5400)), "1h30m");
        assert_eq!(format_duration(secs(90)), "1m30s");
        assert_eq!(format_duration(secs(3601)), "1h1s");
        assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.500s");
        assert_eq!(format_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn format_parses_back() {
        for s in [0, 1, 59, 60, 61, 3599, 3600, 5400, 43_200, 129_600] {
            let d = secs(s);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{s}s");
        }
    }
}
