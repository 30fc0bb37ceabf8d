//! The counters of one quota partition and the one rule deciding them, shared by every backend (the
//! Redis script applies the same comparisons atomically; see `redis.rs`).
//!
//! Per-minute limits use a sliding 60-second window, estimated from two fixed minutes: the current
//! minute's count plus the previous minute's weighted by how much of it is still inside the window.
//! Day and month limits are UTC calendar windows.

use std::sync::Arc;

use super::clock::Windows;
use super::set::Limits;

/// `[current minute, previous minute]` for per-minute counters. Signed: a reservation given back
/// after its minute rolled over may briefly leave a window below zero in Redis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: [i64; 2],
    pub tokens: [i64; 2],
    pub input: [i64; 2],
    pub output: [i64; 2],
    pub tokens_day: i64,
    pub usd_day: i64,
    pub tokens_month: i64,
    pub usd_month: i64,
}

/// What to add to a partition's counters (only the fields its entry limits are kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta {
    pub requests: i64,
    pub tokens: i64,
    pub input: i64,
    pub output: i64,
    /// Micro-dollars.
    pub usd: i64,
}

impl Delta {
    pub fn is_zero(&self) -> bool {
        *self == Delta::default()
    }

    pub fn negated(self) -> Delta {
        Delta {
            requests: -self.requests,
            tokens: -self.tokens,
            input: -self.input,
            output: -self.output,
            usd: -self.usd,
        }
    }

    /// Keeps only what `limits` counts, so counters exist only for limits that are set (and idle
    /// ones expire with their window).
    pub fn masked(self, limits: &Limits) -> Delta {
        let minute_tokens = limits.tokens_per_minute.is_some();
        Delta {
            requests: if limits.requests_per_minute.is_some() {
                self.requests
            } else {
                0
            },
            tokens: if minute_tokens
                || limits.tokens_per_day.is_some()
                || limits.tokens_per_month.is_some()
            {
                self.tokens
            } else {
                0
            },
            input: if limits.input_tokens_per_minute.is_some() {
                self.input
            } else {
                0
            },
            output: if limits.output_tokens_per_minute.is_some() {
                self.output
            } else {
                0
            },
            usd: if limits.usd_micro_per_day.is_some() || limits.usd_micro_per_month.is_some() {
                self.usd
            } else {
                0
            },
        }
    }
}

impl Counts {
    /// Adds `delta`, counted in the windows `at` (per-minute, day, month), to counts currently
    /// aligned to `now`; a delta for a window that has already gone is dropped.
    pub fn apply(&mut self, delta: &Delta, at: &Windows, now: &Windows) {
        let slot = if at.minute == now.minute {
            Some(0)
        } else if at.minute + 1 == now.minute {
            Some(1)
        } else {
            None
        };
        if let Some(i) = slot {
            self.requests[i] += delta.requests;
            self.tokens[i] += delta.tokens;
            self.input[i] += delta.input;
            self.output[i] += delta.output;
        }
        if at.day == now.day {
            self.tokens_day += delta.tokens;
            self.usd_day += delta.usd;
        }
        if at.month == now.month {
            self.tokens_month += delta.tokens;
            self.usd_month += delta.usd;
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A per-minute limit: `429 ThrottlingException` with `Retry-After`.
    #[error("Too many requests: quota {quota:?} allows {limit} {what} per minute; retry in {retry_after_secs} s")]
    Throttled {
        quota: Arc<str>,
        what: &'static str,
        limit: u64,
        retry_after_secs: u64,
    },
    /// A day or month budget: `400 ServiceQuotaExceededException` (SDKs do not retry).
    #[error("Service quota exceeded: quota {quota:?} ({what} per {period}: {limit}) is used up until it resets at {resets_at}")]
    Exhausted {
        quota: Arc<str>,
        what: &'static str,
        period: &'static str,
        /// Shown as configured (tokens, or dollars).
        limit: String,
        /// RFC 3339, UTC.
        resets_at: String,
    },
    /// The shared counter store is unreachable and `on_backend_error = "deny"`.
    #[error("bedrock-guard cannot reach its quota store; retry later")]
    BackendUnavailable,
}

impl Refusal {
    /// The refusing quota's name (for the audit event and metrics).
    pub fn quota(&self) -> Option<&str> {
        match self {
            Refusal::Throttled { quota, .. } | Refusal::Exhausted { quota, .. } => Some(quota),
            Refusal::BackendUnavailable => None,
        }
    }

    /// The limit that refused, as a metric label.
    pub fn limit_label(&self) -> &'static str {
        match self {
            Refusal::Throttled { what, .. } => match *what {
                "requests" => "requests_per_minute",
                "input tokens" => "input_tokens_per_minute",
                "output tokens" => "output_tokens_per_minute",
                _ => "tokens_per_minute",
            },
            Refusal::Exhausted { what, period, .. } => match (*what, *period) {
                ("tokens", "day") => "tokens_per_day",
                ("tokens", _) => "tokens_per_month",
                (_, "day") => "usd_per_day",
                _ => "usd_per_month",
            },
            Refusal::BackendUnavailable => "backend",
        }
    }
}

fn estimate(pair: [i64; 2], weight: f64) -> f64 {
    pair[0] as f64 + pair[1] as f64 * weight
}

/// Whether one more call may start, given `counts` (before counting it) at `now`. Requests must stay
/// within their limit including this call; token and money counters refuse once they have reached
/// theirs (a call's tokens are only known when it ends).
pub fn check(
    quota: &Arc<str>,
    limits: &Limits,
    counts: &Counts,
    now: &Windows,
) -> Result<(), Refusal> {
    let weight = now.previous_weight();
    let minute: [(Option<u64>, [i64; 2], &'static str, f64); 4] = [
        (limits.requests_per_minute, counts.requests, "requests", 1.0),
        (limits.tokens_per_minute, counts.tokens, "tokens", 0.0),
        (
            limits.input_tokens_per_minute,
            counts.input,
            "input tokens",
            0.0,
        ),
        (
            limits.output_tokens_per_minute,
            counts.output,
            "output tokens",
            0.0,
        ),
    ];
    for (limit, pair, what, this_call) in minute {
        if let Some(limit) = limit {
            if !within(estimate(pair, weight), this_call, limit) {
                return Err(Refusal::Throttled {
                    quota: Arc::clone(quota),
                    what,
                    limit,
                    retry_after_secs: retry_after(pair, this_call, limit, now),
                });
            }
        }
    }
    let exhausted = |what, period, limit: String, resets: u64| Refusal::Exhausted {
        quota: Arc::clone(quota),
        what,
        period,
        limit,
        resets_at: super::clock::rfc3339(resets),
    };
    let dollars = |micro: u64| format!("${:.2}", micro as f64 / super::set::MICRO_USD);
    if let Some(limit) = limits.tokens_per_day {
        if counts.tokens_day >= limit as i64 {
            return Err(exhausted(
                "tokens",
                "day",
                limit.to_string(),
                now.day_reset_secs(),
            ));
        }
    }
    if let Some(limit) = limits.usd_micro_per_day {
        if counts.usd_day >= limit as i64 {
            return Err(exhausted(
                "USD",
                "day",
                dollars(limit),
                now.day_reset_secs(),
            ));
        }
    }
    if let Some(limit) = limits.tokens_per_month {
        if counts.tokens_month >= limit as i64 {
            return Err(exhausted(
                "tokens",
                "month",
                limit.to_string(),
                now.month_reset_secs(),
            ));
        }
    }
    if let Some(limit) = limits.usd_micro_per_month {
        if counts.usd_month >= limit as i64 {
            return Err(exhausted(
                "USD",
                "month",
                dollars(limit),
                now.month_reset_secs(),
            ));
        }
    }
    Ok(())
}

/// `this_call` is 1 for requests (the call itself must fit), 0 for tokens (refused only at the limit).
fn within(estimate: f64, this_call: f64, limit: u64) -> bool {
    if this_call > 0.0 {
        estimate + this_call <= limit as f64
    } else {
        estimate < limit as f64
    }
}

/// Whole seconds until the sliding estimate lets a call through, assuming no other traffic (at least 1).
fn retry_after(pair: [i64; 2], this_call: f64, limit: u64, now: &Windows) -> u64 {
    for secs in 1..=120u64 {
        let later = super::clock::Windows::at(now.now_ms + secs * 1000);
        let shifted = match later.minute - now.minute {
            0 => pair,
            1 => [0, pair[0]],
            _ => [0, 0],
        };
        if within(estimate(shifted, later.previous_weight()), this_call, limit) {
            return secs;
        }
    }
    120
}

/// The tightest allowance left after a call was admitted, for the response headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Remaining {
    pub requests: Option<u64>,
    pub tokens: Option<u64>,
}

impl Remaining {
    pub fn tighten(&mut self, limits: &Limits, counts: &Counts, now: &Windows) {
        let weight = now.previous_weight();
        let left = |limit: u64, used: f64| (limit as f64 - used).max(0.0).floor() as u64;
        let min = |slot: &mut Option<u64>, value: u64| {
            *slot = Some(slot.map_or(value, |current| current.min(value)));
        };
        if let Some(limit) = limits.requests_per_minute {
            min(
                &mut self.requests,
                left(limit, estimate(counts.requests, weight)),
            );
        }
        if let Some(limit) = limits.tokens_per_minute {
            min(
                &mut self.tokens,
                left(limit, estimate(counts.tokens, weight)),
            );
        }
        if let Some(limit) = limits.tokens_per_day {
            min(&mut self.tokens, left(limit, counts.tokens_day as f64));
        }
        if let Some(limit) = limits.tokens_per_month {
            min(&mut self.tokens, left(limit, counts.tokens_month as f64));
        }
    }

    /// The highest share of any limit used, 0.0 to 1.0 (for the usage gauge).
    pub fn usage_ratio(limits: &Limits, counts: &Counts, now: &Windows) -> f64 {
        let weight = now.previous_weight();
        let ratio = |limit: Option<u64>, used: f64| match limit {
            Some(l) if l > 0 => (used / l as f64).clamp(0.0, 1.0),
            Some(_) => 1.0,
            None => 0.0,
        };
        [
            ratio(
                limits.requests_per_minute,
                estimate(counts.requests, weight),
            ),
            ratio(limits.tokens_per_minute, estimate(counts.tokens, weight)),
            ratio(
                limits.input_tokens_per_minute,
                estimate(counts.input, weight),
            ),
            ratio(
                limits.output_tokens_per_minute,
                estimate(counts.output, weight),
            ),
            ratio(limits.tokens_per_day, counts.tokens_day as f64),
            ratio(limits.tokens_per_month, counts.tokens_month as f64),
            ratio(limits.usd_micro_per_day, counts.usd_day as f64),
            ratio(limits.usd_micro_per_month, counts.usd_month as f64),
        ]
        .into_iter()
        .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> Arc<str> {
        Arc::from("q")
    }

    #[test]
    fn requests_fit_including_this_call() {
        let limits = Limits {
            requests_per_minute: Some(3),
            ..Limits::default()
        };
        // 30 s into a minute: the previous minute counts half.
        let now = Windows::at(10 * 60_000 + 30_000);
        let cases = [
            ([2, 0], true),
            ([3, 0], false),
            ([1, 2], true),
            ([1, 3], false),
            ([0, 5], false),
            ([0, 4], true),
        ];
        for (requests, ok) in cases {
            let counts = Counts {
                requests,
                ..Counts::default()
            };
            assert_eq!(
                check(&name(), &limits, &counts, &now).is_ok(),
                ok,
                "{requests:?}"
            );
        }
    }

    #[test]
    fn retry_after_waits_for_the_window_to_slide() {
        let limits = Limits {
            requests_per_minute: Some(2),
            ..Limits::default()
        };
        // At second 0 of a minute with 2 requests in it: the next fits once the estimate is <= 1,
        // i.e. when half of this minute has slid out, 60 s + 30 s later.
        let now = Windows::at(10 * 60_000);
        let counts = Counts {
            requests: [2, 0],
            ..Counts::default()
        };
        match check(&name(), &limits, &counts, &now) {
            Err(Refusal::Throttled {
                retry_after_secs, ..
            }) => assert_eq!(retry_after_secs, 90),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn budgets_name_their_reset() {
        let limits = Limits {
            usd_micro_per_day: Some(1_000_000),
            ..Limits::default()
        };
        let now = Windows::at(1_796_139_000_000);
        let counts = Counts {
            usd_day: 1_000_000,
            ..Counts::default()
        };
        let err = check(&name(), &limits, &counts, &now).unwrap_err();
        assert_eq!(err.limit_label(), "usd_per_day");
        assert!(err.to_string().contains("2026-12-02T00:00:00Z"), "{err}");
        assert!(err.to_string().contains("$1.00"), "{err}");
    }

    #[test]
    fn deltas_land_in_their_own_windows() {
        let admitted = Windows::at(10 * 60_000 + 59_000);
        let now = Windows::at(11 * 60_000 + 1_000);
        let mut counts = Counts::default();
        counts.apply(
            &Delta {
                tokens: 5,
                ..Delta::default()
            },
            &admitted,
            &now,
        );
        assert_eq!(counts.tokens, [0, 5]);
        assert_eq!(counts.tokens_day, 5);
        let long_ago = Windows::at(0);
        counts.apply(
            &Delta {
                tokens: 5,
                ..Delta::default()
            },
            &long_ago,
            &now,
        );
        assert_eq!(counts.tokens, [0, 5]);
    }
}
