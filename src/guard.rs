//! Building a guard from a configuration and serving it on a listener.

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwap;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::region::Region;
use tokio::net::TcpListener;

use std::path::PathBuf;
use std::time::Duration;

use crate::aws::{self, AccountResolver, CredentialCache, RoleSessions};
use crate::config::{self, Config, ConfigError, Overrides, Reloader, Snapshot};
use crate::controlplane::ControlPlane;
use crate::ops::Ops;
use crate::state::Shared;
use crate::upstream::{self, Upstream, UpstreamError};
use crate::workers::Workers;

/// Used when neither the flags, the config, nor the AWS region chain name a region.
pub const FALLBACK_REGION: &str = "us-east-1";

/// Layers with up to this many statements are listed statement by statement in the start-up log.
const LIST_STATEMENTS_UP_TO: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("cannot serve: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Quotas(#[from] crate::quota::QuotaStartError),
}

/// A configured guard, ready to serve.
#[derive(Debug, Clone)]
pub struct Guard {
    shared: Arc<Shared>,
    reloader: Arc<Reloader>,
    watch: Option<Duration>,
    /// Serve connections on the runtime that calls [`Guard::serve`], not on serving threads.
    on_caller_runtime: bool,
}

/// Builds a [`Guard`]. By default the proxy's AWS identity comes from the standard credential chain;
/// [`GuardBuilder::credentials_provider`] replaces the chain (tests, embedding).
#[derive(Debug)]
pub struct GuardBuilder {
    config: Config,
    credentials: Option<SharedCredentialsProvider>,
    source: Option<(PathBuf, Overrides)>,
    quota_clock: Option<Arc<dyn crate::quota::Clock>>,
    on_caller_runtime: bool,
}

impl Guard {
    pub fn builder(config: Config) -> GuardBuilder {
        GuardBuilder {
            config,
            credentials: None,
            source: None,
            quota_clock: None,
            on_caller_runtime: false,
        }
    }

    /// Reloads the configuration: the files are read again, validated, and published only if valid.
    pub fn reloader(&self) -> &Arc<Reloader> {
        &self.reloader
    }

    /// The region the guard signs for and calls.
    pub fn region(&self) -> &str {
        &self.shared.region
    }

    /// The quota counter store (its Redis health, for waiting on a recovery).
    pub fn quotas(&self) -> &Arc<crate::quota::Quotas> {
        &self.shared.quotas
    }

    /// The upstream base URL.
    pub fn upstream_endpoint(&self) -> &str {
        self.shared.upstream.base()
    }

    /// What inference profiles and other wrappers route to (the control-plane cache).
    pub fn control_plane(&self) -> &Arc<ControlPlane> {
        &self.shared.control_plane
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
        let upstream = self
            .shared
            .upstream
            .base()
            .replace(crate::upstream::REGION_PLACEHOLDER, &self.shared.region);
        tracing::info!(%addr, region = %self.shared.region, %upstream, "bedrock-guard listening");
        self.check_credentials_in_background();
        // The first listing is awaited at most `start_wait_ms`; refreshes stop when serving does.
        let refresher = self
            .shared
            .control_plane
            .start(self.reloader.subscribe())
            .await;
        let _refresher = refresher.map(AbortOnDrop);
        // Watching stops when serving does (the handle is dropped on return).
        let _watch = match self.watch {
            Some(debounce) => match config::spawn_watcher(self.reloader.clone(), debounce) {
                Ok(handle) => Some(handle),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot watch configuration files; reload with SIGHUP or the admin API");
                    None
                }
            },
            None => None,
        };
        let shared = self.shared.clone();
        // Stopped (their remaining tasks cancelled) when serving returns, after the drain.
        let workers = match self.on_caller_runtime {
            true => None,
            false => Some(Workers::start(self.shared.ops.serve.worker_threads)?),
        };
        crate::connections::serve(
            listener,
            workers.as_ref(),
            crate::http::Proxy::new(self.shared.clone()),
            self.shared.ops.serve,
            move || shared.ops.start_draining(),
            shutdown,
        )
        .await
    }

    /// The admin application: health, readiness, metrics and the reload API.
    pub fn admin_router(&self) -> axum::Router {
        crate::admin::router(
            crate::admin::AdminState::new(self.shared.clone()),
            crate::http::reload_api::reload_routes(self.reloader.clone()),
        )
    }

    /// Serves [`Guard::admin_router`] on its own listener until `shutdown` resolves.
    pub async fn serve_admin(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        crate::admin::serve(
            listener,
            self.admin_router(),
            self.shared.ops.serve,
            shutdown,
        )
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
                // One line a new user can act on; the SDK's provider-by-provider account (with
                // its internal dumps) is for debugging.
                Err(err) => {
                    tracing::warn!(
                        "no usable AWS credentials (looked in the environment, shared profiles and SSO, web identity, ECS and instance metadata): forwarded requests get 503 until there are some; RUST_LOG=aws_config=debug shows each provider's answer"
                    );
                    tracing::debug!(error = %err, "AWS credential chain failed");
                }
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

    /// Serves connections on the runtime that calls [`Guard::serve`] instead of the guard's own
    /// serving threads (`worker_threads`): for programs that embed the guard in a runtime they size
    /// themselves, and tests that read what a request left in thread-local state (captured logs).
    pub fn serve_on_caller_runtime(mut self) -> Self {
        self.on_caller_runtime = true;
        self
    }

    /// The file `config` was loaded from and the flags applied to it, so reloads read the file again
    /// (without it, reloads re-read the policy files `config` references).
    pub fn config_source(mut self, path: PathBuf, overrides: Overrides) -> Self {
        self.source = Some((path, overrides));
        self
    }

    /// Quota windows follow this clock instead of the system's (tests move time by hand).
    pub fn quota_clock(mut self, clock: Arc<dyn crate::quota::Clock>) -> Self {
        self.quota_clock = Some(clock);
        self
    }

    pub async fn build(self) -> Result<Guard, StartError> {
        let GuardBuilder {
            config,
            credentials,
            source,
            quota_clock,
            on_caller_runtime,
        } = self;
        // The AWS SDK configuration, the clients and the metrics recorder are set up on another
        // thread while the policies compile on this one, so that loading root certificates and
        // calibrating the metrics clock no longer wait for a large policy (docs/BENCHMARKS.md). The
        // policies compile here, not on a blocking-pool thread, so that they live in the main
        // allocator arena (a thread's own arena grows page by page, which cost more than the
        // overlap saved).
        let mut clients = AbortOnDrop(tokio::spawn({
            let config = config.clone();
            async move { Clients::build(&config, credentials).await }
        }));
        let snapshot = Snapshot::compile_checked(&config, 1)?;
        let Clients {
            sdk_config,
            region,
            ops,
            upstream,
            sts,
        } = match (&mut clients.0).await {
            Ok(built) => built?,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => return Err(std::io::Error::other(err).into()),
        };
        let account = match &config.account_id {
            Some(id) => AccountResolver::fixed(id.clone()),
            None => AccountResolver::from_sts(sts.clone()),
        };
        for origin in &snapshot.policy_origins {
            tracing::info!(policy = %origin, "policy loaded");
        }
        for (layer, set) in snapshot.fixed_principal().layers() {
            // Each statement is listed at start for policies a person can read; a generated policy of
            // thousands of statements gets one summary line (its statements at debug level).
            if set.len() <= LIST_STATEMENTS_UP_TO {
                for line in set.describe() {
                    tracing::info!(layer = %layer, statement = %line, "enforcing");
                }
            } else {
                tracing::info!(
                    layer = %layer,
                    statements = set.len(),
                    "enforcing (statements listed at debug level: RUST_LOG=bedrock_guard::guard=debug)"
                );
                if tracing::enabled!(tracing::Level::DEBUG) {
                    for line in set.describe() {
                        tracing::debug!(layer = %layer, statement = %line, "enforcing");
                    }
                }
            }
        }
        config::invariants::check(&config, None)?;
        if snapshot.auth.is_enabled() {
            tracing::info!(version = %snapshot.version, "clients must authenticate (API key, SigV4 gateway key or trusted header)");
        } else {
            tracing::info!(principal = %snapshot.fixed_principal().arn(), version = %snapshot.version, "every caller is this principal");
            if !config.listen.ip().is_loopback() && config.auth.local_host_names.is_empty() {
                tracing::warn!(listen = %config.listen, "without [auth], only requests naming a loopback Host are accepted: list the names clients use in [auth] local_host_names");
            }
        }

        crate::telemetry::metrics::set_config_version(&snapshot.version);
        let mut served_regions = vec![region.clone()];
        served_regions.extend(
            config
                .auth
                .allowed_regions
                .iter()
                .filter(|r| **r != region)
                .cloned(),
        );
        let control_plane = Arc::new(ControlPlane::new(
            &config.control_plane,
            &sdk_config,
            &served_regions,
        ));
        let quotas = crate::quota::Quotas::from_config(
            &config.quotas,
            quota_clock.unwrap_or_else(|| Arc::new(crate::quota::SystemClock)),
        )
        .await?;
        let live = Arc::new(ArcSwap::from_pointee(snapshot));
        let watch = config
            .reload
            .watch
            .then(|| Duration::from_millis(config.reload.debounce_ms));
        let (path, overrides) = match source {
            Some((path, overrides)) => (Some(path), overrides),
            None => (None, Overrides::default()),
        };
        let reloader = Arc::new(Reloader::new(live.clone(), path, overrides, config));
        Ok(Guard {
            shared: Arc::new(Shared {
                live,
                region,
                credentials: CredentialCache::new(aws::provider_of(&sdk_config)),
                roles: RoleSessions::new(sts),
                account,
                upstream,
                ops,
                control_plane,
                quotas: Arc::new(quotas),
            }),
            reloader,
            watch,
            on_caller_runtime,
        })
    }
}

/// What a guard needs besides its policies, set up while they compile.
struct Clients {
    sdk_config: aws_types::SdkConfig,
    /// The home region.
    region: String,
    ops: Ops,
    upstream: Upstream,
    sts: aws_sdk_sts::Client,
}

impl Clients {
    /// Also installs the metrics recorder.
    async fn build(
        config: &Config,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Result<Self, StartError> {
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
        // Without an explicit endpoint, follow the request's region (SigV4 clients may select one).
        let endpoint = config.upstream.endpoint.clone().unwrap_or_else(|| {
            // The partition's domain comes from the home region (China differs); allowed regions
            // are in the same partition.
            upstream::default_endpoint(&region).replace(&region, upstream::REGION_PLACEHOLDER)
        });
        let ops = Ops::from_config(config);
        // One pool per serving thread, plus one for every other thread.
        let upstream = Upstream::new(&config.upstream, &endpoint, ops.serve.worker_threads)?;
        let sts = {
            let mut builder = aws_sdk_sts::config::Builder::from(&sdk_config);
            if let Some(endpoint) = &config.upstream.sts_endpoint {
                builder = builder.endpoint_url(endpoint);
            }
            aws_sdk_sts::Client::from_conf(builder.build())
        };
        crate::telemetry::metrics::install();
        Ok(Self {
            sdk_config,
            region,
            ops,
            upstream,
            sts,
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

/// Aborts a background task when dropped.
struct AbortOnDrop<T = ()>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
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
