//! Building a guard from a configuration and serving it on a listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::region::Region;
use tokio::net::TcpListener;

use crate::aws::{self, AccountResolver, CredentialCache};
use crate::config::{Config, ConfigError, Snapshot};
use crate::upstream::{self, Upstream, UpstreamError};

/// Used when neither the flags, the config, nor the AWS region chain name a region.
pub const FALLBACK_REGION: &str = "us-east-1";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("cannot serve: {0}")]
    Io(#[from] std::io::Error),
}

/// State shared by all requests. Only `live` changes after start (hot reload swaps whole snapshots).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) live: ArcSwap<Snapshot>,
    pub(crate) region: String,
    pub(crate) credentials: CredentialCache,
    pub(crate) account: AccountResolver,
    pub(crate) upstream: Upstream,
}

/// A configured guard, ready to serve.
#[derive(Debug, Clone)]
pub struct Guard {
    shared: Arc<Shared>,
}

/// Builds a [`Guard`]. By default the proxy's AWS identity comes from the standard credential chain;
/// [`GuardBuilder::credentials_provider`] replaces the chain (tests, embedding).
#[derive(Debug)]
pub struct GuardBuilder {
    config: Config,
    credentials: Option<SharedCredentialsProvider>,
}

impl Guard {
    pub fn builder(config: Config) -> GuardBuilder {
        GuardBuilder {
            config,
            credentials: None,
        }
    }

    /// The region the guard signs for and calls.
    pub fn region(&self) -> &str {
        &self.shared.region
    }

    /// The upstream base URL.
    pub fn upstream_endpoint(&self) -> &str {
        self.shared.upstream.base()
    }

    /// The HTTP application, for serving on any listener or testing without a socket.
    pub fn router(&self) -> axum::Router {
        crate::http::router(self.shared.clone())
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = listener.local_addr()?;
        tracing::info!(%addr, region = %self.shared.region, upstream = %self.shared.upstream.base(), "bedrock-guard listening");
        self.check_credentials_in_background();
        let app = self
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Warns at start when the proxy cannot sign, instead of letting the first request find out.
    fn check_credentials_in_background(&self) {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            match shared.credentials.get().await {
                Ok(creds) => tracing::info!(
                    access_key = %redact_key(creds.access_key_id()),
                    "AWS credentials loaded; upstream requests are signed with them"
                ),
                Err(err) => tracing::warn!(
                    error = %err,
                    "no usable AWS credentials: every forwarded request will fail with 503 until credentials become available (env, profile, SSO, web identity, ECS or IMDS)"
                ),
            }
        });
    }
}

impl GuardBuilder {
    /// Signs upstream requests with this provider instead of the AWS default chain.
    pub fn credentials_provider(mut self, provider: SharedCredentialsProvider) -> Self {
        self.credentials = Some(provider);
        self
    }

    pub async fn build(self) -> Result<Guard, StartError> {
        let GuardBuilder {
            config,
            credentials,
        } = self;
        let snapshot = Snapshot::compile(&config)?;

        let sdk_config = match credentials {
            Some(provider) => aws_types::SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(
                    config
                        .region
                        .clone()
                        .unwrap_or_else(|| FALLBACK_REGION.to_owned()),
                ))
                .credentials_provider(provider)
                .build(),
            None => aws::load_sdk_config(config.region.as_deref()).await,
        };
        let region = match sdk_config.region() {
            Some(region) => region.to_string(),
            None => {
                tracing::warn!(
                    region = FALLBACK_REGION,
                    "no AWS region configured (flag, config or AWS_REGION); using the fallback"
                );
                FALLBACK_REGION.to_owned()
            }
        };
        let endpoint = config
            .upstream
            .endpoint
            .clone()
            .unwrap_or_else(|| upstream::default_endpoint(&region));
        let upstream = Upstream::new(&config.upstream, &endpoint)?;
        let account = match &config.account_id {
            Some(id) => AccountResolver::fixed(id.clone()),
            None => AccountResolver::from_sts(&sdk_config),
        };

        for origin in &snapshot.policy_origins {
            tracing::info!(policy = %origin, "policy loaded");
        }
        for (layer, set) in snapshot.fixed_principal().layers() {
            for line in set.describe() {
                tracing::info!(layer = %layer, statement = %line, "enforcing");
            }
        }
        tracing::info!(principal = %snapshot.principal_arn, "every caller is this principal");

        Ok(Guard {
            shared: Arc::new(Shared {
                live: ArcSwap::from_pointee(snapshot),
                region,
                credentials: CredentialCache::new(aws::provider_of(&sdk_config)),
                account,
                upstream,
            }),
        })
    }
}

/// Builds a guard from `config` with the default AWS chain and serves it on `listener` until `shutdown`.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let guard = Guard::builder(config).build().await?;
    guard.serve(listener, shutdown).await?;
    Ok(())
}

/// `AKIA****WXYZ`: enough to tell which key is in use, not enough to matter.
fn redact_key(key: &str) -> String {
    if key.len() <= 8 {
        return "****".to_owned();
    }
    format!("{}****{}", &key[..4], &key[key.len() - 4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_redacted() {
        assert_eq!(redact_key("AKIAABCDEFGHWXYZ"), "AKIA****WXYZ");
        assert_eq!(redact_key("short"), "****");
    }
}
