//! The `bedrock-guard` binary as a user runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A command with an environment that cannot reach real AWS: static dummy credentials, no instance
/// metadata probing, no shared config from the developer's home.
fn guard_command(home: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bedrock-guard"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIDCLITEST")
        .env("AWS_SECRET_ACCESS_KEY", "cli-test-secret")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// What a started child logged: the awaited line, the lines before it, and the rest as they come.
struct Logs {
    found: serde_json::Value,
    before: Vec<String>,
    rest: std::sync::mpsc::Receiver<String>,
}

/// Reads JSON log lines from the child's stderr until one has `message == wanted` (the reader stays
/// alive in a thread so the child never blocks on a full pipe).
fn wait_for_log(child: &mut Child, wanted: &str) -> Logs {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no {wanted:?} log line; saw:\n{}", seen.join("\n")));
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) {
            if json["message"] == wanted {
                return Logs {
                    found: json,
                    before: seen,
                    rest: rx,
                };
            }
        }
        seen.push(line);
    }
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap()
}

/// `bedrock-guard serve` on a free loopback port with JSON logs and an upstream where nothing
/// listens (an allowed call answers 503, a denied one 403), plus `args`. Returns once it listens.
fn serve(home: &std::path::Path, args: &[&str]) -> (Child, String, Logs) {
    let mut child = guard_command(home)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--upstream-endpoint", "http://127.0.0.1:9"])
        .args(args)
        .spawn()
        .unwrap();
    let logs = wait_for_log(&mut child, "bedrock-guard listening");
    let addr = logs.found["addr"].as_str().unwrap().to_owned();
    (child, addr, logs)
}

const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const DENY_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;

fn config_version(response: &reqwest::Response) -> String {
    response.headers()["x-bedrock-guard-config-version"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn serve_with_no_config_listens_on_loopback_and_enforces_the_default_policy() {
    let home = tempfile::tempdir().unwrap();
    let (mut child, addr, logs) = serve(home.path(), &["--region", "us-east-1"]);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert!(
        logs.before
            .iter()
            .any(|l| l.contains("\"enforcing\"") && l.contains("InferenceOnServerlessModels")),
        "start-up logs what is enforced: {:?}",
        logs.before
    );

    // The embedded default denies provisioned models: the answer proves which policy is live.
    let response = reqwest::Client::new()
        .post(format!(
            "http://{addr}/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aprovisioned-model%2Fabc/invoke"
        ))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "AccessDeniedException"
    );

    let status = terminate(&mut child);
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");
}

#[test]
fn a_generated_policy_is_summarised_in_the_start_up_log() {
    let home = tempfile::tempdir().unwrap();
    let statements: Vec<String> = (0..150)
        .map(|i| {
            format!(
                r#"{{"Sid":"Model{i}","Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:*::foundation-model/vendor.model-{i}"}}"#
            )
        })
        .collect();
    let policy = home.path().join("generated.json");
    std::fs::write(
        &policy,
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            statements.join(",")
        ),
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let (mut child, _addr, logs) =
        serve(home.path(), &["--region", "us-east-1", "--policy", policy]);
    let enforcing: Vec<serde_json::Value> = logs
        .before
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("enforcing"))
        })
        .collect();
    assert_eq!(enforcing.len(), 1, "one summary line: {enforcing:?}");
    assert_eq!(enforcing[0]["statements"], 150);
    terminate(&mut child);
}

#[test]
fn an_invalid_policy_exits_78_naming_the_file() {
    let home = tempfile::tempdir().unwrap();
    let policy = home.path().join("broken.json");
    std::fs::write(&policy, r#"{"Version":"2012-10-17","Statement":[{"Effect":"Permit","Action":"bedrock:*","Resource":"*"}]}"#).unwrap();
    let output = guard_command(home.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--region", "us-east-1"])
        .arg("--policy")
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.json"), "{stderr}");
}

#[test]
fn the_example_config_is_valid() {
    let home = tempfile::tempdir().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/bedrock-guard.toml");
    let mut child = guard_command(home.path())
        .args(["serve", "--config", config, "--listen", "127.0.0.1:0"])
        .args([
            "--log-format",
            "json",
            "--upstream-endpoint",
            "http://127.0.0.1:9",
        ])
        .spawn()
        .unwrap();
    let logs = wait_for_log(&mut child, "bedrock-guard listening");
    assert_eq!(logs.found["region"], "us-east-1");
    assert!(terminate(&mut child).success());
}

#[tokio::test]
async fn sighup_reloads_the_config_file() {
    let home = tempfile::tempdir().unwrap();
    let policy = home.path().join("policy.json");
    std::fs::write(&policy, ALLOW_ALL).unwrap();
    let config = home.path().join("guard.toml");
    // Watching off: only the signal can cause the reload.
    std::fs::write(
        &config,
        "region = \"us-east-1\"\naccount_id = \"123456789012\"\n[policy]\nfiles = [\"policy.json\"]\n[reload]\nwatch = false\n",
    )
    .unwrap();
    let (mut child, addr, logs) = serve(home.path(), &["--config", config.to_str().unwrap()]);
    let url = format!("http://{addr}/model/amazon.nova-lite-v1%3A0/invoke");
    let client = reqwest::Client::new();

    // Allowed, but nothing listens upstream: 503 proves the policy let it through.
    let before = client.post(&url).body("{}").send().await.unwrap();
    assert_eq!(before.status(), 503);
    assert!(config_version(&before).starts_with("1-"));

    std::fs::write(&policy, DENY_ALL).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Wait for the reload's log line rather than sleeping.
    loop {
        let line = logs
            .rest
            .recv_timeout(Duration::from_secs(30))
            .expect("reload logged");
        if line.contains("configuration reloaded") {
            break;
        }
    }
    let after = client.post(&url).body("{}").send().await.unwrap();
    assert_eq!(after.status(), 403);
    assert!(
        config_version(&after).starts_with("2-"),
        "{}",
        config_version(&after)
    );
    assert!(terminate(&mut child).success());
}

#[tokio::test]
async fn a_policy_given_on_the_command_line_is_watched() {
    let home = tempfile::tempdir().unwrap();
    let policy = home.path().join("policy.json");
    std::fs::write(&policy, ALLOW_ALL).unwrap();
    let (mut child, addr, _logs) = serve(
        home.path(),
        &[
            "--region",
            "us-east-1",
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    let url = format!("http://{addr}/model/amazon.nova-lite-v1%3A0/invoke");
    let client = reqwest::Client::new();
    assert_eq!(
        client.post(&url).body("{}").send().await.unwrap().status(),
        503
    );

    std::fs::write(&policy, DENY_ALL).unwrap();
    // Poll the live decision (bounded) until the watcher has reloaded.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let response = client.post(&url).body("{}").send().await.unwrap();
        if response.status() == 403 {
            let version = config_version(&response);
            assert!(version.starts_with("2-"), "{version}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the edit was never picked up"
        );
        tokio::task::yield_now().await;
    }
    assert!(terminate(&mut child).success());
}

/// A first start with no credentials (and no instance metadata): one clear line per problem, no
/// SDK warnings with internal dumps, and the upstream shown with its region filled in.
#[test]
fn without_credentials_start_up_says_so_in_one_line_per_problem() {
    let home = tempfile::tempdir().unwrap();
    let mut child = guard_command(home.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .spawn()
        .unwrap();
    let logs = wait_for_log(&mut child, "bedrock-guard listening");
    assert_eq!(
        logs.found["upstream"],
        "https://bedrock-runtime.us-east-1.amazonaws.com"
    );
    let mut lines = logs.before.clone();
    // Both problems are reported, each in its own time: the credentials, and the control-plane
    // listing that needs them.
    let (mut credentials, mut control_plane) = (false, false);
    while !(credentials && control_plane) {
        let line = logs
            .rest
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("a warning is missing; saw:\n{}", lines.join("\n")));
        credentials |= line.contains("no usable AWS credentials");
        control_plane |= line.contains("cannot list inference profiles");
        lines.push(line);
    }
    assert!(terminate(&mut child).success());
    let parsed: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not one JSON line: {l}")))
        .collect();
    for line in &parsed {
        let target = line["target"].as_str().unwrap();
        assert!(target.starts_with("bedrock_guard"), "SDK line: {line}");
        let text = line.to_string();
        assert!(
            !text.contains("ProviderError") && !text.contains("{ source"),
            "internal dump: {text}"
        );
    }
    let warnings: Vec<&str> = parsed
        .iter()
        .filter(|l| l["level"] == "WARN")
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 3, "one line per problem: {warnings:?}");
    assert!(
        warnings[0].starts_with("no AWS region configured"),
        "{warnings:?}"
    );
    for problem in [
        "no usable AWS credentials",
        "cannot list inference profiles",
    ] {
        assert!(
            warnings.iter().any(|w| w.starts_with(problem)),
            "{problem}: {warnings:?}"
        );
    }
    for line in &lines {
        assert!(
            !line.contains("\\n"),
            "one line, not a multi-line dump: {line}"
        );
    }
}

#[test]
fn keys_new_prints_a_key_once_and_a_config_entry_that_accepts_it() {
    let home = tempfile::tempdir().unwrap();
    let output = guard_command(home.path())
        .args(["keys", "new", "--principal", "chat-app"])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let key = stdout.lines().next().unwrap();
    assert!(key.starts_with("bgk_"), "{stdout}");
    // Each printed entry is the block after its heading, up to the next blank line.
    let block = |heading: &str| -> String {
        stdout
            .lines()
            .skip_while(|l| !l.starts_with(heading))
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let hash = bedrock_guard::auth::api_key::hash_hex(key);
    // The entry for the gateway config, pasted there, recognizes exactly this key.
    let snippet = block("# In the gateway config file:");
    let config: toml::Value = toml::from_str(&snippet).unwrap();
    let entry = &config["auth"]["api_keys"][0];
    assert_eq!(entry["principal"].as_str(), Some("chat-app"));
    assert_eq!(entry["sha256"].as_str(), Some(hash.as_str()));
    assert!(!snippet.contains(key), "the config holds only the hash");
    // The entry for a key file is in the key file's own form.
    let key_file = block("# Or in a file listed in [auth] api_key_files:");
    assert!(key_file.starts_with("[[api_keys]]\n"), "{stdout}");
    let entries = toml::from_str::<bedrock_guard::config::ApiKeyFile>(&key_file)
        .unwrap()
        .into_entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].principal.as_str(), entries[0].sha256.as_str()),
        ("chat-app", hash.as_str())
    );

    let sigv4 = guard_command(home.path())
        .args(["keys", "new", "--principal", "chat-app", "--sigv4"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8(sigv4.stdout).unwrap();
    let id = stdout
        .lines()
        .next()
        .unwrap()
        .strip_prefix("AWS_ACCESS_KEY_ID=")
        .unwrap();
    assert_eq!(id.len(), 20);
    assert!(stdout.contains(&format!("access_key_id = \"{id}\"")));
    assert!(stdout.contains("secret_file = "));
}

#[tokio::test]
async fn the_gateway_example_config_authenticates_with_its_demo_key() {
    let home = tempfile::tempdir().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/gateway.toml");
    let (mut child, addr, _logs) = serve(home.path(), &["--config", config]);
    let url = format!("http://{addr}/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse");
    let client = reqwest::Client::new();
    let anonymous = client.post(&url).body("{}").send().await.unwrap();
    assert_eq!(anonymous.status(), 403);
    assert_eq!(
        anonymous.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    // The demo key is chat-app (team search): allowed, so the call reaches the (absent) upstream.
    // The example config has no account_id, but a foundation-model call needs none.
    let demo = client
        .post(&url)
        .bearer_auth("bgk_demo_chat_app_do_not_use_in_production")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(demo.status(), 503);
    assert!(terminate(&mut child).success());
}

/// Reads JSON log lines until every message in `wanted` has been seen; returns them in that order,
/// and the receiver of later lines (kept alive so the child never writes to a closed pipe).
fn wait_for_logs(
    child: &mut Child,
    wanted: &[&str],
) -> (Vec<serde_json::Value>, std::sync::mpsc::Receiver<String>) {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut found: Vec<Option<serde_json::Value>> = vec![None; wanted.len()];
    let mut seen = Vec::new();
    while found.iter().any(Option::is_none) {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no {wanted:?} log lines; saw:\n{}", seen.join("\n")));
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) {
            if let Some(i) = wanted.iter().position(|w| json["message"] == *w) {
                found[i] = Some(json);
            }
        }
        seen.push(line);
    }
    (found.into_iter().flatten().collect(), rx)
}

#[tokio::test]
async fn admin_listen_serves_health_and_metrics_and_sigterm_exits_0() {
    let home = tempfile::tempdir().unwrap();
    let mut child = guard_command(home.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--admin-listen", "127.0.0.1:0"])
        .args([
            "--region",
            "us-east-1",
            "--upstream-endpoint",
            "http://127.0.0.1:9",
        ])
        .spawn()
        .unwrap();
    let (lines, logs) = wait_for_logs(
        &mut child,
        &[
            "bedrock-guard listening",
            "admin listening (/healthz, /readyz, /metrics)",
        ],
    );
    let proxy = lines[0]["addr"].as_str().unwrap().to_owned();
    let admin = lines[1]["addr"].as_str().unwrap().to_owned();
    assert_ne!(proxy, admin);
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{admin}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // A refused call still moves the request counter.
    let denied = http
        .post(format!(
            "http://{proxy}/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aprovisioned-model%2Fabc/invoke"
        ))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    // Its audit event, as a flat JSON line.
    let audit = loop {
        let line = logs
            .recv_timeout(Duration::from_secs(30))
            .expect("an audit line");
        let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if json["target"] == "bedrock_guard::audit" {
            break json;
        }
    };
    assert_eq!(audit["message"], "audit");
    assert_eq!(audit["operation"], "InvokeModel");
    assert_eq!(audit["decision"], "deny");
    assert_eq!(audit["status"], 403);
    assert_eq!(audit["outcome"], "refused");
    let metrics = http
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("bedrock_guard_requests_total{")
                && l.contains(r#"operation="InvokeModel""#)
                && l.contains(r#"decision="deny""#)
                && l.contains(r#"status="403""#)),
        "{metrics}"
    );
    // The health subcommand probes the admin listener (container health checks).
    for (args, ok) in [
        (vec!["health", "--admin", admin.as_str()], true),
        (vec!["health", "--live", "--admin", admin.as_str()], true),
        (vec!["health", "--admin", "127.0.0.1:9"], false),
    ] {
        let status = guard_command(home.path()).args(&args).status().unwrap();
        assert_eq!(status.success(), ok, "{args:?}");
    }
    let status = terminate(&mut child);
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");
}
