//! Time for quota windows, injected so tests move it by hand instead of sleeping, and the UTC
//! calendar arithmetic (days, months) the day and month budgets are aligned to.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::calendar::{civil_from_days, days_from_civil, UtcDateTime};

const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;

/// Milliseconds since the Unix epoch, UTC.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now_ms(&self) -> u64;
}

/// The system's wall clock. Replicas sharing Redis must agree on it (NTP): windows are named by time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to (tests, benchmarks).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn at(ms: u64) -> Self {
        Self(AtomicU64::new(ms))
    }

    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    pub fn advance(&self, by: std::time::Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Where `now` falls in each kind of window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub now_ms: u64,
    /// Minutes since the epoch (the current fixed minute of the sliding window).
    pub minute: u64,
    /// Days since the epoch (UTC calendar day).
    pub day: u64,
    /// `year * 12 + month - 1` (UTC calendar month).
    pub month: u64,
}

impl Windows {
    pub fn at(now_ms: u64) -> Self {
        let day = now_ms / DAY_MS;
        let (year, month, _) = civil_from_days(day as i64);
        Self {
            now_ms,
            minute: now_ms / MINUTE_MS,
            day,
            month: (year as u64) * 12 + (month as u64 - 1),
        }
    }

    /// How much of the previous minute still lies inside the sliding 60-second window (1.0 at the
    /// start of the current minute, 0.0 at its end).
    pub fn previous_weight(&self) -> f64 {
        1.0 - (self.now_ms % MINUTE_MS) as f64 / MINUTE_MS as f64
    }

    pub fn ms_into_minute(&self) -> u64 {
        self.now_ms % MINUTE_MS
    }

    /// Start of the next UTC day, in epoch seconds.
    pub fn day_reset_secs(&self) -> u64 {
        (self.day + 1) * DAY_MS / 1000
    }

    /// Start of the next UTC month, in epoch seconds.
    pub fn month_reset_secs(&self) -> u64 {
        let next = self.month + 1;
        let (year, month) = ((next / 12) as i64, (next % 12) as i64 + 1);
        (days_from_civil(year, month, 1) as u64) * 86_400
    }
}

/// Epoch seconds as `YYYY-MM-DDTHH:MM:SSZ` (for messages and the admin API).
pub fn rfc3339(epoch_secs: u64) -> String {
    let t = UtcDateTime::from_epoch_secs(epoch_secs as i64);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_are_the_next_utc_day_and_month() {
        // 2026-12-01T15:30:00Z
        let now = 1_796_139_000_000;
        let w = Windows::at(now);
        assert_eq!(rfc3339(now / 1000), "2026-12-01T15:30:00Z");
        assert_eq!(rfc3339(w.day_reset_secs()), "2026-12-02T00:00:00Z");
        assert_eq!(rfc3339(w.month_reset_secs()), "2027-01-01T00:00:00Z");
        let feb = Windows::at(days_from_civil(2028, 2, 29) as u64 * DAY_MS + 5);
        assert_eq!(rfc3339(feb.month_reset_secs()), "2028-03-01T00:00:00Z");
        assert_eq!(feb.month, 2028 * 12 + 1);
    }

    #[test]
    fn previous_minute_weight_slides() {
        assert_eq!(Windows::at(120_000).previous_weight(), 1.0);
        assert_eq!(Windows::at(150_000).previous_weight(), 0.5);
    }
}
