//! The compiled, immutable view of a configuration that the request path reads. It is built once per
//! (re)load and shared behind an `ArcSwap`; a request takes one snapshot and uses it for its whole life.

use std::path::Path;

use super::{Config, ConfigError};
use crate::classify::{ApplicationProfiles, InferenceProfileTable};
use crate::policy::{PolicySet, PolicySource};

/// Applies when neither the config nor the command line names a policy: inference on foundation models
/// and system inference profiles only. Provisioned, custom and imported models, prompts and async jobs
/// (which write to S3) stay denied until someone allows them on purpose.
pub const DEFAULT_POLICY: &str = include_str!("../../config/policies/default.json");

#[derive(Debug)]
pub struct Snapshot {
    pub policies: PolicySet,
    pub profiles: InferenceProfileTable,
    pub application_profiles: ApplicationProfiles,
    pub principal_arn: String,
    pub hide_rule_names: bool,
    pub max_body_bytes: usize,
    /// Where each policy came from, for the start-up log.
    pub policy_origins: Vec<String>,
}

impl Snapshot {
    /// Reads every referenced policy file and compiles the lot; any error leaves nothing half-built.
    pub fn compile(config: &Config) -> Result<Snapshot, ConfigError> {
        let sources = if config.policy.files.is_empty() {
            vec![PolicySource {
                name: "default".to_owned(),
                origin: "embedded default policy".to_owned(),
                text: DEFAULT_POLICY.to_owned(),
            }]
        } else {
            config
                .policy
                .files
                .iter()
                .map(|path| read_policy(path))
                .collect::<Result<Vec<_>, _>>()?
        };
        let policy_origins = sources.iter().map(|s| s.origin.clone()).collect();
        let policies = PolicySet::from_sources(&sources)?;

        let mut profiles = InferenceProfileTable::builtin();
        for (prefix, regions) in &config.inference_profiles {
            profiles.extend(prefix, regions.clone());
        }
        let mut application_profiles = ApplicationProfiles::new();
        for profile in &config.application_inference_profiles {
            application_profiles.insert(profile.arn.clone(), profile.models.clone());
        }

        Ok(Snapshot {
            policies,
            profiles,
            application_profiles,
            principal_arn: config.principal.arn.clone(),
            hide_rule_names: config.policy.hide_rule_names,
            max_body_bytes: config.limits.max_body_bytes,
            policy_origins,
        })
    }
}

fn read_policy(path: &Path) -> Result<PolicySource, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok(PolicySource {
        name,
        origin: path.display().to_string(),
        text,
    })
}
