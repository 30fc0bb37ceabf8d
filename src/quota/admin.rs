//! `GET /admin/quotas`: every live counter with its usage, limits, what is left and when each window
//! resets, as JSON.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::clock::{rfc3339, Windows};
use super::counts::Counts;
use super::set::{QuotaRule, MICRO_USD};
use crate::admin::AdminState;

#[derive(Debug, Serialize)]
pub struct CounterUsage {
    pub quota: String,
    /// The partition this counter is for (`principal`, `group`, `tag:<key>`, `model`).
    pub partition: BTreeMap<String, String>,
    /// `redis`, `memory`, or `local` (this replica's view while Redis cannot be read).
    pub source: &'static str,
    pub limits: Vec<LimitUsage>,
}

#[derive(Debug, Serialize)]
pub struct LimitUsage {
    pub limit: &'static str,
    pub max: f64,
    /// Sliding estimate for per-minute limits.
    pub used: f64,
    pub remaining: f64,
    /// When the window resets (per-minute: when the current fixed minute ends).
    pub resets_at: String,
}

impl CounterUsage {
    pub fn new(
        rule: &QuotaRule,
        key: &str,
        counts: &Counts,
        now: &Windows,
        source: &'static str,
    ) -> Self {
        let weight = now.previous_weight();
        let slide = |pair: [i64; 2]| pair[0] as f64 + pair[1] as f64 * weight;
        let minute_reset = rfc3339((now.minute + 1) * 60);
        let l = &rule.limits;
        let usd = |micro: i64| micro as f64 / MICRO_USD;
        let candidates: [(&'static str, Option<f64>, f64, String); 8] = [
            (
                "requests_per_minute",
                l.requests_per_minute.map(|v| v as f64),
                slide(counts.requests),
                minute_reset.clone(),
            ),
            (
                "tokens_per_minute",
                l.tokens_per_minute.map(|v| v as f64),
                slide(counts.tokens),
                minute_reset.clone(),
            ),
            (
                "input_tokens_per_minute",
                l.input_tokens_per_minute.map(|v| v as f64),
                slide(counts.input),
                minute_reset.clone(),
            ),
            (
                "output_tokens_per_minute",
                l.output_tokens_per_minute.map(|v| v as f64),
                slide(counts.output),
                minute_reset,
            ),
            (
                "tokens_per_day",
                l.tokens_per_day.map(|v| v as f64),
                counts.tokens_day as f64,
                rfc3339(now.day_reset_secs()),
            ),
            (
                "tokens_per_month",
                l.tokens_per_month.map(|v| v as f64),
                counts.tokens_month as f64,
                rfc3339(now.month_reset_secs()),
            ),
            (
                "usd_per_day",
                l.usd_micro_per_day.map(|v| usd(v as i64)),
                usd(counts.usd_day),
                rfc3339(now.day_reset_secs()),
            ),
            (
                "usd_per_month",
                l.usd_micro_per_month.map(|v| usd(v as i64)),
                usd(counts.usd_month),
                rfc3339(now.month_reset_secs()),
            ),
        ];
        let limits = candidates
            .into_iter()
            .filter_map(|(limit, max, used, resets_at)| {
                let max = max?;
                Some(LimitUsage {
                    limit,
                    max,
                    used,
                    remaining: (max - used).max(0.0),
                    resets_at,
                })
            })
            .collect();
        CounterUsage {
            quota: rule.name.to_string(),
            partition: rule.describe_partition(key),
            source,
            limits,
        }
    }
}

pub(crate) async fn quotas(State(state): State<AdminState>) -> Json<serde_json::Value> {
    let snapshot = state.shared.live.load_full();
    let quotas = &state.shared.quotas;
    let counters = quotas.usage(&snapshot.quotas).await;
    Json(serde_json::json!({
        "backend": quotas.backend_name(),
        "backend_status": quotas.backend_status().map(|s| *s.borrow()),
        "config_version": snapshot.version,
        "now": rfc3339(quotas.clock().now_ms() / 1000),
        "quotas": snapshot.quotas.rules().iter().map(|r| r.name.to_string()).collect::<Vec<_>>(),
        "counters": counters,
    }))
}
