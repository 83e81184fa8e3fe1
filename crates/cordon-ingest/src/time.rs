//! Timestamps as log formats write them, parsed without allocation into Unix microseconds.

use cordon_core::calendar::{civil_from_days, days_from_civil, days_in_month};

/// Decimal digits to a number; `None` for an empty slice or a non-digit.
pub(crate) fn num(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    Some(n)
}

/// Seconds since the epoch with an optional fraction (`1709287200.123456`), as Zeek, conntrack and
/// journald write them; exact (no float).
pub(crate) fn epoch_secs_us(b: &[u8]) -> Option<i64> {
    let (int, frac) = match memchr::memchr(b'.', b) {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &b[b.len()..]),
    };
    let secs = num(int)?;
    if secs > 1 << 40 {
        return None;
    }
    let mut us = 0u64;
    for i in 0..6 {
        let d = match frac.get(i) {
            Some(c) if c.is_ascii_digit() => u64::from(c - b'0'),
            Some(_) => return None,
            None => 0,
        };
        us = us * 10 + d;
    }
    if frac.len() > 6 && !frac[6..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(secs as i64 * 1_000_000 + us as i64)
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH:MM|±HHMM]` (no offset: UTC) to Unix microseconds. Returns the
/// time and how many bytes it took.
pub(crate) fn rfc3339_us(b: &[u8]) -> Option<(i64, usize)> {
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (
        num(&b[0..4])? as i64,
        num(&b[5..7])? as i64,
        num(&b[8..10])? as i64,
    );
    let (h, mi, s) = (
        num(&b[11..13])? as i64,
        num(&b[14..16])? as i64,
        num(&b[17..19])? as i64,
    );
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut us = 0i64;
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                us = us * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..6 {
            us *= 10;
        }
    }
    let mut offset = 0i64;
    match b.get(i) {
        Some(b'Z' | b'z') => i += 1,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = &b[i + 1..];
            let (oh, om, used) = if rest.len() >= 5 && rest[2] == b':' {
                (num(&rest[0..2])?, num(&rest[3..5])?, 6)
            } else if rest.len() >= 4 && rest[..4].iter().all(u8::is_ascii_digit) {
                (num(&rest[0..2])?, num(&rest[2..4])?, 5)
            } else {
                return None;
            };
            if oh > 23 || om > 59 {
                return None;
            }
            offset = (oh * 3600 + om * 60) as i64;
            if sign == b'-' {
                offset = -offset;
            }
            i += used;
        }
        _ => {}
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset;
    Some((secs * 1_000_000 + us, i))
}

/// A BSD syslog time `Mar  1 10:00:00` (15 bytes, no year). The year is the one that puts the
/// time closest before `reference_us` (plus a day of slack for clocks running ahead).
pub(crate) fn bsd_syslog_us(b: &[u8], reference_us: i64) -> Option<i64> {
    if b.len() < 15 || b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return None;
    }
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let mo = MONTHS.iter().position(|m| m[..] == b[0..3])? as i64 + 1;
    let day = if b[4] == b' ' {
        num(&b[5..6])?
    } else {
        num(&b[4..6])?
    } as i64;
    let (h, mi, s) = (
        num(&b[7..9])? as i64,
        num(&b[10..12])? as i64,
        num(&b[13..15])? as i64,
    );
    if h > 23 || mi > 59 || s > 60 || day < 1 {
        return None;
    }
    let ref_year = civil_year(reference_us.div_euclid(1_000_000 * 86_400));
    for y in [ref_year, ref_year - 1] {
        if day > days_in_month(y, mo) {
            continue;
        }
        let t = (days_from_civil(y, mo, day) * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000;
        if t <= reference_us + 86_400 * 1_000_000 {
            return Some(t);
        }
    }
    None
}

fn civil_year(z: i64) -> i64 {
    civil_from_days(z).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_are_exact() {
        assert_eq!(
            epoch_secs_us(b"1709287200.123456"),
            Some(1_709_287_200_123_456)
        );
        assert_eq!(epoch_secs_us(b"1709287200.1"), Some(1_709_287_200_100_000));
        assert_eq!(epoch_secs_us(b"1709287200"), Some(1_709_287_200_000_000));
        assert_eq!(
            epoch_secs_us(b"1709287200.123456789"),
            Some(1_709_287_200_123_456)
        );
        for bad in [
            &b""[..],
            b"-",
            b"12a",
            b"1.2.3",
            b"99999999999999999999",
            b".5",
        ] {
            assert_eq!(
                epoch_secs_us(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn rfc3339_with_every_offset_form() {
        let utc = 1_709_287_200_123_456;
        assert_eq!(rfc3339_us(b"2024-03-01T10:00:00.123456Z"), Some((utc, 27)));
        assert_eq!(
            rfc3339_us(b"2024-03-01T11:00:00.123456+0100").map(|t| t.0),
            Some(utc)
        );
        assert_eq!(
            rfc3339_us(b"2024-03-01T11:00:00.123456+01:00 host").map(|t| t.0),
            Some(utc)
        );
        assert_eq!(
            rfc3339_us(b"2024-03-01 10:00:00.123456").map(|t| t.0),
            Some(utc)
        );
        assert_eq!(
            rfc3339_us(b"2024-03-01T10:00:00Z").map(|t| t.0),
            Some(utc - 123_456)
        );
        for bad in [
            &b"2024-02-30T10:00:00Z"[..],
            b"2024-03-01T10:00:00.Z",
            b"2024-03-01T25:00:00Z",
            b"2024-03-01T10:00:00+1",
        ] {
            assert_eq!(rfc3339_us(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn bsd_syslog_year_comes_from_the_reference() {
        let reference = rfc3339_us(b"2024-03-05T00:00:00Z").unwrap().0;
        assert_eq!(
            bsd_syslog_us(b"Mar  1 10:00:00", reference),
            rfc3339_us(b"2024-03-01T10:00:00Z").map(|t| t.0)
        );
        // December logs read in March are last year's.
        assert_eq!(
            bsd_syslog_us(b"Dec 31 23:59:59", reference),
            rfc3339_us(b"2023-12-31T23:59:59Z").map(|t| t.0)
        );
        assert_eq!(bsd_syslog_us(b"Foo  1 10:00:00", reference), None);
        assert_eq!(bsd_syslog_us(b"Mar 1  10:00:00", reference), None);
    }
}
