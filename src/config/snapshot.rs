//! The compiled, immutable view of a configuration that the request path reads. It is built once per
//! (re)load and shared behind an `ArcSwap`; a request takes one snapshot and uses it for its whole life.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Config, ConfigError, EnforcementMode};
use crate::auth::{self, Authenticator};
use crate::classify::{ApplicationProfiles, InferenceProfileTable};
use crate::policy::{PolicySet, PolicySource};

/// Applies when neither the config nor the command line names a policy: inference on foundation models
/// and system inference profiles only. Provisioned, custom and imported models, prompts and async jobs
/// (which write to S3) stay denied until someone allows them on purpose.
pub const DEFAULT_POLICY: &str = include_str!("../../config/policies/default.json");

#[derive(Debug)]
pub struct Snapshot {
    /// `{generation}-{content hash}`: shown in decision logs and the `x-bedrock-guard-config-version`
    /// response header, so any answer can be traced to the exact configuration that produced it.
    pub version: String,
    /// Content hash of the config file and every policy it references (without the generation).
    pub content_hash: String,
    pub generation: u64,
    pub policies: PolicySet,
    /// Evaluated beside `policies`, never enforced.
    pub shadow: Option<PolicySet>,
    pub mode: EnforcementMode,
    pub profiles: InferenceProfileTable,
    pub application_profiles: ApplicationProfiles,
    /// Who is calling: principals, keys, and the fixed caller.
    pub auth: Authenticator,
    pub hide_rule_names: bool,
    pub max_body_bytes: usize,
    /// Where each policy came from, for logs.
    pub policy_origins: Vec<String>,
}

impl Snapshot {
    /// Reads every referenced policy file and compiles the lot; any error leaves nothing half-built.
    pub fn compile(config: &Config, generation: u64) -> Result<Snapshot, ConfigError> {
        let sources = if config.policy.files.is_empty() {
            vec![PolicySource {
                name: "default".to_owned(),
                origin: "embedded default policy".to_owned(),
                text: DEFAULT_POLICY.to_owned(),
            }]
        } else {
            read_policies(&config.policy.files)?
        };
        let shadow_sources = read_policies(&config.policy.shadow_files)?;
        let content_hash = content_hash(config, &sources, &shadow_sources);

        let policy_origins = sources.iter().map(|s| s.origin.clone()).collect();
        let policies = PolicySet::from_sources(&sources)?;
        let shadow = if shadow_sources.is_empty() {
            None
        } else {
            Some(PolicySet::from_sources(&shadow_sources)?)
        };

        let auth = Authenticator::compile(config)?;

        let mut profiles = InferenceProfileTable::builtin();
        for (prefix, regions) in &config.inference_profiles {
            profiles.extend(prefix, regions.clone());
        }
        let mut application_profiles = ApplicationProfiles::new();
        for profile in &config.application_inference_profiles {
            application_profiles.insert(profile.arn.clone(), profile.models.clone());
        }

        Ok(Snapshot {
            version: format!("{generation}-{content_hash}"),
            content_hash,
            generation,
            policies,
            shadow,
            mode: config.policy.mode,
            profiles,
            application_profiles,
            auth,
            hide_rule_names: config.policy.hide_rule_names,
            max_body_bytes: config.limits.max_body_bytes,
            policy_origins,
        })
    }
}

/// Every file and directory whose change must trigger a reload: the policy files and directories
/// (enforced and shadow), API key files and secret files. The config file itself is added by the
/// reloader, which knows its path.
pub(crate) fn referenced_paths(config: &Config) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = config
        .policy
        .files
        .iter()
        .chain(config.policy.shadow_files.iter())
        .cloned()
        .collect();
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

/// Short SHA-256 over everything that defines behaviour: the config text and each policy's origin and
/// text (length-prefixed, so moving bytes between fields changes the hash).
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
