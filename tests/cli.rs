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

/// Reads JSON log lines from the child's stderr until one has `message == wanted`; returns it and
/// the lines seen (the reader stays alive in a thread so the child never blocks on a full pipe).
fn wait_for_log(
    child: &mut Child,
    wanted: &str,
) -> (serde_json::Value, std::sync::mpsc::Receiver<String>) {
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
                return (json, rx);
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

#[tokio::test]
async fn serve_with_no_config_listens_on_loopback_and_enforces_the_default_policy() {
    let home = tempfile::tempdir().unwrap();
    let mut child = guard_command(home.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args([
            "--region",
            "us-east-1",
            "--upstream-endpoint",
            "http://127.0.0.1:9",
        ])
        .spawn()
        .unwrap();
    let (listening, _logs) = wait_for_log(&mut child, "bedrock-guard listening");
    let addr = listening["addr"].as_str().unwrap().to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

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
fn startup_logs_what_is_enforced() {
    let home = tempfile::tempdir().unwrap();
    let mut child = guard_command(home.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args([
            "--region",
            "us-east-1",
            "--upstream-endpoint",
            "http://127.0.0.1:9",
        ])
        .spawn()
        .unwrap();
    let (enforcing, _logs) = wait_for_log(&mut child, "enforcing");
    assert!(
        enforcing["statement"]
            .as_str()
            .unwrap()
            .contains("InferenceOnServerlessModels"),
        "{enforcing}"
    );
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
        .args([
            "serve",
            "--config",
            config,
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .args(["--upstream-endpoint", "http://127.0.0.1:9"])
        .spawn()
        .unwrap();
    let (listening, _logs) = wait_for_log(&mut child, "bedrock-guard listening");
    assert_eq!(listening["region"], "us-east-1");
    assert!(terminate(&mut child).success());
}

#[tokio::test]
async fn sighup_reloads_the_config_file() {
    let home = tempfile::tempdir().unwrap();
    let allow =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let deny =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    let policy = home.path().join("policy.json");
    std::fs::write(&policy, allow).unwrap();
    let config = home.path().join("guard.toml");
    // Watching off: only the signal can cause the reload.
    std::fs::write(
        &config,
        "region = \"us-east-1\"\naccount_id = \"123456789012\"\n[policy]\nfiles = [\"policy.json\"]\n[reload]\nwatch = false\n",
    )
    .unwrap();
    let mut child = guard_command(home.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--config")
        .arg(&config)
        .args(["--upstream-endpoint", "http://127.0.0.1:9"])
        .spawn()
        .unwrap();
    let (listening, logs) = wait_for_log(&mut child, "bedrock-guard listening");
    let addr = listening["addr"].as_str().unwrap().to_owned();
    let url = format!("http://{addr}/model/amazon.nova-lite-v1%3A0/invoke");
    let client = reqwest::Client::new();
    let version = |r: &reqwest::Response| {
        r.headers()["x-bedrock-guard-config-version"]
            .to_str()
            .unwrap()
            .to_owned()
    };

    // Allowed, but nothing listens upstream: 503 proves the policy let it through.
    let before = client.post(&url).body("{}").send().await.unwrap();
    assert_eq!(before.status(), 503);
    assert!(version(&before).starts_with("1-"));

    std::fs::write(&policy, deny).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Wait for the reload's log line rather than sleeping.
    loop {
        let line = logs
            .recv_timeout(Duration::from_secs(30))
            .expect("reload logged");
        if line.contains("configuration reloaded") {
            break;
        }
    }
    let after = client.post(&url).body("{}").send().await.unwrap();
    assert_eq!(after.status(), 403);
    assert!(version(&after).starts_with("2-"), "{}", version(&after));
    assert!(terminate(&mut child).success());
}

#[tokio::test]
async fn a_policy_given_on_the_command_line_is_watched() {
    let home = tempfile::tempdir().unwrap();
    let policy = home.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    )
    .unwrap();
    let mut child = guard_command(home.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args([
            "--region",
            "us-east-1",
            "--upstream-endpoint",
            "http://127.0.0.1:9",
        ])
        .arg("--policy")
        .arg(&policy)
        .spawn()
        .unwrap();
    let (listening, _logs) = wait_for_log(&mut child, "bedrock-guard listening");
    let url = format!(
        "http://{}/model/amazon.nova-lite-v1%3A0/invoke",
        listening["addr"].as_str().unwrap()
    );
    let client = reqwest::Client::new();
    assert_eq!(
        client.post(&url).body("{}").send().await.unwrap().status(),
        503
    );

    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#,
    )
    .unwrap();
    // Poll the live decision (bounded) until the watcher has reloaded.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let response = client.post(&url).body("{}").send().await.unwrap();
        if response.status() == 403 {
            let version = response.headers()["x-bedrock-guard-config-version"]
                .to_str()
                .unwrap();
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
