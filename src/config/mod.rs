//! Configuration: the file format (`model`), loading and command-line overrides (`load`), the compiled,
//! immutable snapshot the request path reads (`snapshot`), hot reload (`reload`, `watch`), and the rules
//! that start-up and every reload enforce alike (`invariants`).

mod callers;
mod error;
pub mod invariants;
mod load;
mod model;
mod reload;
mod s3_locations;
mod snapshot;
mod watch;

pub use callers::{AccessKeyEntry, ApiKeyEntry, ApiKeyFile, AuthConfig, TrustedHeaderConfig};
pub use error::ConfigError;
pub use load::{load, Overrides};
pub use model::{
    AccountConfig, ApplicationProfileConfig, CatalogConfig, Config, EnforcementMode, Expectation,
    GroupConfig, IdentityMode, LimitsConfig, LogConfig, LogFormat, NamedPrincipalConfig, OrgConfig,
    OuConfig, PolicyConfig, PolicyTestConfig, PrincipalConfig, ReloadConfig, UpstreamConfig,
    DEFAULT_LISTEN,
};
pub use reload::{ReloadOutcome, ReloadStatus, ReloadTrigger, Reloader};
pub use s3_locations::S3Allowlists;
pub use snapshot::{Snapshot, DEFAULT_POLICY};
pub use watch::spawn_watcher;
