//! Configuration: the file format (`model`), loading and command-line overrides (`load`), and the compiled,
//! immutable snapshot the request path reads (`snapshot`).

mod error;
mod load;
mod model;
mod snapshot;

pub use error::ConfigError;
pub use load::{load, Overrides};
pub use model::{
    AccountConfig, ApplicationProfileConfig, CatalogConfig, Config, Expectation, GroupConfig,
    IdentityMode, LimitsConfig, LogConfig, LogFormat, NamedPrincipalConfig, OrgConfig, OuConfig,
    PolicyConfig, PolicyTestConfig, PrincipalConfig, UpstreamConfig, DEFAULT_LISTEN,
};
pub use snapshot::Snapshot;
