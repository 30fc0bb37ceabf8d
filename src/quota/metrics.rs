//! The quota metrics (behind the `metrics` facade, rendered at `/metrics`):
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `bedrock_guard_quota_rejections_total` | counter | `quota`, `limit` |
//! | `bedrock_guard_quota_usage_ratio` | gauge: highest share of a limit used by the last call checked | `quota` |
//! | `bedrock_guard_quota_counters` | gauge: live in-process counters | |
//! | `bedrock_guard_quota_backend_seconds` | histogram: Redis round trips | `op` (admit, charge) |
//! | `bedrock_guard_quota_backend_errors_total` | counter | `op` |
//! | `bedrock_guard_quota_dropped_charges_total` | counter: charges lost in a long Redis outage | |

use std::time::Duration;

pub const REJECTIONS: &str = "bedrock_guard_quota_rejections_total";
pub const USAGE: &str = "bedrock_guard_quota_usage_ratio";
pub const COUNTERS: &str = "bedrock_guard_quota_counters";
pub const BACKEND_SECONDS: &str = "bedrock_guard_quota_backend_seconds";
pub const BACKEND_ERRORS: &str = "bedrock_guard_quota_backend_errors_total";
pub const DROPPED: &str = "bedrock_guard_quota_dropped_charges_total";

pub fn describe() {
    metrics::describe_counter!(REJECTIONS, "Calls refused by a quota, by quota and limit");
    metrics::describe_gauge!(
        USAGE,
        "Highest share of any limit used, for the last call checked against the quota"
    );
    metrics::describe_gauge!(COUNTERS, "Quota counters held in this process");
    metrics::describe_histogram!(
        BACKEND_SECONDS,
        metrics::Unit::Seconds,
        "Round trips to the shared quota store (Redis)"
    );
    metrics::describe_counter!(
        BACKEND_ERRORS,
        "Failed or timed-out round trips to the shared quota store"
    );
    metrics::describe_counter!(DROPPED, "Quota charges dropped while Redis was unreachable");
}

pub fn record_rejection(quota: &str, limit: &'static str) {
    metrics::counter!(REJECTIONS, "quota" => quota.to_owned(), "limit" => limit).increment(1);
}

/// The usage gauge of one quota (registered once per compiled entry: no lookup per call).
pub fn usage_gauge(quota: &str) -> metrics::Gauge {
    metrics::gauge!(USAGE, "quota" => quota.to_owned())
}

pub fn record_counters(count: usize) {
    metrics::gauge!(COUNTERS).set(count as f64);
}

pub fn record_backend_latency(op: &'static str, elapsed: Duration) {
    metrics::histogram!(BACKEND_SECONDS, "op" => op).record(elapsed.as_secs_f64());
}

pub fn record_backend_error(op: &'static str) {
    metrics::counter!(BACKEND_ERRORS, "op" => op).increment(1);
}

pub fn record_dropped_charges(count: u64) {
    metrics::counter!(DROPPED).increment(count);
}
