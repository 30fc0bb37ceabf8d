//! What wrappers route to: the prefix table of cross-region inference profiles, the operator's
//! declarations, and the [`Routing`] trait through which classification asks the control-plane cache
//! (kept apart from `resources` so `model_id` can read the prefixes without importing `resources`).

use std::collections::HashMap;

/// The prefix whose profiles may route to any commercial region.
pub(crate) const GLOBAL_PREFIX: &str = "global";

/// Built-in system inference profile prefixes and their destination regions.
pub(crate) const BUILTIN_PROFILES: &[(&str, &[&str])] = &[
    (
        "us",
        &[
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "ca-central-1",
            "ca-west-1",
        ],
    ),
    ("us-gov", &["us-gov-east-1", "us-gov-west-1"]),
    (
        "eu",
        &[
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "il-central-1",
        ],
    ),
    (
        "apac",
        &[
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-7",
            "ap-east-2",
            "me-central-1",
        ],
    ),
    ("jp", &["ap-northeast-1", "ap-northeast-3"]),
    (
        "au",
        &["ap-southeast-2", "ap-southeast-4", "ap-southeast-6"],
    ),
    ("ca", &["ca-central-1", "ca-west-1"]),
    // Region-less: checked against the calling region and the region-less foundation model ARN.
    (GLOBAL_PREFIX, &[]),
];

/// Cross-region inference profile prefixes and the regions each may route to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferenceProfileTable {
    // A handful of entries: a Vec keeps the declared order for listings and is as fast as a map.
    entries: Vec<(String, Vec<String>)>,
    /// Prefixes the configuration declared: their regions override the control plane.
    configured: Vec<String>,
}

impl InferenceProfileTable {
    /// The prefixes Bedrock defines today (`us`, `us-gov`, `eu`, `apac`, `jp`, `au`, `ca`, `global`).
    pub fn builtin() -> Self {
        let entries = BUILTIN_PROFILES
            .iter()
            .map(|(prefix, regions)| {
                (
                    (*prefix).to_owned(),
                    regions.iter().map(|r| (*r).to_owned()).collect(),
                )
            })
            .collect();
        Self {
            entries,
            configured: Vec::new(),
        }
    }

    /// Adds a prefix, or replaces the regions of an existing one (AWS adds regions before we ship).
    pub fn extend(&mut self, prefix: &str, regions: Vec<String>) {
        if !self.configured.iter().any(|p| p == prefix) {
            self.configured.push(prefix.to_owned());
        }
        match self.entries.iter_mut().find(|(p, _)| p == prefix) {
            Some(entry) => entry.1 = regions,
            None => self.entries.push((prefix.to_owned(), regions)),
        }
    }

    /// Destination regions of `prefix` (empty for `global`), or `None` for an unknown prefix.
    pub fn regions(&self, prefix: &str) -> Option<&[String]> {
        self.entries
            .iter()
            .find(|(p, _)| p == prefix)
            .map(|(_, r)| r.as_slice())
    }

    /// True when the configuration declared `prefix` (`[inference_profiles]`).
    pub fn is_configured(&self, prefix: &str) -> bool {
        self.configured.iter().any(|p| p == prefix)
    }

    pub fn prefixes(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(p, _)| p.as_str())
    }
}

impl Default for InferenceProfileTable {
    fn default() -> Self {
        Self::builtin()
    }
}

/// Application inference profiles declared in the configuration: profile ARN -> the model ARNs it
/// routes to. Bedrock only reveals this through `GetInferenceProfile`, so the operator states it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplicationProfiles {
    map: HashMap<String, Vec<String>>,
}

impl ApplicationProfiles {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares (or redeclares) what `profile_arn` routes to.
    pub fn insert(&mut self, profile_arn: String, model_arns: Vec<String>) {
        self.map.insert(profile_arn, model_arns);
    }

    pub fn get(&self, arn: &str) -> Option<&[String]> {
        self.map.get(arn).map(Vec::as_slice)
    }
}

/// Where the models a wrapper routes to were learnt; `explain` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteSource {
    /// `[inference_profiles]` or `[[application_inference_profiles]]` in the configuration.
    Config,
    /// The Bedrock control plane (ListInferenceProfiles, GetInferenceProfile, GetPromptRouter, ...).
    ControlPlane,
    /// The built-in per-model table (the control plane could not be asked).
    BuiltinModelTable,
    /// The built-in per-prefix table: every region the prefix may cover (a superset, fails closed).
    BuiltinPrefixTable,
}

impl RouteSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteSource::Config => "config",
            RouteSource::ControlPlane => "control-plane",
            RouteSource::BuiltinModelTable => "builtin-model-table",
            RouteSource::BuiltinPrefixTable => "builtin-prefix-table",
        }
    }
}

/// The answer of a [`Routing`] lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The ARNs this wrapper can reach (foundation models, or inference profiles for routers).
    Models {
        arns: Vec<String>,
        source: RouteSource,
    },
    /// The control plane is live but this id is not in its cache: ask it, then classify again.
    NotCached,
    /// Nobody can say (control plane unreachable or the id is unknown to it).
    Unknown,
}

/// The kinds of wrapper a model id can be, for [`Routing::lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WrapperKind {
    /// A system-defined (cross-region) inference profile, by id (`us.anthropic...`).
    SystemProfile,
    /// An application inference profile, by ARN.
    ApplicationProfile,
    /// A prompt router (`prompt-router/...` or `default-prompt-router/...`), by ARN.
    PromptRouter,
    /// A provisioned model, by ARN.
    ProvisionedModel,
    /// A Prompt management prompt (`prompt/{id}[:version]`), by ARN.
    Prompt,
}

impl WrapperKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WrapperKind::SystemProfile => "inference profile",
            WrapperKind::ApplicationProfile => "application inference profile",
            WrapperKind::PromptRouter => "prompt router",
            WrapperKind::ProvisionedModel => "provisioned model",
            WrapperKind::Prompt => "prompt",
        }
    }
}

/// What a wrapper id routes to, as seen from a source region. Implemented by the control-plane cache
/// (`crate::controlplane`); classification itself stays free of I/O.
pub trait Routing: Send + Sync {
    fn lookup(&self, region: &str, kind: WrapperKind, key: &str) -> Lookup;
}

/// Knows nothing: every profile falls back to the per-prefix table, every other wrapper is unresolved.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRouting;

impl Routing for NoRouting {
    fn lookup(&self, _region: &str, _kind: WrapperKind, _key: &str) -> Lookup {
        Lookup::Unknown
    }
}

/// What to do with a wrapper whose models cannot be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnresolvedWrappers {
    /// Refuse the call (AccessDeniedException): a deny on the model could be bypassed otherwise.
    #[default]
    Deny,
    /// Authorize the wrapper ARN alone (the behaviour before wrappers were resolved).
    WrapperOnly,
}
