//! Hot reload: file edits of every kind take effect without a restart, broken edits never replace a
//! working configuration, and under load every decision matches the snapshot version it reports.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bedrock_guard::config::{EnforcementMode, ReloadOutcome, ReloadTrigger};
use support::guard::{start_guard, GuardOptions, RunningGuard, FULL_ACCESS};
use support::BedrockDouble;

const REGION: &str = "us-east-1";
const MODEL_PATH: &str = "/model/amazon.nova-lite-v1%3A0/converse";

fn policy(effect: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Nova","Effect":"{effect}","Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:*::foundation-model/amazon.nova-lite-v1:0"}},{{"Sid":"Rest","Effect":"Allow","Action":"*","Resource":"*"}}]}}"#
    )
}

/// Status and config version of one Converse call.
async fn call(client: &reqwest::Client, guard: &RunningGuard) -> (u16, String) {
    let response = client
        .post(format!("{}{MODEL_PATH}", guard.url()))
        .header("content-type", "application/json")
        .body(r#"{"messages":[]}"#)
        .send()
        .await
        .unwrap();
    let version = response.headers()["x-bedrock-guard-config-version"]
        .to_str()
        .unwrap()
        .to_owned();
    (response.status().as_u16(), version)
}

/// Waits (bounded) until the live version differs from `old`; no fixed sleeps.
async fn wait_for_new_version(guard: &RunningGuard, old: &str) -> String {
    let mut updates = guard.reloader.subscribe();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let version = updates.borrow_and_update().version.clone();
            if version != old {
                return version;
            }
            updates.changed().await.unwrap();
        }
    })
    .await
    .expect("the change was picked up")
}

/// Waits (bounded) until a reload attempt fails.
async fn wait_for_failed_reload(guard: &RunningGuard) -> String {
    let mut updates = guard.reloader.subscribe();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            {
                let status = updates.borrow_and_update();
                if status.failed_total > 0 {
                    return status.last_error.clone().unwrap();
                }
            }
            updates.changed().await.unwrap();
        }
    })
    .await
    .expect("the broken edit was noticed")
}

async fn watched_guard(double: &BedrockDouble) -> RunningGuard {
    let mut options = GuardOptions::policy(&policy("Allow"));
    options.watch = true;
    start_guard(double, options).await
}

#[tokio::test]
async fn in_place_edits_take_effect_without_restart() {
    let double = BedrockDouble::start(REGION).await;
    let guard = watched_guard(&double).await;
    let client = reqwest::Client::new();
    let (status, v1) = call(&client, &guard).await;
    assert_eq!(status, 200);

    std::fs::write(guard.dir.join("policy-0.json"), policy("Deny")).unwrap();
    let v2 = wait_for_new_version(&guard, &v1).await;
    assert_eq!(call(&client, &guard).await, (403, v2));
}

#[tokio::test]
async fn rename_saves_take_effect() {
    let double = BedrockDouble::start(REGION).await;
    let guard = watched_guard(&double).await;
    let client = reqwest::Client::new();
    let (_, v1) = call(&client, &guard).await;

    // What vim and most editors do: write a new file, rename it over the old one.
    let tmp = guard.dir.join(".policy-0.json.swp");
    std::fs::write(&tmp, policy("Deny")).unwrap();
    std::fs::rename(&tmp, guard.dir.join("policy-0.json")).unwrap();
    let v2 = wait_for_new_version(&guard, &v1).await;
    assert_eq!(call(&client, &guard).await, (403, v2));
}

#[tokio::test]
async fn a_broken_edit_leaves_the_old_decisions_in_force() {
    let double = BedrockDouble::start(REGION).await;
    let guard = watched_guard(&double).await;
    let client = reqwest::Client::new();
    let (_, v1) = call(&client, &guard).await;

    std::fs::write(
        guard.dir.join("policy-0.json"),
        "{ \"Version\": \"2012-10-17\", ",
    )
    .unwrap();
    let error = wait_for_failed_reload(&guard).await;
    assert!(error.contains("policy-0.json"), "{error}");
    assert_eq!(call(&client, &guard).await, (200, v1.clone()));
    assert_eq!(guard.reloader.status().version, v1);
}

/// A Kubernetes ConfigMap volume: `policy.json -> ..data/policy.json`, `..data -> ..<timestamp>`;
/// an update writes a new timestamped directory and atomically renames a new `..data` link over the
/// old one. The file itself is never written, so only a directory watch sees it.
#[cfg(unix)]
#[tokio::test]
async fn kubernetes_configmap_symlink_swaps_take_effect() {
    use std::os::unix::fs::symlink;

    fn write_version(mount: &Path, name: &str, content: &str) {
        let dir = mount.join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("policy.json"), content).unwrap();
        symlink(name, mount.join("..data_tmp")).unwrap();
        std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    }

    let double = BedrockDouble::start(REGION).await;
    let volume = tempfile::tempdir().unwrap();
    let mount = volume.path();
    write_version(mount, "..2026_11_29_00_00_00.1", &policy("Allow"));
    symlink("..data/policy.json", mount.join("policy.json")).unwrap();
    let client = reqwest::Client::new();

    // A guard whose policy path is inside the mount.
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.watch = true;
    options.policies = Vec::new();
    let guard = start_guard_with_files(&double, options, vec![mount.join("policy.json")]).await;
    assert_eq!(guard.reloader.current().policy_origins.len(), 1);
    let (status, v1) = call(&client, &guard).await;
    assert_eq!(status, 200);
    write_version(mount, "..2026_11_29_00_01_00.2", &policy("Deny"));
    let v2 = wait_for_new_version(&guard, &v1).await;
    assert_eq!(call(&client, &guard).await, (403, v2));
}

async fn start_guard_with_files(
    double: &BedrockDouble,
    options: GuardOptions,
    files: Vec<std::path::PathBuf>,
) -> RunningGuard {
    support::guard::start_guard_with_policy_files(double, options, files).await
}

#[tokio::test]
async fn files_added_to_a_policy_directory_count() {
    let double = BedrockDouble::start(REGION).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("10-allow.json"), FULL_ACCESS).unwrap();
    let mut options = GuardOptions::policy(FULL_ACCESS);
    options.watch = true;
    options.policies = Vec::new();
    let guard = start_guard_with_files(&double, options, vec![dir.path().to_owned()]).await;
    let client = reqwest::Client::new();
    let (status, v1) = call(&client, &guard).await;
    assert_eq!(status, 200);

    std::fs::write(dir.path().join("20-deny-nova.json"), policy("Deny")).unwrap();
    let v2 = wait_for_new_version(&guard, &v1).await;
    assert_eq!(call(&client, &guard).await, (403, v2.clone()));

    std::fs::remove_file(dir.path().join("20-deny-nova.json")).unwrap();
    let v3 = wait_for_new_version(&guard, &v2).await;
    assert_eq!(call(&client, &guard).await, (200, v3));
}

#[tokio::test]
async fn report_only_mode_forwards_denied_calls() {
    let double = BedrockDouble::start(REGION).await;
    let mut options = GuardOptions::policy(&policy("Deny"));
    options.mode = EnforcementMode::ReportOnly;
    let guard = start_guard(&double, options).await;
    let (status, _) = call(&reqwest::Client::new(), &guard).await;
    assert_eq!(status, 200);
    assert_eq!(double.requests().len(), 1);
}

#[tokio::test]
async fn shadow_policies_are_evaluated_but_never_enforced() {
    let double = BedrockDouble::start(REGION).await;
    let mut options = GuardOptions::policy(&policy("Allow"));
    options.shadow_policies = vec![policy("Deny")];
    // Before the guard starts: it then serves on this thread, whose lines are captured.
    let logs = support::logs::capture();
    let guard = start_guard(&double, options).await;
    let (status, version) = call(&reqwest::Client::new(), &guard).await;
    assert_eq!(status, 200, "shadow denies are not enforced");
    let line = logs
        .lines()
        .into_iter()
        .find(|l| l["fields"]["message"] == "shadow policy disagrees")
        .expect("the disagreement is logged");
    assert_eq!(line["fields"]["enforced_decision"], "allow");
    assert_eq!(line["fields"]["shadow_decision"], "deny");
    assert_eq!(line["fields"]["shadow_rule"], "shadow-0#Nova");
    assert_eq!(line["fields"]["config_version"], version);
}

/// Thousands of requests while 100 reloads flip a model between allowed and denied: no request
/// fails, and every decision is the one its reported snapshot version makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_match_their_snapshot_version_under_concurrent_reloads() {
    let double = BedrockDouble::start(REGION).await;
    let guard = Arc::new(start_guard(&double, GuardOptions::policy(&policy("Allow"))).await);
    let expected: Arc<Mutex<HashMap<String, u16>>> = Arc::default();
    expected
        .lock()
        .unwrap()
        .insert(guard.reloader.status().version, 200);

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let guard = guard.clone();
        let done = done.clone();
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut seen = Vec::new();
            // Keep going until the reloads are over, with a floor so the run is never trivially short.
            while !done.load(std::sync::atomic::Ordering::Relaxed) || seen.len() < 300 {
                seen.push(call(&client, &guard).await);
            }
            seen
        }));
    }

    for n in 0..100 {
        let effect = if n % 2 == 0 { "Deny" } else { "Allow" };
        std::fs::write(guard.dir.join("policy-0.json"), policy(effect)).unwrap();
        let outcome = guard.reloader.reload(ReloadTrigger::Api).await;
        let ReloadOutcome::Published { version } = outcome else {
            panic!("reload {n}: {outcome:?}")
        };
        expected
            .lock()
            .unwrap()
            .insert(version, if effect == "Deny" { 403 } else { 200 });
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);

    let expected = expected.lock().unwrap().clone();
    let mut total = 0;
    let mut versions_seen = std::collections::HashSet::new();
    for client in clients {
        for (status, version) in client.await.unwrap() {
            total += 1;
            let want = expected
                .get(&version)
                .unwrap_or_else(|| panic!("unknown version {version}"));
            assert_eq!(status, *want, "decision under version {version}");
            versions_seen.insert(version);
        }
    }
    assert!(total >= 2_400, "{total} requests");
    assert!(versions_seen.len() > 1, "requests saw reloads happen");
    assert_eq!(guard.reloader.status().generation, 101);
}

#[tokio::test]
async fn the_admin_api_reloads_and_reports_failures_in_status_and_metrics() {
    let double = BedrockDouble::start(REGION).await;
    let guard = start_guard(&double, GuardOptions::policy(&policy("Allow"))).await;
    let admin = format!("http://{}", guard.admin_addr);
    let client = reqwest::Client::new();
    let json = |r: reqwest::Response| async move {
        serde_json::from_slice::<serde_json::Value>(&r.bytes().await.unwrap()).unwrap()
    };

    std::fs::write(guard.dir.join("policy-0.json"), policy("Deny")).unwrap();
    let response = client
        .post(format!("{admin}/admin/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = json(response).await;
    assert_eq!(body["result"], "published");
    let version = body["version"].as_str().unwrap().to_owned();
    assert_eq!(call(&client, &guard).await, (403, version.clone()));

    std::fs::write(guard.dir.join("policy-0.json"), "[]").unwrap();
    let response = client
        .post(format!("{admin}/admin/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(json(response).await["error"]
        .as_str()
        .unwrap()
        .contains("policy-0.json"));

    let status = json(
        client
            .get(format!("{admin}/admin/status"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        status["version"],
        version.as_str(),
        "the valid snapshot stays live"
    );
    assert_eq!(status["last_result"], "failed");

    // The proxy port never serves admin routes.
    let response = client
        .post(format!("{}/admin/reload", guard.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    let metrics = client
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("bedrock_guard_config_reloads_total{result=\"failed\"}")),
        "{metrics}"
    );
}
