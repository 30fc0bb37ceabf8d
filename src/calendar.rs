//! Proleptic Gregorian dates <-> days since 1970-01-01 (Howard Hinnant's civil-calendar
//! algorithms), for the few places that read or write UTC dates without a date-time crate: SigV4
//! timestamps, policy date conditions, quota windows.
//!
//! Pure integer arithmetic, exact for every date (no I/O, no allocation), so the policy engine can
//! use it too.

/// Days since 1970-01-01 of `year-month-day` (`month` 1..=12; negative before 1970).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The `(year, month, day)` (month 1..=12) that is `days` days after 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A UTC instant's calendar fields, for formatting timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UtcDateTime {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
}

impl UtcDateTime {
    /// The instant `secs` seconds after 1970-01-01T00:00:00Z (leap seconds aside, as Unix time).
    pub fn from_epoch_secs(secs: i64) -> Self {
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let rem = secs.rem_euclid(86_400);
        Self {
            year,
            month,
            day,
            hour: rem / 3_600,
            minute: rem % 3_600 / 60,
            second: rem % 60,
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS` (ISO 8601 extended, without a zone); `None` outside years 0 to 9999.
    pub fn extended(&self) -> Option<[u8; 19]> {
        let mut text = *b"0000-00-00T00:00:00";
        self.put(&mut text, [0, 5, 8, 11, 14, 17])?;
        Some(text)
    }

    /// `YYYYMMDDTHHMMSSZ` (ISO 8601 basic, as SigV4 writes it); `None` outside years 0 to 9999.
    pub fn basic(&self) -> Option<[u8; 16]> {
        let mut text = *b"00000000T000000Z";
        self.put(&mut text, [0, 4, 6, 9, 11, 13])?;
        Some(text)
    }

    /// Writes year (4 digits), month, day, hour, minute, second (2 each) at those offsets.
    fn put(&self, text: &mut [u8], at: [usize; 6]) -> Option<()> {
        if !(0..=9999).contains(&self.year) {
            return None;
        }
        let fields = [
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
        ];
        for (i, (at, value)) in at.into_iter().zip(fields).enumerate() {
            let width = if i == 0 { 4 } else { 2 };
            put_digits(&mut text[at..at + width], value.unsigned_abs());
        }
        Some(())
    }
}

/// Writes `value`'s last `slot.len()` decimal digits into `slot`, zero-padded on the left.
pub(crate) fn put_digits(slot: &mut [u8], mut value: u64) {
    for digit in slot.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The text of [`UtcDateTime::extended`] or [`UtcDateTime::basic`] (ASCII digits and separators).
pub(crate) fn ascii(text: &[u8]) -> &str {
    std::str::from_utf8(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_and_basic_text() {
        for (secs, extended, basic) in [
            (0, "1970-01-01T00:00:00", "19700101T000000Z"),
            (951_782_400, "2000-02-29T00:00:00", "20000229T000000Z"),
            (1_767_225_599, "2025-12-31T23:59:59", "20251231T235959Z"),
            (253_402_300_799, "9999-12-31T23:59:59", "99991231T235959Z"),
        ] {
            let t = UtcDateTime::from_epoch_secs(secs);
            assert_eq!(ascii(&t.extended().unwrap()), extended);
            assert_eq!(ascii(&t.basic().unwrap()), basic);
        }
        assert_eq!(
            UtcDateTime::from_epoch_secs(253_402_300_800).extended(),
            None
        );
        assert_eq!(
            UtcDateTime::from_epoch_secs(-1)
                .basic()
                .map(|t| ascii(&t).to_owned()),
            Some("19691231T235959Z".to_owned())
        );
        assert_eq!(UtcDateTime::from_epoch_secs(-100_000_000_000).basic(), None);
    }

    #[test]
    fn known_dates() {
        let cases = [
            ((1970, 1, 1), 0),
            ((1969, 12, 31), -1),
            ((2000, 2, 29), 11_016),
            ((2000, 3, 1), 11_017),
            ((2024, 12, 31), 20_088),
            ((2028, 2, 29), 21_243),
            ((1900, 3, 1), -25_508),
        ];
        for ((y, m, d), days) in cases {
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
            assert_eq!(civil_from_days(days), (y, m, d), "{days}");
        }
    }

    #[test]
    fn epoch_seconds_split_into_utc_fields() {
        let t = UtcDateTime::from_epoch_secs(1_796_139_045);
        assert_eq!((t.year, t.month, t.day), (2026, 12, 1));
        assert_eq!((t.hour, t.minute, t.second), (15, 30, 45));
        let before = UtcDateTime::from_epoch_secs(-1);
        assert_eq!((before.year, before.month, before.day), (1969, 12, 31));
        assert_eq!((before.hour, before.minute, before.second), (23, 59, 59));
    }

    #[test]
    fn round_trips_and_advances_one_day_at_a_time() {
        let mut previous = civil_from_days(-800_000);
        for days in -800_000..800_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
            assert!(
                (1..=12).contains(&m) && (1..=31).contains(&d),
                "{y}-{m}-{d}"
            );
            if days > -800_000 {
                assert!((y, m, d) > previous, "{days}");
            }
            previous = (y, m, d);
        }
    }
}
