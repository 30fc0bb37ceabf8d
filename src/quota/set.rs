//! The compiled quota entries of one configuration snapshot: which entries a call falls under, the
//! counter each one uses for it, and the price of a model's tokens.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::config::{OnBackendError, PricingConfig, QuotaConfig, QuotasConfig};
use crate::classify::Operation;
use crate::policy::glob::{glob_match, Case};
use crate::policy::Principal;
use crate::telemetry::tokens::Tokens;

/// Micro-dollars per dollar: money is counted in integers so every replica adds the same way.
pub const MICRO_USD: f64 = 1_000_000.0;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quotas {quota:?}: {message}")]
pub struct QuotaConfigError {
    pub quota: String,
    pub message: String,
}

/// Limits of one entry; `None` is no limit. Money is in micro-dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub input_tokens_per_minute: Option<u64>,
    pub output_tokens_per_minute: Option<u64>,
    pub tokens_per_day: Option<u64>,
    pub tokens_per_month: Option<u64>,
    pub usd_micro_per_day: Option<u64>,
    pub usd_micro_per_month: Option<u64>,
}

impl Limits {
    fn is_empty(&self) -> bool {
        *self == Limits::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Partition {
    Principal,
    Group,
    Tag(String),
    Model,
    All,
}

/// One compiled `[[quotas.rules]]` entry.
#[derive(Debug)]
pub struct QuotaRule {
    pub name: Arc<str>,
    principals: Vec<String>,
    groups: Vec<String>,
    tags: Vec<(String, String)>,
    models: Vec<String>,
    operations: Vec<Operation>,
    per: Vec<Partition>,
    pub limits: Limits,
    /// Registered on first use, after the metrics recorder is installed.
    usage_gauge: std::sync::OnceLock<metrics::Gauge>,
}

/// The per-model token price, USD per 1,000 tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input_per_1k: f64,
    pub output_per_1k: f64,
    pub cache_read_per_1k: f64,
    pub cache_write_per_1k: f64,
}

impl Price {
    /// The cost of a call in micro-dollars (rounded to the nearest).
    pub fn micro_usd(&self, tokens: &Tokens) -> u64 {
        let cost = |count: Option<u64>, per_1k: f64| count.unwrap_or(0) as f64 * per_1k;
        // USD per 1k tokens -> micro-USD per token is * 1,000.
        ((cost(tokens.input, self.input_per_1k)
            + cost(tokens.output, self.output_per_1k)
            + cost(tokens.cache_read, self.cache_read_per_1k)
            + cost(tokens.cache_write, self.cache_write_per_1k))
            * 1000.0)
            .round() as u64
    }
}

/// What is known about a call when quotas are checked.
#[derive(Debug, Clone, Copy)]
pub struct CallInfo<'a> {
    pub principal: &'a Principal,
    pub operation: Operation,
    pub model: &'a str,
}

/// One counter a call is checked and charged against: an entry and its partition for this call.
#[derive(Debug, Clone)]
pub struct Target {
    pub rule: Arc<QuotaRule>,
    /// `{quota}\x1f{partition values}`: stable across reloads, so counts survive them (and a renamed
    /// quota starts from zero).
    pub key: String,
}

/// Separates the parts of a counter key; never in a name, tag or model id.
pub const KEY_SEPARATOR: char = '\u{1f}';

#[derive(Debug, Default)]
pub struct QuotaSet {
    rules: Vec<Arc<QuotaRule>>,
    pricing: Vec<(Vec<String>, Price)>,
    groups_of: HashMap<String, Vec<String>>,
    /// For the principals the configuration names: the entries whose "who" part they satisfy, so a
    /// call only tests those entries' models and operations.
    by_principal: HashMap<String, Vec<usize>>,
    pub reserve_max_tokens: bool,
    pub on_backend_error: OnBackendError,
}

impl QuotaSet {
    /// Compiles and validates `[quotas]` and `[[pricing]]`. `principals` are every caller the
    /// configuration names (with `groups_of` their `[[groups]]` memberships).
    pub fn compile(
        config: &QuotasConfig,
        pricing: &[PricingConfig],
        known_groups: &[&str],
        groups_of: HashMap<String, Vec<String>>,
        principals: &[&Principal],
    ) -> Result<QuotaSet, QuotaConfigError> {
        let mut pricing_compiled = Vec::with_capacity(pricing.len());
        for entry in pricing {
            let fail = |message: &str| QuotaConfigError {
                quota: "pricing".to_owned(),
                message: format!("{:?}: {message}", entry.models),
            };
            if entry.models.is_empty() {
                return Err(fail("names no models"));
            }
            let cache_read = entry.cache_read_per_1k.unwrap_or(entry.input_per_1k);
            let cache_write = entry.cache_write_per_1k.unwrap_or(entry.input_per_1k);
            for price in [
                entry.input_per_1k,
                entry.output_per_1k,
                cache_read,
                cache_write,
            ] {
                if !price.is_finite() || price < 0.0 {
                    return Err(fail("prices must be finite and not negative"));
                }
            }
            pricing_compiled.push((
                entry.models.clone(),
                Price {
                    input_per_1k: entry.input_per_1k,
                    output_per_1k: entry.output_per_1k,
                    cache_read_per_1k: cache_read,
                    cache_write_per_1k: cache_write,
                },
            ));
        }
        let mut rules: Vec<Arc<QuotaRule>> = Vec::with_capacity(config.rules.len());
        for entry in &config.rules {
            let rule = compile_rule(entry, known_groups, !pricing_compiled.is_empty())?;
            if rules.iter().any(|r| r.name == rule.name) {
                return Err(QuotaConfigError {
                    quota: entry.name.clone(),
                    message: "is defined twice".to_owned(),
                });
            }
            rules.push(Arc::new(rule));
        }
        let mut set = QuotaSet {
            rules,
            pricing: pricing_compiled,
            groups_of,
            by_principal: HashMap::new(),
            reserve_max_tokens: config.reserve_max_tokens,
            on_backend_error: config.on_backend_error,
        };
        for principal in principals {
            let matching = (0..set.rules.len())
                .filter(|&i| set.who_matches(&set.rules[i], principal))
                .collect();
            set.by_principal
                .insert(principal.name().to_owned(), matching);
        }
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> &[Arc<QuotaRule>] {
        &self.rules
    }

    pub fn rule(&self, name: &str) -> Option<&Arc<QuotaRule>> {
        self.rules.iter().find(|r| &*r.name == name)
    }

    /// The entries `call` falls under, in config order.
    pub fn applying<'s>(
        &'s self,
        call: &'s CallInfo<'_>,
    ) -> impl Iterator<Item = &'s Arc<QuotaRule>> + 's {
        let known = self.by_principal.get(call.principal.name());
        let candidates: Box<dyn Iterator<Item = usize> + 's> = match known {
            // A principal known by name: only the entries precomputed for it.
            Some(indices) => Box::new(indices.iter().copied()),
            None => Box::new(
                (0..self.rules.len()).filter(|&i| self.who_matches(&self.rules[i], call.principal)),
            ),
        };
        candidates
            .map(|i| &self.rules[i])
            .filter(move |rule| rule.what_matches(call.operation, call.model))
    }

    /// The counters `call` is checked against.
    pub fn targets(&self, call: &CallInfo<'_>) -> Vec<Target> {
        self.applying(call)
            .map(|rule| Target {
                key: self.key(rule, call),
                rule: Arc::clone(rule),
            })
            .collect()
    }

    /// The price of `model`'s tokens: the first `[[pricing]]` entry matching it.
    pub fn price(&self, model: &str) -> Option<Price> {
        self.pricing
            .iter()
            .find(|(patterns, _)| {
                patterns
                    .iter()
                    .any(|p| glob_match(p, model, Case::Sensitive))
            })
            .map(|(_, price)| *price)
    }

    fn groups(&self, principal: &Principal) -> &[String] {
        self.groups_of
            .get(principal.name())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn who_matches(&self, rule: &QuotaRule, principal: &Principal) -> bool {
        let named = rule.principals.is_empty()
            || rule
                .principals
                .iter()
                .any(|p| p == principal.name() || glob_match(p, principal.arn(), Case::Sensitive));
        let grouped = rule.groups.is_empty()
            || self
                .groups(principal)
                .iter()
                .any(|g| rule.groups.contains(g));
        let tagged = rule.tags.iter().all(|(key, pattern)| {
            principal
                .tags()
                .iter()
                .any(|(k, v)| k == key && glob_match(pattern, v, Case::Sensitive))
        });
        named && grouped && tagged
    }

    fn key(&self, rule: &QuotaRule, call: &CallInfo<'_>) -> String {
        let mut key = String::with_capacity(rule.name.len() + 48);
        key.push_str(&rule.name);
        for part in &rule.per {
            key.push(KEY_SEPARATOR);
            match part {
                Partition::Principal => key.push_str(call.principal.name()),
                Partition::Group => {
                    // The caller's first group the entry names (or its first group at all).
                    let groups = self.groups(call.principal);
                    let group = groups
                        .iter()
                        .find(|g| rule.groups.is_empty() || rule.groups.contains(g));
                    key.push_str(group.map(String::as_str).unwrap_or("-"));
                }
                Partition::Tag(tag) => {
                    let value = call.principal.tags().iter().find(|(k, _)| k == tag);
                    key.push_str(value.map(|(_, v)| v.as_str()).unwrap_or("-"));
                }
                Partition::Model => key.push_str(call.model),
                Partition::All => key.push('*'),
            }
        }
        key
    }
}

impl QuotaRule {
    pub fn usage_gauge(&self) -> &metrics::Gauge {
        self.usage_gauge
            .get_or_init(|| super::metrics::usage_gauge(&self.name))
    }

    fn what_matches(&self, operation: Operation, model: &str) -> bool {
        (self.operations.is_empty() || self.operations.contains(&operation))
            && (self.models.is_empty()
                || self
                    .models
                    .iter()
                    .any(|p| glob_match(p, model, Case::Sensitive)))
    }

    /// The partition parts of a counter key of this entry, named (`principal=app-a`).
    pub fn describe_partition(&self, key: &str) -> BTreeMap<String, String> {
        let mut parts = key.split(KEY_SEPARATOR).skip(1);
        let mut out = BTreeMap::new();
        for per in &self.per {
            let value = parts.next().unwrap_or("").to_owned();
            let name = match per {
                Partition::Principal => "principal".to_owned(),
                Partition::Group => "group".to_owned(),
                Partition::Tag(tag) => format!("tag:{tag}"),
                Partition::Model => "model".to_owned(),
                Partition::All => continue,
            };
            out.insert(name, value);
        }
        out
    }
}

fn compile_rule(
    entry: &QuotaConfig,
    known_groups: &[&str],
    priced: bool,
) -> Result<QuotaRule, QuotaConfigError> {
    let fail = |message: String| QuotaConfigError {
        quota: entry.name.clone(),
        message,
    };
    if entry.name.is_empty() || entry.name.contains(KEY_SEPARATOR) {
        return Err(fail("needs a name (printable characters)".to_owned()));
    }
    for group in &entry.groups {
        if !known_groups.contains(&group.as_str()) {
            return Err(fail(format!("group {group:?} is not a [[groups]] name")));
        }
    }
    let mut operations = Vec::with_capacity(entry.operations.len());
    for name in &entry.operations {
        let op = Operation::all()
            .iter()
            .find(|op| op.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| fail(format!("unknown operation {name:?}")))?;
        operations.push(*op);
    }
    let mut per = Vec::new();
    for item in entry.per.items() {
        let part = match item.as_str() {
            "principal" => Partition::Principal,
            "group" => Partition::Group,
            "model" => Partition::Model,
            "all" => Partition::All,
            other => match other.strip_prefix("tag:") {
                Some(tag) if !tag.is_empty() => Partition::Tag(tag.to_owned()),
                _ => {
                    return Err(fail(format!(
                        "per {other:?}: expected principal, group, tag:<key>, model or all"
                    )))
                }
            },
        };
        if per.contains(&part) {
            return Err(fail(format!("per lists {item:?} twice")));
        }
        per.push(part);
    }
    let usd = |value: Option<f64>, field: &str| -> Result<Option<u64>, QuotaConfigError> {
        match value {
            None => Ok(None),
            Some(v) if !v.is_finite() || v < 0.0 => {
                Err(fail(format!("{field} must be a positive amount")))
            }
            Some(_) if !priced => Err(fail(format!(
                "{field} needs [[pricing]] entries to price tokens with"
            ))),
            Some(v) => Ok(Some((v * MICRO_USD).round() as u64)),
        }
    };
    let limits = Limits {
        requests_per_minute: entry.requests_per_minute,
        tokens_per_minute: entry.tokens_per_minute,
        input_tokens_per_minute: entry.input_tokens_per_minute,
        output_tokens_per_minute: entry.output_tokens_per_minute,
        tokens_per_day: entry.tokens_per_day,
        tokens_per_month: entry.tokens_per_month,
        usd_micro_per_day: usd(entry.usd_per_day, "usd_per_day")?,
        usd_micro_per_month: usd(entry.usd_per_month, "usd_per_month")?,
    };
    if limits.is_empty() {
        return Err(fail(
            "sets no limit (requests_per_minute, tokens_per_minute, ..., usd_per_month)".to_owned(),
        ));
    }
    Ok(QuotaRule {
        name: Arc::from(entry.name.as_str()),
        principals: entry.principals.clone(),
        groups: entry.groups.clone(),
        tags: entry
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        models: entry.models.clone(),
        operations,
        per,
        limits,
        usage_gauge: std::sync::OnceLock::new(),
    })
}
