//! The command line: `bedrock-guard serve | check | explain ...`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Overrides};
use crate::guard::{Guard, StartError};
use crate::telemetry;

/// Exit code for a configuration that cannot be used (sysexits EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;
/// Exit code for a command line that cannot be used (sysexits EX_USAGE).
pub const EXIT_USAGE: u8 = 64;

#[derive(Debug, Parser)]
#[command(
    name = "bedrock-guard",
    version,
    about = "A guard proxy that enforces IAM/SCP-style model policies in front of the Amazon Bedrock Runtime API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy. Without arguments: loopback only, embedded default policy, AWS default credentials.
    Serve(ServeArgs),
    /// Issue client credentials for a gateway.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Probe a running guard's admin listener (`/readyz`, or `/healthz` with `--live`); exit 0 when it
    /// answers 200. For container health checks in images without a shell or curl.
    Health(HealthArgs),
    /// Validate the configuration and every policy, print lints, run the [[policy_tests]].
    /// Exit 0 when all is well, 78 for an unusable configuration, 1 when a policy test fails (or a
    /// lint fires with --deny-warnings).
    Check(CheckArgs),
    /// Print the decision for one call and why (the same checks and keys the proxy uses).
    Explain(ExplainArgs),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new key once, and the config lines that grant it to a principal. Only the hash is
    /// stored; the key cannot be recovered later.
    New {
        /// The `[[principals]]` name the key identifies.
        #[arg(long)]
        principal: String,
        /// Issue a SigV4 access key id / secret pair instead of an API key (bearer token).
        #[arg(long)]
        sigv4: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// The admin listener's address.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub admin: SocketAddr,
    /// Check liveness (`/healthz`) instead of readiness (`/readyz`).
    #[arg(long)]
    pub live: bool,
}

#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// TOML configuration file.
    #[arg(long, short, env = "BEDROCK_GUARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// IAM JSON policy applying to every caller (joins each principal's identity policies); repeatable.
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Fail (exit 1) when a lint fires.
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Model id as a client sends it: `anthropic.claude-...`, `us.anthropic...`, an ARN.
    #[arg(long)]
    pub model: String,
    /// Operation name (default InvokeModel): Converse, ConverseStream, InvokeModelWithResponseStream,
    /// CountTokens, StartAsyncInvoke.
    #[arg(long)]
    pub operation: Option<String>,
    /// Region the call is made in (default: the config's, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// A [[principals]] name (default: the fixed caller).
    #[arg(long)]
    pub principal: Option<String>,
    /// Extra request condition key, `key=value` (aws:SourceIp=10.0.0.1); repeatable.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    pub context: Vec<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (see config/bedrock-guard.toml).
    #[arg(long, short, env = "BEDROCK_GUARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the chosen address is logged).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// AWS region to call and sign for.
    #[arg(long)]
    pub region: Option<String>,
    /// Bedrock Runtime base URL (FIPS, VPC endpoint, local test double).
    #[arg(long)]
    pub upstream_endpoint: Option<String>,
    /// IAM/SCP-style JSON policy applying to every caller; repeatable.
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// Log format: text or json (overrides the config).
    #[arg(long, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// Address of the admin listener (/healthz, /readyz, /metrics, /admin/*); off unless given here
    /// or as `admin_listen` in the config.
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let code = serve(args);
            // Log lines still queued for the writer thread (src/telemetry/writer.rs).
            telemetry::flush();
            code
        }
        Command::Keys(KeysCommand::New { principal, sigv4 }) => new_key(&principal, sigv4),
        Command::Health(args) => crate::admin::probe(args.admin, args.live),
        Command::Check(args) => check(args),
        Command::Explain(args) => explain(args),
    }
}

fn load_snapshot(args: &PolicyArgs) -> Result<config::Snapshot, ExitCode> {
    let overrides = Overrides {
        policies: args.policies.clone(),
        ..Overrides::default()
    };
    config::load(args.config.as_deref(), &overrides)
        .and_then(|config| config::Snapshot::compile(&config, 1))
        .map_err(|err| {
            eprintln!("bedrock-guard: invalid configuration: {err}");
            ExitCode::from(EXIT_CONFIG)
        })
}

fn check(args: CheckArgs) -> ExitCode {
    let snapshot = match load_snapshot(&args.policy) {
        Ok(snapshot) => snapshot,
        Err(code) => return code,
    };
    let catalog = crate::policy::Catalog::new(&snapshot.known_models);
    // Each compiled policy set once, even when shared by many principals (an SCP level).
    let mut seen: Vec<*const crate::policy::PolicySet> = Vec::new();
    let (mut statements, mut warnings) = (0, 0);
    let principals = std::iter::once(snapshot.fixed_principal()).chain(snapshot.principals());
    for principal in principals {
        for (_, set) in principal.layers() {
            let ptr: *const crate::policy::PolicySet = set;
            if seen.contains(&ptr) {
                continue;
            }
            seen.push(ptr);
            statements += set.len();
            for lint in crate::policy::lint(set, &catalog) {
                warnings += 1;
                println!("warning: {lint}");
            }
        }
    }
    let tests = match crate::authz::run_policy_tests(&snapshot) {
        Ok(count) => count,
        Err(failures) => {
            for failure in &failures {
                println!("FAIL {failure}");
            }
            println!(
                "check failed: {} of {} policy tests failed",
                failures.len(),
                snapshot.policy_tests.len()
            );
            return ExitCode::FAILURE;
        }
    };
    println!(
        "ok: {} policy files, {statements} statements, {} named principals, {tests} policy tests passed, {warnings} warnings",
        snapshot.policy_origins.len(),
        snapshot.principals().len(),
    );
    if args.deny_warnings && warnings > 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn explain(args: ExplainArgs) -> ExitCode {
    let snapshot = match load_snapshot(&args.policy) {
        Ok(snapshot) => snapshot,
        Err(code) => return code,
    };
    let mut context = Vec::new();
    for pair in &args.context {
        match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => context.push((k.to_owned(), v.to_owned())),
            _ => {
                eprintln!("bedrock-guard: --context {pair:?}: expected KEY=VALUE");
                return ExitCode::from(2);
            }
        }
    }
    let question = crate::authz::Question {
        principal: args.principal.as_deref(),
        operation: args.operation.as_deref(),
        model: &args.model,
        region: args.region.as_deref(),
        context,
    };
    let answer = match crate::authz::ask(&snapshot, &question) {
        Ok(answer) => answer,
        Err(err) => {
            eprintln!("bedrock-guard: {err}");
            return ExitCode::from(2);
        }
    };
    let decision = &answer.decision;
    let message = decision.denial_message(answer.principal.arn(), answer.action, true);
    if args.json {
        let mut json = decision.to_json();
        json["principal"] = answer.principal.name().into();
        json["principal_arn"] = answer.principal.arn().into();
        json["operation"] = answer.operation.name().into();
        json["action"] = answer.action.into();
        json["region"] = answer.region.as_str().into();
        json["checks"] = answer
            .checks
            .iter()
            .map(|c| c.arn.as_str())
            .collect::<Vec<_>>()
            .into();
        json["message"] = message.into();
        json["quotas"] = answer.quotas.clone().into();
        println!("{json}");
        return ExitCode::SUCCESS;
    }
    println!(
        "decision: {}",
        if decision.is_allowed() {
            "allow"
        } else {
            "deny"
        }
    );
    println!("reason:   {decision}");
    println!(
        "caller:   {} ({})",
        answer.principal.name(),
        answer.principal.arn()
    );
    println!(
        "call:     {} -> {} in {}",
        answer.operation.name(),
        answer.action,
        answer.region
    );
    println!("layers (all must allow, any Deny wins):");
    for (layer, set) in answer.principal.layers() {
        println!("  {layer}: {} statements", set.len());
    }
    if answer.principal.is_identity_unrestricted() {
        println!("  (no identity layer: identity = \"unrestricted\")");
    }
    println!("resources checked (each must be allowed):");
    for check in &answer.checks {
        let keys: Vec<String> = check
            .context
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if keys.is_empty() {
            println!("  {}", check.arn);
        } else {
            println!("  {} [{}]", check.arn, keys.join(", "));
        }
    }
    if let Some(message) = message {
        println!("client sees: {message}");
    }
    if !answer.quotas.is_empty() {
        println!("quotas:   {}", answer.quotas.join(", "));
    }
    ExitCode::SUCCESS
}

fn new_key(principal: &str, sigv4: bool) -> ExitCode {
    if principal.is_empty() || principal.contains(['"', '\\', '\n']) {
        eprintln!("bedrock-guard: --principal must be a plain name");
        return ExitCode::from(EXIT_USAGE);
    }
    let key = match crate::auth::api_key::generate() {
        Ok(key) => key,
        Err(err) => {
            eprintln!("bedrock-guard: no randomness available: {err}");
            return ExitCode::FAILURE;
        }
    };
    if sigv4 {
        // An access key id in AWS's shape (20 upper-case characters) and a 40-character secret, so
        // every SDK's credential validation accepts them.
        let id: String = key[crate::auth::api_key::KEY_PREFIX.len()..]
            .chars()
            .take(16)
            .collect::<String>()
            .to_ascii_uppercase();
        let access_key_id = format!("BGAK{id}");
        let secret: String = key[crate::auth::api_key::KEY_PREFIX.len()..]
            .chars()
            .skip(16)
            .take(40)
            .collect();
        println!("AWS_ACCESS_KEY_ID={access_key_id}");
        println!("AWS_SECRET_ACCESS_KEY={secret}");
        println!();
        println!(
            "# Give the client the two lines above (shown only now). Store the secret in a file"
        );
        println!("# (say secrets/{principal}.secret, mode 0600) and add to the gateway config:");
        println!("[[auth.access_keys]]");
        println!("principal = \"{principal}\"");
        println!("access_key_id = \"{access_key_id}\"");
        println!("secret_file = \"secrets/{principal}.secret\"");
    } else {
        println!("{key}");
        println!();
        println!(
            "# Give the client the key above (shown only now), e.g. AWS_BEARER_TOKEN_BEDROCK={key}"
        );
        println!("# and add to the gateway config (or to a file listed in [auth] api_key_files):");
        println!("[[auth.api_keys]]");
        println!("principal = \"{principal}\"");
        println!("sha256 = \"{}\"", crate::auth::api_key::hash_hex(&key));
    }
    ExitCode::SUCCESS
}

fn serve(args: ServeArgs) -> ExitCode {
    let overrides = Overrides {
        listen: args.listen,
        region: args.region.clone(),
        upstream_endpoint: args.upstream_endpoint.clone(),
        policies: args.policies.clone(),
        admin_listen: args.admin_listen,
    };
    let overrides_for_reload = overrides.clone();
    let config = match config::load(args.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("bedrock-guard: invalid configuration: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let format = match args.log_format.as_deref() {
        Some("json") => config::LogFormat::Json,
        Some(_) => config::LogFormat::Text,
        None => config.log.format,
    };
    telemetry::init(format, config.log.level.as_deref());
    if args.config.is_none() {
        tracing::info!(
            "no --config given: using built-in defaults (loopback only, embedded default policy)"
        );
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bedrock-guard: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listen = config.listen;
        let admin_listen = config.admin_listen;
        let mut builder = Guard::builder(config);
        if let Some(path) = args.config.clone() {
            builder = builder.config_source(path, overrides_for_reload);
        }
        let guard = match builder.build().await {
            Ok(guard) => guard,
            Err(err) => {
                tracing::error!(error = %err, "cannot start");
                return match err {
                    StartError::Config(_) => ExitCode::from(EXIT_CONFIG),
                    _ => ExitCode::FAILURE,
                };
            }
        };
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::error!(%listen, error = %err, "cannot listen");
                return ExitCode::FAILURE;
            }
        };
        let admin_listener = match admin_listen {
            Some(addr) => match tokio::net::TcpListener::bind(addr).await {
                Ok(listener) => Some(listener),
                Err(err) => {
                    tracing::error!(admin_listen = %addr, error = %err, "cannot listen");
                    return ExitCode::FAILURE;
                }
            },
            None => None,
        };
        reload_on_sighup(guard.reloader().clone());
        let shutdown = shutdown_signal();
        // The admin port outlives the drain, so probes see /readyz fail and scrapes see it end.
        let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        let admin_task = admin_listener.map(|admin| {
            let guard = guard.clone();
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = admin_stopped.await;
                };
                if let Err(err) = guard.serve_admin(admin, stopped).await {
                    tracing::error!(error = %err, "admin listener failed");
                }
            })
        });
        let served = guard.serve(listener, shutdown).await;
        let _ = admin_stop.send(());
        if let Some(task) = admin_task {
            let _ = task.await;
        }
        match served {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(err) => {
                tracing::error!(error = %err, "server failed");
                ExitCode::FAILURE
            }
        }
    })
}

/// `kill -HUP` reloads the configuration, as daemons conventionally do. The handler is installed
/// before this returns, so a signal sent right after start-up is never lost.
fn reload_on_sighup(reloader: std::sync::Arc<crate::config::Reloader>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut hangups) => {
                tokio::spawn(async move {
                    while hangups.recv().await.is_some() {
                        reloader.reload(crate::config::ReloadTrigger::Signal).await;
                    }
                });
            }
            Err(err) => tracing::warn!(error = %err, "cannot listen for SIGHUP"),
        }
    }
    #[cfg(not(unix))]
    let _ = reloader;
}

/// A future resolving on SIGINT or SIGTERM. The handlers are installed now, before serving starts
/// (a signal arriving before its handler exists would kill the process instead of stopping it).
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let terminate = {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {},
                        _ = terminate.recv() => {},
                    }
                }
                (interrupt, terminate) => {
                    for err in [interrupt.err(), terminate.err()].into_iter().flatten() {
                        tracing::warn!(error = %err, "cannot listen for shutdown signals");
                    }
                    std::future::pending::<()>().await;
                }
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    async move {
        terminate.await;
        tracing::info!("shutdown requested; finishing in-flight requests");
    }
}
