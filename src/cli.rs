//! The command line: `bedrock-guard serve | check | explain ...`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Overrides};
use crate::server::{Guard, StartError};
use crate::telemetry;

/// Exit code for a configuration that cannot be used (sysexits EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

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
    /// Validate the configuration and every policy, print lints, run the [[policy_tests]].
    /// Exit 0 when all is well, 78 for an unusable configuration, 1 when a policy test fails (or a
    /// lint fires with --deny-warnings).
    Check(CheckArgs),
    /// Print the decision for one call and why (the same checks and keys the proxy uses).
    Explain(ExplainArgs),
}

#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// TOML configuration file.
    #[arg(long, short, env = "BEDROCK_GUARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// IAM JSON policy: an identity policy of the fixed caller; repeatable.
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
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
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
        .and_then(|config| config::Snapshot::compile(&config))
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
    ExitCode::SUCCESS
}

fn serve(args: ServeArgs) -> ExitCode {
    let overrides = Overrides {
        listen: args.listen,
        region: args.region.clone(),
        upstream_endpoint: args.upstream_endpoint.clone(),
        policies: args.policies.clone(),
    };
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
        let shutdown = shutdown_signal();
        let listen = config.listen;
        let guard = match Guard::builder(config).build().await {
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
        match guard.serve(listener, shutdown).await {
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

/// Resolves on SIGINT or SIGTERM. The handlers are registered when this is called, not when the future is
/// first polled: a signal that arrives right after the "listening" log line must stop the guard, not
/// kill it with the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        match signals {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {},
                    _ = terminate.recv() => {},
                }
            }
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!(error = %err, "cannot listen for SIGINT/SIGTERM");
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(unix))]
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown requested; finishing in-flight requests");
    }
}
