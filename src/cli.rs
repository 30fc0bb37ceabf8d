//! The command line: `bedrock-guard serve | check | explain ...`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::authz::AccountSource;
use crate::config::{self, Overrides};
use crate::controlplane::ControlPlane;
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
    /// List the inference profiles and foundation models a principal may invoke: the control
    /// plane's listing, filtered as the proxy's discovery routes filter it.
    Models(ModelsArgs),
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
    /// Where inference-profile routing comes from: `auto` asks the Bedrock control plane when
    /// `[control_plane]` is enabled and AWS credentials are available, else the built-in table;
    /// `builtin` never calls AWS.
    #[arg(long, value_enum, default_value = "auto")]
    pub routing: RoutingMode,
}

/// `--routing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoutingMode {
    Auto,
    Builtin,
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
    /// A request condition key, `key=value` (aws:SourceIp=10.0.0.1); replaces the computed key.
    /// Repeat a key for a multi-valued key (ForAnyValue / ForAllValues).
    #[arg(long = "context", value_name = "KEY=VALUE")]
    pub context: Vec<String>,
    /// The proxy's account for inference-profile ARNs when the config has no account_id (default:
    /// STS GetCallerIdentity with the AWS credentials of the environment, as `serve` does).
    #[arg(long)]
    pub account: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// A [[principals]] name (default: the fixed caller).
    #[arg(long)]
    pub principal: Option<String>,
    /// Region whose listing to filter (default: the config's, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// Extra request condition key, `key=value` (aws:SourceIp=10.0.0.1); repeatable.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    pub context: Vec<String>,
    /// Print one JSON object, with the control plane's field names.
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
        Command::Models(args) => models(args),
    }
}

fn load_config_and_snapshot(
    args: &PolicyArgs,
) -> Result<(config::Config, config::Snapshot), ExitCode> {
    let overrides = Overrides {
        policies: args.policies.clone(),
        ..Overrides::default()
    };
    config::load(args.config.as_deref(), &overrides)
        .and_then(|config| {
            let snapshot = config::Snapshot::compile(&config, 1)?;
            Ok((config, snapshot))
        })
        .map_err(|err| {
            eprintln!("bedrock-guard: invalid configuration: {err}");
            ExitCode::from(EXIT_CONFIG)
        })
}

/// The control plane of `region` for `explain` and `check`, when `--routing auto`, the config
/// enables it and the standard AWS chain has credentials; `None`: the built-in tables.
async fn connect_control_plane(
    mode: RoutingMode,
    config: &config::Config,
    region: &str,
) -> Option<ControlPlane> {
    if mode == RoutingMode::Builtin || !config.control_plane.enabled {
        return None;
    }
    use aws_credential_types::provider::ProvideCredentials;
    let sdk = crate::aws::load_sdk_config(Some(region)).await;
    let provider = sdk.credentials_provider()?;
    let wait = Duration::from_millis(config.control_plane.start_wait_ms);
    match tokio::time::timeout(wait, provider.provide_credentials()).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => {
            eprintln!("note: routing from the built-in table (no AWS credentials: {err})");
            return None;
        }
        Err(_) => {
            eprintln!(
                "note: routing from the built-in table (AWS credentials did not resolve in time)"
            );
            return None;
        }
    }
    let control_plane = ControlPlane::new(&config.control_plane, &sdk, &[region.to_owned()]);
    if tokio::time::timeout(wait, control_plane.refresh())
        .await
        .is_err()
    {
        eprintln!("note: the Bedrock control plane did not answer in time; routing from the built-in table");
    }
    Some(control_plane)
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()
}

fn check(args: CheckArgs) -> ExitCode {
    let (config, snapshot) = match load_config_and_snapshot(&args.policy) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let region = config
        .region
        .clone()
        .unwrap_or_else(|| crate::guard::FALLBACK_REGION.to_owned());
    let control_plane = runtime()
        .and_then(|rt| rt.block_on(connect_control_plane(args.policy.routing, &config, &region)));
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
            // Deny-lists beside wrappers are only bypassable when wrappers are authorized alone.
            let wrapper_lints = if snapshot.unresolved_wrappers
                == crate::classify::UnresolvedWrappers::WrapperOnly
            {
                crate::policy::wrapper_bypass_lints(set)
            } else {
                Vec::new()
            };
            for lint in crate::policy::lint(set, &catalog)
                .into_iter()
                .chain(wrapper_lints)
            {
                warnings += 1;
                println!("warning: {lint}");
            }
        }
    }
    let tests = match &control_plane {
        Some(cp) => crate::authz::run_policy_tests_with(&snapshot, &cp.settled_routing()),
        None => crate::authz::run_policy_tests(&snapshot),
    };
    let tests = match tests {
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

fn models(args: ModelsArgs) -> ExitCode {
    let (config, snapshot) = match load_config_and_snapshot(&args.policy) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if let Some(name) = args.principal.as_deref() {
        if snapshot.principal(name).is_none() {
            eprintln!("bedrock-guard: no principal named {name:?} in the config");
            return ExitCode::from(2);
        }
    }
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
    let region = args
        .region
        .clone()
        .or_else(|| config.region.clone())
        .unwrap_or_else(|| crate::guard::FALLBACK_REGION.to_owned());
    let control_plane = runtime()
        .and_then(|rt| rt.block_on(connect_control_plane(args.policy.routing, &config, &region)));
    let Some(control_plane) = control_plane else {
        eprintln!("bedrock-guard: model discovery needs the Bedrock control plane: [control_plane] enabled, --routing auto, and AWS credentials that may call bedrock:ListInferenceProfiles and bedrock:ListFoundationModels");
        return ExitCode::FAILURE;
    };
    let asker = crate::discovery::Asker {
        principal: args.principal.as_deref(),
        region: &region,
        context,
    };
    let listed = crate::discovery::visible_profiles(&snapshot, &control_plane, &asker).and_then(
        |profiles| {
            crate::discovery::visible_foundation_models(&snapshot, &control_plane, &asker)
                .map(|models| (profiles, models))
        },
    );
    let (profiles, models) = match listed {
        Ok(listed) => listed,
        Err(err) => {
            eprintln!("bedrock-guard: {err}");
            return ExitCode::FAILURE;
        }
    };
    let principal = args.principal.as_deref().unwrap_or("(fixed caller)");
    if args.json {
        let profiles: Vec<&crate::controlplane::InferenceProfile> =
            profiles.iter().map(|p| p.as_ref()).collect();
        let models: Vec<&crate::controlplane::FoundationModel> =
            models.iter().map(|m| m.as_ref()).collect();
        println!(
            "{}",
            serde_json::json!({
                "principal": principal,
                "region": region,
                "inferenceProfileSummaries": profiles,
                "modelSummaries": models,
            })
        );
        return ExitCode::SUCCESS;
    }
    println!("principal {principal} may invoke, in {region}:");
    println!("inference profiles ({}):", profiles.len());
    for profile in &profiles {
        println!(
            "  {}  ({})",
            profile.inference_profile_id, profile.inference_profile_arn
        );
    }
    println!("foundation models ({}):", models.len());
    for model in &models {
        println!("  {}", model.model_id);
    }
    ExitCode::SUCCESS
}

fn explain(args: ExplainArgs) -> ExitCode {
    let (config, snapshot) = match load_config_and_snapshot(&args.policy) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    // The account the proxy would put in profile ARNs: the config's, else its credentials' (STS).
    let looked_up = match (&args.account, &config.account_id) {
        (Some(account), _) => Some((account.clone(), AccountSource::Given)),
        (None, Some(_)) => None,
        (None, None) => match sts_account(&config, args.region.as_deref()) {
            Ok(account) => Some((account, AccountSource::Sts)),
            Err(err) => {
                // The SDK's error carries every provider it tried; its first line says enough.
                let first = err.lines().next().unwrap_or_default();
                eprintln!("bedrock-guard: no account from STS: {first}");
                None
            }
        },
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
        account: looked_up.as_ref().map(|(a, s)| (a.as_str(), *s)),
    };
    let region = question
        .region
        .map(str::to_owned)
        .or_else(|| config.region.clone())
        .unwrap_or_else(|| crate::guard::FALLBACK_REGION.to_owned());
    let answer = match runtime() {
        Some(rt) => rt.block_on(async {
            match connect_control_plane(args.policy.routing, &config, &region).await {
                Some(cp) => crate::authz::ask_resolving(&snapshot, &question, &cp).await,
                None => crate::authz::ask(&snapshot, &question),
            }
        }),
        None => crate::authz::ask(&snapshot, &question),
    };
    let routing = answer
        .as_ref()
        .ok()
        .and_then(|a| a.routing_source)
        .map(|s| s.as_str());
    let answer = match answer {
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
        json["account"] = answer.account.as_str().into();
        json["account_source"] = answer.account_source.name().into();
        json["routing"] = routing.into();
        // Each check with the condition keys that hold for it alone (aws:RequestedRegion of a
        // destination, bedrock:InferenceProfileArn, ...), over the request-wide ones.
        json["checks"] = answer
            .checks
            .iter()
            .map(|c| {
                let context: serde_json::Map<String, serde_json::Value> = c
                    .context
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.as_str().into()))
                    .collect();
                serde_json::json!({ "arn": c.arn, "context": context })
            })
            .collect::<Vec<_>>()
            .into();
        json["context"] = answer
            .context
            .entries()
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect::<serde_json::Map<String, serde_json::Value>>()
            .into();
        json["warnings"] = answer.warnings.clone().into();
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
    if let Some(routing) = routing {
        println!("routing:  {routing}");
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
    println!("request keys:");
    for (key, values) in answer.context.entries() {
        println!("  {key} = {}", values.join(" | "));
    }
    println!(
        "account:  {} ({})",
        answer.account,
        answer.account_source.name()
    );
    if let Some(message) = message {
        println!("client sees: {message}");
    }
    if !answer.quotas.is_empty() {
        println!("quotas:   {}", answer.quotas.join(", "));
    }
    for warning in &answer.warnings {
        println!("warning: {warning}");
    }
    ExitCode::SUCCESS
}

/// The account of the AWS credentials the proxy would use (STS GetCallerIdentity), with the config's
/// STS endpoint; bounded so that `explain` never hangs on a missing network.
fn sts_account(config: &config::Config, region: Option<&str>) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let region = region.or(config.region.as_deref());
        let sdk_config = crate::aws::load_sdk_config(region).await;
        if sdk_config.credentials_provider().is_none() {
            return Err("no AWS credentials".to_owned());
        }
        let mut builder = aws_sdk_sts::config::Builder::from(&sdk_config);
        if let Some(endpoint) = &config.upstream.sts_endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        let resolver =
            crate::aws::AccountResolver::from_sts(aws_sdk_sts::Client::from_conf(builder.build()));
        match tokio::time::timeout(STS_TIMEOUT, resolver.resolve()).await {
            Ok(result) => result.map(str::to_owned),
            Err(_) => Err(format!("no answer within {STS_TIMEOUT:?}")),
        }
    })
}

/// How long `explain` waits for STS before going on without the account.
const STS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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
        let hash = crate::auth::api_key::hash_hex(&key);
        println!("# and add ONE of these entries (only the hash is stored).");
        println!("# In the gateway config file:");
        println!("[[auth.api_keys]]");
        println!("principal = \"{principal}\"");
        println!("sha256 = \"{hash}\"");
        println!();
        println!("# Or in a file listed in [auth] api_key_files:");
        println!("[[api_keys]]");
        println!("principal = \"{principal}\"");
        println!("sha256 = \"{hash}\"");
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
