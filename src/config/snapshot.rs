//! The compiled, immutable view of a configuration that the request path reads. It is built once per
//! (re)load and shared behind an `ArcSwap`; a request takes one snapshot and uses it for its whole life.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::model::{Expectation, IdentityMode, NamedPrincipalConfig, PolicyTestConfig};
use super::{Config, ConfigError, EnforcementMode, S3Allowlists};
use crate::auth::{self, Authenticator};
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
    /// `{generation}-{content hash}`: shown in decision logs and the `x-bedrock-guard-config-version`
    /// response header, so any answer can be traced to the exact configuration that produced it.
    pub version: String,
    /// Content hash of the config file and every file it references (without the generation).
    pub content_hash: String,
    pub generation: u64,
    /// Evaluated beside each principal's own layers, never enforced.
    pub shadow: Option<PolicySet>,
    pub mode: EnforcementMode,
    pub profiles: InferenceProfileTable,
    pub application_profiles: ApplicationProfiles,
    /// `[control_plane] unresolved_wrappers`: deny (default) or authorize the wrapper alone.
    pub unresolved_wrappers: crate::classify::UnresolvedWrappers,
    /// Who is calling: keys, access keys, trusted header, and the fixed caller.
    pub auth: Authenticator,
    pub hide_rule_names: bool,
    pub max_body_bytes: usize,
    /// Where each policy came from, for logs.
    pub policy_origins: Vec<String>,
    /// `[[policy_tests]]`, run by `check` and before every reload is published.
    pub policy_tests: Vec<PolicyTestConfig>,
    /// Extra model ids for the lint catalog.
    pub known_models: Vec<String>,
    /// The config's region, if any (policy tests default to it).
    pub region: Option<String>,
    /// The configured account of the proxy, if any.
    pub account_id: Option<String>,
    /// Which S3 locations each caller may name in a request.
    pub s3_locations: S3Allowlists,
    /// `[[quotas.rules]]` and `[[pricing]]`, compiled (the counters live in the guard, not here).
    pub quotas: crate::quota::QuotaSet,
    principals: Vec<Arc<Principal>>,
    by_name: HashMap<String, usize>,
    fixed: Arc<Principal>,
}

impl Snapshot {
    /// Reads every referenced policy file and compiles the lot; any error leaves nothing half-built.
    pub fn compile(config: &Config, generation: u64) -> Result<Snapshot, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            origin: "config".to_owned(),
            message,
        };
        // Every policy read, in order: for the start-up log and the content hash.
        let mut read: Vec<PolicySource> = Vec::new();
        let mut load = |paths: &[PathBuf]| -> Result<Option<Arc<PolicySet>>, ConfigError> {
            if paths.is_empty() {
                return Ok(None);
            }
            let sources = read_policies(paths)?;
            let set = PolicySet::from_sources(&sources)?;
            read.extend(sources);
            Ok(Some(Arc::new(set)))
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
            // `[policy] files` and `--policy` apply to every caller: they join each principal's
            // identity policies.
            let principal = build_principal(
                p,
                &config.policy.files,
                &groups,
                &org,
                org_id.as_deref(),
                &mut load,
            )
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

        // The embedded default is not a file; it joins the hash and the log after the file reads.
        let mut embedded = None;
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
                    let source = PolicySource {
                        name: "default".to_owned(),
                        origin: "embedded default policy".to_owned(),
                        text: DEFAULT_POLICY.to_owned(),
                    };
                    let set = PolicySet::from_sources(std::slice::from_ref(&source))?;
                    embedded = Some(source);
                    Arc::new(set)
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

        read.extend(embedded);
        let shadow_sources = read_policies(&config.policy.shadow_files)?;
        let shadow = if shadow_sources.is_empty() {
            None
        } else {
            Some(PolicySet::from_sources(&shadow_sources)?)
        };

        let auth = Authenticator::compile(config, &fixed, |name| {
            by_name.get(name).map(|&i| Arc::clone(&principals[i]))
        })?;

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

        let s3_locations = S3Allowlists::compile(config)?;
        let quotas = compile_quotas(config, &principals, &fixed)?;

        let content_hash = content_hash(config, &read, &shadow_sources);
        let mut policy_origins: Vec<String> = read.iter().map(|s| s.origin.clone()).collect();
        policy_origins.sort();
        policy_origins.dedup();

        Ok(Snapshot {
            version: format!("{generation}-{content_hash}"),
            content_hash,
            generation,
            shadow,
            mode: config.policy.mode,
            profiles,
            application_profiles,
            unresolved_wrappers: config.control_plane.unresolved_wrappers,
            auth,
            hide_rule_names: config.policy.hide_rule_names,
            max_body_bytes: config.limits.max_body_bytes,
            policy_origins,
            policy_tests: config.policy_tests.clone(),
            known_models: config.catalog.models.clone(),
            region: config.region.clone(),
            account_id: config.account_id.clone(),
            s3_locations,
            quotas,
            principals,
            by_name,
            fixed,
        })
    }

    /// [`Snapshot::compile`], then the config's `[[policy_tests]]`: a candidate whose policies do not
    /// decide as its own tests say is refused like a syntax error (at start and on reload).
    pub fn compile_checked(config: &Config, generation: u64) -> Result<Snapshot, ConfigError> {
        let snapshot = Snapshot::compile(config, generation)?;
        match crate::authz::run_policy_tests(&snapshot) {
            Ok(_) => Ok(snapshot),
            Err(failures) => Err(ConfigError::Invalid {
                origin: "policy_tests".to_owned(),
                message: failures
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
        }
    }

    /// The caller every request is made by when clients do not authenticate.
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

fn compile_quotas(
    config: &Config,
    principals: &[Arc<Principal>],
    fixed: &Arc<Principal>,
) -> Result<crate::quota::QuotaSet, ConfigError> {
    let known_groups: Vec<&str> = config.groups.iter().map(|g| g.name.as_str()).collect();
    let groups_of = config
        .principals
        .iter()
        .map(|p| (p.name.clone(), p.groups.clone()))
        .collect();
    let mut everyone: Vec<&Principal> = principals.iter().map(|p| &**p).collect();
    everyone.push(fixed);
    crate::quota::QuotaSet::compile(
        &config.quotas,
        &config.pricing,
        &known_groups,
        groups_of,
        &everyone,
    )
    .map_err(|err| ConfigError::Invalid {
        origin: "quotas".to_owned(),
        message: err.to_string(),
    })
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
        (IdentityMode::Unrestricted, _) => Identity::Unrestricted,
        (IdentityMode::Policies, Some(set)) => Identity::Policies(set),
        (IdentityMode::Policies, None) => {
            return Err(invalid(
                "has no identity policies (own, groups' or [policy] files); AWS would deny it \
                 everything. Give it identity_policies or groups, or set identity = \"unrestricted\" \
                 to let SCPs and the boundary alone decide"
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

/// Every file and directory whose change must trigger a reload: every policy file or directory
/// (`[policy]`, shadow, SCPs, groups, principals' identity policies and boundaries), API key files and
/// secret files. The config file itself is added by the reloader, which knows its path.
pub(crate) fn referenced_paths(config: &Config) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = config
        .policy
        .files
        .iter()
        .chain(config.policy.shadow_files.iter())
        .cloned()
        .collect();
    if let Some(org) = &config.org {
        paths.extend(org.root_scps.iter().cloned());
        for ou in &org.ous {
            paths.extend(ou.scps.iter().cloned());
        }
        for account in &org.accounts {
            paths.extend(account.scps.iter().cloned());
        }
    }
    for group in &config.groups {
        paths.extend(group.policies.iter().cloned());
    }
    for principal in &config.principals {
        paths.extend(principal.identity_policies.iter().cloned());
        paths.extend(principal.boundary.iter().cloned());
    }
    paths.extend(auth::referenced_paths(config));
    paths
}

/// Reads policy files; a directory contributes its `*.json` files in name order (a stable order keeps
/// the content hash stable).
fn read_policies(paths: &[PathBuf]) -> Result<Vec<PolicySource>, ConfigError> {
    let mut sources = Vec::with_capacity(paths.len());
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|p| p.extension().is_some_and(|ext| ext == "json") && p.is_file())
                .collect();
            files.sort();
            for file in files {
                sources.push(read_policy(&file)?);
            }
        } else {
            sources.push(read_policy(path)?);
        }
    }
    Ok(sources)
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

/// Short SHA-256 over everything that defines behaviour: the config text, each policy's origin and
/// text (length-prefixed, so moving bytes between fields changes the hash), and key/secret files.
fn content_hash(config: &Config, enforced: &[PolicySource], shadow: &[PolicySource]) -> String {
    let mut hasher = Sha256::new();
    let mut feed = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    feed(config.file_text.as_bytes());
    // Key and secret files change who may call; their content is part of the version too.
    for path in auth::referenced_paths(config) {
        feed(path.to_string_lossy().as_bytes());
        feed(&std::fs::read(&path).unwrap_or_default());
    }
    for (kind, sources) in [(&b"enforced"[..], enforced), (&b"shadow"[..], shadow)] {
        feed(kind);
        for source in sources {
            feed(source.origin.as_bytes());
            feed(source.text.as_bytes());
        }
    }
    let digest = hasher.finalize();
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}
#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW_ALL: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

    fn config_with(files: Vec<PathBuf>) -> Config {
        let mut config = Config::default();
        config.policy.files = files;
        config
    }

    #[test]
    fn version_follows_content_and_generation() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.json");
        std::fs::write(&file, ALLOW_ALL).unwrap();
        let config = config_with(vec![file.clone()]);
        let a = Snapshot::compile(&config, 1).unwrap();
        let b = Snapshot::compile(&config, 2).unwrap();
        assert_eq!(a.content_hash, b.content_hash);
        assert_eq!(a.version, format!("1-{}", a.content_hash));
        assert_ne!(a.version, b.version);
        std::fs::write(
            &file,
            ALLOW_ALL.replace("\"*\",\"Resource\"", "\"bedrock:*\",\"Resource\""),
        )
        .unwrap();
        let c = Snapshot::compile(&config, 3).unwrap();
        assert_ne!(a.content_hash, c.content_hash);
        assert_eq!(c.content_hash.len(), 12);
    }

    #[test]
    fn a_directory_contributes_its_json_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.json"), ALLOW_ALL).unwrap();
        std::fs::write(dir.path().join("a.json"), ALLOW_ALL).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
        let snapshot = Snapshot::compile(&config_with(vec![dir.path().to_owned()]), 1).unwrap();
        let names: Vec<String> = snapshot
            .policy_origins
            .iter()
            .map(|o| {
                Path::new(o)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["a.json", "b.json"]);
    }

    #[test]
    fn a_broken_policy_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broken.json");
        std::fs::write(&file, "{not json").unwrap();
        let err = Snapshot::compile(&config_with(vec![file]), 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("broken.json"), "{err}");
    }

    #[test]
    fn no_policy_means_the_embedded_default() {
        let snapshot = Snapshot::compile(&Config::default(), 1).unwrap();
        assert_eq!(snapshot.policy_origins, ["embedded default policy"]);
        assert!(snapshot.shadow.is_none());
    }
}
