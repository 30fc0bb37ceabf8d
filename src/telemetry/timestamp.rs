//! Log line timestamps, `2026-12-01T21:05:34.642634Z`, exactly as `tracing_subscriber`'s
//! `SystemTime` timer writes them, for both log formats. The date part is formatted once per second
//! per thread: every forwarded call logs a line, and the default timer's digit-by-digit `write!`s
//! were a visible part of formatting it.

use std::cell::Cell;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{self, FormatTime};

use crate::calendar::UtcDateTime;

thread_local! {
    /// The second last formatted on this thread and its `YYYY-MM-DDTHH:MM:SS`: lines of the same
    /// second share the date arithmetic and the digit formatting.
    static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// `2026-12-01T21:05:34.642634Z`, as `tracing_subscriber`'s `SystemTime` timer writes it (which it
/// falls back to outside years 0 to 9999, and before 1970).
pub(crate) fn write_timestamp(out: &mut Writer<'_>, now: SystemTime) -> fmt::Result {
    let Ok(since_epoch) = now.duration_since(UNIX_EPOCH) else {
        return time::SystemTime.format_time(out);
    };
    let secs = since_epoch.as_secs();
    let (cached, mut text) = SECOND.get();
    if cached != secs {
        let Some(formatted) = second_text(secs) else {
            return time::SystemTime.format_time(out);
        };
        text = formatted;
        SECOND.set((secs, text));
    }
    let mut micros = [0u8; 8];
    micros[0] = b'.';
    let mut rest = since_epoch.subsec_micros();
    for digit in micros[1..7].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    micros[7] = b'Z';
    // Only ASCII digits and separators were written.
    out.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)?;
    out.write_str(std::str::from_utf8(&micros).map_err(|_| fmt::Error)?)
}

/// `YYYY-MM-DDTHH:MM:SS` of `secs` since the epoch; `None` past year 9999.
fn second_text(secs: u64) -> Option<[u8; 19]> {
    let t = UtcDateTime::from_epoch_secs(i64::try_from(secs).ok()?);
    if !(0..=9999).contains(&t.year) {
        return None;
    }
    let mut text = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut value: i64| {
        for i in (at..at + width).rev() {
            text[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, t.year);
    put(5, 2, t.month);
    put(8, 2, t.day);
    put(11, 2, t.hour);
    put(14, 2, t.minute);
    put(17, 2, t.second);
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_the_default_timer() {
        let format = |now: SystemTime| {
            let mut text = String::new();
            write_timestamp(&mut Writer::new(&mut text), now).unwrap();
            text
        };
        let at = |secs: u64, micros: u64| {
            UNIX_EPOCH + std::time::Duration::from_micros(secs * 1_000_000 + micros)
        };
        for (now, want) in [
            (at(0, 0), "1970-01-01T00:00:00.000000Z"),
            (at(951_782_400, 7), "2000-02-29T00:00:00.000007Z"),
            (at(1_767_225_599, 999_999), "2025-12-31T23:59:59.999999Z"),
            (at(1_796_159_134, 642_634), "2026-12-01T21:05:34.642634Z"),
            // The same second again, from the cache.
            (at(1_796_159_134, 5), "2026-12-01T21:05:34.000005Z"),
            (at(253_402_300_799, 1), "9999-12-31T23:59:59.000001Z"),
        ] {
            assert_eq!(format(now), want);
        }
        // Outside what the cache formats: the default timer's own text for the current time.
        let far = format(at(253_402_300_800, 0));
        assert!(far.ends_with('Z') && far.len() == 27, "{far}");
    }
}
