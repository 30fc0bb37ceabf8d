//! The `[quotas]` and `[[pricing]]` file format. Unknown keys are errors, as everywhere in the config.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `[quotas]`: where counters live and the quota entries (`[[quotas.rules]]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotasConfig {
    /// `memory` (default: counters in this process) or `redis://host:6379/0` / `rediss://` (TLS);
    /// AUTH as `redis://user:password@host/0`. Read at start; a reload cannot move counters.
    #[serde(default)]
    pub backend: Option<String>,
    /// What a call gets while Redis cannot be reached.
    #[serde(default)]
    pub on_backend_error: OnBackendError,
    /// Longest wait for Redis on the request path before `on_backend_error` applies.
    #[serde(default = "default_redis_timeout_ms")]
    pub redis_timeout_ms: u64,
    /// Count a request's `maxTokens` / `max_tokens` against token limits at admission (given back
    /// when the real usage is charged), so parallel calls cannot overshoot by more than one response.
    #[serde(default)]
    pub reserve_max_tokens: bool,
    #[serde(default)]
    pub rules: Vec<QuotaConfig>,
}

fn default_redis_timeout_ms() -> u64 {
    250
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBackendError {
    /// Keep enforcing with this replica's own counters (limits then hold per replica), warn, and
    /// replay what was counted to Redis once it is back.
    #[default]
    Local,
    /// Refuse calls under a quota with 503 ServiceUnavailableException (SDKs retry).
    Deny,
    /// Let calls through uncounted.
    Allow,
}

/// One `[[quotas.rules]]` entry: who and what it applies to, how its counters are partitioned, and
/// its limits. All "who" and "what" conditions must hold; an empty list places no condition.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    pub name: String,
    /// Principal names or ARN patterns (`*`, `?` as in policies).
    #[serde(default)]
    pub principals: Vec<String>,
    /// `[[groups]]` names; the caller must be in one of them.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Principal tags the caller must carry (`team = "ml"`; values may use wildcards).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Model id or ARN patterns, matched against the model the call names.
    #[serde(default)]
    pub models: Vec<String>,
    /// Operation names (`Converse`, `InvokeModelWithResponseStream`, ...).
    #[serde(default)]
    pub operations: Vec<String>,
    /// How counters are partitioned: `principal`, `group`, `tag:<key>`, `model`, `all` (default), or
    /// a list of them (`["principal", "model"]`).
    #[serde(default)]
    pub per: Per,
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    #[serde(default)]
    pub input_tokens_per_minute: Option<u64>,
    #[serde(default)]
    pub output_tokens_per_minute: Option<u64>,
    #[serde(default)]
    pub tokens_per_day: Option<u64>,
    #[serde(default)]
    pub tokens_per_month: Option<u64>,
    #[serde(default)]
    pub usd_per_day: Option<f64>,
    #[serde(default)]
    pub usd_per_month: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Per {
    One(String),
    Many(Vec<String>),
}

impl Default for Per {
    fn default() -> Self {
        Per::One("all".to_owned())
    }
}

impl Per {
    pub fn items(&self) -> &[String] {
        match self {
            Per::One(one) => std::slice::from_ref(one),
            Per::Many(many) => many,
        }
    }
}

/// One `[[pricing]]` entry: USD per 1,000 tokens for the models matching `models` (first match wins).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingConfig {
    pub models: Vec<String>,
    pub input_per_1k: f64,
    pub output_per_1k: f64,
    /// Prompt-cache reads and writes, where Bedrock reports them; unset: the input price.
    #[serde(default)]
    pub cache_read_per_1k: Option<f64>,
    #[serde(default)]
    pub cache_write_per_1k: Option<f64>,
}
