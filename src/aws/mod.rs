//! The proxy's own AWS identity: credentials from the standard chain (cached, refreshed before expiry),
//! the account they belong to, and SigV4 signing of what is sent upstream.

mod account;
mod assume_role;
mod credentials;
mod signing;

pub use account::AccountResolver;
pub use assume_role::RoleSessions;
pub use credentials::{CredentialCache, CredentialsError};
pub use signing::{sign_request, signed_header_map, SigningError, SIGNING_NAME};

use aws_config::BehaviorVersion;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::region::Region;

/// Loads the standard AWS configuration chain (env, shared profile/SSO, web identity, ECS, IMDS).
/// Returns the SDK config and the region the chain found, if any.
pub async fn load_sdk_config(region: Option<&str>) -> aws_types::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    loader.load().await
}

/// The credentials provider from an SDK config; `None` when the chain could not even be built.
pub fn provider_of(config: &aws_types::SdkConfig) -> Option<SharedCredentialsProvider> {
    config.credentials_provider()
}
