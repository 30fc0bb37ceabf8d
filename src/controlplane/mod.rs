//! The Bedrock control plane as the guard's source of truth for what wrappers route to.
//!
//! For each region the guard serves, [`ControlPlane`] lists the inference profiles (system-defined
//! and application: each profile's `models[].modelArn` are its real destinations, which differ per
//! model and source region) and the foundation models, with the proxy's own credentials. The result
//! is an immutable [`Catalog`] swapped whole (arc-swap): requests read it without locks. It is
//! fetched at start (readiness waits at most `start_wait_ms`), again every `refresh_secs` and after
//! each configuration reload. An id the cache does not know (an application profile created since,
//! a prompt router, a provisioned model, a prompt) is looked up once on demand (`GetInferenceProfile`,
//! `GetPromptRouter`, `GetProvisionedModelThroughput`, Prompt management's `GetPrompt`), one flight
//! per id.
//!
//! When the control plane cannot be asked (unreachable, AccessDenied on `bedrock:ListInferenceProfiles`),
//! classification falls back to the built-in per-model table ([`builtin`]) and then to the per-prefix
//! table; the fallback is logged, counted (`bedrock_guard_control_plane_up`) and shown by `/readyz`.

pub mod builtin;
mod catalog;
mod fetch;
mod prompts;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use aws_types::SdkConfig;
use serde::Deserialize;
use tokio::sync::watch;

pub use builtin::BuiltinRouting;
pub use catalog::{
    Catalog, FoundationModel, InferenceProfile, ModelLifecycle, ModelRef, PromptRouter,
    ProvisionedModel, RegionCatalog, RegionStatus,
};
pub use fetch::{FetchError, RegionClient};
pub use prompts::PromptClient;

use crate::classify::{Lookup, RouteSource, Routing, UnresolvedWrappers, WrapperKind};

/// Replaced by the region in a configured control-plane endpoint.
pub const REGION_PLACEHOLDER: &str = "{region}";

/// `[control_plane]` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlPlaneConfig {
    /// Ask the control plane at all (false: the built-in tables only).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Base URL of the Bedrock control plane; may contain `{region}`. Default: the SDK's regional
    /// endpoint (`https://bedrock.{region}.amazonaws.com`). Set it for a VPC endpoint or a test double.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Base URL of Prompt management (GetPrompt, for `prompt` ARNs); may contain `{region}`.
    /// Default: `https://bedrock-agent.{region}.amazonaws.com`.
    #[serde(default)]
    pub prompt_endpoint: Option<String>,
    /// How often the listings are fetched again.
    #[serde(default = "default_refresh_secs")]
    pub refresh_secs: u64,
    /// Longest time start-up waits for the first listing before serving with the built-in table.
    #[serde(default = "default_start_wait_ms")]
    pub start_wait_ms: u64,
    /// Longest time a request waits for an on-demand lookup of an id not in the cache.
    #[serde(default = "default_lookup_timeout_ms")]
    pub lookup_timeout_ms: u64,
    /// A wrapper (prompt router, application profile, prompt, provisioned model) whose models
    /// cannot be resolved: `deny` (default) or `wrapper-only` (authorize the wrapper ARN alone).
    #[serde(default)]
    pub unresolved_wrappers: UnresolvedWrappers,
}

fn default_enabled() -> bool {
    true
}
fn default_refresh_secs() -> u64 {
    3600
}
fn default_start_wait_ms() -> u64 {
    3000
}
fn default_lookup_timeout_ms() -> u64 {
    3000
}

impl Default for ControlPlaneConfig {
    fn default() -> Self {
        Self {
            enabled: default_enabled(),
            endpoint: None,
            prompt_endpoint: None,
            refresh_secs: default_refresh_secs(),
            start_wait_ms: default_start_wait_ms(),
            lookup_timeout_ms: default_lookup_timeout_ms(),
            unresolved_wrappers: UnresolvedWrappers::default(),
        }
    }
}

type FlightKey = (String, WrapperKind, String);

/// The control-plane cache of the served regions, and the clients that fill it.
#[derive(Debug)]
pub struct ControlPlane {
    catalog: ArcSwap<Catalog>,
    /// Empty when disabled: lookups then use the built-in table only.
    clients: HashMap<String, RegionClient>,
    prompt_clients: HashMap<String, PromptClient>,
    refresh_every: Duration,
    start_wait: Duration,
    lookup_timeout: Duration,
    /// Serializes read-modify-write of `catalog` (readers never wait on it).
    update: Mutex<()>,
    flights: Mutex<HashMap<FlightKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Counts completed fetches and lookups, so start-up and tests can wait for one.
    generation: watch::Sender<u64>,
}

impl ControlPlane {
    /// A control plane for `regions` (the home region first). Nothing is fetched until
    /// [`ControlPlane::refresh`] or [`ControlPlane::spawn_refresher`].
    pub fn new(config: &ControlPlaneConfig, sdk: &SdkConfig, regions: &[String]) -> Self {
        let clients = if config.enabled {
            regions
                .iter()
                .map(|r| {
                    (
                        r.clone(),
                        RegionClient::new(sdk, r, config.endpoint.as_deref()),
                    )
                })
                .collect()
        } else {
            HashMap::new()
        };
        let lookup_timeout = Duration::from_millis(config.lookup_timeout_ms.max(1));
        let prompt_clients = clients
            .keys()
            .map(|r| {
                (
                    r.clone(),
                    PromptClient::new(
                        sdk.credentials_provider(),
                        r,
                        config.prompt_endpoint.as_deref(),
                        lookup_timeout,
                    ),
                )
            })
            .collect();
        Self {
            catalog: ArcSwap::from_pointee(Catalog::new(regions.iter().cloned())),
            clients,
            prompt_clients,
            refresh_every: Duration::from_secs(config.refresh_secs.max(1)),
            start_wait: Duration::from_millis(config.start_wait_ms),
            lookup_timeout,
            update: Mutex::new(()),
            flights: Mutex::new(HashMap::new()),
            generation: watch::channel(0).0,
        }
    }

    /// Built-in tables only (no credentials, or `[control_plane] enabled = false`).
    pub fn offline() -> Self {
        Self::new(
            &ControlPlaneConfig {
                enabled: false,
                ..ControlPlaneConfig::default()
            },
            &SdkConfig::builder().build(),
            &[],
        )
    }

    pub fn is_enabled(&self) -> bool {
        !self.clients.is_empty()
    }

    /// The current cache, for one request: lookups answer from this value only.
    pub fn routing(&self) -> RoutingView {
        RoutingView {
            catalog: self.catalog.load_full(),
            can_resolve: self.is_enabled(),
        }
    }

    /// Like [`ControlPlane::routing`], but never asks for a lookup: ids the cache does not know use
    /// the built-in tables (`check`, which decides many questions without waiting on each).
    pub fn settled_routing(&self) -> RoutingView {
        RoutingView {
            catalog: self.catalog.load_full(),
            can_resolve: false,
        }
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// The inference profiles listed for `region` (empty when not fetched).
    pub fn profiles(&self, region: &str) -> Vec<Arc<InferenceProfile>> {
        self.catalog
            .load()
            .region(region)
            .map(|r| r.profiles().to_vec())
            .unwrap_or_default()
    }

    /// One profile by id or ARN, from the cache.
    pub fn profile(&self, region: &str, id_or_arn: &str) -> Option<Arc<InferenceProfile>> {
        self.catalog
            .load()
            .region(region)
            .and_then(|r| r.profile(id_or_arn).cloned())
    }

    /// The foundation models listed for `region` (empty when not fetched).
    pub fn foundation_models(&self, region: &str) -> Vec<Arc<FoundationModel>> {
        self.catalog
            .load()
            .region(region)
            .map(|r| r.foundation_models().to_vec())
            .unwrap_or_default()
    }

    /// Notified after each completed fetch or lookup.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Fetches every served region again. Failures keep the region on the built-in table.
    pub async fn refresh(&self) {
        let fetches = self.clients.iter().map(|(region, client)| async move {
            let result = client.list().await;
            (region, result)
        });
        for (region, result) in futures_util::future::join_all(fetches).await {
            let fresh = match result {
                Ok(catalog) => {
                    tracing::info!(
                        region = %region,
                        profiles = catalog.profiles().len(),
                        foundation_models = catalog.foundation_models().len(),
                        "inference profile routing loaded from the Bedrock control plane"
                    );
                    metrics::gauge!("bedrock_guard_control_plane_up", "region" => region.clone())
                        .set(1.0);
                    catalog
                }
                Err(err) => {
                    let detail = err.to_string();
                    // One line per problem: the SDK's error carries every credential provider it
                    // tried over several lines; that dump is for debug.
                    tracing::warn!(
                        region = %region,
                        error = detail.lines().next().unwrap_or_default(),
                        table_date = builtin::TABLE_DATE,
                        "cannot list inference profiles (the proxy needs bedrock:ListInferenceProfiles and bedrock:ListFoundationModels); using the built-in routing table"
                    );
                    tracing::debug!(region = %region, error = %detail, "control-plane listing failed");
                    metrics::gauge!("bedrock_guard_control_plane_up", "region" => region.clone())
                        .set(0.0);
                    RegionCatalog::unavailable(detail)
                }
            };
            self.replace_region(region, |_| fresh);
        }
        self.generation.send_modify(|g| *g += 1);
    }

    /// Looks `key` up on demand (an id the cache does not know), one flight per key. Afterwards the
    /// cache either knows it or marks it missing, so the lookup is not repeated until the next refresh.
    pub async fn resolve(&self, region: &str, kind: WrapperKind, key: &str) {
        let Some(client) = self.clients.get(region) else {
            return;
        };
        let flight_key = (region.to_owned(), kind, key.to_owned());
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(flights.entry(flight_key.clone()).or_default())
        };
        let _in_flight = flight.lock().await;
        if self.routing().lookup(region, kind, key) != Lookup::NotCached {
            return; // another request resolved it while this one waited
        }
        let outcome = tokio::time::timeout(self.lookup_timeout, async {
            match kind {
                WrapperKind::SystemProfile | WrapperKind::ApplicationProfile => client
                    .inference_profile(key)
                    .await
                    .map(|p| Resolved::Profile(Box::new(p))),
                WrapperKind::PromptRouter => client
                    .prompt_router(key)
                    .await
                    .map(|r| Resolved::Router(Box::new(r))),
                WrapperKind::ProvisionedModel => client
                    .provisioned_model(key)
                    .await
                    .map(|p| Resolved::Provisioned(Box::new(p))),
                WrapperKind::Prompt => match self.prompt_clients.get(region) {
                    Some(prompts) => prompts.models(key).await.map(Resolved::Prompt),
                    None => Ok(Resolved::Nothing),
                },
            }
        })
        .await;
        self.replace_region(region, |current| {
            let mut next = current.clone();
            match outcome {
                Ok(Ok(Resolved::Profile(p))) => next.add_profile_as(key, *p),
                Ok(Ok(Resolved::Router(r))) => next.add_router_as(key, *r),
                Ok(Ok(Resolved::Provisioned(p))) => next.add_provisioned(key, *p),
                Ok(Ok(Resolved::Prompt(models))) => next.add_prompt(key, models),
                Ok(Ok(Resolved::Nothing)) => next.add_missing(kind, key),
                Ok(Err(err)) => {
                    if !err.is_not_found() {
                        tracing::warn!(region = %region, %key, error = %err, "control-plane lookup failed");
                    }
                    next.add_missing(kind, key);
                }
                Err(_) => {
                    tracing::warn!(region = %region, %key, timeout_ms = self.lookup_timeout.as_millis() as u64, "control-plane lookup timed out");
                    next.add_missing(kind, key);
                }
            }
            next
        });
        self.flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&flight_key);
        self.generation.send_modify(|g| *g += 1);
    }

    fn replace_region(&self, region: &str, build: impl FnOnce(&RegionCatalog) -> RegionCatalog) {
        let _serial = self.update.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.catalog.load_full();
        let pending = RegionCatalog::pending();
        let base = current.region(region).map_or(&pending, |r| r.as_ref());
        let next = build(base);
        self.catalog
            .store(Arc::new(current.with_region(region, next)));
    }

    /// Fetches now, then every `refresh_secs` and whenever `reloads` changes (a configuration
    /// reload), until the returned task is aborted. Returns once the first fetch completed or
    /// `start_wait_ms` passed, whichever is first.
    pub async fn start<T: Send + Sync + 'static>(
        self: &Arc<Self>,
        mut reloads: watch::Receiver<T>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if !self.is_enabled() {
            return None;
        }
        let mut first = self.subscribe();
        let seen = *first.borrow_and_update();
        let this = Arc::clone(self);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.refresh_every);
            let mut reloads_open = true;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    changed = reloads.changed(), if reloads_open => {
                        if changed.is_err() {
                            // The reloader is gone: keep the periodic refresh only.
                            reloads_open = false;
                            continue;
                        }
                    }
                }
                this.refresh().await;
            }
        });
        let waited = tokio::time::timeout(self.start_wait, first.wait_for(|g| *g > seen)).await;
        if waited.is_err() {
            tracing::warn!(
                wait_ms = self.start_wait.as_millis() as u64,
                "the control plane did not answer in time; serving with the built-in routing table until it does"
            );
        }
        Some(task)
    }

    /// `/readyz` detail: per region, where routing comes from.
    pub fn status(&self) -> serde_json::Value {
        let catalog = self.catalog.load();
        let mut regions = serde_json::Map::new();
        for (region, rc) in catalog.regions() {
            let (source, error) = match (&rc.status, self.is_enabled()) {
                (_, false) => ("builtin-model-table (control plane disabled)", None),
                (RegionStatus::Live, _) => ("control-plane", None),
                (RegionStatus::Pending, _) => ("builtin-model-table (first fetch pending)", None),
                (RegionStatus::Unavailable { reason }, _) => {
                    ("builtin-model-table", Some(reason.clone()))
                }
            };
            regions.insert(
                region.to_owned(),
                serde_json::json!({
                    "routing": source,
                    "profiles": rc.profiles().len(),
                    "foundation_models": rc.foundation_models().len(),
                    "error": error,
                    "builtin_table_date": builtin::TABLE_DATE,
                }),
            );
        }
        serde_json::Value::Object(regions)
    }
}

enum Resolved {
    Profile(Box<InferenceProfile>),
    Router(Box<PromptRouter>),
    Provisioned(Box<ProvisionedModel>),
    Prompt(Vec<String>),
    Nothing,
}

/// One request's view of the cache: a [`Routing`] for classification.
#[derive(Debug, Clone)]
pub struct RoutingView {
    catalog: Arc<Catalog>,
    can_resolve: bool,
}

impl Routing for RoutingView {
    fn lookup(&self, region: &str, kind: WrapperKind, key: &str) -> Lookup {
        if let Some(rc) = self.catalog.region(region).filter(|rc| rc.is_live()) {
            let found: Option<Vec<String>> = match kind {
                WrapperKind::SystemProfile | WrapperKind::ApplicationProfile => rc
                    .profile(key)
                    .map(|p| p.models.iter().map(|m| m.model_arn.clone()).collect()),
                WrapperKind::PromptRouter => rc.prompt_router(key).map(|r| {
                    r.models
                        .iter()
                        .chain(r.fallback_model.iter())
                        .map(|m| m.model_arn.clone())
                        .collect()
                }),
                WrapperKind::ProvisionedModel => rc.provisioned_model(key).map(|p| {
                    let mut arns = vec![p.model_arn.clone()];
                    if !p.foundation_model_arn.is_empty() && p.foundation_model_arn != p.model_arn {
                        arns.push(p.foundation_model_arn.clone());
                    }
                    arns
                }),
                WrapperKind::Prompt => rc.prompt_models(key).map(<[String]>::to_vec),
            };
            // An entry that names no model cannot be authorized against its models: unresolved.
            if let Some(arns) = found.filter(|a| !a.is_empty()) {
                return Lookup::Models {
                    arns,
                    source: RouteSource::ControlPlane,
                };
            }
            if self.can_resolve && !rc.is_missing(kind, key) {
                return Lookup::NotCached;
            }
        }
        BuiltinRouting.lookup(region, kind, key)
    }
}
