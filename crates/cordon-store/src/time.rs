//! RFC 3339 timestamps without a date-time crate: UTC formatting with
//! milliseconds, and a parser for the forms agents and people write.

use std::time::{SystemTime, UNIX_EPOCH};

use cordon_core::calendar::{civil_from_days, days_from_civil, days_in_month};

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Unix milliseconds as `2025-01-02T03:04:05.678Z`.
pub fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        ms.rem_euclid(1000)
    )
}

/// Parse an RFC 3339 time (`T`, `t` or a space between date and time, an
/// optional fraction, `Z` or `±HH:MM`; no offset is read as UTC) or a bare
/// date (midnight UTC) into Unix nanoseconds.
pub fn parse_nanos(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let day_secs = days_from_civil(y, mo, d) * 86_400;
    if b.len() == 10 {
        return day_secs.checked_mul(1_000_000_000);
    }
    if b.len() < 19 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0i64;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        // Digits past nanoseconds are dropped, not rounded.
        for (i, c) in frac[..n].iter().enumerate().take(9) {
            nanos += i64::from(c - b'0') * 10i64.pow(8 - i as u32);
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), oh @ .., b':', om1, om2] if oh.len() == 2 => {
            let secs = digits(oh)? * 3600 + digits(&[*om1, *om2])? * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let secs = day_secs + h * 3600 + mi * 60 + sec - offset;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// [`parse_nanos`] in milliseconds.
pub fn parse_ms(s: &str) -> Option<i64> {
    parse_nanos(s).map(|n| n.div_euclid(1_000_000))
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |acc, c| acc * 10 + i64::from(c - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_709_210_096_789), "2024-02-29T12:34:56.789Z");
        assert_eq!(
            parse_ms("2024-02-29T12:34:56.789Z"),
            Some(1_709_210_096_789)
        );
        assert_eq!(format_ms(-1), "1969-12-31T23:59:59.999Z");
        for ms in [0, 951_782_400_000, 4_102_444_799_999, 1_735_689_600_123] {
            assert_eq!(parse_ms(&format_ms(ms)), Some(ms));
        }
    }

    #[test]
    fn reads_offsets_fractions_and_bare_dates() {
        let utc = parse_nanos("2025-03-01T10:00:00Z").unwrap();
        assert_eq!(parse_nanos("2025-03-01T12:30:00+02:30"), Some(utc));
        assert_eq!(parse_nanos("2025-03-01 05:00:00-05:00"), Some(utc));
        assert_eq!(parse_nanos("2025-03-01T10:00:00"), Some(utc));
        assert_eq!(parse_nanos("2025-03-01T10:00:00.000000001Z"), Some(utc + 1));
        assert_eq!(
            parse_nanos("2025-03-01T10:00:00.5z"),
            Some(utc + 500_000_000)
        );
        assert_eq!(
            parse_nanos("2025-03-01"),
            Some(utc - 10 * 3600 * 1_000_000_000)
        );
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for bad in [
            "",
            "yesterday",
            "2025-02-30",
            "2025-13-01",
            "2025-03-01T25:00:00Z",
            "2025-03-01T10:00:00.Z",
            "2025-03-01T10:00:00+0200",
            "2025-03-01T10:00Zjunk",
        ] {
            assert_eq!(parse_nanos(bad), None, "{bad}");
        }
    }
}
