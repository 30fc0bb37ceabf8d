//! Starting a real bedrock-guard on port 0 in front of a [`BedrockDouble`](super::BedrockDouble).

use std::net::SocketAddr;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::future::ProvideCredentials as ProvideFuture;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use bedrock_guard::config::{
    Config, EnforcementMode, LimitsConfig, PolicyConfig, ReloadConfig, Reloader, UpstreamConfig,
};
use bedrock_guard::Guard;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use tokio::sync::oneshot;

use super::{BedrockDouble, PROXY_ACCESS_KEY, PROXY_SECRET_KEY, PROXY_SESSION_TOKEN};

/// Allows everything: the baseline for tests about forwarding rather than policy.
pub const FULL_ACCESS: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// How the AWS SDKs encode a path segment: everything but unreserved characters.
pub const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub const ACCOUNT_ID: &str = "123456789012";

/// Adjusts a test guard's configuration.
pub type Configure = std::sync::Arc<dyn Fn(&mut Config) + Send + Sync>;

#[derive(Clone)]
pub struct GuardOptions {
    pub policies: Vec<String>,
    pub endpoint: Option<String>,
    pub response_timeout_secs: u64,
    pub max_body_bytes: usize,
    pub hide_rule_names: bool,
    pub no_credentials: bool,
    pub mode: EnforcementMode,
    pub shadow_policies: Vec<String>,
    /// Watch policy files for changes (off by default so tests control reloads).
    pub watch: bool,
    /// Last word on the configuration (principals, [auth], ...).
    pub configure: Option<Configure>,
    /// `limits.max_concurrent_requests`.
    pub max_concurrent_requests: usize,
    /// `limits.header_read_timeout_secs`.
    pub header_read_timeout_secs: u64,
    /// `limits.idle_timeout_secs`.
    pub idle_timeout_secs: u64,
    /// `shutdown_grace_secs`.
    pub shutdown_grace_secs: u64,
}

impl GuardOptions {
    pub fn policy(json: &str) -> Self {
        Self {
            policies: vec![json.to_owned()],
            endpoint: None,
            response_timeout_secs: 30,
            max_body_bytes: 25_000_000,
            hide_rule_names: false,
            no_credentials: false,
            mode: EnforcementMode::Enforce,
            shadow_policies: Vec::new(),
            watch: false,
            configure: None,
            max_concurrent_requests: 1_024,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            shutdown_grace_secs: 30,
        }
    }
}

/// A running guard; stops (gracefully) when dropped.
pub struct RunningGuard {
    pub addr: SocketAddr,
    /// The admin listener (health, metrics, reload API).
    pub admin_addr: SocketAddr,
    _admin_stop: oneshot::Sender<()>,
    /// Where the policy files live (`policy-N.json`, `shadow-N.json`).
    pub dir: std::path::PathBuf,
    pub reloader: std::sync::Arc<Reloader>,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl RunningGuard {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// Starts a graceful shutdown of the proxy listener, as SIGTERM does (the admin listener stays
    /// up until the guard is dropped, as in the binary, where it outlives the drain).
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits (at most `limit`) for serving to end; `None` if it is still running.
    pub async fn stopped_within(
        &mut self,
        limit: std::time::Duration,
    ) -> Option<std::io::Result<()>> {
        let served = self.served.as_mut().expect("not awaited before");
        match tokio::time::timeout(limit, served).await {
            Ok(joined) => {
                self.served = None;
                Some(joined.expect("serve task panicked"))
            }
            Err(_) => None,
        }
    }
}

/// A provider that never has credentials, like a laptop with no AWS set-up.
#[derive(Debug)]
struct NoCredentials;

impl ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(&'a self) -> ProvideFuture<'a>
    where
        Self: 'a,
    {
        ProvideFuture::ready(Err(CredentialsError::not_loaded(
            "no credentials in this test",
        )))
    }
}

pub async fn start_guard(double: &BedrockDouble, options: GuardOptions) -> RunningGuard {
    start_guard_with_policy_files(double, options, Vec::new()).await
}

/// Like [`start_guard`], with extra policy paths (files or directories) besides `options.policies`.
pub async fn start_guard_with_policy_files(
    double: &BedrockDouble,
    options: GuardOptions,
    extra_files: Vec<std::path::PathBuf>,
) -> RunningGuard {
    let dir = tempfile::tempdir().unwrap();
    let mut files = extra_files;
    for (n, policy) in options.policies.iter().enumerate() {
        let path = dir.path().join(format!("policy-{n}.json"));
        std::fs::write(&path, policy).unwrap();
        files.push(path);
    }
    let mut shadow_files = Vec::new();
    for (n, policy) in options.shadow_policies.iter().enumerate() {
        let path = dir.path().join(format!("shadow-{n}.json"));
        std::fs::write(&path, policy).unwrap();
        shadow_files.push(path);
    }
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        region: Some("us-east-1".to_owned()),
        account_id: Some(ACCOUNT_ID.to_owned()),
        upstream: UpstreamConfig {
            endpoint: Some(options.endpoint.clone().unwrap_or_else(|| double.url())),
            response_timeout_secs: options.response_timeout_secs,
            ..UpstreamConfig::default()
        },
        policy: PolicyConfig {
            files,
            hide_rule_names: options.hide_rule_names,
            mode: options.mode,
            shadow_files,
        },
        reload: ReloadConfig {
            watch: options.watch,
            ..ReloadConfig::default()
        },
        limits: LimitsConfig {
            max_body_bytes: options.max_body_bytes,
            max_concurrent_requests: options.max_concurrent_requests,
            header_read_timeout_secs: options.header_read_timeout_secs,
            idle_timeout_secs: options.idle_timeout_secs,
            ..LimitsConfig::default()
        },
        shutdown_grace_secs: options.shutdown_grace_secs,
        // Tests never reach AWS: the control plane is off unless a test points it at its double.
        control_plane: bedrock_guard::controlplane::ControlPlaneConfig {
            enabled: false,
            ..Default::default()
        },
        ..Config::default()
    };

    if let Some(configure) = &options.configure {
        configure(&mut config);
    }

    let provider = if options.no_credentials {
        SharedCredentialsProvider::new(NoCredentials)
    } else {
        SharedCredentialsProvider::new(Credentials::new(
            PROXY_ACCESS_KEY,
            PROXY_SECRET_KEY,
            Some(PROXY_SESSION_TOKEN.to_owned()),
            None,
            "test-proxy",
        ))
    };
    let mut builder = Guard::builder(config).credentials_provider(provider);
    if super::thread_logs::capturing() {
        builder = builder.serve_on_caller_runtime();
    }
    let guard = builder.build().await.expect("guard builds");
    let reloader = guard.reloader().clone();
    let serving = serve_with_admin(&guard).await;
    RunningGuard {
        addr: serving.addr,
        admin_addr: serving.admin_addr,
        _admin_stop: serving.admin_stop,
        dir: dir.path().to_owned(),
        reloader,
        stop: Some(serving.stop),
        served: Some(serving.served),
        _dir: dir,
    }
}

/// A guard serving on loopback port 0, with its admin listener on another; each stops when its
/// sender is dropped (or sent to).
pub struct Serving {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub stop: oneshot::Sender<()>,
    pub admin_stop: oneshot::Sender<()>,
    pub served: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves `guard` and its admin API, each on a fresh loopback port.
pub async fn serve_with_admin(guard: &Guard) -> Serving {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let admin_addr = admin_listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let (admin_stop, admin_stopped) = oneshot::channel::<()>();
    let admin_guard = guard.clone();
    tokio::spawn(async move {
        admin_guard
            .serve_admin(admin_listener, async move {
                let _ = admin_stopped.await;
            })
            .await
    });
    let served = tokio::spawn(guard.clone().serve(listener, async move {
        let _ = stopped.await;
    }));
    Serving {
        addr,
        admin_addr,
        stop,
        admin_stop,
        served,
    }
}
