//! Log line timestamps, `2026-12-01T21:05:34.642634Z`, exactly as `tracing_subscriber`'s
//! `SystemTime` timer writes them, for both log formats. The date part is formatted once per second
//! per thread: every forwarded call logs a line, and the default timer's digit-by-digit `write!`s
//! were a visible part of formatting it.

use std::cell::Cell;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{self, FormatTime};

use crate::calendar::{ascii, put_digits, UtcDateTime};

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
        let formatted = i64::try_from(secs)
            .ok()
            .and_then(|secs| UtcDateTime::from_epoch_secs(secs).extended());
        let Some(formatted) = formatted else {
            return time::SystemTime.format_time(out);
        };
        text = formatted;
        SECOND.set((secs, text));
    }
    let mut micros = *b".000000Z";
    put_digits(&mut micros[1..7], u64::from(since_epoch.subsec_micros()));
    out.write_str(ascii(&text))?;
    out.write_str(ascii(&micros))
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
