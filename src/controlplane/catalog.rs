//! The cached control-plane answers: immutable, replaced whole (arc-swap) when a region is fetched
//! again or an on-demand lookup adds an entry. Entries keep AWS's field names and shapes so model
//! discovery endpoints can serve them as Bedrock would.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use crate::classify::WrapperKind;

/// `{"modelArn": ...}`, as in `InferenceProfileModel` and `PromptRouterTargetModel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelRef {
    pub model_arn: String,
}

/// One `InferenceProfileSummary` (ListInferenceProfiles) or GetInferenceProfile answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceProfile {
    pub inference_profile_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// RFC 3339, as the service sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    pub inference_profile_arn: String,
    pub models: Vec<ModelRef>,
    pub inference_profile_id: String,
    /// `ACTIVE`.
    pub status: String,
    /// `SYSTEM_DEFINED` or `APPLICATION`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `{"status": "ACTIVE" | "LEGACY"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelLifecycle {
    pub status: String,
}

/// One `FoundationModelSummary` (ListFoundationModels).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FoundationModel {
    pub model_arn: String,
    pub model_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_streaming_supported: Option<bool>,
    pub customizations_supported: Vec<String>,
    pub inference_types_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_lifecycle: Option<ModelLifecycle>,
}

/// A GetPromptRouter answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptRouter {
    pub prompt_router_name: String,
    pub prompt_router_arn: String,
    pub models: Vec<ModelRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_model: Option<ModelRef>,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A GetProvisionedModelThroughput answer (the fields that say what it runs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionedModel {
    pub provisioned_model_arn: String,
    pub provisioned_model_name: String,
    /// The model it runs: a foundation model or a custom model ARN.
    pub model_arn: String,
    pub foundation_model_arn: String,
    pub status: String,
}

/// Whether a region's listing could be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionStatus {
    /// Not fetched yet (start-up).
    Pending,
    /// Listed at `fetched_at`.
    Live,
    /// The last fetch failed; the built-in table is used until one succeeds.
    Unavailable { reason: String },
}

/// What the control plane said about one region.
#[derive(Debug, Clone)]
pub struct RegionCatalog {
    pub status: RegionStatus,
    pub fetched_at: Option<SystemTime>,
    profiles: Vec<Arc<InferenceProfile>>,
    /// Profile id and ARN -> index in `profiles`.
    profile_index: HashMap<String, usize>,
    foundation_models: Vec<Arc<FoundationModel>>,
    routers: HashMap<String, Arc<PromptRouter>>,
    provisioned: HashMap<String, Arc<ProvisionedModel>>,
    /// Keys the control plane was asked about on demand and could not answer (not found, denied,
    /// timed out): looked up again only after the next refresh.
    missing: HashSet<(WrapperKind, String)>,
}

impl RegionCatalog {
    pub fn pending() -> Self {
        Self::with_status(RegionStatus::Pending)
    }

    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::with_status(RegionStatus::Unavailable {
            reason: reason.into(),
        })
    }

    fn with_status(status: RegionStatus) -> Self {
        Self {
            status,
            fetched_at: None,
            profiles: Vec::new(),
            profile_index: HashMap::new(),
            foundation_models: Vec::new(),
            routers: HashMap::new(),
            provisioned: HashMap::new(),
            missing: HashSet::new(),
        }
    }

    /// A freshly listed region.
    pub fn live(
        profiles: Vec<InferenceProfile>,
        foundation_models: Vec<FoundationModel>,
        fetched_at: SystemTime,
    ) -> Self {
        let mut catalog = Self::with_status(RegionStatus::Live);
        catalog.fetched_at = Some(fetched_at);
        for profile in profiles {
            catalog.add_profile(profile);
        }
        catalog.foundation_models = foundation_models.into_iter().map(Arc::new).collect();
        catalog
    }

    pub fn is_live(&self) -> bool {
        self.status == RegionStatus::Live
    }

    pub fn profiles(&self) -> &[Arc<InferenceProfile>] {
        &self.profiles
    }

    pub fn profile(&self, id_or_arn: &str) -> Option<&Arc<InferenceProfile>> {
        self.profile_index
            .get(id_or_arn)
            .and_then(|&i| self.profiles.get(i))
    }

    pub fn foundation_models(&self) -> &[Arc<FoundationModel>] {
        &self.foundation_models
    }

    pub fn prompt_router(&self, arn: &str) -> Option<&Arc<PromptRouter>> {
        self.routers.get(arn)
    }

    pub fn provisioned_model(&self, arn: &str) -> Option<&Arc<ProvisionedModel>> {
        self.provisioned.get(arn)
    }

    pub(crate) fn is_missing(&self, kind: WrapperKind, key: &str) -> bool {
        self.missing.contains(&(kind, key.to_owned()))
    }

    pub(crate) fn add_profile(&mut self, profile: InferenceProfile) {
        let index = match self.profile_index.get(&profile.inference_profile_arn) {
            Some(&i) => {
                if let Some(slot) = self.profiles.get_mut(i) {
                    *slot = Arc::new(profile.clone());
                }
                i
            }
            None => {
                self.profiles.push(Arc::new(profile.clone()));
                self.profiles.len() - 1
            }
        };
        self.profile_index
            .insert(profile.inference_profile_id.clone(), index);
        self.profile_index
            .insert(profile.inference_profile_arn.clone(), index);
    }

    /// Adds a profile found by an on-demand lookup, also under the id or ARN it was asked by.
    pub(crate) fn add_profile_as(&mut self, key: &str, profile: InferenceProfile) {
        self.add_profile(profile.clone());
        if let Some(&i) = self.profile_index.get(&profile.inference_profile_arn) {
            self.profile_index.insert(key.to_owned(), i);
        }
    }

    pub(crate) fn add_router_as(&mut self, key: &str, router: PromptRouter) {
        let router = Arc::new(router);
        self.routers
            .insert(router.prompt_router_arn.clone(), Arc::clone(&router));
        self.routers.insert(key.to_owned(), router);
    }

    pub(crate) fn add_provisioned(&mut self, key: &str, model: ProvisionedModel) {
        let model = Arc::new(model);
        self.provisioned
            .insert(model.provisioned_model_arn.clone(), Arc::clone(&model));
        self.provisioned.insert(key.to_owned(), model);
    }

    pub(crate) fn add_missing(&mut self, kind: WrapperKind, key: &str) {
        self.missing.insert((kind, key.to_owned()));
    }
}

/// Every served region's [`RegionCatalog`].
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    regions: HashMap<String, Arc<RegionCatalog>>,
}

impl Catalog {
    pub fn new(regions: impl IntoIterator<Item = String>) -> Self {
        Self {
            regions: regions
                .into_iter()
                .map(|r| (r, Arc::new(RegionCatalog::pending())))
                .collect(),
        }
    }

    pub fn region(&self, region: &str) -> Option<&Arc<RegionCatalog>> {
        self.regions.get(region)
    }

    pub fn regions(&self) -> impl Iterator<Item = (&str, &Arc<RegionCatalog>)> {
        self.regions.iter().map(|(r, c)| (r.as_str(), c))
    }

    /// A copy with `region` replaced (the other regions are shared, not copied).
    pub fn with_region(&self, region: &str, catalog: RegionCatalog) -> Self {
        let mut regions = self.regions.clone();
        regions.insert(region.to_owned(), Arc::new(catalog));
        Self { regions }
    }
}
