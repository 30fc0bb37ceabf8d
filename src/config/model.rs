//! The configuration file format (TOML). Unknown keys are errors: a typo must not silently weaken a guard.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::callers::AuthConfig;

/// Loopback only: a guard that nobody configured must not be reachable from the network.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the proxy listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// AWS region the proxy calls (and signs for). Falls back to the AWS region chain (AWS_REGION, profile).
    #[serde(default)]
    pub region: Option<String>,
    /// The AWS account of the proxy's credentials, used in inference-profile and guardrail ARNs.
    /// When absent it is looked up once with STS GetCallerIdentity.
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub upstream: UpstreamConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub principal: PrincipalConfig,
    /// How clients authenticate; nothing configured means every caller is `[principal]`.
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Extra or replacement cross-region inference profile prefixes: prefix -> destination regions.
    #[serde(default)]
    pub inference_profiles: BTreeMap<String, Vec<String>>,
    /// Application inference profiles and the model ARNs they route to (Bedrock only knows this at run time).
    #[serde(default)]
    pub application_inference_profiles: Vec<ApplicationProfileConfig>,
    /// Where inference-profile routing comes from: the Bedrock control plane (`[control_plane]`).
    #[serde(default)]
    pub control_plane: crate::controlplane::ControlPlaneConfig,
    #[serde(default)]
    pub log: LogConfig,
    /// Address of the admin listener (`/healthz`, `/readyz`, `/metrics`, admin API). Off when absent:
    /// it is opened only where someone asked for it, and never on the proxy port.
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    /// On SIGTERM/SIGINT: how long in-flight requests and streams may take to finish before the
    /// remaining connections are closed and the process exits.
    #[serde(default = "default_shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
    /// Threads serving connections, each with its own event loop and upstream pool (0: one per CPU).
    #[serde(default)]
    pub worker_threads: usize,
    #[serde(default)]
    pub reload: ReloadConfig,
    /// The AWS Organizations tree: SCPs attached to the root, OUs and accounts.
    #[serde(default)]
    pub org: Option<OrgConfig>,
    /// IAM groups: identity policies shared by their member principals.
    #[serde(default)]
    pub groups: Vec<GroupConfig>,
    /// Callers the guard knows by name (the fixed caller is chosen with `[principal] name`).
    #[serde(default)]
    pub principals: Vec<NamedPrincipalConfig>,
    /// Request -> expected decision cases, run by `bedrock-guard check`.
    #[serde(default)]
    pub policy_tests: Vec<PolicyTestConfig>,
    /// Model ids the lints know besides the built-in catalog.
    #[serde(default)]
    pub catalog: CatalogConfig,
    /// Request and token quotas and money budgets (`[quotas]`, `[[quotas.rules]]`).
    #[serde(default)]
    pub quotas: crate::quota::QuotasConfig,
    /// Token prices for money budgets, first matching entry wins.
    #[serde(default)]
    pub pricing: Vec<crate::quota::PricingConfig>,
    /// Directory relative policy paths are resolved against (the config file's directory); not a file key.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The config file as read (empty for built-in defaults): part of the snapshot's content hash.
    #[serde(skip)]
    pub file_text: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            region: None,
            account_id: None,
            upstream: UpstreamConfig::default(),
            limits: LimitsConfig::default(),
            principal: PrincipalConfig::default(),
            auth: AuthConfig::default(),
            policy: PolicyConfig::default(),
            inference_profiles: BTreeMap::new(),
            application_inference_profiles: Vec::new(),
            control_plane: crate::controlplane::ControlPlaneConfig::default(),
            log: LogConfig::default(),
            admin_listen: None,
            shutdown_grace_secs: default_shutdown_grace_secs(),
            worker_threads: 0,
            reload: ReloadConfig::default(),
            org: None,
            groups: Vec::new(),
            principals: Vec::new(),
            policy_tests: Vec::new(),
            catalog: CatalogConfig::default(),
            quotas: crate::quota::QuotasConfig::default(),
            pricing: Vec::new(),
            base_dir: PathBuf::from("."),
            file_text: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL of Bedrock Runtime. Default: `https://bedrock-runtime.{region}.amazonaws.com`
    /// (`.amazonaws.com.cn` in China). Set it for FIPS, a VPC endpoint or a local test double.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// STS endpoint for the account lookup and per-principal AssumeRole (a VPC endpoint, or a test
    /// double). Default: the SDK's regional STS endpoint.
    #[serde(default)]
    pub sts_endpoint: Option<String>,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Longest wait for upstream response headers. Non-streaming calls to large models can take minutes.
    #[serde(default = "default_response_timeout_secs")]
    pub response_timeout_secs: u64,
    /// Longest silence between two body chunks once the response has started (streams included).
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    #[serde(default = "default_pool_max_idle")]
    pub pool_max_idle_per_host: usize,
    #[serde(default = "default_pool_idle_timeout_secs")]
    pub pool_idle_timeout_secs: u64,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            sts_endpoint: None,
            connect_timeout_ms: default_connect_timeout_ms(),
            response_timeout_secs: default_response_timeout_secs(),
            idle_timeout_secs: default_idle_timeout_secs(),
            pool_max_idle_per_host: default_pool_max_idle(),
            pool_idle_timeout_secs: default_pool_idle_timeout_secs(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body accepted (Bedrock's own limit is 25,000,000 bytes); larger bodies get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Requests handled at once (streams count until their last byte); beyond it callers get
    /// `503 ServiceUnavailableException`, which AWS SDKs retry with backoff.
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
    /// A client must deliver a complete request head within this long of the connection being ready
    /// for one (slow-header clients are cut off).
    #[serde(default = "default_header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
    /// A connection with no request in progress is closed after this long.
    #[serde(default = "default_client_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// A request body must arrive completely within this long of its head (slow-body clients are cut
    /// off with 408).
    #[serde(default = "default_body_read_timeout_secs")]
    pub body_read_timeout_secs: u64,
    /// After a one-second grace, a body must keep arriving at least this fast (bytes per second).
    #[serde(default = "default_body_min_bytes_per_sec")]
    pub body_min_bytes_per_sec: u64,
    /// Bytes of request bodies held at once by the requests of one connection (HTTP/2 streams share it).
    #[serde(default = "default_max_body_bytes_per_connection")]
    pub max_body_bytes_per_connection: usize,
    /// Bytes of request bodies held at once by all requests together.
    #[serde(default = "default_max_body_bytes_total")]
    pub max_body_bytes_total: usize,
    /// HTTP/2 streams one connection may have open at once.
    #[serde(default = "default_max_concurrent_streams")]
    pub max_concurrent_streams: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body_bytes(),
            max_concurrent_requests: default_max_concurrent_requests(),
            header_read_timeout_secs: default_header_read_timeout_secs(),
            idle_timeout_secs: default_client_idle_timeout_secs(),
            body_read_timeout_secs: default_body_read_timeout_secs(),
            body_min_bytes_per_sec: default_body_min_bytes_per_sec(),
            max_body_bytes_per_connection: default_max_body_bytes_per_connection(),
            max_body_bytes_total: default_max_body_bytes_total(),
            max_concurrent_streams: default_max_concurrent_streams(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalConfig {
    /// Who every caller is (sidecar and local use). Shown in deny messages as AWS shows the caller.
    /// Ignored when `name` is set (the named principal's own ARN is used).
    #[serde(default = "default_principal_arn")]
    pub arn: String,
    /// Makes the `[[principals]]` entry of this name the fixed caller. Without it the fixed caller is
    /// `arn`, whose identity policies are `[policy] files` (or the embedded default policy).
    #[serde(default)]
    pub name: Option<String>,
    /// S3 locations (`s3://bucket/prefix/*`, or `"*"`) the fixed caller may name in requests, which
    /// Bedrock reads or writes with the proxy's identity. Absent: the selected `[[principals]]`
    /// entry's list, else any location.
    #[serde(default)]
    pub s3_locations: Option<Vec<String>>,
}

impl Default for PrincipalConfig {
    fn default() -> Self {
        Self {
            arn: default_principal_arn(),
            name: None,
            s3_locations: None,
        }
    }
}

/// `[org]`: SCPs by level. A level with no `scps` behaves as if `FullAWSAccess` were attached (AWS's
/// default); a Deny-only SCP therefore needs a `FullAWSAccess` file beside it, as in AWS.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    /// The organisation id (`o-...`), the value of `aws:PrincipalOrgID`.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub root_scps: Vec<PathBuf>,
    #[serde(default)]
    pub ous: Vec<OuConfig>,
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OuConfig {
    pub id: String,
    /// Parent OU id; absent or `"root"`: directly under the root.
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub scps: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// 12 digits.
    pub id: String,
    /// The OU the account is in; absent or `"root"`: directly under the root.
    #[serde(default)]
    pub ou: Option<String>,
    #[serde(default)]
    pub scps: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub name: String,
    #[serde(default)]
    pub policies: Vec<PathBuf>,
}

/// Whether a principal's identity policies are evaluated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityMode {
    /// Its identity policies (own and groups') must allow, as in AWS. Having none is a config error.
    #[default]
    Policies,
    /// No identity layer: only the SCPs (and a boundary, if set) decide. For the sidecar case.
    Unrestricted,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedPrincipalConfig {
    /// How the principal is addressed (`[principal] name`, `explain --principal`, client auth).
    pub name: String,
    /// The IAM ARN, shown in deny messages and set as `aws:PrincipalArn`.
    pub arn: String,
    /// The account (`aws:PrincipalAccount`, and the SCP path); default: the account in `arn`.
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub identity_policies: Vec<PathBuf>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Permissions boundary policy file.
    #[serde(default)]
    pub boundary: Option<PathBuf>,
    /// `aws:PrincipalTag/<key>` values.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub identity: IdentityMode,
    /// Call Bedrock as this role (STS AssumeRole, session name and source identity = principal name),
    /// so CloudTrail shows which app made each call. Absent: the proxy's own credentials.
    #[serde(default)]
    pub assume_role_arn: Option<String>,
    /// S3 locations (`s3://bucket/prefix/*`, or `"*"`) this principal may name in requests (Converse
    /// `s3Location` sources, StartAsyncInvoke output, S3 URIs in model-native bodies), which Bedrock
    /// reads or writes with the proxy's identity. Absent: none, when it authenticates as a gateway
    /// caller.
    #[serde(default)]
    pub s3_locations: Option<Vec<String>>,
}

impl NamedPrincipalConfig {
    /// A principal with every optional field at its config-file default.
    pub fn new(name: impl Into<String>, arn: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            arn: arn.into(),
            account: None,
            identity_policies: Vec::new(),
            groups: Vec::new(),
            boundary: None,
            tags: BTreeMap::new(),
            identity: IdentityMode::default(),
            assume_role_arn: None,
            s3_locations: None,
        }
    }
}

/// One `[[policy_tests]]` case: a request and the decision it must get.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyTestConfig {
    #[serde(default)]
    pub name: Option<String>,
    /// A `[[principals]]` name; default: the fixed caller.
    #[serde(default)]
    pub principal: Option<String>,
    /// Model id as a client sends it (`us.anthropic...`, an ARN, ...).
    pub model: String,
    /// API operation name; default `InvokeModel`.
    #[serde(default)]
    pub operation: Option<String>,
    /// Default: the config's region, else us-east-1.
    #[serde(default)]
    pub region: Option<String>,
    /// Extra request condition keys (`"aws:SourceIp" = "10.1.2.3"`).
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    pub expect: Expectation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expectation {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// Model ids (`vendor.model-v1:0`) to add to the built-in catalog used by lints.
    #[serde(default)]
    pub models: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// IAM/SCP-style JSON policy files that apply to every caller (relative to the config file).
    /// A directory stands for every `*.json` file in it (adding or removing one is a change).
    /// With no files here and none on the command line, the embedded default policy applies.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Hide the deciding rule's name from clients' 403 messages (logs always keep it).
    #[serde(default)]
    pub hide_rule_names: bool,
    /// `enforce` (default) or `report-only`: decide and log, but forward denied calls anyway.
    #[serde(default)]
    pub mode: EnforcementMode,
    /// Shadow policies: evaluated on every request beside the enforced ones and never enforced;
    /// each disagreement is logged and counted, to see what a stricter policy would break.
    #[serde(default)]
    pub shadow_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnforcementMode {
    #[default]
    Enforce,
    ReportOnly,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadConfig {
    /// Watch the config file and every file it references, and reload on change.
    #[serde(default = "default_true")]
    pub watch: bool,
    /// Quiet period after the last file event before reloading (editors write in several steps).
    #[serde(default = "default_debounce_ms")]
    pub debounce_ms: u64,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            watch: true,
            debounce_ms: default_debounce_ms(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationProfileConfig {
    pub arn: String,
    /// Foundation-model ARNs this profile routes to; each is authorized like a direct call.
    #[serde(default)]
    pub models: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
    /// A tracing filter such as `info` or `bedrock_guard=debug`; `RUST_LOG` wins when set.
    #[serde(default)]
    pub level: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

fn default_listen() -> SocketAddr {
    // A constant that parses; checked by a unit test.
    DEFAULT_LISTEN
        .parse()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8787)))
}
fn default_true() -> bool {
    true
}
fn default_debounce_ms() -> u64 {
    200
}
fn default_connect_timeout_ms() -> u64 {
    3_000
}
fn default_response_timeout_secs() -> u64 {
    600
}
fn default_idle_timeout_secs() -> u64 {
    120
}
fn default_pool_max_idle() -> usize {
    128
}
fn default_pool_idle_timeout_secs() -> u64 {
    60
}
fn default_shutdown_grace_secs() -> u64 {
    30
}
fn default_max_concurrent_requests() -> usize {
    1_024
}
fn default_header_read_timeout_secs() -> u64 {
    10
}
fn default_client_idle_timeout_secs() -> u64 {
    60
}
fn default_max_body_bytes() -> usize {
    25_000_000
}
fn default_body_read_timeout_secs() -> u64 {
    60
}
fn default_body_min_bytes_per_sec() -> u64 {
    1_024
}
fn default_max_body_bytes_per_connection() -> usize {
    64 * 1024 * 1024
}
fn default_max_body_bytes_total() -> usize {
    512 * 1024 * 1024
}
fn default_max_concurrent_streams() -> u32 {
    100
}
fn default_principal_arn() -> String {
    "arn:aws:iam::000000000000:user/bedrock-guard-local".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_listen_is_loopback() {
        assert!(default_listen().ip().is_loopback());
        assert_eq!(default_listen().to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = toml::from_str::<Config>("listen = \"127.0.0.1:1\"\nregoin = \"us-east-1\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("regoin"), "{err}");
    }

    #[test]
    fn every_section_parses() {
        let cfg: Config = toml::from_str(
            r#"
listen = "127.0.0.1:0"
region = "eu-west-1"
account_id = "123456789012"
[upstream]
endpoint = "http://127.0.0.1:9"
connect_timeout_ms = 100
[limits]
max_body_bytes = 10
[principal]
arn = "arn:aws:iam::123456789012:role/app"
[policy]
files = ["a.json"]
hide_rule_names = true
[inference_profiles]
xx = ["us-east-1"]
[[application_inference_profiles]]
arn = "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc"
models = ["arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-lite-v1:0"]
[log]
format = "json"
"#,
        )
        .unwrap();
        assert_eq!(cfg.region.as_deref(), Some("eu-west-1"));
        assert_eq!(cfg.limits.max_body_bytes, 10);
        assert!(cfg.policy.hide_rule_names);
        assert_eq!(cfg.log.format, LogFormat::Json);
        assert_eq!(cfg.application_inference_profiles.len(), 1);
    }
}
