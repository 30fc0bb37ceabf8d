//! The compiled, immutable view of a configuration that the request path reads. It is built once per
//! (re)load and shared behind an `ArcSwap`; a request takes one snapshot and uses it for its whole life.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::model::{Expectation, IdentityMode, NamedPrincipalConfig, PolicyTestConfig};
use super::{Config, ConfigError};
use crate::classify::{ApplicationProfiles, InferenceProfileTable};
use crate::policy::{Identity, Organization, PolicySet, PolicySource, Principal};

/// Applies when neither the config nor the command line names a policy: inference on foundation models
/// and system inference profiles only. Provisioned, custom and imported models, prompts and async jobs
/// (which write to S3) stay denied until someone allows them on purpose.
pub const DEFAULT_POLICY: &str = include_str!("../../config/policies/default.json");

/// The name of the fixed caller when `[principal] name` does not select a `[[principals]]` entry.
pub const DEFAULT_PRINCIPAL: &str = "default";

#[derive(Debug)]
pub struct Snapshot {
    pub profiles: InferenceProfileTable,
    pub application_profiles: ApplicationProfiles,
    /// The fixed caller's ARN (every request is made by it until client authentication exists).
    pub principal_arn: String,
    pub hide_rule_names: bool,
    pub max_body_bytes: usize,
    /// Where each policy came from, for the start-up log.
    pub policy_origins: Vec<String>,
    /// `[[policy_tests]]`, run by `check` ([`crate::policy_tests::run_policy_tests`]).
    pub policy_tests: Vec<PolicyTestConfig>,
    /// Extra model ids for the lint catalog.
    pub known_models: Vec<String>,
    /// The config's region, if any (policy tests default to it).
    pub region: Option<String>,
    /// The configured account of the proxy, if any.
    pub account_id: Option<String>,
    principals: Vec<Arc<Principal>>,
    by_name: HashMap<String, usize>,
    fixed: Arc<Principal>,
}

impl Snapshot {
    /// Reads every referenced policy file and compiles the lot; any error leaves nothing half-built.
    pub fn compile(config: &Config) -> Result<Snapshot, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            origin: "config".to_owned(),
            message,
        };
        let mut origins = Vec::new();
        let mut load = |paths: &[PathBuf]| -> Result<Option<Arc<PolicySet>>, ConfigError> {
            if paths.is_empty() {
                return Ok(None);
            }
            let sources = paths
                .iter()
                .map(|p| read_policy(p))
                .collect::<Result<Vec<_>, _>>()?;
            origins.extend(sources.iter().map(|s| s.origin.clone()));
            Ok(Some(Arc::new(PolicySet::from_sources(&sources)?)))
        };

        // Organisation: one compiled set per level, shared by every principal below it.
        let (org, org_id) = match &config.org {
            Some(org_config) => {
                let mut org =
                    Organization::new(org_config.id.clone(), load(&org_config.root_scps)?);
                for ou in &org_config.ous {
                    org.add_ou(&ou.id, ou.parent.as_deref(), load(&ou.scps)?)
                        .map_err(|e| invalid(e.0))?;
                }
                for account in &org_config.accounts {
                    org.add_account(&account.id, account.ou.as_deref(), load(&account.scps)?)
                        .map_err(|e| invalid(e.0))?;
                }
                org.validate().map_err(|e| invalid(e.0))?;
                (org, org_config.id.clone())
            }
            None => (Organization::default(), None),
        };

        let mut groups: HashMap<&str, &[PathBuf]> = HashMap::new();
        for group in &config.groups {
            if groups
                .insert(group.name.as_str(), group.policies.as_slice())
                .is_some()
            {
                return Err(invalid(format!(
                    "groups: {:?} is defined twice",
                    group.name
                )));
            }
        }

        let mut principals = Vec::new();
        let mut by_name = HashMap::new();
        for p in &config.principals {
            // `[policy] files` and `--policy` are the fixed caller's identity policies.
            let extra: &[PathBuf] = if config.principal.name.as_deref() == Some(p.name.as_str()) {
                &config.policy.files
            } else {
                &[]
            };
            let principal = build_principal(p, extra, &groups, &org, org_id.as_deref(), &mut load)
                .map_err(|e| match e {
                    ConfigError::Invalid { message, .. } => {
                        invalid(format!("principals {:?}: {message}", p.name))
                    }
                    other => other,
                })?;
            if by_name.insert(p.name.clone(), principals.len()).is_some() {
                return Err(invalid(format!(
                    "principals: {:?} is defined twice",
                    p.name
                )));
            }
            principals.push(Arc::new(principal));
        }

        let fixed = match &config.principal.name {
            Some(name) => match by_name.get(name) {
                Some(&i) => Arc::clone(&principals[i]),
                None => {
                    return Err(invalid(format!(
                        "principal.name {name:?} is not a [[principals]] name"
                    )))
                }
            },
            None => {
                let identity = if config.policy.files.is_empty() {
                    origins.push("embedded default policy".to_owned());
                    Arc::new(PolicySet::from_sources(&[PolicySource {
                        name: "default".to_owned(),
                        origin: "embedded default policy".to_owned(),
                        text: DEFAULT_POLICY.to_owned(),
                    }])?)
                } else {
                    load(&config.policy.files)?.unwrap_or_default()
                };
                let arn = config.principal.arn.as_str();
                let account = crate::policy::org::account_of_arn(arn);
                let scps = match (&config.org, account) {
                    (Some(_), Some(account)) => {
                        org.scp_layers(account).map_err(|e| invalid(e.0))?
                    }
                    (Some(_), None) => org.scp_layers("").map_err(|e| invalid(e.0))?,
                    _ => Vec::new(),
                };
                Arc::new(
                    Principal::new(DEFAULT_PRINCIPAL, arn, Identity::Policies(identity))
                        .with_account(account, org_id.as_deref(), scps),
                )
            }
        };

        let mut profiles = InferenceProfileTable::builtin();
        for (prefix, regions) in &config.inference_profiles {
            profiles.extend(prefix, regions.clone());
        }
        let mut application_profiles = ApplicationProfiles::new();
        for profile in &config.application_inference_profiles {
            application_profiles.insert(profile.arn.clone(), profile.models.clone());
        }
        for test in &config.policy_tests {
            if let Some(name) = &test.principal {
                if !by_name.contains_key(name) && name != DEFAULT_PRINCIPAL {
                    return Err(invalid(format!(
                        "policy_tests {:?}: principal {name:?} is not a [[principals]] name",
                        test.name.as_deref().unwrap_or(&test.model)
                    )));
                }
            }
            let _: Expectation = test.expect;
        }
        origins.dedup();

        Ok(Snapshot {
            profiles,
            application_profiles,
            principal_arn: fixed.arn().to_owned(),
            hide_rule_names: config.policy.hide_rule_names,
            max_body_bytes: config.limits.max_body_bytes,
            policy_origins: origins,
            policy_tests: config.policy_tests.clone(),
            known_models: config.catalog.models.clone(),
            region: config.region.clone(),
            account_id: config.account_id.clone(),
            principals,
            by_name,
            fixed,
        })
    }

    /// The caller every request is made by (until client authentication picks one per request).
    pub fn fixed_principal(&self) -> &Arc<Principal> {
        &self.fixed
    }

    /// A configured principal by name; `default` is the fixed caller when it is not a named one.
    pub fn principal(&self, name: &str) -> Option<&Arc<Principal>> {
        match self.by_name.get(name) {
            Some(&i) => self.principals.get(i),
            None if name == self.fixed.name() => Some(&self.fixed),
            None => None,
        }
    }

    /// Every configured principal, in config order (the implicit default caller is not among them).
    pub fn principals(&self) -> &[Arc<Principal>] {
        &self.principals
    }
}

fn build_principal(
    p: &NamedPrincipalConfig,
    extra_identity: &[PathBuf],
    groups: &HashMap<&str, &[PathBuf]>,
    org: &Organization,
    org_id: Option<&str>,
    load: &mut impl FnMut(&[PathBuf]) -> Result<Option<Arc<PolicySet>>, ConfigError>,
) -> Result<Principal, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        origin: "config".to_owned(),
        message,
    };
    let mut identity_files: Vec<PathBuf> = p.identity_policies.clone();
    for group in &p.groups {
        let Some(files) = groups.get(group.as_str()) else {
            return Err(invalid(format!("group {group:?} is not a [[groups]] name")));
        };
        identity_files.extend(files.iter().cloned());
    }
    identity_files.extend(extra_identity.iter().cloned());
    let identity = match (p.identity, load(&identity_files)?) {
        (_, Some(set)) => Identity::Policies(set),
        (IdentityMode::Unrestricted, None) => Identity::Unrestricted,
        (IdentityMode::Policies, None) => {
            return Err(invalid(
                "has no identity policies (own or groups'); AWS would deny it everything. Give it \
                 identity_policies or groups, or set identity = \"unrestricted\" to let SCPs and the \
                 boundary alone decide"
                    .to_owned(),
            ))
        }
    };
    let account = p
        .account
        .as_deref()
        .or_else(|| crate::policy::org::account_of_arn(&p.arn));
    let scps = org
        .scp_layers(account.unwrap_or(""))
        .map_err(|e| invalid(e.0))?;
    let boundary = match &p.boundary {
        Some(path) => load(std::slice::from_ref(path))?,
        None => None,
    };
    Ok(Principal::new(&p.name, &p.arn, identity)
        .with_account(account, org_id, scps)
        .with_tags(p.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .with_boundary(boundary))
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
