//! Config file format for callers: the principals a gateway knows, and how clients prove which one
//! they are (`[auth]`). Secrets are never inline by default: they live in files or the environment.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// API keys (`Authorization: Bearer <key>` or `x-api-key`), stored as SHA-256 hashes.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyEntry>,
    /// TOML files holding more `[[api_keys]]` entries (for a Kubernetes Secret, say).
    #[serde(default)]
    pub api_key_files: Vec<PathBuf>,
    /// Gateway-issued SigV4 access keys.
    #[serde(default)]
    pub access_keys: Vec<AccessKeyEntry>,
    /// Identity asserted by an authenticating front proxy.
    #[serde(default)]
    pub trusted_header: Option<TrustedHeaderConfig>,
    /// Accept unauthenticated clients on a non-loopback address (all of them are the fixed principal).
    #[serde(default)]
    pub allow_unauthenticated_network: bool,
    /// Without `[auth]`, requests are accepted only for a loopback `Host` (`localhost`, `127.x`,
    /// `[::1]`) or one of these names, so a web page cannot reach the proxy through DNS rebinding.
    #[serde(default)]
    pub local_host_names: Vec<String>,
    /// Regions a SigV4 client's credential scope may select (besides the proxy's own region).
    #[serde(default)]
    pub allowed_regions: Vec<String>,
    /// How far a SigV4 client's clock may be off (AWS allows 5 minutes).
    #[serde(default = "default_max_clock_skew_secs")]
    pub max_clock_skew_secs: u64,
    /// Allow `secret = "..."` inline in access key entries (tests, throwaway set-ups).
    #[serde(default)]
    pub allow_inline_secrets: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyEntry {
    pub principal: String,
    /// Hex SHA-256 of the key, as printed by `bedrock-guard keys new`.
    pub sha256: String,
}

/// A file listed in `[auth] api_key_files`. Entries are `[[api_keys]]`; `[[auth.api_keys]]`, the
/// form the main config uses, is accepted too, so a snippet pasted into the wrong one still works.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyFile {
    #[serde(default)]
    pub api_keys: Vec<ApiKeyEntry>,
    #[serde(default)]
    auth: ApiKeyFileAuth,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyFileAuth {
    #[serde(default)]
    api_keys: Vec<ApiKeyEntry>,
}

impl ApiKeyFile {
    /// Every entry of the file, in either form.
    pub fn into_entries(self) -> Vec<ApiKeyEntry> {
        let mut entries = self.api_keys;
        entries.extend(self.auth.api_keys);
        entries
    }
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyEntry {
    pub principal: String,
    pub access_key_id: String,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Only with `allow_inline_secrets = true`.
    #[serde(default)]
    pub secret: Option<String>,
}

// Hand-written so an inline secret never reaches a log line through `{:?}`.
impl std::fmt::Debug for AccessKeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyEntry")
            .field("principal", &self.principal)
            .field("access_key_id", &self.access_key_id)
            .field("secret_file", &self.secret_file)
            .field("secret_env", &self.secret_env)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedHeaderConfig {
    /// Header carrying the principal name, e.g. `x-authenticated-principal`.
    pub header: String,
    /// Only requests from these source networks may assert an identity.
    pub trusted_cidrs: Vec<String>,
}

fn default_max_clock_skew_secs() -> u64 {
    300
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            api_keys: Vec::new(),
            api_key_files: Vec::new(),
            access_keys: Vec::new(),
            trusted_header: None,
            allow_unauthenticated_network: false,
            local_host_names: Vec::new(),
            allowed_regions: Vec::new(),
            max_clock_skew_secs: default_max_clock_skew_secs(),
            allow_inline_secrets: false,
        }
    }
}

impl AuthConfig {
    /// True when clients must authenticate (any method configured).
    pub fn is_enabled(&self) -> bool {
        !self.api_keys.is_empty()
            || !self.api_key_files.is_empty()
            || !self.access_keys.is_empty()
            || self.trusted_header.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_file_defaults() {
        let from_file: AuthConfig = toml::from_str("").unwrap();
        assert_eq!(from_file, AuthConfig::default());
        assert_eq!(from_file.max_clock_skew_secs, 300);
    }

    #[test]
    fn inline_secrets_are_redacted_in_debug_output() {
        let entry = AccessKeyEntry {
            principal: "app".into(),
            access_key_id: "BGAKID".into(),
            secret_file: None,
            secret_env: None,
            secret: Some("super-secret-value".into()),
        };
        let debug = format!("{entry:?}");
        assert!(!debug.contains("super-secret-value"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }
}
