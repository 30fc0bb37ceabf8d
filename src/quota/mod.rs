//! Usage governance: per-caller request and token quotas and money budgets.
//!
//! - [`config`]: the `[quotas]` / `[[quotas.rules]]` / `[[pricing]]` file format.
//! - [`set`]: the compiled entries (part of the configuration snapshot, so they hot-reload and are
//!   validated before publishing): which entries a call falls under and the counter each uses.
//! - [`counts`]: the counters of one partition and the one rule deciding them (sliding minute, UTC day
//!   and month).
//! - [`local`]: in-process counters (default); [`redis`]: counters shared by replicas.
//! - [`clock`]: injected time; [`metrics`]; [`admin`]: `GET /admin/quotas`.
//!
//! A call is checked after authorization and counted as one request on admission ([`Quotas::admit`]);
//! its tokens and cost are charged when its response ends, from the same token meter as the audit
//! event ([`Admission::settle`]). Counters live outside the snapshot, keyed by quota name, so a reload
//! keeps them (and a renamed quota starts from zero).

pub mod admin;
pub mod clock;
pub mod config;
pub mod counts;
pub(crate) mod enforce;
pub mod local;
pub mod metrics;
pub mod redis;
pub mod set;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};

use crate::telemetry::tokens::Tokens;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{OnBackendError, PricingConfig, QuotaConfig, QuotasConfig};
pub use counts::{Refusal, Remaining};
pub use set::{CallInfo, QuotaConfigError, QuotaSet};

use clock::Windows;
use counts::{Counts, Delta};
use local::LocalStore;
use redis::{Charge, RedisQuotaError, RedisStore};
use set::{Price, Target};

pub const REMAINING_REQUESTS_HEADER: &str = "x-bedrock-guard-quota-remaining-requests";
pub const REMAINING_TOKENS_HEADER: &str = "x-bedrock-guard-quota-remaining-tokens";

/// The counter store and clock every request shares (lives as long as the guard, across reloads).
#[derive(Debug)]
pub struct Quotas {
    clock: Arc<dyn Clock>,
    /// The counters (in-process backend), or this replica's own view (Redis backend): what
    /// `on_backend_error = "local"` enforces while Redis is away.
    local: LocalStore,
    redis: Option<RedisStore>,
    degraded: AtomicBool,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct QuotaStartError(#[from] RedisQuotaError);

impl Quotas {
    /// In-process counters only.
    pub fn in_process(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            local: LocalStore::new(),
            redis: None,
            degraded: AtomicBool::new(false),
        }
    }

    /// The backend `config` names (`memory`, or a `redis://` / `rediss://` URL).
    pub async fn from_config(
        config: &QuotasConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, QuotaStartError> {
        let mut quotas = Self::in_process(clock);
        match config.backend.as_deref() {
            None | Some("memory") => {}
            Some(url) => {
                let timeout = Duration::from_millis(config.redis_timeout_ms.max(1));
                let store = RedisStore::connect(url, timeout).await?;
                tracing::info!(backend = %redis::redact(url), "quota counters are shared in Redis");
                quotas.redis = Some(store);
            }
        }
        Ok(quotas)
    }

    /// The shared store's health (`None` for in-process counters).
    pub fn backend_status(&self) -> Option<tokio::sync::watch::Receiver<redis::BackendStatus>> {
        self.redis.as_ref().map(RedisStore::status)
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn backend_name(&self) -> &'static str {
        if self.redis.is_some() {
            "redis"
        } else {
            "memory"
        }
    }

    /// Checks `call` against every entry it falls under and counts it. `None`: no entry applies (or
    /// Redis is away with `on_backend_error = "allow"`): nothing to charge.
    pub async fn admit(
        self: &Arc<Self>,
        set: &QuotaSet,
        call: &CallInfo<'_>,
        reserve_tokens: u64,
    ) -> Result<Option<Admission>, Refusal> {
        let targets = set.targets(call);
        if targets.is_empty() {
            return Ok(None);
        }
        let now = Windows::at(self.clock.now_ms());
        let reserved = Delta {
            tokens: reserve_tokens as i64,
            output: reserve_tokens as i64,
            ..Delta::default()
        };
        let result = match &self.redis {
            None => self.local.admit(&targets, &now, &reserved).map(Some),
            Some(redis) => {
                self.admit_shared(redis, set, &targets, &now, &reserved)
                    .await
            }
        };
        let after = match result {
            Ok(Some(after)) => after,
            Ok(None) => return Ok(None),
            Err(refusal) => {
                if let Some(quota) = refusal.quota() {
                    metrics::record_rejection(quota, refusal.limit_label());
                }
                return Err(refusal);
            }
        };
        let mut remaining = Remaining::default();
        for (target, counts) in targets.iter().zip(&after) {
            remaining.tighten(&target.rule.limits, counts, &now);
            target.rule.usage_gauge().set(Remaining::usage_ratio(
                &target.rule.limits,
                counts,
                &now,
            ));
        }
        Ok(Some(Admission {
            quotas: Arc::clone(self),
            price: set.price(call.model),
            targets,
            at: now,
            reserved,
            remaining,
        }))
    }

    async fn admit_shared(
        &self,
        redis: &RedisStore,
        set: &QuotaSet,
        targets: &[Target],
        now: &Windows,
        reserved: &Delta,
    ) -> Result<Option<Vec<Counts>>, Refusal> {
        let admission = Delta {
            requests: 1,
            ..*reserved
        };
        match redis.admit(targets, now, &admission).await {
            Ok(answer) => {
                redis.set_connected(true);
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("quota backend: Redis answers again; counters are shared again");
                }
                if let Some(i) = answer.refused {
                    let target = &targets[i];
                    let counts = answer.before.get(i).copied().unwrap_or_default();
                    let refusal =
                        counts::check(&target.rule.name, &target.rule.limits, &counts, now)
                            .err()
                            // The script and `check` compare alike; rounding could only differ at an edge.
                            .unwrap_or(Refusal::Throttled {
                                quota: Arc::clone(&target.rule.name),
                                what: "requests",
                                limit: target.rule.limits.requests_per_minute.unwrap_or(0),
                                retry_after_secs: 1,
                            });
                    return Err(refusal);
                }
                // This replica's own view follows, for the fallback.
                let mut after = answer.before;
                for (target, counts) in targets.iter().zip(after.iter_mut()) {
                    let delta = admission.masked(&target.rule.limits);
                    counts.apply(&delta, now, now);
                    self.local
                        .apply(&target.key, &target.rule.limits, &delta, now, now);
                }
                Ok(Some(after))
            }
            Err(err) => {
                metrics::record_backend_error("admit");
                redis.set_connected(false);
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %err, on_backend_error = ?set.on_backend_error, "quota backend: Redis unreachable");
                }
                match set.on_backend_error {
                    OnBackendError::Deny => Err(Refusal::BackendUnavailable),
                    OnBackendError::Allow => Ok(None),
                    OnBackendError::Local => {
                        let after = self.local.admit(targets, now, reserved)?;
                        // Replayed to Redis once it is back.
                        for target in targets {
                            let delta = admission.masked(&target.rule.limits);
                            if !delta.is_zero() {
                                redis.charge(Charge {
                                    key: target.key.clone(),
                                    limits: target.rule.limits,
                                    delta,
                                    at: *now,
                                });
                            }
                        }
                        Ok(Some(after))
                    }
                }
            }
        }
    }

    /// Every counter with its entry and partition (admin API). With Redis, the partitions this
    /// replica has seen, read from Redis (this replica's own counts if Redis cannot be read).
    pub async fn usage(&self, set: &QuotaSet) -> Vec<admin::CounterUsage> {
        let now = Windows::at(self.clock.now_ms());
        let mut out = Vec::new();
        for (key, local_counts) in self.local.snapshot(&now) {
            let name = key.split(set::KEY_SEPARATOR).next().unwrap_or("");
            let Some(rule) = set.rule(name) else { continue };
            let (counts, source) = match &self.redis {
                Some(redis) => match redis.read(&key, &now).await {
                    Ok(counts) => (counts, "redis"),
                    Err(_) => (local_counts, "local"),
                },
                None => (local_counts, "memory"),
            };
            out.push(admin::CounterUsage::new(rule, &key, &counts, &now, source));
        }
        out
    }
}

/// A call admitted under one or more entries: charged when its response ends.
#[derive(Debug)]
pub struct Admission {
    quotas: Arc<Quotas>,
    targets: Vec<Target>,
    at: Windows,
    reserved: Delta,
    price: Option<Price>,
    pub remaining: Remaining,
}

impl Admission {
    /// Charges what the response used (the reservation, if any, is given back). Never waits: with
    /// Redis the charge is queued for the pipeline.
    pub fn settle(self, tokens: &Tokens) {
        // Token limits count what the model read and wrote; prompt-cache tokens only cost money.
        let (input, output) = (tokens.input.unwrap_or(0), tokens.output.unwrap_or(0));
        let now = Windows::at(self.quotas.clock.now_ms());
        let used = Delta {
            requests: 0,
            tokens: (input + output) as i64,
            input: input as i64,
            output: output as i64,
            usd: self.price.map_or(0, |p| p.micro_usd(tokens) as i64),
        };
        let returned = self.reserved.negated();
        for target in &self.targets {
            let limits = &target.rule.limits;
            for (delta, at) in [(&returned, &self.at), (&used, &now)] {
                let delta = delta.masked(limits);
                if delta.is_zero() {
                    continue;
                }
                self.quotas
                    .local
                    .apply(&target.key, limits, &delta, at, &now);
                if let Some(redis) = &self.quotas.redis {
                    redis.charge(Charge {
                        key: target.key.clone(),
                        limits: *limits,
                        delta,
                        at: *at,
                    });
                }
            }
        }
    }
}

impl Remaining {
    /// Adds the remaining-allowance headers (only for limits the call falls under).
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        if let Some(requests) = self.requests {
            headers.insert(REMAINING_REQUESTS_HEADER, HeaderValue::from(requests));
        }
        if let Some(tokens) = self.tokens {
            headers.insert(REMAINING_TOKENS_HEADER, HeaderValue::from(tokens));
        }
    }
}

/// The output-token cap a request asks for (`maxTokens` / `max_tokens` and the model families'
/// variants), for `reserve_max_tokens`.
pub fn requested_max_tokens(body: &[u8]) -> Option<u64> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let paths: [&[&str]; 5] = [
        &["inferenceConfig", "maxTokens"],
        &["max_tokens"],
        &["maxTokens"],
        &["max_gen_len"],
        &["textGenerationConfig", "maxTokenCount"],
    ];
    paths.iter().find_map(|path| {
        path.iter()
            .try_fold(&json, |value, key| value.get(key))
            .and_then(serde_json::Value::as_u64)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::policy::{Identity, Principal};

    /// A compiled entry applying to everyone, adjusted by `adjust`.
    pub(crate) fn rule(name: &str, adjust: impl FnOnce(&mut QuotaConfig)) -> Arc<set::QuotaRule> {
        let mut entry = QuotaConfig {
            name: name.to_owned(),
            ..QuotaConfig::default()
        };
        adjust(&mut entry);
        let config = QuotasConfig {
            rules: vec![entry],
            ..QuotasConfig::default()
        };
        let set = QuotaSet::compile(&config, &[], &[], Default::default(), &[]).unwrap();
        Arc::clone(&set.rules()[0])
    }

    fn principal(name: &str, tags: &[(&str, &str)]) -> Principal {
        Principal::new(
            name,
            &format!("arn:aws:iam::123456789012:user/{name}"),
            Identity::Unrestricted,
        )
        .with_tags(
            tags.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn max_tokens_is_read_from_each_family() {
        for (body, want) in [
            (r#"{"inferenceConfig":{"maxTokens":300}}"#, Some(300)),
            (r#"{"max_tokens":512,"messages":[]}"#, Some(512)),
            (r#"{"textGenerationConfig":{"maxTokenCount":77}}"#, Some(77)),
            (r#"{"prompt":"x"}"#, None),
            ("not json", None),
        ] {
            assert_eq!(requested_max_tokens(body.as_bytes()), want, "{body}");
        }
    }

    #[tokio::test]
    async fn tokens_are_charged_at_the_end_and_partitioned_by_tag() {
        let config: QuotasConfig = toml::from_str(
            r#"
            [[rules]]
            name = "team-tokens"
            tags = { team = "*" }
            per = "tag:team"
            tokens_per_day = 100
            "#,
        )
        .unwrap();
        let set = QuotaSet::compile(&config, &[], &[], Default::default(), &[]).unwrap();
        let clock = Arc::new(ManualClock::at(1_796_139_000_000));
        let quotas = Arc::new(Quotas::in_process(clock.clone()));
        let (a, b, untagged) = (
            principal("a", &[("team", "ml")]),
            principal("b", &[("team", "ml")]),
            principal("c", &[]),
        );
        let call = |p| CallInfo {
            principal: p,
            operation: crate::classify::Operation::Converse,
            model: "m",
        };
        let admission = quotas.admit(&set, &call(&a), 0).await.unwrap().unwrap();
        assert_eq!(admission.remaining.tokens, Some(100));
        admission.settle(&Tokens {
            input: Some(60),
            output: Some(40),
            ..Tokens::default()
        });
        // b shares team ml's budget, now used up; c is under no entry.
        let refused = quotas.admit(&set, &call(&b), 0).await.unwrap_err();
        assert!(matches!(refused, Refusal::Exhausted { .. }), "{refused:?}");
        assert!(quotas
            .admit(&set, &call(&untagged), 0)
            .await
            .unwrap()
            .is_none());
        // The next UTC day starts afresh.
        clock.advance(Duration::from_secs(86_400));
        assert!(quotas.admit(&set, &call(&b), 0).await.is_ok());
    }

    #[tokio::test]
    async fn a_reservation_holds_max_tokens_until_the_real_usage_is_charged() {
        let config: QuotasConfig =
            toml::from_str("[[rules]]\nname = \"t\"\ntokens_per_minute = 1000\n").unwrap();
        let set = QuotaSet::compile(&config, &[], &[], Default::default(), &[]).unwrap();
        let quotas = Arc::new(Quotas::in_process(Arc::new(ManualClock::at(60_000 * 50))));
        let p = principal("a", &[]);
        let call = CallInfo {
            principal: &p,
            operation: crate::classify::Operation::Converse,
            model: "m",
        };
        let first = quotas.admit(&set, &call, 600).await.unwrap().unwrap();
        assert_eq!(first.remaining.tokens, Some(400));
        let second = quotas.admit(&set, &call, 600).await.unwrap().unwrap();
        // 1,200 reserved >= 1,000: a third call waits for the first two to end.
        assert!(quotas.admit(&set, &call, 600).await.is_err());
        for admission in [first, second] {
            admission.settle(&Tokens {
                input: Some(10),
                output: Some(20),
                ..Tokens::default()
            });
        }
        let third = quotas.admit(&set, &call, 0).await.unwrap().unwrap();
        assert_eq!(third.remaining.tokens, Some(940));
    }

    #[test]
    fn prompt_cache_tokens_are_priced_apart_or_at_the_input_price() {
        let pricing = vec![PricingConfig {
            models: vec!["a*".into()],
            input_per_1k: 1.0,
            output_per_1k: 2.0,
            cache_read_per_1k: Some(0.1),
            cache_write_per_1k: None,
        }];
        let set = QuotaSet::compile(
            &QuotasConfig::default(),
            &pricing,
            &[],
            Default::default(),
            &[],
        )
        .unwrap();
        let price = set.price("a-model").unwrap();
        let tokens = Tokens {
            input: Some(1000),
            output: Some(1000),
            cache_read: Some(1000),
            cache_write: Some(1000),
        };
        // $1 + $2 + $0.10 + $1 (writes at the input price).
        assert_eq!(price.micro_usd(&tokens), 4_100_000);
        assert!(set.price("b-model").is_none());
    }

    #[test]
    fn invalid_entries_are_refused_with_their_name() {
        let cases = [
            ("name = \"x\"", "sets no limit"),
            (
                "name = \"x\"\nper = \"team\"\nrequests_per_minute = 1",
                "per \"team\"",
            ),
            (
                "name = \"x\"\noperations = [\"Nope\"]\nrequests_per_minute = 1",
                "unknown operation",
            ),
            ("name = \"x\"\nusd_per_day = 5.0", "needs [[pricing]]"),
            (
                "name = \"x\"\ngroups = [\"nobody\"]\nrequests_per_minute = 1",
                "not a [[groups]] name",
            ),
        ];
        for (entry, expected) in cases {
            let config: QuotasConfig = toml::from_str(&format!("[[rules]]\n{entry}")).unwrap();
            let err = QuotaSet::compile(&config, &[], &[], Default::default(), &[]).unwrap_err();
            assert!(err.to_string().contains(expected), "{entry}: {err}");
        }
    }
}
