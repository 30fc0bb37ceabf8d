//! Quotas end to end: the real `aws-sdk-bedrockruntime` client -> bedrock-guard -> the local Bedrock
//! double, with the quota clock in the test's hands (no test waits for a window to pass), and real
//! `redis-server` processes for the shared backend.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{ConverseStreamOutput, ResponseStream};
use bedrock_guard::config::{Overrides, ReloadOutcome, ReloadTrigger, Reloader};
use bedrock_guard::quota::ManualClock;
use bedrock_guard::Guard;
use support::client::{sdk_client, user_message};
use support::guard::{serve_with_admin, FULL_ACCESS};
use support::{BedrockDouble, PROXY_ACCESS_KEY, PROXY_SECRET_KEY, PROXY_SESSION_TOKEN};
use tokio::sync::oneshot;

const REGION: &str = "us-east-1";
const CLAUDE: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
/// 2026-12-01T15:30:10Z: ten seconds into a minute, so a few calls never cross a minute by accident
/// (the clock only moves when a test says so anyway).
const START_MS: u64 = 1_796_139_010_000;

/// A guard started from a config file (so reloads can change its quotas), with a manual quota clock.
struct QuotaGuard {
    url: String,
    admin_url: String,
    config_path: PathBuf,
    reloader: Arc<Reloader>,
    guard: Guard,
    _stop: oneshot::Sender<()>,
    _admin_stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

fn config_text(double: &BedrockDouble, quotas: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
region = "{REGION}"
account_id = "123456789012"

[upstream]
endpoint = "{}"

[policy]
files = ["policy.json"]

{quotas}
"#,
        double.url()
    )
}

impl QuotaGuard {
    async fn start(double: &BedrockDouble, quotas: &str, clock: Arc<ManualClock>) -> QuotaGuard {
        Self::start_with_policy(double, quotas, clock, FULL_ACCESS).await
    }

    async fn start_with_policy(
        double: &BedrockDouble,
        quotas: &str,
        clock: Arc<ManualClock>,
        policy: &str,
    ) -> QuotaGuard {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.json"), policy).unwrap();
        let config_path = dir.path().join("guard.toml");
        std::fs::write(&config_path, config_text(double, quotas)).unwrap();
        let overrides = Overrides::default();
        let config = bedrock_guard::config::load(Some(&config_path), &overrides).unwrap();
        let guard = Guard::builder(config)
            .config_source(config_path.clone(), overrides)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                PROXY_ACCESS_KEY,
                PROXY_SECRET_KEY,
                Some(PROXY_SESSION_TOKEN.to_owned()),
                None,
                "test-proxy",
            )))
            .quota_clock(clock)
            // One test reads the audit lines its thread captured.
            .serve_on_caller_runtime()
            .build()
            .await
            .expect("guard builds");
        let serving = serve_with_admin(&guard).await;
        QuotaGuard {
            url: format!("http://{}", serving.addr),
            admin_url: format!("http://{}", serving.admin_addr),
            config_path,
            reloader: guard.reloader().clone(),
            guard,
            _stop: serving.stop,
            _admin_stop: serving.admin_stop,
            _dir: dir,
        }
    }

    async fn reload_with(&self, double: &BedrockDouble, quotas: &str) {
        std::fs::write(&self.config_path, config_text(double, quotas)).unwrap();
        let outcome = self.reloader.reload(ReloadTrigger::Api).await;
        assert!(
            matches!(outcome, ReloadOutcome::Published { .. }),
            "{outcome:?}"
        );
    }

    async fn admin_quotas(&self) -> serde_json::Value {
        let text = reqwest::get(format!("{}/admin/quotas", self.admin_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.admin_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits until the Redis backend reports `connected` and no charge waiting.
    async fn backend_settled(&self, connected: bool) {
        let mut status = self.guard.quotas().backend_status().expect("redis backend");
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                {
                    let now = status.borrow_and_update();
                    if now.connected == connected && (!connected || now.pending_charges == 0) {
                        return;
                    }
                }
                status.changed().await.unwrap();
            }
        })
        .await
        .expect("the quota backend reached the expected state");
    }
}

/// One Converse through the SDK: `Ok(())` or the error code.
/// One call, which must be refused with the error `code`.
async fn assert_refused(client: &aws_sdk_bedrockruntime::Client, code: &str) {
    let err = converse(client).await.unwrap_err();
    assert!(err.starts_with(code), "{err}");
}

async fn converse(client: &aws_sdk_bedrockruntime::Client) -> Result<(), String> {
    client
        .converse()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .map(|_| ())
        .map_err(|err| {
            let err = err.into_service_error();
            format!(
                "{}: {}",
                err.code().unwrap_or("?"),
                err.message().unwrap_or("")
            )
        })
}

/// The same call without the SDK, to see the headers.
async fn raw_converse(url: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/model/{CLAUDE}/converse"))
        .header("content-type", "application/json")
        .body(r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#)
        .send()
        .await
        .unwrap()
}

fn used(admin: &serde_json::Value, quota: &str, limit: &str) -> f64 {
    admin["counters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["quota"] == quota)
        .flat_map(|c| c["limits"].as_array().unwrap().iter())
        .find(|l| l["limit"] == limit)
        .map(|l| l["used"].as_f64().unwrap())
        .unwrap_or_else(|| panic!("no {quota}/{limit} counter in {admin}"))
}

#[tokio::test]
async fn the_request_after_the_limit_in_a_minute_is_throttled_with_retry_after() {
    let double = BedrockDouble::start(REGION).await;
    let clock = Arc::new(ManualClock::at(START_MS));
    let quotas = r#"
[[quotas.rules]]
name = "per-app-rate"
per = "principal"
requests_per_minute = 3
"#;
    let guard = QuotaGuard::start(&double, quotas, clock.clone()).await;
    let client = sdk_client(&guard.url);

    converse(&client).await.unwrap();
    converse(&client).await.unwrap();
    // The third call fits exactly and says nothing is left.
    let third = raw_converse(&guard.url).await;
    assert_eq!(third.status(), 200);
    assert_eq!(
        third.headers()["x-bedrock-guard-quota-remaining-requests"],
        "0"
    );

    let logs = support::thread_logs::capture();
    let err = converse(&client).await.unwrap_err();
    assert!(err.starts_with("ThrottlingException"), "{err}");
    assert!(err.contains("per-app-rate"), "{err}");
    let audit = logs
        .lines()
        .into_iter()
        .find(|l| l["fields"]["message"] == "audit" && l["fields"]["outcome"] == "refused")
        .expect("the refused call is audited");
    assert_eq!(audit["fields"]["quota"], "per-app-rate");
    assert_eq!(audit["fields"]["status"], 429);
    let raw = raw_converse(&guard.url).await;
    assert_eq!(raw.status(), 429);
    let retry_after: u64 = raw.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=120).contains(&retry_after), "{retry_after}");
    assert_eq!(
        double.requests().len(),
        3,
        "refused calls never reach Bedrock"
    );

    // Once the window has slid past, calls go through again.
    clock.advance(Duration::from_secs(retry_after));
    converse(&client).await.unwrap();

    let metrics = guard.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("bedrock_guard_quota_rejections_total")
                && l.contains("quota=\"per-app-rate\"")
                && l.contains("limit=\"requests_per_minute\"")),
        "{metrics}"
    );
}

#[tokio::test]
async fn stream_tokens_count_against_token_limits() {
    let double = BedrockDouble::start(REGION).await;
    let clock = Arc::new(ManualClock::at(START_MS));
    let quotas = r#"
[[quotas.rules]]
name = "team-tokens"
tokens_per_minute = 20
"#;
    let guard = QuotaGuard::start(&double, quotas, clock.clone()).await;
    let client = sdk_client(&guard.url);

    // ConverseStream: 9 input + 2 output tokens, from the metadata frame.
    let mut out = client
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .expect("stream starts");
    while let Some(event) = out.stream.recv().await.unwrap() {
        let _: ConverseStreamOutput = event;
    }
    let admin = guard.admin_quotas().await;
    assert_eq!(used(&admin, "team-tokens", "tokens_per_minute"), 11.0);

    // InvokeModelWithResponseStream: 8 + 3, from the invocation metrics in the last chunk.
    let mut out = client
        .invoke_model_with_response_stream()
        .model_id(CLAUDE)
        .body(Blob::new(b"{}".to_vec()))
        .send()
        .await
        .expect("stream starts");
    while let Some(event) = out.body.recv().await.unwrap() {
        let _: ResponseStream = event;
    }
    let admin = guard.admin_quotas().await;
    assert_eq!(used(&admin, "team-tokens", "tokens_per_minute"), 22.0);

    // 22 >= 20: the next call is throttled until the minute slides by.
    assert_refused(&client, "ThrottlingException").await;
    clock.advance(Duration::from_secs(120));
    converse(&client).await.unwrap();
}

#[tokio::test]
async fn a_usd_day_budget_refuses_with_service_quota_exceeded_until_the_next_utc_day() {
    let double = BedrockDouble::start(REGION).await;
    let clock = Arc::new(ManualClock::at(START_MS));
    // Converse from the double: 12 input + 5 output tokens = $0.012 + $0.010 = $0.022 a call.
    let quotas = r#"
[[quotas.rules]]
name = "team-budget"
usd_per_day = 0.04

[[pricing]]
models = ["anthropic.claude-*"]
input_per_1k = 1.0
output_per_1k = 2.0
"#;
    let guard = QuotaGuard::start(&double, quotas, clock.clone()).await;
    let client = sdk_client(&guard.url);

    converse(&client).await.unwrap();
    converse(&client).await.unwrap();
    let admin = guard.admin_quotas().await;
    assert!(
        (used(&admin, "team-budget", "usd_per_day") - 0.044).abs() < 1e-9,
        "{admin}"
    );

    let err = converse(&client).await.unwrap_err();
    assert!(err.starts_with("ServiceQuotaExceededException"), "{err}");
    assert!(err.contains("team-budget"), "{err}");
    assert!(
        err.contains("2026-12-02T00:00:00Z"),
        "names the reset: {err}"
    );
    assert_eq!(raw_converse(&guard.url).await.status(), 400);

    clock.advance(Duration::from_secs(9 * 3600));
    converse(&client).await.unwrap();
}

#[tokio::test]
async fn a_reload_that_changes_a_limit_keeps_the_counts() {
    let double = BedrockDouble::start(REGION).await;
    let clock = Arc::new(ManualClock::at(START_MS));
    let rule =
        |limit: u32| format!("[[quotas.rules]]\nname = \"rate\"\nrequests_per_minute = {limit}\n");
    let guard = QuotaGuard::start(&double, &rule(5), clock.clone()).await;
    let client = sdk_client(&guard.url);
    for _ in 0..3 {
        converse(&client).await.unwrap();
    }
    guard.reload_with(&double, &rule(3)).await;
    let err = converse(&client).await.unwrap_err();
    assert!(
        err.starts_with("ThrottlingException"),
        "3 calls already counted: {err}"
    );
    guard.reload_with(&double, &rule(4)).await;
    converse(&client).await.unwrap();
    assert!(converse(&client).await.is_err());
    // A renamed quota starts from zero.
    guard
        .reload_with(
            &double,
            "[[quotas.rules]]\nname = \"rate-v2\"\nrequests_per_minute = 4\n",
        )
        .await;
    converse(&client).await.unwrap();
}

#[tokio::test]
async fn explain_lists_the_quotas_a_call_falls_under() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.json"), FULL_ACCESS).unwrap();
    let config = dir.path().join("guard.toml");
    std::fs::write(
        &config,
        r#"
[policy]
files = ["policy.json"]

[[quotas.rules]]
name = "claude-only"
models = ["anthropic.*"]
requests_per_minute = 10

[[quotas.rules]]
name = "nova-only"
models = ["amazon.nova-*"]
requests_per_minute = 10
"#,
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_bedrock-guard"))
        .args(["explain", "--config"])
        .arg(&config)
        .args(["--model", CLAUDE, "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["quotas"], serde_json::json!(["claude-only"]));
}

// ---- Redis: real redis-server processes ----

/// `BEDROCK_GUARD_REQUIRE_CLIENTS=1` (CI): a missing redis-server fails the test instead of skipping it.
fn redis_required() -> bool {
    std::env::var("BEDROCK_GUARD_REQUIRE_CLIENTS").is_ok_and(|v| v == "1")
}

fn find_redis_server() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

/// A redis-server child process on a free loopback port, killed on drop.
struct RedisServer {
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// `None` (the test skips) when redis-server is not installed and not required.
    fn start() -> Option<RedisServer> {
        let Some(binary) = find_redis_server() else {
            assert!(
                !redis_required(),
                "redis-server is not installed (apt-get install redis-server); required by BEDROCK_GUARD_REQUIRE_CLIENTS=1"
            );
            eprintln!("skipping: redis-server is not installed");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = RedisServer {
            binary,
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.spawn();
        Some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts the process and returns once it logs that it accepts connections.
    fn spawn(&mut self) {
        let mut child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--logfile", ""])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let stdout = child.stdout.take().unwrap();
        let (ready, is_ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Ready to accept connections") {
                    let _ = ready.send(());
                }
            }
        });
        is_ready
            .recv_timeout(Duration::from_secs(20))
            .expect("redis-server became ready");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn redis_quotas(redis: &RedisServer, on_error: &str, limit: u32) -> String {
    format!(
        r#"
[quotas]
backend = "{}"
on_backend_error = "{on_error}"
redis_timeout_ms = 500

[[quotas.rules]]
name = "fleet-rate"
requests_per_minute = {limit}
"#,
        redis.url()
    )
}

/// The admin API shows the `fleet-rate` rule counted in Redis, at `requests` this minute.
fn assert_fleet_rate_in_redis(admin: &serde_json::Value, requests: f64) {
    assert_eq!(admin["counters"][0]["source"], "redis", "{admin}");
    assert_eq!(
        used(admin, "fleet-rate", "requests_per_minute"),
        requests,
        "{admin}"
    );
}

#[tokio::test]
async fn two_guards_sharing_one_redis_enforce_one_limit() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let double = BedrockDouble::start(REGION).await;
    let clock = Arc::new(ManualClock::at(START_MS));
    let config = redis_quotas(&redis, "local", 4);
    let a = QuotaGuard::start(&double, &config, clock.clone()).await;
    let b = QuotaGuard::start(&double, &config, clock.clone()).await;
    let (client_a, client_b) = (sdk_client(&a.url), sdk_client(&b.url));

    converse(&client_a).await.unwrap();
    converse(&client_b).await.unwrap();
    converse(&client_a).await.unwrap();
    converse(&client_b).await.unwrap();
    // Each replica saw two calls, the fleet four: both refuse the fifth.
    for client in [&client_a, &client_b] {
        assert_refused(client, "ThrottlingException").await;
    }
    assert_fleet_rate_in_redis(&a.admin_quotas().await, 4.0);
    let metrics = a.metrics().await;
    assert!(
        metrics.contains("bedrock_guard_quota_backend_seconds"),
        "{metrics}"
    );
}

#[tokio::test]
async fn redis_killed_and_restarted_falls_back_to_local_counts_and_resyncs() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let double = BedrockDouble::start(REGION).await;
    let clock = Arc::new(ManualClock::at(START_MS));
    let guard = QuotaGuard::start(&double, &redis_quotas(&redis, "local", 3), clock.clone()).await;
    let client = sdk_client(&guard.url);

    converse(&client).await.unwrap();
    redis.kill();
    // Redis is gone: this replica keeps enforcing with its own counts (it saw the first call).
    converse(&client).await.unwrap();
    converse(&client).await.unwrap();
    assert_refused(&client, "ThrottlingException").await;
    assert!(guard
        .metrics()
        .await
        .contains("bedrock_guard_quota_backend_errors_total"));

    // The restarted Redis is empty (no persistence): what was counted locally meanwhile (two calls)
    // is replayed into it, so one more call fits the fleet's limit of three.
    redis.restart();
    guard.backend_settled(true).await;
    converse(&client).await.unwrap();
    assert_refused(&client, "ThrottlingException").await;
    assert_fleet_rate_in_redis(&guard.admin_quotas().await, 3.0);
}

#[tokio::test]
async fn redis_killed_with_on_backend_error_deny_refuses_until_it_is_back() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let double = BedrockDouble::start(REGION).await;
    let clock = Arc::new(ManualClock::at(START_MS));
    let guard = QuotaGuard::start(&double, &redis_quotas(&redis, "deny", 100), clock).await;
    let client = sdk_client(&guard.url);

    converse(&client).await.unwrap();
    redis.kill();
    assert_refused(&client, "ServiceUnavailableException").await;
    redis.restart();
    guard.backend_settled(true).await;
    converse(&client).await.unwrap();
}

#[tokio::test]
async fn the_grafana_dashboard_only_uses_metrics_the_guard_exports() {
    let dashboard_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/bedrock-guard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&dashboard_path).unwrap()).unwrap();

    // Traffic that touches every metric family: allowed and throttled calls with tokens.
    let double = BedrockDouble::start(REGION).await;
    let clock = Arc::new(ManualClock::at(START_MS));
    let quotas = r#"
[[quotas.rules]]
name = "dash"
requests_per_minute = 2
"#;
    let deny_llama = r#"{"Version":"2012-10-17","Statement":[{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"NoLlama","Effect":"Deny","Action":"*","Resource":"arn:aws:bedrock:*::foundation-model/meta.*"}]}"#;
    let guard = QuotaGuard::start_with_policy(&double, quotas, clock, deny_llama).await;
    let client = sdk_client(&guard.url);
    converse(&client).await.unwrap();
    let denied = client
        .converse()
        .model_id("meta.llama3-70b-instruct-v1:0")
        .messages(user_message("hi"))
        .send()
        .await;
    assert!(denied.is_err());
    let mut out = client
        .converse_stream()
        .model_id(CLAUDE)
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap();
    while out.stream.recv().await.unwrap().is_some() {}
    assert!(converse(&client).await.is_err());
    let metrics = guard.metrics().await;
    let exported: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();

    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(!exprs.is_empty(), "the dashboard has queries");
    let mut checked = 0;
    for expr in &exprs {
        for name in metric_names(expr) {
            // The Redis backend's metrics exist only with Redis: they must at least be the names the
            // guard registers for it.
            let redis_only = [
                bedrock_guard::quota::metrics::BACKEND_ERRORS,
                bedrock_guard::quota::metrics::DROPPED,
            ];
            let redis_histogram = name
                .strip_prefix(bedrock_guard::quota::metrics::BACKEND_SECONDS)
                .is_some_and(|suffix| ["_bucket", "_sum", "_count"].contains(&suffix));
            assert!(
                exported.contains(name.as_str())
                    || redis_only.contains(&name.as_str())
                    || redis_histogram,
                "dashboard query {expr:?} uses {name}, which /metrics does not export:\n{metrics}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} metric names checked");
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", serde_json::Value::String(expr)) => out.push(expr.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// Every `bedrock_guard_*` identifier in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("bedrock_guard_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_example_gateway_with_team_budgets_compiles() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/gateway-quotas.toml");
    let config = bedrock_guard::config::load(Some(&path), &Overrides::default()).unwrap();
    let snapshot = bedrock_guard::config::Snapshot::compile(&config, 1).unwrap();
    let names: Vec<&str> = snapshot.quotas.rules().iter().map(|r| &*r.name).collect();
    assert_eq!(
        names,
        [
            "per-app-rate",
            "team-daily-tokens",
            "team-budget",
            "sonnet-output"
        ]
    );
    let chat = snapshot.principal("chat-app").unwrap();
    let call = bedrock_guard::quota::CallInfo {
        principal: chat,
        operation: bedrock_guard::classify::Operation::Converse,
        model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    };
    assert_eq!(snapshot.quotas.applying(&call).count(), 4);
    assert!(snapshot.quotas.price(call.model).is_some());
}
